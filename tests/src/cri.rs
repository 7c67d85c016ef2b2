//! Container runtimes behind their CRI, and one small blocking CRI client for all of them
//! that plays the kubelet: pods with labels, annotations and a cgroup parent, containers
//! created, started, stopped and removed, images pulled.
//!
//! This file starts containerd's own CRI plugin (Debian's containerd 1.6) on private root,
//! state and socket paths; `crio.rs` starts CRI-O. Pods use the host network (no CNI
//! needed) and the cgroupfs driver. containerd imports the test image and its pause image
//! from local archives; CRI-O pulls them from a local registry (`images()`), where tests
//! also push images of their own for either runtime to pull.

use crate::engines::{
    kill_pods_at_exit, note_host_dirs, remove_cgroup_parent_at_exit, rootfs_tar, run_ok,
    spawn_containerd, state_dir,
};
use crate::registry::Registry;
use crate::wait_until;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{self as cri, NamespaceMode, security_profile::ProfileType};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// The test image: busybox-static and the `engine_probe` workload as /bin/probe.
pub const IMAGE: &str = "localhost/sctest:latest";
/// The pause image every sandbox runs (the same rootfs, sleeping).
pub const PAUSE_IMAGE: &str = "localhost/sctest-pause:latest";
/// The containerd runtime handler that runs runc 1.3.6 (`$SECCOMP_RECORDER_RUNC13`), which
/// passes a profile's `flags` on; there only when the variable is set.
pub const RUNC13_HANDLER: &str = "runc13";
/// Parent of the pods' cgroups, as a kubelet with the cgroupfs driver would make them.
pub const CGROUP_ROOT: &str = "kubepods-sctest";

/// Which runtime serves a CRI socket: they differ in how images reach them and in what a
/// client must send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Containerd,
    Crio,
}

pub struct CriRuntime {
    pub kind: Kind,
    pub dir: PathBuf,
    pub sock: PathBuf,
    /// The test image as this runtime names it.
    pub image: String,
    /// The runtime's log, for failure messages.
    pub log_file: PathBuf,
}

/// containerd's runtime table for [`RUNC13_HANDLER`], when `$SECCOMP_RECORDER_RUNC13` is set.
fn runc13_handler(dir: &Path) -> String {
    let Some(binary) = std::env::var_os("SECCOMP_RECORDER_RUNC13") else {
        return String::new();
    };
    let table =
        format!(r#"plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{RUNC13_HANDLER}"#);
    format!(
        "[{table}]\n  runtime_type = \"io.containerd.runc.v2\"\n[{table}.options]\n  \
         BinaryName = \"{}\"\n  Root = \"{}/runc13\"\n  SystemdCgroup = false\n",
        Path::new(&binary).display(),
        dir.display()
    )
}

/// overlayfs where the kernel has it or can load it; else `native` (copies, no kernel
/// support needed): a vmtest guest boots without the overlay module, and the host's
/// /lib/modules, which its root shows, is not the guest kernel's.
fn snapshotter() -> &'static str {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let loadable = Path::new("/lib/modules").join(release.trim()).is_dir();
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if loadable || filesystems.lines().any(|l| l.ends_with("\toverlay")) {
        "overlayfs"
    } else {
        "native"
    }
}

