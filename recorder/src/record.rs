//! A recording session: resolve the targets, load and attach the kernel side, run the
//! command (or watch existing targets) until it is time to stop, then read what each
//! target made.

use crate::cgroup::{self, CgroupError, OwnCgroup};
use crate::profile;
use crate::spawn::{self, SpawnError};
use crate::target::{
    Container, Engine, EngineRoots, Pending, Resolution, Target, TargetError, container_of,
};
use crate::trace::{self, AttachKind, Syscalls, TraceError, Tracer};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
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
    #[error(
        "nothing to record: give a command (record -- CMD), --cgroup/--pid/--container or \
         --follow-containers"
    )]
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
    /// Also record every container any engine starts while recording, one target each.
    pub follow: Option<FollowFilter>,
    /// Engine state directories besides the running engines' and the default ones (see
    /// [`EngineRoots::discover`]).
    pub engine_roots: Vec<PathBuf>,
    /// Give the command our stderr as its stdout, when stdout carries the profile.
    pub command_stdout_to_stderr: bool,
}

/// Which started containers `--follow-containers` records.
#[derive(Clone, Debug, Default)]
pub struct FollowFilter {
    /// Only these engines (empty: all).
    pub engines: Vec<Engine>,
    /// Only containers whose name, image or ID matches one of these patterns (`*` matches
    /// any run of characters; empty: all).
    pub names: Vec<String>,
}

impl FollowFilter {
    fn accepts(&self, c: &Container) -> bool {
        (self.engines.is_empty() || self.engines.contains(&c.engine))
            && (self.names.is_empty()
                || self.names.iter().any(|p| {
                    [c.name.as_deref(), c.image.as_deref(), Some(c.id.as_str())]
                        .into_iter()
                        .flatten()
                        .any(|v| glob(p, v))
                }))
    }
}

/// `*`-only glob: enough for container names and image references.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
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

/// A target being recorded; a pending container has no path and id until it is born.
#[derive(Clone, Debug)]
struct Watch {
    label: String,
    path: PathBuf,
    id: u64,
    container: Option<Container>,
    pending: Option<Pending>,
    /// Found by --follow-containers: does not keep a recording without a command going.
    followed: bool,
}

