//! Importing seccomp audit records (SECCOMP, type 1326) written under an `SCMP_ACT_LOG`
//! profile into the same per-ABI syscall sets that `record` produces.
//!
//! Input is streamed line by line; memory does not grow with the size of the log (only
//! with the number of distinct processes and syscalls seen).

mod input;
mod parse;

pub use input::{MAX_LINE, open};
pub use parse::{Format, Line, Record, parse_line};

use crate::arch::Arch;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot open {path}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {source_name}")]
    Read {
        source_name: String,
        source: std::io::Error,
    },
    #[error("{source_name}:{line}: {reason}")]
    Malformed {
        source_name: String,
        line: u64,
        reason: String,
    },
}

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
    /// Keep the records of runc's init (see [`is_runtime_init`]).
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
/// How many distinct unknown syscall numbers the stats keep (garbage must not grow them).
const UNKNOWN_KEPT: usize = 64;
/// Syscall numbers per ABI that `Importer::added` tracks; the few above (ARM's private
/// calls) take the set's own path.
const ADDED_NRS: usize = 1024;

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

    fn skip(&mut self, why: Skip) {
        *self.skipped.entry(why).or_default() += 1;
    }
}

/// The result of an import: syscall names per ABI, and what happened to every line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub syscalls: BTreeMap<Arch, BTreeSet<String>>,
    pub stats: Stats,
}

/// runc's init (`runc:[2:INIT]`) runs the last steps of container setup, and its final
/// `execve`, under the container's filter: a profile without its calls cannot start the
/// container.
pub(crate) fn is_runtime_init(comm: Option<&str>) -> bool {
    comm.is_some_and(|c| c.starts_with("runc:["))
}

/// The ABI and that ABI's syscall number of a record. x32 shares x86_64's AUDIT_ARCH and
/// marks its numbers with bit 30.
pub(crate) fn resolve_arch(audit_arch: u32, nr: u32) -> Option<(Arch, u32)> {
    const X32_BIT: u32 = 0x4000_0000;
    let arch = Arch::ALL
        .into_iter()
        .find(|a| a.audit_arch() == audit_arch && *a != Arch::X32)?;
    if arch == Arch::X86_64 && nr & X32_BIT != 0 {
        return Some((Arch::X32, nr & !X32_BIT));
    }
    Some((arch, nr))
}

/// The name of an `AUDIT_ARCH_*` value (from linux/audit.h), for messages about records
/// whose architecture has no syscall table here.
pub fn audit_arch_name(audit_arch: u32) -> Option<&'static str> {
    const NAMES: [(u32, &str); 12] = [
        (0xc000_003e, "x86_64"),
        (0x4000_0003, "i386"),
        (0xc000_00b7, "aarch64"),
        (0x4000_0028, "arm"),
        (0xc000_00f3, "riscv64"),
        (0xc000_0015, "ppc64le"),
        (0x8000_0015, "ppc64"),
        (0x0000_0014, "ppc"),
        (0x8000_0016, "s390x"),
        (0x0000_0016, "s390"),
        (0xc000_0102, "loongarch64"),
        (0x8000_0008, "mips64"),
    ];
    NAMES
        .iter()
        .find(|(v, _)| *v == audit_arch)
        .map(|(_, n)| *n)
}

/// Imports one input. For several inputs into one result use [`Importer`].
pub fn import<R: BufRead>(reader: R, options: &Options) -> Result<Imported, AuditError> {
    let mut importer = Importer::new(options);
    importer.read(reader, "<input>")?;
    Ok(importer.finish())
}

