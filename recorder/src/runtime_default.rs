//! The runtimes' RuntimeDefault seccomp profiles, built in as data (see
//! `runtime_default/README.md` for sources and versions), and the loader logic that expands
//! a template for one host: architecture, container capabilities and kernel version.

use crate::arch::Arch;
use crate::profile::{CAPABILITIES, Filter, Profile, Rule, parse_kernel};
use std::collections::BTreeSet;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Runtime {
    Docker,
    Containerd,
    Podman,
    Crio,
}

const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const PODMAN_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

const CRIO_CAPS: [&str; 9] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_KILL",
];

impl Runtime {
    pub const ALL: [Runtime; 4] = [
        Runtime::Docker,
        Runtime::Containerd,
        Runtime::Podman,
        Runtime::Crio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Podman => "podman",
            Runtime::Crio => "crio",
        }
    }

    pub fn from_name(name: &str) -> Option<Runtime> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.name() == name.to_ascii_lowercase())
    }

    /// Where the built-in data comes from.
    pub fn source(self) -> &'static str {
        match self {
            Runtime::Docker => "moby/profiles seccomp/v0.2.3",
            Runtime::Containerd => "containerd 301026e58 contrib/seccomp",
            Runtime::Podman => "containers/common f437c58a pkg/seccomp",
            Runtime::Crio => {
                "cri-o f954a17e50 DefaultProfile, go.podman.io/common v0.66.2-0.20260126213724"
            }
        }
    }

    fn data(self) -> &'static str {
        match self {
            Runtime::Docker => include_str!("runtime_default/docker.json"),
            Runtime::Containerd => include_str!("runtime_default/containerd.json"),
            Runtime::Podman => include_str!("runtime_default/podman.json"),
            Runtime::Crio => include_str!("runtime_default/crio.json"),
        }
    }

    /// The profile template, unexpanded.
    pub fn template(self) -> Profile {
        Profile::parse(self.data().as_bytes()).unwrap_or_else(|(field, e)| {
            panic!("built-in {} profile is broken at {field}: {e}", self.name())
        })
    }

    /// The capabilities a container of this runtime gets by default.
    pub fn default_caps(self) -> BTreeSet<String> {
        let caps: &[&str] = match self {
            Runtime::Docker | Runtime::Containerd => &DOCKER_CAPS,
            Runtime::Podman => &PODMAN_CAPS,
            Runtime::Crio => &CRIO_CAPS,
        };
        caps.iter().map(|c| c.to_string()).collect()
    }

    pub fn loader(self) -> Loader {
        match self {
            Runtime::Docker | Runtime::Containerd => Loader::Moby,
            Runtime::Podman | Runtime::Crio => Loader::Common,
        }
    }
}

/// Whose template rules apply: containers/common's `Filter` has no `minKernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Moby,
    Common,
}

/// What a template is expanded for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// libseccomp's native arch name of the host (`amd64`, `arm64`, ...).
    pub native: &'static str,
    pub caps: BTreeSet<String>,
    pub kernel: (u32, u32),
}

/// The host native arch a profile arch is enforced from: 32-bit and x32 processes run on a
/// 64-bit host and get the filter the loader built for that host.
pub fn native_for(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 | Arch::X86 | Arch::X32 => "amd64",
        Arch::Aarch64 | Arch::Arm => "arm64",
    }
}

/// libseccomp's native name for the machine we run on.
pub fn host_native() -> &'static str {
    Arch::host().map(native_for).unwrap_or("amd64")
}

/// The running kernel's `major.minor`.
pub fn host_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel(release.trim())
}

fn native_to_scmp(native: &str, loader: Loader) -> Option<&'static str> {
    let common = match native {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mipsel64n32" => "SCMP_ARCH_MIPSEL64N32",
        "s390x" => "SCMP_ARCH_S390X",
        _ if loader == Loader::Common => return None,
        "x86" => "SCMP_ARCH_X86",
        "x32" => "SCMP_ARCH_X32",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390" => "SCMP_ARCH_S390",
        _ => return None,
    };
    Some(common)
}

