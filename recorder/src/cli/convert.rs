use anyhow::{Context, bail};
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::SpoVersion;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a profile in another format: runtime-spec JSON (normalised) or a Security Profiles
/// Operator `SeccompProfile` resource (YAML).
///
/// The SeccompProfile resource has no `defaultErrnoRet`: the operator's runtime then
/// returns EPERM, so converting a profile whose default errno is another one warns.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  seccomp-recorder convert profile.json --to spo --name my-app -o profile.yaml
  kubectl apply -f profile.yaml
  seccomp-recorder convert profile.json --to spo --name my-app --api-version v1beta1
  seccomp-recorder convert old.json --to oci -o tidy.json")]
pub struct Args {
    /// The profile to convert (runtime-spec JSON).
    profile: PathBuf,
    /// Target format.
    #[arg(long, value_enum)]
    to: Target,
    /// Name of the SeccompProfile resource (a Kubernetes name); default: the file name.
    #[arg(long)]
    name: Option<String>,
    /// SPO API version: v1 (SPO >= 1.0) or v1beta1 (older operators).
    #[arg(long, value_enum, default_value_t = SpoVersion::V1)]
    api_version: SpoVersion,
    /// Where to write the result; `-` is stdout.
    #[arg(short, long, default_value = "-")]
    output: PathBuf,
    #[command(flatten)]
    log: super::refusals::LogFlag,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// runtime-spec JSON (what runc, crun, containerd, Docker and Podman read).
    Oci,
    /// Security Profiles Operator SeccompProfile resource.
    Spo,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::output::check_writable(&args.output)?;
    let mut profile = super::load_valid(&args.profile)?;
    args.log.apply(&mut profile);
    let text = match args.to {
        Target::Oci => profile.to_json(),
        Target::Spo => {
            let name = match &args.name {
                Some(n) => n.clone(),
                None => file_stem(&args.profile)?,
            };
            if let Some(errno) = profile.default_errno().filter(|e| *e != 1) {
                log::warn!(
                    "the SeccompProfile resource has no defaultErrnoRet: the default errno {errno} becomes EPERM"
                );
            }
            profile
                .to_spo_yaml(&name, args.api_version)
                .map_err(anyhow::Error::msg)?
        }
    };
    write_atomic(&args.output, text.as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn file_stem(path: &std::path::Path) -> anyhow::Result<String> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if name.is_empty() {
        bail!(
            "cannot make a resource name from {}: pass --name",
            path.display()
        );
    }
    Ok(name)
}
