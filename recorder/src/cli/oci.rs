use anyhow::{Context, bail};
use seccomp_recorder::diff::Baseline;
use seccomp_recorder::engine::Engine;
use seccomp_recorder::kep6061;
use seccomp_recorder::oci::{self, Access, Credentials};
use seccomp_recorder::output::write_atomic;
use seccomp_recorder::profile::Profile;
use seccomp_recorder::runtime_default::{RuntimeSpec, host_kernel, resolve_here};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const PUSH_EXAMPLES: &str = "\
Examples:
  seccomp-recorder push profile.json registry.example/team/app-seccomp:v1
  seccomp-recorder push profile.json 127.0.0.1:5000/team/app-seccomp:v1
  echo \"$TOKEN\" | seccomp-recorder push --username ci --password-stdin \\
      profile.json registry.example/team/app-seccomp:v1
  seccomp-recorder push --subject registry.example/team/app@sha256:... \\
      profile.json registry.example/team/app:v1-seccomp
  seccomp-recorder push --ca-file /etc/pki/harbor-ca.pem \\
      profile.json harbor.corp.example/team/app-seccomp:v1

The artifact is what CRI-O (annotation seccomp-profile.kubernetes.cri-o.io) and Kubernetes'
OCI seccomp profiles pull: one layer holding the profile JSON, config media type and
artifactType application/vnd.cncf.seccomp-profile.config.v1+json. Pin it by digest in pods.
Before pushing, warns (stderr) about what a KEP-6061 runtime would change: recorded calls the
node's RuntimeDefault refuses (the runtime intersects the two) and artifact limits.
Credentials: --username with --password-stdin, else --authfile, else REGISTRY_USERNAME/
REGISTRY_PASSWORD, else $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json
(podman login), else ~/.docker/config.json (docker login). HTTPS unless the registry is on
loopback or --insecure is given; the registry's certificate must chain to the system's CA
certificates (SSL_CERT_FILE or SSL_CERT_DIR replace them) or to a --ca-file. See docs/oci.md.";

const PULL_EXAMPLES: &str = "\
Examples:
  seccomp-recorder pull registry.example/team/app-seccomp:v1 -o profile.json
  seccomp-recorder pull registry.example/team/app-seccomp@sha256:... -o profile.json
  seccomp-recorder pull 127.0.0.1:5000/team/app-seccomp:v1 | jq .syscalls
  seccomp-recorder pull --ca-file /etc/pki/harbor-ca.pem harbor.corp.example/team/app-seccomp:v1

Reads the artifacts `push` writes, those pushed with ORAS for CRI-O, and Security Profiles
Operator artifacts (spoc push). An image index resolves to this host's linux platform.
Digests of the manifest and the layer are verified, and the content must be a seccomp
profile of at most 1 MiB; nothing is written otherwise.";

/// Registry access, shared by push, pull and `record --push`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RegistryArgs {
    /// User name for the registry; the password comes from --password-stdin or
    /// REGISTRY_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,
    /// Read the registry password (or token) from standard input; it is never printed.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Take credentials from this Docker/Podman auth file ({"auths": {...}}), as written
    /// by `docker login` or `podman login --authfile`.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Use plain HTTP for a registry that is not on loopback (loopback registries always
    /// use plain HTTP).
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates (PEM) in this file for the registry's HTTPS
    /// certificate, on top of the system's (a private CA: Harbor, Artifactory, a
    /// cluster-local registry). Repeat for more files.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
}

/// The KEP-6061 warnings before a push, shared by push and `record --push`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Kep6061Args {
    /// The node baseline a KEP-6061 runtime (Kubernetes `seccompProfile: {type: OCI}`)
    /// intersects the profile with, for the warnings before the push: docker, containerd,
    /// podman, crio, optionally @VERSION (containerd@1.7). Repeat or separate with commas;
    /// default: containerd and crio, the installed engine's release else the newest.
    #[arg(
        long = "baseline",
        value_delimiter = ',',
        value_name = "RUNTIME[@VERSION]"
    )]
    pub baselines: Vec<RuntimeSpec>,
}

/// Push a seccomp profile to an OCI registry as an artifact CRI-O and Kubernetes can pull.
///
/// Prints the manifest digest (sha256:...) on stdout.
#[derive(clap::Args)]
#[command(after_help = PUSH_EXAMPLES)]
pub struct PushArgs {
    /// The profile: runtime-spec seccomp JSON, at most 1 MiB.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to push: REGISTRY/REPOSITORY:TAG.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Attach the profile to this image (it must be in the same repository): the artifact's
    /// `subject` points at it, and it is listed under the referrers tag sha256-<hex>.
    #[arg(long, value_name = "IMAGE_REF")]
    pub subject: Option<String>,
    /// Push even if the profile is not one runtimes can load (see `validate`).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub kep6061: Kep6061Args,
}

