use anyhow::Context;
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::{DefaultAction, MergeOptions, OnConflict, Profile, merge};
use std::path::PathBuf;
use std::process::ExitCode;

/// Merge plain profiles into one that allows everything any of them allows.
///
/// Architectures and unconditionally allowed syscalls are united. Argument rules that allow
/// are all kept (any of them allows). Profiles must agree on the default action and on
/// every non-allow rule (an errno, a kill) they give a syscall, unless told how.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  seccomp-recorder merge a.json b.json c.json -o merged.json
  seccomp-recorder merge old.json new.json --default-action errno:ENOSYS -o merged.json
  seccomp-recorder merge a.json b.json --on-conflict allow -o merged.json")]
pub struct Args {
    /// Plain runtime-spec profiles (templates must be expanded first).
    #[arg(required = true)]
    profiles: Vec<PathBuf>,
    /// Where to write the result; `-` is stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    /// Use this default action instead of requiring the same one everywhere: errno
    /// (EPERM), errno:ENOSYS, errno:38, kill, kill-thread, trap, log.
    #[arg(long)]
    default_action: Option<DefaultAction>,
    /// When profiles treat a syscall differently: refuse, or allow it for any arguments.
    #[arg(long, value_enum, default_value_t = OnConflict::Refuse)]
    on_conflict: OnConflict,
    #[command(flatten)]
    log: super::refusals::LogFlag,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::output::check_writable(&args.output)?;
    if let Some(action) = args.default_action {
        super::action::warn_caveat(action);
    }
    let mut profiles: Vec<Profile> = args
        .profiles
        .iter()
        .map(|p| super::load_valid(p))
        .collect::<Result<_, _>>()?;
    // Every input gets the flag, so inputs that differ only in it still agree.
    if args.log.log_refusals {
        profiles.iter_mut().for_each(Profile::log_refusals);
    }
    let opts = MergeOptions {
        default_action: args.default_action,
        on_conflict: args.on_conflict,
    };
    let mut merged = merge(&profiles, &opts).map_err(|e| {
        let names: Vec<String> = args
            .profiles
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}={}", p.display()))
            .collect();
        anyhow::anyhow!("{e} [profiles: {}]", names.join(", "))
    })?;
    args.log.apply(&mut merged);
    write_atomic(&args.output, merged.to_json().as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    log::info!(
        "merged {} profiles into {}",
        profiles.len(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
