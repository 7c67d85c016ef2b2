//! Talking to the registry: the client, retries of transient failures, and turning
//! oci-client's errors into messages that say what to do.

use super::OciError;
use super::auth::Credentials;
use super::tls::{self, CaFiles};
use oci_client::RegistryOperation;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::future::Future;
use std::time::Duration;

/// Waits between attempts; a failure after the last one is reported.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// A client for one registry with one set of credentials.
pub(crate) struct Session {
    pub(crate) client: Client,
    /// For the requests oci-client does not make (a capped manifest GET, tag listing).
    pub(crate) http: reqwest::Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) registry: String,
    pub(crate) credentials: Credentials,
    pub(crate) plain_http: bool,
    /// Plain HTTP because the user asked for it, not because the registry is on loopback.
    insecure: bool,
    ca: CaFiles,
}

impl Session {
    pub(crate) fn new(
        reference: &Reference,
        credentials: Credentials,
        insecure: bool,
        ca: &CaFiles,
    ) -> Result<Session, OciError> {
        let registry = reference.resolve_registry().to_string();
        let plain_http = insecure || is_loopback(&registry);
        tls::require_roots(&registry, plain_http, ca)?;
        let protocol = if plain_http {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        // try_from, not new: new falls back to a default client on error, and says so only
        // in a log line.
        let client = Client::try_from(ClientConfig {
            protocol,
            // Profiles are at most 1 MiB: one POST + PUT per blob suffices and every
            // registry takes it, chunked uploads do not add anything.
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            extra_root_certificates: ca.for_oci_client(),
            ..Default::default()
        })
        .map_err(runtime_error)?;
        let auth = match &credentials.basic {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        Ok(Session {
            client,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .tls_certs_merge(ca.for_reqwest().map_err(runtime_error)?)
                .build()
                .map_err(runtime_error)?,
            auth,
            registry,
            credentials,
            plain_http,
            insecure,
            ca: ca.clone(),
        })
    }

    /// Runs `op` until it succeeds, fails for good, or the retries run out.
    pub(crate) async fn retry<T, F, Fut>(
        &self,
        what: &str,
        reference: &str,
        op: F,
    ) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        self.retry_if(what, reference, is_transient, op).await
    }

    /// Puts a manifest whose blobs were just pushed. A registry may not see such a blob
    /// yet: distribution's filesystem storage rewrites a blob's link in place when another
    /// client pushes the same blob at once (nodes publishing the same workload share the
    /// empty config blob), and stores that are eventually consistent lag. So "manifest blob
    /// unknown" is retried too.
    pub(crate) async fn retry_manifest<T, F, Fut>(
        &self,
        reference: &str,
        op: F,
    ) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let transient = |e: &OciDistributionError| is_transient(e) || blob_not_seen(e);
        self.retry_if("push", reference, transient, op).await
    }

    async fn retry_if<T, F, Fut>(
        &self,
        what: &str,
        reference: &str,
        transient: impl Fn(&OciDistributionError) -> bool,
        mut op: F,
    ) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < BACKOFF.len() && transient(&e) => {
                    log::warn!(
                        "{what} {reference}: {} (retrying in {:?})",
                        detail(&e),
                        BACKOFF[attempt]
                    );
                    tokio::time::sleep(BACKOFF[attempt]).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.explain(e, what, reference, attempt + 1)),
            }
        }
    }

    /// The message for a failure that retrying did not fix.
    fn explain(
        &self,
        e: OciDistributionError,
        what: &str,
        reference: &str,
        attempts: usize,
    ) -> OciError {
        let registry = self.registry.clone();
        let reference = reference.to_string();
        let what = what.to_string();
        // The TLS handshake failed, so there is no status to look at.
        match tls::handshake_error(&e) {
            Some(rustls::Error::InvalidCertificate(problem)) => {
                return OciError::Certificate {
                    hint: tls::certificate_hint(&problem, &registry, &self.ca),
                    registry,
                    problem: problem.to_string(),
                };
            }
            Some(rustls::Error::InvalidMessage(_)) => {
                return OciError::NotTls {
                    registry,
                    detail: detail(&e),
                };
            }
            _ => {}
        }
        match status(&e) {
            Some(401) => OciError::Unauthorized {
                registry,
                reference,
                what,
                hint: self.credentials_hint(),
            },
            Some(403) => OciError::Forbidden {
                registry,
                reference,
                what,
                origin: self.credentials.source.clone(),
            },
            Some(404) => OciError::NotFound {
                registry,
                reference,
                detail: detail(&e),
            },
            Some(code) if code >= 500 || code == 429 => OciError::Server {
                registry,
                reference,
                what,
                status: code,
                attempts,
                detail: detail(&e),
            },
            Some(400) if self.plain_http && detail(&e).contains("HTTPS") => OciError::ServesHttps {
                registry,
                detail: detail(&e),
                hint: self.https_hint(),
            },
            Some(_) => OciError::Refused {
                registry,
                reference,
                what,
                detail: detail(&e),
            },
            None if matches!(e, OciDistributionError::RequestError(_)) => OciError::Network {
                registry,
                what,
                attempts,
                detail: detail(&e),
                hint: self.network_hint(),
            },
            None if matches!(e, OciDistributionError::DigestError(_)) => OciError::Digest {
                reference,
                detail: detail(&e),
            },
            None => OciError::Refused {
                registry,
                reference,
                what,
                detail: detail(&e),
            },
        }
    }

    fn credentials_hint(&self) -> String {
        if self.credentials.basic.is_some() {
            format!(
                "the credentials from {} were rejected",
                self.credentials.source
            )
        } else if !self.credentials.unused.is_empty() {
            format!(
                "no usable credentials: {}; {}",
                self.credentials.unused.join("; "),
                super::auth::USE_A_PASSWORD
            )
        } else {
            "no credentials were found; pass --username with --password-stdin, set REGISTRY_USERNAME and \
             REGISTRY_PASSWORD, give --authfile, or log in with `podman login`/`docker login`"
                .to_string()
        }
    }

    /// What to do when a registry answers plain HTTP with "this is an HTTPS port".
    fn https_hint(&self) -> String {
        if self.insecure {
            "leave out --insecure; if its certificate comes from a private CA, pass that CA \
             with --ca-file FILE"
                .to_string()
        } else {
            "registries on loopback (localhost, 127.0.0.0/8, [::1]) are spoken to in plain \
             HTTP; reach this one by a host name its certificate lists"
                .to_string()
        }
    }

    fn network_hint(&self) -> String {
        if self.plain_http {
            "is the registry running, and is the host and port right?".to_string()
        } else {
            "is the registry running, and is the host and port right? If it serves plain HTTP, \
             add --insecure"
                .to_string()
        }
    }
}

