//! What to record, resolved to cgroup v2 directories: an existing cgroup, the cgroup of a
//! PID, or a container found by ID (full or unique prefix) from the cgroup tree and the
//! OCI runtimes' state directories.

use crate::cgroup::{self, CgroupError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no process with PID {0} (it may have exited)")]
    NoPid(u32),
    #[error("PID {0} is in the root cgroup: recording it would record every process on the host")]
    RootPid(u32),
    #[error(
        "no container matches '{0}': looked for it in the cgroup tree (docker, libpod, crio, \
         cri-containerd scopes and plain IDs) and in the runc/crun state directories; \
         is it running? (ID prefix, or --cgroup PATH)"
    )]
    NoContainer(String),
    #[error("container ID prefix '{prefix}' is ambiguous; candidates:\n{candidates}")]
    Ambiguous { prefix: String, candidates: String },
    #[error("container ID '{0}' is too short: give at least 3 characters")]
    TooShort(String),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
}

/// A target as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Cgroup(PathBuf),
    Pid(u32),
    Container(String),
}

/// A target resolved to its cgroup.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Short name for messages and output file names.
    pub label: String,
    pub cgroup: PathBuf,
}

impl Target {
    pub fn resolve(&self, mount: &Path) -> Result<Resolved, TargetError> {
        match self {
            Target::Cgroup(p) => {
                let p = if p.is_absolute() {
                    p.clone()
                } else {
                    mount.join(p)
                };
                let cgroup = cgroup::check_v2(mount, &p)?;
                let label = cgroup.file_name().map(|n| n.to_string_lossy().into_owned());
                Ok(Resolved {
                    label: format!("cgroup-{}", label.unwrap_or_else(|| "root".into())),
                    cgroup,
                })
            }
            Target::Pid(pid) => {
                let cgroup = cgroup::of_pid(mount, *pid)?.ok_or(TargetError::NoPid(*pid))?;
                if cgroup == mount {
                    return Err(TargetError::RootPid(*pid));
                }
                Ok(Resolved {
                    label: format!("pid-{pid}"),
                    cgroup,
                })
            }
            Target::Container(id) => resolve_container(mount, id),
        }
    }
}

/// A container found somewhere, before prefix matching.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    id: String,
    cgroup: PathBuf,
}

fn resolve_container(mount: &Path, wanted: &str) -> Result<Resolved, TargetError> {
    if wanted.len() < 3 {
        return Err(TargetError::TooShort(wanted.into()));
    }
    let mut found: Vec<Candidate> = from_cgroup_tree(mount);
    found.extend(from_runtime_state(mount));
    let mut matches: Vec<Candidate> = found
        .into_iter()
        .filter(|c| c.id == wanted || c.id.starts_with(wanted))
        .collect();
    // An exact match beats prefixes; the shallowest directory of one ID is the container's.
    if matches.iter().any(|c| c.id == wanted) {
        matches.retain(|c| c.id == wanted);
    }
    matches.sort_by_key(|c| (c.id.clone(), c.cgroup.components().count()));
    matches.dedup_by(|a, b| a.id == b.id);
    match matches.as_slice() {
        [] => Err(TargetError::NoContainer(wanted.into())),
        [one] => Ok(Resolved {
            label: format!("container-{}", short(&one.id)),
            cgroup: one.cgroup.clone(),
        }),
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

fn short(id: &str) -> &str {
    if is_hex_id(id) { &id[..12] } else { id }
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container ID a cgroup directory name carries, if any: `<id>`, `docker-<id>.scope`,
/// `libpod-<id>`, `crio-<id>.scope`, `cri-containerd-<id>.scope`, ... Conmon's scopes
/// (`crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope`) hold the monitor, not the
/// container, and are never a match.
fn id_from_dir_name(name: &str) -> Option<&str> {
    if name.contains("conmon") {
        return None;
    }
    let base = name.strip_suffix(".scope").unwrap_or(name);
    let id = base.rsplit_once('-').map_or(base, |(_, id)| id);
    is_hex_id(id).then_some(id)
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

/// runc and crun keep `<root>/<id>/state.json` with the init PID; this finds containers
/// whose cgroup name carries no ID (ctr's `/<namespace>/<name>`, runc's own names).
fn from_runtime_state(mount: &Path) -> Vec<Candidate> {
    state_dirs()
        .into_iter()
        .filter_map(|dir| {
            let id = dir.file_name()?.to_str()?.to_string();
            let state = std::fs::read_to_string(dir.join("state.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&state).ok()?;
            let pid = v
                .get("init_process_pid")
                .or_else(|| v.get("pid"))?
                .as_u64()?;
            let cgroup = cgroup::of_pid(mount, pid as u32).ok()??;
            (cgroup != mount).then_some(Candidate { id, cgroup })
        })
        .collect()
}

/// Container directories under the runtimes' state roots (runc, crun, and the roots
/// Docker, containerd and Podman give runc).
fn state_dirs() -> Vec<PathBuf> {
    let roots = [
        "/run/runc",
        "/run/crun",
        "/run/docker/runtime-runc",
        "/run/containerd/runc",
    ];
    let mut out = Vec::new();
    for root in roots {
        collect_state_dirs(Path::new(root), 2, &mut out);
    }
    out
}

fn collect_state_dirs(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.join("state.json").is_file() {
            out.push(p);
        } else if depth > 0 && p.is_dir() {
            collect_state_dirs(&p, depth - 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";

    #[test]
    fn container_ids_from_scope_names() {
        assert_eq!(id_from_dir_name(ID), Some(ID));
        assert_eq!(id_from_dir_name(&format!("docker-{ID}.scope")), Some(ID));
        assert_eq!(
            id_from_dir_name(&format!("cri-containerd-{ID}.scope")),
            Some(ID)
        );
        assert_eq!(id_from_dir_name(&format!("crio-{ID}.scope")), Some(ID));
        assert_eq!(id_from_dir_name(&format!("libpod-{ID}")), Some(ID));
        assert_eq!(id_from_dir_name(&format!("crio-conmon-{ID}.scope")), None);
        assert_eq!(id_from_dir_name(&format!("libpod-conmon-{ID}.scope")), None);
        assert_eq!(id_from_dir_name("system.slice"), None);
        assert_eq!(id_from_dir_name("container"), None);
    }
}
