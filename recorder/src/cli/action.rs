//! The default-action flags record and import-audit share, read by the one parser every
//! subcommand uses ([`DefaultAction`]'s `FromStr`).

use anyhow::Result;
use seccomp_recorder::profile::DefaultAction;

#[derive(clap::Args)]
pub struct ActionFlags {
    /// What a syscall outside the profile gets: errno, errno:EPERM, errno:38, kill,
    /// kill-thread, trap or log (SCMP_ACT_* spellings too). Default: errno:ENOSYS.
    #[arg(long, value_name = "ACTION")]
    default_action: Option<String>,

    /// The errno of a bare `errno` action (name or number, 0 to 4094). ENOSYS lets libc
    /// fall back from a newer call to an older one (clone3 -> clone); EPERM says "denied".
    #[arg(long, value_name = "ERRNO")]
    errno: Option<String>,
}

impl ActionFlags {
    /// The action the flags ask for, or `None` when neither was given.
    pub fn given(&self) -> Result<Option<DefaultAction>> {
        let action = DefaultAction::from_flags(
            self.default_action.as_deref(),
            self.errno.as_deref(),
            libc::ENOSYS as u32,
        )
        .map_err(anyhow::Error::msg)?;
        action.inspect(|a| warn_caveat(*a));
        Ok(action)
    }
}

pub fn warn_caveat(action: DefaultAction) {
    if let Some(caveat) = action.caveat() {
        log::warn!("{caveat}");
    }
}
