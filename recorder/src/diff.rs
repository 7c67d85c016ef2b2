//! Comparing a profile with a RuntimeDefault: what the workload would lose under it, what
//! it gets only conditionally, and how much attack surface the profile removes.

use crate::arch::Arch;
use crate::linux::CAPABILITIES;
use crate::profile::{Profile, Rule, action_allows, errno_name};
use crate::runtime_default::{Host, Loader, Release, expand, native_for};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What one (plain) profile does with one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// Allowed only for some arguments; each entry is one alternative, e.g. `arg0 == 0x8`.
    ByArgs(Vec<String>),
    Denied {
        action: String,
        errno: Option<u32>,
    },
}

/// runc's errno for an ERRNO action without one.
const EPERM: u32 = 1;

fn effective_errno(action: &str, errno: Option<u32>) -> Option<u32> {
    (action == "SCMP_ACT_ERRNO").then(|| errno.unwrap_or(EPERM))
}

/// The verdict as libseccomp builds the filter: runc drops rules equal to the default
/// action; the first rule without arguments decides (a later one, or an earlier one with
/// arguments, is replaced or ignored); otherwise rules with arguments allow only those.
pub(crate) fn verdict(p: &Profile, name: &str) -> Verdict {
    let default_errno = effective_errno(&p.default_action, p.default_errno());
    let rules: Vec<&Rule> = p
        .syscalls
        .iter()
        .filter(|r| r.all_names().any(|n| n == name))
        .filter(|r| {
            !(r.action == p.default_action
                && effective_errno(&r.action, r.errno()) == default_errno)
        })
        .collect();
    if let Some(r) = rules.iter().find(|r| r.args().is_empty()) {
        return decide(&r.action, effective_errno(&r.action, r.errno()));
    }
    let mut allowing: Vec<String> = Vec::new();
    for r in rules.iter().filter(|r| action_allows(&r.action)) {
        let alternative = describe_args(r);
        if !allowing.contains(&alternative) {
            allowing.push(alternative);
        }
    }
    if !allowing.is_empty() {
        return Verdict::ByArgs(allowing);
    }
    if action_allows(&p.default_action) && !rules.is_empty() {
        let denied: Vec<String> = rules.iter().map(|r| describe_args(r)).collect();
        return Verdict::ByArgs(vec![format!("unless {}", denied.join(" or "))]);
    }
    decide(&p.default_action, default_errno)
}

fn decide(action: &str, errno: Option<u32>) -> Verdict {
    if action_allows(action) {
        Verdict::Allowed
    } else {
        Verdict::Denied {
            action: action.to_string(),
            errno,
        }
    }
}

/// `arg0 == 0x8 && arg2 != 0x9`; conditions on one index are alternatives under runc.
fn describe_args(r: &Rule) -> String {
    let ops: Vec<String> = r
        .args()
        .iter()
        .map(|a| {
            let op = match a.op.as_str() {
                "SCMP_CMP_NE" => "!=",
                "SCMP_CMP_LT" => "<",
                "SCMP_CMP_LE" => "<=",
                "SCMP_CMP_EQ" => "==",
                "SCMP_CMP_GE" => ">=",
                "SCMP_CMP_GT" => ">",
                "SCMP_CMP_MASKED_EQ" => {
                    return format!(
                        "arg{} & {:#x} == {:#x}",
                        a.index,
                        a.value,
                        a.value_two.unwrap_or(0)
                    );
                }
                other => other,
            };
            format!("arg{} {op} {:#x}", a.index, a.value)
        })
        .collect();
    let one_index = r.args().windows(2).all(|w| w[0].index == w[1].index);
    ops.join(if one_index && ops.len() > 1 {
        " || "
    } else {
        " && "
    })
}

/// A baseline: a RuntimeDefault template and what it is expanded for.
pub struct Baseline {
    pub label: String,
    pub template: Profile,
    pub loader: Loader,
    pub caps: BTreeSet<String>,
    pub kernel: (u32, u32),
}

