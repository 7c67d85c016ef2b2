//! Where the agent's profiles go: Localhost files, SPO `SeccompProfile` resources, and an
//! OCI registry. Each merges into what is already there, so replicas, restarts of a
//! container and restarts of the agent all grow one profile.

use super::acc::Acc;
use super::cluster::{Cluster, Outputs, Settings};
use super::cri::Cri;
use super::metrics::{Counted, Metrics};
use super::pods::Key;
use super::{OnPush, Options};
use crate::arch::Arch;
use crate::diff::Baseline;
use crate::engine::Engine;
use crate::fleet::FleetError;
use crate::oci;
use crate::output::write_atomic;
use crate::profile::{DefaultAction, MergeOptions, OnConflict, Profile, SpoVersion, merge};
use crate::runtime_default::{RuntimeSpec, host_kernel, resolve_here};
use crate::version::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The profile a key merges into, read once: `Ok(None)` when there is none yet; an error
/// (an unreadable file) stops that profile from being overwritten.
pub(super) type Base = Result<Option<Profile>, String>;

/// Next to a Localhost profile while none of its containers was recorded from birth.
const NOT_FROM_BIRTH: &str = "not-from-birth";
/// The same mark on a `SeccompProfile` resource.
const NOT_FROM_BIRTH_ANNOTATION: &str = "seccomp-recorder.io/not-from-birth";

pub(super) struct Publisher {
    localhost: Option<PathBuf>,
    spo: Option<PathBuf>,
    default: DefaultAction,
    /// `--log-refusals`: every profile written gets SECCOMP_FILTER_FLAG_LOG.
    log_refusals: bool,
    /// With `--push`: this node's share goes to the registry, the fleet's union to the files.
    cluster: Option<Cluster>,
}

impl Publisher {
    pub(super) fn new(opts: &Options, cri: &Cri) -> Result<Publisher, FleetError> {
        let cluster = match &opts.push {
            None => None,
            Some(repo) => Some(Cluster::open(Settings {
                repo,
                access: &opts.access,
                node: &opts.node_name,
                default: opts.default,
                stable_after: opts.stable_after,
                from_registry: opts.workloads_from_registry,
                log_refusals: opts.log_refusals,
                baseline: node_baseline(&cri.name, &cri.version),
            })?),
        };
        Ok(Publisher {
            localhost: opts.localhost_dir.clone(),
            spo: opts.spo_dir.clone(),
            default: opts.default,
            log_refusals: opts.log_refusals,
            cluster,
        })
    }

    fn outputs<'a>(&'a self, metrics: &'a Metrics) -> Outputs<'a> {
        Outputs {
            localhost: self.localhost.as_deref(),
            spo: self.spo.as_deref(),
            metrics,
        }
    }

    /// A container of `key` starts being recorded.
    pub(super) fn started(&mut self, key: &Key, image: &str, from_birth: bool) {
        if let Some(c) = &mut self.cluster {
            c.started(key, image, from_birth);
        }
    }

    /// A container of `key` recorded from birth exited having made `calls`.
    pub(super) fn run_ended(&mut self, key: &Key, calls: &BTreeMap<Arch, BTreeSet<String>>) {
        if let Some(c) = &mut self.cluster {
            c.run_ended(key, calls);
        }
    }

    /// Every `--sync-interval`: brings the fleet's profiles up to date.
    pub(super) fn sync_all(&mut self, metrics: &Metrics, on_push: OnPush<'_>) {
        let Some(mut c) = self.cluster.take() else {
            return;
        };
        c.sync_all(&self.outputs(metrics), on_push);
        self.cluster = Some(c);
    }

    /// No container of `key` is recorded any more and its profile is published.
    pub(super) fn forget(&mut self, key: &Key) {
        if let Some(c) = &mut self.cluster {
            c.forget(key);
        }
    }

    fn localhost_path(&self, key: &Key) -> Option<PathBuf> {
        self.localhost.as_ref().map(|d| key_path(d, key, "json"))
    }

    fn spo_path(&self, key: &Key) -> Option<PathBuf> {
        self.spo.as_ref().map(|d| key_path(d, key, "yaml"))
    }

