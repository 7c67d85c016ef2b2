//! Engine state found from the running processes, for engines started with their own data
//! roots (CI runners, rootless Podman, docker-in-docker): dockerd's, containerd's, CRI-O's
//! and Podman's command lines, conmon's arguments (Podman is daemonless: conmon is what runs
//! while a container does) and the containerd shims' working directories (their bundles).
//! A process in another mount namespace has its paths read through `/proc/PID/root`.

use std::path::{Path, PathBuf};

/// The state roots the running engines use, in process order, without repeats.
pub(crate) fn roots() -> Vec<PathBuf> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own_ns = std::fs::read_link("/proc/self/ns/mnt").ok();
    let mut out: Vec<PathBuf> = Vec::new();
    for e in procs.filter_map(|e| e.ok()) {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let proc = Path::new("/proc").join(pid.to_string());
        let Some(argv) = cmdline(&proc) else {
            continue;
        };
        let seen_from_here = |p: PathBuf| {
            if std::fs::read_link(proc.join("ns/mnt")).ok() == own_ns {
                p
            } else {
                proc.join("root").join(p.strip_prefix("/").unwrap_or(&p))
            }
        };
        for root in of_process(&argv, || std::fs::read_link(proc.join("cwd")).ok()) {
            let root = seen_from_here(root);
            if !out.contains(&root) {
                out.push(root);
            }
        }
    }
    out
}

fn cmdline(proc: &Path) -> Option<Vec<String>> {
    let raw = std::fs::read(proc.join("cmdline")).ok()?;
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!argv.is_empty()).then_some(argv)
}

/// The state roots one process's command line (and, for a shim, its working directory)
/// names, as that process sees them.
fn of_process(argv: &[String], cwd: impl FnOnce() -> Option<PathBuf>) -> Vec<PathBuf> {
    let program = Path::new(&argv[0])
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let args = &argv[1..];
    match program {
        "dockerd" => {
            let data = flag(args, &["--data-root", "-g", "--graph"])
                .or_else(|| data_root_from_config(args))
                .unwrap_or_else(|| "/var/lib/docker".into());
            let exec = flag(args, &["--exec-root"]).unwrap_or_else(|| "/var/run/docker".into());
            // runc's state (docker's containers whose cgroup names carry no ID).
            vec![data.into(), Path::new(&exec).join("runtime-runc")]
        }
        "containerd" => flag(args, &["--state"])
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        "crio" | "podman" => flag(args, &["--root"])
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        "conmon" => conmon_root(args).into_iter().collect(),
        shim if shim.starts_with("containerd-shim") => {
            // The shim runs in its task's bundle: <state>/io.containerd.runtime.v2.task/<ns>/<id>.
            cwd()
                .and_then(|b| Some(b.parent()?.parent()?.parent()?.to_path_buf()))
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The value of the first of `names` given as `NAME VALUE` or `NAME=VALUE`.
fn flag(args: &[String], names: &[&str]) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        names.iter().find_map(|n| {
            if a == n {
                args.get(i + 1).cloned()
            } else {
                a.strip_prefix(n)?.strip_prefix('=').map(String::from)
            }
        })
    })
}

/// `data-root` in dockerd's daemon.json (`--config-file`, else the default path).
fn data_root_from_config(args: &[String]) -> Option<String> {
    let path = flag(args, &["--config-file"]).unwrap_or_else(|| "/etc/docker/daemon.json".into());
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v.get("data-root")?.as_str().map(String::from)
}

/// Podman's storage root from conmon's arguments: the `--root` Podman passes to its own
/// exit command, else the bundle (`-b <root>/<driver>-containers/<id>/userdata`).
fn conmon_root(args: &[String]) -> Option<PathBuf> {
    let exit_args: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--exit-command-arg")
        .filter_map(|(i, _)| args.get(i + 1).cloned())
        .collect();
    if let Some(root) = flag(&exit_args, &["--root"]) {
        return Some(root.into());
    }
    let bundle = PathBuf::from(flag(args, &["-b", "--bundle"])?);
    let containers = bundle.parent()?.parent()?;
    containers
        .file_name()?
        .to_str()?
        .ends_with("-containers")
        .then(|| containers.parent().map(Path::to_path_buf))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn roots_of(s: &str, cwd: Option<&str>) -> Vec<PathBuf> {
        of_process(&argv(s), || cwd.map(PathBuf::from))
    }

    #[test]
    fn daemons_name_their_roots_in_either_flag_spelling() {
        assert_eq!(
            roots_of(
                "/usr/bin/dockerd --data-root /ci/docker --exec-root=/ci/exec",
                None
            ),
            [PathBuf::from("/ci/docker"), "/ci/exec/runtime-runc".into()]
        );
        assert_eq!(
            roots_of("containerd --config /c.toml --state=/ci/state", None),
            [PathBuf::from("/ci/state")]
        );
        assert_eq!(
            roots_of("podman --root /home/u/storage run x", None),
            [PathBuf::from("/home/u/storage")]
        );
        assert!(roots_of("containerd --config /c.toml", None).is_empty());
        assert!(roots_of("sleep 100", None).is_empty());
    }

    #[test]
    fn conmon_names_podman_root_by_exit_command_or_bundle() {
        let by_exit = "/usr/bin/conmon -c ID -b /x/vfs-containers/ID/userdata \
             --exit-command /usr/bin/podman --exit-command-arg --root \
             --exit-command-arg /ci/root --exit-command-arg --runroot --exit-command-arg /run/r";
        assert_eq!(roots_of(by_exit, None), [PathBuf::from("/ci/root")]);
        assert_eq!(
            roots_of("conmon -b /ci/root/overlay-containers/ID/userdata", None),
            [PathBuf::from("/ci/root")]
        );
        assert!(roots_of("conmon -b /run/elsewhere/ID/userdata", None).is_empty());
    }

    #[test]
    fn a_shim_names_the_state_root_its_bundle_is_in() {
        assert_eq!(
            roots_of(
                "/usr/bin/containerd-shim-runc-v2 -namespace ns -id web -address /s",
                Some("/ci/state/io.containerd.runtime.v2.task/ns/web"),
            ),
            [PathBuf::from("/ci/state")]
        );
    }
}
