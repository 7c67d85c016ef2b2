//! What `/metrics` reports, in Prometheus' text format (0.0.4): node-wide counters,
//! counters per profile (namespace / workload / container), errors by reason, how full the
//! kernel maps are, and the build.

use super::pods::Key;
use crate::trace::AttachKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// /livez fails when the loop has not turned for this long. A CRI call that hangs (up to
/// its 10 s timeout) counts as stuck; a runtime that refuses answers at once, so the loop
/// keeps turning and the agent stays live.
const LIVE_WITHIN: Duration = Duration::from_secs(5);

/// Counters and the health the endpoints report; shared with the agent's loop.
#[derive(Default)]
pub struct Metrics {
    pub pods_recorded: AtomicU64,
    pub containers_recorded: AtomicU64,
    pub containers_not_from_birth: AtomicU64,
    /// Containers whose cgroup the runtime had not named after the grace period.
    pub slow_creates: AtomicU64,
    pub profiles_written: AtomicU64,
    pub profiles_pushed: AtomicU64,
    /// Cgroups the kernel maps hold for the agent after its last look, and their size.
    pub followed: AtomicU64,
    pub capacity: AtomicU64,
    /// `--max-targets`.
    pub max_targets: AtomicU64,
    /// New cgroups the kernel had no room for (containers or not).
    pub kernel_refused: AtomicU64,
    /// New containers not recorded for want of room, by reason.
    targets_refused: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// `seccomp_recorder_refusals_total` by namespace, workload, container, syscall, arch
    /// (bounded by the watcher's own cap on keys).
    pub refusals: Mutex<BTreeMap<[String; 5], u64>>,
    /// Refusals no container could be named for, by comm, exe, cgroup, syscall, arch.
    pub refusals_unattributed: Mutex<BTreeMap<[String; 5], u64>>,
    /// Refusals the kernel lost since the watch started (audit records it dropped, or on
    /// the kernel path refusals its map had no room for); `None` when it cannot say.
    pub refusals_lost: Mutex<Option<u64>>,
    profiles: Mutex<BTreeMap<Labels, PerProfile>>,
    /// Kernel release and attach point, known once the eBPF side is attached.
    attached: Mutex<Option<(String, String)>>,
    /// When the main loop (or the wait for the runtime) last turned; `None` while starting.
    heartbeat: Mutex<Option<Instant>>,
    /// Why the agent is not healthy (the CRI is unreachable, ...); `None` when it is.
    pub unhealthy: Mutex<Option<String>>,
}

/// namespace, workload, container.
type Labels = [String; 3];

/// Reads one of a profile's counters.
type Get = fn(&PerProfile) -> u64;

#[derive(Default)]
struct PerProfile {
    containers: u64,
    not_from_birth: u64,
    writes: u64,
    pushes: u64,
}

/// What a per-profile counter counts.
#[derive(Clone, Copy)]
pub enum Counted {
    Container { from_birth: bool },
    Write,
    Push,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error; `reason` is one of a few fixed words (cri, cgroup, follow, read,
    /// publish, refusals, sync), so that the series stay few.
    pub fn error(&self, reason: &'static str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(reason).or_default() += 1;
        }
    }

    /// Counts for `key`'s profile, and the node-wide counter that goes with it.
    pub fn count(&self, key: &Key, what: Counted) {
        let labels = [
            key.namespace.clone(),
            key.workload.clone(),
            key.container.clone(),
        ];
        let Ok(mut all) = self.profiles.lock() else {
            return;
        };
        let p = all.entry(labels).or_default();
        match what {
            Counted::Container { from_birth } => {
                p.containers += 1;
                Metrics::inc(&self.containers_recorded);
                if !from_birth {
                    p.not_from_birth += 1;
                    Metrics::inc(&self.containers_not_from_birth);
                }
            }
            Counted::Write => {
                p.writes += 1;
                Metrics::inc(&self.profiles_written);
            }
            Counted::Push => {
                p.pushes += 1;
                Metrics::inc(&self.profiles_pushed);
            }
        }
    }

    /// Notes the kernel release and how the eBPF side is attached, for `build_info`.
    pub fn set_attached(&self, attach: AttachKind) {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let attach = match attach {
            AttachKind::Btf => "btf",
            AttachKind::Raw => "raw",
            AttachKind::Tracepoint => "tracepoint",
        };
        if let Ok(mut a) = self.attached.lock() {
            *a = Some((kernel, attach.to_string()));
        }
    }

