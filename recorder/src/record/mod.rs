//! A recording session: resolve the targets, load and attach the kernel side, run the
//! command (or watch existing targets) until it is time to stop, then read what each
//! target made.

mod follow;
mod session;
mod signals;

pub use follow::FollowFilter;

use crate::cgroup::CgroupError;
use crate::follow::FollowError;
use crate::spawn::{self, SpawnError};
use crate::target::{Container, Target, TargetError};
use crate::trace::{AttachKind, Syscalls, TraceError};
use session::Session;
use signals::Signals;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(
        "nothing to record: give a command (record -- CMD), --cgroup/--pid/--container or \
         --follow-containers"
    )]
    NoTarget,
    #[error("cannot watch for signals: {0}")]
    Signals(std::io::Error),
    #[error(
        "the kernel maps were full: {refused} cgroups made while recording were not recorded \
         (the maps hold {capacity}: the targets' cgroups and 1024 more for those made under \
         them, 2048 with --follow-containers). The profile would miss their calls, so none is \
         written: record a part of the workload that makes fewer cgroups at once"
    )]
    MapFull { refused: u64, capacity: u32 },
}

/// Following fails on the cgroup tree or the tracer's maps: said as such.
impl From<FollowError> for RecordError {
    fn from(e: FollowError) -> Self {
        match e {
            FollowError::Cgroup(e) => RecordError::Cgroup(e),
            FollowError::Trace(e) => RecordError::Trace(e),
        }
    }
}

/// What to record and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub targets: Vec<Target>,
    /// Command to run in a fresh cgroup; empty for none.
    pub command: Vec<OsString>,
    /// Stop after this long (existing targets only; a command decides its own end).
    pub duration: Option<Duration>,
    /// Force an attach point instead of the cheapest available.
    pub attach: Option<AttachKind>,
    /// After the command exits, how long to wait for what it left running in its cgroup.
    pub linger: Duration,
    /// Also record every container any engine starts while recording, one target each.
    pub follow: Option<FollowFilter>,
    /// Engine state directories besides the running engines' and the default ones (see
    /// [`EngineRoots::discover`]).
    pub engine_roots: Vec<PathBuf>,
    /// Give the command our stderr as its stdout, when stdout carries the profile.
    pub command_stdout_to_stderr: bool,
}

/// One target's result.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub label: String,
    pub cgroup: PathBuf,
    pub syscalls: Syscalls,
    /// Set when the target is a container (named, or found by --follow-containers).
    pub container: Option<Container>,
}

/// Why recording ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    CommandExited(spawn::Exit),
    Signal(i32),
    Duration,
    TargetsEmpty,
}

#[derive(Clone, Debug)]
pub struct Report {
    /// The command's target first (label `command`), then the others in the given order.
    pub targets: Vec<TargetReport>,
    pub attach: AttachKind,
    pub elapsed: Duration,
    pub stop: Stop,
    /// Processes the command left behind, moved out of its cgroup unrecorded.
    pub leftovers: usize,
}

/// What happens while recording, for the caller to show as it happens.
pub enum Event<'a> {
    /// About once a second: what has been seen so far.
    Progress(Duration, &'a [TargetReport]),
    Note(Note),
}

/// Something the user may want to know; a warning means a profile may be less than asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Warning(String),
}

type Events<'a> = &'a mut dyn FnMut(Event<'_>);

fn info(events: Events<'_>, text: String) {
    events(Event::Note(Note::Info(text)));
}

fn warning(events: Events<'_>, text: String) {
    events(Event::Note(Note::Warning(text)));
}

pub fn record(opts: &Options, events: Events<'_>) -> Result<Report, RecordError> {
    if opts.targets.is_empty() && opts.command.is_empty() && opts.follow.is_none() {
        return Err(RecordError::NoTarget);
    }
    let mut s = Session::start(opts, events)?;
    let own = s.own.take();
    // A target whose processes all exit in the first poll interval must still count as
    // having been populated, or the watch would never end.
    let populated_at_start = s.populated();
    let attach = s.tracer.attach(opts.attach)?;
    info(s.events, format!("recording via {attach}"));
    let signals = Signals::install()?;
    let start = Instant::now();
    let result = match &own {
        Some(own) => s.run_command(opts, own, &signals, start),
        None => s.watch(opts, populated_at_start, &signals, start),
    };
    s.tracer.detach();
    drop(signals);
    // Cgroups born in the last poll interval.
    s.scan();
    let (stop, leftovers) = result?;
    let elapsed = start.elapsed();
    let targets = s.collect()?;
    s.finish(opts, own.as_ref(), &targets);
    let refused = s.tracer.refused()?;
    if refused > 0 {
        let capacity = s.tracer.capacity();
        return Err(RecordError::MapFull { refused, capacity });
    }
    Ok(Report {
        targets,
        attach,
        elapsed,
        stop,
        leftovers,
    })
}
