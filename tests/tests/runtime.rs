//! Proof on a real OCI runtime (runc): a container is recorded, the profile goes into its
//! config.json, and a fresh container of the same workload runs under it and is refused
//! what it never did. Needs root; fails (never skips) without it.

use seccomp_recorder_tests::runc::{Container, Recording, Rootfs, record_created};
use seccomp_recorder_tests::*;
use serde_json::Value;
use std::path::Path;

/// The marker syscalls of `/workload one|two`, and the call only PROBE=1 runs make.
const ONE: &str = "sched_get_priority_max";
const TWO: &str = "sched_get_priority_min";
const PROBE: &str = "getitimer";
const ENOSYS: i32 = 38;
const EPERM: i32 = 1;

fn has(profile: &Value, name: &str) -> bool {
    allowed(profile).iter().any(|n| n == name)
}

/// What the recorder itself calls to load and read its eBPF program: never the container's.
fn assert_nothing_of_the_recorder(profile: &Value) {
    for own in ["bpf", "perf_event_open"] {
        assert!(!has(profile, own), "the recorder's own {own} leaked in");
    }
}

/// A fresh container of `/workload MARKER` under `profile`, with the probe step enabled:
/// it must run to success and print that its probe got `errno`.
fn assert_enforced(s: &Scratch, rootfs: &Rootfs, marker: &str, profile: Value, errno: i32) {
    let mut c = Container::new(
        s,
        rootfs,
        &["/bin/sh", "-c", &format!("/workload {marker}")],
    );
    c.env("PROBE=1").seccomp(profile);
    let o = c.run();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "the container fails under its recorded profile ({}):\nstdout: {out}\nstderr: {}",
        o.status,
        stderr(&o)
    );
    let want = format!("marker {marker} 0\nprobe {PROBE} {errno}\n");
    assert_eq!(out, want, "stderr: {}", stderr(&o));
}

/// The documented starting point of every container profile (examples/runtime-needs.json):
/// what runc init's Go runtime may call after the filter is in place, at random (a signal's
/// rt_sigreturn), so that no single recording can be relied on to have seen it.
fn runtime_needs() -> std::path::PathBuf {
    workspace().join("examples/runtime-needs.json")
}

/// A copy of the runtime needs at `s/name`, to record into with `--append`.
fn seeded(s: &Scratch, name: &str) -> std::path::PathBuf {
    let path = s.path(name);
    std::fs::copy(runtime_needs(), &path).unwrap();
    path
}