    /// Counts a container refused for want of room; `reason` is `max_targets` or
    /// `map_full`.
    pub fn target_refused(&self, reason: &'static str) {
        if let Ok(mut m) = self.targets_refused.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    pub fn count_refusal(&self, labels: [String; 5], n: u64) {
        if let Ok(mut m) = self.refusals.lock() {
            *m.entry(labels).or_default() += n;
        }
    }

    pub fn count_unattributed(&self, labels: [String; 5], n: u64) {
        if let Ok(mut m) = self.refusals_unattributed.lock() {
            *m.entry(labels).or_default() += n;
        }
    }

    pub fn set_refusals_lost(&self, lost: Option<u64>) {
        if let Ok(mut l) = self.refusals_lost.lock() {
            *l = lost;
        }
    }

    /// The refusal series, when `--watch-refusals` counts any.
    fn render_refusals(&self, out: &mut String) {
        const BY_CONTAINER: [&str; 5] = ["namespace", "workload", "container", "syscall", "arch"];
        const UNATTRIBUTED: [&str; 5] = ["comm", "exe", "cgroup", "syscall", "arch"];
        if let Ok(m) = self.refusals.lock() {
            series(
                out,
                "refusals_total",
                "Seccomp refusals per container and syscall (--watch-refusals)",
                &BY_CONTAINER,
                m.iter().map(|(k, v)| (k.as_slice(), *v)),
            );
        }
        if let Ok(m) = self.refusals_unattributed.lock() {
            series(
                out,
                "refusals_unattributed_total",
                "Seccomp refusals of processes in no pod's container, or gone before their cgroup was read",
                &UNATTRIBUTED,
                m.iter().map(|(k, v)| (k.as_slice(), *v)),
            );
        }
        if let Ok(Some(lost)) = self.refusals_lost.lock().map(|l| *l) {
            let name = "refusals_kernel_lost_total";
            let help = "Refusals the kernel lost since the watch started (audit records, or kernel path map full)";
            family(out, name, "counter", help);
            sample(out, name, &[], lost as f64);
        }
    }

    /// The loop turned.
    pub fn beat(&self) {
        if let Ok(mut h) = self.heartbeat.lock() {
            *h = Some(Instant::now());
        }
    }

    /// Start-up work between two beats (loading eBPF, adopting running containers) is not
    /// a stuck loop: liveness waits for the next beat.
    pub fn starting(&self) {
        if let Ok(mut h) = self.heartbeat.lock() {
            *h = None;
        }
    }

    /// Whether the loop turns: the kubelet restarts an agent whose loop is stuck, never
    /// one whose runtime is away (readiness says that).
    pub(super) fn liveness(&self) -> Result<(), String> {
        let last = self
            .heartbeat
            .lock()
            .map_err(|_| "internal error".to_string())?;
        match *last {
            Some(t) if t.elapsed() > LIVE_WITHIN => Err(format!(
                "the agent's main loop has not turned for {} s",
                t.elapsed().as_secs()
            )),
            _ => Ok(()),
        }
    }

    pub fn set_unhealthy(&self, why: Option<String>) {
        if let Ok(mut u) = self.unhealthy.lock() {
            *u = why;
        }
    }

    pub(super) fn health(&self) -> Result<(), String> {
        match self.unhealthy.lock().map(|u| u.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(why),
            Err(_) => Err("internal error".into()),
        }
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        self.render_totals(&mut out);
        self.render_profiles(&mut out);
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        family(&mut out, "errors_total", "counter", "Errors, by reason");
        for (reason, n) in errors {
            sample(&mut out, "errors_total", &[("reason", reason)], n as f64);
        }
        self.render_refusals(&mut out);
        self.render_maps(&mut out);
        self.render_build(&mut out);
        let up = u8::from(self.health().is_ok());
        family(
            &mut out,
            "up",
            "gauge",
            "Whether the agent is recording (CRI reachable, eBPF attached)",
        );
        sample(&mut out, "up", &[], f64::from(up));
        out
    }

    fn render_totals(&self, out: &mut String) {
        let rows: [(&str, &str, &AtomicU64); 6] = [
            (
                "pods_recorded",
                "Pods selected for recording",
                &self.pods_recorded,
            ),
            (
                "containers_recorded",
                "Containers recorded",
                &self.containers_recorded,
            ),
            (
                "containers_not_from_birth",
                "Containers already running when the agent started (recorded from then on only)",
                &self.containers_not_from_birth,
            ),
            (
                "slow_creates",
                "Containers the runtime had not named 5 s after their cgroup was made (recorded once it does)",
                &self.slow_creates,
            ),
            (
                "profiles_written",
                "Profile files written (each publisher counts)",
                &self.profiles_written,
            ),
            (
                "profiles_pushed",
                "Profiles brought up to date in the registry (pushed, or found current)",
                &self.profiles_pushed,
            ),
        ];
        for (name, help, v) in rows {
            let name = format!("{name}_total");
            family(out, &name, "counter", help);
            sample(out, &name, &[], v.load(Ordering::Relaxed) as f64);
        }
    }

    fn render_profiles(&self, out: &mut String) {
        let Ok(all) = self.profiles.lock() else {
            return;
        };
        let rows: [(&str, &str, Get); 4] = [
            (
                "profile_containers_total",
                "Containers recorded into this profile",
                |p| p.containers,
            ),
            (
                "profile_containers_not_from_birth_total",
                "Containers recorded into this profile from the agent's start only",
                |p| p.not_from_birth,
            ),
            (
                "profile_writes_total",
                "Files written for this profile (each publisher counts)",
                |p| p.writes,
            ),
            (
                "profile_pushes_total",
                "Times this profile was brought up to date in the registry (pushed, or found current)",
                |p| p.pushes,
            ),
        ];
        for (name, help, get) in rows {
            family(out, name, "counter", help);
            for ([ns, workload, container], p) in all.iter() {
                let labels = [
                    ("namespace", ns.as_str()),
                    ("workload", workload.as_str()),
                    ("container", container.as_str()),
                ];
                sample(out, name, &labels, get(p) as f64);
            }
        }
    }

    fn render_maps(&self, out: &mut String) {
        let followed = self.followed.load(Ordering::Relaxed);
        let capacity = self.capacity.load(Ordering::Relaxed);
        let rows = [
            (
                "followed_cgroups",
                "Cgroups the kernel maps hold for the agent (recorded, folded or undecided)",
                followed as f64,
            ),
            (
                "kernel_map_capacity",
                "Cgroups the kernel maps can hold",
                capacity as f64,
            ),
            (
                "kernel_map_used_ratio",
                "Followed cgroups over the kernel maps' capacity (new containers are refused at 1)",
                if capacity == 0 {
                    0.0
                } else {
                    followed as f64 / capacity as f64
                },
            ),
        ];
        for (name, help, v) in rows {
            family(out, name, "gauge", help);
            sample(out, name, &[], v);
        }
        let max = self.max_targets.load(Ordering::Relaxed);
        family(
            out,
            "max_targets",
            "gauge",
            "Containers recorded at once at most",
        );
        sample(out, "max_targets", &[], max as f64);
        let kernel = self.kernel_refused.load(Ordering::Relaxed);
        let help = "New cgroups the kernel maps had no room for (containers or not)";
        family(out, "kernel_map_refused_total", "counter", help);
        sample(out, "kernel_map_refused_total", &[], kernel as f64);
        let refused = self.targets_refused.lock().map(|m| m.clone());
        let refused = refused.unwrap_or_default();
        let help = "New containers not recorded for want of room, by reason: max_targets \
                    (--max-targets reached) or map_full (the kernel maps were full)";
        family(out, "targets_refused_total", "counter", help);
        for reason in ["max_targets", "map_full"] {
            let n = refused.get(reason).copied().unwrap_or_default();
            sample(
                out,
                "targets_refused_total",
                &[("reason", reason)],
                n as f64,
            );
        }
    }

    fn render_build(&self, out: &mut String) {
        let attached = self.attached.lock().ok().and_then(|a| a.clone());
        let (kernel, attach) = attached.unwrap_or_default();
        family(
            out,
            "build_info",
            "gauge",
            "Always 1; the labels say which build runs on which kernel, attached how",
        );
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("commit", env!("SECCOMP_RECORDER_COMMIT")),
            ("kernel", kernel.as_str()),
            ("attach", attach.as_str()),
        ];
        sample(out, "build_info", &labels, 1.0);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(
        out,
        "# HELP seccomp_recorder_{name} {help}.\n# TYPE seccomp_recorder_{name} {kind}\n"
    );
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let _ = write!(out, "seccomp_recorder_{name}");
    if !labels.is_empty() {
        let inner: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = write!(out, "{{{}}}", inner.join(","));
    }
    let _ = writeln!(out, " {value}");
}

/// One labelled counter family; nothing when it has no sample yet.
fn series<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[&str],
    samples: impl Iterator<Item = (&'a [String], u64)>,
) {
    let mut head = true;
    for (values, n) in samples {
        if std::mem::take(&mut head) {
            family(out, name, "counter", help);
        }
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .zip(values)
            .map(|(l, v)| (*l, v.as_str()))
            .collect();
        sample(out, name, &pairs, n as f64);
    }
}

/// Label values escape backslash, double quote and newline (the text format's rule).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn refusal_series_with_escaped_labels_only_once_counted() {
        let m = Metrics::default();
        assert!(!m.render().contains("refusals"));
        let labels = ["ns", "web", "app", "getpriority", "x86_64"].map(String::from);
        m.count_refusal(labels.clone(), 1);
        m.count_refusal(labels, 1);
        let stray = ["a\"b", "/x\\y", "", "nr:999", "x86_64"];
        m.count_unattributed(stray.map(String::from), 1);
        m.set_refusals_lost(Some(3));
        let text = m.render();
        assert!(text.contains(
            "seccomp_recorder_refusals_total{namespace=\"ns\",workload=\"web\",container=\"app\",\
             syscall=\"getpriority\",arch=\"x86_64\"} 2\n"
        ), "{text}");
        assert!(
            text.contains(
                "seccomp_recorder_refusals_unattributed_total{comm=\"a\\\"b\",exe=\"/x\\\\y\",\
             cgroup=\"\",syscall=\"nr:999\",arch=\"x86_64\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE seccomp_recorder_refusals_total")
                .count(),
            1
        );
        assert!(text.contains("seccomp_recorder_refusals_kernel_lost_total 3\n"));
    }
}
