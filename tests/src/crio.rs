//! CRI-O (1.32) on private paths, driven through its CRI by the same client as containerd
//! (`cri::Client`): vfs storage (no overlay on overlay), the cgroupfs manager, Debian's
//! conmon and runc, `pinns` for the pod namespaces, no NRI, no CNI (host-network pods).
//! It pulls the test image and its pause image from the test binary's local registry
//! (`cri::images()`), as a kubelet's node pulls from a registry.
//!
//! The binaries come from `SECCOMP_RECORDER_CRIO` and `SECCOMP_RECORDER_PINNS` (set by
//! `cargo xtask test`), else `crio` and `pinns` on PATH; a test that needs CRI-O fails
//! when they are missing.

use crate::cri::{CGROUP_ROOT, CriRuntime, Kind, image_layout, images, push_layout};
use crate::engines::{register, remove_cgroup_parent_at_exit, state_dir};
use crate::wait_until;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The runc CRI-O runs containers with.
const RUNC: &str = "/usr/sbin/runc";

/// CRI-O's runtime handler whose runc lays a container out as its environment asks (see
/// `LAYOUTS_RUNC`); give it to `PodSpec::handler`.
pub const LAYOUTS_HANDLER: &str = "layouts";

/// The `layouts` handler's runtime, after a line setting `runc`: a container whose
/// config.json has `SCTEST_SUBGROUP=1` in its environment runs its workload in a
/// `container` child of its cgroup, made at create, as crun with the systemd driver does
/// (CRI-O 1.31 and later); with `SCTEST_SLOW_CREATE=N`, create returns N seconds late, as a
/// slow create does.
const LAYOUTS_RUNC: &str = r#"
case " $* " in
*" create "*) ;;
*) exec "$runc" "$@" ;;
esac
"$runc" "$@" || exit $?
bundle= pidfile= prev=
for a; do
    case "$prev" in --bundle|-b) bundle=$a ;; --pid-file) pidfile=$a ;; esac
    prev=$a
done
config="$bundle/config.json"
if grep -q '"SCTEST_SUBGROUP=1"' "$config"; then
    pid=$(cat "$pidfile")
    mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
    cg="$mnt$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
    mkdir "$cg/container" && echo "$pid" > "$cg/container/cgroup.procs" || exit 1
fi
delay=$(grep -o '"SCTEST_SLOW_CREATE=[0-9]*"' "$config" | tr -dc 0-9)
[ -n "$delay" ] && sleep "$delay"
exit 0
"#;

/// The runtime's settings a test may choose.
#[derive(Clone, Copy, Debug)]
pub struct CrioOptions {
    /// `enable_pod_events`: GetContainerEvents streams (the kubelet's Evented PLEG);
    /// CRI-O's default is off, and then the stream stays silent.
    pub pod_events: bool,
}

impl CriRuntime {
    /// One CRI-O per test binary, with container events on.
    pub fn crio() -> &'static CriRuntime {
        static C: OnceLock<CriRuntime> = OnceLock::new();
        C.get_or_init(|| start(CrioOptions { pod_events: true }))
    }

    /// One CRI-O per test binary with its default: no container events.
    pub fn crio_without_events() -> &'static CriRuntime {
        static C: OnceLock<CriRuntime> = OnceLock::new();
        C.get_or_init(|| start(CrioOptions { pod_events: false }))
    }
}

/// A binary from the environment variable, else from PATH; panics saying how to get it.
pub fn tool(var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{var}={} is not a file", p.display());
        return p;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: set {var} or put {name} on PATH (`cargo xtask test` sets \
                 {var} to its unpacked CRI-O 1.32)"
            )
        })
}

