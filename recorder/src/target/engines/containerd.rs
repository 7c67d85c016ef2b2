//! containerd's state directory (`--state`, `/run/containerd` by default): one bundle
//! directory per running task, `io.containerd.runtime.v2.task/<namespace>/<id>`, whose
//! `config.json` names the task's cgroup. Created containers live only in containerd's bolt
//! database, which is not read here.

use crate::target::layout::cgroups_path;
use std::path::PathBuf;

const TASKS: &str = "io.containerd.runtime.v2.task";

/// containerd's tasks as (namespace, id): one bundle directory each.
pub(crate) fn tasks(roots: &[PathBuf]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(nss) = std::fs::read_dir(root.join(TASKS)) else {
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

/// The cgroup (relative to the cgroup2 mount) a task's bundle asks for.
pub(crate) fn bundle_cgroup(roots: &[PathBuf], ns: &str, id: &str) -> Option<PathBuf> {
    roots.iter().find_map(|r| {
        let path = r.join(TASKS).join(ns).join(id).join("config.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        cgroups_path(v.pointer("/linux/cgroupsPath")?.as_str()?)
    })
}

/// Whether `ns` is a namespace some containerd state root has tasks in.
pub(crate) fn is_namespace(roots: &[PathBuf], ns: &str) -> bool {
    !ns.is_empty()
        && !ns.contains(['.', '/'])
        && roots.iter().any(|r| r.join(TASKS).join(ns).is_dir())
}
