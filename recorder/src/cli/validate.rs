use seccomp_recorder::profile::{Profile, flags};
use std::path::PathBuf;
use std::process::ExitCode;

/// Check profiles the way runtimes read them: unknown actions, architectures, operators,
/// flags, capabilities and syscall names, each reported with its field path.
///
/// Errors (exit status 1) are what runc, crun, containerd, Docker or Podman would refuse or
/// misread; warnings are accepted by runtimes but probably not meant (a syscall name that
/// does not exist on the listed architectures, an unknown field).
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  seccomp-recorder validate profile.json
  seccomp-recorder validate /usr/share/containers/seccomp.json other.json

Output, one line per problem:
  profile.json: error: syscalls[2].args[0].op: unknown operator 'SCMP_CMP_EQUAL' (known: ...)")]
pub struct Args {
    /// Profiles to check (runtime-spec JSON or Docker/containers-common templates).
    #[arg(required = true)]
    profiles: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in &args.profiles {
        let shown = path.display();
        let profile = match Profile::load(path) {
            Ok(p) => p,
            Err(e) => {
                // The cause (the OS error) is the error's source.
                println!("{:#}", anyhow::Error::from(e));
                failed = true;
                continue;
            }
        };
        let issues = profile.validate();
        for issue in &issues {
            println!("{shown}: {issue}");
        }
        // Which runtimes here honour the profile's flags, before one refuses it.
        for note in flags::notes_here(&profile) {
            println!("{shown}: {note}");
        }
        let errors = issues.iter().filter(|i| i.error).count();
        failed |= errors > 0;
        if errors == 0 {
            println!("{shown}: valid ({} warnings)", issues.len());
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
