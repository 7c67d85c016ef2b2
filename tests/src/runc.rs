//! Real runc containers for the runtime tests: a busybox-static rootfs with the static test
//! workloads, one OCI bundle per container, and the recorder attached the way the docs say
//! (`runc create`, record, `runc start`).
//!
//! Every container gets a 64-hex ID and the cgroup `/scr-test-<ID>`: the recorder finds it
//! by the ID the cgroup name carries, although each test keeps runc's state in a root of its
//! own (`runc --root`), so parallel tests never see each other's containers. A container
//! can instead be given a plain unique name in runc's default root (found by state.json).

use crate::{Scratch, bin, compile, stderr, workspace};
use serde_json::{Value, json};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The busybox applets the workloads use, linked to /bin/busybox in the rootfs.
const APPLETS: [&str; 11] = [
    "sh", "httpd", "wget", "seq", "usleep", "kill", "mkdir", "cat", "echo", "sleep", "true",
];

/// How long a container or a recording may take before the test gives up on it.
const LIMIT: Duration = Duration::from_secs(60);

/// A read-only rootfs shared by the bundles of one test, and the `runc spec` template.
pub struct Rootfs {
    pub dir: PathBuf,
    template: Value,
    state: PathBuf,
}

impl Rootfs {
    /// busybox, `/workload` (tests/workloads/runtime_workload.c, static) and `/suite.sh`.
    pub fn new(s: &Scratch) -> Rootfs {
        let dir = s.path("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", dir.join("bin/busybox"))
            .expect("/bin/busybox (Debian package busybox-static) is installed");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
        }
        let workload = compile("runtime_workload", &s.0, &["-static"]);
        std::fs::copy(&workload, dir.join("workload")).unwrap();
        std::fs::copy(
            workspace().join("tests/workloads/runtime_suite.sh"),
            dir.join("suite.sh"),
        )
        .unwrap();

        let spec = s.path("spec");
        std::fs::create_dir_all(&spec).unwrap();
        let o = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&spec)
            .output()
            .expect("runc (Debian package runc) is installed");
        assert!(o.status.success(), "runc spec: {}", stderr(&o));
        let template = serde_json::from_slice(&std::fs::read(spec.join("config.json")).unwrap())
            .expect("runc spec writes JSON");
        Rootfs {
            dir,
            template,
            state: s.path("runc-state"),
        }
    }
}

/// A 64-hex container ID whose first 12 digits (the recorder's label) are unique among the
/// containers of all tests running at once: our PID, then a counter.
fn unique_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) & 0xffff;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mix = t.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    format!(
        "{:08x}{n:04x}{:020x}{mix:032x}",
        std::process::id(),
        t & ((1 << 80) - 1)
    )
}

/// One container: its bundle (config.json only; the rootfs is shared) and its runc state.
/// Deleted (`runc delete -f`) and its cgroup removed when dropped.
pub struct Container {
    pub id: String,
    pub config: Value,
    bundle: PathBuf,
    /// runc's state root; None for runc's default (/run/runc), where the recorder looks.
    state: Option<PathBuf>,
    out: PathBuf,
    err: PathBuf,
    /// The runc binary: Debian's on PATH unless [`Self::runc_binary`] says otherwise.
    binary: PathBuf,
}

impl Container {
    /// A container running `args` in `rootfs`, unconfined by seccomp until [`Self::seccomp`].
    pub fn new(s: &Scratch, rootfs: &Rootfs, args: &[&str]) -> Container {
        let id = unique_id();
        let bundle = s.path(&format!("bundle-{}", &id[..12]));
        std::fs::create_dir_all(&bundle).unwrap();
        let mut config = rootfs.template.clone();
        config["root"] = json!({"path": rootfs.dir, "readonly": true});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["linux"]["cgroupsPath"] = json!(format!("/scr-test-{id}"));
        // The suite's web root; the rootfs itself stays read-only and shared.
        config["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                         "options": ["nosuid", "nodev", "mode=1777", "size=1m"]}),
        );
        Container {
            out: bundle.join("stdout"),
            err: bundle.join("stderr"),
            id,
            config,
            bundle,
            state: Some(rootfs.state.clone()),
            binary: PathBuf::from("runc"),
        }
    }

