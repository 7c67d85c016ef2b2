use anyhow::{Context, Result};
use seccomp_recorder::cgroup;
use seccomp_recorder::refusals::{
    Attributor, Counts, KernelPath, Refusal, RefusalError, Source, Watcher, within,
};
use seccomp_recorder::target::Target;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Print the seccomp refusals of this host as they happen, one line each.
///
/// The kernel reports a refused call only for a filter loaded with
/// SECCOMP_FILTER_FLAG_LOG (a profile with "flags": ["SECCOMP_FILTER_FLAG_LOG"], which
/// --log-refusals writes; runc >= 1.2 and crun pass it on), and every call an SCMP_ACT_LOG
/// rule lets through. Records are read from the audit netlink multicast group, whether
/// auditd runs or not, or from /dev/kmsg where the group cannot be joined (then only
/// while no auditd runs, and rate-limited by kernel.printk_ratelimit).
///
/// Without --source, the kernel path is tried first: an fexit program on
/// __secure_computing counts every refused call per cgroup and syscall, with no flag in
/// the profile (Linux 5.15+ where the kernel allows fexit programs). The log says which
/// path is used and why.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  seccomp-recorder watch-refusals
  seccomp-recorder watch-refusals --container web --duration 10m
  seccomp-recorder watch-refusals --cgroup /system.slice/ci-runner.service --refused-only

Each line: the action (errno, trap, kill-process, kill-thread, log, ...), then pid, comm,
exe, arch, syscall, the process's cgroup and, when an engine's state knows it, its
container. On exit (SIGINT, SIGTERM, --duration) a summary on stderr counts the
refusals per cgroup and syscall, the records skipped, and the records the kernel lost.
Needs root.")]
pub struct Args {
    /// Only processes in this cgroup or below it (as /proc/PID/cgroup prints it, or the
    /// directory). Repeatable.
    #[arg(long, value_name = "PATH")]
    cgroup: Vec<PathBuf>,

    /// Only processes of this container (ID prefix, name or containerd NAMESPACE/ID).
    /// Repeatable.
    #[arg(long, value_name = "CONTAINER")]
    container: Vec<String>,

    /// Read audit records from this source instead of probing (the kernel path is then not
    /// tried): netlink (the audit multicast group) or kmsg (/dev/kmsg).
    #[arg(long, value_name = "SOURCE")]
    source: Option<Source>,

    /// Stop after this long (default: until SIGINT or SIGTERM).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Leave out the calls SCMP_ACT_LOG let through.
    #[arg(long)]
    refused_only: bool,
}

/// How many distinct (cgroup, syscall, ...) keys the summary counts; past it, one line.
const KEYS: usize = 4096;

/// What the summary counts a record under.
type Key = (String, &'static str, String, String, String);

pub fn run(args: Args) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGTERM, libc::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot watch for signals")?;
    }
    let mut attributor = Attributor::new(cgroup::mount_point()?);
    let wanted = wanted(&args, &attributor)?;
    let mut kernel_why = None;
    if args.source.is_none() {
        match KernelPath::open() {
            Ok(path) => {
                log::info!(
                    "watching seccomp refusals through the kernel path (fexit on \
                     __secure_computing), because this kernel accepted the program: every \
                     refused call, whatever the filter's flags (calls SCMP_ACT_LOG lets \
                     through are not refusals and are not seen)"
                );
                return super::refusals_kernel::watch(
                    path,
                    &mut attributor,
                    &wanted,
                    &stop,
                    args.duration,
                );
            }
            Err(why) => {
                log::info!(
                    "the kernel path (fexit on __secure_computing) is not available here: \
                     {why}; using the audit path"
                );
                kernel_why = Some(why);
            }
        }
    }
    let mut watcher = Watcher::open(args.source).map_err(|e| match kernel_why {
        Some(kernel) => RefusalError::Nowhere {
            kernel,
            audit: Box::new(e),
        },
        None => e,
    })?;
    log::info!(
        "watching seccomp refusals through {}: {}",
        watcher.source(),
        watcher.why()
    );
    let started = Instant::now();
    let mut tally = Tally::new();
    let mut out = std::io::stdout().lock();
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        let Some(r) = watcher.next(Duration::from_millis(200))? else {
            continue;
        };
        if args.refused_only && !r.refused() {
            continue;
        }
        let Some(line) = tally.take(&r, &mut attributor, &wanted) else {
            continue;
        };
        // A reader that went away (`| head`) ends the watch, not with a panic.
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    tally.summary(&watcher);
    Ok(ExitCode::SUCCESS)
}

