//! Wording shared by the commands that summarise syscall sets on stderr.

use seccomp_recorder::arch::Arch;
use std::collections::{BTreeMap, BTreeSet};

/// `X86_64` for `SCMP_ARCH_X86_64`.
pub fn short(a: Arch) -> &'static str {
    a.scmp_name().trim_start_matches("SCMP_ARCH_")
}

/// The calls of `now` that `before` lacks, as `name (ARCH)`.
pub fn not_in(
    now: &BTreeMap<Arch, BTreeSet<String>>,
    before: &BTreeMap<Arch, BTreeSet<String>>,
) -> Vec<String> {
    now.iter()
        .flat_map(|(a, s)| {
            s.iter()
                .filter(|n| !before.get(a).is_some_and(|b| b.contains(*n)))
                .map(move |n| format!("{n} ({})", short(*a)))
        })
        .collect()
}
