//! The engines' own state on disk, one module per format, and the engine CLIs as a last
//! resort for state kept elsewhere.

pub(crate) mod cli;
pub(crate) mod containerd;
mod docker;
mod podman;
pub(crate) mod runc;
mod running;

use super::container::Container;
use crate::engine::Engine;
use std::cell::OnceCell;
use std::path::PathBuf;

/// Where engines keep their state: Docker data roots (`<root>/containers/<id>/config.v2.json`),
/// Podman/containers-storage roots (`<root>/<driver>-containers/containers.json`) and
/// containerd state directories (`<state>/io.containerd.runtime.v2.task/<ns>/<id>`).
#[derive(Clone, Debug, Default)]
pub(crate) struct EngineRoots(pub Vec<PathBuf>);

impl EngineRoots {
    pub(crate) const DEFAULTS: [&'static str; 3] = [
        "/var/lib/docker",
        "/var/lib/containers/storage",
        "/run/containerd",
    ];

    /// `extra` (given by the user), the roots the running engines use, and the default
    /// locations.
    pub(crate) fn discover(extra: &[PathBuf]) -> EngineRoots {
        let mut roots = EngineRoots(extra.to_vec()).with_running();
        for d in Self::DEFAULTS.iter().map(PathBuf::from) {
            if !roots.0.contains(&d) {
                roots.0.push(d);
            }
        }
        roots
    }

    /// Roots to [`discover`](Self::discover) on first use: most recordings (a command, a
    /// cgroup) never need them, and finding the running engines reads every process's
    /// command line.
    pub(crate) fn lazy(extra: &[PathBuf]) -> LazyRoots {
        LazyRoots {
            extra: extra.to_vec(),
            found: OnceCell::new(),
        }
    }

    /// These roots and those of the engines running now (which may have started since).
    pub(crate) fn with_running(&self) -> EngineRoots {
        let mut roots = self.0.clone();
        for r in running::roots() {
            if !roots.contains(&r) {
                roots.push(r);
            }
        }
        EngineRoots(roots)
    }

    pub(crate) fn describe(&self) -> String {
        self.0
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every Docker and Podman container on disk, running or not, and containerd's
    /// running tasks (named by their ID).
    pub(crate) fn containers(&self) -> Vec<Container> {
        let mut out = Vec::new();
        for root in &self.0 {
            out.extend(docker::containers(root));
            out.extend(podman::containers(root));
        }
        out.extend(
            self.containerd_tasks()
                .into_iter()
                .map(|(ns, id)| Container {
                    engine: Some(Engine::Containerd),
                    id: format!("{ns}/{id}"),
                    name: Some(id),
                    image: None,
                }),
        );
        out.dedup_by(|a, b| a.id == b.id);
        out
    }

    pub(crate) fn containerd_tasks(&self) -> Vec<(String, String)> {
        containerd::tasks(&self.0)
    }

    pub(crate) fn bundle_cgroup(&self, ns: &str, id: &str) -> Option<PathBuf> {
        containerd::bundle_cgroup(&self.0, ns, id)
    }

    pub(crate) fn containerd_ns(&self, ns: &str) -> bool {
        containerd::is_namespace(&self.0, ns)
    }
}

/// Engine roots found now ([`EngineRoots`]) or on first use ([`LazyRoots`]).
pub(crate) trait Roots {
    fn get(&self) -> &EngineRoots;
}

impl Roots for EngineRoots {
    fn get(&self) -> &EngineRoots {
        self
    }
}

impl Roots for LazyRoots {
    fn get(&self) -> &EngineRoots {
        self.found
            .get_or_init(|| EngineRoots::discover(&self.extra))
    }
}

/// See [`EngineRoots::lazy`].
#[derive(Debug)]
pub(crate) struct LazyRoots {
    extra: Vec<PathBuf>,
    found: OnceCell<EngineRoots>,
}

impl LazyRoots {
    /// Whether the engines were looked for.
    #[cfg(test)]
    pub(crate) fn looked(&self) -> bool {
        self.found.get().is_some()
    }

    pub(crate) fn into_inner(self) -> EngineRoots {
        let extra = self.extra;
        self.found
            .into_inner()
            .unwrap_or_else(|| EngineRoots::discover(&extra))
    }
}