/// `merge` of a recorded profile and the runtime needs, with the recording's errno.
fn merged_with_needs(s: &Scratch, recorded: &Path, errno: &str) -> Value {
    let out = s.path("merged.json");
    let o = recorder(&[
        "merge",
        recorded.to_str().unwrap(),
        runtime_needs().to_str().unwrap(),
        "--default-action",
        &format!("errno:{errno}"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "merge: {}", stderr(&o));
    profile(&out)
}

#[test]
fn container_recorded_by_id_runs_under_its_profile_and_is_refused_the_rest() {
    require_root();
    let s = Scratch::new("rt-one");
    let rootfs = Rootfs::new(&s);
    let c = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload one"]);
    let out = seeded(&s, "profile.json");
    let err = record_created(&["record", "--append", out.to_str().unwrap()], &[&c]);
    assert!(err.contains(&c.short().to_string()), "{err}");
    assert_eq!(c.stdout(), "marker one 0\n", "the recorded run itself");
    drop(c);

    let p = profile(&out);
    assert!(
        has(&p, ONE),
        "the workload's marker is missing: {:?}",
        allowed(&p)
    );
    // runc's init execs the process after the filter is in place: without its execve in the
    // profile no container could start.
    assert!(has(&p, "execve"), "{:?}", allowed(&p));
    assert!(!has(&p, PROBE) && !has(&p, TWO), "{:?}", allowed(&p));
    assert_nothing_of_the_recorder(&p);
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(p["defaultErrnoRet"], ENOSYS);
    // Fresh containers, several times: what runc init's Go runtime does after the filter is
    // in place varies from run to run.
    for _ in 0..3 {
        assert_enforced(&s, &rootfs, "one", p.clone(), ENOSYS);
    }
}

/// `runc create NAME` with runc's default state root, as users type it: the cgroup name does
/// not carry the ID, the recorder finds the container through /run/runc/NAME/state.json.
#[test]
fn container_named_in_runcs_default_root_is_found_through_its_state() {
    require_root();
    let s = Scratch::new("rt-named");
    let rootfs = Rootfs::new(&s);
    let mut c = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    c.named_in_default_root("named");
    let out = s.path("named.json");
    let err = record_created(&["record", "-o", out.to_str().unwrap()], &[&c]);
    assert!(err.contains(&c.id.to_string()), "{err}");
    assert_eq!(c.stdout(), "marker two 0\n");
    let p = profile(&out);
    assert!(has(&p, TWO) && has(&p, "execve"), "{:?}", allowed(&p));
}

/// Every container profile allows what runc init's Go runtime may call at any time after
/// the filter is in place, whatever found the container: one found only through runc's
/// state.json (its cgroup name carries no ID) used to lack them.
#[test]
fn a_container_found_through_runcs_state_gets_the_runtimes_calls_like_any_other() {
    require_root();
    // The Go runtime's calls docs/runtime.md lists.
    const GO_RUNTIME: [&str; 15] = [
        "futex",
        "nanosleep",
        "sched_yield",
        "getpid",
        "gettid",
        "tgkill",
        "rt_sigreturn",
        "mmap",
        "munmap",
        "madvise",
        "clone",
        "sigaltstack",
        "rt_sigprocmask",
        "epoll_pwait",
        "exit",
    ];
    let s = Scratch::new("rt-go");
    let rootfs = Rootfs::new(&s);
    let mut named = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    named.named_in_default_root("go");
    let by_id = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload one"]);
    for (c, file) in [(&named, "named.json"), (&by_id, "by-id.json")] {
        let out = s.path(file);
        record_created(&["record", "-o", out.to_str().unwrap()], &[c]);
        let p = profile(&out);
        let missing: Vec<&str> = GO_RUNTIME.into_iter().filter(|n| !has(&p, n)).collect();
        assert!(
            missing.is_empty(),
            "{file}: {missing:?} missing: {:?}",
            allowed(&p)
        );
    }
}

/// `runc --root DIR`: a named container there is found once `--engine-root DIR` says where
/// to look, as docs/runtime.md shows, and not found (a clear error, no file) without it.
#[test]
fn container_in_a_private_runc_root_is_found_with_engine_root() {
    require_root();
    let s = Scratch::new("rt-root");
    let rootfs = Rootfs::new(&s);
    let mut c = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    c.named_in_private_root("root");
    let root = c
        .state_root()
        .expect("a private state root")
        .display()
        .to_string();
    let out = s.path("root.json");
    let out_s = out.to_str().unwrap();
    c.create();
    let o = recorder(&["record", "-o", out_s, "--container", &c.id]);
    assert!(
        !o.status.success() && !out.exists(),
        "found without --engine-root?"
    );
    assert!(
        stderr(&o).contains("no container matches"),
        "{}",
        stderr(&o)
    );
    // docs/runtime.md's example, with this test's root, container and file.
    let args: Vec<String> = doc_command("docs/runtime.md", "--engine-root DIR --container")
        .into_iter()
        .map(|a| match a.as_str() {
            "DIR" => root.clone(),
            "app" => c.id.clone(),
            "app.json" => out_s.to_string(),
            _ => a,
        })
        .collect();
    assert_eq!(
        args,
        [
            "record",
            "-o",
            out_s,
            "--engine-root",
            &root,
            "--container",
            &c.id
        ]
    );
    let rec = Recording::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    c.start();
    let (status, err) = rec.finish();
    assert!(status.success(), "{err}");
    assert_eq!(c.stdout(), "marker two 0\n");
    assert!(has(&profile(&out), TWO), "{:?}", allowed(&profile(&out)));
}

/// README's and docs/runtime.md's `record -o profiles/ --container web --container db`,
/// with runc containers of those names: a whole name is a name, however short, and each
/// profile is `<name>.json`, as for a container of any engine.
#[test]
fn runc_containers_named_web_and_db_are_recorded_into_web_json_and_db_json() {
    require_root();
    let s = Scratch::new("rt-names");
    let rootfs = Rootfs::new(&s);
    let mut web = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload one"]);
    web.named("web");
    let mut db = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    db.named("db");
    let root = web.state_root().unwrap().to_str().unwrap().to_string();
    let dir = s.path("profiles");
    let dir_s = format!("{}/", dir.display());
    let args = ["record", "-o", &dir_s, "--engine-root", &root];
    record_created(&args, &[&web, &db]);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["db.json", "web.json"]);
    let (pw, pd) = (
        profile(&dir.join("web.json")),
        profile(&dir.join("db.json")),
    );
    assert!(has(&pw, ONE) && !has(&pw, TWO), "web: {:?}", allowed(&pw));
    assert!(has(&pd, TWO) && !has(&pd, ONE), "db: {:?}", allowed(&pd));
}

#[test]
fn two_containers_recorded_at_once_get_only_their_own_syscalls() {
    require_root();
    let s = Scratch::new("rt-two");
    let rootfs = Rootfs::new(&s);
    let a = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload one"]);
    let b = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    let dir = s.path("profiles");
    let dir_s = format!("{}/", dir.display());
    record_created(&["record", "-o", &dir_s, "--errno", "EPERM"], &[&a, &b]);
    let file = |c: &Container| dir.join(format!("{}.json", c.short()));
    let (file_a, file_b) = (file(&a), file(&b));
    let (pa, pb) = (profile(&file_a), profile(&file_b));
    assert!(has(&pa, ONE) && !has(&pa, TWO), "a: {:?}", allowed(&pa));
    assert!(has(&pb, TWO) && !has(&pb, ONE), "b: {:?}", allowed(&pb));
    for p in [&pa, &pb] {
        assert_nothing_of_the_recorder(p);
        assert_eq!(p["defaultErrnoRet"], EPERM);
    }
    drop((a, b));
    let pb = merged_with_needs(&s, &file_b, "EPERM");
    assert_enforced(&s, &rootfs, "two", pb, EPERM);
    // a's profile refuses b's marker: the workload reports the errno and fails.
    let pa = merged_with_needs(&s, &file_a, "EPERM");
    let mut c = Container::new(&s, &rootfs, &["/bin/sh", "-c", "/workload two"]);
    c.seccomp(pa);
    let o = c.run();
    assert!(!o.status.success(), "b's marker passed a's profile");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("marker two {EPERM}\n")
    );
}

