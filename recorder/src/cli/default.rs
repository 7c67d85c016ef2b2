use super::baseline::Against;
use anyhow::Context;
use seccomp_recorder::arch::Arch;
use seccomp_recorder::engine::Engine;
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::{DefaultAction, Profile};
use seccomp_recorder::runtime_default::{
    Host, expand, host_native, native_for, parse_cap, resolve_here,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a runtime's RuntimeDefault profile expanded for one host: its architectures,
/// capabilities and kernel, as plain runtime-spec JSON.
///
/// With `--action log`, the profile logs what RuntimeDefault would refuse instead of
/// refusing it: run the workload under it, then `seccomp-recorder import-audit` turns the
/// kernel's audit records into the calls RuntimeDefault would have blocked.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  seccomp-recorder default --runtime docker --action log -o log-profile.json
  docker run --security-opt seccomp=log-profile.json IMAGE
  seccomp-recorder default --runtime crio --caps CAP_NET_ADMIN --arch aarch64 -o crio.json")]
pub struct Args {
    /// Whose RuntimeDefault: docker, containerd, podman or crio (the installed engine's
    /// version, else the newest built in), one release such as docker@20.10, or
    /// RUNTIME=FILE: a template or profile file expanded with that runtime's loader and
    /// capabilities (as `diff --against RUNTIME=FILE` takes it).
    #[arg(long, value_name = "RUNTIME[@VERSION]|RUNTIME=FILE", value_parser = Against::parse_with_runtime)]
    runtime: Against,
    /// Replace the default action: errno (EPERM), errno:ENOSYS, kill, kill-thread, trap,
    /// log.
    #[arg(long)]
    action: Option<DefaultAction>,
    /// Capabilities on top of the runtime's defaults (repeat or separate with commas).
    #[arg(long, value_delimiter = ',', value_parser = parse_cap)]
    caps: Vec<String>,
    /// Start from no capabilities instead of the runtime's default set.
    #[arg(long)]
    no_default_caps: bool,
    /// The kernel version the loader sees (major.minor); default: this machine's.
    #[arg(long, value_name = "X.Y", value_parser = super::baseline::kernel)]
    kernel: Option<(u32, u32)>,
    /// The host architecture (x86_64, aarch64, ...); default: this machine's.
    #[arg(long)]
    arch: Option<Arch>,
    /// Where to write the profile; `-` is stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::output::check_writable(&args.output)?;
    if let Some(action) = args.action {
        super::action::warn_caveat(action);
    }
    let kernel = super::baseline::kernel_or_host(args.kernel)?;
    let (runtime, template) = template(&args.runtime)?;
    let mut caps = if args.no_default_caps {
        Default::default()
    } else {
        runtime.default_caps()
    };
    caps.extend(args.caps.iter().cloned());
    let native = args.arch.map(native_for).unwrap_or_else(host_native);
    let mut profile = expand(
        &template,
        &Host {
            native,
            caps,
            kernel,
        },
        runtime.loader(),
    );
    if let Some(action) = args.action {
        action.apply(&mut profile);
    }
    // The template serves every architecture; this host's needs only its own names.
    profile.drop_foreign_names();
    write_atomic(&args.output, profile.to_json().as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The engine whose loader and capabilities apply, and the template to expand.
fn template(against: &Against) -> anyhow::Result<(Engine, Profile)> {
    match against {
        Against::Builtin(spec) => {
            let (release, notes) = resolve_here(spec)?;
            for n in notes {
                eprintln!("seccomp-recorder: {n}");
            }
            Ok((spec.runtime, release.template()))
        }
        Against::File {
            engine: Some(engine),
            path,
            ..
        } => Ok((*engine, super::load_valid(path)?)),
        Against::File { label, .. } => {
            anyhow::bail!("--runtime {label}: give the runtime whose loader reads it, RUNTIME=FILE")
        }
    }
}
