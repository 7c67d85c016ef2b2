//! `cargo xtask bench` runs this (release build, as root): what recording costs, next to
//! the floor any `sys_enter` recorder pays and next to the tools people use today, all in
//! one run, reported as ratios.
//!
//! `run [--quick] [--out FILE]` is the driver; the other subcommands are the workloads it
//! spawns, so that each one can be placed in a cgroup or under strace/perf/bpftrace.
//! `agent [--quick] [--out FILE]` measures the node agent on a busy node (agent.rs).

use anyhow::{Context, Result, bail};
use aya::programs::{FEntry, loaded_programs};
use aya::{Ebpf, EbpfLoader};
use recorder_ebpf::{KernelOffsets, SCAN_SLOTS, Scan, Seen, globals, maps, programs};
use seccomp_recorder::arch::Arch;
use seccomp_recorder::trace::{self, AttachKind, CgroupRead, LoadOptions, Tracer, chain};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod agent;
mod kpath;

static FLOOR: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench-ebpf"));

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, d: u64| a(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let cg = |i: usize| a(i).filter(|s| !s.is_empty()).map(PathBuf::from);
    match a(0) {
        Some("loop") => workload_loop(num(1, 200_000), num(2, 5), cg(3)),
        Some("io") => workload_io(num(1, 20_000), cg(2)),
        Some("build") => workload_build(Path::new(a(1).context("build DIR")?), cg(2)),
        Some("rss") => workload_rss(),
        Some("spin") => workload_spin(num(1, 2), num(2, 2_000), cg(3)),
        Some("audit") => audit_only(num(1, 1024)),
        Some("startup") => startup_only(num(1, 10) as usize),
        Some("agent") => agent::run(&args[1..]),
        Some("kpath") => {
            print!(
                "{}",
                kpath::section(Path::new(a(1).context("kpath VMTEST_DIR")?))
            );
            Ok(())
        }
        Some("run") => {
            let quick = args.iter().any(|s| s == "--quick");
            let out = args
                .iter()
                .position(|s| s == "--out")
                .and_then(|i| args.get(i + 1))
                .map(PathBuf::from);
            let cmdline = std::env::var("BENCH_COMMAND")
                .unwrap_or_else(|_| format!("seccomp-recorder-bench {}", args.join(" ")));
            run(quick, out, &cmdline)
        }
        _ => bail!(
            "usage: seccomp-recorder-bench run [--quick] [--out FILE] | audit [MIB] | startup [RUNS] | agent [--quick] [--out FILE] | kpath VMTEST_DIR"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Workloads (child processes)

/// Moves this process into `cgroup` before the workload starts, so the recorder sees it
/// as a target from its first measured syscall.
fn enter(cgroup: Option<PathBuf>) -> Result<()> {
    if let Some(cg) = cgroup {
        std::fs::write(cg.join("cgroup.procs"), std::process::id().to_string())
            .with_context(|| format!("cannot enter {}", cg.display()))?;
    }
    Ok(())
}

fn pin(cpu: usize) {
    // SAFETY: plain sched_setaffinity on this thread with a zeroed, then filled, set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

fn bench_cpu() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() - 1)
        .unwrap_or(0)
}

/// Best-of-`rounds` mean ns per `getppid`, printed on stdout.
fn workload_loop(iters: u64, rounds: u64, cgroup: Option<PathBuf>) -> Result<()> {
    enter(cgroup)?;
    pin(bench_cpu());
    let mut best = f64::MAX;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        for _ in 0..iters {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    println!("{best:.2}");
    Ok(())
}

/// A file- and pipe-heavy loop: open/fstat/read/close a file, a pipe round trip, an
/// mmap/munmap and a stat per iteration. Prints elapsed ns.
fn workload_io(iters: u64, cgroup: Option<PathBuf>) -> Result<()> {
    enter(cgroup)?;
    pin(bench_cpu());
    let file = c"/proc/self/stat";
    let mut fds = [0i32; 2];
    let mut buf = [0u8; 512];
    let t = Instant::now();
    // SAFETY: every call gets valid buffers of the stated sizes; fds are checked.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            bail!("pipe failed");
        }
        for _ in 0..iters {
            let fd = libc::open(file.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd, &mut st);
            libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            libc::write(fds[1], buf.as_ptr().cast(), 64);
            libc::read(fds[0], buf.as_mut_ptr().cast(), 64);
            let p = libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            libc::munmap(p, 8192);
            libc::stat(c"/tmp".as_ptr(), &mut st);
        }
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    println!("{}", t.elapsed().as_nanos());
    Ok(())
}

/// Compiles and links the small C project in `dir` (exec- and file-heavy, like CI).
/// Prints elapsed ns.
fn workload_build(dir: &Path, cgroup: Option<PathBuf>) -> Result<()> {
    enter(cgroup)?;
    let t = Instant::now();
    let st = Command::new("make")
        .args(["-s", "-B", "-C"])
        .arg(dir)
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("make failed in {}", dir.display());
    }
    println!("{}", t.elapsed().as_nanos());
    Ok(())
}

/// Peak RSS (VmHWM) after each step of a recording's start, in a fresh process: where the
/// start-up memory goes.
fn workload_rss() -> Result<()> {
    let hwm = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let mut steps = vec![("process start", hwm())];
    let own = seccomp_recorder::btf::Btf::from_sys_fs(&trace::offsets::WANT)?;
    steps.push(("seccomp_recorder::btf::Btf::from_sys_fs", hwm()));
    drop(own);
    let aya_btf = aya::Btf::from_sys_fs()?;
    steps.push(("+ aya::Btf::from_sys_fs", hwm()));
    drop(aya_btf);
    let mut tr = Tracer::load(trace::capacity(1, false))?;
    steps.push(("+ Tracer::load (1 target)", hwm()));
    tr.attach(Some(AttachKind::Btf))?;
    steps.push(("+ attach tp_btf", hwm()));
    drop(tr);
    for (name, kb) in steps {
        println!("{kb} {name}");
    }
    Ok(())
}

/// The known set the zero-miss check expects: harmless calls, most on fd -1 (EBADF still
/// passes sys_enter).
const SPIN_SET: [i64; 50] = [
    libc::SYS_getppid,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getpgrp,
    libc::SYS_getpgid,
    libc::SYS_getsid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_getpriority,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_getparam,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    libc::SYS_getrlimit,
    libc::SYS_getrusage,
    libc::SYS_times,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getcwd,
    libc::SYS_prctl,
    libc::SYS_personality,
    libc::SYS_getitimer,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_gettimeofday,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_lseek,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fchmod,
    libc::SYS_fchown,
    libc::SYS_flock,
    libc::SYS_getdents64,
    libc::SYS_fstatfs,
    libc::SYS_dup,
    libc::SYS_fchdir,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_fadvise64,
    libc::SYS_fgetxattr,
    libc::SYS_syncfs,
];

/// One call of `SPIN_SET[i]` with arguments that make it harmless.
fn spin_call(nr: i64, buf: &mut [u8; 1024]) {
    let p = buf.as_mut_ptr();
    // SAFETY: every pointer argument is `buf` (1 KiB, larger than each struct written);
    // fd arguments are -1; getters with 0 mean "self"; prctl/personality only query.
    unsafe {
        match nr {
            libc::SYS_getresuid | libc::SYS_getresgid => {
                libc::syscall(nr, p, p.add(8), p.add(16));
            }
            libc::SYS_getgroups => {
                libc::syscall(nr, 0, p);
            }
            libc::SYS_getpriority => {
                libc::syscall(nr, libc::PRIO_PROCESS, 0);
            }
            libc::SYS_sched_getparam | libc::SYS_getrlimit | libc::SYS_getrusage => {
                libc::syscall(nr, 0, p);
            }
            libc::SYS_getitimer | libc::SYS_clock_gettime | libc::SYS_clock_getres => {
                libc::syscall(nr, 0, p);
            }
            libc::SYS_times | libc::SYS_uname | libc::SYS_sysinfo => {
                libc::syscall(nr, p);
            }
            libc::SYS_gettimeofday => {
                libc::syscall(nr, p, 0);
            }
            libc::SYS_getcwd => {
                libc::syscall(nr, p, 1024);
            }
            libc::SYS_prctl => {
                libc::syscall(nr, libc::PR_GET_DUMPABLE, 0, 0, 0, 0);
            }
            libc::SYS_personality => {
                libc::syscall(nr, 0xffff_ffffu64);
            }
            libc::SYS_getpgid | libc::SYS_getsid | libc::SYS_sched_getscheduler => {
                libc::syscall(nr, 0);
            }
            libc::SYS_sched_get_priority_max | libc::SYS_sched_get_priority_min => {
                libc::syscall(nr, libc::SCHED_OTHER);
            }
            libc::SYS_read
            | libc::SYS_write
            | libc::SYS_fstat
            | libc::SYS_getdents64
            | libc::SYS_fstatfs
            | libc::SYS_pread64
            | libc::SYS_pwrite64 => {
                libc::syscall(nr, -1, p, 8, 0);
            }
            libc::SYS_fgetxattr => {
                libc::syscall(nr, -1, c"user.x".as_ptr(), p, 8);
            }
            // Everything else takes an fd first and nothing that is dereferenced.
            _ => {
                libc::syscall(nr, -1, 0, 0, 0);
            }
        }
    }
}

/// `threads` threads cycling through `SPIN_SET` for `ms` milliseconds. Prints the number
/// of syscalls made and the rate per second.
fn workload_spin(threads: u64, ms: u64, cgroup: Option<PathBuf>) -> Result<()> {
    enter(cgroup)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for nr in SPIN_SET {
                        spin_call(nr, &mut buf);
                    }
                    n += SPIN_SET.len() as u64;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(ms));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = t.elapsed().as_secs_f64();
    println!("{total} {:.0}", total as f64 / secs);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The driver

/// Everything made for the run, removed on drop (also on error).
struct Scratch {
    cgroups: Vec<PathBuf>,
    files: Vec<PathBuf>,
    tracefs_mounted: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Children before parents.
        for cg in self.cgroups.iter().rev() {
            if let Err(e) = std::fs::remove_dir(cg)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                eprintln!("bench: cannot remove cgroup {}: {e}", cg.display());
            }
        }
        for f in &self.files {
            let _ = std::fs::remove_dir_all(f).or_else(|_| std::fs::remove_file(f));
        }
        if self.tracefs_mounted {
            // SAFETY: umount(2) of the mount this run made.
            let r = unsafe { libc::umount2(c"/sys/kernel/tracing".as_ptr(), libc::MNT_DETACH) };
            if r != 0 {
                eprintln!(
                    "bench: cannot unmount /sys/kernel/tracing: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    Host,
    Target,
}

#[derive(Clone, Debug, PartialEq)]
enum Cfg {
    Empty(AttachKind),
    Cgid,
    Hash(Place),
    Scan(Place),
    ScanHash(Place),
    /// Array-slot scan plus the compat read: via probe_read (false) or a BTF load (true).
    ScanCompat(bool),
    StraceUnpinned,
    /// The recorder as `record` loads it, its cgroup-id read forced (raw and classic
    /// tracepoints always use the helper).
    Recorder(AttachKind, CgroupRead, Place),
    Bpftrace(Place),
    Strace,
    Perf,
}

impl Cfg {
    fn label(&self) -> String {
        let place = |p: &Place| match p {
            Place::Host => "workload outside the target (non-target)",
            Place::Target => "workload inside the target",
        };
        match self {
            Cfg::Empty(k) => format!("empty program, {}", short(*k)),
            Cfg::Cgid => "variant: cgroup-id helper only, tp_btf".into(),
            Cfg::Hash(p) => format!(
                "variant: helper + hash lookup (no compat read), {}",
                place(p)
            ),
            Cfg::Scan(p) => format!(
                "variant: helper + inline scan of {SCAN_SLOTS} ids, seen sets in an array, {}",
                place(p)
            ),
            Cfg::ScanHash(p) => format!(
                "variant: inline scan of {SCAN_SLOTS} ids, then the hash on a hit, {}",
                place(p)
            ),
            Cfg::Recorder(AttachKind::Btf, r, p) => format!(
                "**seccomp-recorder**, tp_btf, cgroup id via {}, {}",
                read_name(*r),
                place(p)
            ),
            Cfg::Recorder(k, _, p) => format!("**seccomp-recorder**, {}, {}", short(*k), place(p)),
            Cfg::Bpftrace(p) => format!("bpftrace per-cgroup count (classic tp), {}", place(p)),
            Cfg::ScanCompat(false) => "variant: scan + array sets + compat read via bpf_probe_read_kernel, workload inside the target".into(),
            Cfg::ScanCompat(true) => "variant: scan + array sets + compat read via bpf_get_current_task_btf + direct load, workload inside the target".into(),
            Cfg::Strace => "strace -f -c (tracer pinned to the workload's CPU)".into(),
            Cfg::StraceUnpinned => "strace -f -c (default placement)".into(),
            Cfg::Perf => "perf trace -s".into(),
        }
    }

    /// The empty program this configuration is compared with.
    fn floor(&self) -> Option<AttachKind> {
        match self {
            Cfg::Empty(k) | Cfg::Recorder(k, _, _) => Some(*k),
            Cfg::Cgid | Cfg::Hash(_) | Cfg::Scan(_) | Cfg::ScanHash(_) | Cfg::ScanCompat(_) => {
                Some(AttachKind::Btf)
            }
            Cfg::Bpftrace(_) => Some(AttachKind::Tracepoint),
            Cfg::Strace | Cfg::StraceUnpinned | Cfg::Perf => None,
        }
    }

    fn place(&self) -> Place {
        match self {
            Cfg::Hash(p)
            | Cfg::Scan(p)
            | Cfg::ScanHash(p)
            | Cfg::Recorder(_, _, p)
            | Cfg::Bpftrace(p) => *p,
            Cfg::ScanCompat(_) => Place::Target,
            _ => Place::Host,
        }
    }

    fn ptraced(&self) -> bool {
        matches!(self, Cfg::Strace | Cfg::StraceUnpinned | Cfg::Perf)
    }
}

fn read_name(r: CgroupRead) -> &'static str {
    match r {
        CgroupRead::Helper => "the helper",
        CgroupRead::TaskBtf => "task BTF loads",
    }
}

fn short(k: AttachKind) -> &'static str {
    match k {
        AttachKind::Btf => "tp_btf",
        AttachKind::Raw => "raw_tp",
        AttachKind::Tracepoint => "classic tp",
    }
}

/// What stays attached while a configuration is measured; dropping it detaches.
enum Setup {
    Floor(#[allow(dead_code)] Ebpf),
    Tracer(#[allow(dead_code)] Box<Tracer>),
    Process(std::process::Child),
    None,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Setup::Process(c) = self {
            // SAFETY: SIGINT to a child this run started and has not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn load_floor(targets: u32) -> Result<Ebpf> {
    static OFFSETS: std::sync::OnceLock<KernelOffsets> = std::sync::OnceLock::new();
    let offsets = OFFSETS.get_or_init(|| {
        seccomp_recorder::btf::Btf::from_sys_fs(&trace::offsets::WANT)
            .map(|btf| trace::offsets::read(&btf, Arch::X86_64).kernel)
            .unwrap_or(KernelOffsets::DEFAULT)
    });
    EbpfLoader::new()
        .map_max_entries(maps::TARGETS.name, targets.max(1))
        .override_global(globals::OFFSETS.name, offsets, true)
        .load(FLOOR)
        .context("loading the floor object")
}

fn map<'a>(e: &'a Ebpf, name: &str) -> Result<&'a aya::maps::Map> {
    e.map(name)
        .with_context(|| format!("map {name} is not in the floor object"))
}

fn map_mut<'a>(e: &'a mut Ebpf, name: &str) -> Result<&'a mut aya::maps::Map> {
    e.map_mut(name)
        .with_context(|| format!("map {name} is not in the floor object"))
}

