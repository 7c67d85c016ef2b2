//! Prebuilt tools no Debian package carries (CRI-O 1.32 and its pinns, runc 1.3.6), which
//! the tests take from environment variables. On the project's CI machines they sit xz-compressed in
//! a `shared/tools` directory beside the checkout; `cargo xtask test` unpacks them once
//! into ~/.cache, checks their SHA-256, and sets the variables. A user's clone has no such
//! directory: then the variables (or `crio` and `pinns` on PATH) are theirs to provide.
//! Only this setup step reads `shared/tools`; the tests never do.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A compressed binary under `shared/tools`, its digest once unpacked, and the variable
/// that hands it to the tests.
struct Tool {
    var: &'static str,
    /// Relative to `shared/tools`.
    xz: &'static str,
    sha256: &'static str,
}

/// Digests from shared/tools/crio/README.md (CRI-O v1.32.13 built from its tag).
const TOOLS: &[Tool] = &[
    Tool {
        var: "SECCOMP_RECORDER_CRIO",
        xz: "crio/crio.xz",
        sha256: "aeeffa4d0eb44d7676b613757b04c172bc108404ab58bfcb0a85e82ae7190b13",
    },
    Tool {
        var: "SECCOMP_RECORDER_PINNS",
        xz: "crio/pinns.xz",
        sha256: "c3ccdb9152f62c3d7e8fa10dd8eab406e2952ef244f47e085db36e131b4b3def",
    },
    // shared/tools/runc/README.md: runc v1.3.6 from its tag. Debian 12's runc 1.1.5 refuses
    // a profile's `flags`; the refusals tests need one that passes them on.
    Tool {
        var: "SECCOMP_RECORDER_RUNC13",
        xz: "runc/runc.xz",
        sha256: "839e4313ea1ad113d06dd42b76f7f2451d3f772284d0da5c28141f3219fe3df7",
    },
];

/// The variables to set for the tests: each tool not already given in the environment
/// and found under a `shared/tools` beside the checkout (or beside one of its parents).
pub fn env(root: &Path) -> Result<Vec<(&'static str, PathBuf)>> {
    let Some(shared) = root
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/tools"))
        .find(|d| d.is_dir())
    else {
        return Ok(Vec::new());
    };
    let cache = crate::home().join(".cache/seccomp-recorder/tools");
    let mut vars = Vec::new();
    for tool in TOOLS {
        if std::env::var_os(tool.var).is_some() {
            continue;
        }
        let src = shared.join(tool.xz);
        if !src.exists() {
            continue;
        }
        vars.push((tool.var, unpack(&src, tool.sha256, &cache)?));
    }
    Ok(vars)
}

/// `cache/<sha256>/<name>`, unpacked unless it is there already; the digest in the path
/// makes a half-written or stale copy impossible to pick up.
fn unpack(xz: &Path, sha256: &str, cache: &Path) -> Result<PathBuf> {
    let name = xz.file_stem().context("a tool file has a name")?;
    let dir = cache.join(sha256);
    let out = dir.join(name);
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    crate::check(Command::new("xz").arg("-dc").arg(xz).stdout(file))?;
    let sum = crate::output(Command::new("sha256sum").arg(&tmp))?;
    if sum.split_whitespace().next() != Some(sha256) {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "{} unpacks to sha256 {}, not {sha256}: the file is damaged or another \
             version; replace it or set the variable yourself",
            xz.display(),
            sum.split_whitespace().next().unwrap_or("?")
        );
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &out)?;
    eprintln!("xtask: unpacked {} into {}", xz.display(), out.display());
    Ok(out)
}
