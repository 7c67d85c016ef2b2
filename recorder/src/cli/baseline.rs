//! What `diff --against` and `default --runtime` name, read by clap before anything runs: a
//! built-in RuntimeDefault, or a profile file read with a runtime's loader and capabilities
//! (RUNTIME=FILE) or, for diff only, with Docker's loader and none (FILE).

use anyhow::Context;
use seccomp_recorder::engine::Engine;
use seccomp_recorder::linux::parse_kernel;
use seccomp_recorder::runtime_default::{RuntimeError, RuntimeSpec, host_kernel};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Against {
    /// A built-in release: `docker`, `crio@1.30`.
    Builtin(RuntimeSpec),
    /// A profile file and the engine whose loader and default capabilities apply to it.
    File {
        engine: Option<Engine>,
        path: PathBuf,
        /// As the user typed it, to label the report.
        label: String,
    },
}

impl Against {
    /// The clap value parser.
    pub fn parse(s: &str) -> Result<Against, String> {
        let builtin = s.parse::<RuntimeSpec>();
        if let Ok(spec) = builtin {
            return Ok(Against::Builtin(spec));
        }
        let (engine, file) = match s.split_once('=') {
            Some((name, file)) => {
                let spec = name.parse::<RuntimeSpec>().map_err(|e| e.to_string())?;
                (Some(spec.runtime), file)
            }
            None => (None, s),
        };
        let path = PathBuf::from(file);
        if !path.exists() {
            return Err(match builtin {
                Err(e @ RuntimeError::BadVersion(_)) => e.to_string(),
                _ if engine.is_some() => format!("{file}: no such file"),
                _ => format!(
                    "'{s}': not docker, containerd, podman or crio (optionally @VERSION), \
                     and no such file"
                ),
            });
        }
        Ok(Against::File {
            engine,
            path,
            label: s.to_string(),
        })
    }

    /// For `default --runtime`, which expands with a runtime's loader: a built-in release,
    /// or RUNTIME=FILE (a bare FILE names no loader).
    pub fn parse_with_runtime(s: &str) -> Result<Against, String> {
        if s.contains('=') {
            Against::parse(s)
        } else {
            s.parse().map(Against::Builtin).map_err(|e: RuntimeError| {
                format!("{e}; or give RUNTIME=FILE to expand a profile file")
            })
        }
    }
}

/// `--kernel X.Y`, the kernel the loaders see.
pub fn kernel(s: &str) -> Result<(u32, u32), String> {
    parse_kernel(s).ok_or_else(|| format!("'{s}' is not a version like 6.1"))
}

/// The `--kernel` given, else this machine's.
pub fn kernel_or_host(given: Option<(u32, u32)>) -> anyhow::Result<(u32, u32)> {
    match given {
        Some(k) => Ok(k),
        None => host_kernel().context("cannot read the kernel version from /proc; pass --kernel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_releases_and_files_are_told_apart() {
        let file = std::env::temp_dir().join(format!("against-{}.json", std::process::id()));
        std::fs::write(&file, "{}").unwrap();
        let f = file.to_str().unwrap();
        assert!(matches!(
            Against::parse("crio@1.30"),
            Ok(Against::Builtin(RuntimeSpec {
                runtime: Engine::Crio,
                version: Some(_)
            }))
        ));
        assert_eq!(
            Against::parse(&format!("podman={f}")),
            Ok(Against::File {
                engine: Some(Engine::Podman),
                path: file.clone(),
                label: format!("podman={f}"),
            })
        );
        assert!(matches!(
            Against::parse(f),
            Ok(Against::File { engine: None, .. })
        ));
        let missing = Against::parse("dockr").unwrap_err();
        assert!(missing.contains("no such file"), "{missing}");
        let version = Against::parse("docker@x").unwrap_err();
        assert!(version.contains("not a number"), "{version}");
        let runtime = Against::parse(&format!("nosuch={f}")).unwrap_err();
        assert!(runtime.contains("nosuch"), "{runtime}");
        let gone = Against::parse("crio=/no/such.json").unwrap_err();
        assert!(gone.contains("/no/such.json: no such file"), "{gone}");
        let bare = Against::parse_with_runtime(f).unwrap_err();
        assert!(bare.contains("RUNTIME=FILE"), "{bare}");
        assert!(Against::parse_with_runtime(&format!("podman={f}")).is_ok());
        assert!(Against::parse_with_runtime("docker@20.10").is_ok());
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn kernels_as_users_type_them() {
        assert_eq!(kernel("6.1"), Ok((6, 1)));
        assert!(kernel("six").unwrap_err().contains("'six'"));
    }
}
