//! The runtimes' RuntimeDefault seccomp profiles of each release, built in as data (see
//! `data/runtime-defaults/README.md` and `SOURCES`), which release a name means, and (in
//! [`expand`]) the loader logic that expands a template for one host: architecture,
//! container capabilities and kernel version.

mod expand;
#[cfg(test)]
mod tests;

pub use expand::{Host, Loader, expand, host_kernel, host_native, native_for, parse_cap};

use crate::engine::Engine;
use crate::engine_version::Installed;
use crate::profile::Profile;
use crate::version::Version;
use std::collections::BTreeSet;
use std::sync::OnceLock;

const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const PODMAN_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

const CRIO_CAPS: [&str; 9] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_KILL",
];

impl Engine {
    /// The built-in releases, oldest first.
    pub(crate) fn releases(self) -> impl Iterator<Item = &'static Release> {
        all_releases().iter().filter(move |r| r.runtime == self)
    }

    pub(crate) fn newest(self) -> &'static Release {
        self.releases()
            .last()
            .unwrap_or_else(|| panic!("SOURCES lists no {} release", self.name()))
    }

    /// The capabilities a container of this engine gets by default.
    pub fn default_caps(self) -> BTreeSet<String> {
        let caps: &[&str] = match self {
            Engine::Docker | Engine::Containerd => &DOCKER_CAPS,
            Engine::Podman => &PODMAN_CAPS,
            Engine::Crio => &CRIO_CAPS,
        };
        caps.iter().map(|c| c.to_string()).collect()
    }

    /// Whose template rules this engine's loader applies.
    pub fn loader(self) -> Loader {
        match self {
            Engine::Docker | Engine::Containerd => Loader::Moby,
            Engine::Podman | Engine::Crio => Loader::Common,
        }
    }
}

/// The profile files, by name, built in from `data/runtime-defaults` (see build.rs).
const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/runtime_defaults.rs"));
const SOURCES: &str = include_str!("../../data/runtime-defaults/SOURCES");

/// One engine release and the RuntimeDefault it ships.
#[derive(Debug, PartialEq, Eq)]
pub struct Release {
    pub(crate) runtime: Engine,
    pub(crate) version: Version,
    /// Where the profile comes from: repository, tag and path.
    pub(crate) source: String,
    data: &'static str,
}

impl Release {
    /// `docker@20.10.24`.
    pub(crate) fn name(&self) -> String {
        format!("{}@{}", self.runtime.name(), self.version)
    }

    /// Podman is named by its own release (3.0 on) or by that of containers-common (0.x),
    /// whose `seccomp.json` it loads: a version is compared only with its own kind.
    fn numbered_like(&self, v: &Version) -> bool {
        self.runtime != Engine::Podman || (self.version.major() == 0) == (v.major() == 0)
    }

    /// The profile template, unexpanded.
    pub fn template(&self) -> Profile {
        Profile::parse(self.data.as_bytes()).unwrap_or_else(|(field, e)| {
            panic!("built-in {} profile is broken at {field}: {e}", self.name())
        })
    }
}

fn all_releases() -> &'static [Release] {
    static RELEASES: OnceLock<Vec<Release>> = OnceLock::new();
    RELEASES.get_or_init(|| {
        let mut releases: Vec<Release> = SOURCES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(parse_source_line)
            .collect();
        releases.sort_by(|a, b| (a.runtime, &a.version).cmp(&(b.runtime, &b.version)));
        releases
    })
}

