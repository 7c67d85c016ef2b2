//! What must hold on every kernel and architecture we support. `cargo xtask vmtest` boots
//! each kernel of the matrix in QEMU and runs this file inside; `cargo xtask test` runs it
//! on the host's kernel. Expectations come from the kernel version, never from what the
//! recorder reports about itself.
//!
//! In a VM the harness sets `SECCOMP_RECORDER_WORKLOADS` (prebuilt workloads, one
//! `markers.<SCMP arch>` per ABI) and `SECCOMP_RECORDER_REQUIRE_ABIS` (ABIs the guest kernel
//! was booted to run: a missing one fails). Lines starting with `vmtest-fact:` and
//! `vmtest-note:` go to the harness's support table.

use seccomp_recorder::arch::Arch;
use seccomp_recorder::record::{self, Options};
use seccomp_recorder::refusals::{Attributor, KernelPath};
use seccomp_recorder::trace::AttachKind;
use seccomp_recorder_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MARKERS: [&str; 4] = ["sched_getscheduler", "getitimer", "sysinfo", "times"];

/// (major, minor) of the running kernel.
fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap(), parts.next().unwrap())
}

/// `bpf_get_current_task_btf`, which the BTF tracepoint program calls, came in 5.11.
fn kernel_has_task_btf() -> bool {
    kernel() >= (5, 11)
}

fn native() -> Arch {
    Arch::host().expect("a supported host architecture")
}

/// The ABIs a process can use on this machine's architecture.
fn abis() -> Vec<Arch> {
    match native() {
        Arch::X86_64 => vec![Arch::X86_64, Arch::X86, Arch::X32],
        Arch::Aarch64 => vec![Arch::Aarch64, Arch::Arm],
        other => vec![other],
    }
}

fn required(arch: Arch) -> bool {
    std::env::var("SECCOMP_RECORDER_REQUIRE_ABIS")
        .is_ok_and(|list| list.split(',').any(|a| a.parse() == Ok(arch)))
}

/// The markers workload for `arch`: prebuilt by the VM harness, else compiled here.
fn workload(arch: Arch, s: &Scratch) -> PathBuf {
    if let Some(dir) = std::env::var_os("SECCOMP_RECORDER_WORKLOADS") {
        let path = PathBuf::from(dir).join(format!("markers.{arch}"));
        assert!(path.exists(), "{} is missing", path.display());
        return path;
    }
    let flags: &[&str] = match arch {
        Arch::X86 => &["-m32", "-static", "-pthread"],
        Arch::X32 => &["-mx32", "-static", "-pthread"],
        a if a == native() => &["-pthread"],
        a => panic!("no compiler for {a} here: set SECCOMP_RECORDER_WORKLOADS"),
    };
    compile("markers", &s.0, flags)
}

