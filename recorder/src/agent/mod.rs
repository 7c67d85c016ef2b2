//! The Kubernetes node agent: records every container of the pods selected for recording
//! from the birth of its cgroup, learns who each one is from the node's container runtime
//! (CRI), and keeps one profile per namespace / workload / container, merged over replicas,
//! restarts and agent restarts.
//!
//! The kernel side runs in follow mode: every new cgroup is recorded from its `mkdir`
//! until user space decides about it, so neither `runc init` nor a container that lives a
//! millisecond is missed. A cgroup named after a container ID the CRI knows, in a selected
//! pod, is kept; everything else (pause containers, pod and QoS cgroups, other services)
//! is dropped.

pub mod cri;
pub mod hostns;
pub mod http;
pub mod pods;
mod publish;

use crate::arch::Arch;
use crate::cgroup::{self, CgroupError};
use crate::oci::Access;
use crate::profile::DefaultAction;
use crate::trace::{AttachKind, Syscalls, TraceError, Tracer};
use cri::{Cri, CriError};
use http::Metrics;
use pods::{AnnotationError, Key, Pod, Selection, Selector};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Cgroups followed at once: containers being recorded plus new cgroups not decided yet.
const CAPACITY: u32 = 2048;
/// How often new cgroups are looked at: a container's name must be asked for while the
/// runtime still knows it.
const TICK: Duration = Duration::from_millis(50);
/// A new cgroup named like a container the CRI does not know is given this long (the
/// runtime may not have stored it yet) before it is dropped.
const UNKNOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error(transparent)]
    HostNs(#[from] hostns::HostNsError),
    #[error("cannot watch for SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
}

/// Where profiles go and how the agent runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The CRI socket (crictl syntax); `None` tries crictl's default endpoints.
    pub endpoint: Option<String>,
    /// Pods whose labels match all of these are recorded too (unless annotated "false").
    pub selectors: Vec<Selector>,
    /// Localhost profiles: `<dir>/<namespace>/<workload>/<container>.json`.
    pub localhost_dir: Option<PathBuf>,
    /// SPO `SeccompProfile` resources: `<dir>/<namespace>/<workload>/<container>.yaml`.
    pub spo_dir: Option<PathBuf>,
    /// Push each profile to `<repo>:<namespace>_<workload>_<container>`.
    pub push: Option<String>,
    pub access: Access,
    pub flush_interval: Duration,
    /// How often the CRI is asked for container states (sooner when it sends events).
    pub poll_interval: Duration,
    pub default: DefaultAction,
    pub attach: Option<AttachKind>,
}

/// A pushed profile: its key and the digest reference pods should use.
pub type OnPush<'a> = &'a mut dyn FnMut(&Key, &str);

/// Runs until SIGTERM or SIGINT, then writes what it has and returns.
pub fn run(opts: &Options, metrics: Arc<Metrics>, on_push: OnPush<'_>) -> Result<(), AgentError> {
    if let Some(e) = &opts.endpoint {
        cri::socket_path(e)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGTERM, libc::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(AgentError::Signals)?;
    }
    metrics.set_unhealthy(Some("starting".into()));
    let Some(cri) = connect(opts, &metrics, &stop) else {
        return Ok(());
    };
    let mount = cgroup::mount_point()?;
    match hostns::enter(&mount)? {
        hostns::HostNs::Entered => log::info!("entered the host's cgroup namespace"),
        hostns::HostNs::AlreadyHost(why) => log::info!(
            "cannot enter the host's cgroup namespace ({why}); this one already is the \
             host's (it shows the host's cgroup paths): going on"
        ),
    }
    let mut tracer = Tracer::load_with(CAPACITY, true)?;
    let attach = tracer.attach(opts.attach)?;
    log::info!("recording via {attach}");
    let events = cri.events();
    let publisher = publish::Publisher::new(opts, &cri);
    let mut agent = Agent {
        opts,
        cri,
        tracer,
        mount,
        metrics,
        publisher,
        containers: BTreeMap::new(),
        owners: BTreeMap::new(),
        folded: BTreeMap::new(),
        pending: Vec::new(),
        pods: HashMap::new(),
        selections: HashMap::new(),
        keys: BTreeMap::new(),
        cri_error: None,
    };
    // Containers born since loading are from birth; only the others are "already running".
    agent.scan_born();
    agent.decide_pending();
    agent.adopt_running();
    if agent.cri_error.is_none() {
        agent.metrics.set_unhealthy(None);
    }
    let (mut polled, mut flushed) = (Instant::now(), Instant::now());
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        agent.scan_born();
        agent.decide_pending();
        let event = events.try_iter().count() > 0;
        if event || polled.elapsed() >= opts.poll_interval {
            polled = Instant::now();
            agent.poll(on_push);
        }
        if flushed.elapsed() >= opts.flush_interval {
            flushed = Instant::now();
            agent.write_all(on_push);
        }
    }
    log::info!("stopping: writing every profile");
    agent.scan_born();
    agent.decide_pending();
    agent.write_all(on_push);
    agent.tracer.detach();
    Ok(())
}