impl Baseline {
    /// A release's built-in RuntimeDefault with the runtime's default capabilities, as a
    /// node with this kernel loads it.
    pub fn runtime_default(release: &Release, kernel: (u32, u32)) -> Baseline {
        let r = release.runtime;
        Baseline {
            label: format!("{} ({})", release.name(), release.source),
            template: release.template(),
            loader: r.loader(),
            caps: r.default_caps(),
            kernel,
        }
    }
}

#[derive(Serialize, Debug)]
pub struct Report {
    pub(crate) against: String,
    /// What RuntimeDefault does with calls it does not list.
    pub(crate) default_action: String,
    pub(crate) default_errno: Option<u32>,
    pub(crate) caps: Vec<String>,
    pub(crate) kernel: String,
    pub arches: Vec<ArchReport>,
    /// ABIs RuntimeDefault lets run that the profile does not list: every call of them is
    /// refused (e.g. 32-bit x86 next to a profile of x86_64 only).
    pub arches_removed: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct ArchReport {
    pub(crate) arch: String,
    /// False when RuntimeDefault does not list this arch: every call of it is refused.
    pub(crate) covered: bool,
    /// (a) recorded calls RuntimeDefault refuses.
    pub would_be_blocked: Vec<Blocked>,
    /// (b) recorded calls allowed only for some arguments, or only thanks to a capability.
    pub conditional: Vec<Conditional>,
    /// Recorded calls seccomp lets through but the kernel refuses without a capability.
    pub kernel_needs_cap: Vec<KernelCheck>,
    pub runtime_default_allows: usize,
    pub(crate) profile_allows: usize,
    /// (c) calls RuntimeDefault allows (even conditionally) that the profile does not.
    pub(crate) removed: Vec<String>,
    pub(crate) removed_percent: f64,
    /// (d) the removed calls that matter most.
    pub(crate) notable_removed: Vec<Notable>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) errno: Option<u32>,
    pub(crate) errno_name: Option<String>,
    /// Capabilities any one of which would make RuntimeDefault allow it.
    pub(crate) allowed_with: Vec<String>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Conditional {
    pub(crate) name: String,
    /// Alternatives of argument conditions under which it is allowed.
    pub(crate) only_with_args: Vec<String>,
    /// Capabilities of the baseline's set it needs (dropping one denies it).
    pub(crate) needs_caps: Vec<String>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct KernelCheck {
    pub(crate) name: String,
    pub(crate) cap: String,
    /// Which arguments the check applies to, when not all.
    pub(crate) detail: Option<String>,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub(crate) struct Notable {
    pub(crate) name: String,
    pub(crate) why: String,
}

/// Expansions of one baseline for one native arch, cached across that arch family.
struct Expanded {
    with_caps: Profile,
    without: BTreeMap<String, Profile>,
    adding: BTreeMap<&'static str, Profile>,
}

impl Expanded {
    fn new(b: &Baseline, native: &'static str) -> Expanded {
        let at = |caps: BTreeSet<String>| {
            expand(
                &b.template,
                &Host {
                    native,
                    caps,
                    kernel: b.kernel,
                },
                b.loader,
            )
        };
        let without = b
            .caps
            .iter()
            .map(|c| (c.clone(), at(&b.caps - &BTreeSet::from([c.clone()]))))
            .collect();
        let adding = CAPABILITIES
            .iter()
            .filter(|c| !b.caps.contains(**c))
            .map(|c| (*c, at(&b.caps | &BTreeSet::from([c.to_string()]))))
            .collect();
        Expanded {
            with_caps: at(b.caps.clone()),
            without,
            adding,
        }
    }
}

/// The names of one arch a plain profile lets through (even conditionally).
fn allowed_on(p: &Profile, arch: Arch) -> BTreeSet<String> {
    arch.syscall_names()
        .into_iter()
        .filter(|n| !matches!(verdict(p, n), Verdict::Denied { .. }))
        .map(String::from)
        .collect()
}

/// The profile's arches; none listed means the native one only.
fn profile_arches(p: &Profile) -> Vec<Arch> {
    if p.architectures.is_empty() {
        return Arch::host().into_iter().collect();
    }
    p.architectures
        .iter()
        .filter_map(|a| Arch::from_scmp_name(a))
        .collect()
}

pub fn diff(profile: &Profile, b: &Baseline) -> Report {
    let mut cache: BTreeMap<&'static str, Expanded> = BTreeMap::new();
    let arches = profile_arches(profile)
        .into_iter()
        .map(|arch| {
            let native = native_for(arch);
            let e = cache
                .entry(native)
                .or_insert_with(|| Expanded::new(b, native));
            arch_report(profile, arch, e, b)
        })
        .collect();
    let listed = profile_arches(profile);
    let arches_removed = cache
        .values()
        .flat_map(|e| &e.with_caps.architectures)
        .filter(|a| !listed.iter().any(|l| l.scmp_name() == a.as_str()))
        .cloned()
        .collect();
    Report {
        against: b.label.clone(),
        default_action: b.template.default_action.clone(),
        default_errno: effective_errno(&b.template.default_action, b.template.default_errno()),
        caps: b.caps.iter().cloned().collect(),
        kernel: format!("{}.{}", b.kernel.0, b.kernel.1),
        arches,
        arches_removed,
    }
}

fn arch_report(profile: &Profile, arch: Arch, e: &Expanded, b: &Baseline) -> ArchReport {
    let base = &e.with_caps;
    let covered = base.architectures.iter().any(|a| a == arch.scmp_name());
    let used = allowed_on(profile, arch);
    let base_allowed = if covered {
        allowed_on(base, arch)
    } else {
        BTreeSet::new()
    };
    let mut would_be_blocked = Vec::new();
    let mut conditional = Vec::new();
    for name in &used {
        match verdict(base, name) {
            _ if !covered => {
                would_be_blocked.push(blocked(name, "SCMP_ACT_KILL_THREAD".into(), None, vec![]))
            }
            Verdict::Denied { action, errno } => {
                let with: Vec<String> = e
                    .adding
                    .iter()
                    .filter(|(_, p)| !matches!(verdict(p, name), Verdict::Denied { .. }))
                    .map(|(c, _)| c.to_string())
                    .collect();
                would_be_blocked.push(blocked(name, action, errno, with));
            }
            v => {
                let only_with_args = if let Verdict::ByArgs(a) = v {
                    a
                } else {
                    Vec::new()
                };
                let needs_caps: Vec<String> = e
                    .without
                    .iter()
                    .filter(|(_, p)| verdict(p, name) != verdict(base, name))
                    .map(|(c, _)| c.clone())
                    .collect();
                if !only_with_args.is_empty() || !needs_caps.is_empty() {
                    conditional.push(Conditional {
                        name: name.clone(),
                        only_with_args,
                        needs_caps,
                    });
                }
            }
        }
    }
    let removed: Vec<String> = base_allowed.difference(&used).cloned().collect();
    let kernel_needs_cap = used
        .iter()
        .filter(|n| !would_be_blocked.iter().any(|x| &x.name == *n))
        .filter_map(|n| {
            kernel_cap(n)
                .filter(|(c, _)| !b.caps.contains(*c))
                .map(|(c, detail)| KernelCheck {
                    name: n.clone(),
                    cap: c.into(),
                    detail: detail.map(String::from),
                })
        })
        .collect();
    ArchReport {
        arch: arch.scmp_name().to_string(),
        covered,
        would_be_blocked,
        conditional,
        kernel_needs_cap,
        runtime_default_allows: base_allowed.len(),
        profile_allows: used.len(),
        removed_percent: percent(removed.len(), base_allowed.len()),
        notable_removed: removed
            .iter()
            .filter_map(|n| {
                notable(n).map(|why| Notable {
                    name: n.clone(),
                    why: why.into(),
                })
            })
            .collect(),
        removed,
    }
}

fn blocked(name: &str, action: String, errno: Option<u32>, allowed_with: Vec<String>) -> Blocked {
    Blocked {
        name: name.to_string(),
        errno_name: errno.and_then(errno_name).map(String::from),
        action,
        errno,
        allowed_with,
    }
}

/// One decimal, so the JSON is the same on every machine.
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

/// The capability the kernel itself checks for a call (man pages, capabilities(7)); seccomp
/// letting it through does not make it work without it. Some calls need it only for some
/// arguments: the second value says which.
fn kernel_cap(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match name {
        "unshare" => (
            "CAP_SYS_ADMIN",
            Some("not for CLONE_NEWUSER alone or flags that make no namespace"),
        ),
        "setns" => (
            "CAP_SYS_ADMIN",
            Some("held in the user namespace owning the target"),
        ),
        "quotactl" => ("CAP_SYS_ADMIN", Some("not to read quota information")),
        _ => (kernel_cap_always(name)?, None),
    })
}

fn kernel_cap_always(name: &str) -> Option<&'static str> {
    Some(match name {
        "mount" | "umount" | "umount2" | "pivot_root" | "fsopen" | "fsmount" | "fsconfig"
        | "fspick" | "move_mount" | "open_tree" | "mount_setattr" | "sethostname"
        | "setdomainname" | "swapon" | "swapoff" | "lookup_dcookie" => "CAP_SYS_ADMIN",
        "reboot" | "kexec_load" | "kexec_file_load" => "CAP_SYS_BOOT",
        "chroot" => "CAP_SYS_CHROOT",
        "init_module" | "finit_module" | "delete_module" => "CAP_SYS_MODULE",
        "acct" => "CAP_SYS_PACCT",
        "iopl" | "ioperm" => "CAP_SYS_RAWIO",
        "settimeofday" | "stime" | "clock_settime" | "clock_settime64" => "CAP_SYS_TIME",
        "vhangup" => "CAP_SYS_TTY_CONFIG",
        "open_by_handle_at" => "CAP_DAC_READ_SEARCH",
        "bpf" => "CAP_BPF",
        _ => return None,
    })
}

fn notable(name: &str) -> Option<&'static str> {
    Some(match name {
        "ptrace" | "process_vm_readv" | "process_vm_writev" | "pidfd_getfd" | "kcmp" => {
            "reads or controls other processes"
        }
        "bpf" => "loads programs into the kernel",
        "perf_event_open" => "kernel performance events, a frequent source of kernel bugs",
        "unshare" | "setns" => "creates or enters namespaces, the first step of many escapes",
        "keyctl" | "add_key" | "request_key" => "the kernel keyring, which is not namespaced",
        "io_uring_setup" | "io_uring_enter" | "io_uring_register" => {
            "io_uring: large kernel attack surface whose operations seccomp cannot see"
        }
        "userfaultfd" => "lets exploits stall the kernel to win races",
        "mount" | "umount2" | "pivot_root" | "move_mount" | "open_tree" | "fsopen" | "fsmount"
        | "fsconfig" | "fspick" | "mount_setattr" => "changes the mount table",
        "init_module" | "finit_module" | "delete_module" | "kexec_load" | "kexec_file_load" => {
            "loads kernel code"
        }
        "open_by_handle_at" => "opens files by handle, around path checks (the 'shocker' escape)",
        "personality" => "changes the process ABI, e.g. turns off ASLR",
        "chroot" => "changes the root directory",
        "reboot" => "reboots or halts the machine",
        "syslog" => "reads the kernel log",
        _ => return None,
    })
}

