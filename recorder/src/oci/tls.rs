//! Which registry certificates are trusted, and what a refused one means.
//!
//! The roots are the system's (`SSL_CERT_FILE`/`SSL_CERT_DIR` replace the distribution's
//! bundle when set, as rustls-native-certs reads them) plus the user's `--ca-file`s.
//!
//! oci-client builds a default reqwest client inside every client it makes, whatever its
//! configuration, and reqwest's platform verifier fails that build where the system has no
//! CA certificate (a container image without a bundle): reqwest then panics. Extra roots
//! do not help that default client. So the system's certificates are looked for here first,
//! the way that verifier looks, and their absence is an error that says what to do. Even a
//! plain-HTTP registry needs them, for that reason.

use super::OciError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};
use std::path::{Path, PathBuf};

/// CA certificates trusted for registries on top of the system's: `--ca-file`.
#[derive(Clone, Debug, Default)]
pub struct CaFiles {
    files: Vec<PathBuf>,
    certs: Vec<CertificateDer<'static>>,
}

impl CaFiles {
    /// Reads PEM files of CA certificates. A file that cannot be read, holds no PEM
    /// certificate, or one that cannot serve as a root is an error naming the file.
    pub fn load(files: &[PathBuf]) -> Result<CaFiles, OciError> {
        let mut certs = Vec::new();
        for file in files {
            certs.extend(read_pem(file)?);
        }
        Ok(CaFiles {
            files: files.to_vec(),
            certs,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The files, as the command line gave them: `--ca-file a.pem --ca-file b.pem`.
    pub fn flags(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| format!("--ca-file {}", f.display()))
            .collect()
    }

    pub(crate) fn for_oci_client(&self) -> Vec<oci_client::client::Certificate> {
        self.certs
            .iter()
            .map(|c| oci_client::client::Certificate {
                encoding: oci_client::client::CertificateEncoding::Der,
                data: c.to_vec(),
            })
            .collect()
    }

    pub(crate) fn for_reqwest(&self) -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
        self.certs
            .iter()
            .map(|c| reqwest::Certificate::from_der(c))
            .collect()
    }
}

/// The certificates in one PEM file, each checked the way the verifier will take it.
fn read_pem(file: &Path) -> Result<Vec<CertificateDer<'static>>, OciError> {
    let bad = |reason: String| OciError::CaFile {
        path: file.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(file).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| bad(format!("it is not valid PEM: {e}")))?;
    if certs.is_empty() {
        let der = bytes.first() == Some(&0x30);
        return Err(bad(if der {
            "it holds no PEM certificate (it looks like DER: convert it with \
             `openssl x509 -inform der -in FILE -out FILE.pem`)"
                .to_string()
        } else {
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string()
        }));
    }
    for (i, cert) in certs.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| bad(format!("certificate {} cannot be a CA root: {e}", i + 1)))?;
    }
    Ok(certs)
}

/// The TLS error that made a request fail, if one did. rustls' error sits inside (possibly
/// nested) `io::Error`s, whose `source` skips what they wrap, so those are opened as well.
pub(crate) fn handshake_error(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut link = Some(e);
    while let Some(err) = link {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        link = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// Whether the handshake failed for a reason that comes back on every attempt: the
/// certificate was refused, or what answered does not speak TLS.
pub(crate) fn fails_every_time(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidMessage(_)
    )
}

/// What a refused certificate means for the user and what to do about it.
pub(crate) fn certificate_hint(
    problem: &rustls::CertificateError,
    registry: &str,
    extra: &CaFiles,
) -> String {
    use rustls::CertificateError as C;
    let host = super::transport::host_of(registry);
    match problem {
        C::UnknownIssuer | C::BadSignature => {
            let mut trusted = match std::env::var_os("SSL_CERT_FILE") {
                Some(f) => format!("the CA certificates in SSL_CERT_FILE={}", f.display()),
                None => "the system's CA certificates".to_string(),
            };
            if !extra.is_empty() {
                trusted = format!("{trusted} nor those of {}", extra.flags().join(", "));
            }
            format!(
                "it is signed by a CA that is not among {trusted}; pass that CA's certificate \
                 (PEM) with --ca-file FILE, or add it to the system's CA bundle (docs/oci.md, \
                 \"Registries with a private CA\")"
            )
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "it is not issued for the name {host}; use a name the certificate lists \
             (subjectAltName), or have it reissued with {host} in it"
        ),
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            "check this machine's clock and the dates of the registry's certificate".to_string()
        }
        _ => {
            let connect = if host.len() < registry.len() {
                registry.to_string()
            } else {
                format!("{registry}:443")
            };
            format!(
                "check the certificate chain the registry sends, e.g. with \
                 `openssl s_client -connect {connect} -showcerts`"
            )
        }
    }
}

/// Whether the system's CA certificates, as the platform verifier loads them
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the distribution's bundle),
/// hold at least one that rustls can use as a root.
pub(crate) fn require_roots(
    registry: &str,
    plain_http: bool,
    extra: &CaFiles,
) -> Result<(), OciError> {
    let found = rustls_native_certs::load_native_certs();
    let mut problems: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
    let mut usable = 0;
    for cert in found.certs {
        // The verifier skips what rustls cannot use, and fails only if nothing is left.
        match rustls::RootCertStore::empty().add(cert) {
            Ok(()) => usable += 1,
            Err(e) => problems.push(format!("a certificate was skipped: {e}")),
        }
    }
    if usable > 0 {
        return Ok(());
    }
    Err(no_roots(
        registry,
        plain_http,
        extra,
        &searched(),
        &problems,
    ))
}

