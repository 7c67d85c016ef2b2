//! The default-action flags record, import-audit and agent share, read by the one parser
//! every subcommand uses ([`DefaultAction`]'s `FromStr`), and the one default they fall
//! back to.

use anyhow::Result;
use seccomp_recorder::profile::DefaultAction;

/// What a call outside a recorded profile gets unless the flags say otherwise: ENOSYS lets
/// libc fall back from a newer call to an older one (clone3 -> clone), where EPERM would
/// make it give up.
pub const RECORDED_DEFAULT: DefaultAction = DefaultAction::Errno(libc::ENOSYS as u32);

#[derive(clap::Args, Debug)]
pub struct ActionFlags {
    /// What a syscall outside the profile gets: errno (EPERM), errno:ENOSYS, errno:38,
    /// kill, kill-thread, trap or log (SCMP_ACT_* spellings too). Default: errno:ENOSYS.
    #[arg(long, value_name = "ACTION")]
    default_action: Option<String>,

    /// The errno instead of EPERM for a bare `errno` action; alone, it means
    /// errno:ERRNO (name or number, 0 to 4094). ENOSYS lets libc fall back from a newer
    /// call to an older one (clone3 -> clone); EPERM says "denied".
    #[arg(long, value_name = "ERRNO")]
    errno: Option<String>,
}

impl ActionFlags {
    /// The action the flags ask for, or `None` when neither was given.
    pub fn given(&self) -> Result<Option<DefaultAction>> {
        let action =
            DefaultAction::from_flags(self.default_action.as_deref(), self.errno.as_deref())
                .map_err(anyhow::Error::msg)?;
        action.inspect(|a| warn_caveat(*a));
        Ok(action)
    }

    /// The action the flags ask for, else [`RECORDED_DEFAULT`].
    pub fn or_recorded_default(&self) -> Result<DefaultAction> {
        Ok(self.given()?.unwrap_or(RECORDED_DEFAULT))
    }
}

pub fn warn_caveat(action: DefaultAction) {
    if let Some(caveat) = action.caveat() {
        log::warn!("{caveat}");
    }
}