/// Attaches a floor program to sys_enter as the recorder attaches its own.
fn attach_floor(ebpf: &mut Ebpf, name: &'static str, kind: AttachKind) -> Result<()> {
    trace::loader::attach(ebpf, name, kind.sys_enter(), None)?;
    Ok(())
}

struct Ctx {
    exe: PathBuf,
    target: PathBuf,
    target_id: u64,
    iters: u64,
    rounds: u64,
    slow_iters: u64,
    /// The cgroup-id read `record` picks on this kernel.
    chosen: CgroupRead,
    notes: Vec<String>,
}

impl Ctx {
    fn setup(&self, cfg: &Cfg) -> Result<Setup> {
        let tid = self.target_id;
        Ok(match cfg {
            Cfg::Empty(k) => {
                let mut e = load_floor(1)?;
                let name = match k {
                    AttachKind::Btf => "empty_btf",
                    AttachKind::Raw => "empty_raw",
                    AttachKind::Tracepoint => "empty_tp",
                };
                attach_floor(&mut e, name, *k)?;
                Setup::Floor(e)
            }
            Cfg::Cgid => {
                let mut e = load_floor(1)?;
                attach_floor(&mut e, "cgid_btf", AttachKind::Btf)?;
                Setup::Floor(e)
            }
            Cfg::Hash(_) => {
                let mut e = load_floor(1)?;
                let mut m: aya::maps::HashMap<_, u64, Seen> =
                    aya::maps::HashMap::try_from(map_mut(&mut e, maps::TARGETS.name)?)?;
                m.insert(tid, Seen::ZERO, 0)?;
                attach_floor(&mut e, "hash_btf", AttachKind::Btf)?;
                Setup::Floor(e)
            }
            Cfg::Scan(_) | Cfg::ScanHash(_) | Cfg::ScanCompat(_) => {
                let mut e = load_floor(1)?;
                if matches!(cfg, Cfg::ScanHash(_)) {
                    let mut m: aya::maps::HashMap<_, u64, Seen> =
                        aya::maps::HashMap::try_from(map_mut(&mut e, maps::TARGETS.name)?)?;
                    m.insert(tid, Seen::ZERO, 0)?;
                }
                {
                    let mut m: aya::maps::Array<_, Scan> =
                        aya::maps::Array::try_from(map_mut(&mut e, maps::SCAN.name)?)?;
                    m.set(0, Scan::of(&[tid]).context("one id fits")?, 0)?;
                }
                let name = match cfg {
                    Cfg::Scan(_) => "scan_btf",
                    Cfg::ScanCompat(false) => "scanc_btf",
                    Cfg::ScanCompat(true) => "scanct_btf",
                    _ => "scanhash_btf",
                };
                attach_floor(&mut e, name, AttachKind::Btf)?;
                Setup::Floor(e)
            }
            Cfg::Recorder(k, read, _) => {
                // Sized as `record` sizes it for one target.
                let opts = LoadOptions {
                    follow: false,
                    cgroup_read: Some(*read),
                };
                let mut t = Tracer::load_opts(trace::capacity(1, false), opts)?;
                t.add_target(tid)?;
                t.attach(Some(*k))?;
                Setup::Tracer(Box::new(t))
            }
            Cfg::Bpftrace(_) => {
                let prog = format!(
                    "tracepoint:raw_syscalls:sys_enter /cgroup == cgroupid(\"{}\")/ {{ @[args->id] = count(); }}",
                    self.target.display()
                );
                let out =
                    std::env::temp_dir().join(format!("scr-bench-bpftrace-{}", std::process::id()));
                let child = Command::new("bpftrace")
                    .args(["-e", &prog])
                    .stdout(std::fs::File::create(&out)?)
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting bpftrace")?;
                let setup = Setup::Process(child);
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let text = std::fs::read_to_string(&out).unwrap_or_default();
                    if text.contains("Attaching") {
                        break;
                    }
                    if Instant::now() > deadline {
                        bail!("bpftrace did not attach within 30 s");
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                // "Attaching" is printed before the attach itself.
                std::thread::sleep(Duration::from_millis(500));
                let _ = std::fs::remove_file(&out);
                setup
            }
            Cfg::Strace | Cfg::StraceUnpinned | Cfg::Perf => Setup::None,
        })
    }

    /// One measurement of the getppid loop under `cfg` (already set up): ns per call.
    fn measure(&self, cfg: Option<&Cfg>) -> Result<f64> {
        let cg = match cfg.map(Cfg::place) {
            Some(Place::Target) => self.target.display().to_string(),
            _ => String::new(),
        };
        let mut c = match cfg {
            Some(Cfg::Strace | Cfg::StraceUnpinned) => {
                let mut c = Command::new("strace");
                c.args(["-f", "-c", "-o", "/dev/null"]).arg(&self.exe);
                c
            }
            Some(Cfg::Perf) => {
                let mut c = Command::new("perf");
                c.args(["trace", "-s", "-o", "/dev/null", "--"])
                    .arg(&self.exe);
                c
            }
            _ => Command::new(&self.exe),
        };
        let (iters, rounds) = if cfg.is_some_and(Cfg::ptraced) {
            (self.slow_iters, 1)
        } else {
            (self.iters, self.rounds)
        };
        c.args(["loop", &iters.to_string(), &rounds.to_string(), &cg]);
        if cfg.is_some_and(|c| matches!(c, Cfg::Strace | Cfg::Perf)) {
            // The tracer on the workload's CPU: cross-CPU wake-ups would make it far slower.
            let cpu = bench_cpu();
            // SAFETY: sched_setaffinity only, between fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                c.pre_exec(move || {
                    pin(cpu);
                    Ok(())
                });
            }
        }
        let out = c
            .stderr(Stdio::null())
            .output()
            .context("running the loop")?;
        if !out.status.success() {
            bail!("loop under {cfg:?} failed: {}", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .next_back()
            .with_context(|| format!("no result from the loop under {cfg:?}: {text}"))
    }
}

