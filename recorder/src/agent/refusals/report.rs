//! A refusal as the agent counts it, whichever path saw it, and the counting: the metric,
//! the first-refusal log line, the strays that no container could be named for, and what
//! the refusals files and `--learn-refusals` are made of.

use super::super::http::Metrics;
use super::super::pods::Key;
use super::attribute::Place;
use crate::arch::Arch;
use crate::refusals::{Added, Counts, KernelCount, Refusal, arch_label};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Distinct (container, syscall, arch, action) counted; past it one overflow counter.
const KEYS: usize = 16384;
/// Distinct unattributed (comm, exe, cgroup, syscall, arch) counted.
const UNATTRIBUTED_KEYS: usize = 1024;
/// The kernel path's action: `__secure_computing` says that a filter refused the call,
/// not whether with an errno, a trap or a kill.
pub(super) const REFUSED: &str = "refused";

/// One refused call (audit path) or the calls one cgroup made of one syscall since the
/// last poll (kernel path), with where it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) place: Place,
    pub(super) syscall: String,
    pub(super) arch: String,
    /// The call to learn (`--learn-refusals`), when its ABI and name are known.
    pub(super) call: Option<(Arch, &'static str)>,
    pub(super) action: &'static str,
    pub(super) count: u64,
    /// What the audit record says of the process; the kernel path does not know it.
    pub(super) pid: Option<u32>,
    pub(super) comm: String,
    pub(super) exe: String,
}

impl Report {
    pub(super) fn of_audit(r: &Refusal, place: Place) -> Report {
        Report {
            place,
            syscall: r.syscall_label(),
            arch: r.arch_label(),
            call: r.arch().map(|(a, _)| a).zip(r.syscall()),
            action: r.action_label(),
            count: 1,
            pid: Some(r.pid),
            comm: r.comm.clone().unwrap_or_default(),
            exe: r.exe.clone().unwrap_or_default(),
        }
    }

    pub(super) fn of_kernel(c: &KernelCount, place: Place) -> Report {
        let name = c
            .arch
            .zip(u32::try_from(c.nr).ok())
            .and_then(|(a, nr)| a.syscall_name(nr));
        Report {
            place,
            syscall: c.syscall_label(),
            arch: c.arch.map_or("?", arch_label).to_string(),
            call: c.arch.zip(name),
            action: REFUSED,
            count: c.count,
            pid: None,
            comm: String::new(),
            exe: String::new(),
        }
    }

    /// The process, as far as the path that saw the call knows it.
    fn caller(&self) -> String {
        match self.pid {
            Some(pid) => format!("pid {pid} comm {:?} exe {:?}", self.comm, self.exe),
            None => format!(
                "cgroup {} (the kernel path counts per cgroup)",
                self.place.cgroup
            ),
        }
    }
}

/// One counted refusal kind of one container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Seen {
    key: Key,
    syscall: String,
    arch: String,
    action: &'static str,
}

/// A refusal no container could be named for: a host process, a process gone before its
/// cgroup was read, or a cgroup that is no pod's container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Stray {
    comm: String,
    exe: String,
    cgroup: String,
    syscall: String,
    arch: String,
}

pub(super) struct Tally {
    metrics: Arc<Metrics>,
    seen: Counts<Seen>,
    strays: Counts<Stray>,
    /// Keys whose refusals file is behind.
    dirty: BTreeSet<Key>,
    /// Calls to add to profiles (`--learn-refusals`), per key.
    learned: BTreeMap<Key, BTreeMap<Arch, BTreeSet<String>>>,
}

impl Tally {
    pub(super) fn new(metrics: Arc<Metrics>) -> Tally {
        Tally {
            metrics,
            seen: Counts::new(KEYS),
            strays: Counts::new(UNATTRIBUTED_KEYS),
            dirty: BTreeSet::new(),
            learned: BTreeMap::new(),
        }
    }

    /// Keeps the call for its container's profile (`--learn-refusals`).
    pub(super) fn learn(&mut self, r: &Report) {
        if let (Some(key), Some((arch, name))) = (&r.place.key, r.call) {
            let names = self.learned.entry(key.clone()).or_default();
            names.entry(arch).or_default().insert(name.to_string());
        }
    }

