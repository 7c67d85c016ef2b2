//! One recording session: the targets resolved, the kernel side loaded with each of them
//! added, the poll loops until it is time to stop, and what each target made.

use super::follow::Following;
use super::signals::Signals;
use super::{Event, Events, Options, RecordError, Stop, TargetReport, info, warning};
use crate::cgroup::{self, OwnCgroup};
use crate::follow::{Existing, add_existing};
use crate::profile::container::{Kind, profile_calls};
use crate::spawn;
use crate::target::{Container, EngineRoots, Pending, Resolution, Resolved, Target};
use crate::trace::{self, Tracer};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A target being recorded, or a named container waiting for its cgroup.
pub(super) enum Watch {
    /// Created, not started: recorded from the birth of its cgroup.
    Pending(Pending),
    Live(Live),
}

/// A target whose cgroup exists (or existed: it may be gone by now).
pub(super) struct Live {
    pub(super) label: String,
    pub(super) path: PathBuf,
    pub(super) id: u64,
    pub(super) container: Option<Container>,
    /// Whether its profile gets a container's policy.
    pub(super) kind: Kind,
    /// Found by --follow-containers: does not keep a recording without a command going.
    pub(super) followed: bool,
}

impl Watch {
    pub(super) fn label(&self) -> &str {
        match self {
            Watch::Pending(p) => &p.label,
            Watch::Live(l) => &l.label,
        }
    }

    pub(super) fn pending(&self) -> Option<&Pending> {
        match self {
            Watch::Pending(p) => Some(p),
            Watch::Live(_) => None,
        }
    }

    /// A pending container's cgroup `id` was made at `path`: it is recorded from now on.
    pub(super) fn born(&mut self, id: u64, path: PathBuf) {
        if let Watch::Pending(p) = self {
            *self = Watch::Live(Live {
                label: p.label.clone(),
                path,
                id,
                container: p.container.clone(),
                kind: Kind::Container,
                followed: false,
            });
        }
    }

    fn report(
        &self,
        seen: &mut std::collections::BTreeMap<u64, crate::trace::Syscalls>,
    ) -> TargetReport {
        match self {
            Watch::Pending(p) => TargetReport {
                label: p.label.clone(),
                cgroup: PathBuf::new(),
                syscalls: Default::default(),
                container: p.container.clone(),
            },
            Watch::Live(l) => TargetReport {
                label: l.label.clone(),
                cgroup: l.path.clone(),
                syscalls: profile_calls(seen.remove(&l.id).unwrap_or_default(), l.kind),
                container: l.container.clone(),
            },
        }
    }
}

/// The live state of a recording.
pub(super) struct Session<'a> {
    pub(super) tracer: Tracer,
    pub(super) watched: Vec<Watch>,
    pub(super) following: Option<Following>,
    /// The command's cgroup, when there is a command.
    pub(super) own: Option<OwnCgroup>,
    pub(super) mount: PathBuf,
    pub(super) events: Events<'a>,
}

impl<'a> Session<'a> {
    /// Resolves the targets, loads the kernel side and adds each target.
    pub(super) fn start(opts: &Options, events: Events<'a>) -> Result<Session<'a>, RecordError> {
        let mount = cgroup::mount_point()?;
        let roots = EngineRoots::lazy(&opts.engine_roots);
        let resolved: Vec<Resolution> = opts
            .targets
            .iter()
            .map(|t| t.resolve(&mount, &roots))
            .collect::<Result<_, _>>()?;
        let existing: usize = resolved
            .iter()
            .map(|r| match r {
                Resolution::Now(r) => cgroup::subtree(&r.cgroup).len(),
                Resolution::Pending(_) => 0,
            })
            .sum();
        let following =
            opts.follow.is_some() || resolved.iter().any(|r| matches!(r, Resolution::Pending(_)));
        let tracer = Tracer::load_with(trace::capacity(existing, following), following)?;
        let mut s = Session {
            tracer,
            watched: Vec::new(),
            following: None,
            own: None,
            mount,
            events,
        };
        let mut targets = s.add_command(opts)?;
        for (r, t) in resolved.into_iter().zip(&opts.targets) {
            let kind = match t {
                Target::Container(_) => Kind::Container,
                Target::Cgroup(_) | Target::Pid(_) => Kind::Plain,
            };
            targets.extend(s.add(r, kind)?);
        }
        if following {
            let mut f = Following::new(&s.mount, roots.into_inner(), opts.follow.clone());
            for t in &targets {
                f.own(t);
            }
            s.following = Some(f);
        }
        Ok(s)
    }

    /// The command's own cgroup, made and recorded before the command runs.
    fn add_command(&mut self, opts: &Options) -> Result<Vec<Existing>, RecordError> {
        if opts.command.is_empty() {
            return Ok(Vec::new());
        }
        let own = OwnCgroup::create(&self.mount)?;
        for p in &own.removed_stale {
            info(
                self.events,
                format!("removed {} left by a killed recorder", p.display()),
            );
        }
        self.tracer.add_target(own.id)?;
        self.watched.push(Watch::Live(Live {
            label: "command".into(),
            path: own.path.clone(),
            id: own.id,
            container: None,
            kind: Kind::Plain,
            followed: false,
        }));
        let target = Existing {
            id: own.id,
            below: Vec::new(),
        };
        self.own = Some(own);
        Ok(vec![target])
    }

    /// Records a resolved target now, or waits for its cgroup.
    fn add(&mut self, r: Resolution, kind: Kind) -> Result<Option<Existing>, RecordError> {
        let r: Resolved = match r {
            Resolution::Now(r) => r,
            Resolution::Pending(p) => {
                info(
                    self.events,
                    format!("{}: not started yet; waiting for its cgroup", p.label),
                );
                self.watched.push(Watch::Pending(p));
                return Ok(None);
            }
        };
        let target = add_existing(&mut self.tracer, &r.cgroup)?;
        if r.container.is_some() {
            warning(
                self.events,
                format!(
                    "{}: already running; what its runtime did before now is not \
                     recorded (see docs/engines.md: record a container from its start)",
                    r.label
                ),
            );
        }
        self.watched.push(Watch::Live(Live {
            label: r.label,
            path: r.cgroup,
            id: target.id,
            container: r.container,
            kind,
            followed: false,
        }));
        Ok(Some(target))
    }

    /// Whether each target has processes now.
    pub(super) fn populated(&self) -> Vec<bool> {
        self.watched
            .iter()
            .map(|w| match w {
                Watch::Live(l) => cgroup::populated(&l.path),
                Watch::Pending(_) => false,
            })
            .collect()
    }

    pub(super) fn scan(&mut self) {
        let Some(f) = self.following.as_mut() else {
            return;
        };
        let result = f.scan(&mut self.tracer, &mut self.watched);
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
        if self.following.is_some() { 50 } else { 200 }
    }

    pub(super) fn collect(&self) -> Result<Vec<TargetReport>, RecordError> {
        let mut seen = self.tracer.read()?;
        if let Some(f) = &self.following {
            f.fold(&mut seen);
        }
        Ok(self.watched.iter().map(|w| w.report(&mut seen)).collect())
    }

    /// Runs the command in `own` until it exits, and what it left running until `linger`.
    pub(super) fn run_command(
        &mut self,
        opts: &Options,
        own: &OwnCgroup,
        signals: &Signals,
        start: Instant,
    ) -> Result<(Stop, usize), RecordError> {
        let child = spawn::spawn(&opts.command, &own.dir, opts.command_stdout_to_stderr)?;
        let mut ticker = Ticker::new();
        let status = loop {
            let (child_done, sig) = signals.poll(Some(child.pidfd.as_raw_fd()), self.poll_ms());
            if let Some(sig) = sig {
                info(
                    self.events,
                    format!("forwarding signal {sig} to the command"),
                );
                spawn::signal(&child, sig);
            }
            self.scan();
            if child_done {
                break spawn::wait(&child);
            }
            ticker.tick(self, start);
        };
        // Children the command forked into the background may still be running.
        let deadline = Instant::now() + opts.linger;
        while cgroup::populated(&own.path) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.scan();
        }
        let leftovers = own.leftovers().len();
        Ok((Stop::CommandExited(status), leftovers))
    }

