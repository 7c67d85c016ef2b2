//! What a KEP-6061 runtime (Kubernetes `seccompProfile: {type: OCI}`) will do to a profile
//! pushed as an artifact, said before the push: warnings, never errors, because the same
//! profile stays right as a `Localhost` file.
//!
//! Source: kubernetes/enhancements keps/sig-node/6061-oci-artifact-security-profiles/README.md
//! ("Profile Merging", "Profile size limits", "Profile Merging > Seccomp"): the runtime
//! intersects the pulled profile with its baseline (RuntimeDefault unless the node admin set
//! another), so a call the baseline refuses is refused, and architectures present in only
//! one of the two are dropped (their calls hit the bad-arch action and kill). Artifacts over
//! 1 MiB, with more than 128 entries naming one syscall (`MaxArtifactEntriesPerSyscall`),
//! with SCMP_ACT_NOTIFY or listener settings are rejected at pull. The other bounds come from
//! the merge library the KEP names, kubernetes-sigs/security-profiles-merger (README
//! "Limits", `ValidateArtifact`): 1024 names per entry, 256 rules loaded per syscall, 16384
//! rules in all, errno at most 4095; runc (libseccomp) already refuses 4095, so the one
//! errno limit checked is the profile module's.

use crate::diff::{Baseline, Report, diff};
use crate::profile::{MAX_ERRNO, Profile};
use std::collections::BTreeMap;
use std::fmt;

/// The artifact size the KEP recommends runtimes enforce (CRI-O's default).
pub(crate) const MAX_BYTES: u64 = crate::oci::artifact::MAX_PROFILE_BYTES;
pub(crate) const MAX_ENTRIES_PER_SYSCALL: usize = 128;
pub(crate) const MAX_NAMES_PER_ENTRY: usize = 1024;
pub(crate) const MAX_RULES_PER_SYSCALL: usize = 256;
pub(crate) const MAX_RULES: usize = 16384;

/// One thing a KEP-6061 runtime would do differently from what the profile says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Recorded calls the baseline refuses on one architecture: the intersection refuses them.
    Refused {
        baseline: String,
        arch: String,
        calls: Vec<Refusal>,
    },
    /// Recorded calls the baseline allows only for some arguments.
    ArgsOnly {
        baseline: String,
        arch: String,
        calls: Vec<(String, Vec<String>)>,
    },
    /// An architecture of the profile the baseline does not run: every call of it kills.
    ArchNotInBaseline {
        baseline: String,
        arch: String,
    },
    /// Architectures the baseline runs that the profile lacks: dropped from the filter.
    ArchesDropped {
        baseline: String,
        arches: Vec<String>,
    },
    TooLarge {
        size: u64,
    },
    TooManyEntries {
        name: String,
        entries: usize,
    },
    TooManyNames {
        entry: usize,
        names: usize,
    },
    TooManyRulesForSyscall {
        name: String,
        rules: usize,
    },
    TooManyRules {
        rules: usize,
    },
    /// Something `ValidateArtifact` rejects outright.
    Rejected {
        what: String,
    },
    /// A filter flag and whether the runtime's merge keeps it.
    Flag {
        flag: String,
        kept: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub(crate) name: String,
    /// What the workload gets instead: an errno name or an action.
    pub(crate) result: String,
    /// Capabilities any one of which would make the baseline allow it.
    pub(crate) allowed_with: Vec<String>,
}

/// Every warning for `profile` (`size` bytes as pushed) under each of `baselines`.
pub fn check(profile: &Profile, size: u64, baselines: &[Baseline]) -> Vec<Warning> {
    let mut out = limits(profile, size);
    out.extend(flags(profile));
    for b in baselines {
        out.extend(intersection(&diff(profile, b)));
    }
    out
}

/// The merge keeps `SECCOMP_FILTER_FLAG_LOG` if any input sets it (it only adds logging)
/// and `SECCOMP_FILTER_FLAG_SPEC_ALLOW` only if every input does (it loosens a
/// mitigation); the node's baseline is one of the inputs.
fn flags(p: &Profile) -> Vec<Warning> {
    let known = [
        (crate::profile::flags::LOG, true),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", false),
    ];
    p.flags
        .iter()
        .flatten()
        .filter_map(|f| known.iter().find(|(k, _)| k == f))
        .map(|(flag, kept)| Warning::Flag {
            flag: flag.to_string(),
            kept: *kept,
        })
        .collect()
}