    /// Runs this container with another runc (e.g. 1.3.6 from `$SECCOMP_RECORDER_RUNC13`).
    pub fn runc_binary(&mut self, path: &Path) -> &mut Self {
        self.binary = path.to_path_buf();
        self
    }

    /// Names the container `scr-test-<tag>-<12 hex>` (not a 64-hex ID, so its cgroup name
    /// gives nothing away) and keeps its state in runc's default root, /run/runc: the
    /// recorder can only find it through runc's state.json there.
    pub fn named_in_default_root(&mut self, tag: &str) -> &mut Self {
        self.id = format!("scr-test-{tag}-{}", &self.id[..12]);
        self.config["linux"]["cgroupsPath"] = json!(format!("/scr-test-{}", self.id));
        self.state = None;
        self
    }

    /// Names the container `scr-test-<tag>-<12 hex>` and keeps its state in the test's own
    /// runc root (`runc --root`), which only `--engine-root` tells the recorder about.
    pub fn named_in_private_root(&mut self, tag: &str) -> &mut Self {
        self.id = format!("scr-test-{tag}-{}", &self.id[..12]);
        self.config["linux"]["cgroupsPath"] = json!(format!("/scr-test-{}", self.id));
        self
    }

    /// Names the container exactly `name` in the test's own runc root (`runc create
    /// name`), as users name theirs; its cgroup gets a name no other test uses and that
    /// carries no 64-hex ID.
    pub fn named(&mut self, name: &str) -> &mut Self {
        let cgroup = format!("/scr-test-{}-{name}", &self.id[..12]);
        self.config["linux"]["cgroupsPath"] = json!(cgroup);
        self.id = name.to_string();
        self
    }

    /// runc's state root for this container, when it is not runc's default.
    pub fn state_root(&self) -> Option<&Path> {
        self.state.as_deref()
    }

