//! The arguments of `record` turned into a checked plan in one step (ripgrep's LowArgs ->
//! HiArgs): every command-line rule, and every output problem that can be known before
//! the command runs, is refused here, so a long recording is never lost to a typo.

use super::Args;
use crate::cli::action::RECORDED_DEFAULT;
use crate::cli::oci::PushPlan;
use crate::cli::output::{check_dir_writable, check_writable};
use anyhow::{Context, Result, bail};
use seccomp_recorder::profile::{DefaultAction, Profile};
use seccomp_recorder::record::{FollowFilter, Options};
use seccomp_recorder::target::Target;
use std::path::{Path, PathBuf};

/// Where the profiles go.
pub enum Output {
    Stdout,
    /// One target, one file (replaced).
    File(PathBuf),
    /// One target, united with the profile already in the file (if there is one).
    Append {
        path: PathBuf,
        base: Option<Box<Profile>>,
    },
    /// Several targets: one `<label>.json` each.
    Directory(PathBuf),
}

pub struct Plan {
    pub options: Options,
    pub output: Output,
    pub default: DefaultAction,
    pub push: Option<PushPlan>,
    pub log: super::super::refusals::LogFlag,
}

const DEFAULT_OUTPUT: &str = "seccomp.json";

impl Plan {
    pub fn from_args(args: &Args) -> Result<Plan> {
        let mut targets: Vec<Target> = args.cgroup.iter().cloned().map(Target::Cgroup).collect();
        targets.extend(args.pid.iter().copied().map(Target::Pid));
        targets.extend(args.container.iter().cloned().map(Target::Container));
        let count = targets.len() + usize::from(!args.command.is_empty());
        check_flags(args, count)?;
        let output = output(args, count > 1 || args.follow_containers)?;
        if args.push.is_some() && !matches!(output, Output::File(_) | Output::Append { .. }) {
            bail!("--push takes one target written to a file (not stdout)");
        }
        let base_default = match &output {
            Output::Append {
                path,
                base: Some(base),
            } => Some(default_of(base, path)?),
            _ => None,
        };
        let default = args
            .action
            .given()?
            .or(base_default)
            .unwrap_or(RECORDED_DEFAULT);
        let push = match &args.push {
            Some(r) => Some(
                PushPlan::new(r, None, &args.registry, &args.kep6061)
                    .with_context(|| format!("--push {r}: nothing was recorded"))?,
            ),
            None => None,
        };
        let options = Options {
            targets,
            command: args.command.clone(),
            duration: args.duration,
            attach: args.attach,
            linger: args.linger,
            follow: args.follow_containers.then(|| FollowFilter {
                engines: args.follow_engine.clone(),
                names: args.follow_name.clone(),
            }),
            engine_roots: args.engine_root.clone(),
            command_stdout_to_stderr: matches!(output, Output::Stdout),
        };
        Ok(Plan {
            options,
            output,
            default,
            push,
            log: args.log,
        })
    }
}

/// Rules between flags that need no look at the file system.
fn check_flags(args: &Args, count: usize) -> Result<()> {
    if args.duration.is_some() && !args.command.is_empty() {
        bail!("--duration applies to existing targets; a command is recorded until it exits");
    }
    if args.append.is_some() && args.output.is_some() {
        bail!("--append FILE is where the profile goes; it does not combine with -o");
    }
    if args.append.is_some() && count > 1 {
        bail!("--append takes one target; with several, record into a directory and merge");
    }
    if args.registry.password_stdin && !args.command.is_empty() {
        bail!(
            "--password-stdin cannot be used with a command: the command owns stdin; \
             set REGISTRY_PASSWORD or use --authfile"
        );
    }
    let registry = &args.registry;
    let for_push = registry.username.is_some()
        || registry.password_stdin
        || registry.authfile.is_some()
        || registry.insecure
        || !registry.ca_file.is_empty()
        || !args.kep6061.baselines.is_empty();
    if for_push && args.push.is_none() {
        bail!(
            "--username, --password-stdin, --authfile, --insecure, --ca-file and --baseline are for --push"
        );
    }
    if args.push.is_some() && count > 1 {
        bail!("--push takes one target written to a file (not stdout)");
    }
    if args.follow_containers && (args.append.is_some() || args.push.is_some()) {
        bail!(
            "--follow-containers writes one profile per container into a directory; it does not combine with --append or --push"
        );
    }
    for root in &args.engine_root {
        if !root.is_dir() {
            bail!(
                "--engine-root {}: no such directory (give a dockerd --data-root, a podman --root \
                 a containerd state directory or a runc --root)",
                root.display()
            );
        }
    }
    Ok(())
}