pub fn record(opts: &Options, events: Events<'_>) -> Result<Report, RecordError> {
    if opts.targets.is_empty() && opts.command.is_empty() && opts.follow.is_none() {
        return Err(RecordError::NoTarget);
    }
    let mount = cgroup::mount_point()?;
    let roots = EngineRoots::lazy(&opts.engine_roots);
    let resolved: Vec<Resolution> = opts
        .targets
        .iter()
        .map(|t| t.resolve(&mount, &roots))
        .collect::<Result<_, _>>()?;
    let trees: Vec<Vec<PathBuf>> = resolved
        .iter()
        .map(|r| match r {
            Resolution::Now(r) => cgroup::subtree(&r.cgroup),
            Resolution::Pending(_) => Vec::new(),
        })
        .collect();
    let existing: usize = trees.iter().map(Vec::len).sum();
    let following =
        opts.follow.is_some() || resolved.iter().any(|r| matches!(r, Resolution::Pending(_)));
    let mut tracer = Tracer::load_with(trace::capacity(existing, following), following)?;

    let mut watched: Vec<Watch> = Vec::new();
    let own = if opts.command.is_empty() {
        None
    } else {
        let own = OwnCgroup::create(&mount)?;
        for p in &own.removed_stale {
            info(
                events,
                format!("removed {} left by a killed recorder", p.display()),
            );
        }
        tracer.add_target(own.id)?;
        watched.push(Watch {
            label: "command".into(),
            path: own.path.clone(),
            id: own.id,
            container: None,
            pending: None,
            followed: false,
        });
        Some(own)
    };
    for (r, tree) in resolved.iter().zip(&trees) {
        match r {
            Resolution::Now(r) => {
                let root = cgroup::id(&r.cgroup)?;
                tracer.add_target(root)?;
                for child in &tree[1..] {
                    if let Ok(id) = cgroup::id(child) {
                        tracer.add_child(id, root)?;
                    }
                }
                if r.container.is_some() {
                    warning(
                        events,
                        format!(
                            "{}: already running; what its runtime did before now is not \
                             recorded (see docs/engines.md: record a container from its start)",
                            r.label
                        ),
                    );
                }
                watched.push(Watch {
                    label: r.label.clone(),
                    path: r.cgroup.clone(),
                    id: root,
                    container: r.container.clone(),
                    pending: None,
                    followed: false,
                });
            }
            Resolution::Pending(p) => {
                info(
                    events,
                    format!("{}: not started yet; waiting for its cgroup", p.label),
                );
                watched.push(Watch {
                    label: p.label.clone(),
                    path: PathBuf::new(),
                    id: 0,
                    container: p.container.clone(),
                    pending: Some(p.clone()),
                    followed: false,
                });
            }
        }
    }
    let mut follower =
        following.then(|| Follower::new(&mount, roots.into_inner(), opts.follow.clone(), &watched));
    // A target whose processes all exit in the first poll interval must still count as
    // having been populated, or the watch would never end.
    let populated_at_start: Vec<bool> = watched
        .iter()
        .map(|w| w.id != 0 && cgroup::populated(&w.path))
        .collect();
    let attach = tracer.attach(opts.attach)?;
    info(events, format!("recording via {attach}"));

    let signals = Signals::install()?;
    let start = Instant::now();
    let mut rec = Recording {
        tracer: &mut tracer,
        watched: &mut watched,
        follower: follower.as_mut(),
        events,
    };
    let result = match &own {
        Some(own) => run_command(opts, own, &mut rec, &signals, start),
        None => watch(opts, &mut rec, populated_at_start, &signals, start),
    };
    rec.tracer.detach();
    drop(signals);
    // Cgroups born in the last poll interval.
    rec.scan();
    let (stop, leftovers) = result?;
    let elapsed = start.elapsed();
    let targets = rec.collect()?;
    for t in &targets {
        if t.container.is_some() && t.syscalls.filtered.is_empty() && !t.syscalls.names.is_empty() {
            warning(
                rec.events,
                format!(
                    "{}: recorded without a seccomp filter, so the profile also allows what the \
                     runtime does before it installs one (mount, pivot_root, ...); record under \
                     a permissive profile for a tighter one (see docs/engines.md)",
                    t.label
                ),
            );
        }
    }
    if let Some(own) = &own {
        own.evict(&mount);
    }
    if opts.follow.is_some() && !rec.watched.iter().any(|w| w.followed) {
        info(
            rec.events,
            "no container (matching the filters) was started while recording".into(),
        );
    }
    for w in rec.watched.iter() {
        if w.pending.is_some() && w.id == 0 {
            warning(
                rec.events,
                format!("{}: its cgroup never appeared; nothing recorded", w.label),
            );
        }
    }
    Ok(Report {
        targets,
        attach,
        elapsed,
        stop,
        leftovers,
    })
}

/// The live state the poll loops share.
struct Recording<'a> {
    tracer: &'a mut Tracer,
    watched: &'a mut Vec<Watch>,
    follower: Option<&'a mut Follower>,
    events: Events<'a>,
}

