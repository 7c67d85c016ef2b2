//! What must hold on every kernel and architecture we support. `cargo xtask vmtest` boots
//! each kernel of the matrix in QEMU and runs this file inside; `cargo xtask test` runs it
//! on the host's kernel. Expectations come from the kernel version, never from what the
//! recorder reports about itself.
//!
//! In a VM the harness sets `SECCOMP_RECORDER_WORKLOADS` (prebuilt workloads, one
//! `markers.<SCMP arch>` per ABI) and `SECCOMP_RECORDER_REQUIRE_ABIS` (ABIs the guest kernel
//! was booted to run: a missing one fails). Lines starting with `vmtest-fact:` and
//! `vmtest-note:` go to the harness's support table.

#[path = "kernel/pods.rs"]
mod pods;

use seccomp_recorder::arch::Arch;
use seccomp_recorder::record::{self, Options};
use seccomp_recorder::refusals::{Attributor, KernelPath};
use seccomp_recorder::trace::AttachKind;
use seccomp_recorder_tests::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const MARKERS: [&str; 4] = ["sched_getscheduler", "getitimer", "sysinfo", "times"];

/// (major, minor) of the running kernel.
fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap(), parts.next().unwrap())
}

/// `bpf_get_current_task_btf`, which the BTF tracepoint program calls, came in 5.11.
fn kernel_has_task_btf() -> bool {
    kernel() >= (5, 11)
}

fn native() -> Arch {
    Arch::host().expect("a supported host architecture")
}

/// The ABIs a process can use on this machine's architecture.
fn abis() -> Vec<Arch> {
    match native() {
        Arch::X86_64 => vec![Arch::X86_64, Arch::X86, Arch::X32],
        Arch::Aarch64 => vec![Arch::Aarch64, Arch::Arm],
        other => vec![other],
    }
}

fn required(arch: Arch) -> bool {
    std::env::var("SECCOMP_RECORDER_REQUIRE_ABIS")
        .is_ok_and(|list| list.split(',').any(|a| a.parse() == Ok(arch)))
}

/// The markers workload for `arch`: prebuilt by the VM harness, else compiled here.
fn workload(arch: Arch, s: &Scratch) -> PathBuf {
    if let Some(dir) = std::env::var_os("SECCOMP_RECORDER_WORKLOADS") {
        let path = PathBuf::from(dir).join(format!("markers.{arch}"));
        assert!(path.exists(), "{} is missing", path.display());
        return path;
    }
    let flags: &[&str] = match arch {
        Arch::X86 => &["-m32", "-static", "-pthread"],
        Arch::X32 => &["-mx32", "-static", "-pthread"],
        a if a == native() => &["-pthread"],
        a => panic!("no compiler for {a} here: set SECCOMP_RECORDER_WORKLOADS"),
    };
    compile("markers", &s.0, flags)
}

