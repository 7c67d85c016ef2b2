//! What to record, resolved to cgroup v2 directories: an existing cgroup, the cgroup of a
//! PID, or a container found by ID (full or unique prefix), name or containerd
//! `namespace/ID`, from the cgroup tree, the OCI runtimes' state directories and the
//! engines' own state on disk (no engine socket or CLI is needed).
//!
//! A container that exists but has not started yet has no cgroup: it resolves to a
//! [`Pending`] target that recording picks up the moment its cgroup is made.

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
         cri-containerd scopes and plain IDs), in the runc/crun state directories, in the \
         engines' state ({1}) and with the docker/podman CLIs where installed; give an ID \
         prefix, a name, containerd's NAMESPACE/ID, --engine-root DIR for an engine with its \
         own data root, or --cgroup PATH"
    )]
    NoContainer(String, String),
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
pub struct Resolved {
    /// Short name for messages and output file names.
    pub label: String,
    pub cgroup: PathBuf,
    /// What the engines' state says about it, when it is a container.
    pub container: Option<Container>,
}

/// A container that exists but has no cgroup yet (created, not started).
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub label: String,
    pub want: Want,
    pub container: Option<Container>,
}

/// How a pending container's cgroup will be recognised when it is made.
#[derive(Clone, Debug, PartialEq)]
pub enum Want {
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
    pub fn matches(&self, rel: &Path) -> bool {
        match &self.want {
            Want::Containerd { ns, id, roots } => {
                rel == Path::new(ns).join(id)
                    || EngineRoots(roots.clone()).bundle_cgroup(ns, id).as_deref() == Some(rel)
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
pub enum Resolution {
    Now(Resolved),
    Pending(Pending),
}

impl Target {
    /// Resolves the target; `roots` is where the engines keep their state.
    pub fn resolve(&self, mount: &Path, roots: &EngineRoots) -> Result<Resolution, TargetError> {
        if let Target::Container(id) = self {
            return resolve_container(mount, id, roots);
        }
        self.resolve_now(mount).map(Resolution::Now)
    }

    fn resolve_now(&self, mount: &Path) -> Result<Resolved, TargetError> {
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

/// A container found somewhere, before prefix matching.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    id: String,
    cgroup: PathBuf,
}

fn resolve_container(
    mount: &Path,
    wanted: &str,
    roots: &EngineRoots,
) -> Result<Resolution, TargetError> {
    // containerd's NAMESPACE/ID: the cgroup its bundle names, else /<namespace>/<id>.
    if let Some((ns, id)) = wanted.split_once('/') {
        if ns.is_empty() || id.is_empty() || id.contains('/') {
            return Err(TargetError::NoContainer(wanted.into(), roots.describe()));
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
    if !known
        .iter()
        .any(|c| c.name.as_deref() == Some(wanted) || c.id.starts_with(wanted))
    {
        // An engine whose state is elsewhere (a remote DOCKER_HOST, another data root):
        // ask its CLI, where there is one.
        known.extend(from_clis(wanted));
    }
    // A name is exact; it wins over an ID prefix that happens to spell it.
    let by_name: Vec<&Container> = known
        .iter()
        .filter(|c| c.name.as_deref() == Some(wanted))
        .collect();
    let wanted_id: String = match by_name.as_slice() {
        [one] if one.engine == Engine::Containerd => {
            return resolve_container(mount, &one.id, roots);
        }
        [one] => one.id.clone(),
        [] => {
            if wanted.len() < 3 {
                return Err(TargetError::TooShort(wanted.into()));
            }
            wanted.into()
        }
        many => {
            return Err(TargetError::Ambiguous {
                prefix: wanted.into(),
                candidates: many
                    .iter()
                    .map(|c| format!("  {}  {} ({})", c.id, c.engine, c.describe()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
    };
    let mut found: Vec<Candidate> = from_cgroup_tree(mount);
    found.extend(from_runtime_state(mount, roots));
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
                [] => Err(TargetError::NoContainer(wanted.into(), roots.describe())),
                [one] => Ok(Resolution::Pending(Pending {
                    label: one.profile_name(),
                    want: Want::Id(one.id.clone()),
                    container: Some((*one).clone()),
                })),
                many => Err(TargetError::Ambiguous {
                    prefix: wanted.into(),
                    candidates: many
                        .iter()
                        .map(|c| format!("  {}  {} ({})", c.id, c.engine, c.describe()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                }),
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

/// Container engines told apart by their cgroup layout and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Engine {
    Docker,
    Podman,
    Containerd,
    Crio,
    /// A 64-hex ID directory no engine's state claims (Kubernetes pods, bare runc).
    Unknown,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
            Engine::Containerd => "containerd",
            Engine::Crio => "cri-o",
            Engine::Unknown => "unknown",
        })
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" => Ok(Engine::Docker),
            "podman" | "libpod" => Ok(Engine::Podman),
            "containerd" | "ctr" => Ok(Engine::Containerd),
            "cri-o" | "crio" => Ok(Engine::Crio),
            _ => Err(format!(
                "unknown engine '{s}': expected docker, podman, containerd or cri-o"
            )),
        }
    }
}

/// A container as the engines' state describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    pub engine: Engine,
    /// Full ID; containerd's is `namespace/id`.
    pub id: String,
    pub name: Option<String>,
    pub image: Option<String>,
}

impl Container {
    /// File-name-safe profile name: the container's name, else its image, else its ID.
    pub fn profile_name(&self) -> String {
        let raw = self
            .name
            .clone()
            .or_else(|| self.image.clone())
            .unwrap_or_else(|| short(&self.id).to_string());
        let safe: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.');
        if safe.is_empty() {
            short(&self.id).replace('/', "_")
        } else {
            safe.to_string()
        }
    }

    fn describe(&self) -> String {
        format!(
            "name {}, image {}",
            self.name.as_deref().unwrap_or("-"),
            self.image.as_deref().unwrap_or("-")
        )
    }
}

/// Where engines keep their state: Docker data roots (`<root>/containers/<id>/config.v2.json`),
/// Podman/containers-storage roots (`<root>/<driver>-containers/containers.json`) and
/// containerd state directories (`<state>/io.containerd.runtime.v2.task/<ns>/<id>`).
#[derive(Clone, Debug, Default)]
pub struct EngineRoots(pub Vec<PathBuf>);

impl EngineRoots {
    pub const DEFAULTS: [&'static str; 3] = [
        "/var/lib/docker",
        "/var/lib/containers/storage",
        "/run/containerd",
    ];

    /// `extra` (engines started with their own data roots) and the default locations.
    pub fn with_defaults(extra: &[PathBuf]) -> EngineRoots {
        let mut roots = extra.to_vec();
        roots.extend(Self::DEFAULTS.iter().map(PathBuf::from));
        EngineRoots(roots)
    }

    fn describe(&self) -> String {
        self.0
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every Docker and Podman container on disk, running or not, and containerd's
    /// running tasks (named by their ID).
    pub fn containers(&self) -> Vec<Container> {
        let mut out = Vec::new();
        for root in &self.0 {
            out.extend(docker_containers(root));
            out.extend(podman_containers(root));
        }
        out.extend(
            self.containerd_tasks()
                .into_iter()
                .map(|(ns, id)| Container {
                    engine: Engine::Containerd,
                    id: format!("{ns}/{id}"),
                    name: Some(id),
                    image: None,
                }),
        );
        out.dedup_by(|a, b| a.id == b.id);
        out
    }

    /// containerd's tasks as (namespace, id): one bundle directory each.
    fn containerd_tasks(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for root in &self.0 {
            let Ok(nss) = std::fs::read_dir(root.join("io.containerd.runtime.v2.task")) else {
                continue;
            };
            for ns in nss.filter_map(|e| e.ok()) {
                let Ok(ids) = std::fs::read_dir(ns.path()) else {
                    continue;
                };
                let ns = ns.file_name().to_string_lossy().into_owned();
                for id in ids.filter_map(|e| e.ok()) {
                    if id.path().join("config.json").is_file() {
                        out.push((ns.clone(), id.file_name().to_string_lossy().into_owned()));
                    }
                }
            }
        }
        out
    }

    /// The cgroup (relative to the cgroup2 mount) a containerd task's bundle asks for.
    fn bundle_cgroup(&self, ns: &str, id: &str) -> Option<PathBuf> {
        self.0.iter().find_map(|r| {
            let path = r
                .join("io.containerd.runtime.v2.task")
                .join(ns)
                .join(id)
                .join("config.json");
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
            cgroups_path(v.pointer("/linux/cgroupsPath")?.as_str()?)
        })
    }

    fn containerd_ns(&self, ns: &str) -> bool {
        !ns.is_empty()
            && !ns.contains(['.', '/'])
            && self
                .0
                .iter()
                .any(|r| r.join("io.containerd.runtime.v2.task").join(ns).is_dir())
    }
}

/// An OCI `linux.cgroupsPath` as a path under the cgroup2 mount: `/a/b` (cgroupfs), or
/// systemd's `slice:prefix:name`, which is `<slice, expanded>/<prefix>-<name>.scope`.
fn cgroups_path(spec: &str) -> Option<PathBuf> {
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

fn docker_containers(root: &Path) -> Vec<Container> {
    let Ok(entries) = std::fs::read_dir(root.join("containers")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("config.v2.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let id = v.get("ID")?.as_str()?.to_string();
            Some(Container {
                engine: Engine::Docker,
                id,
                name: v
                    .get("Name")
                    .and_then(|n| n.as_str())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .filter(|n| !n.is_empty()),
                image: v
                    .pointer("/Config/Image")
                    .and_then(|n| n.as_str())
                    .map(String::from),
            })
        })
        .collect()
}

fn podman_containers(root: &Path) -> Vec<Container> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let dir_name = e.file_name();
        if !dir_name.to_string_lossy().ends_with("-containers") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path().join("containers.json")) else {
            continue;
        };
        let Ok(serde_json::Value::Array(list)) = serde_json::from_str(&text) else {
            continue;
        };
        for c in list {
            let Some(id) = c.get("id").and_then(|v| v.as_str()) else {
                continue;
            };
            // containers-storage keeps the engine's own metadata as a JSON string.
            let meta: serde_json::Value = c
                .get("metadata")
                .and_then(|m| m.as_str())
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            out.push(Container {
                engine: Engine::Podman,
                id: id.to_string(),
                name: c
                    .pointer("/names/0")
                    .or_else(|| meta.get("name"))
                    .and_then(|v| v.as_str())
                    .map(String::from),
                image: meta
                    .get("image-name")
                    .and_then(|v| v.as_str())
                    .map(String::from),
            });
        }
    }
    out
}

/// How long an engine CLI may take to answer before it is ignored.
const CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `docker inspect` / `podman inspect` of `wanted`, for the CLIs in PATH.
fn from_clis(wanted: &str) -> Vec<Container> {
    // Go templates: the ID, the name and the image, separated by a character none contains.
    let clis = [
        (
            "docker",
            Engine::Docker,
            "{{.Id}}\t{{.Name}}\t{{.Config.Image}}",
        ),
        (
            "podman",
            Engine::Podman,
            "{{.Id}}\t{{.Name}}\t{{.ImageName}}",
        ),
    ];
    let mut out = Vec::new();
    for (cli, engine, format) in clis {
        // Podman would create its default storage just to answer: no storage, no containers.
        if engine == Engine::Podman && !Path::new(EngineRoots::DEFAULTS[1]).is_dir() {
            continue;
        }
        let Some(text) = run_cli(
            cli,
            &["inspect", "--type", "container", "--format", format, wanted],
        ) else {
            continue;
        };
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(id), name, image) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if !is_hex_id(id) {
                continue;
            }
            log::debug!("{cli} inspect {wanted}: {id}");
            out.push(Container {
                engine,
                id: id.into(),
                name: name
                    .map(|n| n.trim_start_matches('/').to_string())
                    .filter(|n| !n.is_empty()),
                image: image.map(String::from).filter(|i| !i.is_empty()),
            });
        }
    }
    out
}

/// Runs an engine CLI if it is installed; its stdout on success within [`CLI_TIMEOUT`].
fn run_cli(cli: &str, args: &[&str]) -> Option<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(cli)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + CLI_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() > deadline => {
                log::warn!("{cli} did not answer within {CLI_TIMEOUT:?}; not asking it");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    Some(text)
}

/// The container whose cgroup `dir` is (not one nested inside it), by the engines'
/// layouts: `docker/<id>`, `docker-<id>.scope`, `libpod-<id>`, `crio-<id>.scope`,
/// `cri-containerd-<id>.scope`, any `<id>`, and containerd's `<namespace>/<id>`.
pub fn container_of(mount: &Path, dir: &Path, roots: &EngineRoots) -> Option<Container> {
    let rel = dir.strip_prefix(mount).ok()?;
    let name = rel.file_name()?.to_str()?;
    if let Some(id) = id_from_dir_name(name) {
        if let Some(mut c) = roots.containers().into_iter().find(|c| c.id == id) {
            // CRI-O keeps its containers in containers-storage too: the layout says which.
            if name.starts_with("crio-") {
                c.engine = Engine::Crio;
            }
            return Some(c);
        }
        let parent = rel
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|p| p.to_str());
        let engine = if name.starts_with("docker-") || parent == Some("docker") {
            Engine::Docker
        } else if name.starts_with("libpod-") {
            Engine::Podman
        } else if name.starts_with("crio-") {
            Engine::Crio
        } else if name.starts_with("cri-containerd-") {
            Engine::Containerd
        } else {
            Engine::Unknown
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
            engine: Engine::Containerd,
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
        engine: Engine::Containerd,
        id: format!("{ns}/{id}"),
        name: Some(id.into()),
        image: None,
    })
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
fn from_runtime_state(mount: &Path, roots: &EngineRoots) -> Vec<Candidate> {
    state_dirs(roots)
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
/// Docker, containerd and Podman give runc), and under --engine-root directories (a
/// `runc --root DIR`).
fn state_dirs(extra: &EngineRoots) -> Vec<PathBuf> {
    let roots = [
        "/run/runc",
        "/run/crun",
        "/run/docker/runtime-runc",
        "/run/containerd/runc",
    ];
    let mut out = Vec::new();
    for root in roots
        .iter()
        .map(Path::new)
        .chain(extra.0.iter().map(PathBuf::as_path))
    {
        collect_state_dirs(root, 2, &mut out);
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

    /// A scratch directory with Docker, Podman and containerd state laid out as the engines
    /// write it, and a fake cgroup mount.
    struct Fixture(PathBuf);

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir = std::env::temp_dir().join(format!("scr-target-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Fixture(dir)
        }

        fn docker(&self, id: &str, name: &str, image: &str) {
            let d = self.0.join("docker/containers").join(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("config.v2.json"),
                format!(
                    r#"{{"ID":"{id}","Name":"/{name}","Config":{{"Image":"{image}"}},"State":{{"Running":false}}}}"#
                ),
            )
            .unwrap();
        }

        fn podman(&self, id: &str, name: &str, image: &str) {
            let d = self.0.join("storage/vfs-containers");
            std::fs::create_dir_all(&d).unwrap();
            let meta = format!(r#"{{"image-name":"{image}","name":"{name}"}}"#);
            let list = serde_json::json!([{"id": id, "names": [name], "metadata": meta}]);
            std::fs::write(d.join("containers.json"), list.to_string()).unwrap();
        }

        fn roots(&self) -> EngineRoots {
            EngineRoots(vec![self.0.join("docker"), self.0.join("storage")])
        }

        fn mount(&self) -> PathBuf {
            let m = self.0.join("cgroup");
            std::fs::create_dir_all(&m).unwrap();
            m
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ID2: &str = "3f2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c6";
    const ID3: &str = "aa2a9c0e5b7d41a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c6";

    #[test]
    fn created_containers_resolve_by_name_or_prefix_to_a_pending_target() {
        let f = Fixture::new("pending");
        f.docker(ID, "web-1", "nginx:1.25");
        f.podman(ID3, "db", "localhost/pg:16");
        let mount = f.mount();
        let Resolution::Pending(p) = resolve_container(&mount, "web-1", &f.roots()).unwrap() else {
            panic!("a created container has no cgroup yet");
        };
        assert_eq!(p.label, "web-1");
        assert_eq!(p.want, Want::Id(ID.into()));
        let c = p.container.as_ref().unwrap();
        assert_eq!(
            (c.engine, c.image.as_deref()),
            (Engine::Docker, Some("nginx:1.25"))
        );
        assert!(p.matches(Path::new(&format!("docker/{ID}"))));
        assert!(p.matches(Path::new(&format!("system.slice/docker-{ID}.scope"))));
        assert!(!p.matches(Path::new(&format!("docker/{ID2}"))));

        let Resolution::Pending(p) = resolve_container(&mount, "aa2a9c", &f.roots()).unwrap()
        else {
            panic!("pending expected");
        };
        assert_eq!(p.container.as_ref().unwrap().engine, Engine::Podman);
        assert!(p.matches(Path::new(&format!("libpod_parent/libpod-{ID3}"))));
    }

    #[test]
    fn an_ambiguous_name_or_prefix_lists_the_candidates() {
        let f = Fixture::new("ambiguous");
        f.docker(ID, "web", "a");
        f.docker(ID2, "api", "b");
        f.podman(ID3, "web", "c");
        let mount = f.mount();
        match resolve_container(&mount, "web", &f.roots()) {
            Err(TargetError::Ambiguous { candidates, .. }) => {
                assert!(
                    candidates.contains(ID) && candidates.contains(ID3),
                    "{candidates}"
                );
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        match resolve_container(&mount, "3f2a9c", &f.roots()) {
            Err(TargetError::Ambiguous { candidates, .. }) => {
                assert!(
                    candidates.contains(ID) && candidates.contains(ID2),
                    "{candidates}"
                );
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        assert!(matches!(
            resolve_container(&mount, "nothere", &f.roots()),
            Err(TargetError::NoContainer(..))
        ));
    }

    #[test]
    fn a_running_container_resolves_to_its_cgroup_with_its_name() {
        let f = Fixture::new("running");
        f.docker(ID, "web-1", "nginx");
        let mount = f.mount();
        let dir = mount.join("docker").join(ID);
        std::fs::create_dir_all(&dir).unwrap();
        let Resolution::Now(r) = resolve_container(&mount, "web-1", &f.roots()).unwrap() else {
            panic!("its cgroup exists");
        };
        assert_eq!((r.label.as_str(), r.cgroup), ("web-1", dir));
    }

    #[test]
    fn containerd_namespace_and_id() {
        let f = Fixture::new("ctrd");
        let mount = f.mount();
        let Resolution::Pending(p) = resolve_container(&mount, "k8s.io/web", &f.roots()).unwrap()
        else {
            panic!("no cgroup yet");
        };
        assert!(
            matches!(&p.want, Want::Containerd { ns, id, .. } if ns == "k8s.io" && id == "web")
        );
        assert!(p.matches(Path::new("k8s.io/web")));
        assert!(!p.matches(Path::new("k8s.io/web2")));
        assert!(resolve_container(&mount, "/web", &f.roots()).is_err());
        assert!(resolve_container(&mount, "a/b/c", &f.roots()).is_err());
    }

    #[test]
    fn container_cgroups_by_engine_layout() {
        let f = Fixture::new("layout");
        f.docker(ID2, "named", "img");
        let state = f.0.join("ctrd-state");
        std::fs::create_dir_all(state.join("io.containerd.runtime.v2.task/sctest")).unwrap();
        let mut roots = f.roots();
        roots.0.push(state);
        let m = f.mount();
        let of = |rel: &str| container_of(&m, &m.join(rel), &roots);
        assert_eq!(of(&format!("docker/{ID}")).unwrap().engine, Engine::Docker);
        assert_eq!(
            of(&format!("system.slice/docker-{ID}.scope"))
                .unwrap()
                .engine,
            Engine::Docker
        );
        assert_eq!(
            of(&format!("libpod_parent/libpod-{ID}")).unwrap().engine,
            Engine::Podman
        );
        assert_eq!(
            of(&format!("crio-{ID}.scope")).unwrap().engine,
            Engine::Crio
        );
        let named = of(&format!("custom-parent/{ID2}")).unwrap();
        assert_eq!(
            (named.engine, named.name.as_deref()),
            (Engine::Docker, Some("named"))
        );
        let ctr = of("sctest/web").unwrap();
        assert_eq!(
            (ctr.engine, ctr.id.as_str(), ctr.profile_name().as_str()),
            (Engine::Containerd, "sctest/web", "web")
        );
        assert_eq!(of("docker"), None);
        assert_eq!(of("libpod_parent"), None);
        assert_eq!(of("otherns/web"), None, "not a containerd namespace");
        assert_eq!(of(&format!("libpod_parent/libpod-conmon-{ID}")), None);
    }

    #[test]
    fn profile_names_are_file_names() {
        let c = Container {
            engine: Engine::Docker,
            id: ID.into(),
            name: None,
            image: Some("registry:5000/team/app:1.2".into()),
        };
        assert_eq!(c.profile_name(), "registry_5000_team_app_1.2");
        let c = Container { image: None, ..c };
        assert_eq!(c.profile_name(), &ID[..12]);
        let c = Container {
            name: Some("../x".into()),
            ..c
        };
        assert_eq!(c.profile_name(), "_x");
    }

    #[test]
    fn oci_cgroups_paths() {
        assert_eq!(
            cgroups_path("/sctest/web"),
            Some(PathBuf::from("sctest/web"))
        );
        assert_eq!(
            cgroups_path("kubepods-burstable-pod12.slice:cri-containerd:abc"),
            Some(PathBuf::from(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-abc.scope"
            ))
        );
        assert_eq!(
            cgroups_path(":docker:abc"),
            Some(PathBuf::from("system.slice/docker-abc.scope"))
        );
        assert_eq!(cgroups_path(""), None);
        assert_eq!(cgroups_path("a:b"), None);
    }

    #[test]
    fn containerd_tasks_by_name_and_custom_cgroup() {
        let f = Fixture::new("ctrd-task");
        let state = f.0.join("state");
        let bundle = state.join("io.containerd.runtime.v2.task/sctest/web");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"linux":{"cgroupsPath":"/custom/place"}}"#,
        )
        .unwrap();
        let roots = EngineRoots(vec![state]);
        let m = f.mount();
        std::fs::create_dir_all(m.join("custom/place")).unwrap();
        std::fs::write(m.join("custom/place/cgroup.procs"), "").unwrap();
        let Resolution::Now(r) = resolve_container(&m, "web", &roots).unwrap() else {
            panic!("a running task resolves now");
        };
        assert_eq!(r.cgroup, m.join("custom/place"));
        assert_eq!(r.container.unwrap().id, "sctest/web");
        let c = container_of(&m, &m.join("custom/place"), &roots).unwrap();
        assert_eq!(
            (c.engine, c.id.as_str()),
            (Engine::Containerd, "sctest/web")
        );
        let pending = Pending {
            label: "web".into(),
            want: Want::Containerd {
                ns: "sctest".into(),
                id: "web".into(),
                roots: roots.0.clone(),
            },
            container: None,
        };
        assert!(pending.matches(Path::new("custom/place")));
        assert!(pending.matches(Path::new("sctest/web")));
        assert!(!pending.matches(Path::new("custom")));
    }
}