    /// Publishes `names` merged with the existing profile, unless nothing changed since
    /// the last time; with `--push`, as this node's share, and the fleet's union to the
    /// files.
    pub(super) fn publish(
        &mut self,
        key: &Key,
        names: &BTreeMap<Arch, BTreeSet<String>>,
        acc: &mut Acc,
        metrics: &Metrics,
        on_push: OnPush<'_>,
    ) -> Result<(), String> {
        if let Some(mut c) = self.cluster.take() {
            let published = c.publish(key, names, &self.outputs(metrics), on_push);
            self.cluster = Some(c);
            published?;
            acc.sources.clear();
            return Ok(());
        }
        if acc.base.is_none() {
            let (base, complete) = self.load_base(key);
            acc.from_birth |= complete;
            acc.base = Some(base);
        }
        let mut base = acc.base.clone().expect("loaded above")?;
        let mut recorded = Profile::allow(names, self.default);
        if self.log_refusals {
            recorded.log_refusals();
            base.iter_mut().for_each(Profile::log_refusals);
        }
        // The profile on disk keeps what it asked of the kernel.
        if let Some(old) = &base {
            recorded.keep_flags_of(old);
        }
        let profile = match base {
            None => recorded,
            Some(old) => {
                let opts = MergeOptions {
                    default_action: Some(self.default),
                    on_conflict: OnConflict::Refuse,
                };
                merge(&[old, recorded], &opts).map_err(|e| e.to_string())?
            }
        };
        let json = profile.to_json();
        if acc.last.as_deref() == Some(json.as_str()) {
            acc.sources.clear();
            return Ok(());
        }
        let sources: Vec<&str> = acc.sources.iter().map(String::as_str).collect();
        let count = profile.allowed().values().flatten().count();
        if let Some(path) = self.localhost_path(key) {
            write_file(&path, json.as_bytes())?;
            mark(&path, acc.from_birth)?;
            metrics.count(key, Counted::Write);
            log_key!(
                info,
                key,
                "{key}: wrote {} ({count} calls; recorded from {})",
                path.display(),
                sources.join(", ")
            );
        }
        if let Some(path) = self.spo_path(key) {
            let yaml = spo_resource(&profile, key, acc.from_birth)?;
            write_file(&path, yaml.as_bytes())?;
            metrics.count(key, Counted::Write);
            log_key!(info, key, "{key}: wrote {}", path.display());
        }
        acc.last = Some(json);
        acc.sources.clear();
        Ok(())
    }

    /// The profile already published for `key` (Localhost file first, else the SPO
    /// resource), and whether it was recorded from birth.
    fn load_base(&self, key: &Key) -> (Base, bool) {
        if let Some(path) = self.localhost_path(key).filter(|p| p.exists()) {
            let complete = !marker(&path).exists();
            let base = Profile::load(&path).map(Some).map_err(|e| {
                format!("{e}; the agent does not overwrite it: fix or remove it to record {key}")
            });
            return (base, complete);
        }
        if let Some(path) = self.spo_path(key).filter(|p| p.exists()) {
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    let complete = !String::from_utf8_lossy(&b).contains(NOT_FROM_BIRTH_ANNOTATION);
                    let spec = oci::spo::to_runtime_spec(&b)?;
                    let p = Profile::parse(&spec).map_err(|(f, m)| format!("{f}: {m}"))?;
                    Ok((p, complete))
                });
            return match read {
                Ok((p, complete)) => (Ok(Some(p)), complete),
                Err(e) => (
                    Err(format!(
                        "{}: {e}; the agent does not overwrite it: fix or remove it to record {key}",
                        path.display()
                    )),
                    false,
                ),
            };
        }
        (Ok(None), false)
    }
}

/// The RuntimeDefault of the runtime the CRI says it is, which a KEP-6061 node intersects
/// pulled profiles with; `None` (said on stderr) for a runtime without a built-in one.
fn node_baseline(name: &str, version: &str) -> Option<Baseline> {
    let Some(runtime) = Engine::from_name(name) else {
        log::warn!(
            "no built-in RuntimeDefault for runtime {name}: pushes are not checked against it"
        );
        return None;
    };
    let spec = RuntimeSpec {
        runtime,
        version: Version::parse(version),
    };
    let (release, notes) = resolve_here(&spec)
        .map_err(|e| log::warn!("{e}: pushes are not checked against the node's RuntimeDefault"))
        .ok()?;
    notes.iter().for_each(|n| log::info!("{n}"));
    let Some(kernel) = host_kernel() else {
        log::warn!(
            "cannot read the kernel version: pushes are not checked against the node's RuntimeDefault"
        );
        return None;
    };
    Some(Baseline::runtime_default(release, kernel))
}

/// `<dir>/<namespace>/<workload>/<container>[.image-<hex>].<ext>`
pub(super) fn key_path(dir: &Path, key: &Key, ext: &str) -> PathBuf {
    dir.join(&key.namespace)
        .join(&key.workload)
        .join(format!("{}.{ext}", key.file_stem()))
}

fn marker(profile: &Path) -> PathBuf {
    profile.with_extension(NOT_FROM_BIRTH)
}

pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_atomic(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A namespaced `SeccompProfile` named `<workload>-<container>`.
pub(super) fn spo_resource(
    profile: &Profile,
    key: &Key,
    from_birth: bool,
) -> Result<String, String> {
    let name: String = format!("{}-{}", key.workload, key.container)
        .replace('_', "-")
        .chars()
        .take(253)
        .collect();
    let yaml = profile.to_spo_yaml(&name, SpoVersion::V1)?;
    let mut meta = format!("  namespace: {}\n", key.namespace);
    if !from_birth {
        meta.push_str(&format!(
            "  annotations:\n    {NOT_FROM_BIRTH_ANNOTATION}: \"true\"\n"
        ));
    }
    let at = yaml
        .find("spec:\n")
        .ok_or("the SeccompProfile has no spec")?;
    Ok(format!("{}{meta}{}", &yaml[..at], &yaml[at..]))
}

/// Keeps `<container>.not-from-birth` next to a profile no container of which was
/// recorded from its start (its runtime's start-up calls may be missing).
pub(super) fn mark(profile: &Path, from_birth: bool) -> Result<(), String> {
    let path = marker(profile);
    if from_birth {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        };
    }
    let text = "Recorded only from when the agent started: the containers were already \
                running, so what their runtime did at start-up is missing. Restart the pods \
                with the agent running to record them from birth.\n";
    write_file(&path, text.as_bytes())
}