    /// Counts a refusal under its container, or as unattributed: never dropped.
    pub(super) fn count(&mut self, r: &Report) {
        let Some(key) = r.place.key.clone() else {
            return self.stray(r);
        };
        let seen = Seen {
            key,
            syscall: r.syscall.clone(),
            arch: r.arch.clone(),
            action: r.action,
        };
        match self.seen.add_n(&seen, r.count) {
            Added::Overflow => return,
            Added::First => log_key!(
                warn,
                &seen.key,
                "refusal: {} was refused {} ({}, {}) by {}; first time for this container \
                 and call",
                seen.key,
                seen.syscall,
                seen.arch,
                seen.action,
                r.caller()
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
        self.metrics.count_refusal(labels, r.count);
        self.dirty.insert(seen.key);
    }

    fn stray(&mut self, r: &Report) {
        let stray = Stray {
            comm: r.comm.clone(),
            exe: r.exe.clone(),
            cgroup: r.place.cgroup.clone(),
            syscall: r.syscall.clone(),
            arch: r.arch.clone(),
        };
        let added = self.strays.add_n(&stray, r.count);
        if added == Added::Overflow {
            return;
        }
        if added == Added::First {
            log::warn!(
                "refusal of {} ({}) by {}: no container of a pod (a host process, or gone \
                 before its cgroup was read); counted as unattributed",
                stray.syscall,
                stray.arch,
                r.caller()
            );
        }
        let Stray {
            comm,
            exe,
            cgroup,
            syscall,
            arch,
        } = stray;
        self.metrics
            .count_unattributed([comm, exe, cgroup, syscall, arch], r.count);
    }

    /// The keys whose refusals file is behind, forgotten.
    pub(super) fn take_dirty(&mut self) -> BTreeSet<Key> {
        std::mem::take(&mut self.dirty)
    }

    /// The calls learned since the last call, forgotten.
    pub(super) fn take_learned(&mut self) -> BTreeMap<Key, BTreeMap<Arch, BTreeSet<String>>> {
        std::mem::take(&mut self.learned)
    }

    /// The content of `key`'s refusals file.
    pub(super) fn file(&self, key: &Key) -> serde_json::Value {
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
        serde_json::json!({
            "namespace": key.namespace,
            "workload": key.workload,
            "container": key.container,
            "refusals": refusals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::attribute::Attribution;
    use super::super::attribute::tests::{CRIO_ID, FakeCri, ID, Tree, key};
    use super::*;

    fn count(tree: &Tree, rel: &str, nr: u64, n: u64) -> KernelCount {
        KernelCount {
            cgroup: tree.id(rel),
            arch: Some(Arch::X86_64),
            nr,
            count: n,
        }
    }

    /// The kernel's counts, as `KernelPath::poll` hands them on, go through the same
    /// attribution and counting as the audit path's records: per container with the
    /// count, the metric, the file, and unattributed ones under their cgroup.
    #[test]
    fn kernel_counts_are_attributed_counted_and_filed() {
        let tree = Tree::new("tally");
        let mut cri = FakeCri::default();
        cri.known.insert(ID.into(), key("shop", "web", "app"));
        let mut who = Attribution::new(&tree.0);
        let metrics = Arc::new(Metrics::default());
        let mut tally = Tally::new(metrics.clone());
        let app = format!("kubepods.slice/cri-containerd-{ID}.scope");
        let polls = [
            vec![
                count(&tree, &app, 140, 3),
                count(&tree, "system.slice/cron.service", 140, 2),
            ],
            vec![count(&tree, &app, 140, 4)],
            // A container the CRI does not know (yet, or any more): by its cgroup.
            vec![count(
                &tree,
                &format!("kubepods.slice/crio-{CRIO_ID}.scope/container"),
                5000,
                1,
            )],
        ];
        for c in polls.iter().flatten() {
            let r = Report::of_kernel(c, who.cgroup(c.cgroup, &mut cri));
            tally.learn(&r);
            tally.count(&r);
        }
        let text = metrics.render();
        assert!(
            text.contains(
                "seccomp_recorder_refusals_total{namespace=\"shop\",workload=\"web\",\
                 container=\"app\",syscall=\"getpriority\",arch=\"x86_64\"} 7\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "seccomp_recorder_refusals_unattributed_total{comm=\"\",exe=\"\",\
                 cgroup=\"/system.slice/cron.service\",syscall=\"getpriority\",arch=\"x86_64\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "cgroup=\"/kubepods.slice/crio-{CRIO_ID}.scope/container\",syscall=\"nr:5000\",\
                 arch=\"x86_64\"}} 1\n"
            )),
            "{text}"
        );
        let web = key("shop", "web", "app");
        let dirty = tally.take_dirty();
        assert_eq!(dirty.len(), 1, "only the named container's file: {dirty:?}");
        assert!(dirty.contains(&web));
        assert_eq!(
            tally.file(&web)["refusals"],
            serde_json::json!([
                {"syscall": "getpriority", "arch": "x86_64", "action": "refused", "count": 7}
            ])
        );
        let learned = tally.take_learned();
        assert_eq!(
            learned.len(),
            1,
            "only a named container learns: {learned:?}"
        );
        assert!(learned[&web][&Arch::X86_64].contains("getpriority"));
    }

    #[test]
    fn an_unknown_abi_is_counted_not_dropped() {
        let c = KernelCount {
            cgroup: 1,
            arch: None,
            nr: 7,
            count: 2,
        };
        let place = Place {
            key: Some(key("a", "b", "c")),
            cgroup: "/x".into(),
        };
        let r = Report::of_kernel(&c, place);
        assert_eq!(
            (r.syscall.as_str(), r.arch.as_str(), r.call),
            ("nr:7", "?", None)
        );
        let mut tally = Tally::new(Arc::new(Metrics::default()));
        tally.count(&r);
        assert_eq!(tally.file(&key("a", "b", "c"))["refusals"][0]["count"], 2);
    }
}
