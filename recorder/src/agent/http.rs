//! `--listen`: `/healthz` for the kubelet's probes and `/metrics` for Prometheus, served
//! by a plain thread (two tiny GET endpoints need no HTTP framework).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    pub errors: AtomicU64,
    /// `seccomp_recorder_refusals_total` by namespace, workload, container, syscall, arch
    /// (bounded by the watcher's own cap on keys).
    pub refusals: Mutex<BTreeMap<[String; 5], u64>>,
    /// Refusals no container could be named for, by comm, exe, syscall, arch.
    pub refusals_unattributed: Mutex<BTreeMap<[String; 4], u64>>,
    /// Audit records the kernel lost since the watch started; `None` when it cannot say.
    pub refusals_lost: Mutex<Option<u64>>,
    /// Why the agent is not healthy (the CRI is unreachable, ...); `None` when it is.
    pub unhealthy: Mutex<Option<String>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_refusal(&self, labels: [String; 5]) {
        if let Ok(mut m) = self.refusals.lock() {
            *m.entry(labels).or_default() += 1;
        }
    }

    pub fn count_unattributed(&self, labels: [String; 4]) {
        if let Ok(mut m) = self.refusals_unattributed.lock() {
            *m.entry(labels).or_default() += 1;
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
        const UNATTRIBUTED: [&str; 4] = ["comm", "exe", "syscall", "arch"];
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
            out.push_str(&format!(
                "# HELP seccomp_recorder_refusals_kernel_lost_total Audit records the kernel lost since the watch started.\n\
                 # TYPE seccomp_recorder_refusals_kernel_lost_total counter\n\
                 seccomp_recorder_refusals_kernel_lost_total {lost}\n"
            ));
        }
    }

    pub fn set_unhealthy(&self, why: Option<String>) {
        if let Ok(mut u) = self.unhealthy.lock() {
            *u = why;
        }
    }

    fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 7] = [
            (
                "pods_recorded",
                "counter",
                "Pods selected for recording",
                &self.pods_recorded,
            ),
            (
                "containers_recorded",
                "counter",
                "Containers recorded",
                &self.containers_recorded,
            ),
            (
                "containers_not_from_birth",
                "counter",
                "Containers already running when the agent started (recorded from then on only)",
                &self.containers_not_from_birth,
            ),
            (
                "slow_creates",
                "counter",
                "Containers the runtime had not named 5 s after their cgroup was made (recorded once it does)",
                &self.slow_creates,
            ),
            (
                "profiles_written",
                "counter",
                "Profile files written (each publisher counts)",
                &self.profiles_written,
            ),
            (
                "profiles_pushed",
                "counter",
                "Profiles pushed to the registry",
                &self.profiles_pushed,
            ),
            ("errors", "counter", "Errors", &self.errors),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            let name = format!("seccomp_recorder_{name}_total");
            out.push_str(&format!(
                "# HELP {name} {help}.\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        self.render_refusals(&mut out);
        let up = u8::from(self.health().is_ok());
        out.push_str(&format!(
            "# HELP seccomp_recorder_up Whether the agent is recording (CRI reachable, eBPF attached).\n\
             # TYPE seccomp_recorder_up gauge\nseccomp_recorder_up {up}\n"
        ));
        out
    }

    fn health(&self) -> Result<(), String> {
        match self.unhealthy.lock().map(|u| u.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(why),
            Err(_) => Err("internal error".into()),
        }
    }
}

/// One labelled counter family; nothing when it has no sample yet.
fn series<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[&str],
    samples: impl Iterator<Item = (&'a [String], u64)>,
) {
    let name = format!("seccomp_recorder_{name}");
    let mut head = Some(format!("# HELP {name} {help}.\n# TYPE {name} counter\n"));
    for (values, n) in samples {
        out.push_str(&head.take().unwrap_or_default());
        let pairs: Vec<String> = labels
            .iter()
            .zip(values)
            .map(|(l, v)| format!("{l}=\"{}\"", escape(v)))
            .collect();
        out.push_str(&format!("{name}{{{}}} {n}\n", pairs.join(",")));
    }
}

/// A label value as the Prometheus text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds `addr` and serves the endpoints on a thread until the process exits.
pub fn serve(addr: SocketAddr, metrics: std::sync::Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Err(e) = answer(stream, &metrics) {
                log::debug!("--listen: {e}");
            }
        }
    });
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers are read and ignored, so that the client sees the whole request consumed.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body, kind) = match path {
        "/healthz" => match metrics.health() {
            Ok(()) => ("200 OK", "ok\n".to_string(), "text/plain"),
            Err(why) => ("503 Service Unavailable", format!("{why}\n"), "text/plain"),
        },
        "/metrics" => (
            "200 OK",
            metrics.render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        _ => (
            "404 Not Found",
            "try /healthz or /metrics\n".to_string(),
            "text/plain",
        ),
    };
    let mut w = &stream;
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_series_with_escaped_labels_only_once_counted() {
        let m = Metrics::default();
        assert!(!m.render().contains("refusals"));
        let labels = ["ns", "web", "app", "getpriority", "x86_64"].map(String::from);
        m.count_refusal(labels.clone());
        m.count_refusal(labels);
        m.count_unattributed(["a\"b", "/x\\y", "nr:999", "x86_64"].map(String::from));
        m.set_refusals_lost(Some(3));
        let text = m.render();
        assert!(text.contains(
            "seccomp_recorder_refusals_total{namespace=\"ns\",workload=\"web\",container=\"app\",\
             syscall=\"getpriority\",arch=\"x86_64\"} 2\n"
        ), "{text}");
        assert!(
            text.contains(
                "seccomp_recorder_refusals_unattributed_total{comm=\"a\\\"b\",exe=\"/x\\\\y\",\
             syscall=\"nr:999\",arch=\"x86_64\"} 1\n"
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