/// Pull a seccomp profile from an OCI registry and write it as runtime-spec JSON.
#[derive(clap::Args)]
#[command(after_help = PULL_EXAMPLES)]
pub struct PullArgs {
    /// What to pull: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Where to write the profile ('-' for stdout); replaced atomically.
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// Write the profile even if it is not one runtimes can load (see `validate`).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let plan = PushPlan::new(
        &args.reference,
        args.subject.as_deref(),
        &args.registry,
        &args.kep6061,
    )?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    check_loadable(&bytes, &args.file.display().to_string(), args.force)?;
    let digest = plan.push_bytes(&bytes, &args.file)?;
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

pub fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    super::output::check_writable(&args.output)?;
    let access = access(&args.registry)?;
    let pulled = oci::pull(&args.reference, &access)
        .with_context(|| format!("cannot pull {}", args.reference))?;
    for note in &pulled.notes {
        log::info!("{note}");
    }
    check_loadable(&pulled.profile, &args.reference, args.force)?;
    write_atomic(&args.output, &pulled.profile)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    log::info!(
        "pulled {} ({}) into {}",
        args.reference,
        pulled.digest,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses, unless forced, a profile runtimes would refuse: publishing one only moves the
/// failure to every node that pulls it.
fn check_loadable(bytes: &[u8], name: &str, force: bool) -> anyhow::Result<()> {
    // What is too big or does not parse is refused by push and pull themselves.
    let too_big = bytes.len() as u64 > oci::artifact::MAX_PROFILE_BYTES;
    let Some(profile) = Profile::parse(bytes).ok().filter(|_| !too_big) else {
        return Ok(());
    };
    let mut errors: Vec<String> = profile
        .validate()
        .into_iter()
        .filter(|i| i.error)
        .map(|i| i.to_string())
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    const SHOWN: usize = 3;
    if errors.len() > SHOWN {
        let more = errors.len() - SHOWN;
        errors.truncate(SHOWN);
        errors.push(format!(
            "{more} more (seccomp-recorder validate lists them)"
        ));
    }
    if force {
        log::warn!(
            "{name}: not loadable, going on (--force): {}",
            errors.join("; ")
        );
        return Ok(());
    }
    bail!(
        "{name} is not a profile runtimes can load: {} (--force to go on anyway)",
        errors.join("; ")
    )
}

/// A push, whole before anything is read or recorded: where it goes and with which
/// credentials (a bad reference or a missing password is refused now, not after a long
/// recording), and the RuntimeDefaults to warn against.
pub struct PushPlan {
    reference: String,
    subject: Option<String>,
    destination: oci::Destination,
    baselines: Vec<Baseline>,
    /// For the retry command a failed push prints.
    registry: RegistryArgs,
}

impl PushPlan {
    pub fn new(
        reference: &str,
        subject: Option<&str>,
        registry: &RegistryArgs,
        kep6061: &Kep6061Args,
    ) -> anyhow::Result<PushPlan> {
        let access = access(registry)?;
        let destination = oci::Destination::new(reference, subject, &access)?;
        let baselines = match host_kernel() {
            Some(kernel) => baselines(&kep6061.baselines, kernel),
            None => {
                log::warn!("cannot read the kernel version: no KEP-6061 baseline check");
                Vec::new()
            }
        };
        Ok(PushPlan {
            reference: reference.to_string(),
            subject: subject.map(str::to_string),
            destination,
            baselines,
            registry: registry.clone(),
        })
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Pushes the profile at `path` and returns the manifest digest; for `record --push`,
    /// after the profile is on disk.
    pub fn push_file(&self, path: &Path) -> anyhow::Result<String> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.push_bytes(&bytes, path)
    }

    /// Pushes `bytes`, read from `path`. Errors say how to retry.
    fn push_bytes(&self, bytes: &[u8], path: &Path) -> anyhow::Result<String> {
        let p = path.display().to_string();
        warn_kep6061(bytes, &p, &self.baselines);
        let reference = &self.reference;
        let pushed = oci::push_to(bytes, &p, &self.destination).map_err(|e| {
            let retry = if e.is_remote() {
                let again = retry_command(path, reference, self.subject.as_deref(), &self.registry);
                format!("; {p} is unchanged, retry with `{again}`")
            } else {
                String::new()
            };
            anyhow::Error::new(e).context(format!("cannot push {p} to {reference}{retry}"))
        })?;
        log::info!("pushed {reference} ({})", pushed.digest);
        for note in &pushed.notes {
            log::info!("{note}");
        }
        Ok(pushed.digest)
    }
}

/// Says on stderr what a KEP-6061 runtime would change; a profile that does not parse is
/// left to the push, which refuses it with the reason.
fn warn_kep6061(bytes: &[u8], what: &str, baselines: &[Baseline]) {
    let Ok(profile) = Profile::parse(bytes) else {
        return;
    };
    if profile.is_template() {
        log::warn!(
            "{what}: KEP-6061 runtimes read plain runtime-spec profiles, and this is a template \
             (archMap/includes/excludes); expand it with `seccomp-recorder default` first"
        );
        return;
    }
    for w in kep6061::check(&profile, bytes.len() as u64, baselines) {
        log::warn!("{what}: {w}");
    }
}

/// The RuntimeDefaults the specs name; one that names no built-in release is skipped with
/// a warning, since the push itself does not depend on it.
fn baselines(specs: &[RuntimeSpec], kernel: (u32, u32)) -> Vec<Baseline> {
    let defaults = [Engine::Containerd, Engine::Crio].map(|runtime| RuntimeSpec {
        runtime,
        version: None,
    });
    let specs = if specs.is_empty() {
        &defaults[..]
    } else {
        specs
    };
    let mut out = Vec::new();
    for spec in specs {
        match resolve_here(spec) {
            Ok((release, notes)) => {
                notes.iter().for_each(|n| log::info!("{n}"));
                out.push(Baseline::runtime_default(release, kernel));
            }
            Err(e) => log::warn!("--baseline {e}: no KEP-6061 check against it"),
        }
    }
    out
}

/// The same push as a command line, secrets left out (stdin is read again).
fn retry_command(
    path: &Path,
    reference: &str,
    subject: Option<&str>,
    registry: &RegistryArgs,
) -> String {
    let mut words = vec!["seccomp-recorder".to_string(), "push".to_string()];
    if let Some(user) = &registry.username {
        words.extend(["--username".to_string(), quote(user)]);
    }
    if registry.password_stdin {
        words.push("--password-stdin".to_string());
    }
    if let Some(file) = &registry.authfile {
        words.extend(["--authfile".to_string(), quote(&file.display().to_string())]);
    }
    if registry.insecure {
        words.push("--insecure".to_string());
    }
    for file in &registry.ca_file {
        words.extend(["--ca-file".to_string(), quote(&file.display().to_string())]);
    }
    if let Some(s) = subject {
        words.extend(["--subject".to_string(), quote(s)]);
    }
    words.extend([quote(&path.display().to_string()), quote(reference)]);
    words.join(" ")
}

/// Single-quotes a word for the shell when it needs it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub fn access(args: &RegistryArgs) -> anyhow::Result<Access> {
    let explicit = match &args.username {
        None => None,
        Some(user) => Some(Credentials::basic(
            user,
            &password(args.password_stdin)?,
            "--username",
        )),
    };
    Ok(Access {
        explicit,
        authfile: args.authfile.clone(),
        insecure: args.insecure,
        ca: oci::CaFiles::load(&args.ca_file)?,
    })
}

