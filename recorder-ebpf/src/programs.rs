//! The programs; their maps and globals are declared with the rest of the contract, in
//! `recorder_ebpf`'s `declare!` table.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_task, bpf_probe_read_kernel,
        bpf_probe_read_kernel_str_bytes,
        generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::{btf_tracepoint, fexit, raw_tracepoint, tracepoint},
    programs::{BtfTracePointContext, FExitContext, RawTracePointContext, TracePointContext},
};
use recorder_ebpf::kernel::{
    BORN, CGROUP_READ, FOLLOW, ODD, OFFSETS, PARENT, REFUSED, REFUSED_LOST, SCAN, SETS, TARGETS,
    TARGETS_FULL, ZERO,
};
use recorder_ebpf::{
    BORN_NAME_LEN, Born, CGROUP_FROM_TASK, Class, OddKey, RefusedKey, SCAN_SLOTS,
    SECCOMP_MODE_FILTER, SEEN_LEN, Scan, Seen, classify, mark, unslot,
};

/// One field of `OFFSETS`. The volatile read keeps the compiler from folding the default
/// in; the verifier sees the frozen value and prunes what it turns off.
macro_rules! off {
    ($field:ident) => {{
        // Also used inside unsafe blocks, where this one is redundant.
        #[allow(unused_unsafe)]
        // SAFETY: a read of a field of a live static.
        let v = unsafe { core::ptr::read_volatile(&raw const OFFSETS.$field) };
        v
    }};
}

/// A u32 global, read as `off!` reads a field.
macro_rules! global {
    ($name:ident) => {{
        #[allow(unused_unsafe)]
        // SAFETY: a read of a live static.
        let v = unsafe { core::ptr::read_volatile(&raw const $name) };
        v
    }};
}

#[btf_tracepoint]
pub fn sys_enter_btf(ctx: BtfTracePointContext) -> i32 {
    record::<BtfTask>(ctx.arg::<i64>(1));
    0
}

#[raw_tracepoint]
pub fn sys_enter_raw(ctx: RawTracePointContext) -> i32 {
    record::<ProbeTask>(ctx.arg::<i64>(1));
    0
}

#[tracepoint]
pub fn sys_enter_tp(ctx: TracePointContext) -> u32 {
    // SAFETY: the offset comes from this kernel's tracefs format file.
    if let Ok(id) = unsafe { ctx.read_at::<i64>(off!(tp_id_off) as usize) } {
        record::<ProbeTask>(id);
    }
    0
}

/// The current task: its cgroup id (every syscall on the host asks) and u32 fields at
/// BTF offsets (only targets ask, once per recorded syscall).
trait Task: Sized {
    fn current() -> Self;
    fn u32_at(&self, off: u32) -> Option<u32>;

    /// The cgroup v2 id, and the task when finding the id already looked it up.
    #[inline(always)]
    fn cgroup() -> (u64, Option<Self>) {
        // SAFETY: plain helper call.
        (unsafe { bpf_get_current_cgroup_id() }, None)
    }
}

/// tp_btf: a BTF-typed task pointer, read with direct loads the verifier checks against
/// task_struct's BTF (about 40 ns less than a probe read here).
struct BtfTask(*const u8);

impl Task for BtfTask {
    #[inline(always)]
    fn current() -> Self {
        // SAFETY: plain helper call.
        BtfTask(unsafe { bpf_get_current_task_btf() } as *const u8)
    }

    #[inline(always)]
    fn u32_at(&self, off: u32) -> Option<u32> {
        // SAFETY: the offset is a frozen load-time constant from the kernel's BTF, and the
        // verifier checks the access against the same BTF.
        Some(unsafe { core::ptr::read_volatile(self.0.add(off as usize) as *const u32) })
    }

