use super::baseline::Against;
use anyhow::{Context, bail};
use seccomp_recorder::diff::{Baseline, Report, diff, render_text};
use seccomp_recorder::engine::Engine;
use seccomp_recorder::profile::Profile;
use seccomp_recorder::runtime_default::{Loader, RuntimeSpec, parse_cap, resolve_here};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compare a profile with RuntimeDefault: what the workload would lose under the runtime's
/// default seccomp profile, and how much attack surface the profile removes.
///
/// For each architecture of the profile: (a) recorded calls RuntimeDefault would refuse and
/// the errno the workload would see, (b) calls it allows only for some arguments or only
/// thanks to a default capability, (c) calls RuntimeDefault allows that the profile removes,
/// with count and percentage, (d) the notable ones among them.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  seccomp-recorder diff profile.json                       # against all four built-ins
  seccomp-recorder diff profile.json --against docker           # the installed release
  seccomp-recorder diff profile.json --against docker@20.10
  seccomp-recorder diff profile.json --against crio --caps CAP_NET_ADMIN --format json
  seccomp-recorder diff profile.json --against podman=/usr/share/containers/seccomp.json
  seccomp-recorder diff profile.json --against ./custom.json --caps SYS_ADMIN
  seccomp-recorder diff profile.json --against podman --check   # exit 1 if anything breaks

Built-ins: each release's own default profile of docker (20.10 on), containerd, podman
(by containers-common release, 0.33 on) and crio (1.24 on). A bare name means the installed
engine's release (else the newest), RUNTIME@VERSION one release or series; stderr says which
was used. Each is evaluated the way its loader does for this kernel and the runtime's
default capabilities (Docker/containerd 14, Podman 11, CRI-O 9).")]
pub struct Args {
    /// The profile to check (runtime-spec JSON, e.g. written by `seccomp-recorder record`).
    profile: PathBuf,
    /// What to compare with: docker, containerd, podman, crio (the installed release, else
    /// the newest built in) or one release, e.g. docker@20.10; a profile FILE (plain or a
    /// Docker/containers-common template, no capabilities by default); or RUNTIME=FILE, another
    /// profile read with that runtime's loader and default capabilities.
    /// Repeat for several; default: the four runtimes.
    #[arg(long, value_name = "RUNTIME[@VERSION]|FILE|RUNTIME=FILE", value_parser = Against::parse)]
    against: Vec<Against>,
    /// Capabilities the container gets on top of the runtime's defaults (a FILE baseline has
    /// none by default). Repeat or separate with commas: CAP_NET_ADMIN, net_admin.
    #[arg(long, value_delimiter = ',', value_parser = parse_cap)]
    caps: Vec<String>,
    /// Start from no capabilities instead of the runtime's default set.
    #[arg(long)]
    no_default_caps: bool,
    /// The kernel version the loaders see (major.minor); default: this machine's.
    #[arg(long, value_name = "X.Y", value_parser = super::baseline::kernel)]
    kernel: Option<(u32, u32)>,
    /// text (coloured on a terminal) or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with status 1 when RuntimeDefault would block a call the profile allows.
    #[arg(long)]
    check: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let profile = super::load_valid(&args.profile)?;
    for note in seccomp_recorder::profile::flags::notes_here(&profile) {
        log::warn!("{}: {note}", args.profile.display());
    }
    if profile.is_template() {
        bail!(
            "{} is a template (archMap/includes/excludes): diff compares a plain profile; expand it \
             with `seccomp-recorder default` or pass it as --against",
            args.profile.display()
        );
    }
    let kernel = super::baseline::kernel_or_host(args.kernel)?;
    let against = if args.against.is_empty() {
        Engine::ALL
            .map(|runtime| {
                Against::Builtin(RuntimeSpec {
                    runtime,
                    version: None,
                })
            })
            .to_vec()
    } else {
        args.against.clone()
    };
    let reports: Vec<Report> = against
        .iter()
        .map(|a| baseline(a, &args, kernel).map(|b| diff(&profile, &b)))
        .collect::<anyhow::Result<_>>()?;
    let blocked = reports
        .iter()
        .flat_map(|r| &r.arches)
        .any(|a| !a.would_be_blocked.is_empty());
    let text = match args.format {
        Format::Json => {
            let doc = serde_json::json!({ "profile": args.profile.display().to_string(), "against": reports });
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        Format::Text => {
            let colour = std::io::stdout().is_terminal();
            render_text(&args.profile.display().to_string(), &reports, colour)
        }
    };
    seccomp_recorder::output::write_atomic(std::path::Path::new("-"), text.as_bytes())?;
    Ok(if args.check && blocked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn baseline(against: &Against, args: &Args, kernel: (u32, u32)) -> anyhow::Result<Baseline> {
    let (label, template, loader, defaults) = match against {
        Against::Builtin(spec) => {
            let (release, notes) = resolve_here(spec).context("--against")?;
            for n in notes {
                eprintln!("seccomp-recorder: {n}");
            }
            let b = Baseline::runtime_default(release, kernel);
            (b.label, b.template, b.loader, b.caps)
        }
        // Another version of a runtime's profile, with that runtime's loader and caps; a
        // bare file gets Docker's loader and no capabilities.
        Against::File {
            engine,
            path,
            label,
        } => {
            let (loader, defaults) = engine.map_or((Loader::Moby, BTreeSet::new()), |e| {
                (e.loader(), e.default_caps())
            });
            (label.clone(), super::load_valid(path)?, loader, defaults)
        }
    };
    Ok(with_caps(label, template, loader, defaults, args, kernel))
}

fn with_caps(
    label: String,
    template: Profile,
    loader: Loader,
    defaults: BTreeSet<String>,
    args: &Args,
    kernel: (u32, u32),
) -> Baseline {
    let mut caps = if args.no_default_caps {
        BTreeSet::new()
    } else {
        defaults
    };
    caps.extend(args.caps.iter().cloned());
    Baseline {
        label,
        template,
        loader,
        caps,
        kernel,
    }
}
