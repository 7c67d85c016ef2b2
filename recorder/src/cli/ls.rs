use anyhow::Context;
use seccomp_recorder::fleet::ls::{Entry, list};
use seccomp_recorder::oci::Repository;
use std::process::ExitCode;

/// List the workloads' profiles that `agent --push REPO` keeps in a registry, with their
/// provenance: the fleet view to review before enforcing.
///
/// One row per namespace / workload / container: whether it is stable (enough from-birth
/// runs in a row added no call: agent --stable-after), those runs, the containers
/// recorded from birth and those that joined late, the nodes and images it was recorded
/// on, the calls it allows, and the digest reference to enforce.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  seccomp-recorder ls registry.example/team/seccomp
  seccomp-recorder ls registry.example/team/seccomp --format json | jq '.[] | select(.status.stable)'")]
pub struct Args {
    /// The repository the agents push to (REGISTRY/NAME, no tag).
    #[arg(value_name = "REPO")]
    repo: String,
    /// table or json.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    registry: super::oci::RegistryArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let access = super::oci::access(&args.registry)?;
    let repo = Repository::open(&args.repo, &access)?;
    repo.notes.iter().for_each(|n| log::info!("{n}"));
    let entries = list(&repo).with_context(|| format!("cannot list {}", args.repo))?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
        Format::Table => print!("{}", table(&entries)),
    }
    Ok(ExitCode::SUCCESS)
}

const HEADER: [&str; 9] = [
    "WORKLOAD",
    "CONTAINER",
    "STABLE",
    "QUIET RUNS",
    "BIRTH/LATE",
    "NODES",
    "IMAGES",
    "CALLS",
    "REFERENCE",
];

fn row(e: &Entry) -> [String; 9] {
    let workload = format!("{}/{}", e.namespace, e.workload);
    let container = match &e.image {
        Some(i) => format!("{}@{i}", e.container),
        None => e.container.clone(),
    };
    let [stable, runs, counts, nodes, images] = match &e.status {
        None => ["unknown", "-", "-", "-", "-"].map(String::from),
        Some(s) => {
            let p = &s.provenance;
            let list = |set: &std::collections::BTreeSet<String>| {
                set.iter().cloned().collect::<Vec<_>>().join(",")
            };
            [
                if s.stable { "yes" } else { "no" }.to_string(),
                format!("{}/{}", p.quiet_runs, s.stable_after),
                format!("{}/{}", p.containers_from_birth, p.containers_joined_late),
                list(&p.nodes),
                list(&p.images),
            ]
        }
    };
    [
        workload,
        container,
        stable,
        runs,
        counts,
        nodes,
        images,
        e.calls.to_string(),
        e.reference.clone(),
    ]
}

fn table(entries: &[Entry]) -> String {
    let rows: Vec<[String; 9]> = std::iter::once(HEADER.map(String::from))
        .chain(entries.iter().map(row))
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