/// Whether this kernel runs `bin`: x32 (and 32-bit arm) can be built out or switched off.
fn runs(bin: &Path) -> Result<(), String> {
    match Command::new(bin).arg("exit").arg("0").status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("exited with {s}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The attach types this kernel must accept.
fn attach_kinds() -> Vec<AttachKind> {
    let mut kinds = vec![AttachKind::Raw, AttachKind::Tracepoint];
    if kernel_has_task_btf() {
        kinds.insert(0, AttachKind::Btf);
    }
    kinds
}

fn record_with(bin: &Path, attach: Option<AttachKind>) -> record::Report {
    let opts = Options {
        command: vec![bin.as_os_str().to_owned()],
        attach,
        linger: Duration::from_secs(2),
        ..Default::default()
    };
    record::record(&opts, &mut |_| {})
        .unwrap_or_else(|e| panic!("recording {} via {attach:?}: {e:?}", bin.display()))
}

/// Every ABI's markers land under that ABI's own architecture, whatever the attach type.
#[test]
fn each_abi_is_recorded_under_its_own_architecture_with_every_attach_type() {
    require_root();
    for arch in abis() {
        let s = Scratch::new("abi");
        let bin = workload(arch, &s);
        if let Err(why) = runs(&bin) {
            assert!(!required(arch), "{arch} workload does not run: {why}");
            println!("vmtest-note: {arch} not tested: this kernel does not run it ({why})");
            continue;
        }
        for kind in attach_kinds() {
            let report = record_with(&bin, Some(kind));
            let names = &report.targets[0].syscalls.names;
            let own = names.get(&arch).cloned().unwrap_or_default();
            for m in MARKERS {
                assert!(own.contains(m), "{kind}: {m} not under {arch}: {names:?}");
            }
            for (other, set) in names {
                assert!(
                    *other == arch || !set.contains(MARKERS[0]),
                    "{kind}: {arch}'s marker under {other}: {names:?}"
                );
            }
            assert_abi_specific(arch, &own);
        }
        println!("vmtest-fact: abi {arch} ok");
    }
}

/// Names only that ABI's own table has: proof the number went through the right table.
fn assert_abi_specific(arch: Arch, names: &std::collections::BTreeSet<String>) {
    let any: &[&str] = match arch {
        Arch::X86 => &["mmap2", "set_thread_area"],
        // ARM's private range (0x0f0000+): glibc sets the TLS register with it.
        Arch::Arm => &["set_tls"],
        _ => return,
    };
    assert!(
        any.iter().any(|n| names.contains(*n)),
        "{arch}: none of {any:?} in {names:?}"
    );
}

/// Without `--attach` the cheapest kind this kernel has is chosen.
#[test]
fn the_default_attach_type_is_the_cheapest_the_kernel_offers() {
    require_root();
    let s = Scratch::new("default");
    let report = record_with(&workload(native(), &s), None);
    let want = attach_kinds()[0];
    assert_eq!(report.attach, want, "kernel {:?}", kernel());
    println!("vmtest-fact: attach {want}");
}

/// On a kernel without `bpf_get_current_task_btf`, `--attach btf` names what is missing
/// instead of dumping the verifier log; elsewhere it works.
#[test]
fn btf_attach_is_refused_by_name_where_the_kernel_lacks_it() {
    require_root();
    let s = Scratch::new("btf");
    let out = s.path("p.json");
    let o = recorder(&[
        "record",
        "--attach",
        "btf",
        "-o",
        out.to_str().unwrap(),
        "--",
        workload(native(), &s).to_str().unwrap(),
    ]);
    let err = stderr(&o);
    if kernel_has_task_btf() {
        assert!(o.status.success(), "{err}");
        return;
    }
    assert!(!o.status.success() && !out.exists(), "{err}");
    assert!(
        err.contains("bpf_get_current_task_btf") && err.contains("5.11"),
        "the refusal does not name the kernel feature: {err}"
    );
    assert!(
        !err.contains("processed") && err.lines().count() < 5,
        "a verifier dump instead of a reason: {err}"
    );
    let (major, minor) = kernel();
    println!(
        "vmtest-note: --attach btf refused as expected on {major}.{minor} (no bpf_get_current_task_btf)"
    );
}

/// A cgroup made under the target while recording is followed (the cgroup_mkdir hook).
#[test]
fn a_cgroup_made_under_the_target_is_followed() {
    require_root();
    let s = Scratch::new("nested");
    let bin = workload(native(), &s);
    let mount = seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted");
    let opts = Options {
        command: vec![
            bin.into_os_string(),
            "nested".into(),
            mount.into_os_string(),
        ],
        linger: Duration::from_secs(2),
        ..Default::default()
    };
    let report = record::record(&opts, &mut |_| {}).expect("recording works");
    let names = &report.targets[0].syscalls.names[&native()];
    assert!(names.contains("sched_get_priority_max"), "{names:?}");
    println!("vmtest-fact: follow cgroup_mkdir");
}

/// The refusing workload for this machine's own ABI: prebuilt by the VM harness, else
/// compiled here.
fn refuser(s: &Scratch) -> PathBuf {
    if let Some(dir) = std::env::var_os("SECCOMP_RECORDER_WORKLOADS") {
        let path = PathBuf::from(dir).join(format!("refuse_getpriority.{}", native()));
        assert!(path.exists(), "{} is missing", path.display());
        return path;
    }
    compile("refuse_getpriority", &s.0, &[])
}

/// The kernel path (fexit on `__secure_computing`) counts every call refused by a filter
/// without SECCOMP_FILTER_FLAG_LOG, exactly, under the caller's cgroup. Debian's kernels
/// from 5.15 on must allow it; 5.10 lacks `bpf_task_pt_regs` and must say so; on the
/// host (no VM) it may be refused (this machine refuses fexit with EPERM), but with a
/// one-line reason, never a pass that counted nothing.
#[test]
fn the_kernel_path_counts_each_refused_call_exactly() {
    require_root();
    let in_vm = std::env::var_os("SECCOMP_RECORDER_WORKLOADS").is_some();
    let mut path = match KernelPath::open() {
        Ok(p) => p,
        Err(why) => {
            assert!(
                !(in_vm && kernel() >= (5, 15)),
                "kernel {:?} must count refusals: {why}",
                kernel()
            );
            if kernel() < (5, 15) {
                assert!(why.contains("bpf_task_pt_regs"), "{why}");
            }
            assert!(
                !why.is_empty() && !why.contains('\n') && !why.contains("processed"),
                "not a one-line reason: {why}"
            );
            println!("vmtest-note: kernel path refused on {:?}: {why}", kernel());
            return;
        }
    };
    let s = Scratch::new("kpath");
    let bin = refuser(&s);
    let mount = seccomp_recorder::cgroup::mount_point().expect("cgroup v2 is mounted");
    let own = Attributor::new(mount)
        .cgroup(std::process::id())
        .expect("this test's own cgroup");
    let id = seccomp_recorder::cgroup::id(&own).expect("its id");
    path.poll().expect("the counts map reads");
    const N: u64 = 7;
    // "nolog": no SECCOMP_FILTER_FLAG_LOG, so no audit record; it exits 0 only when all
    // N calls were refused.
    let o = Command::new(&bin)
        .args([N.to_string().as_str(), "nolog"])
        .output()
        .expect("the workload runs");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let counts = path.poll().expect("the counts map reads");
    let counted: u64 = counts
        .iter()
        .filter(|c| c.cgroup == id && c.arch == Some(native()))
        .filter(|c| c.syscall_label() == "getpriority")
        .map(|c| c.count)
        .sum();
    assert_eq!(counted, N, "cgroup {id} ({}): {counts:?}", own.display());
    assert_eq!(path.lost().expect("the lost counter reads"), 0);
    println!("vmtest-fact: kernel path counts refusals");
}
