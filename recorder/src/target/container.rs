//! What a container is to us: its engine, ID, name and image, and the profile name made
//! from them.

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
    pub(crate) fn profile_name(&self) -> String {
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

    pub(super) fn describe(&self) -> String {
        format!(
            "name {}, image {}",
            self.name.as_deref().unwrap_or("-"),
            self.image.as_deref().unwrap_or("-")
        )
    }
}
pub(crate) fn short(id: &str) -> &str {
    if is_hex_id(id) { &id[..12] } else { id }
}

pub(crate) fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