/// `engine version file how repo tag commit path blob ...`: the data is checked by this
/// crate's tests, so a broken line is a build defect, not input.
fn parse_source_line(line: &str) -> Release {
    let f: Vec<&str> = line.split_whitespace().collect();
    let broken = || panic!("broken SOURCES line: {line}");
    let (Some(runtime), Some(version), Some(data)) = (
        f.first().and_then(|n| Engine::from_name(n)),
        f.get(1).and_then(|v| Version::parse(v)),
        f.get(2)
            .and_then(|name| FILES.iter().find(|(n, _)| n == name))
            .map(|(_, d)| *d),
    ) else {
        broken()
    };
    if f.len() < 9 {
        broken()
    }
    Release {
        runtime,
        version,
        source: format!("{} {} {}", f[4], f[5], f[7]),
        data,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeError {
    #[error(
        "'{0}' is not docker, containerd, podman or crio (optionally @VERSION, e.g. docker@20.10)"
    )]
    Unknown(String),
    #[error("'{0}': the version after @ is not a number like 20.10 or 1.7.3")]
    BadVersion(String),
    #[error("'{asked}' is older than every built-in {} profile (the oldest is {oldest})", .runtime.name())]
    TooOld {
        asked: String,
        runtime: Engine,
        oldest: String,
    },
}

/// A runtime as users name it: `docker`, or one release (series) of it, `docker@20.10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSpec {
    pub runtime: Engine,
    pub version: Option<Version>,
}

impl std::str::FromStr for RuntimeSpec {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<RuntimeSpec, RuntimeError> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let runtime = Engine::from_name(name).ok_or_else(|| RuntimeError::Unknown(s.into()))?;
        let version = version
            .map(|v| Version::parse(v).ok_or_else(|| RuntimeError::BadVersion(s.into())))
            .transpose()?;
        Ok(RuntimeSpec { runtime, version })
    }
}

/// The release a spec names: the newest of its series, else the nearest older one (with a
/// note saying so); without a version, the `installed` engine's, else the newest built in.
/// Notes are for stderr.
pub fn resolve(
    spec: &RuntimeSpec,
    installed: Option<&Installed>,
) -> Result<(&'static Release, Vec<String>), RuntimeError> {
    let r = spec.runtime;
    if let Some(v) = &spec.version {
        return nearest(r, v).map(|(rel, note)| (rel, note.into_iter().collect()));
    }
    let Some(found) = installed else {
        let rel = r.newest();
        let note = format!(
            "{r}: no installed {r} engine found; using the newest built-in, {} \
             (name a version with {r}@VERSION)",
            rel.name(),
        );
        return Ok((rel, vec![note]));
    };
    let (rel, note) = nearest(r, &found.version).unwrap_or_else(|_| {
        let oldest = r.releases().next().expect("SOURCES lists every runtime");
        let note = format!(
            "{r} {} is older than every built-in profile; using the oldest, {}",
            found.version,
            oldest.name()
        );
        (oldest, Some(note))
    });
    let mut notes = vec![format!(
        "{r}: using {}, the installed engine's ({}: {})",
        rel.name(),
        found.how,
        found.text
    )];
    notes.extend(note);
    Ok((rel, notes))
}

/// [`resolve`] with the engine installed here, looked for only when the spec names no
/// version.
pub fn resolve_here(spec: &RuntimeSpec) -> Result<(&'static Release, Vec<String>), RuntimeError> {
    let installed = match spec.version {
        Some(_) => None,
        None => crate::engine_version::installed(spec.runtime),
    };
    resolve(spec, installed.as_ref())
}

fn nearest(r: Engine, asked: &Version) -> Result<(&'static Release, Option<String>), RuntimeError> {
    let candidates = || r.releases().filter(|rel| rel.numbered_like(asked));
    if let Some(rel) = candidates().filter(|rel| rel.version.within(asked)).last() {
        return Ok((rel, None));
    }
    let asked_name = format!("{}@{asked}", r.name());
    match candidates().filter(|rel| &rel.version < asked).last() {
        Some(rel) => {
            let note = format!(
                "{asked_name} is not a release with a built-in profile; using the nearest older, {}",
                rel.name()
            );
            Ok((rel, Some(note)))
        }
        None => Err(RuntimeError::TooOld {
            asked: asked_name,
            runtime: r,
            oldest: candidates().next().map(Release::name).unwrap_or_default(),
        }),
    }
}
