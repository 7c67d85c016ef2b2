//! What a container is to us: its engine, ID, name and image, and the profile name made
//! from them.

use crate::engine::Engine;

/// A container as the engines' state describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    /// `None`: a 64-hex ID directory no engine's state claims (Kubernetes pods, bare runc).
    pub engine: Option<Engine>,
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

    /// The engine's name, `unknown` when none claims the container.
    pub fn engine_name(&self) -> &'static str {
        self.engine.map_or("unknown", Engine::name)
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
