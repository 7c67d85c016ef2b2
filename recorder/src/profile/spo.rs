//! The Security Profiles Operator `SeccompProfile` resource, written by hand so that the
//! same profile always gives the same bytes.

use super::{Arg, Profile, Rule};
use std::fmt::Write;

/// SPO 1.0 serves `v1` (current) and `v1beta1` (older operators); the spec is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SpoVersion {
    V1,
    V1beta1,
}

impl SpoVersion {
    fn api_version(self) -> &'static str {
        match self {
            SpoVersion::V1 => "security-profiles-operator.x-k8s.io/v1",
            SpoVersion::V1beta1 => "security-profiles-operator.x-k8s.io/v1beta1",
        }
    }
}

pub(crate) fn to_yaml(p: &Profile, name: &str, version: SpoVersion) -> Result<String, String> {
    check_name(name)?;
    if p.is_template() {
        return Err("the profile is a template (archMap/includes/excludes), which the SeccompProfile \
                    resource cannot express: expand it first (seccomp-recorder default --runtime ...)"
            .into());
    }
    let mut y = String::new();
    let _ = writeln!(y, "apiVersion: {}", version.api_version());
    y.push_str("kind: SeccompProfile\nmetadata:\n");
    let _ = writeln!(y, "  name: {}", scalar(name));
    y.push_str("spec:\n");
    let _ = writeln!(y, "  defaultAction: {}", scalar(&p.default_action));
    list(&mut y, "  ", "architectures", &p.architectures);
    if let Some(flags) = &p.flags {
        list(&mut y, "  ", "flags", flags);
    }
    if let Some(path) = &p.listener_path {
        let _ = writeln!(y, "  listenerPath: {}", scalar(path));
    }
    if let Some(meta) = &p.listener_metadata {
        let _ = writeln!(y, "  listenerMetadata: {}", scalar(meta));
    }
    if !p.syscalls.is_empty() {
        y.push_str("  syscalls:\n");
        for (i, rule) in p.syscalls.iter().enumerate() {
            for part in fit_args(rule).map_err(|e| format!("syscalls[{i}].args: {e}"))? {
                write_rule(&mut y, &part);
            }
        }
    }
    Ok(y)
}

/// The resource takes at most 6 conditions per rule, each value at most i64::MAX. Conditions
/// on one argument index are alternatives (runc adds one rule per condition), so such a rule
/// becomes one rule per condition without changing what it allows.
fn fit_args(rule: &Rule) -> Result<Vec<Rule>, String> {
    let args = rule.args();
    if let Some(a) = args
        .iter()
        .find(|a| a.value.max(a.value_two.unwrap_or(0)) > i64::MAX as u64)
    {
        return Err(format!(
            "value {:#x} is larger than the resource allows (int64)",
            a.value.max(a.value_two.unwrap_or(0))
        ));
    }
    if args.len() <= 6 {
        return Ok(vec![rule.clone()]);
    }
    if args.windows(2).any(|w| w[0].index != w[1].index) {
        return Err(format!(
            "{} conditions on different arguments; the resource takes at most 6",
            args.len()
        ));
    }
    Ok(args
        .iter()
        .map(|a| Rule {
            args: Some(vec![a.clone()]),
            ..rule.clone()
        })
        .collect())
}

fn write_rule(y: &mut String, rule: &Rule) {
    let _ = writeln!(y, "  - action: {}", scalar(&rule.action));
    if let Some(errno) = rule.errno() {
        let _ = writeln!(y, "    errnoRet: {errno}");
    }
    let names: Vec<String> = rule.all_names().cloned().collect();
    list(y, "    ", "names", &names);
    if !rule.args().is_empty() {
        y.push_str("    args:\n");
        for arg in rule.args() {
            write_arg(y, arg);
        }
    }
}

fn write_arg(y: &mut String, arg: &Arg) {
    let _ = writeln!(y, "    - index: {}", arg.index);
    let _ = writeln!(y, "      op: {}", scalar(&arg.op));
    let _ = writeln!(y, "      value: {}", arg.value);
    if let Some(two) = arg.value_two {
        let _ = writeln!(y, "      valueTwo: {two}");
    }
}

fn list(y: &mut String, indent: &str, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(y, "{indent}{key}:");
    for item in items {
        let _ = writeln!(y, "{indent}- {}", scalar(item));
    }
}

/// Plain when unambiguous in YAML, else a double-quoted (JSON-escaped) string.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

/// Kubernetes object names are DNS subdomains (RFC 1123).
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid Kubernetes name (lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_resource() {
        let p = Profile::parse(
            br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errno":"ENOSYS"}]}"#,
        )
        .unwrap();
        let expected = "\
apiVersion: security-profiles-operator.x-k8s.io/v1beta1
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
    - read
    - write
  - action: SCMP_ACT_ALLOW
    names:
    - personality
    args:
    - index: 0
      op: SCMP_CMP_EQ
      value: 8
  - action: SCMP_ACT_ERRNO
    errnoRet: 38
    names:
    - clone3
";
        assert_eq!(
            to_yaml(&p, "my-app", SpoVersion::V1beta1).unwrap(),
            expected
        );
    }

    #[test]
    fn refuses_bad_names_and_templates() {
        let p = Profile::parse(br#"{"defaultAction":"SCMP_ACT_ERRNO"}"#).unwrap();
        assert!(to_yaml(&p, "My_App", SpoVersion::V1).is_err());
        let t = Profile::parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#).unwrap();
        assert!(
            to_yaml(&t, "ok", SpoVersion::V1)
                .unwrap_err()
                .contains("template")
        );
    }

    #[test]
    fn splits_more_than_six_alternatives() {
        // CRI-O's clone rule: 7 MASKED_EQ conditions on argument 0.
        let args: Vec<String> = (0..7)
            .map(|i| {
                format!(
                    r#"{{"index":0,"value":{v},"valueTwo":{v},"op":"SCMP_CMP_MASKED_EQ"}}"#,
                    v = 1u64 << (i + 20)
                )
            })
            .collect();
        let text = format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["clone"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{}]}}]}}"#,
            args.join(",")
        );
        let yaml = to_yaml(
            &Profile::parse(text.as_bytes()).unwrap(),
            "x",
            SpoVersion::V1,
        )
        .unwrap();
        assert_eq!(yaml.matches("  - action: SCMP_ACT_ERRNO\n").count(), 7);
        assert_eq!(yaml.matches("    - index: 0\n").count(), 7);
        let mixed = text.replacen(r#""index":0"#, r#""index":1"#, 1);
        let err = to_yaml(
            &Profile::parse(mixed.as_bytes()).unwrap(),
            "x",
            SpoVersion::V1,
        )
        .unwrap_err();
        assert!(err.starts_with("syscalls[0].args:"), "{err}");
    }

    #[test]
    fn quotes_what_yaml_would_misread() {
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("/var/run/x.sock"), "/var/run/x.sock");
    }
}
