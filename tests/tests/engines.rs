//! Container engines end to end: dockerd, containerd and podman started by the harness with
//! private state, a locally imported static image recorded from the moment its container
//! starts, then re-run by the same engine under the generated profile. Needs root; fails
//! (never skips) without it.

use seccomp_recorder_tests::engines::*;
use seccomp_recorder_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Marker syscalls the recorded run makes; OUTSIDE is never made while recording.
const MARK_A: &str = "sched_getscheduler";
const MARK_B: &str = "times";
const OUTSIDE: &str = "getpriority";
const EPERM: i32 = 1;
const ENOSYS: i32 = 38;

/// `NAME ret=R errno=E` lines of the probe, as (name, ret, errno).
fn probe_results(out: &str) -> Vec<(String, i64, i32)> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?.to_string();
            let ret = it.next()?.strip_prefix("ret=")?.parse().ok()?;
            let errno = it.next()?.strip_prefix("errno=")?.parse().ok()?;
            Some((name, ret, errno))
        })
        .collect()
}

fn result_of(out: &str, name: &str) -> (i64, i32) {
    probe_results(out)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, r, e)| (r, e))
        .unwrap_or_else(|| panic!("the probe printed no result for {name}: {out}"))
}

/// Checks the recorded profile: the markers are in, OUTSIDE is not.
fn check_recorded(profile_path: &Path) {
    let names = allowed(&profile(profile_path));
    for m in [MARK_A, MARK_B, "execve"] {
        assert!(names.contains(&m.to_string()), "{m} missing from {names:?}");
    }
    assert!(
        !names.contains(&OUTSIDE.to_string()),
        "{OUTSIDE} was never made, yet it is allowed: {names:?}"
    );
}

/// Under the profile: the recorded calls still work, and OUTSIDE (which works unconfined,
/// see `docker_default_run_allows_outside`) is refused. The profile asks for ENOSYS
/// (`defaultErrnoRet`); Docker 20.10 does not know that field and refuses with EPERM.
fn check_enforced(out: &str, errno: i32) {
    assert_eq!(
        result_of(out, MARK_A),
        (0, 0),
        "{MARK_A} under the profile: {out}"
    );
    assert!(
        result_of(out, MARK_B).0 > 0,
        "{MARK_B} under the profile: {out}"
    );
    assert_eq!(
        result_of(out, OUTSIDE),
        (-1, errno),
        "{OUTSIDE} must be refused under the profile: {out}"
    );
}

