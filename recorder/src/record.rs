//! A recording session: resolve the targets, load and attach the kernel side, run the
//! command (or watch existing targets) until it is time to stop, then read what each
//! target made.

use crate::cgroup::{self, CgroupError, OwnCgroup};
use crate::spawn::{self, SpawnError};
use crate::target::{Resolved, Target, TargetError};
use crate::trace::{AttachKind, Syscalls, TraceError, Tracer};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
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
    #[error("nothing to record: give a command (record -- CMD) or --cgroup/--pid/--container")]
    NoTarget,
    #[error("cannot watch for signals: {0}")]
    Signals(std::io::Error),
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
}

/// One target's result.
#[derive(Clone, Debug)]
pub struct TargetReport {
    pub label: String,
    pub cgroup: PathBuf,
    pub syscalls: Syscalls,
}

/// Why recording ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    CommandExited(i32),
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

/// Progress while recording: called about once a second with what has been seen so far.
pub type Progress<'a> = &'a mut dyn FnMut(Duration, &[TargetReport]);

pub fn record(opts: &Options, progress: Progress<'_>) -> Result<Report, RecordError> {
    if opts.targets.is_empty() && opts.command.is_empty() {
        return Err(RecordError::NoTarget);
    }
    let mount = cgroup::mount_point()?;
    let resolved: Vec<Resolved> = opts
        .targets
        .iter()
        .map(|t| t.resolve(&mount))
        .collect::<Result<_, _>>()?;
    let trees: Vec<Vec<PathBuf>> = resolved
        .iter()
        .map(|r| cgroup::subtree(&r.cgroup))
        .collect();
    let existing: usize = trees.iter().map(Vec::len).sum();
    let mut tracer = Tracer::load((existing + 1 + 1024) as u32)?;

    let mut watched: Vec<(String, PathBuf, u64)> = Vec::new();
    let own = if opts.command.is_empty() {
        None
    } else {
        let own = OwnCgroup::create(&mount)?;
        tracer.add_target(own.id)?;
        watched.push(("command".into(), own.path.clone(), own.id));
        Some(own)
    };
    for (r, tree) in resolved.iter().zip(&trees) {
        let root = cgroup::id(&r.cgroup)?;
        tracer.add_target(root)?;
        for child in &tree[1..] {
            if let Ok(id) = cgroup::id(child) {
                tracer.add_child(id, root)?;
            }
        }
        watched.push((r.label.clone(), r.cgroup.clone(), root));
    }
    // A target whose processes all exit in the first poll interval must still count as
    // having been populated, or the watch would never end.
    let populated_at_start: Vec<bool> = watched
        .iter()
        .map(|(_, p, _)| cgroup::populated(p))
        .collect();
    let attach = tracer.attach(opts.attach)?;
    log::info!("recording via {attach}");

    let signals = Signals::install()?;
    let start = Instant::now();
    let result = match &own {
        Some(own) => run_command(opts, own, &tracer, &watched, &signals, progress, start),
        None => watch(
            opts,
            &tracer,
            &watched,
            populated_at_start,
            &signals,
            progress,
            start,
        ),
    };
    tracer.detach();
    drop(signals);
    let (stop, leftovers) = result?;
    let elapsed = start.elapsed();
    let targets = collect(&tracer, &watched)?;
    if let Some(own) = &own {
        own.evict(&mount);
    }
    Ok(Report {
        targets,
        attach,
        elapsed,
        stop,
        leftovers,
    })
}

fn collect(
    tracer: &Tracer,
    watched: &[(String, PathBuf, u64)],
) -> Result<Vec<TargetReport>, RecordError> {
    let mut seen = tracer.read()?;
    Ok(watched
        .iter()
        .map(|(label, cgroup, id)| TargetReport {
            label: label.clone(),
            cgroup: cgroup.clone(),
            syscalls: seen.remove(id).unwrap_or_default(),
        })
        .collect())
}

