//! Where registry credentials come from, in the order a user expects: what the command
//! line says (values, then an auth file), then the environment, then the Podman and Docker
//! login files. Secrets never appear in messages: only where they came from does.

use super::OciError;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use std::path::{Path, PathBuf};

/// A username and password, or nothing (anonymous access).
#[derive(Clone, Default)]
pub struct Credentials {
    pub(crate) basic: Option<(String, String)>,
    /// Where they came from, for messages ("--username", "REGISTRY_USERNAME", a file).
    pub(crate) source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.basic.as_ref().map(|(u, _)| u.as_str());
        write!(
            f,
            "Credentials {{ user: {user:?}, password: <hidden>, source: {:?} }}",
            self.source
        )
    }
}

impl Credentials {
    pub(crate) fn anonymous() -> Credentials {
        Credentials {
            basic: None,
            source: "no credentials".to_string(),
        }
    }

    pub fn basic(user: &str, password: &str, source: &str) -> Credentials {
        Credentials {
            basic: Some((user.to_string(), password.to_string())),
            source: source.to_string(),
        }
    }
}

/// What the caller knows about access to a registry.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// From `--username` and `--password-stdin`; wins over everything else.
    pub explicit: Option<Credentials>,
    /// An auth file in Docker/Podman format given by the user (`--authfile`).
    pub authfile: Option<PathBuf>,
    /// Allow plain HTTP to a registry that is not on loopback.
    pub insecure: bool,
}

/// The credentials for `registry` (host[:port]), and notes on what was skipped on the way.
pub(crate) fn resolve(
    access: &Access,
    registry: &str,
) -> Result<(Credentials, Vec<String>), OciError> {
    let mut notes = Vec::new();
    if let Some(c) = &access.explicit {
        return Ok((c.clone(), notes));
    }
    if let Some(path) = &access.authfile {
        let c = from_file(path, registry, &mut notes)?.ok_or_else(|| OciError::Credentials {
            origin: path.display().to_string(),
            reason: format!("it has no entry for {registry}"),
        })?;
        return Ok((c, notes));
    }
    if let Some(c) = from_env()? {
        return Ok((c, notes));
    }
    if let Some(c) = from_podman(registry, &mut notes)? {
        return Ok((c, notes));
    }
    let c = from_docker(registry, &mut notes)?.unwrap_or_else(Credentials::anonymous);
    Ok((c, notes))
}

fn from_env() -> Result<Option<Credentials>, OciError> {
    let user = std::env::var("REGISTRY_USERNAME")
        .ok()
        .filter(|u| !u.is_empty());
    let password = std::env::var("REGISTRY_PASSWORD").ok();
    match (user, password) {
        (Some(u), Some(p)) => Ok(Some(Credentials::basic(
            &u,
            &p,
            "REGISTRY_USERNAME/REGISTRY_PASSWORD",
        ))),
        (Some(_), None) => Err(OciError::Credentials {
            origin: "the environment".to_string(),
            reason: "REGISTRY_USERNAME is set but REGISTRY_PASSWORD is not".to_string(),
        }),
        (None, _) => Ok(None),
    }
}

fn from_file(
    path: &Path,
    registry: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Credentials>, OciError> {
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| OciError::Credentials {
        origin: source.clone(),
        reason: format!("cannot open it: {e}"),
    })?;
    let found =
        docker_credential::get_credential_from_reader(std::io::BufReader::new(file), registry);
    interpret(found, &source, notes)
}

fn from_podman(registry: &str, notes: &mut Vec<String>) -> Result<Option<Credentials>, OciError> {
    let source = match std::env::var_os("REGISTRY_AUTH_FILE") {
        Some(p) => PathBuf::from(p).display().to_string(),
        None => "the Podman auth file (${XDG_RUNTIME_DIR}/containers/auth.json)".to_string(),
    };
    interpret(
        docker_credential::get_podman_credential(registry),
        &source,
        notes,
    )
}

fn from_docker(registry: &str, notes: &mut Vec<String>) -> Result<Option<Credentials>, OciError> {
    // Docker files Docker Hub under its historical v1 URL.
    let key = if registry == "docker.io" || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    interpret(
        docker_credential::get_credential(key),
        "the Docker config (~/.docker/config.json or $DOCKER_CONFIG)",
        notes,
    )
}

/// Missing files and missing entries mean "look elsewhere"; a broken file is an error.
fn interpret(
    found: Result<DockerCredential, CredentialRetrievalError>,
    source: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Credentials>, OciError> {
    match found {
        Ok(DockerCredential::UsernamePassword(u, p)) => {
            Ok(Some(Credentials::basic(&u, &p, source)))
        }
        Ok(DockerCredential::IdentityToken(_)) => {
            notes.push(format!(
                "{source} holds an identity token, which is not supported; ignoring it"
            ));
            Ok(None)
        }
        Err(CredentialRetrievalError::NoCredentialConfigured)
        | Err(CredentialRetrievalError::ConfigNotFound)
        | Err(CredentialRetrievalError::ConfigReadError) => Ok(None),
        Err(e) => Err(OciError::Credentials {
            origin: source.to_string(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_password() {
        let c = Credentials::basic("alice", "s3cret-value", "--username");
        let shown = format!(
            "{:?}",
            Access {
                explicit: Some(c),
                authfile: None,
                insecure: false
            }
        );
        assert!(
            shown.contains("alice") && !shown.contains("s3cret-value"),
            "{shown}"
        );
    }

    #[test]
    fn authfile_entry_is_read_and_missing_entry_is_an_error() {
        let dir = std::env::temp_dir().join(format!("oci-auth-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.json");
        // base64("bob:pw") = Ym9iOnB3
        std::fs::write(
            &file,
            r#"{"auths":{"reg.example:5000":{"auth":"Ym9iOnB3"}}}"#,
        )
        .unwrap();
        let mut notes = Vec::new();
        let found = from_file(&file, "reg.example:5000", &mut notes)
            .unwrap()
            .unwrap();
        assert_eq!(found.basic, Some(("bob".to_string(), "pw".to_string())));
        assert_eq!(
            from_file(&file, "other.example", &mut notes)
                .unwrap()
                .map(|c| c.basic),
            None
        );
        let missing = from_file(&dir.join("nope.json"), "reg.example:5000", &mut notes)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope.json"), "{missing}");
        assert!(notes.is_empty(), "{notes:?}");
        // An identity token is skipped, and the caller is told.
        std::fs::write(
            &file,
            r#"{"auths":{"reg.example:5000":{"identitytoken":"tok"}}}"#,
        )
        .unwrap();
        let skipped = from_file(&file, "reg.example:5000", &mut notes).unwrap();
        assert!(skipped.is_none());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("identity token"), "{notes:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
