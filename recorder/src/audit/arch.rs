//! The ABI of an audit record, and runc's init among the processes.

use crate::arch::Arch;

/// runc's init (`runc:[2:INIT]`) runs the last steps of container setup, and its final
/// `execve`, under the container's filter: a profile without its calls cannot start the
/// container.
pub(crate) fn is_runtime_init(comm: Option<&str>) -> bool {
    comm.is_some_and(|c| c.starts_with("runc:["))
}

/// The ABI and that ABI's syscall number of a record. x32 shares x86_64's AUDIT_ARCH and
/// marks its numbers with bit 30.
pub(crate) fn resolve_arch(audit_arch: u32, nr: u32) -> Option<(Arch, u32)> {
    const X32_BIT: u32 = 0x4000_0000;
    let arch = Arch::ALL
        .into_iter()
        .find(|a| a.audit_arch() == audit_arch && *a != Arch::X32)?;
    if arch == Arch::X86_64 && nr & X32_BIT != 0 {
        return Some((Arch::X32, nr & !X32_BIT));
    }
    Some((arch, nr))
}

/// The name of an `AUDIT_ARCH_*` value (from linux/audit.h), for messages about records
/// whose architecture has no syscall table here.
pub fn audit_arch_name(audit_arch: u32) -> Option<&'static str> {
    const NAMES: [(u32, &str); 12] = [
        (0xc000_003e, "x86_64"),
        (0x4000_0003, "i386"),
        (0xc000_00b7, "aarch64"),
        (0x4000_0028, "arm"),
        (0xc000_00f3, "riscv64"),
        (0xc000_0015, "ppc64le"),
        (0x8000_0015, "ppc64"),
        (0x0000_0014, "ppc"),
        (0x8000_0016, "s390x"),
        (0x0000_0016, "s390"),
        (0xc000_0102, "loongarch64"),
        (0x8000_0008, "mips64"),
    ];
    NAMES
        .iter()
        .find(|(v, _)| *v == audit_arch)
        .map(|(_, n)| *n)
}
