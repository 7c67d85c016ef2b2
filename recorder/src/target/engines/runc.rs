//! The OCI runtimes' state directories (runc, crun, and the roots Docker, containerd and
//! Podman give runc): `<root>/<id>/state.json` with the container's init PID.

use super::EngineRoots;
use crate::cgroup;
use std::path::{Path, PathBuf};

/// Running containers as (ID, cgroup); this finds containers whose cgroup name carries no
/// ID (ctr's `/<namespace>/<name>`, runc's own names).
pub(crate) fn containers(mount: &Path, roots: &EngineRoots) -> Vec<(String, PathBuf)> {
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
            (cgroup != mount).then_some((id, cgroup))
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
