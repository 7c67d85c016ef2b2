//! Command-line parsing and dispatch. Each subcommand lives in its own file and calls the
//! library; nothing here knows how recording or profiles work.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod action;
mod agent;
mod audit;
mod baseline;
mod convert;
mod default;
mod diff;
mod install_profile;
mod logging;
mod ls;
mod merge;
mod oci;
mod output;
mod record;
mod refusals;
mod refusals_kernel;
mod report;
mod validate;

#[derive(Parser)]
#[command(
    name = "seccomp-recorder",
    version,
    about = "Record the system calls a workload really makes (eBPF) and turn them into a minimal seccomp profile",
    long_about = None,
    after_help = "Start with:  seccomp-recorder record -o profile.json -- make test"
)]
struct Cli {
    /// More detail on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// How log lines on stderr look. Both start with the time (RFC 3339, UTC); json is one
    /// object per line with ts, level, target and message, and the agent adds namespace,
    /// workload and container where a line is about one.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value_t
    )]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

// Parsed once and consumed at once: boxing the big variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    Record(record::Args),
    Diff(diff::Args),
    Merge(merge::Args),
    Convert(convert::Args),
    Validate(validate::Args),
    Default(default::Args),
    ImportAudit(audit::Args),
    Agent(agent::Args),
    InstallProfile(install_profile::Args),
    Push(oci::PushArgs),
    Pull(oci::PullArgs),
    WatchRefusals(refusals::Args),
    Ls(ls::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    let result = match cli.command {
        Command::Record(a) => record::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Default(a) => default::run(a),
        Command::ImportAudit(a) => audit::run(a),
        Command::Agent(a) => agent::run(a),
        Command::InstallProfile(a) => install_profile::run(a),
        Command::Push(a) => oci::push(a),
        Command::Pull(a) => oci::pull(a),
        Command::WatchRefusals(a) => refusals::run(a),
        Command::Ls(a) => ls::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", logging::error_line(cli.log_format, &format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, format: logging::LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Info,
        (false, 1) => log::LevelFilter::Debug,
        (false, _) => log::LevelFilter::Trace,
    };
    logging::init(level, format);
}

/// A profile that validates, its warnings shown on stderr.
fn load_valid(
    path: &std::path::Path,
) -> Result<seccomp_recorder::profile::Profile, seccomp_recorder::profile::ProfileError> {
    let (profile, warnings) = seccomp_recorder::profile::Profile::load_valid(path)?;
    for w in warnings {
        log::warn!("{}: {w}", path.display());
    }
    Ok(profile)
}