/// Connects to the runtime, retrying (with a clear error and an unhealthy /healthz)
/// until it answers or the agent is stopped: a node's runtime that restarts or comes up
/// late must not put the agent into a crash loop.
fn connect(opts: &Options, metrics: &Metrics, stop: &AtomicBool) -> Option<Cri> {
    let mut last = String::new();
    let mut wait = Duration::from_millis(500);
    loop {
        match try_connect(opts) {
            Ok(cri) => {
                log::info!(
                    "connected to {} {} at {}",
                    cri.name,
                    cri.version,
                    cri.endpoint()
                );
                return Some(cri);
            }
            Err(e) => {
                let msg = e.to_string();
                if msg != last {
                    log::error!("{msg}; retrying (the agent keeps running, /healthz says why)");
                    Metrics::inc(&metrics.errors);
                    last = msg.clone();
                }
                metrics.set_unhealthy(Some(msg));
            }
        }
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn try_connect(opts: &Options) -> Result<Cri, CriError> {
    if let Some(e) = &opts.endpoint {
        return Cri::connect(e);
    }
    let mut errors = Vec::new();
    for e in cri::DEFAULT_ENDPOINTS {
        match Cri::connect(e) {
            Ok(c) => return Ok(c),
            Err(err) => errors.push(err),
        }
    }
    Err(CriError::Unreachable {
        endpoint: cri::DEFAULT_ENDPOINTS.join(", "),
        detail: format!(
            "none answers ({}); give --runtime-endpoint",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })
}

/// A container being recorded.
#[derive(Clone, Debug)]
struct Tracked {
    key: Key,
    /// `namespace/pod/container`, for logs.
    label: String,
    cgroup: u64,
}

/// A new cgroup named after a container ID, waiting for the CRI to say whose it is.
struct Birth {
    cgroup: u64,
    id: String,
    since: Instant,
}

/// Everything recorded for one profile.
#[derive(Default)]
struct Acc {
    /// Calls of the containers no longer recorded (exited).
    done: BTreeMap<Arch, BTreeSet<String>>,
    /// Some container of it (or the profile already on disk) was recorded from birth.
    from_birth: bool,
    /// `namespace/pod/container` of what it holds that was not published yet.
    sources: BTreeSet<String>,
    /// The profile as last published, to publish only changes.
    last: Option<String>,
    /// The existing profile it merges into, read once.
    base: Option<publish::Base>,
}

struct Agent<'a> {
    opts: &'a Options,
    cri: Cri,
    tracer: Tracer,
    mount: PathBuf,
    metrics: Arc<Metrics>,
    publisher: publish::Publisher,
    /// Recorded containers by container ID.
    containers: BTreeMap<String, Tracked>,
    /// A recorded container's cgroup id -> its container ID.
    owners: BTreeMap<u64, String>,
    /// A cgroup made inside a recorded container -> that container's cgroup id.
    folded: BTreeMap<u64, u64>,
    pending: Vec<Birth>,
    /// Pods by sandbox ID.
    pods: HashMap<String, Pod>,
    /// Each pod's decision, made once (a malformed annotation is reported once).
    selections: HashMap<String, Result<Option<Selection>, AnnotationError>>,
    keys: BTreeMap<Key, Acc>,
    /// The last CRI failure reported, so a runtime that is down is not logged every tick.
    cri_error: Option<String>,
}

impl Agent<'_> {
    /// Takes the cgroups born since the last look: those inside a recorded container are
    /// folded into it, those named after a container wait for the CRI, the rest are dropped.
    fn scan_born(&mut self) {
        let born = match self.tracer.born() {
            Ok(b) => b,
            Err(e) => return self.error(&format!("reading new cgroups: {e}")),
        };
        for (id, (parent, name)) in born {
            let _ = self.tracer.remove_born(id);
            let owner = self
                .owners
                .contains_key(&parent)
                .then_some(parent)
                .or_else(|| self.folded.get(&parent).copied());
            if let Some(owner) = owner {
                self.folded.insert(id, owner);
            } else if let Some(cid) = container_id(&name) {
                self.pending.push(Birth {
                    cgroup: id,
                    id: cid,
                    since: Instant::now(),
                });
            } else {
                self.drop_cgroup(id);
            }
        }
    }

    fn drop_cgroup(&mut self, id: u64) {
        if let Err(e) = self.tracer.remove_target(id) {
            self.error(&format!("dropping cgroup {id}: {e}"));
        }
    }

    fn decide_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for b in pending {
            match self.identify(&b.id) {
                Ok(Some((sandbox, name, image))) => {
                    let who = Who {
                        id: &b.id,
                        sandbox: &sandbox,
                        name: &name,
                        image: &image,
                    };
                    self.adopt(&who, b.cgroup, true)
                }
                Ok(None) if self.pods.contains_key(&b.id) => {
                    log::debug!("pause container of sandbox {} is not recorded", b.id);
                    self.drop_cgroup(b.cgroup);
                }
                Ok(None) if b.since.elapsed() > UNKNOWN_GRACE => {
                    log::debug!("cgroup of {} is no CRI container; not recorded", b.id);
                    self.drop_cgroup(b.cgroup);
                }
                Ok(None) | Err(_) => self.pending.push(b),
            }
        }
    }

    /// The sandbox, name and image of a container the CRI knows; pods are refreshed as
    /// needed.
    fn identify(&mut self, id: &str) -> Result<Option<(String, String, String)>, ()> {
        let found = self.cri_ok(|c| c.container(id))?;
        let Some(c) = found else {
            if !self.pods.contains_key(id) {
                self.refresh_pods()?;
            }
            return Ok(None);
        };
        if !self.pods.contains_key(&c.pod_sandbox_id) {
            self.refresh_pods()?;
        }
        let name = c.metadata.map(|m| m.name).unwrap_or_default();
        Ok(Some((c.pod_sandbox_id, name, image_of(&c.image))))
    }

    fn refresh_pods(&mut self) -> Result<(), ()> {
        let list = self.cri_ok(Cri::sandboxes)?;
        let live: HashSet<&str> = list.iter().map(|s| s.id.as_str()).collect();
        self.selections.retain(|id, _| live.contains(id.as_str()));
        self.pods = list
            .into_iter()
            .map(|s| {
                let meta = s.metadata.unwrap_or_default();
                let pod = Pod {
                    namespace: meta.namespace,
                    name: meta.name,
                    labels: s.labels,
                    annotations: s.annotations,
                };
                (s.id, pod)
            })
            .collect();
        Ok(())
    }

    /// Runs a CRI call; a failure is reported once (until the runtime answers again) and
    /// makes /healthz unhealthy.
    fn cri_ok<T>(&mut self, f: impl FnOnce(&mut Cri) -> Result<T, CriError>) -> Result<T, ()> {
        match f(&mut self.cri) {
            Ok(v) => {
                if self.cri_error.take().is_some() {
                    log::info!("the container runtime answers again");
                    self.metrics.set_unhealthy(None);
                }
                Ok(v)
            }
            Err(e) => {
                let msg = e.to_string();
                if self.cri_error.as_deref() != Some(msg.as_str()) {
                    log::error!("{msg}");
                    Metrics::inc(&self.metrics.errors);
                    self.metrics.set_unhealthy(Some(msg.clone()));
                    self.cri_error = Some(msg);
                }
                Err(())
            }
        }
    }

    /// The pod's decision, made and reported the first time it is asked for.
    fn selection(&mut self, sandbox: &str) -> Option<Selection> {
        let pod = self.pods.get(sandbox)?;
        if !self.selections.contains_key(sandbox) {
            let decision = pod.selection(&self.opts.selectors);
            match &decision {
                Ok(Some(s)) => {
                    log::info!(
                        "recording pod {}/{} as workload {}",
                        pod.namespace,
                        pod.name,
                        s.workload
                    );
                    Metrics::inc(&self.metrics.pods_recorded);
                }
                Ok(None) => {}
                Err(e) => {
                    log::error!("{e}; the pod is not recorded");
                    Metrics::inc(&self.metrics.errors);
                }
            }
            self.selections.insert(sandbox.to_string(), decision);
        }
        self.selections.get(sandbox)?.clone().ok().flatten()
    }

    /// Keeps recording `cgroup` as container `who` when its pod is selected.
    fn adopt(&mut self, who: &Who<'_>, cgroup: u64, from_birth: bool) {
        let key = self.selection(who.sandbox).and_then(|s| {
            let pod = self.pods.get(who.sandbox)?;
            s.key(pod, who.name)
        });
        let Some(key) = key else {
            self.drop_cgroup(cgroup);
            return;
        };
        let pod = &self.pods[who.sandbox];
        let label = format!("{}/{}/{}", pod.namespace, pod.name, who.name);
        if from_birth {
            log::info!(
                "{label}: recording from its start into {key} (image {}, container {})",
                who.image,
                who.id
            );
        } else {
            log::warn!(
                "{label}: already running when the agent started; recorded from now on only, \
                 so its runtime's start-up is missing (restart the pod to record it from birth)"
            );
            Metrics::inc(&self.metrics.containers_not_from_birth);
        }
        Metrics::inc(&self.metrics.containers_recorded);
        let acc = self.keys.entry(key.clone()).or_default();
        acc.from_birth |= from_birth;
        self.owners.insert(cgroup, who.id.to_string());
        self.containers
            .insert(who.id.to_string(), Tracked { key, label, cgroup });
    }

    /// Containers of selected pods that run already: recorded from now on, and said so.
    fn adopt_running(&mut self) {
        let Ok(list) = self.cri_ok(Cri::containers) else {
            return;
        };
        if self.refresh_pods().is_err() {
            return;
        }
        let waiting: HashSet<String> = self.pending.iter().map(|b| b.id.clone()).collect();
        for c in list {
            let running = c.state == k8s_cri::v1::ContainerState::ContainerRunning as i32;
            if !running || self.containers.contains_key(&c.id) || waiting.contains(&c.id) {
                continue;
            }
            if self.selection(&c.pod_sandbox_id).is_none() {
                continue;
            }
            match self.running_cgroup(&c.id) {
                Ok(Some(dir)) => {
                    if let Err(e) = self.add_existing(&dir) {
                        self.error(&format!("recording {}: {e}", dir.display()));
                        continue;
                    }
                    let name = c.metadata.as_ref().map(|m| m.name.clone());
                    let who = Who {
                        id: &c.id,
                        sandbox: &c.pod_sandbox_id,
                        name: &name.unwrap_or_default(),
                        image: &image_of(&c.image),
                    };
                    self.adopt(&who, cgroup::id(&dir).unwrap_or(0), false);
                }
                Ok(None) => log::debug!("container {} has no cgroup any more", c.id),
                Err(e) => self.error(&format!("container {}: {e}", c.id)),
            }
        }
    }

    /// The cgroup of a running container, from the pid the runtime reports.
    fn running_cgroup(&mut self, id: &str) -> Result<Option<PathBuf>, String> {
        let status = self
            .cri_ok(|c| c.container_status(id))
            .map_err(|_| "the runtime did not answer".to_string())?;
        let Some(info) = status.and_then(|s| s.info.get("info").cloned()) else {
            return Err("the runtime's verbose status has no info".into());
        };
        let info: serde_json::Value =
            serde_json::from_str(&info).map_err(|e| format!("verbose status info: {e}"))?;
        let Some(pid) = info["pid"].as_u64().filter(|p| *p > 0) else {
            return Ok(None);
        };
        cgroup::of_pid(&self.mount, pid as u32).map_err(|e| e.to_string())
    }

    /// Records an existing cgroup and what is below it as one target.
    fn add_existing(&mut self, dir: &std::path::Path) -> Result<(), AgentError> {
        let root = cgroup::id(dir)?;
        self.tracer.add_target(root)?;
        for child in cgroup::subtree(dir).iter().skip(1) {
            if let Ok(id) = cgroup::id(child) {
                self.tracer.add_child(id, root)?;
            }
        }
        Ok(())
    }

    /// Asks the CRI which recorded containers have exited or gone: their profiles are
    /// written now, and their cgroups freed.
    fn poll(&mut self, on_push: OnPush<'_>) {
        let Ok(list) = self.cri_ok(Cri::containers) else {
            return;
        };
        let exited = k8s_cri::v1::ContainerState::ContainerExited as i32;
        let live: HashMap<&str, i32> = list.iter().map(|c| (c.id.as_str(), c.state)).collect();
        let finished: Vec<String> = self
            .containers
            .keys()
            .filter(|id| live.get(id.as_str()).is_none_or(|s| *s == exited))
            .cloned()
            .collect();
        if finished.is_empty() {
            return;
        }
        let seen = match self.tracer.read() {
            Ok(s) => s,
            Err(e) => return self.error(&format!("reading what was recorded: {e}")),
        };
        let mut keys = BTreeSet::new();
        for id in finished {
            let Some(t) = self.containers.remove(&id) else {
                continue;
            };
            let calls = self.calls_of(&t, &seen);
            let acc = self.keys.entry(t.key.clone()).or_default();
            for (arch, names) in calls {
                acc.done.entry(arch).or_default().extend(names);
            }
            acc.sources.insert(t.label.clone());
            log::info!("{}: exited", t.label);
            self.forget(&t);
            keys.insert(t.key);
        }
        for key in keys {
            self.write(&key, &seen, on_push);
        }
    }

    /// Frees a finished container's cgroups in the kernel maps.
    fn forget(&mut self, t: &Tracked) {
        self.owners.remove(&t.cgroup);
        let inside: Vec<u64> = self
            .folded
            .iter()
            .filter(|(_, o)| **o == t.cgroup)
            .map(|(id, _)| *id)
            .collect();
        for id in inside.into_iter().chain([t.cgroup]) {
            self.folded.remove(&id);
            self.drop_cgroup(id);
        }
    }

    /// One container's calls, the cgroups made inside it included, with what a container
    /// profile must always allow.
    fn calls_of(
        &self,
        t: &Tracked,
        seen: &BTreeMap<u64, Syscalls>,
    ) -> BTreeMap<Arch, BTreeSet<String>> {
        let mut all = Syscalls::default();
        let ids = self
            .folded
            .iter()
            .filter(|(_, o)| **o == t.cgroup)
            .map(|(id, _)| *id);
        for id in ids.chain([t.cgroup]) {
            if let Some(s) = seen.get(&id) {
                crate::record::merge_into(&mut all, s.clone());
            }
        }
        if all.names.is_empty() {
            return BTreeMap::new();
        }
        crate::record::container_profile_calls(all).names
    }

    fn write_all(&mut self, on_push: OnPush<'_>) {
        let seen = match self.tracer.read() {
            Ok(s) => s,
            Err(e) => return self.error(&format!("reading what was recorded: {e}")),
        };
        let keys: Vec<Key> = self.keys.keys().cloned().collect();
        for key in keys {
            self.write(&key, &seen, on_push);
        }
    }

    /// Publishes one profile: what its exited containers made, what its live ones made so
    /// far, and the profile already on disk.
    fn write(&mut self, key: &Key, seen: &BTreeMap<u64, Syscalls>, on_push: OnPush<'_>) {
        let mut names = self
            .keys
            .get(key)
            .map(|a| a.done.clone())
            .unwrap_or_default();
        let live: Vec<Tracked> = self
            .containers
            .values()
            .filter(|t| &t.key == key)
            .cloned()
            .collect();
        for t in &live {
            for (arch, calls) in self.calls_of(t, seen) {
                names.entry(arch).or_default().extend(calls);
            }
        }
        if names.is_empty() {
            return;
        }
        let Some(acc) = self.keys.get_mut(key) else {
            return;
        };
        acc.sources.extend(live.iter().map(|t| t.label.clone()));
        let outcome = self
            .publisher
            .publish(key, &names, acc, &self.metrics, on_push);
        if let Err(e) = outcome {
            log::error!("{key}: {e}");
            Metrics::inc(&self.metrics.errors);
        }
    }

    fn error(&self, msg: &str) {
        log::error!("{msg}");
        Metrics::inc(&self.metrics.errors);
    }
}

/// A container as the CRI names it.
struct Who<'a> {
    id: &'a str,
    sandbox: &'a str,
    name: &'a str,
    image: &'a str,
}

fn image_of(spec: &Option<k8s_cri::v1::ImageSpec>) -> String {
    spec.as_ref()
        .map(|i| i.image.clone())
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The container ID in a cgroup directory name: `<id>` (cgroupfs), `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`, `docker-<id>.scope`; conmon's scope is not a container.
fn container_id(name: &str) -> Option<String> {
    if name.starts_with("crio-conmon-") {
        return None;
    }
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    let id = stem.rsplit(['-', ':']).next()?;
    (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_in_cgroup_names() {
        let id = "0f".repeat(32);
        assert_eq!(container_id(&id), Some(id.clone()));
        assert_eq!(
            container_id(&format!("cri-containerd-{id}.scope")),
            Some(id.clone())
        );
        assert_eq!(container_id(&format!("crio-{id}.scope")), Some(id.clone()));
        assert_eq!(container_id(&format!("crio-conmon-{id}.scope")), None);
        assert_eq!(container_id("pod1234-abcd"), None);
        assert_eq!(container_id("kubepods-besteffort.slice"), None);
        assert_eq!(container_id(&id[..63]), None);
    }
}
