//! What a recorded profile always allows besides what the recording saw: the calls the
//! kernel makes on any program's behalf, and for a container the calls its runtime's Go
//! code may make after the filter is in place. `record` and the agent both take a
//! target's calls from here, so every container profile gets the same policy, whatever
//! found the container.

use super::add_kernel_made;
use crate::trace::Syscalls;

/// Calls a Go runtime makes on its own schedule, whatever the program is doing: locks and
/// sleeps (futex, nanosleep, sched_yield), preemption signals (getpid, gettid, tgkill,
/// rt_sigreturn), heap and GC (mmap, munmap, madvise), new threads (clone, sigaltstack,
/// rt_sigprocmask), the network poller (epoll_pwait) and thread exit. `runc init` is a Go
/// program: one that made them before it installed the filter may make them after it in the
/// next run, and dies if they are refused.
pub const RUNTIME_ANYTIME: &[&str] = &[
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

/// What a target is, as far as its profile's policy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A command, a cgroup or a PID: its profile is what it made.
    Plain,
    /// A container, however it was found (named, followed, through any engine's or
    /// runtime's state, or by the agent).
    Container,
}

/// The calls a target's profile allows for what it was recorded making: see
/// [`container_calls`] and [`add_kernel_made`].
pub fn profile_calls(s: Syscalls, kind: Kind) -> Syscalls {
    let mut s = match kind {
        Kind::Plain => s,
        Kind::Container => container_calls(s),
    };
    add_kernel_made(&mut s.names);
    s
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    fn seen(names: &[&str]) -> Syscalls {
        let mut s = Syscalls::default();
        s.names
            .insert(Arch::X86_64, names.iter().map(|n| n.to_string()).collect());
        s
    }

    #[test]
    fn a_container_gets_the_runtimes_calls_and_a_plain_target_does_not() {
        let plain = profile_calls(seen(&["read"]), Kind::Plain);
        let calls = &plain.names[&Arch::X86_64];
        assert!(calls.contains("read") && calls.contains("rt_sigreturn"));
        assert!(!calls.contains("sched_yield"), "{calls:?}");
        let container = profile_calls(seen(&["read"]), Kind::Container);
        let calls = &container.names[&Arch::X86_64];
        for n in [
            "read",
            "sched_yield",
            "gettid",
            "tgkill",
            "madvise",
            "exit",
            "restart_syscall",
        ] {
            assert!(calls.contains(n), "{n} missing: {calls:?}");
        }
    }

    #[test]
    fn a_container_recorded_under_a_filter_keeps_what_it_made_under_it() {
        let mut s = seen(&["mount", "pivot_root", "read"]);
        s.filtered
            .insert(Arch::X86_64, ["read".to_string()].into_iter().collect());
        let calls = &profile_calls(s, Kind::Container).names[&Arch::X86_64];
        assert!(
            calls.contains("read") && !calls.contains("mount"),
            "{calls:?}"
        );
    }

    #[test]
    fn nothing_seen_stays_nothing() {
        let s = profile_calls(Syscalls::default(), Kind::Container);
        assert!(s.names.is_empty());
    }
}