/// Expands a template the way Docker's (or containers/common's) loader does: the archMap
/// entry of the host arch, then every rule whose includes/excludes hold, in order. The
/// result is plain runtime-spec: errno names resolved to numbers, no comments.
pub fn expand(template: &Profile, host: &Host, loader: Loader) -> Profile {
    let architectures = match &template.arch_map {
        None => template.architectures.clone(),
        Some(map) => native_to_scmp(host.native, loader)
            .and_then(|scmp| map.iter().find(|e| e.architecture == scmp))
            .map(|e| {
                std::iter::once(&e.architecture)
                    .chain(e.sub_architectures.iter().flatten())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    };
    let syscalls = template
        .syscalls
        .iter()
        .filter(|r| applies(r, host, loader))
        .map(|r| Rule {
            names: r.all_names().cloned().collect(),
            action: r.action.clone(),
            args: r.args.clone().filter(|a| !a.is_empty()),
            errno_ret: r.errno(),
            ..Rule::default()
        })
        .collect();
    Profile {
        default_action: template.default_action.clone(),
        default_errno_ret: template.default_errno(),
        architectures,
        flags: template.flags.clone(),
        listener_path: template.listener_path.clone(),
        listener_metadata: template.listener_metadata.clone(),
        syscalls,
        ..Profile::default()
    }
}

/// Docker's `setupSeccomp` checks, in its order: a rule is skipped if an excluded arch is
/// the host's, any excluded cap is held, the kernel reaches the excluded minimum; or if
/// included arches lack the host's, any included cap is missing, the kernel is older than
/// the included minimum.
fn applies(rule: &Rule, host: &Host, loader: Loader) -> bool {
    let none = Filter::default();
    let exc = rule.excludes.as_ref().unwrap_or(&none);
    let inc = rule.includes.as_ref().unwrap_or(&none);
    let arches = |f: &Filter| f.arches.iter().flatten().any(|a| a == host.native);
    let kernel_reached = |f: &Filter| {
        loader == Loader::Moby
            && f.min_kernel
                .as_deref()
                .and_then(parse_kernel)
                .is_some_and(|k| host.kernel >= k)
    };
    let kernel_below = |f: &Filter| {
        loader == Loader::Moby
            && f.min_kernel
                .as_deref()
                .and_then(parse_kernel)
                .is_some_and(|k| host.kernel < k)
    };
    if arches(exc)
        || exc.caps.iter().flatten().any(|c| host.caps.contains(c))
        || kernel_reached(exc)
    {
        return false;
    }
    let inc_arches_miss = inc.arches.as_ref().is_some_and(|a| !a.is_empty()) && !arches(inc);
    let inc_caps_miss = inc.caps.iter().flatten().any(|c| !host.caps.contains(c));
    !(inc_arches_miss || inc_caps_miss || kernel_below(inc))
}

/// True if `name` is a syscall on some architecture: one of our tables has it, or a
/// RuntimeDefault profile names it (they list calls of arches we have no table for).
pub fn known_elsewhere(name: &str) -> bool {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let tables = Arch::ALL
            .into_iter()
            .flat_map(|a| a.syscall_names())
            .map(String::from);
        let builtin = Runtime::ALL
            .into_iter()
            .flat_map(|r| r.template().syscalls)
            .flat_map(|r| r.all_names().cloned().collect::<Vec<_>>());
        tables.chain(builtin).collect()
    });
    names.contains(name)
}

/// A capability as users type it (`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN`), checked.
pub fn parse_cap(s: &str) -> Result<String, String> {
    let upper = s.trim().to_ascii_uppercase();
    let cap = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if CAPABILITIES.contains(&cap.as_str()) {
        Ok(cap)
    } else {
        Err(format!(
            "unknown capability '{s}' (e.g. CAP_NET_ADMIN, CAP_SYS_PTRACE)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for r in Runtime::ALL {
            let t = r.template();
            let errors: Vec<_> = t.validate().into_iter().filter(|i| i.error).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", r.name());
        }
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
        let counts: Vec<usize> = Runtime::ALL
            .iter()
            .map(|r| r.default_caps().len())
            .collect();
        assert_eq!(counts, [14, 14, 11, 9]);
    }

    #[test]
    fn docker_archmap_and_rule_counts() {
        // moby/profiles v0.2.3: 33 rules; rule 0 allows 361 names unconditionally.
        let t = Runtime::Docker.template();
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
        let t = Runtime::Docker.template();
        assert!(names(&expand(&t, &host(&[], (4, 8)), Loader::Moby)).contains("ptrace"));
        assert!(!names(&expand(&t, &host(&[], (4, 7)), Loader::Moby)).contains("ptrace"));
    }

    #[test]
    fn caps_include_and_exclude() {
        let t = Runtime::Docker.template();
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
        let t = Runtime::Containerd.template();
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
    fn crio_regates_namespaces() {
        let t = Runtime::Crio.template();
        let uncond = &t.syscalls[1].names;
        for n in ["clone", "clone3", "unshare"] {
            assert!(!uncond.iter().any(|x| x == n), "{n} still unconditional");
        }
        assert!(
            Runtime::Podman.template().syscalls[1]
                .names
                .iter()
                .any(|x| x == "unshare")
        );
    }

    #[test]
    fn common_errno_names_become_numbers() {
        let p = expand(
            &Runtime::Podman.template(),
            &host(&[], (6, 18)),
            Loader::Common,
        );
        assert_eq!(p.default_errno_ret, Some(38));
        assert!(p.default_errno.is_none());
        assert_eq!(p.syscalls[0].errno_ret, Some(1));
    }
}