/// (name, run_time_ns, run_cnt) of every loaded program, by id.
fn prog_stats() -> HashMap<u32, (String, u64, u64)> {
    loaded_programs()
        .filter_map(Result::ok)
        .map(|p| {
            (
                p.id(),
                (
                    p.name_as_str().unwrap_or("").to_string(),
                    p.run_time().as_nanos() as u64,
                    p.run_count(),
                ),
            )
        })
        .collect()
}

fn prog_hint(cfg: &Cfg) -> Option<&'static str> {
    Some(match cfg {
        Cfg::Empty(AttachKind::Btf) => "empty_btf",
        Cfg::Empty(AttachKind::Raw) => "empty_raw",
        Cfg::Empty(AttachKind::Tracepoint) => "empty_tp",
        Cfg::Cgid => "cgid_btf",
        Cfg::Hash(_) => "hash_btf",
        Cfg::Scan(_) => "scan_btf",
        Cfg::ScanHash(_) => "scanhash_btf",
        Cfg::ScanCompat(false) => "scanc_btf",
        Cfg::ScanCompat(true) => "scanct_btf",
        Cfg::Recorder(AttachKind::Btf, _, _) => programs::SYS_ENTER_BTF.name,
        Cfg::Recorder(AttachKind::Raw, _, _) => programs::SYS_ENTER_RAW.name,
        Cfg::Recorder(AttachKind::Tracepoint, _, _) => programs::SYS_ENTER_TP.name,
        _ => return None,
    })
}

/// In-kernel ns per program run for the loop under `cfg`, from the kernel's own stats.
fn kernel_cost(ctx: &Ctx, cfg: &Cfg, before: &HashMap<u32, (String, u64, u64)>) -> Result<f64> {
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).context("BPF_ENABLE_STATS")?;
    let s0 = prog_stats();
    ctx.measure(Some(cfg))?;
    let s1 = prog_stats();
    let hint = prog_hint(cfg);
    let best = s1
        .iter()
        .filter(|(id, _)| !before.contains_key(id))
        .filter(|(_, (name, _, _))| hint.is_none_or(|h| name == h))
        .filter_map(|(id, (_, t1, c1))| {
            let (_, t0, c0) = s0.get(id)?;
            Some((c1 - c0, t1 - t0))
        })
        .max_by_key(|(dc, _)| *dc)
        .context("no new program ran")?;
    if best.0 == 0 {
        bail!("the program never ran");
    }
    Ok(best.1 as f64 / best.0 as f64)
}

#[derive(Default, Clone)]
struct Row {
    best: f64,
    /// The baselines measured right before this configuration, one per repetition: the
    /// overhead compares best with best over the same number of samples.
    bases: Vec<f64>,
    kernel: Vec<f64>,
    samples: Vec<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, s: impl AsRef<str>) {
        println!("{}", s.as_ref());
        let _ = writeln!(self.text, "{}", s.as_ref());
        let _ = std::io::stdout().flush();
    }
}

