//! `seccomp-recorder agent` against containerd's real CRI plugin, driven as the kubelet
//! drives it: pods with labels, annotations and a cgroup parent, init and app containers
//! created, started, stopped and removed. The agent follows every new cgroup of the host,
//! so each test keeps to a namespace of its own and looks only there.

use seccomp_recorder_tests::agent::{
    Agent, collect, entries, free_addr, get, localhost_args, metric, namespace, start_agent,
    start_logging, wait_calls,
};
use seccomp_recorder_tests::auditd::Auditd;
use seccomp_recorder_tests::cri::{Client, CriRuntime, Pod, PodSpec, RUNC13_HANDLER};
use seccomp_recorder_tests::crio::{CrioOptions, LAYOUTS_HANDLER};
use seccomp_recorder_tests::engines::run_ok;
use seccomp_recorder_tests::registry::{Registry, raw_manifest};
use seccomp_recorder_tests::runc::runc13;
use seccomp_recorder_tests::{
    Scratch, allowed, bin, logs, profile, require_root, sha256, wait_until, workspace,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RECORD: &str = "seccomp-recorder.io/record";
const WORKLOAD: &str = "seccomp-recorder.io/workload";

fn ok(exit: &seccomp_recorder_tests::cri::Exit, what: &str) {
    assert_eq!(exit.code, 0, "{what} failed: {}", exit.log);
}

#[test]
fn replicas_merge_into_one_profile_from_birth_and_it_is_enforced() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let out = Scratch::new("agent-birth");
    let dir = out.path("localhost");
    let agent = start_agent(rt, &localhost_args(&dir));
    let ns = namespace("birth");
    let hash = "5d8f7c9b6d";
    let replica = |suffix: &str| {
        PodSpec::new(&ns, &format!("web-{hash}-{suffix}"))
            .label("pod-template-hash", hash)
            .annotate(RECORD, "true")
    };

    let a = cri.run_pod(&replica("x2k4q"));
    ok(
        &cri.run(&a, "init", &["sched_get_priority_max"], None),
        "init",
    );
    ok(&cri.run(&a, "app", &["getpriority"], None), "replica a");
    let other = cri.run_pod(&PodSpec::new(&ns, "other"));
    ok(&cri.run(&other, "app", &["getpriority"], None), "other");
    let b = cri.run_pod(&replica("b7z9m"));
    ok(
        &cri.run(&b, "app", &["sched_getscheduler"], None),
        "replica b",
    );
    // A static binary making one call: its process lives about a millisecond.
    ok(&cri.run(&b, "blink", &["times"], None), "blink");

    let web = dir.join(&ns).join("web");
    let app = web.join("app.json");
    let names = wait_calls(&app, &["getpriority", "sched_getscheduler"], &agent);
    wait_calls(&web.join("init.json"), &["sched_get_priority_max"], &agent);
    wait_calls(&web.join("blink.json"), &["times"], &agent);
    // The unannotated pod was decided on before replica b started; the sandboxes' pause
    // containers are no profiles; everything was recorded from birth (no mark).
    assert_eq!(entries(&dir.join(&ns)), ["web"], "{}", agent.log());
    assert_eq!(
        entries(&web),
        ["app.json", "blink.json", "init.json"],
        "{}",
        agent.log()
    );
    assert!(!names.iter().any(|n| n == "getitimer"));

    let enforced = enforce_recorded(&cri, &ns, &app);
    for p in [&a, &other, &b, &enforced] {
        cri.remove_pod(p);
    }
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
    assert!(log.contains(&format!("{ns}/web-{hash}-x2k4q/app")), "{log}");
}

/// A pod `enforced` whose container runs under the recorded profile `app`: it starts, its
/// recorded `getpriority` is allowed and `getitimer`, never recorded, gets ENOSYS.
fn enforce_recorded(cri: &Client, ns: &str, app: &Path) -> Pod {
    let enforced = cri.run_pod(&PodSpec::new(ns, "enforced"));
    let e = cri.run(&enforced, "app", &["getpriority", "getitimer"], Some(app));
    assert_eq!(e.code, 0, "the recorded profile broke the start: {}", e.log);
    assert!(
        e.log.contains("getpriority ret=") && !e.log.contains("getpriority ret=-1 errno=38"),
        "{}",
        e.log
    );
    assert!(
        e.log.contains("getitimer ret=-1 errno=38"),
        "a call never recorded must get ENOSYS: {}",
        e.log
    );
    enforced
}

/// A pod of the `layouts` runtime handler: `name` runs `/bin/probe CALL` with `env` in its
/// environment (see `LAYOUTS_RUNC` in tests/src/cri.rs), and must succeed.
fn run_laid_out(cri: &Client, pod: &Pod, name: &str, call: &str, env: (&str, &str)) {
    let mut config = cri.config(pod, name, &[call], None);
    config.envs = vec![k8s_cri::v1::KeyValue {
        key: env.0.into(),
        value: env.1.into(),
    }];
    let id = cri.create_with(pod, config);
    cri.start(&id);
    ok(
        &cri.wait_exit(pod, name, &id, Duration::from_secs(60)),
        name,
    );
}

/// crun with the systemd driver (CRI-O 1.31 and later) runs the workload in a `container`
/// child of the container's cgroup, made with it, before CRI-O names the container; and a
/// create can take longer than the agent's 5 s grace. The agent records both from birth
/// (issue 20), on CRI-O with a runc that lays them out so.
#[test]
fn on_crio_a_workload_in_a_child_cgroup_and_a_slow_create_are_recorded_from_birth() {
    require_root();
    let rt = CriRuntime::crio();
    let cri = rt.client();
    let out = Scratch::new("agent-layouts");
    let dir = out.path("localhost");
    let listen = free_addr();
    let mut args = localhost_args(&dir);
    args.extend(["--listen".to_string(), listen.clone()]);
    let mut agent = start_agent(rt, &args);
    let ns = namespace("layouts");
    let pod = cri.run_pod(
        &PodSpec::new(&ns, "crun")
            .annotate(RECORD, "true")
            .handler(LAYOUTS_HANDLER),
    );
    run_laid_out(
        &cri,
        &pod,
        "sub",
        "sched_get_priority_max",
        ("SCTEST_SUBGROUP", "1"),
    );
    run_laid_out(
        &cri,
        &pod,
        "slow",
        "sched_getscheduler",
        ("SCTEST_SLOW_CREATE", "7"),
    );
    let profiles = dir.join(&ns).join("crun");
    wait_calls(
        &profiles.join("sub.json"),
        &["sched_get_priority_max"],
        &agent,
    );
    wait_calls(&profiles.join("slow.json"), &["sched_getscheduler"], &agent);
    agent.wait_log("the runtime does not know it yet", Duration::from_secs(5));
    let (_, metrics) = get(&listen, "/metrics");
    // The slow container is counted; on a loaded machine the sandbox and the other
    // container can outlive the grace period too, and are rightly counted with it.
    assert!(
        metric(&metrics, "seccomp_recorder_slow_creates_total") >= 1,
        "{metrics}"
    );
    cri.remove_pod(&pod);
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
    assert!(
        log.contains(&format!("{ns}/crun/slow: recording from its start")),
        "{log}"
    );
}

/// /metrics parses as Prometheus text; the pod's profile has its own labelled series, the
/// build and the kernel maps are described, and errors carry a reason.
fn check_metrics(text: &str, ns: &str) {
    let (types, samples) = seccomp_recorder_tests::prometheus::parse(text)
        .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"));
    let one = |name: &str| {
        let all: Vec<_> = samples.iter().filter(|s| s.name == name).collect();
        assert_eq!(all.len(), 1, "{name} in:\n{text}");
        all[0].clone()
    };
    for (name, kind) in &types {
        assert!(name.starts_with("seccomp_recorder_"), "{name}");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}"
        );
    }
    let ours: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "seccomp_recorder_profile_containers_total")
        .filter(|s| s.labels.get("namespace").map(String::as_str) == Some(ns))
        .collect();
    assert_eq!(ours.len(), 1, "{text}");
    let want = [("namespace", ns), ("workload", "api"), ("container", "app")];
    let want = want.map(|(k, v)| (k.to_string(), v.to_string())).into();
    assert_eq!(ours[0].labels, want);
    assert_eq!(ours[0].value, 1.0);

    let build = one("seccomp_recorder_build_info");
    assert_eq!(build.value, 1.0);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(build.labels["kernel"], release.trim());
    assert!(["btf", "raw", "tracepoint"].contains(&build.labels["attach"].as_str()));
    let cargo = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let version = format!("version = \"{}\"", build.labels["version"]);
    assert!(cargo.lines().any(|l| l == version), "{version}");
    let head = Command::new("git")
        .arg("-C")
        .arg(workspace())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(build.labels["commit"], head.trim());

    // At least this test's container is followed, far below the maps' 2048 cgroups.
    let followed = one("seccomp_recorder_followed_cgroups").value;
    let capacity = one("seccomp_recorder_kernel_map_capacity").value;
    assert_eq!(capacity, 2048.0);
    assert!((1.0..capacity).contains(&followed), "{followed}");
    let ratio = one("seccomp_recorder_kernel_map_used_ratio").value;
    assert!((ratio - followed / capacity).abs() < 1e-9, "{ratio}");

    assert_eq!(types["seccomp_recorder_errors_total"], "counter");
    for s in samples
        .iter()
        .filter(|s| s.name == "seccomp_recorder_errors_total")
    {
        assert_eq!(s.labels.keys().collect::<Vec<_>>(), ["reason"], "{text}");
    }
}

