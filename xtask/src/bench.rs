//! `cargo xtask bench [--quick]`: builds the release binaries once, then runs
//! `seccomp-recorder-bench run`, which measures everything in one process tree, prints the
//! tables and writes BENCHMARKS.md at the workspace root. `--only startup` runs and prints
//! the start-up section alone; `--only kpath` prints the kernel path's section (section 7,
//! from the guests' console logs of the last `cargo xtask vmtest`). `cargo xtask bench agent
//! [--quick]` measures the node agent on a busy node and replaces only its own section of
//! BENCHMARKS.md (`--quick` prints).
//!
//! Benchmarks are not tests: nothing here runs under `cargo test`.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

const USAGE: &str = "usage: cargo xtask bench [--quick] | cargo xtask bench --only startup|kpath | cargo xtask bench agent [--quick]";

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let agent = args.first().is_some_and(|a| a == "agent");
    let only = match args {
        [flag, section] if flag == "--only" && ["startup", "kpath"].contains(&section.as_str()) => {
            Some(section)
        }
        [flag, ..] if flag == "--only" => {
            bail!("--only takes one section, startup or kpath: {USAGE}")
        }
        _ => None,
    };
    if only.is_none()
        && let Some(other) = args
            .iter()
            .skip(usize::from(agent))
            .find(|a| *a != "--quick")
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
        let mut c = Command::new(&bin);
        c.arg(section);
        if section == "kpath" {
            c.arg(root.join("target/vmtest"));
        }
        return crate::check(&mut c);
    }
    if agent {
        return run_agent(root, &bin, quick);
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

/// The agent's benchmark runs the release agent against the tests' runtimes (CRI-O from the
/// same place `cargo xtask test` takes it); a full run writes its section, `--quick` only
/// prints it.
fn run_agent(root: &Path, bin: &Path, quick: bool) -> Result<()> {
    let mut c = Command::new(bin);
    c.arg("agent");
    if quick {
        c.arg("--quick");
    } else {
        c.arg("--out").arg(root.join("BENCHMARKS.md"));
    }
    c.env(
        "SECCOMP_RECORDER_BIN",
        root.join("target/release/seccomp-recorder"),
    )
    .envs(crate::tools::env(root)?)
    .env("BENCH_COMMIT", commit(root))
    .env(
        "BENCH_COMMAND",
        if quick {
            "cargo xtask bench agent --quick"
        } else {
            "cargo xtask bench agent"
        },
    );
    crate::check(&mut c)
}

/// The commit measured, `-dirty` when the tree has changes not committed.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let id = git(&["rev-parse", "--short=12", "HEAD"]);
    // BENCHMARKS.md itself is what the run writes.
    let dirty = !git(&["status", "--porcelain", "--", ".", ":!BENCHMARKS.md"]).is_empty();
    match (id.is_empty(), dirty) {
        (true, _) => "unknown".into(),
        (false, true) => format!("{id}-dirty"),
        (false, false) => id,
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}
