//! `watch-refusals`: a process enforced on this host with a filter carrying
//! SECCOMP_FILTER_FLAG_LOG has its refused calls shown live, through the audit multicast
//! group (with and without auditd) and through /dev/kmsg, each asked for with --source;
//! without it, the path the probe picks (the kernel path where the kernel accepts it).

use seccomp_recorder_tests::auditd::{Auditd, audit_status};
use seccomp_recorder_tests::runc::{Container, Rootfs, record_created, runc13};
use seccomp_recorder_tests::{Scratch, bin, compile, recorder, require_root, rss_kib, stderr};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The kernel tests share the kernel's audit state (auditd, printk rate limit): one at a
/// time.
static KERNEL: Mutex<()> = Mutex::new(());

fn kernel() -> std::sync::MutexGuard<'static, ()> {
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `watch-refusals`: its stdout lines as they arrive, with their arrival time.
struct Watch {
    child: Child,
    lines: Receiver<(Instant, String)>,
    stderr: Receiver<String>,
    said: Vec<String>,
}

impl Watch {
    /// Starts it and waits until it says which source it reads.
    fn start(args: &[&str]) -> Watch {
        let mut child = Command::new(bin())
            .arg("watch-refusals")
            .args(["--duration", "60s"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start seccomp-recorder");
        let (tx, lines) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        let (tx, stderr) = channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut w = Watch {
            child,
            lines,
            stderr,
            said: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w
            .said
            .iter()
            .any(|l| l.contains("watching seccomp refusals"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match w.stderr.recv_timeout(left) {
                Ok(line) => w.said.push(line),
                Err(_) => panic!("watch-refusals did not start: {:?}", w.said),
            }
        }
        w
    }

    /// The lines about `pid` that arrive within `within`, until `want` of them did.
    fn lines_of(&self, pid: u32, want: usize, within: Duration) -> Vec<(Instant, String)> {
        self.lines_with(&format!(" pid={pid} "), want, within)
    }

    /// The lines holding `tag` that arrive within `within`, until `want` of them did.
    fn lines_with(&self, tag: &str, want: usize, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.contains(tag) => got.push((at, line)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        got
    }

    /// Stops it (SIGINT) and returns everything it wrote on stderr.
    fn stop(mut self) -> String {
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        let mut said = std::mem::take(&mut self.said);
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            said.push(line);
        }
        let said = said.join("\n");
        assert!(status.success(), "watch-refusals failed: {said}");
        said
    }
}

/// Runs the workload (refuses getpriority COUNT times) and returns its PID and when it
/// started.
fn refuse(program: &Path, count: u32, extra: &[&str]) -> (u32, Instant) {
    let started = Instant::now();
    let out = Command::new(program)
        .arg(count.to_string())
        .args(extra)
        .output()
        .expect("cannot run the workload");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "workload failed: {text}");
    let pid = text
        .strip_prefix("pid=")
        .and_then(|t| t.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("workload said {text}"));
    (pid, started)
}

/// Our own cgroup as /proc/self/cgroup prints it: the workload inherits it.
fn own_cgroup() -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup2 line in /proc/self/cgroup")
        .to_string()
}

/// Runs the workload under a watch and checks the three refusals it makes are shown,
/// the first within 1 s, with what they name.
fn shown_within_a_second(watch: &Watch, program: &Path) {
    let (pid, started) = refuse(program, 3, &[]);
    let lines = watch.lines_of(pid, 3, Duration::from_secs(5));
    assert_eq!(lines.len(), 3, "refusals of pid {pid} shown: {lines:?}");
    let latency = lines[0].0.duration_since(started);
    assert!(
        latency < Duration::from_secs(1),
        "first refusal shown after {latency:?}"
    );
    let exe = program.display();
    let want = format!(
        "errno pid={pid} comm=\"refuse_getprior\" exe=\"{exe}\" arch=x86_64 syscall=getpriority cgroup={}",
        own_cgroup()
    );
    for (_, line) in &lines {
        assert!(line.starts_with(&want), "{line}\nwanted: {want}");
    }
    eprintln!("first refusal shown {latency:?} after the workload started");
}

fn workload(s: &Scratch) -> PathBuf {
    require_root();
    compile("refuse_getpriority", &s.0, &[])
}

/// The audit path, asked for: without it a kernel that accepts the fexit program gives
/// the kernel path, whose lines count per cgroup and which sees refusals whatever the
/// filter's flags.
const NETLINK: [&str; 2] = ["--source", "netlink"];

/// Whether an audit daemon is registered, as the kernel says, in the watch's words.
fn auditd_said() -> String {
    match audit_status("pid").as_str() {
        "0" => "no auditd is running".to_string(),
        pid => format!("auditd, pid {pid}, is running"),
    }
}

/// The kernel path's lines for the workload run in our cgroup, until they count 3
/// refusals; returns when the first arrived.
fn counted_three(watch: &Watch) -> Instant {
    let tag = format!("syscall=getpriority cgroup={}", own_cgroup());
    let (mut counted, mut first) = (0, None);
    while counted < 3 {
        let Some((at, line)) = watch.lines_with(&tag, 1, Duration::from_secs(5)).pop() else {
            panic!("the kernel path showed {counted} of 3 refusals");
        };
        assert!(line.starts_with("refused count="), "{line}");
        first.get_or_insert(at);
        counted += line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("count=")?.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no count in {line}"));
    }
    assert_eq!(counted, 3);
    first.unwrap()
}

/// Without --source the watch probes, and says which path it took and why; what it says
/// is the path it reads. The kernel path (where this kernel accepts the fexit program)
/// shows, within 1 s, refusals under a filter without the log flag, which no audit record
/// reports. Otherwise the one-line reason is given, the audit multicast group is preferred
/// to /dev/kmsg, and a flagged refusal is shown within 1 s as an audit record.
#[test]
fn without_a_source_the_watch_says_which_path_it_took_and_why() {
    let s = Scratch::new("refusals-default");
    let program = workload(&s);
    let _k = kernel();
    let watch = Watch::start(&[]);
    let said = watch.said.join("\n");
    if said.contains("watching seccomp refusals through the kernel path") {
        assert!(
            said.contains("because this kernel accepted the program"),
            "{said}"
        );
        let (_, started) = refuse(&program, 3, &["nolog"]);
        let latency = counted_three(&watch).duration_since(started);
        assert!(latency < Duration::from_secs(1), "shown after {latency:?}");
        let summary = watch.stop();
        let row = format!("getpriority (x86_64) cgroup={}", own_cgroup());
        assert!(
            summary
                .lines()
                .any(|l| l.trim_start().starts_with("3  ") && l.contains(&row)),
            "{summary}"
        );
        return;
    }
    let why = said
        .split_once("the kernel path (fexit on __secure_computing) is not available here: ")
        .and_then(|(_, w)| w.split_once("; using the audit path"))
        .map(|(why, _)| why)
        .unwrap_or_else(|| panic!("neither path said with a reason: {said}"));
    assert!(!why.trim().is_empty() && !why.contains('\n'), "{said}");
    let group = format!(
        "through the audit netlink multicast group: joined the audit multicast group ({}",
        auditd_said()
    );
    assert!(said.contains(&group), "{said}");
    shown_within_a_second(&watch, &program);
    let _ = watch.stop();
}

#[test]
fn netlink_shows_a_refusal_within_a_second() {
    let s = Scratch::new("refusals-netlink");
    let program = workload(&s);
    let _k = kernel();
    let watch = Watch::start(&NETLINK);
    let said = watch.said.join("\n");
    let group = format!(
        "through the audit netlink multicast group: asked for ({}",
        auditd_said()
    );
    assert!(said.contains(&group), "{said}");
    shown_within_a_second(&watch, &program);
    let summary = watch.stop();
    assert!(
        summary.contains("errno getpriority (x86_64) comm=\"refuse_getprior\""),
        "{summary}"
    );
    assert!(
        summary.contains("losses: kernel lost 0 audit records"),
        "{summary}"
    );
}

#[test]
fn a_filter_without_the_log_flag_shows_nothing() {
    let s = Scratch::new("refusals-nolog");
    let program = workload(&s);
    let _k = kernel();
    let watch = Watch::start(&NETLINK);
    let (unlogged, _) = refuse(&program, 3, &["nolog"]);
    // The kernel sends records in order: once the logged run's line is in, any line of
    // the unlogged run would have come before it.
    let (logged, _) = refuse(&program, 1, &[]);
    let mut before = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, line) = watch
            .lines
            .recv_timeout(left)
            .expect("the logged run's refusal is shown");
        if line.contains(&format!(" pid={logged} ")) {
            break;
        }
        before.push(line);
    }
    let _ = watch.stop();
    let tag = format!(" pid={unlogged} ");
    assert!(!before.iter().any(|l| l.contains(&tag)), "{before:?}");
}

