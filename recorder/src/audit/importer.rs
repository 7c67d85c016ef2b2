//! Reading lines into per-ABI syscall sets, with the filters of [`Options`].

use super::arch::{is_runtime_init, resolve_arch};
use super::input::{self, MAX_LINE};
use super::{
    Action, AuditError, Imported, Line, MALFORMED_SHOWN, Malformed, Options, Record, Skip, Stats,
    parse_line,
};
use crate::arch::Arch;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::BufRead;

/// How many distinct unknown syscall numbers the stats keep (garbage must not grow them).
const UNKNOWN_KEPT: usize = 64;
/// Syscall numbers per ABI that `Importer::added` tracks; the few above (ARM's private
/// calls) take the set's own path.
const ADDED_NRS: usize = 1024;

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
