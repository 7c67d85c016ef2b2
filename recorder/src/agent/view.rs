//! The agent's view of the node through the CRI: who a container is, which pods are
//! selected for recording, what runs and what has exited. A runtime that fails is reported
//! once (until it answers again) and makes /healthz unhealthy.

use super::cri::{self, Cri, CriError};
use super::http::Metrics;
use super::pods::{AnnotationError, Key, Pod, Selection, Selector};
use crate::cgroup::{self, CgroupError};
use k8s_cri::v1::ContainerState;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error("container {id}: the runtime's verbose status has no info (is it a CRI runtime?)")]
    NoInfo { id: String },
    #[error("container {id}: the runtime's verbose status info is not JSON: {source}")]
    Info {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("container {id}: {source}")]
    Cgroup {
        id: String,
        #[source]
        source: CgroupError,
    },
}

/// A container as the CRI names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Who {
    pub(super) id: String,
    pub(super) sandbox: String,
    pub(super) name: String,
    pub(super) image: String,
}

impl Who {
    fn of(c: &k8s_cri::v1::Container) -> Who {
        Who {
            id: c.id.clone(),
            sandbox: c.pod_sandbox_id.clone(),
            name: c
                .metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
            image: image_of(c),
        }
    }
}

/// The container's image by digest when the runtime says one (`image_ref` is the repo
/// digest on containerd and CRI-O, or the image ID), else its image name.
fn image_of(c: &k8s_cri::v1::Container) -> String {
    let named = c.image.as_ref().map(|i| i.image.as_str());
    [Some(c.image_ref.as_str()), named]
        .into_iter()
        .flatten()
        .find(|i| i.contains("sha256:"))
        .or(named.filter(|i| !i.is_empty()))
        .unwrap_or("unknown")
        .to_string()
}

/// Where a selected container's calls go, and its name for logs.
pub(super) struct Placed {
    pub(super) key: Key,
    /// `namespace/pod/container`.
    pub(super) label: String,
}

pub(super) struct View {
    cri: Cri,
    metrics: Arc<Metrics>,
    selectors: Vec<Selector>,
    /// Pods by sandbox ID.
    pods: HashMap<String, Pod>,
    /// Each pod's decision, made once (a malformed annotation is reported once).
    selections: HashMap<String, Result<Option<Selection>, AnnotationError>>,
    /// The last CRI failure reported, so a runtime that is down is not logged every tick.
    failing: Option<String>,
}

impl View {
    pub(super) fn new(cri: Cri, metrics: Arc<Metrics>, selectors: Vec<Selector>) -> View {
        View {
            cri,
            metrics,
            selectors,
            pods: HashMap::new(),
            selections: HashMap::new(),
            failing: None,
        }
    }

    /// Whether the last CRI call answered.
    pub(super) fn answers(&self) -> bool {
        self.failing.is_none()
    }

    /// Runs a CRI call; a failure is reported once (until the runtime answers again) and
    /// makes /healthz unhealthy.
    fn call<T>(&mut self, f: impl FnOnce(&mut Cri) -> Result<T, CriError>) -> Result<T, ViewError> {
        match f(&mut self.cri) {
            Ok(v) => {
                if self.failing.take().is_some() {
                    log::info!("the container runtime answers again");
                    self.metrics.set_unhealthy(None);
                }
                Ok(v)
            }
            Err(e) => {
                let msg = e.to_string();
                if self.failing.as_deref() != Some(msg.as_str()) {
                    log::error!("{msg}");
                    self.metrics.error("cri");
                    self.metrics.set_unhealthy(Some(msg.clone()));
                    self.failing = Some(msg);
                }
                Err(e.into())
            }
        }
    }

    /// The container with this ID, when the CRI knows it; pods are refreshed as needed.
    pub(super) fn identify(&mut self, id: &str) -> Result<Option<Who>, ViewError> {
        let Some(c) = self.call(|c| c.container(id))? else {
            if !self.pods.contains_key(id) {
                self.refresh_pods()?;
            }
            return Ok(None);
        };
        if !self.pods.contains_key(&c.pod_sandbox_id) {
            self.refresh_pods()?;
        }
        Ok(Some(Who::of(&c)))
    }

    /// Whether `id` is a pod sandbox's (its pause container).
    pub(super) fn is_sandbox(&self, id: &str) -> bool {
        self.pods.contains_key(id)
    }

