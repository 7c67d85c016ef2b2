//! Merging plain profiles: the union of what each allows.

use super::{DefaultAction, Profile, Rule, action_allows};
use crate::arch::Arch;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("profile {index} is a template (archMap/includes/excludes): expand it before merging")]
    Template { index: usize },
    #[error(
        "default actions differ: profile 0 has {first}, profile {index} has {other} \
         (choose one with --default-action)"
    )]
    DefaultAction {
        index: usize,
        first: String,
        other: String,
    },
    #[error("{field} differs between profile 0 and profile {index}: merge cannot pick one")]
    Field { index: usize, field: &'static str },
    #[error(
        "syscall '{name}' has conflicting rules: {first} in one profile, {other} in another \
         (--on-conflict allow takes the widest: allowed with any arguments)"
    )]
    Rules {
        name: String,
        first: String,
        other: String,
    },
}

/// What to do when profiles treat one syscall differently (one allows it, another gives it
/// an errno; or an allow with arguments against a deny with arguments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnConflict {
    /// Stop with an error naming the syscall.
    #[default]
    Refuse,
    /// Allow the syscall for any arguments.
    Allow,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct MergeOptions {
    /// Replaces the default actions; without it they must all be the same.
    pub default_action: Option<DefaultAction>,
    pub on_conflict: OnConflict,
}

/// One syscall's treatment in one profile: the rules naming it, without their other names.
type Treatment = Vec<Rule>;

/// Union of plain profiles: one sorted unconditional ALLOW rule for every name some profile
/// allows for any arguments, then the remaining (argument or errno) rules in first-seen
/// order. Architectures are the union, in `Arch` order, unknown ones after.
pub fn merge(profiles: &[Profile], opts: &MergeOptions) -> Result<Profile, MergeError> {
    let first = profiles.first().ok_or(MergeError::Empty)?;
    if let Some(index) = profiles.iter().position(Profile::is_template) {
        return Err(MergeError::Template { index });
    }
    let mut out = Profile {
        default_action: first.default_action.clone(),
        default_errno_ret: first.default_errno(),
        architectures: union_arches(profiles),
        flags: first.flags.clone(),
        listener_path: first.listener_path.clone(),
        listener_metadata: first.listener_metadata.clone(),
        ..Profile::default()
    };
    check_fields(profiles)?;
    match opts.default_action {
        Some(action) => action.apply(&mut out),
        None => check_defaults(profiles)?,
    }
    out.syscalls = merge_rules(profiles, opts.on_conflict)?;
    Ok(out)
}

fn describe_default(p: &Profile) -> String {
    match p.default_errno() {
        Some(e) if p.default_action == "SCMP_ACT_ERRNO" => format!("{}({e})", p.default_action),
        _ => p.default_action.clone(),
    }
}

fn check_defaults(profiles: &[Profile]) -> Result<(), MergeError> {
    let first = describe_default(&profiles[0]);
    for (index, p) in profiles.iter().enumerate().skip(1) {
        let other = describe_default(p);
        if other != first {
            return Err(MergeError::DefaultAction {
                index,
                first,
                other,
            });
        }
    }
    Ok(())
}

fn check_fields(profiles: &[Profile]) -> Result<(), MergeError> {
    let first = &profiles[0];
    for (index, p) in profiles.iter().enumerate().skip(1) {
        let field = if p.flags != first.flags {
            "flags"
        } else if p.listener_path != first.listener_path {
            "listenerPath"
        } else if p.listener_metadata != first.listener_metadata {
            "listenerMetadata"
        } else {
            continue;
        };
        return Err(MergeError::Field { index, field });
    }
    Ok(())
}

fn union_arches(profiles: &[Profile]) -> Vec<String> {
    let all: BTreeSet<&String> = profiles.iter().flat_map(|p| &p.architectures).collect();
    let (known, unknown): (Vec<&String>, Vec<&String>) = all
        .into_iter()
        .partition(|a| Arch::from_scmp_name(a).is_some());
    let mut known: Vec<Arch> = known
        .into_iter()
        .filter_map(|a| Arch::from_scmp_name(a))
        .collect();
    known.sort();
    known
        .iter()
        .map(|a| a.scmp_name().to_string())
        .chain(unknown.into_iter().cloned())
        .collect()
}

/// A rule as it applies to one name, normalised so that equal treatments compare equal.
fn single(rule: &Rule, name: &str) -> Rule {
    Rule {
        names: vec![name.to_string()],
        action: rule.action.clone(),
        args: rule.args.clone().filter(|a| !a.is_empty()),
        errno_ret: rule.errno(),
        ..Rule::default()
    }
}

/// LOG also lets a call through, but only ALLOW may go into the merged ALLOW rule without
/// losing the log.
fn is_unconditional_allow(r: &Rule) -> bool {
    r.action == "SCMP_ACT_ALLOW" && r.args().is_empty()
}

fn merge_rules(profiles: &[Profile], on_conflict: OnConflict) -> Result<Vec<Rule>, MergeError> {
    // name -> the treatment each profile that mentions it gives it
    let mut treatments: BTreeMap<String, Vec<Treatment>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for p in profiles {
        let mut mine: BTreeMap<String, Treatment> = BTreeMap::new();
        for rule in &p.syscalls {
            for name in rule.all_names() {
                let r = single(rule, name);
                let no_op = r.action == p.default_action
                    && r.errno_ret == p.default_errno()
                    && r.args.is_none();
                if !no_op {
                    mine.entry(name.clone()).or_default().push(r);
                }
            }
        }
        for (name, t) in mine {
            if !treatments.contains_key(&name) {
                order.push(name.clone());
            }
            treatments.entry(name).or_default().push(t);
        }
    }
    let mut allowed = BTreeSet::new();
    let mut rest: Vec<(String, Vec<Rule>)> = Vec::new();
    for name in order {
        match resolve(&name, &treatments[&name], on_conflict)? {
            Resolved::Allow => {
                allowed.insert(name);
            }
            Resolved::Rules(rules) => rest.push((name, rules)),
        }
    }
    let mut rules = Vec::new();
    if !allowed.is_empty() {
        rules.push(Rule {
            names: allowed.into_iter().collect(),
            action: "SCMP_ACT_ALLOW".into(),
            ..Rule::default()
        });
    }
    rules.extend(rest.into_iter().flat_map(|(_, r)| r));
    Ok(rules)
}

