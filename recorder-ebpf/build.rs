fn main() {
    // A new bpf-linker must rebuild the object.
    if let Ok(linker) = std::env::var("CARGO_HOME").map(|h| format!("{h}/bin/bpf-linker")) {
        println!("cargo:rerun-if-changed={linker}");
    }
}
