//! `cargo xtask bench [--quick]`: builds the release binaries once, then runs
//! `seccomp-recorder-bench run`, which measures everything in one process tree, prints the
//! tables and writes BENCHMARKS.md at the workspace root.
//!
//! Benchmarks are not tests: nothing here runs under `cargo test`.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(other) = args.iter().find(|a| *a != "--quick") {
        bail!("unknown argument {other}: usage: cargo xtask bench [--quick]");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        bail!("the benchmarks load eBPF programs and make cgroups: run them as root");
    }
    crate::build(true)?;
    crate::apt_packages("bench-apt-packages.txt")?;
    let bin = root.join("target/release/seccomp-recorder-bench");
    let mut c = Command::new(&bin);
    c.arg("run");
    if quick {
        c.arg("--quick");
    }
    c.arg("--out").arg(root.join("BENCHMARKS.md"));
    let shown = if quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    c.env("BENCH_COMMAND", shown);
    crate::check(&mut c)
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