fn password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        return std::env::var("REGISTRY_PASSWORD").context(
            "--username needs a password: pass --password-stdin or set REGISTRY_PASSWORD",
        );
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the password from stdin")?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("--password-stdin: standard input held no password");
    }
    Ok(password.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(reference: &str, subject: Option<&str>) -> anyhow::Result<PushPlan> {
        let registry = RegistryArgs {
            authfile: Some(
                std::env::temp_dir().join(format!("push-plan-{}-none.json", std::process::id())),
            ),
            ..RegistryArgs::default()
        };
        PushPlan::new(reference, subject, &registry, &Kep6061Args::default())
    }

    #[test]
    fn a_push_that_cannot_work_is_refused_before_the_file_is_read() {
        let refused = |reference: &str, subject: Option<&str>| match plan(reference, subject) {
            Ok(_) => panic!("{reference} {subject:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        let e = refused(
            "reg.example/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            None,
        );
        assert!(e.contains("needs a tag"), "{e}");
        let e = refused("reg.example/team/app:v1", Some("reg.example/other/app:v1"));
        assert!(e.contains("must be in the profile's repository"), "{e}");
        // Only then are credentials looked at: here an --authfile that does not exist.
        let e = refused("reg.example/team/app:v1", Some("reg.example/team/app:v0"));
        assert!(e.contains("cannot open it"), "{e}");
    }

    #[test]
    fn the_retry_command_repeats_the_flags_and_never_a_secret() {
        let registry = RegistryArgs {
            username: Some("ci user".into()),
            password_stdin: true,
            authfile: None,
            insecure: true,
            ca_file: vec!["/etc/my ca.pem".into()],
        };
        let again = retry_command(
            Path::new("my profile.json"),
            "reg.example/team/app:v1",
            Some("reg.example/team/app:v0"),
            &registry,
        );
        assert_eq!(
            again,
            "seccomp-recorder push --username 'ci user' --password-stdin --insecure \
             --ca-file '/etc/my ca.pem' --subject reg.example/team/app:v0 'my profile.json' reg.example/team/app:v1"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
