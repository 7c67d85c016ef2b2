//! Everything a guest runs is built on the host first (TCG is ten times slower than the
//! host): the recorder, the test binary and the C workloads, per architecture.

use super::Arch;
use super::apt::Apt;
use crate::check;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C workloads of tests/tests/kernel.rs, built for every ABI of the guest.
const WORKLOADS: [&str; 2] = ["markers", "refuse_getpriority"];

/// What one architecture's guests share.
pub struct Stage {
    /// Shared read-only over 9p as the guest's root.
    pub root: PathBuf,
    /// busybox for the initramfs, built for the guest.
    pub busybox: PathBuf,
    /// The test binary, the recorder and the workloads as the guest sees them.
    pub test_bin: String,
    pub recorder: String,
    pub workloads: String,
    /// ABIs the guest kernel must run (booted with what they need).
    pub abis: &'static str,
    /// A host directory the guest mounts again at the same path, over its own tmpfs
    /// `/tmp` and `/run`: the checkout, which the x86_64 guest runs from, may be there.
    pub checkout: Option<PathBuf>,
    /// Why the guest cannot run containerd's CRI, where it cannot: the pods' test says so
    /// in the support table instead.
    pub no_cri: Option<&'static str>,
}

pub fn prepare(root: &Path, arch: Arch, apt: &Apt) -> Result<Stage> {
    let dir = root.join("target/vmtest").join(arch.to_string());
    std::fs::create_dir_all(&dir)?;
    match arch {
        Arch::X86_64 => host_stage(root, &dir),
        Arch::Aarch64 => aarch64_stage(root, &dir, apt),
    }
}

/// x86_64 guests chroot into the host's own /: its test binaries run unchanged.
fn host_stage(root: &Path, dir: &Path) -> Result<Stage> {
    crate::build(false)?;
    let test_bin = test_binary(root, Arch::X86_64)?;
    let workloads = dir.join("workloads");
    std::fs::create_dir_all(&workloads)?;
    for (abi, flags) in [
        ("SCMP_ARCH_X86_64", &["-pthread"][..]),
        ("SCMP_ARCH_X86", &["-m32", "-static", "-pthread"]),
        ("SCMP_ARCH_X32", &["-mx32", "-static", "-pthread"]),
    ] {
        // refuse_getpriority refuses getpriority under a filter of its own: the kernel
        // path's tests, in every ABI.
        for name in WORKLOADS {
            let out = workloads.join(format!("{name}.{abi}"));
            compile(root, "gcc", flags, name, &out)?;
        }
    }
    // The test image's probe (tests/src/engines.rs), for the CRI pods of kernel/pods.rs.
    compile(
        root,
        "gcc",
        &["-static"],
        "engine_probe",
        &workloads.join("engine_probe"),
    )?;
    Ok(Stage {
        root: "/".into(),
        busybox: "/bin/busybox".into(),
        test_bin: test_bin.display().to_string(),
        recorder: root
            .join("target/debug/seccomp-recorder")
            .display()
            .to_string(),
        workloads: workloads.display().to_string(),
        abis: "x86_64,x86,x32",
        checkout: Some(root.to_path_buf()),
        no_cri: None,
    })
}

/// aarch64 guests get a root of their own: Debian's arm64 glibc and busybox, the
/// cross-built tests, and the recorder taken out of the agent image's arm64 layer, so that
/// the image's arm64 half is what records there.
fn aarch64_stage(root: &Path, dir: &Path, apt: &Apt) -> Result<Stage> {
    let test_bin = test_binary(root, Arch::Aarch64)?;
    let (layout, _) = crate::image::build(root)?;
    let sysroot = dir.join("root");
    userland(apt, &sysroot)?;
    let vm = sysroot.join("vmtest");
    std::fs::create_dir_all(vm.join("workloads"))?;
    crate::image::extract_binary(&layout, "arm64", &vm.join("seccomp-recorder"))?;
    copy(&test_bin, &vm.join("kernel-tests"))?;
    for (abi, target) in [
        ("SCMP_ARCH_AARCH64", "aarch64-linux-gnu"),
        ("SCMP_ARCH_ARM", "arm-linux-gnueabihf"),
    ] {
        let target = format!("--target={target}");
        let flags = [target.as_str(), "-fuse-ld=lld", "-static", "-pthread"];
        for name in WORKLOADS {
            let out = vm.join(format!("workloads/{name}.{abi}"));
            compile(root, "clang", &flags, name, &out)?;
        }
    }
    Ok(Stage {
        busybox: sysroot.join("bin/busybox"),
        root: sysroot,
        test_bin: "/vmtest/kernel-tests".into(),
        recorder: "/vmtest/seccomp-recorder".into(),
        workloads: "/vmtest/workloads".into(),
        abis: "aarch64,arm",
        checkout: None,
        no_cri: Some("the staged arm64 root has no containerd"),
    })
}

/// glibc, libgcc and busybox for arm64, unpacked once from bookworm's packages.
fn userland(apt: &Apt, sysroot: &Path) -> Result<()> {
    if sysroot.join("ready").exists() {
        return Ok(());
    }
    eprintln!("vmtest: unpacking an arm64 userland (glibc, busybox)");
    let mut pkgs = Vec::new();
    for p in ["libc6", "libgcc-s1", "busybox-static"] {
        let version = apt.version(&format!("{p}:arm64"), &["bookworm-security", "bookworm"])?;
        pkgs.push(format!("{p}:arm64={version}"));
    }
    apt.unpack(&pkgs, sysroot)?;
    for d in ["proc", "sys", "dev", "tmp", "run"] {
        std::fs::create_dir_all(sysroot.join(d))?;
    }
    for applet in ["sh", "env"] {
        std::os::unix::fs::symlink("busybox", sysroot.join("bin").join(applet))?;
    }
    std::fs::write(sysroot.join("ready"), "")?;
    Ok(())
}

/// A hard link where it can be (the debug binaries are large), else a copy.
fn copy(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Builds `tests/workloads/<name>.c` into `out`.
fn compile(root: &Path, cc: &str, flags: &[&str], name: &str, out: &Path) -> Result<()> {
    check(
        Command::new(cc)
            .args(["-O1", "-Wall", "-o"])
            .arg(out)
            .arg(root.join(format!("tests/workloads/{name}.c")))
            .args(flags),
    )
}

/// Builds `tests/tests/kernel.rs` for `arch` and returns the executable cargo made.
fn test_binary(root: &Path, arch: Arch) -> Result<PathBuf> {
    let mut c = crate::cargo();
    c.args([
        "test",
        "-p",
        "seccomp-recorder-tests",
        "--test",
        "kernel",
        "--no-run",
    ]);
    // The host's own target is built without --target, into the directory the rest of
    // the suite uses.
    if arch != Arch::X86_64 {
        c.args(["--target", arch.rust_target()]);
        crate::cross_env(&mut c, arch.rust_target());
    }
    let out = c.output().context("cannot run cargo test --no-run")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        anyhow::bail!("building the kernel tests for {arch} failed:\n{err}");
    }
    let exe = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Executable tests/kernel.rs ("))
        .and_then(|l| l.strip_suffix(')'))
        .with_context(|| format!("cargo did not name the test executable:\n{err}"))?;
    Ok(root.join(exe))
}
