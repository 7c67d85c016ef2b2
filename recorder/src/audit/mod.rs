//! Importing seccomp audit records (SECCOMP, type 1326) written under an `SCMP_ACT_LOG`
//! profile into the same per-ABI syscall sets that `record` produces.
//!
//! Input is streamed line by line; memory does not grow with the size of the log (only
//! with the number of distinct processes and syscalls seen).

mod arch;
mod importer;
mod input;
mod options;
mod parse;
mod stats;

pub use arch::audit_arch_name;
pub(crate) use arch::resolve_arch;
pub use importer::Importer;
pub use input::{MAX_LINE, open};
pub use options::{Action, Options, parse_time};
pub use parse::{Format, Line, Record, parse_line};
pub(crate) use stats::MALFORMED_SHOWN;
pub use stats::{Malformed, Skip, Stats};

use crate::arch::Arch;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

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

/// The result of an import: syscall names per ABI, and what happened to every line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub syscalls: BTreeMap<Arch, BTreeSet<String>>,
    pub stats: Stats,
}

/// Imports one input. For several inputs into one result use [`Importer`].
pub fn import<R: BufRead>(reader: R, options: &Options) -> Result<Imported, AuditError> {
    let mut importer = Importer::new(options);
    importer.read(reader, "<input>")?;
    Ok(importer.finish())
}

#[cfg(test)]
mod tests;