/// What the intersection with one baseline removes, from the `diff` report against it.
fn intersection(r: &Report) -> Vec<Warning> {
    let baseline = || r.against.clone();
    let mut out = Vec::new();
    for a in &r.arches {
        if !a.covered {
            out.push(Warning::ArchNotInBaseline {
                baseline: baseline(),
                arch: a.arch.clone(),
            });
            continue;
        }
        if !a.would_be_blocked.is_empty() {
            let calls = a
                .would_be_blocked
                .iter()
                .map(|b| Refusal {
                    name: b.name.clone(),
                    result: b.errno_name.clone().unwrap_or_else(|| b.action.clone()),
                    allowed_with: b.allowed_with.clone(),
                })
                .collect();
            out.push(Warning::Refused {
                baseline: baseline(),
                arch: a.arch.clone(),
                calls,
            });
        }
        let args_only: Vec<_> = a
            .conditional
            .iter()
            .filter(|c| !c.only_with_args.is_empty())
            .map(|c| (c.name.clone(), c.only_with_args.clone()))
            .collect();
        if !args_only.is_empty() {
            out.push(Warning::ArgsOnly {
                baseline: baseline(),
                arch: a.arch.clone(),
                calls: args_only,
            });
        }
    }
    if !r.arches_removed.is_empty() {
        out.push(Warning::ArchesDropped {
            baseline: baseline(),
            arches: r.arches_removed.clone(),
        });
    }
    out
}

/// The bounds a runtime's artifact validation enforces, and what it rejects outright.
pub(crate) fn limits(p: &Profile, size: u64) -> Vec<Warning> {
    let mut out = Vec::new();
    if size > MAX_BYTES {
        out.push(Warning::TooLarge { size });
    }
    let mut entries: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for (i, r) in p.syscalls.iter().enumerate() {
        let names: Vec<&String> = r.all_names().collect();
        if names.len() > MAX_NAMES_PER_ENTRY {
            out.push(Warning::TooManyNames {
                entry: i,
                names: names.len(),
            });
        }
        let loaded = rules_loaded(p, r);
        for n in names {
            *entries.entry(n).or_default() += 1;
            *rules.entry(n).or_default() += loaded;
            total += loaded;
        }
    }
    out.extend(
        entries
            .into_iter()
            .filter(|(_, n)| *n > MAX_ENTRIES_PER_SYSCALL)
            .map(|(name, entries)| Warning::TooManyEntries {
                name: name.to_string(),
                entries,
            }),
    );
    out.extend(
        rules
            .into_iter()
            .filter(|(_, n)| *n > MAX_RULES_PER_SYSCALL)
            .map(|(name, rules)| Warning::TooManyRulesForSyscall {
                name: name.to_string(),
                rules,
            }),
    );
    if total > MAX_RULES {
        out.push(Warning::TooManyRules { rules: total });
    }
    out.extend(
        rejected(p)
            .into_iter()
            .map(|what| Warning::Rejected { what }),
    );
    out
}

/// Rules one entry loads for each name, counted as the merge library does: none for an
/// entry equal to the default, one per condition when conditions repeat an argument index
/// (runc adds those as alternatives), else one.
fn rules_loaded(p: &Profile, r: &crate::profile::Rule) -> usize {
    if r.action == p.default_action && r.errno() == p.default_errno() {
        return 0;
    }
    let args = r.args();
    let repeats = args
        .iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index == a.index));
    if repeats { args.len() } else { 1 }
}

fn rejected(p: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    let notify = std::iter::once(&p.default_action)
        .chain(p.syscalls.iter().map(|r| &r.action))
        .any(|a| a == "SCMP_ACT_NOTIFY");
    if notify {
        out.push("SCMP_ACT_NOTIFY (an artifact cannot bring the listener it needs)".to_string());
    }
    if p.listener_path.is_some() || p.listener_metadata.is_some() {
        out.push("listenerPath/listenerMetadata (node-local settings)".to_string());
    }
    let killable = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
    if p.flags.iter().flatten().any(|f| f == killable) {
        out.push(format!("the flag {killable} (a listener setting)"));
    }
    let returns_errno = |a: &str| matches!(a, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE");
    let too_big = |e: Option<u32>| e.filter(|e| *e > MAX_ERRNO);
    let errnos = std::iter::once((
        &p.default_action,
        p.default_errno(),
        "defaultErrnoRet".into(),
    ))
    .chain(
        p.syscalls
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.action, r.errno(), format!("errnoRet of syscalls[{i}]"))),
    );
    for (action, errno, what) in errnos {
        if let Some(e) = too_big(errno).filter(|_| returns_errno(action)) {
            out.push(format!(
                "{what} {e} (runc and libseccomp take 0 to {MAX_ERRNO})"
            ));
        }
    }
    out
}

