//! `cargo xtask`: everything a fresh machine needs before `run` and `test` work, so that
//! the README's two commands are all a user types.
//!
//! setup  install the eBPF toolchain (nightly rust-src, bpf-linker against nightly's own
//!        libLLVM) and the Debian/PyPI packages the tests use; idempotent and quick when
//!        everything is there.
//! build  setup + build the recorder (kernel side included).
//! run    build + run `seccomp-recorder` with the given arguments.
//! test   build + run the whole test suite.
//! clippy lint the host workspace and the kernel side (bpfel target), warnings as errors.
//! bench  build (release) + run the benchmarks, write BENCHMARKS.md.
//! image  build the agent's OCI image (linux/amd64 + linux/arm64) under target/image/oci,
//!        and with --push REF push it.
//! vmtest boot Debian's kernels (x86_64 and aarch64) in QEMU and run the kernel tests in
//!        each; writes the README's support table.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod image;
mod tools;
mod vmtest;

fn main() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "setup" => setup().map(|_| ExitCode::SUCCESS),
        "build" => match rest.as_slice() {
            [] => build(false),
            [flag, target] if flag == "--target" => cross_build(target),
            _ => Err(anyhow::anyhow!(
                "usage: cargo xtask build [--target aarch64-unknown-linux-gnu]"
            )),
        }
        .map(|_| ExitCode::SUCCESS),
        "run" => run(&rest),
        "test" => test(&rest),
        "clippy" => clippy().map(|_| ExitCode::SUCCESS),
        "bench" => bench::run(&root(), &rest).map(|_| ExitCode::SUCCESS),
        "vmtest" => vmtest::run(&root(), &rest),
        "image" => image::run(&root(), &rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|build|run|test|clippy|bench|vmtest|image> [ARGS]\n\
                 \n  build [--target T]  e.g. --target aarch64-unknown-linux-gnu\
                 \n  run -- ARGS   run seccomp-recorder, e.g. cargo xtask run -- record -o p.json -- ls\
                 \n  test [ARGS]   the whole test suite (ARGS go to cargo test)\
                 \n  vmtest [--kernel 5.10|6.1|6.12|newest]... [--arch x86_64|aarch64]\
                 \n  image [--push REGISTRY/REPOSITORY:TAG]   the agent's image (amd64 + arm64)"
            );
            Ok(ExitCode::from(2))
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(args: &[String]) -> Result<ExitCode> {
    build(false)?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    let status = Command::new(root().join("target/debug/seccomp-recorder"))
        .args(args)
        .status()?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

fn test(args: &[String]) -> Result<ExitCode> {
    // Taken before the build: `cargo build --workspace` unifies features differently from
    // `cargo run -p xtask` and relinks target/debug/xtask, after which this program's own
    // path reads "... (deleted)". The relinked file is the same xtask.
    let xtask = std::env::current_exe()?;
    build(false)?;
    let mut child = cargo()
        .args(["test", "--workspace", "--exclude", BENCH, "--no-fail-fast"])
        .args(args)
        .env(
            "SECCOMP_RECORDER_BIN",
            root().join("target/debug/seccomp-recorder"),
        )
        .envs(tools::env(&root())?)
        // tests/src/image.rs builds the image through this very program, once per run:
        // the test binaries that need it share it by this run's name.
        .env("SECCOMP_RECORDER_XTASK", xtask)
        .env("SECCOMP_RECORDER_TEST_RUN", run_name())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    // Pass the output through and add up cargo's per-binary results, so the run ends
    // with one total line whatever binary ran last.
    let (mut passed, mut failed) = (0u64, 0u64);
    let out = child.stdout.take().context("no stdout")?;
    for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
    }
    let status = child.wait()?;
    println!("{passed} passed, {failed} failed");
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A name no other run of the suite has: this process and the time it started.
fn run_name() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{}", std::process::id(), since.as_nanos())
}