fn output(args: &Args, several: bool) -> Result<Output> {
    if let Some(path) = &args.append {
        return append(path);
    }
    if several {
        return directory(args.output.as_deref());
    }
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUTPUT));
    if path == Path::new("-") {
        return Ok(Output::Stdout);
    }
    if path.is_dir() {
        bail!(
            "-o {} is a directory: with one target, -o names the profile file (e.g. {})",
            path.display(),
            path.join(DEFAULT_OUTPUT).display()
        );
    }
    check_writable(&path)?;
    Ok(Output::File(path))
}

fn append(path: &Path) -> Result<Output> {
    let base = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => bail!("--append {}: {e}", path.display()),
        Ok(m) if !m.is_file() => bail!(
            "--append {}: not a regular file (give the profile file to grow)",
            path.display()
        ),
        Ok(_) => {
            let base = Profile::load(path)?;
            if base.is_template() {
                bail!(
                    "--append {}: this is a template (includes/excludes, archMap, errno names); \
                     --append grows a plain profile: expand it first (seccomp-recorder default \
                     --runtime ...) or record into a new file and merge",
                    path.display()
                );
            }
            Some(Box::new(base))
        }
    };
    check_writable(path)?;
    Ok(Output::Append {
        path: path.to_path_buf(),
        base,
    })
}

