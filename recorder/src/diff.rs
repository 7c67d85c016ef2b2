//! Comparing a profile with a RuntimeDefault: what the workload would lose under it, what
//! it gets only conditionally, and how much attack surface the profile removes.

mod calls;
mod text;
mod verdict;

pub use text::render_text;

use crate::arch::Arch;
use crate::linux::CAPABILITIES;
use crate::profile::{Profile, errno_name};
use crate::runtime_default::{Host, Loader, Release, expand, native_for};
use calls::{kernel_cap, notable};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use verdict::{Verdict, effective_errno, verdict};

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
    for finding in used.iter().filter_map(|name| finding(name, covered, e)) {
        match finding {
            Finding::Blocked(x) => would_be_blocked.push(x),
            Finding::Conditional(c) => conditional.push(c),
        }
    }
    let removed: Vec<String> = base_allowed.difference(&used).cloned().collect();
    ArchReport {
        arch: arch.scmp_name().to_string(),
        covered,
        kernel_needs_cap: kernel_checks(&used, &would_be_blocked, &b.caps),
        would_be_blocked,
        conditional,
        runtime_default_allows: base_allowed.len(),
        profile_allows: used.len(),
        removed_percent: percent(removed.len(), base_allowed.len()),
        notable_removed: notable_removed(&removed),
        removed,
    }
}

/// A recorded call RuntimeDefault refuses, or allows only under conditions.
enum Finding {
    Blocked(Blocked),
    Conditional(Conditional),
}

/// What RuntimeDefault (expanded in `e`) does with one recorded call, when it matters.
fn finding(name: &str, covered: bool, e: &Expanded) -> Option<Finding> {
    let base = &e.with_caps;
    match verdict(base, name) {
        _ if !covered => Some(Finding::Blocked(blocked(
            name,
            "SCMP_ACT_KILL_THREAD".into(),
            None,
            vec![],
        ))),
        Verdict::Denied { action, errno } => {
            let with: Vec<String> = e
                .adding
                .iter()
                .filter(|(_, p)| !matches!(verdict(p, name), Verdict::Denied { .. }))
                .map(|(c, _)| c.to_string())
                .collect();
            Some(Finding::Blocked(blocked(name, action, errno, with)))
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
            (!only_with_args.is_empty() || !needs_caps.is_empty()).then(|| {
                Finding::Conditional(Conditional {
                    name: name.to_string(),
                    only_with_args,
                    needs_caps,
                })
            })
        }
    }
}

/// The used calls seccomp lets through that the kernel refuses without a capability the
/// baseline does not grant.
fn kernel_checks(
    used: &BTreeSet<String>,
    blocked: &[Blocked],
    caps: &BTreeSet<String>,
) -> Vec<KernelCheck> {
    used.iter()
        .filter(|n| !blocked.iter().any(|x| &x.name == *n))
        .filter_map(|n| {
            kernel_cap(n)
                .filter(|(c, _)| !caps.contains(*c))
                .map(|(c, detail)| KernelCheck {
                    name: n.clone(),
                    cap: c.into(),
                    detail: detail.map(String::from),
                })
        })
        .collect()
}

fn notable_removed(removed: &[String]) -> Vec<Notable> {
    removed
        .iter()
        .filter_map(|n| {
            notable(n).map(|why| Notable {
                name: n.clone(),
                why: why.into(),
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_rounded_to_one_decimal() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(0, 0), 0.0);
    }
}