    /// Records existing (or pending) targets until they empty, the duration is up or a
    /// signal comes.
    pub(super) fn watch(
        &mut self,
        opts: &Options,
        mut ever_populated: Vec<bool>,
        signals: &Signals,
        start: Instant,
    ) -> Result<(Stop, usize), RecordError> {
        let deadline = opts.duration.map(|d| start + d);
        let mut ticker = Ticker::new();
        loop {
            let (_, sig) = signals.poll(None, self.poll_ms().min(100));
            if let Some(sig) = sig {
                return Ok((Stop::Signal(sig), 0));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((Stop::Duration, 0));
            }
            self.scan();
            ever_populated.resize(self.watched.len(), false);
            if self.all_done(&mut ever_populated) {
                return Ok((Stop::TargetsEmpty, 0));
            }
            ticker.tick(self, start);
        }
    }

    /// Whether every named target has had processes and has none left (or is gone); a
    /// pending one counts once its cgroup was born. Followed containers do not count.
    fn all_done(&self, ever_populated: &mut [bool]) -> bool {
        let mut all_done = true;
        let mut named = 0;
        // Every target is looked at each time: one that had processes only briefly must
        // count as populated even while another still runs.
        for (w, ever) in self.watched.iter().zip(ever_populated.iter_mut()) {
            match w {
                Watch::Live(l) if l.followed => {}
                Watch::Pending(_) => {
                    named += 1;
                    all_done = false;
                }
                Watch::Live(l) => {
                    named += 1;
                    let populated = cgroup::populated(&l.path);
                    *ever |= populated;
                    all_done &= !populated && (*ever || !l.path.exists());
                }
            }
        }
        all_done && named > 0
    }

    /// Warnings about what was recorded and what never started; the command's cgroup
    /// emptied.
    pub(super) fn finish(
        &mut self,
        opts: &Options,
        own: Option<&OwnCgroup>,
        targets: &[TargetReport],
    ) {
        for t in targets {
            if t.container.is_some()
                && t.syscalls.filtered.is_empty()
                && !t.syscalls.names.is_empty()
            {
                warning(
                    self.events,
                    format!(
                        "{}: recorded without a seccomp filter, so the profile also allows what the \
                         runtime does before it installs one (mount, pivot_root, ...); record under \
                         a permissive profile for a tighter one (see docs/engines.md)",
                        t.label
                    ),
                );
            }
        }
        if let Some(own) = own {
            own.evict(&self.mount);
        }
        let followed = self
            .watched
            .iter()
            .any(|w| matches!(w, Watch::Live(l) if l.followed));
        if opts.follow.is_some() && !followed {
            info(
                self.events,
                "no container (matching the filters) was started while recording".into(),
            );
        }
        for w in &self.watched {
            if let Watch::Pending(p) = w {
                warning(
                    self.events,
                    format!("{}: its cgroup never appeared; nothing recorded", p.label),
                );
            }
        }
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

    fn tick(&mut self, s: &mut Session<'_>, start: Instant) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        if let Ok(now) = s.collect() {
            (s.events)(Event::Progress(start.elapsed(), &now));
        }
    }
}
