//! What one plain profile does with one syscall, as libseccomp builds the filter.

use crate::profile::{Profile, Rule, action_allows};

/// What one (plain) profile does with one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
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

pub(super) fn effective_errno(action: &str, errno: Option<u32>) -> Option<u32> {
    (action == "SCMP_ACT_ERRNO").then(|| errno.unwrap_or(EPERM))
}

/// The verdict as libseccomp builds the filter: runc drops rules equal to the default
/// action; the first rule without arguments decides (a later one, or an earlier one with
/// arguments, is replaced or ignored); otherwise rules with arguments allow only those.
pub(super) fn verdict(p: &Profile, name: &str) -> Verdict {
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
}