/// Starts CRI-O with everything under a directory of its own and waits until it answers.
pub fn start(opts: CrioOptions) -> CriRuntime {
    crate::require_root();
    let crio = tool("SECCOMP_RECORDER_CRIO", "crio");
    let pinns = tool("SECCOMP_RECORDER_PINNS", "pinns");
    let conmon = tool("SECCOMP_RECORDER_CONMON", "conmon");
    let dir = state_dir("crio");
    let pause = pause_image(&dir);
    std::fs::create_dir_all(dir.join("cni")).unwrap();
    std::fs::write(
        dir.join("policy.json"),
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    // Without --registries-conf the seccomp OCI-artifact pull ignores the environment and
    // speaks HTTPS to the loopback registry.
    std::fs::write(
        dir.join("registries.conf"),
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            images().addr
        ),
    )
    .unwrap();
    let layouts = dir.join("layouts-runc");
    std::fs::write(&layouts, format!("#!/bin/sh\nrunc={RUNC}\n{LAYOUTS_RUNC}")).unwrap();
    std::fs::set_permissions(&layouts, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("crio.conf"),
        config(&dir, &pinns, &conmon, &pause, opts),
    )
    .unwrap();
    remove_cgroup_parent_at_exit(CGROUP_ROOT);
    let log = std::fs::File::create(dir.join("crio.log")).unwrap();
    // Stopped by PID when the test binary exits (engines::register).
    #[allow(clippy::zombie_processes)]
    let child = Command::new(&crio)
        .arg("--config")
        .arg(dir.join("crio.conf"))
        .arg("--registries-conf")
        .arg(dir.join("registries.conf"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", crio.display()));
    register(Some(child.id()), &dir);
    let image = push_layout(
        &image_layout(&dir, "sctest", serde_json::json!({"Cmd": ["/bin/sh"]})),
        "sctest:latest",
    );
    let rt = CriRuntime {
        kind: Kind::Crio,
        sock: dir.join("crio.sock"),
        log_file: dir.join("crio.log"),
        image,
        dir,
    };
    wait_until("CRI-O", Duration::from_secs(60), || {
        rt.sock.exists() && rt.try_client().is_ok()
    });
    rt.client().pull(&rt.image);
    rt
}

/// The pause image every sandbox runs, pushed to the shared registry.
fn pause_image(dir: &Path) -> String {
    let layout = image_layout(
        dir,
        "sctest-pause",
        serde_json::json!({"Entrypoint": ["/bin/sleep", "1000000000"]}),
    );
    push_layout(&layout, "sctest-pause:latest")
}

fn config(dir: &Path, pinns: &Path, conmon: &Path, pause: &str, opts: CrioOptions) -> String {
    format!(
        r#"[crio]
root = "{d}/storage"
runroot = "{d}/runroot"
storage_driver = "vfs"
log_dir = "{d}/logs"
version_file = "{d}/version"
version_file_persist = "{d}/version-persist"
clean_shutdown_file = "{d}/clean.shutdown"
[crio.api]
listen = "{d}/crio.sock"
stream_address = "127.0.0.1"
stream_port = "0"
[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
conmon_cgroup = "pod"
pinns_path = "{pinns}"
namespaces_dir = "{d}/ns"
container_exits_dir = "{d}/exits"
container_attach_socket_dir = "{d}/attach"
enable_pod_events = {events}
[crio.runtime.runtimes.runc]
runtime_path = "{runc}"
runtime_root = "{d}/runc"
monitor_path = "{conmon}"
allowed_annotations = ["seccomp-profile.kubernetes.cri-o.io"]
[crio.runtime.runtimes.{layouts}]
runtime_path = "{d}/layouts-runc"
runtime_root = "{d}/runc"
monitor_path = "{conmon}"
[crio.image]
pause_image = "{pause}"
pause_command = ""
signature_policy = "{d}/policy.json"
[crio.network]
network_dir = "{d}/cni"
plugin_dirs = ["/usr/lib/cni"]
[crio.nri]
enable_nri = false
[crio.metrics]
enable_metrics = false
"#,
        d = dir.display(),
        pinns = pinns.display(),
        conmon = conmon.display(),
        events = opts.pod_events,
        runc = RUNC,
        layouts = LAYOUTS_HANDLER,
    ) + &runc13_table(dir, conmon)
}

/// CRI-O's runtime table for [`crate::cri::RUNC13_HANDLER`] (runc 1.3.6, which passes a
/// profile's `flags` on), when `$SECCOMP_RECORDER_RUNC13` is set.
fn runc13_table(dir: &Path, conmon: &Path) -> String {
    let Some(runc) = std::env::var_os("SECCOMP_RECORDER_RUNC13") else {
        return String::new();
    };
    format!(
        "[crio.runtime.runtimes.{}]\nruntime_path = \"{}\"\nruntime_root = \"{}/runc13\"\n\
         monitor_path = \"{}\"\n",
        crate::cri::RUNC13_HANDLER,
        Path::new(&runc).display(),
        dir.display(),
        conmon.display()
    )
}