/// The number before `what` in "ok. 12 passed; 0 failed; ...".
pub fn count(summary: &str, what: &str) -> u64 {
    summary
        .split(';')
        .find(|part| part.ends_with(what))
        .and_then(|part| part.trim_end_matches(what).rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Clippy with `-D warnings` on the host workspace, then on the kernel side as aya-build
/// compiles it (nightly, bpfel target, `build-std=core`, the `bpf_target_arch` cfg), in
/// its own target directory so the two never invalidate each other's cache.
fn clippy() -> Result<()> {
    setup()?;
    check(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let arch = std::env::consts::ARCH;
    check(
        Command::new("rustup")
            .current_dir(root())
            .args([
                "run",
                "nightly",
                "cargo",
                "clippy",
                "--package",
                "recorder-ebpf",
                "--package",
                "bench-ebpf",
            ])
            .args(["--bins", "--release", "--target", "bpfel-unknown-none"])
            .args(["-Z", "build-std=core", "--target-dir"])
            .arg(root().join("target/bpf-clippy"))
            .args(["--", "-D", "warnings"])
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                format!("--cfg=bpf_target_arch=\"{arch}\""),
            )
            .env_remove("RUSTC")
            .env_remove("RUSTC_WORKSPACE_WRAPPER"),
    )
}

/// The benchmark crate and its kernel object are built only by `cargo xtask bench`: the
/// product and its tests never pay for them.
const BENCH: &str = "seccomp-recorder-bench";

/// `bench`: the release build with the benchmark crate; otherwise the debug build of
/// everything else.
pub fn build(bench: bool) -> Result<()> {
    setup()?;
    let mut c = cargo();
    // The whole workspace, as `cargo test --workspace` resolves it: the same features, so
    // the kernel side (built by a build script) is not compiled twice.
    c.args(["build", "--workspace"]);
    if bench {
        c.arg("--release");
    } else {
        c.args(["--exclude", BENCH]);
    }
    check(&mut c)
}

/// The recorder for another architecture. Linked by clang and lld against Debian's cross
/// glibc: gcc's cross compilers conflict with gcc-multilib, which the i386 tests need.
pub fn cross_build(target: &str) -> Result<()> {
    setup()?;
    cross_setup(target)?;
    let mut c = cargo();
    // The recorder only: the benchmark is x86_64's (it times x86-only syscalls).
    c.args([
        "build",
        "-p",
        "seccomp-recorder",
        "--bin",
        "seccomp-recorder",
    ]);
    c.args(["--target", target]);
    cross_env(&mut c, target);
    check(&mut c)
}

/// The cross compilers, the cross glibc and the Rust target.
pub fn cross_setup(target: &str) -> Result<()> {
    apt_packages("vmtest-apt-packages.txt")?;
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|t| t == target) {
        check(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

pub fn cross_env(c: &mut Command, target: &str) {
    let var = target.to_uppercase().replace('-', "_");
    let clang_target = target.replace("-unknown-", "-");
    c.env(format!("CARGO_TARGET_{var}_LINKER"), "clang");
    c.env(
        format!("CARGO_TARGET_{var}_RUSTFLAGS"),
        cross_rustflags(target),
    );
    // C parts of dependencies (aws-lc-sys), built by the cc crate.
    let cc = target.replace('-', "_");
    for (tool, value) in [("CC", "clang"), ("CXX", "clang++"), ("AR", "llvm-ar")] {
        c.env(format!("{tool}_{cc}"), value);
    }
    for flags in ["CFLAGS", "CXXFLAGS"] {
        c.env(format!("{flags}_{cc}"), format!("--target={clang_target}"));
    }
}

/// Link with clang for `target`, through lld.
pub fn cross_rustflags(target: &str) -> String {
    let clang_target = target.replace("-unknown-", "-");
    format!("-C link-arg=--target={clang_target} -C link-arg=-fuse-ld=lld")
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    // bpf-linker lives in cargo's bin dir, which a non-login shell may lack on PATH.
    let home = cargo_home();
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", home.join("bin").display()));
    c
}

pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cargo"))
}

pub fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into())
}

pub fn check(c: &mut Command) -> Result<()> {
    let status = c.status().with_context(|| format!("cannot start {c:?}"))?;
    if !status.success() {
        bail!("{c:?} failed: {status}");
    }
    Ok(())
}

pub fn setup() -> Result<()> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("the eBPF side needs a nightly toolchain: rustup toolchain install nightly")?;
    let sysroot = Path::new(sysroot.trim());
    rust_src(sysroot)?;
    nightly_clippy(sysroot)?;
    bpf_linker(sysroot)?;
    apt_packages("apt-packages.txt")?;
    pip_packages()
}

