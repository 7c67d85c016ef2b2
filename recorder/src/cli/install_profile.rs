use anyhow::Result;
use seccomp_recorder::agent::own_profile;
use std::path::PathBuf;
use std::process::ExitCode;

/// Install the agent's own seccomp profile (built in) for the kubelet.
///
/// The DaemonSet's init container runs this from the agent's image (which has no shell)
/// before the agent's container is created under the profile as Localhost. The profile was
/// recorded by the recorder from the agent running as that pod (deploy/agent-seccomp.json).
#[derive(clap::Args)]
pub struct Args {
    /// Where to write it (the kubelet's seccomp directory; the agent container's
    /// localhostProfile names the file).
    #[arg(long, value_name = "FILE", default_value = own_profile::DEFAULT_PATH)]
    to: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    own_profile::install(&args.to)?;
    log::info!(
        "installed the agent's seccomp profile at {}",
        args.to.display()
    );
    Ok(ExitCode::SUCCESS)
}