/// Whether this kernel runs `bin`: x32 (and 32-bit arm) can be built out or switched off.
fn runs(bin: &Path) -> Result<(), String> {
    match Command::new(bin).arg("exit").arg("0").status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("exited with {s}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The attach types this kernel must accept.
fn attach_kinds() -> Vec<AttachKind> {
    let mut kinds = vec![AttachKind::Raw, AttachKind::Tracepoint];
    if kernel_has_task_btf() {
        kinds.insert(0, AttachKind::Btf);
    }
    kinds
}

fn record_with(bin: &Path, attach: Option<AttachKind>) -> record::Report {
    let opts = Options {
        command: vec![bin.as_os_str().to_owned()],
        attach,
        linger: Duration::from_secs(2),
        ..Default::default()
    };
    record::record(&opts, &mut |_| {})
        .unwrap_or_else(|e| panic!("recording {} via {attach:?}: {e:?}", bin.display()))
}

/// Every ABI's markers land under that ABI's own architecture, whatever the attach type.
#[test]
fn each_abi_is_recorded_under_its_own_architecture_with_every_attach_type() {
    require_root();
    for arch in abis() {
        let s = Scratch::new("abi");
        let bin = workload(arch, &s);
        if let Err(why) = runs(&bin) {
            assert!(!required(arch), "{arch} workload does not run: {why}");
            println!("vmtest-note: {arch} not tested: this kernel does not run it ({why})");
            continue;
        }
        for kind in attach_kinds() {
            let report = record_with(&bin, Some(kind));
            let names = &report.targets[0].syscalls.names;
            let own = names.get(&arch).cloned().unwrap_or_default();
            for m in MARKERS {
                assert!(own.contains(m), "{kind}: {m} not under {arch}: {names:?}");
            }
            for (other, set) in names {
                assert!(
                    *other == arch || !set.contains(MARKERS[0]),
                    "{kind}: {arch}'s marker under {other}: {names:?}"
                );
            }
            assert_abi_specific(arch, &own);
        }
        println!("vmtest-fact: abi {arch} ok");
    }
}

/// Names only that ABI's own table has: proof the number went through the right table.
fn assert_abi_specific(arch: Arch, names: &std::collections::BTreeSet<String>) {
    let any: &[&str] = match arch {
        Arch::X86 => &["mmap2", "set_thread_area"],
        // ARM's private range (0x0f0000+): glibc sets the TLS register with it.
        Arch::Arm => &["set_tls"],
        _ => return,
    };
    assert!(
        any.iter().any(|n| names.contains(*n)),
        "{arch}: none of {any:?} in {names:?}"
    );
}

/// Without `--attach` the cheapest kind this kernel has is chosen.
#[test]
fn the_default_attach_type_is_the_cheapest_the_kernel_offers() {
    require_root();
    let s = Scratch::new("default");
    let report = record_with(&workload(native(), &s), None);
    let want = attach_kinds()[0];
    assert_eq!(report.attach, want, "kernel {:?}", kernel());
    println!("vmtest-fact: attach {want}");
}

/// On a kernel without `bpf_get_current_task_btf`, `--attach btf` names what is missing
/// instead of dumping the verifier log; elsewhere it works.
#[test]
fn btf_attach_is_refused_by_name_where_the_kernel_lacks_it() {
    require_root();
    let s = Scratch::new("btf");
    let out = s.path("p.json");
    let o = recorder(&[
        "record",
        "--attach",
        "btf",
        "-o",
        out.to_str().unwrap(),
        "--",
        workload(native(), &s).to_str().unwrap(),
    ]);
    let err = stderr(&o);
    if kernel_has_task_btf() {
        assert!(o.status.success(), "{err}");
        return;
    }
    assert!(!o.status.success() && !out.exists(), "{err}");
    assert!(
        err.contains("bpf_get_current_task_btf") && err.contains("5.11"),
        "the refusal does not name the kernel feature: {err}"
    );
    assert!(
        !err.contains("processed") && err.lines().count() < 5,
        "a verifier dump instead of a reason: {err}"
    );
    let (major, minor) = kernel();
    println!(
        "vmtest-note: --attach btf refused as expected on {major}.{minor} (no bpf_get_current_task_btf)"
    );
}

/// A cgroup made under the target while recording is followed (the cgroup_mkdir hook).
#[test]
fn a_cgroup_made_under_the_target_is_followed() {
    require_root();
    let s = Scratch::new("nested");
    let bin = workload(native(), &s);
    let mount = seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted");
    let opts = Options {
        command: vec![
            bin.into_os_string(),
            "nested".into(),
            mount.into_os_string(),
        ],
        linger: Duration::from_secs(2),
        ..Default::default()
    };
    let report = record::record(&opts, &mut |_| {}).expect("recording works");
    let names = &report.targets[0].syscalls.names[&native()];
    assert!(names.contains("sched_get_priority_max"), "{names:?}");
    println!("vmtest-fact: follow cgroup_mkdir");
}

/// The refusing workload for `arch`: prebuilt by the VM harness, else compiled here.
fn refuser(arch: Arch, s: &Scratch) -> PathBuf {
    if let Some(dir) = std::env::var_os("SECCOMP_RECORDER_WORKLOADS") {
        let path = PathBuf::from(dir).join(format!("refuse_getpriority.{arch}"));
        assert!(path.exists(), "{} is missing", path.display());
        return path;
    }
    let flags: &[&str] = match arch {
        Arch::X86 => &["-m32", "-static"],
        Arch::X32 => &["-mx32", "-static"],
        a if a == native() => &[],
        a => panic!("no compiler for {a} here: set SECCOMP_RECORDER_WORKLOADS"),
    };
    compile("refuse_getpriority", &s.0, flags)
}

/// How refusal outputs name an ABI: the audit spelling (linux/audit.h, `ausearch -i`),
/// written here by hand, not taken from the code under test.
fn audit_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::X86 => "i386",
        Arch::X32 => "x32",
        Arch::Aarch64 => "aarch64",
        Arch::Arm => "arm",
    }
}