#[test]
fn docker_container_recorded_by_id_from_its_start_runs_under_its_profile() {
    require_root();
    let d = Docker::get();
    let s = Scratch::new("docker-id");
    let out = s.path("docker.json");
    let id = stdout(&run_ok(d.cli().args([
        "create",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
    ])))
    .trim()
    .to_string();
    // Created, not started: no cgroup yet, so recording must catch it being born.
    let rec = Recorder::start(&[
        "record",
        "--container",
        &id,
        "--engine-root",
        d.data_root().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let started = run_ok(d.cli().args(["start", "-a", &id]));
    assert_eq!(result_of(&stdout(&started), MARK_A), (0, 0));
    let (st, log) = rec.finish(Duration::from_secs(30));
    assert!(st.success(), "record failed: {log}");
    let _ = d.cli().args(["rm", "-f", &id]).output();
    check_recorded(&out);

    let run = run_ok(d.cli().args([
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", out.display()),
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
        OUTSIDE,
    ]));
    check_enforced(&stdout(&run), EPERM);
}

#[test]
fn docker_default_run_allows_outside() {
    require_root();
    let d = Docker::get();
    let run = run_ok(d.cli().args([
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "/bin/probe",
        OUTSIDE,
    ]));
    let (ret, errno) = result_of(&stdout(&run), OUTSIDE);
    assert!(
        ret >= 0 && errno == 0,
        "{OUTSIDE} fails even unconfined: {}",
        stdout(&run)
    );
}

/// Runs `create` (which prints nothing useful), records `target` from its start while
/// `start` runs it, and returns the profile's path.
fn record_from_start(
    s: &Scratch,
    target: &str,
    engine_root: &Path,
    start: &mut Command,
) -> std::path::PathBuf {
    let out = s.path("profile.json");
    let rec = Recorder::start(&[
        "record",
        "--container",
        target,
        "--engine-root",
        engine_root.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let started = run_ok(start);
    assert_eq!(
        result_of(&stdout(&started), MARK_A),
        (0, 0),
        "the recorded run itself"
    );
    let (st, log) = rec.finish(Duration::from_secs(30));
    assert!(st.success(), "record failed: {log}");
    out
}

#[test]
fn containerd_container_recorded_by_namespace_and_id_runs_under_its_profile() {
    require_root();
    let c = Containerd::get();
    let s = Scratch::new("ctr");
    let id = format!("rec-{}", std::process::id());
    run_ok(c.ctr().args([
        "container",
        "create",
        IMAGE,
        &id,
        "/bin/probe",
        MARK_A,
        MARK_B,
    ]));
    let out = record_from_start(
        &s,
        &format!("{CTR_NS}/{id}"),
        &c.state(),
        c.ctr().args(["task", "start", &id]),
    );
    let _ = c.ctr().args(["task", "rm", "-f", &id]).output();
    let _ = c.ctr().args(["container", "rm", &id]).output();
    check_recorded(&out);
    let run = run_ok(c.ctr().args([
        "run",
        "--rm",
        "--seccomp",
        "--seccomp-profile",
        out.to_str().unwrap(),
        IMAGE,
        &format!("enf-{}", std::process::id()),
        "/bin/probe",
        MARK_A,
        MARK_B,
        OUTSIDE,
    ]));
    check_enforced(&stdout(&run), ENOSYS);
}

#[test]
fn podman_container_recorded_by_name_runs_under_its_profile() {
    require_root();
    let p = Podman::get();
    let s = Scratch::new("podman");
    let name = format!("rec-{}", std::process::id());
    run_ok(p.cli().args([
        "create",
        "--name",
        &name,
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
    ]));
    let out = record_from_start(&s, &name, &p.root(), p.cli().args(["start", "-a", &name]));
    let _ = p.cli().args(["rm", "-f", "-t", "0", &name]).output();
    check_recorded(&out);
    let run = run_ok(p.cli().args([
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", out.display()),
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
        OUTSIDE,
    ]));
    check_enforced(&stdout(&run), ENOSYS);
}

#[test]
fn follow_containers_records_each_container_a_script_starts_through_two_engines() {
    require_root();
    let d = Docker::get();
    let c = Containerd::get();
    let s = Scratch::new("follow");
    let tag = std::process::id();
    let (docker_name, ctr_id) = (format!("follow-dk-{tag}"), format!("follow-ct-{tag}"));
    // Markers no runtime or engine CLI makes on its own.
    let (in_docker, in_ctr, own) = ("sched_get_priority_max", "kcmp", MARK_B);
    let host_probe = compile("engine_probe", &s.0, &["-static"]);
    let script = s.path("e2e.sh");
    std::fs::write(
        &script,
        format!(
            "set -e\n\
             /usr/bin/docker -H unix://{dsock} run --rm --name {docker_name} --network none \
               --security-opt seccomp=unconfined {IMAGE} /bin/probe {in_docker}\n\
             ctr -a {csock} -n {CTR_NS} run --rm {IMAGE} {ctr_id} /bin/probe {in_ctr}\n\
             {probe} {own}\n",
            dsock = d.sock.display(),
            csock = c.sock.display(),
            probe = host_probe.display(),
        ),
    )
    .unwrap();
    let out = s.path("profiles");
    let log = record_following(
        &format!("follow-*-{tag}"),
        &[
            "--engine-root",
            d.data_root().to_str().unwrap(),
            "--engine-root",
            c.state().to_str().unwrap(),
        ],
        &out,
        &script,
    );
    assert_profiles(&out, &[&ctr_id, &docker_name], &log);
    let markers = [in_docker, in_ctr, own];
    for (file, mine) in [
        (format!("{docker_name}.json"), in_docker),
        (format!("{ctr_id}.json"), in_ctr),
        ("command.json".to_string(), own),
    ] {
        let names = allowed(&profile(&out.join(&file)));
        for m in markers {
            assert_eq!(
                names.contains(&m.to_string()),
                m == mine,
                "{file}: marker {m} (own marker {mine}): {names:?}"
            );
        }
    }
    // Each container profile starts its container: the runtime's calls after the filter
    // is installed were recorded too.
    let run = run_ok(d.cli().args([
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &format!(
            "seccomp={}",
            out.join(format!("{docker_name}.json")).display()
        ),
        IMAGE,
        "/bin/probe",
        in_docker,
    ]));
    assert_eq!(result_of(&stdout(&run), in_docker).1, 0);
    assert!(
        log.contains("docker container") && log.contains("containerd container"),
        "{log}"
    );
}

/// Calls the diff-vs-reality probe tries. `times` is left out: its value changes between
/// runs, so a difference would not mean "refused".
const PROBED: &[&str] = &[
    "getpriority",
    "sched_getscheduler",
    "sysinfo",
    "getitimer",
    "getppid",
    "personality",
    "personality_linux32",
    "unshare",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "mount",
    "umount2",
    "pivot_root",
    "swapon",
    "syslog",
    "acct",
    "settimeofday",
    "clock_settime",
    "setns",
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
    "clone3",
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

/// The probe's call name as a syscall name.
fn syscall_name(probe: &str) -> &str {
    if probe == "personality_linux32" {
        "personality"
    } else {
        probe
    }
}

/// Runs the probe under the engine's own default profile and unconfined (same
/// capabilities), and checks `diff --against A` predicts exactly the calls the default
/// refused, with the errno the container saw, for each baseline A. Returns diff's stderr
/// for each.
fn default_profile_matches_diff(against: &[&str], run: impl Fn(bool) -> String) -> Vec<String> {
    let confined = probe_results(&run(false));
    let unconfined = probe_results(&run(true));
    assert_eq!(
        confined.len(),
        PROBED.len(),
        "probe under the default: {confined:?}"
    );
    assert_eq!(
        unconfined.len(),
        PROBED.len(),
        "probe unconfined: {unconfined:?}"
    );
    let mut real = std::collections::BTreeMap::new();
    let mut undecided = Vec::new();
    for ((name, r1, e1), (_, r2, e2)) in confined.iter().zip(&unconfined) {
        let call = syscall_name(name).to_string();
        if (r1, e1) != (r2, e2) {
            real.insert(call, *e1 as i64);
        } else if *r1 == -1 && (*e1 == EPERM || *e1 == ENOSYS) {
            // The kernel itself gave the profile's answer: the probe cannot tell.
            undecided.push(call);
        }
    }
    against
        .iter()
        .map(|a| {
            let (prediction, log) = diff_prediction(a);
            prediction.check(a, &real, &undecided, &confined);
            log
        })
        .collect()
}

/// What `diff --against` says of a profile allowing every probed call.
struct Prediction {
    blocked: std::collections::BTreeMap<String, i64>,
    conditional: Vec<String>,
}

fn diff_prediction(against: &str) -> (Prediction, String) {
    let s = Scratch::new("diff-real");
    let mut names: Vec<&str> = PROBED.iter().map(|p| syscall_name(p)).collect();
    names.dedup();
    // Written here, not by the tool: a profile that allows every probed call.
    let all = s.path("all.json");
    std::fs::write(
        &all,
        serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
        })
        .to_string(),
    )
    .unwrap();
    let o = recorder(&[
        "diff",
        all.to_str().unwrap(),
        "--against",
        against,
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "diff failed: {}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let arch = &report["against"][0]["arches"][0];
    let blocked = arch["would_be_blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["errno"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let conditional = arch["conditional"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    (
        Prediction {
            blocked,
            conditional,
        },
        stderr(&o),
    )
}

impl Prediction {
    fn check(
        &self,
        against: &str,
        real: &std::collections::BTreeMap<String, i64>,
        undecided: &[String],
        confined: &[(String, i64, i32)],
    ) {
        let conditional = &self.conditional;
        let mut predicted_decidable = self.blocked.clone();
        predicted_decidable.retain(|n, _| !undecided.contains(n) && !conditional.contains(n));
        let mut real_decidable = real.clone();
        real_decidable.retain(|n, _| !conditional.contains(n));
        assert_eq!(
            predicted_decidable, real_decidable,
            "{against}: diff's prediction (left) differs from what the engine refused (right); \
             undecidable: {undecided:?}, conditional: {conditional:?}"
        );
        eprintln!(
            "{against}: refused {real_decidable:?}; undecidable {undecided:?}; conditional {conditional:?}"
        );
        // The probe's personality arguments are ones the defaults allow.
        for c in conditional {
            assert!(!real.contains_key(c), "{c} was refused: {confined:?}");
        }
        assert!(
            real_decidable.len() >= 10,
            "too few refused calls to mean anything: {real_decidable:?}"
        );
    }
}

/// The first `1.2.3` in what a command prints, read here so that the test does not take
/// the tool's word for which release is installed.
fn installed_release(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap();
    assert!(o.status.success(), "{program} {args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout)
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.matches('.').count() == 2)
        .unwrap_or_else(|| panic!("no version from {program}"))
        .to_string()
}

/// Bare `docker` means the installed dockerd's release: on Debian 12 that is 20.10, whose
/// profile refuses name_to_handle_at and process_vm_readv and allows io_uring_setup, unlike
/// the newest. Debian's copy of the profile must agree too.
#[test]
fn docker_default_profile_refuses_what_diff_predicts() {
    require_root();
    let d = Docker::get();
    let file = engine_profile(
        "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json",
        "golang-github-docker-docker-dev",
    );
    let version = installed_release("dockerd", &["--version"]);
    let logs = default_profile_matches_diff(
        &[
            "docker",
            &format!("docker@{version}"),
            &format!("docker={}", file.display()),
        ],
        |unconfined| probe_in(d.cli(), unconfined),
    );
    assert!(
        logs[0].contains(&format!("using docker@{version}, the installed engine's")),
        "diff must say which Docker release it used: {}",
        logs[0]
    );
}

/// The probes of PROBED in one container that docker or podman (the same flags) runs,
/// under the engine's default profile unless `unconfined`.
fn probe_in(mut cli: Command, unconfined: bool) -> String {
    cli.args(["run", "--rm", "--network", "none"]);
    if unconfined {
        cli.args(["--security-opt", "seccomp=unconfined"]);
    }
    cli.args([IMAGE, "/bin/probe"]).args(PROBED);
    stdout(&run_ok(&mut cli))
}

/// Bare `podman` means the release of the installed containers-common, whose seccomp.json
/// podman loads.
#[test]
fn podman_default_profile_refuses_what_diff_predicts() {
    require_root();
    let p = Podman::get();
    let file = engine_profile(
        "/usr/share/containers/seccomp.json",
        "golang-github-containers-common",
    );
    let version = installed_release(
        "dpkg-query",
        &["-W", "-f", "${Version}", "golang-github-containers-common"],
    );
    let logs = default_profile_matches_diff(
        &["podman", &format!("podman={}", file.display())],
        |unconfined| probe_in(p.cli(), unconfined),
    );
    assert!(
        logs[0].contains(&format!("using podman@{version}, the installed engine's")),
        "diff must say which containers-common release it used: {}",
        logs[0]
    );
}

/// Bare `containerd` means the installed containerd's release. Its default is Go code
/// compiled into ctr (`ctr run --seccomp`); on Debian 12 (1.6.20) it refuses
/// name_to_handle_at and process_vm_readv and allows io_uring_setup, unlike the newest.
#[test]
fn containerd_default_profile_refuses_what_diff_predicts() {
    require_root();
    let c = Containerd::get();
    let version = installed_release("containerd", &["--version"]);
    let logs = default_profile_matches_diff(&["containerd"], |unconfined| {
        let id = format!("dflt-{}-{unconfined}", std::process::id());
        let mut cmd = c.ctr();
        cmd.args(["run", "--rm"]);
        if !unconfined {
            cmd.arg("--seccomp");
        }
        cmd.args([IMAGE, &id, "/bin/probe"]).args(PROBED);
        stdout(&run_ok(&mut cmd))
    });
    assert!(
        logs[0].contains(&format!(
            "using containerd@{version}, the installed engine's"
        )),
        "diff must say which containerd release it used: {}",
        logs[0]
    );
}

/// `record --container NAME --engine-root ROOT... EXTRA -o OUT`.
fn record_by_name(name: &str, roots: &[&Path], extra: &[&str], out: &Path) -> Output {
    let mut args = vec!["record", "--container", name];
    for root in roots {
        args.extend(["--engine-root", root.to_str().unwrap()]);
    }
    args.extend(extra);
    args.extend(["-o", out.to_str().unwrap()]);
    recorder(&args)
}

#[test]
fn names_resolve_from_engine_state_and_an_ambiguous_one_lists_both_engines() {
    require_root();
    let d = Docker::get();
    let p = Podman::get();
    let s = Scratch::new("names");
    let name = format!("same-{}", std::process::id());
    let docker_id = stdout(&run_ok(d.cli().args([
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "/bin/sh",
        "-c",
        "while true; do /bin/probe kcmp; sleep 0.1; done",
    ])))
    .trim()
    .to_string();
    let podman_id = stdout(&run_ok(p.cli().args([
        "create",
        "--name",
        &name,
        IMAGE,
        "/bin/true",
    ])))
    .trim()
    .to_string();
    let out = s.path("p.json");
    let (droot, proot) = (d.data_root(), p.root());
    let o = record_by_name(&name, &[&droot, &proot], &[], &out);
    let amb = stderr(&o);
    let written_when_ambiguous = out.exists();
    // From here on the name is Docker's only: the recorder finds Podman's state by itself
    // whenever any Podman container runs (conmon names its root).
    let _ = p.cli().args(["rm", "-f", &podman_id]).output();
    // Only Docker's container is running.
    let o2 = record_by_name(&name, &[&droot], &["--duration", "1s"], &out);
    // No --engine-root: found from the running dockerd, or from the docker CLI pointed at
    // our daemon as a user would.
    let out3 = s.path("p3.json");
    let o3 = Command::new(bin())
        .args(["record", "--container", &name, "--duration", "1s", "-o"])
        .arg(&out3)
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .output()
        .unwrap();
    let _ = d.cli().args(["rm", "-f", &docker_id]).output();
    assert!(
        o3.status.success(),
        "record via the docker CLI failed: {}",
        stderr(&o3)
    );
    assert!(allowed(&profile(&out3)).contains(&"kcmp".to_string()));
    assert!(!o.status.success(), "an ambiguous name must fail");
    assert!(
        !written_when_ambiguous,
        "an ambiguous target must not write a profile"
    );
    assert!(
        amb.contains("ambiguous") && amb.contains(&docker_id) && amb.contains(&podman_id),
        "{amb}"
    );
    assert!(
        o2.status.success(),
        "record by name failed: {}",
        stderr(&o2)
    );
    assert!(
        allowed(&profile(&out)).contains(&"kcmp".to_string()),
        "the running container's calls were not recorded"
    );
    assert!(stderr(&o2).contains("already running"), "{}", stderr(&o2));
}

#[test]
fn follow_containers_refuses_stdout_and_unknown_engines() {
    let o = recorder(&["record", "--follow-containers", "-o", "-", "--", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--output DIR"), "{}", stderr(&o));
    let o = recorder(&[
        "record",
        "--follow-containers",
        "--follow-engine",
        "lxc",
        "-o",
        "x",
        "--",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown engine 'lxc'"),
        "{}",
        stderr(&o)
    );
}

/// Calls runc makes while it sets the container up, before it installs the filter.
const RUNTIME_SETUP: &[&str] = &["mount", "pivot_root", "umount2", "sethostname"];

#[test]
fn recorded_under_a_permissive_profile_the_runtimes_setup_is_left_out() {
    require_root();
    let d = Docker::get();
    let s = Scratch::new("docker-permissive");
    // Written here: a filter that allows everything, so runc installs one.
    let permissive = s.path("allow-all.json");
    std::fs::write(
        &permissive,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[]}"#,
    )
    .unwrap();
    let create = |seccomp: &str| {
        stdout(&run_ok(d.cli().args([
            "create",
            "--network",
            "none",
            "--security-opt",
            &format!("seccomp={seccomp}"),
            IMAGE,
            "/bin/probe",
            MARK_A,
            MARK_B,
        ])))
        .trim()
        .to_string()
    };
    let mut profiles = Vec::new();
    for (tag, seccomp) in [
        ("permissive", permissive.to_str().unwrap()),
        ("unconfined", "unconfined"),
    ] {
        let id = create(seccomp);
        let sub = Scratch::new(tag);
        let out = record_from_start(
            &sub,
            &id,
            &d.data_root(),
            d.cli().args(["start", "-a", &id]),
        );
        let _ = d.cli().args(["rm", "-f", &id]).output();
        check_recorded(&out);
        profiles.push((tag, allowed(&profile(&out)), out, sub));
    }
    let (_, tight, tight_path, _) = &profiles[0];
    let (_, loose, _, _) = &profiles[1];
    eprintln!("permissive: {} calls {tight:?}", tight.len());
    for call in RUNTIME_SETUP {
        assert!(
            !tight.contains(&call.to_string()),
            "{call} in the tight profile: {tight:?}"
        );
        assert!(
            loose.contains(&call.to_string()),
            "{call} not even recorded unconfined: {loose:?}"
        );
    }
    // The runtime's calls after the filter are in: the container starts under it.
    let run = run_ok(d.cli().args([
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", tight_path.display()),
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
        OUTSIDE,
    ]));
    check_enforced(&stdout(&run), EPERM);
}

#[test]
fn follow_mode_still_folds_a_cgroup_made_under_the_command_into_it() {
    require_root();
    let s = Scratch::new("follow-nested");
    let markers = compile("markers", &s.0, &["-pthread"]);
    let mount = seccomp_recorder::cgroup::mount_point().unwrap();
    let out = s.path("profiles");
    let o = recorder(&[
        "record",
        "--follow-containers",
        "-o",
        out.to_str().unwrap(),
        "--",
        markers.to_str().unwrap(),
        "nested",
        mount.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "record failed: {}", stderr(&o));
    let names = allowed(&profile(&out.join("command.json")));
    assert!(
        names.contains(&"sched_get_priority_max".to_string()),
        "the nested cgroup's marker is missing: {names:?}"
    );
}

/// `record --follow-containers` of `sh script` into `out`, following the containers named
/// like `name_glob`; the recorder's stderr.
fn record_following(name_glob: &str, extra: &[&str], out: &Path, script: &Path) -> String {
    let mut args = vec!["record", "--follow-containers", "--follow-name", name_glob];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        script.to_str().unwrap(),
    ]);
    let o = recorder(&args);
    let log = stderr(&o);
    assert!(o.status.success(), "record failed: {log}");
    log
}

/// `out` holds the command's profile and one per container in `containers`, nothing else.
fn assert_profiles(out: &Path, containers: &[&str], log: &str) {
    let mut files: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = containers.iter().map(|c| format!("{c}.json")).collect();
    expected.push("command.json".into());
    expected.sort();
    assert_eq!(files, expected, "{log}");
}

/// A script that runs one container in docker, then one in podman, each probing its own
/// marker call, for `record --follow-containers` to follow.
fn docker_then_podman(
    s: &Scratch,
    (d, docker_name, in_docker): (&Docker, &str, &str),
    (p, podman_name, in_podman): (&Podman, &str, &str),
) -> PathBuf {
    let script = s.path("e2e.sh");
    std::fs::write(
        &script,
        format!(
            "set -e\n\
             /usr/bin/docker -H unix://{dsock} run --rm --name {docker_name} --network none \
               {IMAGE} /bin/probe {in_docker}\n\
             CONTAINERS_CONF={conf} podman {pargs} run --rm --name {podman_name} --network none \
               {IMAGE} /bin/probe {in_podman}\n",
            dsock = d.sock.display(),
            conf = p.conf().display(),
            pargs = p.args().join(" "),
        ),
    )
    .unwrap();
    script
}

#[test]
fn follow_engine_keeps_podman_containers_and_drops_docker_ones() {
    require_root();
    let d = Docker::get();
    let p = Podman::get();
    let s = Scratch::new("follow-podman");
    let tag = std::process::id();
    let (docker_name, podman_name) = (format!("fe-dk-{tag}"), format!("fe-pm-{tag}"));
    let (in_docker, in_podman) = ("sched_get_priority_max", "getitimer");
    let script = docker_then_podman(
        &s,
        (d, &docker_name, in_docker),
        (p, &podman_name, in_podman),
    );
    let out = s.path("profiles");
    let log = record_following(
        &format!("fe-*-{tag}"),
        &[
            "--follow-engine",
            "podman",
            "--engine-root",
            d.data_root().to_str().unwrap(),
            "--engine-root",
            p.root().to_str().unwrap(),
        ],
        &out,
        &script,
    );
    assert_profiles(&out, &[&podman_name], &log);
    let names = allowed(&profile(&out.join(format!("{podman_name}.json"))));
    assert!(names.contains(&in_podman.to_string()), "{names:?}");
    assert!(!names.contains(&in_docker.to_string()), "{names:?}");
    // Podman's default profile was active: runc's setup stayed out.
    for call in RUNTIME_SETUP {
        assert!(!names.contains(&call.to_string()), "{call}: {names:?}");
    }
}

#[test]
fn a_running_containerd_task_is_found_by_its_id_in_a_cgroup_of_its_own_choosing() {
    require_root();
    let c = Containerd::get();
    let s = Scratch::new("ctr-custom");
    let id = format!("custom-{}", std::process::id());
    let parent = format!("sctest-custom-{}", std::process::id());
    remove_cgroup_parent_at_exit(&parent);
    run_ok(c.ctr().args([
        "run",
        "-d",
        "--cgroup",
        &format!("/{parent}/{id}"),
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "while true; do /bin/probe kcmp; sleep 0.1; done",
    ]));
    let out = s.path("p.json");
    let o = recorder(&[
        "record",
        "--container",
        &id,
        "--engine-root",
        c.state().to_str().unwrap(),
        "--duration",
        "1s",
        "-o",
        out.to_str().unwrap(),
    ]);
    let _ = c
        .ctr()
        .args(["task", "kill", "-s", "SIGKILL", &id])
        .output();
    std::thread::sleep(Duration::from_millis(300));
    let _ = c.ctr().args(["task", "rm", "-f", &id]).output();
    let _ = c.ctr().args(["container", "rm", &id]).output();
    assert!(o.status.success(), "record failed: {}", stderr(&o));
    assert!(
        allowed(&profile(&out)).contains(&"kcmp".to_string()),
        "the task's calls were not recorded"
    );
}

#[test]
fn podman_container_recorded_by_id_prefix() {
    require_root();
    let p = Podman::get();
    let s = Scratch::new("podman-id");
    let id = stdout(&run_ok(p.cli().args([
        "create",
        "--network",
        "none",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "/bin/probe",
        MARK_A,
        MARK_B,
    ])))
    .trim()
    .to_string();
    let out = record_from_start(&s, &id[..12], &p.root(), p.cli().args(["start", "-a", &id]));
    let _ = p.cli().args(["rm", "-f", "-t", "0", &id]).output();
    check_recorded(&out);
}

/// The engines run on private roots and no `--engine-root` is given: the recorder finds their
/// state from dockerd's command line and podman's (and conmon's) arguments.
#[test]
fn followed_containers_on_private_roots_are_named_from_the_running_engines() {
    require_root();
    let d = Docker::get();
    let p = Podman::get();
    let s = Scratch::new("follow-private");
    let tag = std::process::id();
    let (docker_name, podman_name) = (format!("pr-dk-{tag}"), format!("pr-pm-{tag}"));
    let (in_docker, in_podman) = ("sched_get_priority_max", "getitimer");
    let script = docker_then_podman(
        &s,
        (d, &docker_name, in_docker),
        (p, &podman_name, in_podman),
    );
    let out = s.path("profiles");
    let log = record_following(&format!("pr-*-{tag}"), &[], &out, &script);
    assert_profiles(&out, &[&docker_name, &podman_name], &log);
    for (file, mine, other) in [
        (&docker_name, in_docker, in_podman),
        (&podman_name, in_podman, in_docker),
    ] {
        let names = allowed(&profile(&out.join(format!("{file}.json"))));
        assert!(names.contains(&mine.to_string()), "{file}: {names:?}");
        assert!(!names.contains(&other.to_string()), "{file}: {names:?}");
    }
}

/// `--container NAME` of containers on private roots, with neither `--engine-root` nor a
/// docker CLI that knows the daemon (DOCKER_HOST points nowhere).
#[test]
fn containers_on_private_roots_are_found_by_name_from_the_running_engines() {
    require_root();
    let d = Docker::get();
    let p = Podman::get();
    let s = Scratch::new("names-private");
    let tag = std::process::id();
    let (docker_name, podman_name) = (format!("np-dk-{tag}"), format!("np-pm-{tag}"));
    let (in_docker, in_podman) = ("sched_get_priority_max", "getitimer");
    let looping = |call: &str| format!("while true; do /bin/probe {call}; sleep 0.1; done");
    let docker_loop = looping(in_docker);
    let podman_loop = looping(in_podman);
    let common = ["--network", "none", IMAGE, "/bin/sh", "-c"];
    run_ok(
        d.cli()
            .args(["run", "-d", "--name", &docker_name])
            .args(common)
            .arg(&docker_loop),
    );
    run_ok(
        p.cli()
            .args(["run", "-d", "--name", &podman_name])
            .args(common)
            .arg(&podman_loop),
    );
    let out = s.path("profiles");
    let o = Command::new(bin())
        .args([
            "record",
            "--container",
            &docker_name,
            "--container",
            &podman_name,
        ])
        .args(["--duration", "2s", "-o"])
        .arg(&out)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", s.path("no-docker.sock").display()),
        )
        .output()
        .unwrap();
    let _ = d.cli().args(["rm", "-f", &docker_name]).output();
    let _ = p.cli().args(["rm", "-f", "-t", "0", &podman_name]).output();
    let log = stderr(&o);
    assert!(o.status.success(), "record failed: {log}");
    for (file, mine) in [(&docker_name, in_docker), (&podman_name, in_podman)] {
        let path = out.join(format!("{file}.json"));
        assert!(path.exists(), "{} missing: {log}", path.display());
        let names = allowed(&profile(&path));
        assert!(names.contains(&mine.to_string()), "{file}: {names:?}");
    }
}

/// A docker CLI whose daemon never answers is given up on after 5 s, and the error says so.
#[test]
fn an_engine_cli_that_does_not_answer_is_named_in_the_error() {
    require_root();
    let s = Scratch::new("silent-cli");
    // Connections queue in the backlog and are never answered.
    let sock = s.path("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let started = std::time::Instant::now();
    let o = Command::new(bin())
        .args(["record", "--container", "no-such-container-anywhere", "-o"])
        .arg(s.path("p.json"))
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    let error = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(error.contains("no container matches"), "{err}");
    assert!(error.contains("docker did not answer within 5s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
}
