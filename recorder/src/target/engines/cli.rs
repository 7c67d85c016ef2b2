//! `docker inspect` / `podman inspect`, for an engine whose state is not on this
//! filesystem where we look (a remote DOCKER_HOST, a data root nobody named).

use super::EngineRoots;
use crate::engine::Engine;
use crate::target::container::{Container, is_hex_id};
use std::path::Path;

/// How long an engine CLI may take to answer before it is ignored.
const CLI_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the engine CLIs said.
pub(crate) struct Inspected {
    pub(crate) found: Vec<Container>,
    /// The CLIs that did not answer within [`CLI_TIMEOUT`].
    pub(crate) silent: Vec<&'static str>,
}

/// `docker inspect` / `podman inspect` of `wanted`, for the CLIs in PATH.
pub(crate) fn inspect(wanted: &str) -> Inspected {
    // Go templates: the ID, the name and the image, separated by a character none contains.
    let clis = [
        (
            "docker",
            Engine::Docker,
            "{{.Id}}\t{{.Name}}\t{{.Config.Image}}",
        ),
        (
            "podman",
            Engine::Podman,
            "{{.Id}}\t{{.Name}}\t{{.ImageName}}",
        ),
    ];
    let mut out = Vec::new();
    let mut silent = Vec::new();
    for (cli, engine, format) in clis {
        // Podman would create its default storage just to answer: no storage, no containers.
        if engine == Engine::Podman && !Path::new(EngineRoots::DEFAULTS[1]).is_dir() {
            continue;
        }
        let text = match run_cli(
            cli,
            &["inspect", "--type", "container", "--format", format, wanted],
        ) {
            Answer::Text(text) => text,
            Answer::Silent => {
                silent.push(cli);
                continue;
            }
            Answer::Nothing => continue,
        };
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(id), name, image) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if !is_hex_id(id) {
                continue;
            }
            out.push(Container {
                engine: Some(engine),
                id: id.into(),
                name: name
                    .map(|n| n.trim_start_matches('/').to_string())
                    .filter(|n| !n.is_empty()),
                image: image.map(String::from).filter(|i| !i.is_empty()),
            });
        }
    }
    Inspected { found: out, silent }
}

/// `silent` as a clause for the error that no container matched.
pub(crate) fn unanswered(silent: &[&str]) -> String {
    if silent.is_empty() {
        return String::new();
    }
    format!(
        " ({} did not answer within {CLI_TIMEOUT:?})",
        silent.join(" and ")
    )
}

enum Answer {
    Text(String),
    /// Still running at the deadline (killed).
    Silent,
    /// Not installed, failed, or unreadable output.
    Nothing,
}

/// Runs an engine CLI if it is installed; its stdout on success within [`CLI_TIMEOUT`].
fn run_cli(cli: &str, args: &[&str]) -> Answer {
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new(cli)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Answer::Nothing;
    };
    let deadline = std::time::Instant::now() + CLI_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => break,
            Ok(Some(_)) | Err(_) => return Answer::Nothing,
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Answer::Silent;
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    let read = child
        .stdout
        .take()
        .map(|mut out| std::io::Read::read_to_string(&mut out, &mut text));
    match read {
        Some(Ok(_)) => Answer::Text(text),
        _ => Answer::Nothing,
    }
}
