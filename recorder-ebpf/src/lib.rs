//! The contract between the kernel program and user space: map value layouts, the ABI
//! regions of a target's "seen" set, and the pure classification of a syscall id.
//!
//! Both halves compile this file, so the classification the kernel does is unit-tested on
//! the host, including the arm64 paths these x86_64 machines cannot run.
#![no_std]

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
pub const ARM_PRIVATE_BASE: u64 = 0x0f_0000;

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
        if id >= ARM_PRIVATE_BASE && id < ARM_PRIVATE_BASE + NR_SLOTS as u64 {
            (ABI_ARM_PRIVATE, id - ARM_PRIVATE_BASE)
        } else {
            (ABI_COMPAT, id)
        }
    } else {
        (ABI_NATIVE, id)
    };
    if nr < NR_SLOTS as u64 {
        Class::Slot((((abi as usize) << 10) | nr as usize) & (SEEN_LEN - 1))
    } else {
        Class::Odd { abi, nr }
    }
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain-old-data, #[repr(C)], no padding holes that the kernel could leak.
    unsafe impl aya::Pod for super::Seen {}
    unsafe impl aya::Pod for super::OddKey {}
    unsafe impl aya::Pod for super::Scan {}
    unsafe impl aya::Pod for super::Born {}
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
            classify(COMPAT_ARM64, ARM_PRIVATE_BASE + 5, true),
            Class::Slot(3072 + 5)
        );
        // On a native task the private range is just an unknown number.
        assert_eq!(
            classify(COMPAT_ARM64, ARM_PRIVATE_BASE + 5, false),
            Class::Odd {
                abi: ABI_NATIVE,
                nr: ARM_PRIVATE_BASE + 5
            }
        );
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
