//! `seccomp-recorder agent` as the agent tests run it: a child whose output is collected as
//! it comes, and the requests they make of its --listen address.

use crate::cri::{CriRuntime, Pod};
use crate::{allowed, bin, free_port, profile};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running agent; its stderr and stdout are collected as they come.
pub struct Agent {
    /// Behind a lock so that waiting, which notices an early exit, needs no `&mut`.
    child: Mutex<Child>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

pub fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Agent {
    /// Starts the agent and waits until it records (or, with `until`, that line).
    pub fn start(args: &[&str], until: &str) -> Agent {
        let mut child = Command::new(bin())
            .arg("agent")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start seccomp-recorder agent");
        let stderr = collect(child.stderr.take().unwrap());
        let stdout = collect(child.stdout.take().unwrap());
        let mut a = Agent {
            child: Mutex::new(child),
            stderr,
            stdout,
        };
        a.wait_log(until, Duration::from_secs(60));
        a
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_line(&[needle], timeout)
    }

    /// Waits for a line holding every one of `needles`.
    pub fn wait_line(&mut self, needles: &[&str], timeout: Duration) -> String {
        let needle = needles.join("' and '");
        self.wait_for(&format!("the line '{needle}'"), timeout, |a| {
            let lines = a.stderr.lock().unwrap();
            lines
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .cloned()
        })
    }

    pub fn wait_stdout(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for(&format!("'{needle}' on stdout"), timeout, |a| {
            let lines = a.stdout.lock().unwrap();
            lines.iter().find(|l| l.contains(needle)).cloned()
        })
    }

    /// Polls `found` until it gives a value; panics with `what` and the agent's log once
    /// `timeout` has passed or the agent has exited.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut found: impl FnMut(&Agent) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = found(self) {
                return v;
            }
            if let Ok(Some(st)) = self.child.lock().unwrap().try_wait() {
                // What it wrote last may still be in the reader threads.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(v) = found(self) {
                    return v;
                }
                panic!("agent exited ({st}) before {what}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; the agent's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for a sample starting with `needle` in the /metrics it serves at `addr`.
    pub fn wait_metric(&self, addr: &str, needle: &str, timeout: Duration) -> String {
        self.wait_for(&format!("{needle} in /metrics"), timeout, |_| {
            let (_, body) = get(addr, "/metrics");
            body.lines()
                .find(|l| l.starts_with(needle))
                .map(String::from)
        })
    }

    /// Its process id, for figures read from /proc.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    pub fn running(&mut self) -> bool {
        self.child.get_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// SIGTERM, then its exit status (it must stop within 15 s).
    pub fn terminate(self) -> (ExitStatus, String) {
        let mut child = self.child.lock().unwrap();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return (st, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("agent did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A namespace no other test (or earlier run) uses.
pub fn namespace(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// A free loopback address for --listen.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port("127.0.0.1"))
}

/// GET `path` from the agent's --listen address: status line and body.
pub fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// A sample's value in Prometheus text format.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Waits until the profile at `path` allows every one of `calls`.
pub fn wait_calls(path: &Path, calls: &[&str], agent: &Agent) -> Vec<String> {
    let what = format!("{} allowing all of {calls:?}", path.display());
    agent.wait_for(&what, Duration::from_secs(30), |_| {
        let names = path.exists().then(|| allowed(&profile(path)))?;
        calls
            .iter()
            .all(|c| names.iter().any(|n| n == c))
            .then_some(names)
    })
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Localhost profiles into `dir`, written only when a container ends or the agent stops.
pub fn localhost_args(dir: &Path) -> Vec<String> {
    vec![
        "--localhost-dir".into(),
        dir.display().to_string(),
        "--flush-interval".into(),
        "1h".into(),
    ]
}

/// Starts an agent on `rt` with `extra` arguments and waits until it records.
pub fn start_agent(rt: &CriRuntime, extra: &[String]) -> Agent {
    let mut args = vec!["--runtime-endpoint".to_string(), rt.endpoint()];
    args.extend_from_slice(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Agent::start(&args, "recording via")
}

/// Creates container "app" of `pod` running `command`, starts it, and waits until its log
/// says `needle`; its ID.
pub fn start_logging(rt: &CriRuntime, pod: &Pod, command: &[&str], needle: &str) -> String {
    let cri = rt.client();
    let id = cri.create(pod, "app", command, None);
    cri.start(&id);
    wait_container_log(rt, &pod.uid, "app", needle);
    id
}

/// Waits for a line in a running container's log.
pub fn wait_container_log(rt: &CriRuntime, pod_uid: &str, name: &str, needle: &str) {
    let path = rt
        .dir
        .join("pod-logs")
        .join(pod_uid)
        .join(format!("{name}.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "{} never said {needle}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
