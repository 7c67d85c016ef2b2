//! Real container engines for the tests: dockerd, containerd and podman, each with its own
//! private state directories and unix socket (never the host's), started once per test
//! binary and stopped by PID when it exits; plus a static test image imported locally.
//!
//! Nothing is pulled: the image is a rootfs tarball of busybox-static and the
//! `engine_probe` workload.

use crate::{Scratch, compile, sha256_hex, wait_until};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The image every engine imports.
pub const IMAGE: &str = "localhost/sctest:latest";
/// containerd namespace the tests use.
pub const CTR_NS: &str = "sctest";
/// Podman asks for rlimits root lacks here (no CAP_SYS_RESOURCE); these fit.
pub const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
];

/// Daemons and directories to clean up when the test binary exits.
static CLEANUP: Mutex<Vec<(Option<u32>, PathBuf)>> = Mutex::new(Vec::new());
/// Parent cgroups (`/docker`, `/libpod_parent`, `/<namespace>`) and host run directories
/// the engines made for us.
static CGROUPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Pod cgroups this test binary made, as (parent, name prefix) under each hierarchy's
/// mount; whatever still runs in them is killed at exit (see [`kill_pods_at_exit`]).
static PODS: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

extern "C" fn stop_all() {
    if let Ok(list) = PODS.lock() {
        for (parent, prefix) in list.iter() {
            kill_pods(parent, prefix);
        }
    }
    if let Ok(mut list) = CLEANUP.lock() {
        for (pid, dir) in list.drain(..).rev() {
            if let Some(pid) = pid {
                stop_pid(pid);
            }
            unmount_under(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if let Ok(mut list) = CGROUPS.lock() {
        for dir in list.drain(..) {
            remove_empty_dirs(&dir);
        }
    }
    reap_orphans();
}

/// Kills, at exit, every process left in the cgroups named `<prefix>...` under `parent` in
/// each cgroup hierarchy. A test that fails leaves its pods running (conmon and the shims
/// daemonize, and a stopped runtime does not stop them); a container that keeps working
/// (the map-full test's makes a cgroup every 20 ms) would load the machine and churn
/// cgroups under every test after it.
pub(crate) fn kill_pods_at_exit(parent: &str, prefix: &str) {
    let mut list = PODS.lock().unwrap();
    let entry = (PathBuf::from(parent), prefix.to_string());
    if !list.contains(&entry) {
        list.push(entry);
    }
}

fn kill_pods(parent: &Path, prefix: &str) {
    for mount in cgroup_mounts() {
        let Ok(entries) = std::fs::read_dir(mount.join(parent)) else {
            continue;
        };
        for pod in entries.filter_map(|e| e.ok()) {
            if pod.file_name().to_string_lossy().starts_with(prefix) {
                kill_in(&pod.path());
            }
        }
    }
}

/// Where each cgroup hierarchy (v1 and v2) is mounted.
fn cgroup_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
        .collect()
}

/// SIGKILL to every process in `cgroup` and the cgroups below it.
fn kill_in(cgroup: &Path) {
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // SAFETY: a signal to a process of a pod this test binary made.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let Ok(entries) = std::fs::read_dir(cgroup) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            kill_in(&e.path());
        }
    }
}

/// Shims and conmon daemonize; as a child subreaper we get them back when they exit, and
/// reap them here instead of leaving zombies to an init that may not.
fn reap_orphans() {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        // SAFETY: reaping any exited child of ours.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        match r {
            -1 => return,
            0 => std::thread::sleep(Duration::from_millis(50)),
            _ => {}
        }
    }
}

/// Removes a directory and the empty directories below it, deepest first; anything with a
/// file in it stays (for cgroups: anything with processes).
fn remove_empty_dirs(dir: &Path) {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if let Ok(entries) = std::fs::read_dir(&all[i]) {
            all.extend(
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
        i += 1;
    }
    for d in all.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// The cgroup hierarchies' `<name>` directories that do not exist yet, so that the ones an
/// engine creates for our containers are removed again (a host engine's stay).
struct CgroupParents(Vec<PathBuf>);

impl CgroupParents {
    fn note(name: &str) -> CgroupParents {
        CgroupParents(
            cgroup_mounts()
                .into_iter()
                .map(|m| m.join(name))
                .filter(|p| !p.exists())
                .collect(),
        )
    }

    fn register(self) {
        CGROUPS.lock().unwrap().extend(self.0);
    }
}

/// A parent cgroup a test has an engine create (`--cgroup-parent`, `ctr run --cgroup`):
/// removed at exit if it did not exist before.
pub fn remove_cgroup_parent_at_exit(name: &str) {
    CgroupParents::note(name).register();
}

/// Directories the engines create outside their state whatever they are told (dockerd's
/// plugin directory, the shims' socket and fifo directories, Podman's network run
/// directory); removed at exit when they did not exist before and are empty.
pub(crate) fn note_host_dirs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let new = ["/run/docker", "/run/containerd", "/run/containers"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists());
        CGROUPS.lock().unwrap().extend(new);
    });
}

