use anyhow::Context as _;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    // Read at run time, not with env!(): a build script compiled in one checkout and reused
    // from a copied target/ would otherwise read the other checkout's files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let manifest = Path::new(&manifest);
    runtime_defaults(manifest)?;
    commit(manifest);
    let root = manifest.join("../recorder-ebpf");
    let root = root.to_str().context("non-UTF-8 path")?;
    println!("cargo:rerun-if-changed={root}/src");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "recorder-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}

/// The git commit built, for `seccomp_recorder_build_info`; "unknown" outside a checkout
/// (a source tarball), so that the build never depends on git.
fn commit(manifest: &Path) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(manifest)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SECCOMP_RECORDER_COMMIT={commit}");
    // A new commit (HEAD moves, or the branch it names does) must rebuild the label.
    for path in ["HEAD", "refs/heads", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            let p = Path::new(&p);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                manifest.join(p)
            };
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

/// Builds in every profile file SOURCES names, so that adding a release is a data change.
fn runtime_defaults(manifest: &Path) -> anyhow::Result<()> {
    let dir = manifest.join("data/runtime-defaults");
    println!("cargo:rerun-if-changed={}", dir.display());
    let sources = std::fs::read_to_string(dir.join("SOURCES")).context("reading SOURCES")?;
    let files: BTreeSet<&str> = sources
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let mut out = String::from("&[\n");
    for f in files {
        let path = dir.join(f);
        anyhow::ensure!(path.is_file(), "SOURCES names {f}, which is missing");
        writeln!(
            out,
            "    ({f:?}, include_str!({:?})),",
            path.display().to_string()
        )?;
    }
    out += "]\n";
    let target = Path::new(&std::env::var("OUT_DIR")?).join("runtime_defaults.rs");
    std::fs::write(target, out)?;
    Ok(())
}