enum Resolved {
    Allow,
    Rules(Vec<Rule>),
}

/// One name across profiles. Rules that only allow are the union of what they allow: an
/// unconditional ALLOW anywhere wins, ALLOWs by arguments are all kept (OR). Any other
/// rule (an errno, a kill) must be the same in every profile that names the syscall.
fn resolve(
    name: &str,
    treatments: &[Treatment],
    on_conflict: OnConflict,
) -> Result<Resolved, MergeError> {
    let only_allows = treatments
        .iter()
        .flatten()
        .all(|r| action_allows(&r.action));
    if only_allows && treatments.iter().flatten().any(is_unconditional_allow) {
        return Ok(Resolved::Allow);
    }
    if only_allows || treatments.windows(2).all(|w| w[0] == w[1]) {
        let mut kept: Vec<Rule> = Vec::new();
        for r in treatments.iter().flatten() {
            if !kept.contains(r) {
                kept.push(r.clone());
            }
        }
        return Ok(Resolved::Rules(kept));
    }
    match on_conflict {
        OnConflict::Allow => Ok(Resolved::Allow),
        OnConflict::Refuse => {
            let other = treatments
                .iter()
                .find(|t| **t != treatments[0])
                .unwrap_or(&treatments[0]);
            Err(MergeError::Rules {
                name: name.to_string(),
                first: describe(&treatments[0]),
                other: describe(other),
            })
        }
    }
}

fn describe(t: &Treatment) -> String {
    t.iter()
        .map(|r| {
            let mut s = r.action.trim_start_matches("SCMP_ACT_").to_string();
            if let Some(e) = r.errno_ret {
                s.push_str(&format!("({e})"));
            }
            if !r.args().is_empty() {
                let args: Vec<String> = r
                    .args()
                    .iter()
                    .map(|a| {
                        format!(
                            "arg{} {} {}",
                            a.index,
                            a.op.trim_start_matches("SCMP_CMP_"),
                            a.value
                        )
                    })
                    .collect();
                s.push_str(&format!(" if {}", args.join(" and ")));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> Profile {
        Profile::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn union_of_names_and_arches() {
        let a = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86"],"syscalls":[{"names":["write","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let b = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["openat","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let m = merge(&[a, b], &MergeOptions::default()).unwrap();
        assert_eq!(m.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(m.syscalls.len(), 1);
        assert_eq!(m.syscalls[0].names, ["openat", "read", "write"]);
    }

    #[test]
    fn refuses_different_defaults_unless_told() {
        let a = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1}"#);
        let b = p(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#);
        let err = merge(&[a.clone(), b.clone()], &MergeOptions::default()).unwrap_err();
        assert!(
            matches!(err, MergeError::DefaultAction { index: 1, .. }),
            "{err}"
        );
        let opts = MergeOptions {
            default_action: Some(DefaultAction::KillProcess),
            ..Default::default()
        };
        assert_eq!(
            merge(&[a, b], &opts).unwrap().default_action,
            "SCMP_ACT_KILL_PROCESS"
        );
    }

    #[test]
    fn allow_against_errno_is_a_conflict() {
        let a = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["clone3"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let b = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#,
        );
        let err = merge(&[a.clone(), b.clone()], &MergeOptions::default()).unwrap_err();
        assert!(
            matches!(&err, MergeError::Rules { name, .. } if name == "clone3"),
            "{err}"
        );
        let opts = MergeOptions {
            on_conflict: OnConflict::Allow,
            ..Default::default()
        };
        assert_eq!(merge(&[a, b], &opts).unwrap().syscalls[0].names, ["clone3"]);
    }

    #[test]
    fn argument_allows_are_ored_and_unconditional_wins() {
        let a = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let b = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},{"names":["socket"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let m = merge(&[a, b], &MergeOptions::default()).unwrap();
        assert_eq!(m.syscalls[0].names, ["socket"]);
        let values: Vec<u64> = m.syscalls[1..].iter().map(|r| r.args()[0].value).collect();
        assert_eq!(values, [8, 0]);
        assert!(m.syscalls[1..].iter().all(|r| r.names == ["personality"]));
    }

    #[test]
    fn log_rules_stay_log_rules() {
        let a = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["ptrace"],"action":"SCMP_ACT_LOG"}]}"#,
        );
        let b = p(
            r#"{"defaultAction":"SCMP_ACT_KILL","syscalls":[{"names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let m = merge(&[a, b], &MergeOptions::default()).unwrap();
        assert_eq!(m.syscalls[0].names, ["read", "write"]);
        assert_eq!(
            (
                m.syscalls[1].names.as_slice(),
                m.syscalls[1].action.as_str()
            ),
            (&["ptrace".to_string()][..], "SCMP_ACT_LOG")
        );
    }

    #[test]
    fn refuses_templates() {
        let t = p(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
        );
        let a = p(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
        assert_eq!(
            merge(&[a, t], &MergeOptions::default()),
            Err(MergeError::Template { index: 1 })
        );
    }
}
