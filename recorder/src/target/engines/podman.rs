//! containers-storage (`podman --root`, CRI-O's `root`, `/var/lib/containers/storage` by
//! default): `<driver>-containers/containers.json` lists every container, running or not,
//! with the engine's own metadata.

use crate::engine::Engine;
use crate::target::container::Container;
use std::path::Path;

pub(super) fn containers(root: &Path) -> Vec<Container> {
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
                engine: Some(Engine::Podman),
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
