//! Room in the kernel maps. The agent records at most `--max-targets` containers at once,
//! and sizes the maps for that many plus [`HEADROOM`] for the cgroups made inside them and
//! the new cgroups on the node not decided about yet (the kernel records every new cgroup
//! until user space drops it). A new container that finds no room is refused, with a
//! warning naming it and a count by reason; the containers already recorded go on.

use super::http::Metrics;
use super::view::Placed;
use crate::trace::{TraceError, Tracer};
use std::sync::atomic::Ordering;

/// Cgroups the maps hold beyond `--max-targets`.
pub const HEADROOM: u32 = 1024;
/// `--max-targets` unless given: with [`HEADROOM`], the 2048 cgroups the maps always held.
pub const DEFAULT_MAX_TARGETS: u32 = 1024;

/// Why a new container is not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NoRoom {
    /// `--max-targets` containers are recorded already.
    MaxTargets,
    /// The kernel maps were full when its cgroup was made: nothing of it was recorded.
    MapFull,
}

impl NoRoom {
    /// The `reason` label of `seccomp_recorder_targets_refused_total`.
    pub(super) fn reason(self) -> &'static str {
        match self {
            NoRoom::MaxTargets => "max_targets",
            NoRoom::MapFull => "map_full",
        }
    }
}

pub(super) struct Room {
    max_targets: usize,
    /// Cgroups the maps hold.
    capacity: u32,
    /// The kernel's count of cgroups it had no room for, when last looked at.
    refused: u64,
}

impl Room {
    pub(super) fn new(max_targets: u32) -> Room {
        Room {
            max_targets: max_targets as usize,
            capacity: max_targets.saturating_add(HEADROOM),
            refused: 0,
        }
    }

    /// What to load the maps with.
    pub(super) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Whether a new container may be recorded while `recording` are, given whether the
    /// kernel had room for its cgroup.
    pub(super) fn check(&self, recording: usize, in_kernel: bool) -> Option<NoRoom> {
        if recording >= self.max_targets {
            Some(NoRoom::MaxTargets)
        } else if !in_kernel {
            Some(NoRoom::MapFull)
        } else {
            None
        }
    }

    /// The end of the warning about a refused container: why, and what to do.
    pub(super) fn why(&self, no: NoRoom) -> String {
        match no {
            NoRoom::MaxTargets => format!(
                "the agent records {} containers already (--max-targets); restart the pod \
                 once one of them has exited to record it, or raise --max-targets",
                self.max_targets
            ),
            NoRoom::MapFull => format!(
                "the kernel maps were full when its cgroup was made ({} cgroups: the \
                 recorded containers, the cgroups inside them and new cgroups not decided \
                 yet); restart the pod to record it, or raise --max-targets",
                self.capacity
            ),
        }
    }

    /// Notes the kernel's running count of cgroups it had no room for; returns how many
    /// were added since the last look.
    pub(super) fn kernel_refused(&mut self, total: u64) -> Option<u64> {
        let new = total.checked_sub(self.refused).filter(|n| *n > 0)?;
        self.refused = total;
        Some(new)
    }
    /// A container of a selected pod is not recorded: said, with its profile's labels,
    /// and counted.
    pub(super) fn refuse(&self, placed: &Placed, no: NoRoom, metrics: &Metrics) {
        let why = self.why(no);
        log_key!(warn, &placed.key, "{}: not recorded: {why}", placed.label);
        metrics.target_refused(no.reason());
    }

    /// Reports the new cgroups the kernel maps had no room for since the last look: a
    /// warning, and the count in /metrics.
    pub(super) fn look_at_kernel(
        &mut self,
        tracer: &Tracer,
        metrics: &Metrics,
    ) -> Result<(), TraceError> {
        let total = tracer.refused()?;
        metrics.kernel_refused.store(total, Ordering::Relaxed);
        if let Some(new) = self.kernel_refused(total) {
            log::warn!(
                "the kernel maps were full: {new} new cgroups were not followed ({} cgroups \
                 held); containers among them are refused as they are named",
                self.capacity
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_keeps_the_maps_at_2048_cgroups() {
        assert_eq!(Room::new(DEFAULT_MAX_TARGETS).capacity(), 2048);
        assert_eq!(Room::new(2).capacity(), 1026);
        assert_eq!(Room::new(u32::MAX).capacity(), u32::MAX);
    }

    #[test]
    fn the_limit_comes_first_then_the_kernel() {
        let room = Room::new(2);
        assert_eq!(room.check(0, true), None);
        assert_eq!(room.check(1, true), None);
        assert_eq!(room.check(1, false), Some(NoRoom::MapFull));
        assert_eq!(room.check(2, true), Some(NoRoom::MaxTargets));
        assert_eq!(room.check(2, false), Some(NoRoom::MaxTargets));
        assert_eq!(NoRoom::MaxTargets.reason(), "max_targets");
        assert_eq!(NoRoom::MapFull.reason(), "map_full");
    }

    #[test]
    fn the_warning_names_the_limit_or_the_capacity() {
        let room = Room::new(2);
        assert!(
            room.why(NoRoom::MaxTargets)
                .contains("records 2 containers")
        );
        assert!(room.why(NoRoom::MapFull).contains("(1026 cgroups"));
    }

    #[test]
    fn kernel_refusals_are_reported_once_each() {
        let mut room = Room::new(2);
        assert_eq!(room.kernel_refused(0), None);
        assert_eq!(room.kernel_refused(3), Some(3));
        assert_eq!(room.kernel_refused(3), None);
        assert_eq!(room.kernel_refused(5), Some(2));
    }
}