/// Healthy, and the counters of recorded containers and pods exist and counted.
fn healthy_and_counting(listen: &str, ns: &str) {
    // Ready once start-up has taken in what runs already, which can end after the
    // container that was waited for has been named.
    wait_answer(listen, "/healthz", "200", Duration::from_secs(30));
    let (_, metrics) = get(listen, "/metrics");
    assert!(
        metrics.contains("seccomp_recorder_up 1")
            && metrics.contains("# TYPE seccomp_recorder_containers_recorded_total counter"),
        "{metrics}"
    );
    // Other tests' pods may be counted too: this agent follows the whole host.
    assert!(metric(&metrics, "seccomp_recorder_containers_recorded_total") >= 1);
    assert!(metric(&metrics, "seccomp_recorder_pods_recorded_total") >= 1);
    check_metrics(&metrics, ns);
}

/// Pod `name` in `ns`, annotated to be recorded as `workload`.
fn recorded(ns: &str, name: &str, workload: &str) -> PodSpec {
    PodSpec::new(ns, name)
        .annotate(RECORD, "true")
        .annotate(WORKLOAD, workload)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("scratch paths are UTF-8")
}

/// The SPO resource of `workload`'s container "app" in `ns` holds every one of `needles`.
fn spo_says(spo: &Path, ns: &str, workload: &str, needles: &[&str]) {
    let path = spo.join(ns).join(workload).join("app.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(needles.iter().all(|n| yaml.contains(n)), "{yaml}");
}

/// The profile at `path` allows every one of `calls` (`log`: the agent's, for the failure).
fn assert_allows(path: &Path, calls: &[&str], log: &str) {
    let names = allowed(&profile(path));
    assert!(
        calls.iter().all(|c| names.iter().any(|n| n == c)),
        "{} allows {names:?}, not all of {calls:?}\n{log}",
        path.display()
    );
}

/// A restarted agent found api-first's and late's containers running: recorded from now
/// on, said so and counted.
fn found_already_running(agent: &mut Agent, listen: &str, ns: &str) {
    let line = agent.wait_log(
        &format!("{ns}/api-first/app: already running"),
        Duration::from_secs(10),
    );
    assert!(line.contains("start-up is missing"), "{line}");
    agent.wait_log(
        &format!("{ns}/late/app: already running"),
        Duration::from_secs(10),
    );
    let (_, metrics) = get(listen, "/metrics");
    assert!(metric(&metrics, "seccomp_recorder_containers_not_from_birth_total") >= 2);
}

#[test]
fn sigterm_writes_what_it_has_and_a_restart_keeps_merging() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let out = Scratch::new("agent-restart");
    let dir = out.path("localhost");
    let spo = out.path("spo");
    let listen = free_addr();
    let mut args = localhost_args(&dir);
    args.extend(["--spo-dir", path_str(&spo), "--listen", &listen].map(String::from));
    let mut agent = start_agent(rt, &args);
    let ns = namespace("restart");
    let first = cri.run_pod(&recorded(&ns, "api-first", "api"));
    let long = start_logging(
        rt,
        &first,
        &["/bin/sh", "-c", "/bin/probe getpriority; exec sleep 1000"],
        "getpriority ret=",
    );
    // The agent names a container from its CRI poll, which can come after the container's
    // first output: wait for it before reading the counters.
    let label = format!("{ns}/api-first/app");
    agent.wait_line(
        &[label.as_str(), "recording from its start"],
        Duration::from_secs(30),
    );
    healthy_and_counting(&listen, &ns);

    // Still running, flush an hour away: only SIGTERM writes it.
    let app = dir.join(&ns).join("api/app.json");
    assert!(!app.exists());
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
    assert_allows(&app, &["getpriority"], &log);
    let in_ns = format!("namespace: {ns}");
    spo_says(
        &spo,
        &ns,
        "api",
        &["kind: SeccompProfile", &in_ns, "getpriority"],
    );

    // A pod started while no agent runs.
    let late = cri.run_pod(&recorded(&ns, "late", "late"));
    let looping = "while true; do /bin/probe times; sleep 0.1; done";
    start_logging(rt, &late, &["/bin/sh", "-c", looping], "times ret=");

    // The restarted agent finds both running: not from birth, said so.
    let mut agent = start_agent(rt, &args);
    found_already_running(&mut agent, &listen, &ns);
    let second = cri.run_pod(&recorded(&ns, "api-second", "api"));
    ok(
        &cri.run(&second, "app", &["sched_getscheduler"], None),
        "second",
    );
    wait_calls(&app, &["getpriority", "sched_getscheduler"], &agent);
    cri.stop(&long);
    // The first recording was from birth, so the merged profile is not marked.
    assert!(!dir.join(&ns).join("api/app.not-from-birth").exists());
    for p in [&first, &second] {
        cri.remove_pod(p);
    }
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
    assert_allows(&app, &["getpriority", "sched_getscheduler"], &log);
    // The late pod's only recording is not from birth: its profile is marked.
    assert_allows(&dir.join(&ns).join("late/app.json"), &["times"], &log);
    assert!(dir.join(&ns).join("late/app.not-from-birth").exists());
    spo_says(
        &spo,
        &ns,
        "late",
        &["seccomp-recorder.io/not-from-birth: \"true\""],
    );
    cri.remove_pod(&late);
}

#[test]
fn selection_by_annotation_selector_and_opt_outs_and_malformed_annotations_reported() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let out = Scratch::new("agent-select");
    let dir = out.path("localhost");
    let ns = namespace("select");
    let mut args = localhost_args(&dir);
    args.extend(["--selector".into(), format!("tier={ns}")]);
    let mut agent = start_agent(rt, &args);

    let bad = cri.run_pod(&PodSpec::new(&ns, "typo").annotate(RECORD, "yes"));
    ok(&cri.run(&bad, "app", &["getpriority"], None), "typo");
    let line = agent.wait_log(&format!("pod {ns}/typo"), Duration::from_secs(20));
    assert!(
        line.contains(RECORD) && line.contains("'yes'") && line.contains("not recorded"),
        "{line}"
    );
    let opted_out = cri.run_pod(
        &PodSpec::new(&ns, "opted-out")
            .label("tier", &ns)
            .annotate(RECORD, "false"),
    );
    ok(
        &cri.run(&opted_out, "app", &["getpriority"], None),
        "opted-out",
    );
    let labeled = cri.run_pod(&PodSpec::new(&ns, "labeled").label("tier", &ns));
    ok(&cri.run(&labeled, "app", &["getpriority"], None), "labeled");
    let fine = cri.run_pod(
        &PodSpec::new(&ns, "fine")
            .annotate(RECORD, "true")
            .annotate("seccomp-recorder.io/skip-containers", "sidecar"),
    );
    ok(
        &cri.run(&fine, "sidecar", &["getpriority"], None),
        "sidecar",
    );
    ok(
        &cri.run(&fine, "app", &["sched_getscheduler"], None),
        "fine",
    );

    wait_calls(
        &dir.join(&ns).join("labeled/app.json"),
        &["getpriority"],
        &agent,
    );
    wait_calls(
        &dir.join(&ns).join("fine/app.json"),
        &["sched_getscheduler"],
        &agent,
    );
    assert!(agent.running());
    assert_eq!(entries(&dir.join(&ns)), ["fine", "labeled"]);
    assert_eq!(entries(&dir.join(&ns).join("fine")), ["app.json"]);
    for p in [&bad, &opted_out, &labeled, &fine] {
        cri.remove_pod(p);
    }
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

