use anyhow::{Context, Result, bail};
use seccomp_recorder::agent::{self, Options, RefusalOptions, cri, http::Metrics, pods::Selector};
use seccomp_recorder::oci;
use seccomp_recorder::trace::AttachKind;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Kubernetes node agent: record the pods selected for recording, from their birth.
///
/// Runs on every node (a DaemonSet, see deploy/ and docs/kubernetes.md) and talks only to
/// the node's container runtime (CRI). Pods annotated seccomp-recorder.io/record: "true"
/// (or matching every --selector, unless annotated "false") have every container recorded
/// from the moment its cgroup is made; pause containers never are. One profile per
/// namespace / workload / container: replicas, restarts and agent restarts merge into it.
/// The workload is the seccomp-recorder.io/workload annotation, else the label
/// app.kubernetes.io/name, else the Deployment, StatefulSet, DaemonSet, Job or CronJob
/// its labels name (docs/kubernetes.md), else the pod name.
/// seccomp-recorder.io/skip-containers: "a,b" leaves those containers out.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  seccomp-recorder agent --runtime-endpoint unix:///run/containerd/containerd.sock
  seccomp-recorder agent --selector team=shop --spo-dir /var/lib/seccomp-recorder/spo
  seccomp-recorder agent --push registry.example/team/seccomp --listen 0.0.0.0:9750
  seccomp-recorder agent --push harbor.corp.example/team/seccomp --ca-file /etc/registry-ca/ca.crt

Profiles are written when a recorded container exits, when its pod goes away, every
--flush-interval and on SIGTERM, atomically. A pod uses one with
  securityContext: {seccompProfile: {type: Localhost,
    localhostProfile: seccomp-recorder/<namespace>/<workload>/<container>.json}}
Pushed profiles are printed on stdout as `<namespace>/<workload>/<container> <repo>@<digest>`.")]
pub struct Args {
    /// The CRI socket (default: the first of crictl's default endpoints that answers:
    /// containerd, CRI-O, cri-dockerd).
    #[arg(long, value_name = "ENDPOINT")]
    runtime_endpoint: Option<String>,

    /// Also record pods whose label KEY is VALUE (repeatable: all must match).
    #[arg(long, value_name = "KEY=VALUE")]
    selector: Vec<Selector>,

