//! `watch-refusals` on the kernel path: the kernel's counts, read every 200 ms, one line
//! per cgroup and syscall whose count grew.

use anyhow::Result;
use seccomp_recorder::refusals::{Attributor, Counts, KernelCount, KernelPath, within};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Distinct (cgroup, syscall) keys the summary keeps; past it, one line.
const KEYS: usize = 4096;

pub fn watch(
    mut path: KernelPath,
    attributor: &mut Attributor,
    wanted: &[PathBuf],
    stop: &AtomicBool,
    duration: Option<Duration>,
) -> Result<ExitCode> {
    let started = Instant::now();
    let mut summary = Summary {
        counts: Counts::new(KEYS),
        elsewhere: 0,
    };
    let mut out = std::io::stdout().lock();
    let mut lost = 0;
    let mut last = false;
    while !last {
        // One more read once told to stop: the summary's counts are exact up to the end.
        last = stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d);
        if !last {
            std::thread::sleep(Duration::from_millis(200));
        }
        lost += path.lost()?;
        for c in path.poll()? {
            let Some(line) = summary.take(&c, attributor, wanted) else {
                continue;
            };
            // A reader that went away (`| head`) ends the watch, not with a panic.
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                last = true;
            }
        }
    }
    summary.print(lost);
    Ok(ExitCode::SUCCESS)
}

struct Summary {
    counts: Counts<(String, String, String)>,
    elsewhere: u64,
}

impl Summary {
    /// The line to print for `c`, or `None` when it is not one of the wanted cgroups'.
    fn take(
        &mut self,
        c: &KernelCount,
        attributor: &mut Attributor,
        wanted: &[PathBuf],
    ) -> Option<String> {
        let dir = attributor.cgroup_by_id(c.cgroup);
        if !wanted.is_empty() && !dir.as_deref().is_some_and(|d| within(d, wanted)) {
            self.elsewhere += c.count;
            return None;
        }
        let where_ = match &dir {
            Some(d) => attributor.place(d),
            None => format!("cgroup=id:{} (gone)", c.cgroup),
        };
        let key = (where_.clone(), c.syscall_label(), c.arch_label());
        self.counts.add_n(&key, c.count);
        Some(format!(
            "refused count={} arch={} syscall={} {where_}",
            c.count,
            c.arch_label(),
            c.syscall_label()
        ))
    }

    fn print(&self, lost: u64) {
        let total = self.counts.total();
        eprintln!("watch-refusals: {total} refused calls counted by the kernel path");
        for ((where_, syscall, arch), n) in self.counts.sorted() {
            eprintln!("  {n:>8}  {syscall} ({arch}) {where_}");
        }
        if self.counts.overflow() > 0 {
            eprintln!(
                "  {:>8}  under keys past the first {KEYS}",
                self.counts.overflow()
            );
        }
        eprintln!(
            "skipped: {} from cgroups outside --cgroup/--container; lost: {lost} refusals \
             the kernel's map had no room to key",
            self.elsewhere
        );
    }
}