/// A kernel setting changed while it lives, and put back after.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: &str) -> Sysctl {
        let old = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        std::fs::write(path, value).unwrap_or_else(|e| panic!("write {path}: {e}"));
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path, self.old.trim());
    }
}

fn no_auditd_running() {
    assert_eq!(
        audit_status("pid"),
        "0",
        "an audit daemon is registered: the kernel sends it the records /dev/kmsg would get"
    );
}

#[test]
fn kmsg_shows_a_refusal_within_a_second() {
    let s = Scratch::new("refusals-kmsg");
    let program = workload(&s);
    let _k = kernel();
    no_auditd_running();
    // The kernel's printk rate limit (10 audit records per 5 s without auditd) is lifted,
    // so records from other tests on the machine cannot use up our share.
    let _limit = Sysctl::set("/proc/sys/kernel/printk_ratelimit", "0");
    let watch = Watch::start(&["--source", "kmsg"]);
    shown_within_a_second(&watch, &program);
    let summary = watch.stop();
    assert!(
        summary.contains("SECCOMP records from /dev/kmsg"),
        "{summary}"
    );
}

#[test]
fn netlink_shows_a_refusal_while_auditd_runs() {
    let s = Scratch::new("refusals-auditd");
    let program = workload(&s);
    let _k = kernel();
    no_auditd_running();
    let auditd = Auditd::start(&s);
    let watch = Watch::start(&NETLINK);
    let said = watch.said.join("\n");
    assert!(
        said.contains(&format!("auditd, pid {}, is running", auditd.child.id())),
        "{said}"
    );
    shown_within_a_second(&watch, &program);
    let _ = watch.stop();
    // auditd got them too: the watch did not take them from it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let logged = loop {
        let text = std::fs::read_to_string(&auditd.log).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| l.starts_with("type=SECCOMP") && l.contains(" syscall=140 "))
            .count();
        if n >= 3 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(logged >= 3, "auditd's log has {logged} of the refusals");
}