impl Recording<'_> {
    fn scan(&mut self) {
        let Some(f) = self.follower.as_deref_mut() else {
            return;
        };
        let result = f.scan(self.tracer, self.watched);
        for note in f.notes.drain(..) {
            (self.events)(Event::Note(note));
        }
        if let Err(e) = result {
            let chain = crate::trace::chain(&e);
            warning(self.events, format!("following new cgroups: {chain}"));
        }
    }

    fn poll_ms(&self) -> i32 {
        // A short-lived container's state (its name) may be gone soon after it exits.
        if self.follower.is_some() { 50 } else { 200 }
    }

    fn collect(&self) -> Result<Vec<TargetReport>, RecordError> {
        let mut seen = self.tracer.read()?;
        if let Some(f) = self.follower.as_deref() {
            for (id, owner) in &f.folded {
                if let Some(s) = seen.remove(id) {
                    merge_into(seen.entry(*owner).or_default(), s);
                }
            }
        }
        Ok(self
            .watched
            .iter()
            .map(|w| TargetReport {
                label: w.label.clone(),
                cgroup: w.path.clone(),
                syscalls: with_kernel_made(match (w.id, &w.container) {
                    (0, _) => Syscalls::default(),
                    (id, Some(_)) => container_calls(seen.remove(&id).unwrap_or_default()),
                    (id, None) => seen.remove(&id).unwrap_or_default(),
                }),
                container: w.container.clone(),
            })
            .collect())
    }
}

pub(crate) fn merge_into(into: &mut Syscalls, from: Syscalls) {
    for (arch, names) in from.names {
        into.names.entry(arch).or_default().extend(names);
    }
    for (arch, nrs) in from.unknown {
        into.unknown.entry(arch).or_default().extend(nrs);
    }
    for (arch, names) in from.filtered {
        into.filtered.entry(arch).or_default().extend(names);
    }
}

/// Calls a Go runtime makes on its own schedule, whatever the program is doing: locks and
/// sleeps (futex, nanosleep, sched_yield), preemption signals (getpid, gettid, tgkill,
/// rt_sigreturn), heap and GC (mmap, munmap, madvise), new threads (clone, sigaltstack,
/// rt_sigprocmask), the network poller (epoll_pwait) and thread exit. `runc init` is a Go
/// program: one that made them before it installed the filter may make them after it in the
/// next run, and dies if they are refused.
const RUNTIME_ANYTIME: &[&str] = &[
    "futex",
    "nanosleep",
    "sched_yield",
    "getpid",
    "gettid",
    "tgkill",
    "rt_sigreturn",
    "mmap",
    "munmap",
    "madvise",
    "clone",
    "sigaltstack",
    "rt_sigprocmask",
    "epoll_pwait",
    "exit",
];

/// A container's profile is what its processes made under the filter its runtime installed
/// (recorded under a permissive profile); recorded unconfined, it is everything, the
/// runtime's setup (mount, pivot_root, sethostname...) included. Either way it also allows
/// the Go runtime's anytime calls: `runc init` may make any of them after the filter is in
/// place, at random, and one recording rarely sees them all (a refused `rt_sigreturn` after
/// a preemption signal kills about one container start in six).
fn container_calls(mut s: Syscalls) -> Syscalls {
    if !s.filtered.is_empty() {
        s.names = s.filtered.clone();
    }
    for (arch, names) in s.names.iter_mut() {
        let known = RUNTIME_ANYTIME
            .iter()
            .filter(|n| arch.syscall_number(n).is_some());
        names.extend(known.map(|n| n.to_string()));
    }
    s
}

/// What a container's profile allows for what it was recorded making: see
/// [`container_calls`] and [`with_kernel_made`].
pub(crate) fn container_profile_calls(s: Syscalls) -> Syscalls {
    with_kernel_made(container_calls(s))
}

/// What the kernel makes on the target's behalf (see [`profile::KERNEL_MADE`]).
fn with_kernel_made(mut s: Syscalls) -> Syscalls {
    profile::add_kernel_made(&mut s.names);
    s
}

/// User-space half of following: names the cgroups the kernel made targets at birth,
/// keeps the containers (and folds what is made inside them), drops the rest.
struct Follower {
    mount: PathBuf,
    roots: EngineRoots,
    filter: Option<FollowFilter>,
    /// Paths (relative to the mount) of the cgroups that existed at the start and of those
    /// born since.
    paths: BTreeMap<u64, PathBuf>,
    /// Born cgroup -> the target it is recorded into (a watch's id).
    folded: BTreeMap<u64, u64>,
    /// Cgroups decided on: the watches' own, folded ones and dropped ones.
    decided: BTreeSet<u64>,
    /// Ids of the targets themselves.
    owners: BTreeSet<u64>,
    /// What was decided since the caller last took them.
    notes: Vec<Note>,
}

