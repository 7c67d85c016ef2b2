//! Facts about Linux that profiles, the runtimes' defaults and diffs all rely on:
//! capability names, kernel versions and which names are syscalls at all. It depends on
//! nothing but the syscall tables, so every module that checks or expands a profile can use
//! it without depending on the others.

use crate::arch::Arch;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The 41 Linux capabilities (`include/uapi/linux/capability.h`).
pub(crate) const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `major.minor` (more parts and suffixes are ignored, as Docker's loader does).
pub fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Syscalls of architectures we have no table for that runtimes' profiles list
/// (validating the built-in profiles, a test in `runtime_default`, fails on one missing here).
const UNTABLED_SYSCALLS: [&str; 8] = [
    "riscv_flush_icache",
    "riscv_hwprobe",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "swapcontext",
    "sync_file_range2",
    "syscall",
];

/// True if `name` is a syscall on some architecture, ours or another.
pub(crate) fn is_syscall_anywhere(name: &str) -> bool {
    static NAMES: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            Arch::ALL
                .into_iter()
                .flat_map(|a| a.syscall_names())
                .chain(UNTABLED_SYSCALLS)
                .collect()
        })
        .contains(name)
}