/// Without noNewPrivileges (Kubernetes' default unless allowPrivilegeEscalation is false)
/// runc installs the filter before it drops privileges, changes directory and waits for
/// `runc start`: attaching after `runc create` misses those calls and the container cannot
/// start. Recording a cgroup made ahead of `runc run` sees them.
#[test]
fn without_no_new_privileges_the_recording_starts_before_runc_create() {
    require_root();
    let s = Scratch::new("rt-nnp");
    let rootfs = Rootfs::new(&s);
    let args = ["/bin/sh", "-c", "/workload one"];

    // The create-then-record way, which is enough with noNewPrivileges, is not here: the
    // container is refused a call (chdir) by the profile's errno before it gets to exec.
    let mut late = Container::new(&s, &rootfs, &args);
    late.no_new_privileges(false);
    let late_out = seeded(&s, "late.json");
    record_created(
        &["record", "--append", late_out.to_str().unwrap()],
        &[&late],
    );
    drop(late);
    let mut c = Container::new(&s, &rootfs, &args);
    c.no_new_privileges(false).seccomp(profile(&late_out));
    let o = c.run();
    assert!(
        !o.status.success() && stderr(&o).contains("function not implemented"),
        "started although runc init's calls before `runc start` were not recorded: {}",
        stderr(&o)
    );
    drop(c);

    // Ahead of time: make the container's cgroup, record it, then `runc run` into it.
    let mut early = Container::new(&s, &rootfs, &args);
    early.no_new_privileges(false);
    std::fs::create_dir(early.cgroup()).unwrap();
    let out = s.path("early.json");
    let cgroup = early.cgroup();
    let rec = Recording::start(&[
        "record",
        "-o",
        out.to_str().unwrap(),
        "--cgroup",
        cgroup.to_str().unwrap(),
    ]);
    let o = early.run();
    assert!(o.status.success(), "runc run: {}", stderr(&o));
    let (status, err) = rec.finish();
    assert!(status.success(), "{err}");
    drop(early);
    let p = profile(&out);
    for call in ["capset", "chdir", "execve", ONE] {
        assert!(has(&p, call), "{call} missing: {:?}", allowed(&p));
    }
    assert_nothing_of_the_recorder(&p);

    // Signals reach runc init's Go runtime at random, for longer than with noNewPrivileges
    // (the filter is in place from before `runc create` returns): merged with the runtime
    // needs, fresh containers start every time.
    let p = merged_with_needs(&s, &out, "ENOSYS");
    for _ in 0..3 {
        let mut c = Container::new(&s, &rootfs, &args);
        c.no_new_privileges(false).env("PROBE=1").seccomp(p.clone());
        let o = c.run();
        assert!(o.status.success(), "{}", stderr(&o));
        let want = format!("marker one 0\nprobe {PROBE} {ENOSYS}\n");
        assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    }
}

/// One run of the suite in a fresh container, recorded into `append`.
fn record_suite_run(s: &Scratch, rootfs: &Rootfs, append: &Path, tests: &str) {
    let c = Container::new(s, rootfs, &["/bin/sh", "-c", &format!("/suite.sh {tests}")]);
    record_created(&["record", "--append", append.to_str().unwrap()], &[&c]);
    let out = c.stdout();
    for t in tests.split(' ') {
        assert!(out.contains(&format!("ok {t}\n")), "{tests}: {out}");
    }
}