fn directory(output: Option<&Path>) -> Result<Output> {
    let Some(dir) = output else {
        bail!("several targets make one profile each: give --output DIR");
    };
    let reason = if dir == Path::new("-") {
        Some("stdout holds one profile")
    } else if dir.extension().is_some_and(|e| e == "json") {
        Some("a path ending in .json names a file")
    } else if dir.exists() && !dir.is_dir() {
        Some("it is an existing file")
    } else {
        None
    };
    if let Some(reason) = reason {
        bail!(
            "several targets make one profile each: give --output DIR (-o {}: {reason})",
            dir.display()
        );
    }
    // The directory is made after the run; what must be writable now is its nearest
    // existing ancestor.
    let existing = dir
        .ancestors()
        .find(|a| a.is_dir() || a.as_os_str().is_empty())
        .filter(|a| !a.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_dir_writable(existing, dir)?;
    Ok(Output::Directory(dir.to_path_buf()))
}

/// The default action of the profile being appended to, so that growing a profile never
/// changes what it refuses with.
fn default_of(base: &Profile, path: &Path) -> Result<DefaultAction> {
    let spelled = match base.default_errno() {
        Some(errno) if base.default_action.eq_ignore_ascii_case("SCMP_ACT_ERRNO") => {
            format!("errno:{errno}")
        }
        // runc's SCMP_ACT_KILL kills the thread, not the process.
        _ if base.default_action == "SCMP_ACT_KILL" => "kill-thread".into(),
        _ => base.default_action.clone(),
    };
    spelled.parse().map_err(|e: String| {
        anyhow::anyhow!(
            "--append {}: its defaultAction {}: {e}; give --default-action to replace it",
            path.display(),
            base.default_action
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// A scratch directory for output paths, so the write probes touch nothing else;
    /// removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn to_str(&self) -> Option<&str> {
            self.0.to_str()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("plan-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn args(words: &[&str]) -> Args {
        let argv = ["seccomp-recorder", "record"].iter().chain(words);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Record(a) => a,
            _ => unreachable!("parsed as record"),
        }
    }

    fn plan(words: &[&str]) -> Plan {
        Plan::from_args(&args(words)).unwrap_or_else(|e| panic!("{words:?}: {e:#}"))
    }

    fn refused(words: &[&str]) -> String {
        match Plan::from_args(&args(words)) {
            Ok(_) => panic!("{words:?} was accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn flags_that_contradict_each_other_are_refused() {
        let dir = scratch("contradict");
        let out = dir.join("p.json");
        let out = out.to_str().unwrap();
        for (words, expect) in [
            (
                &["--duration", "1s", "--", "true"][..],
                "--duration applies",
            ),
            (
                &["--append", out, "-o", out, "--", "true"],
                "does not combine with -o",
            ),
            (
                &["-o", "-", "--push", "reg.example/a:b", "--", "true"],
                "--push takes one target",
            ),
            (
                &["-o", out, "--username", "u", "--", "true"],
                "are for --push",
            ),
            (
                &["-o", out, "--baseline", "crio", "--", "true"],
                "are for --push",
            ),
            (
                &[
                    "-o",
                    out,
                    "--push",
                    "reg.example/a:b",
                    "--username",
                    "u",
                    "--password-stdin",
                    "--",
                    "true",
                ],
                "the command owns stdin",
            ),
            (&["--cgroup", "/a", "--cgroup", "/b"], "give --output DIR"),
            (
                &[
                    "--follow-containers",
                    "-o",
                    dir.to_str().unwrap(),
                    "--push",
                    "reg.example/a:b",
                ],
                "does not combine with --append or --push",
            ),
        ] {
            let e = refused(words);
            assert!(e.contains(expect), "{words:?}: expected '{expect}' in: {e}");
        }
    }

    #[test]
    fn a_push_that_cannot_work_is_refused_before_the_recording() {
        let dir = scratch("push");
        let out = dir.join("p.json");
        let out = out.to_str().unwrap();
        let missing = dir.join("no-such-auth.json");
        for (push, extra, expect) in [
            ("Not A Reference!", None, "not a usable reference"),
            (
                "reg.example/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                None,
                "needs a tag",
            ),
            (
                "reg.example/a:b",
                Some(missing.to_str().unwrap()),
                "no-such-auth.json",
            ),
        ] {
            let mut words = vec!["-o", out, "--push", push];
            if let Some(file) = extra {
                words.extend(["--authfile", file]);
            }
            words.extend(["--", "true"]);
            let e = refused(&words);
            assert!(e.contains(expect), "{words:?}: expected '{expect}' in: {e}");
            assert!(e.contains("nothing was recorded"), "{e}");
        }
        assert!(!Path::new(out).exists());
    }

    #[test]
    fn the_default_action_is_resolved_once() {
        let action = |words: &[&str]| {
            let mut all = vec!["-o", "-"];
            all.extend(words);
            all.extend(["--", "true"]);
            plan(&all).default
        };
        assert_eq!(action(&[]), RECORDED_DEFAULT);
        assert_eq!(action(&[]), DefaultAction::Errno(38));
        // A bare errno is EPERM, as in every other subcommand.
        assert_eq!(
            action(&["--default-action", "errno"]),
            DefaultAction::Errno(1)
        );
        assert_eq!(action(&["--errno", "EACCES"]), DefaultAction::Errno(13));
        let both = ["--default-action", "errno", "--errno", "EACCES"];
        assert_eq!(action(&both), DefaultAction::Errno(13));
        assert_eq!(action(&["--default-action", "log"]), DefaultAction::Log);
    }

    #[test]
    fn appending_keeps_the_files_default_action_unless_one_is_given() {
        let dir = scratch("append");
        let base = dir.join("base.json");
        std::fs::write(
            &base,
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[]}"#,
        )
        .unwrap();
        let base = base.to_str().unwrap();
        let kept = plan(&["--append", base, "--", "true"]);
        assert_eq!(kept.default, DefaultAction::Errno(13));
        assert!(matches!(kept.output, Output::Append { base: Some(_), .. }));
        let given = plan(&["--append", base, "--default-action", "kill", "--", "true"]);
        assert_eq!(given.default, DefaultAction::KillProcess);
    }

    #[test]
    fn one_target_writes_a_file_and_several_a_directory() {
        let dir = scratch("outputs");
        let file = dir.join("p.json");
        let p = plan(&["-o", file.to_str().unwrap(), "--", "true"]);
        assert!(matches!(p.output, Output::File(ref f) if *f == file));
        assert!(matches!(
            plan(&["-o", "-", "--", "true"]).output,
            Output::Stdout
        ));
        let sub = dir.join("profiles");
        let words = ["-o", sub.to_str().unwrap(), "--pid", "1", "--", "true"];
        assert!(matches!(plan(&words).output, Output::Directory(ref d) if *d == sub));
        assert!(!sub.exists(), "the directory is made after the run");
    }
}