#[test]
fn flush_interval_and_pod_removal_write_running_containers() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let out = Scratch::new("agent-flush");
    let ns = namespace("flush");
    let long = ["/bin/sh", "-c", "/bin/probe getpriority; exec sleep 1000"];

    // Every second: the profile appears while its container still runs.
    let flushed = out.path("flushed");
    let agent = start_agent(
        rt,
        &[
            "--localhost-dir".into(),
            flushed.display().to_string(),
            "--flush-interval".into(),
            "1s".into(),
        ],
    );
    let pod = cri.run_pod(&PodSpec::new(&ns, "ticker").annotate(RECORD, "true"));
    let id = cri.create(&pod, "app", &long, None);
    cri.start(&id);
    wait_calls(
        &flushed.join(&ns).join("ticker/app.json"),
        &["getpriority"],
        &agent,
    );
    cri.remove_pod(&pod);
    drop(agent);

    // Flushes an hour apart: deleting the pod is what writes it.
    let removed = out.path("removed");
    let agent = start_agent(rt, &localhost_args(&removed));
    let pod = cri.run_pod(&PodSpec::new(&ns, "deleted").annotate(RECORD, "true"));
    start_logging(rt, &pod, &long, "getpriority ret=");
    let app = removed.join(&ns).join("deleted/app.json");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!app.exists(), "written before the pod went away");
    cri.remove_pod(&pod);
    wait_calls(&app, &["getpriority"], &agent);
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

