//! `--watch-refusals`: every seccomp refusal on the node, attributed to the namespace,
//! workload and container of the process that made it, for every pod the CRI knows (the
//! enforced pods are usually not the recorded ones). Counted in the metric
//! `seccomp_recorder_refusals_total`, logged the first time per container and syscall,
//! and written to `<container>.refusals.json` next to the Localhost profile. With
//! `--learn-refusals`, refused calls and calls SCMP_ACT_LOG let through join the
//! workload's profile.

use super::acc::Accumulator;
use super::http::Metrics;
use super::pods::Key;
use super::view::View;
use super::{Options, RefusalOptions};
use crate::arch::Arch;
use crate::output::write_atomic;
use crate::refusals::{Added, Counts, Refusal, RefusalError, Watcher};
use crate::target::id_from_dir_name;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Distinct (container, syscall, arch, action) counted; past it one overflow counter.
const KEYS: usize = 16384;
/// Distinct unattributed (comm, exe, syscall, arch) counted.
const UNATTRIBUTED_KEYS: usize = 1024;
/// Records read per loop tick, so a flood cannot starve the recording.
const PER_TICK: usize = 50_000;
/// Who a container ID is (or that the CRI does not know it) is trusted this long.
const WHO_TTL: Duration = Duration::from_secs(10);
/// A PID's cgroup is trusted this long.
const PID_TTL: Duration = Duration::from_secs(1);
/// How often the refusals files are written, learned calls handed on and the kernel's
/// losses asked for: well within the 5 s a refusal must be reported in.
const FLUSH: Duration = Duration::from_secs(1);

/// One counted refusal kind of one container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Seen {
    key: Key,
    syscall: String,
    arch: String,
    action: &'static str,
}

/// A refusal no container could be named for: a host process, or one gone before its
/// cgroup was read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Stray {
    comm: String,
    exe: String,
    syscall: String,
    arch: String,
}

pub(super) struct Refusals {
    watcher: Watcher,
    mount: PathBuf,
    localhost: Option<PathBuf>,
    learn: bool,
    metrics: Arc<Metrics>,
    seen: Counts<Seen>,
    strays: Counts<Stray>,
    pids: HashMap<u32, Option<PathBuf>>,
    pids_since: Instant,
    who: HashMap<String, Option<Key>>,
    who_since: Instant,
    /// Keys whose refusals file is behind.
    dirty: BTreeSet<Key>,
    /// Calls to add to profiles (`--learn-refusals`), per key.
    learned: BTreeMap<Key, BTreeMap<Arch, BTreeSet<String>>>,
    flushed: Instant,
}

impl Refusals {
    /// Opens the path refusals are read from and says which and why.
    pub(super) fn open(
        r: RefusalOptions,
        mount: &Path,
        opts: &Options,
        metrics: Arc<Metrics>,
    ) -> Result<Refusals, RefusalError> {
        let watcher = Watcher::open(r.source)?;
        log::info!(
            "watching seccomp refusals through {}: {}; the kernel path (fexit on \
             __secure_computing, no flag needed) is not built in this release, so only \
             profiles with SECCOMP_FILTER_FLAG_LOG report their refusals",
            watcher.source(),
            watcher.why()
        );
        Ok(Refusals {
            watcher,
            mount: mount.to_path_buf(),
            localhost: opts.localhost_dir.clone(),
            learn: r.learn,
            metrics,
            seen: Counts::new(KEYS),
            strays: Counts::new(UNATTRIBUTED_KEYS),
            pids: HashMap::new(),
            pids_since: Instant::now(),
            who: HashMap::new(),
            who_since: Instant::now(),
            dirty: BTreeSet::new(),
            learned: BTreeMap::new(),
            flushed: Instant::now(),
        })
    }

    /// One turn of the agent's loop: what arrived is counted, and every [`FLUSH`] the
    /// files are written and learned calls handed to the profiles.
    pub(super) fn tick(&mut self, view: &mut View, acc: &mut Accumulator) {
        self.drain(view);
        if self.flushed.elapsed() >= FLUSH {
            self.flushed = Instant::now();
            self.flush(acc);
        }
    }

