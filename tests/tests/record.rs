//! Recording on the real kernel: the eBPF program is loaded and attached, workloads run in
//! real cgroups. Needs root; fails (never skips) without it.

use seccomp_recorder::arch::Arch;
use seccomp_recorder::record::{self, Event, Note, Options};
use seccomp_recorder::trace::AttachKind;
use seccomp_recorder_tests::*;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MAIN: &str = "sched_getscheduler";
const THREAD: &str = "getitimer";
const CHILD: &str = "sysinfo";
const GRANDCHILD: &str = "times";
const OUTSIDE: &str = "getpriority";

fn markers(dir: &Path) -> PathBuf {
    compile("markers", dir, &["-pthread"])
}

/// Records `markers MODE ARGS...` into a fresh profile; returns the run and the profile path.
fn record_markers(s: &Scratch, args: &[&str]) -> (std::process::Output, PathBuf) {
    let bin = markers(&s.0);
    let out = s.path("p.json");
    let mut all = vec![
        "record",
        "-o",
        out.to_str().unwrap(),
        "--",
        bin.to_str().unwrap(),
    ];
    all.extend(args);
    (recorder(&all), out)
}

fn cgroup_mount() -> PathBuf {
    seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted")
}

/// A process outside every target making the OUTSIDE marker until dropped.
struct Outside(Child);