impl CriRuntime {
    /// One containerd with its CRI plugin per test binary.
    pub fn get() -> &'static CriRuntime {
        CriRuntime::named("cri")
    }

    /// A containerd of its own for `name` (another node of a cluster test: its own root,
    /// state, socket and images), started once per test binary.
    pub fn named(name: &'static str) -> &'static CriRuntime {
        static ALL: Mutex<BTreeMap<&str, &'static CriRuntime>> = Mutex::new(BTreeMap::new());
        let mut all = ALL.lock().unwrap();
        all.entry(name)
            .or_insert_with(|| Box::leak(Box::new(CriRuntime::start(name))))
    }

    /// `unix://<socket>`, as `--runtime-endpoint` takes it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn start(name: &str) -> CriRuntime {
        crate::require_root();
        let dir = state_dir(name);
        let sock = dir.join("containerd.sock");
        // restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE. The runc v1 runtime
        // plugin must stay enabled for the CRI plugin to load.
        let tables = format!(
            r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "{snapshotter}"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
"#,
            d = dir.display(),
            pause = PAUSE_IMAGE,
            snapshotter = snapshotter(),
        ) + &runc13_handler(&dir);
        note_host_dirs();
        remove_cgroup_parent_at_exit(CGROUP_ROOT);
        spawn_containerd(&dir, "", &tables);
        let c = CriRuntime {
            kind: Kind::Containerd,
            log_file: dir.join("containerd.log"),
            image: IMAGE.into(),
            dir,
            sock,
        };
        // A vmtest guest (emulated, on a loaded machine) takes up to a minute.
        wait_until("containerd's CRI", Duration::from_secs(120), || {
            c.sock.exists() && c.try_client().is_ok()
        });
        for (name, config) in [
            (IMAGE, serde_json::json!({"Cmd": ["/bin/sh"]})),
            (
                PAUSE_IMAGE,
                serde_json::json!({"Entrypoint": ["/bin/sleep", "1000000000"]}),
            ),
        ] {
            let archive = tar(&image_layout(&c.dir, name, config));
            run_ok(
                Command::new("ctr")
                    .arg("-a")
                    .arg(&c.sock)
                    .args(["-n", "k8s.io", "images", "import", "--index-name", name])
                    .args(["--snapshotter", snapshotter()])
                    .arg(&archive),
            );
        }
        c
    }

    /// The pid of the runtime's daemon (containerd or crio, started with `--config` under
    /// this runtime's directory), for figures of its CPU and memory.
    pub fn daemon_pid(&self) -> Option<u32> {
        let dir = self.dir.as_os_str().as_encoded_bytes();
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.get(1) == Some(&&b"--config"[..])
                    && args.get(2).is_some_and(|config| config.starts_with(dir))
            })
    }

    /// The runtime's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub fn try_client(&self) -> Result<Client, String> {
        Client::try_connect(self)
    }

    pub fn client(&self) -> Client {
        Client::try_connect(self).unwrap_or_else(|e| {
            panic!(
                "the CRI at {} does not answer: {e}\n{}",
                self.sock.display(),
                tail(&self.log())
            )
        })
    }
}

/// The registry every runtime of this test binary can pull from (loopback, plain HTTP),
/// running until the binary exits.
pub fn images() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let r = Registry::start();
        r.stop_at_exit();
        r
    })
}

/// Pushes an OCI image layout to the shared registry as `name` (`repo:tag`) with skopeo,
/// and returns the reference runtimes pull.
pub fn push_layout(layout: &Path, name: &str) -> String {
    let reference = images().reference(name);
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("docker://{reference}")),
    );
    reference
}

/// The test rootfs as an OCI image layout under `dir` with the given image config.
pub(crate) fn image_layout(dir: &Path, name: &str, config: serde_json::Value) -> PathBuf {
    layout_of(dir, name, rootfs_tar(), config)
}

