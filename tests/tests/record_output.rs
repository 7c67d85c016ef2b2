//! Where `record` writes its profile, on the real kernel: a recording is never lost to an
//! output problem, and growing a profile never changes what it refuses with. Needs root
//! (eBPF, cgroups, tmpfs mounts); fails (never skips) without it.

use seccomp_recorder_tests::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A tmpfs mounted by the test (read-only, or tiny to fill up); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: PathBuf, options: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount (util-linux) is installed");
        assert!(o.status.success(), "mount tmpfs: {}", stderr(&o));
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A cgroup made by the test, empty, so that a second target exists; removed on drop.
struct EmptyCgroup(PathBuf);

impl EmptyCgroup {
    fn new(tag: &str) -> EmptyCgroup {
        let mount = seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted");
        let path = mount.join(format!("scr-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).unwrap();
        EmptyCgroup(path)
    }
}

impl Drop for EmptyCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// `record ARGS -- touch RAN` must fail with `expect` in its error, without running the
/// command and without leaving `out` behind.
fn refused_before_running(s: &Scratch, args: &[&str], out: &Path, expect: &str) {
    let ran = s.path("ran");
    let mut all = vec!["record"];
    all.extend(args);
    all.extend(["--", "touch", ran.to_str().unwrap()]);
    // A password in the environment would make `--username` complete.
    let o = Command::new(bin())
        .args(&all)
        .env_remove("REGISTRY_PASSWORD")
        .output()
        .expect("cannot start seccomp-recorder");
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?} should be refused: {err}"
    );
    assert!(
        err.contains(expect),
        "{args:?}: expected '{expect}' in: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !ran.exists(),
        "{args:?}: the command ran although the profile was doomed"
    );
    assert!(!out.exists(), "{args:?} left {}", out.display());
}

#[test]
fn output_problems_are_refused_before_the_command_runs() {
    require_root();
    let s = Scratch::new("out-refused");
    let ro = Tmpfs::mount(s.path("ro"), "ro,size=1m");
    let in_ro = ro.0.join("p.json");
    refused_before_running(
        &s,
        &["-o", in_ro.to_str().unwrap()],
        &in_ro,
        "cannot create files in",
    );
    let dir = s.path("dir");
    std::fs::create_dir(&dir).unwrap();
    refused_before_running(
        &s,
        &["-o", dir.to_str().unwrap()],
        &dir.join("seccomp.json"),
        "is a directory",
    );
    let template = s.path("template.json");
    std::fs::write(
        &template,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],
            "action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
    )
    .unwrap();
    let before = std::fs::read(&template).unwrap();
    refused_before_running(
        &s,
        &["--append", template.to_str().unwrap()],
        &s.path("none"),
        "template",
    );
    assert_eq!(std::fs::read(&template).unwrap(), before);
    refused_before_running(
        &s,
        &["--append", template.to_str().unwrap(), "-o", "x.json"],
        &s.path("x.json"),
        "does not combine with -o",
    );
}