    /// With `CGROUP_READ` at `CGROUP_FROM_TASK`, what `bpf_get_current_cgroup_id` does
    /// (`task->cgroups->dfl_cgrp->kn->id`) as direct loads, without a call when the
    /// kernel inlines the task lookup; the task is then free for the target path.
    #[inline(always)]
    fn cgroup() -> (u64, Option<Self>) {
        if global!(CGROUP_READ) != CGROUP_FROM_TASK {
            // SAFETY: plain helper call.
            return (unsafe { bpf_get_current_cgroup_id() }, None);
        }
        let task = Self::current();
        (task_cgroup_id(task.0).unwrap_or(0), Some(task))
    }
}

/// `task->cgroups->dfl_cgrp->kn->id` as direct loads. Some kernels type an `__rcu`
/// pointer as maybe-NULL and refuse a load through it unchecked, hence the checks (a
/// cgroup id of 0 is never a target).
#[inline(always)]
fn task_cgroup_id(task: *const u8) -> Option<u64> {
    // SAFETY: frozen offsets from the kernel's BTF; the verifier checks each load against
    // the same BTF and turns a fault into a zero.
    unsafe {
        let cset = nonnull(read_ptr(task, off!(task_cgroups)))?;
        let cgrp = nonnull(read_ptr(cset, off!(cset_dfl_cgrp)))?;
        let kn = nonnull(read_ptr(cgrp, off!(cgrp_kn)))?;
        Some(core::ptr::read_volatile(
            kn.add(off!(kn_id) as usize) as *const u64
        ))
    }
}

#[inline(always)]
fn nonnull(p: *const u8) -> Option<*const u8> {
    (!p.is_null()).then_some(p)
}

/// The pointer at `base + off`, as a direct load.
///
/// # Safety
/// `base` is a BTF-typed kernel pointer and `off` a member offset of its type.
#[inline(always)]
unsafe fn read_ptr(base: *const u8, off: u32) -> *const u8 {
    // SAFETY: see above.
    unsafe { core::ptr::read_volatile(base.add(off as usize) as *const *const u8) }
}

/// raw_tp and classic tracepoints have no BTF-typed pointers: probe reads.
struct ProbeTask(*const u8);

impl Task for ProbeTask {
    #[inline(always)]
    fn current() -> Self {
        // SAFETY: plain helper call.
        ProbeTask(unsafe { bpf_get_current_task() } as *const u8)
    }

    #[inline(always)]
    fn u32_at(&self, off: u32) -> Option<u32> {
        // SAFETY: bpf_probe_read_kernel checks the address.
        unsafe { bpf_probe_read_kernel(self.0.add(off as usize) as *const u32).ok() }
    }
}

#[inline(always)]
fn record<T: Task>(id: i64) {
    let (cgroup, task) = T::cgroup();
    let Some(seen) = seen_set(cgroup) else {
        return;
    };
    // Only targets pay for the task lookup, once for both fields.
    let mode = off!(compat_mode);
    let seccomp_off = off!(seccomp_mode);
    let task = task.or_else(|| (mode != 0 || seccomp_off != 0).then(T::current));
    let field = |off: u32| task.as_ref().and_then(|t| t.u32_at(off));
    let compat = mode != 0 && field(off!(compat_off)).is_some_and(|v| v & off!(compat_mask) != 0);
    match classify(mode, id as u64, compat) {
        Class::Slot(idx) => {
            let filtered = seccomp_off != 0 && field(seccomp_off) == Some(SECCOMP_MODE_FILTER);
            // SAFETY: idx < SEEN_LEN by construction, so both planes stay inside the live
            // map value `seen` points to.
            unsafe {
                mark((seen as *mut u8).add(idx));
                if filtered {
                    mark((seen as *mut u8).add(SEEN_LEN + idx));
                }
            }
        }
        Class::Odd { abi, nr } => {
            let key = OddKey {
                cgroup,
                abi,
                pad: 0,
                nr,
            };
            if ODD.get_ptr(key).is_none() {
                let _ = ODD.insert(key, 1, 0);
            }
        }
    }
}

