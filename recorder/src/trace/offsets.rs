//! The kernel offsets the program needs, read from this kernel's BTF.

use super::tracefs::tracepoint_id_offset;
use crate::arch::Arch;
use crate::btf::{Btf, BtfError, Want};
use recorder_ebpf::{COMPAT_ARM64, COMPAT_NONE, COMPAT_X86, KernelOffsets};

/// What [`read`] found.
#[derive(Clone, Copy, Debug)]
pub struct Offsets {
    pub kernel: KernelOffsets,
    /// The cgroup and kernfs fields the cgroup_mkdir hook walks are all there.
    pub(crate) cgroup_fields: bool,
    /// The kernel has `bpf_get_current_task_btf` (5.11+), which the BTF tracepoint
    /// program calls: its helper list is `enum bpf_func_id` in the kernel's BTF.
    pub(crate) task_btf_helper: bool,
}

impl Offsets {
    /// The fields for reading the cgroup id through the task are all there.
    pub(crate) fn task_cgroup_fields(&self) -> bool {
        let k = &self.kernel;
        self.cgroup_fields && k.task_cgroups != 0 && k.cset_dfl_cgrp != 0
    }
}

/// What [`read`] asks of the kernel's BTF.
pub const WANT: Want<'static> = Want {
    structs: &[
        "task_struct",
        "thread_info",
        "seccomp",
        "cgroup",
        "cgroup_subsys_state",
        "cgroup_root",
        "kernfs_node",
        "css_set",
        "pt_regs",
    ],
    enum_values: &["BPF_FUNC_get_current_task_btf", "BPF_FUNC_task_pt_regs"],
    // The refusal counter's program follows its signature (see `refusals::KernelPath`).
    funcs: &["__secure_computing"],
};

/// The offsets for `host` (x86_64 or aarch64), from a `btf` parsed with [`WANT`]. Missing
/// optional fields turn their feature off (with a note) rather than fail.
pub fn read(btf: &Btf, host: Arch) -> Offsets {
    let (compat_mode, compat_off, compat_mask) = compat(btf, host);
    let cgroup = cgroup(btf);
    let [
        cgrp_kn,
        cgrp_parent,
        cgrp_self,
        cgrp_root,
        root_hier,
        kn_id,
        kn_name,
    ] = cgroup.as_ref().copied().unwrap_or_default();
    let seccomp_mode = btf
        .member_offset("task_struct", "seccomp")
        .and_then(|s| Ok(s + btf.member_offset("seccomp", "mode")?))
        .unwrap_or_else(|e| {
            log::debug!("{e}: calls under a seccomp filter are not told apart");
            0
        });
    let [task_cgroups, cset_dfl_cgrp] = task_cgroup(btf).unwrap_or_else(|e| {
        log::debug!("{e}: the cgroup id is read with the helper only");
        [0, 0]
    });
    Offsets {
        kernel: KernelOffsets {
            compat_mode,
            compat_off,
            compat_mask,
            tp_id_off: tracepoint_id_offset().unwrap_or(KernelOffsets::DEFAULT.tp_id_off),
            cgrp_kn,
            cgrp_parent,
            cgrp_self,
            cgrp_root,
            root_hier,
            kn_id,
            kn_name,
            seccomp_mode,
            task_cgroups,
            cset_dfl_cgrp,
            regs_nr: regs_nr(btf, host),
        },
        cgroup_fields: cgroup.is_ok(),
        task_btf_helper: btf.has_enum_value("BPF_FUNC_get_current_task_btf"),
    }
}

/// (mode, offset, mask) of the task's compat flag.
fn compat(btf: &Btf, host: Arch) -> (u32, u32, u32) {
    let (field, mode, mask) = match host {
        // TS_COMPAT in thread_info.status: what seccomp itself uses for in_ia32_syscall().
        Arch::X86_64 => ("status", COMPAT_X86, 0x0002),
        // TIF_32BIT (bit 22) in thread_info.flags: is_compat_task().
        _ => ("flags", COMPAT_ARM64, 1 << 22),
    };
    let off = btf
        .member_offset("task_struct", "thread_info")
        .and_then(|ti| Ok(ti + btf.member_offset("thread_info", field)?));
    match off {
        Ok(off) => (mode, off, mask),
        Err(e) => {
            log::warn!("{e}: 32-bit syscalls will be recorded as native ones");
            (COMPAT_NONE, 0, mask)
        }
    }
}

/// cgroup.kn, cgroup.self.parent, cgroup.self, cgroup.root, cgroup_root.hierarchy_id,
/// kernfs_node.id, kernfs_node.name.
fn cgroup(btf: &Btf) -> Result<[u32; 7], BtfError> {
    let css = btf.member_offset("cgroup", "self")?;
    Ok([
        btf.member_offset("cgroup", "kn")?,
        css + btf.member_offset("cgroup_subsys_state", "parent")?,
        css,
        btf.member_offset("cgroup", "root")?,
        btf.member_offset("cgroup_root", "hierarchy_id")?,
        btf.member_offset("kernfs_node", "id")?,
        btf.member_offset("kernfs_node", "name")?,
    ])
}

/// task_struct.cgroups, css_set.dfl_cgrp.
fn task_cgroup(btf: &Btf) -> Result<[u32; 2], BtfError> {
    Ok([
        btf.member_offset("task_struct", "cgroups")?,
        btf.member_offset("css_set", "dfl_cgrp")?,
    ])
}

/// The syscall number in `struct pt_regs`; 0 (refusals are not counted) when missing.
fn regs_nr(btf: &Btf, host: Arch) -> u32 {
    let field = match host {
        Arch::X86_64 => "orig_ax",
        _ => "syscallno",
    };
    btf.member_offset("pt_regs", field).unwrap_or_else(|e| {
        log::debug!("{e}: refused calls cannot be counted in the kernel");
        0
    })
}
