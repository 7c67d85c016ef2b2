//! What happened to every line of an import, for the summary.

use super::Format;
use std::collections::BTreeMap;
use std::fmt;

/// Why a line did not contribute a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skip {
    NotAudit,
    OtherType,
    OtherFormat,
    Malformed,
    UnsupportedArch,
    UnknownSyscall,
    Action,
    Time,
    Uid,
    Pid,
    Comm,
    Exe,
    RuntimeInit,
    InitOfOther,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NotAudit => "not an audit record",
            Skip::OtherType => "audit record of another type",
            Skip::OtherFormat => "not in the --format asked for",
            Skip::Malformed => "malformed",
            Skip::UnsupportedArch => "architecture not supported",
            Skip::UnknownSyscall => "syscall number unknown for its architecture",
            Skip::Action => "action not selected (--action)",
            Skip::Time => "outside --since/--until",
            Skip::Uid => "other uid (--uid)",
            Skip::Pid => "other pid (--pid)",
            Skip::Comm => "other comm (--comm)",
            Skip::Exe => "other exe (--exe)",
            Skip::RuntimeInit => "runc init (--no-runtime-init)",
            Skip::InitOfOther => "runc init of a process not selected",
        })
    }
}

/// A malformed line, kept for the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub source_name: String,
    pub line: u64,
    pub reason: String,
}

/// How many malformed lines the summary shows.
pub(crate) const MALFORMED_SHOWN: usize = 5;

/// Counts for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub lines: u64,
    pub bytes: u64,
    /// SECCOMP records whose syscall went into the result.
    pub matched: u64,
    pub skipped: BTreeMap<Skip, u64>,
    /// The first [`MALFORMED_SHOWN`] malformed lines.
    pub malformed: Vec<Malformed>,
    /// Matched records made by runc's init.
    pub runtime_init: u64,
    /// Selected processes whose execve was logged under another comm (pid -> that comm),
    /// and so was left out.
    pub execs_under_other_comm: BTreeMap<u32, String>,
    /// Records per `arch=` value we have no syscall table for.
    pub unsupported_arches: BTreeMap<u32, u64>,
    /// Records per format, matched or not.
    pub formats: BTreeMap<Format, u64>,
    /// `(AUDIT_ARCH, nr)` pairs that named no known syscall (the first few), with counts.
    pub unknown: BTreeMap<(u32, u32), u64>,
}

impl Stats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub(super) fn skip(&mut self, why: Skip) {
        *self.skipped.entry(why).or_default() += 1;
    }
}
