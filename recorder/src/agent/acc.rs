//! The agent's profiles as they grow: one per namespace / workload / container, made of
//! what its exited containers made, what its live ones made so far, and the profile
//! already published, merged on disk by the publisher.

use super::OnPush;
use super::http::Metrics;
use super::pods::Key;
use super::publish::{Base, Publisher};
use crate::arch::Arch;
use crate::profile::container::{Kind, profile_calls};
use crate::trace::Syscalls;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A container being recorded.
#[derive(Clone, Debug)]
pub(super) struct Tracked {
    pub(super) key: Key,
    /// `namespace/pod/container`, for logs.
    pub(super) label: String,
    /// Its cgroup: the target its calls are read from.
    pub(super) cgroup: u64,
    /// Its image, by digest when the runtime gives one.
    pub(super) image: String,
    pub(super) from_birth: bool,
}

/// Everything recorded for one profile.
#[derive(Default)]
pub(super) struct Acc {
    /// Calls of the containers no longer recorded (exited).
    pub(super) done: BTreeMap<Arch, BTreeSet<String>>,
    /// Some container of it (or the profile already on disk) was recorded from birth.
    pub(super) from_birth: bool,
    /// `namespace/pod/container` of what it holds that was not published yet.
    pub(super) sources: BTreeSet<String>,
    /// The profile as last published, to publish only changes.
    pub(super) last: Option<String>,
    /// The existing profile it merges into, read once.
    pub(super) base: Option<Base>,
}

pub(super) struct Accumulator {
    publisher: Publisher,
    metrics: Arc<Metrics>,
    keys: BTreeMap<Key, Acc>,
    /// Recorded containers by container ID.
    containers: BTreeMap<String, Tracked>,
}

impl Accumulator {
    pub(super) fn new(publisher: Publisher, metrics: Arc<Metrics>) -> Accumulator {
        Accumulator {
            publisher,
            metrics,
            keys: BTreeMap::new(),
            containers: BTreeMap::new(),
        }
    }

    pub(super) fn records(&self, id: &str) -> bool {
        self.containers.contains_key(id)
    }

    /// The IDs of the containers being recorded.
    pub(super) fn ids(&self) -> impl Iterator<Item = &String> {
        self.containers.keys()
    }

    /// Records container `id` into its key's profile from now on.
    pub(super) fn add(&mut self, id: &str, t: Tracked) {
        self.keys.entry(t.key.clone()).or_default().from_birth |= t.from_birth;
        self.publisher.started(&t.key, &t.image, t.from_birth);
        self.containers.insert(id.to_string(), t);
    }

    /// Containers that have exited: what they made joins their profiles, which are
    /// published now. `seen` has the folded cgroups' calls in their targets' sets.
    /// Returns the cgroups to free.
    pub(super) fn finish(
        &mut self,
        ids: Vec<String>,
        seen: &BTreeMap<u64, Syscalls>,
        on_push: OnPush<'_>,
    ) -> Vec<u64> {
        let mut keys = BTreeSet::new();
        let mut freed = Vec::new();
        for id in ids {
            let Some(t) = self.containers.remove(&id) else {
                continue;
            };
            let calls = calls_of(&t, seen);
            if t.from_birth {
                self.publisher.run_ended(&t.key, &calls);
            }
            let acc = self.keys.entry(t.key.clone()).or_default();
            for (arch, names) in calls {
                acc.done.entry(arch).or_default().extend(names);
            }
            acc.sources.insert(t.label.clone());
            log_key!(info, &t.key, "{}: exited", t.label);
            freed.push(t.cgroup);
            keys.insert(t.key);
        }
        for key in keys {
            if self.write(&key, seen, on_push) {
                self.prune(&key);
            }
        }
        freed
    }

    /// Forgets a published profile none of whose containers runs any more: pods come
    /// and go, and what they made is on disk (or in the registry) to merge into later.
    fn prune(&mut self, key: &Key) {
        if self.containers.values().any(|t| &t.key == key) {
            return;
        }
        self.keys.remove(key);
        self.publisher.forget(key);
    }

    /// Every `--sync-interval` with `--push`: the fleet's profiles brought up to date.
    pub(super) fn sync(&mut self, on_push: OnPush<'_>) {
        self.publisher.sync_all(&self.metrics, on_push);
    }

    pub(super) fn write_all(&mut self, seen: &BTreeMap<u64, Syscalls>, on_push: OnPush<'_>) {
        let keys: Vec<Key> = self.keys.keys().cloned().collect();
        for key in keys {
            self.write(&key, seen, on_push);
        }
    }

    /// Publishes one profile: what its exited containers made, what its live ones made so
    /// far, and the profile already on disk. Whether it is published.
    fn write(&mut self, key: &Key, seen: &BTreeMap<u64, Syscalls>, on_push: OnPush<'_>) -> bool {
        let Some(acc) = self.keys.get_mut(key) else {
            return false;
        };
        let mut names = acc.done.clone();
        let live: Vec<&Tracked> = self.containers.values().filter(|t| &t.key == key).collect();
        for t in &live {
            for (arch, calls) in calls_of(t, seen) {
                names.entry(arch).or_default().extend(calls);
            }
        }
        if names.is_empty() {
            return true;
        }
        acc.sources.extend(live.iter().map(|t| t.label.clone()));
        let outcome = self
            .publisher
            .publish(key, &names, acc, &self.metrics, on_push);
        if let Err(e) = outcome {
            log::error!("{key}: {e}");
            self.metrics.error("publish");
            return false;
        }
        true
    }
}

impl Accumulator {
    /// Calls read from refusal records (`--learn-refusals`) join the key's profile, with
    /// what a container profile always allows; published with the next write.
    pub(super) fn learn(&mut self, key: &Key, names: BTreeMap<Arch, BTreeSet<String>>) {
        let calls = Syscalls {
            names,
            ..Default::default()
        };
        let acc = self.keys.entry(key.clone()).or_default();
        for (arch, names) in profile_calls(calls, Kind::Container).names {
            acc.done.entry(arch).or_default().extend(names);
        }
        acc.sources.insert(format!("{key} (refusal records)"));
    }
}

/// One container's calls, with what a container profile must always allow.
fn calls_of(t: &Tracked, seen: &BTreeMap<u64, Syscalls>) -> BTreeMap<Arch, BTreeSet<String>> {
    let all = seen.get(&t.cgroup).cloned().unwrap_or_default();
    profile_calls(all, Kind::Container).names
}
