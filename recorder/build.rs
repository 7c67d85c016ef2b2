use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../recorder-ebpf");
    let root = root.to_str().context("non-UTF-8 path")?;
    println!("cargo:rerun-if-changed={root}/src");
    aya_build::build_ebpf(
        [aya_build::Package { name: "recorder-ebpf", root_dir: root, ..Default::default() }],
        aya_build::Toolchain::default(),
    )
}
