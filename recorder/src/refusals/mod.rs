//! Seccomp refusals seen live: the SECCOMP audit records (type 1326) the kernel writes for
//! a filter loaded with `SECCOMP_FILTER_FLAG_LOG` (errno, trap, kill) or for an
//! `SCMP_ACT_LOG` rule, read as they happen.
//!
//! Two paths, picked by [`Watcher::open`]: the audit netlink multicast group (every record,
//! whether auditd runs or not) and `/dev/kmsg` (only while no auditd runs, and only as
//! many as the kernel's printk rate limit lets through). Both count what they cannot use
//! and what the kernel lost, and neither keeps anything per record: callers count per key
//! with [`Counts`].

mod attribute;
mod audit_netlink;
mod counts;
mod kernel;
mod kmsg;
mod watcher;

pub(crate) use attribute::find_id;
pub use attribute::{Attributor, within};
pub use counts::{Added, Counts};
pub use kernel::{KernelCount, KernelPath};
pub use watcher::{Losses, Source, Stats, Watcher};

use crate::arch::Arch;
use crate::audit::{Action, Line, Record, audit_arch_name, parse_line};

#[derive(Debug, thiserror::Error)]
pub enum RefusalError {
    #[error(
        "cannot open the audit netlink socket ({what}): {source}; it needs root \
         (CAP_AUDIT_READ) in the host's network namespace; use --source kmsg where only \
         /dev/kmsg is readable"
    )]
    Netlink {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot read /dev/kmsg ({what}): {source}; it needs root (CAP_SYSLOG)")]
    Kmsg {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("no way to see seccomp refusals here: {0}")]
    NoSource(String),
    #[error(
        "cannot watch seccomp refusals at all: the kernel path is not available ({kernel}), \
         and the audit path is not either ({audit})"
    )]
    Nowhere {
        kernel: String,
        audit: Box<RefusalError>,
    },
}

/// One SECCOMP record: a call a filter refused, or (action `log`) allowed and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Milliseconds since the epoch, from the record's `audit(SEC.MSEC:SERIAL)`.
    pub time_ms: Option<u64>,
    /// The host's PID of the process (its thread group).
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    /// The record's `AUDIT_ARCH_*` value.
    pub audit_arch: u32,
    /// The syscall number in that architecture's numbering.
    pub nr: u32,
    pub action: Action,
}

impl Refusal {
    fn from_record(record: &Record) -> Option<Refusal> {
        Some(Refusal {
            time_ms: record.time_ms,
            pid: record.pid,
            comm: record.comm.clone(),
            exe: record.exe.clone(),
            audit_arch: record.arch,
            nr: record.syscall,
            action: Action::from_code(record.code)?,
        })
    }

    /// Whether the call was refused; `false` for `SCMP_ACT_LOG`, which lets it through.
    pub fn refused(&self) -> bool {
        self.action != Action::Log
    }

    /// The ABI and its syscall number, when the recorder has a table for it.
    pub fn arch(&self) -> Option<(Arch, u32)> {
        crate::audit::resolve_arch(self.audit_arch, self.nr)
    }

    /// The syscall's name, when its architecture and number are known.
    pub fn syscall(&self) -> Option<&'static str> {
        self.arch().and_then(|(arch, nr)| arch.syscall_name(nr))
    }

    /// The syscall's name, or `nr:N` for a number without one.
    pub fn syscall_label(&self) -> String {
        self.syscall()
            .map_or_else(|| format!("nr:{}", self.nr), String::from)
    }

    /// The architecture's [`arch_label`], or the name of its AUDIT_ARCH (`s390x`, ...)
    /// when the recorder has no table for it, else that value in hex.
    pub fn arch_label(&self) -> String {
        match self.arch() {
            Some((arch, _)) => arch_label(arch).into(),
            None => audit_arch_name(self.audit_arch)
                .map_or_else(|| format!("{:x}", self.audit_arch), String::from),
        }
    }

    /// The action's name as `import-audit --action` spells it.
    pub fn action_label(&self) -> &'static str {
        self.action.name()
    }
}

/// How every refusal output (log lines, `watch-refusals` lines, the metric's `arch` label,
/// `refusals.json`) names an ABI, whichever path saw the refusal: the kernel's audit
/// spelling (`arch=` of `ausearch -i`), with `x32` for the ABI that shares x86_64's
/// AUDIT_ARCH.
pub fn arch_label(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::X86 => "i386",
        Arch::X32 => "x32",
        Arch::Aarch64 => "aarch64",
        Arch::Arm => "arm",
    }
}

/// What one line or message of audit text turned out to be.
pub(crate) enum Parsed {
    Refusal(Refusal),
    OtherType,
    Foreign,
    Malformed(String),
}

/// Reads one audit text line (kernel or auditd form) with the importer's parser.
pub(crate) fn parse(line: &str) -> Parsed {
    match parse_line(line, None) {
        Line::Seccomp(_, record) => match Refusal::from_record(&record) {
            Some(r) => Parsed::Refusal(r),
            None => Parsed::Malformed(format!("code=0x{:x} is not an action", record.code)),
        },
        Line::OtherType => Parsed::OtherType,
        Line::NotAudit | Line::OtherFormat => Parsed::Foreign,
        Line::Malformed(reason) => Parsed::Malformed(reason),
    }
}

#[cfg(test)]
mod tests;
