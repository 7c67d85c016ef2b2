//! OCI distribution of profiles: push a profile as the artifact CRI-O and KEP-6061 runtimes
//! pull, and pull it (or a Security Profiles Operator artifact) back; push an OCI image
//! layout (the agent's image, `cargo xtask image --push`).
//!
//! The functions are synchronous: each runs its own current-thread runtime, so callers
//! (the CLI, `record --push`) need no async code.

pub mod artifact;
pub(crate) mod auth;
mod layout;
mod pull;
mod repository;
pub(crate) mod spo;
mod tls;
mod transport;

pub use auth::{Access, Credentials};
pub use layout::push_layout;
pub use repository::{Artifact, Repository};
pub use tls::CaFiles;

use artifact::{ACCEPTED_MANIFESTS, Descriptor, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use oci_client::{Reference, RegistryOperation};
use serde_json::Value;
use transport::Session;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("'{reference}' is not a usable reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error(
        "{what} is {size} bytes; CRI-O and the Security Profiles Operator accept at most {limit} bytes"
    )]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("{what} is not a valid seccomp profile: {reason}")]
    NotAProfile { what: String, reason: String },
    #[error("{reference} is not a seccomp profile artifact: {reason}")]
    NoProfile { reference: String, reason: String },
    #[error("credentials from {origin}: {reason}")]
    Credentials { origin: String, reason: String },
    #[error("cannot reach registry {registry} ({what}, {attempts} attempts): {detail}; {hint}")]
    Network {
        registry: String,
        what: String,
        attempts: usize,
        detail: String,
        hint: String,
    },
    #[error("registry {registry} refused to {what} {reference} (401 Unauthorized): {hint}")]
    Unauthorized {
        registry: String,
        reference: String,
        what: String,
        hint: String,
    },
    #[error(
        "registry {registry} denied the {what} of {reference} (403 Forbidden) to the account from {origin}: \
         check that it may {what} this repository"
    )]
    Forbidden {
        registry: String,
        reference: String,
        what: String,
        origin: String,
    },
    #[error("{reference} does not exist on {registry} (404 Not Found): {detail}")]
    NotFound {
        registry: String,
        reference: String,
        detail: String,
    },
    #[error(
        "registry {registry} failed to {what} {reference} with HTTP {status} ({attempts} attempts): {detail}"
    )]
    Server {
        registry: String,
        reference: String,
        what: String,
        status: u16,
        attempts: usize,
        detail: String,
    },
    #[error("registry {registry} refused to {what} {reference}: {detail}")]
    Refused {
        registry: String,
        reference: String,
        what: String,
        detail: String,
    },
    #[error("{path} is not a usable OCI image layout: {reason}")]
    Layout { path: String, reason: String },
    #[error("{reference} has an unusable manifest: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("pushed {digest}, but could not list it under the referrers tag {tag}")]
    Referrer {
        digest: String,
        tag: String,
        source: Box<OciError>,
    },
    #[error("content of {reference} does not match its digest: {detail}")]
    Digest { reference: String, detail: String },
    #[error("cannot start the network runtime")]
    Runtime(#[source] std::io::Error),
    #[error(
        "cannot check the HTTPS certificate of registry {registry}: no CA certificates, {looked}; \
         set SSL_CERT_FILE to a CA bundle (PEM) or SSL_CERT_DIR to a directory of them. In a \
         pod, mount the node's bundle (e.g. /etc/ssl/certs) and point SSL_CERT_FILE at it \
         (docs/kubernetes.md)"
    )]
    NoRoots { registry: String, looked: String },
    #[error("--ca-file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("registry {registry} sent an HTTPS certificate that was refused ({problem}): {hint}")]
    Certificate {
        registry: String,
        problem: String,
        hint: String,
    },
    #[error(
        "registry {registry} does not answer in TLS ({detail}): if it serves plain HTTP, add \
         --insecure (its traffic, credentials included, is then readable on the network); \
         otherwise check the host and port"
    )]
    NotTls { registry: String, detail: String },
    #[error("registry {registry} serves HTTPS, not plain HTTP ({detail}): {hint}")]
    ServesHttps {
        registry: String,
        detail: String,
        hint: String,
    },
}

impl OciError {
    /// Whether the registry or the network failed, so that the same command may work later;
    /// otherwise the input (profile, reference, credentials setup) needs fixing first.
    pub fn is_remote(&self) -> bool {
        !matches!(
            self,
            OciError::Reference { .. }
                | OciError::TooLarge { .. }
                | OciError::NotAProfile { .. }
                | OciError::Credentials { .. }
                | OciError::NoProfile { .. }
                | OciError::BadManifest { .. }
                | OciError::Layout { .. }
                | OciError::Runtime(_)
                | OciError::NoRoots { .. }
                | OciError::CaFile { .. }
                | OciError::Certificate { .. }
                | OciError::ServesHttps { .. }
                | OciError::NotTls { .. }
        )
    }
}