fn run(quick: bool, out_file: Option<PathBuf>, cmdline: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmarks load eBPF programs and make cgroups: run them as root");
    }
    let started = Instant::now();
    let load_start = loadavg();
    let mount = seccomp_recorder::cgroup::mount_point()?;
    let mut scratch = Scratch {
        cgroups: Vec::new(),
        files: Vec::new(),
        // bpftrace 0.17 and perf trace want tracefs at its usual place, as the classic
        // tracepoint does.
        tracefs_mounted: seccomp_recorder::trace::ensure_tracefs(),
    };
    let target = mount.join(format!("scr-bench-{}", std::process::id()));
    std::fs::create_dir(&target).with_context(|| format!("mkdir {}", target.display()))?;
    scratch.cgroups.push(target.clone());
    let target_id = seccomp_recorder::cgroup::id(&target)?;
    let mut ctx = Ctx {
        exe: std::env::current_exe()?,
        target: target.clone(),
        target_id,
        iters: if quick { 100_000 } else { 200_000 },
        rounds: if quick { 3 } else { 5 },
        slow_iters: if quick { 5_000 } else { 20_000 },
        chosen: chosen_read()?,
        notes: Vec::new(),
    };
    let reps = if quick { 2 } else { 5 };
    let mut body = Out {
        text: String::new(),
    };

    // --- 1. syscall loop -----------------------------------------------------------------
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut cfgs = vec![
        Cfg::Empty(AttachKind::Btf),
        Cfg::Empty(AttachKind::Raw),
        Cfg::Empty(AttachKind::Tracepoint),
        Cfg::Recorder(AttachKind::Btf, CgroupRead::TaskBtf, Place::Host),
        Cfg::Recorder(AttachKind::Btf, CgroupRead::TaskBtf, Place::Target),
        Cfg::Recorder(AttachKind::Btf, CgroupRead::Helper, Place::Host),
        Cfg::Recorder(AttachKind::Btf, CgroupRead::Helper, Place::Target),
        Cfg::Recorder(AttachKind::Raw, CgroupRead::Helper, Place::Host),
        Cfg::Recorder(AttachKind::Raw, CgroupRead::Helper, Place::Target),
        Cfg::Recorder(AttachKind::Tracepoint, CgroupRead::Helper, Place::Host),
        Cfg::Recorder(AttachKind::Tracepoint, CgroupRead::Helper, Place::Target),
        Cfg::Cgid,
        Cfg::Hash(Place::Host),
        Cfg::Hash(Place::Target),
        Cfg::Scan(Place::Host),
        Cfg::Scan(Place::Target),
        Cfg::ScanHash(Place::Host),
        Cfg::ScanHash(Place::Target),
        Cfg::ScanCompat(false),
        Cfg::ScanCompat(true),
    ];
    if have("bpftrace") {
        cfgs.push(Cfg::Bpftrace(Place::Host));
        cfgs.push(Cfg::Bpftrace(Place::Target));
    } else {
        ctx.notes
            .push("bpftrace is not installed: its rows are missing".into());
    }
    if have("strace") {
        cfgs.push(Cfg::Strace);
        cfgs.push(Cfg::StraceUnpinned);
    }
    if have("perf") {
        cfgs.push(Cfg::Perf);
    } else {
        ctx.notes
            .push("perf is not installed: its row is missing".into());
    }
    let mut rows: Vec<Row> = vec![Row::default(); cfgs.len()];
    let mut baselines: Vec<f64> = Vec::new();
    let mut failed: BTreeMap<usize, String> = BTreeMap::new();
    eprintln!(
        "bench: syscall loop, {} configurations x {reps} repetitions",
        cfgs.len()
    );
    for rep in 0..reps {
        // Rotate the order so no configuration always follows the same one.
        let n = cfgs.len();
        for j in 0..n {
            let i = (j + rep * 3) % n;
            if failed.contains_key(&i) {
                continue;
            }
            let cfg = &cfgs[i];
            let b = ctx.measure(None)?;
            baselines.push(b);
            rows[i].bases.push(b);
            let before = prog_stats();
            let r = (|| -> Result<()> {
                let setup = ctx.setup(cfg)?;
                let ns = ctx.measure(Some(cfg))?;
                let row = &mut rows[i];
                row.samples.push(ns);
                row.best = if row.best == 0.0 {
                    ns
                } else {
                    row.best.min(ns)
                };
                if cfg.floor().is_some() {
                    match kernel_cost(&ctx, cfg, &before) {
                        Ok(k) => row.kernel.push(k),
                        Err(e) => eprintln!("bench: in-kernel cost of {cfg:?}: {e:#}"),
                    }
                }
                if let (Setup::Floor(e), Place::Target) = (&setup, cfg.place()) {
                    check_floor_target(e, cfg)?;
                }
                if let (Setup::Tracer(t), Place::Target) = (&setup, cfg.place()) {
                    let got = t.read()?;
                    let names = got
                        .get(&ctx.target_id)
                        .and_then(|s| s.names.get(&Arch::X86_64));
                    if !names.is_some_and(|n| n.contains("getppid")) {
                        bail!("the recorder did not record getppid in the target");
                    }
                }
                drop(setup);
                Ok(())
            })();
            if let Err(e) = r {
                eprintln!("bench: {}: {e:#}", cfg.label());
                failed.insert(i, format!("{e:#}"));
            }
        }
        eprintln!(
            "bench: repetition {}/{reps} done ({:.0?})",
            rep + 1,
            started.elapsed()
        );
    }
    let base = baselines.iter().copied().fold(f64::MAX, f64::min);
    let base_med = median(&mut baselines.clone());
    let ov = |i: usize| rows[i].best - rows[i].bases.iter().copied().fold(f64::MAX, f64::min);
    let idx = |c: &Cfg| cfgs.iter().position(|x| x == c);
    let floor_ov = |k: AttachKind| idx(&Cfg::Empty(k)).map(ov);
    let floor_kernel =
        |k: AttachKind| idx(&Cfg::Empty(k)).map(|i| median(&mut rows[i].kernel.clone()));
    let strace_pinned_ov = idx(&Cfg::Strace).filter(|i| rows[*i].best > 0.0).map(ov);
    let strace_free_ov = idx(&Cfg::StraceUnpinned)
        .filter(|i| rows[*i].best > 0.0)
        .map(ov);
    // The cheaper strace placement: ratios against strace are never flattered.
    let strace_ov = match (strace_pinned_ov, strace_free_ov) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };

    // fentry: DESIGN.md says EPERM; confirm once.
    let fentry = (|| -> Result<()> {
        let mut e = load_floor(1)?;
        let btf = aya::Btf::from_sys_fs()?;
        let p: &mut FEntry = e
            .program_mut("empty_fentry")
            .context("missing")?
            .try_into()?;
        p.load("x64_sys_call", &btf)?;
        p.attach()?;
        Ok(())
    })();
    let fentry = match fentry {
        Ok(()) => "fentry on x64_sys_call loaded and attached (not measured further)".to_string(),
        Err(e) => format!(
            "fentry on x64_sys_call: does not load here ({})",
            chain(&*e)
        ),
    };

    // --- 2. mixed workloads ----------------------------------------------------------------
    eprintln!("bench: mixed workloads");
    let project = make_project()?;
    scratch.files.push(project.clone());
    let mixed = mixed_workloads(&ctx, &project, if quick { 2 } else { 3 }, &have)?;

    // --- 3. start-up -------------------------------------------------------------------------
    eprintln!("bench: start-up");
    let startup = startup(&ctx, if quick { 5 } else { 15 })?;

    // --- 4. scale ------------------------------------------------------------------------------
    eprintln!("bench: scale");
    let scale_root = mount.join(format!("scr-bench-{}-scale", std::process::id()));
    std::fs::create_dir(&scale_root)?;
    scratch.cgroups.push(scale_root.clone());
    let scale = scale(&ctx, &mut scratch, &scale_root, if quick { 2 } else { 3 })?;

    // --- 5. zero misses at 1M+/s ---------------------------------------------------------
    eprintln!("bench: completeness at a high syscall rate");
    let spin = spin_check(&ctx, if quick { 1000 } else { 3000 })?;

    // --- 6. audit import ---------------------------------------------------------------------
    eprintln!("bench: audit import");
    let audit_mb = if quick { 256 } else { 1024 };
    let audit_file =
        std::env::temp_dir().join(format!("scr-bench-audit-{}.log", std::process::id()));
    scratch.files.push(audit_file.clone());
    let audit = audit_bench(&audit_file, audit_mb << 20)?;
    let _ = std::fs::remove_file(&audit_file);

    // --- report ----------------------------------------------------------------------------
    let ratio = |a: f64, b: Option<f64>| match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("{:.2}", a / b),
        _ => "–".into(),
    };
    let rec = |r: CgroupRead, p: Place| {
        idx(&Cfg::Recorder(AttachKind::Btf, r, p)).filter(|i| !failed.contains_key(i))
    };
    let btf_floor = floor_ov(AttachKind::Btf);
    let nt = rec(ctx.chosen, Place::Host).map(ov);
    let tg = rec(ctx.chosen, Place::Target).map(ov);
    let other = match ctx.chosen {
        CgroupRead::Helper => CgroupRead::TaskBtf,
        CgroupRead::TaskBtf => CgroupRead::Helper,
    };
    let bt = idx(&Cfg::Bpftrace(Place::Target))
        .filter(|i| !failed.contains_key(i))
        .map(ov);

    let mut head = Out {
        text: String::new(),
    };
    head.line("# Benchmarks");
    head.line("");
    head.line(format!(
        "Generated by `{cmdline}` on {} ({}; {}).",
        utc_now(),
        machine(),
        kernel()
    ));
    head.line("");
    head.line("## Headline ratios");
    head.line("");
    let pct = |x: Option<f64>, f: Option<f64>| match (x, f) {
        (Some(x), Some(f)) if f > 0.0 => format!("{:.2}x", x / f),
        _ => "n/a".into(),
    };
    head.line(format!(
        "- Processes outside the recording (the tax every process on the host pays): {} the overhead of an empty tp_btf program (target: at most 1.25x), reading the cgroup id via {} as `record` does on this kernel; via {}: {}.",
        pct(nt, btf_floor),
        read_name(ctx.chosen),
        read_name(other),
        pct(rec(other, Place::Host).map(ov), btf_floor)
    ));
    head.line(format!(
        "- The recorded workload: {} the empty-program floor (target: at most 1.5x; via {}: {}), {} bpftrace's per-cgroup count one-liner.",
        pct(tg, btf_floor),
        read_name(other),
        pct(rec(other, Place::Target).map(ov), btf_floor),
        pct(tg, bt)
    ));
    // Wall-clock overheads swing with the load on a shared machine; the kernel's own
    // per-run cost of the same runs does not.
    let net = |r: CgroupRead, p: Place| match (rec(r, p), floor_kernel(AttachKind::Btf)) {
        (Some(i), Some(f)) if f.is_finite() => {
            format!("{:.1} ns", median(&mut rows[i].kernel.clone()) - f)
        }
        _ => "n/a".into(),
    };
    head.line(format!(
        "- The two cgroup-id reads in the kernel's own accounting (BPF stats, per run, net of the empty tp_btf program's {:.1} ns): task BTF loads {} outside the target, {} inside; the helper {} outside, {} inside.",
        floor_kernel(AttachKind::Btf).unwrap_or(f64::NAN),
        net(CgroupRead::TaskBtf, Place::Host),
        net(CgroupRead::TaskBtf, Place::Target),
        net(CgroupRead::Helper, Place::Host),
        net(CgroupRead::Helper, Place::Target),
    ));
    head.line(format!(
        "- strace -f -c costs {} times as much per syscall as recording with seccomp-recorder at its default placement, {} times with the tracer pinned to the workload's CPU (target: over 500x).",
        match (strace_free_ov, tg) {
            (Some(s), Some(t)) if t > 0.0 => format!("{:.0}", s / t),
            _ => "n/a".into(),
        },
        match (strace_pinned_ov, tg) {
            (Some(s), Some(t)) if t > 0.0 => format!("{:.0}", s / t),
            _ => "n/a".into(),
        }
    ));
    head.line(format!(
        "- `seccomp-recorder record -o x.json -- /bin/true`: {:.0} ms wall (best of {}; median {:.0} ms, `/bin/true` alone {:.1} ms), peak RSS {:.1} MB (targets: under 100 ms, under 30 MB).",
        startup.best_ms, startup.n, startup.median_ms, startup.bare_median_ms, startup.rss_mb
    ));
    for h in &mixed.headline {
        head.line(format!("- {h}"));
    }
    head.line(format!(
        "- {} syscalls/s from {} threads cycling through 50 known syscalls: {} of 50 recorded ({}).",
        fmt_rate(spin.rate),
        spin.threads,
        50 - spin.missing.len(),
        if spin.missing.is_empty() { "zero misses".to_string() } else { format!("missing: {}", spin.missing.join(", ")) }
    ));
    head.line(format!(
        "- Audit import: {:.0} MB/s on a {} MiB generated log (target: at least 300 MB/s).",
        audit.mb_s, audit_mb
    ));
    head.line("");

    // Targets.
    head.line("## Targets (issues 7 and 12)");
    head.line("");
    head.line("| target | measured | met |");
    head.line("|---|---|---|");
    let yes = |b: bool| if b { "yes" } else { "**no**" };
    if let (Some(nt), Some(f)) = (nt, btf_floor) {
        head.line(format!(
            "| non-target within 1.25x of the tp_btf floor | {:.2}x | {} |",
            nt / f,
            yes(nt / f <= 1.25)
        ));
    }
    if let (Some(tg), Some(f)) = (tg, btf_floor) {
        head.line(format!(
            "| target within 1.5x of the tp_btf floor | {:.2}x | {} |",
            tg / f,
            yes(tg / f <= 1.5)
        ));
    }
    if let (Some(tg), Some(bt)) = (tg, bt) {
        head.line(format!(
            "| target cheaper than bpftrace's one-liner | {tg:.1} vs {bt:.1} ns | {} |",
            yes(tg < bt)
        ));
    }
    if let (Some(s), Some(tg)) = (strace_free_ov, tg) {
        head.line(format!(
            "| over 500x less than strace (default placement) | {:.0}x | {} |",
            s / tg,
            yes(s / tg > 500.0)
        ));
    }
    if let (Some(s), Some(tg)) = (strace_pinned_ov, tg) {
        head.line(format!(
            "| over 500x less than strace (tracer pinned to the workload's CPU) | {:.0}x | {} |",
            s / tg,
            yes(s / tg > 500.0)
        ));
    }
    head.line(format!(
        "| record -- /bin/true under 100 ms | best {:.0} ms, median {:.0} ms | {} (best), {} (median) |",
        startup.best_ms,
        startup.median_ms,
        yes(startup.best_ms < 100.0),
        yes(startup.median_ms < 100.0)
    ));
    head.line(format!(
        "| peak RSS under 30 MB | {:.1} MB | {} |",
        startup.rss_mb,
        yes(startup.rss_mb < 30.0)
    ));
    head.line(format!(
        "| zero missed syscalls at 1M+/s | {} missing at {} /s | {} |",
        spin.missing.len(),
        fmt_rate(spin.rate),
        yes(spin.missing.is_empty() && spin.rate >= 1e6)
    ));
    head.line(format!(
        "| audit import at 300 MB/s or more (issue 12) | {:.0} MB/s | {} |",
        audit.mb_s,
        yes(audit.mb_s >= 300.0)
    ));
    head.line("");

    body.line("## 1. Syscall overhead: tight getppid loop");
    body.line("");
    body.line(format!(
        "A compiled loop of `syscall(SYS_getppid)` pinned to CPU {} with sched_setaffinity, {} calls per round, best of {} rounds per measurement; {} repetitions with every configuration in each, order rotated, a no-tracing baseline before each configuration. ns/call is the best over the repetitions; overhead is that minus the best of the baselines measured right before it in the same repetitions (all baselines: best {:.1} ns, median {:.1} ns). strace and perf trace run {} calls; \"strace overhead / this\" uses the cheaper of the two strace placements (which one wins varies with the load on the other CPU). In-kernel ns/run is run_time_ns / run_cnt from the kernel's BPF stats (BPF_ENABLE_STATS, median over repetitions); bpf_stats adds its own timing to every run, so \"net\" subtracts the empty program of the same attach type.",
        bench_cpu(), ctx.iters, ctx.rounds, reps, base, base_med, ctx.slow_iters
    ));
    body.line("");
    body.line("| configuration | ns/call | overhead ns | x floor (same attach) | strace overhead / this | in-kernel ns/run | net of empty |");
    body.line("|---|---|---|---|---|---|---|");
    body.line(format!(
        "| baseline, nothing attached | {base:.1} | 0 | – | – | – | – |"
    ));
    for (i, cfg) in cfgs.iter().enumerate() {
        if let Some(e) = failed.get(&i) {
            body.line(format!(
                "| {} | failed: {} | | | | | |",
                cfg.label(),
                e.replace('|', "/")
            ));
            continue;
        }
        let o = ov(i);
        let k = median(&mut rows[i].kernel.clone());
        let fk = cfg.floor().and_then(floor_kernel);
        body.line(format!(
            "| {} | {:.1} | {:.1} | {} | {} | {} | {} |",
            cfg.label(),
            rows[i].best,
            o,
            ratio(o, cfg.floor().and_then(floor_ov)),
            match strace_ov {
                Some(s) if o > 0.5 && !matches!(cfg, Cfg::Strace | Cfg::StraceUnpinned) =>
                    format!("{:.0}", s / o),
                _ => "–".into(),
            },
            if k.is_finite() {
                format!("{k:.1}")
            } else {
                "–".into()
            },
            match (k.is_finite(), fk) {
                (true, Some(f)) if !matches!(cfg, Cfg::Empty(_)) => format!("{:.1}", k - f),
                _ => "–".into(),
            },
        ));
    }
    body.line("");
    body.line(format!("- {fentry}."));
    for n in &ctx.notes {
        body.line(format!("- {n}"));
    }
    body.line("");
    body.text.push_str(&mixed.section);
    print!("{}", mixed.section);
    body.text.push_str(&startup.section);
    print!("{}", startup.section);
    body.text.push_str(&scale);
    print!("{scale}");
    body.text.push_str(&spin.section);
    print!("{}", spin.section);
    body.text.push_str(&audit.section);
    print!("{}", audit.section);
    let vmtest = out_file
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("target/vmtest");
    let kpath = kpath::section(&vmtest);
    body.text.push_str(&kpath);
    print!("{kpath}");
    body.line("## Noise and method");
    body.line("");
    body.line(format!(
        "- This machine has {} CPUs shared with other work (builds and tests of other sessions may run at the same time): best-of-N and interleaving absorb most of it, but single rows can still be off by 10-30 ns. Ratios travel better than absolute ns: this is a VM with retpolines and SRSO safe-RET, where every kernel call and return is expensive.",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    ));
    body.line(format!("- The recorder rows use the library (`seccomp_recorder::trace::Tracer`, as `record --attach btf|raw|tracepoint` does) with one target cgroup; the loop moves itself into that cgroup for the \"inside\" rows and stays in the bench's own cgroup otherwise. After each inside run the recorded set is checked to contain getppid. On tp_btf the recorder runs twice, its cgroup-id read forced each way (`Tracer::load_opts`): `bpf_get_current_cgroup_id`, or `bpf_get_current_task_btf` then direct loads of `cgroups->dfl_cgrp->kn->id`; the headline, section 2 and section 4 use the one `record` picks here ({}).", read_name(ctx.chosen)));
    body.line(format!("- \"variant\" rows come from `bench-ebpf` (benchmark-only object, on the recorder's own maps): the helper alone, the hash path without the compat read, the inline scan of up to {SCAN_SLOTS} target ids held in an array map (whose lookup the verifier inlines: no helper call), either with the seen sets in an array indexed by the slot (falling back to the hash only with more than {SCAN_SLOTS} targets) or, the smallest change, as a filter in front of the unchanged hash; and the array-slot variant with the compat (i386) read done as today or through `bpf_get_current_task_btf` and a direct load."));
    body.line(format!(
        "- Load average (1 min) when the run started: {load_start}; when it ended: {}. Above 1-2 on this 2-CPU machine means other work competed with the benchmark.",
        loadavg()
    ));
    body.line(format!(
        "- Whole run: {:.0} s.",
        started.elapsed().as_secs_f64()
    ));

    let doc = format!("{}{}", head.text, body.text);
    if let Some(f) = out_file {
        // The agent's section is `bench agent`'s, measured apart: kept as it is.
        let old = std::fs::read_to_string(&f).unwrap_or_default();
        let doc = match agent::section_of(&old) {
            Some(section) => agent::replace_section(&doc, section),
            None => doc,
        };
        std::fs::write(&f, doc).with_context(|| format!("writing {}", f.display()))?;
        eprintln!("bench: wrote {}", f.display());
    }
    drop(scratch);
    Ok(())
}

