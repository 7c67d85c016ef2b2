//! `agent [--quick] [--out FILE]` (`cargo xtask bench agent`): what the node agent costs on
//! a busy node, measured through the tests' own harness (containerd's CRI and CRI-O on
//! private state, pods made as the kubelet makes them):
//! - pods per second created, started and removed, without and with the agent recording them;
//! - the agent's peak RSS with 10, 100 and 250 pods recorded;
//! - the agent's and the runtime's CPU with 100 idle pods, the agent polling or on events.
//!
//! Its section of BENCHMARKS.md is its own: replaced in place, the rest of the file (the
//! full run's) is left as it is, and the full run keeps this section when it rewrites.

use anyhow::{Context, Result, bail};
use seccomp_recorder_tests::Scratch;
use seccomp_recorder_tests::agent::{self, Agent};
use seccomp_recorder_tests::cri::{Client, CriRuntime, Pod, PodSpec};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The heading of this benchmark's section in BENCHMARKS.md.
pub const HEADING: &str = "## Agent on a busy node";

const RECORD: &str = "seccomp-recorder.io/record";
const WORKLOAD: &str = "seccomp-recorder.io/workload";
/// Every container sleeps: an idle pod, as most of a node's are.
const SLEEP: [&str; 2] = ["/bin/sleep", "1000000"];
/// Clients creating and removing the idle pods at once (not timed).
const WORKERS: usize = 4;

/// How much to do: the full run, or a smoke run with 3 pods.
struct Plan {
    rounds: usize,
    per_round: usize,
    /// Pods recorded at which the agent's memory is read; the last is the most pods made.
    sizes: Vec<usize>,
    /// Idle pods during the CPU windows (one of `sizes`).
    idle: usize,
    window: Duration,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                rounds: 1,
                per_round: 3,
                sizes: vec![3],
                idle: 3,
                window: Duration::from_secs(3),
            }
        } else {
            Plan {
                rounds: 3,
                per_round: 10,
                sizes: vec![10, 100, 250],
                idle: 100,
                window: Duration::from_secs(20),
            }
        }
    }
}

/// One runtime as the agent meets it.
struct Runtime {
    name: &'static str,
    /// How the agent learns of containers there.
    learns: &'static str,
    /// Started on first use, so that the others are not running while one is measured.
    start: fn() -> &'static CriRuntime,
    churn: bool,
    sizes: Vec<usize>,
}

pub fn run(args: &[String]) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the agent benchmark starts container runtimes and loads eBPF: run it as root");
    }
    let (mut quick, mut out) = (false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = Some(PathBuf::from(it.next().context("--out takes a FILE")?)),
            other => bail!(
                "unknown argument {other}: usage: seccomp-recorder-bench agent [--quick] [--out FILE]"
            ),
        }
    }
    let plan = Plan::new(quick);
    let started = Instant::now();
    let load_start = crate::loadavg();
    let scratch = Scratch::new("bench-agent");
    let ns = format!("bench-{}", std::process::id());
    let mut report = Report::default();
    for r in runtimes(&plan) {
        eprintln!("bench agent: {} ({})", r.name, r.learns);
        let rt = (r.start)();
        if r.churn {
            report.rates.push(rates(&r, rt, &plan, &ns, &scratch)?);
        }
        report.busy.push(busy(&r, rt, &plan, &ns, &scratch)?);
    }
    let section = report.section(&plan, &load_start, started.elapsed());
    print!("{section}");
    if let Some(file) = out {
        let old = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        write_atomically(&file, &replace_section(&old, &section))?;
        eprintln!("bench agent: wrote its section of {}", file.display());
    }
    Ok(())
}