impl Session {
    /// GETs a manifest but reads at most `cap` + 1 bytes of it: whatever answers in the
    /// registry's place could send anything, and oci-client reads a body whole. A
    /// failure status goes through oci-client again, for its error types.
    pub(crate) async fn pull_manifest_capped(
        &self,
        r: &Reference,
        accepted: &[&str],
        cap: usize,
    ) -> Result<Vec<u8>, OciDistributionError> {
        let token = self
            .client
            .auth(r, &self.auth, RegistryOperation::Pull)
            .await?;
        let scheme = if self.plain_http { "http" } else { "https" };
        let tag = r.digest().or(r.tag()).unwrap_or("latest");
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{tag}",
            r.resolve_registry(),
            r.repository()
        );
        let mut request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, accepted.join(", "));
        request = match (token, &self.credentials.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        };
        let mut response = request.send().await?;
        if !response.status().is_success() {
            let (bytes, _) = self
                .client
                .pull_manifest_raw(r, &self.auth, accepted)
                .await?;
            return Ok(bytes.to_vec());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > cap {
                break;
            }
        }
        Ok(body)
    }
}

/// The HTTP status behind an error, when the registry answered.
fn status(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RegistryError { envelope, .. } => Some(
            envelope
                .errors
                .first()
                .map(|err| code_status(&err.code))
                .unwrap_or(400),
        ),
        OciDistributionError::ImageManifestNotFoundError(_) => Some(404),
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        _ => None,
    }
}

/// The status the distribution spec gives each error code.
fn code_status(code: &OciErrorCode) -> u16 {
    match code {
        OciErrorCode::Unauthorized => 401,
        OciErrorCode::Denied => 403,
        OciErrorCode::BlobUnknown
        | OciErrorCode::ManifestUnknown
        | OciErrorCode::NameUnknown
        | OciErrorCode::NotFound
        | OciErrorCode::BlobUploadUnknown => 404,
        OciErrorCode::Toomanyrequests => 429,
        _ => 400,
    }
}

fn is_transient(e: &OciDistributionError) -> bool {
    match status(e) {
        Some(code) => code >= 500 || code == 429,
        None => {
            matches!(e, OciDistributionError::RequestError(_))
                && !tls::handshake_error(e).is_some_and(|t| tls::fails_every_time(&t))
        }
    }
}

/// The registry refused a manifest for naming a blob it does not know.
fn blob_not_seen(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|err| err.code == OciErrorCode::ManifestBlobUnknown),
        OciDistributionError::ServerError { code, message, .. } => {
            *code == 400 && message.contains("MANIFEST_BLOB_UNKNOWN")
        }
        _ => false,
    }
}

fn runtime_error(e: impl std::error::Error) -> OciError {
    OciError::Runtime(std::io::Error::other(detail(&e)))
}