    /// Reads what arrived since the last tick and counts it.
    fn drain(&mut self, view: &mut View) {
        for _ in 0..PER_TICK {
            match self.watcher.next(Duration::ZERO) {
                Ok(Some(r)) => self.take(&r, view),
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading refusals: {e}");
                    self.metrics.error("refusals");
                    break;
                }
            }
        }
    }

    fn take(&mut self, r: &Refusal, view: &mut View) {
        let key = self.key_of(r.pid, view);
        if self.learn
            && let Some(key) = &key
            && let (Some((arch, _)), Some(name)) = (r.arch(), r.syscall())
        {
            let names = self.learned.entry(key.clone()).or_default();
            names.entry(arch).or_default().insert(name.to_string());
        }
        if !r.refused() {
            return;
        }
        match key {
            Some(key) => self.count(key, r),
            None => self.stray(r),
        }
    }

    fn count(&mut self, key: Key, r: &Refusal) {
        let seen = Seen {
            key,
            syscall: r.syscall_label(),
            arch: r.arch_label(),
            action: r.action_label(),
        };
        match self.seen.add(&seen) {
            Added::Overflow => return,
            Added::First => log::warn!(
                "refusal: {} was refused {} ({}, {}) by pid {} comm {:?} exe {:?}; first time \
                 for this container and call",
                seen.key,
                seen.syscall,
                seen.arch,
                seen.action,
                r.pid,
                r.comm.as_deref().unwrap_or(""),
                r.exe.as_deref().unwrap_or("")
            ),
            Added::Again => {}
        }
        let labels = [
            &seen.key.namespace,
            &seen.key.workload,
            &seen.key.container,
            &seen.syscall,
            &seen.arch,
        ]
        .map(String::clone);
        self.metrics.count_refusal(labels);
        self.dirty.insert(seen.key);
    }

    fn stray(&mut self, r: &Refusal) {
        let stray = Stray {
            comm: r.comm.clone().unwrap_or_default(),
            exe: r.exe.clone().unwrap_or_default(),
            syscall: r.syscall_label(),
            arch: r.arch_label(),
        };
        let added = self.strays.add(&stray);
        if added == Added::Overflow {
            return;
        }
        if added == Added::First {
            log::warn!(
                "refusal of {} ({}) by pid {} comm {:?} exe {:?}: no container of a pod \
                 (a host process, or gone before its cgroup was read); counted as unattributed",
                stray.syscall,
                stray.arch,
                r.pid,
                stray.comm,
                stray.exe
            );
        }
        self.metrics
            .count_unattributed([stray.comm, stray.exe, stray.syscall, stray.arch]);
    }

    /// The profile key of the container `pid` runs in, through its cgroup and the CRI.
    fn key_of(&mut self, pid: u32, view: &mut View) -> Option<Key> {
        let now = Instant::now();
        if now.duration_since(self.pids_since) > PID_TTL {
            self.pids.clear();
            self.pids_since = now;
        }
        if now.duration_since(self.who_since) > WHO_TTL {
            self.who.clear();
            self.who_since = now;
        }
        let mount = &self.mount;
        let dir = self
            .pids
            .entry(pid)
            .or_insert_with(|| crate::cgroup::of_pid(mount, pid).ok().flatten())
            .clone()?;
        let id = container_id(&dir)?;
        if let Some(known) = self.who.get(&id) {
            return known.clone();
        }
        let key = view.key_of_any(&id);
        self.who.insert(id, key.clone());
        key
    }

    /// Writes the refusals files that changed, and adds learned calls to profiles.
    pub(super) fn flush(&mut self, acc: &mut Accumulator) {
        let losses = self.watcher.losses();
        if losses.any() {
            log::warn!("refusals not seen: {losses}");
        }
        self.metrics.set_refusals_lost(losses.kernel_lost());
        for (key, names) in std::mem::take(&mut self.learned) {
            acc.learn(&key, names);
        }
        let Some(dir) = self.localhost.clone() else {
            self.dirty.clear();
            return;
        };
        for key in std::mem::take(&mut self.dirty) {
            let path = dir
                .join(&key.namespace)
                .join(&key.workload)
                .join(format!("{}.refusals.json", key.container));
            if let Err(e) = self.write(&key, &path) {
                log::error!("{key}: cannot write {}: {e}", path.display());
                self.metrics.error("publish");
            }
        }
    }

    fn write(&self, key: &Key, path: &Path) -> std::io::Result<()> {
        let refusals: Vec<serde_json::Value> = self
            .seen
            .sorted()
            .into_iter()
            .filter(|(s, _)| &s.key == key)
            .map(|(s, n)| {
                serde_json::json!({
                    "syscall": s.syscall, "arch": s.arch, "action": s.action, "count": n
                })
            })
            .collect();
        let doc = serde_json::json!({
            "namespace": key.namespace,
            "workload": key.workload,
            "container": key.container,
            "refusals": refusals,
        });
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        write_atomic(path, text.as_bytes())
    }
}

/// The container ID a cgroup is named after: the directory's own name, or its parent's
/// for a runtime that puts the workload in a child (`crio-<id>.scope/container`).
fn container_id(dir: &Path) -> Option<String> {
    dir.ancestors()
        .take(2)
        .filter_map(|d| d.file_name()?.to_str())
        .find_map(id_from_dir_name)
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_of_its_cgroup_or_its_parent() {
        let id = "3f2a0c8e1d7b4a6f9e5c2b8a7d6e4f1c3b5a9d8e7f6c5b4a3d2e1f0a9b8c7d6e";
        let docker = format!("/sys/fs/cgroup/system.slice/docker-{id}.scope");
        assert_eq!(container_id(Path::new(&docker)).as_deref(), Some(id));
        let crun = format!("/sys/fs/cgroup/kubepods/crio-{id}.scope/container");
        assert_eq!(container_id(Path::new(&crun)).as_deref(), Some(id));
        assert_eq!(container_id(Path::new("/sys/fs/cgroup/user.slice")), None);
    }
}