fn runtimes(plan: &Plan) -> Vec<Runtime> {
    vec![
        Runtime {
            name: "containerd 1.6",
            learns: "polls: no GetContainerEvents",
            start: CriRuntime::get,
            churn: true,
            sizes: plan.sizes.clone(),
        },
        Runtime {
            name: "CRI-O 1.32",
            learns: "events (GetContainerEvents)",
            start: CriRuntime::crio,
            churn: true,
            sizes: vec![plan.idle],
        },
        Runtime {
            name: "CRI-O 1.32, events off",
            learns: "polls: the event stream ends at once",
            start: CriRuntime::crio_without_events,
            churn: false,
            sizes: vec![plan.idle],
        },
    ]
}

/// The runtime's state directory's name: keeps its pods and profiles apart from the others'.
fn tag(rt: &CriRuntime) -> String {
    rt.dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A fresh agent on `rt` writing Localhost profiles under `dir` when a container ends or it
/// stops.
fn start_agent(rt: &CriRuntime, dir: &Path) -> Agent {
    agent::start_agent(rt, &agent::localhost_args(dir))
}

/// SIGTERM (the agent writes every profile), then its exit.
fn stop_agent(agent: Agent) -> Result<()> {
    let (status, log) = agent.terminate();
    if !status.success() {
        bail!("the agent failed ({status}):\n{log}");
    }
    Ok(())
}

fn spec(ns: &str, name: &str, workload: &str) -> PodSpec {
    PodSpec::new(ns, name)
        .annotate(RECORD, "true")
        .annotate(WORKLOAD, workload)
}

/// A running pod of one sleeping container.
struct Running {
    pod: Pod,
    container: String,
}

/// RunPodSandbox, CreateContainer, StartContainer.
fn start_pod(cri: &Client, spec: &PodSpec) -> Running {
    let pod = cri.run_pod(spec);
    let container = cri.create(&pod, "app", &SLEEP, None);
    cri.start(&container);
    Running { pod, container }
}

/// StopContainer without a grace period (`sleep` ignores SIGTERM, and the figure is the
/// runtime's, not a grace period's), StopPodSandbox, RemovePodSandbox.
fn remove_pod(cri: &Client, running: &Running) {
    cri.stop_within(&running.container, 0);
    cri.remove_pod(&running.pod);
}

/// Pods per second over `n` pods made and removed one after another.
fn churn(cri: &Client, ns: &str, workload: &str, n: usize) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        let running = start_pod(cri, &spec(ns, &format!("{workload}-{i}"), workload));
        remove_pod(cri, &running);
    }
    n as f64 / t.elapsed().as_secs_f64()
}

struct Rates {
    name: &'static str,
    without: Vec<f64>,
    with: Vec<f64>,
    load: String,
}

/// Rounds without and with the agent, alternating, after one pod to warm the runtime up.
fn rates(r: &Runtime, rt: &CriRuntime, plan: &Plan, ns: &str, scratch: &Scratch) -> Result<Rates> {
    let cri = rt.client();
    let cri = &cri;
    let load = crate::loadavg();
    churn(cri, ns, "warm-up", 1);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        without.push(churn(cri, ns, &format!("bare-{round}"), plan.per_round));
        let dir = scratch.path(&format!("rates-{}-{round}", tag(rt)));
        let agent = start_agent(rt, &dir);
        let workload = format!("churn-{round}");
        with.push(churn(cri, ns, &workload, plan.per_round));
        stop_agent(agent)?;
        let profile = dir.join(ns).join(&workload).join("app.json");
        if !profile.exists() {
            bail!(
                "{}: the agent wrote no {} for the pods it should have recorded",
                r.name,
                profile.display()
            );
        }
        eprintln!(
            "bench agent: {} round {}: {:.2} pods/s without, {:.2} with",
            r.name,
            round + 1,
            without[round],
            with[round]
        );
    }
    Ok(Rates {
        name: r.name,
        without,
        with,
        load,
    })
}

/// What a process has used so far: CPU (utime + stime, in clock ticks) and memory.
struct Usage {
    ticks: u64,
    hwm_kb: u64,
    rss_kb: u64,
}

