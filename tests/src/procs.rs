//! What every process and thread of the machine is doing, for the failure message of a call
//! that never returned: a hang's cause is often in the kernel (a task in D state, a wait in
//! a filesystem or a cgroup), which only `/proc/PID/task/TID/{wchan,stack}` show.

use std::fmt::Write;
use std::path::Path;

/// Waits a blocked thread is usually in while idle (Go runtimes park in futex and epoll):
/// their kernel stacks would drown the ones that matter.
const IDLE: [&str; 7] = [
    "futex_do_wait",
    "futex_wait_queue",
    "futex_wait_queue_me",
    "do_epoll_wait",
    "ep_poll",
    "hrtimer_nanosleep",
    "do_sys_poll",
];

/// One line per process (pid, comm, state, wchan, command line; idle kernel workers left
/// out), one per thread under it whose state or wait differs from the process's, and the
/// kernel stack of every thread that looks stuck (see `Task::stuck`) where the kernel lets
/// us read it.
pub fn dump() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let meminfo = read("/proc/meminfo");
    let memory: Vec<&str> = meminfo
        .lines()
        .filter(|l| l.starts_with("MemTotal:") || l.starts_with("MemAvailable:"))
        .collect();
    let mut out = format!(
        "load {}memory {}\nprocesses (pid comm state wchan cmdline):\n",
        read("/proc/loadavg"),
        memory.join(", ")
    );
    for pid in numbered("/proc") {
        let proc = Path::new("/proc").join(pid.to_string());
        let main = task(&proc);
        let cmdline = std::fs::read(proc.join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let cmdline: String = cmdline.trim().chars().take(160).collect();
        // An idle kernel worker (state I) says nothing about a hang.
        let kernel_thread = cmdline.is_empty();
        if kernel_thread && main.state.starts_with('I') {
            continue;
        }
        let _ = writeln!(out, "{pid} {} [{cmdline}]", main.line());
        for tid in numbered(proc.join("task")) {
            let thread = task(&proc.join("task").join(tid.to_string()));
            if tid != pid && (thread.state != main.state || thread.wchan != main.wchan) {
                let _ = writeln!(out, "  thread {tid} {}", thread.line());
            }
            if thread.stuck(kernel_thread) && !thread.stack.is_empty() {
                for frame in thread.stack.lines() {
                    let _ = writeln!(out, "    {tid}: {frame}");
                }
            }
        }
    }
    out
}

/// The processes whose command line (its arguments, program first) `matches`.
pub fn matching(matches: impl Fn(&[String]) -> bool) -> Vec<u32> {
    numbered("/proc")
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            matches(&args)
        })
        .collect()
}

struct Task {
    comm: String,
    state: String,
    wchan: String,
    stack: String,
}

impl Task {
    fn line(&self) -> String {
        format!("{} {} {}", self.comm, self.state, self.wchan)
    }

    /// Whether its kernel stack is worth printing: always in D state (the classic hang);
    /// for a user process's thread sleeping elsewhere than a usual idle spot too.
    fn stuck(&self, kernel_thread: bool) -> bool {
        let state = self.state.chars().next().unwrap_or('?');
        state == 'D' || (state == 'S' && !kernel_thread && !IDLE.contains(&self.wchan.as_str()))
    }
}

fn task(dir: &Path) -> Task {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let status = read("status");
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    let wchan = read("wchan");
    Task {
        comm: field("Name:"),
        state: field("State:"),
        wchan: if wchan.is_empty() { "-".into() } else { wchan },
        stack: read("stack"),
    }
}

/// The numeric entries of a /proc directory, in order.
fn numbered(dir: impl AsRef<Path>) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dump names this very process, and this thread (running while it reads, unlike
    /// the main thread); one parked on a channel gets no kernel stack: it is idle.
    #[test]
    fn the_dump_names_this_process_and_its_threads() {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || {
            tx.send(tid()).unwrap();
            wait.recv()
        });
        let parked_tid = rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let dump = dump();
        drop(done);
        let _ = parked.join();
        let me = std::process::id();
        assert!(
            dump.lines().any(|l| l.starts_with(&format!("{me} "))),
            "no line for pid {me}:\n{dump}"
        );
        let thread = |tid: u32| {
            dump.lines()
                .find(|l| l.starts_with(&format!("  thread {tid} ")))
                .unwrap_or_else(|| panic!("no line for thread {tid}:\n{dump}"))
        };
        assert!(thread(tid()).contains(" R (running) "), "{dump}");
        assert!(!dump.contains(&format!("    {parked_tid}: ")), "{dump}");
    }

    fn tid() -> u32 {
        let link = std::fs::read_link("/proc/thread-self").unwrap();
        link.file_name().unwrap().to_str().unwrap().parse().unwrap()
    }
}