/// A profile fetched from a registry.
#[derive(Debug)]
pub struct Pulled {
    /// Plain runtime-spec seccomp JSON.
    pub profile: Vec<u8>,
    /// The digest of the manifest the profile came from.
    pub digest: String,
    /// That manifest's annotations (string values only).
    pub annotations: std::collections::BTreeMap<String, String>,
    /// What the caller may want to tell the user (the index instance that was chosen,
    /// credentials skipped).
    pub notes: Vec<String>,
}

/// A profile pushed to a registry.
#[derive(Debug)]
pub struct Pushed {
    /// The digest of the manifest pushed.
    pub digest: String,
    /// What the caller may want to tell the user (the referrers tag, an ignored
    /// `SOURCE_DATE_EPOCH`, credentials skipped).
    pub notes: Vec<String>,
}

/// Where a push goes, checked before anything is read or recorded: a tag reference, the
/// image it may refer to, and the credentials for its registry.
#[derive(Debug)]
pub struct Destination {
    target: Reference,
    subject: Option<Reference>,
    credentials: auth::Credentials,
    notes: Vec<String>,
    insecure: bool,
    ca: CaFiles,
}

impl Destination {
    /// With `subject`, the artifact refers to that image (same repository) and is listed
    /// under the referrers tag `sha256-<hex>`.
    pub fn new(
        reference: &str,
        subject: Option<&str>,
        access: &Access,
    ) -> Result<Destination, OciError> {
        let target = parse_reference(reference)?;
        if target.digest().is_some() {
            return Err(OciError::Reference {
                reference: reference.to_string(),
                reason: "a push needs a tag (REPO:TAG), not a digest".to_string(),
            });
        }
        let subject = subject.map(|s| subject_reference(s, &target)).transpose()?;
        let (credentials, notes) = auth::resolve(access, target.resolve_registry())?;
        Ok(Destination {
            target,
            subject,
            credentials,
            notes,
            insecure: access.insecure,
            ca: access.ca.clone(),
        })
    }
}

/// Pushes `profile` (the bytes of a runtime-spec profile; `what` names it in messages) to
/// `reference`, as [`push_to`] does.
pub fn push(
    profile: &[u8],
    what: &str,
    reference: &str,
    subject: Option<&str>,
    access: &Access,
) -> Result<Pushed, OciError> {
    push_to(
        profile,
        what,
        &Destination::new(reference, subject, access)?,
    )
}

/// Pushes `profile` (the bytes of a runtime-spec profile; `what` names it in messages) to
/// a destination checked beforehand.
pub fn push_to(profile: &[u8], what: &str, to: &Destination) -> Result<Pushed, OciError> {
    check_profile(profile, what)?;
    let session = Session::new(&to.target, to.credentials.clone(), to.insecure, &to.ca)?;
    let mut pushed = runtime()?.block_on(push_async(
        &session,
        profile,
        &to.target,
        to.subject.as_ref(),
    ))?;
    let mut notes = to.notes.clone();
    notes.append(&mut pushed.notes);
    pushed.notes = notes;
    Ok(pushed)
}

/// Pulls the profile at `reference` (tag or digest), verifying digests and content.
pub fn pull(reference: &str, access: &Access) -> Result<Pulled, OciError> {
    let target = parse_reference(reference)?;
    let (credentials, mut notes) = auth::resolve(access, target.resolve_registry())?;
    let session = Session::new(&target, credentials, access.insecure, &access.ca)?;
    let mut pulled = runtime()?.block_on(pull::pull_async(&session, &target))?;
    notes.append(&mut pulled.notes);
    pulled.notes = notes;
    Ok(pulled)
}

/// Rejects what no runtime would load, before anything goes over the network.
fn check_profile(profile: &[u8], what: &str) -> Result<(), OciError> {
    let size = profile.len() as u64;
    if size > artifact::MAX_PROFILE_BYTES {
        return Err(OciError::TooLarge {
            what: what.to_string(),
            size,
            limit: artifact::MAX_PROFILE_BYTES,
        });
    }
    serde_json::from_slice::<crate::profile::Profile>(profile)
        .map(drop)
        .map_err(|e| OciError::NotAProfile {
            what: what.to_string(),
            reason: e.to_string(),
        })
}

fn parse_reference(reference: &str) -> Result<Reference, OciError> {
    reference
        .parse::<Reference>()
        .map_err(|e| OciError::Reference {
            reference: reference.to_string(),
            reason: e.to_string(),
        })
}

/// Referrers are per repository, so the subject must live next to the profile.
fn subject_reference(subject: &str, target: &Reference) -> Result<Reference, OciError> {
    let parsed = parse_reference(subject)?;
    if parsed.resolve_registry() != target.resolve_registry()
        || parsed.repository() != target.repository()
    {
        return Err(OciError::Reference {
            reference: subject.to_string(),
            reason: format!(
                "the subject must be in the profile's repository {}/{} (referrers are listed per repository)",
                target.registry(),
                target.repository()
            ),
        });
    }
    Ok(parsed)
}

fn runtime() -> Result<tokio::runtime::Runtime, OciError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OciError::Runtime)
}

