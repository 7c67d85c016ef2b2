//! cgroup v2: where it is mounted, cgroup ids, and the short-lived cgroup `record -- CMD`
//! runs its command in.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "no cgroup v2 hierarchy is mounted (looked for fstype cgroup2 in /proc/self/mountinfo); \
         mount one with: mount -t cgroup2 none /sys/fs/cgroup/unified"
    )]
    NoCgroup2,
    #[error("cgroup {path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path} is not a cgroup v2 directory (it is not under {mount})")]
    NotV2 { path: PathBuf, mount: PathBuf },
    #[error("cannot {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io { what, path, source }
}

/// The cgroup2 mount point: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on
/// hybrid ones.
pub fn mount_point() -> Result<PathBuf, CgroupError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io("read", Path::new("/proc/self/mountinfo")))?;
    parse_mountinfo(&text).ok_or(CgroupError::NoCgroup2)
}

fn parse_mountinfo(text: &str) -> Option<PathBuf> {
    text.lines().find_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split_whitespace().next()?;
        let mount = pre.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(unescape(mount)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The id `bpf_get_current_cgroup_id()` reports for tasks in this directory: its inode.
pub fn id(path: &Path) -> Result<u64, CgroupError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CgroupError::Missing {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(io("stat", path)(e)),
    }
}

/// The cgroup v2 directory of a process, from the `0::` line of /proc/PID/cgroup.
pub(crate) fn of_pid(mount: &Path, pid: u32) -> Result<Option<PathBuf>, CgroupError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &file)(e)),
    };
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|rel| mount.join(rel.trim_start_matches('/'))))
}

/// Whether any process lives in the cgroup or below it (`populated` in cgroup.events).
/// A cgroup that is gone is not populated.
pub(crate) fn populated(path: &Path) -> bool {
    std::fs::read_to_string(path.join("cgroup.events"))
        .map(|t| t.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

/// The cgroup and every cgroup below it, parents first.
pub(crate) fn subtree(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(entries) = std::fs::read_dir(&out[i]) {
            let mut children: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

/// Checks that `path` is a directory of the cgroup v2 hierarchy mounted at `mount`.
pub(crate) fn check_v2(mount: &Path, path: &Path) -> Result<PathBuf, CgroupError> {
    let path = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CgroupError::Missing {
            path: path.to_path_buf(),
        },
        _ => io("resolve", path)(e),
    })?;
    if !path.starts_with(mount) || !path.join("cgroup.procs").exists() {
        return Err(CgroupError::NotV2 {
            path,
            mount: mount.to_path_buf(),
        });
    }
    Ok(path)
}

/// A cgroup we created for `record -- CMD`; removed on drop, after moving out whatever
/// the command left running in it.
pub(crate) struct OwnCgroup {
    pub(crate) path: PathBuf,
    pub(crate) id: u64,
    pub(crate) dir: std::fs::File,
    /// Cgroups of killed recorders removed on the way (see [`remove_stale`]).
    pub(crate) removed_stale: Vec<PathBuf>,
}

impl OwnCgroup {
    pub(crate) fn create(mount: &Path) -> Result<OwnCgroup, CgroupError> {
        let removed_stale = remove_stale(mount);
        // Several recordings can run at once in one process (a library user, parallel
        // tests): the PID alone would collide.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = mount.join(format!("{OWN_PREFIX}{}-{n}", std::process::id()));
        if path.exists() {
            // Left over by a crashed run of a process with our PID: reuse only if empty.
            let _ = std::fs::remove_dir(&path);
        }
        std::fs::create_dir(&path).map_err(io("create cgroup", &path))?;
        let dir = std::fs::File::open(&path).map_err(io("open", &path))?;
        let id = dir.metadata().map_err(io("stat", &path))?.ino();
        Ok(OwnCgroup {
            path,
            id,
            dir,
            removed_stale,
        })
    }

    /// Processes still in the cgroup (a daemon the command started and left behind).
    pub(crate) fn leftovers(&self) -> Vec<u32> {
        subtree(&self.path)
            .iter()
            .filter_map(|p| std::fs::read_to_string(p.join("cgroup.procs")).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    }

    /// Moves leftovers into `dest` (our own cgroup) so ours can be removed; they keep
    /// running, unrecorded.
    pub(crate) fn evict(&self, dest: &Path) {
        let procs = dest.join("cgroup.procs");
        for pid in self.leftovers() {
            let _ = std::fs::write(&procs, pid.to_string());
        }
    }
}

const OWN_PREFIX: &str = "seccomp-recorder-";

/// A recorder killed by SIGKILL cannot remove its cgroup: remove those of recorders that
/// are gone, once the processes their commands left there have exited too (rmdir refuses
/// a cgroup that still holds any). Returns what it removed.
fn remove_stale(mount: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(mount) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(OWN_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        for p in subtree(&path).iter().rev() {
            // One still holding processes stays, for a later run to remove.
            if std::fs::remove_dir(p).is_ok() {
                removed.push(p.clone());
            }
        }
    }
    removed
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        for p in subtree(&self.path).iter().rev() {
            if let Err(e) = std::fs::remove_dir(p) {
                log::warn!("could not remove cgroup {}: {e}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cgroup2_in_hybrid_and_unified_mountinfo() {
        let hybrid = "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n\
                      36 25 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            parse_mountinfo(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_mountinfo(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let v1 = "36 25 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(parse_mountinfo(v1), None);
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