    pub(super) fn refresh_pods(&mut self) -> Result<(), ViewError> {
        let list = self.call(Cri::sandboxes)?;
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

    /// The pod's decision, made and reported the first time it is asked for.
    fn selection(&mut self, sandbox: &str) -> Option<Selection> {
        let pod = self.pods.get(sandbox)?;
        if !self.selections.contains_key(sandbox) {
            let decision = pod.selection(&self.selectors);
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
                    self.metrics.error("cri");
                }
            }
            self.selections.insert(sandbox.to_string(), decision);
        }
        self.selections.get(sandbox)?.clone().ok().flatten()
    }

    /// Where a container's calls go; `None` unless its pod is selected and it did not
    /// opt out.
    pub(super) fn place(&mut self, who: &Who) -> Option<Placed> {
        let selection = self.selection(&who.sandbox)?;
        let pod = self.pods.get(&who.sandbox)?;
        Some(Placed {
            key: selection.key(pod, &who.name)?,
            label: format!("{}/{}/{}", pod.namespace, pod.name, who.name),
        })
    }

    /// The profile key of any container the CRI knows, recorded or not: its pod's
    /// namespace and workload, and its name.
    pub(super) fn key_of_any(&mut self, id: &str) -> Option<Key> {
        let who = self.identify(id).ok()??;
        let pod = self.pods.get(&who.sandbox)?;
        Some(Key {
            namespace: pod.namespace.clone(),
            workload: pod.workload().ok()?,
            container: who.name,
            image: None,
        })
    }

    /// The running containers of selected pods, pods refreshed.
    pub(super) fn running_selected(&mut self) -> Result<Vec<Who>, ViewError> {
        let list = self.call(Cri::containers)?;
        self.refresh_pods()?;
        let running = ContainerState::ContainerRunning as i32;
        let mut out = Vec::new();
        for c in list.iter().filter(|c| c.state == running) {
            if self.selection(&c.pod_sandbox_id).is_some() {
                out.push(Who::of(c));
            }
        }
        Ok(out)
    }

    /// Which of `ids` have exited or are gone.
    pub(super) fn finished<'a>(
        &mut self,
        ids: impl Iterator<Item = &'a String>,
    ) -> Result<Vec<String>, ViewError> {
        let list = self.call(Cri::containers)?;
        let exited = ContainerState::ContainerExited as i32;
        let live: HashMap<&str, i32> = list.iter().map(|c| (c.id.as_str(), c.state)).collect();
        Ok(ids
            .filter(|id| live.get(id.as_str()).is_none_or(|s| *s == exited))
            .cloned()
            .collect())
    }

    /// The cgroup of a running container, from the pid the runtime reports; `None` when
    /// it has none any more.
    pub(super) fn running_cgroup(
        &mut self,
        mount: &Path,
        id: &str,
    ) -> Result<Option<PathBuf>, ViewError> {
        let status = self.call(|c| c.container_status(id))?;
        let Some(info) = status.and_then(|s| s.info.get("info").cloned()) else {
            return Err(ViewError::NoInfo { id: id.into() });
        };
        let info: serde_json::Value =
            serde_json::from_str(&info).map_err(|source| ViewError::Info {
                id: id.into(),
                source,
            })?;
        let Some(pid) = info["pid"].as_u64().filter(|p| *p > 0) else {
            return Ok(None);
        };
        cgroup::of_pid(mount, pid as u32).map_err(|source| ViewError::Cgroup {
            id: id.into(),
            source,
        })
    }
}

/// Connects to the runtime, retrying (with a clear error and an unhealthy /healthz)
/// until it answers or the agent is stopped: a node's runtime that restarts or comes up
/// late must not put the agent into a crash loop.
pub(super) fn connect(endpoint: Option<&str>, metrics: &Metrics, stop: &AtomicBool) -> Option<Cri> {
    let mut last = String::new();
    let mut wait = Duration::from_millis(500);
    loop {
        match try_connect(endpoint) {
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
                    metrics.error("cri");
                    last = msg.clone();
                }
                metrics.set_unhealthy(Some(msg));
            }
        }
        let until = Instant::now() + wait;
        while Instant::now() < until {
            metrics.beat();
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn try_connect(endpoint: Option<&str>) -> Result<Cri, CriError> {
    if let Some(e) = endpoint {
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