/// The error for no usable root: `looked` says where they were looked for.
fn no_roots(
    registry: &str,
    plain_http: bool,
    extra: &CaFiles,
    looked: &str,
    problems: &[String],
) -> OciError {
    let mut looked = looked.to_string();
    if !problems.is_empty() {
        looked = format!("{looked} ({})", problems.join("; "));
    }
    if plain_http {
        looked.push_str("; the registry client needs them to start even for a plain-HTTP registry");
    } else if let Some(file) = extra.files.first() {
        looked.push_str(&format!(
            "; the registry client needs them to start, and --ca-file only adds to them \
             (SSL_CERT_FILE={} would do both)",
            file.display()
        ));
    }
    OciError::NoRoots {
        registry: registry.to_string(),
        looked,
    }
}

/// Where the roots were looked for, in the words of the variables that move them.
fn searched() -> String {
    let var = |name| std::env::var_os(name).map(|v| format!("{name}={}", v.to_string_lossy()));
    let set: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(var)
        .collect();
    if set.is_empty() {
        "none in the system's CA bundle (/etc/ssl/certs/ca-certificates.crt on Debian and \
         Ubuntu, or the other usual places)"
            .to_string()
    } else {
        format!("none in {}", set.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_roots_says_where_it_looked_and_what_to_do() {
        let e = no_roots(
            "reg.example",
            false,
            &CaFiles::default(),
            "none in SSL_CERT_FILE=/x",
            &["bad PEM".into()],
        );
        let text = e.to_string();
        for part in [
            "registry reg.example: no CA certificates, none in SSL_CERT_FILE=/x (bad PEM);",
            "set SSL_CERT_FILE to a CA bundle",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(!text.contains("plain-HTTP"), "{text}");
        assert!(!e.is_remote(), "{text}");
        let e = no_roots(
            "127.0.0.1:5000",
            true,
            &CaFiles::default(),
            "none in SSL_CERT_FILE=/x",
            &[],
        );
        assert!(
            e.to_string()
                .contains("/x; the registry client needs them to start even for a plain-HTTP"),
            "{e}"
        );
    }

    #[test]
    fn a_ca_file_that_holds_no_usable_certificate_is_named_with_why() {
        let dir = std::env::temp_dir().join(format!("ca-file-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let cases = [
            (dir.join("missing.pem"), "missing.pem: cannot read it"),
            (
                write("profile.json", b"{}\n"),
                "holds no PEM certificate (-----BEGIN",
            ),
            (write("ca.der", &[0x30, 0x82, 0x01]), "it looks like DER"),
            (
                write("cut.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n"),
                "cut.pem: it is not valid PEM",
            ),
            (
                write(
                    "junk.pem",
                    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ),
                "junk.pem: certificate 1 cannot be a CA root",
            ),
        ];
        for (path, expected) in cases {
            let e = CaFiles::load(std::slice::from_ref(&path)).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("--ca-file "), "{text}");
            assert!(text.contains(expected), "{expected}: {text}");
            assert!(!e.is_remote(), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        // Without a system bundle, --ca-file cannot stand in for one; SSL_CERT_FILE can.
        let extra = CaFiles {
            files: vec!["/etc/private-ca.pem".into()],
            certs: Vec::new(),
        };
        let e = no_roots(
            "reg.example",
            false,
            &extra,
            "none in SSL_CERT_FILE=/x",
            &[],
        );
        assert!(
            e.to_string()
                .contains("--ca-file only adds to them (SSL_CERT_FILE=/etc/private-ca.pem"),
            "{e}"
        );
    }

    #[test]
    fn each_certificate_problem_says_what_to_do() {
        use rustls::CertificateError as C;
        let extra = CaFiles {
            files: vec!["ca.pem".into()],
            certs: Vec::new(),
        };
        let hint = certificate_hint(&C::UnknownIssuer, "reg.example:5443", &extra);
        assert!(
            hint.contains("nor those of --ca-file ca.pem") && hint.contains("with --ca-file FILE"),
            "{hint}"
        );
        let hint = certificate_hint(&C::NotValidForName, "reg.example:5443", &extra);
        assert!(
            hint.contains("not issued for the name reg.example;"),
            "{hint}"
        );
        let hint = certificate_hint(&C::Expired, "reg.example", &extra);
        assert!(hint.contains("clock"), "{hint}");
        let hint = certificate_hint(&C::BadEncoding, "reg.example", &extra);
        assert!(hint.contains("-connect reg.example:443 "), "{hint}");
        let hint = certificate_hint(&C::BadEncoding, "[::1]:5000", &extra);
        assert!(hint.contains("-connect [::1]:5000 "), "{hint}");
    }

    /// reqwest hands rustls' error up inside io::Errors (one per layer) under its own
    /// errors; io::Error's `source` skips what it wraps, so a plain walk would miss it.
    #[test]
    fn the_tls_error_is_found_under_nested_io_errors() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, refused.clone());
        let outer = Outer(std::io::Error::other(inner));
        let found = handshake_error(&outer);
        assert_eq!(found, Some(refused));
        assert!(fails_every_time(&found.unwrap()));
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(fails_every_time(&not_tls));
        let refused_conn = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(handshake_error(&refused_conn), None);
        assert!(!fails_every_time(&rustls::Error::DecryptError));
    }
}
