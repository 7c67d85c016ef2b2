//! The seccomp profile model: OCI runtime-spec `LinuxSeccomp` JSON.

use crate::arch::Arch;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid seccomp profile: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<Rule>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub names: Vec<String>,
    pub action: String,
}

/// What a syscall outside the profile gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Errno(u32),
    KillProcess,
    KillThread,
    Trap,
    Log,
}

impl DefaultAction {
    fn to_fields(self) -> (&'static str, Option<u32>) {
        match self {
            DefaultAction::Errno(e) => ("SCMP_ACT_ERRNO", Some(e)),
            DefaultAction::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            DefaultAction::KillThread => ("SCMP_ACT_KILL_THREAD", None),
            DefaultAction::Trap => ("SCMP_ACT_TRAP", None),
            DefaultAction::Log => ("SCMP_ACT_LOG", None),
        }
    }
}

impl Profile {
    /// The minimal allow-list profile for recorded syscalls: only the recorded ABIs, one
    /// sorted ALLOW rule naming every call of every ABI (runtime-spec rules apply to all
    /// listed arches at once).
    pub fn allow(recorded: &BTreeMap<Arch, BTreeSet<String>>, default: DefaultAction) -> Profile {
        let (action, errno) = default.to_fields();
        let names: BTreeSet<&String> = recorded.values().flatten().collect();
        Profile {
            default_action: action.to_string(),
            default_errno_ret: errno,
            architectures: recorded.keys().map(|a| a.scmp_name().to_string()).collect(),
            syscalls: if names.is_empty() {
                Vec::new()
            } else {
                vec![Rule {
                    names: names.into_iter().cloned().collect(),
                    action: "SCMP_ACT_ALLOW".to_string(),
                }]
            },
        }
    }

    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let p = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ProfileError::Read {
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| ProfileError::Parse { path: p, source })
    }

    /// Deterministic pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("profile serializes");
        s.push('\n');
        s
    }

    /// Names allowed unconditionally, per listed architecture.
    pub fn allowed(&self) -> BTreeMap<Arch, BTreeSet<String>> {
        let names: BTreeSet<String> = self
            .syscalls
            .iter()
            .filter(|r| r.action == "SCMP_ACT_ALLOW")
            .flat_map(|r| r.names.iter().cloned())
            .collect();
        self.architectures
            .iter()
            .filter_map(|a| Arch::from_scmp_name(a))
            .map(|a| (a, names.clone()))
            .collect()
    }
}
