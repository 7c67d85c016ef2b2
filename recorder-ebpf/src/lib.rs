//! The contract between the kernel program and user space: the object's maps, globals and
//! programs, each declared once in the `declare!` table below (user space gets [`maps`],
//! [`globals`] and [`programs`] from it, the kernel side `kernel`'s statics), the
//! load-time [`KernelOffsets`], map value layouts, the ABI regions of a target's "seen"
//! set with its slot encoding, and the pure classification of a syscall id.
//!
//! Both halves compile this file, so the classification the kernel does is unit-tested on
//! the host, including the arm64 paths these x86_64 machines cannot run. User space never
//! spells a name of the object itself; a test opens the built object and checks every
//! name and size listed here against it.
#![no_std]

#[macro_use]
mod contract;

pub use contract::{GlobalDef, MapDef, MapKind, MapSpec, ProgramDef, ProgramKind};

/// Syscall numbers per ABI region. Every Linux table is below 1024 today; larger ids
/// (and negative ones) go to the `ODD` map instead of being dropped.
pub const NR_SLOTS: usize = 1024;
/// Regions of a [`Seen`] set, one per ABI the host can run.
pub const ABI_REGIONS: usize = 4;
pub const SEEN_LEN: usize = NR_SLOTS * ABI_REGIONS;

/// x86_64 or aarch64: the kernel's own ABI.
pub const ABI_NATIVE: u32 = 0;
/// i386 on x86_64, AArch32 (EABI) on aarch64.
pub const ABI_COMPAT: u32 = 1;
/// x32 on x86_64 (ids carry `__X32_SYSCALL_BIT`).
pub const ABI_X32: u32 = 2;
/// AArch32's private calls (`0x0f0000 + n`: cacheflush, set_tls, ...).
pub const ABI_ARM_PRIVATE: u32 = 3;

pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;
/// First AArch32 private call number; profiles name them by `ARM_PRIVATE_BASE + n`.
pub const ARM_PRIVATE_BASE: u32 = 0x0f_0000;

/// Values of the `COMPAT_MODE` global: how the program tells a compat syscall apart.
pub const COMPAT_NONE: u32 = 0;
pub const COMPAT_X86: u32 = 1;
pub const COMPAT_ARM64: u32 = 2;

/// One byte per (ABI, syscall number), 0 = never seen, 1 = seen: in `nr` for any call, in
/// `filtered` for calls from a task that had a seccomp filter installed (the part of a
/// container's calls its runtime puts under the profile). Bytes rather than bits, and two
/// planes rather than two bits of one byte, because a store of 1 to a byte never clobbers
/// anything another CPU wrote: exact without atomics.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Seen {
    pub nr: [u8; SEEN_LEN],
    pub filtered: [u8; SEEN_LEN],
}

impl Seen {
    pub const ZERO: Seen = Seen {
        nr: [0; SEEN_LEN],
        filtered: [0; SEEN_LEN],
    };
}

/// Sets a seen byte. Read before write keeps the cache line shared once the set is warm.
///
/// # Safety
/// `p` points into a live map value.
#[inline(always)]
pub unsafe fn mark(p: *mut u8) {
    // SAFETY: see above.
    unsafe {
        if core::ptr::read_volatile(p) == 0 {
            core::ptr::write_volatile(p, 1);
        }
    }
}

/// `task_struct.seccomp.mode` of a task with a filter (SECCOMP_MODE_FILTER).
pub const SECCOMP_MODE_FILTER: u32 = 2;

/// How many target ids the sys_enter program compares inline before its hash lookup.
pub const SCAN_SLOTS: usize = 8;

/// The inline target list: most recordings have a handful of targets, and comparing
/// against a few ids is cheaper than a hash lookup for every process on the host.
/// `n > SCAN_SLOTS` turns it off (more targets, or targets that appear while recording):
/// every cgroup then goes to the hash.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Scan {
    pub n: u64,
    pub id: [u64; SCAN_SLOTS],
}

impl Scan {
    /// A list that sends every cgroup to the hash.
    pub const OFF: Scan = Scan {
        n: SCAN_SLOTS as u64 + 1,
        id: [0; SCAN_SLOTS],
    };