#[test]
fn only_the_cgroup_asked_for() {
    let s = Scratch::new("refusals-cgroup");
    let program = workload(&s);
    let _k = kernel();
    let mount = seccomp_recorder::cgroup::mount_point().expect("a cgroup2 mount");
    let name = format!("scr-refusals-{}", std::process::id());
    let cgroup = mount.join(&name);
    std::fs::create_dir_all(&cgroup).unwrap();
    let watch = Watch::start(&["--cgroup", &format!("/{name}"), NETLINK[0], NETLINK[1]]);
    let inside = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec {} 2",
            cgroup.display(),
            program.display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout).into_owned();
    let pid: u32 = text
        .strip_prefix("pid=")
        .and_then(|t| t.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("workload said {text}"));
    let (outside, _) = refuse(&program, 3, &[]);
    let lines = watch.lines_of(pid, 2, Duration::from_secs(5));
    let _ = std::fs::remove_dir(&cgroup);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].1.contains(&format!("cgroup=/{name}")), "{lines:?}");
    // The outside run's lines would have come by now: the kernel sends them in order.
    let stray = watch.lines_of(outside, 1, Duration::from_millis(500));
    let summary = watch.stop();
    assert!(stray.is_empty(), "{stray:?}");
    let skipped = summary
        .split_once(" from processes outside")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(skipped >= 3, "{summary}");
}

/// A profile that allows everything but getpriority, which it refuses with EPERM, and asks
/// the kernel to log its refusals.
fn flagged_profile() -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    })
}

