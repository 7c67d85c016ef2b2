//! Which records an import keeps: the seccomp actions, processes and times asked for.

use super::Format;
use std::collections::BTreeSet;
use std::str::FromStr;

/// The action that made the kernel log a record (`code=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Log,
    Errno,
    Trap,
    Trace,
    UserNotif,
    KillThread,
    KillProcess,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Log,
        Action::Errno,
        Action::Trap,
        Action::Trace,
        Action::UserNotif,
        Action::KillThread,
        Action::KillProcess,
    ];

    /// The action of a `code=` value (`SECCOMP_RET_*`, action bits only).
    pub(crate) fn from_code(code: u32) -> Option<Action> {
        match code {
            0x7ffc_0000 => Some(Action::Log),
            0x0005_0000 => Some(Action::Errno),
            0x0003_0000 => Some(Action::Trap),
            0x7ff0_0000 => Some(Action::Trace),
            0x7fc0_0000 => Some(Action::UserNotif),
            0x0000_0000 => Some(Action::KillThread),
            0x8000_0000 => Some(Action::KillProcess),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::Errno => "errno",
            Action::Trap => "trap",
            Action::Trace => "trace",
            Action::UserNotif => "user-notif",
            Action::KillThread => "kill-thread",
            Action::KillProcess => "kill-process",
        }
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown action '{s}' (expected one of: {}, or all)",
                    names.join(", ")
                )
            })
    }
}

/// Which records to read and which to keep.
#[derive(Clone, Debug)]
pub struct Options {
    /// `None` detects the format of every line on its own.
    pub format: Option<Format>,
    /// Each filter list keeps a record matching any of its entries; an empty list keeps all.
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub exes: Vec<String>,
    pub uids: Vec<u32>,
    /// Milliseconds since the epoch, inclusive.
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub actions: BTreeSet<Action>,
    /// Keep the records of runc's init (see [`super::arch::is_runtime_init`]).
    pub runtime_init: bool,
    /// The first malformed line is an error instead of a counted skip.
    pub strict: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: None,
            pids: Vec::new(),
            comms: Vec::new(),
            exes: Vec::new(),
            uids: Vec::new(),
            since_ms: None,
            until_ms: None,
            actions: BTreeSet::from([Action::Log]),
            runtime_init: true,
            strict: false,
        }
    }
}

/// A `--since`/`--until` time in UTC, as milliseconds since the epoch: `2026-11-22`,
/// `2026-11-22T10:00`, `2026-11-22 10:00:30.5`, an optional trailing `Z`, or `@1795368544`
/// (seconds since the epoch, the number audit records carry).
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{text}' is not a time: use UTC as 2026-11-22, 2026-11-22T10:00, \
             2026-11-22T10:00:30 or @SECONDS-SINCE-EPOCH"
        )
    };
    if let Some(epoch) = text.strip_prefix('@') {
        let (secs, frac) = epoch.split_once('.').unwrap_or((epoch, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if secs.is_empty() || !digits(secs) || !digits(frac) {
            return Err(bad());
        }
        let millis: u64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
        return secs
            .parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .and_then(|ms| ms.checked_add(millis))
            .ok_or_else(bad);
    }
    let plain = text.strip_suffix('Z').unwrap_or(text);
    let full = match plain.len() {
        10 => format!("{plain}T00:00:00"),
        16 => format!("{plain}:00"),
        _ => plain.to_string(),
    };
    let time = humantime::parse_rfc3339_weak(&full).map_err(|_| bad())?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad())?;
    Ok(since_epoch.as_millis() as u64)
}