    /// The list of `ids` (their position is their slot in `SETS`), or None when they do
    /// not fit.
    pub fn of(ids: &[u64]) -> Option<Scan> {
        let mut scan = Scan::OFF;
        scan.id.get_mut(..ids.len())?.copy_from_slice(ids);
        scan.n = ids.len() as u64;
        Some(scan)
    }

    #[inline(always)]
    pub fn is_off(&self) -> bool {
        self.n as usize > SCAN_SLOTS
    }
}

/// A syscall id outside every region, kept so that nothing is silently dropped.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OddKey {
    pub cgroup: u64,
    pub abi: u32,
    pub pad: u32,
    pub nr: u64,
}

/// Bytes kept of a followed cgroup's directory name: `libpod-<64 hex>`,
/// `docker-<64 hex>.scope` and `cri-containerd-<64 hex>.scope` all fit.
pub const BORN_NAME_LEN: usize = 120;

/// A cgroup v2 directory made while following: its parent's id and its name, so that user
/// space can rebuild its path even when it is gone before user space looks.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Born {
    pub parent: u64,
    pub name: [u8; BORN_NAME_LEN],
}

/// Where a syscall lands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// Index into [`Seen::nr`].
    Slot(usize),
    Odd {
        abi: u32,
        nr: u64,
    },
}

/// Classifies a raw `sys_enter` id. `compat` is the task's compat flag (TS_COMPAT on x86,
/// TIF_32BIT on arm64); it wins over the x32 bit, as it does in the kernel's dispatcher.
#[inline(always)]
pub fn classify(mode: u32, id: u64, compat: bool) -> Class {
    let (abi, nr) = if mode == COMPAT_X86 && compat {
        (ABI_COMPAT, id)
    } else if mode == COMPAT_X86 && id & X32_SYSCALL_BIT != 0 && id >> 32 == 0 {
        (ABI_X32, id & !X32_SYSCALL_BIT)
    } else if mode == COMPAT_ARM64 && compat {
        let base = ARM_PRIVATE_BASE as u64;
        if id >= base && id < base + NR_SLOTS as u64 {
            (ABI_ARM_PRIVATE, id - base)
        } else {
            (ABI_COMPAT, id)
        }
    } else {
        (ABI_NATIVE, id)
    };
    if nr < NR_SLOTS as u64 {
        Class::Slot(slot(abi, nr))
    } else {
        Class::Odd { abi, nr }
    }
}

const _: () = assert!(NR_SLOTS == 1 << 10 && SEEN_LEN.is_power_of_two());

/// The index of (ABI region, number) in a [`Seen`] plane; `nr < NR_SLOTS`. The mask keeps
/// the index provably inside the set for the verifier. LLVM knows the mask changes nothing
/// and drops it, and on arm64 it folds the ARM-private range check into
/// `id & -1024 == 0xf0000`, from which the verifier learns no bound for `id - 0xf0000`
/// (every attach type was refused on arm64). Read through a volatile load, the index is
/// opaque to LLVM, so the mask stays in the program.
#[inline(always)]
pub fn slot(abi: u32, nr: u64) -> usize {
    let index = ((abi as usize) << 10) | nr as usize;
    // SAFETY: reads a local that lives for the whole call.
    let opaque = unsafe { core::ptr::read_volatile(&index) };
    opaque & (SEEN_LEN - 1)
}

/// The (ABI region, number) of a [`Seen`] index: the inverse of [`slot`].
pub fn unslot(idx: usize) -> (u32, u64) {
    ((idx / NR_SLOTS) as u32, (idx % NR_SLOTS) as u64)
}

/// Offsets into kernel structures the program needs, from the running kernel's BTF (Rust
/// eBPF has no CO-RE): one read-only global, [`globals::OFFSETS`], set at load time.
/// Zero means "not available" for the optional ones (see each field).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    /// How a compat syscall is told apart: `COMPAT_NONE`, `COMPAT_X86` or `COMPAT_ARM64`.
    pub compat_mode: u32,
    /// `task_struct.thread_info.{status,flags}`, and the compat bit in it.
    pub compat_off: u32,
    pub compat_mask: u32,
    /// `id` in the classic `raw_syscalls:sys_enter` record.
    pub tp_id_off: u32,
    pub cgrp_kn: u32,
    /// `cgroup.self.parent`.
    pub cgrp_parent: u32,
    pub cgrp_self: u32,
    pub cgrp_root: u32,
    pub root_hier: u32,
    pub kn_id: u32,
    pub kn_name: u32,
    /// `task_struct.seccomp.mode`; 0: calls under a filter are not told apart.
    pub seccomp_mode: u32,
    /// `task_struct.cgroups` and `css_set.dfl_cgrp`: with `cgrp_kn` and `kn_id`, the
    /// cgroup id as direct loads (see `globals::CGROUP_READ`).
    pub task_cgroups: u32,
    pub cset_dfl_cgrp: u32,
    /// The syscall number in `struct pt_regs` (`orig_ax` on x86_64, `syscallno` on
    /// arm64), read as an `i32` by the refusal counter.
    pub regs_nr: u32,
}

