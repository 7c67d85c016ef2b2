//! The kernel side: one tiny core behind three `sys_enter` entry points (BTF, raw and
//! classic tracepoint; user space loads the cheapest the kernel accepts) and a
//! `cgroup_mkdir` hook that makes cgroups born under a target targets too.
//!
//! The non-target path is one helper call and one hash lookup, nothing else.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod programs;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