/// The suite with all its tests, in a fresh container under `profile`.
fn run_suite(s: &Scratch, rootfs: &Rootfs, profile: Value) -> std::process::Output {
    let mut c = Container::new(s, rootfs, &["/bin/sh", "/suite.sh"]);
    c.seccomp(profile);
    c.run()
}

/// The e2e-tests workflow: record the suite while it runs, growing one profile with
/// `--append` over runs that each exercise part of it, then enforce the merged profile on
/// the whole suite.
#[test]
fn e2e_suite_recorded_over_runs_with_append_passes_under_the_merged_profile() {
    require_root();
    let s = Scratch::new("rt-suite");
    let rootfs = Rootfs::new(&s);
    let p = seeded(&s, "suite.json");
    record_suite_run(&s, &rootfs, &p, "get");

    // One run is not the whole suite: the test it did not run is refused.
    let o = run_suite(&s, &rootfs, profile(&p));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success(),
        "the whole suite passed on one run's profile: {out}"
    );
    assert!(
        out.contains(&format!("marker one {ENOSYS}\nFAIL workload\n")),
        "{out}\n{}",
        stderr(&o)
    );

    record_suite_run(&s, &rootfs, &p, "missing");
    record_suite_run(&s, &rootfs, &p, "workload");
    let merged = profile(&p);
    assert!(has(&merged, ONE), "{:?}", allowed(&merged));
    assert_nothing_of_the_recorder(&merged);
    let o = run_suite(&s, &rootfs, merged);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert_eq!(out, "ok get\nok missing\nmarker one 0\nok workload\n");
}

/// examples/record-e2e.sh, as the CI examples call it: recorded runs of the whole suite,
/// then the suite under the grown profile, the script's exit status being the suite's.
#[test]
fn record_e2e_script_records_the_suite_and_passes_it_under_the_profile() {
    require_root();
    let s = Scratch::new("rt-script");
    let rootfs = Rootfs::new(&s);
    let p = s.path("e2e.json");
    let o = std::process::Command::new("bash")
        .arg(workspace().join("examples/record-e2e.sh"))
        .arg(&p)
        .arg(&rootfs.dir)
        .args([
            "2",
            "/bin/sh",
            "-c",
            "/suite.sh get; /suite.sh missing workload",
        ])
        .env("SECCOMP_RECORDER", bin())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let suite = "ok get\nok missing\nmarker one 0\nok workload\n";
    assert_eq!(
        out,
        suite.repeat(3),
        "two recorded runs and the enforced one"
    );
    let err = stderr(&o);
    assert!(err.contains("enforcing"), "{err}");
    let profile = profile(&p);
    assert!(has(&profile, ONE) && !has(&profile, PROBE), "{profile}");
    assert!(
        has(&profile, "rt_sigreturn"),
        "not seeded from the runtime needs"
    );
    assert_nothing_of_the_recorder(&profile);

    // The script exits with the status of the suite under the profile.
    let o = std::process::Command::new("bash")
        .arg(workspace().join("examples/record-e2e.sh"))
        .arg(&p)
        .arg(&rootfs.dir)
        .args(["1", "/bin/sh", "-c", "/suite.sh get; exit 3"])
        .env("SECCOMP_RECORDER", bin())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn record_e2e_script_refuses_bad_arguments_clearly_and_writes_nothing() {
    let s = Scratch::new("rt-script-bad");
    let p = s.path("e2e.json");
    let script = workspace().join("examples/record-e2e.sh");
    let run = |args: &[&str]| {
        std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .env("SECCOMP_RECORDER", bin())
            .output()
            .unwrap()
    };
    let p_s = p.to_str().unwrap();
    let missing = s.path("no-rootfs");
    for (args, expect) in [
        (vec![p_s, "."], "usage:"),
        (
            vec![p_s, missing.to_str().unwrap(), "1", "/bin/true"],
            "is not a directory",
        ),
        (
            vec![p_s, ".", "x", "/bin/true"],
            "RUNS must be a positive number",
        ),
        (
            vec![p_s, ".", "0", "/bin/true"],
            "RUNS must be a positive number",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(!p.exists(), "{args:?} left a profile behind");
    }
}

/// The runtime needs are a plain profile every runtime loads: `validate` accepts it as is.
#[test]
fn runtime_needs_example_is_a_valid_profile() {
    let o = recorder(&["validate", runtime_needs().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = profile(&runtime_needs());
    assert!(has(&p, "rt_sigreturn"), "{p}");
    assert_eq!(p["defaultErrnoRet"], ENOSYS);
}