/// The cgroup-id read `record` picks here: what a default-loaded, tp_btf-attached tracer
/// uses.
fn chosen_read() -> Result<CgroupRead> {
    let mut t = Tracer::load(1)?;
    t.attach(Some(AttachKind::Btf))?;
    Ok(t.cgroup_read())
}

fn check_floor_target(e: &Ebpf, cfg: &Cfg) -> Result<()> {
    let byte = match cfg {
        Cfg::Scan(_) | Cfg::ScanCompat(_) => {
            let m: aya::maps::Array<_, Seen> =
                aya::maps::Array::try_from(map(e, maps::SETS.name)?)?;
            m.get(&0, 0)?.nr[libc::SYS_getppid as usize]
        }
        Cfg::Hash(_) | Cfg::ScanHash(_) => {
            let m: aya::maps::HashMap<_, u64, Seen> =
                aya::maps::HashMap::try_from(map(e, maps::TARGETS.name)?)?;
            let k = m.keys().next().context("no target in the hash")??;
            m.get(&k, 0)?.nr[libc::SYS_getppid as usize]
        }
        _ => 1,
    };
    if byte != 1 {
        bail!("{cfg:?} did not mark getppid");
    }
    Ok(())
}

fn fmt_rate(r: f64) -> String {
    format!("{:.2} M", r / 1e6)
}

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn kernel() -> String {
    // SAFETY: uname fills the zeroed struct.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        let s = |f: &[libc::c_char]| {
            std::ffi::CStr::from_ptr(f.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        format!("Linux {} {}", s(&u.release), s(&u.machine))
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|s| s.trim_matches('"').to_string())
        })
        .unwrap_or_default();
    let srso =
        std::fs::read_to_string("/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow")
            .map(|s| format!(", SRSO: {}", s.trim()))
            .unwrap_or_default();
    format!(
        "{os}, {} x {cpu}{srso}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

// --- mixed workloads ---------------------------------------------------------------------

fn make_project() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("scr-bench-project-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut objs = Vec::new();
    for i in 0..6 {
        let mut src =
            String::from("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n");
        for f in 0..40 {
            let _ = writeln!(
                src,
                "int f{i}_{f}(const char *s) {{ int h = {f}; for (size_t k = 0; k < strlen(s); k++) h = h * 31 + s[k]; return h ^ {i}; }}"
            );
        }
        if i == 0 {
            src.push_str("int main(int c, char **v) { printf(\"%d\\n\", f0_1(c > 1 ? v[1] : \"x\")); return 0; }\n");
        }
        std::fs::write(dir.join(format!("m{i}.c")), src)?;
        objs.push(format!("m{i}.o"));
    }
    let mk = format!(
        "app: {objs}\n\tcc -o app {objs}\n%.o: %.c\n\tcc -O1 -c $< -o $@\n",
        objs = objs.join(" ")
    );
    std::fs::write(dir.join("Makefile"), mk)?;
    Ok(dir)
}

struct Mixed {
    section: String,
    headline: Vec<String>,
}

fn mixed_workloads(
    ctx: &Ctx,
    project: &Path,
    reps: usize,
    have: &dyn Fn(&str) -> bool,
) -> Result<Mixed> {
    let io_iters = 20_000u64;
    let project_s = project.display().to_string();
    let workloads: [(&str, Vec<String>); 2] = [
        (
            "make: compile and link 6 C files",
            vec!["build".into(), project_s],
        ),
        (
            "I/O loop: 20k x (open, fstat, read, close, pipe write+read, mmap+munmap, stat)",
            vec!["io".into(), io_iters.to_string()],
        ),
    ];
    let mut modes: Vec<(&str, Option<Cfg>)> = vec![
        ("baseline", None),
        (
            "seccomp-recorder, outside the target",
            Some(Cfg::Recorder(AttachKind::Btf, ctx.chosen, Place::Host)),
        ),
        (
            "seccomp-recorder, inside the target",
            Some(Cfg::Recorder(AttachKind::Btf, ctx.chosen, Place::Target)),
        ),
    ];
    if have("bpftrace") {
        modes.push((
            "bpftrace one-liner, inside",
            Some(Cfg::Bpftrace(Place::Target)),
        ));
    }
    modes.push(("strace -f -c", Some(Cfg::Strace)));
    if have("perf") {
        modes.push(("perf trace -s", Some(Cfg::Perf)));
    }
    let mut best: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for _ in 0..reps {
        // A baseline next to every traced mode (interleaved), the best of all of them kept.
        let runs: Vec<usize> = (1..modes.len()).flat_map(|mi| [0, mi]).collect();
        for mi in runs {
            let cfg = &modes[mi].1;
            let setup = match cfg {
                Some(c) => ctx.setup(c)?,
                None => Setup::None,
            };
            for (wi, (_, args)) in workloads.iter().enumerate() {
                let inside = cfg.as_ref().is_some_and(|c| c.place() == Place::Target);
                let mut c = match cfg {
                    Some(Cfg::Strace) => {
                        let mut c = Command::new("strace");
                        c.args(["-f", "-c", "-o", "/dev/null"]).arg(&ctx.exe);
                        c
                    }
                    Some(Cfg::Perf) => {
                        let mut c = Command::new("perf");
                        c.args(["trace", "-s", "-o", "/dev/null", "--"])
                            .arg(&ctx.exe);
                        c
                    }
                    _ => Command::new(&ctx.exe),
                };
                c.args(args);
                c.arg(if inside {
                    ctx.target.display().to_string()
                } else {
                    String::new()
                });
                let out = c.stderr(Stdio::null()).output()?;
                if !out.status.success() {
                    bail!("{} under {:?} failed", args[0], cfg);
                }
                let ns: f64 = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .next_back()
                    .context("no time from the workload")?;
                let e = best.entry((wi, mi)).or_insert(f64::MAX);
                *e = e.min(ns);
            }
            drop(setup);
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## 2. Mixed workloads: wall time relative to no tracing\n"
    );
    let _ = writeln!(
        s,
        "Best of {reps} (baselines: best of {} interleaved runs); the recorder attached via tp_btf with one target. \"inside\" means the workload runs in the target cgroup (recorded); \"outside\" means it is not recorded but pays the host-wide tax.\n",
        reps * (modes.len() - 1)
    );
    let _ = write!(s, "| workload | baseline |");
    for (name, _) in &modes[1..] {
        let _ = write!(s, " {name} |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|---|{}", "---|".repeat(modes.len() - 1));
    let mut headline = Vec::new();
    for (wi, (wname, _)) in workloads.iter().enumerate() {
        let b = best[&(wi, 0)];
        let _ = write!(s, "| {wname} | {:.0} ms |", b / 1e6);
        for mi in 1..modes.len() {
            let _ = write!(s, " {:.2}x |", best[&(wi, mi)] / b);
        }
        let _ = writeln!(s);
        let inside = best[&(wi, 2)] / b;
        let st = modes
            .iter()
            .position(|m| m.0 == "strace -f -c")
            .map(|mi| best[&(wi, mi)] / b);
        headline.push(format!(
            "{wname}: {inside:.2}x the untraced wall time while recorded{}.",
            st.map(|x| format!(" (strace -f -c: {x:.2}x)"))
                .unwrap_or_default()
        ));
    }
    let _ = writeln!(s);
    Ok(Mixed {
        section: s,
        headline,
    })
}

// --- start-up ------------------------------------------------------------------------------

/// The start-up section alone (`cargo xtask bench --only startup`), printed: it needs
/// only a target cgroup for the library's steps.
fn startup_only(n: usize) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the benchmarks load eBPF programs and make cgroups: run them as root");
    }
    let mount = seccomp_recorder::cgroup::mount_point()?;
    let target = mount.join(format!("scr-bench-{}", std::process::id()));
    std::fs::create_dir(&target).with_context(|| format!("mkdir {}", target.display()))?;
    let scratch = Scratch {
        cgroups: vec![target.clone()],
        files: Vec::new(),
        tracefs_mounted: false,
    };
    let ctx = Ctx {
        exe: std::env::current_exe()?,
        target_id: seccomp_recorder::cgroup::id(&target)?,
        target,
        iters: 0,
        rounds: 0,
        slow_iters: 0,
        chosen: chosen_read()?,
        notes: Vec::new(),
    };
    print!("{}", startup(&ctx, n.max(1))?.section);
    drop(scratch);
    Ok(())
}

struct Startup {
    best_ms: f64,
    median_ms: f64,
    /// `/bin/true` alone, measured alongside.
    bare_median_ms: f64,
    rss_mb: f64,
    n: usize,
    section: String,
}

/// Wall time of one run of `c` in ms, and its peak RSS in KiB; fails unless it exits 0.
fn time_run(c: &mut Command) -> Result<(f64, i64)> {
    let t = Instant::now();
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {:?}", c.get_program()))?;
    let mut status = 0;
    // SAFETY: wait4 on our own child with a zeroed rusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as i32, &mut status, 0, &mut ru);
        ru
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{c:?} failed (status {status})");
    }
    Ok((ms, ru.ru_maxrss))
}

