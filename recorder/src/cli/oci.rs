use std::process::ExitCode;

/// (not implemented yet)
#[derive(clap::Args)]
pub struct PushArgs {}

/// (not implemented yet)
#[derive(clap::Args)]
pub struct PullArgs {}

pub fn push(_args: PushArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'push' is not implemented yet")
}

pub fn pull(_args: PullArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'pull' is not implemented yet")
}
