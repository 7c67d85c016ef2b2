//! How a runtime's loader expands a RuntimeDefault template for one host: the archMap entry
//! of its architecture, then every rule whose includes/excludes hold for its capabilities
//! and kernel.

use crate::arch::Arch;
use crate::linux::{CAPABILITIES, parse_kernel};
use crate::profile::{Filter, Profile, Rule};
use std::collections::BTreeSet;

/// Whose template rules apply: containers/common's `Filter` has no `minKernel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Moby,
    Common,
}

/// What a template is expanded for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// libseccomp's native arch name of the host (`amd64`, `arm64`, ...).
    pub native: &'static str,
    pub caps: BTreeSet<String>,
    pub kernel: (u32, u32),
}

/// The host native arch a profile arch is enforced from: 32-bit and x32 processes run on a
/// 64-bit host and get the filter the loader built for that host.
pub fn native_for(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 | Arch::X86 | Arch::X32 => "amd64",
        Arch::Aarch64 | Arch::Arm => "arm64",
    }
}

/// libseccomp's native name for the machine we run on.
pub fn host_native() -> &'static str {
    Arch::host().map(native_for).unwrap_or("amd64")
}

/// The running kernel's `major.minor`.
pub fn host_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel(release.trim())
}

fn native_to_scmp(native: &str, loader: Loader) -> Option<&'static str> {
    let common = match native {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mipsel64n32" => "SCMP_ARCH_MIPSEL64N32",
        "s390x" => "SCMP_ARCH_S390X",
        _ if loader == Loader::Common => return None,
        "x86" => "SCMP_ARCH_X86",
        "x32" => "SCMP_ARCH_X32",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390" => "SCMP_ARCH_S390",
        _ => return None,
    };
    Some(common)
}

/// Expands a template the way Docker's (or containers/common's) loader does: the archMap
/// entry of the host arch, then every rule whose includes/excludes hold, in order. The
/// result is plain runtime-spec: errno names resolved to numbers, no comments.
pub fn expand(template: &Profile, host: &Host, loader: Loader) -> Profile {
    let architectures = match &template.arch_map {
        None => template.architectures.clone(),
        Some(map) => native_to_scmp(host.native, loader)
            .and_then(|scmp| map.iter().find(|e| e.architecture == scmp))
            .map(|e| {
                std::iter::once(&e.architecture)
                    .chain(e.sub_architectures.iter().flatten())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    };
    let syscalls = template
        .syscalls
        .iter()
        .filter(|r| applies(r, host, loader))
        .map(|r| Rule {
            names: r.all_names().cloned().collect(),
            action: r.action.clone(),
            args: r.args.clone().filter(|a| !a.is_empty()),
            errno_ret: r.errno(),
            ..Rule::default()
        })
        .collect();
    Profile {
        default_action: template.default_action.clone(),
        default_errno_ret: template.default_errno(),
        architectures,
        flags: template.flags.clone(),
        listener_path: template.listener_path.clone(),
        listener_metadata: template.listener_metadata.clone(),
        syscalls,
        ..Profile::default()
    }
}

/// Docker's `setupSeccomp` checks, in its order: a rule is skipped if an excluded arch is
/// the host's, any excluded cap is held, the kernel reaches the excluded minimum; or if
/// included arches lack the host's, any included cap is missing, the kernel is older than
/// the included minimum.
fn applies(rule: &Rule, host: &Host, loader: Loader) -> bool {
    let none = Filter::default();
    let exc = rule.excludes.as_ref().unwrap_or(&none);
    let inc = rule.includes.as_ref().unwrap_or(&none);
    let arches = |f: &Filter| f.arches.iter().flatten().any(|a| a == host.native);
    let kernel_reached = |f: &Filter| {
        loader == Loader::Moby
            && f.min_kernel
                .as_deref()
                .and_then(parse_kernel)
                .is_some_and(|k| host.kernel >= k)
    };
    let kernel_below = |f: &Filter| {
        loader == Loader::Moby
            && f.min_kernel
                .as_deref()
                .and_then(parse_kernel)
                .is_some_and(|k| host.kernel < k)
    };
    if arches(exc)
        || exc.caps.iter().flatten().any(|c| host.caps.contains(c))
        || kernel_reached(exc)
    {
        return false;
    }
    let inc_arches_miss = inc.arches.as_ref().is_some_and(|a| !a.is_empty()) && !arches(inc);
    let inc_caps_miss = inc.caps.iter().flatten().any(|c| !host.caps.contains(c));
    !(inc_arches_miss || inc_caps_miss || kernel_below(inc))
}

/// A capability as users type it (`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN`), checked.
pub fn parse_cap(s: &str) -> Result<String, String> {
    let upper = s.trim().to_ascii_uppercase();
    let cap = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if CAPABILITIES.contains(&cap.as_str()) {
        Ok(cap)
    } else {
        Err(format!(
            "unknown capability '{s}' (e.g. CAP_NET_ADMIN, CAP_SYS_PTRACE)"
        ))
    }
}
