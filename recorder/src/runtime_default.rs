//! The runtimes' RuntimeDefault seccomp profiles of each release, built in as data (see
//! `data/runtime-defaults/README.md` and `SOURCES`), which release a name means, and the
//! loader logic that expands a template for one host: architecture, container capabilities
//! and kernel version.

use crate::arch::Arch;
use crate::linux::{CAPABILITIES, parse_kernel};
use crate::profile::{Filter, Profile, Rule};
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

    pub(crate) fn from_name(name: &str) -> Option<Runtime> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.name() == name.to_ascii_lowercase())
    }

    /// The built-in releases, oldest first.
    pub(crate) fn releases(self) -> impl Iterator<Item = &'static Release> {
        all_releases().iter().filter(move |r| r.runtime == self)
    }

    pub(crate) fn newest(self) -> &'static Release {
        self.releases()
            .last()
            .unwrap_or_else(|| panic!("SOURCES lists no {} release", self.name()))
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

/// The profile files, by name, built in from `data/runtime-defaults` (see build.rs).
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/runtime_defaults.rs"));
const SOURCES: &str = include_str!("../data/runtime-defaults/SOURCES");

/// One engine release and the RuntimeDefault it ships.
#[derive(Debug, PartialEq, Eq)]
pub struct Release {
    pub(crate) runtime: Runtime,
    pub(crate) version: Version,
    /// Where the profile comes from: repository, tag and path.
    pub(crate) source: String,
    data: &'static str,
}

impl Release {
    /// `docker@20.10.24`.
    pub(crate) fn name(&self) -> String {
        format!("{}@{}", self.runtime.name(), self.version)
    }

    /// Podman is named by its own release (3.0 on) or by that of containers-common (0.x),
    /// whose `seccomp.json` it loads: a version is compared only with its own kind.
    fn numbered_like(&self, v: &Version) -> bool {
        self.runtime != Runtime::Podman || (self.version.parts[0] == 0) == (v.parts[0] == 0)
    }

    /// The profile template, unexpanded.
    pub fn template(&self) -> Profile {
        Profile::parse(self.data.as_bytes()).unwrap_or_else(|(field, e)| {
            panic!("built-in {} profile is broken at {field}: {e}", self.name())
        })
    }
}

fn all_releases() -> &'static [Release] {
    static RELEASES: OnceLock<Vec<Release>> = OnceLock::new();
    RELEASES.get_or_init(|| {
        let mut releases: Vec<Release> = SOURCES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(parse_source_line)
            .collect();
        releases.sort_by(|a, b| (a.runtime, &a.version).cmp(&(b.runtime, &b.version)));
        releases
    })
}

/// `engine version file how repo tag commit path blob ...`: the data is checked by this
/// crate's tests, so a broken line is a build defect, not input.
fn parse_source_line(line: &str) -> Release {
    let f: Vec<&str> = line.split_whitespace().collect();
    let broken = || panic!("broken SOURCES line: {line}");
    let (Some(runtime), Some(version), Some(data)) = (
        f.first().and_then(|n| Runtime::from_name(n)),
        f.get(1).and_then(|v| Version::parse(v)),
        f.get(2)
            .and_then(|name| FILES.iter().find(|(n, _)| n == name))
            .map(|(_, d)| *d),
    ) else {
        broken()
    };
    if f.len() < 9 {
        broken()
    }
    Release {
        runtime,
        version,
        source: format!("{} {} {}", f[4], f[5], f[7]),
        data,
    }
}

/// A release number, compared numerically (`20.10.24`), shown as written (`19.03`).
#[derive(Clone, Debug)]
pub struct Version {
    parts: Vec<u32>,
    text: String,
}

impl Version {
    /// The leading `1.6.20` of what engines print (`v1.6.20`, `20.10.24+dfsg1`,
    /// `1.6.20~ds1`); at least major.minor unless the whole text is one number.
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let text = s[..end].trim_end_matches('.');
        let parts: Vec<u32> = text
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (parts.len() >= 2 || end == s.len()).then(|| Version {
            parts,
            text: text.to_string(),
        })
    }

    /// True if `self` is `prefix` or a release of that series (`20.10.24` in `20.10`).
    fn within(&self, prefix: &Version) -> bool {
        self.parts.starts_with(&prefix.parts)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    #[error(
        "'{0}' is not docker, containerd, podman or crio (optionally @VERSION, e.g. docker@20.10)"
    )]
    Unknown(String),
    #[error("'{0}': the version after @ is not a number like 20.10 or 1.7.3")]
    BadVersion(String),
    #[error("'{asked}' is older than every built-in {} profile (the oldest is {oldest})", .runtime.name())]
    TooOld {
        asked: String,
        runtime: Runtime,
        oldest: String,
    },
}

/// A runtime as users name it: `docker`, or one release (series) of it, `docker@20.10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSpec {
    pub runtime: Runtime,
    pub version: Option<Version>,
}

impl std::str::FromStr for RuntimeSpec {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<RuntimeSpec, RuntimeError> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let runtime = Runtime::from_name(name).ok_or_else(|| RuntimeError::Unknown(s.into()))?;
        let version = version
            .map(|v| Version::parse(v).ok_or_else(|| RuntimeError::BadVersion(s.into())))
            .transpose()?;
        Ok(RuntimeSpec { runtime, version })
    }
}