/// The seen set of a target cgroup, None for every other cgroup. While the target list
/// is short, an array lookup (inlined by the verifier: no call) and a few compares decide,
/// and a target's set is the array slot of its position: no hash lookup at all.
#[inline(always)]
fn seen_set(cgroup: u64) -> Option<*mut Seen> {
    // SAFETY: points into a live array map value.
    let scan = unsafe { &*SCAN.get_ptr(0)? };
    if scan.is_off() {
        return TARGETS.get_ptr_mut(cgroup);
    }
    let mut slot = SCAN_SLOTS as u32;
    for i in 0..SCAN_SLOTS {
        if scan.id[i] == cgroup {
            slot = i as u32;
            break;
        }
    }
    if slot as usize >= SCAN_SLOTS {
        return None;
    }
    SETS.get_ptr_mut(slot)
}

/// A target appeared after the inline list was written: from now on the hash decides.
#[inline(always)]
fn scan_off() {
    if let Some(scan) = SCAN.get_ptr_mut(0) {
        // SAFETY: points into a live array map value; a u64 store.
        unsafe { (*scan).n = Scan::OFF.n };
    }
}

/// A cgroup made under a target (a container's own systemd, a nested runtime) is a
/// target from birth: no task can enter it before this tracepoint has run.
#[btf_tracepoint]
pub fn cgroup_mkdir(ctx: BtfTracePointContext) -> i32 {
    let _ = adopt(ctx.arg::<*const u8>(0));
    0
}

#[inline(always)]
fn adopt(cgrp: *const u8) -> Result<(), i32> {
    // SAFETY: pointer walks with bpf_probe_read_kernel at offsets taken from BTF.
    unsafe {
        let root: *const u8 =
            bpf_probe_read_kernel(cgrp.add(off!(cgrp_root) as usize) as *const *const u8)?;
        let hierarchy: i32 =
            bpf_probe_read_kernel(root.add(off!(root_hier) as usize) as *const i32)?;
        // Hierarchy 0 is cgroup v2; v1 hierarchies on hybrid hosts number their own nodes.
        if hierarchy != 0 {
            return Ok(());
        }
        let parent_css: *const u8 =
            bpf_probe_read_kernel(cgrp.add(off!(cgrp_parent) as usize) as *const *const u8)?;
        let parent = parent_css.wrapping_sub(off!(cgrp_self) as usize);
        let parent_id = cgroup_id(parent)?;
        if global!(FOLLOW) != 0 {
            return follow(cgrp, parent_id);
        }
        if TARGETS.get_ptr(parent_id).is_none() {
            return Ok(());
        }
        let owner = match PARENT.get_ptr(parent_id) {
            Some(p) => *p,
            None => parent_id,
        };
        let id = cgroup_id(cgrp)?;
        new_target(id)?;
        PARENT.insert(id, owner, 0)?;
    }
    Ok(())
}

/// Follow mode: the new cgroup is its own target, unfolded. Which container it belongs to
/// (if any) is decided in user space from the path, which BORN lets it rebuild; a
/// container's cgroup must be recording before `runc init` enters it, so this cannot wait
/// for user space.
#[inline(always)]
unsafe fn follow(cgrp: *const u8, parent: u64) -> Result<(), i32> {
    // SAFETY: see adopt().
    unsafe {
        let id = cgroup_id(cgrp)?;
        let kn: *const u8 =
            bpf_probe_read_kernel(cgrp.add(off!(cgrp_kn) as usize) as *const *const u8)?;
        let name: *const u8 =
            bpf_probe_read_kernel(kn.add(off!(kn_name) as usize) as *const *const u8)?;
        // Held by reference: passing the value would copy it on the small BPF stack.
        let born = &mut Born {
            parent,
            name: [0; BORN_NAME_LEN],
        };
        let _ = bpf_probe_read_kernel_str_bytes(name, &mut born.name);
        let _ = BORN.insert(id, born, 0);
        new_target(id)
    }
}

