//! Seccomp architectures and their syscall tables, in libseccomp's spelling (what runc,
//! crun, containerd, Docker and Podman accept in a profile).

use std::fmt;
use std::str::FromStr;

/// An ABI that the recorder can tell apart and a profile can list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
    Arm,
}
/// The `syscalls` crate names arm64's call 79 after the generic `__NR3264_fstatat`, but the
/// kernel's 64-bit name, and so libseccomp's and every runtime's, is `newfstatat`: a profile
/// naming `fstatat` would not allow it on arm64.
const AARCH64_NEWFSTATAT: &str = "newfstatat";

fn aarch64_name(name: &'static str) -> &'static str {
    match name {
        "fstatat" => AARCH64_NEWFSTATAT,
        n => n,
    }
}

/// x32's own syscalls (512..=547); below 512 it shares x86_64's numbers and names.
const X32_TABLE: [&str; 36] = [
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];
const X32_FIRST: u32 = 512;

/// AArch32's private syscalls, numbered from 0x0f0000 (arch/arm/include/uapi/asm/unistd.h).
const ARM_PRIVATE: [&str; 7] = [
    "",
    "breakpoint",
    "cacheflush",
    "usr26",
    "usr32",
    "set_tls",
    "get_tls",
];
pub(crate) use recorder_ebpf::ARM_PRIVATE_BASE;

impl Arch {
    pub(crate) const ALL: [Arch; 5] =
        [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm];

    /// The name a seccomp profile uses (`SCMP_ARCH_X86_64`, ...).
    pub fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    pub(crate) fn from_scmp_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.scmp_name() == name)
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `arch=` of audit records. x32 shares
    /// x86_64's value; its syscall numbers carry bit 30 instead.
    pub(crate) fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xc000_003e,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xc000_00b7,
            Arch::Arm => 0x4000_0028,
        }
    }

    /// The native ABI of the machine this binary runs on, if we know it.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "x86" => Some(Arch::X86),
            "arm" => Some(Arch::Arm),
            _ => None,
        }
    }

    /// The syscall name for a number of this ABI (x32 numbers without the x32 bit).
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        use syscalls::{aarch64, arm, x86, x86_64};
        match self {
            Arch::X86_64 => x86_64::Sysno::new(nr as usize).map(|s| s.name()),
            Arch::X32 if nr >= X32_FIRST => X32_TABLE.get((nr - X32_FIRST) as usize).copied(),
            Arch::X32 => x86_64::Sysno::new(nr as usize)
                .filter(|s| !x86_64_only(s.name()))
                .map(|s| s.name()),
            Arch::X86 => x86::Sysno::new(nr as usize).map(|s| s.name()),
            Arch::Aarch64 => aarch64::Sysno::new(nr as usize).map(|s| aarch64_name(s.name())),
            Arch::Arm if nr >= ARM_PRIVATE_BASE => ARM_PRIVATE
                .get((nr - ARM_PRIVATE_BASE) as usize)
                .copied()
                .filter(|n| !n.is_empty()),
            Arch::Arm => arm::Sysno::new(nr as usize).map(|s| s.name()),
        }
    }

    /// The number of a named syscall on this ABI, if the ABI has it.
    pub(crate) fn syscall_number(self, name: &str) -> Option<u32> {
        use syscalls::{aarch64, arm, x86, x86_64};
        let id = |r: Result<i32, ()>| r.ok().map(|n| n as u32);
        match self {
            Arch::X86_64 => id(x86_64::Sysno::from_str(name).map(|s| s.id())),
            Arch::X32 => X32_TABLE
                .iter()
                .position(|n| *n == name)
                .map(|i| X32_FIRST + i as u32)
                .or_else(|| {
                    id(x86_64::Sysno::from_str(name).map(|s| s.id())).filter(|_| !x86_64_only(name))
                }),
            Arch::X86 => id(x86::Sysno::from_str(name).map(|s| s.id())),
            Arch::Aarch64 => id(aarch64::Sysno::from_str(match name {
                AARCH64_NEWFSTATAT => "fstatat",
                _ => name,
            })
            .map(|s| s.id())),
            Arch::Arm => ARM_PRIVATE
                .iter()
                .position(|n| !n.is_empty() && *n == name)
                .map(|i| ARM_PRIVATE_BASE + i as u32)
                .or_else(|| id(arm::Sysno::from_str(name).map(|s| s.id()))),
        }
    }

    /// Every syscall name of this ABI, sorted.
    pub(crate) fn syscall_names(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = (0..1024)
            .chain(ARM_PRIVATE_BASE..ARM_PRIVATE_BASE + ARM_PRIVATE.len() as u32)
            .filter_map(|nr| self.syscall_name(nr))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// x86_64 calls whose low number x32 does not use (x32 has its own at 512+, or none).
fn x86_64_only(name: &str) -> bool {
    X32_TABLE.contains(&name)
        || matches!(
            name,
            "uselib"
                | "_sysctl"
                | "create_module"
                | "get_kernel_syms"
                | "query_module"
                | "nfsservctl"
                | "getpmsg"
                | "putpmsg"
                | "afs_syscall"
                | "tuxcall"
                | "security"
                | "set_thread_area"
                | "get_thread_area"
                | "epoll_ctl_old"
                | "epoll_wait_old"
                | "vserver"
        )
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scmp_name())
    }
}

