//! The seccomp profile model: OCI runtime-spec `LinuxSeccomp` JSON and the Docker /
//! containers-common template superset (`archMap`, `includes`/`excludes`, `errno` names),
//! with validation, SPO output and merge.
//!
//! Fields the model does not know are kept in `extra` so that a profile written back out
//! loses nothing; `validate` reports them.

use crate::arch::Arch;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod action;
pub mod container;
mod errno;
pub mod flags;
mod merge;
mod spo;
mod validate;

pub use action::DefaultAction;
pub(crate) use action::MAX_ERRNO;
use errno::resolve_errno;
pub(crate) use errno::{errno_name, errno_number};
pub use merge::{MergeError, MergeOptions, OnConflict, merge};
pub use spo::SpoVersion;
pub use validate::Issue;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a valid seccomp profile: {field}: {message}")]
    Parse {
        path: String,
        field: String,
        message: String,
    },
    #[error("{path}: invalid seccomp profile:{}", list(issues))]
    Invalid { path: String, issues: Vec<Issue> },
}

fn list(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("\n  {i}")).collect()
}

/// Every action libseccomp and the runtime-spec know.
pub(crate) const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// Actions after which the syscall runs.
pub(crate) fn action_allows(action: &str) -> bool {
    matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG")
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_errno_ret: Option<u32>,
    /// containers/common: an errno name or number that wins over `defaultErrnoRet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_errno: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) architectures: Vec<String>,
    /// Docker / containers-common template: the loader picks the entry of the host arch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) listener_metadata: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) syscalls: Vec<Rule>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArchMapEntry {
    pub(crate) architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sub_architectures: Option<Vec<String>>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rule {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) names: Vec<String>,
    /// Docker's deprecated single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) args: Option<Vec<Arg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) includes: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) excludes: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) errno_ret: Option<u32>,
    /// containers/common: an errno name or number that wins over `errnoRet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) errno: Option<String>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Arg {
    pub(crate) index: u32,
    pub(crate) value: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value_two: Option<u64>,
    pub(crate) op: String,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

/// A template condition: host arches (libseccomp native names such as `amd64`),
/// capabilities of the container, and the host kernel (`major.minor`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) caps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arches: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_kernel: Option<String>,
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Rule {
    /// `names`, or Docker's deprecated `name`.
    pub(crate) fn all_names(&self) -> impl Iterator<Item = &String> {
        self.names.iter().chain(self.name.iter())
    }

    pub(crate) fn args(&self) -> &[Arg] {
        self.args.as_deref().unwrap_or_default()
    }

    /// The errno this rule returns, as its loader computes it (a name wins over the number).
    pub(crate) fn errno(&self) -> Option<u32> {
        resolve_errno(self.errno.as_deref(), self.errno_ret)
    }

    fn is_template(&self) -> bool {
        let set = |f: &Option<Filter>| f.as_ref().is_some_and(|f| *f != Filter::default());
        set(&self.includes) || set(&self.excludes)
    }
}

/// Calls the kernel makes on a program's behalf: returning from a signal handler, and
/// resuming a call a signal interrupted (`restart_syscall`, seen in 2 of 3 recordings of
/// a `cargo test`). Refusing them grants nothing and only ever kills the process, and a
/// run sees them only when a signal happens to arrive.
pub(crate) const KERNEL_MADE: [&str; 3] = ["rt_sigreturn", "sigreturn", "restart_syscall"];

/// Adds [`KERNEL_MADE`] to every ABI that has them.
pub fn add_kernel_made(names: &mut BTreeMap<Arch, BTreeSet<String>>) {
    for (arch, set) in names.iter_mut() {
        let known = KERNEL_MADE
            .iter()
            .filter(|n| arch.syscall_number(n).is_some());
        set.extend(known.map(|n| n.to_string()));
    }
}

impl Profile {
    /// The minimal allow-list profile for recorded syscalls: only the recorded ABIs, one
    /// sorted ALLOW rule naming every call of every ABI (runtime-spec rules apply to all
    /// listed arches at once).
    pub fn allow(recorded: &BTreeMap<Arch, BTreeSet<String>>, default: DefaultAction) -> Profile {
        let names: BTreeSet<&String> = recorded.values().flatten().collect();
        let mut profile = Profile {
            architectures: recorded.keys().map(|a| a.scmp_name().to_string()).collect(),
            syscalls: if names.is_empty() {
                Vec::new()
            } else {
                vec![Rule {
                    names: names.into_iter().cloned().collect(),
                    action: "SCMP_ACT_ALLOW".to_string(),
                    ..Rule::default()
                }]
            },
            ..Profile::default()
        };
        default.apply(&mut profile);
        profile
    }

    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let p = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ProfileError::Read {
            path: p.clone(),
            source,
        })?;
        Profile::parse(&text).map_err(|(field, message)| ProfileError::Parse {
            path: p,
            field,
            message,
        })
    }

    /// Loads a profile and refuses it if `validate` finds errors; the warnings are returned
    /// for the caller to show.
    pub fn load_valid(path: &Path) -> Result<(Profile, Vec<Issue>), ProfileError> {
        let profile = Profile::load(path)?;
        let (errors, warnings): (Vec<Issue>, Vec<Issue>) =
            profile.validate().into_iter().partition(|i| i.error);
        if errors.is_empty() {
            Ok((profile, warnings))
        } else {
            Err(ProfileError::Invalid {
                path: path.display().to_string(),
                issues: errors,
            })
        }
    }

    /// Parses profile JSON; on error, the field path (`syscalls[3].args[0].op`) and why.
    pub fn parse(text: &[u8]) -> Result<Profile, (String, String)> {
        let de = &mut serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "(top level)".to_string()
            } else {
                path
            };
            (field, e.into_inner().to_string())
        })
    }

    /// Deterministic pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("profile serializes");
        s.push('\n');
        s
    }

    /// The Security Profiles Operator `SeccompProfile` resource, as YAML.
    pub fn to_spo_yaml(&self, name: &str, version: SpoVersion) -> Result<String, String> {
        spo::to_yaml(self, name, version)
    }

    /// Names allowed unconditionally, per listed architecture.
    pub fn allowed(&self) -> BTreeMap<Arch, BTreeSet<String>> {
        let names: BTreeSet<String> = self
            .syscalls
            .iter()
            .filter(|r| r.action == "SCMP_ACT_ALLOW" && r.args().is_empty() && !r.is_template())
            .flat_map(|r| r.all_names().cloned())
            .collect();
        self.architectures
            .iter()
            .filter_map(|a| Arch::from_scmp_name(a))
            .map(|a| (a, names.clone()))
            .collect()
    }

    /// True if the profile needs a loader to expand it (`archMap`, `includes`, `excludes`).
    pub fn is_template(&self) -> bool {
        self.arch_map.is_some() || self.syscalls.iter().any(Rule::is_template)
    }

    /// Drops the names that are no syscall on any listed architecture: runtimes skip them,
    /// and upstream templates list every architecture's calls in one rule. Nothing changes
    /// when an architecture has no table here.
    pub fn drop_foreign_names(&mut self) {
        let Some(tables) = validate::name_tables(self) else {
            return;
        };
        for rule in &mut self.syscalls {
            rule.names.retain(|n| validate::known_on(n, &tables));
        }
        self.syscalls
            .retain(|r| !r.names.is_empty() || r.name.is_some());
    }

    /// The errno of the default action, as the loader computes it.
    pub fn default_errno(&self) -> Option<u32> {
        resolve_errno(self.default_errno.as_deref(), self.default_errno_ret)
    }

    /// Problems that make a runtime reject the profile or misread it, each with its field.
    pub fn validate(&self) -> Vec<Issue> {
        validate::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_is_plain_runtime_spec() {
        let rec = BTreeMap::from([
            (
                Arch::X86_64,
                BTreeSet::from(["read".to_string(), "exit_group".to_string()]),
            ),
            (
                Arch::X86,
                BTreeSet::from(["read".to_string(), "socketcall".to_string()]),
            ),
        ]);
        let p = Profile::allow(&rec, DefaultAction::Errno(1));
        let expected = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86"
  ],
  "syscalls": [
    {
      "names": [
        "exit_group",
        "read",
        "socketcall"
      ],
      "action": "SCMP_ACT_ALLOW"
    }
  ]
}
"#;
        assert_eq!(p.to_json(), expected);
    }

    #[test]
    fn keeps_unknown_fields() {
        let text = br#"{"defaultAction":"SCMP_ACT_LOG","x-note":{"a":1},"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","vendor":true}]}"#;
        let p = Profile::parse(text).unwrap();
        let back: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(back["x-note"]["a"], 1);
        assert_eq!(back["syscalls"][0]["vendor"], true);
    }

    #[test]
    fn parse_error_names_the_field() {
        let text = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":"zero","value":1,"op":"SCMP_CMP_EQ"}]}]}"#;
        let (field, _) = Profile::parse(text).unwrap_err();
        assert_eq!(field, "syscalls[0].args[0].index");
    }

    #[test]
    fn errno_name_wins_over_number() {
        let r = Rule {
            errno: Some("ENOSYS".into()),
            errno_ret: Some(1),
            ..Rule::default()
        };
        assert_eq!(r.errno(), Some(38));
        assert_eq!(errno_number("38"), Some(38));
        assert_eq!(errno_name(1), Some("EPERM"));
    }
}
