use anyhow::{Context, Result, bail};
use seccomp_recorder::arch::Arch;
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::{DefaultAction, MergeOptions, OnConflict, Profile, merge};
use seccomp_recorder::record::{self, FollowFilter, Options, Stop, TargetReport};
use seccomp_recorder::target::{Engine, Target};
use seccomp_recorder::trace::AttachKind;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Record the syscalls of a command, cgroup, PID or container into a seccomp profile.
///
/// The profile allows exactly what was recorded, for the architectures (ABIs) that were
/// seen, and refuses everything else with --default-action. Record unconfined (or under
/// an SCMP_ACT_LOG profile): a call that an active seccomp filter refuses never reaches
/// the recorder.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  seccomp-recorder record -o profile.json -- make e2e-test
  seccomp-recorder record --append profile.json -- ./run-tests.sh   (grow one profile over runs)
  seccomp-recorder record -o web.json --container 3f2a9c --duration 60s
  seccomp-recorder record -o app.json --pid 4242            (the cgroup PID 4242 lives in)
  seccomp-recorder record -o profiles/ --container web --container db -- ./e2e.sh
  seccomp-recorder record -o web.json --container k8s.io/3f2a9c     (containerd NAMESPACE/ID)
  seccomp-recorder record --follow-containers -o profiles/ -- make e2e

With a command, the recorder exits with the command's exit status, and still writes the
profile when the command fails. Existing targets are recorded until Ctrl-C/SIGTERM,
--duration, or until their cgroup has no processes left.")]
pub struct Args {
    /// Where to write the profile ('-' for stdout). With several targets: a directory,
    /// with one <target>.json each.
    #[arg(short, long, value_name = "PATH", default_value = "seccomp.json")]
    output: PathBuf,

    /// Record an existing cgroup v2 (absolute, or relative to the cgroup2 mount).
    #[arg(long, value_name = "PATH")]
    cgroup: Vec<PathBuf>,

    /// Record the cgroup that this process lives in.
    #[arg(long, value_name = "PID")]
    pid: Vec<u32>,

    /// Record a container: name, full ID or unique prefix, or containerd's NAMESPACE/ID
    /// (Docker, Podman, containerd, CRI-O, runc, crun). A container that is created but
    /// not started yet is recorded from the moment it starts, runtime init included.
    #[arg(long, value_name = "ID")]
    container: Vec<String>,

    /// Also record every container any engine starts while recording (from the moment
    /// its cgroup is made), one profile each in the --output directory, named after the
    /// container (name, else image, else ID).
    #[arg(long)]
    follow_containers: bool,

    /// With --follow-containers: only this engine's containers (docker, podman,
    /// containerd, cri-o; repeatable).
    #[arg(long, value_name = "ENGINE", requires = "follow_containers")]
    follow_engine: Vec<Engine>,

    /// With --follow-containers: only containers whose name, image or ID matches
    /// (`*` wildcards; repeatable).
    #[arg(long, value_name = "PATTERN", requires = "follow_containers")]
    follow_name: Vec<String>,

    /// An engine state directory besides the defaults (/var/lib/docker,
    /// /var/lib/containers/storage, /run/containerd): a dockerd --data-root, a podman
    /// --root, a containerd state directory, a `runc --root` state directory. Used to find
    /// containers by name and to tell followed containers apart.
    #[arg(long, value_name = "DIR")]
    engine_root: Vec<PathBuf>,

    /// Stop recording existing targets after this long (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Union with this existing profile and write the result back to it, so that several
    /// runs build one profile (overrides --output).
    #[arg(long, alias = "merge-into", value_name = "FILE")]
    append: Option<PathBuf>,

