//! Docker's data root (`dockerd --data-root`, `/var/lib/docker` by default): one
//! `containers/<id>/config.v2.json` per container, running or not.

use crate::engine::Engine;
use crate::target::container::Container;
use std::path::Path;

pub(super) fn containers(root: &Path) -> Vec<Container> {
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
                engine: Some(Engine::Docker),
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