/// Whether arm64 BPF trampolines can attach here: they need ftrace direct calls (6.4).
fn arm64_before_fexit() -> bool {
    native() == Arch::Aarch64 && kernel() < (6, 4)
}

/// Whether this kernel must run the kernel path: every kernel of the VM matrix from 5.15
/// on (`bpf_task_pt_regs`), from 6.4 on arm64. The host may refuse it (this project's
/// test machine refuses fexit with EPERM).
fn kernel_path_required() -> bool {
    std::env::var_os("SECCOMP_RECORDER_WORKLOADS").is_some()
        && kernel() >= (5, 15)
        && !arm64_before_fexit()
}

/// Where the kernel path is refused, the reason is one line and, on the kernels of the
/// matrix that cannot run it, names what is missing.
fn check_refusal_reason(why: &str) {
    assert!(
        !kernel_path_required(),
        "kernel {:?} must count refusals: {why}",
        kernel()
    );
    if kernel() < (5, 15) {
        assert!(why.contains("bpf_task_pt_regs"), "{why}");
    } else if arm64_before_fexit() {
        assert!(why.contains("fexit") && why.contains("6.4"), "{why}");
    }
    assert!(
        !why.is_empty() && !why.contains('\n') && !why.contains("processed"),
        "not a one-line reason: {why}"
    );
}

/// The workload's own account.
struct Account {
    pid: u32,
    made: u64,
    refused: u64,
    /// When it began refusing (CLOCK_MONOTONIC ns).
    first_ns: u64,
}

fn account(o: &std::process::Output) -> Account {
    let text = String::from_utf8_lossy(&o.stdout);
    // It exits 0 only when every call it made was refused.
    assert!(o.status.success(), "{text}{}", stderr(o));
    let field = |name: &str| -> u64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {text}"))
    };
    let a = Account {
        pid: field("pid") as u32,
        made: field("made"),
        refused: field("refused"),
        first_ns: field("first_ns"),
    };
    assert_eq!(a.refused, a.made, "{text}");
    a
}

fn run_refuser(bin: &Path, args: &[&str]) -> Account {
    account(
        &Command::new(bin)
            .args(args)
            .output()
            .expect("the workload runs"),
    )
}