/// `(best, median, worst)` of `times`.
fn spread(times: &[f64]) -> (f64, f64, f64) {
    let best = times.iter().copied().fold(f64::MAX, f64::min);
    let worst = times.iter().copied().fold(0.0, f64::max);
    (best, median(&mut times.to_vec()), worst)
}

fn startup(ctx: &Ctx, n: usize) -> Result<Startup> {
    let bin = ctx.exe.with_file_name("seccomp-recorder");
    let out = std::env::temp_dir().join(format!("scr-bench-startup-{}.json", std::process::id()));
    let (mut times, mut bare) = (Vec::new(), Vec::new());
    let mut rss = 0i64;
    // Interleaved, so that other work on the machine weighs on both rows alike.
    for _ in 0..n {
        bare.push(time_run(&mut Command::new("/bin/true"))?.0);
        let mut record = Command::new(&bin);
        record
            .args(["record", "-o"])
            .arg(&out)
            .args(["--", "/bin/true"]);
        let (ms, kb) = time_run(&mut record)?;
        times.push(ms);
        rss = rss.max(kb);
    }
    let _ = std::fs::remove_file(&out);
    // Where the time goes, through the library: best of n per phase.
    let mut phase = [f64::MAX; 4];
    for _ in 0..n {
        let t = Instant::now();
        let mut tr = Tracer::load(trace::capacity(1, false))?;
        let t1 = Instant::now();
        tr.add_target(ctx.target_id)?;
        tr.attach(Some(AttachKind::Btf))?;
        let t2 = Instant::now();
        let _ = tr.read()?;
        let t3 = Instant::now();
        drop(tr);
        let t4 = Instant::now();
        for (p, d) in phase.iter_mut().zip([t1 - t, t2 - t1, t3 - t2, t4 - t3]) {
            *p = p.min(d.as_secs_f64() * 1e3);
        }
    }
    let rss_steps = Command::new(&ctx.exe)
        .arg("rss")
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(kb, name)| {
                    format!(
                        "{name}: {:.1} MB",
                        kb.parse::<f64>().unwrap_or(0.0) / 1024.0
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let (best, med, worst) = spread(&times);
    let (bare_best, bare_med, bare_worst) = spread(&bare);
    let rss_mb = rss as f64 / 1024.0;
    let mut s = String::new();
    let _ = writeln!(s, "## 3. Start-up\n");
    let _ = writeln!(
        s,
        "{n} runs of each, interleaved (release build; recording is BTF parse, load and verify, attach, run, detach, write):\n\n\
         | command | best | median | worst |\n|---|---|---|---|\n\
         | `/bin/true` | {bare_best:.1} ms | {bare_med:.1} ms | {bare_worst:.1} ms |\n\
         | `{} record -o FILE -- /bin/true` | {best:.1} ms | {med:.1} ms | {worst:.1} ms |\n\n\
         Recording adds {:.1} ms to the median; peak RSS {rss_mb:.1} MB (ru_maxrss from wait4).\n\n\
         The same steps through the library, best of {n} each: `Tracer::load` (privilege check, BTF offsets, ELF load and verification, cgroup_mkdir hook) {:.1} ms; add target + attach tp_btf {:.1} ms; read the maps {:.1} ms; detach and unload {:.1} ms.\n\n\
         Peak RSS after each step, in a fresh process: {rss_steps}.\n",
        bin.display(),
        med - bare_med,
        phase[0],
        phase[1],
        phase[2],
        phase[3]
    );
    Ok(Startup {
        best_ms: best,
        median_ms: med,
        bare_median_ms: bare_med,
        rss_mb,
        n,
        section: s,
    })
}

// --- scale ----------------------------------------------------------------------------------

/// Memory the kernel charges for this process's BPF maps (memlock of each map fd).
fn map_memlock() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/fdinfo") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|t| t.contains("map_type:"))
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum()
}

fn scale(ctx: &Ctx, scratch: &mut Scratch, root: &Path, reps: usize) -> Result<String> {
    let sizes = [1usize, 100, 5000];
    let mut made: Vec<u64> = Vec::new();
    let mut rows = Vec::new();
    for &n in &sizes {
        while made.len() + 1 < n {
            let p = root.join(format!("c{}", made.len()));
            std::fs::create_dir(&p)?;
            scratch.cgroups.push(p.clone());
            made.push(seccomp_recorder::cgroup::id(&p)?);
        }
        let mut host = f64::MAX;
        let mut inside = f64::MAX;
        let mut base = f64::MAX;
        let mut mem = 0;
        let mut load_ms = f64::MAX;
        let mut floor = f64::MAX;
        for _ in 0..reps {
            base = base.min(ctx.measure(None)?);
            let f = ctx.setup(&Cfg::Empty(AttachKind::Btf))?;
            floor = floor.min(ctx.measure(Some(&Cfg::Empty(AttachKind::Btf)))?);
            drop(f);
            let m0 = map_memlock();
            let t = Instant::now();
            let mut tr = Tracer::load(trace::capacity(n, false))?;
            for id in made.iter().take(n - 1) {
                tr.add_target(*id)?;
            }
            tr.add_target(ctx.target_id)?;
            tr.attach(Some(AttachKind::Btf))?;
            load_ms = load_ms.min(t.elapsed().as_secs_f64() * 1e3);
            mem = map_memlock().saturating_sub(m0);
            let cfg = |p| Cfg::Recorder(AttachKind::Btf, ctx.chosen, p);
            host = host.min(ctx.measure(Some(&cfg(Place::Host)))?);
            inside = inside.min(ctx.measure(Some(&cfg(Place::Target)))?);
            drop(tr);
        }
        rows.push((n, host - base, inside - base, mem, load_ms, floor - base));
    }
    let mut s = String::new();
    let _ = writeln!(s, "## 4. Scale: number of target cgroups\n");
    let _ = writeln!(
        s,
        "Empty cgroups made under `{}` and added as targets (plus the bench's own target), tp_btf, best of {reps}; maps sized as `record` sizes them (targets + 1025 slots). Each repetition measures a baseline, the empty tp_btf program (the floor), then the recorder. Memory is the memlock the kernel reports for this process's map fds.\n",
        root.display(),
    );
    let _ = writeln!(
        s,
        "| targets | floor ns | non-target overhead ns | x floor | target overhead ns | x floor | map memory | load + fill + attach |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (n, h, i, mem, ms, floor) in rows {
        let _ = writeln!(
            s,
            "| {n} | {floor:.1} | {h:.1} | {:.2} | {i:.1} | {:.2} | {:.1} MiB | {ms:.0} ms |",
            h / floor,
            i / floor,
            mem as f64 / (1 << 20) as f64
        );
    }
    let _ = writeln!(s);
    Ok(s)
}

// --- completeness ----------------------------------------------------------------------------

struct Spin {
    rate: f64,
    threads: u64,
    missing: Vec<String>,
    section: String,
}

fn spin_check(ctx: &Ctx, ms: u64) -> Result<Spin> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(2);
    let mut tr = Tracer::load(trace::capacity(1, false))?;
    tr.add_target(ctx.target_id)?;
    tr.attach(Some(AttachKind::Btf))?;
    let out = Command::new(&ctx.exe)
        .args(["spin", &threads.to_string(), &ms.to_string()])
        .arg(&ctx.target)
        .stderr(Stdio::null())
        .output()?;
    tr.detach();
    if !out.status.success() {
        bail!("spin workload failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let total: u64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .context("spin output")?;
    let rate: f64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .context("spin output")?;
    let got = tr.read()?;
    let names: BTreeSet<String> = got
        .get(&ctx.target_id)
        .and_then(|s| s.names.get(&Arch::X86_64))
        .cloned()
        .unwrap_or_default();
    let expected: Vec<&str> = SPIN_SET
        .iter()
        .filter_map(|nr| Arch::X86_64.syscall_name(*nr as u32))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|n| !names.contains(**n))
        .map(|n| n.to_string())
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "## 5. Completeness at a high syscall rate\n");
    let _ = writeln!(
        s,
        "{threads} threads in the target cgroup cycle through a known list of {} syscalls for {ms} ms while recorded (tp_btf): {total} syscalls, {} per second. Recorded {} distinct syscalls; of the known list, {} missing{}.\n",
        expected.len(),
        fmt_rate(rate),
        names.len(),
        missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(": {}", missing.join(", "))
        }
    );
    Ok(Spin {
        rate,
        threads,
        missing,
        section: s,
    })
}

