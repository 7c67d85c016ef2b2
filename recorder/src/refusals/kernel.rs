//! The kernel path: an fexit program on `__secure_computing` counts every refused call
//! per (cgroup, ABI, syscall) in a map, whatever the filter's flags, with no audit and no
//! change to the profile. Counted in the kernel, never one event per call: a flood of
//! refusals grows nothing and the counts are exact. Where the kernel refuses the program
//! (no fexit, no BTF, no privileges), [`KernelPath::open`] says why and callers fall back
//! to the audit path.

use crate::arch::Arch;
use crate::trace::{TraceError, abi_arch, chain, check_privileges, loader, map_err, offsets};
use aya::Ebpf;
use aya::maps::{Array, MapData, PerCpuHashMap};
use recorder_ebpf::{ABI_ARM_PRIVATE, ARM_PRIVATE_BASE, RefusedKey, maps, programs};
use std::collections::HashMap;

/// Distinct (cgroup, ABI, syscall) keys the kernel counts; refusals under keys past it
/// are counted in one lost counter.
const KEYS: u32 = 16384;

/// Refused calls of one cgroup and syscall since the last [`KernelPath::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelCount {
    /// The cgroup v2 id (the inode number of its directory).
    pub cgroup: u64,
    /// The profile architecture, None for an ABI this host has no table for.
    pub arch: Option<Arch>,
    /// The syscall number in that architecture's numbering.
    pub nr: u64,
    pub count: u64,
}

impl KernelCount {
    /// The syscall's name, or `nr:N` for a number without one.
    pub fn syscall_label(&self) -> String {
        self.arch
            .zip(u32::try_from(self.nr).ok())
            .and_then(|(a, nr)| a.syscall_name(nr))
            .map_or_else(|| format!("nr:{}", self.nr), String::from)
    }

    /// The ABI as the audit path names it ([`super::arch_label`]), `?` for an ABI this
    /// host has no table for.
    pub fn arch_label(&self) -> String {
        self.arch.map_or("?", super::arch_label).into()
    }
}

/// The loaded and attached refusal counter.
pub struct KernelPath {
    ebpf: Ebpf,
    host: Arch,
    compat: u32,
    last: Totals,
    last_lost: u64,
}

impl KernelPath {
    /// Loads and attaches the counter, or says in one line why this kernel does not allow
    /// it (the caller's cue to use the audit path).
    pub fn open() -> Result<KernelPath, String> {
        KernelPath::try_open().map_err(|e| chain(&e))
    }

    fn try_open() -> Result<KernelPath, TraceError> {
        check_privileges()?;
        let host = Arch::host()
            .filter(|a| matches!(a, Arch::X86_64 | Arch::Aarch64))
            .ok_or(TraceError::Arch(std::env::consts::ARCH))?;
        let btf = loader::KernelBtf::read()?;
        let offs = offsets::read(&btf.index, host);
        if !btf.index.has_enum_value("BPF_FUNC_task_pt_regs") {
            return Err(TraceError::NoTaskPtRegs);
        }
        if offs.kernel.regs_nr == 0 {
            return Err(TraceError::RefusedFields);
        }
        let p = match btf.index.func_params(function()) {
            Some(1) => programs::SECURE_COMPUTING_EXIT,
            Some(0) => programs::SECURE_COMPUTING_EXIT_VOID,
            _ => return Err(TraceError::RefusedFields),
        };
        let mut ebpf = loader::load_refused(KEYS, &offs.kernel)?;
        loader::attach(&mut ebpf, p.name, p.kind, Some(&btf.aya)).map_err(|e| {
            if host == Arch::Aarch64 && os_error(&e) == Some(ENOTSUPP) {
                TraceError::NoArm64Fexit
            } else {
                e
            }
        })?;
        Ok(KernelPath {
            ebpf,
            host,
            compat: offs.kernel.compat_mode,
            last: Totals::default(),
            last_lost: 0,
        })
    }

    /// The refusals counted since the last call, one entry per key that grew.
    pub fn poll(&mut self) -> Result<Vec<KernelCount>, TraceError> {
        let map = self
            .ebpf
            .map(maps::REFUSED.name)
            .ok_or(TraceError::MissingMap(maps::REFUSED.name))?;
        let map: PerCpuHashMap<&MapData, RefusedKey, u64> =
            PerCpuHashMap::try_from(map).map_err(map_err("read", maps::REFUSED.name))?;
        let mut out = Vec::new();
        for item in map.iter() {
            let (key, per_cpu) = item.map_err(map_err("read", maps::REFUSED.name))?;
            if let Some(grew) = self.last.grew(key, per_cpu.iter().sum()) {
                out.push(count_of(self.host, self.compat, key, grew));
            }
        }
        Ok(out)
    }

