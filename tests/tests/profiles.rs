//! Profiles end to end: the real Debian-shipped RuntimeDefault profiles round-trip; diff
//! facts checked by hand against the profile texts; validation names the bad field; merge,
//! convert and default write what a runtime reads.
//!
//! The expected facts below were read off the profile files, not produced by the tool:
//! moby/profiles v0.2.3 `default.json`, containers/common f437c58 `seccomp.json`, CRI-O's
//! `DefaultProfile()` and containerd's `seccomp_default.go` (recorder/data/runtime-defaults/).

use seccomp_recorder::profile::Profile;
use seccomp_recorder_tests::{Scratch, fixture, recorder, require_root, stderr};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const DEBIAN_DOCKER: &str =
    "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";
const DEBIAN_CONTAINERS: &str = "/usr/share/containers/seccomp.json";

// The built-in releases the facts below were read from. A bare `docker` would mean the
// installed engine's release, which differs between machines.
/// moby/profiles seccomp/v0.2.3.
const DOCKER: &str = "docker@29.7";
/// contrib/seccomp at 301026e58.
const CONTAINERD: &str = "containerd@2.3";
/// containers/common f437c58 (the same seccomp.json as v0.63.0 to v0.66.1).
const PODMAN: &str = "podman@0.66";
/// cri-o f954a17e50, the same DefaultProfile as v1.35.1 to v1.36.3.
const CRIO: &str = "crio@1.36";

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok_stdout(args: &[&str]) -> String {
    let o = recorder(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Null and absent are the same to every loader; the model writes absent.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        v => v,
    }
}

fn round_trip(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: `cargo xtask setup` installs it"
    );
    let original: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();

    let parsed = Profile::load(Path::new(path)).unwrap();
    let again = Profile::parse(parsed.to_json().as_bytes()).unwrap();
    assert_eq!(parsed, again, "parse, write, parse changed {path}");

    let dir = Scratch::new("roundtrip");
    let out = dir.path("out.json");
    ok_stdout(&["convert", path, "--to", "oci", "-o", arg(&out)]);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        written,
        without_nulls(original),
        "fields of {path} were lost or changed"
    );
}

#[test]
fn debian_docker_profile_round_trips() {
    round_trip(DEBIAN_DOCKER);
}

#[test]
fn debian_containers_common_profile_round_trips() {
    round_trip(DEBIAN_CONTAINERS);
}

