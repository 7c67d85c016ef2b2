//! The agent's image as `cargo xtask image` builds it (an OCI layout under
//! `target/image/oci`, tag `latest`): built once per `cargo xtask test` run and shared by
//! every test binary that needs it (the image tests and the pod tests), since each build
//! is two release builds and a packing of both platforms.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct Image {
    /// The OCI layout directory.
    pub layout: PathBuf,
    /// The image index's digest (`sha256:...`).
    pub digest: String,
}

impl Image {
    /// The layout as skopeo names it, e.g. `oci:/.../target/image/oci:latest`.
    pub fn skopeo_ref(&self) -> String {
        format!("oci:{}:latest", self.layout.display())
    }
}

/// The image, built by the first test binary of this run that asks for it.
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let layout = crate::workspace().join("target/image/oci");
        let run = run_id();
        let stamp = layout.with_extension("run");
        let built_this_run = std::fs::read_to_string(&stamp).is_ok_and(|s| s == run);
        if !built_this_run {
            build();
            // Written after the layout is whole (the xtask renames it into place).
            std::fs::write(&stamp, &run).unwrap();
        }
        Image {
            digest: index_digest(&layout),
            layout,
        }
    })
}

/// Builds the image again from the same source and returns its index digest.
pub fn rebuild() -> String {
    image();
    index_digest(&build())
}

/// This run of the suite, as `cargo xtask test` names it.
fn run_id() -> String {
    std::env::var("SECCOMP_RECORDER_TEST_RUN")
        .expect("SECCOMP_RECORDER_TEST_RUN is not set: run the suite with `cargo xtask test`")
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
fn index_digest(layout: &Path) -> String {
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

/// Pushes the image to the registry the runtimes of this test binary pull from, with the
/// project's own OCI code, and returns the reference to pull.
pub fn pushed_for_runtimes() -> &'static str {
    static PUSHED: OnceLock<String> = OnceLock::new();
    PUSHED.get_or_init(|| {
        let img = image();
        let reference = crate::cri::images().reference("seccomp-recorder:pod-test");
        let access = seccomp_recorder::oci::Access::default();
        let pushed = seccomp_recorder::oci::push_layout(&img.layout, &reference, &access)
            .unwrap_or_else(|e| panic!("pushing {} to {reference}: {e}", img.layout.display()));
        assert_eq!(pushed.digest, img.digest);
        reference
    })
}
