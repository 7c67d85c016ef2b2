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
        Global,
        helpers::{
            bpf_get_current_cgroup_id, bpf_get_current_task, bpf_probe_read_kernel,
            generated::bpf_get_current_task_btf,
        },
        macros::{btf_tracepoint, fentry, map, raw_tracepoint, tracepoint},
        maps::{Array, HashMap},
        programs::{BtfTracePointContext, FEntryContext, RawTracePointContext, TracePointContext},
    };
    use recorder_ebpf::{Scan, Seen};

    /// The recorder's inline target list: up to 8 ids, `n` counting all targets so that a
    /// set of more than 8 falls back to the hash.
    #[map]
    static SCAN: Array<Scan> = Array::with_max_entries(1, 0);
    /// Seen set of the target in slot i of `SCAN`.
    #[map]
    static SETS: Array<Seen> = Array::with_max_entries(8, 0);
    /// Target cgroup id -> seen set, as the recorder keeps it. Sized at load time.
    #[map]
    static HASH: HashMap<u64, Seen> = HashMap::with_max_entries(1, 0);

    /// Offset of `thread_info.status` in `task_struct`, from BTF (as the recorder sets it).
    #[unsafe(no_mangle)]
    static COMPAT_OFF: Global<u32> = Global::new(16);

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
        if let Some(seen) = HASH.get_ptr_mut(cg) {
            mark(seen, id);
        }
        0
    }

    /// The proposed variant: compare against up to 8 ids held in an array map (whose
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
        let mut slot = 8u32;
        for i in 0..8 {
            if ids.id[i] == cg {
                slot = i as u32;
                break;
            }
        }
        if slot < 8 {
            if let Some(seen) = SETS.get_ptr_mut(slot) {
                mark(seen, id);
            }
        } else if ids.n > 8
            && let Some(seen) = HASH.get_ptr_mut(cg)
        {
            mark(seen, id);
        }
        0
    }

    /// The smallest change to the recorder: the scan only filters; a hit (or more than 8
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
        if ids.n <= 8 && !ids.id.contains(&cg) {
            return 0;
        }
        if let Some(seen) = HASH.get_ptr_mut(cg) {
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
                bpf_probe_read_kernel(task.add(COMPAT_OFF.load() as usize) as *const u32)
                    .unwrap_or(0)
            };
            mark(seen, id + (status & 2) as i64 * 512);
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
                core::ptr::read_volatile(task.add(COMPAT_OFF.load() as usize) as *const u32)
            };
            mark(seen, id + (status & 2) as i64 * 512);
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

    #[inline(always)]
    fn mark(seen: *mut Seen, id: i64) {
        let id = id as u64;
        if id < 1024 {
            // SAFETY: the index is below 1024, inside the set.
            unsafe { recorder_ebpf::mark((seen as *mut u8).add((id as usize) & 1023)) }
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