impl FromStr for Arch {
    type Err = String;

    /// Accepts `SCMP_ARCH_X86_64` as well as short names (`x86_64`, `amd64`, `i386`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(a) = Arch::from_scmp_name(s) {
            return Ok(a);
        }
        match s.to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "x86" | "i386" | "i686" => Ok(Arch::X86),
            "x32" => Ok(Arch::X32),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            "arm" | "armhf" | "armel" => Ok(Arch::Arm),
            _ => Err(format!(
                "unknown architecture '{s}' (expected one of SCMP_ARCH_X86_64, SCMP_ARCH_X86, \
                 SCMP_ARCH_X32, SCMP_ARCH_AARCH64, SCMP_ARCH_ARM)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_call_79_is_newfstatat_as_libseccomp_names_it() {
        // include/uapi/asm-generic/unistd.h: __NR_newfstatat is __NR3264_fstatat (79) on
        // 64-bit; libseccomp's aarch64 table has newfstatat, not fstatat.
        assert_eq!(Arch::Aarch64.syscall_name(79), Some("newfstatat"));
        assert_eq!(Arch::Aarch64.syscall_number("newfstatat"), Some(79));
        assert_eq!(Arch::X86_64.syscall_name(262), Some("newfstatat"));
    }

    #[test]
    fn numbers_differ_per_abi() {
        // Checked against arch/x86/entry/syscalls/syscall_{64,32}.tbl.
        assert_eq!(Arch::X86_64.syscall_name(39), Some("getpid"));
        assert_eq!(Arch::X86.syscall_name(20), Some("getpid"));
        assert_eq!(Arch::X86.syscall_name(1), Some("exit"));
        assert_eq!(Arch::X86_64.syscall_name(60), Some("exit"));
        assert_eq!(Arch::Aarch64.syscall_name(172), Some("getpid"));
        assert_eq!(Arch::Arm.syscall_name(20), Some("getpid"));
    }

    #[test]
    fn x32_uses_its_own_numbers_for_some_calls() {
        assert_eq!(Arch::X32.syscall_name(520), Some("execve"));
        assert_eq!(Arch::X32.syscall_name(59), None);
        assert_eq!(Arch::X32.syscall_name(0), Some("read"));
        assert_eq!(Arch::X32.syscall_number("execve"), Some(520));
        assert_eq!(Arch::X32.syscall_number("read"), Some(0));
    }

    #[test]
    fn arm_private_calls() {
        assert_eq!(Arch::Arm.syscall_name(0x0f0005), Some("set_tls"));
        assert_eq!(Arch::Arm.syscall_number("cacheflush"), Some(0x0f0002));
        assert_eq!(Arch::Arm.syscall_name(0x0f0000), None);
    }

    #[test]
    fn parse_names() {
        assert_eq!("SCMP_ARCH_X86".parse::<Arch>(), Ok(Arch::X86));
        assert_eq!("amd64".parse::<Arch>(), Ok(Arch::X86_64));
        assert!("SCMP_ARCH_PDP11".parse::<Arch>().is_err());
    }
}
