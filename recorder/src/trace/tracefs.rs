//! tracefs: where the classic tracepoint (and bpftrace, perf) expect it, and the layout
//! of the sys_enter record it describes.

use std::path::Path;

const TRACEFS: &str = "/sys/kernel/tracing";

/// Mounts tracefs at its usual place when nothing is there; true when this call mounted
/// it. A failure only means the classic tracepoint cannot attach, which that attach
/// reports itself.
pub fn ensure_tracefs() -> bool {
    if Path::new(TRACEFS).join("events").exists() {
        return false;
    }
    let t = c"tracefs";
    // SAFETY: plain mount(2) with static C strings.
    let r = unsafe {
        libc::mount(
            t.as_ptr(),
            c"/sys/kernel/tracing".as_ptr(),
            t.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        log::debug!("mounting tracefs: {}", std::io::Error::last_os_error());
    }
    r == 0
}

/// Offset of `id` in the classic sys_enter record; kernels with a longer `trace_entry`
/// (PREEMPT_RT, lazy preemption backports) move it.
pub(crate) fn tracepoint_id_offset() -> Option<u32> {
    [TRACEFS, "/sys/kernel/debug/tracing"].iter().find_map(|t| {
        let f =
            std::fs::read_to_string(format!("{t}/events/raw_syscalls/sys_enter/format")).ok()?;
        let line = f.lines().find(|l| l.contains(" id;"))?;
        line.split(';')
            .find_map(|p| p.trim().strip_prefix("offset:")?.parse().ok())
    })
}