/// An OCI image layout under `dir` of one uncompressed layer (a tar) and an image config.
pub fn layout_of(dir: &Path, name: &str, layer: &Path, config: serde_json::Value) -> PathBuf {
    let tag = name.replace(['/', ':'], "_");
    let layout = dir.join(format!("oci-{tag}"));
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = |bytes: &[u8]| {
        let digest = crate::sha256_hex(bytes);
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let layer = std::fs::read(layer).unwrap();
    let (layer_digest, layer_size) = blob(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let (config_digest, config_size) = blob(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    })
    .to_string();
    let (manifest_digest, manifest_size) = blob(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

/// An OCI layout as the archive `ctr images import` takes.
fn tar(layout: &Path) -> PathBuf {
    let tar = layout.with_extension("tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(layout)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// A pod as the kubelet describes it to the runtime.
#[derive(Clone, Debug, Default)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    /// `hostPID: true`: the pod's containers see the host's processes.
    pub host_pid: bool,
    /// The runtime handler (a RuntimeClass's); empty for the runtime's default.
    pub handler: String,
}

impl PodSpec {
    pub fn new(namespace: &str, name: &str) -> PodSpec {
        PodSpec {
            namespace: namespace.into(),
            name: name.into(),
            ..PodSpec::default()
        }
    }

    pub fn label(mut self, k: &str, v: &str) -> PodSpec {
        self.labels.push((k.into(), v.into()));
        self
    }

    pub fn annotate(mut self, k: &str, v: &str) -> PodSpec {
        self.annotations.push((k.into(), v.into()));
        self
    }

    pub fn handler(mut self, handler: &str) -> PodSpec {
        self.handler = handler.into();
        self
    }
}

/// A running pod sandbox and the config its containers are created with.
pub struct Pod {
    pub id: String,
    pub uid: String,
    pub config: cri::PodSandboxConfig,
}

impl Pod {
    /// The namespaces its containers share with the host or the pod, as the kubelet sets them.
    pub fn namespaces(&self) -> cri::NamespaceOption {
        self.config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone())
            .unwrap_or_default()
    }
}

/// How a container exited.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    /// Its log (the CRI log format: timestamp, stream, tag, line).
    pub log: String,
}

fn namespaces(host_pid: bool) -> cri::NamespaceOption {
    let pid = if host_pid {
        NamespaceMode::Node
    } else {
        NamespaceMode::Container
    };
    cri::NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn unconfined() -> Option<cri::SecurityProfile> {
    Some(cri::SecurityProfile {
        profile_type: ProfileType::Unconfined as i32,
        localhost_ref: String::new(),
    })
}

/// A Localhost seccomp profile (an absolute path, as the kubelet passes it).
pub fn localhost(path: &Path) -> Option<cri::SecurityProfile> {
    Some(cri::SecurityProfile {
        profile_type: ProfileType::Localhost as i32,
        localhost_ref: path.display().to_string(),
    })
}

/// How long a CRI call may take before the test fails: four times the slowest seen
/// (RunPodSandbox, about 45 s in an emulated guest on a loaded machine), so that a hang
/// shows itself long before the guest's time limit.
const CALL_DEADLINE: Duration = Duration::from_secs(180);

/// A blocking CRI client of one runtime.
pub struct Client {
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    kind: Kind,
    image: String,
    log_file: PathBuf,
    logs: PathBuf,
}

impl Client {
    fn try_connect(runtime: &CriRuntime) -> Result<Client, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let path = runtime.sock.clone();
        let channel = rt
            .block_on(
                Endpoint::from_static("http://[::]:0").connect_with_connector(tower::service_fn(
                    move |_: Uri| {
                        let path = path.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(s))
                        }
                    },
                )),
            )
            .map_err(|e| e.to_string())?;
        let c = Client {
            rt,
            client: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            kind: runtime.kind,
            image: runtime.image.clone(),
            log_file: runtime.log_file.clone(),
            logs: runtime.dir.join("pod-logs"),
        };
        let mut client = c.client.clone();
        let version = client.version(cri::VersionRequest::default());
        // The timer needs the runtime: made inside it.
        c.rt.block_on(async { tokio::time::timeout(CALL_DEADLINE, version).await })
            .map_err(|_| format!("Version did not answer within {CALL_DEADLINE:?}"))?
            .map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// One CRI call, bounded by [`CALL_DEADLINE`]: a runtime that never answers fails the
    /// test naming the call, with the runtime's log and what every process is waiting in.
    fn call<T, Fut>(&self, what: &str, fut: Fut) -> T
    where
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let log = || tail(&std::fs::read_to_string(&self.log_file).unwrap_or_default());
        let Ok(answer) = self
            .rt
            .block_on(async { tokio::time::timeout(CALL_DEADLINE, fut).await })
        else {
            let procs = crate::procs::dump();
            if self.kind == Kind::Containerd {
                self.log_goroutines();
            }
            panic!(
                "CRI {what} did not answer within {CALL_DEADLINE:?}\n{:?} log:\n{}\n{procs}",
                self.kind,
                log(),
            )
        };
        answer
            .unwrap_or_else(|e| panic!("CRI {what} failed: {e}\n{:?} log:\n{}", self.kind, log()))
            .into_inner()
    }

    /// Has this containerd and its shims log every goroutine's stack (on SIGUSR1): where a
    /// Go process waits, which its threads' kernel stacks do not show.
    fn log_goroutines(&self) {
        let dir = self.log_file.parent().unwrap_or(Path::new("/"));
        let sock = dir.join("containerd.sock").display().to_string();
        let config = dir.join("config.toml").display().to_string();
        let ours = |args: &[String]| {
            args.windows(2).any(|w| {
                (w[0] == "-address" && w[1] == sock) || (w[0] == "--config" && w[1] == config)
            })
        };
        for pid in crate::procs::matching(ours) {
            // SAFETY: a plain signal to a process this test binary started.
            unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
        }
        // They write asynchronously; the shims' logs pass through containerd.
        std::thread::sleep(Duration::from_secs(3));
    }

    /// PullImage, as the kubelet does before it creates a container of an image it lacks.
    pub fn pull(&self, image: &str) -> String {
        let mut c = self.images.clone();
        let req = cri::PullImageRequest {
            image: Some(self.image_spec(image)),
            ..Default::default()
        };
        self.call("PullImage", async move { c.pull_image(req).await })
            .image_ref
    }

    fn image_spec(&self, image: &str) -> cri::ImageSpec {
        cri::ImageSpec {
            image: image.into(),
            // CRI-O verifies signatures against the name the user gave and refuses without.
            user_specified_image: image.into(),
            ..Default::default()
        }
    }

    /// RunPodSandbox with the cgroup parent a kubelet would give a BestEffort pod.
    pub fn run_pod(&self, spec: &PodSpec) -> Pod {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let ours = format!("pod{:08x}-", std::process::id());
        kill_pods_at_exit(&format!("{CGROUP_ROOT}/besteffort"), &ours);
        let uid = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            nanos()
        );
        let log_dir = self.logs.join(&uid);
        std::fs::create_dir_all(&log_dir).unwrap();
        let config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: spec.name.clone(),
                uid: uid.clone(),
                namespace: spec.namespace.clone(),
                attempt: 0,
            }),
            // Host-network pods must leave the hostname to the host.
            hostname: String::new(),
            log_directory: log_dir.display().to_string(),
            labels: spec.labels.iter().cloned().collect(),
            annotations: spec.annotations.iter().cloned().collect(),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: format!("/{CGROUP_ROOT}/besteffort/pod{uid}"),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(namespaces(spec.host_pid)),
                    seccomp: unconfined(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut c = self.client.clone();
        let req = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: spec.handler.clone(),
        };
        let r = self.call("RunPodSandbox", async move { c.run_pod_sandbox(req).await });
        Pod {
            id: r.pod_sandbox_id,
            uid,
            config,
        }
    }

    /// The config of a container of the test image running `/bin/probe ARGS` (or `command`
    /// when it starts with '/'), unconfined or under the Localhost profile at `localhost`.
    pub fn config(
        &self,
        pod: &Pod,
        name: &str,
        command: &[&str],
        localhost: Option<&Path>,
    ) -> cri::ContainerConfig {
        let (cmd, args): (Vec<String>, Vec<String>) = match command.first() {
            Some(c) if c.starts_with('/') => (
                vec![c.to_string()],
                command[1..].iter().map(|s| s.to_string()).collect(),
            ),
            _ => (
                vec!["/bin/probe".to_string()],
                command.iter().map(|s| s.to_string()).collect(),
            ),
        };
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(self.image_spec(&self.image)),
            command: cmd,
            args,
            log_path: format!("{name}.log"),
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(cri::LinuxContainerSecurityContext {
                    namespace_options: Some(pod.namespaces()),
                    seccomp: localhost.map_or_else(unconfined, self::localhost),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// CreateContainer of the test image: see `config`.
    pub fn create(
        &self,
        pod: &Pod,
        name: &str,
        command: &[&str],
        localhost: Option<&Path>,
    ) -> String {
        self.create_with(pod, self.config(pod, name, command, localhost))
    }

    /// CreateContainer with a config of the caller's own; the image must be pulled.
    pub fn create_with(&self, pod: &Pod, mut config: cri::ContainerConfig) -> String {
        if let Some(image) = config.image.as_mut() {
            image.user_specified_image = image.image.clone();
        }
        let mut c = self.client.clone();
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: pod.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod.config.clone()),
        };
        self.call(
            "CreateContainer",
            async move { c.create_container(req).await },
        )
        .container_id
    }

    pub fn start(&self, id: &str) {
        let mut c = self.client.clone();
        let req = cri::StartContainerRequest {
            container_id: id.into(),
        };
        self.call(
            "StartContainer",
            async move { c.start_container(req).await },
        );
    }

    /// Creates and starts a container, waits for it to exit and returns how.
    pub fn run(&self, pod: &Pod, name: &str, command: &[&str], localhost: Option<&Path>) -> Exit {
        let id = self.create(pod, name, command, localhost);
        self.start(&id);
        self.wait_exit(pod, name, &id, Duration::from_secs(60))
    }

    /// ContainerStatus, verbose: the runtime's info (pid, runtime spec) included.
    pub fn status(&self, id: &str) -> cri::ContainerStatusResponse {
        let mut c = self.client.clone();
        let req = cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        };
        self.call(
            "ContainerStatus",
            async move { c.container_status(req).await },
        )
    }

    /// The host pid of a running container's first process, from the verbose status.
    pub fn pid(&self, id: &str) -> u32 {
        let st = self.status(id);
        let info = st.info.get("info").cloned().unwrap_or_default();
        let info: serde_json::Value = serde_json::from_str(&info)
            .unwrap_or_else(|e| panic!("verbose status info of {id} is not JSON ({e}): {info}"));
        info["pid"]
            .as_u64()
            .filter(|p| *p > 0)
            .unwrap_or_else(|| panic!("no pid in the status of {id}: {info}")) as u32
    }

    /// The container's log so far.
    pub fn log(&self, pod: &Pod, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(&pod.uid).join(format!("{name}.log")))
            .unwrap_or_default()
    }

    pub fn wait_exit(&self, pod: &Pod, name: &str, id: &str, timeout: Duration) -> Exit {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self
                .status(id)
                .status
                .expect("ContainerStatus has a status");
            if st.state == cri::ContainerState::ContainerExited as i32 {
                return Exit {
                    code: st.exit_code,
                    log: self.log(pod, name),
                };
            }
            assert!(
                Instant::now() < deadline,
                "container {name} did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&self, id: &str) {
        self.stop_within(id, 2);
    }

    /// StopContainer: SIGTERM, then SIGKILL after `grace` seconds (the pod's
    /// terminationGracePeriodSeconds, as the kubelet passes it).
    pub fn stop_within(&self, id: &str, grace: i64) {
        let mut c = self.client.clone();
        let req = cri::StopContainerRequest {
            container_id: id.into(),
            timeout: grace,
        };
        self.call("StopContainer", async move { c.stop_container(req).await });
    }

    /// StopPodSandbox and RemovePodSandbox (which removes its containers), as the kubelet
    /// does when a pod is deleted.
    pub fn remove_pod(&self, pod: &Pod) {
        let mut c = self.client.clone();
        let req = cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.id.clone(),
        };
        self.call(
            "StopPodSandbox",
            async move { c.stop_pod_sandbox(req).await },
        );
        let mut c = self.client.clone();
        let req = cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.id.clone(),
        };
        self.call("RemovePodSandbox", async move {
            c.remove_pod_sandbox(req).await
        });
    }
}

/// Keeps pod UIDs apart across test binaries run one after the other.
fn nanos() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 & 0xffff_ffff_ffff
}

pub(crate) fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
