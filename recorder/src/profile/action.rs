//! The default action: what a syscall outside the profile gets, as flags and profiles
//! spell it.

use super::{Profile, errno_number};

/// What a syscall outside the profile gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Errno(u32),
    KillProcess,
    KillThread,
    Trap,
    Log,
}

impl DefaultAction {
    fn to_fields(self) -> (&'static str, Option<u32>) {
        match self {
            DefaultAction::Errno(e) => ("SCMP_ACT_ERRNO", Some(e)),
            DefaultAction::KillProcess => ("SCMP_ACT_KILL_PROCESS", None),
            DefaultAction::KillThread => ("SCMP_ACT_KILL_THREAD", None),
            DefaultAction::Trap => ("SCMP_ACT_TRAP", None),
            DefaultAction::Log => ("SCMP_ACT_LOG", None),
        }
    }

    /// Sets this as the profile's default action, dropping errno fields it does not take.
    pub fn apply(self, profile: &mut Profile) {
        let (action, errno) = self.to_fields();
        profile.default_action = action.to_string();
        profile.default_errno_ret = errno;
        profile.default_errno = None;
    }

    /// From a `--default-action ACTION --errno ERRNO` pair, either optional: `--errno`
    /// gives the errno of a bare `errno` (and alone means `errno:ERRNO`); a bare `errno`
    /// without it is EPERM, as everywhere else. `None` when neither flag was given.
    pub fn from_flags(
        action: Option<&str>,
        errno: Option<&str>,
    ) -> Result<Option<DefaultAction>, String> {
        let Some(action) = action else {
            return errno.map(|e| format!("errno:{e}").parse()).transpose();
        };
        let parsed: DefaultAction = action.parse()?;
        let bare =
            action.eq_ignore_ascii_case("errno") || action.eq_ignore_ascii_case("scmp_act_errno");
        match (parsed, errno) {
            (DefaultAction::Errno(_), Some(e)) if bare => format!("errno:{e}").parse().map(Some),
            (_, Some(e)) => Err(format!(
                "--errno {e} does not combine with --default-action {action} (give errno:{e})"
            )),
            (parsed, None) => Ok(Some(parsed)),
        }
    }

    /// A warning for an action that loads but is probably not what was meant.
    pub fn caveat(self) -> Option<&'static str> {
        (self == DefaultAction::Errno(0)).then_some(
            "errno 0 makes every refused call look successful to the program (it returns 0 \
             without running); use EPERM or ENOSYS to refuse",
        )
    }
}

/// The largest errno a seccomp filter can return: the kernel hands back -ERRNO, and
/// libseccomp (so runc, crun, Docker, Podman) refuses 4095 and above, which would read
/// as a valid pointer or count.
pub(crate) const MAX_ERRNO: u32 = 4094;

/// Refuses an errno no runtime can load.
pub(crate) fn check_errno(n: u32) -> Result<u32, String> {
    if n > MAX_ERRNO {
        return Err(format!(
            "errno {n} cannot be loaded: runc and libseccomp take 0 to {MAX_ERRNO}"
        ));
    }
    Ok(n)
}

impl std::str::FromStr for DefaultAction {
    type Err = String;

    /// `errno` (EPERM), `errno:ENOSYS`, `errno:38`, `kill`, `kill-thread`, `trap`, `log`,
    /// and the SCMP_ACT_ spellings of each.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let lower = lower.strip_prefix("scmp_act_").unwrap_or(&lower);
        match lower.split_once(':') {
            Some(("errno", e)) => errno_number(e)
                .ok_or_else(|| format!("unknown errno '{e}' (use a name like EPERM or a number)"))
                .and_then(check_errno)
                .map(DefaultAction::Errno),
            Some(_) => Err(format!("only errno takes a value, not '{s}'")),
            None => match lower {
                "errno" => Ok(DefaultAction::Errno(libc::EPERM as u32)),
                "kill" | "kill_process" | "kill-process" => Ok(DefaultAction::KillProcess),
                "kill_thread" | "kill-thread" => Ok(DefaultAction::KillThread),
                "trap" => Ok(DefaultAction::Trap),
                "log" => Ok(DefaultAction::Log),
                _ => Err(format!(
                    "unknown action '{s}' (expected errno, errno:NAME, kill, kill-thread, trap or log)"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_action_parses() {
        assert_eq!("errno:ENOSYS".parse(), Ok(DefaultAction::Errno(38)));
        assert_eq!("SCMP_ACT_LOG".parse(), Ok(DefaultAction::Log));
        assert!("errno:EWHAT".parse::<DefaultAction>().is_err());
        assert!("errno:4095".parse::<DefaultAction>().is_err());
        assert_eq!("errno:4094".parse(), Ok(DefaultAction::Errno(4094)));
    }

    #[test]
    fn flags_combine_into_one_action() {
        let f = DefaultAction::from_flags;
        assert_eq!(f(None, None), Ok(None));
        // A bare errno is EPERM in every subcommand, as in `merge` and `default`.
        assert_eq!(f(Some("errno"), None), Ok(Some(DefaultAction::Errno(1))));
        assert_eq!(
            f(Some("SCMP_ACT_ERRNO"), None),
            Ok(Some(DefaultAction::Errno(1)))
        );
        assert_eq!(
            f(Some("errno"), Some("EPERM")),
            Ok(Some(DefaultAction::Errno(1)))
        );
        assert_eq!(f(None, Some("EPERM")), Ok(Some(DefaultAction::Errno(1))));
        assert_eq!(
            f(Some("errno:EACCES"), None),
            Ok(Some(DefaultAction::Errno(13)))
        );
        assert_eq!(f(Some("kill"), None), Ok(Some(DefaultAction::KillProcess)));
        assert!(f(Some("log"), Some("EPERM")).is_err());
        assert!(f(None, Some("70000")).is_err());
    }
}
