//! Push and pull over HTTPS to a registry whose certificate comes from a private CA (as
//! Harbor, Artifactory or a cluster-local registry often have): trusted with `--ca-file` or
//! `SSL_CERT_FILE`, checked with skopeo trusting the same CA, and refused with an error that
//! names the registry, the certificate's problem and what to do.

use super::*;
use seccomp_recorder_tests::registry::make_ca;

/// The recorder's output with `args`, and `SSL_CERT_FILE`/`SSL_CERT_DIR` as this
/// machine's environment has them unless `env` sets them.
fn run(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Output {
    recorder_in(scratch, args, None, env)
}

/// The recorder's output with `args` and only `var` (SSL_CERT_FILE or SSL_CERT_DIR) set.
fn run_trusting(scratch: &Scratch, args: &[&str], var: &str, value: &Path) -> Output {
    let mut cmd = recorder_cmd(scratch, args);
    cmd.env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env(var, value);
    cmd.output().unwrap()
}

/// `push --ca-file CA` of the profile fixture to `reference`.
fn push_trusting(scratch: &Scratch, ca: &Path, reference: &str) -> Output {
    let file = fixture("oci/profile.json");
    let args = [
        "push",
        "--ca-file",
        ca.to_str().unwrap(),
        file.to_str().unwrap(),
        reference,
    ];
    run(scratch, &args, &[])
}

/// What skopeo, trusting only the registry's CA (`--cert-dir`, verification on), reads at
/// `reference`.
fn skopeo_over_tls(reg: &Registry, reference: &str) -> Vec<u8> {
    run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=true", "--cert-dir"])
            .arg(reg.cert_dir())
            .arg(format!("docker://{reference}")),
    )
}

/// The registry holds no repository: nothing was pushed.
fn assert_nothing_pushed(reg: &Registry) {
    let repos = reg.storage().join("docker/registry/v2/repositories");
    assert!(
        !repos.exists(),
        "something was pushed: {:?}\n{}",
        std::fs::read_dir(&repos).map(|d| d.count()),
        reg.log()
    );
}

#[test]
fn push_and_pull_over_https_with_a_private_ca() {
    let reg = Registry::with_tls();
    assert!(
        !reg.addr.starts_with("127.") && !reg.addr.starts_with("localhost"),
        "the registry must be reached by a name the tool speaks HTTPS to: {}",
        reg.addr
    );
    let ca = reg.ca.clone().unwrap();
    let scratch = Scratch::new("oci-tls");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let out = push_trusting(&scratch, &ca, &reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();

    // An independent client that verifies the certificate against the same CA reads it.
    let raw = skopeo_over_tls(&reg, &reference);
    assert_eq!(sha256(&raw), digest);
    let manifest = json(&raw);
    assert_eq!(manifest["artifactType"], SECCOMP_TYPE);
    assert_eq!(
        manifest["layers"][0]["digest"],
        sha256(&read(&file)).as_str()
    );

    // pull gives back the bytes, by tag with --ca-file and by digest with SSL_CERT_FILE
    // naming the CA alone (it replaces the system's bundle).
    let by_tag = scratch.path("by-tag.json");
    let args = ["pull", "--ca-file", ca.to_str().unwrap(), &reference, "-o"];
    let o = run(
        &scratch,
        &[&args[..], &[by_tag.to_str().unwrap()]].concat(),
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&by_tag), read(&file));
    let by_digest = scratch.path("by-digest.json");
    let pinned = format!("{}/team/app-seccomp@{digest}", reg.addr);
    let args = ["pull", &pinned, "-o", by_digest.to_str().unwrap()];
    let o = run_trusting(&scratch, &args, "SSL_CERT_FILE", &ca);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&by_digest), read(&file));
    // SSL_CERT_DIR, a directory holding the CA alone, does the same.
    std::fs::remove_file(&by_digest).unwrap();
    let o = run_trusting(&scratch, &args, "SSL_CERT_DIR", &reg.cert_dir());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&by_digest), read(&file));
}