/// `SOURCE_DATE_EPOCH` (reproducible builds) or now, as RFC 3339; a note when the
/// variable is set but unusable.
fn created() -> (String, Option<String>) {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let secs = epoch.as_deref().and_then(|s| s.trim().parse::<u64>().ok());
    let note = match (&epoch, secs) {
        (Some(raw), None) => Some(format!(
            "ignoring SOURCE_DATE_EPOCH={raw:?}: not a number of seconds"
        )),
        _ => None,
    };
    let time = secs.map_or_else(std::time::SystemTime::now, |s| {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)
    });
    (humantime::format_rfc3339_seconds(time).to_string(), note)
}

async fn push_async(
    s: &Session,
    profile: &[u8],
    target: &Reference,
    subject: Option<&Reference>,
) -> Result<Pushed, OciError> {
    let name = target.whole();
    s.retry("push", &name, || {
        s.client.auth(target, &s.auth, RegistryOperation::Push)
    })
    .await?;
    let subject = match subject {
        Some(r) => Some(describe(s, r).await?),
        None => None,
    };
    let config = Descriptor::of(artifact::CONFIG_MEDIA_TYPE, artifact::CONFIG_BYTES);
    let layer = Descriptor::of(artifact::LAYER_MEDIA_TYPE, profile);
    s.retry("push", &name, || {
        s.client
            .push_blob(target, artifact::CONFIG_BYTES, &config.digest)
    })
    .await?;
    s.retry("push", &name, || {
        s.client.push_blob(target, profile.to_vec(), &layer.digest)
    })
    .await?;
    let (created, note) = created();
    let mut notes: Vec<String> = note.into_iter().collect();
    let manifest = artifact::manifest(profile, &created, subject.as_ref());
    push_manifest(s, target, &manifest, MANIFEST_MEDIA_TYPE).await?;
    let digest = artifact::sha256_digest(&manifest);
    if let Some(subject) = subject {
        let tag = artifact::referrers_tag(&subject.digest);
        let listed = add_referrer(s, target, &tag, &manifest, &created)
            .await
            .map_err(|e| OciError::Referrer {
                digest: digest.clone(),
                tag,
                source: Box::new(e),
            })?;
        notes.push(format!("listed it as a referrer under {listed}"));
    }
    Ok(Pushed { digest, notes })
}

async fn push_manifest(
    s: &Session,
    target: &Reference,
    bytes: &[u8],
    media_type: &'static str,
) -> Result<(), OciError> {
    let content_type = http::HeaderValue::from_static(media_type);
    s.retry_manifest(&target.whole(), || {
        s.client
            .push_manifest_raw(target, bytes.to_vec(), content_type.clone())
    })
    .await
    .map(drop)
}

/// Registries without the referrers API (Debian's among them) find referrers through the
/// tag schema; registries with it ignore the extra tag. Returns the index's reference.
async fn add_referrer(
    s: &Session,
    target: &Reference,
    tag: &str,
    manifest: &[u8],
    created: &str,
) -> Result<String, OciError> {
    let index_ref = Reference::with_tag(
        target.registry().to_string(),
        target.repository().to_string(),
        tag.to_string(),
    );
    let existing = match fetch_manifest(s, &index_ref, &[INDEX_MEDIA_TYPE]).await {
        Ok((bytes, _)) => Some(bytes),
        Err(OciError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let index =
        artifact::referrers_index(existing.as_deref(), manifest, created).map_err(|reason| {
            OciError::BadManifest {
                reference: index_ref.whole(),
                reason,
            }
        })?;
    push_manifest(s, &index_ref, &index, INDEX_MEDIA_TYPE).await?;
    Ok(index_ref.whole())
}

/// The descriptor of the manifest at `r` (the subject of a push).
async fn describe(s: &Session, r: &Reference) -> Result<Descriptor, OciError> {
    let (bytes, digest) = fetch_manifest(s, r, ACCEPTED_MANIFESTS).await?;
    let parsed = parse_manifest(&bytes, &r.whole())?;
    Ok(Descriptor {
        media_type: artifact::manifest_media_type(&parsed),
        digest,
        size: bytes.len() as u64,
    })
}

/// A manifest's bytes and digest; by-digest references are checked against the bytes.
async fn fetch_manifest(
    s: &Session,
    r: &Reference,
    accepted: &[&str],
) -> Result<(Vec<u8>, String), OciError> {
    let cap = artifact::MAX_MANIFEST_BYTES;
    let bytes = s
        .retry("pull", &r.whole(), || {
            s.pull_manifest_capped(r, accepted, cap)
        })
        .await?;
    if bytes.len() > cap {
        return Err(OciError::BadManifest {
            reference: r.whole(),
            reason: format!("it is larger than {cap} bytes (reading stopped there)"),
        });
    }
    let digest = artifact::sha256_digest(&bytes);
    if let Some(expected) = r.digest()
        && expected != digest
    {
        return Err(OciError::Digest {
            reference: r.whole(),
            detail: format!("expected {expected}, got {digest}"),
        });
    }
    Ok((bytes, digest))
}

fn parse_manifest(bytes: &[u8], name: &str) -> Result<Value, OciError> {
    serde_json::from_slice(bytes).map_err(|e| OciError::BadManifest {
        reference: name.to_string(),
        reason: format!("it is not JSON: {e}"),
    })
}