fn run_command(
    opts: &Options,
    own: &OwnCgroup,
    tracer: &Tracer,
    watched: &[(String, PathBuf, u64)],
    signals: &Signals,
    progress: Progress<'_>,
    start: Instant,
) -> Result<(Stop, usize), RecordError> {
    let child = spawn::spawn(&opts.command, &own.dir)?;
    let mut ticker = Ticker::new();
    let status = loop {
        let (child_done, sig) = signals.poll(Some(child.pidfd.as_raw_fd()), 200);
        if let Some(sig) = sig {
            log::info!("forwarding signal {sig} to the command");
            spawn::signal(&child, sig);
        }
        if child_done {
            break spawn::wait(&child);
        }
        ticker.tick(tracer, watched, progress, start);
    };
    // Children the command forked into the background may still be running.
    let deadline = Instant::now() + opts.linger;
    while cgroup::populated(&own.path) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let leftovers = own.leftovers().len();
    Ok((Stop::CommandExited(status), leftovers))
}

fn watch(
    opts: &Options,
    tracer: &Tracer,
    watched: &[(String, PathBuf, u64)],
    mut ever_populated: Vec<bool>,
    signals: &Signals,
    progress: Progress<'_>,
    start: Instant,
) -> Result<(Stop, usize), RecordError> {
    let deadline = opts.duration.map(|d| start + d);
    let mut ticker = Ticker::new();
    loop {
        let (_, sig) = signals.poll(None, 100);
        if let Some(sig) = sig {
            return Ok((Stop::Signal(sig), 0));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok((Stop::Duration, 0));
        }
        // Stop once every target has had processes and has none left (or is gone).
        let mut all_done = true;
        for (i, (_, path, _)) in watched.iter().enumerate() {
            let populated = cgroup::populated(path);
            ever_populated[i] |= populated;
            all_done &= !populated && (ever_populated[i] || !path.exists());
        }
        if all_done {
            return Ok((Stop::TargetsEmpty, 0));
        }
        ticker.tick(tracer, watched, progress, start);
    }
}

/// Calls the progress callback about once a second.
struct Ticker {
    last: Instant,
}

impl Ticker {
    fn new() -> Ticker {
        Ticker {
            last: Instant::now(),
        }
    }

    fn tick(
        &mut self,
        tracer: &Tracer,
        watched: &[(String, PathBuf, u64)],
        progress: Progress<'_>,
        start: Instant,
    ) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        if let Ok(now) = collect(tracer, watched) {
            progress(start.elapsed(), &now);
        }
    }
}

static SIGNAL_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// SIGINT/SIGTERM/SIGHUP delivered through a pipe, so the main loop can poll them next to
/// the child's pidfd. Handlers (not a blocked mask) so that the child, which inherits the
/// mask across execve, still gets default signal behaviour.
struct Signals {
    read: OwnedFd,
    _write: OwnedFd,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    fn install() -> Result<Signals, RecordError> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(RecordError::Signals(std::io::Error::last_os_error()));
        }
        // SAFETY: fresh fds from pipe2.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        SIGNAL_WRITE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let mut ids = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only does an atomic load and write(2): async-signal-safe.
            let id = unsafe {
                signal_hook::low_level::register(sig, move || {
                    let fd = SIGNAL_WRITE_FD.load(Ordering::SeqCst);
                    let b = sig as u8;
                    libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
                })
            }
            .map_err(RecordError::Signals)?;
            ids.push(id);
        }
        Ok(Signals {
            read,
            _write: write,
            ids,
        })
    }

    /// Waits up to `ms` for a signal or for `fd` to become readable.
    fn poll(&self, fd: Option<i32>, ms: i32) -> (bool, Option<i32>) {
        let mut fds = vec![libc::pollfd {
            fd: self.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(fd) = fd {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: poll on fds we own.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let mut b = 0u8;
        // SAFETY: non-blocking read of one byte into a local.
        let sig = (unsafe {
            libc::read(
                self.read.as_raw_fd(),
                &mut b as *mut u8 as *mut libc::c_void,
                1,
            )
        } == 1)
            .then_some(b as i32);
        (fds.get(1).is_some_and(|f| f.revents != 0), sig)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        SIGNAL_WRITE_FD.store(-1, Ordering::SeqCst);
    }
}
