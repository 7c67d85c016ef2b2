//! The host's cgroup namespace, entered by the agent itself.
//!
//! A pod may get a private cgroup namespace (the default on cgroup v2 hosts), where
//! `/proc/PID/cgroup` of another pod's process reads `/../..` instead of the path under the
//! host's hierarchy the agent mounts. With `hostPID`, `/proc/1` is the host's init: joining
//! its cgroup namespace gives the host's paths again, with no `nsenter` in the image.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The host's init, as a pod with `hostPID: true` sees it.
const HOST_NS: &str = "/proc/1/ns/cgroup";

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot enter the host's cgroup namespace ({HOST_NS}: {refused}), and this one is \
     not the host's: this process is {seen} in it, but {procs} does not list it, so other \
     pods' cgroups cannot be found; run the agent with hostPID and the capabilities \
     SYS_ADMIN and SYS_PTRACE (see deploy/base/daemonset.yaml)"
)]
pub struct HostNsError {
    refused: std::io::Error,
    seen: String,
    procs: PathBuf,
}

/// How the agent came to see the host's cgroup paths.
#[derive(Debug, PartialEq, Eq)]
pub enum HostNs {
    Entered,
    /// setns was refused, but the namespace the agent runs in already is the host's.
    AlreadyHost(String),
}

/// Joins the host's cgroup namespace for the calling thread (setns changes only the
/// thread that calls it: call it from the thread that reads /proc/PID/cgroup), or checks
/// that it is already in a namespace showing the paths of the hierarchy at `mount`.
pub fn enter(mount: &Path) -> Result<HostNs, HostNsError> {
    let refused = match join(Path::new(HOST_NS)) {
        Ok(()) => return Ok(HostNs::Entered),
        Err(e) => e,
    };
    let (seen, procs) = own_cgroup(mount);
    if listed(&procs) {
        return Ok(HostNs::AlreadyHost(refused.to_string()));
    }
    Err(HostNsError {
        refused,
        seen,
        procs,
    })
}

fn join(ns: &Path) -> std::io::Result<()> {
    let file = File::open(ns)?;
    // SAFETY: setns on a namespace file descriptor we own, for this thread only.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWCGROUP) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// This thread's cgroup as its namespace shows it, and where that would be in the
/// hierarchy at `mount` if the namespace were the host's.
fn own_cgroup(mount: &Path) -> (String, PathBuf) {
    let text = std::fs::read_to_string("/proc/thread-self/cgroup").unwrap_or_default();
    let seen = parse_v2(&text).unwrap_or("?").to_string();
    let procs = mount
        .join(seen.trim_start_matches('/'))
        .join("cgroup.procs");
    (seen, procs)
}

/// The path of the cgroup v2 (`0::`) line of /proc/PID/cgroup.
fn parse_v2(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// Whether our process is in `cgroup.procs`: in a private namespace the path seen is
/// relative to the namespace's root, so the host's directory of that name is another
/// cgroup (or none).
fn listed(procs: &Path) -> bool {
    let me = std::process::id().to_string();
    std::fs::read_to_string(procs).is_ok_and(|t| t.lines().any(|l| l == me))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_line_of_a_hybrid_host() {
        let text = "9:name=systemd:/\n4:memory:/x/y\n0::/kubepods/pod1/abc\n";
        assert_eq!(parse_v2(text), Some("/kubepods/pod1/abc"));
        assert_eq!(parse_v2("4:memory:/x\n"), None);
    }

    #[test]
    fn a_namespace_whose_paths_do_not_list_us_is_not_the_hosts() {
        let dir = std::env::temp_dir().join(format!("scr-hostns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, "1\n22\n").unwrap();
        assert!(!listed(&procs));
        std::fs::write(&procs, format!("1\n{}\n", std::process::id())).unwrap();
        assert!(listed(&procs));
        assert!(!listed(&dir.join("missing")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
