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
    /// What was found on the way and why it was not used, for the message a refusal gets.
    pub(crate) unused: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.basic.as_ref().map(|(u, _)| u.as_str());
        write!(
            f,
            "Credentials {{ user: {user:?}, password: <hidden>, source: {:?}, unused: {:?} }}",
            self.source, self.unused
        )
    }
}

impl Credentials {
    /// No credentials; `unused` says what was found and why it was not used.
    pub(crate) fn anonymous(unused: Vec<String>) -> Credentials {
        Credentials {
            basic: None,
            source: "no credentials".to_string(),
            unused,
        }
    }

    pub fn basic(user: &str, password: &str, source: &str) -> Credentials {
        Credentials {
            basic: Some((user.to_string(), password.to_string())),
            source: source.to_string(),
            unused: Vec::new(),
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
    /// CA certificates trusted on top of the system's (`--ca-file`).
    pub ca: super::CaFiles,
}

/// What one place holds for a registry.
enum Found {
    Basic(Credentials),
    /// An entry that cannot be used, and why (an identity token).
    Unusable(String),
    Nothing,
}

/// The credentials for `registry` (host[:port]), and notes on what was skipped on the way.
pub(crate) fn resolve(
    access: &Access,
    registry: &str,
) -> Result<(Credentials, Vec<String>), OciError> {
    if let Some(c) = &access.explicit {
        return Ok((c.clone(), Vec::new()));
    }
    if let Some(path) = &access.authfile {
        let origin = path.display().to_string();
        return match from_file(path, registry)? {
            Found::Basic(c) => Ok((c, Vec::new())),
            Found::Unusable(why) => Err(OciError::Credentials {
                origin,
                reason: format!("{why}; {USE_A_PASSWORD}"),
            }),
            Found::Nothing => Err(OciError::Credentials {
                origin,
                reason: format!("it has no entry for {registry}"),
            }),
        };
    }
    if let Some(c) = from_env()? {
        return Ok((c, Vec::new()));
    }
    let mut unused = Vec::new();
    for found in [from_podman(registry), from_docker(registry)] {
        match found? {
            Found::Basic(c) => return Ok((c, unused)),
            Found::Unusable(why) => unused.push(why),
            Found::Nothing => {}
        }
    }
    let notes = unused
        .iter()
        .map(|why| format!("{why}; skipped it"))
        .collect();
    Ok((Credentials::anonymous(unused), notes))
}

/// What to do instead of an identity token.
pub(crate) const USE_A_PASSWORD: &str = "log in with a username and password \
     (`docker login`, `podman login`), or pass --username with --password-stdin";

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

fn from_file(path: &Path, registry: &str) -> Result<Found, OciError> {
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| OciError::Credentials {
        origin: source.clone(),
        reason: format!("cannot open it: {e}"),
    })?;
    let found =
        docker_credential::get_credential_from_reader(std::io::BufReader::new(file), registry);
    interpret(found, &source, registry)
}

fn from_podman(registry: &str) -> Result<Found, OciError> {
    let source = match std::env::var_os("REGISTRY_AUTH_FILE") {
        Some(p) => PathBuf::from(p).display().to_string(),
        None => "the Podman auth file (${XDG_RUNTIME_DIR}/containers/auth.json)".to_string(),
    };
    interpret(
        docker_credential::get_podman_credential(registry),
        &source,
        registry,
    )
}

fn from_docker(registry: &str) -> Result<Found, OciError> {
    // Docker files Docker Hub under its historical v1 URL.
    let key = if registry == "docker.io" || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    interpret(
        docker_credential::get_credential(key),
        "the Docker config (~/.docker/config.json or $DOCKER_CONFIG)",
        registry,
    )
}

/// Missing files and missing entries mean "look elsewhere"; a broken file is an error.
fn interpret(
    found: Result<DockerCredential, CredentialRetrievalError>,
    source: &str,
    registry: &str,
) -> Result<Found, OciError> {
    match found {
        Ok(DockerCredential::UsernamePassword(u, p)) => {
            Ok(Found::Basic(Credentials::basic(&u, &p, source)))
        }
        Ok(DockerCredential::IdentityToken(_)) => Ok(Found::Unusable(format!(
            "{source} holds an identity token for {registry}, which is not supported \
             (seccomp-recorder sends only a username and password)"
        ))),
        Err(CredentialRetrievalError::NoCredentialConfigured)
        | Err(CredentialRetrievalError::ConfigNotFound)
        | Err(CredentialRetrievalError::ConfigReadError) => Ok(Found::Nothing),
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
                ..Access::default()
            }
        );
        assert!(
            shown.contains("alice") && !shown.contains("s3cret-value"),
            "{shown}"
        );
    }

    fn basic(found: Found) -> Option<(String, String)> {
        match found {
            Found::Basic(c) => c.basic,
            _ => None,
        }
    }

    fn with_authfile(path: &Path) -> Access {
        Access {
            explicit: None,
            authfile: Some(path.to_path_buf()),
            ..Access::default()
        }
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
        let found = from_file(&file, "reg.example:5000").unwrap();
        assert_eq!(basic(found), Some(("bob".to_string(), "pw".to_string())));
        assert!(matches!(
            from_file(&file, "other.example").unwrap(),
            Found::Nothing
        ));
        let other = resolve(&with_authfile(&file), "other.example").unwrap_err();
        assert!(
            other.to_string().contains("no entry for other.example"),
            "{other}"
        );
        let missing = from_file(&dir.join("nope.json"), "reg.example:5000")
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("nope.json"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An entry holding only an identity token is named with the reason it is not used,
    /// never reported as no entry at all.
    #[test]
    fn an_identity_token_is_named_not_taken_for_a_missing_entry() {
        let dir = std::env::temp_dir().join(format!("oci-auth-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("auth.json");
        std::fs::write(
            &file,
            r#"{"auths":{"reg.example:5000":{"identitytoken":"tok"}}}"#,
        )
        .unwrap();
        let e = resolve(&with_authfile(&file), "reg.example:5000")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("holds an identity token for reg.example:5000, which is not supported")
                && e.contains("--password-stdin")
                && !e.contains("no entry"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
