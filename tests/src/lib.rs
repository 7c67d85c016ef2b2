//! Shared harness for the end-to-end tests: the binary under test, root checks, scratch
//! directories and C workloads compiled on the fly.
//!
//! Tests that need root or the kernel fail loudly without them; they never skip.

pub mod agent;
pub mod auditd;
pub mod cri;
pub mod crio;
pub mod daemonset;
pub mod engines;
pub mod image;
pub mod logs;
pub mod procs;
pub mod prometheus;
pub mod registry;
pub mod runc;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `seccomp-recorder` binary: `$SECCOMP_RECORDER_BIN` (set by `cargo xtask test`),
/// else the workspace's debug build.
pub fn bin() -> PathBuf {
    let path = std::env::var_os("SECCOMP_RECORDER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/debug/seccomp-recorder"));
    assert!(
        path.exists(),
        "{} is missing: run the suite with `cargo xtask test`, which builds it",
        path.display()
    );
    path
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `tests/fixtures/<path>`: a file written by hand (or by a tool we did not write), never by
/// the code under test.
pub fn fixture(path: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(path)
}

/// A TCP port nothing listens on at `host` right now, for a service a test starts.
pub fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` until it holds; panics naming `what` once `timeout` has passed.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The arguments of the first `seccomp-recorder` command in `doc` (a path from the
/// workspace) that contains `containing`: a documented example that needs more than one
/// process at a time, run by the test that sets them up.
pub fn doc_command(doc: &str, containing: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
    let line = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("seccomp-recorder "))
        .find(|l| l.contains(containing))
        .unwrap_or_else(|| panic!("{doc} shows no `seccomp-recorder ... {containing}` example"));
    line.split_whitespace().map(String::from).collect()
}

/// Panics unless we are root: these tests load eBPF and create cgroups.
pub fn require_root() {
    // SAFETY: trivial libc call.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (CAP_BPF, CAP_PERFMON, cgroup v2): run it as root"
    );
}

/// A fresh scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "scr-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `tests/workloads/<name>.c` into `dir` with extra gcc flags.
pub fn compile(name: &str, dir: &Path, flags: &[&str]) -> PathBuf {
    let src = workspace()
        .join("tests/workloads")
        .join(format!("{name}.c"));
    let out = dir.join(name);
    let o = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .args(flags)
        .output()
        .expect("gcc is installed (cargo xtask setup installs it)");
    assert!(
        o.status.success(),
        "gcc {name}.c failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Runs the recorder with `args`.
pub fn recorder(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("cannot start seccomp-recorder")
}

/// `record -o OUT -- sh -c SCRIPT`: a shell script to record, to run with `.output()`.
pub fn record_sh(out: &Path, script: &str) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "record",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    c
}

/// `record --cgroup CGROUP --duration DURATION -o OUT`: a cgroup recorded for a while.
pub fn record_cgroup(cgroup: &Path, duration: &str, out: &Path) -> Output {
    recorder(&[
        "record",
        "-o",
        out.to_str().unwrap(),
        "--cgroup",
        cgroup.to_str().unwrap(),
        "--duration",
        duration,
    ])
}

/// The profile at `path`, parsed.
pub fn profile(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no profile at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The names a profile allows (all ALLOW rules, all arches).
pub fn allowed(profile: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|r| r["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The OCI digest (`sha256:<hex>`) of `bytes`, by coreutils rather than the recorder's own hashing.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The bare hex SHA-256 of `bytes`, as OCI layouts name their blob files.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum (coreutils)");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}