/// Makes `id` a target with an empty set, unless it is one already.
#[inline(always)]
fn new_target(id: u64) -> Result<(), i32> {
    // SAFETY: points into a live array map value. By reference: an 8 KiB set cannot pass
    // through the 512-byte BPF stack.
    let zero: &Seen = unsafe { &*ZERO.get_ptr(0).ok_or(0i32)? };
    scan_off();
    let inserted = TARGETS.insert(id, zero, BPF_NOEXIST as u64);
    if inserted == Err(-E2BIG)
        && let Some(n) = TARGETS_FULL.get_ptr_mut(0)
    {
        // SAFETY: points into a live array map value. cgroup_mkdir runs under the cgroup
        // mutex, so no other CPU adds meanwhile: a plain add is exact.
        unsafe { *n += 1 };
    }
    inserted
}

/// What a full hash map's insert returns.
const E2BIG: i32 = 7;

#[inline(always)]
unsafe fn cgroup_id(cgrp: *const u8) -> Result<u64, i32> {
    // SAFETY: see adopt().
    unsafe {
        let kn: *const u8 =
            bpf_probe_read_kernel(cgrp.add(off!(cgrp_kn) as usize) as *const *const u8)?;
        bpf_probe_read_kernel(kn.add(off!(kn_id) as usize) as *const u64)
    }
}

/// `__secure_computing` returns -1 when the filter refused the call (errno, trap, kill,
/// a user notification answered with an error) and 0 when it let it run, `SCMP_ACT_LOG`
/// included. Only refusals pay for more than the return check.
#[fexit]
pub fn secure_computing_exit(ctx: FExitContext) -> i32 {
    // After `const struct seccomp_data *sd`.
    let ret: i64 = ctx.arg(1);
    if ret as i32 == -1 {
        count_refused();
    }
    0
}

/// The same for `int __secure_computing(void)` (Linux 6.15+).
#[fexit]
pub fn secure_computing_exit_void(ctx: FExitContext) -> i32 {
    let ret: i64 = ctx.arg(0);
    if ret as i32 == -1 {
        count_refused();
    }
    0
}

/// Adds one to the (cgroup, ABI, number) of the refused call: a count, never an event, so
/// a flood of refusals costs no memory and loses nothing.
#[inline(always)]
fn count_refused() {
    let task = BtfTask::current();
    // SAFETY: a BTF task pointer from the helper; bpf_probe_read_kernel checks the address
    // of the field, at an offset from this kernel's BTF.
    let id: i32 = unsafe {
        let regs = bpf_task_pt_regs(task.0 as *mut _) as *const u8;
        match bpf_probe_read_kernel(regs.add(off!(regs_nr) as usize) as *const i32) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    let mode = off!(compat_mode);
    let compat = mode != 0
        && task
            .u32_at(off!(compat_off))
            .is_some_and(|v| v & off!(compat_mask) != 0);
    let (abi, nr) = match classify(mode, id as i64 as u64, compat) {
        Class::Slot(idx) => unslot(idx),
        Class::Odd { abi, nr } => (abi, nr),
    };
    let key = RefusedKey {
        // SAFETY: plain helper call.
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        abi,
        pad: 0,
        nr,
    };
    if add_one(REFUSED.get_ptr_mut(key)) {
        return;
    }
    // A new key: every CPU's value starts at 0; another CPU may insert it first, then
    // the add lands in the entry it made.
    let _ = REFUSED.insert(key, 0, BPF_NOEXIST as u64);
    if !add_one(REFUSED.get_ptr_mut(key)) {
        // Not exact under a race between CPUs, but only reached once the map is full.
        add_one(REFUSED_LOST.get_ptr_mut(0));
    }
}

/// Adds one to the counter `p` points to, if any: this CPU's own value of a per-CPU map,
/// which no other run touches meanwhile (a trampoline never nests on one CPU).
#[inline(always)]
fn add_one(p: Option<*mut u64>) -> bool {
    let Some(p) = p else {
        return false;
    };
    // SAFETY: points into a live map value, aligned for a u64.
    unsafe { *p += 1 };
    true
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