pub(crate) fn register(pid: Option<u32>, dir: &Path) {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: registers a plain extern "C" function; prctl on ourselves.
        unsafe {
            libc::atexit(stop_all);
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    });
    CLEANUP.lock().unwrap().push((pid, dir.to_path_buf()));
}

/// SIGTERM, then SIGKILL after 15 s; reaps the child.
fn stop_pid(pid: u32) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG);
            if r != 0 {
                break;
            }
            if Instant::now() > deadline {
                libc::kill(pid as i32, libc::SIGKILL);
                libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Detaches whatever the engines left mounted under `dir` (overlay, netns, shm), deepest
/// first, so that removing it cannot reach into a mounted filesystem.
pub fn unmount_under(dir: &Path) {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: umount2 of a path under our own scratch directory.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Starts containerd with its root, state and sockets all under `dir`, logging to
/// `dir/containerd.log`; `top` holds top-level config keys, `tables` more config tables.
pub(crate) fn spawn_containerd(dir: &Path, top: &str, tables: &str) {
    let config = format!(
        "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n{top}\
         [grpc]\n  address = \"{d}/containerd.sock\"\n\
         [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
         [debug]\n  address = \"{d}/debug.sock\"\n\
         [metrics]\n  address = \"\"\n{tables}",
        d = dir.display()
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
    // Reaped by PID in stop_all() when the test binary exits.
    #[allow(clippy::zombie_processes)]
    let child = Command::new("containerd")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("containerd is installed");
    register(Some(child.id()), dir);
}

/// A directory for one engine's state, kept until the test binary exits.
pub(crate) fn state_dir(tag: &str) -> PathBuf {
    let s = Scratch::new(tag);
    let dir = s.0.clone();
    std::mem::forget(s);
    dir
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The rootfs tarball of the test image: busybox-static and the static probe, built once.
pub fn rootfs_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = state_dir("image");
        register(None, &dir);
        let root = dir.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("/bin/busybox (busybox-static) is installed");
        for a in ["sh", "sleep", "true", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
        // A vmtest guest gets it prebuilt: compiling under emulation takes long.
        let prebuilt = std::env::var_os("SECCOMP_RECORDER_WORKLOADS")
            .map(|d| PathBuf::from(d).join("engine_probe"))
            .filter(|p| p.exists());
        match prebuilt {
            Some(probe) => std::fs::copy(&probe, root.join("bin/probe")).map(drop),
            None => std::fs::rename(
                compile("engine_probe", &dir, &["-static"]),
                root.join("bin/probe"),
            ),
        }
        .unwrap();
        let tar = dir.join("rootfs.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&root)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        );
        tar
    })
}

/// dockerd with its own data root, exec root, pidfile and socket; no iptables, no bridge.
/// It runs its containers through the tests' own containerd: left alone it would pick up a
/// system containerd at /run/containerd, which installing docker.io starts on systemd hosts.
pub struct Docker {
    pub dir: PathBuf,
    pub sock: PathBuf,
}

impl Docker {
    pub fn get() -> &'static Docker {
        static D: OnceLock<Docker> = OnceLock::new();
        D.get_or_init(Docker::start)
    }

    fn start() -> Docker {
        let dir = state_dir("dockerd");
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let containerd = Containerd::get();
        note_host_dirs();
        let cgroups = CgroupParents::note("docker");
        // Reaped by PID in stop_all() when the test binary exits.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--containerd")
            .arg(&containerd.sock)
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args([
                // The same layout everywhere: systemd hosts with cgroup v2 would get scopes.
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-masq=false",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("dockerd is installed (docker.io)");
        register(Some(child.id()), &dir);
        cgroups.register();
        let d = Docker { dir, sock };
        wait_until("dockerd", Duration::from_secs(30), || {
            d.cli()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        run_ok(
            d.cli()
                .args(["import", "-c", r#"CMD ["/bin/sh"]"#])
                .arg(rootfs_tar())
                .arg(IMAGE),
        );
        d
    }

    /// Debian's CLI (another one may come first in PATH), on our socket.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H").arg(format!("unix://{}", self.sock.display()));
        c
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }
}

/// containerd with its own config, root, state and socket (CRI plugin off); driven by ctr.
pub struct Containerd {
    pub dir: PathBuf,
    pub sock: PathBuf,
}

impl Containerd {
    pub fn get() -> &'static Containerd {
        static C: OnceLock<Containerd> = OnceLock::new();
        C.get_or_init(Containerd::start)
    }

    fn start() -> Containerd {
        let dir = state_dir("containerd");
        let sock = dir.join("containerd.sock");
        note_host_dirs();
        let cgroups = CgroupParents::note(CTR_NS);
        spawn_containerd(
            &dir,
            "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
            "",
        );
        cgroups.register();
        let c = Containerd { dir, sock };
        wait_until("containerd", Duration::from_secs(30), || {
            c.ctr()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let archive = oci_archive(&c.dir);
        run_ok(
            c.ctr()
                .args(["image", "import", "--index-name", IMAGE])
                .arg(&archive),
        );
        c
    }

    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(&self.sock).args(["-n", CTR_NS]);
        c
    }

    /// Where the shims keep their bundles: what `--engine-root` needs.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
}

/// An OCI image layout archive of the test rootfs, written by hand so that containerd
/// needs no other engine to get its image.
fn oci_archive(dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let layer = std::fs::read(rootfs_tar()).unwrap();
    let layer_digest = sha256_hex(&layer);
    std::fs::write(blobs.join(&layer_digest), &layer).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    })
    .to_string();
    let config_digest = sha256_hex(config.as_bytes());
    std::fs::write(blobs.join(&config_digest), &config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_digest}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_digest}"), "size": layer.len()}],
    })
    .to_string();
    let manifest_digest = sha256_hex(manifest.as_bytes());
    std::fs::write(blobs.join(&manifest_digest), &manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = dir.join("image-oci.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// Podman (daemonless) with its own --root/--runroot/--tmpdir, runc, cgroupfs, vfs storage
/// (no overlay mounts to leave behind).
pub struct Podman {
    pub dir: PathBuf,
}

impl Podman {
    pub fn get() -> &'static Podman {
        static P: OnceLock<Podman> = OnceLock::new();
        P.get_or_init(|| {
            let dir = state_dir("podman");
            register(None, &dir);
            CgroupParents::note("libpod_parent").register();
            note_host_dirs();
            // Passed through the environment: nothing host-wide changes.
            std::fs::write(
                dir.join("containers.conf"),
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n",
            )
            .unwrap();
            let p = Podman { dir };
            run_ok(p.cli().arg("import").arg(rootfs_tar()).arg(IMAGE));
            p
        })
    }

    /// The global flags every podman command gets.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--root".into(),
            self.root().display().to_string(),
            "--runroot".into(),
            self.dir.join("runroot").display().to_string(),
            "--tmpdir".into(),
            self.dir.join("tmp").display().to_string(),
            // Otherwise /etc/containers/networks.
            "--network-config-dir".into(),
            self.dir.join("networks").display().to_string(),
        ];
        a.extend(
            [
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
            ]
            .map(String::from),
        );
        a
    }

    /// The containers.conf the tests' podman reads (through `CONTAINERS_CONF`).
    pub fn conf(&self) -> PathBuf {
        self.dir.join("containers.conf")
    }

    pub fn cli(&self) -> Command {
        let mut c = Command::new("podman");
        // The host's containers.conf must not change what the tests run.
        c.args(self.args()).env("CONTAINERS_CONF", self.conf());
        c
    }

    /// The storage root: what `--engine-root` needs.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
}

/// A running `seccomp-recorder record ...` whose stderr is collected.
pub struct Recorder {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Recorder {
    /// Starts the recorder and waits until it has attached.
    pub fn start(args: &[&str]) -> Recorder {
        let mut child = Command::new(crate::bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start seccomp-recorder");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut r = Recorder {
            child,
            lines: rx,
            log: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match r.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let done = l.contains("recording via");
                    r.log.push(l);
                    if done {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = r.child.try_wait() {
                        panic!("recorder exited early ({st}): {}", r.log.join("\n"));
                    }
                    assert!(
                        Instant::now() < deadline,
                        "recorder did not attach: {}",
                        r.log.join("\n")
                    );
                }
                Err(_) => panic!("recorder exited early: {}", r.log.join("\n")),
            }
        }
        r
    }

    /// Waits for the recorder to exit by itself; its whole stderr.
    pub fn finish(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("recorder did not stop: {}", self.log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.log.push(l);
        }
        (status, self.log.join("\n"))
    }
}

/// The path of a Debian-installed engine profile, with a message naming its package.
pub fn engine_profile(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(p.exists(), "{path} is missing: install {package}");
    p
}
