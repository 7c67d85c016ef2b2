//! Benchmark-only kernel programs: what any `sys_enter` recorder cannot avoid paying (an
//! empty program per attach type) and variants of the recorder's hot path, so that
//! `cargo xtask bench` can tell the attach cost from the program's own work.
//!
//! The recorder never loads this object.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod programs {
    use aya_ebpf::{
        helpers::{
            bpf_get_current_cgroup_id, bpf_get_current_task, bpf_probe_read_kernel,
            generated::bpf_get_current_task_btf,
        },
        macros::{btf_tracepoint, fentry, raw_tracepoint, tracepoint},
        programs::{BtfTracePointContext, FEntryContext, RawTracePointContext, TracePointContext},
    };
    // The recorder's own maps and offsets, as `recorder_ebpf`'s table declares them: the
    // inline target list (SCAN), the seen sets of its slots (SETS), and the hash of every
    // target's set (TARGETS, sized at load time).
    use recorder_ebpf::kernel::{OFFSETS, SCAN, SETS, TARGETS};
    use recorder_ebpf::{KernelOffsets, NR_SLOTS, SCAN_SLOTS, Seen};

    #[btf_tracepoint(function = "sys_enter")]
    pub fn empty_btf(_ctx: BtfTracePointContext) -> i32 {
        0
    }

    #[raw_tracepoint(tracepoint = "sys_enter")]
    pub fn empty_raw(_ctx: RawTracePointContext) -> i32 {
        0
    }

    #[tracepoint]
    pub fn empty_tp(_ctx: TracePointContext) -> u32 {
        0
    }

    /// DESIGN.md says fentry cannot load here; the bench confirms it once per run.
    #[fentry(function = "x64_sys_call")]
    pub fn empty_fentry(_ctx: FEntryContext) -> i32 {
        0
    }

    /// The helper alone: what any cgroup filter pays before it looks anything up.
    #[btf_tracepoint(function = "sys_enter")]
    pub fn cgid_btf(_ctx: BtfTracePointContext) -> i32 {
        // SAFETY: plain helper call.
        let cg = unsafe { bpf_get_current_cgroup_id() };
        (cg == 0) as i32
    }

    /// The recorder's path without the compat read: helper, hash lookup, check-then-set.
    #[btf_tracepoint(function = "sys_enter")]
    pub fn hash_btf(ctx: BtfTracePointContext) -> i32 {
        let id: i64 = ctx.arg(1);
        // SAFETY: plain helper call.
        let cg = unsafe { bpf_get_current_cgroup_id() };
        if let Some(seen) = TARGETS.get_ptr_mut(cg) {
            mark(seen, id);
        }
        0
    }

    /// The proposed variant: compare against up to `SCAN_SLOTS` ids held in an array map (whose
    /// lookup the verifier inlines), so a non-target syscall makes no hash lookup at all.
    #[btf_tracepoint(function = "sys_enter")]
    pub fn scan_btf(ctx: BtfTracePointContext) -> i32 {
        let id: i64 = ctx.arg(1);
        // SAFETY: plain helper call.
        let cg = unsafe { bpf_get_current_cgroup_id() };
        let Some(ids) = SCAN.get_ptr(0) else {
            return 0;
        };
        // SAFETY: points into a live array map value.
        let ids = unsafe { &*ids };
        let mut slot = SCAN_SLOTS as u32;
        for i in 0..SCAN_SLOTS {
            if ids.id[i] == cg {
                slot = i as u32;
                break;
            }
        }
        if (slot as usize) < SCAN_SLOTS {
            if let Some(seen) = SETS.get_ptr_mut(slot) {
                mark(seen, id);
            }
        } else if ids.is_off()
            && let Some(seen) = TARGETS.get_ptr_mut(cg)
        {
            mark(seen, id);
        }
        0
    }

    /// The smallest change to the recorder: the scan only filters; a hit (or more than `SCAN_SLOTS`
    /// targets) still goes through the hash, so the maps and user space stay as they are.
    #[btf_tracepoint(function = "sys_enter")]
    pub fn scanhash_btf(ctx: BtfTracePointContext) -> i32 {
        let id: i64 = ctx.arg(1);
        // SAFETY: plain helper call.
        let cg = unsafe { bpf_get_current_cgroup_id() };
        let Some(ids) = SCAN.get_ptr(0) else {
            return 0;
        };
        // SAFETY: points into a live array map value.
        let ids = unsafe { &*ids };
        if !ids.is_off() && !ids.id.contains(&cg) {
            return 0;
        }
        if let Some(seen) = TARGETS.get_ptr_mut(cg) {
            mark(seen, id);
        }
        0
    }

    /// The array-slot scan plus the compat read the recorder does today
    /// (`bpf_get_current_task` + `bpf_probe_read_kernel`), on targets only.
    #[btf_tracepoint(function = "sys_enter")]
    pub fn scanc_btf(ctx: BtfTracePointContext) -> i32 {
        let id: i64 = ctx.arg(1);
        if let Some(seen) = scan_slot() {
            // SAFETY: reads a u32 of the current task at an offset taken from BTF.
            let status = unsafe {
                let task = bpf_get_current_task() as *const u8;
                bpf_probe_read_kernel(task.add(compat_off()) as *const u32).unwrap_or(0)
            };
            mark(seen, compat_id(id, status));
        }
        0
    }

    /// The same with `bpf_get_current_task_btf` and a direct load (tp_btf only).
    #[btf_tracepoint(function = "sys_enter")]
    pub fn scanct_btf(ctx: BtfTracePointContext) -> i32 {
        let id: i64 = ctx.arg(1);
        if let Some(seen) = scan_slot() {
            // SAFETY: a BTF task pointer; the verifier checks the load against BTF.
            let status = unsafe {
                let task = bpf_get_current_task_btf() as *const u8;
                core::ptr::read_volatile(task.add(compat_off()) as *const u32)
            };
            mark(seen, compat_id(id, status));
        }
        0
    }

    #[inline(always)]
    fn scan_slot() -> Option<*mut Seen> {
        // SAFETY: plain helper call.
        let cg = unsafe { bpf_get_current_cgroup_id() };
        let ids = SCAN.get_ptr(0)?;
        // SAFETY: points into a live array map value.
        let ids = unsafe { &*ids };
        let slot = ids.id.iter().position(|x| *x == cg)?;
        SETS.get_ptr_mut(slot as u32)
    }

    /// `thread_info.status` in `task_struct`, as the recorder sets it from BTF.
    #[inline(always)]
    fn compat_off() -> usize {
        // SAFETY: a read of a field of a live static.
        unsafe { core::ptr::read_volatile(&raw const OFFSETS.compat_off) as usize }
    }

    /// The id moved to the compat region when x86's TS_COMPAT is set.
    #[inline(always)]
    fn compat_id(id: i64, status: u32) -> i64 {
        let compat = status & KernelOffsets::DEFAULT.compat_mask != 0;
        id + compat as i64 * NR_SLOTS as i64
    }

    /// Marks a native id; the rest are not counted.
    #[inline(always)]
    fn mark(seen: *mut Seen, id: i64) {
        let id = id as u64;
        if id < NR_SLOTS as u64 {
            // SAFETY: the index is below NR_SLOTS, inside the set.
            unsafe { recorder_ebpf::mark((seen as *mut u8).add((id as usize) & (NR_SLOTS - 1))) }
        }
    }

    #[cfg(not(test))]
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }

    #[unsafe(link_section = "license")]
    #[unsafe(no_mangle)]
    static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