#[test]
fn an_unreachable_runtime_is_a_clear_error_and_no_crash_loop() {
    require_root();
    let rt = CriRuntime::get();
    let out = Scratch::new("agent-nosock");
    let sock = out.path("missing.sock");
    let listen = free_addr();
    let endpoint = format!("unix://{}", sock.display());
    let mut agent = Agent::start(
        &[
            "--runtime-endpoint",
            &endpoint,
            "--localhost-dir",
            out.path("p").to_str().unwrap(),
            "--listen",
            &listen,
        ],
        "cannot reach the container runtime",
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(agent.running(), "{}", agent.log());
    let log = agent.log();
    assert!(
        log.contains(&endpoint) && log.contains("no such socket"),
        "{log}"
    );
    assert_eq!(
        log.matches("cannot reach").count(),
        1,
        "the same error is said once, not every retry:\n{log}"
    );
    let (status, body) = get(&listen, "/healthz");
    assert!(status.contains("503"), "{status}");
    assert!(body.contains("missing.sock"), "{body}");
    // Away is not stuck: the kubelet must not restart the agent for it.
    let (status, body) = get(&listen, "/livez");
    assert!(status.contains("200"), "{status} {body}");

    // The runtime comes up late: the agent connects by itself and turns healthy.
    std::os::unix::fs::symlink(&rt.sock, &sock).unwrap();
    agent.wait_log("recording via", Duration::from_secs(30));
    wait_answer(&listen, "/healthz", "200", Duration::from_secs(30));
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");

    let bad = Command::new(bin())
        .args(["agent", "--runtime-endpoint", "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("'tcp://127.0.0.1:1' is not a unix socket"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// A unix socket in front of the runtime's: it forwards, or holds every byte (a runtime
/// that accepts and never answers), or closes every connection (a runtime that is away).
struct Relay {
    mode: Arc<std::sync::atomic::AtomicU8>,
    sock: PathBuf,
}

const FORWARD: u8 = 0;
const HOLD: u8 = 1;
const AWAY: u8 = 2;

impl Relay {
    fn start(sock: PathBuf, to: PathBuf) -> Relay {
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::{AtomicU8, Ordering};
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let listener = UnixListener::bind(&sock).unwrap();
        let m = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if m.load(Ordering::SeqCst) == AWAY {
                    continue;
                }
                let Ok(server) = UnixStream::connect(&to) else {
                    continue;
                };
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            while m.load(Ordering::SeqCst) == HOLD {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            if n == 0 || m.load(Ordering::SeqCst) == AWAY {
                                break;
                            }
                            if into.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { mode, sock }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits until `path` answers with `status`.
fn wait_answer(listen: &str, path: &str, status: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (st, body) = get(listen, path);
        if st.contains(status) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} still says {st} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn livez_fails_when_the_loop_is_stuck_and_not_when_the_runtime_is_away() {
    require_root();
    let rt = CriRuntime::get();
    let out = Scratch::new("agent-livez");
    let relay = Relay::start(out.path("relay.sock"), rt.sock.clone());
    let listen = free_addr();
    let endpoint = format!("unix://{}", relay.sock.display());
    let agent = Agent::start(
        &[
            "--runtime-endpoint",
            &endpoint,
            "--localhost-dir",
            out.path("p").to_str().unwrap(),
            "--listen",
            &listen,
        ],
        "recording via",
    );
    wait_answer(&listen, "/healthz", "200", Duration::from_secs(10));
    wait_answer(&listen, "/livez", "200", Duration::from_secs(10));

    // The runtime holds its answers: the loop waits in a CRI call (10 s timeout) and stops
    // turning, while the HTTP thread still answers.
    relay.set(HOLD);
    let why = wait_answer(&listen, "/livez", "503", Duration::from_secs(15));
    assert!(why.contains("main loop has not turned"), "{why}");
    relay.set(FORWARD);
    wait_answer(&listen, "/livez", "200", Duration::from_secs(30));

    // The runtime goes away: not ready, still live.
    relay.set(AWAY);
    wait_answer(&listen, "/healthz", "503", Duration::from_secs(30));
    for _ in 0..20 {
        let (st, body) = get(&listen, "/livez");
        assert!(st.contains("200"), "{st} {body}\n{}", agent.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    relay.set(FORWARD);
    wait_answer(&listen, "/healthz", "200", Duration::from_secs(30));
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

/// Over HTTPS, to a registry whose certificate a private CA signed, trusted with
/// `--ca-file` as docs/kubernetes.md has the DaemonSet do.
#[test]
fn push_over_https_with_a_private_ca_publishes_what_skopeo_reads() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let registry = Registry::with_tls();
    let ca = registry.ca.clone().unwrap();
    let out = Scratch::new("agent-push");
    let dir = out.path("localhost");
    let repo = registry.reference("team/seccomp");
    let mut args = localhost_args(&dir);
    args.extend(["--push".into(), repo.clone()]);
    args.extend(["--ca-file".into(), ca.display().to_string()]);
    let mut agent = start_agent(rt, &args);
    let ns = namespace("push");
    let pod = cri.run_pod(&PodSpec::new(&ns, "pusher").annotate(RECORD, "true"));
    ok(&cri.run(&pod, "app", &["getpriority"], None), "pusher");
    let line = agent.wait_stdout(&format!("{ns}/pusher/app "), Duration::from_secs(30));
    let reference = line.split_whitespace().nth(1).unwrap().to_string();
    let digest = reference
        .strip_prefix(&format!("{repo}@"))
        .unwrap_or_else(|| panic!("not {repo}@DIGEST: {line}"));
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=true", "--cert-dir"])
            .arg(registry.cert_dir())
            .arg(format!("docker://{reference}")),
    )
    .stdout;
    assert_eq!(sha256(&raw), digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.seccomp-profile.config.v1+json"
    );
    let file = std::fs::read(dir.join(&ns).join("pusher/app.json")).unwrap();
    assert_eq!(manifest["layers"][0]["digest"], sha256(&file).as_str());
    // Recorded unconfined from birth, the profile holds runc's setup, which containerd's
    // RuntimeDefault refuses: a KEP-6061 node would intersect it away, and is warned about.
    let warning = agent.wait_line(
        &[&format!("{ns}/pusher/app: KEP-6061"), "refuses"],
        Duration::from_secs(5),
    );
    assert!(warning.contains("pivot_root"), "{warning}");
    cri.remove_pod(&pod);
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

/// Without its CA, the agent's push to an HTTPS registry fails with the error `push` gives
/// (the registry, the certificate's problem, `--ca-file`) in its log, counted as an error,
/// and nothing reaches the registry.
#[test]
fn push_to_an_untrusted_registry_logs_the_certificate_problem() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let registry = Registry::with_tls();
    let out = Scratch::new("agent-push-untrusted");
    let dir = out.path("localhost");
    let listen = free_addr();
    let mut args = localhost_args(&dir);
    args.extend(["--push".into(), registry.reference("team/seccomp")]);
    args.extend(["--listen".into(), listen.clone()]);
    let mut agent = start_agent(rt, &args);
    let ns = namespace("untrusted");
    let pod = cri.run_pod(&PodSpec::new(&ns, "pusher").annotate(RECORD, "true"));
    ok(&cri.run(&pod, "app", &["getpriority"], None), "pusher");
    let refused = format!(
        "registry {} sent an HTTPS certificate that was refused",
        registry.addr
    );
    let line = agent.wait_line(
        &[&format!("{ns}/pusher/app"), &refused],
        Duration::from_secs(30),
    );
    assert!(line.contains("--ca-file FILE"), "{line}");
    // Counted when it is logged, as a publish or a sync error as the timing falls.
    wait_until(
        "the registry error counted",
        Duration::from_secs(10),
        || {
            let (_, metrics) = get(&listen, "/metrics");
            metrics
                .lines()
                .filter_map(|l| l.strip_prefix("seccomp_recorder_errors_total{reason=\""))
                .filter(|l| l.starts_with("publish\"}") || l.starts_with("sync\"}"))
                .any(|l| !l.ends_with(" 0"))
        },
    );
    assert!(
        !registry
            .storage()
            .join("docker/registry/v2/repositories")
            .exists(),
        "something was pushed"
    );
    cri.remove_pod(&pod);
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

/// CRI-O 1.32 with container events on (the kubelet's Evented PLEG): the agent follows
/// GetContainerEvents, its polls an hour apart, so only an event can tell it the container
/// exited and have the profile written; recorded from birth, CRI-O enforces it as Localhost.
#[test]
fn crio_pods_are_recorded_from_birth_on_its_events_and_enforced() {
    let log = record_and_enforce_on_crio(CriRuntime::crio(), "1h");
    // CRI-O opens the stream with its first event.
    assert!(log.contains("following container events from"), "{log}");
}

/// CRI-O's default ends the event stream at once: the agent says so, and its polls find
/// the exit.
#[test]
fn crio_pods_are_recorded_from_birth_by_polling_without_events() {
    let log = record_and_enforce_on_crio(CriRuntime::crio_without_events(), "500ms");
    assert!(
        log.contains("no container events from") && log.contains("polling the CRI"),
        "{log}"
    );
}

/// A replica recorded from birth through CRI-O, then enforced by it; the agent's log.
fn record_and_enforce_on_crio(rt: &CriRuntime, poll: &str) -> String {
    require_root();
    let cri = rt.client();
    let out = Scratch::new("agent-crio");
    let dir = out.path("localhost");
    let mut args = localhost_args(&dir);
    args.extend(["--poll-interval".into(), poll.into()]);
    args.extend(["--resync-interval".into(), poll.into()]);
    let agent = start_agent(rt, &args);
    let ns = namespace(&format!("crio-{poll}"));
    let hash = "5d8f7c9b6d";
    let pod = cri.run_pod(
        &PodSpec::new(&ns, &format!("web-{hash}-x2k4q"))
            .label("pod-template-hash", hash)
            .annotate(RECORD, "true"),
    );
    ok(&cri.run(&pod, "app", &["getpriority"], None), "app");
    let app = dir.join(&ns).join("web/app.json");
    let names = wait_calls(&app, &["getpriority"], &agent);
    assert!(!names.iter().any(|n| n == "getitimer"), "{names:?}");
    assert_eq!(entries(&dir.join(&ns).join("web")), ["app.json"]);

    let enforced = enforce_recorded(&cri, &ns, &app);
    for p in [&pod, &enforced] {
        cri.remove_pod(p);
    }
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
    assert!(log.contains("connected to cri-o 1.32"), "{log}");
    log
}

/// The agent joins the host's cgroup namespace by itself (setns on /proc/1/ns/cgroup) from
/// a private one such as a pod gets. Where that is refused (this machine refuses /proc/1/ns
/// even to root), a private namespace would hide other pods' cgroup paths: the agent says
/// so and how to run it, and does not start.
#[test]
fn from_a_private_cgroup_namespace_the_agent_enters_the_hosts_or_says_why_not() {
    require_root();
    let rt = CriRuntime::get();
    let out = Scratch::new("agent-cgns");
    let mount = seccomp_recorder::cgroup::mount_point().expect("a cgroup2 mount");
    let cgroup = mount.join(format!("scr-agent-cgns-{}", std::process::id()));
    std::fs::create_dir_all(&cgroup).unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec unshare --cgroup -- {} agent --runtime-endpoint {} \
         --localhost-dir {}",
        cgroup.display(),
        bin().display(),
        rt.endpoint(),
        out.path("p").display()
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("recording via"))
        {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        assert!(Instant::now() < deadline, "{:?}", stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let log = stderr.lock().unwrap().join("\n");
    let _ = std::fs::remove_dir(&cgroup);
    if std::fs::read_link("/proc/1/ns/cgroup").is_ok() {
        assert!(status.is_none(), "{log}");
        assert!(log.contains("entered the host's cgroup namespace"), "{log}");
    } else {
        assert!(status.is_some_and(|s| !s.success()), "{log}");
        assert!(
            log.contains("cannot enter the host's cgroup namespace (/proc/1/ns/cgroup: ")
                && log.contains("this process is / in it")
                && log.contains("hostPID"),
            "{log}"
        );
    }
}

/// The labels the kubelet passes to the runtime for the pods of Kubernetes' controllers
/// (as the controllers of Kubernetes 1.33 set them), by pod name.
fn controller_pods() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let job = |job: &str, uid: &str| {
        vec![
            ("batch.kubernetes.io/job-name", job.to_string()),
            ("job-name", job.to_string()),
            ("batch.kubernetes.io/controller-uid", uid.to_string()),
            ("controller-uid", uid.to_string()),
        ]
    };
    let index = |i: &str| {
        let mut l = job("shard", "c1");
        l.push(("batch.kubernetes.io/job-completion-index", i.to_string()));
        l
    };
    let ordinal = |pod: &str, i: &str| {
        vec![
            ("statefulset.kubernetes.io/pod-name", pod.to_string()),
            ("controller-revision-hash", "db-6d8f7c9b5".to_string()),
            ("apps.kubernetes.io/pod-index", i.to_string()),
        ]
    };
    let replica = || vec![("pod-template-hash", "7c9b6d5d8f".to_string())];
    let daemon = || {
        vec![
            ("controller-revision-hash", "6b4d8f9c7".to_string()),
            ("pod-template-generation", "1".to_string()),
        ]
    };
    vec![
        // Two runs of CronJob "backup".
        ("backup-29384756-x2k4q", job("backup-29384756", "a1")),
        ("backup-29384757-b7z9m", job("backup-29384757", "b1")),
        // Two indexes of Indexed Job "shard".
        ("shard-0-m2x9q", index("0")),
        ("shard-1-q7z2m", index("1")),
        // Two ordinals of StatefulSet "db".
        ("db-0", ordinal("db-0", "0")),
        ("db-1", ordinal("db-1", "1")),
        // Two replicas of Deployment "api-2", whose name ends in a digit.
        ("api-2-7c9b6d5d8f-b7z9m", replica()),
        ("api-2-7c9b6d5d8f-x2k4q", replica()),
        // Two pods of DaemonSet "logs".
        ("logs-x2k4q", daemon()),
        ("logs-b7z9m", daemon()),
    ]
}

#[test]
fn controllers_pods_with_the_kubelets_labels_give_one_profile_per_workload() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let out = Scratch::new("agent-controllers");
    let dir = out.path("localhost");
    let agent = start_agent(rt, &localhost_args(&dir));
    let ns = namespace("controllers");
    let mut pods = Vec::new();
    // The first pod of each workload makes one call, the second another.
    for (i, (name, labels)) in controller_pods().into_iter().enumerate() {
        let spec = labels
            .iter()
            .fold(PodSpec::new(&ns, name), |p, (k, v)| p.label(k, v))
            .annotate(RECORD, "true");
        let pod = cri.run_pod(&spec);
        let call = if i % 2 == 0 { "getpriority" } else { "times" };
        ok(&cri.run(&pod, "app", &[call], None), name);
        pods.push(pod);
    }
    let workloads = ["api-2", "backup", "db", "logs", "shard"];
    for workload in workloads {
        wait_calls(
            &dir.join(&ns).join(workload).join("app.json"),
            &["getpriority", "times"],
            &agent,
        );
    }
    assert_eq!(entries(&dir.join(&ns)), workloads, "{}", agent.log());
    for p in &pods {
        cri.remove_pod(p);
    }
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

/// The union's size in the first profile the agent wrote after `after` (a container's
/// exit): what the union holds with that run in.
fn union_size_after(agent: &Agent, after: &str, wrote: &str) -> u64 {
    let what = format!("'{wrote}' after '{after}'");
    agent.wait_for(&what, Duration::from_secs(30), |a| {
        let log = a.stderr.lock().unwrap();
        let from = log.iter().position(|l| l.contains(after))?;
        let line = log[from..].iter().find(|l| l.contains(wrote))?;
        let calls = line.split(" (").nth(1)?.split(" calls").next()?;
        calls.parse::<u64>().ok()
    })
}

/// The status sidecar of a Localhost profile once it says `field` is at least `at_least`.
fn wait_status(path: &Path, field: &str, at_least: u64, agent: &Agent) -> serde_json::Value {
    let what = format!("{} with {field} >= {at_least}", path.display());
    agent.wait_for(&what, Duration::from_secs(30), |_| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).unwrap();
        v[field]
            .as_u64()
            .is_some_and(|n| n >= at_least)
            .then_some(v)
    })
}

/// What `ls REPO --format json` says of the one workload in `ns`.
fn listed(repo: &str, ns: &str) -> serde_json::Value {
    let list = run_ok(Command::new(bin()).args(["ls", repo, "--format", "json"])).stdout;
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["namespace"] == ns)
        .cloned()
        .unwrap_or_else(|| panic!("{ns} not listed: {list:#}"))
}

/// Idle for 5 s: per sync, one HEAD of the stable `tag` and one tag list, nothing else
/// for it.
fn idle_syncs_are_one_head(registry: &Registry, tag: &str) {
    let before = registry.requests().len();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let syncs = started.elapsed().as_secs() + 1;
    let idle: Vec<(String, String)> = registry.requests()[before..].to_vec();
    let ours: Vec<&(String, String)> = idle.iter().filter(|(_, u)| u.contains(tag)).collect();
    assert!(
        ours.iter().all(|(m, _)| m == "HEAD") && ours.len() as u64 <= syncs,
        "{syncs} syncs made {ours:?}"
    );
    let lists = idle
        .iter()
        .filter(|(_, u)| u.contains("/tags/list"))
        .count() as u64;
    assert!(lists <= syncs, "{syncs} syncs listed tags {lists} times");
}

#[test]
fn cronjob_runs_become_stable_in_ls_and_an_idle_sync_is_one_head() {
    require_root();
    let rt = CriRuntime::get();
    let cri = rt.client();
    let registry = Registry::start();
    let repo = registry.reference("team/seccomp");
    let out = Scratch::new("agent-stable");
    let dir = out.path("localhost");
    let mut args = localhost_args(&dir);
    args.extend(
        [
            "--push",
            &repo,
            "--node-name",
            "node-1",
            "--sync-interval",
            "1s",
            "--stable-after",
            "5",
        ]
        .map(String::from),
    );
    let agent = start_agent(rt, &args);
    let ns = namespace("stable");
    let status = dir.join(&ns).join("nightly/app.status.json");
    // Each run of CronJob "nightly" makes the same call; the union's size after each run
    // says (independently of the agent's counting) which runs added a call.
    let mut sizes = Vec::new();
    let quiet = |sizes: &[u64]| sizes.windows(2).rev().take_while(|w| w[0] == w[1]).count() as u64;
    for run in 0..14u64 {
        let job = format!("nightly-{}", 29384750 + run);
        let pod = cri.run_pod(
            &PodSpec::new(&ns, &format!("{job}-x2k4q"))
                .label("batch.kubernetes.io/job-name", &job)
                .label("job-name", &job)
                .annotate(RECORD, "true"),
        );
        ok(&cri.run(&pod, "app", &["getpriority"], None), &job);
        // The kubelet keeps a finished Job's pod (until the Job's history limit): the
        // agent learns who the container was while it is there.
        let label = format!("{ns}/{job}-x2k4q/app: exited");
        sizes.push(union_size_after(
            &agent,
            &label,
            &format!("{ns}/nightly/app: wrote"),
        ));
        cri.remove_pod(&pod);
        if quiet(&sizes) >= 6 {
            break;
        }
    }
    let expected = quiet(&sizes);
    assert!(expected >= 6, "runs kept adding calls: {sizes:?}");
    wait_status(&status, "containersFromBirth", sizes.len() as u64, &agent);
    let e = listed(&repo, &ns);
    assert_eq!(e["workload"], "nightly");
    assert_eq!(e["status"]["quietRuns"], expected, "{e:#}");
    assert_eq!(e["status"]["stable"], true, "{e:#}");
    assert_eq!(e["status"]["containersFromBirth"], sizes.len());
    assert_eq!(e["status"]["nodes"], serde_json::json!(["node-1"]));
    // The digest ls shows is the stable tag's, and the file is its profile.
    let tag = format!("{ns}_nightly_app");
    let raw = raw_manifest(&format!("{repo}:{tag}"));
    assert_eq!(e["reference"], format!("{repo}@{}", sha256(&raw)));
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let file = std::fs::read(dir.join(&ns).join("nightly/app.json")).unwrap();
    assert_eq!(manifest["layers"][0]["digest"], sha256(&file).as_str());

    idle_syncs_are_one_head(&registry, &tag);
    let (st, log) = agent.terminate();
    assert!(st.success(), "{log}");
}

/// The sync interval of the cluster tests: the files must agree within two of them.
const SYNC: Duration = Duration::from_secs(3);
/// Beyond those: the CRI poll that sees a container exit (500 ms), the share's push, and
/// a machine busy running the other tests.
const EXIT_SEEN: Duration = Duration::from_secs(4);

/// An agent as one node of a cluster: its own runtime and Localhost directory, the
/// shared repository.
fn node_agent(rt: &CriRuntime, node: &str, dir: &Path, repo: &str) -> Agent {
    let mut args = localhost_args(dir);
    args.extend(
        [
            "--push",
            repo,
            "--node-name",
            node,
            "--sync-interval",
            &format!("{}s", SYNC.as_secs()),
        ]
        .map(String::from),
    );
    start_agent(rt, &args)
}

/// An agent per runtime, as nodes `node-1`, `node-2`...: their Localhost directories and
/// the agents.
fn start_nodes(
    runtimes: &[&'static CriRuntime],
    out: &Scratch,
    repo: &str,
) -> (Vec<PathBuf>, Vec<Agent>) {
    let dirs: Vec<PathBuf> = (1..=runtimes.len())
        .map(|n| out.path(&format!("node-{n}")))
        .collect();
    let agents = (0..runtimes.len())
        .map(|i| node_agent(runtimes[i], &format!("node-{}", i + 1), &dirs[i], repo))
        .collect();
    (dirs, agents)
}

/// Waits until every file exists, holds every call, and all are the same bytes; how long
/// that took.
fn wait_identical(files: &[PathBuf], calls: &[&str], agents: &[&Agent]) -> Duration {
    let started = Instant::now();
    loop {
        let bytes: Vec<Option<Vec<u8>>> = files.iter().map(|f| std::fs::read(f).ok()).collect();
        let agree = bytes.iter().all(|b| b.is_some() && *b == bytes[0]);
        if agree {
            let names = allowed(&profile(&files[0]));
            if calls.iter().all(|c| names.iter().any(|n| n == c)) {
                return started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            let missing: Vec<Vec<&str>> = files
                .iter()
                .map(|f| {
                    let names = if f.exists() {
                        allowed(&profile(f))
                    } else {
                        Vec::new()
                    };
                    calls
                        .iter()
                        .copied()
                        .filter(|c| !names.iter().any(|n| n == c))
                        .collect()
                })
                .collect();
            let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
            panic!(
                "{files:?} never agreed on {calls:?} (missing: {missing:?}):\n{}",
                logs.join("\n-----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last reference an agent printed for `key`.
fn printed(agent: &Agent, key: &str) -> Option<String> {
    let out = agent.stdout.lock().unwrap();
    out.iter()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key} ")).map(String::from))
}

/// Calls no runtime makes while starting a container, so each is a new call when a probe
/// makes it.
const NEW_CALLS: [&str; 40] = [
    "sched_get_priority_max",
    "sysinfo",
    "times",
    "getitimer",
    "getcpu",
    "add_key",
    "request_key",
    "ptrace",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "swapon",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "open_by_handle_at",
    "name_to_handle_at",
    "kcmp",
    "lookup_dcookie",
    "move_pages",
    "mbind",
    "get_mempolicy",
    "set_mempolicy",
    "process_vm_readv",
    "fanotify_init",
    "io_uring_setup",
    "vhangup",
    "quotactl",
    "iopl",
    "ioperm",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "pidfd_getfd",
    "fsopen",
    "open_tree",
    "memfd_secret",
    "landlock_create_ruleset",
];

/// Waits until `agent` printed `reference` for `key` (within two syncs).
fn wait_printed(agent: &Agent, key: &str, reference: &str) {
    let what = format!("'{key} {reference}' last on stdout");
    agent.wait_for(&what, 2 * SYNC, |a| {
        (printed(a, key).as_deref() == Some(reference)).then_some(())
    });
}

/// The union of replicas A (node 1) and B (node 2), both from birth, says so.
fn check_union_annotations(ann: &serde_json::Value, key: &str) {
    assert_eq!(ann["io.seccomp-recorder.nodes"], "node-1,node-2");
    assert_eq!(ann["io.seccomp-recorder.profile"], key);
    assert_eq!(ann["io.seccomp-recorder.containers-from-birth"], "2");
    assert_eq!(ann["io.seccomp-recorder.containers-joined-late"], "0");
    assert!(
        ann["io.seccomp-recorder.images"]
            .as_str()
            .unwrap()
            .contains("sha256:")
    );
}

/// Under `profile`, a container of `pod` makes both replicas' calls and one neither made:
/// the first two run, the third is refused (ENOSYS).
fn enforces_the_union(client: &Client, pod: &Pod, profile: &Path) {
    let e = client.run(
        pod,
        "app",
        &["getpriority", "sched_getscheduler", "getitimer"],
        Some(profile),
    );
    assert_eq!(e.code, 0, "the fleet's profile broke the start: {}", e.log);
    for call in ["getpriority", "sched_getscheduler"] {
        assert!(
            e.log.contains(&format!("{call} ret="))
                && !e.log.contains(&format!("{call} ret=-1 errno=38")),
            "{}",
            e.log
        );
    }
    assert!(e.log.contains("getitimer ret=-1 errno=38"), "{}", e.log);
}

/// 20 rounds: a new replica on node 1 and one on node 2 each make a new call, started at
/// the same moment. The pods made, with the index of their node.
fn simultaneous_rounds(
    runtimes: &[&'static CriRuntime],
    clients: &[Client],
    replica: &dyn Fn(&str) -> PodSpec,
) -> Vec<(usize, Pod)> {
    let mut pods = Vec::new();
    for round in 0..20 {
        let started: Vec<(usize, String)> = (0..2)
            .map(|i| {
                let pod = clients[i].run_pod(&replica(&format!("n{i}r{round:02}")));
                let id = clients[i].create(&pod, "app", &[NEW_CALLS[2 * round + i]], None);
                pods.push((i, pod));
                (i, id)
            })
            .collect();
        std::thread::scope(|s| {
            for (i, id) in &started {
                let rt = runtimes[*i];
                s.spawn(move || rt.client().start(id));
            }
        });
        for (k, (i, id)) in started.iter().enumerate() {
            let pod = &pods[pods.len() - 2 + k].1;
            let exit = clients[*i].wait_exit(pod, "app", id, Duration::from_secs(60));
            ok(&exit, &format!("round {round} on node {}", i + 1));
        }
    }
    pods
}

#[test]
fn three_nodes_converge_on_one_profile_that_the_third_enforces() {
    require_root();
    // Two containerds and a CRI-O, one per node, each with its own agent.
    let runtimes = [
        CriRuntime::get(),
        CriRuntime::named("cri-node-2"),
        CriRuntime::crio(),
    ];
    let registry = Registry::start();
    let repo = registry.reference("team/seccomp");
    let out = Scratch::new("agent-cluster");
    let (dirs, agents) = start_nodes(&runtimes, &out, &repo);
    let clients: Vec<_> = runtimes.iter().map(|rt| rt.client()).collect();
    let ns = namespace("cluster");
    let hash = "5d8f7c9b6d";
    let replica = |suffix: &str| {
        PodSpec::new(&ns, &format!("web-{hash}-{suffix}"))
            .label("pod-template-hash", hash)
            .annotate(RECORD, "true")
    };
    // Replica A on node 1, replica B on node 2, each with its marker; node 3 runs nothing.
    let a = clients[0].run_pod(&replica("x2k4q"));
    let b = clients[1].run_pod(&replica("b7z9m"));
    ok(
        &clients[0].run(&a, "app", &["getpriority"], None),
        "replica a",
    );
    ok(
        &clients[1].run(&b, "app", &["sched_getscheduler"], None),
        "replica b",
    );
    let files: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.join(&ns).join("web/app.json"))
        .collect();
    let all: Vec<&Agent> = agents.iter().collect();
    let took = wait_identical(&files, &["getpriority", "sched_getscheduler"], &all);
    eprintln!("three nodes agreed {took:?} after the replicas exited");
    assert!(took <= 2 * SYNC + EXIT_SEEN, "{took:?}");

    // The stable tag holds that union: the file is its layer, and every node printed its
    // digest, whichever pushed last.
    let tag = format!("{ns}_web_app");
    let raw = raw_manifest(&format!("{repo}:{tag}"));
    let digest = sha256(&raw);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        manifest["layers"][0]["digest"],
        sha256(&std::fs::read(&files[2]).unwrap())
    );
    let key = format!("{ns}/web/app");
    for a in &agents {
        wait_printed(a, &key, &format!("{repo}@{digest}"));
    }
    check_union_annotations(&manifest["annotations"], &key);
    let status: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dirs[2].join(&ns).join("web/app.status.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(status["digest"], digest.as_str());
    assert_eq!(status["nodes"], serde_json::json!(["node-1", "node-2"]));

    // Node 3 enforces it: both replicas' calls run, a call neither made is refused.
    let enforced = clients[2].run_pod(&PodSpec::new(&ns, "enforced"));
    enforces_the_union(&clients[2], &enforced, &files[2]);

    let mut pods = vec![(0, a), (1, b)];
    pods.extend(simultaneous_rounds(&runtimes, &clients, &replica));
    let took = wait_identical(&files, &NEW_CALLS, &all);
    eprintln!("after 20 rounds, three nodes agreed {took:?} after the last exit");
    assert!(took <= 2 * SYNC + EXIT_SEEN, "{took:?}");
    for (i, pod) in &pods {
        clients[*i].remove_pod(pod);
    }
    clients[2].remove_pod(&enforced);
    for a in agents {
        let (st, log) = a.terminate();
        assert!(st.success(), "{log}");
    }
}

/// A Localhost profile that allows everything but getpriority (EPERM) and asks the kernel to
/// log its refusals.
fn flagged_profile(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let p = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    std::fs::write(path, p.to_string()).unwrap();
}

/// The agent's line naming the refusal path: the audit multicast group as asked for, or,
/// probed, the kernel path or the reason why not and the group; the group's reason says
/// whether auditd runs.
fn said_which_path(how: &str, asked: bool, running: &str) {
    let group = "through the audit netlink multicast group: ";
    if asked {
        let asked = format!("{group}asked for ({running};");
        assert!(how.contains(&asked), "{how}");
        return;
    }
    if how.contains("through the kernel path (fexit on __secure_computing)") {
        return;
    }
    let why = how
        .split("the kernel path (fexit on __secure_computing) is not available here: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no reason why not the kernel path: {how}"));
    let joined = format!("{group}joined the audit multicast group ({running};");
    assert!(how.contains(&joined) && why.len() > 1, "{how}");
}

/// `--watch-refusals`: a pod that is not recorded, enforced with a Localhost profile that
/// carries the log flag and lacks a call it makes (run by runc 1.3.6, which passes the flag
/// on), is reported within 5 s as namespace/workload/container/syscall: in the metric, the
/// log and `<container>.refusals.json` next to the Localhost file.
/// The agent picks the path itself here, and says which and why.
#[test]
fn refusals_of_an_enforced_pod_are_reported_within_5_s() {
    reported_within_5_s(CriRuntime::get(), "refusals", false, None);
}

/// The same with Debian's auditd running: the multicast group still gets every record.
#[test]
fn refusals_are_reported_within_5_s_while_auditd_runs() {
    reported_within_5_s(CriRuntime::get(), "refusals-auditd", true, Some("netlink"));
}

/// The same on CRI-O, with runc 1.3.6 as a runtime handler there too, through the audit
/// path.
#[test]
fn refusals_of_an_enforced_crio_pod_are_reported_within_5_s() {
    reported_within_5_s(CriRuntime::crio(), "refusals-crio", false, Some("netlink"));
}

/// The refusal tests, with auditd and without, one at a time.
static AUDIT: Mutex<()> = Mutex::new(());

/// `source`: `--refusals-source`, else the agent probes: the kernel path where this
/// kernel accepts the fexit program (it sees the flagged refusal too), else the audit path.
fn reported_within_5_s(rt: &CriRuntime, tag: &str, with_auditd: bool, source: Option<&str>) {
    let _one = AUDIT.lock().unwrap_or_else(|e| e.into_inner());
    runc13();
    let s = Scratch::new(tag);
    // Before the agent starts: it says at start whether auditd runs.
    let auditd = with_auditd.then(|| Auditd::start(&s));
    let ns = namespace(tag);
    let dir = s.path("localhost");
    let addr = free_addr();
    let mut args = localhost_args(&dir);
    args.extend(["--watch-refusals".into(), "--listen".into(), addr.clone()]);
    if let Some(source) = source {
        args.extend(["--refusals-source".into(), source.into()]);
    }
    let mut agent = start_agent(rt, &args);
    let how = agent.wait_log("watching seccomp refusals through", Duration::from_secs(10));
    let running = match &auditd {
        Some(a) => format!("auditd, pid {}, is running", a.child.id()),
        None => "no auditd is running".to_string(),
    };
    said_which_path(&how, source.is_some(), &running);
    let localhost = dir.join(&ns).join("web").join("app.json");
    flagged_profile(&localhost);
    let mut spec = PodSpec::new(&ns, "web-5d8f7c9b4-x2x7k").label("app.kubernetes.io/name", "web");
    spec.handler = RUNC13_HANDLER.into();
    let client = rt.client();
    let pod = client.run_pod(&spec);
    let started = Instant::now();
    let id = client.create(&pod, "app", &["getpriority", "linger"], Some(&localhost));
    client.start(&id);
    let until = started + Duration::from_secs(5);
    let sample = format!(
        "seccomp_recorder_refusals_total{{namespace=\"{ns}\",workload=\"web\",container=\"app\",\
         syscall=\"getpriority\",arch=\"x86_64\"}}"
    );
    let line = agent.wait_metric(
        &addr,
        &sample,
        until.saturating_duration_since(Instant::now()),
    );
    assert!(line.ends_with(" 1"), "{line}");
    let logged = agent.wait_line(
        &["refusal:", &format!("{ns}/web/app"), "getpriority"],
        until.saturating_duration_since(Instant::now()),
    );
    let file = dir.join(&ns).join("web").join("app.refusals.json");
    while !file.exists() {
        assert!(
            Instant::now() < until,
            "no {}:\n{}",
            file.display(),
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("reported within {:?}: {logged}", started.elapsed());
    let exit = client.wait_exit(&pod, "app", &id, Duration::from_secs(30));
    assert!(
        exit.log.contains("getpriority ret=-1 errno=1"),
        "{}",
        exit.log
    );
    let report = profile(&file);
    assert_eq!(report["namespace"], ns.as_str());
    assert_eq!(
        (report["workload"].as_str(), report["container"].as_str()),
        (Some("web"), Some("app"))
    );
    let refusals = report["refusals"].as_array().unwrap();
    assert!(
        refusals
            .iter()
            .any(|r| r["syscall"] == "getpriority" && r["arch"] == "x86_64" && r["count"] == 1),
        "{report}"
    );
    client.remove_pod(&pod);
}

/// `--learn-refusals`: a complain-mode pod (its Localhost profile logs every call and
/// refuses none) has its calls land in its workload's profile; that profile, enforced,
/// lets the pod run and refuses a call it never made.
#[test]
fn a_complain_mode_pod_converges_to_a_profile_that_enforces() {
    let rt = CriRuntime::get();
    let s = Scratch::new("agent-learn");
    let ns = namespace("learn");
    let dir = s.path("localhost");
    let complain = s.path("complain.json");
    let log_all = serde_json::json!({"defaultAction": "SCMP_ACT_LOG", "syscalls": []});
    std::fs::write(&complain, log_all.to_string()).unwrap();
    let args: Vec<String> = ["--localhost-dir", dir.to_str().unwrap(), "--flush-interval"]
        .into_iter()
        .chain(["1s", "--watch-refusals", "--learn-refusals"])
        .map(String::from)
        .collect();
    let mut agent = start_agent(rt, &args);
    agent.wait_log("watching seccomp refusals through", Duration::from_secs(10));
    let client = rt.client();
    let spec = PodSpec::new(&ns, "shop-6f7d8c9b5-qwz2t").label("app.kubernetes.io/name", "shop");
    let pod = client.run_pod(&spec);
    let calls = ["getppid", "times", "linger"];
    ok(
        &client.run(&pod, "app", &calls, Some(&complain)),
        "complain-mode run",
    );
    let learned = dir.join(&ns).join("shop").join("app.json");
    wait_calls(&learned, &["getppid", "times", "execve"], &agent);
    let (status, log) = agent.terminate();
    assert!(status.success(), "{log}");
    // Enforced: the pod runs, and a call it never made is refused.
    let pod2 = client.run_pod(&PodSpec::new(&ns, "shop-enforced"));
    let ran = client.run(&pod2, "app", &calls, Some(&learned));
    ok(&ran, "enforced run");
    assert!(ran.log.contains("getppid ret="), "{}", ran.log);
    let refused = client.run(&pod2, "other", &["getpriority"], Some(&learned));
    assert!(
        refused.log.contains("getpriority ret=-1 errno=38")
            || refused.log.contains("getpriority ret=-1 errno=1"),
        "{}",
        refused.log
    );
    client.remove_pod(&pod);
    client.remove_pod(&pod2);
}

/// `--max-targets 2`, on a CRI-O of the test's own so that no other test's pod takes a
/// slot: two pods are recorded, a third is refused with a warning (a JSON line carrying its
/// namespace, workload and container) and targets_refused_total{reason="max_targets"}; the
/// first two go on and write their profiles, and the slot a removed pod frees is used by
/// the next pod. Every line the agent logs is JSON.
#[test]
fn on_crio_max_targets_refuses_new_containers_and_a_freed_slot_is_used_again() {
    let mut m = SmallMaps::start("agent-full");
    let (cri, dir, agent) = (&m.cri, m.dir.clone(), &mut m.agent);
    let ns = namespace("full");
    let recording = "recording from its start";
    let (one, _) = start_probe_pod(cri, agent, &ns, "one", &[recording]);
    let (two, _) = start_probe_pod(cri, agent, &ns, "two", &[recording]);
    let (three, warning) = start_probe_pod(cri, agent, &ns, "three", &["not recorded"]);
    let why = "2 containers already (--max-targets)";
    refused_with(&warning, &ns, "three", why);
    let (_, text) = get(&m.listen, "/metrics");
    assert_eq!(refused(&text), (1, 0));
    assert_eq!(metric(&text, "seccomp_recorder_max_targets"), 2);
    assert_eq!(
        metric(&text, "seccomp_recorder_kernel_map_capacity"),
        2 + 1024
    );

    cri.remove_pod(&one);
    wait_calls(&dir.join(&ns).join("one/app.json"), &["getpriority"], agent);
    let (four, _) = start_probe_pod(cri, agent, &ns, "four", &[recording]);
    for pod in [&two, &three, &four] {
        cri.remove_pod(pod);
    }
    for name in ["two", "four"] {
        wait_calls(
            &dir.join(&ns).join(name).join("app.json"),
            &["getpriority"],
            agent,
        );
    }
    m.stop(&ns, &["four", "one", "two"]);
}

/// An agent with `--max-targets 2` (maps of 1026 cgroups), /metrics and JSON logs, on a
/// CRI-O of its own so that no other test's pod takes a slot. One at a time: every agent
/// follows every new cgroup of the node, and the 1100 of the test that fills its maps
/// would fill the other's too.
struct SmallMaps {
    agent: Agent,
    cri: Client,
    dir: PathBuf,
    listen: String,
    from: f64,
    _out: Scratch,
    _rt: CriRuntime,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl SmallMaps {
    fn start(tag: &str) -> SmallMaps {
        require_root();
        static ONE: Mutex<()> = Mutex::new(());
        let one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let rt = seccomp_recorder_tests::crio::start(CrioOptions { pod_events: true });
        let out = Scratch::new(tag);
        let dir = out.path("localhost");
        let listen = free_addr();
        let mut args = localhost_args(&dir);
        let more = ["--max-targets", "2", "--listen", &listen];
        args.extend(
            more.into_iter()
                .chain(["--log-format", "json"])
                .map(String::from),
        );
        let from = logs::now();
        SmallMaps {
            agent: start_agent(&rt, &args),
            cri: rt.client(),
            dir,
            listen,
            from,
            _out: out,
            _rt: rt,
            _one: one,
        }
    }

    /// Stops the agent, which must have written the profiles of `ns`'s `workloads` and no
    /// other, and logged JSON lines only; returns its log.
    fn stop(self, ns: &str, workloads: &[&str]) -> String {
        let (st, log) = self.agent.terminate();
        assert!(st.success(), "{log}");
        assert_eq!(entries(&self.dir.join(ns)), workloads);
        logs::json_lines(&log, self.from);
        log
    }
}

/// Child cgroups the filling container makes: more than the 2 + 1024 cgroups the maps
/// hold with `--max-targets 2`.
const CHILDREN: usize = 1100;

/// The container that fills the kernel maps, from its own cgroup, which it mounts writable
/// (CAP_SYS_ADMIN, as a container running systemd has it; its /sys/fs/cgroup is read-only):
/// a call, the children named in its arguments, a call, then one more child every 20 ms
/// until the test makes `go` (a container that keeps making cgroups takes back at once any
/// slot the agent frees by dropping another cgroup of the node), then a last call. It stops
/// making them after 6000 (two minutes at least) should nothing ever make `go`.
const FILL: &str = r#"/bin/busybox mkdir /tmp/cg && /bin/busybox mount -t cgroup2 none /tmp/cg || exit 1
cd "/tmp/cg$(/bin/busybox sed -n 's/^0:://p' /proc/self/cgroup)" || exit 1
/bin/probe getpriority
/bin/busybox mkdir "$@" || exit 1
/bin/probe getppid
i=0
while [ ! -d go ] && [ $i -lt 6000 ]; do /bin/busybox mkdir "more$i"; i=$((i+1)); sleep 0.02; done
/bin/probe times
exec sleep 1000"#;

/// The kernel maps filled under the agent, by the kernel's own following of new cgroups:
/// `--max-targets 2` sizes them for 1026 cgroups, and a recorded container makes 1100
/// below its own (see FILL). A new pod is then refused with a warning naming it (a JSON line with its
/// namespace, workload and container) and targets_refused_total{reason="map_full"}, the
/// kernel's count of cgroups it had no room for is reported, and the full container goes
/// on being recorded: a call it makes after the refusal is in its profile. On a CRI-O of
/// the test's own, so that no other test's pod is refused.
#[test]
fn on_crio_full_kernel_maps_refuse_a_new_container_and_the_recorded_one_goes_on() {
    let mut m = SmallMaps::start("agent-mapfull");
    let (cri, dir, agent) = (&m.cri, m.dir.clone(), &mut m.agent);
    let ns = namespace("mapfull");
    let full = cri.run_pod(&PodSpec::new(&ns, "full").annotate(RECORD, "true"));
    let names: Vec<String> = (0..CHILDREN).map(|i| format!("c{i}")).collect();
    let command = ["/bin/sh", "-c", FILL, "sh"]
        .into_iter()
        .chain(names.iter().map(String::as_str));
    let mut config = cri.config(&full, "app", &command.collect::<Vec<_>>(), None);
    let context = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut());
    context.expect("a security context").capabilities = Some(k8s_cri::v1::Capability {
        add_capabilities: vec!["SYS_ADMIN".into()],
        ..Default::default()
    });
    let id = cri.create_with(&full, config);
    cri.start(&id);
    let label = format!("{ns}/full/app");
    agent.wait_line(
        &[&label, "recording from its start"],
        Duration::from_secs(30),
    );
    said_by(cri, &full, "getppid ret=");

    let (late, name, warning, recorded) = refused_late_pod(cri, agent, &dir, &ns);
    let why = "the kernel maps were full when its cgroup was made (1026 cgroups";
    refused_with(&warning, &ns, &name, why);
    agent.wait_line(
        &[
            "the kernel maps were full: ",
            "new cgroups were not followed",
        ],
        Duration::from_secs(10),
    );
    let (_, text) = get(&m.listen, "/metrics");
    assert_eq!(refused(&text), (0, 1));
    assert_eq!(metric(&text, "seccomp_recorder_kernel_map_capacity"), 1026);
    // The container's own cgroup and at most 1025 of its children found a slot.
    let kernel_refused = metric(&text, "seccomp_recorder_kernel_map_refused_total");
    assert!(kernel_refused >= (CHILDREN - 1025) as u64, "{text}");

    // The full container is still recorded after the refusal.
    let pid = cri.pid(&id);
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::/"));
    let rel = rel.expect("a cgroup2 line");
    let mount = seccomp_recorder::cgroup::mount_point().unwrap();
    std::fs::create_dir(mount.join(rel).join("go")).unwrap();
    said_by(cri, &full, "times ret=");
    cri.remove_pod(&late);
    cri.remove_pod(&full);
    wait_calls(
        &dir.join(&ns).join("full/app.json"),
        &["getpriority", "getppid", "times"],
        agent,
    );
    let mut written = recorded;
    written.push("full".into());
    written.sort();
    let log = m.stop(&ns, &written.iter().map(String::as_str).collect::<Vec<_>>());
    // Following went on without a hitch: the cgroups the kernel had no room for were
    // dropped like any other.
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(r#""level":"error""#))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// A pod started after the maps filled and refused for want of room: it, its name, the
/// warning, and the pods tried before it, which were recorded after all and have ended. Each new cgroup of
/// the node takes a slot the agent frees by dropping another cgroup (one made before the
/// maps filled, by another test), until the filling container takes it back within 20 ms,
/// and a new pod's first cgroups hand it on to the next as the agent drops them: a pod whose
/// cgroups come in that window is rightly recorded. So up to 4 pods are tried.
fn refused_late_pod(
    cri: &Client,
    agent: &mut Agent,
    dir: &Path,
    ns: &str,
) -> (Pod, String, String, Vec<String>) {
    let mut recorded = Vec::new();
    for i in 0..4 {
        let name = format!("late{i}");
        let said = ["not recorded", "recording from its start"];
        let (pod, line) = start_probe_pod(cri, agent, ns, &name, &said);
        if line.contains(said[0]) {
            return (pod, name, line, recorded);
        }
        eprintln!("{name} found a free slot and is recorded: {line}");
        // Its end frees its place under --max-targets for the next.
        cri.remove_pod(&pod);
        wait_calls(
            &dir.join(ns).join(&name).join("app.json"),
            &["getpriority"],
            agent,
        );
        recorded.push(name);
    }
    panic!(
        "4 pods started after the maps filled were all recorded:\n{}",
        agent.log()
    );
}

/// Waits for the log of `pod`'s container `app` to hold `needle`; fails with the log.
fn said_by(cri: &Client, pod: &Pod, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = cri.log(pod, "app");
        if log.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in 60 s: {log}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The agent's warning about a refused container: a JSON line naming it, and why.
fn refused_with(warning: &str, ns: &str, workload: &str, why: &str) {
    let w: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(w["level"], "warn", "{w}");
    assert_eq!(
        (&w["namespace"], &w["workload"], &w["container"]),
        (&ns.into(), &workload.into(), &"app".into()),
        "{w}"
    );
    assert!(w["message"].as_str().unwrap().contains(why), "{w}");
}

/// targets_refused_total for reasons max_targets and map_full, from /metrics.
fn refused(text: &str) -> (u64, u64) {
    let by = |reason: &str| {
        let name = format!("seccomp_recorder_targets_refused_total{{reason=\"{reason}\"}}");
        metric(text, &name)
    };
    (by("max_targets"), by("map_full"))
}

/// A recorded pod whose container makes `getpriority` and sleeps; returns it once the
/// agent has logged a line about it holding one of `said`, with that line.
fn start_probe_pod(
    cri: &Client,
    agent: &mut Agent,
    ns: &str,
    name: &str,
    said: &[&str],
) -> (Pod, String) {
    let pod = cri.run_pod(&PodSpec::new(ns, name).annotate(RECORD, "true"));
    let long = ["/bin/sh", "-c", "/bin/probe getpriority; exec sleep 1000"];
    let id = cri.create(&pod, "app", &long, None);
    cri.start(&id);
    let label = format!("{ns}/{name}/app");
    let what = format!("a line on {label} holding one of {said:?}");
    let line = agent.wait_for(&what, Duration::from_secs(30), |a| {
        let lines = a.stderr.lock().unwrap();
        let about = |l: &&String| l.contains(&label) && said.iter().any(|s| l.contains(s));
        lines.iter().find(about).cloned()
    });
    wait_until(
        "getpriority in the container's log",
        Duration::from_secs(30),
        || cri.log(&pod, "app").contains("getpriority ret="),
    );
    (pod, line)
}
