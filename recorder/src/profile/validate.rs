//! Validation: what runc, crun, containerd, Docker and Podman would reject or misread, each
//! problem named by its field path.

use super::{ACTIONS, Filter, MAX_ERRNO, Profile, Rule, action_allows, errno_number};
use crate::arch::Arch;
use crate::linux::{CAPABILITIES, is_syscall_anywhere, parse_kernel};
use std::collections::BTreeMap;
use std::fmt;

/// One problem. Errors make runtimes reject the profile; warnings are accepted by runtimes
/// but probably not what the author meant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    pub(crate) field: String,
    pub(crate) message: String,
    pub error: bool,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.error { "error" } else { "warning" };
        write!(f, "{kind}: {}: {}", self.field, self.message)
    }
}

/// Every architecture libseccomp (and so the runtime-spec) knows.
pub(crate) const SCMP_ARCHES: [&str; 24] = [
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
];

/// libseccomp's native arch names, which `includes.arches` / `excludes.arches` use.
/// `mips3l64n32` is the (sic) spelling Docker's profile carries.
pub(crate) const NATIVE_ARCHES: [&str; 22] = [
    "x86",
    "amd64",
    "x32",
    "arm",
    "arm64",
    "loong64",
    "m68k",
    "mips",
    "mips64",
    "mips64n32",
    "mipsel",
    "mipsel64",
    "mipsel64n32",
    "mips3l64n32",
    "ppc",
    "ppc64",
    "ppc64le",
    "s390",
    "s390x",
    "parisc",
    "parisc64",
    "riscv64",
];

pub(crate) const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

pub(crate) const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue {
            field: field.into(),
            message: message.into(),
            error: true,
        });
    }

    fn warning(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue {
            field: field.into(),
            message: message.into(),
            error: false,
        });
    }

    fn unknown_fields(&mut self, at: &str, extra: &BTreeMap<String, serde_json::Value>) {
        for key in extra.keys() {
            let field = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            self.warning(field, "unknown field: runtimes ignore it");
        }
    }
}

pub(crate) fn validate(p: &Profile) -> Vec<Issue> {
    let mut out = Issues::default();
    check_action(
        &mut out,
        "defaultAction",
        &p.default_action,
        p.default_errno_ret.is_some(),
    );
    check_errno_name(&mut out, "defaultErrno", p.default_errno.as_deref());
    check_errno_value(
        &mut out,
        "defaultErrnoRet",
        &p.default_action,
        p.default_errno(),
    );
    check_arches(&mut out, p);
    for (i, flag) in p.flags.iter().flatten().enumerate() {
        if !FLAGS.contains(&flag.as_str()) {
            out.error(
                format!("flags[{i}]"),
                format!("unknown flag '{flag}' (known: {})", FLAGS.join(", ")),
            );
        }
    }
    if p.listener_metadata.is_some() && p.listener_path.is_none() {
        out.error(
            "listenerMetadata",
            "set without listenerPath (the runtime-spec forbids it)",
        );
    }
    check_allows_something(&mut out, p);
    let tables = name_tables(p);
    for (i, rule) in p.syscalls.iter().enumerate() {
        check_rule(&mut out, &format!("syscalls[{i}]"), rule, tables.as_deref());
    }
    out.unknown_fields("", &p.extra);
    out.0
}

fn check_action(out: &mut Issues, field: &str, action: &str, has_errno: bool) {
    if !ACTIONS.contains(&action) {
        out.error(
            field,
            format!("unknown action '{action}' (known: {})", ACTIONS.join(", ")),
        );
    } else if has_errno && !matches!(action, "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE") {
        out.error(
            field,
            format!("{action} takes no errno, but an errno is set (runtimes must refuse it)"),
        );
    }
}

fn check_errno_name(out: &mut Issues, field: &str, name: Option<&str>) {
    if let Some(name) = name.filter(|n| errno_number(n).is_none()) {
        out.error(
            field,
            format!("unknown errno '{name}' (a name like EPERM, or a number)"),
        );
    }
}

/// libseccomp refuses an errno above MAX_ERRNO, and errno 0 makes a refused call return
/// success without running.
fn check_errno_value(out: &mut Issues, field: &str, action: &str, errno: Option<u32>) {
    if action != "SCMP_ACT_ERRNO" {
        return;
    }
    match errno {
        Some(n) if n > MAX_ERRNO => out.error(
            field,
            format!("errno {n} cannot be loaded: runc and libseccomp take 0 to {MAX_ERRNO}"),
        ),
        Some(0) => out.warning(
            field,
            "errno 0: a refused call looks successful to the program (it returns 0 without running)",
        ),
        _ => {}
    }
}

fn check_allows_something(out: &mut Issues, p: &Profile) {
    let allows = |r: &Rule| action_allows(&r.action) && r.all_names().next().is_some();
    if !action_allows(&p.default_action) && !p.syscalls.iter().any(allows) {
        out.warning(
            "syscalls",
            "no syscall is allowed: no process can run under this profile",
        );
    }
}