impl Follower {
    fn new(
        mount: &Path,
        roots: EngineRoots,
        filter: Option<FollowFilter>,
        watched: &[Watch],
    ) -> Follower {
        // Walked after the kernel side is loaded: anything made later is in BORN.
        let paths = cgroup::subtree(mount)
            .into_iter()
            .filter_map(|p| {
                let id = cgroup::id(&p).ok()?;
                Some((id, p.strip_prefix(mount).ok()?.to_path_buf()))
            })
            .collect();
        let owners: BTreeSet<u64> = watched.iter().filter(|w| w.id != 0).map(|w| w.id).collect();
        Follower {
            mount: mount.to_path_buf(),
            roots,
            filter,
            paths,
            folded: BTreeMap::new(),
            decided: owners.clone(),
            owners,
            notes: Vec::new(),
        }
    }

    fn scan(&mut self, tracer: &mut Tracer, watched: &mut Vec<Watch>) -> Result<(), RecordError> {
        let mut todo: Vec<(u64, u64, String)> = tracer
            .born()?
            .into_iter()
            .filter(|(id, _)| !self.decided.contains(id))
            .map(|(id, (parent, name))| (id, parent, name))
            .collect();
        // Parents before children; ids mostly grow with creation but may wrap, so go round
        // until nothing more can be placed.
        loop {
            let waiting: BTreeSet<u64> = todo.iter().map(|t| t.0).collect();
            let mut rest = Vec::new();
            let before = todo.len();
            for (id, parent, name) in todo {
                match self.paths.get(&parent).cloned() {
                    Some(parent_path) => {
                        self.decide(tracer, watched, id, parent, parent_path.join(&name))?
                    }
                    None if waiting.contains(&parent) => rest.push((id, parent, name)),
                    // Its parent was made and removed unseen, and was nothing we follow.
                    None => self.forget(tracer, id)?,
                }
            }
            if rest.is_empty() || rest.len() == before {
                for (id, _, _) in rest {
                    self.forget(tracer, id)?;
                }
                return Ok(());
            }
            todo = rest;
        }
    }

    fn forget(&mut self, tracer: &mut Tracer, id: u64) -> Result<(), RecordError> {
        self.decided.insert(id);
        tracer.remove_target(id)?;
        tracer.remove_born(id)?;
        Ok(())
    }

    /// Keeps, folds or drops one new cgroup; its BORN entry is freed either way, its path
    /// is remembered for its children.
    fn decide(
        &mut self,
        tracer: &mut Tracer,
        watched: &mut Vec<Watch>,
        id: u64,
        parent: u64,
        rel: PathBuf,
    ) -> Result<(), RecordError> {
        self.paths.insert(id, rel.clone());
        self.decided.insert(id);
        tracer.remove_born(id)?;
        let owner = if self.owners.contains(&parent) {
            Some(parent)
        } else {
            self.folded.get(&parent).copied()
        };
        if let Some(owner) = owner {
            self.folded.insert(id, owner);
            return Ok(());
        }
        if let Some(w) = watched
            .iter_mut()
            .find(|w| w.id == 0 && w.pending.as_ref().is_some_and(|p| p.matches(&rel)))
        {
            w.id = id;
            w.path = self.mount.join(&rel);
            self.owners.insert(id);
            self.notes.push(Note::Info(format!(
                "{}: started, recording it from {}",
                w.label,
                rel.display()
            )));
            return Ok(());
        }
        let dir = self.mount.join(&rel);
        let found = self
            .filter
            .as_ref()
            .and_then(|f| container_of(&self.mount, &dir, &self.roots).filter(|c| f.accepts(c)));
        let Some(c) = found else {
            tracer.remove_target(id)?;
            return Ok(());
        };
        let mut label = c.profile_name();
        if label == "command" || watched.iter().any(|w| w.label == label) {
            label = format!("{label}-{id}");
        }
        self.notes.push(Note::Info(format!(
            "following {} container {} ({})",
            c.engine,
            label,
            rel.display()
        )));
        self.owners.insert(id);
        watched.push(Watch {
            label,
            path: dir,
            id,
            container: Some(c),
            pending: None,
            followed: true,
        });
        Ok(())
    }
}