impl KernelOffsets {
    /// What the object holds until user space overrides it: x86_64's usual layout for the
    /// always-read fields, nothing for the rest.
    pub const DEFAULT: KernelOffsets = KernelOffsets {
        compat_mode: COMPAT_NONE,
        compat_off: 16,
        compat_mask: 2,
        tp_id_off: 8,
        cgrp_kn: 0,
        cgrp_parent: 0,
        cgrp_self: 0,
        cgrp_root: 0,
        root_hier: 0,
        kn_id: 0,
        kn_name: 0,
        seccomp_mode: 0,
        task_cgroups: 0,
        cset_dfl_cgrp: 0,
        regs_nr: 0,
    };
}

/// A refused call, counted per cgroup and syscall: the kernel path of `watch-refusals`.
/// `abi` and `nr` as [`classify`] gives them (`nr` relative to its region).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RefusedKey {
    pub cgroup: u64,
    pub abi: u32,
    pub pad: u32,
    pub nr: u64,
}

/// Values of `globals::CGROUP_READ`: the cgroup id from `bpf_get_current_cgroup_id`, or
/// from direct loads through `bpf_get_current_task_btf` (tp_btf only; cheaper where the
/// kernel inlines that helper).
pub const CGROUP_FROM_HELPER: u32 = 0;
pub const CGROUP_FROM_TASK: u32 = 1;