/// The syscalls and record count of one runc init not (yet) known to be wanted.
#[derive(Default)]
struct PendingInit {
    names: BTreeSet<(Arch, &'static str)>,
    records: u64,
}

/// Accumulates records from any number of inputs.
pub struct Importer<'a> {
    options: &'a Options,
    syscalls: BTreeMap<Arch, BTreeSet<&'static str>>,
    /// (ABI, number < ADDED_NRS) pairs already in `syscalls`: nearly every record repeats
    /// one, and a bit test is cheaper than the set's string compares.
    added: Vec<bool>,
    stats: Stats,
    /// runc init records that --comm/--exe did not select, per pid: kept at the end if the
    /// same pid (init execs the workload in place) matched.
    pending_init: HashMap<u32, PendingInit>,
    matched_pids: HashSet<u32>,
    /// execve records that --comm/--exe did not select, per pid: a process gets its new
    /// comm and exe only once its execve is done, so that call is logged under the old.
    other_execs: HashMap<u32, String>,
}

impl<'a> Importer<'a> {
    pub fn new(options: &'a Options) -> Self {
        Importer {
            options,
            syscalls: BTreeMap::new(),
            added: vec![false; Arch::ALL.len() * ADDED_NRS],
            stats: Stats::default(),
            pending_init: HashMap::new(),
            matched_pids: HashSet::new(),
            other_execs: HashMap::new(),
        }
    }

