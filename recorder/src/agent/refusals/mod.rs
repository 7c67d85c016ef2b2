//! `--watch-refusals`: every seccomp refusal on the node, attributed to the namespace,
//! workload and container of the process that made it, for every pod the CRI knows (the
//! enforced pods are usually not the recorded ones). Counted in the metric
//! `seccomp_recorder_refusals_total`, logged the first time per container and syscall,
//! and written to `<container>.refusals.json` next to the Localhost profile. With
//! `--learn-refusals`, refused calls and calls SCMP_ACT_LOG let through join the
//! workload's profile.
//!
//! Refusals are seen through the kernel path (fexit on `__secure_computing`: every
//! refusal, no flag needed) where the kernel allows it, else through the audit path
//! (only filters with SECCOMP_FILTER_FLAG_LOG report theirs).

mod attribute;
mod report;

use super::acc::Accumulator;
use super::http::Metrics;
use super::view::View;
use super::{Options, RefusalOptions};
use crate::output::write_atomic;
use crate::refusals::{KernelPath, RefusalError, Watcher};
use attribute::Attribution;
use report::{Report, Tally};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records read per loop tick, so a flood cannot starve the recording.
const PER_TICK: usize = 50_000;
/// How often the kernel's counts are read: each read walks the whole map.
const KERNEL_POLL: Duration = Duration::from_millis(250);
/// How often the refusals files are written, learned calls handed on and the kernel's
/// losses asked for: well within the 5 s a refusal must be reported in.
const FLUSH: Duration = Duration::from_secs(1);

/// Where refusals are read from.
enum Paths {
    /// The kernel counts the refusals. With `--learn-refusals`, the audit path too, for
    /// the calls SCMP_ACT_LOG lets through (not refusals, so the kernel path misses them).
    Kernel {
        kernel: KernelPath,
        logged: Option<Watcher>,
        lost: u64,
    },
    Audit(Watcher),
}

pub(super) struct Refusals {
    paths: Paths,
    counting: Counting,
    localhost: Option<PathBuf>,
    polled: Instant,
    flushed: Instant,
}

/// Attributes and counts what either path reads.
struct Counting {
    who: Attribution,
    tally: Tally,
    learn: bool,
    metrics: Arc<Metrics>,
}

impl Refusals {
    /// Opens the kernel path where the kernel allows it, else the audit path, and says in
    /// one line which and why.
    pub(super) fn open(
        r: RefusalOptions,
        mount: &Path,
        opts: &Options,
        metrics: Arc<Metrics>,
    ) -> Result<Refusals, RefusalError> {
        let paths = match r.source {
            Some(_) => Paths::Audit(audit(r, "")?),
            None => match KernelPath::open() {
                Ok(kernel) => kernel_path(kernel, r.learn),
                Err(why) => {
                    let note = format!(
                        "; the kernel path (fexit on __secure_computing) is not available \
                         here: {why}"
                    );
                    let watcher = audit(r, &note).map_err(|e| RefusalError::Nowhere {
                        kernel: why,
                        audit: Box::new(e),
                    })?;
                    Paths::Audit(watcher)
                }
            },
        };
        Ok(Refusals {
            paths,
            counting: Counting {
                who: Attribution::new(mount),
                tally: Tally::new(metrics.clone()),
                learn: r.learn,
                metrics,
            },
            localhost: opts.localhost_dir.clone(),
            polled: Instant::now(),
            flushed: Instant::now(),
        })
    }

    /// One turn of the agent's loop: what arrived is counted, and every [`FLUSH`] the
    /// files are written and learned calls handed to the profiles.
    pub(super) fn tick(&mut self, view: &mut View, acc: &mut Accumulator) {
        let counting = &mut self.counting;
        match &mut self.paths {
            Paths::Audit(w) => counting.drain(w, true, view),
            Paths::Kernel { kernel, logged, .. } => {
                if self.polled.elapsed() >= KERNEL_POLL {
                    self.polled = Instant::now();
                    counting.poll(kernel, view);
                }
                if let Some(w) = logged {
                    counting.drain(w, false, view);
                }
            }
        }
        if self.flushed.elapsed() >= FLUSH {
            self.flushed = Instant::now();
            self.flush(acc);
        }
    }