fn run_command(
    opts: &Options,
    own: &OwnCgroup,
    rec: &mut Recording<'_>,
    signals: &Signals,
    start: Instant,
) -> Result<(Stop, usize), RecordError> {
    let child = spawn::spawn(&opts.command, &own.dir, opts.command_stdout_to_stderr)?;
    let mut ticker = Ticker::new();
    let status = loop {
        let (child_done, sig) = signals.poll(Some(child.pidfd.as_raw_fd()), rec.poll_ms());
        if let Some(sig) = sig {
            info(
                rec.events,
                format!("forwarding signal {sig} to the command"),
            );
            spawn::signal(&child, sig);
        }
        rec.scan();
        if child_done {
            break spawn::wait(&child);
        }
        ticker.tick(rec, start);
    };
    // Children the command forked into the background may still be running.
    let deadline = Instant::now() + opts.linger;
    while cgroup::populated(&own.path) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        rec.scan();
    }
    let leftovers = own.leftovers().len();
    Ok((Stop::CommandExited(status), leftovers))
}

fn watch(
    opts: &Options,
    rec: &mut Recording<'_>,
    mut ever_populated: Vec<bool>,
    signals: &Signals,
    start: Instant,
) -> Result<(Stop, usize), RecordError> {
    let deadline = opts.duration.map(|d| start + d);
    let mut ticker = Ticker::new();
    loop {
        let (_, sig) = signals.poll(None, rec.poll_ms().min(100));
        if let Some(sig) = sig {
            return Ok((Stop::Signal(sig), 0));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok((Stop::Duration, 0));
        }
        rec.scan();
        // Stop once every named target has had processes and has none left (or is gone);
        // a pending one counts once its cgroup was born.
        let mut all_done = true;
        let mut named = 0;
        for (i, w) in rec.watched.iter().enumerate() {
            if i >= ever_populated.len() {
                ever_populated.push(false);
            }
            if w.followed {
                continue;
            }
            named += 1;
            if w.id == 0 {
                all_done = false;
                continue;
            }
            let populated = cgroup::populated(&w.path);
            ever_populated[i] |= populated;
            all_done &= !populated && (ever_populated[i] || !w.path.exists());
        }
        if all_done && named > 0 {
            return Ok((Stop::TargetsEmpty, 0));
        }
        ticker.tick(rec, start);
    }
}

/// Sends the progress event about once a second.
struct Ticker {
    last: Instant,
}

impl Ticker {
    fn new() -> Ticker {
        Ticker {
            last: Instant::now(),
        }
    }

    fn tick(&mut self, rec: &mut Recording<'_>, start: Instant) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        if let Ok(now) = rec.collect() {
            (rec.events)(Event::Progress(start.elapsed(), &now));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_globs() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*-db", "prod-db"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(glob("*", ""));
        assert!(glob("exact", "exact"));
        assert!(!glob("web-*", "api-1"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn follow_filter_by_engine_and_name() {
        let c = Container {
            engine: Engine::Docker,
            id: "0123".into(),
            name: Some("e2e-web".into()),
            image: Some("nginx:1.25".into()),
        };
        assert!(FollowFilter::default().accepts(&c));
        let f = FollowFilter {
            engines: vec![Engine::Podman],
            names: vec![],
        };
        assert!(!f.accepts(&c));
        let f = FollowFilter {
            engines: vec![Engine::Docker],
            names: vec!["nginx:*".into()],
        };
        assert!(f.accepts(&c));
        let f = FollowFilter {
            engines: vec![],
            names: vec!["db-*".into()],
        };
        assert!(!f.accepts(&c));
    }
}
