//! The built-in RuntimeDefaults as their sources read, and their expansion as each loader does it.

use super::*;
use crate::profile::Profile;
use crate::version::Version;

fn host(caps: &[&str], kernel: (u32, u32)) -> Host {
    Host {
        native: "amd64",
        caps: caps.iter().map(|c| c.to_string()).collect(),
        kernel,
    }
}

fn names(p: &Profile) -> BTreeSet<&str> {
    p.syscalls
        .iter()
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect()
}

#[test]
fn builtins_parse_and_validate() {
    for (name, data) in FILES {
        let t = Profile::parse(data.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let errors: Vec<_> = t.validate().into_iter().filter(|i| i.error).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    for r in Engine::ALL {
        assert!(r.releases().count() > 1, "{}", r.name());
    }
}

/// The copies are the upstream blobs SOURCES names, byte for byte (git's blob id).
#[test]
fn copies_are_the_named_upstream_blobs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/runtime-defaults");
    let mut checked = BTreeSet::new();
    for line in SOURCES.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f[3] != "copy" || !checked.insert((f[2], f[8])) {
            continue;
        }
        let out = std::process::Command::new("git")
            .args(["hash-object", &format!("{dir}/{}", f[2])])
            .output()
            .expect("git runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), f[8], "{line}");
    }
    assert!(checked.len() > 20, "{checked:?}");
}

fn spec(s: &str) -> RuntimeSpec {
    s.parse().unwrap()
}

#[test]
fn a_version_picks_the_newest_of_its_series_else_the_nearest_older() {
    let name = |s: &str| nearest(spec(s).runtime, spec(s).version.as_ref().unwrap());
    assert_eq!(name("docker@20.10").unwrap().0.name(), "docker@20.10.27");
    assert_eq!(name("docker@20.10.24").unwrap().0.name(), "docker@20.10.24");
    assert_eq!(
        name("docker@20.10.24").unwrap().0.source,
        "moby/moby v20.10.24 profiles/seccomp/default.json"
    );
    let (older, note) = name("docker@22").unwrap();
    assert_eq!(older.name(), "docker@20.10.27");
    assert!(note.unwrap().contains("nearest older"));
    assert!(matches!(
        name("docker@19.03"),
        Err(RuntimeError::TooOld { .. })
    ));
    assert_eq!(name("containerd@2").unwrap().0.runtime, Engine::Containerd);
    // Podman's own releases and containers-common's never stand in for each other.
    assert_eq!(name("podman@4.3").unwrap().0.name(), "podman@4.3.1");
    assert_eq!(name("podman@0.50").unwrap().0.name(), "podman@0.50.1");
    assert!(matches!(name("podman@2"), Err(RuntimeError::TooOld { .. })));
    assert!(matches!(
        name("podman@0.20"),
        Err(RuntimeError::TooOld { .. })
    ));
    assert_eq!(
        "docker@x".parse::<RuntimeSpec>(),
        Err(RuntimeError::BadVersion("docker@x".into()))
    );
    assert!(matches!(
        "dockr".parse::<RuntimeSpec>(),
        Err(RuntimeError::Unknown(_))
    ));
}

#[test]
fn caps_as_users_type_them() {
    assert_eq!(parse_cap("net_admin").unwrap(), "CAP_NET_ADMIN");
    assert_eq!(parse_cap("CAP_BPF").unwrap(), "CAP_BPF");
    assert!(parse_cap("CAP_FLY").is_err());
}

#[test]
fn default_cap_counts() {
    // Docker/containerd 14, Podman 11, CRI-O 9 (research §1.2-1.4).
    let counts: Vec<usize> = Engine::ALL.iter().map(|r| r.default_caps().len()).collect();
    assert_eq!(counts, [14, 14, 11, 9]);
}

#[test]
fn docker_archmap_and_rule_counts() {
    // moby/profiles v0.2.3: 33 rules; rule 0 allows 361 names unconditionally.
    let t = Engine::Docker.newest().template();
    assert!(
        Engine::Docker
            .newest()
            .source
            .contains("profiles/seccomp/default.json")
    );
    assert_eq!(t.syscalls.len(), 33);
    assert_eq!(t.syscalls[0].names.len(), 361);
    let p = expand(&t, &host(&[], (6, 18)), Loader::Moby);
    assert_eq!(
        p.architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    assert_eq!(p.default_errno_ret, Some(1));
}

#[test]
fn min_kernel_gates_ptrace_for_docker_only() {
    let t = Engine::Docker.newest().template();
    assert!(names(&expand(&t, &host(&[], (4, 8)), Loader::Moby)).contains("ptrace"));
    assert!(!names(&expand(&t, &host(&[], (4, 7)), Loader::Moby)).contains("ptrace"));
}

#[test]
fn caps_include_and_exclude() {
    let t = Engine::Docker.newest().template();
    let without = expand(&t, &host(&[], (6, 18)), Loader::Moby);
    let with = expand(&t, &host(&["CAP_SYS_ADMIN"], (6, 18)), Loader::Moby);
    assert!(!names(&without).contains("mount"));
    assert!(names(&with).contains("mount"));
    // The clone3 ENOSYS rule excludes CAP_SYS_ADMIN.
    let clone3 = |p: &Profile| {
        p.syscalls
            .iter()
            .any(|r| r.action == "SCMP_ACT_ERRNO" && r.names == ["clone3"])
    };
    assert!(clone3(&without));
    assert!(!clone3(&with));
}

#[test]
fn containerd_transcription() {
    // seccomp_default.go: 363 names, lsm_* unconditional, riscv_hwprobe only on riscv64,
    // pidfd_getfd with CAP_SYS_PTRACE, clone3 ENOSYS without CAP_SYS_ADMIN.
    let t = Engine::Containerd.newest().template();
    assert_eq!(t.syscalls[0].names.len(), 363);
    assert!(t.syscalls[0].names.iter().any(|n| n == "lsm_get_self_attr"));
    let plain = expand(&t, &host(&[], (6, 18)), Loader::Moby);
    assert!(!names(&plain).contains("riscv_hwprobe"));
    assert!(!names(&plain).contains("pidfd_getfd"));
    assert!(plain.default_errno_ret.is_none());
    let ptrace = expand(&t, &host(&["CAP_SYS_PTRACE"], (6, 18)), Loader::Moby);
    assert!(names(&ptrace).contains("pidfd_getfd"));
    let clone3 = plain.syscalls.last().unwrap();
    assert_eq!(
        (clone3.names.as_slice(), clone3.errno_ret),
        (&["clone3".to_string()][..], Some(38))
    );
}

#[test]
fn containerd_1_6_20_as_its_go_code_reads() {
    // v1.6.20 seccomp_default.go: io_uring_setup in the unconditional list;
    // name_to_handle_at only under CAP_SYS_ADMIN, process_vm_readv under CAP_SYS_PTRACE;
    // ptrace alone behind the 4.8 kernel check.
    let (rel, _) = nearest(Engine::Containerd, &Version::parse("1.6.20").unwrap()).unwrap();
    let t = rel.template();
    assert!(t.syscalls[0].names.iter().any(|n| n == "io_uring_setup"));
    let plain = names(&expand(&t, &host(&[], (6, 1)), Loader::Moby))
        .into_iter()
        .map(String::from)
        .collect::<BTreeSet<_>>();
    assert!(!plain.contains("name_to_handle_at") && !plain.contains("process_vm_readv"));
    assert!(plain.contains("ptrace"));
    let ptrace_rule = t.syscalls.iter().find(|r| r.names == ["ptrace"]).unwrap();
    let inc = ptrace_rule.includes.as_ref().unwrap();
    assert_eq!(inc.min_kernel.as_deref(), Some("4.8"));
}

#[test]
fn crio_regates_namespaces() {
    let t = Engine::Crio.newest().template();
    let uncond = &t.syscalls[1].names;
    for n in ["clone", "clone3", "unshare"] {
        assert!(!uncond.iter().any(|x| x == n), "{n} still unconditional");
    }
    assert!(
        Engine::Podman.newest().template().syscalls[1]
            .names
            .iter()
            .any(|x| x == "unshare")
    );
}

/// cri-o v1.30.0 seccomp.go removes only unshare (index 363 of rule 1); v1.31.0 also
/// clone and clone3, and adds argument rules for clone.
#[test]
fn crio_before_1_31_regates_only_unshare() {
    let at = |v: &str| {
        let (rel, _) = nearest(Engine::Crio, &Version::parse(v).unwrap()).unwrap();
        expand(&rel.template(), &host(&[], (6, 1)), Loader::Common)
    };
    let old = at("1.30.0");
    let old_names = names(&old);
    assert!(!old_names.contains("unshare"));
    assert!(old_names.contains("clone") && old_names.contains("clone3"));
    let new = at("1.31.0");
    let unconditional = |p: &Profile, n: &str| {
        p.syscalls.iter().any(|r| {
            r.args().is_empty() && r.action == "SCMP_ACT_ALLOW" && r.names.iter().any(|x| x == n)
        })
    };
    assert!(unconditional(&old, "clone"));
    assert!(!unconditional(&new, "clone") && !unconditional(&new, "unshare"));
}

#[test]
fn common_errno_names_become_numbers() {
    let p = expand(
        &Engine::Podman.newest().template(),
        &host(&[], (6, 18)),
        Loader::Common,
    );
    assert_eq!(p.default_errno_ret, Some(38));
    assert!(p.default_errno.is_none());
    assert_eq!(p.syscalls[0].errno_ret, Some(1));
}

fn installed(version: &str) -> Installed {
    Installed {
        version: Version::parse(version).unwrap(),
        how: "dockerd --version".into(),
        text: format!("Docker version {version}, build 0"),
    }
}

#[test]
fn a_bare_name_means_the_installed_release_else_the_newest() {
    let docker = spec("docker");
    let (rel, notes) = resolve(&docker, Some(&installed("20.10.24"))).unwrap();
    assert_eq!(rel.name(), "docker@20.10.24");
    assert_eq!(
        notes,
        [
            "docker: using docker@20.10.24, the installed engine's (dockerd --version: \
          Docker version 20.10.24, build 0)"
        ]
    );
    let (rel, notes) = resolve(&docker, Some(&installed("19.03.1"))).unwrap();
    assert_eq!(rel, Engine::Docker.releases().next().unwrap());
    assert!(notes[1].contains("older than every built-in"), "{notes:?}");
    let (rel, notes) = resolve(&docker, None).unwrap();
    assert_eq!(rel, Engine::Docker.newest());
    assert!(notes[0].contains("no installed docker engine"), "{notes:?}");
    // A version given wins over the installed one.
    let (rel, _) = resolve(&spec("docker@20.10.24"), Some(&installed("29.1"))).unwrap();
    assert_eq!(rel.name(), "docker@20.10.24");
}
