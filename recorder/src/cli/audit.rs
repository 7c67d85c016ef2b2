use anyhow::{Context, Result, bail};
use seccomp_recorder::arch::Arch;
use seccomp_recorder::audit::{self, Action, Format, Importer, Options, Stats};
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::{
    DefaultAction, MergeOptions, OnConflict, Profile, add_kernel_made, merge,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Build a seccomp profile from the audit records of a workload run under SCMP_ACT_LOG.
///
/// When a profile's action is SCMP_ACT_LOG, the kernel writes one SECCOMP audit record
/// (type 1326) per logged syscall: to auditd's audit.log when auditd runs, else to the
/// kernel log (dmesg, /dev/kmsg, syslog, `journalctl -k`). This command reads those
/// records and writes the profile that allows exactly the logged syscalls, per
/// architecture: the `arch=` of each record picks the syscall table, so an i386 process's
/// calls land under SCMP_ARCH_X86.
///
/// Every line's format is detected on its own (auditd, kernel log, `journalctl -o json`);
/// .gz files are decompressed. Lines that are not SECCOMP records are skipped; a summary
/// on stderr says how many lines were read, matched and skipped, and why.
///
/// Records of runc's init (comm "runc:[2:INIT]": the last setup steps and the execve of
/// the container's process, made under the container's filter) are kept, also when
/// --comm/--exe select the container's process by its own name: without them the
/// container cannot start.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  seccomp-recorder import-audit /var/log/audit/audit.log -o profile.json --comm nginx
  seccomp-recorder import-audit /var/log/audit/audit.log.1 /var/log/audit/audit.log.2.gz -o p.json
  dmesg | seccomp-recorder import-audit - --exe /usr/sbin/nginx --since 2026-11-22T10:00
  journalctl -k -o json | seccomp-recorder import-audit --format journald - --pid 4242
  journalctl _TRANSPORT=audit _AUDIT_TYPE=1326 -o json | seccomp-recorder import-audit -
  seccomp-recorder import-audit audit.log --base log.json -o profile.json

The kernel prints at most 10 audit records per 5 s to its log when no auditd runs
(sysctl kernel.printk_ratelimit=0 lifts that), and its ring buffer keeps only the latest
records: while the workload runs, keep a copy (`cat /dev/kmsg > kmsg.txt`) or run auditd.
A syscall is logged only if 'log' is in /proc/sys/kernel/seccomp/actions_logged.
One run shows what that run did: calls made only sometimes (runc init's Go runtime may
or may not call futex) are missed. Import the logs of several runs together, or list such
calls as allowed in the LOG profile and pass it with --base.

Exit status: 0 when a profile was written, 2 on an error (nothing matched, unreadable
input, a malformed line with --strict); the output file is then left as it was.")]
pub struct Args {
    /// Logs to read: auditd's audit.log (also rotated and .gz), a kernel log (dmesg,
    /// /dev/kmsg copy, syslog), or `journalctl -o json` output; '-' reads stdin.
    #[arg(value_name = "FILE", required = true)]
    inputs: Vec<PathBuf>,

    /// Where to write the profile ('-' for stdout).
    #[arg(short, long, value_name = "PATH", default_value = "seccomp.json")]
    output: PathBuf,

    // Boxed: clap's subcommand enum would otherwise be dominated by this variant's size.
    #[command(flatten)]
    settings: Box<Settings>,
}

/// `--action`: one seccomp action, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Logged {
    All,
    One(Action),
}

impl Logged {
    fn parse(s: &str) -> Result<Logged, String> {
        match s {
            "all" => Ok(Logged::All),
            _ => s.parse().map(Logged::One),
        }
    }
}