/// The error and its causes on one line: reqwest hides "connection refused" two levels down.
pub(crate) fn detail(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    // Registries end error bodies with a newline; one error, one line.
    without_html(&parts.join(": "))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A proxy in front of a registry answers errors with an HTML page: its title says what
/// happened, the rest is markup nobody should read in a terminal.
fn without_html(text: &str) -> String {
    // ASCII lowercasing keeps byte offsets, so they index `text` too.
    let lower = text.to_ascii_lowercase();
    let Some(start) = ["<!doctype", "<html"]
        .iter()
        .filter_map(|t| lower.find(t))
        .min()
    else {
        return text.to_string();
    };
    let end = lower
        .rfind("</html>")
        .map_or(text.len(), |i| i + "</html>".len());
    let title = lower[start..end].find("<title>").and_then(|i| {
        let from = start + i + "<title>".len();
        lower[from..end]
            .find('<')
            .map(|j| text[from..from + j].trim())
    });
    let page = match title {
        Some(t) if !t.is_empty() => format!("an HTML page titled '{t}'"),
        _ => "an HTML page".to_string(),
    };
    format!("{}{page}{}", &text[..start], &text[end..])
}

/// The host of `host[:port]` or `[v6][:port]`, without brackets.
pub(crate) fn host_of(registry: &str) -> &str {
    match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    }
}

/// Loopback registries speak plain HTTP (as Docker and Podman assume); others need HTTPS.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError as ApiError};

    fn envelope(code: OciErrorCode) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![ApiError {
                    code,
                    message: "m".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://reg.example/v2/".into(),
        }
    }

    fn session(credentials: Credentials) -> Session {
        Session::new(
            &"reg.example/team/app:v1".parse().unwrap(),
            credentials,
            false,
            &CaFiles::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_manifest_naming_a_blob_not_seen_yet_is_retried_and_nothing_else_more() {
        // What docker-registry 2.8 answered a node while another pushed the same config blob.
        let body = r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#;
        let server = |code, message: &str| OciDistributionError::ServerError {
            code,
            url: "http://reg.example/v2/team/app/manifests/v1".into(),
            message: message.into(),
        };
        assert!(blob_not_seen(&server(400, body)));
        assert!(blob_not_seen(&envelope(OciErrorCode::ManifestBlobUnknown)));
        assert!(!is_transient(&server(400, body)));
        for other in [
            server(400, r#"{"errors":[{"code":"MANIFEST_INVALID"}]}"#),
            server(404, body),
            envelope(OciErrorCode::BlobUnknown),
            envelope(OciErrorCode::ManifestInvalid),
        ] {
            assert!(!blob_not_seen(&other), "{other:?}");
        }
    }

    #[test]
    fn statuses_become_their_messages() {
        let anonymous = session(Credentials::anonymous(Vec::new()));
        let e = anonymous.explain(envelope(OciErrorCode::Unauthorized), "push", "r", 1);
        assert!(
            e.to_string().contains("401") && e.to_string().contains("--username"),
            "{e}"
        );
        // What was found and not used is named, not left for the user to guess.
        let token =
            "the Docker config holds an identity token for reg.example, which is not supported";
        let skipped = session(Credentials::anonymous(vec![token.into()]));
        let e = skipped.explain(envelope(OciErrorCode::Unauthorized), "pull", "r", 1);
        assert!(
            e.to_string().contains("401") && e.to_string().contains(token),
            "{e}"
        );
        let known = session(Credentials::basic("u", "secret-pw", "--username"));
        let e = known.explain(envelope(OciErrorCode::Unauthorized), "push", "r", 1);
        assert!(
            e.to_string().contains("from --username were rejected")
                && !e.to_string().contains("secret-pw"),
            "{e}"
        );
        let e = known.explain(envelope(OciErrorCode::Denied), "push", "r", 1);
        assert!(
            e.to_string().contains("403 Forbidden") && e.to_string().contains("from --username"),
            "{e}"
        );
        let e = known.explain(envelope(OciErrorCode::ManifestUnknown), "pull", "r", 1);
        assert!(matches!(e, OciError::NotFound { .. }), "{e}");
        let e = known.explain(envelope(OciErrorCode::ManifestInvalid), "push", "r", 1);
        assert!(matches!(e, OciError::Refused { .. }), "{e}");
    }

    #[test]
    fn only_server_side_and_network_failures_are_retried() {
        let server = |code| OciDistributionError::ServerError {
            code,
            url: String::new(),
            message: String::new(),
        };
        assert!(is_transient(&server(503)) && is_transient(&server(429)));
        assert!(is_transient(&envelope(OciErrorCode::Toomanyrequests)));
        assert!(!is_transient(&server(400)) && !is_transient(&envelope(OciErrorCode::Denied)));
        assert!(!is_transient(&OciDistributionError::UnauthorizedError {
            url: String::new()
        }));
    }

    #[test]
    fn html_error_pages_become_their_title() {
        let page = "Server error: <!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>\
                    </head><body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>\n";
        assert_eq!(
            without_html(page),
            "Server error: an HTML page titled '502 Bad Gateway'\n"
        );
        assert_eq!(without_html("<html><body>x</body></html>"), "an HTML page");
        assert_eq!(without_html("plain text"), "plain text");
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "registry.example",
            "10.0.0.1:5000",
            "localhost.example:5000",
            "[fe80::1]:5000",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
