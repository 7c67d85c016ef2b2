//! What to record, resolved to cgroup v2 directories: an existing cgroup, the cgroup of a
//! PID, or a container found by ID (full or unique prefix), name or containerd
//! `namespace/ID`, from the cgroup tree, the OCI runtimes' state directories and the
//! engines' own state on disk (no engine socket or CLI is needed).
//!
//! A container that exists but has not started yet has no cgroup: it resolves to a
//! [`Pending`] target that recording picks up the moment its cgroup is made.

mod container;
mod engines;
mod layout;
mod resolve;
#[cfg(test)]
mod tests;

pub use container::Container;
pub(crate) use engines::{EngineRoots, Roots};
pub(crate) use layout::{container_of, id_from_dir_name};

use crate::cgroup::{self, CgroupError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no process with PID {0} (it may have exited)")]
    NoPid(u32),
    #[error("PID {0} is in the root cgroup: recording it would record every process on the host")]
    RootPid(u32),
    #[error(
        "{0} is the cgroup2 root: recording it would record every process on the host; \
         give a cgroup below it"
    )]
    RootCgroup(PathBuf),
    #[error(
        "no container matches '{0}': looked for it in the cgroup tree (docker, libpod, crio, \
         cri-containerd scopes and plain IDs), in the runc/crun state directories, in the \
         engines' state (the running engines', --engine-root's and the defaults: {1}) and \
         with the docker/podman CLIs where installed{2}; give an ID \
         prefix, a name, containerd's NAMESPACE/ID, --engine-root DIR for an engine with its \
         own data root, or --cgroup PATH"
    )]
    /// The container as given, where its state was looked for, and which engine CLIs did
    /// not answer in time (empty, or a sentence).
    NoContainer(String, String, String),
    #[error("container '{prefix}' is ambiguous; candidates:\n{candidates}")]
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
pub(crate) struct Resolved {
    /// Short name for messages and output file names.
    pub(crate) label: String,
    pub(crate) cgroup: PathBuf,
    /// What the engines' state says about it, when it is a container.
    pub(crate) container: Option<Container>,
}

/// A container that exists but has no cgroup yet (created, not started).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pending {
    pub(crate) label: String,
    pub(crate) want: Want,
    pub(crate) container: Option<Container>,
}

/// How a pending container's cgroup will be recognised when it is made.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Want {
    /// Any directory whose name carries this full ID (`/docker/<id>`, `libpod-<id>`,
    /// `docker-<id>.scope`, ...).
    Id(String),
    /// A containerd task: `<namespace>/<id>`, or the cgroup its bundle names (`ctr run
    /// --cgroup`, CRI), read when the cgroup is made (the bundle is written just before).
    Containerd {
        ns: String,
        id: String,
        roots: Vec<PathBuf>,
    },
}

impl Pending {
    /// Whether `rel` (a cgroup path relative to the cgroup2 mount) is this container's.
    pub(crate) fn matches(&self, rel: &Path) -> bool {
        match &self.want {
            Want::Containerd { ns, id, roots } => {
                rel == Path::new(ns).join(id)
                    || engines::containerd::bundle_cgroup(roots, ns, id).as_deref() == Some(rel)
            }
            Want::Id(id) => {
                rel.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(id_from_dir_name)
                    == Some(id.as_str())
            }
        }
    }
}

/// A target now, or once its cgroup exists.
#[derive(Clone, Debug)]
pub(crate) enum Resolution {
    Now(Resolved),
    Pending(Pending),
}

/// A `--cgroup` path: relative to the cgroup2 mount, absolute, or absolute as
/// `/proc/PID/cgroup` prints it (`0::/system.slice/app.service`, relative to the mount).
fn cgroup_path(mount: &Path, p: &Path) -> PathBuf {
    let in_mount = mount.join(p.strip_prefix("/").unwrap_or(p));
    // Nothing outside the mount is a cgroup, so a path that names one inside it wins.
    if p.is_relative() || (!p.starts_with(mount) && in_mount.exists()) {
        return in_mount;
    }
    p.to_path_buf()
}

impl Target {
    /// Resolves the target; `roots` is where the engines keep their state, looked for
    /// only for a container.
    pub(crate) fn resolve(
        &self,
        mount: &Path,
        roots: &impl Roots,
    ) -> Result<Resolution, TargetError> {
        if let Target::Container(id) = self {
            return resolve::container(mount, id, roots.get());
        }
        self.resolve_now(mount).map(Resolution::Now)
    }

    fn resolve_now(&self, mount: &Path) -> Result<Resolved, TargetError> {
        match self {
            Target::Cgroup(p) => {
                let cgroup = cgroup::check_v2(mount, &cgroup_path(mount, p))?;
                if cgroup == mount {
                    return Err(TargetError::RootCgroup(cgroup));
                }
                let label = cgroup.file_name().map(|n| n.to_string_lossy().into_owned());
                Ok(Resolved {
                    label: format!("cgroup-{}", label.unwrap_or_else(|| "root".into())),
                    cgroup,
                    container: None,
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
                    container: None,
                })
            }
            Target::Container(_) => unreachable!("resolve() handles containers"),
        }
    }
}
