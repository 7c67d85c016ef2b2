//! The agent's own seccomp profile: recorded by the recorder from the agent's image running
//! as the DaemonSet's pod (deploy/agent-seccomp.json; tests/tests/pod.rs regenerates it),
//! built into the binary so that an init container of the same image, with no shell, can
//! install it where the kubelet looks for Localhost profiles before the agent starts.

use crate::profile::Profile;
use std::path::{Path, PathBuf};

/// deploy/agent-seccomp.json, as shipped.
pub const PROFILE: &str = include_str!("../../../deploy/agent-seccomp.json");

/// Where the DaemonSet's init container puts it: the kubelet's seccomp directory, named
/// by the agent container's `localhostProfile`.
pub const DEFAULT_PATH: &str = "/var/lib/kubelet/seccomp/seccomp-recorder-agent.json";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "the built-in agent profile is not a valid profile ({0}): rebuild from a good deploy/agent-seccomp.json"
    )]
    Invalid(String),
    #[error("cannot write the agent's seccomp profile to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the built-in profile to `to` atomically (creating its directory), after checking
/// it parses: a runtime given a broken Localhost file refuses to start the agent.
pub fn install(to: &Path) -> Result<(), InstallError> {
    Profile::parse(PROFILE.as_bytes())
        .map_err(|(what, why)| InstallError::Invalid(format!("{what}: {why}")))?;
    let write = |source| InstallError::Write {
        path: to.to_path_buf(),
        source,
    };
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    crate::output::write_atomic(to, PROFILE.as_bytes()).map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use std::collections::BTreeSet;

    #[test]
    fn the_built_in_profile_refuses_by_default_and_allows_what_the_agent_needs() {
        let p = Profile::parse(PROFILE.as_bytes()).expect("deploy/agent-seccomp.json parses");
        assert!(p.validate().is_empty(), "{:?}", p.validate());
        let allowed = p.allowed();
        let names: Vec<&String> = allowed.values().flatten().collect();
        for call in ["bpf", "read", "setns"] {
            assert!(names.iter().any(|n| *n == call), "{call} not allowed");
        }
        assert_eq!(p.default_errno(), Some(libc::ENOSYS as u32));
    }

    /// Calls the agent makes on x86_64 that arm64 (the kernel's generic table) does not
    /// have, and what the same glibc and Rust code calls there instead (none: nothing to
    /// do there). A runtime on arm64 skips the names its architecture lacks, so the profile
    /// must name the replacements too.
    const ARM64_INSTEAD: &[(&str, &[&str])] = &[
        ("access", &["faccessat"]),
        ("arch_prctl", &[]),
        ("chmod", &["fchmodat"]),
        ("chown", &["fchownat"]),
        ("creat", &["openat"]),
        ("dup2", &["dup3"]),
        ("epoll_create", &["epoll_create1"]),
        ("epoll_wait", &["epoll_pwait"]),
        ("eventfd", &["eventfd2"]),
        ("fork", &["clone"]),
        ("getdents", &["getdents64"]),
        ("inotify_init", &["inotify_init1"]),
        ("lchown", &["fchownat"]),
        ("link", &["linkat"]),
        ("lstat", &["newfstatat"]),
        ("mkdir", &["mkdirat"]),
        ("mknod", &["mknodat"]),
        ("open", &["openat"]),
        ("pipe", &["pipe2"]),
        ("poll", &["ppoll"]),
        ("readlink", &["readlinkat"]),
        ("rename", &["renameat"]),
        ("rmdir", &["unlinkat"]),
        ("select", &["pselect6"]),
        ("signalfd", &["signalfd4"]),
        ("stat", &["newfstatat"]),
        ("symlink", &["symlinkat"]),
        ("time", &[]),
        ("unlink", &["unlinkat"]),
        ("vfork", &["clone"]),
    ];

    #[test]
    fn the_built_in_profile_names_each_call_as_arm64_does_too() {
        let p = Profile::parse(PROFILE.as_bytes()).expect("deploy/agent-seccomp.json parses");
        let names: BTreeSet<String> = p.allowed().into_values().flatten().collect();
        for name in &names {
            // arm64's 79 is newfstatat in the kernel's headers and libseccomp; the
            // syscalls crate's table calls it fstatat.
            let alias = if name == "newfstatat" {
                "fstatat"
            } else {
                name
            };
            let on = |arch: Arch| {
                arch.syscall_number(name).is_some()
                    || (arch == Arch::Aarch64 && arch.syscall_number(alias).is_some())
            };
            assert!(
                on(Arch::X86_64) || on(Arch::Aarch64),
                "{name} is no syscall"
            );
            if on(Arch::Aarch64) {
                continue;
            }
            let (_, instead) = ARM64_INSTEAD
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| {
                    panic!("arm64 has no {name}: say in ARM64_INSTEAD what it calls instead")
                });
            for i in *instead {
                assert!(names.contains(*i), "{name} is allowed but not arm64's {i}");
            }
        }
    }

    #[test]
    fn install_writes_it_and_names_where_it_could_not() {
        let dir = std::env::temp_dir().join(format!("scr-own-profile-{}", std::process::id()));
        let to = dir.join("kubelet/seccomp/agent.json");
        install(&to).unwrap();
        assert_eq!(std::fs::read_to_string(&to).unwrap(), PROFILE);
        let blocked = dir.join("file");
        std::fs::write(&blocked, "").unwrap();
        let e = install(&blocked.join("agent.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&blocked.join("agent.json").display().to_string()),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