/// The kernel path (fexit on `__secure_computing`) counts every call refused by a filter
/// without SECCOMP_FILTER_FLAG_LOG, exactly, under the caller's cgroup and under the
/// ABI the call was made in (every ABI this kernel runs: the number comes from `pt_regs`,
/// `orig_ax` on x86_64 and `syscallno` on arm64, and is classified like a recorded one).
/// 5.10 lacks `bpf_task_pt_regs` and arm64 before 6.4 cannot attach fexit programs: both
/// must say so; on the host (no VM) it may be refused, but with a one-line reason, never a
/// pass that counted nothing.
#[test]
fn the_kernel_path_counts_each_refused_call_exactly() {
    require_root();
    let mut path = match KernelPath::open() {
        Ok(p) => p,
        Err(why) => {
            check_refusal_reason(&why);
            println!("vmtest-note: kernel path refused on {:?}: {why}", kernel());
            return;
        }
    };
    let s = Scratch::new("kpath");
    let mount = seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted");
    let own = Attributor::new(mount)
        .cgroup(std::process::id())
        .expect("this test's own cgroup");
    let id = seccomp_recorder::cgroup::id(&own).expect("its id");
    for (i, arch) in abis().into_iter().enumerate() {
        if let Err(why) = runs(&workload(arch, &s)) {
            assert!(!required(arch), "{arch} workload does not run: {why}");
            continue;
        }
        let bin = refuser(arch, &s);
        path.poll().expect("the counts map reads");
        // A different count per ABI: a count under the wrong ABI cannot pass for another.
        let n = 7 + i as u64;
        // "nolog": no SECCOMP_FILTER_FLAG_LOG, so no audit record.
        assert_eq!(run_refuser(&bin, &[&n.to_string(), "nolog"]).made, n);
        let counts = path.poll().expect("the counts map reads");
        let counted: u64 = counts
            .iter()
            .filter(|c| c.cgroup == id && c.arch == Some(arch))
            .filter(|c| c.syscall_label() == "getpriority")
            .map(|c| c.count)
            .sum();
        assert_eq!(
            counted,
            n,
            "{arch}, cgroup {id} ({}): {counts:?}",
            own.display()
        );
        assert!(
            counts.iter().all(|c| c.arch_label() == audit_name(arch)),
            "{arch}: {counts:?}"
        );
        println!("vmtest-fact: kernel path counts {arch} refusals");
    }
    assert_eq!(path.lost().expect("the lost counter reads"), 0);
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the workload stamps its first refusal with.
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Lines of `from`, each with its arrival time (CLOCK_MONOTONIC ns), read on a thread of
/// their own.
fn lines(from: impl std::io::Read + Send + 'static) -> Receiver<(u64, String)> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send((monotonic_ns(), line));
        }
    });
    rx
}

/// Refused getpriority calls a `watch-refusals` line shows for `pid` (the audit path's
/// lines name the process, whose cgroup may be gone by then) or for `cgroup` (the kernel
/// path's lines, one per cgroup with a `count=`); 0 for a line about something else.
fn getpriority_count(line: &str, pid: u32, cgroup: &str) -> u64 {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let has = |f: &str| fields.contains(&f);
    let ours = has(&format!("pid={pid}")) || has(&format!("cgroup={cgroup}"));
    if !(ours && has("syscall=getpriority")) {
        return 0;
    }
    assert!(
        has(&format!("arch={}", audit_name(native()))),
        "the arch is not named as the audit path names it: {line}"
    );
    match fields.iter().find_map(|f| f.strip_prefix("count=")) {
        Some(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("a bad count in {line}")),
        None => 1,
    }
}

/// Runs `bin` with `args` (3 refusals) and checks `out` shows all 3 within 5 s; returns
/// how long after the first refused call the first was shown.
fn three_shown(out: &Receiver<(u64, String)>, bin: &Path, args: &[&str]) -> Duration {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let cgroup = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .expect("a cgroup2 line in /proc/self/cgroup");
    let a = run_refuser(bin, args);
    assert_eq!(a.made, 3);
    let (mut shown, mut first) = (0, None);
    while shown < 3 {
        let left = Duration::from_secs(5).saturating_sub(Duration::from_nanos(
            monotonic_ns().saturating_sub(a.first_ns),
        ));
        let Ok((at, line)) = out.recv_timeout(left) else {
            panic!("{shown} of 3 refusals shown in 5 s");
        };
        let n = getpriority_count(&line, a.pid, cgroup);
        if n > 0 {
            first.get_or_insert(at);
            shown += n;
        }
    }
    assert_eq!(shown, 3);
    Duration::from_nanos(first.unwrap().saturating_sub(a.first_ns))
}