fn usage(pid: u32) -> Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The name in parentheses may hold spaces: count fields after it (state is field 3).
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .context("/proc/PID/stat without a name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("field {n} of /proc/{pid}/stat"))
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Usage {
        ticks: field(14)? + field(15)?,
        hwm_kb: kb("VmHWM:"),
        rss_kb: kb("VmRSS:"),
    })
}

/// CPU time in ms that each of `pids` used over `window`.
fn cpu_over(pids: &[u32], window: Duration) -> Result<Vec<f64>> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let before: Vec<u64> = pids
        .iter()
        .map(|p| usage(*p).map(|u| u.ticks))
        .collect::<Result<_>>()?;
    std::thread::sleep(window);
    pids.iter()
        .zip(before)
        .map(|(p, b)| Ok((usage(*p)?.ticks - b) as f64 * 1e3 / hz))
        .collect()
}

/// Starts `range`'s idle pods from `WORKERS` clients at once.
fn start_idle(rt: &CriRuntime, ns: &str, range: std::ops::Range<usize>) -> Vec<Running> {
    let all: Vec<usize> = range.collect();
    let chunk = all.len().div_ceil(WORKERS).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let cri = rt.client();
                    part.iter()
                        .map(|i| {
                            start_pod(&cri, &spec(ns, &format!("idle-{i}"), &format!("idle-{i}")))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a pod-making thread panicked"))
            .collect()
    })
}

fn remove_all(rt: &CriRuntime, pods: Vec<Running>) {
    let chunk = pods.len().div_ceil(WORKERS).max(1);
    let mut parts: Vec<Vec<Running>> = Vec::new();
    let mut pods = pods.into_iter().peekable();
    while pods.peek().is_some() {
        parts.push(pods.by_ref().take(chunk).collect());
    }
    std::thread::scope(|s| {
        for part in parts {
            s.spawn(move || {
                let cri = rt.client();
                for p in &part {
                    remove_pod(&cri, p);
                }
            });
        }
    });
}

struct Busy {
    name: &'static str,
    learns: &'static str,
    /// (pods recorded, peak RSS kB, RSS kB, load average)
    memory: Vec<(usize, u64, u64, String)>,
    agent_ms: f64,
    runtime_with_ms: f64,
    runtime_without_ms: f64,
    load: String,
    recorded: usize,
    made: usize,
}

/// A fresh agent records idle pods as they are made: its memory at each size, then the
/// CPU window with `plan.idle` pods, and the runtime's alone once the agent has stopped.
fn busy(
    r: &Runtime,
    rt: &'static CriRuntime,
    plan: &Plan,
    ns: &str,
    scratch: &Scratch,
) -> Result<Busy> {
    let daemon = rt
        .daemon_pid()
        .with_context(|| format!("no {} daemon started with {}", r.name, rt.dir.display()))?;
    let dir = scratch.path(&format!("busy-{}", tag(rt)));
    let ns = format!("{ns}-{}", tag(rt));
    let agent = start_agent(rt, &dir);
    let pid = agent.pid();
    let (mut pods, mut memory) = (Vec::new(), Vec::new());
    let (mut agent_ms, mut runtime_with_ms, mut load) = (f64::NAN, f64::NAN, String::new());
    for &size in &r.sizes {
        pods.extend(start_idle(rt, &ns, pods.len()..size));
        // A few polls for the agent to take every new container in.
        std::thread::sleep(Duration::from_secs(3));
        let u = usage(pid)?;
        memory.push((size, u.hwm_kb, u.rss_kb, crate::loadavg()));
        eprintln!(
            "bench agent: {}: {size} pods, agent peak RSS {} kB",
            r.name, u.hwm_kb
        );
        if size == plan.idle {
            load = crate::loadavg();
            let ms = cpu_over(&[pid, daemon], plan.window)?;
            (agent_ms, runtime_with_ms) = (ms[0], ms[1]);
        }
    }
    let made = pods.len();
    let extra = pods.split_off(plan.idle.min(pods.len()));
    remove_all(rt, extra);
    stop_agent(agent)?;
    let recorded = (0..made)
        .filter(|i| dir.join(&ns).join(format!("idle-{i}/app.json")).exists())
        .count();
    let runtime_without_ms = cpu_over(&[daemon], plan.window)?[0];
    remove_all(rt, pods);
    Ok(Busy {
        name: r.name,
        learns: r.learns,
        memory,
        agent_ms,
        runtime_with_ms,
        runtime_without_ms,
        load,
        recorded,
        made,
    })
}

