//! A container named by the user (ID, unique ID prefix, name or containerd's
//! `NAMESPACE/ID`), found in the cgroup tree and the engines' state.

use super::container::Container;
use super::engines::{EngineRoots, cli, runc};
use super::layout::{container_of, id_from_dir_name};
use super::{Pending, Resolution, Resolved, TargetError, Want};
use crate::cgroup;
use crate::engine::Engine;
use std::path::{Path, PathBuf};

/// A container found somewhere, before prefix matching.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    id: String,
    cgroup: PathBuf,
}

pub(crate) fn container(
    mount: &Path,
    wanted: &str,
    roots: &EngineRoots,
) -> Result<Resolution, TargetError> {
    if let Some((ns, id)) = wanted.split_once('/') {
        return containerd_task(mount, wanted, (ns, id), roots);
    }
    let mut known = roots.containers();
    let mut silent = Vec::new();
    if !known
        .iter()
        .any(|c| c.name.as_deref() == Some(wanted) || c.id.starts_with(wanted))
    {
        // An engine whose state is elsewhere (a remote DOCKER_HOST, another data root):
        // ask its CLI, where there is one.
        let inspected = cli::inspect(wanted);
        known.extend(inspected.found);
        silent = inspected.silent;
    }
    // A name is exact; it wins over an ID prefix that happens to spell it.
    let by_name: Vec<&Container> = known
        .iter()
        .filter(|c| c.name.as_deref() == Some(wanted))
        .collect();
    let wanted_id: String = match by_name.as_slice() {
        [one] if one.engine == Some(Engine::Containerd) => {
            return container(mount, &one.id, roots);
        }
        [one] => one.id.clone(),
        // runc's IDs are the names users give (`runc create app`): one that is whole is
        // a name, whatever its length. Only a prefix needs enough characters to mean one.
        [] if wanted.len() < 3 && !runc_names(mount, roots).any(|id| id == wanted) => {
            return Err(TargetError::TooShort(wanted.into()));
        }
        [] => wanted.into(),
        many => {
            return Err(ambiguous(wanted, many));
        }
    };
    // containerd's IDs are names, found above; prefixes are for the hex IDs.
    known.retain(|c| c.engine != Some(Engine::Containerd));
    let found = Found {
        matches: matching(mount, roots, &wanted_id),
        known,
        silent,
    };
    by_id(mount, wanted, &wanted_id, found, roots)
}

/// containerd's NAMESPACE/ID: the cgroup its bundle names, else /<namespace>/<id>.
fn containerd_task(
    mount: &Path,
    wanted: &str,
    (ns, id): (&str, &str),
    roots: &EngineRoots,
) -> Result<Resolution, TargetError> {
    if ns.is_empty() || id.is_empty() || id.contains('/') {
        return Err(TargetError::NoContainer(
            wanted.into(),
            roots.describe(),
            String::new(),
        ));
    }
    let container = Container {
        engine: Some(Engine::Containerd),
        id: wanted.into(),
        name: Some(id.into()),
        image: None,
    };
    let dir = mount.join(
        roots
            .bundle_cgroup(ns, id)
            .unwrap_or_else(|| PathBuf::from(ns).join(id)),
    );
    if dir.join("cgroup.procs").exists() {
        return Ok(Resolution::Now(Resolved {
            label: container.profile_name(),
            cgroup: dir,
            container: Some(container),
        }));
    }
    // containerd keeps created containers in its bolt database only; the cgroup is
    // made when the task starts.
    Ok(Resolution::Pending(Pending {
        label: container.profile_name(),
        want: Want::Containerd {
            ns: ns.into(),
            id: id.into(),
            roots: roots.0.clone(),
        },
        container: Some(container),
    }))
}

/// The IDs of the containers in the OCI runtimes' state directories.
fn runc_names(mount: &Path, roots: &EngineRoots) -> impl Iterator<Item = String> {
    runc::containers(mount, roots).into_iter().map(|(id, _)| id)
}

/// What the search for an ID found: running containers whose ID is or starts with it,
/// the engines' containers (started or not), and the engine CLIs that did not answer.
struct Found {
    matches: Vec<Candidate>,
    known: Vec<Container>,
    silent: Vec<&'static str>,
}

/// The running containers whose ID is `wanted_id` or starts with it: an exact match beats
/// prefixes, and of one ID's directories the shallowest is the container's.
fn matching(mount: &Path, roots: &EngineRoots, wanted_id: &str) -> Vec<Candidate> {
    let mut found: Vec<Candidate> = from_cgroup_tree(mount);
    found.extend(
        runc::containers(mount, roots)
            .into_iter()
            .map(|(id, cgroup)| Candidate { id, cgroup }),
    );
    let mut matches: Vec<Candidate> = found
        .into_iter()
        .filter(|c| c.id.starts_with(wanted_id))
        .collect();
    if matches.iter().any(|c| c.id == wanted_id) {
        matches.retain(|c| c.id == wanted_id);
    }
    matches.sort_by_key(|c| (c.id.clone(), c.cgroup.components().count()));
    matches.dedup_by(|a, b| a.id == b.id);
    matches
}

fn by_id(
    mount: &Path,
    wanted: &str,
    wanted_id: &str,
    found: Found,
    roots: &EngineRoots,
) -> Result<Resolution, TargetError> {
    let Found {
        matches,
        known,
        silent,
    } = found;
    match matches.as_slice() {
        // Created but not started: no cgroup yet.
        [] => {
            let stopped: Vec<&Container> = known
                .iter()
                .filter(|c| c.id.starts_with(wanted_id))
                .collect();
            match stopped.as_slice() {
                [] => Err(TargetError::NoContainer(
                    wanted.into(),
                    roots.describe(),
                    cli::unanswered(&silent),
                )),
                [one] => Ok(Resolution::Pending(Pending {
                    label: one.profile_name(),
                    want: Want::Id(one.id.clone()),
                    container: Some((*one).clone()),
                })),
                many => Err(ambiguous(wanted, many)),
            }
        }
        [one] => {
            let container = known
                .iter()
                .find(|c| c.id == one.id)
                .cloned()
                .or_else(|| container_of(mount, &one.cgroup, roots));
            Ok(Resolution::Now(Resolved {
                label: container
                    .as_ref()
                    .map_or_else(|| unclaimed_name(&one.id), Container::profile_name),
                cgroup: one.cgroup.clone(),
                container,
            }))
        }
        many => Err(TargetError::Ambiguous {
            prefix: wanted.into(),
            candidates: many
                .iter()
                .map(|c| format!("  {}  {}", c.id, c.cgroup.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// The profile name of a container no engine's state describes (runc's own, a pod's):
/// named like any other, after its ID, which for runc is the name it was given.
fn unclaimed_name(id: &str) -> String {
    Container {
        engine: None,
        id: id.into(),
        name: None,
        image: None,
    }
    .profile_name()
}

/// `wanted` names more than one of the engines' containers.
fn ambiguous(wanted: &str, many: &[&Container]) -> TargetError {
    TargetError::Ambiguous {
        prefix: wanted.into(),
        candidates: many
            .iter()
            .map(|c| format!("  {}  {} ({})", c.id, c.engine_name(), c.describe()))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn from_cgroup_tree(mount: &Path) -> Vec<Candidate> {
    cgroup::subtree(mount)
        .into_iter()
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?;
            let id = id_from_dir_name(name)?.to_string();
            Some(Candidate { id, cgroup: dir })
        })
        .collect()
}
