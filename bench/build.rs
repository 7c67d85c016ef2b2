//! Builds the benchmark-only kernel object; the product's build never does.

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    // At run time, not env!(): see recorder/build.rs.
    let ws =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?)
            .join("..");
    let root = ws.join("bench-ebpf");
    let root = root.to_str().context("non-UTF-8 path")?;
    // The object links recorder-ebpf's lib (the seen-set layout and its byte store).
    println!(
        "cargo:rerun-if-changed={}",
        ws.join("recorder-ebpf/src").display()
    );
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "bench-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
