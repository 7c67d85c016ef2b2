use anyhow::{Context, Result};
use plan::{Output, Plan};
use seccomp_recorder::arch::Arch;
use seccomp_recorder::engine::Engine;
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::{MergeOptions, OnConflict, Profile, merge};
use seccomp_recorder::record::{self, Event, Note, Report, Stop, TargetReport};
use seccomp_recorder::spawn::Exit;
use seccomp_recorder::trace::AttachKind;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod plan;

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
    /// Where to write the profile (default: seccomp.json). '-' is stdout; the command's
    /// own stdout then goes to stderr, so that stdout holds nothing but the profile. With
    /// several targets: a directory, with one <target>.json each.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// Record an existing cgroup v2: a path under the cgroup2 mount, or relative to it
    /// (`/system.slice/app.service`, as /proc/PID/cgroup prints it). Not the root.
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
    /// containerd, crio; repeatable).
    #[arg(long, value_name = "ENGINE", requires = "follow_containers")]
    follow_engine: Vec<Engine>,

    /// With --follow-containers: only containers whose name, image or ID matches
    /// (`*` wildcards; repeatable).
    #[arg(long, value_name = "PATTERN", requires = "follow_containers")]
    follow_name: Vec<String>,

    /// An engine state directory besides the running engines' (found from dockerd's,
    /// containerd's, conmon's and podman's command lines) and the defaults
    /// (/var/lib/docker, /var/lib/containers/storage, /run/containerd): a dockerd
    /// --data-root, a podman --root, a containerd state directory, a `runc --root` state
    /// directory. Used to find containers by name and to tell followed containers apart.
    #[arg(long, value_name = "DIR")]
    engine_root: Vec<PathBuf>,

    /// Stop recording existing targets after this long (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Union with this existing profile and write the result back to it, so that several
    /// runs build one profile. Its default action is kept unless --default-action or
    /// --errno is given.
    #[arg(long, alias = "merge-into", value_name = "FILE")]
    append: Option<PathBuf>,

    #[command(flatten)]
    action: super::action::ActionFlags,

    /// Attach point: btf, raw or tracepoint (default: the cheapest the kernel accepts).
    #[arg(long, value_name = "TYPE")]
    attach: Option<AttachKind>,

    /// After the command exits, wait this long for processes it left in the background.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    linger: Duration,

    /// Push the profile to this OCI reference once it is written (REGISTRY/REPO:TAG), as
    /// the artifact CRI-O and the Security Profiles Operator pull. The reference and the
    /// credentials are checked before the command runs; a failed push keeps the file and
    /// says how to retry.
    #[arg(long, value_name = "REF")]
    push: Option<String>,

    #[command(flatten)]
    registry: super::oci::RegistryArgs,

    #[command(flatten)]
    kep6061: super::oci::Kep6061Args,

    #[command(flatten)]
    log: super::refusals::LogFlag,

    /// The command to run and record, with all its threads and descendants.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    let mut seen = BTreeSet::new();
    let report = record::record(&plan.options, &mut |event| match event {
        Event::Progress(t, now) => progress(t, now, &mut seen),
        Event::Note(Note::Info(text)) => log::info!("{text}"),
        Event::Note(Note::Warning(text)) => log::warn!("{text}"),
    })?;
    let fell_back = save_all(&plan, &report)?;
    if let (Some(push), Output::File(path) | Output::Append { path, .. }) =
        (&plan.push, &plan.output)
    {
        if fell_back {
            log::error!(
                "not pushed to {}: the profile is not in {}",
                push.reference(),
                path.display()
            );
        } else {
            let digest = push
                .push_file(path)
                .with_context(|| format!("the profile is in {}", path.display()))?;
            println!("{digest}");
        }
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
    Ok(exit_code(&report, fell_back))
}

fn exit_code(report: &Report, fell_back: bool) -> ExitCode {
    match report.stop {
        Stop::CommandExited(Exit::Code(0)) => ExitCode::SUCCESS,
        Stop::CommandExited(exit) => {
            log::warn!("the command {exit}; the profile covers what it did until then");
            ExitCode::from(exit.shell_status().clamp(1, 255) as u8)
        }
        // Without a command, the only status is ours: the profile is not where asked.
        _ if fell_back => ExitCode::from(2),
        Stop::TargetsEmpty => {
            for t in report.targets.iter().filter(|t| !t.cgroup.exists()) {
                log::info!("{}: its cgroup {} is gone", t.label, t.cgroup.display());
            }
            log::info!("stopped: no process is left in the recorded cgroups");
            ExitCode::SUCCESS
        }
        Stop::Signal(_) | Stop::Duration => ExitCode::SUCCESS,
    }
}