/// A certificate issued for another name than the one the registry is reached by is
/// refused even with its CA trusted, and the error names both.
#[test]
fn a_certificate_for_another_name_is_named() {
    let reg = Registry::with_tls_for("other-name.example");
    let scratch = Scratch::new("oci-tls-name");
    let ca = reg.ca.clone().unwrap();
    let reference = reg.reference("team/app-seccomp:v1");
    let o = push_trusting(&scratch, &ca, &reference);
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    let host = reg.addr.rsplit_once(':').unwrap().0;
    for part in [
        format!(
            "registry {} sent an HTTPS certificate that was refused (",
            reg.addr
        ),
        "other-name.example".to_string(),
        format!("it is not issued for the name {host};"),
    ] {
        assert!(msg.contains(&part), "{part}: {msg}");
    }
    assert!(!msg.contains("retrying"), "{msg}");
    assert_nothing_pushed(&reg);
}

/// As a company registry often is: a password, and a certificate from an intermediate CA
/// that the registry sends along, trusted through the root alone. Credentials go over the
/// TLS connection; skopeo, with the same root and credentials, reads what was pushed.
#[test]
fn push_and_pull_with_credentials_and_an_intermediate_ca() {
    let reg = Registry::with_tls_and_auth("ci", "tls-pw-5521");
    let ca = reg.ca.clone().unwrap();
    let scratch = Scratch::new("oci-tls-auth");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let ca_arg = ca.to_str().unwrap();
    let login = ["--username", "ci", "--password-stdin", "--ca-file", ca_arg];
    let args = [&["push"], &login[..], &[file.to_str().unwrap(), &reference]].concat();
    let o = recorder_in(&scratch, &args, Some("tls-pw-5521\n"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let raw = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=true", "--creds"])
            .arg(reg.creds.as_deref().unwrap())
            .arg("--cert-dir")
            .arg(reg.cert_dir())
            .arg(format!("docker://{reference}")),
    );
    assert_eq!(sha256(&raw), digest);
    let pulled = scratch.path("pulled.json");
    let args = [
        &["pull"],
        &login[..],
        &[&reference, "-o", pulled.to_str().unwrap()],
    ]
    .concat();
    let o = recorder_in(&scratch, &args, Some("tls-pw-5521\n"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&pulled), read(&file));
    // The wrong password over TLS is the registry's 401, not a certificate problem.
    let args = [&["pull"], &login[..], &[&reference]].concat();
    let o = recorder_in(&scratch, &args, Some("wrong\n"), &[]);
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(
        msg.contains("401 Unauthorized") && !msg.contains("certificate"),
        "{msg}"
    );
}

/// Without the CA, or with another one, push and pull stop at the first request with an
/// error naming the registry, the certificate's problem and the flag that fixes it: not
/// retried, nothing pushed, no file written, exit code 2 (as for every error).
#[test]
fn an_untrusted_registry_certificate_is_a_clear_error() {
    let reg = Registry::with_tls();
    let scratch = Scratch::new("oci-tls-untrusted");
    let other = make_ca(&scratch.path("other"), "other-ca");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let untrusted = format!(
        "registry {} sent an HTTPS certificate that was refused (",
        reg.addr
    );
    let check = |o: &Output, expected: &[&str]| {
        let msg = stderr(o);
        assert_eq!(o.status.code(), Some(2), "{msg}");
        for part in [untrusted.as_str(), "UnknownIssuer", "--ca-file FILE"]
            .iter()
            .chain(expected)
        {
            assert!(msg.contains(part), "{part}: {msg}");
        }
        // Not a network failure: no retries, no "retry with" (the same command fails again),
        // no --insecure advice (it would send the push in plain text), no panic.
        for wrong in ["retrying", "retry with", "add --insecure", "panicked"] {
            assert!(!msg.contains(wrong), "{wrong}: {msg}");
        }
    };
    let o = run(&scratch, &["push", file.to_str().unwrap(), &reference], &[]);
    check(&o, &["it is signed by a CA that is not among"]);
    let with_other = format!("nor those of --ca-file {}", other.display());
    let o = push_trusting(&scratch, &other, &reference);
    check(&o, &[&with_other]);
    assert_nothing_pushed(&reg);

    let existing = scratch.path("existing.json");
    std::fs::write(&existing, "keep me\n").unwrap();
    let o = run(
        &scratch,
        &["pull", &reference, "-o", existing.to_str().unwrap()],
        &[],
    );
    check(&o, &[&format!("cannot pull {reference}")]);
    assert_eq!(read(&existing), b"keep me\n");
}

/// `--insecure` (plain HTTP) against a registry that serves only HTTPS says so and what to
/// do, rather than "refused to push".
#[test]
fn insecure_against_an_https_registry_says_it_serves_https() {
    let reg = Registry::with_tls();
    let scratch = Scratch::new("oci-tls-insecure");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let o = run(
        &scratch,
        &["push", "--insecure", file.to_str().unwrap(), &reference],
        &[],
    );
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    for part in [
        format!("registry {} serves HTTPS, not plain HTTP", reg.addr),
        "leave out --insecure".to_string(),
        "--ca-file FILE".to_string(),
    ] {
        assert!(msg.contains(&part), "{part}: {msg}");
    }
    assert_nothing_pushed(&reg);
}

/// The other way round: HTTPS to a plain-HTTP registry (reached by a name, so not taken for
/// loopback) says it does not answer in TLS, once, and `--insecure` pushes.
#[test]
fn https_to_a_plain_http_registry_says_to_add_insecure() {
    let reg = Registry::plain_on_host_name();
    let scratch = Scratch::new("oci-tls-plain");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let o = run(&scratch, &["push", file.to_str().unwrap(), &reference], &[]);
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    for part in [
        format!("registry {} does not answer in TLS (", reg.addr),
        "if it serves plain HTTP, add --insecure".to_string(),
    ] {
        assert!(msg.contains(&part), "{part}: {msg}");
    }
    assert!(!msg.contains("retrying"), "{msg}");
    assert_nothing_pushed(&reg);
    let o = run(
        &scratch,
        &["push", "--insecure", file.to_str().unwrap(), &reference],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert_eq!(sha256(&skopeo_raw(&reference, None)), digest);
}

/// A --ca-file that cannot be used is refused before any request, naming the file; for
/// `record --push`, before the command runs.
#[test]
fn a_bad_ca_file_is_refused_before_anything_is_sent() {
    seccomp_recorder_tests::require_root();
    let reg = Registry::with_tls();
    let scratch = Scratch::new("oci-tls-bad-ca");
    let file = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let missing = scratch.path("missing.pem");
    for (ca, why) in [
        (missing.as_path(), "cannot read it"),
        (file.as_path(), "it holds no PEM certificate"),
    ] {
        let ca = ca.to_str().unwrap();
        let o = run(
            &scratch,
            &["push", "--ca-file", ca, file.to_str().unwrap(), &reference],
            &[],
        );
        let msg = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{msg}");
        assert!(msg.contains(&format!("--ca-file {ca}: {why}")), "{msg}");
    }
    let marker = scratch.path("ran");
    let o = run(
        &scratch,
        &[
            "record",
            "-o",
            scratch.path("p.json").to_str().unwrap(),
            "--push",
            &reference,
            "--ca-file",
            missing.to_str().unwrap(),
            "--",
            "/usr/bin/touch",
            marker.to_str().unwrap(),
        ],
        &[],
    );
    let msg = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{msg}");
    assert!(msg.contains("cannot read it"), "{msg}");
    assert!(!marker.exists(), "the command ran: {msg}");
    assert!(reg.requests().is_empty(), "{:?}", reg.requests());
}

/// `record --push` publishes over HTTPS with --ca-file.
#[test]
fn record_push_over_https_with_a_private_ca() {
    seccomp_recorder_tests::require_root();
    let reg = Registry::with_tls();
    let ca = reg.ca.clone().unwrap();
    let scratch = Scratch::new("oci-tls-record");
    let out = scratch.path("recorded.json");
    let reference = reg.reference("team/recorded:v1");
    let o = run(
        &scratch,
        &[
            "record",
            "-o",
            out.to_str().unwrap(),
            "--push",
            &reference,
            "--ca-file",
            ca.to_str().unwrap(),
            "--",
            "/bin/true",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let raw = skopeo_over_tls(&reg, &reference);
    assert_eq!(sha256(&raw), digest);
    assert_eq!(
        json(&raw)["layers"][0]["digest"],
        sha256(&read(&out)).as_str()
    );
}
