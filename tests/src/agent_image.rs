//! The agent's image for the pod tests: the recorder under test (debug information
//! stripped) at /usr/bin/seccomp-recorder as the entrypoint, with exactly the shared
//! libraries `ldd` names and nothing else (no shell), pushed to the test binary's registry
//! for the runtimes to pull.

use crate::cri::{layout_of, push_layout};
use crate::engines::{run_ok, state_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The image's reference in `cri::images()`, built and pushed once per test binary.
pub fn agent_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = state_dir("agent-image");
        let layer = layer(&dir);
        let config = serde_json::json!({
            "Entrypoint": ["/usr/bin/seccomp-recorder"],
            "Env": ["PATH=/usr/bin"],
        });
        push_layout(
            &layout_of(&dir, "seccomp-recorder", &layer, config),
            "seccomp-recorder:pod-test",
        )
    })
}

/// The rootfs tar: each path once (CRI-O refuses a layer that repeats one).
fn layer(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    let bin = root.join("usr/bin/seccomp-recorder");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    run_ok(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(crate::bin())
            .arg(&bin),
    );
    for lib in libraries(&crate::bin()) {
        let to = root.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // The file itself, not the symlink ldd names (which may point across /usr).
        std::fs::copy(&lib, &to).unwrap_or_else(|e| panic!("copy {}: {e}", lib.display()));
    }
    let tar = dir.join("layer.tar");
    run_ok(
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// The absolute paths `ldd` resolves for a binary, the loader included.
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = run_ok(Command::new("ldd").arg(bin));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}