    /// What a syscall outside the profile gets.
    #[arg(long, value_name = "ACTION", default_value = "errno",
          value_parser = ["errno", "kill-process", "kill-thread", "trap", "log"])]
    default_action: String,

    /// The errno for --default-action errno (number or name). ENOSYS lets libc fall back
    /// from a newer call to an older one (clone3 -> clone); EPERM says "denied".
    #[arg(long, value_name = "ERRNO", default_value = "ENOSYS")]
    errno: String,

    /// Attach point: btf, raw or tracepoint (default: the cheapest the kernel accepts).
    #[arg(long, value_name = "TYPE")]
    attach: Option<AttachKind>,

    /// After the command exits, wait this long for processes it left in the background.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    linger: Duration,

    /// Push the profile to this OCI reference once it is written (REGISTRY/REPO:TAG), as
    /// the artifact CRI-O and the Security Profiles Operator pull. A failed push keeps the
    /// file and says how to retry.
    #[arg(long, value_name = "REF")]
    push: Option<String>,

    #[command(flatten)]
    registry: super::oci::RegistryArgs,

    /// The command to run and record, with all its threads and descendants.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let default =
        DefaultAction::from_flags(&args.default_action, &args.errno).map_err(anyhow::Error::msg)?;
    let mut targets: Vec<Target> = args.cgroup.iter().cloned().map(Target::Cgroup).collect();
    targets.extend(args.pid.iter().copied().map(Target::Pid));
    targets.extend(args.container.iter().cloned().map(Target::Container));
    let count = targets.len() + usize::from(!args.command.is_empty());
    if args.duration.is_some() && !args.command.is_empty() {
        bail!("--duration applies to existing targets; a command is recorded until it exits");
    }
    if args.append.is_some() && count > 1 {
        bail!("--append takes one target; with several, record into a directory and merge");
    }
    if args.registry.password_stdin && !args.command.is_empty() {
        bail!(
            "--password-stdin cannot be used with a command: the command owns stdin; \
             set REGISTRY_PASSWORD or use --authfile"
        );
    }
    if args.push.is_some() && (count > 1 || args.output == Path::new("-")) {
        bail!("--push takes one target written to a file (not stdout)");
    }
    if args.follow_containers && (args.append.is_some() || args.push.is_some()) {
        bail!(
            "--follow-containers writes one profile per container into a directory; it does not combine with --append or --push"
        );
    }
    if args.follow_containers && args.output == Path::new("-") {
        bail!("--follow-containers needs --output DIR (one profile per container)");
    }
    for root in &args.engine_root {
        if !root.is_dir() {
            bail!(
                "--engine-root {}: no such directory (give a dockerd --data-root, a podman --root \
                 a containerd state directory or a runc --root)",
                root.display()
            );
        }
    }
    let base = args.append.as_deref().map(load_base).transpose()?;
    check_output_dir(
        args.append.as_deref().unwrap_or(&args.output),
        count > 1 || args.follow_containers,
    )?;
    let opts = Options {
        targets,
        command: args.command,
        duration: args.duration,
        attach: args.attach,
        linger: args.linger,
        follow: args.follow_containers.then(|| FollowFilter {
            engines: args.follow_engine.clone(),
            names: args.follow_name.clone(),
        }),
        engine_roots: args.engine_root.clone(),
    };
    let mut seen = BTreeSet::new();
    let report = record::record(&opts, &mut |t, now| progress(t, now, &mut seen))?;

    let multi = report.targets.len() > 1 || args.follow_containers;
    let out_dir = multi.then(|| args.output.clone());
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for t in &report.targets {
        let path = match (&args.append, &out_dir) {
            (Some(file), _) => file.clone(),
            (None, Some(dir)) => dir.join(format!("{}.json", t.label)),
            (None, None) => args.output.clone(),
        };
        write_profile(t, &path, default, base.as_ref())?;
    }
    if let (Some(reference), Some(t)) = (&args.push, report.targets.first()) {
        let path = args.append.as_ref().unwrap_or(&args.output);
        let digest = super::oci::push_file(path, reference, &args.registry)
            .with_context(|| format!("{}: the profile is in {}", t.label, path.display()))?;
        println!("{digest}");
    }
    log::info!(
        "recorded for {:.1}s via {}",
        report.elapsed.as_secs_f64(),
        report.attach
    );
    if report.leftovers > 0 {
        log::warn!(
            "{} process(es) the command left running were moved out of the recording cgroup (not recorded after the command exited)",
            report.leftovers
        );
    }
    Ok(match report.stop {
        Stop::CommandExited(0) => ExitCode::SUCCESS,
        Stop::CommandExited(code) => {
            log::warn!(
                "the command exited with status {code}; the profile covers what it did until then"
            );
            ExitCode::from(code.clamp(1, 255) as u8)
        }
        Stop::TargetsEmpty => {
            for t in report.targets.iter().filter(|t| !t.cgroup.exists()) {
                log::info!("{}: its cgroup {} is gone", t.label, t.cgroup.display());
            }
            log::info!("stopped: no process is left in the recorded cgroups");
            ExitCode::SUCCESS
        }
        Stop::Signal(_) | Stop::Duration => ExitCode::SUCCESS,
    })
}

