//! The Kubernetes node agent: records every container of the pods selected for recording
//! from the birth of its cgroup, learns who each one is from the node's container runtime
//! (CRI), and keeps one profile per namespace / workload / container, merged over replicas,
//! restarts and agent restarts.
//!
//! The kernel side runs in follow mode: every new cgroup is recorded from its `mkdir`
//! until user space decides about it, so neither `runc init` nor a container that lives a
//! millisecond is missed. A cgroup named after a container ID the CRI knows, in a selected
//! pod, is kept; everything else (pause containers, pod and QoS cgroups, other services)
//! is dropped.

// First: the modules below use its macro.
#[macro_use]
mod log_key;

mod acc;
mod births;
mod cluster;
pub mod cri;
pub mod hostns;
pub mod http;
mod metrics;
pub mod own_profile;
pub mod pods;
mod publish;
mod refusals;
mod room;
mod view;

pub use room::DEFAULT_MAX_TARGETS;

use crate::cgroup::{self, CgroupError};
use crate::fleet::names::image_short;
use crate::follow::{self, Follow, FollowError, Verdict};
use crate::oci::Access;
use crate::profile::DefaultAction;
use crate::refusals::{RefusalError, Source};
use crate::target::id_from_dir_name;
use crate::trace::{AttachKind, TraceError, Tracer, chain};
use acc::{Accumulator, Tracked};
use births::{Birth, Next, Said};
use cri::CriError;
use http::Metrics;
use metrics::Counted;
use pods::{Key, Selector};
use refusals::Refusals;
use room::{NoRoom, Room};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use view::{View, Who};

