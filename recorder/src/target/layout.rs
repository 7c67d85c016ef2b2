//! How the engines name cgroups: a container's cgroup directory tells its ID and engine,
//! and an OCI `linux.cgroupsPath` tells the directory a container will get.

use super::EngineRoots;
use super::container::{Container, is_hex_id};
use crate::engine::Engine;
use std::path::{Path, PathBuf};

/// The container whose cgroup `dir` is (not one nested inside it), by the engines'
/// layouts: `docker/<id>`, `docker-<id>.scope`, `libpod-<id>`, `crio-<id>.scope`,
/// `cri-containerd-<id>.scope`, any `<id>`, and containerd's `<namespace>/<id>`.
/// An engine started after `roots` were found (Podman runs no daemon: its state shows only
/// while a container runs) is looked up before settling for a container without a name.
/// Only cgroups shaped like a container's cost that look at the processes (following sees
/// every cgroup the host makes).
pub(crate) fn container_of(mount: &Path, dir: &Path, roots: &EngineRoots) -> Option<Container> {
    let found = of_known(mount, dir, roots);
    let maybe_containerd = dir
        .strip_prefix(mount)
        .is_ok_and(|rel| rel.components().count() == 2);
    let worth_a_look = match &found {
        Some(c) => c.name.is_none(),
        None => maybe_containerd,
    };
    if !worth_a_look {
        return found;
    }
    let more = roots.with_running();
    if more.0.len() == roots.0.len() {
        return found;
    }
    of_known(mount, dir, &more).or(found)
}

fn of_known(mount: &Path, dir: &Path, roots: &EngineRoots) -> Option<Container> {
    let rel = dir.strip_prefix(mount).ok()?;
    let name = rel.file_name()?.to_str()?;
    if let Some(id) = id_from_dir_name(name) {
        if let Some(mut c) = roots.containers().into_iter().find(|c| c.id == id) {
            // CRI-O keeps its containers in containers-storage too: the layout says which.
            if name.starts_with("crio-") {
                c.engine = Some(Engine::Crio);
            }
            return Some(c);
        }
        let parent = rel
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|p| p.to_str());
        let engine = if name.starts_with("docker-") || parent == Some("docker") {
            Some(Engine::Docker)
        } else if name.starts_with("libpod-") {
            Some(Engine::Podman)
        } else if name.starts_with("crio-") {
            Some(Engine::Crio)
        } else if name.starts_with("cri-containerd-") {
            Some(Engine::Containerd)
        } else {
            None
        };
        return Some(Container {
            engine,
            id: id.into(),
            name: None,
            image: None,
        });
    }
    // A containerd task whose bundle names this cgroup (ctr run --cgroup, CRI).
    if let Some((ns, id)) = roots
        .containerd_tasks()
        .into_iter()
        .find(|(ns, id)| roots.bundle_cgroup(ns, id).as_deref() == Some(rel))
    {
        return Some(Container {
            engine: Some(Engine::Containerd),
            id: format!("{ns}/{id}"),
            name: Some(id),
            image: None,
        });
    }
    let mut parts = rel.components();
    let (Some(ns), Some(id), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let (ns, id) = (ns.as_os_str().to_str()?, id.as_os_str().to_str()?);
    roots.containerd_ns(ns).then(|| Container {
        engine: Some(Engine::Containerd),
        id: format!("{ns}/{id}"),
        name: Some(id.into()),
        image: None,
    })
}

/// The container ID a cgroup directory name carries, if any: `<id>`, `docker-<id>.scope`,
/// `libpod-<id>`, `crio-<id>.scope`, `cri-containerd-<id>.scope`, ... Conmon's scopes
/// (`crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope`) hold the monitor, not the
/// container, and are never a match.
pub(crate) fn id_from_dir_name(name: &str) -> Option<&str> {
    if name.contains("conmon") {
        return None;
    }
    let base = name.strip_suffix(".scope").unwrap_or(name);
    let id = base.rsplit_once('-').map_or(base, |(_, id)| id);
    is_hex_id(id).then_some(id)
}

/// An OCI `linux.cgroupsPath` as a path under the cgroup2 mount: `/a/b` (cgroupfs), or
/// systemd's `slice:prefix:name`, which is `<slice, expanded>/<prefix>-<name>.scope`.
pub(crate) fn cgroups_path(spec: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [path] if !path.is_empty() => Some(PathBuf::from(path.trim_start_matches('/'))),
        [slice, prefix, name] => {
            let slice = if slice.is_empty() {
                "system.slice"
            } else {
                slice
            };
            // systemd nests a-b-c.slice as a.slice/a-b.slice/a-b-c.slice.
            let base = slice.strip_suffix(".slice")?;
            let mut dir = PathBuf::new();
            let mut acc = String::new();
            for part in base.split('-') {
                if !acc.is_empty() {
                    acc.push('-');
                }
                acc.push_str(part);
                dir.push(format!("{acc}.slice"));
            }
            Some(dir.join(format!("{prefix}-{name}.scope")))
        }
        _ => None,
    }
}