#[derive(Default)]
struct Report {
    rates: Vec<Rates>,
    busy: Vec<Busy>,
}

fn spread(v: &[f64]) -> String {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
    format!("{:.2} ({})", crate::median(&mut v.to_vec()), all.join(", "))
}

impl Report {
    fn section(&self, plan: &Plan, load_start: &str, took: Duration) -> String {
        let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());
        let command = std::env::var("BENCH_COMMAND")
            .unwrap_or_else(|_| "seccomp-recorder-bench agent".into());
        let pct = |ms: f64| ms / plan.window.as_secs_f64() / 10.0;
        let mut s = String::new();
        let _ = writeln!(s, "{HEADING}\n");
        let _ = writeln!(
            s,
            "Measured by `{command}` on {} at commit {commit} ({}; {}). Load average (1 min): {load_start} at the start, {} at the end; on this 2-CPU machine shared with other work, anything above 1-2 means the figures competed with it. Whole run: {:.0} s.\n",
            crate::utc_now(),
            crate::machine(),
            crate::kernel(),
            crate::loadavg(),
            took.as_secs_f64()
        );
        let _ = writeln!(s, "### Pods per second through the CRI\n");
        let _ = writeln!(
            s,
            "One client makes {} pods one after another, as a kubelet's pod worker would: RunPodSandbox, CreateContainer (`sleep`), StartContainer, then StopContainer with no grace period, StopPodSandbox and RemovePodSandbox. Rounds without and with the agent recording them (annotated `{RECORD}: \"true\"`, a fresh agent each round) alternate; each rate is the round's pods over its wall time, median of {} rounds, every round in brackets.\n",
            plan.per_round, plan.rounds
        );
        let _ = writeln!(
            s,
            "| runtime | pods/s without the agent | pods/s with the agent | with / without | load at start |\n|---|---|---|---|---|"
        );
        for r in &self.rates {
            let (a, b) = (
                crate::median(&mut r.without.clone()),
                crate::median(&mut r.with.clone()),
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {} |",
                r.name,
                spread(&r.without),
                spread(&r.with),
                b / a,
                r.load
            );
        }
        let _ = writeln!(s, "\n### The agent's memory\n");
        let _ = writeln!(
            s,
            "A fresh agent records idle pods (one sleeping container each, each pod its own workload, so one profile each) made {WORKERS} at a time; 3 s after each size is reached, its peak RSS (VmHWM) and RSS now (VmRSS) from /proc.\n"
        );
        let _ = writeln!(
            s,
            "| runtime | pods recorded | peak RSS | RSS now | load |\n|---|---|---|---|---|"
        );
        for b in &self.busy {
            for (n, hwm, rss, load) in &b.memory {
                let _ = writeln!(
                    s,
                    "| {} | {n} | {:.1} MB | {:.1} MB | {load} |",
                    b.name,
                    *hwm as f64 / 1024.0,
                    *rss as f64 / 1024.0
                );
            }
        }
        let _ = writeln!(s, "\n### CPU with {} idle pods\n", plan.idle);
        let _ = writeln!(
            s,
            "utime + stime from /proc/PID/stat over {:.0} s (clock ticks of 10 ms) with {} idle recorded pods: the agent (its defaults: it polls every 500 ms, `--poll-interval`, where the runtime streams no events; with events it looks on each event and polls only every 30 s, `--resync-interval`), the runtime's daemon (containerd or crio; not its shims or conmon) with the agent, and the daemon again once the agent has stopped. % is of one core.\n",
            plan.window.as_secs_f64(),
            plan.idle
        );
        let _ = writeln!(
            s,
            "| runtime | the agent learns by | agent CPU | runtime CPU with the agent | runtime CPU without it | load |\n|---|---|---|---|---|---|"
        );
        for b in &self.busy {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} ms ({:.2} %) | {:.0} ms ({:.2} %) | {:.0} ms ({:.2} %) | {} |",
                b.name,
                b.learns,
                b.agent_ms,
                pct(b.agent_ms),
                b.runtime_with_ms,
                pct(b.runtime_with_ms),
                b.runtime_without_ms,
                pct(b.runtime_without_ms),
                b.load
            );
        }
        let _ = writeln!(s);
        for b in &self.busy {
            if b.recorded != b.made {
                let _ = writeln!(
                    s,
                    "- {}: the agent wrote profiles for {} of the {} pods made.",
                    b.name, b.recorded, b.made
                );
            }
        }
        s
    }
}