/// Fails before anything runs when the profile could not be written afterwards: a
/// recording of a long test suite must not be lost to a typo in `-o`.
fn check_output_dir(output: &Path, is_dir: bool) -> Result<()> {
    if output == Path::new("-") || is_dir {
        return Ok(());
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!(
            "cannot write the profile to {}: directory {} does not exist",
            output.display(),
            parent.display()
        );
    }
    Ok(())
}

fn load_base(path: &Path) -> Result<Option<Profile>> {
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(Profile::load(path)?))
}

fn write_profile(
    t: &TargetReport,
    path: &Path,
    default: DefaultAction,
    base: Option<&Option<Profile>>,
) -> Result<()> {
    for (arch, nrs) in &t.syscalls.unknown {
        let list: Vec<String> = nrs.iter().map(|n| n.to_string()).collect();
        log::warn!(
            "{}: made syscall number(s) {} that no {arch} table names; they are not in the profile",
            t.label,
            list.join(", ")
        );
    }
    let recorded = Profile::allow(&t.syscalls.names, default);
    let (profile, before) = match base {
        Some(Some(old)) => {
            // The existing profile's conditional rules survive; the new default wins.
            let opts = MergeOptions {
                default_action: Some(default),
                on_conflict: OnConflict::Refuse,
            };
            let merged = merge(&[old.clone(), recorded], &opts)
                .with_context(|| format!("cannot merge the recording into {}", path.display()))?;
            (merged, old.allowed())
        }
        _ => (recorded, BTreeMap::new()),
    };
    write_atomic(path, profile.to_json().as_bytes())
        .with_context(|| format!("cannot write the profile to {}", path.display()))?;
    summary(t, &profile.allowed(), &before, path);
    Ok(())
}

fn summary(
    t: &TargetReport,
    names: &BTreeMap<Arch, BTreeSet<String>>,
    before: &BTreeMap<Arch, BTreeSet<String>>,
    path: &Path,
) {
    let per_arch: Vec<String> = t
        .syscalls
        .names
        .iter()
        .map(|(a, s)| format!("{}: {}", super::report::short(*a), s.len()))
        .collect();
    let total: BTreeSet<&String> = t.syscalls.names.values().flatten().collect();
    if let Some(c) = &t.container {
        log::info!(
            "{}: {} container, name {}, image {}, ID {}",
            t.label,
            c.engine,
            c.name.as_deref().unwrap_or("-"),
            c.image.as_deref().unwrap_or("-"),
            c.id
        );
    }
    log::info!(
        "{}: {} syscalls ({}) -> {}",
        t.label,
        total.len(),
        if per_arch.is_empty() {
            "none".into()
        } else {
            per_arch.join(", ")
        },
        if path == Path::new("-") {
            "stdout".into()
        } else {
            path.display().to_string()
        }
    );
    if !before.is_empty() {
        let new = super::report::not_in(names, before);
        log::info!(
            "{}: {} new since the existing profile{}{}",
            t.label,
            new.len(),
            if new.is_empty() { "" } else { ": " },
            new.join(", ")
        );
    }
}

/// One line per second at most, naming the syscalls seen since the last line.
fn progress(t: Duration, now: &[TargetReport], seen: &mut BTreeSet<(String, Arch, String)>) {
    let current: BTreeSet<(String, Arch, String)> = now
        .iter()
        .flat_map(|r| {
            r.syscalls.names.iter().flat_map(move |(a, names)| {
                names.iter().map(move |n| (r.label.clone(), *a, n.clone()))
            })
        })
        .collect();
    let new: Vec<String> = current
        .difference(seen)
        .map(|(label, a, n)| {
            let arch = if Some(*a) == Arch::host() {
                String::new()
            } else {
                format!(" ({})", super::report::short(*a))
            };
            match now.len() {
                1 => format!("{n}{arch}"),
                _ => format!("{label}: {n}{arch}"),
            }
        })
        .collect();
    if !new.is_empty() {
        log::info!(
            "[{:5.1}s] {} syscalls, new: {}",
            t.as_secs_f64(),
            current.len(),
            new.join(", ")
        );
    }
    *seen = current;
}
