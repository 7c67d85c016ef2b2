//! One `-o` convention for every subcommand: `-` is stdout, a device or pipe is written in
//! place, a file atomically; what would make the write fail is refused before any work.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// The profile file is written through a temporary file beside it, so its directory must
/// exist and take new files. A device or pipe (`/dev/stdout`) is written in place.
pub fn check_writable(path: &Path) -> Result<()> {
    if path == Path::new("-") || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
    {
        return Ok(());
    }
    if path.is_dir() {
        bail!(
            "cannot write the output to {}: it is a directory",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write the profile to {}: directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    check_dir_writable(parent, path)
}

/// Creates and removes a file in `dir`: the only test that sees read-only mounts, full
/// inode tables and ACLs alike, as root too.
pub fn check_dir_writable(dir: &Path, output: &Path) -> Result<()> {
    let probe = dir.join(format!(".seccomp-recorder-probe.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "cannot write the profile to {}: cannot create files in {}",
                output.display(),
                dir.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