// --- audit import -----------------------------------------------------------------------------

/// Section 6 alone (`audit [MIB]`), for working on the importer without the whole run.
fn audit_only(mib: u64) -> Result<()> {
    let file = std::env::temp_dir().join(format!("scr-bench-audit-{}.log", std::process::id()));
    let audit = audit_bench(&file, mib << 20);
    let _ = std::fs::remove_file(&file);
    print!("{}", audit?.section);
    Ok(())
}

struct Audit {
    mb_s: f64,
    section: String,
}

fn audit_bench(file: &Path, bytes: u64) -> Result<Audit> {
    let t = Instant::now();
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(file)?);
        let mut written = 0u64;
        let mut serial = 1000u64;
        let mut line = String::with_capacity(512);
        while written < bytes {
            serial += 1;
            line.clear();
            let nr = (serial * 7919) % 330;
            let pid = 4000 + (serial / 1000) % 50;
            if serial.is_multiple_of(10) {
                // Non-SECCOMP noise the importer must skip.
                let _ = writeln!(
                    line,
                    "type=SYSCALL msg=audit(1795368414.{:03}:{serial}): arch=c000003e syscall={nr} success=yes exit=0 a0=3 a1=7ffd a2=0 a3=0 items=0 ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"app\" exe=\"/usr/bin/app\" key=(null)",
                    serial % 1000
                );
            } else {
                let _ = writeln!(
                    line,
                    "type=SECCOMP msg=audit(1795368414.{:03}:{serial}): auid=4294967295 uid=0 gid=0 ses=4294967295 pid={pid} comm=\"app\" exe=\"/usr/bin/app\" sig=0 arch=c000003e syscall={nr} compat=0 ip=0x55d1a8f3b1ee code=0x7ffc0000",
                    serial % 1000
                );
            }
            w.write_all(line.as_bytes())?;
            written += line.len() as u64;
        }
        w.flush()?;
    }
    let gen_s = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(file)?.len();
    let t = Instant::now();
    let r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let imported =
        seccomp_recorder::audit::import(r, &seccomp_recorder::audit::Options::default())?;
    let secs = t.elapsed().as_secs_f64();
    let n: usize = imported.syscalls.values().map(BTreeSet::len).sum();
    let mb_s = size as f64 / 1e6 / secs;
    let mut s = String::new();
    let _ = writeln!(s, "## 6. Audit import throughput\n");
    let _ = writeln!(
        s,
        "A generated auditd log of {:.0} MiB ({} lines of which 90% SECCOMP LOG records over 330 syscall numbers and 50 pids, 10% SYSCALL records to skip; written in {gen_s:.1} s, then read back from the page cache) through `seccomp_recorder::audit::import` with `Options::default()`: {secs:.2} s, **{mb_s:.0} MB/s**, {n} distinct syscalls found. The file is deleted afterwards.\n",
        size as f64 / (1 << 20) as f64,
        imported.stats.lines
    );
    Ok(Audit { mb_s, section: s })
}
