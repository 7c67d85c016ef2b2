//! Who made a refused call: the process's cgroup (from /proc/PID/cgroup, read when the
//! record arrives) and the container the engines' state says lives there. Both are
//! cached for a short while, so a flood from one process reads /proc once, and the
//! caches are emptied on a timer, so they never grow with the flood.

use crate::cgroup;
use crate::target::{EngineRoots, Target, container_of};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A PID's cgroup is trusted this long: PIDs are reused, cgroups of a live process
/// rarely change.
const PID_TTL: Duration = Duration::from_secs(1);
/// Container names do not change; the cache only has to stay bounded.
const CONTAINERS_KEPT: usize = 1024;

pub struct Attributor {
    mount: PathBuf,
    roots: EngineRoots,
    pids: HashMap<u32, Option<PathBuf>>,
    pids_since: Instant,
    containers: HashMap<PathBuf, Option<String>>,
    ids: HashMap<u64, Option<PathBuf>>,
}

impl Attributor {
    /// `mount` is the cgroup2 mount point.
    pub fn new(mount: PathBuf) -> Attributor {
        Attributor {
            mount,
            roots: EngineRoots::discover(&[]),
            pids: HashMap::new(),
            pids_since: Instant::now(),
            containers: HashMap::new(),
            ids: HashMap::new(),
        }
    }

    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// The cgroup directory of `pid`, or `None` when the process is gone (a killed one
    /// often is by the time its record is read).
    pub fn cgroup(&mut self, pid: u32) -> Option<PathBuf> {
        if self.pids_since.elapsed() > PID_TTL {
            self.pids.clear();
            self.pids_since = Instant::now();
        }
        let mount = &self.mount;
        self.pids
            .entry(pid)
            .or_insert_with(|| cgroup::of_pid(mount, pid).ok().flatten())
            .clone()
    }

    /// The directory of cgroup id `id` (the kernel path's key), or `None` when it is gone.
    /// A miss walks the hierarchy once; found ids are kept, bounded like the containers.
    pub fn cgroup_by_id(&mut self, id: u64) -> Option<PathBuf> {
        if self.ids.len() >= CONTAINERS_KEPT {
            self.ids.clear();
        }
        let mount = &self.mount;
        self.ids
            .entry(id)
            .or_insert_with(|| find_id(mount, id))
            .clone()
    }

    /// The container whose cgroup `dir` is (its name, else its short ID), when an engine's
    /// state on disk knows it.
    pub fn container(&mut self, dir: &Path) -> Option<String> {
        if self.containers.len() >= CONTAINERS_KEPT {
            self.containers.clear();
        }
        let (mount, roots) = (&self.mount, &self.roots);
        self.containers
            .entry(dir.to_path_buf())
            .or_insert_with(|| {
                let c = container_of(mount, dir, roots)?;
                Some(c.name.unwrap_or_else(|| c.id.chars().take(12).collect()))
            })
            .clone()
    }

    /// `dir` as /proc/PID/cgroup prints it: relative to the mount, with a leading `/`.
    pub fn relative(&self, dir: &Path) -> String {
        match dir.strip_prefix(&self.mount) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => dir.display().to_string(),
        }
    }

    /// Where a `watch-refusals` line says a refusal came from: `cgroup=` and, when an
    /// engine knows it, `container=`.
    pub fn place(&mut self, dir: &Path) -> String {
        let mut s = format!("cgroup={}", self.relative(dir));
        if let Some(c) = self.container(dir) {
            s.push_str(&format!(" container={c}"));
        }
        s
    }

    /// The cgroup of a `--container` or `--cgroup` target, now.
    pub fn resolve(&self, target: &Target) -> Result<PathBuf, String> {
        use crate::target::Resolution;
        match target.resolve(&self.mount, &self.roots) {
            Ok(Resolution::Now(r)) => Ok(r.cgroup),
            Ok(Resolution::Pending(p)) => Err(format!(
                "container {} has no cgroup yet (created, not started): start it first",
                p.label
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Whether `dir` is one of `wanted` or below one.
pub fn within(dir: &Path, wanted: &[PathBuf]) -> bool {
    wanted.iter().any(|w| dir.starts_with(w))
}

/// The directory below `dir` (or `dir` itself) whose inode is `id`: a cgroup v2 id.
pub(crate) fn find_id(dir: &Path, id: u64) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(dir).ok()?.ino() == id {
        return Some(dir.to_path_buf());
    }
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .find_map(|e| find_id(&e.path(), id))
}