    /// Writes the refusals files that changed, adds learned calls to profiles, and
    /// reports what the kernel lost.
    pub(super) fn flush(&mut self, acc: &mut Accumulator) {
        self.report_losses();
        let tally = &mut self.counting.tally;
        for (key, names) in tally.take_learned() {
            acc.learn(&key, names);
        }
        let dirty = tally.take_dirty();
        let Some(dir) = &self.localhost else {
            return;
        };
        for key in dirty {
            let path = dir
                .join(&key.namespace)
                .join(&key.workload)
                .join(format!("{}.refusals.json", key.container));
            if let Err(e) = write(&tally.file(&key), &path) {
                log::error!("{key}: cannot write {}: {e}", path.display());
                self.counting.metrics.error("publish");
            }
        }
    }

    fn report_losses(&mut self) {
        let metrics = &self.counting.metrics;
        match &mut self.paths {
            Paths::Audit(w) => {
                let losses = w.losses();
                if losses.any() {
                    log::warn!("refusals not seen: {losses}");
                }
                metrics.set_refusals_lost(losses.kernel_lost());
            }
            Paths::Kernel { kernel, lost, .. } => match kernel.lost() {
                Ok(0) => {}
                Ok(n) => {
                    *lost += n;
                    log::warn!(
                        "{n} refusals the kernel's map had no room to key ({lost} since the \
                         start): counted in seccomp_recorder_refusals_kernel_lost_total only"
                    );
                    metrics.set_refusals_lost(Some(*lost));
                }
                Err(e) => {
                    log::error!("reading the kernel path's lost counter: {e}");
                    metrics.error("refusals");
                }
            },
        }
    }
}

impl Counting {
    /// Reads the audit records that arrived since the last tick. `refusals`: count the
    /// refused calls (false where the kernel path counts them, and only the calls
    /// SCMP_ACT_LOG let through are wanted, to learn).
    fn drain(&mut self, w: &mut Watcher, refusals: bool, view: &mut View) {
        for _ in 0..PER_TICK {
            let r = match w.next(Duration::ZERO) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading refusals: {e}");
                    self.metrics.error("refusals");
                    break;
                }
            };
            if !refusals && r.refused() {
                continue;
            }
            let report = Report::of_audit(&r, self.who.pid(r.pid, view));
            self.take(&report, r.refused());
        }
    }

    /// Reads the kernel's counts that grew since the last poll.
    fn poll(&mut self, kernel: &mut KernelPath, view: &mut View) {
        let counts = match kernel.poll() {
            Ok(c) => c,
            Err(e) => {
                log::error!("reading the kernel path's counts: {e}");
                self.metrics.error("refusals");
                return;
            }
        };
        for c in counts {
            let report = Report::of_kernel(&c, self.who.cgroup(c.cgroup, view));
            self.take(&report, true);
        }
    }

    fn take(&mut self, report: &Report, refused: bool) {
        if self.learn {
            self.tally.learn(report);
        }
        if refused {
            self.tally.count(report);
        }
    }
}

/// The kernel path, and with `--learn-refusals` the audit path beside it where it opens.
fn kernel_path(kernel: KernelPath, learn: bool) -> Paths {
    log::info!(
        "watching seccomp refusals through the kernel path (fexit on __secure_computing): \
         every refused call, whatever the profile's flags"
    );
    let logged = learn.then(|| Watcher::open(None)).and_then(|w| match w {
        Ok(w) => {
            log::info!(
                "--learn-refusals: calls SCMP_ACT_LOG lets through are read from {}: {}",
                w.source(),
                w.why()
            );
            Some(w)
        }
        Err(e) => {
            log::warn!(
                "--learn-refusals: {e}; refused calls are learned, but the calls \
                 SCMP_ACT_LOG lets through (complain mode) are not"
            );
            None
        }
    });
    Paths::Kernel {
        kernel,
        logged,
        lost: 0,
    }
}

/// The audit path, said in one line with `note` (why not the kernel path).
fn audit(r: RefusalOptions, note: &str) -> Result<Watcher, RefusalError> {
    let watcher = Watcher::open(r.source)?;
    log::info!(
        "watching seccomp refusals through {}: {}{note}; only profiles with \
         SECCOMP_FILTER_FLAG_LOG report their refusals this way",
        watcher.source(),
        watcher.why()
    );
    Ok(watcher)
}

fn write(doc: &serde_json::Value, path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_string_pretty(doc).unwrap_or_default() + "\n";
    write_atomic(path, text.as_bytes())
}
