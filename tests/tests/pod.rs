//! The agent's image, as `cargo xtask image` builds it and pushed by the project's own OCI
//! code to a registry the runtimes pull from, run as the DaemonSet's pod through
//! containerd's CRI and CRI-O's, with the pod spec taken from `deploy/`
//! (tests/src/daemonset.rs turns it into CRI calls): its init container installs the
//! agent's own profile, the agent runs under it as Localhost, records another pod from its
//! birth, writes the Localhost profile through its hostPath mount, and answers on the
//! probes' port. A third pod renders the containerd overlay with
//! deploy/components/refusals-audit and adds the publishers (`--push`, `--spo-dir`): the
//! agent publishes both ways and reports another pod's refusal within 5 s, still under its
//! own profile. A fourth does the same on CRI-O, with the patch docs/kubernetes.md gives for
//! a registry's private CA, pushing over HTTPS.
//!
//! `SECCOMP_RECORDER_AGENT_PROFILE=record` regenerates deploy/agent-seccomp.json instead of
//! enforcing it: the agent's container runs unconfined while an agent on the host records
//! it from birth, and the recording is merged into the shipped profile. Run it on each
//! runtime (`cargo xtask test -- --test pod --test-threads 1`), then rebuild.

use seccomp_recorder_tests::cri::{Client, CriRuntime, Pod, PodSpec, RUNC13_HANDLER, images};
use seccomp_recorder_tests::daemonset::{AgentPod, Node, daemonset, overlay_with_components, strs};
use seccomp_recorder_tests::image::pushed_for_runtimes;
use seccomp_recorder_tests::registry::Registry;
use seccomp_recorder_tests::runc::runc13;
use seccomp_recorder_tests::{Scratch, allowed, free_port, profile, require_root, workspace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RECORD: &str = "seccomp-recorder.io/record";

/// `--flag=value` from a container's args.
fn flag(c: &Value, name: &str) -> String {
    strs(&c["args"])
        .into_iter()
        .find_map(|a| a.strip_prefix(&format!("{name}=")).map(String::from))
        .unwrap_or_else(|| panic!("no {name} in {}", c["args"]))
}

/// Where a volume is mounted in a container.
fn mount_path(c: &Value, volume: &str) -> PathBuf {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no mount of volume {volume}"))
}

/// GET `path` on the node's port: status code and body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_at(&format!("127.0.0.1:{port}"), path)
}

/// GET `path` at `addr` (`host:port`): status code and body.
fn get_at(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    let code = reply.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, reply.split_once("\r\n\r\n")?.1.to_string()))
}

