//! The CA certificates the registry client needs before it is built. oci-client builds a
//! default reqwest client inside every client it makes, whatever its configuration, and
//! reqwest's platform verifier fails that build where the system has no CA certificate (a
//! container image without a bundle): reqwest then panics. So the certificates are looked
//! for here first, the way that verifier looks, and their absence is an error that says
//! what to do. Even a plain-HTTP registry needs them, for that reason.

use super::OciError;

/// Whether the system's CA certificates, as the platform verifier loads them
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` when either is set, else the distribution's bundle),
/// hold at least one that rustls can use as a root.
pub(crate) fn require_roots(registry: &str, plain_http: bool) -> Result<(), OciError> {
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
    Err(no_roots(registry, plain_http, &searched(), &problems))
}

/// The error for no usable root: `looked` says where they were looked for.
fn no_roots(registry: &str, plain_http: bool, looked: &str, problems: &[String]) -> OciError {
    let mut looked = looked.to_string();
    if !problems.is_empty() {
        looked = format!("{looked} ({})", problems.join("; "));
    }
    if plain_http {
        looked.push_str("; the registry client needs them to start even for a plain-HTTP registry");
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
        let e = no_roots("127.0.0.1:5000", true, "none in SSL_CERT_FILE=/x", &[]);
        assert!(
            e.to_string()
                .contains("/x; the registry client needs them to start even for a plain-HTTP"),
            "{e}"
        );
    }
}
