//! `cargo xtask vmtest [--kernel NAME...] [--arch x86_64|aarch64]`: boots Debian's own
//! kernels in QEMU and runs `tests/tests/kernel.rs` inside each, one kernel after another,
//! then prints one line per kernel and writes the support table.
//!
//! Why a harness of our own: virtme-ng needs udev and KVM workarounds (30-50 s a boot), the
//! vmtest crate shares / read-write; this one boots a busybox initramfs in 4-8 s under TCG
//! (the machines' /dev/kvm does not run stock kernels), loads the 9p modules from the
//! kernel's own package, and chroots into a read-only 9p share: the host's / for x86_64
//! (its compilers and test binaries), a small staged root for aarch64.
//!
//! Everything downloaded goes through a private apt configuration under
//! ~/.cache/seccomp-recorder/vmtest: the machine's sources are never touched.

mod apt;
mod cpio;
mod guest;
mod stage;

use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// Kernels of the default matrix.
    fn kernels(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["5.10", "6.1", "6.12", "newest"],
            Arch::Aarch64 => &["6.1", "6.12"],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

impl std::str::FromStr for Arch {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Arch> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            _ => bail!("unknown architecture '{s}': expected x86_64 or aarch64"),
        }
    }
}

/// The Debian suites a kernel name is taken from, newest first.
fn suites(name: &str) -> Result<&'static [&'static str]> {
    Ok(match name {
        "5.10" => &["bullseye-security", "bullseye"],
        "6.1" => &["bookworm-security", "bookworm"],
        "6.12" => &["trixie-security", "trixie", "bookworm-backports"],
        "newest" => &["sid"],
        _ => bail!("unknown kernel '{name}': expected 5.10, 6.1, 6.12 or newest"),
    })
}

struct Args {
    arches: Vec<Arch>,
    kernels: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let usage = "usage: cargo xtask vmtest [--kernel NAME...] [--arch x86_64|aarch64]";
    let (mut arches, mut kernels) = (Vec::new(), Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value: {usage}"))
        };
        match a.as_str() {
            "--arch" => arches.push(value()?.parse()?),
            "--kernel" => kernels.push(value()?.clone()),
            _ => bail!("unknown argument {a}: {usage}"),
        }
    }
    for k in &kernels {
        suites(k)?;
    }
    if arches.is_empty() {
        arches = vec![Arch::X86_64, Arch::Aarch64];
    }
    Ok(Args { arches, kernels })
}

/// One kernel's run, for the summary and the table.
pub struct Outcome {
    pub arch: Arch,
    pub name: String,
    pub release: String,
    pub passed: u32,
    pub failed: u32,
    pub ok: bool,
    pub facts: Vec<String>,
    pub notes: Vec<String>,
    pub secs: u64,
    pub error: Option<String>,
}

pub fn run(root: &Path, args: &[String]) -> Result<ExitCode> {
    let args = parse(args)?;
    let start = Instant::now();
    let cache = crate::home().join(".cache/seccomp-recorder/vmtest");
    let apt = apt::Apt::new(&cache.join("apt"))?;
    apt::install_qemu(&cache.join("apt-qemu"))?;
    crate::apt_packages("vmtest-apt-packages.txt")?;
    let mut outcomes = Vec::new();
    for &arch in &args.arches {
        let kernels: Vec<String> = if args.kernels.is_empty() {
            arch.kernels().iter().map(|k| k.to_string()).collect()
        } else {
            args.kernels.clone()
        };
        let stage = stage::prepare(root, arch, &apt)?;
        for name in kernels {
            let outcome = guest::run(&stage, &apt, &cache, arch, &name);
            eprintln!("{}", line(&outcome));
            outcomes.push(outcome);
        }
    }
    println!();
    for o in &outcomes {
        println!("{}", line(o));
    }
    let table = table(&outcomes);
    let out = root.join("target/vmtest/support.md");
    std::fs::write(&out, &table).with_context(|| format!("cannot write {}", out.display()))?;
    if args.kernels.is_empty() && args.arches.len() == 2 {
        readme(&root.join("README.md"), &table)?;
    }
    let (passed, failed) = outcomes.iter().fold((0, 0), |(p, f), o| {
        (
            p + o.passed,
            f + o.failed + u32::from(!o.ok && o.failed == 0),
        )
    });
    println!(
        "vmtest: {} kernels in {} s",
        outcomes.len(),
        start.elapsed().as_secs()
    );
    println!("{passed} passed, {failed} failed");
    Ok(if outcomes.iter().all(|o| o.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn line(o: &Outcome) -> String {
    let verdict = if o.ok { "ok" } else { "FAILED" };
    let mut s = format!(
        "vmtest: {} {} ({}): {verdict}, {} passed, {} failed, {} s",
        o.arch, o.name, o.release, o.passed, o.failed, o.secs
    );
    if let Some(e) = &o.error {
        s += &format!(": {e}");
    }
    s
}

fn fact<'a>(o: &'a Outcome, key: &str) -> Vec<&'a str> {
    o.facts
        .iter()
        .filter_map(|f| f.strip_prefix(key)?.strip_prefix(' '))
        .collect()
}

/// The README's support table, from this run only.
fn table(outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| kernel | arch | Debian release | default attach | follows new cgroups | ABIs recorded | tests | notes |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for o in outcomes {
        let or_none = |v: Vec<&str>| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.join(", ")
            }
        };
        let abis: Vec<&str> = fact(o, "abi")
            .into_iter()
            .filter_map(|a| a.strip_suffix(" ok"))
            .collect();
        let follow = if fact(o, "follow").is_empty() {
            "no"
        } else {
            "yes"
        };
        t += &format!(
            "| {} | {} | {} | {} | {follow} | {} | {} passed, {} failed{} | {} |\n",
            o.name,
            o.arch,
            o.release,
            or_none(fact(o, "attach")),
            or_none(abis),
            o.passed,
            o.failed,
            if o.ok { "" } else { " (FAILED)" },
            or_none(o.notes.iter().map(String::as_str).collect()),
        );
    }
    t
}

const BEGIN: &str = "<!-- vmtest table: written by cargo xtask vmtest -->";
const END: &str = "<!-- end of vmtest table -->";

fn readme(path: &PathBuf, table: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no vmtest table markers", path.display());
    };
    let new = format!("{}{BEGIN}\n{table}{}", &text[..a], &text[b..]);
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, new)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
