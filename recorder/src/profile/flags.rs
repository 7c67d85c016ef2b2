//! A profile's `flags` (`linux.seccomp.flags` of the runtime-spec) and who honours them.
//!
//! `SECCOMP_FILTER_FLAG_LOG` makes the kernel write an audit record for every call the
//! filter refuses, which is what `watch-refusals` and the agent read. runc honours `flags`
//! from 1.2.0; runc 1.1 (Debian 12 ships 1.1.5) refuses every profile that has any, at
//! container create: "seccomp flags are not yet supported by runc"
//! (libcontainer/specconv/spec_linux.go in v1.1.x). crun passes them to the kernel.

use super::Profile;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The flag that makes the kernel log every refusal.
pub const LOG: &str = "SECCOMP_FILTER_FLAG_LOG";

/// The first runc release that passes `flags` on.
const RUNC_FLAGS_SINCE: (u32, u32) = (1, 2);

impl Profile {
    /// Adds [`LOG`] to the profile's flags (once).
    pub fn log_refusals(&mut self) {
        let flags = self.flags.get_or_insert_with(Vec::new);
        if !flags.iter().any(|f| f == LOG) {
            flags.push(LOG.to_string());
        }
    }

    /// Takes `other`'s flags: a recording appended to a profile keeps what it asked of the
    /// kernel.
    pub fn keep_flags_of(&mut self, other: &Profile) {
        self.flags.clone_from(&other.flags);
    }

    /// Whether the profile asks for any filter flag.
    pub fn has_flags(&self) -> bool {
        self.flags.as_ref().is_some_and(|f| !f.is_empty())
    }
}

/// An OCI runtime found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciRuntime {
    /// `runc` or `crun`.
    pub name: &'static str,
    pub path: PathBuf,
    /// The version it printed, as printed (`1.1.5+ds1`).
    pub version: String,
}

impl OciRuntime {
    /// Whether it passes a profile's `flags` to the kernel; `false` means it refuses the
    /// profile.
    pub fn honours_flags(&self) -> bool {
        match self.name {
            "runc" => major_minor(&self.version).is_some_and(|v| v >= RUNC_FLAGS_SINCE),
            _ => true,
        }
    }
}

/// What a profile's flags will meet on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagNote {
    /// This runtime refuses the profile at container create.
    Refused(OciRuntime),
    /// This runtime passes the flags to the kernel.
    Honoured(OciRuntime),
    /// The kernel will not log errno refusals: `errno` is not in `actions_logged`.
    ErrnoNotLogged(String),
}

impl fmt::Display for FlagNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagNote::Refused(r) => write!(
                f,
                "flags: {} {} ({}) refuses any profile with \"flags\" at container create \
                 (\"seccomp flags are not yet supported by runc\"); runc honours them from \
                 1.2.0 and crun does: use one of those, or leave the flags out (no \
                 --log-refusals)",
                r.name,
                r.version,
                r.path.display()
            ),
            FlagNote::Honoured(r) => write!(
                f,
                "flags: {} {} ({}) passes them to the kernel",
                r.name,
                r.version,
                r.path.display()
            ),
            FlagNote::ErrnoNotLogged(logged) => write!(
                f,
                "flags: {LOG} is set but this kernel logs only [{logged}] \
                 (/proc/sys/kernel/seccomp/actions_logged): add errno there, or refusals \
                 stay unlogged"
            ),
        }
    }
}

/// What the profile's flags meet with `runtimes` and a kernel logging `actions_logged`.
pub fn notes(p: &Profile, runtimes: &[OciRuntime], actions_logged: Option<&str>) -> Vec<FlagNote> {
    if !p.has_flags() {
        return Vec::new();
    }
    let mut out: Vec<FlagNote> = runtimes
        .iter()
        .map(|r| match r.honours_flags() {
            true => FlagNote::Honoured(r.clone()),
            false => FlagNote::Refused(r.clone()),
        })
        .collect();
    let logs = p.flags.iter().flatten().any(|f| f == LOG);
    if let Some(logged) = actions_logged.filter(|_| logs)
        && !logged.split_whitespace().any(|a| a == "errno")
    {
        out.push(FlagNote::ErrnoNotLogged(logged.trim().to_string()));
    }
    out
}

/// [`notes`] for the runtimes installed here and this kernel.
pub fn notes_here(p: &Profile) -> Vec<FlagNote> {
    if !p.has_flags() {
        return Vec::new();
    }
    let logged = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_logged").ok();
    notes(p, &installed_runtimes(), logged.as_deref())
}

/// runc and crun as found on PATH (and in sbin, which a non-root PATH often lacks).
pub fn installed_runtimes() -> Vec<OciRuntime> {
    ["runc", "crun"]
        .into_iter()
        .filter_map(|name| {
            let path = find(name)?;
            let version = version_of(&path)?;
            Some(OciRuntime {
                name,
                path,
                version,
            })
        })
        .collect()
}

fn find(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The version word of `runc --version` (`runc version 1.1.5+ds1`) or `crun --version`
/// (`crun version 1.8.1`).
fn version_of(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?;
    first
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(String::from)
}

/// `1.1.5+ds1` to (1, 1).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(name: &'static str, version: &str) -> OciRuntime {
        OciRuntime {
            name,
            path: PathBuf::from(format!("/usr/sbin/{name}")),
            version: version.into(),
        }
    }

    fn profile(flags: &str) -> Profile {
        let json = format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":["read"],"action":"SCMP_ACT_ALLOW"}}]{flags}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn runc_honours_flags_from_1_2() {
        assert!(!runtime("runc", "1.1.5+ds1").honours_flags());
        assert!(!runtime("runc", "1.1.15").honours_flags());
        assert!(runtime("runc", "1.2.0").honours_flags());
        assert!(runtime("runc", "1.3.6").honours_flags());
        assert!(runtime("runc", "2.0.0-rc1").honours_flags());
        assert!(!runtime("runc", "garbage").honours_flags());
        assert!(runtime("crun", "1.8.1").honours_flags());
    }

    #[test]
    fn log_flag_added_once() {
        let mut p = profile("");
        assert!(!p.has_flags());
        p.log_refusals();
        p.log_refusals();
        assert_eq!(p.flags, Some(vec![LOG.to_string()]));
        let mut spec = profile(r#","flags":["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]"#);
        spec.log_refusals();
        let flags = spec.flags.unwrap();
        assert_eq!(flags, ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", LOG]);
    }

    #[test]
    fn notes_name_the_runtime_that_refuses() {
        let runtimes = [runtime("runc", "1.1.5+ds1"), runtime("crun", "1.8.1")];
        assert!(notes(&profile(""), &runtimes, Some("errno")).is_empty());
        let flagged = profile(r#","flags":["SECCOMP_FILTER_FLAG_LOG"]"#);
        let got = notes(&flagged, &runtimes, Some("kill_process errno log"));
        assert_eq!(
            got,
            [
                FlagNote::Refused(runtimes[0].clone()),
                FlagNote::Honoured(runtimes[1].clone())
            ]
        );
        let text = got[0].to_string();
        assert!(
            text.contains("runc 1.1.5+ds1 (/usr/sbin/runc) refuses"),
            "{text}"
        );
        assert!(
            text.contains("seccomp flags are not yet supported by runc"),
            "{text}"
        );
        let quiet = notes(&flagged, &[], Some("kill_process log"));
        assert_eq!(quiet, [FlagNote::ErrnoNotLogged("kill_process log".into())]);
    }
}