/// A runc container running the workload (no filter of its own) under `profile`.
fn container(s: &Scratch, profile: serde_json::Value) -> Container {
    let rootfs = Rootfs::new(s);
    let refuse = compile("refuse_getpriority", &s.0, &["-static"]);
    std::fs::copy(&refuse, rootfs.dir.join("refuse")).unwrap();
    let mut c = Container::new(s, &rootfs, &["/refuse", "3", "nofilter"]);
    c.seccomp(profile);
    c
}

#[test]
fn validate_names_the_runc_that_refuses_the_flag_and_it_does() {
    let s = Scratch::new("refusals-runc11");
    require_root();
    let path = s.path("flagged.json");
    std::fs::write(&path, flagged_profile().to_string()).unwrap();
    let o = recorder(&["validate", path.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{said}");
    let version = Command::new("runc").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    eprintln!(
        "runc for this test: {}",
        version.lines().next().unwrap_or("?")
    );
    assert!(
        version.starts_with("runc version 1.1."),
        "Debian 12's runc 1.1: {version}"
    );
    assert!(
        said.contains("runc 1.1.") && said.contains("refuses any profile with \"flags\""),
        "{said}"
    );
    // And runc 1.1 does refuse it, as validate said it would.
    let c = container(&s, flagged_profile());
    let out = c.run();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("seccomp flags are not yet supported by runc"),
        "{err}"
    );
}

#[test]
fn a_runc_13_container_refusal_is_watched() {
    let s = Scratch::new("refusals-runc13");
    require_root();
    let runc = runc13();
    let path = s.path("flagged.json");
    std::fs::write(&path, flagged_profile().to_string()).unwrap();
    let dir = runc.parent().unwrap().to_str().unwrap().to_string();
    let o = Command::new(bin())
        .args(["validate", path.to_str().unwrap()])
        .env("PATH", format!("{dir}:{}", std::env::var("PATH").unwrap()))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("runc 1.3.6") && said.contains("passes them to the kernel"),
        "{said}"
    );
    let mut c = container(&s, flagged_profile());
    c.runc_binary(&runc);
    let _k = kernel();
    c.create();
    let watch = Watch::start(&["--container", c.short(), NETLINK[0], NETLINK[1]]);
    let started = Instant::now();
    c.start();
    let out = c.stdout();
    assert!(out.contains("refused=3"), "{out}");
    // The workload's own pid is its namespace's; the records carry the host's.
    let cgroup = format!("cgroup=/scr-test-{}", c.id);
    let lines = watch.lines_with(&cgroup, 3, Duration::from_secs(5));
    let summary = watch.stop();
    assert_eq!(lines.len(), 3, "{lines:?}\n{summary}");
    let latency = lines[0].0.duration_since(started);
    assert!(latency < Duration::from_secs(1), "shown after {latency:?}");
    for (_, line) in &lines {
        assert!(
            line.starts_with("errno ")
                && line.contains("syscall=getpriority")
                && line.contains(&cgroup),
            "{line}"
        );
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn convert_and_merge_write_the_log_flag() {
    let s = Scratch::new("refusals-flag-cli");
    let plain = serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    });
    let a = s.path("a.json");
    std::fs::write(&a, plain.to_string()).unwrap();
    let mut flagged = plain.clone();
    flagged["flags"] = serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let b = s.path("b.json");
    std::fs::write(&b, flagged.to_string()).unwrap();
    let out = s.path("out.json");
    let o = recorder(&[
        "convert",
        a.to_str().unwrap(),
        "--to",
        "oci",
        "--log-refusals",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_json(&out)["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
    // Inputs that differ in their flags do not merge, unless --log-refusals gives all
    // of them the flag.
    let (a, b, out) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let refused = recorder(&["merge", a, b, "-o", out]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("flags"), "{}", stderr(&refused));
    let o = recorder(&["merge", a, b, "--log-refusals", "-o", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_json(Path::new(out))["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
}

/// The rollout in small: record a container with --log-refusals, then enforce the profile
/// on a run that makes a call the recording never saw; runc 1.3.6 passes the flag on and
/// the refusal is shown.
#[test]
fn a_recorded_profile_with_the_flag_reports_what_it_lacks() {
    let s = Scratch::new("refusals-record");
    require_root();
    let runc = runc13();
    let rootfs = Rootfs::new(&s);
    let refuse = compile("refuse_getpriority", &s.0, &["-static"]);
    std::fs::copy(&refuse, rootfs.dir.join("refuse")).unwrap();
    let out = s.path("recorded.json");
    let mut recorded = Container::new(&s, &rootfs, &["/refuse", "0", "nofilter"]);
    recorded.runc_binary(&runc);
    record_created(
        &["record", "--log-refusals", "-o", out.to_str().unwrap()],
        &[&recorded],
    );
    let profile = read_json(&out);
    assert_eq!(
        profile["flags"],
        serde_json::json!(["SECCOMP_FILTER_FLAG_LOG"])
    );
    let mut enforced = Container::new(&s, &rootfs, &["/refuse", "3", "nofilter"]);
    enforced.runc_binary(&runc).seccomp(profile);
    let _k = kernel();
    enforced.create();
    let watch = Watch::start(&["--container", enforced.short(), NETLINK[0], NETLINK[1]]);
    enforced.start();
    let said = enforced.stdout();
    assert!(said.contains("refused=3"), "{said}");
    let cgroup = format!("cgroup=/scr-test-{}", enforced.id);
    let lines = watch.lines_with(&cgroup, 3, Duration::from_secs(5));
    let summary = watch.stop();
    assert_eq!(lines.len(), 3, "{lines:?}\n{summary}");
    assert!(
        lines
            .iter()
            .all(|(_, l)| l.starts_with("errno ") && l.contains("syscall=getpriority")),
        "{lines:?}"
    );
}

/// A flood of refusals: the watch's memory stays flat (it counts, it keeps nothing per
/// call), and what it did not see is accounted for in its summary.
#[test]
fn a_flood_leaves_memory_flat() {
    let s = Scratch::new("refusals-flood");
    let program = workload(&s);
    let _k = kernel();
    let mut child = Command::new(bin())
        .args([
            "watch-refusals",
            "--source",
            "netlink",
            "--duration",
            "120s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, said) = channel();
    let err = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in err.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = said.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.contains("watching seccomp refusals"), "{first}");
    refuse(&program, 20_000, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(child.id());
    let started = Instant::now();
    refuse(&program, 200_000, &[]);
    let took = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(child.id());
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    // Every line up to the end of its stderr: the summary's last lines may still be on
    // their way through the reader thread when the child has been reaped.
    let summary: Vec<String> = said.iter().collect();
    let summary = summary.join("\n");
    eprintln!("200,000 refusals in {took:?}; watch RSS {before} KiB -> {after} KiB\n{summary}");
    assert!(
        after < before + 2048,
        "memory grew from {before} KiB to {after} KiB over 200,000 refusals"
    );
    let records: u64 = summary
        .split_once(" SECCOMP records")
        .and_then(|(b, _)| b.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(records > 0, "{summary}");
    assert!(summary.contains("losses: kernel lost "), "{summary}");
}

/// Without CAP_BPF (no kernel path), CAP_AUDIT_READ (no audit multicast group) and
/// CAP_SYSLOG or CAP_SYS_ADMIN (no /dev/kmsg while kernel.dmesg_restrict is 1), nothing
/// can be watched: the error names each path and what it lacks.
#[test]
fn without_the_capabilities_the_error_names_what_each_path_lacks() {
    require_root();
    let _one = kernel();
    let _restrict = Sysctl::set("/proc/sys/kernel/dmesg_restrict", "1");
    let caps = "-bpf,-perfmon,-sys_admin,-audit_read,-syslog";
    let o = Command::new("setpriv")
        .args(["--bounding-set", caps, "--inh-caps", caps])
        .arg(bin())
        .args(["watch-refusals", "--duration", "1s"])
        .output()
        .expect("setpriv (util-linux) is installed");
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "it watched without the capabilities: {err}"
    );
    for missing in ["CAP_BPF", "CAP_AUDIT_READ", "CAP_SYSLOG"] {
        assert!(err.contains(missing), "{missing} not named: {err}");
    }
    assert!(
        err.contains("cannot watch seccomp refusals at all"),
        "{err}"
    );
}