/// Up to 3 runs of [`three_shown`], until one shows its first refusal within 1 s: a TCG
/// guest on a loaded machine can stall any process for longer now and then. Returns the
/// refusals made and the latencies.
fn shown_within_a_second(
    out: &Receiver<(u64, String)>,
    bin: &Path,
    args: &[&str],
) -> (u64, Vec<Duration>) {
    let mut latencies = Vec::new();
    while latencies.len() < 3 {
        latencies.push(three_shown(out, bin, args));
        if latencies
            .last()
            .is_some_and(|l| *l < Duration::from_secs(1))
        {
            return (3 * latencies.len() as u64, latencies);
        }
    }
    panic!("no refusal shown within 1 s in 3 runs: {latencies:?}");
}

/// `watch-refusals` takes the kernel path where the probe passes and says so; a refusal
/// from a process enforced here (a filter without the log flag) is shown within 1 s of the
/// call, named like the audit path names it; then a 10-second flood of refused calls is
/// counted exactly (the summary against the workload's own count of failed calls) while
/// the watch's memory stays flat. Where the kernel path is refused, the watch says why in
/// one line, falls back to the audit path and shows a flagged refusal within 1 s there.
#[test]
fn watch_refusals_takes_the_kernel_path_and_counts_a_flood_exactly() {
    require_root();
    let s = Scratch::new("kwatch");
    let bin = refuser(native(), &s);
    let mut child = Command::new(seccomp_recorder_tests::bin())
        .args(["watch-refusals", "--duration", "600s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start seccomp-recorder");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let mut said = Vec::new();
    while !said
        .iter()
        .any(|l: &String| l.contains("watching seccomp refusals"))
    {
        match err.recv_timeout(Duration::from_secs(60)) {
            Ok((_, line)) => said.push(line),
            Err(_) => panic!("watch-refusals did not start: {said:?}"),
        }
    }
    let stop = |mut child: std::process::Child| -> String {
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        assert!(child.wait().unwrap().success(), "watch-refusals failed");
        // Up to the end of its stderr: the summary may still be in the reader thread.
        err.iter().map(|(_, l)| l).collect::<Vec<_>>().join("\n")
    };
    if !said.last().unwrap().contains("through the kernel path") {
        let why = said
            .iter()
            .find_map(|l| l.split_once("is not available here: ").map(|(_, w)| w))
            .unwrap_or_else(|| panic!("no reason given for the audit path: {said:?}"));
        let why = why.strip_suffix("; using the audit path").unwrap_or(why);
        check_refusal_reason(why);
        // The fallback works: a filter with the log flag is seen through audit records.
        let (_, latencies) = shown_within_a_second(&out, &bin, &["3"]);
        stop(child);
        println!(
            "vmtest-note: watch-refusals fell back to the audit path ({why}); refusals \
             shown after {latencies:?}"
        );
        return;
    }
    let (before_flood, latencies) = shown_within_a_second(&out, &bin, &["3", "nolog"]);

    let pid = child.id();
    let before = rss_kib(pid);
    let mut flood = Command::new(&bin)
        .args(["1000000000", "nolog", "10"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the flood runs");
    let mut peak = before;
    while flood.try_wait().unwrap().is_none() {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    let made = account(&flood.wait_with_output().unwrap()).made;
    let after = rss_kib(pid);
    peak = peak.max(after);
    let summary = stop(child);
    let total: u64 = summary
        .split_once(" refused calls counted by the kernel path")
        .and_then(|(b, _)| b.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {summary}"));
    println!(
        "vmtest-fact: flood {made} refused calls in 10 s ({}/s), {total} counted, first \
         shown after {latencies:?}, watch RSS {before} -> {after} KiB (peak {peak})",
        made / 10
    );
    assert_eq!(total, before_flood + made, "{summary}");
    assert!(summary.contains("lost: 0 refusals"), "{summary}");
    assert!(
        peak < before + 2048,
        "memory grew from {before} KiB to {peak} KiB over {made} refusals"
    );
}

/// Calls per round of the cost measurement: small, because guests run under TCG.
const COST_CALLS: u64 = 20_000;

/// ns per allowed and per refused call of a task under a seccomp filter, as the refusing
/// workload measures them (best of its 3 rounds), run by itself or under `record`.
fn timed_calls(bin: &Path, recorded: Option<&Path>) -> (f64, f64) {
    let calls = COST_CALLS.to_string();
    let workload = [bin.to_str().unwrap(), &calls, "time"];
    let o = match recorded {
        Some(out) => recorder(
            &[
                &["record", "-o", out.to_str().unwrap(), "--"][..],
                &workload[..],
            ]
            .concat(),
        ),
        None => Command::new(bin)
            .args(&workload[1..])
            .output()
            .expect("the workload runs"),
    };
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}{}", stderr(&o));
    let field = |name: &str| -> f64 {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("allowed_ns="), field("refused_ns="))
}

/// The kernel path's fexit program runs on every syscall of every task under a seccomp
/// filter. Its cost, beside the recorder's (tp_btf, the task recorded), is measured in the
/// same guest: ns per allowed (getppid) and per refused (getpriority) call of a filtered
/// task, alone, with the kernel path attached, recorded, and both. Under TCG absolute ns
/// mean little: `cargo xtask bench` reads the line and reports the overheads' ratio. The
/// kernel path must count every refusal it cost: a measurement of a program that counted
/// nothing would be no measurement.
#[test]
fn the_kernel_paths_cost_per_call_is_measured_beside_the_recorders() {
    require_root();
    // Loaded and dropped: the runs without it come first.
    if let Err(why) = KernelPath::open() {
        check_refusal_reason(&why);
        println!("kernel path cost not measured on {:?}: {why}", kernel());
        return;
    }
    let s = Scratch::new("kpath-cost");
    let bin = refuser(native(), &s);
    let out = s.path("recorded.json");
    // One run of each (beside the warm-up): `record` takes seconds to start under TCG, and
    // every guest of CI runs this.
    let reps = 1;
    let mut best = [(f64::MAX, f64::MAX); 4];
    let mut keep = |i: usize, (a, r): (f64, f64)| {
        best[i] = (best[i].0.min(a), best[i].1.min(r));
    };
    // TCG translates code the first time it runs: that run is not measured.
    timed_calls(&bin, None);
    for _ in 0..reps {
        keep(0, timed_calls(&bin, None));
        keep(2, timed_calls(&bin, Some(&out)));
    }
    let mut path = KernelPath::open().expect("the kernel path loaded a moment ago");
    path.poll().expect("the counts map reads");
    for _ in 0..reps {
        keep(1, timed_calls(&bin, None));
        keep(3, timed_calls(&bin, Some(&out)));
    }
    let counted: u64 = path
        .poll()
        .expect("the counts map reads")
        .iter()
        .filter(|c| c.arch == Some(native()) && c.syscall_label() == "getpriority")
        .map(|c| c.count)
        .sum();
    assert_eq!(
        counted,
        2 * reps * 3 * COST_CALLS,
        "refusals counted while measured"
    );
    // Detached, the runs without it again: "alone" and "recorded" bracket the others, so
    // a guest that got slower or faster meanwhile does not pass for the program's cost.
    drop(path);
    for _ in 0..reps {
        keep(0, timed_calls(&bin, None));
        keep(2, timed_calls(&bin, Some(&out)));
    }
    // One line `cargo xtask bench` reads from the guest's console log (bench/src/kpath.rs).
    let (major, minor) = kernel();
    let ns = |pick: fn(&(f64, f64)) -> f64| {
        best.iter()
            .map(|b| format!("{:.1}", pick(b)))
            .collect::<Vec<_>>()
            .join("/")
    };
    println!(
        "vmtest-cost: kernel={major}.{minor} arch={} calls={COST_CALLS} reps={reps} \
         allowed_ns={} refused_ns={} (alone/kernel path/recorded/both)",
        std::env::consts::ARCH,
        ns(|b| b.0),
        ns(|b| b.1),
    );
}
