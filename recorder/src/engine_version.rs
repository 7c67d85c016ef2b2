//! Which version of an engine is installed here, from the engine's own binaries and the
//! package that ships the profile it loads.

use crate::engine::Engine;
use crate::version::Version;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An installed engine's version and how it was found.
#[derive(Debug, PartialEq, Eq)]
pub struct Installed {
    pub version: Version,
    /// The command that told, e.g. `dockerd --version`.
    pub how: String,
    /// What it printed (first line), for the user to check.
    pub text: String,
}

/// The version of the part of `engine` that picks the default profile: the daemon for
/// Docker (the `docker` client may be another version), the containers-common package for
/// Podman (podman loads its `seccomp.json`; without the package, podman's own release, whose
/// built-in default is the containers/common it vendors), the daemon for containerd and CRI-O.
pub fn installed(engine: Engine) -> Option<Installed> {
    match engine {
        Engine::Docker => from_command("dockerd", &["--version"]),
        Engine::Containerd => from_command("containerd", &["--version"]),
        Engine::Crio => from_command("crio", &["--version"]),
        Engine::Podman => {
            containers_common_package().or_else(|| from_command("podman", &["--version"]))
        }
    }
}

/// Debian and Ubuntu name the package golang-github-containers-common; Fedora and
/// openSUSE containers-common. Only 0.x versions are containers/common's own numbering
/// (some distributions number their package differently).
fn containers_common_package() -> Option<Installed> {
    // dpkg remembers removed packages: only "installed" counts.
    let dpkg = |package: &str| {
        let i = from_command(
            "dpkg-query",
            &[
                "--showformat=${db:Status-Status} ${Version}",
                "--show",
                package,
            ],
        )?;
        let version = i.text.strip_prefix("installed ")?.to_string();
        Some(Installed {
            how: format!("dpkg package {package}"),
            text: version,
            ..i
        })
    };
    let rpm = || {
        let i = from_command(
            "rpm",
            &["--query", "--queryformat=%{VERSION}", "containers-common"],
        )?;
        Some(Installed {
            how: "rpm package containers-common".into(),
            ..i
        })
    };
    dpkg("golang-github-containers-common")
        .or_else(|| dpkg("containers-common"))
        .or_else(rpm)
        .filter(|i| i.version.to_string().starts_with("0."))
}

/// Runs `program args` (if installed) and takes the first version-like word it prints.
fn from_command(program: &str, args: &[&str]) -> Option<Installed> {
    let path = find_program(program)?;
    let out = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .find_map(|w| Version::parse(w.trim_end_matches(',')))?;
    Some(Installed {
        version,
        how: format!("{program} {}", args.join(" ")),
        text: text.lines().next().unwrap_or_default().trim().to_string(),
    })
}

/// Daemons live in sbin, which a non-root PATH often lacks.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