/// The cgroups of --cgroup and --container, resolved once at start.
fn wanted(args: &Args, attributor: &Attributor) -> Result<Vec<PathBuf>> {
    let targets = args
        .cgroup
        .iter()
        .map(|c| Target::Cgroup(c.clone()))
        .chain(args.container.iter().map(|c| Target::Container(c.clone())));
    targets
        .map(|t| attributor.resolve(&t).map_err(anyhow::Error::msg))
        .collect()
}

/// The counts behind the summary.
struct Tally {
    counts: Counts<Key>,
    elsewhere: u64,
    gone: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            counts: Counts::new(KEYS),
            elsewhere: 0,
            gone: 0,
        }
    }

    /// The line to print for `r`, or `None` when it is not one of the wanted cgroups'.
    fn take(
        &mut self,
        r: &Refusal,
        attributor: &mut Attributor,
        wanted: &[PathBuf],
    ) -> Option<String> {
        let dir = attributor.cgroup(r.pid);
        match &dir {
            None if !wanted.is_empty() => {
                self.gone += 1;
                return None;
            }
            Some(d) if !wanted.is_empty() && !within(d, wanted) => {
                self.elsewhere += 1;
                return None;
            }
            _ => {}
        }
        let where_ = match &dir {
            Some(d) => attributor.place(d),
            None => "cgroup=? (process gone)".to_string(),
        };
        let comm = r.comm.clone().unwrap_or_default();
        let key = (
            where_.clone(),
            r.action_label(),
            r.syscall_label(),
            r.arch_label(),
            comm.clone(),
        );
        self.counts.add(&key);
        Some(format!(
            "{} pid={} comm={comm:?} exe={:?} arch={} syscall={} {where_}",
            r.action_label(),
            r.pid,
            r.exe.as_deref().unwrap_or(""),
            r.arch_label(),
            r.syscall_label(),
        ))
    }

    fn summary(&self, watcher: &Watcher) {
        let stats = watcher.stats();
        eprintln!(
            "watch-refusals: {} SECCOMP records from {}",
            stats.records,
            watcher.source()
        );
        for ((where_, action, syscall, arch, comm), n) in self.counts.sorted() {
            eprintln!("  {n:>8}  {action} {syscall} ({arch}) comm={comm:?} {where_}");
        }
        if self.counts.overflow() > 0 {
            eprintln!(
                "  {:>8}  under keys past the first {KEYS}",
                self.counts.overflow()
            );
        }
        eprintln!(
            "skipped: {} audit records of other types, {} other kernel messages, {} malformed; \
             {} from processes outside --cgroup/--container, {} from processes gone before \
             their cgroup was read",
            stats.other_types, stats.foreign, stats.malformed, self.elsewhere, self.gone
        );
        for reason in &stats.malformed_reasons {
            eprintln!("  malformed: {reason}");
        }
        eprintln!("losses: {}", watcher.losses());
    }
}

/// `--log-refusals`, shared by the commands that write profiles.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct LogFlag {
    /// Add "flags": ["SECCOMP_FILTER_FLAG_LOG"]: the kernel then writes an audit record for
    /// every call the profile refuses, which watch-refusals and the agent read. runc 1.2 or
    /// later and crun honour it; runc 1.1 refuses the profile.
    #[arg(long)]
    pub log_refusals: bool,
}

impl LogFlag {
    /// Adds the flag when asked and says what the runtimes here will make of it.
    pub fn apply(self, profile: &mut seccomp_recorder::profile::Profile) {
        if !self.log_refusals {
            return;
        }
        profile.log_refusals();
        for note in seccomp_recorder::profile::flags::notes_here(profile) {
            if matches!(
                note,
                seccomp_recorder::profile::flags::FlagNote::Honoured(_)
            ) {
                log::debug!("{note}");
            } else {
                log::warn!("{note}");
            }
        }
    }
}
