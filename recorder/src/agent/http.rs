//! `--listen`: `/healthz` for the kubelet's probes and `/metrics` for Prometheus, served
//! by a plain thread (two tiny GET endpoints need no HTTP framework).

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
    /// Why the agent is not healthy (the CRI is unreachable, ...); `None` when it is.
    pub unhealthy: Mutex<Option<String>>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