/// Text for people: one block per baseline and arch.
pub fn render_text(profile: &str, reports: &[Report], colour: bool) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    for r in reports {
        out += &format!(
            "{profile} against {}\nkernel {}, caps: {}\n",
            paint("1", &r.against),
            r.kernel,
            caps_list(&r.caps)
        );
        if !r.arches_removed.is_empty() {
            out += &format!(
                "  removed architectures: {} (RuntimeDefault runs them; the profile refuses every call)\n",
                paint("32", &r.arches_removed.join(", "))
            );
        }
        if r.arches.is_empty() {
            out += "  none of the profile's architectures has a syscall table here \
                    (known: x86_64, x86, x32, aarch64, arm)\n";
        }
        for a in &r.arches {
            out += &format!("  {}\n", paint("1", &a.arch));
            if !a.covered {
                out += &format!(
                    "    {}\n",
                    paint(
                        "31",
                        "not covered: RuntimeDefault does not list this architecture, every call would fail"
                    )
                );
            }
            out += &format!(
                "    would be blocked ({}){}\n",
                a.would_be_blocked.len(),
                if a.would_be_blocked.is_empty() {
                    ": none"
                } else {
                    ":"
                }
            );
            for b in &a.would_be_blocked {
                let result = b
                    .errno_name
                    .clone()
                    .or(b.errno.map(|e| e.to_string()))
                    .unwrap_or_else(|| b.action.clone());
                let with = if b.allowed_with.is_empty() {
                    String::new()
                } else {
                    format!(" (allowed with {})", b.allowed_with.join(" or "))
                };
                out += &format!("      {} -> {result}{with}\n", paint("31", &b.name));
            }
            if !a.conditional.is_empty() {
                out += &format!(
                    "    allowed only conditionally ({}):\n",
                    a.conditional.len()
                );
            }
            for c in &a.conditional {
                let mut why = Vec::new();
                if !c.only_with_args.is_empty() {
                    why.push(format!("only if {}", c.only_with_args.join(" | ")));
                }
                if !c.needs_caps.is_empty() {
                    why.push(format!("only with {}", c.needs_caps.join(", ")));
                }
                out += &format!("      {}: {}\n", paint("33", &c.name), why.join("; "));
            }
            for k in &a.kernel_needs_cap {
                let detail = k
                    .detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                out += &format!(
                    "    note: seccomp allows {}, but the kernel refuses it without {}{detail}\n",
                    k.name, k.cap
                );
            }
            out += &format!(
                "    removed: {} of the {} calls RuntimeDefault allows ({}%); the profile allows {}\n",
                paint("32", &a.removed.len().to_string()),
                a.runtime_default_allows,
                a.removed_percent,
                a.profile_allows
            );
            for n in &a.notable_removed {
                out += &format!("      {}: {}\n", paint("32", &n.name), n.why);
            }
        }
    }
    out
}