#[derive(clap::Args)]
struct Settings {
    /// Read every line as this format instead of detecting it.
    #[arg(long, value_name = "FORMAT", default_value = "auto",
          value_parser = ["auto", "auditd", "kernel", "journald"])]
    format: String,

    /// Only records of this process ID (host PID, as the kernel logs it). Repeatable.
    #[arg(long, value_name = "PID")]
    pid: Vec<u32>,

    /// Only records whose command name (comm, at most 15 characters) is exactly this.
    /// Repeatable.
    #[arg(long, value_name = "NAME")]
    comm: Vec<String>,

    /// Only records whose executable path is exactly this. Inside a container the kernel
    /// logs the path as the container sees it (e.g. /usr/sbin/nginx). Repeatable.
    #[arg(long, value_name = "PATH")]
    exe: Vec<String>,

    /// Only records of this user ID (as seen from the host). Repeatable.
    #[arg(long, value_name = "UID")]
    uid: Vec<u32>,

    /// Only records from this time on, in UTC: 2026-11-22, 2026-11-22T10:00,
    /// 2026-11-22T10:00:30 or @SECONDS-SINCE-EPOCH.
    #[arg(long, value_name = "TIME", value_parser = audit::parse_time)]
    since: Option<u64>,

    /// Only records up to this time (inclusive, UTC, same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = audit::parse_time)]
    until: Option<u64>,

    /// Which seccomp actions' records to import: log (the default), errno, trap, trace,
    /// user-notif, kill-thread, kill-process, or all. Comma-separated or repeated.
    /// ERRNO and TRAP records exist only for filters loaded with SECCOMP_FILTER_FLAG_LOG.
    #[arg(
        long,
        value_name = "ACTION",
        value_delimiter = ',',
        default_value = "log",
        value_parser = Logged::parse
    )]
    action: Vec<Logged>,

    /// Leave out the records of runc's init (runc:[2:INIT]). The profile then lacks the
    /// execve that starts the container's process.
    #[arg(long)]
    no_runtime_init: bool,

    /// Fail on the first malformed line (naming file and line) instead of counting it.
    #[arg(long)]
    strict: bool,

    /// Also allow everything this profile allows unconditionally (for example the
    /// SCMP_ACT_LOG profile the workload ran under, so the result is its allow list plus
    /// the logged calls).
    #[arg(long, value_name = "PROFILE")]
    base: Option<PathBuf>,

    #[command(flatten)]
    default: super::action::ActionFlags,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let settings = &args.settings;
    let default = settings.default.or_recorded_default()?;
    check_output(&args.output)?;
    super::output::check_writable(&args.output)?;
    let options = options(settings)?;
    let base = settings.base.as_deref().map(Profile::load).transpose()?;
    let mut importer = Importer::new(&options);
    for path in &args.inputs {
        let name = path.display().to_string();
        let reader = audit::open(path)?;
        importer.read(reader, &name)?;
    }
    let imported = importer.finish();
    summary(&imported.stats);
    let logged = imported.syscalls;
    let before = base.as_ref().map(Profile::allowed).unwrap_or_default();
    if logged.is_empty() && base.is_none() {
        bail!(
            "no SECCOMP record matched, so there is no profile to write: check the filters \
             and that the log covers the run (summary above)"
        );
    }
    let mut names = logged.clone();
    add_kernel_made(&mut names);
    let profile = with_base(Profile::allow(&names, default), base, default)?;
    write_atomic(&args.output, profile.to_json().as_bytes())
        .with_context(|| format!("cannot write the profile to {}", args.output.display()))?;
    result(&logged, &before, &profile.allowed(), &args.output);
    Ok(ExitCode::SUCCESS)
}