    /// Reads every line of `reader`; `source_name` names it in errors and the summary.
    pub fn read<R: BufRead>(&mut self, mut reader: R, source_name: &str) -> Result<(), AuditError> {
        let mut buf = Vec::with_capacity(4096);
        let mut number = 0u64;
        let read_error = |source| AuditError::Read {
            source_name: source_name.to_string(),
            source,
        };
        while let Some(cut) = input::next_line(&mut reader, &mut buf).map_err(read_error)? {
            number += 1;
            self.stats.lines += 1;
            self.stats.bytes += buf.len() as u64 + 1;
            // Valid UTF-8 (nearly every line) is checked without the lossy decoder's
            // per-chunk walk.
            let line = match std::str::from_utf8(&buf) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(&buf),
            };
            let parsed = match parse_line(&line, self.options.format) {
                Line::Seccomp(..) | Line::Malformed(_) if cut => {
                    Line::Malformed(format!("longer than {MAX_LINE} bytes"))
                }
                parsed => parsed,
            };
            if let Line::Malformed(reason) = &parsed
                && self.options.strict
            {
                return Err(AuditError::Malformed {
                    source_name: source_name.to_string(),
                    line: number,
                    reason: reason.clone(),
                });
            }
            self.take(parsed, source_name, number);
        }
        Ok(())
    }

    fn take(&mut self, line: Line, source_name: &str, number: u64) {
        match line {
            Line::Seccomp(format, record) => {
                *self.stats.formats.entry(format).or_default() += 1;
                self.take_record(&record);
            }
            Line::NotAudit => self.stats.skip(Skip::NotAudit),
            Line::OtherType => self.stats.skip(Skip::OtherType),
            Line::OtherFormat => self.stats.skip(Skip::OtherFormat),
            Line::Malformed(reason) => {
                self.stats.skip(Skip::Malformed);
                if self.stats.malformed.len() < MALFORMED_SHOWN {
                    let source_name = source_name.to_string();
                    self.stats.malformed.push(Malformed {
                        source_name,
                        line: number,
                        reason,
                    });
                }
            }
        }
    }

    fn take_record(&mut self, record: &Record) {
        let init = is_runtime_init(record.comm.as_deref());
        let rejected = self.reject(record);
        let keep_init = self.options.runtime_init;
        let pending = init && keep_init && matches!(rejected, Some(Skip::Comm | Skip::Exe));
        match rejected {
            Some(why) if !pending => {
                if matches!(why, Skip::Comm | Skip::Exe) && !init {
                    self.note_exec(record);
                }
                return self.stats.skip(why);
            }
            None if init && !keep_init => return self.stats.skip(Skip::RuntimeInit),
            _ => {}
        }
        let Some((arch, nr, name)) = self.resolve(record) else {
            return;
        };
        if pending {
            let init = self.pending_init.entry(record.pid).or_default();
            init.names.insert((arch, name));
            init.records += 1;
            return;
        }
        let bit = (nr < ADDED_NRS as u32).then(|| arch as usize * ADDED_NRS + nr as usize);
        if bit.is_none_or(|b| !self.added[b]) {
            self.syscalls.entry(arch).or_default().insert(name);
            if let Some(b) = bit {
                self.added[b] = true;
            }
        }
        self.stats.matched += 1;
        self.stats.runtime_init += u64::from(init);
        self.matched_pids.insert(record.pid);
    }

    fn note_exec(&mut self, record: &Record) {
        let name = resolve_arch(record.arch, record.syscall).and_then(|(a, nr)| a.syscall_name(nr));
        if matches!(name, Some("execve" | "execveat")) {
            let comm = record.comm.clone().unwrap_or_default();
            self.other_execs.insert(record.pid, comm);
        }
    }

    /// The ABI and name of a record's syscall; counts the skip when there is none.
    fn resolve(&mut self, record: &Record) -> Option<(Arch, u32, &'static str)> {
        let Some((arch, nr)) = resolve_arch(record.arch, record.syscall) else {
            self.stats.skip(Skip::UnsupportedArch);
            *self
                .stats
                .unsupported_arches
                .entry(record.arch)
                .or_default() += 1;
            return None;
        };
        let name = arch.syscall_name(nr);
        if name.is_none() {
            self.stats.skip(Skip::UnknownSyscall);
            let key = (record.arch, record.syscall);
            if self.stats.unknown.len() < UNKNOWN_KEPT || self.stats.unknown.contains_key(&key) {
                *self.stats.unknown.entry(key).or_default() += 1;
            }
        }
        name.map(|n| (arch, nr, n))
    }

    /// The first filter that rejects `record`, if any.
    fn reject(&self, record: &Record) -> Option<Skip> {
        let o = self.options;
        let any = |list: &[String], value: &Option<String>| {
            list.is_empty() || value.as_ref().is_some_and(|v| list.contains(v))
        };
        let action = Action::from_code(record.code);
        if !action.is_some_and(|a| o.actions.contains(&a)) {
            return Some(Skip::Action);
        }
        let time = record.time_ms;
        let early = o.since_ms.is_some_and(|s| time.is_none_or(|t| t < s));
        let late = o.until_ms.is_some_and(|u| time.is_none_or(|t| t > u));
        if early || late {
            return Some(Skip::Time);
        }
        if !o.uids.is_empty() && !record.uid.is_some_and(|u| o.uids.contains(&u)) {
            return Some(Skip::Uid);
        }
        if !o.pids.is_empty() && !o.pids.contains(&record.pid) {
            return Some(Skip::Pid);
        }
        if !any(&o.comms, &record.comm) {
            return Some(Skip::Comm);
        }
        if !any(&o.exes, &record.exe) {
            return Some(Skip::Exe);
        }
        None
    }

    /// The syscalls found, after adding the runc init records of selected processes.
    pub fn finish(mut self) -> Imported {
        for (pid, init) in std::mem::take(&mut self.pending_init) {
            if !self.matched_pids.contains(&pid) {
                *self.stats.skipped.entry(Skip::InitOfOther).or_default() += init.records;
                continue;
            }
            for (arch, name) in init.names {
                self.syscalls.entry(arch).or_default().insert(name);
            }
            self.stats.matched += init.records;
            self.stats.runtime_init += init.records;
        }
        self.stats.execs_under_other_comm = self
            .other_execs
            .into_iter()
            .filter(|(pid, _)| self.matched_pids.contains(pid))
            .collect();
        let syscalls = self
            .syscalls
            .into_iter()
            .map(|(arch, names)| (arch, names.into_iter().map(String::from).collect()))
            .collect();
        Imported {
            syscalls,
            stats: self.stats,
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

#[cfg(test)]
mod tests;