/// A push that cannot work is known before the recording: the command must not run only to
/// find out afterwards.
#[test]
fn a_push_that_cannot_work_is_refused_before_the_command_runs() {
    require_root();
    let s = Scratch::new("out-push-refused");
    let out = s.path("p.json");
    let o = out.to_str().unwrap();
    refused_before_running(
        &s,
        &["-o", o, "--push", "Not/A Reference!"],
        &out,
        "is not a usable reference",
    );
    refused_before_running(
        &s,
        &[
            "-o",
            o,
            "--push",
            "127.0.0.1:5000/team/app:v1",
            "--username",
            "ci",
        ],
        &out,
        "--username needs a password",
    );
    let auth = s.path("auth.json");
    std::fs::write(&auth, r#"{"auths":{"other.example":{"auth":"Ym9iOnB3"}}}"#).unwrap();
    refused_before_running(
        &s,
        &[
            "-o",
            o,
            "--push",
            "127.0.0.1:5000/team/app:v1",
            "--authfile",
            auth.to_str().unwrap(),
        ],
        &out,
        "no entry for 127.0.0.1:5000",
    );
}

#[test]
fn several_targets_need_an_output_directory() {
    require_root();
    let s = Scratch::new("out-several");
    let cg = EmptyCgroup::new("out-several");
    let cg = cg.0.to_str().unwrap();
    let file = s.path("existing");
    std::fs::write(&file, "keep").unwrap();
    let json = s.path("multi.json");
    for (out, why) in [
        (json.to_str().unwrap(), "ending in .json"),
        ("-", "stdout"),
        (file.to_str().unwrap(), "existing file"),
    ] {
        refused_before_running(&s, &["-o", out, "--cgroup", cg], &s.path("multi.json"), why);
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    assert!(
        !Path::new("-").exists(),
        "a directory named '-' was made in the working directory"
    );
}

#[test]
fn a_full_disk_after_the_run_saves_the_profile_elsewhere_and_keeps_the_exit_status() {
    require_root();
    let s = Scratch::new("out-full");
    let tiny = Tmpfs::mount(s.path("tiny"), "size=64k");
    let out = tiny.0.join("p.json");
    let spare_dir = s.path("tmp");
    std::fs::create_dir(&spare_dir).unwrap();
    // The command fills the disk the profile goes to, after the up-front checks passed.
    let fill = format!("cat /dev/zero > {}/fill; exit 3", tiny.0.display());
    let o = record_sh(&out, &fill)
        .env("TMPDIR", &spare_dir)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "not the command's status: {err}");
    let spare: Vec<PathBuf> = std::fs::read_dir(&spare_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        spare.len(),
        1,
        "one fallback profile expected: {spare:?} {err}"
    );
    assert!(
        err.contains(spare[0].to_str().unwrap()),
        "the fallback is not named: {err}"
    );
    assert!(err.contains("No space left"), "{err}");
    let names = allowed(&profile(&spare[0]));
    assert!(names.contains(&"exit_group".to_string()), "{names:?}");
}

#[test]
fn a_profile_on_stdout_is_clean_json_and_the_commands_output_goes_to_stderr() {
    require_root();
    let o = recorder(&["record", "-o", "-", "--", "echo", "hello-from-the-command"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    });
    assert!(allowed(&json).contains(&"write".to_string()), "{json}");
    assert!(err.contains("hello-from-the-command"), "{err}");
}

/// The cgroup of the first (in the CLI, the only) recording of recorder process `pid`.
fn own_cgroup(pid: u32) -> PathBuf {
    seccomp_recorder::cgroup::mount_point()
        .unwrap()
        .join(format!("seccomp-recorder-{pid}-0"))
}

/// The leftover cgroup of recorder `pid` as the README names it (`<PID>` and, for the first
/// recording, `<n>` filled in).
fn readme_cgroup(pid: u32) -> PathBuf {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let sentence = readme
        .split("\n\n")
        .find(|p| p.contains("killed with SIGKILL"))
        .expect("README says what a killed recorder leaves");
    let name = sentence
        .split('`')
        .find(|w| w.starts_with("seccomp-recorder-<PID>"))
        .expect("README names the leftover cgroup");
    let name = name.replace("<PID>", &pid.to_string()).replace("<n>", "0");
    seccomp_recorder::cgroup::mount_point().unwrap().join(name)
}

#[test]
fn the_cgroup_of_a_killed_recorder_is_removed_by_the_next_run() {
    require_root();
    let s = Scratch::new("out-killed");
    let mut rec = Command::new(bin())
        .args([
            "record",
            "-o",
            s.path("p.json").to_str().unwrap(),
            "--",
            "sleep",
            "0.5",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(rec.stderr.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("recording via")),
        "the recorder never started recording"
    );
    let stale = own_cgroup(rec.id());
    assert_eq!(
        readme_cgroup(rec.id()),
        stale,
        "README names another cgroup"
    );
    rec.kill().unwrap();
    rec.wait().unwrap();
    assert!(stale.exists(), "nothing to clean: {}", stale.display());
    // The command outlives the recorder; once it is done the cgroup is empty.
    wait_until(
        "the command left in the cgroup exits",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(stale.join("cgroup.events"))
                .is_ok_and(|e| e.contains("populated 0"))
        },
    );
    let o = recorder(&[
        "record",
        "-o",
        s.path("q.json").to_str().unwrap(),
        "--",
        "true",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists(), "{} is still there", stale.display());
}

fn append_run(base: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["record", "--append", base.to_str().unwrap()];
    args.extend(extra);
    args.extend(["--", "true"]);
    let o = recorder(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = profile(base);
    // The summary counts what the file now holds, not only this run's calls.
    let holds = format!("command: {} syscalls", allowed(&p).len());
    assert!(
        stderr(&o).contains(&holds),
        "expected '{holds}': {}",
        stderr(&o)
    );
    (o, p)
}

#[test]
fn append_keeps_the_default_action_unless_one_is_given() {
    require_root();
    let s = Scratch::new("out-append");
    let log = s.path("log.json");
    std::fs::write(
        &log,
        r#"{"defaultAction":"SCMP_ACT_LOG","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let (_, p) = append_run(&log, &[]);
    assert_eq!(p["defaultAction"], "SCMP_ACT_LOG", "{p}");
    assert!(allowed(&p).contains(&"getpid".to_string()), "{p}");
    assert!(allowed(&p).contains(&"execve".to_string()), "{p}");

    let eperm = s.path("eperm.json");
    std::fs::write(
        &eperm,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
            "architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let (_, p) = append_run(&eperm, &[]);
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO", "{p}");
    assert_eq!(p["defaultErrnoRet"], 1, "{p}");
    let (_, p) = append_run(&eperm, &["--errno", "EACCES"]);
    assert_eq!(
        p["defaultErrnoRet"], 13,
        "an explicit --errno must win: {p}"
    );
    let (_, p) = append_run(&eperm, &["--default-action", "kill"]);
    assert_eq!(p["defaultAction"], "SCMP_ACT_KILL_PROCESS", "{p}");
}

/// The kernel issues restart_syscall when a call a signal interrupted resumes, and
/// rt_sigreturn when a handler returns: a run sees them only if a signal arrived, so every
/// profile allows them.
#[test]
fn calls_the_kernel_makes_are_always_allowed() {
    require_root();
    let s = Scratch::new("out-kernel-made");
    let out = s.path("p.json");
    let o = recorder(&["record", "-o", out.to_str().unwrap(), "--", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names = allowed(&profile(&out));
    for call in ["rt_sigreturn", "restart_syscall"] {
        assert!(
            names.contains(&call.to_string()),
            "{call} missing: {names:?}"
        );
    }
}

#[test]
fn a_profile_with_no_syscall_is_written_with_a_warning() {
    require_root();
    let s = Scratch::new("out-empty");
    let cg = EmptyCgroup::new("out-empty");
    let out = s.path("p.json");
    let o = record_cgroup(&cg.0, "300ms", &out);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(allowed(&profile(&out)).is_empty());
    assert!(err.contains("allows none"), "no warning: {err}");
}

#[test]
fn cgroup_paths_as_proc_prints_them_are_accepted_and_the_root_is_refused() {
    require_root();
    let s = Scratch::new("out-cgroup-path");
    let cg = EmptyCgroup::new("out-cgroup-path");
    let mount = seccomp_recorder::cgroup::mount_point().unwrap();
    // As /proc/PID/cgroup prints it: "0::/scr-test-...".
    let as_proc = Path::new("/").join(cg.0.strip_prefix(&mount).unwrap());
    let out = s.path("p.json");
    let o = record_cgroup(&as_proc, "200ms", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.exists());
    for root in ["/", mount.to_str().unwrap()] {
        let o = recorder(&["record", "-o", out.to_str().unwrap(), "--cgroup", root]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "--cgroup {root}: {err}");
        assert!(err.contains("cgroup2 root"), "--cgroup {root}: {err}");
    }
}

#[test]
fn a_command_killed_by_a_signal_is_reported_as_such() {
    require_root();
    let s = Scratch::new("out-signal");
    let out = s.path("p.json");
    let o = record_sh(&out, "kill -TERM $$").output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(128 + 15), "{err}");
    assert!(err.contains("killed by signal 15"), "{err}");
    assert!(!err.contains("status 143"), "{err}");
    assert!(allowed(&profile(&out)).contains(&"kill".to_string()));
}

/// `errno` without a number is one thing in every subcommand: EPERM, as runc reads a bare
/// SCMP_ACT_ERRNO. Only when neither flag is given do record and import-audit fall back
/// to ENOSYS.
#[test]
fn a_bare_errno_is_eperm_in_every_subcommand() {
    require_root();
    let s = Scratch::new("out-bare-errno");
    let audit_log = workspace().join("tests/fixtures/audit/auditd.log");
    let a = workspace().join("tests/fixtures/profiles/app-a.json");
    let b = workspace().join("tests/fixtures/profiles/app-b.json");
    let written = |args: &[&str]| {
        let out = s.path("p.json");
        let _ = std::fs::remove_file(&out);
        // -o goes before a command's `--`.
        let mut all = args.to_vec();
        let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
        all.splice(at..at, ["-o", out.to_str().unwrap()]);
        let o = recorder(&all);
        assert!(o.status.success(), "{all:?}: {}", stderr(&o));
        let p = profile(&out);
        (p["defaultAction"].clone(), p["defaultErrnoRet"].clone())
    };
    let eperm = (serde_json::json!("SCMP_ACT_ERRNO"), serde_json::json!(1));
    let enosys = (serde_json::json!("SCMP_ACT_ERRNO"), serde_json::json!(38));
    let audit = audit_log.to_str().unwrap();
    for bare in ["errno", "SCMP_ACT_ERRNO"] {
        let record = ["record", "--default-action", bare, "--", "true"];
        assert_eq!(written(&record), eperm, "{record:?}");
        let import = ["import-audit", audit, "--default-action", bare];
        assert_eq!(written(&import), eperm, "{import:?}");
        let merge = ["merge", a.to_str().unwrap(), b.to_str().unwrap()];
        let merge = [&merge[..], &["--default-action", bare]].concat();
        assert_eq!(written(&merge), eperm, "{merge:?}");
        let default = ["default", "--runtime", "docker@29.7", "--action", bare];
        assert_eq!(written(&default), eperm, "{default:?}");
    }
    assert_eq!(written(&["record", "--", "true"]), enosys);
    assert_eq!(written(&["import-audit", audit]), enosys);
    let given = (serde_json::json!("SCMP_ACT_ERRNO"), serde_json::json!(13));
    let with_errno = ["record", "--default-action", "errno", "--errno", "EACCES"];
    assert_eq!(written(&[&with_errno[..], &["--", "true"]].concat()), given);
    assert_eq!(
        written(&["import-audit", audit, "--errno", "EACCES"]),
        given
    );
}
