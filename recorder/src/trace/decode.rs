//! Turning the kernel's seen sets and odd ids into syscall names per profile architecture.

use super::Syscalls;
use crate::arch::Arch;
use recorder_ebpf::{
    ABI_ARM_PRIVATE, ABI_COMPAT, ABI_NATIVE, ABI_X32, ARM_PRIVATE_BASE, COMPAT_ARM64, COMPAT_X86,
    Seen, unslot,
};

/// How this host's ABI regions map to profile architectures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoder {
    pub(crate) host: Arch,
    /// The `compat_mode` the program was loaded with.
    pub(crate) compat: u32,
}

impl Decoder {
    pub(crate) fn add_seen(&self, set: &mut Syscalls, seen: &Seen) {
        for (idx, _) in seen.nr.iter().enumerate().filter(|(_, b)| **b != 0) {
            let (abi, nr) = unslot(idx);
            let name = self.add(set, abi, nr);
            if let (Some((arch, name)), true) = (name, seen.filtered[idx] != 0) {
                set.filtered.entry(arch).or_default().insert(name);
            }
        }
    }

    /// Adds one call; returns its arch and name when a table names it.
    pub(crate) fn add(&self, set: &mut Syscalls, abi: u32, nr: u64) -> Option<(Arch, String)> {
        let arch = abi_arch(self.host, self.compat, abi)?;
        let nr_in_table = match abi {
            ABI_ARM_PRIVATE => nr + u64::from(ARM_PRIVATE_BASE),
            _ => nr,
        };
        match u32::try_from(nr_in_table)
            .ok()
            .and_then(|n| arch.syscall_name(n))
        {
            Some(name) => {
                set.names.entry(arch).or_default().insert(name.to_string());
                Some((arch, name.to_string()))
            }
            None => {
                set.unknown.entry(arch).or_default().insert(nr_in_table);
                None
            }
        }
    }
}

/// The profile architecture of an ABI region on this host.
pub(crate) fn abi_arch(host: Arch, compat: u32, abi: u32) -> Option<Arch> {
    match (host, abi) {
        (h, ABI_NATIVE) => Some(h),
        (Arch::X86_64, ABI_COMPAT) if compat == COMPAT_X86 => Some(Arch::X86),
        (Arch::X86_64, ABI_X32) => Some(Arch::X32),
        (Arch::Aarch64, ABI_COMPAT | ABI_ARM_PRIVATE) if compat == COMPAT_ARM64 => Some(Arch::Arm),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_regions_map_to_profile_arches() {
        assert_eq!(
            abi_arch(Arch::X86_64, COMPAT_X86, ABI_NATIVE),
            Some(Arch::X86_64)
        );
        assert_eq!(
            abi_arch(Arch::X86_64, COMPAT_X86, ABI_COMPAT),
            Some(Arch::X86)
        );
        assert_eq!(abi_arch(Arch::X86_64, COMPAT_X86, ABI_X32), Some(Arch::X32));
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_COMPAT),
            Some(Arch::Arm)
        );
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_ARM_PRIVATE),
            Some(Arch::Arm)
        );
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_NATIVE),
            Some(Arch::Aarch64)
        );
    }

    #[test]
    fn seen_bytes_become_names_and_filtered_names() {
        let d = Decoder {
            host: Arch::X86_64,
            compat: COMPAT_X86,
        };
        let mut seen = Seen::ZERO;
        // getppid (110) natively, under a filter; i386 exit (1); an unnamed native 1023.
        seen.nr[110] = 1;
        seen.filtered[110] = 1;
        seen.nr[1024 + 1] = 1;
        seen.nr[1023] = 1;
        let mut set = Syscalls::default();
        d.add_seen(&mut set, &seen);
        assert!(set.names[&Arch::X86_64].contains("getppid"));
        assert!(set.filtered[&Arch::X86_64].contains("getppid"));
        assert!(set.names[&Arch::X86].contains("exit"));
        assert!(set.unknown[&Arch::X86_64].contains(&1023));
        assert!(!set.filtered.contains_key(&Arch::X86));
    }
}