impl Outside {
    fn start(markers: &Path) -> Outside {
        Outside(Command::new(markers).arg("outside").spawn().unwrap())
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn command_records_threads_forks_and_exec_chains_but_nothing_outside() {
    require_root();
    let s = Scratch::new("tree");
    let bin = markers(&s.0);
    let _outside = Outside::start(&bin);
    let out = s.path("profile.json");
    let o = recorder(&[
        "record",
        "-o",
        out.to_str().unwrap(),
        "--",
        bin.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "record failed: {}", stderr(&o));
    let p = profile(&out);
    let names = allowed(&p);
    for marker in [MAIN, THREAD, CHILD, GRANDCHILD, "execve", "clone3"] {
        assert!(
            names.contains(&marker.to_string()),
            "{marker} missing from {names:?}"
        );
    }
    assert!(
        !names.contains(&OUTSIDE.to_string()),
        "a process outside the target leaked in: {names:?}"
    );
    // The recorder's own work (loading eBPF) happens outside the command's cgroup.
    for own in ["bpf", "perf_event_open"] {
        assert!(
            !names.contains(&own.to_string()),
            "the recorder's own {own} leaked in"
        );
    }
    assert_eq!(p["architectures"], serde_json::json!(["SCMP_ARCH_X86_64"]));
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    assert!(p.get("flags").is_none(), "runc 1.1.5 rejects a flags field");
}

#[test]
fn cgroup_created_under_the_target_while_recording_is_recorded() {
    require_root();
    let s = Scratch::new("nested");
    let mount = cgroup_mount();
    let (o, out) = record_markers(&s, &["nested", mount.to_str().unwrap()]);
    assert!(o.status.success(), "record failed: {}", stderr(&o));
    assert!(allowed(&profile(&out)).contains(&"sched_get_priority_max".to_string()));
}

#[test]
fn i386_program_is_recorded_under_scmp_arch_x86_with_i386_numbers() {
    require_root();
    let s = Scratch::new("i386");
    let bin = compile("markers", &s.0, &["-m32", "-static", "-pthread"]);
    let opts = Options {
        command: vec![bin.into_os_string()],
        linger: Duration::from_secs(2),
        ..Default::default()
    };
    let report = record::record(&opts, &mut |_| {}).expect("recording works");
    let names = &report.targets[0].syscalls.names;
    let x86 = &names[&Arch::X86];
    for marker in [MAIN, THREAD, CHILD, GRANDCHILD] {
        assert!(
            x86.contains(marker),
            "{marker} missing from the i386 set {x86:?}"
        );
    }
    // i386-only names prove the numbers went through the i386 table.
    assert!(
        x86.contains("mmap2") || x86.contains("set_thread_area"),
        "{x86:?}"
    );
    // The only 64-bit call made is the execve that started the 32-bit image (signal
    // return and restart_syscall are added to every recorded ABI).
    let x86_64 = &names[&Arch::X86_64];
    assert_eq!(
        x86_64.iter().collect::<Vec<_>>(),
        vec!["execve", "restart_syscall", "rt_sigreturn"],
        "64-bit set: {x86_64:?}"
    );
    assert!(
        x86.contains("sigreturn")
            && x86.contains("rt_sigreturn")
            && x86.contains("restart_syscall"),
        "{x86:?}"
    );
}

/// BTF, raw and classic tracepoints read the task's compat flag differently (a direct BTF
/// load, or a probe read): all three must tell i386 from x86_64 the same way.
#[test]
fn every_attach_type_splits_the_abis_alike() {
    require_root();
    let s = Scratch::new("attach");
    let bin = compile("markers", &s.0, &["-m32", "-static", "-pthread"]);
    for kind in [AttachKind::Btf, AttachKind::Raw, AttachKind::Tracepoint] {
        let opts = Options {
            command: vec![bin.clone().into_os_string()],
            attach: Some(kind),
            linger: Duration::from_secs(2),
            ..Default::default()
        };
        let report = record::record(&opts, &mut |_| {}).expect("recording works");
        assert_eq!(report.attach, kind);
        let names = &report.targets[0].syscalls.names;
        assert!(names[&Arch::X86].contains(MAIN), "{kind}: {names:?}");
        assert!(!names[&Arch::X86_64].contains(MAIN), "{kind}: {names:?}");
    }
}

#[test]
fn exit_status_is_the_commands_and_the_profile_is_still_written() {
    require_root();
    let s = Scratch::new("exit");
    let (o, out) = record_markers(&s, &["exit", "7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(allowed(&profile(&out)).contains(&MAIN.to_string()));
    assert!(
        stderr(&o).contains("status 7"),
        "no warning about the failure: {}",
        stderr(&o)
    );
}

#[test]
fn append_builds_one_profile_over_several_runs() {
    require_root();
    let s = Scratch::new("append");
    let bin = markers(&s.0);
    let out = s.path("p.json");
    let out_s = out.to_str().unwrap();
    let bin_s = bin.to_str().unwrap();
    let first = recorder(&["record", "--append", out_s, "--", bin_s, "exit", "0"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!allowed(&profile(&out)).contains(&GRANDCHILD.to_string()));
    let second = recorder(&["record", "--append", out_s, "--", bin_s]);
    assert!(second.status.success(), "{}", stderr(&second));
    let names = allowed(&profile(&out));
    assert!(
        names.contains(&GRANDCHILD.to_string()) && names.contains(&MAIN.to_string()),
        "{names:?}"
    );
}

/// Two recordings in one process at the same moment each get their own cgroup: a name made
/// from the PID alone collided ("File exists") under parallel tests.
#[test]
fn two_recordings_in_one_process_at_once_do_not_share_a_cgroup() {
    require_root();
    let s = Scratch::new("parallel");
    let bin = markers(&s.0);
    let gate = std::sync::Barrier::new(2);
    let run = || {
        let script = format!("sleep 1; exec {}", bin.display());
        let opts = Options {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            linger: Duration::from_secs(2),
            ..Default::default()
        };
        gate.wait();
        record::record(&opts, &mut |_| {})
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(run);
        let b = sc.spawn(run);
        (a.join().unwrap(), b.join().unwrap())
    });
    for report in [a, b] {
        let report = report.expect("both recordings work");
        let names = &report.targets[0].syscalls.names[&Arch::X86_64];
        assert!(names.contains(MAIN), "{names:?}");
    }
}

#[test]
fn sigint_to_the_recorder_reaches_the_command_and_leaves_a_complete_profile() {
    require_root();
    let s = Scratch::new("sigint");
    let bin = markers(&s.0);
    let out = s.path("p.json");
    let mut rec = Command::new(bin_path())
        .args([
            "record",
            "-o",
            out.to_str().unwrap(),
            "--",
            bin.to_str().unwrap(),
            "sleep",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut rec, "recording via");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(rec.id() as i32, libc::SIGINT) };
    let status = rec.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "the command should die of the forwarded SIGINT"
    );
    let names = allowed(&profile(&out));
    assert!(
        names.contains(&"sched_get_priority_min".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"pause".to_string()), "{names:?}");
}

fn bin_path() -> PathBuf {
    bin()
}

fn wait_for_line(child: &mut Child, needle: &str) {
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains(needle) {
            // Keep draining so the recorder never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return;
        }
    }
    panic!("the recorder exited before printing '{needle}'");
}

/// A cgroup made by the test, holding one workload process; removed on drop.
struct TestCgroup {
    path: PathBuf,
    child: Child,
}

impl TestCgroup {
    fn start(name: &str, markers: &Path, marker: &str) -> TestCgroup {
        let path = cgroup_mount().join(format!("scr-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).unwrap();
        let procs = path.join("cgroup.procs");
        let mut cmd = Command::new(markers);
        cmd.args(["wait-usr1", marker]);
        // SAFETY: only a write(2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || std::fs::write(&procs, "0"));
        }
        let child = cmd.spawn().unwrap();
        TestCgroup { path, child }
    }

    fn go(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGUSR1) };
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..50 {
            if std::fs::remove_dir(&self.path).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Records `args` (targets), releases each workload once attached, and returns stderr.
fn record_existing(args: &[&str], workloads: &[&TestCgroup]) -> (std::process::ExitStatus, String) {
    let mut rec = Command::new(bin())
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut rec, "recording via");
    for w in workloads {
        w.go();
    }
    let status = rec.wait().unwrap();
    (status, String::new())
}

#[test]
fn existing_cgroup_is_recorded_until_it_empties() {
    require_root();
    let s = Scratch::new("cgroup");
    let bin = markers(&s.0);
    let cg = TestCgroup::start("cg", &bin, "min");
    let out = s.path("p.json");
    let (status, _) = record_existing(
        &[
            "record",
            "-o",
            out.to_str().unwrap(),
            "--cgroup",
            cg.path.to_str().unwrap(),
        ],
        &[&cg],
    );
    assert!(status.success());
    let names = allowed(&profile(&out));
    assert!(
        names.contains(&"sched_get_priority_min".to_string()),
        "{names:?}"
    );
    assert!(
        !names.contains(&"sched_get_priority_max".to_string()),
        "{names:?}"
    );
}

#[test]
fn pid_target_records_its_cgroup() {
    require_root();
    let s = Scratch::new("pid");
    let bin = markers(&s.0);
    let cg = TestCgroup::start("pid", &bin, "max");
    let out = s.path("p.json");
    let pid = cg.child.id().to_string();
    let (status, _) = record_existing(
        &["record", "-o", out.to_str().unwrap(), "--pid", &pid],
        &[&cg],
    );
    assert!(status.success());
    assert!(allowed(&profile(&out)).contains(&"sched_get_priority_max".to_string()));
}

#[test]
fn two_targets_at_once_stay_separate() {
    require_root();
    let s = Scratch::new("two");
    let bin = markers(&s.0);
    let a = TestCgroup::start("a", &bin, "min");
    let b = TestCgroup::start("b", &bin, "max");
    let dir = s.path("profiles");
    let (status, _) = record_existing(
        &[
            "record",
            "-o",
            dir.to_str().unwrap(),
            "--cgroup",
            a.path.to_str().unwrap(),
            "--cgroup",
            b.path.to_str().unwrap(),
        ],
        &[&a, &b],
    );
    assert!(status.success());
    let name = |cg: &TestCgroup| {
        dir.join(format!(
            "cgroup-{}.json",
            cg.path.file_name().unwrap().to_str().unwrap()
        ))
    };
    let pa = allowed(&profile(&name(&a)));
    let pb = allowed(&profile(&name(&b)));
    assert!(
        pa.contains(&"sched_get_priority_min".to_string())
            && !pa.contains(&"sched_get_priority_max".to_string()),
        "{pa:?}"
    );
    assert!(
        pb.contains(&"sched_get_priority_max".to_string())
            && !pb.contains(&"sched_get_priority_min".to_string()),
        "{pb:?}"
    );
}

/// Past the program's inline list of 8 target ids, the hash decides: ten targets at once,
/// each keeps its own marker.
#[test]
fn ten_targets_at_once_stay_separate() {
    require_root();
    let s = Scratch::new("ten");
    let bin = markers(&s.0);
    let marker = |i: usize| if i.is_multiple_of(2) { "min" } else { "max" };
    let cgs: Vec<TestCgroup> = (0..10)
        .map(|i| TestCgroup::start(&format!("ten{i}"), &bin, marker(i)))
        .collect();
    let dir = s.path("profiles");
    let mut args = vec!["record".to_string(), "-o".into(), dir.display().to_string()];
    for cg in &cgs {
        args.push("--cgroup".into());
        args.push(cg.path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, _) = record_existing(&args, &cgs.iter().collect::<Vec<_>>());
    assert!(status.success());
    for (i, cg) in cgs.iter().enumerate() {
        let name = cg.path.file_name().unwrap().to_str().unwrap();
        let names = allowed(&profile(&dir.join(format!("cgroup-{name}.json"))));
        let (own, other) = if i.is_multiple_of(2) {
            ("min", "max")
        } else {
            ("max", "min")
        };
        assert!(
            names.contains(&format!("sched_get_priority_{own}")),
            "{name}: {names:?}"
        );
        assert!(
            !names.contains(&format!("sched_get_priority_{other}")),
            "{name}: {names:?}"
        );
    }
}

#[test]
fn duration_stops_recording_a_target_that_keeps_running() {
    require_root();
    let s = Scratch::new("duration");
    let bin = markers(&s.0);
    let cg = TestCgroup::start("dur", &bin, "min");
    let out = s.path("p.json");
    let o = record_cgroup(&cg.path, "500ms", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    // Nothing happened in the cgroup while recording: a valid, empty allow-list.
    let p = profile(&out);
    assert!(allowed(&p).is_empty(), "{p}");
}

/// Bad input: a clear error, a non-zero exit, and no output file.
fn assert_refused(args: &[&str], out: &Path, expect: &str) {
    let o = recorder(args);
    assert!(!o.status.success(), "{args:?} should fail");
    let err = stderr(&o);
    assert!(
        err.contains(expect),
        "{args:?}: expected '{expect}' in: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "{args:?} left an output file");
}

#[test]
fn bad_targets_give_clear_errors_and_no_file() {
    require_root();
    let s = Scratch::new("bad");
    let out = s.path("p.json");
    let o = out.to_str().unwrap();
    assert_refused(
        &["record", "-o", o, "--pid", "999999999"],
        &out,
        "no process with PID 999999999",
    );
    assert_refused(
        &[
            "record",
            "-o",
            o,
            "--cgroup",
            "/sys/fs/cgroup/no-such-cgroup-xyz",
        ],
        &out,
        "does not exist",
    );
    assert_refused(
        &["record", "-o", o, "--container", "0badc0ffee"],
        &out,
        "no container matches '0badc0ffee'",
    );
    assert_refused(
        &["record", "-o", o, "--", "/no/such/program"],
        &out,
        "/no/such/program",
    );
    assert_refused(
        &["record", "-o", o, "--", "no-such-program-xyz"],
        &out,
        "command not found",
    );
    assert_refused(&["record", "-o", o], &out, "nothing to record");
    // A typo in -o is caught before the command runs, not after a long recording.
    let missing = s.path("no-such-dir/p.json");
    let ran = s.path("ran");
    assert_refused(
        &[
            "record",
            "-o",
            missing.to_str().unwrap(),
            "--",
            "touch",
            ran.to_str().unwrap(),
        ],
        &missing,
        "does not exist",
    );
    assert!(
        !ran.exists(),
        "the command ran although the profile could not be written"
    );
}

#[test]
fn without_cap_bpf_the_error_names_the_capability() {
    require_root();
    let s = Scratch::new("nocap");
    let out = s.path("p.json");
    let o = Command::new("setpriv")
        .args(["--bounding-set", "-bpf", "--inh-caps", "-bpf"])
        .arg(bin())
        .args(["record", "-o", out.to_str().unwrap(), "--", "/bin/true"])
        .output()
        .expect("setpriv (util-linux) is installed");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("CAP_BPF"), "{err}");
    assert!(!out.exists());
}

#[test]
fn unknown_syscall_numbers_are_reported_not_dropped() {
    require_root();
    let s = Scratch::new("odd");
    let (o, out) = record_markers(&s, &["odd"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("1000") && err.contains("5000"),
        "unknown numbers not reported: {err}"
    );
    // The profile stays valid: names only, both numbers left out.
    assert!(
        allowed(&profile(&out))
            .iter()
            .all(|n| n.parse::<u64>().is_err())
    );
}

#[test]
fn the_last_of_200_short_lived_children_is_recorded() {
    require_root();
    let s = Scratch::new("storm");
    let (o, out) = record_markers(&s, &["storm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(allowed(&profile(&out)).contains(&"sched_get_priority_max".to_string()));
}

/// The library hands what it has to say to its caller, as it happens: how it attached
/// before the command starts, then the progress about once a second.
#[test]
fn recording_reports_notes_and_progress_to_the_caller() {
    require_root();
    let opts = Options {
        command: vec!["sleep".into(), "1.6".into()],
        ..Default::default()
    };
    let mut notes = Vec::new();
    let mut ticks = Vec::new();
    let report = record::record(&opts, &mut |event| match event {
        Event::Note(n) => notes.push(n),
        Event::Progress(t, now) => ticks.push((t, now.iter().map(|r| r.label.clone()).collect())),
    })
    .expect("recording works");
    assert!(
        matches!(notes.first(), Some(Note::Info(t)) if t.starts_with("recording via ")),
        "{notes:?}"
    );
    assert!(
        !ticks.is_empty()
            && ticks
                .iter()
                .all(|(_, l): &(Duration, Vec<String>)| l == &["command"]),
        "{ticks:?}"
    );
    assert!(
        report.targets[0]
            .syscalls
            .names
            .values()
            .any(|n| n.contains("nanosleep") || n.contains("clock_nanosleep"))
    );
}

/// Every subcommand's log lines start with the time; with `--log-format json` each stderr
/// line of a real recording, and the last word of a failed command, is one JSON object.
#[test]
fn log_lines_are_timestamped_and_json_on_request() {
    require_root();
    let s = Scratch::new("logfmt");
    let out = s.path("p.json");
    let out = out.to_str().unwrap();
    let from = logs::now();
    let o = recorder(&[
        "--log-format",
        "json",
        "record",
        "-o",
        out,
        "--",
        "/bin/true",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = logs::json_lines(&stderr(&o), from);
    assert!(
        lines.iter().any(|l| l["level"] == "info"
            && l["message"].as_str().unwrap().starts_with("command: ")
            && l["target"]
                .as_str()
                .unwrap()
                .starts_with("seccomp_recorder")),
        "no info line about the command: {lines:?}"
    );

    let from = logs::now();
    let missing = s.path("missing.json");
    let missing = missing.to_str().unwrap();
    let o = recorder(&["merge", "--log-format", "json", "-o", out, missing, missing]);
    assert!(!o.status.success());
    let lines = logs::json_lines(&stderr(&o), from);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "error", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("missing.json"),
        "{last}"
    );

    let from = logs::now();
    let o = recorder(&["record", "-o", out, "--", "/bin/true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for line in stderr(&o).lines() {
        let (ts, rest) = line.split_once(' ').unwrap();
        logs::assert_timestamp(ts, from);
        assert!(
            ["ERROR ", "WARN  ", "INFO  ", "DEBUG ", "TRACE "]
                .iter()
                .any(|l| rest.starts_with(l)),
            "no level after the time: {line}"
        );
    }
}

/// A workload that makes more cgroups than the kernel maps hold: the kernel refuses those
/// beyond and counts them, and `record` fails saying so instead of writing a profile that
/// misses their calls.
#[test]
fn more_cgroups_than_the_kernel_maps_hold_is_a_clear_error_and_no_profile() {
    require_root();
    let s = Scratch::new("mapfull");
    let out = s.path("p.json");
    // The maps hold 1025 cgroups: the command's own and 1024 made under it. 1030 children
    // leave 6 without a slot.
    let script = format!(
        r#"cg="{}$(sed -n 's/^0:://p' /proc/self/cgroup)"
        for i in $(seq 1030); do mkdir "$cg/c$i" || exit 1; done
        for i in $(seq 1030); do rmdir "$cg/c$i"; done"#,
        cgroup_mount().display()
    );
    let o = record_sh(&out, &script).output().unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("error: the kernel maps were full: 6 cgroups made while recording were not recorded (the maps hold 1025"),
        "{err}"
    );
    assert!(!out.exists(), "a profile was written:\n{err}");
}