/// write_atomic renames a temporary file over the path: over /dev/null or /dev/stdout that
/// would replace the device node or the link itself, so refuse anything but a regular file.
fn check_output(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => bail!(
            "{} is not a regular file (a device, pipe, link or directory): \
             give a file path, or '-o -' for stdout",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// The base's rules all survive, argument filters included (clone, socket, personality):
/// a call allowed only for some arguments was never logged for those, so only the base
/// knows the container needs it. A logged call wins over a base rule that refuses it.
fn with_base(imported: Profile, base: Option<Profile>, default: DefaultAction) -> Result<Profile> {
    let Some(base) = base else {
        return Ok(imported);
    };
    let opts = MergeOptions {
        default_action: Some(default),
        on_conflict: OnConflict::Allow,
    };
    merge(&[base, imported], &opts).context("cannot add the logged calls to --base")
}

fn options(args: &Settings) -> Result<Options> {
    let format = match args.format.as_str() {
        "auditd" => Some(Format::Auditd),
        "kernel" => Some(Format::Kernel),
        "journald" => Some(Format::Journald),
        _ => None,
    };
    let actions: BTreeSet<Action> = args
        .action
        .iter()
        .flat_map(|a| match a {
            Logged::All => Action::ALL.to_vec(),
            Logged::One(a) => vec![*a],
        })
        .collect();
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since > until
    {
        bail!("--since is after --until: no record can match");
    }
    Ok(Options {
        format,
        pids: args.pid.clone(),
        comms: args.comm.iter().map(|c| kernel_comm(c)).collect(),
        exes: args.exe.clone(),
        uids: args.uid.clone(),
        since_ms: args.since,
        until_ms: args.until,
        actions,
        runtime_init: !args.no_runtime_init,
        strict: args.strict,
    })
}

/// The kernel keeps only the first 15 bytes of a command name.
fn kernel_comm(name: &str) -> String {
    const TASK_COMM_LEN: usize = 15;
    if name.len() <= TASK_COMM_LEN {
        return name.to_string();
    }
    let end = (0..=TASK_COMM_LEN)
        .rev()
        .find(|&i| name.is_char_boundary(i))
        .unwrap_or(0);
    log::warn!(
        "--comm {name}: the kernel logs only '{}', matching that",
        &name[..end]
    );
    name[..end].to_string()
}

/// What was read and why lines were left out, on stderr.
fn summary(stats: &Stats) {
    let formats: Vec<String> = stats
        .formats
        .iter()
        .map(|(f, n)| format!("{n} {}", f.name()))
        .collect();
    log::info!(
        "read {} lines ({}): {} SECCOMP records{}; {} matched, {} lines skipped",
        stats.lines,
        size(stats.bytes),
        stats.formats.values().sum::<u64>(),
        if formats.is_empty() {
            String::new()
        } else {
            format!(" ({})", formats.join(", "))
        },
        stats.matched,
        stats.skipped_total()
    );
    for (why, count) in &stats.skipped {
        log::info!("  skipped {count}: {why}");
    }
    for m in &stats.malformed {
        log::warn!("malformed line {}:{}: {}", m.source_name, m.line, m.reason);
    }
    let malformed = stats
        .skipped
        .get(&audit::Skip::Malformed)
        .copied()
        .unwrap_or(0);
    if malformed > stats.malformed.len() as u64 {
        log::warn!(
            "... and {} more malformed lines (--strict stops at the first)",
            malformed - stats.malformed.len() as u64
        );
    }
    for (arch, count) in &stats.unsupported_arches {
        let name = audit::audit_arch_name(*arch).unwrap_or("an architecture not in linux/audit.h");
        log::warn!(
            "{count} records of arch={arch:x} ({name}): no syscall table for it here, not in the profile"
        );
    }
    for ((arch, nr), count) in &stats.unknown {
        log::warn!(
            "syscall {nr} of arch {arch:x} is in no syscall table we know ({count} records): not in the profile"
        );
    }
    for (pid, comm) in &stats.execs_under_other_comm {
        log::warn!(
            "process {pid}'s execve was logged under its comm before the exec ('{comm}'), \
             which --comm/--exe did not select: it is not in the profile (add --comm '{comm}', \
             or allow execve in --base)"
        );
    }
    if stats.runtime_init > 0 {
        log::info!(
            "kept {} records of runc's init (runc:[2:INIT]): the container cannot start \
             without them (--no-runtime-init leaves them out)",
            stats.runtime_init
        );
    }
}

fn result(
    logged: &BTreeMap<Arch, BTreeSet<String>>,
    before: &BTreeMap<Arch, BTreeSet<String>>,
    written: &BTreeMap<Arch, BTreeSet<String>>,
    path: &Path,
) {
    let per_arch: Vec<String> = logged
        .iter()
        .map(|(a, s)| format!("{}: {}", super::report::short(*a), s.len()))
        .collect();
    let target = if path == Path::new("-") {
        "stdout".to_string()
    } else {
        path.display().to_string()
    };
    log::info!(
        "{} logged syscalls ({}) -> {target}, which allows {} unconditionally",
        logged.values().flatten().collect::<BTreeSet<_>>().len(),
        if per_arch.is_empty() {
            "none".to_string()
        } else {
            per_arch.join(", ")
        },
        written.values().flatten().collect::<BTreeSet<_>>().len()
    );
    if !before.is_empty() {
        let new = super::report::not_in(logged, before);
        log::info!(
            "{} of them not allowed by --base{}{}",
            new.len(),
            if new.is_empty() { "" } else { ": " },
            new.join(", ")
        );
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parsed(words: &[&str]) -> Result<Args, clap::Error> {
        let argv = ["seccomp-recorder", "import-audit", "audit.log"]
            .iter()
            .chain(words);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::ImportAudit(a) => a,
            _ => unreachable!("parsed as import-audit"),
        })
    }

    fn options_of(words: &[&str]) -> Result<Options> {
        options(&parsed(words).unwrap().settings)
    }

    #[test]
    fn actions_are_checked_by_clap_and_all_means_every_one() {
        let actions = |words: &[&str]| options_of(words).unwrap().actions;
        assert_eq!(actions(&[]), [Action::Log].into());
        assert_eq!(
            actions(&["--action", "errno,log"]),
            ["errno".parse().unwrap(), Action::Log].into()
        );
        assert_eq!(actions(&["--action", "all"]), Action::ALL.into());
        let e = parsed(&["--action", "logg"]).err().unwrap().to_string();
        assert!(e.contains("unknown action 'logg'"), "{e}");
        let e = parsed(&["--format", "xml"]).err().unwrap().to_string();
        assert!(e.contains("xml"), "{e}");
    }

    #[test]
    fn a_time_window_that_holds_nothing_is_refused() {
        let e = options_of(&["--since", "2026-11-22T10:00", "--until", "2026-11-22"])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("--since is after --until"), "{e}");
        assert!(options_of(&["--since", "2026-11-22", "--until", "2026-11-22T10:00"]).is_ok());
    }

    #[test]
    fn a_command_name_is_cut_where_the_kernel_cuts_it() {
        assert_eq!(kernel_comm("nginx"), "nginx");
        assert_eq!(kernel_comm("a-very-long-process-name"), "a-very-long-pro");
        // Never inside a UTF-8 character.
        assert_eq!(kernel_comm("ééééééééé"), "ééééééé");
    }
}