const HINT_LOOSER: &str = "such calls need a Localhost profile or a looser node baseline";

fn joined(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Warning::Refused {
                baseline,
                arch,
                calls,
            } => write!(
                f,
                "KEP-6061: a node whose baseline is {baseline} refuses {} recorded {arch} call(s) \
                 of this profile (it intersects the two): {}; {HINT_LOOSER}",
                calls.len(),
                joined(calls.iter().map(Refusal::to_string))
            ),
            Warning::ArgsOnly {
                baseline,
                arch,
                calls,
            } => write!(
                f,
                "KEP-6061: a node whose baseline is {baseline} allows recorded {arch} call(s) \
                 only for some arguments: {}",
                joined(
                    calls
                        .iter()
                        .map(|(n, alts)| format!("{n} only if {}", alts.join(" | ")))
                )
            ),
            Warning::ArchNotInBaseline { baseline, arch } => write!(
                f,
                "KEP-6061: {baseline} does not run {arch}: the intersection drops it and every \
                 {arch} call of the workload kills it; {HINT_LOOSER}"
            ),
            Warning::ArchesDropped { baseline, arches } => write!(
                f,
                "KEP-6061: the profile does not list {} which {baseline} runs: processes of \
                 that ABI are killed (as under the profile alone; record them if the workload \
                 has any)",
                arches.join(", ")
            ),
            Warning::TooLarge { size } => write!(
                f,
                "KEP-6061: the profile is {size} bytes; runtimes reject artifacts over {MAX_BYTES}"
            ),
            Warning::TooManyEntries { name, entries } => write!(
                f,
                "KEP-6061: {entries} entries name {name}; runtimes reject an artifact with more \
                 than {MAX_ENTRIES_PER_SYSCALL} for one syscall (merge them)"
            ),
            Warning::TooManyNames { entry, names } => write!(
                f,
                "KEP-6061: syscalls[{entry}] lists {names} names; runtimes reject more than \
                 {MAX_NAMES_PER_ENTRY} in one entry"
            ),
            Warning::TooManyRulesForSyscall { name, rules } => write!(
                f,
                "KEP-6061: {name} loads {rules} rules; runtimes reject more than \
                 {MAX_RULES_PER_SYSCALL} for one syscall"
            ),
            Warning::TooManyRules { rules } => write!(
                f,
                "KEP-6061: the profile loads {rules} rules; runtimes reject more than {MAX_RULES}"
            ),
            Warning::Rejected { what } => {
                write!(f, "KEP-6061: runtimes reject an artifact with {what}")
            }
            Warning::Flag { flag, kept: true } => write!(
                f,
                "KEP-6061: {flag} survives the push: the runtime's merge keeps it when any \
                 input sets it, so the node logs the workload's refusals (if its OCI runtime \
                 honours flags: runc 1.2 or later, crun)"
            ),
            Warning::Flag { flag, kept: false } => write!(
                f,
                "KEP-6061: {flag} is dropped by the runtime's merge unless the node's baseline \
                 sets it too (it is kept only when every input sets it)"
            ),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} -> {}", self.name, self.result)?;
        if !self.allowed_with.is_empty() {
            write!(f, " (allowed with {})", self.allowed_with.join(" or "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;

    fn p(json: &str) -> Profile {
        Profile::parse(json.as_bytes()).unwrap()
    }

    fn containerd() -> Baseline {
        Baseline::runtime_default(Engine::Containerd.newest(), (6, 1))
    }

    #[test]
    fn calls_the_baseline_refuses_are_named_with_the_cap_that_would_allow_them() {
        let prof = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","bpf","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let w = check(&prof, 100, &[containerd()]);
        let refused = w
            .iter()
            .find_map(|w| match w {
                Warning::Refused { arch, calls, .. } => Some((arch, calls)),
                _ => None,
            })
            .expect("no refusal");
        assert_eq!(refused.0, "SCMP_ARCH_X86_64");
        let names: Vec<&str> = refused.1.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bpf"]);
        assert_eq!(refused.1[0].result, "EPERM");
        assert!(refused.1[0].allowed_with.contains(&"CAP_BPF".to_string()));
    }

    #[test]
    fn a_profile_inside_the_baseline_only_hears_of_dropped_arches() {
        let prof = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let w = check(&prof, 100, &[containerd()]);
        assert!(
            matches!(&w[..], [Warning::ArchesDropped { arches, .. }]
                if arches == &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            "{w:?}"
        );
    }

    #[test]
    fn an_arch_the_baseline_lacks_kills() {
        // A node admin's baseline of x86_64 only: the profile's i386 calls are killed.
        let b = Baseline {
            label: "x86_64-only.json".into(),
            template: p(
                r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
            ),
            loader: crate::runtime_default::Loader::Moby,
            caps: Default::default(),
            kernel: (6, 1),
        };
        let prof = p(r#"{"defaultAction":"SCMP_ACT_ERRNO",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#);
        assert_eq!(
            check(&prof, 10, &[b]),
            [Warning::ArchNotInBaseline {
                baseline: "x86_64-only.json".into(),
                arch: "SCMP_ARCH_X86".into()
            }]
        );
    }

    /// One errno limit for the whole tool: runc refuses 4095, so a push warns about it.
    #[test]
    fn an_errno_runc_cannot_load_is_rejected() {
        let with = |errno: u32| {
            p(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":{errno},"syscalls":[]}}"#
            ))
        };
        assert_eq!(limits(&with(4094), 100), []);
        assert_eq!(
            limits(&with(4095), 100),
            [Warning::Rejected {
                what: "defaultErrnoRet 4095 (runc and libseccomp take 0 to 4094)".into()
            }]
        );
    }

    #[test]
    fn size_and_entry_limits() {
        let entry = r#"{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":5,"op":"SCMP_CMP_EQ"}]}"#;
        let at = |n: usize| {
            let rules = vec![entry; n].join(",");
            p(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rules}]}}"#
            ))
        };
        assert_eq!(limits(&at(128), 1 << 20), []);
        assert_eq!(
            limits(&at(129), (1 << 20) + 1),
            [
                Warning::TooLarge {
                    size: (1 << 20) + 1
                },
                Warning::TooManyEntries {
                    name: "ioctl".into(),
                    entries: 129
                }
            ]
        );
    }

    #[test]
    fn repeated_argument_indexes_load_one_rule_each() {
        // 100 entries of 3 alternatives on arg 0 load 300 rules for write: over 256.
        let entry = r#"{"names":["write"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"},
            {"index":0,"value":3,"op":"SCMP_CMP_EQ"}]}"#;
        let rules = vec![entry; 100].join(",");
        let prof = p(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rules}]}}"#
        ));
        assert_eq!(
            limits(&prof, 10),
            [Warning::TooManyRulesForSyscall {
                name: "write".into(),
                rules: 300
            }]
        );
    }

    #[test]
    fn flags_kept_or_dropped_by_the_merge() {
        let log = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let got: Vec<Warning> = check(&log, 100, &[])
            .into_iter()
            .filter(|w| matches!(w, Warning::Flag { .. }))
            .collect();
        let flag = |f: &str, kept| Warning::Flag {
            flag: f.into(),
            kept,
        };
        assert_eq!(
            got,
            [
                flag("SECCOMP_FILTER_FLAG_LOG", true),
                flag("SECCOMP_FILTER_FLAG_SPEC_ALLOW", false)
            ]
        );
        assert!(got[0].to_string().contains("survives the push"));
        assert!(
            got[1]
                .to_string()
                .contains("dropped by the runtime's merge")
        );
    }

    #[test]
    fn what_validate_artifact_rejects() {
        let prof = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000,
            "listenerPath":"/run/agent.sock","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#);
        let text: Vec<String> = limits(&prof, 10).iter().map(|w| w.to_string()).collect();
        let all = text.join("\n");
        for needle in [
            "SCMP_ACT_NOTIFY",
            "listenerPath",
            "WAIT_KILLABLE_RECV",
            "defaultErrnoRet 5000",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        assert_eq!(text.len(), 4);
    }
}