    /// Refusals the kernel could not key because the map was full, since the last call.
    pub fn lost(&mut self) -> Result<u64, TraceError> {
        let name = maps::REFUSED_LOST.name;
        let map = self.ebpf.map(name).ok_or(TraceError::MissingMap(name))?;
        let map: Array<&MapData, u64> = Array::try_from(map).map_err(map_err("read", name))?;
        let now = map.get(&0, 0).map_err(map_err("read", name))?;
        let new = now.saturating_sub(self.last_lost);
        self.last_lost = now;
        Ok(new)
    }
}

/// What each key had at the last poll. The kernel's counts only grow, so a key's new
/// refusals are its total now less its total then.
#[derive(Default)]
struct Totals(HashMap<RefusedKey, u64>);

impl Totals {
    /// The refusals under `key` since the last call, `None` when there are none.
    fn grew(&mut self, key: RefusedKey, now: u64) -> Option<u64> {
        let before = self.0.insert(key, now).unwrap_or(0);
        (now > before).then(|| now - before)
    }
}

/// A key of the kernel's map as a count in the profile's terms: its architecture, and
/// the syscall number as that architecture's table numbers it.
fn count_of(host: Arch, compat: u32, key: RefusedKey, count: u64) -> KernelCount {
    let nr = match key.abi {
        ABI_ARM_PRIVATE => key.nr + u64::from(ARM_PRIVATE_BASE),
        _ => key.nr,
    };
    KernelCount {
        cgroup: key.cgroup,
        arch: abi_arch(host, compat, key.abi),
        nr,
        count,
    }
}

/// The kernel's internal "not supported" errno, which a BPF trampoline's attach returns
/// where the architecture cannot patch the function's ftrace site.
const ENOTSUPP: i32 = 524;

/// The OS error at the root of `e`, if any.
fn os_error(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return io.raw_os_error();
        }
        cur = c.source();
    }
    None
}

fn function() -> &'static str {
    match programs::SECURE_COMPUTING_EXIT.kind {
        recorder_ebpf::ProgramKind::FExit { function } => function,
        _ => "__secure_computing",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_ebpf::{ABI_COMPAT, ABI_NATIVE, COMPAT_ARM64, COMPAT_X86};

    fn key(cgroup: u64, abi: u32, nr: u64) -> RefusedKey {
        RefusedKey {
            cgroup,
            abi,
            pad: 0,
            nr,
        }
    }

    #[test]
    fn each_poll_gives_what_a_key_gained_since_the_last() {
        let mut t = Totals::default();
        let (a, b) = (key(7, ABI_NATIVE, 140), key(8, ABI_NATIVE, 140));
        assert_eq!(t.grew(a, 3), Some(3));
        assert_eq!(t.grew(a, 3), None, "no new refusals, no count");
        assert_eq!(t.grew(b, 1), Some(1), "another cgroup counts apart");
        assert_eq!(t.grew(a, 10), Some(7));
    }

    #[test]
    fn keys_become_counts_in_the_profiles_numbering() {
        let getpriority = count_of(Arch::X86_64, COMPAT_X86, key(7, ABI_NATIVE, 140), 3);
        assert_eq!(
            (getpriority.cgroup, getpriority.arch, getpriority.count),
            (7, Some(Arch::X86_64), 3)
        );
        assert_eq!(getpriority.syscall_label(), "getpriority");
        // i386's getpriority is 96.
        let compat = count_of(Arch::X86_64, COMPAT_X86, key(7, ABI_COMPAT, 96), 1);
        assert_eq!(compat.arch, Some(Arch::X86));
        assert_eq!(compat.syscall_label(), "getpriority");
        // AArch32's private calls are counted relative to their region.
        let tls = count_of(Arch::Aarch64, COMPAT_ARM64, key(7, ABI_ARM_PRIVATE, 5), 1);
        assert_eq!(
            (tls.arch, tls.syscall_label().as_str()),
            (Some(Arch::Arm), "set_tls")
        );
        let odd = count_of(Arch::X86_64, COMPAT_X86, key(7, ABI_NATIVE, 5000), 1);
        assert_eq!(odd.syscall_label(), "nr:5000");
    }
}
