//! The agent with `--push`: this node's share of each profile goes to the registry under
//! the node's own tag, and every `--sync-interval` the node brings its copy of each
//! union up to date (fleet::sync) and writes it as the Localhost file, with its
//! provenance next to it as `<container>.status.json`. Nodes that never ran a workload
//! learn it from the repository's tag list and get its files as well.

use super::OnPush;
use super::metrics::{Counted, Metrics};
use super::pods::Key;
use super::publish;
use crate::arch::Arch;
use crate::diff::Baseline;
use crate::fleet::{Fleet, FleetError, Provenance, Share, Union, union};
use crate::oci::Access;
use crate::profile::DefaultAction;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the agent's cluster mode needs from its options.
pub(super) struct Settings<'a> {
    pub(super) repo: &'a str,
    pub(super) access: &'a Access,
    pub(super) node: &'a str,
    pub(super) default: DefaultAction,
    pub(super) stable_after: u64,
    pub(super) from_registry: bool,
    /// `--log-refusals`: the unions get SECCOMP_FILTER_FLAG_LOG.
    pub(super) log_refusals: bool,
    /// The node runtime's RuntimeDefault, for the KEP-6061 warnings on each new union.
    pub(super) baseline: Option<Baseline>,
}

/// This node's share of one profile.
struct Own {
    share: Share,
    /// Read back from the registry (or found missing) once.
    loaded: bool,
    /// No container of it is recorded any more: it is dropped once a sync finds the
    /// union still listing it (then no lost race can have left it out).
    retiring: bool,
}

pub(super) struct Cluster {
    fleet: Fleet,
    repo: String,
    from_registry: bool,
    own: BTreeMap<Key, Own>,
    /// The calls of each union as last synced: a run is quiet when it adds none.
    unions: BTreeMap<Key, BTreeMap<Arch, BTreeSet<String>>>,
    /// Workloads seen in the repository's tag list.
    listed: BTreeSet<Key>,
    baseline: Option<Baseline>,
}