    pub fn env(&mut self, var: &str) -> &mut Self {
        self.config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!(var));
        self
    }

    pub fn seccomp(&mut self, profile: Value) -> &mut Self {
        self.config["linux"]["seccomp"] = profile;
        self
    }

    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        self.config["process"]["noNewPrivileges"] = json!(on);
        self
    }

    /// What `--container` takes and the profile is named by: the first 12 digits of a
    /// 64-hex ID, or the whole name.
    pub fn short(&self) -> &str {
        let hex = self.id.len() == 64 && self.id.bytes().all(|b| b.is_ascii_hexdigit());
        if hex { &self.id[..12] } else { &self.id }
    }

    /// The container's cgroup v2 directory (it exists while the container does).
    pub fn cgroup(&self) -> PathBuf {
        let path = self.config["linux"]["cgroupsPath"].as_str().unwrap();
        seccomp_recorder::cgroup::mount_point()
            .expect("cgroup v2 is mounted")
            .join(path.trim_start_matches('/'))
    }

    fn write_config(&self) {
        let text = serde_json::to_vec_pretty(&self.config).unwrap();
        std::fs::write(self.bundle.join("config.json"), text).unwrap();
    }

    fn runc(&self) -> Command {
        let mut c = Command::new("timeout");
        c.args(["--kill-after=5", &LIMIT.as_secs().to_string()]);
        c.arg(&self.binary);
        if let Some(root) = &self.state {
            c.arg("--root").arg(root);
        }
        c
    }

    /// `runc create`: the init process waits on the exec FIFO until [`Self::start`], before
    /// it installs the seccomp filter (with noNewPrivileges) and execs the workload.
    pub fn create(&self) {
        self.write_config();
        let status = self
            .runc()
            .args(["create", "--bundle"])
            .arg(&self.bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            // The container keeps runc's stdio: files, so nothing waits for a pipe's EOF.
            .stdout(File::create(&self.out).unwrap())
            .stderr(File::create(&self.err).unwrap())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "runc create: {}",
            std::fs::read_to_string(&self.err).unwrap_or_default()
        );
    }

    pub fn start(&self) {
        let o = self.runc().arg("start").arg(&self.id).output().unwrap();
        assert!(o.status.success(), "runc start: {}", stderr(&o));
    }

    /// What the created-then-started container printed; waits for it to stop.
    pub fn stdout(&self) -> String {
        let deadline = Instant::now() + LIMIT;
        while self.status() != "stopped" {
            assert!(
                Instant::now() < deadline,
                "container {} never stopped",
                self.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read_to_string(&self.out).unwrap()
    }

    fn status(&self) -> String {
        let o = self.runc().arg("state").arg(&self.id).output().unwrap();
        assert!(o.status.success(), "runc state: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// `runc run` in the foreground: the container's exit status and output.
    pub fn run(&self) -> Output {
        self.write_config();
        self.runc()
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self
            .runc()
            .args(["delete", "--force"])
            .arg(&self.id)
            .output();
        // A cgroup made ahead of the container (the --cgroup workflow) outlives a container
        // that never ran; runc removes it otherwise.
        let _ = std::fs::remove_dir(self.cgroup());
    }
}

/// A running `seccomp-recorder record`, attached (it printed "recording via").
pub struct Recording {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    seen: String,
}

impl Recording {
    pub fn start(args: &[&str]) -> Recording {
        let mut child = Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start seccomp-recorder");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Recording {
            child,
            lines,
            reader: Some(reader),
            seen: String::new(),
        };
        let deadline = Instant::now() + LIMIT;
        loop {
            match r
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let attached = line.contains("recording via");
                    r.seen.push_str(&line);
                    r.seen.push('\n');
                    if attached {
                        return r;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = r.child.wait().unwrap();
                    panic!(
                        "the recorder exited ({status}) before attaching:\n{}",
                        r.seen
                    );
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("the recorder did not attach within {LIMIT:?}:\n{}", r.seen)
                }
            }
        }
    }

    /// Waits for the recorder to end on its own (its targets emptied): status and stderr.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the recorder did not stop within {LIMIT:?} after its targets exited:\n{}",
                    self.collect()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = self.collect();
        (status, text)
    }

    fn collect(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        for line in self.lines.try_iter() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        self.seen.clone()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Records `containers` the documented way: each is created (its init parked before the
/// filter and the execve), the recorder attaches with `args` + one `--container` per
/// container, then each is started; the recording ends when all of them have exited.
/// Returns the recorder's stderr after asserting it succeeded.
pub fn record_created(args: &[&str], containers: &[&Container]) -> String {
    for c in containers {
        c.create();
    }
    let mut all: Vec<&str> = args.to_vec();
    for c in containers {
        all.extend(["--container", c.short()]);
    }
    let rec = Recording::start(&all);
    for c in containers {
        c.start();
    }
    let (status, err) = rec.finish();
    assert!(status.success(), "record failed ({status}):\n{err}");
    err
}

/// runc 1.2 or later (1.3.6 on the project's machines), which passes a profile's `flags`
/// to the kernel: `$SECCOMP_RECORDER_RUNC13`. Debian 12's runc 1.1.5 refuses them.
pub fn runc13() -> PathBuf {
    let path = std::env::var_os("SECCOMP_RECORDER_RUNC13").map(PathBuf::from);
    let path = path.unwrap_or_else(|| {
        panic!(
            "SECCOMP_RECORDER_RUNC13 is not set: it names a runc 1.2 or later binary (runc \
             1.3.6). `cargo xtask test` sets it where a shared/tools/runc/runc.xz sits beside \
             the checkout; elsewhere build runc >= 1.2 and set the variable"
        )
    });
    let o = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("SECCOMP_RECORDER_RUNC13={}: {e}", path.display()));
    let version = String::from_utf8_lossy(&o.stdout);
    eprintln!(
        "runc for this test: {} ({})",
        path.display(),
        version.lines().next().unwrap_or("?")
    );
    path
}
