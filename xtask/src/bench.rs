//! `cargo xtask bench [--quick]`: builds the release binaries once, then runs
//! `seccomp-recorder-bench run`, which measures everything in one process tree, prints the
//! tables and writes BENCHMARKS.md at the workspace root. `--only startup` runs and prints
//! the start-up section alone.
//!
//! Benchmarks are not tests: nothing here runs under `cargo test`.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

const USAGE: &str = "usage: cargo xtask bench [--quick] | cargo xtask bench --only startup";

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let only = match args {
        [flag, section] if flag == "--only" && section == "startup" => Some(section),
        [flag, ..] if flag == "--only" => bail!("--only takes one section, startup: {USAGE}"),
        _ => None,
    };
    if only.is_none()
        && let Some(other) = args.iter().find(|a| *a != "--quick")
    {
        bail!("unknown argument {other}: {USAGE}");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        bail!("the benchmarks load eBPF programs and make cgroups: run them as root");
    }
    crate::build(true)?;
    crate::apt_packages("bench-apt-packages.txt")?;
    let bin = root.join("target/release/seccomp-recorder-bench");
    if let Some(section) = only {
        // One section, printed: BENCHMARKS.md stays the full run's.
        return crate::check(Command::new(&bin).arg(section));
    }
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