/// Writes every target's profile where the plan says; returns whether any went to a
/// fallback file instead.
fn save_all(plan: &Plan, report: &Report) -> Result<bool> {
    if let Output::Directory(dir) = &plan.output
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        log::error!("cannot create {}: {e}", dir.display());
    }
    let mut fell_back = false;
    for t in &report.targets {
        let (path, base) = match &plan.output {
            Output::Stdout => (PathBuf::from("-"), None),
            Output::File(path) => (path.clone(), None),
            Output::Append { path, base } => (path.clone(), base.as_deref()),
            Output::Directory(dir) => (dir.join(format!("{}.json", t.label)), None),
        };
        fell_back |= save(t, &path, plan, base)?;
    }
    Ok(fell_back)
}

/// Writes one profile; when that fails after the run (disk full, a conflict with the
/// appended profile), the recording goes to a fallback file named on stderr.
fn save(t: &TargetReport, path: &Path, plan: &Plan, base: Option<&Profile>) -> Result<bool> {
    let default = plan.default;
    for (arch, nrs) in &t.syscalls.unknown {
        let list: Vec<String> = nrs.iter().map(|n| n.to_string()).collect();
        log::warn!(
            "{}: made syscall number(s) {} that no {arch} table names; they are not in the profile",
            t.label,
            list.join(", ")
        );
    }
    let mut recorded = Profile::allow(&t.syscalls.names, default);
    if let Some(old) = base {
        recorded.keep_flags_of(old);
    }
    plan.log.apply(&mut recorded);
    let (profile, before) = match base {
        Some(old) => {
            // The existing profile's conditional rules survive.
            let opts = MergeOptions {
                default_action: Some(default),
                on_conflict: OnConflict::Refuse,
            };
            let mut old = old.clone();
            if plan.log.log_refusals {
                old.log_refusals();
            }
            match merge(&[old.clone(), recorded.clone()], &opts) {
                Ok(merged) => (merged, old.allowed()),
                Err(e) => {
                    let e = anyhow::Error::new(e).context(format!(
                        "cannot merge the recording into {}",
                        path.display()
                    ));
                    return fall_back(t, &recorded, e);
                }
            }
        }
        None => (recorded, BTreeMap::new()),
    };
    let allowed = profile.allowed();
    if allowed.values().all(BTreeSet::is_empty) {
        log::warn!(
            "{}: no syscall was recorded, so the profile allows none: nothing can run under it",
            t.label
        );
    }
    if let Err(e) = write_atomic(path, profile.to_json().as_bytes()) {
        let e = anyhow::Error::new(e)
            .context(format!("cannot write the profile to {}", path.display()));
        return fall_back(t, &profile, e);
    }
    summary(t, &allowed, &before, path);
    Ok(false)
}

fn fall_back(t: &TargetReport, profile: &Profile, error: anyhow::Error) -> Result<bool> {
    let spare = std::env::temp_dir().join(format!(
        "seccomp-recorder-{}-{}.json",
        std::process::id(),
        t.label
    ));
    write_atomic(&spare, profile.to_json().as_bytes()).with_context(|| {
        format!(
            "{error:#}; saving it to {} failed too, the recording is lost",
            spare.display()
        )
    })?;
    log::error!(
        "{}: {error:#}; the profile is saved in {}",
        t.label,
        spare.display()
    );
    Ok(true)
}

fn summary(
    t: &TargetReport,
    names: &BTreeMap<Arch, BTreeSet<String>>,
    before: &BTreeMap<Arch, BTreeSet<String>>,
    path: &Path,
) {
    let per_arch: Vec<String> = names
        .iter()
        .map(|(a, s)| format!("{}: {}", super::report::short(*a), s.len()))
        .collect();
    let total: BTreeSet<&String> = names.values().flatten().collect();
    if let Some(c) = &t.container {
        log::info!(
            "{}: {} container, name {}, image {}, ID {}",
            t.label,
            c.engine_name(),
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