/// How often new cgroups are looked at: a container's name must be asked for while the
/// runtime still knows it.
const TICK: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error(transparent)]
    HostNs(#[from] hostns::HostNsError),
    #[error(transparent)]
    Refusals(#[from] RefusalError),
    #[error("cannot watch for SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
    #[error("--push: {0}")]
    Fleet(#[from] crate::fleet::FleetError),
}

/// Where profiles go and how the agent runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The CRI socket (crictl syntax); `None` tries crictl's default endpoints.
    pub endpoint: Option<String>,
    /// Pods whose labels match all of these are recorded too (unless annotated "false").
    pub selectors: Vec<Selector>,
    /// Localhost profiles: `<dir>/<namespace>/<workload>/<container>.json`.
    pub localhost_dir: Option<PathBuf>,
    /// SPO `SeccompProfile` resources: `<dir>/<namespace>/<workload>/<container>.yaml`.
    pub spo_dir: Option<PathBuf>,
    /// Publish this node's share of each profile to `<repo>-shares`, and keep the fleet's
    /// union at `<repo>:<namespace>_<workload>_<container>` and in the files.
    pub push: Option<String>,
    /// This node's name: its share tags and the profiles' provenance name it.
    pub node_name: String,
    /// How often the fleet's profiles are brought up to date (with `push`).
    pub sync_interval: Duration,
    /// A profile is stable after this many from-birth runs in a row added no call.
    pub stable_after: u64,
    /// Also keep the files of every workload the repository lists (with `push`).
    pub workloads_from_registry: bool,
    /// One profile per image (by digest) instead of one across images.
    pub per_image: bool,
    pub access: Access,
    pub flush_interval: Duration,
    /// How often the CRI is asked for container states when it sends no events.
    pub poll_interval: Duration,
    /// How often while its event stream is open: a resync, in case an event was lost.
    pub resync_interval: Duration,
    pub default: DefaultAction,
    pub attach: Option<AttachKind>,
    /// Every profile written gets SECCOMP_FILTER_FLAG_LOG.
    pub log_refusals: bool,
    /// `--watch-refusals`: where refusals are read from (`None` probes) and whether their
    /// calls join the profiles.
    pub refusals: Option<RefusalOptions>,
    /// Containers recorded at once at most (see [`room`]).
    pub max_targets: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct RefusalOptions {
    pub source: Option<Source>,
    pub learn: bool,
}

/// A pushed profile: its key and the digest reference pods should use.
pub type OnPush<'a> = &'a mut dyn FnMut(&Key, &str);

/// Runs until SIGTERM or SIGINT, then writes what it has and returns.
pub fn run(opts: &Options, metrics: Arc<Metrics>, on_push: OnPush<'_>) -> Result<(), AgentError> {
    if let Some(e) = &opts.endpoint {
        cri::socket_path(e)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGTERM, libc::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(AgentError::Signals)?;
    }
    metrics.set_unhealthy(Some("starting".into()));
    let Some(cri) = view::connect(opts.endpoint.as_deref(), &metrics, &stop) else {
        return Ok(());
    };
    metrics.starting();
    let mut agent = Agent::start(opts, cri, metrics)?;
    let mut refusals = match opts.refusals {
        Some(r) => Some(Refusals::open(
            r,
            &agent.mount,
            opts,
            agent.metrics.clone(),
        )?),
        None => None,
    };
    agent.catch_up(on_push);
    agent.serve(opts, &stop, refusals.as_mut(), on_push);
    agent.finish(refusals.as_mut(), on_push);
    Ok(())
}

/// The loop's state: the cgroups followed, the CRI's view, the profiles.
struct Agent {
    tracer: Tracer,
    follow: Follow,
    mount: PathBuf,
    births: Vec<Birth>,
    /// The runtime's events: a reason to poll it now, and while they flow, polls are rare.
    events: cri::Events,
    view: View,
    acc: Accumulator,
    metrics: Arc<Metrics>,
    /// Keys carry the image (`--per-image`).
    per_image: bool,
    room: Room,
}

impl Agent {
    /// Enters the host's cgroup namespace and loads the tracer in follow mode.
    fn start(opts: &Options, cri: cri::Cri, metrics: Arc<Metrics>) -> Result<Agent, AgentError> {
        let mount = cgroup::mount_point()?;
        match hostns::enter(&mount)? {
            hostns::HostNs::Entered => log::info!("entered the host's cgroup namespace"),
            hostns::HostNs::AlreadyHost(why) => log::info!(
                "cannot enter the host's cgroup namespace ({why}); this one already is the \
                 host's (it shows the host's cgroup paths): going on"
            ),
        }
        let room = Room::new(opts.max_targets);
        let mut tracer = Tracer::load_with(room.capacity(), true)?;
        let attach = tracer.attach(opts.attach)?;
        log::info!("recording via {attach}");
        metrics.set_attached(attach);
        let capacity = u64::from(tracer.capacity());
        metrics.capacity.store(capacity, Ordering::Relaxed);
        let max_targets = u64::from(opts.max_targets);
        metrics.max_targets.store(max_targets, Ordering::Relaxed);
        let events = cri.events();
        let publisher = publish::Publisher::new(opts, &cri)?;
        Ok(Agent {
            events,
            follow: Follow::new(&mount),
            view: View::new(cri, metrics.clone(), opts.selectors.clone()),
            acc: Accumulator::new(publisher, metrics.clone()),
            tracer,
            mount,
            metrics,
            births: Vec::new(),
            per_image: opts.per_image,
            room,
        })
    }

    /// Takes in what runs already. Containers born since loading are from birth; only the
    /// others are "already running".
    fn catch_up(&mut self, on_push: OnPush<'_>) {
        self.scan_born();
        self.decide_births(true);
        self.adopt_running();
        // Before turning ready: a reader of /metrics after /healthz sees what is followed.
        self.show_followed();
        if self.view.answers() {
            self.metrics.set_unhealthy(None);
        }
        self.acc.sync(on_push);
    }

    /// The loop, until `stop`: new cgroups every tick, the runtime at each event or poll
    /// interval, files at each flush interval, the fleet at each sync interval.
    fn serve(
        &mut self,
        opts: &Options,
        stop: &AtomicBool,
        mut refusals: Option<&mut Refusals>,
        on_push: OnPush<'_>,
    ) {
        let (mut polled, mut flushed, mut synced) =
            (Instant::now(), Instant::now(), Instant::now());
        while !stop.load(Ordering::Relaxed) {
            self.metrics.beat();
            std::thread::sleep(TICK);
            self.scan_born();
            self.show_followed();
            let event = self.events.ids.try_iter().count() > 0;
            let every = if self.events.live() {
                opts.resync_interval
            } else {
                opts.poll_interval
            };
            let polling = event || polled.elapsed() >= every;
            self.decide_births(polling);
            if polling {
                polled = Instant::now();
                self.poll(on_push);
            }
            if let Some(r) = refusals.as_deref_mut() {
                r.tick(&mut self.view, &mut self.acc);
            }
            if flushed.elapsed() >= opts.flush_interval {
                flushed = Instant::now();
                self.write_all(on_push);
            }
            if opts.push.is_some() && synced.elapsed() >= opts.sync_interval {
                synced = Instant::now();
                self.acc.sync(on_push);
            }
        }
    }

    /// Writes and publishes everything recorded, then stops recording.
    fn finish(&mut self, refusals: Option<&mut Refusals>, on_push: OnPush<'_>) {
        log::info!("stopping: writing every profile");
        if let Some(r) = refusals {
            r.flush(&mut self.acc);
        }
        self.scan_born();
        self.decide_births(true);
        self.write_all(on_push);
        self.acc.sync(on_push);
        self.tracer.detach();
    }

    /// The followed-cgroups gauge as of now.
    fn show_followed(&self) {
        self.metrics
            .followed
            .store(self.follow.followed(), Ordering::Relaxed);
    }

    /// Takes the cgroups born since the last look: those inside a recorded container are
    /// folded into it, those named after a container wait for the CRI, the rest are dropped.
    fn scan_born(&mut self) {
        let births = &mut self.births;
        let mut decide = |b: follow::Birth<'_>| match id_from_dir_name(b.name()) {
            Some(id) => {
                births.push(Birth::new(b.id, id, Instant::now()));
                Verdict::Wait
            }
            None => Verdict::Drop,
        };
        if let Err(e) = self.follow.scan(&mut self.tracer, &mut decide) {
            self.error("follow", &format!("following new cgroups: {}", chain(&e)));
        }
    }

    /// Asks the runtime about the new cgroups waiting for it: every one at each tick while
    /// young, the late ones only when `all` (the runtime is polled).
    fn decide_births(&mut self, all: bool) {
        let now = Instant::now();
        for mut b in std::mem::take(&mut self.births) {
            if b.late() && !all {
                self.births.push(b);
                continue;
            }
            let said = match self.view.identify(&b.id) {
                Ok(Some(who)) => Said::Container(who),
                Ok(None) if self.view.is_sandbox(&b.id) => Said::Sandbox,
                Ok(None) => Said::Unknown,
                Err(_) => Said::NoAnswer,
            };
            let gone = !self.follow.path(b.cgroup).is_some_and(|p| p.exists());
            match b.next(said, now, gone) {
                Next::Adopt(who) => self.adopt_born(&b, &who, now),
                Next::Reject(why) => {
                    log::debug!("cgroup of {} is not recorded: {why}", b.id);
                    self.reject(b.cgroup);
                }
                Next::Late => {
                    log::warn!(
                        "container {}: its cgroup was made {} s ago and the runtime does not \
                         know it yet (a slow create?); still recording it from birth until \
                         the runtime names it or its cgroup is removed",
                        b.id,
                        b.age(now).as_secs()
                    );
                    Metrics::inc(&self.metrics.slow_creates);
                    self.births.push(b);
                }
                Next::Wait => self.births.push(b),
            }
        }
    }

    /// A new cgroup's container is known: recorded from its birth if its pod is selected.
    fn adopt_born(&mut self, b: &Birth, who: &Who, now: Instant) {
        let Some(placed) = self.view.place(who) else {
            return self.reject(b.cgroup);
        };
        let in_kernel = self.tracer.is_target(b.cgroup).unwrap_or_else(|e| {
            self.error("read", &format!("looking up cgroup {}: {e}", b.cgroup));
            true
        });
        if let Some(no) = self.room.check(self.follow.targets(), in_kernel) {
            self.room.refuse(&placed, no, &self.metrics);
            return self.reject(b.cgroup);
        }
        if b.late() {
            log::info!(
                "container {}: the runtime named it {} s after its cgroup was made",
                b.id,
                b.age(now).as_secs()
            );
        }
        self.follow.accept(b.cgroup);
        self.adopt(who, placed, b.cgroup, true);
    }

    fn reject(&mut self, cgroup: u64) {
        if let Err(e) = self.follow.reject(&mut self.tracer, cgroup) {
            self.error(
                "follow",
                &format!("dropping cgroup {cgroup}: {}", chain(&e)),
            );
        }
    }

    /// Keeps recording `cgroup` as container `who`.
    fn adopt(&mut self, who: &Who, placed: view::Placed, cgroup: u64, from_birth: bool) {
        let label = placed.label;
        let mut key: Key = placed.key.clone();
        if self.per_image {
            key.image = image_short(&who.image);
        }
        // Counted before it is said: whoever reads the log line finds the counts.
        self.metrics.count(&key, Counted::Container { from_birth });
        self.show_followed();
        if from_birth {
            log_key!(
                info,
                &placed.key,
                "{label}: recording from its start into {} (image {}, container {})",
                placed.key,
                who.image,
                who.id
            );
        } else {
            log_key!(
                warn,
                &placed.key,
                "{label}: already running when the agent started; recorded from now on only, \
                 so its runtime's start-up is missing (restart the pod to record it from birth)"
            );
        }
        if self.per_image && key.image.is_none() {
            log::warn!(
                "{label}: the runtime names its image {} without a digest: recorded \
                 into the profile across images",
                who.image
            );
        }
        let image = who.image.clone();
        let tracked = Tracked {
            key,
            label,
            cgroup,
            image,
            from_birth,
        };
        self.acc.add(&who.id, tracked);
    }

    /// Containers of selected pods that run already: recorded from now on, and said so.
    fn adopt_running(&mut self) {
        let Ok(list) = self.view.running_selected() else {
            return;
        };
        for who in list {
            let waiting = self.births.iter().any(|b| b.id == who.id);
            if waiting || self.acc.records(&who.id) {
                continue;
            }
            let Some(placed) = self.view.place(&who) else {
                continue;
            };
            if let Some(no) = self.room.check(self.follow.targets(), true) {
                self.room.refuse(&placed, no, &self.metrics);
                continue;
            }
            match self.view.running_cgroup(&self.mount, &who.id) {
                Ok(Some(dir)) => match follow::add_existing(&mut self.tracer, &dir) {
                    Ok(target) => {
                        self.follow.own(&target);
                        self.adopt(&who, placed, target.id, false);
                    }
                    Err(FollowError::Trace(TraceError::Full { .. })) => {
                        self.room.refuse(&placed, NoRoom::MapFull, &self.metrics)
                    }
                    Err(e) => self.error("follow", &format!("recording {}: {e}", dir.display())),
                },
                Ok(None) => log::debug!("container {} has no cgroup any more", who.id),
                Err(e) => self.error("cgroup", &e.to_string()),
            }
        }
    }

    /// What each recorded cgroup made so far, with the cgroups made inside it.
    fn seen(&self) -> Option<std::collections::BTreeMap<u64, crate::trace::Syscalls>> {
        match self.tracer.read() {
            Ok(mut seen) => {
                self.follow.fold(&mut seen);
                Some(seen)
            }
            Err(e) => {
                self.error("read", &format!("reading what was recorded: {e}"));
                None
            }
        }
    }

    /// Asks the CRI which recorded containers have exited or gone: their profiles are
    /// written now, and their cgroups freed.
    fn poll(&mut self, on_push: OnPush<'_>) {
        if let Err(e) = self.room.look_at_kernel(&self.tracer, &self.metrics) {
            self.error("read", &e.to_string());
        }
        let Ok(finished) = self.view.finished(self.acc.ids()) else {
            return;
        };
        if finished.is_empty() {
            return;
        }
        let Some(seen) = self.seen() else {
            return;
        };
        for cgroup in self.acc.finish(finished, &seen, on_push) {
            if let Err(e) = self.follow.release(&mut self.tracer, cgroup) {
                self.error(
                    "follow",
                    &format!("dropping cgroup {cgroup}: {}", chain(&e)),
                );
            }
        }
    }

    fn write_all(&mut self, on_push: OnPush<'_>) {
        if let Some(seen) = self.seen() {
            self.acc.write_all(&seen, on_push);
        }
    }

    /// Logs and counts an error; `reason` labels the count.
    fn error(&self, reason: &'static str, msg: &str) {
        log::error!("{msg}");
        self.metrics.error(reason);
    }
}