/// `doc` with this benchmark's section replaced by `section` (or appended).
pub fn replace_section(doc: &str, section: &str) -> String {
    match section_span(doc) {
        Some((start, end)) => format!("{}{section}{}", &doc[..start], &doc[end..]),
        None => format!("{}\n\n{section}", doc.trim_end_matches('\n')),
    }
}

/// This benchmark's section of `doc`, if it has one.
pub fn section_of(doc: &str) -> Option<&str> {
    section_span(doc).map(|(start, end)| &doc[start..end])
}

/// Where the section starts (its heading) and ends (the next `## ` heading, or the end).
fn section_span(doc: &str) -> Option<(usize, usize)> {
    let start = if doc.starts_with(HEADING) {
        0
    } else {
        doc.find(&format!("\n{HEADING}"))? + 1
    };
    let end = doc[start + HEADING.len()..]
        .find("\n## ")
        .map_or(doc.len(), |i| start + HEADING.len() + i + 1);
    Some((start, end))
}

/// Writes `text` to a temporary file beside `file`, then renames it over: never half a file.
fn write_atomically(file: &Path, text: &str) -> Result<()> {
    let tmp = file.with_extension("md.partial");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file)
        .with_context(|| format!("renaming {} to {}", tmp.display(), file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "# Benchmarks\n\nGenerated by `cargo xtask bench` on X.\n\n## 6. Audit\n\ntext\n\n## Noise and method\n\n- Whole run: 5 s.\n";

    #[test]
    fn a_first_section_is_appended_after_the_full_run() {
        let doc = replace_section(FULL, "## Agent on a busy node\n\nA\n");
        assert_eq!(doc, format!("{FULL}\n## Agent on a busy node\n\nA\n"));
        assert_eq!(section_of(&doc), Some("## Agent on a busy node\n\nA\n"));
    }

    #[test]
    fn a_new_section_replaces_only_the_old_one() {
        let old = format!("{FULL}\n## Agent on a busy node\n\nA\n\n### sub\n\nB\n");
        let doc = replace_section(&old, "## Agent on a busy node\n\nC\n");
        assert_eq!(doc, format!("{FULL}\n## Agent on a busy node\n\nC\n"));
        // In the middle, the sections after it stay.
        let middle = "# B\n\n## Agent on a busy node\n\nA\n\n## Noise\n\nN\n";
        assert_eq!(
            replace_section(middle, "## Agent on a busy node\n\nC\n\n"),
            "# B\n\n## Agent on a busy node\n\nC\n\n## Noise\n\nN\n"
        );
    }

    #[test]
    fn a_full_run_without_the_section_has_none() {
        assert_eq!(section_of(FULL), None);
    }
}