fn rust_src(sysroot: &Path) -> Result<()> {
    if sysroot.join("lib/rustlib/src/rust/library/core").exists() {
        return Ok(());
    }
    eprintln!("xtask: adding rust-src to the nightly toolchain");
    check(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

/// `cargo xtask clippy` lints the kernel side with nightly's clippy.
fn nightly_clippy(sysroot: &Path) -> Result<()> {
    if sysroot.join("bin/cargo-clippy").exists() {
        return Ok(());
    }
    eprintln!("xtask: adding clippy to the nightly toolchain");
    check(Command::new("rustup").args(["component", "add", "clippy", "--toolchain", "nightly"]))
}

/// bpf-linker must read the bitcode nightly's rustc writes, so it is built against
/// nightly's own libLLVM (Debian has no LLVM as new). The prefix lives under ~/.cache: the
/// linker's RUNPATH points into it.
fn bpf_linker(sysroot: &Path) -> Result<()> {
    let linker = cargo_home().join("bin/bpf-linker");
    let lib_dir = sysroot.join("lib");
    let libllvm = std::fs::read_dir(&lib_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libLLVM.so."))
        })
        .with_context(|| format!("no libLLVM.so.* in {}", lib_dir.display()))?;
    let prefix = home().join(".cache/seccomp-recorder/llvm-prefix");
    let stamp = prefix.join("built-for");
    let wanted = libllvm.file_name().unwrap().to_string_lossy().into_owned();
    if linker.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    if linker.exists() && !stamp.exists() && works(Command::new(&linker).arg("--version")) {
        // Built by hand earlier: trust it once it runs, and remember for which libLLVM.
        std::fs::create_dir_all(&prefix)?;
        std::fs::write(&stamp, &wanted)?;
        return Ok(());
    }
    let vv = output(Command::new("rustc").args(["+nightly", "-vV"]))?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("cannot tell nightly's LLVM version")?
        .to_string();
    eprintln!("xtask: building bpf-linker against nightly's LLVM {major} (about a minute)");
    std::fs::create_dir_all(prefix.join("bin"))?;
    std::fs::create_dir_all(prefix.join("lib"))?;
    let config = prefix.join("bin/llvm-config");
    std::fs::write(&config, format!("#!/bin/sh\necho {major}.1.0\n"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o755))?;
    for name in [wanted.as_str(), "libLLVM.so"] {
        let link = prefix.join("lib").join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&libllvm, &link)?;
    }
    check(
        Command::new("cargo")
            .args([
                "install",
                "--force",
                "bpf-linker",
                "--no-default-features",
                "--features",
            ])
            .arg(format!("llvm-{major}"))
            .env("LLVM_PREFIX", &prefix),
    )?;
    std::fs::write(&stamp, &wanted)?;
    Ok(())
}

fn listed(file: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root().join("xtask").join(file))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split('#').next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

pub fn apt_packages(list: &str) -> Result<()> {
    let missing: Vec<String> = listed(list)?
        .into_iter()
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    check(Command::new("apt-get").arg("update").arg("-qq"))?;
    // The tests start their own daemons and registries on private sockets and ports:
    // installing must not start the system's copies.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let guard = !policy.exists() && std::fs::write(policy, "#!/bin/sh\nexit 101\n").is_ok();
    if guard {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755))?;
    }
    let result = check(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if guard {
        let _ = std::fs::remove_file(policy);
    }
    result
}

fn installed(pkg: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .is_ok_and(|s| s.contains("install ok installed"))
}

fn pip_packages() -> Result<()> {
    for pkg in listed("pip-packages.txt")? {
        let (name, _) = pkg.split_once("==").unwrap_or((&pkg, ""));
        if works(Command::new("python3").args(["-m", "pip", "show", "-q", name])) {
            continue;
        }
        eprintln!("xtask: installing {pkg} from PyPI");
        check(Command::new("python3").args(["-m", "pip", "install", "-q", &pkg]))?;
    }
    Ok(())
}

fn works(c: &mut Command) -> bool {
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn output(c: &mut Command) -> Result<String> {
    let out = c.output().with_context(|| format!("cannot start {c:?}"))?;
    if !out.status.success() {
        bail!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}
