//! New cgroups named after a container, recorded from their birth while the agent waits
//! for the container runtime to say whose they are.
//!
//! The runtime names a container only once its create returns, and a create can take
//! longer than any grace period (a slow image mount, a busy node). So a cgroup the runtime
//! does not know yet is not dropped after the grace period: it is reported (a warning and
//! a metric) and kept, asked about at each poll of the runtime from then on, until the
//! runtime names it or its cgroup is removed.

use std::time::{Duration, Instant};

/// How long a new cgroup may wait for the runtime to name its container before that is
/// reported as a slow create.
pub(super) const GRACE: Duration = Duration::from_secs(5);

/// A new cgroup named after a container ID.
#[derive(Clone, Debug)]
pub(super) struct Birth {
    pub(super) cgroup: u64,
    /// The container ID its name carries.
    pub(super) id: String,
    since: Instant,
    /// Past the grace period, and reported.
    late: bool,
}

/// What the runtime says about a birth's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Said<T> {
    /// A container it knows.
    Container(T),
    /// A pod sandbox's (pause) container.
    Sandbox,
    /// Nothing it knows (yet).
    Unknown,
    /// It did not answer (reported elsewhere).
    NoAnswer,
}

/// What to do with a birth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Next<T> {
    /// Record it as this container.
    Adopt(T),
    /// Not a container to record: free its cgroup.
    Reject(&'static str),
    /// Ask again later.
    Wait,
    /// Ask again later, and report now that the runtime is slow to name it.
    Late,
}

impl Birth {
    pub(super) fn new(cgroup: u64, id: &str, now: Instant) -> Birth {
        Birth {
            cgroup,
            id: id.to_string(),
            since: now,
            late: false,
        }
    }

    /// Past the grace period: asked about only when the runtime is polled, not at every
    /// tick.
    pub(super) fn late(&self) -> bool {
        self.late
    }

    /// How long since its cgroup was made.
    pub(super) fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }

    /// Decides what the runtime's answer means; `gone` says its cgroup was removed.
    pub(super) fn next<T>(&mut self, said: Said<T>, now: Instant, gone: bool) -> Next<T> {
        match said {
            Said::Container(c) => Next::Adopt(c),
            Said::Sandbox => Next::Reject("a pod sandbox's pause container"),
            Said::NoAnswer => Next::Wait,
            Said::Unknown if gone => Next::Reject("its cgroup is gone and no CRI container had it"),
            Said::Unknown if !self.late && self.age(now) > GRACE => {
                self.late = true;
                Next::Late
            }
            Said::Unknown => Next::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_that_outlives_the_grace_is_reported_once_and_adopted_when_known() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut b = Birth::new(7, "ab", t0);
        assert_eq!(b.next(Said::<&str>::Unknown, at(1), false), Next::Wait);
        assert!(!b.late());
        // Past the grace: reported, not dropped.
        assert_eq!(b.next(Said::<&str>::Unknown, at(6), false), Next::Late);
        assert!(b.late());
        assert_eq!(b.next(Said::<&str>::Unknown, at(9), false), Next::Wait);
        assert_eq!(b.next(Said::NoAnswer, at(10), false), Next::<&str>::Wait);
        // The runtime names it at last: recorded, from its birth.
        assert_eq!(
            b.next(Said::Container("web"), at(12), false),
            Next::Adopt("web")
        );
    }

    #[test]
    fn an_unknown_cgroup_that_is_removed_is_dropped_and_a_sandbox_at_once() {
        let t0 = Instant::now();
        let mut b = Birth::new(7, "ab", t0);
        assert!(matches!(
            b.next(Said::<()>::Unknown, t0 + Duration::from_secs(30), true),
            Next::Reject(_)
        ));
        let mut b = Birth::new(8, "cd", t0);
        assert!(matches!(
            b.next(Said::<()>::Sandbox, t0, false),
            Next::Reject(_)
        ));
        // A runtime that does not answer says nothing about the container.
        let mut b = Birth::new(9, "ef", t0);
        let late = t0 + Duration::from_secs(60);
        assert_eq!(b.next(Said::<()>::NoAnswer, late, false), Next::Wait);
        assert!(!b.late());
    }
}