    /// Write Localhost profiles to DIR/<namespace>/<workload>/<container>.json.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/kubelet/seccomp/seccomp-recorder"
    )]
    localhost_dir: PathBuf,

    /// Do not write Localhost profiles (only --spo-dir and/or --push).
    #[arg(long)]
    no_localhost: bool,

    /// Also write Security Profiles Operator SeccompProfile (v1) resources to
    /// DIR/<namespace>/<workload>/<container>.yaml.
    #[arg(long, value_name = "DIR")]
    spo_dir: Option<PathBuf>,

    /// Share profiles across the cluster through REPO: this node's share goes to
    /// REPO-shares:<namespace>_<workload>_<container>.node-<node>, and the union of every
    /// node's share, the same bytes on every node, to REPO:<namespace>_<workload>_<container>
    /// (the artifact CRI-O and KEP-6061 runtimes pull) and to the Localhost files, with its
    /// provenance in <container>.status.json. Prints the digest reference of each new union.
    #[arg(long, value_name = "REPO")]
    push: Option<String>,

    /// This node's name in share tags and provenance (default: $NODE_NAME, which the
    /// DaemonSet sets from spec.nodeName, else the host name).
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,

    /// With --push: bring the fleet's profiles up to date this often (default: the
    /// --flush-interval). Each sync costs one small request per workload when nothing changed.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    sync_interval: Option<Duration>,

    /// A profile is stable after this many containers recorded from birth in a row exited
    /// without a call the profile lacked.
    #[arg(long, value_name = "N", default_value_t = 5)]
    stable_after: u64,

    /// With --push: also write the profiles of every workload the repository lists, so
    /// that nodes that never ran a workload have its Localhost file too (default: true).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    workloads_from_registry: bool,

    /// One profile per image digest (tags and files get .image-<12 hex digits>), instead of
    /// one across every image the workload ran (the default; the provenance names them).
    #[arg(long)]
    per_image: bool,

    #[command(flatten)]
    registry: super::oci::RegistryArgs,

    /// Serve /healthz and Prometheus /metrics on this address (e.g. 0.0.0.0:9750).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Write every profile that changed this often, besides on container exit.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    flush_interval: Duration,

    /// Ask the runtime for container states this often, when it streams no container
    /// events (containerd 1.6, CRI-O without --enable-pod-events).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    poll_interval: Duration,

    /// While the runtime streams container events (CRI-O with --enable-pod-events), ask it
    /// only this often: each event already makes the agent look at once; this catches a
    /// lost one.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    resync_interval: Duration,

    #[command(flatten)]
    action: super::action::ActionFlags,

    /// Attach point: btf, raw or tracepoint (default: the cheapest the kernel accepts).
    #[arg(long, value_name = "TYPE")]
    attach: Option<AttachKind>,

    #[command(flatten)]
    log: super::refusals::LogFlag,

    /// Report every seccomp refusal on the node: counted in
    /// seccomp_recorder_refusals_total{namespace,workload,container,syscall,arch}, logged
    /// the first time per container and syscall, written to <container>.refusals.json next
    /// to the Localhost profile. Seen for profiles with SECCOMP_FILTER_FLAG_LOG (see
    /// --log-refusals), through the audit netlink group, else /dev/kmsg.
    #[arg(long)]
    watch_refusals: bool,

    /// Read refusals from this source instead of probing: netlink or kmsg.
    #[arg(long, value_name = "SOURCE", requires = "watch_refusals")]
    refusals_source: Option<seccomp_recorder::refusals::Source>,

    /// Calls refused, and calls SCMP_ACT_LOG let through, join the workload's profile: a
    /// complain-mode rollout converges to a profile that can enforce.
    #[arg(long, requires = "watch_refusals")]
    learn_refusals: bool,

    /// Record at most N containers at once. A new container beyond them is not recorded:
    /// a warning names it, and seccomp_recorder_targets_refused_total{reason="max_targets"}
    /// counts it; the others go on. The kernel maps hold N cgroups plus 1024 for those
    /// made inside the containers and new ones not decided yet (8 KiB of kernel memory
    /// each); if they fill anyway, a new container is refused with reason="map_full".
    #[arg(
        long,
        value_name = "N",
        default_value_t = agent::DEFAULT_MAX_TARGETS,
        value_parser = clap::value_parser!(u32).range(1..=65_536)
    )]
    max_targets: u32,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let listen = args.listen;
    let opts = plan(args)?;
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = listen {
        let bound = agent::http::serve(addr, metrics.clone())
            .map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
        log::info!("serving /healthz and /metrics on http://{bound}");
    }
    agent::run(&opts, metrics, &mut |key, reference| {
        println!("{key} {reference}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The agent's options with every flag rule checked: nothing starts (no eBPF, no CRI
/// connection) on flags that cannot work.
fn plan(args: Args) -> Result<Options> {
    let default = args.action.or_recorded_default()?;
    if let Some(e) = &args.runtime_endpoint {
        cri::socket_path(e)?;
    }
    if args.registry.password_stdin && args.push.is_none() {
        bail!("--password-stdin is for --push");
    }
    if args.no_localhost && args.spo_dir.is_none() && args.push.is_none() {
        bail!("--no-localhost leaves nowhere to publish: give --spo-dir or --push");
    }
    let access = super::oci::access(&args.registry)?;
    if let Some(repo) = &args.push {
        check_repository(repo, &access)?;
    }
    Ok(Options {
        endpoint: args.runtime_endpoint,
        selectors: args.selector,
        localhost_dir: (!args.no_localhost).then_some(args.localhost_dir),
        spo_dir: args.spo_dir,
        push: args.push,
        node_name: node_name(args.node_name)?,
        sync_interval: args.sync_interval.unwrap_or(args.flush_interval),
        stable_after: args.stable_after,
        workloads_from_registry: args.workloads_from_registry,
        per_image: args.per_image,
        access,
        flush_interval: args.flush_interval,
        poll_interval: args.poll_interval,
        resync_interval: args.resync_interval,
        default,
        attach: args.attach,
        log_refusals: args.log.log_refusals,
        refusals: args.watch_refusals.then_some(RefusalOptions {
            source: args.refusals_source,
            learn: args.learn_refusals,
        }),
        max_targets: args.max_targets,
    })
}

/// Every profile goes to its own tag of the repository: the repository and the credentials
/// for its registry are checked now, not at the first push minutes later.
fn check_repository(repo: &str, access: &oci::Access) -> Result<()> {
    let name = repo.rsplit('/').next().unwrap_or(repo);
    if name.contains(':') || repo.contains('@') {
        bail!(
            "--push {repo}: give a repository (REGISTRY/REPO) without a tag or digest; \
             each profile is pushed to REPO:<namespace>_<workload>_<container>"
        );
    }
    oci::Destination::new(&format!("{repo}:check"), None, access)
        .with_context(|| format!("--push {repo}"))?;
    Ok(())
}

/// `--node-name`, else `$NODE_NAME` (the downward API), else the host name.
fn node_name(given: Option<String>) -> Result<String> {
    let name = given
        .or_else(|| std::env::var("NODE_NAME").ok())
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|n| !n.is_empty());
    match name {
        Some(n) if !n.contains(',') && !n.contains('=') => Ok(n),
        Some(n) => bail!("--node-name '{n}': a node name holds no ',' or '='"),
        None => bail!("no node name: give --node-name or set NODE_NAME"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use seccomp_recorder::profile::DefaultAction;

    fn plan_of(words: &[&str]) -> Result<Options> {
        let argv = ["seccomp-recorder", "agent"].iter().chain(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Agent(a) => plan(a),
            _ => unreachable!("parsed as agent"),
        }
    }

    fn refused(words: &[&str]) -> String {
        match plan_of(words) {
            Ok(_) => panic!("{words:?} was accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn flags_that_cannot_work_are_refused_before_the_agent_starts() {
        let missing = std::env::temp_dir().join(format!("agent-auth-{}", std::process::id()));
        for (words, expect) in [
            (
                &["--password-stdin", "--username", "u"][..],
                "is for --push",
            ),
            (&["--no-localhost"], "leaves nowhere to publish"),
            (&["--push", "reg.example/app:v1"], "without a tag or digest"),
            (
                &["--push", "reg.example/app@sha256:00"],
                "without a tag or digest",
            ),
            (&["--push", "Not A Repo"], "not a usable reference"),
            (
                &[
                    "--push",
                    "reg.example/app",
                    "--authfile",
                    missing.to_str().unwrap(),
                ],
                "cannot open it",
            ),
        ] {
            let e = refused(words);
            assert!(e.contains(expect), "{words:?}: expected '{expect}' in: {e}");
        }
        assert!(plan_of(&["--push", "127.0.0.1:5000/team/seccomp"]).is_ok());
    }

    #[test]
    fn the_default_action_is_the_same_word_as_everywhere() {
        let default = |words: &[&str]| plan_of(words).unwrap().default;
        assert_eq!(default(&[]), DefaultAction::Errno(38));
        assert_eq!(
            default(&["--default-action", "errno"]),
            DefaultAction::Errno(1)
        );
        assert_eq!(default(&["--errno", "EACCES"]), DefaultAction::Errno(13));
    }
}