// Everything the object has, once (see `contract.rs` for the line formats). A new map or
// global is one line here; a new program is one line here and its function in
// `src/programs.rs`, under the same name, with the bare program-type attribute
// (`#[btf_tracepoint]`, `#[fexit]`, ...): where it attaches is said here only.
declare! {
    maps {
        /// Target cgroup id -> its seen set. Sized by user space at load time.
        TARGETS: Hash<u64, Seen>[1];
        /// Cgroup created under a target while recording -> the target it belongs to.
        /// Sized by user space at load time.
        PARENT: Hash<u64, u64>[1];
        /// Follow mode: every cgroup v2 directory made while recording -> its parent and
        /// name. Sized by user space at load time.
        BORN: Hash<u64, Born>[1];
        /// Syscall ids outside every region.
        ODD: Hash<OddKey, u8>[4096];
        /// How many new cgroups TARGETS had no room for (one entry): user space reports
        /// them rather than recording them as empty.
        TARGETS_FULL: Array<u32, u64>[1];
        /// The inline target list, one entry (see [`Scan`]).
        SCAN: Array<u32, Scan>[1];
        /// Seen sets of the targets in the inline list, by position.
        SETS: Array<u32, Seen>[SCAN_SLOTS as u32];
        /// A zeroed set the kernel copies from (an 8 KiB value cannot live on the 512-byte
        /// BPF stack); user space never opens it.
        ZERO: Array<u32, Seen>[1];
        /// Refused calls per (cgroup, ABI, number). Sized by user space when it loads the
        /// refusal counter, so that a recording does not pay for it.
        REFUSED: PerCpuHash<RefusedKey, u64>[1];
        /// Refused calls whose key did not fit in REFUSED: counted, never dropped silently.
        REFUSED_LOST: Array<u32, u64>[1];
    }
    globals {
        /// Offsets into this kernel's structures, from its BTF.
        OFFSETS: KernelOffsets = KernelOffsets::DEFAULT;
        /// Non-zero: every new cgroup v2 directory is a target from birth
        /// (--follow-containers, containers not started yet).
        FOLLOW: u32 = 0;
        /// How the BTF tracepoint reads the cgroup id: `CGROUP_FROM_HELPER` or
        /// `CGROUP_FROM_TASK`.
        CGROUP_READ: u32 = CGROUP_FROM_HELPER;
    }
    programs {
        SYS_ENTER_BTF = sys_enter_btf: BtfTracePoint { function: "sys_enter" };
        SYS_ENTER_RAW = sys_enter_raw: RawTracePoint { tracepoint: "sys_enter" };
        SYS_ENTER_TP = sys_enter_tp: TracePoint { category: "raw_syscalls", name: "sys_enter" };
        /// Makes cgroups born under a target (or, following, every new one) targets.
        CGROUP_MKDIR = cgroup_mkdir: BtfTracePoint { function: "cgroup_mkdir" };
        /// Count the calls seccomp refused: `__secure_computing` returns -1 for them. Two
        /// programs, because the return value follows the parameters in an fexit context:
        /// `(const struct seccomp_data *sd)` until Linux 6.14, `(void)` after; user space
        /// loads the one the kernel's BTF matches (one program with a branch on a global
        /// lets LLVM merge the two context reads into one the verifier refuses).
        SECURE_COMPUTING_EXIT = secure_computing_exit: FExit { function: "__secure_computing" };
        SECURE_COMPUTING_EXIT_VOID = secure_computing_exit_void: FExit { function: "__secure_computing" };
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, #[repr(C)], no padding holes that the kernel could leak.
    unsafe impl aya::Pod for super::Seen {}
    unsafe impl aya::Pod for super::OddKey {}
    unsafe impl aya::Pod for super::RefusedKey {}
    unsafe impl aya::Pod for super::Scan {}
    unsafe impl aya::Pod for super::Born {}
    unsafe impl aya::Pod for super::KernelOffsets {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_native_compat_and_x32() {
        assert_eq!(classify(COMPAT_X86, 39, false), Class::Slot(39));
        assert_eq!(classify(COMPAT_X86, 20, true), Class::Slot(1024 + 20));
        assert_eq!(
            classify(COMPAT_X86, X32_SYSCALL_BIT | 512, false),
            Class::Slot(2048 + 512)
        );
        // i386 tasks never use the x32 bit: a compat id with it set is just out of range.
        assert_eq!(
            classify(COMPAT_X86, X32_SYSCALL_BIT | 1, true),
            Class::Odd {
                abi: ABI_COMPAT,
                nr: X32_SYSCALL_BIT | 1
            }
        );
    }

    #[test]
    fn arm64_native_compat_and_private() {
        assert_eq!(classify(COMPAT_ARM64, 221, false), Class::Slot(221));
        assert_eq!(classify(COMPAT_ARM64, 11, true), Class::Slot(1024 + 11));
        assert_eq!(
            classify(COMPAT_ARM64, ARM_PRIVATE_BASE as u64 + 5, true),
            Class::Slot(3072 + 5)
        );
        // On a native task the private range is just an unknown number.
        assert_eq!(
            classify(COMPAT_ARM64, ARM_PRIVATE_BASE as u64 + 5, false),
            Class::Odd {
                abi: ABI_NATIVE,
                nr: ARM_PRIVATE_BASE as u64 + 5
            }
        );
    }

    #[test]
    fn unslot_inverts_slot() {
        for abi in 0..ABI_REGIONS as u32 {
            for nr in 0..NR_SLOTS as u64 {
                assert_eq!(unslot(slot(abi, nr)), (abi, nr));
            }
        }
    }

    #[test]
    fn scan_of_fills_or_refuses() {
        let s = Scan::of(&[7, 9]).unwrap();
        assert_eq!((s.n, s.id[0], s.id[1], s.id[2]), (2, 7, 9, 0));
        assert!(!s.is_off());
        assert!(Scan::of(&[1; SCAN_SLOTS + 1]).is_none());
        assert!(Scan::OFF.is_off());
    }

    #[test]
    fn negative_and_huge_ids_are_kept() {
        assert_eq!(
            classify(COMPAT_X86, u64::MAX, false),
            Class::Odd {
                abi: ABI_NATIVE,
                nr: u64::MAX
            }
        );
        assert_eq!(
            classify(COMPAT_NONE, 5000, false),
            Class::Odd {
                abi: ABI_NATIVE,
                nr: 5000
            }
        );
    }
}