fn caps_list(caps: &[String]) -> String {
    if caps.is_empty() {
        "none".into()
    } else {
        caps.iter()
            .map(|c| c.trim_start_matches("CAP_"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Profile {
        Profile::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn first_unconditional_rule_wins() {
        // containers/common: setns ALLOW, then a later ERRNO for it: the ERRNO is dead.
        let prof = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["setns"],"action":"SCMP_ACT_ALLOW"},
            {"names":["setns"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#);
        assert_eq!(verdict(&prof, "setns"), Verdict::Allowed);
        let swapped = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["setns"],"action":"SCMP_ACT_ERRNO","errnoRet":22},
            {"names":["setns"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert_eq!(
            verdict(&swapped, "setns"),
            Verdict::Denied {
                action: "SCMP_ACT_ERRNO".into(),
                errno: Some(22)
            }
        );
    }

    #[test]
    fn unconditional_beats_earlier_argument_rule() {
        let prof = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert_eq!(verdict(&prof, "socket"), Verdict::Allowed);
    }

    #[test]
    fn argument_rules_describe_themselves() {
        let prof = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#);
        assert_eq!(
            verdict(&prof, "clone"),
            Verdict::ByArgs(vec!["arg0 & 0x7e020000 == 0x0".into()])
        );
        assert_eq!(
            verdict(&prof, "read"),
            Verdict::Denied {
                action: "SCMP_ACT_ERRNO".into(),
                errno: Some(1)
            }
        );
    }

    #[test]
    fn percent_is_rounded_to_one_decimal() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(0, 0), 0.0);
    }
}
