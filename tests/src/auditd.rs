//! Debian's auditd for the tests that need one running: started in the foreground with a
//! config of its own (its log in the test's scratch directory), stopped by its PID.

use crate::Scratch;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `auditctl -s`'s value of `key`.
pub fn audit_status(key: &str) -> String {
    let out = Command::new("auditctl")
        .arg("-s")
        .output()
        .expect("auditctl (Debian's auditd package; cargo xtask setup installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in auditctl -s: {text}"))
        .to_string()
}

/// Debian's auditd, started in the foreground with a config of its own, stopped (by PID)
/// when dropped; the kernel's `enabled` flag it sets is put back.
pub struct Auditd {
    pub child: Child,
    enabled: String,
    /// Where it writes the records (RAW format).
    pub log: PathBuf,
}

impl Auditd {
    pub fn start(s: &Scratch) -> Auditd {
        use std::os::unix::fs::PermissionsExt;
        let enabled = audit_status("enabled");
        let dir = s.path("audit");
        std::fs::create_dir_all(dir.join("plugins.d")).unwrap();
        let log = dir.join("audit.log");
        let conf = dir.join("auditd.conf");
        std::fs::write(
            &conf,
            format!(
                "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_format = RAW\n\
                 flush = INCREMENTAL_ASYNC\nfreq = 1\nmax_log_file = 8\n\
                 max_log_file_action = IGNORE\nspace_left = 2\nspace_left_action = IGNORE\n\
                 admin_space_left = 1\nadmin_space_left_action = IGNORE\n\
                 disk_full_action = IGNORE\ndisk_error_action = IGNORE\nplugin_dir = {}\n\
                 q_depth = 2000\noverflow_action = IGNORE\n",
                log.display(),
                dir.join("plugins.d").display()
            ),
        )
        .unwrap();
        // auditd refuses a config others may write.
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
        let child = Command::new("auditd")
            .arg("-n")
            .arg("-c")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("auditd (Debian's auditd package; cargo xtask setup installs it)");
        let a = Auditd {
            child,
            enabled,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while audit_status("pid") != a.child.id().to_string() {
            assert!(
                Instant::now() < deadline,
                "auditd (pid {}) did not register with the kernel in 10 s",
                a.child.id()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        a
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = Command::new("auditctl")
            .args(["-e", self.enabled.as_str()])
            .output();
    }
}
