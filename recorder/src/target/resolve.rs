//! A container named by the user (ID, unique ID prefix, name or containerd's
//! `NAMESPACE/ID`), found in the cgroup tree and the engines' state.

use super::container::{Container, Engine, short};
use super::engines::{EngineRoots, cli, runc};
use super::layout::{container_of, id_from_dir_name};
use super::{Pending, Resolution, Resolved, TargetError, Want};
use crate::cgroup;
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
    // containerd's NAMESPACE/ID: the cgroup its bundle names, else /<namespace>/<id>.
    if let Some((ns, id)) = wanted.split_once('/') {
        if ns.is_empty() || id.is_empty() || id.contains('/') {
            return Err(TargetError::NoContainer(
                wanted.into(),
                roots.describe(),
                String::new(),
            ));
        }
        let container = Container {
            engine: Engine::Containerd,
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
        return Ok(Resolution::Pending(Pending {
            label: container.profile_name(),
            want: Want::Containerd {
                ns: ns.into(),
                id: id.into(),
                roots: roots.0.clone(),
            },
            container: Some(container),
        }));
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
        [one] if one.engine == Engine::Containerd => {
            return container(mount, &one.id, roots);
        }
        [one] => one.id.clone(),
        [] => {
            if wanted.len() < 3 {
                return Err(TargetError::TooShort(wanted.into()));
            }
            wanted.into()
        }
        many => {
            return Err(ambiguous(wanted, many));
        }
    };
    let mut found: Vec<Candidate> = from_cgroup_tree(mount);
    found.extend(
        runc::containers(mount, roots)
            .into_iter()
            .map(|(id, cgroup)| Candidate { id, cgroup }),
    );
    let mut matches: Vec<Candidate> = found
        .into_iter()
        .filter(|c| c.id == wanted_id || c.id.starts_with(&wanted_id))
        .collect();
    // An exact match beats prefixes; the shallowest directory of one ID is the container's.
    if matches.iter().any(|c| c.id == wanted_id) {
        matches.retain(|c| c.id == wanted_id);
    }
    matches.sort_by_key(|c| (c.id.clone(), c.cgroup.components().count()));
    matches.dedup_by(|a, b| a.id == b.id);
    // containerd's IDs are names, found above; prefixes are for the hex IDs.
    known.retain(|c| c.engine != Engine::Containerd);
    let info = |id: &str| known.iter().find(|c| c.id == id).cloned();
    match matches.as_slice() {
        [] => {
            // Created but not started: no cgroup yet.
            let stopped: Vec<&Container> = known
                .iter()
                .filter(|c| c.id == wanted_id || c.id.starts_with(&wanted_id))
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
            let container = info(&one.id).or_else(|| container_of(mount, &one.cgroup, roots));
            Ok(Resolution::Now(Resolved {
                label: container
                    .as_ref()
                    .map(Container::profile_name)
                    .unwrap_or_else(|| format!("container-{}", short(&one.id))),
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
/// `wanted` names more than one of the engines' containers.
fn ambiguous(wanted: &str, many: &[&Container]) -> TargetError {
    TargetError::Ambiguous {
        prefix: wanted.into(),
        candidates: many
            .iter()
            .map(|c| format!("  {}  {} ({})", c.id, c.engine, c.describe()))
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