/// Now, as provenance writes times: RFC 3339, UTC, seconds.
fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Cluster {
    pub(super) fn open(s: Settings<'_>) -> Result<Cluster, FleetError> {
        let mut fleet = Fleet::open(s.repo, s.access, s.node, s.default, s.stable_after)?;
        fleet.log_refusals(s.log_refusals);
        Ok(Cluster {
            fleet,
            repo: s.repo.to_string(),
            from_registry: s.from_registry,
            own: BTreeMap::new(),
            unions: BTreeMap::new(),
            listed: BTreeSet::new(),
            baseline: s.baseline,
        })
    }

    /// This node's share of `key`, read back from the registry the first time (an agent
    /// restart goes on from where it was).
    fn own(&mut self, key: &Key) -> &mut Own {
        if !self.own.get(key).is_some_and(|o| o.loaded) {
            let share = match self.fleet.own_share(key) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("{key}: cannot read this node's share back: {e}");
                    None
                }
            };
            let share = share.unwrap_or_else(|| Share {
                calls: BTreeMap::new(),
                provenance: Provenance {
                    profile: key.to_string(),
                    nodes: [self.fleet.node().to_string()].into(),
                    ..Provenance::default()
                },
            });
            self.own.insert(
                key.clone(),
                Own {
                    share,
                    loaded: true,
                    retiring: false,
                },
            );
        }
        self.own.get_mut(key).expect("inserted above")
    }

    /// A container of `key` starts being recorded.
    pub(super) fn started(&mut self, key: &Key, image: &str, from_birth: bool) {
        let own = self.own(key);
        own.retiring = false;
        let p = &mut own.share.provenance;
        p.saw(&now());
        p.images.insert(image.to_string());
        if from_birth {
            p.containers_from_birth += 1;
        } else {
            p.containers_joined_late += 1;
        }
    }

    /// A container of `key` recorded from birth has exited having made `calls`.
    pub(super) fn run_ended(&mut self, key: &Key, calls: &BTreeMap<Arch, BTreeSet<String>>) {
        let mut known = self.unions.get(key).cloned().unwrap_or_default();
        union::add(&mut known, &self.own(key).share.calls);
        let new = union::add(&mut known, calls);
        let p = &mut self.own(key).share.provenance;
        p.saw(&now());
        p.run_ended(new, union::count(&known));
    }

    /// Adds what this node recorded for `key` to its share and publishes the share when it
    /// changed; then brings the union up to date.
    pub(super) fn publish(
        &mut self,
        key: &Key,
        names: &BTreeMap<Arch, BTreeSet<String>>,
        out: &Outputs<'_>,
        on_push: OnPush<'_>,
    ) -> Result<(), String> {
        let own = self.own(key);
        union::add(&mut own.share.calls, names);
        let share = own.share.clone();
        self.fleet
            .publish(key, &share)
            .map_err(|e| format!("cannot publish this node's share: {e}"))?;
        self.sync(key, out, on_push)
    }

    /// Brings every known profile up to date: this node's, and with
    /// `--workloads-from-registry` every one the repository lists.
    pub(super) fn sync_all(&mut self, out: &Outputs<'_>, on_push: OnPush<'_>) {
        if self.from_registry {
            match self.fleet.workloads() {
                Ok(keys) => self.listed = keys.into_iter().collect(),
                Err(e) => {
                    log::error!("cannot list the workloads in {}: {e}", self.repo);
                    out.metrics.error("sync");
                }
            }
        }
        let keys: BTreeSet<Key> = self.own.keys().chain(&self.listed).cloned().collect();
        for key in keys {
            if let Err(e) = self.sync(&key, out, on_push) {
                log::error!("{key}: {e}");
                out.metrics.error("sync");
            }
        }
    }

    fn sync(&mut self, key: &Key, out: &Outputs<'_>, on_push: OnPush<'_>) -> Result<(), String> {
        let own = self.own.get(key).map(|o| o.share.clone());
        if let Some(share) = &own {
            // A share whose push failed goes now (nothing is sent when it did not change):
            // the union lists shares by digest, and others must be able to read it.
            self.fleet
                .publish(key, share)
                .map_err(|e| format!("cannot publish this node's share: {e}"))?;
        }
        let synced = self
            .fleet
            .sync(key, own.as_ref())
            .map_err(|e| format!("cannot bring the fleet's profile up to date: {e}"))?;
        let Some(union) = synced else {
            if self.own.get(key).is_some_and(|o| o.retiring) {
                self.own.remove(key);
                if !self.listed.contains(key) {
                    self.unions.remove(key);
                }
            }
            return Ok(());
        };
        let calls = crate::profile::Profile::parse(union.artifact.json.as_bytes())
            .map(|p| p.allowed())
            .unwrap_or_default();
        self.unions.insert(key.clone(), calls);
        let json = union.artifact.json.as_bytes();
        if let Ok(profile) = crate::profile::Profile::parse(json) {
            let size = json.len() as u64;
            for w in crate::kep6061::check(&profile, size, self.baseline.as_slice()) {
                log::warn!("{key}: {w}");
            }
        }
        out.write(key, &union)?;
        on_push(key, &format!("{}@{}", self.repo, union.artifact.digest));
        out.metrics.count(key, Counted::Push);
        Ok(())
    }

    /// Forgets this node's share of a key none of its containers records any more, once
    /// a sync finds the union holding it: the registry keeps it, and it is read back when
    /// needed.
    pub(super) fn forget(&mut self, key: &Key) {
        if let Some(o) = self.own.get_mut(key) {
            o.retiring = true;
        }
    }
}
/// Where a union is written on this node.
pub(super) struct Outputs<'a> {
    pub(super) localhost: Option<&'a Path>,
    pub(super) spo: Option<&'a Path>,
    pub(super) metrics: &'a Metrics,
}

impl Outputs<'_> {
    fn write(&self, key: &Key, union: &Union) -> Result<(), String> {
        let from_birth = union.status.provenance.containers_from_birth > 0;
        if let Some(dir) = self.spo {
            let profile = crate::profile::Profile::parse(union.artifact.json.as_bytes())
                .map_err(|(f, m)| format!("the union does not parse: {f}: {m}"))?;
            let yaml = publish::spo_resource(&profile, key, from_birth)?;
            publish::write_file(&publish::key_path(dir, key, "yaml"), yaml.as_bytes())?;
            self.metrics.count(key, Counted::Write);
        }
        let Some(dir) = self.localhost else {
            return Ok(());
        };
        let path = publish::key_path(dir, key, "json");
        publish::write_file(&path, union.artifact.json.as_bytes())?;
        let status = path.with_extension("status.json");
        publish::write_file(&status, union.status.to_json().as_bytes())?;
        publish::mark(&path, from_birth)?;
        self.metrics.count(key, Counted::Write);
        let p = &union.status.provenance;
        log::info!(
            "{key}: wrote the fleet's profile {} ({} calls from {} node(s); {} quiet run(s), {})",
            path.display(),
            p.calls,
            p.nodes.len(),
            p.quiet_runs,
            if union.status.stable {
                "stable"
            } else {
                "not stable yet"
            }
        );
        Ok(())
    }
}
