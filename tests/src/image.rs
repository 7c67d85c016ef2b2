//! The agent's image as `cargo xtask image` builds it (an OCI layout under
//! `target/image/oci`, tag `latest`), built once per test binary, and built a second time to
//! see that the digest stays.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Image {
    /// The OCI layout directory.
    pub layout: PathBuf,
    /// The image index's digest (`sha256:...`) after the first build.
    pub digest: String,
    /// The same after a second build of the same source.
    pub rebuilt_digest: String,
}

impl Image {
    /// The layout as skopeo names it, e.g. `oci:/.../target/image/oci:latest`.
    pub fn skopeo_ref(&self) -> String {
        format!("oci:{}:latest", self.layout.display())
    }
}

/// Builds the image (twice, the first time only) and returns it.
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let layout = build();
        let digest = index_digest(&layout);
        let again = build();
        assert_eq!(again, layout);
        let rebuilt_digest = index_digest(&layout);
        Image {
            layout,
            digest,
            rebuilt_digest,
        }
    })
}

/// `cargo xtask image` through the xtask that runs the suite (`$SECCOMP_RECORDER_XTASK`):
/// a nested `cargo run` would wait for the lock the running `cargo test` holds.
fn build() -> PathBuf {
    let xtask = std::env::var_os("SECCOMP_RECORDER_XTASK")
        .expect("SECCOMP_RECORDER_XTASK is not set: run the suite with `cargo xtask test`");
    let out = Command::new(&xtask)
        .arg("image")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", xtask.to_string_lossy()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo xtask image failed:\n{text}");
    let layout = crate::workspace().join("target/image/oci");
    assert!(
        text.contains(&layout.display().to_string()),
        "cargo xtask image did not name {}:\n{text}",
        layout.display()
    );
    layout
}

/// The digest of the raw index skopeo reads from the layout.
fn index_digest(layout: &std::path::Path) -> String {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:latest", layout.display()),
    ]);
    crate::sha256(&raw)
}

/// `skopeo ARGS`, its stdout; panics with its stderr on failure.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