#[test]
fn debian_profiles_are_valid() {
    for path in [DEBIAN_DOCKER, DEBIAN_CONTAINERS] {
        let o = recorder(&["validate", path]);
        assert!(
            o.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// `diff --format json` against one baseline, for the workload fixture, on kernel 6.1
/// unless `extra` says otherwise.
fn diff_json(against: &str, extra: &[&str]) -> Value {
    let workload = fixture("profiles/workload.json");
    let mut args = vec![
        "diff",
        arg(&workload),
        "--against",
        against,
        "--format",
        "json",
    ];
    if !extra.contains(&"--kernel") {
        args.extend_from_slice(&["--kernel", "6.1"]);
    }
    args.extend_from_slice(extra);
    let v: Value = serde_json::from_str(&ok_stdout(&args)).unwrap();
    let arches = &v["against"][0]["arches"];
    assert_eq!(arches.as_array().unwrap().len(), 1);
    assert_eq!(arches[0]["arch"], "SCMP_ARCH_X86_64");
    arches[0].clone()
}

fn blocked(report: &Value) -> Vec<(String, u64)> {
    report["would_be_blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["errno"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn find<'a>(report: &'a Value, section: &str, name: &str) -> Option<&'a Value> {
    report[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
}

fn names(list: &[(String, u64)]) -> Vec<&str> {
    list.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn docker_blocks_namespace_and_bpf_calls_with_eperm() {
    // default.json: bpf/mount/setns/unshare only in the CAP_SYS_ADMIN rule (bpf also CAP_BPF),
    // reboot only with CAP_SYS_BOOT; none of those is in Docker's 14 default caps.
    let r = diff_json(DOCKER, &[]);
    let b = blocked(&r);
    assert_eq!(names(&b), ["bpf", "mount", "reboot", "setns", "unshare"]);
    assert!(
        b.iter().all(|(_, errno)| *errno == 1),
        "Docker's defaultErrnoRet is 1: {b:?}"
    );
    assert_eq!(
        find(&r, "would_be_blocked", "mount").unwrap()["allowed_with"],
        json!(["CAP_SYS_ADMIN"])
    );
    assert_eq!(
        find(&r, "would_be_blocked", "reboot").unwrap()["allowed_with"],
        json!(["CAP_SYS_BOOT"])
    );
    assert_eq!(
        find(&r, "would_be_blocked", "bpf").unwrap()["allowed_with"],
        json!(["CAP_BPF", "CAP_SYS_ADMIN"])
    );
}

#[test]
fn docker_allows_mount_with_cap_sys_admin_only() {
    let r = diff_json(DOCKER, &["--caps", "CAP_SYS_ADMIN"]);
    assert!(find(&r, "would_be_blocked", "mount").is_none());
    assert_eq!(
        find(&r, "conditional", "mount").unwrap()["needs_caps"],
        json!(["CAP_SYS_ADMIN"])
    );
    let none = diff_json(DOCKER, &["--no-default-caps", "--caps", "sys_admin"]);
    assert!(find(&none, "would_be_blocked", "mount").is_none());
    // chroot needs CAP_SYS_CHROOT, which only the default set gives.
    assert!(find(&none, "would_be_blocked", "chroot").is_some());
}

#[test]
fn docker_allows_personality_and_clone_only_with_listed_arguments() {
    let r = diff_json(DOCKER, &[]);
    let personality = find(&r, "conditional", "personality").unwrap();
    assert_eq!(
        personality["only_with_args"],
        json!([
            "arg0 == 0x0",
            "arg0 == 0x8",
            "arg0 == 0x20000",
            "arg0 == 0x20008",
            "arg0 == 0xffffffff"
        ])
    );
    assert_eq!(personality["needs_caps"], json!([]));
    // clone: a0 MASKED_EQ 0x7e020000 == 0 (no namespace flags) unless CAP_SYS_ADMIN.
    assert_eq!(
        find(&r, "conditional", "clone").unwrap()["only_with_args"],
        json!(["arg0 & 0x7e020000 == 0x0"])
    );
    assert_eq!(
        find(&r, "conditional", "chroot").unwrap()["needs_caps"],
        json!(["CAP_SYS_CHROOT"])
    );
}

#[test]
fn podman_allows_mount_and_unshare_and_only_capabilities_stop_them() {
    // seccomp.json rule 1 allows clone, mount, reboot, setns and unshare unconditionally;
    // setns's later EPERM rule (unless CAP_SYS_ADMIN) is dead because the first rule wins.
    let r = diff_json(PODMAN, &[]);
    assert_eq!(
        blocked(&r),
        [("bpf".to_string(), 1)],
        "bpf hits the EPERM rule excluding CAP_SYS_ADMIN/CAP_BPF"
    );
    for name in ["mount", "unshare", "setns", "clone", "reboot"] {
        assert!(
            find(&r, "conditional", name).is_none(),
            "{name} is unconditional under Podman"
        );
    }
    let kernel: Vec<(&str, &str)> = r["kernel_needs_cap"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["cap"].as_str().unwrap()))
        .collect();
    assert!(kernel.contains(&("mount", "CAP_SYS_ADMIN")), "{kernel:?}");
    assert!(kernel.contains(&("unshare", "CAP_SYS_ADMIN")), "{kernel:?}");
    assert!(kernel.contains(&("reboot", "CAP_SYS_BOOT")), "{kernel:?}");
}

#[test]
fn crio_regates_unshare_and_clone_and_lacks_sys_chroot() {
    // CRI-O: unshare only with CAP_SYS_ADMIN, else the default errno ENOSYS (38); chroot's
    // EPERM rule applies because CRI-O's 9 caps lack CAP_SYS_CHROOT; mount stays allowed.
    let r = diff_json(CRIO, &[]);
    assert_eq!(
        blocked(&r),
        [
            ("bpf".to_string(), 1),
            ("chroot".to_string(), 1),
            ("unshare".to_string(), 38)
        ]
    );
    assert_eq!(
        find(&r, "would_be_blocked", "unshare").unwrap()["errno_name"],
        "ENOSYS"
    );
    assert_eq!(
        find(&r, "conditional", "clone").unwrap()["only_with_args"],
        json!(["arg0 & 0x7e020000 == 0x0"])
    );
    assert!(find(&r, "would_be_blocked", "mount").is_none());
    let admin = diff_json(CRIO, &["--caps", "CAP_SYS_ADMIN,CAP_SYS_CHROOT"]);
    assert_eq!(names(&blocked(&admin)), Vec::<&str>::new());
}

#[test]
fn containerd_gates_like_docker_with_eperm() {
    // seccomp_default.go: no defaultErrnoRet (runc uses EPERM); the CAP_SYS_ADMIN and
    // CAP_SYS_BOOT cases add mount/setns/unshare/bpf and reboot.
    let r = diff_json(CONTAINERD, &[]);
    let b = blocked(&r);
    assert_eq!(names(&b), ["bpf", "mount", "reboot", "setns", "unshare"]);
    assert!(b.iter().all(|(_, errno)| *errno == 1));
}

#[test]
fn removed_surface_counts_and_notable_calls() {
    let r = diff_json(DOCKER, &[]);
    let removed: Vec<&str> = r["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let allows = r["runtime_default_allows"].as_u64().unwrap();
    // Docker allows these unconditionally (ptrace since kernel 4.8); the workload makes none.
    for name in ["ptrace", "process_vm_readv", "getpid", "io_setup"] {
        assert!(removed.contains(&name), "{name} not reported removed");
    }
    // Allowed by Docker and made by the workload: execve exit_group mmap openat read write,
    // plus the conditional chroot, clone, personality.
    assert_eq!(removed.len() as u64, allows - 9);
    let expected = ((allows - 9) as f64 * 1000.0 / allows as f64).round() / 10.0;
    assert_eq!(r["removed_percent"].as_f64().unwrap(), expected);
    let notable: Vec<&str> = r["notable_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(
        notable.contains(&"ptrace") && notable.contains(&"process_vm_writev"),
        "{notable:?}"
    );
    // Docker's default refuses keyctl and (without CAP_SYS_ADMIN) mount: nothing to remove.
    assert!(
        !notable.contains(&"keyctl") && !notable.contains(&"mount"),
        "{notable:?}"
    );
    // Podman allows keyctl, mount and pivot_root for everyone.
    let podman = diff_json(PODMAN, &[]);
    let notable: Vec<&str> = podman["notable_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(
        notable.contains(&"keyctl") && notable.contains(&"pivot_root"),
        "{notable:?}"
    );
}

#[test]
fn min_kernel_decides_ptrace_under_docker() {
    let old = diff_json(DOCKER, &["--kernel", "4.4"]);
    assert!(
        !old["removed"]
            .as_array()
            .unwrap()
            .contains(&json!("ptrace"))
    );
}

/// A release is named with @: a series means its newest release, a version without a
/// built-in profile the nearest older one (said on stderr), an older one is refused.
#[test]
fn diff_against_a_release_of_a_runtime() {
    let workload = fixture("profiles/workload.json");
    let run = |against: &str| {
        recorder(&[
            "diff",
            arg(&workload),
            "--against",
            against,
            "--format",
            "json",
        ])
    };
    let label = |o: &std::process::Output| -> String {
        assert!(o.status.success(), "{}", stderr(o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["against"][0]["against"].as_str().unwrap().to_string()
    };
    // moby v20.10.27 is the last 20.10 tag (SOURCES); 21 and 22 were never released.
    let series = run("docker@20.10");
    assert!(
        label(&series).starts_with("docker@20.10.27 (moby/moby v20.10.27 "),
        "{}",
        label(&series)
    );
    let between = run("docker@22");
    assert!(label(&between).starts_with("docker@20.10.27 "));
    assert!(
        stderr(&between).contains("docker@22 is not a release with a built-in profile; using the nearest older, docker@20.10.27"),
        "{}",
        stderr(&between)
    );
    let old = run("docker@19.03");
    assert_eq!(old.status.code(), Some(2));
    assert!(stderr(&old).contains("'docker@19.03' is older than every built-in docker profile"));
    assert_eq!(run("docker@20.x").status.code(), Some(2));
    // A bare name: the installed release, else the newest; stderr says which.
    let crio = run("crio");
    let log = stderr(&crio);
    let installed = Command::new("sh")
        .args([
            "-c",
            "command -v crio || test -x /usr/sbin/crio || test -x /usr/local/sbin/crio",
        ])
        .status()
        .unwrap()
        .success();
    let expected = if installed {
        "crio: using crio@"
    } else {
        "crio: no installed crio engine found; using the newest built-in, crio@"
    };
    assert!(log.contains(expected), "{log}");
    assert!(label(&crio).starts_with("crio@"));
    // The containers-common release of Debian 12, and CRI-O's 1.30 that re-gates only unshare.
    assert!(label(&run("podman@0.50.1")).starts_with("podman@0.50.1 (containers/common v0.50.1 "));
    let crio = run("crio@1.30");
    assert!(label(&crio).starts_with("crio@1.30."), "{}", label(&crio));
}

#[test]
fn diff_against_a_file_uses_its_rules() {
    let r = diff_json(DEBIAN_DOCKER, &[]);
    // Docker 20.10's file gates mount on CAP_SYS_ADMIN too; no defaultErrnoRet means EPERM.
    assert!(blocked(&r).contains(&("mount".to_string(), 1)));
    // A bare file gets no capabilities: chroot (CAP_SYS_CHROOT) is blocked ...
    assert!(find(&r, "would_be_blocked", "chroot").is_some());
    // ... but read as Docker's, it gets Docker's 14 default caps.
    let as_docker = diff_json(&format!("docker={DEBIAN_DOCKER}"), &[]);
    assert_eq!(
        find(&as_docker, "conditional", "chroot").unwrap()["needs_caps"],
        json!(["CAP_SYS_CHROOT"])
    );
    // containers-common 0.50.1 (Debian 12) allows mount and unshare unconditionally too.
    let podman = diff_json(&format!("podman={DEBIAN_CONTAINERS}"), &[]);
    assert!(
        find(&podman, "would_be_blocked", "mount").is_none()
            && find(&podman, "would_be_blocked", "unshare").is_none()
    );
    let o = recorder(&[
        "diff",
        arg(&fixture("profiles/workload.json")),
        "--against",
        "rkt=/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'rkt'"), "{}", stderr(&o));
}

#[test]
fn diff_text_and_check_exit_code() {
    let workload = fixture("profiles/workload.json");
    let o = recorder(&["diff", arg(&workload), "--against", DOCKER, "--check"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "--check with blocked calls must fail"
    );
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("would be blocked (5)"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let tiny = fixture("profiles/app-a.json");
    let o = recorder(&["diff", arg(&tiny), "--against", PODMAN, "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn diff_reports_each_architecture_of_the_profile() {
    let two = fixture("profiles/app-b.json");
    let v: Value = serde_json::from_str(&ok_stdout(&[
        "diff",
        arg(&two),
        "--against",
        DOCKER,
        "--kernel",
        "6.1",
        "--format",
        "json",
    ]))
    .unwrap();
    let arches = v["against"][0]["arches"].as_array().unwrap();
    let listed: Vec<&str> = arches.iter().map(|a| a["arch"].as_str().unwrap()).collect();
    assert_eq!(listed, ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]);
    // socketcall exists only on i386 and Docker allows it; x86_64 never sees it.
    assert!(
        arches
            .iter()
            .all(|a| a["covered"] == true && a["would_be_blocked"] == json!([]))
    );
    assert_eq!(
        arches[0]["profile_allows"], 5,
        "x86: exit_group openat read socketcall personality"
    );
    assert_eq!(
        arches[1]["profile_allows"], 4,
        "x86_64: exit_group openat read personality"
    );
}

#[test]
fn diff_reports_each_runtimes_default_errno() {
    // docker: defaultErrnoRet 1; containerd: none, so runc's EPERM; containers/common and
    // CRI-O: defaultErrno "ENOSYS".
    let workload = fixture("profiles/workload.json");
    let v: Value = serde_json::from_str(&ok_stdout(&[
        "diff",
        arg(&workload),
        "--kernel",
        "6.1",
        "--format",
        "json",
    ]))
    .unwrap();
    let got: Vec<(&str, u64)> = v["against"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["against"].as_str().unwrap().split('@').next().unwrap(),
                r["default_errno"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("docker", 1),
            ("containerd", 1),
            ("podman", 38),
            ("crio", 38)
        ]
    );
}

#[test]
fn diff_is_deterministic() {
    let workload = fixture("profiles/workload.json");
    let args = [
        "diff",
        arg(&workload),
        "--kernel",
        "6.1",
        "--format",
        "json",
    ];
    assert_eq!(ok_stdout(&args), ok_stdout(&args));
}

fn validation(name: &str) -> String {
    let o = recorder(&["validate", arg(&fixture(&format!("profiles/{name}")))]);
    assert_eq!(o.status.code(), Some(1), "{name} must be invalid");
    assert!(!stderr(&o).contains("panicked"));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn validation_names_the_bad_field() {
    let cases = [
        ("bad-action.json", "syscalls[1].action", "SCMP_ACT_ALLOWED"),
        ("bad-default-action.json", "defaultAction", "SCMP_ACT_DENY"),
        ("bad-arch.json", "architectures[1]", "SCMP_ARCH_PDP11"),
        ("bad-syscall.json", "syscalls[0].names[2]", "opne"),
        ("bad-op.json", "syscalls[0].args[0].op", "SCMP_CMP_EQUAL"),
        ("bad-arg-index.json", "syscalls[0].args[0].index", "6"),
        ("bad-arg-type.json", "syscalls[0].args[0].index", "first"),
        (
            "bad-cap.json",
            "syscalls[1].includes.caps[0]",
            "CAP_SYS_ADMN",
        ),
        ("bad-errno-on-allow.json", "syscalls[0].action", "errno"),
        ("bad-arch-and-archmap.json", "archMap", "architectures"),
        ("not-json.json", "not-json.json", "EOF"),
    ];
    for (file, field, detail) in cases {
        let out = validation(file);
        assert!(
            out.contains(field),
            "{file}: field {field} not named in: {out}"
        );
        assert!(out.contains(detail), "{file}: '{detail}' not in: {out}");
    }
}

#[test]
fn commands_refuse_bad_profiles_without_writing() {
    let dir = Scratch::new("badinput");
    let out = dir.path("merged.json");
    let o = recorder(&[
        "merge",
        arg(&fixture("profiles/app-a.json")),
        arg(&fixture("profiles/bad-arg-type.json")),
        "-o",
        arg(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad-arg-type.json")
            && stderr(&o).contains("syscalls[0].args[0].index"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    for cmd in [vec!["diff"], vec!["convert", "--to", "spo", "--name", "x"]] {
        let mut args = cmd.clone();
        let bad = fixture("profiles/bad-op.json");
        args.push(arg(&bad));
        let o = recorder(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        assert!(
            stderr(&o).contains("syscalls[0].args[0].op"),
            "{cmd:?}: {}",
            stderr(&o)
        );
        assert!(
            o.stdout.is_empty(),
            "{cmd:?} printed a result for an invalid profile"
        );
    }
    let o = recorder(&["diff", arg(&fixture("profiles/missing.json"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.json"));
}

#[test]
fn merge_unites_names_arches_and_argument_rules() {
    let dir = Scratch::new("merge");
    let out = dir.path("merged.json");
    ok_stdout(&[
        "merge",
        arg(&fixture("profiles/app-a.json")),
        arg(&fixture("profiles/app-b.json")),
        "-o",
        arg(&out),
    ]);
    let expected = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["exit_group", "openat", "read", "socketcall", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written, expected);
}

#[test]
fn merge_refuses_conflicts_unless_told() {
    let dir = Scratch::new("conflict");
    let out = dir.path("merged.json");
    std::fs::write(&out, "previous").unwrap();
    let (a, enosys) = (
        fixture("profiles/app-a.json"),
        fixture("profiles/app-enosys.json"),
    );
    let o = recorder(&["merge", arg(&a), arg(&enosys), "-o", arg(&out)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("default actions differ"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "previous",
        "a failed merge must not touch the output"
    );

    ok_stdout(&[
        "merge",
        arg(&a),
        arg(&enosys),
        "--default-action",
        "errno:ENOSYS",
        "-o",
        arg(&out),
    ]);
    assert_eq!(seccomp_recorder_tests::profile(&out)["defaultErrnoRet"], 38);

    let (deny, allow) = (
        fixture("profiles/app-clone3-enosys.json"),
        fixture("profiles/app-clone3-allow.json"),
    );
    let o = recorder(&["merge", arg(&deny), arg(&allow), "-o", "-"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("clone3"), "{}", stderr(&o));
    let merged: Value = serde_json::from_str(&ok_stdout(&[
        "merge",
        arg(&deny),
        arg(&allow),
        "--on-conflict",
        "allow",
    ]))
    .unwrap();
    assert_eq!(
        merged["syscalls"],
        json!([{"names": ["clone3", "read"], "action": "SCMP_ACT_ALLOW"}])
    );
}

#[test]
fn convert_writes_the_spo_resource() {
    let yaml = ok_stdout(&[
        "convert",
        arg(&fixture("profiles/app-a.json")),
        "--to",
        "spo",
        "--name",
        "my-app",
    ]);
    let expected = "\
apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata:
  name: my-app
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures:
  - SCMP_ARCH_X86_64
  syscalls:
  - action: SCMP_ACT_ALLOW
    names:
    - write
    - read
    - exit_group
  - action: SCMP_ACT_ALLOW
    names:
    - personality
    args:
    - index: 0
      op: SCMP_CMP_EQ
      value: 8
";
    assert_eq!(yaml, expected);
    let beta = ok_stdout(&[
        "convert",
        arg(&fixture("profiles/app-a.json")),
        "--to",
        "spo",
        "--api-version",
        "v1beta1",
    ]);
    assert!(beta.starts_with("apiVersion: security-profiles-operator.x-k8s.io/v1beta1\n"));
    assert!(
        beta.contains("  name: app-a\n"),
        "the name defaults to the file name: {beta}"
    );
    let o = recorder(&["convert", DEBIAN_DOCKER, "--to", "spo", "--name", "docker"]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "a template cannot become a SeccompProfile"
    );
    assert!(stderr(&o).contains("template"));
}

#[test]
fn default_log_profile_is_docker_expanded_for_this_host() {
    let dir = Scratch::new("default");
    let out = dir.path("log-profile.json");
    ok_stdout(&[
        "default",
        "--runtime",
        DOCKER,
        "--action",
        "log",
        "--kernel",
        "6.1",
        "--arch",
        "x86_64",
        "-o",
        arg(&out),
    ]);
    let p = seccomp_recorder_tests::profile(&out);
    assert_eq!(p["defaultAction"], "SCMP_ACT_LOG");
    assert!(p.get("defaultErrnoRet").is_none() && p.get("archMap").is_none());
    assert_eq!(
        p["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let rules = p["syscalls"].as_array().unwrap();
    assert!(rules.iter().all(|r| r.get("includes").is_none()
        && r.get("excludes").is_none()
        && r.get("comment").is_none()));
    let allowed = seccomp_recorder_tests::allowed(&p);
    // ptrace (minKernel 4.8), chroot (CAP_SYS_CHROOT, a default cap), arch_prctl (amd64).
    for name in ["ptrace", "chroot", "arch_prctl", "read"] {
        assert!(allowed.iter().any(|n| n == name), "{name} missing");
    }
    for name in ["mount", "reboot", "s390_runtime_instr", "cacheflush"] {
        assert!(
            !allowed.iter().any(|n| n == name),
            "{name} must not be allowed"
        );
    }
    // Rule 20: clone3 -> ERRNO 38 when CAP_SYS_ADMIN is missing.
    assert!(
        rules.contains(&json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}))
    );
}

#[test]
fn crio_default_becomes_a_valid_spo_resource() {
    // CRI-O's EPERM clone rule has 7 conditions on argument 0 (one per CLONE_NEW* flag); the
    // resource takes 6, so it becomes 7 one-condition rules, as runc would load it anyway.
    let dir = Scratch::new("crio-spo");
    let json = dir.path("crio.json");
    ok_stdout(&[
        "default",
        "--runtime",
        CRIO,
        "--kernel",
        "6.1",
        "--arch",
        "x86_64",
        "-o",
        arg(&json),
    ]);
    let yaml = ok_stdout(&[
        "convert",
        arg(&json),
        "--to",
        "spo",
        "--name",
        "crio-default",
    ]);
    let eperm_clone = "  - action: SCMP_ACT_ERRNO\n    errnoRet: 1\n    names:\n    - clone\n    args:\n    - index: 0\n      op: SCMP_CMP_MASKED_EQ\n";
    assert_eq!(yaml.matches(eperm_clone).count(), 7, "{yaml}");
    assert!(
        yaml.contains("      value: 268435456\n      valueTwo: 268435456\n"),
        "CLONE_NEWUSER"
    );
}

#[test]
fn default_respects_caps_and_podman_errno() {
    let p: Value = serde_json::from_str(&ok_stdout(&[
        "default",
        "--runtime",
        PODMAN,
        "--kernel",
        "6.1",
        "--arch",
        "x86_64",
    ]))
    .unwrap();
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(
        p["defaultErrnoRet"], 38,
        "containers/common's defaultErrno is ENOSYS"
    );
    assert!(
        p.get("defaultErrno").is_none(),
        "runtime-spec has no defaultErrno"
    );
    let admin: Value = serde_json::from_str(&ok_stdout(&[
        "default",
        "--runtime",
        DOCKER,
        "--caps",
        "CAP_SYS_ADMIN",
        "--arch",
        "x86_64",
    ]))
    .unwrap();
    assert!(
        seccomp_recorder_tests::allowed(&admin)
            .iter()
            .any(|n| n == "mount")
    );
    let o = recorder(&["default", "--runtime", DOCKER, "--caps", "CAP_FLY"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CAP_FLY"));
}

const PROBES: [&str; 7] = [
    "io_uring_setup",
    "add_key",
    "unshare",
    "clone3",
    "setns",
    "personality",
    "personality-0x400000",
];

/// Runs the probe under runc with `runtime`'s RuntimeDefault (expanded by `default`) and
/// returns the errno each probe got.
fn run_under_runc(dir: &Scratch, probe: &Path, runtime: &str) -> BTreeMap<String, i32> {
    let bundle = dir.path(runtime);
    std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
    std::fs::copy(probe, bundle.join("rootfs/probe")).unwrap();
    let spec = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .expect("runc is installed");
    assert!(spec.status.success(), "runc spec: {}", stderr(&spec));
    let seccomp = dir.path(&format!("{runtime}.json"));
    ok_stdout(&["default", "--runtime", runtime, "-o", arg(&seccomp)]);
    let config_path = bundle.join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["process"]["terminal"] = json!(false);
    let mut args = vec!["/probe"];
    args.extend(PROBES);
    config["process"]["args"] = json!(args);
    config["linux"]["seccomp"] = seccomp_recorder_tests::profile(&seccomp);
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    // runc ids take no '@'.
    let id = format!(
        "scr-profiles-{}-{}",
        std::process::id(),
        runtime.replace('@', "-")
    );
    let run = Command::new("timeout")
        .args(["60", "runc", "run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .args(["delete", "--force", &id])
        .output();
    assert!(
        run.status.success(),
        "runc run under {runtime}: {}",
        stderr(&run)
    );
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, errno) = l.split_once(' ').unwrap();
            (name.to_string(), errno.parse().unwrap())
        })
        .collect()
}

#[test]
fn runc_enforces_what_diff_predicts() {
    require_root();
    let dir = Scratch::new("runc");
    let o = Command::new("gcc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(dir.path("probe"))
        .arg(fixture("profiles/probe.c"))
        .output()
        .expect("gcc is installed");
    assert!(o.status.success(), "gcc probe.c: {}", stderr(&o));
    // Observed with runc 1.1.5 / libseccomp 2.5.4 and read off the profiles: Docker denies
    // with EPERM and gives clone3 ENOSYS; containers/common denies with ENOSYS, allows
    // unshare (the kernel's capability check answers EPERM), clone3 (EINVAL for NULL) and
    // setns (EBADF: its later EPERM rule is dead); CRI-O re-gates unshare and clone3.
    let expected: [(&str, [i32; 7]); 4] = [
        (DOCKER, [1, 1, 1, 38, 1, 0, 1]),
        (CONTAINERD, [1, 1, 1, 38, 1, 0, 1]),
        (PODMAN, [38, 38, 1, 22, 9, 0, 38]),
        (CRIO, [38, 38, 38, 38, 9, 0, 38]),
    ];
    let profile = dir.path("probed.json");
    let names: Vec<&str> = PROBES
        .iter()
        .filter(|p| !p.contains('-'))
        .copied()
        .collect();
    let recorded = json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]});
    std::fs::write(&profile, recorded.to_string()).unwrap();
    for (runtime, errnos) in expected {
        let observed = run_under_runc(&dir, &dir.path("probe"), runtime);
        let want: BTreeMap<String, i32> =
            PROBES.iter().map(|p| p.to_string()).zip(errnos).collect();
        assert_eq!(observed, want, "under {runtime}'s RuntimeDefault");
        // What diff predicts must be what runc enforced.
        let v: Value = serde_json::from_str(&ok_stdout(&[
            "diff",
            arg(&profile),
            "--against",
            runtime,
            "--format",
            "json",
        ]))
        .unwrap();
        let report = &v["against"][0];
        let arch = &report["arches"][0];
        for name in &names {
            match find(arch, "would_be_blocked", name) {
                Some(b) => assert_eq!(b["errno"], observed[*name], "{runtime}: {name}"),
                None => assert_ne!(
                    json!(observed[*name]),
                    report["default_errno"],
                    "{runtime}: {name} predicted allowed"
                ),
            }
        }
    }
}

/// libseccomp refuses errnos of 4095 and above; every way of giving one refuses it before
/// anything is written or run, naming the limit. Errno 0 is accepted with a warning.
#[test]
fn errnos_runtimes_cannot_load_are_refused_everywhere() {
    let s = Scratch::new("errno-range");
    let out = s.path("out.json");
    let o = arg(&out);
    let a = fixture("profiles/app-a.json");
    let ran = s.path("ran");
    let refusals: [Vec<&str>; 6] = [
        vec![
            "record",
            "-o",
            o,
            "--errno",
            "4095",
            "--",
            "touch",
            arg(&ran),
        ],
        vec![
            "record",
            "-o",
            o,
            "--default-action",
            "errno:70000",
            "--",
            "touch",
            arg(&ran),
        ],
        vec![
            "merge",
            arg(&a),
            arg(&a),
            "-o",
            o,
            "--default-action",
            "errno:4095",
        ],
        vec![
            "default",
            "--runtime",
            "docker",
            "--action",
            "errno:65535",
            "-o",
            o,
        ],
        vec!["import-audit", "/dev/null", "-o", o, "--errno", "5000"],
        vec![
            "record",
            "-o",
            o,
            "--default-action",
            "log",
            "--errno",
            "EPERM",
            "--",
            "true",
        ],
    ];
    for args in &refusals {
        let res = recorder(args);
        assert_eq!(res.status.code(), Some(2), "{args:?}: {}", stderr(&res));
        assert!(!stderr(&res).contains("panicked"), "{}", stderr(&res));
        assert!(
            !out.exists() && !ran.exists(),
            "{args:?} wrote or ran something"
        );
    }
    let err = stderr(&recorder(&refusals[0]));
    assert!(err.contains("4095") && err.contains("4094"), "{err}");
}

/// Errno 0 loads (a refused call then looks successful): merge takes it with a warning,
/// validate warns; 4095 in a profile is an error.
#[test]
fn errno_zero_is_a_warning_and_4095_in_a_profile_an_error() {
    let s = Scratch::new("errno-zero");
    let out = s.path("out.json");
    let o = arg(&out);
    let a = fixture("profiles/app-a.json");
    let zero = recorder(&[
        "merge",
        arg(&a),
        arg(&a),
        "-o",
        o,
        "--default-action",
        "errno:0",
    ]);
    assert!(zero.status.success(), "{}", stderr(&zero));
    assert!(stderr(&zero).contains("errno 0"), "{}", stderr(&zero));

    for (errno, status, expect) in [(4095, 1, "cannot be loaded"), (0, 0, "errno 0")] {
        let path = s.path(&format!("errno-{errno}.json"));
        std::fs::write(
            &path,
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno,
                   "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})
            .to_string(),
        )
        .unwrap();
        let v = recorder(&["validate", arg(&path)]);
        let text = String::from_utf8_lossy(&v.stdout);
        assert_eq!(v.status.code(), Some(status), "{errno}: {text}");
        assert!(text.contains(expect), "{errno}: {text}");
    }
}

#[test]
fn validate_warns_about_a_profile_that_allows_nothing() {
    let s = Scratch::new("validate-empty");
    let path = s.path("empty.json");
    std::fs::write(
        &path,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[]}"#,
    )
    .unwrap();
    let v = recorder(&["validate", arg(&path)]);
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert!(text.contains("no syscall is allowed"), "{text}");
}

/// An unreadable input is named with its OS error, once.
#[test]
fn a_missing_input_names_the_os_error_once() {
    let s = Scratch::new("missing-input");
    let missing = s.path("absent.json");
    let out = s.path("out.json");
    for args in [
        vec!["merge", arg(&missing), arg(&missing), "-o", arg(&out)],
        vec!["diff", arg(&missing)],
        vec!["import-audit", arg(&missing)],
    ] {
        let o = recorder(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?}: {err}");
        assert!(err.contains(arg(&missing)), "{args:?}: {err}");
        assert_eq!(
            err.matches("No such file or directory").count(),
            1,
            "{args:?}: {err}"
        );
    }
    let o = recorder(&["validate", arg(&missing)]);
    let shown = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert_eq!(
        shown.matches("No such file or directory").count(),
        1,
        "{shown}"
    );
}

/// The tool's own `default` output passes its own `validate` without a word: names the
/// upstream templates carry for other architectures (riscv_hwprobe, MIPS's syscall) are
/// dropped for this host, and the x86 socketcall names (send, recv) are known.
#[test]
fn validate_is_quiet_on_the_default_output() {
    let dir = Scratch::new("default-quiet");
    for runtime in ["docker", "podman", "containerd", "crio"] {
        let out = dir.path(&format!("{runtime}.json"));
        let args = [
            "default",
            "--runtime",
            runtime,
            "--arch",
            "x86_64",
            "--kernel",
            "6.1",
        ];
        ok_stdout(&[&args[..], &["-o", arg(&out)]].concat());
        let report = ok_stdout(&["validate", arg(&out)]);
        assert!(
            report.ends_with("valid (0 warnings)\n"),
            "{runtime}: {report}"
        );
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(!text.contains("riscv_hwprobe"), "{runtime}");
    }
}

/// `default --runtime RUNTIME=FILE` takes a template file the way `diff --against
/// RUNTIME=FILE` does: expanded with that runtime's loader and capabilities.
#[test]
fn default_expands_a_template_file_for_a_runtime() {
    let dir = Scratch::new("default-file");
    let out = dir.path("podman.json");
    let spec = format!("podman={DEBIAN_CONTAINERS}");
    ok_stdout(&[
        "default",
        "--runtime",
        &spec,
        "--arch",
        "x86_64",
        "--kernel",
        "6.1",
        "-o",
        arg(&out),
    ]);
    let p = seccomp_recorder_tests::profile(&out);
    assert!(p.get("archMap").is_none(), "{p}");
    assert_eq!(
        p["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    assert_eq!(p["defaultErrnoRet"], 38, "containers-common's ENOSYS");
    let rules = p["syscalls"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r.get("includes").is_none() && r.get("excludes").is_none())
    );
    let allowed = seccomp_recorder_tests::allowed(&p);
    assert!(allowed.iter().any(|n| n == "read"));
    assert!(
        !allowed.iter().any(|n| n == "kexec_load"),
        "the template does not allow kexec_load"
    );
    let bad = recorder(&["default", "--runtime", "nosuch=/etc/hostname"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("nosuch"), "{}", stderr(&bad));
}

/// One `-o` convention: every subcommand refuses an output it could not write before it
/// does its work (reads a log that may be long, asks a registry).
#[test]
fn every_output_is_checked_before_the_work() {
    let s = Scratch::new("output-first");
    let missing = s.path("no-such-dir/out.json");
    let m = arg(&missing);
    let a = fixture("profiles/app-a.json");
    // stdin stays open: a command that read it before checking -o would wait forever.
    let mut audit = Command::new(seccomp_recorder_tests::bin())
        .args(["import-audit", "-", "-o", m])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while audit.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = audit.kill();
            panic!("import-audit read its input before checking -o");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = audit.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    // Nothing listens on port 9: a pull that asked first would say so instead.
    let o = recorder(&["pull", "127.0.0.1:9/team/app:v1", "-o", m]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    let dir = s.path("dir");
    std::fs::create_dir(&dir).unwrap();
    for args in [
        vec!["merge", arg(&a), arg(&a), "-o", arg(&dir)],
        vec![
            "convert",
            arg(&a),
            "--to",
            "spo",
            "--name",
            "x",
            "-o",
            arg(&dir),
        ],
        vec!["default", "--runtime", "docker", "-o", arg(&dir)],
    ] {
        let o = recorder(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("is a directory"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}