/// The release a spec names: the newest of its series, else the nearest older one (with a
/// note saying so); without a version, the installed engine's, else the newest built in.
/// Notes are for stderr.
pub fn resolve(spec: &RuntimeSpec) -> Result<(&'static Release, Vec<String>), RuntimeError> {
    let r = spec.runtime;
    match &spec.version {
        Some(v) => nearest(r, v).map(|(rel, note)| (rel, note.into_iter().collect())),
        None => Ok(match crate::engine_version::installed(r) {
            Some(found) => {
                let (rel, note) = nearest(r, &found.version).unwrap_or_else(|_| {
                    let oldest = r.releases().next().expect("SOURCES lists every runtime");
                    let note = format!(
                        "{} {} is older than every built-in profile; using the oldest, {}",
                        r.name(),
                        found.version,
                        oldest.name()
                    );
                    (oldest, Some(note))
                });
                let mut notes = vec![format!(
                    "{}: using {}, the installed engine's ({}: {})",
                    r.name(),
                    rel.name(),
                    found.how,
                    found.text
                )];
                notes.extend(note);
                (rel, notes)
            }
            None => {
                let rel = r.newest();
                let note = format!(
                    "{}: no installed {} engine found; using the newest built-in, {} \
                     (name a version with {}@VERSION)",
                    r.name(),
                    r.name(),
                    rel.name(),
                    r.name()
                );
                (rel, vec![note])
            }
        }),
    }
}

fn nearest(
    r: Runtime,
    asked: &Version,
) -> Result<(&'static Release, Option<String>), RuntimeError> {
    let candidates = || r.releases().filter(|rel| rel.numbered_like(asked));
    if let Some(rel) = candidates().filter(|rel| rel.version.within(asked)).last() {
        return Ok((rel, None));
    }
    let asked_name = format!("{}@{asked}", r.name());
    match candidates().filter(|rel| &rel.version < asked).last() {
        Some(rel) => {
            let note = format!(
                "{asked_name} is not a release with a built-in profile; using the nearest older, {}",
                rel.name()
            );
            Ok((rel, Some(note)))
        }
        None => Err(RuntimeError::TooOld {
            asked: asked_name,
            runtime: r,
            oldest: candidates().next().map(Release::name).unwrap_or_default(),
        }),
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
        for (name, data) in FILES {
            let t = Profile::parse(data.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let errors: Vec<_> = t.validate().into_iter().filter(|i| i.error).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
        }
        for r in Runtime::ALL {
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
        assert_eq!(name("containerd@2").unwrap().0.runtime, Runtime::Containerd);
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
    fn versions_as_engines_print_them() {
        let v = |s: &str| Version::parse(s).map(|v| v.to_string());
        assert_eq!(v("20.10.24+dfsg1").as_deref(), Some("20.10.24"));
        assert_eq!(v("1.6.20~ds1").as_deref(), Some("1.6.20"));
        assert_eq!(v("v2.0.0").as_deref(), Some("2.0.0"));
        assert_eq!(v("29").as_deref(), Some("29"));
        assert_eq!(v("19.03").as_deref(), Some("19.03"));
        assert_eq!(Version::parse("19.03"), Version::parse("19.3"));
        assert_eq!(v("5ab"), None);
        assert_eq!(v("github.com/containerd/containerd"), None);
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
        let t = Runtime::Docker.newest().template();
        assert!(
            Runtime::Docker
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
        let t = Runtime::Docker.newest().template();
        assert!(names(&expand(&t, &host(&[], (4, 8)), Loader::Moby)).contains("ptrace"));
        assert!(!names(&expand(&t, &host(&[], (4, 7)), Loader::Moby)).contains("ptrace"));
    }

    #[test]
    fn caps_include_and_exclude() {
        let t = Runtime::Docker.newest().template();
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
        let t = Runtime::Containerd.newest().template();
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
        let (rel, _) = nearest(Runtime::Containerd, &Version::parse("1.6.20").unwrap()).unwrap();
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
        let t = Runtime::Crio.newest().template();
        let uncond = &t.syscalls[1].names;
        for n in ["clone", "clone3", "unshare"] {
            assert!(!uncond.iter().any(|x| x == n), "{n} still unconditional");
        }
        assert!(
            Runtime::Podman.newest().template().syscalls[1]
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
            let (rel, _) = nearest(Runtime::Crio, &Version::parse(v).unwrap()).unwrap();
            expand(&rel.template(), &host(&[], (6, 1)), Loader::Common)
        };
        let old = at("1.30.0");
        let old_names = names(&old);
        assert!(!old_names.contains("unshare"));
        assert!(old_names.contains("clone") && old_names.contains("clone3"));
        let new = at("1.31.0");
        let unconditional = |p: &Profile, n: &str| {
            p.syscalls.iter().any(|r| {
                r.args().is_empty()
                    && r.action == "SCMP_ACT_ALLOW"
                    && r.names.iter().any(|x| x == n)
            })
        };
        assert!(unconditional(&old, "clone"));
        assert!(!unconditional(&new, "clone") && !unconditional(&new, "unshare"));
    }

    #[test]
    fn common_errno_names_become_numbers() {
        let p = expand(
            &Runtime::Podman.newest().template(),
            &host(&[], (6, 18)),
            Loader::Common,
        );
        assert_eq!(p.default_errno_ret, Some(38));
        assert!(p.default_errno.is_none());
        assert_eq!(p.syscalls[0].errno_ret, Some(1));
    }
}