fn check_arches(out: &mut Issues, p: &Profile) {
    let check = |out: &mut Issues, field: String, arch: &str| {
        if !SCMP_ARCHES.contains(&arch) {
            out.error(field, format!("unknown architecture '{arch}' (expected SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)"));
        }
    };
    for (i, a) in p.architectures.iter().enumerate() {
        check(out, format!("architectures[{i}]"), a);
    }
    let Some(map) = &p.arch_map else { return };
    if !p.architectures.is_empty() {
        out.error(
            "archMap",
            "both architectures and archMap are set (Docker refuses this)",
        );
    }
    for (i, entry) in map.iter().enumerate() {
        check(
            out,
            format!("archMap[{i}].architecture"),
            &entry.architecture,
        );
        for (j, sub) in entry.sub_architectures.iter().flatten().enumerate() {
            check(out, format!("archMap[{i}].subArchitectures[{j}]"), sub);
        }
        out.unknown_fields(&format!("archMap[{i}]"), &entry.extra);
    }
}

fn check_rule(out: &mut Issues, at: &str, rule: &Rule, tables: Option<&[Arch]>) {
    match (rule.names.is_empty(), &rule.name) {
        (true, None) => out.error(
            format!("{at}.names"),
            "missing or empty: a rule must name at least one syscall",
        ),
        (false, Some(_)) => out.error(
            format!("{at}.name"),
            "both name and names are set (Docker refuses this)",
        ),
        _ => {}
    }
    let has_errno = rule.errno_ret.is_some() || rule.errno.is_some();
    check_action(out, &format!("{at}.action"), &rule.action, has_errno);
    check_errno_name(out, &format!("{at}.errno"), rule.errno.as_deref());
    check_errno_value(out, &format!("{at}.errnoRet"), &rule.action, rule.errno());
    for (j, arg) in rule.args().iter().enumerate() {
        let field = format!("{at}.args[{j}]");
        if !OPERATORS.contains(&arg.op.as_str()) {
            out.error(
                format!("{field}.op"),
                format!(
                    "unknown operator '{}' (known: {})",
                    arg.op,
                    OPERATORS.join(", ")
                ),
            );
        }
        if arg.index > 5 {
            out.error(
                format!("{field}.index"),
                format!("{} is not an argument index (0 to 5)", arg.index),
            );
        }
        out.unknown_fields(&field, &arg.extra);
    }
    for (what, filter) in [("includes", &rule.includes), ("excludes", &rule.excludes)] {
        if let Some(f) = filter {
            check_filter(out, &format!("{at}.{what}"), f);
        }
    }
    if let Some(tables) = tables {
        check_names(out, at, rule, tables);
    }
    out.unknown_fields(at, &rule.extra);
}

fn check_filter(out: &mut Issues, at: &str, f: &Filter) {
    for (i, cap) in f.caps.iter().flatten().enumerate() {
        if !CAPABILITIES.contains(&cap.as_str()) {
            out.error(
                format!("{at}.caps[{i}]"),
                format!("unknown capability '{cap}' (expected CAP_SYS_ADMIN, ...)"),
            );
        }
    }
    for (i, arch) in f.arches.iter().flatten().enumerate() {
        if !NATIVE_ARCHES.contains(&arch.as_str()) {
            out.error(
                format!("{at}.arches[{i}]"),
                format!("unknown arch '{arch}' (filters use libseccomp native names: amd64, arm64, x86, ...)"),
            );
        }
    }
    if let Some(k) = &f.min_kernel
        && parse_kernel(k).is_none()
    {
        out.error(
            format!("{at}.minKernel"),
            format!("'{k}' is not a kernel version like 4.8"),
        );
    }
    out.unknown_fields(at, &f.extra);
}

/// The arches whose names we can check: every listed arch must have a table, else a name
/// we do not know may be right for an arch we do not know.
pub(super) fn name_tables(p: &Profile) -> Option<Vec<Arch>> {
    let listed: Vec<&String> = p
        .architectures
        .iter()
        .chain(p.arch_map.iter().flatten().flat_map(|e| {
            std::iter::once(&e.architecture).chain(e.sub_architectures.iter().flatten())
        }))
        .collect();
    if listed.is_empty() {
        return Arch::host().map(|a| vec![a]);
    }
    listed
        .into_iter()
        .map(|a| Arch::from_scmp_name(a))
        .collect()
}

/// Names libseccomp resolves on SCMP_ARCH_X86 through socketcall(2), although i386 has no
/// syscall of their own: Docker's profile allows them for 32-bit programs.
const X86_SOCKETCALL: [&str; 2] = ["send", "recv"];

/// Whether runtimes load `name` for any of `arches`.
pub(super) fn known_on(name: &str, arches: &[Arch]) -> bool {
    arches.iter().any(|a| {
        a.syscall_number(name).is_some() || (*a == Arch::X86 && X86_SOCKETCALL.contains(&name))
    })
}

fn check_names(out: &mut Issues, at: &str, rule: &Rule, tables: &[Arch]) {
    let names = rule
        .names
        .iter()
        .enumerate()
        .map(|(k, n)| (format!("{at}.names[{k}]"), n));
    let name = rule.name.iter().map(|n| (format!("{at}.name"), n));
    for (field, n) in names.chain(name) {
        if known_on(n, tables) {
            continue;
        }
        let listed: Vec<&str> = tables.iter().map(|a| a.scmp_name()).collect();
        if is_syscall_anywhere(n) {
            out.warning(
                field,
                format!(
                    "'{n}' is no syscall on {}: runtimes ignore it",
                    listed.join(", ")
                ),
            );
        } else {
            out.error(
                field,
                format!(
                    "unknown syscall '{n}' (not a syscall on {})",
                    listed.join(", ")
                ),
            );
        }
    }
}