/// The `Seccomp:` mode of a process (0 none, 2 filter).
fn seccomp_mode(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Under the kubelet-seccomp mount: where `--spo-dir` writes in the tests.
const SPO_DIR: &str = "seccomp-recorder-spo";

/// The publishers a user adds to the DaemonSet's agent (its arguments, as
/// docs/kubernetes.md shows): `--push` to a registry and `--spo-dir`.
struct Publishers {
    /// The repository pushed to.
    push: String,
    /// The HTTPS registry of the test's own pushed to, when not the one the runtimes pull
    /// from.
    tls: Option<Registry>,
}

impl Publishers {
    fn new() -> Publishers {
        // By name, so that name resolution is part of what the agent does (a real
        // registry has a name); loopback, so plain HTTP.
        let push = images().reference("profiles");
        Publishers {
            push: push.replacen("127.0.0.1", "localhost", 1),
            tls: None,
        }
    }

    /// To a registry serving HTTPS only, by this machine's host name, with a certificate
    /// from a private CA.
    fn over_https() -> Publishers {
        let registry = Registry::with_tls();
        Publishers {
            push: registry.reference("profiles"),
            tls: Some(registry),
        }
    }

    /// The tags of the `--push` repository's shares, as an independent client reads them.
    fn share_tags(&self) -> String {
        let (registry, repo) = self.push.split_once('/').unwrap();
        let Some(tls) = &self.tls else {
            let tags = format!("/v2/{repo}-shares/tags/list");
            return get_at(registry, &tags).map(|(_, b)| b).unwrap_or_default();
        };
        // skopeo trusting only the CA, verification on.
        let o = Command::new("skopeo")
            .args(["list-tags", "--tls-verify=true", "--cert-dir"])
            .arg(tls.cert_dir())
            .arg(format!("docker://{}-shares", self.push))
            .output()
            .expect("skopeo is installed (cargo xtask setup)");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn apply(&self, c: &Value, config: &mut k8s_cri::v1::ContainerConfig) {
        let spo = mount_path(c, "kubelet-seccomp").join(SPO_DIR);
        config.args.extend([
            format!("--push={}", self.push),
            format!("--spo-dir={}", spo.display()),
        ]);
    }
}

/// The DaemonSet's pod on one runtime, its private node directories, and the agent's
/// container once started.
struct Running<'a> {
    cri: Client,
    ds: &'a Value,
    node: Node,
    publishers: Option<Publishers>,
    pod: Option<Pod>,
    agent: Option<String>,
}

impl Running<'_> {
    fn pod(&self) -> AgentPod<'_> {
        AgentPod {
            ds: self.ds,
            node: &self.node,
        }
    }

    fn log(&self) -> String {
        self.cri.log(self.pod.as_ref().unwrap(), "agent")
    }

    /// Sandbox, init containers, then the agent's container, as the kubelet goes; to be
    /// recorded, the pod is annotated for it and the agent runs unconfined.
    fn start(&mut self, recorded: bool) {
        let ap = self.pod();
        let extra: &[(&str, &str)] = if recorded { &[(RECORD, "true")] } else { &[] };
        // A DaemonSet's pod name; another for the second pod on the same runtime.
        let name = match self.publishers {
            None => "seccomp-recorder-n0de1",
            Some(_) => "seccomp-recorder-fl4gs",
        };
        let sandbox = ap.sandbox("seccomp-recorder", name, extra);
        let pod = self.cri.run_pod(&sandbox);
        ap.run_init(&self.cri, &pod);
        let unconfined = recorded.then(|| {
            Some(k8s_cri::v1::SecurityProfile {
                profile_type: k8s_cri::v1::security_profile::ProfileType::Unconfined as i32,
                localhost_ref: String::new(),
            })
        });
        let mut config = ap.container(&pod, ap.agent(), unconfined);
        if let Some(publishers) = &self.publishers {
            publishers.apply(ap.agent(), &mut config);
        }
        let id = self.cri.create_with(&pod, config);
        self.cri.start(&id);
        self.pod = Some(pod);
        self.agent = Some(id);
    }

    /// Waits until the readiness probe answers 200.
    fn wait_ready(&self) {
        let path = self.pod().agent()["readinessProbe"]["httpGet"]["path"]
            .as_str()
            .unwrap()
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(self.node.port, &path).is_none_or(|(code, _)| code != 200) {
            assert!(
                Instant::now() < deadline,
                "{path} on port {} never said 200 ({:?}); the agent's log:\n{}",
                self.node.port,
                get(self.node.port, &path),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the agent as a pod deletion does and returns its exit code and log.
    fn stop(&mut self) -> (i32, String) {
        let (pod, id) = (self.pod.take().unwrap(), self.agent.take().unwrap());
        self.cri.stop_within(&id, self.pod().grace_seconds());
        let exit = self
            .cri
            .wait_exit(&pod, "agent", &id, Duration::from_secs(90));
        self.cri.remove_pod(&pod);
        (exit.code, exit.log)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(pod) = self.pod.take() {
            self.cri.remove_pod(&pod);
        }
    }
}

/// The node for the DaemonSet on `rt`: the runtime's socket linked into a private
/// directory under the name the manifest's endpoint gives it, and a private kubelet
/// seccomp directory.
fn node(rt: &CriRuntime, ds: &Value, scratch: &Scratch) -> Node {
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    let endpoint = flag(c, "--runtime-endpoint");
    let socket = Path::new(
        endpoint
            .strip_prefix("unix://")
            .expect("a unix:// endpoint"),
    );
    let rel = socket
        .strip_prefix(mount_path(c, "cri"))
        .expect("the endpoint is inside the cri volume's mount");
    let cri_dir = scratch.path("cri");
    std::fs::create_dir_all(&cri_dir).unwrap();
    // A hard link of a socket is the same socket.
    std::fs::hard_link(&rt.sock, cri_dir.join(rel)).unwrap();
    let seccomp_dir = scratch.path("kubelet-seccomp");
    std::fs::create_dir_all(&seccomp_dir).unwrap();
    let mut moved = BTreeMap::new();
    moved.insert("cri".to_string(), cri_dir);
    moved.insert("kubelet-seccomp".to_string(), seccomp_dir.clone());
    Node {
        moved,
        seccomp_dir,
        port: free_port("127.0.0.1"),
        image: pushed_for_runtimes().to_string(),
    }
}

/// [`node`], with the pod's ConfigMap volumes filled in as the kubelet would from the
/// ConfigMaps docs/kubernetes.md has users create: only `registry-ca`, the CA certificate
/// of the HTTPS registry pushed to, as `ca.crt`.
fn node_with_config_maps(
    rt: &CriRuntime,
    ds: &Value,
    scratch: &Scratch,
    publishers: Option<&Publishers>,
) -> Node {
    let mut node = node(rt, ds, scratch);
    let volumes = ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    for v in volumes.iter().filter(|v| v.get("configMap").is_some()) {
        let name = v["name"].as_str().unwrap();
        let ca = publishers
            .and_then(|p| p.tls.as_ref())
            .and_then(|r| r.ca.as_ref());
        let ca = match (name, ca) {
            ("registry-ca", Some(ca)) => ca,
            _ => panic!("the test has nothing to fill the ConfigMap volume {v} with"),
        };
        let dir = scratch.path(&format!("configmap-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(ca, dir.join("ca.crt")).unwrap();
        node.moved.insert(name.to_string(), dir);
    }
    node
}

/// A user's overlay in `dir`: `base` with `components`, and the patch docs/kubernetes.md
/// gives for a registry's private CA (its YAML block under "Registries over HTTPS"), taken
/// from the docs so that they and the test cannot drift.
fn overlay_with_documented_ca(dir: &Path, base: &Path, components: &[&Path]) -> PathBuf {
    let dir = overlay_with_components(dir, base, components);
    let docs = std::fs::read_to_string(workspace().join("docs/kubernetes.md")).unwrap();
    let section = docs
        .split_once("### Registries over HTTPS: CA certificates")
        .expect("docs/kubernetes.md has the CA section")
        .1;
    let block = section
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a YAML block in the CA section")
        .0;
    let file = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}patches:\n{block}")).unwrap();
    dir
}

/// The manifest's probes and metrics port is the one `--listen` binds.
fn assert_probes_on_listen_port(c: &Value) {
    let listen = flag(c, "--listen");
    let port: u64 = listen.rsplit(':').next().unwrap().parse().unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(AgentPod::probe_port(c, probe), port, "{probe} vs {listen}");
    }
}

/// An agent on the host recording the agent's pod (regenerating its profile).
struct HostAgent {
    child: Child,
    log: PathBuf,
}

impl HostAgent {
    fn start(rt: &CriRuntime, dir: &Path, log: PathBuf) -> HostAgent {
        let child = Command::new(seccomp_recorder_tests::bin())
            .args([
                "agent",
                "--runtime-endpoint",
                &rt.endpoint(),
                "--localhost-dir",
            ])
            .arg(dir)
            .args(["--flush-interval", "1h"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let host = HostAgent { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !host.text().contains("recording via") {
            assert!(Instant::now() < deadline, "{}", host.text());
            std::thread::sleep(Duration::from_millis(100));
        }
        host
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let st = self.child.wait().unwrap();
        assert!(st.success(), "{}", self.text());
        self.text()
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Merges what the host agent recorded of the agent's container (written when it exits)
/// into the shipped profile.
fn merge_into_shipped(host: HostAgent, recorded: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !recorded.exists() {
        assert!(Instant::now() < deadline, "{}", host.text());
        std::thread::sleep(Duration::from_millis(100));
    }
    host.terminate();
    let shipped = workspace().join("deploy/agent-seccomp.json");
    let o = Command::new(seccomp_recorder_tests::bin())
        .arg("merge")
        .arg("-o")
        .arg(&shipped)
        .arg(&shipped)
        .arg(recorded)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("merged {} into {}", recorded.display(), shipped.display());
}

/// The init container installed the shipped profile, and the agent's process runs under it
/// (a seccomp filter, as the manifest's Localhost profile says).
fn assert_confined_by_shipped_profile(run: &Running<'_>, c: &Value) {
    let profile = &c["securityContext"]["seccompProfile"];
    assert_eq!(profile["type"], "Localhost");
    let installed = run
        .node
        .seccomp_dir
        .join(profile["localhostProfile"].as_str().unwrap());
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(workspace().join("deploy/agent-seccomp.json")).unwrap()
    );
    let pid = run.cri.pid(run.agent.as_ref().unwrap());
    assert_eq!(seccomp_mode(pid), "2", "{}", run.log());
}

/// The agent's `--localhost-dir` on the host, through the kubelet-seccomp mount.
fn localhost_on_host(run: &Running<'_>, c: &Value) -> PathBuf {
    let localhost = PathBuf::from(flag(c, "--localhost-dir"));
    run.node.seccomp_dir.join(
        localhost
            .strip_prefix(mount_path(c, "kubelet-seccomp"))
            .unwrap(),
    )
}

/// Waits for the agent's profile of the workload pod `web` on the host, through the
/// kubelet-seccomp mount, recorded from birth.
fn wait_recorded_from_birth(run: &Running<'_>, c: &Value, ns: &str) {
    let on_host = localhost_on_host(run, c);
    let app = on_host.join(ns).join("web/app.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(app.exists() && allowed(&profile(&app)).iter().any(|n| n == "getpriority")) {
        assert!(
            Instant::now() < deadline,
            "{} never allowed getpriority; the agent's log:\n{}",
            app.display(),
            run.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !on_host.join(ns).join("web/app.not-from-birth").exists(),
        "{}",
        run.log()
    );
}

/// The agent's pod from the kustomization `overlay` on `rt`, with `publishers` added to
/// its arguments: it becomes ready, runs under the seccomp profile the manifest gives it,
/// records a pod from birth into the kubelet's seccomp directory through its mount (and
/// publishes it), reports a refusal if the manifest has it watch them, counts all that in
/// /metrics with no error, and stops cleanly. `tag` names the test's pods.
fn the_daemonset_records_a_pod_from_birth(
    rt: &CriRuntime,
    overlay: &Path,
    tag: &str,
    publishers: Option<Publishers>,
) {
    require_root();
    let ds = daemonset(overlay);
    let scratch = Scratch::new(&format!("pod-{tag}"));
    let regenerate =
        std::env::var_os("SECCOMP_RECORDER_AGENT_PROFILE").is_some_and(|v| v == "record");
    let own = scratch.path("own");
    let host = regenerate.then(|| HostAgent::start(rt, &own, scratch.path("host-agent.log")));
    let mut run = Running {
        cri: rt.client(),
        node: node_with_config_maps(rt, &ds, &scratch, publishers.as_ref()),
        ds: &ds,
        publishers,
        pod: None,
        agent: None,
    };
    let c = run.pod().agent().clone();
    assert_probes_on_listen_port(&c);
    run.cri.pull(&run.node.image);
    run.start(regenerate);
    run.wait_ready();
    if !regenerate {
        assert_confined_by_shipped_profile(&run, &c);
    }
    let ns = format!("pod-{}-{tag}", std::process::id());
    let workload = run
        .cri
        .run_pod(&PodSpec::new(&ns, "web").annotate(RECORD, "true"));
    let exit = run.cri.run(&workload, "app", &["getpriority"], None);
    assert_eq!(exit.code, 0, "{}", exit.log);
    wait_recorded_from_birth(&run, &c, &ns);
    if let Some(publishers) = &run.publishers {
        assert_published(&run, publishers, &ns);
    }
    if strs(&c["args"]).iter().any(|a| a == "--watch-refusals") {
        assert_refusal_reported_within_5_s(&run, &c, &scratch, &ns);
    }
    assert_metrics_count_it_without_errors(&run);
    run.cri.remove_pod(&workload);
    stops_cleanly(&mut run);
    if let Some(host) = host {
        merge_into_shipped(
            host,
            &own.join("seccomp-recorder/seccomp-recorder/agent.json"),
        );
    }
}

/// /metrics: up, the recorded container counted, and no error of any reason (a call its
/// profile lacked would fail with ENOSYS and be counted as one).
fn assert_metrics_count_it_without_errors(run: &Running<'_>) {
    let (code, metrics) = get(run.node.port, "/metrics").expect("/metrics answers");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("seccomp_recorder_up 1")
            && metrics.lines().any(|l| l
                .starts_with("seccomp_recorder_containers_recorded_total ")
                && l != "seccomp_recorder_containers_recorded_total 0"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("seccomp_recorder_errors_total{"))
            .all(|l| l.ends_with(" 0")),
        "{metrics}"
    );
}

/// Stopped as a pod deletion does, the agent writes every profile and exits 0, and its log
/// shows no call refused by its own profile.
fn stops_cleanly(run: &mut Running<'_>) {
    let (code, log) = run.stop();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("stopping: writing every profile"), "{log}");
    // A call its profile lacks gets ENOSYS, which the agent would report in an error.
    for refused in ["os error 38", "Function not implemented"] {
        assert!(!log.contains(refused), "{log}");
    }
    // It entered the host's cgroup namespace, or found it already in it (where setns is
    // refused, as on this machine).
    assert!(log.contains("the host's cgroup namespace"), "{log}");
}

/// Waits for the `--spo-dir` resource of the workload on the host, and for the node's share
/// of its profile in the `--push` repository.
fn assert_published(run: &Running<'_>, publishers: &Publishers, ns: &str) {
    let spo = run
        .node
        .seccomp_dir
        .join(SPO_DIR)
        .join(ns)
        .join("web/app.yaml");
    let share = format!("\"{ns}_web_app.node-");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let yaml = std::fs::read_to_string(&spo).unwrap_or_default();
        let listed = publishers.share_tags();
        if yaml.contains("kind: SeccompProfile")
            && yaml.contains("getpriority")
            && listed.contains(&share)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {yaml:?}, {}-shares lists {listed:?}; the agent's log:\n{}",
            spo.display(),
            publishers.push,
            run.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A pod that is not recorded, enforced with a Localhost profile that lacks getpriority
/// (EPERM) and asks the kernel to log the refusal (run by runc 1.3.6, which passes the flag
/// on): within 5 s of its start the agent reports the refusal as
/// namespace/workload/container/syscall in /metrics and in `<container>.refusals.json` next
/// to its Localhost file on the host.
fn assert_refusal_reported_within_5_s(run: &Running<'_>, c: &Value, scratch: &Scratch, ns: &str) {
    runc13();
    let refusing = scratch.path("refusing.json");
    let p = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    std::fs::write(&refusing, p.to_string()).unwrap();
    let mut spec = PodSpec::new(ns, "refused");
    spec.handler = RUNC13_HANDLER.into();
    let pod = run.cri.run_pod(&spec);
    let started = Instant::now();
    let id = run
        .cri
        .create(&pod, "app", &["getpriority", "linger"], Some(&refusing));
    run.cri.start(&id);
    let until = started + Duration::from_secs(5);
    let sample = format!(
        "seccomp_recorder_refusals_total{{namespace=\"{ns}\",workload=\"refused\",\
         container=\"app\",syscall=\"getpriority\",arch=\"x86_64\"}} 1"
    );
    let file = localhost_on_host(run, c)
        .join(ns)
        .join("refused/app.refusals.json");
    loop {
        let metrics = get(run.node.port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        if metrics.lines().any(|l| l == sample) && file.exists() {
            break;
        }
        assert!(
            Instant::now() < until,
            "within 5 s: {sample} in /metrics ({}), {} ({}); the agent's log:\n{}",
            metrics.contains(&sample),
            file.display(),
            file.exists(),
            run.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("refusal reported within {:?}", started.elapsed());
    let report = profile(&file);
    assert_eq!(
        (
            report["namespace"].as_str(),
            report["workload"].as_str(),
            report["container"].as_str()
        ),
        (Some(ns), Some("refused"), Some("app")),
        "{report}"
    );
    assert!(
        report["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["syscall"] == "getpriority" && r["arch"] == "x86_64" && r["count"] == 1),
        "{report}"
    );
    let exit = run.cri.wait_exit(&pod, "app", &id, Duration::from_secs(30));
    assert!(
        exit.log.contains("getpriority ret=-1 errno=1"),
        "{}",
        exit.log
    );
    run.cri.remove_pod(&pod);
}

#[test]
fn the_daemonset_on_containerd_records_a_pod_from_birth() {
    let overlay = workspace().join("deploy/base");
    the_daemonset_records_a_pod_from_birth(CriRuntime::get(), &overlay, "base", None);
}

#[test]
fn the_daemonset_on_crio_records_a_pod_from_birth() {
    let overlay = workspace().join("deploy/crio");
    the_daemonset_records_a_pod_from_birth(CriRuntime::crio(), &overlay, "crio", None);
}

/// deploy/components/refusals-audit added to an overlay (as docs/kubernetes.md shows), and
/// the publishers a user adds: the agent still runs under its own profile, publishes both
/// ways, and reports a refusal through the audit path, which the component's host network
/// and AUDIT_READ open.
/// On CRI-O: deploy/crio with deploy/components/refusals-audit and the patch
/// docs/kubernetes.md gives for a registry with a private CA (a ConfigMap mounted, and
/// `--ca-file` pointing at it), pushing over HTTPS to a registry whose certificate that CA
/// signed: the agent publishes both ways and reports a refusal through the audit path,
/// still under its own profile.
#[test]
fn on_crio_the_daemonset_pushes_over_https_with_the_documented_ca_and_reports_refusals() {
    let scratch = Scratch::new("pod-crio-ca");
    let overlay = overlay_with_documented_ca(
        &scratch.path("overlay"),
        &workspace().join("deploy/crio"),
        &[&workspace().join("deploy/components/refusals-audit")],
    );
    let c = &daemonset(&overlay)["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(flag(c, "--ca-file"), "/etc/registry-ca/ca.crt");
    the_daemonset_records_a_pod_from_birth(
        CriRuntime::crio(),
        &overlay,
        "crio-ca",
        Some(Publishers::over_https()),
    );
}

#[test]
fn the_daemonset_with_the_refusals_component_and_publishers_runs_under_its_own_profile() {
    let scratch = Scratch::new("pod-overlay");
    let overlay = overlay_with_components(
        &scratch.path("overlay"),
        &workspace().join("deploy/containerd"),
        &[&workspace().join("deploy/components/refusals-audit")],
    );
    the_daemonset_records_a_pod_from_birth(
        CriRuntime::get(),
        &overlay,
        "refusals",
        Some(Publishers::new()),
    );
}
