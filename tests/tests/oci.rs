//! `push` and `pull` against a real registry (Debian's docker-registry), checked with clients
//! we did not write: skopeo, oras-py, sha256sum and raw HTTP.

use seccomp_recorder_tests::registry::Registry;
use seccomp_recorder_tests::{
    Scratch, bin, fixture, free_port, sha256, sha256_hex, stderr, wait_until,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

#[path = "oci/tls.rs"]
mod tls;

const SECCOMP_TYPE: &str = "application/vnd.cncf.seccomp-profile.config.v1+json";
/// `printf '{}' | sha256sum`
const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The recorder with no credentials from the host: empty Docker and Podman auth locations.
fn recorder_cmd(scratch: &Scratch, args: &[&str]) -> Command {
    let empty = scratch.path("no-auth");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .env_remove("REGISTRY_AUTH_FILE")
        .env("DOCKER_CONFIG", &empty)
        .env("XDG_RUNTIME_DIR", &empty);
    cmd
}

fn recorder_in(
    scratch: &Scratch,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = recorder_cmd(scratch, args);
    cmd.envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start seccomp-recorder");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn push(scratch: &Scratch, file: &Path, reference: &str) -> String {
    let out = recorder_in(
        scratch,
        &["push", file.to_str().unwrap(), reference],
        None,
        &[],
    );
    assert!(out.status.success(), "push failed: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn pull(scratch: &Scratch, reference: &str, output: &Path) {
    let out = recorder_in(
        scratch,
        &["pull", reference, "-o", output.to_str().unwrap()],
        None,
        &[],
    );
    assert!(
        out.status.success(),
        "pull {reference} failed: {}",
        stderr(&out)
    );
}

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", stderr(&out));
    out.stdout
}

/// The raw manifest as skopeo (containers/image, what CRI-O uses) fetches it.
fn skopeo_raw(reference: &str, creds: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    run_ok(cmd.arg(format!("docker://{reference}")))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Runs a Python snippet with oras-py, the second independent client.
fn python(script: &str) -> Vec<u8> {
    run_ok(Command::new("python3").args(["-c", script]))
}

/// Pushes `files` (all in one directory) with oras-py; no `config_type` gives oras' default
/// config, `application/vnd.unknown.config.v1+json`, as `spoc push` writes it.
fn oras_push(reference: &str, files: &[&Path], config_type: Option<&str>) {
    let dir = files[0].parent().unwrap();
    let config = match config_type {
        Some(t) => {
            let cfg = dir.join("config.json");
            std::fs::write(&cfg, "{}\n").unwrap();
            format!("manifest_config='{}:{t}',", cfg.display())
        }
        None => String::new(),
    };
    let names: Vec<String> = files
        .iter()
        .map(|f| format!("'{}'", f.file_name().unwrap().to_str().unwrap()))
        .collect();
    python(&format!(
        "import os, oras.client\nos.chdir('{}')\n\
         oras.client.OrasClient(insecure=True).push(target='{reference}', files=[{}], {config} \
         disable_path_validation=True)",
        dir.display(),
        names.join(", "),
    ));
}

#[test]
fn pushed_artifact_is_what_crio_reads() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-artifact");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let digest = push(&scratch, &profile, &reference);

    let raw = skopeo_raw(&reference, None);
    assert_eq!(digest, sha256(&raw), "the printed digest is the manifest's");
    let m = json(&raw);
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["artifactType"], SECCOMP_TYPE);
    assert_eq!(m["config"]["mediaType"], SECCOMP_TYPE);
    assert_eq!(m["config"]["digest"], EMPTY_CONFIG_DIGEST);
    assert_eq!(m["config"]["size"], 2);
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "exactly one layer: {m}");
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "seccomp.json"
    );
    let bytes = read(&profile);
    assert_eq!(layers[0]["digest"], sha256(&bytes).as_str());
    assert_eq!(layers[0]["size"], bytes.len());
    let created = m["annotations"]["org.opencontainers.image.created"]
        .as_str()
        .unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );

    // The layer as containers/image copies it (CRI-O's path) holds the profile's bytes.
    let dir = scratch.path("copy");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .arg(format!("dir:{}", dir.display())),
    );
    let hex = sha256_hex(&bytes);
    assert_eq!(read(&dir.join(hex)), bytes);
}

#[test]
fn pull_gives_back_the_same_bytes_by_tag_and_by_digest() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-pull");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let digest = push(&scratch, &profile, &reference);

    let by_tag = scratch.path("by-tag.json");
    pull(&scratch, &reference, &by_tag);
    assert_eq!(read(&by_tag), read(&profile));

    let by_digest = scratch.path("by-digest.json");
    pull(
        &scratch,
        &reg.reference(&format!("team/app-seccomp@{digest}")),
        &by_digest,
    );
    assert_eq!(read(&by_digest), read(&profile));

    let out = recorder_in(&scratch, &["pull", &reference], None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        out.stdout,
        read(&profile),
        "without -o the profile goes to stdout"
    );
}

#[test]
fn oras_pulls_what_we_pushed() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-oras");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    push(&scratch, &profile, &reference);
    let outdir = scratch.path("oras-out");
    python(&format!(
        "import oras.client\noras.client.OrasClient(insecure=True).pull(target='{reference}', outdir='{}')",
        outdir.display()
    ));
    assert_eq!(read(&outdir.join("seccomp.json")), read(&profile));
}

#[test]
fn we_pull_what_oras_pushed_for_crio() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-from-oras");
    let file = scratch.path("seccomp.json");
    std::fs::copy(fixture("oci/profile.json"), &file).unwrap();
    let reference = reg.reference("crio/seccomp:v2");
    oras_push(&reference, &[&file], Some(SECCOMP_TYPE));
    let out = scratch.path("pulled.json");
    pull(&scratch, &reference, &out);
    assert_eq!(read(&out), read(&fixture("oci/profile.json")));
}

#[test]
fn htpasswd_registry_needs_credentials() {
    let reg = Registry::with_auth("ci-user", "pw-Zq81x");
    let scratch = Scratch::new("oci-auth");
    let profile = fixture("oci/profile.json");
    let file = profile.to_str().unwrap();
    let reference = reg.reference("team/app-seccomp:v1");

    let none = recorder_in(&scratch, &["push", file, &reference], None, &[]);
    assert!(!none.status.success());
    let msg = stderr(&none);
    assert!(
        msg.contains("401") && msg.contains("--username") && msg.contains("retry with"),
        "{msg}"
    );

    let wrong = recorder_in(
        &scratch,
        &[
            "push",
            "--username",
            "ci-user",
            "--password-stdin",
            file,
            &reference,
        ],
        Some("nope-7731\n"),
        &[],
    );
    assert!(!wrong.status.success());
    let msg = stderr(&wrong);
    assert!(
        msg.contains("rejected") && msg.contains("--username") && !msg.contains("nope-7731"),
        "{msg}"
    );

    let ok = recorder_in(
        &scratch,
        &[
            "-vv",
            "push",
            "--username",
            "ci-user",
            "--password-stdin",
            file,
            &reference,
        ],
        Some("pw-Zq81x\n"),
        &[],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    // Not even trace logging shows the password or the Basic header made from it.
    let basic = String::from_utf8(run_ok(Command::new("base64").arg("-w0").arg(write_tmp(
        &scratch,
        "creds",
        "ci-user:pw-Zq81x",
    ))))
    .unwrap();
    assert!(stderr(&ok).contains("Z TRACE "), "{}", stderr(&ok));
    assert!(!stderr(&ok).contains("pw-Zq81x") && !stderr(&ok).contains(&basic));
    let digest = String::from_utf8(ok.stdout).unwrap().trim().to_string();
    assert_eq!(
        digest,
        sha256(&skopeo_raw(&reference, reg.creds.as_deref()))
    );
    pull_with_each_kind_of_credentials(&reg, &scratch, &basic);
}

/// Pulls `team/app-seccomp:v1` from `reg` (user ci-user, `basic` its Basic credentials)
/// with the credentials in the environment, in an --authfile, and where `docker login` and
/// `podman login` leave them.
fn pull_with_each_kind_of_credentials(reg: &Registry, scratch: &Scratch, basic: &str) {
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    let env = [
        ("REGISTRY_USERNAME", "ci-user"),
        ("REGISTRY_PASSWORD", "pw-Zq81x"),
    ];
    let out = scratch.path("env.json");
    let pulled = recorder_in(
        scratch,
        &["pull", &reference, "-o", out.to_str().unwrap()],
        None,
        &env,
    );
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_eq!(read(&out), read(&profile));

    // The Docker config format that `docker login` and `podman login` write.
    let authfile = scratch.path("auth.json");
    std::fs::write(
        &authfile,
        format!(r#"{{"auths":{{"{}":{{"auth":"{basic}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    let out2 = scratch.path("authfile.json");
    let args = [
        "pull",
        "--authfile",
        authfile.to_str().unwrap(),
        &reference,
        "-o",
        out2.to_str().unwrap(),
    ];
    // The file named on the command line wins over the environment.
    let wrong_env = [
        ("REGISTRY_USERNAME", "ci-user"),
        ("REGISTRY_PASSWORD", "wrong"),
    ];
    let pulled = recorder_in(scratch, &args, None, &wrong_env);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    assert_eq!(read(&out2), read(&profile));

    // The same file where `docker login` and `podman login` leave it.
    let docker_dir = scratch.path("docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::copy(&authfile, docker_dir.join("config.json")).unwrap();
    let podman_dir = scratch.path("run-user");
    std::fs::create_dir_all(podman_dir.join("containers")).unwrap();
    std::fs::copy(&authfile, podman_dir.join("containers/auth.json")).unwrap();
    for (var, dir) in [
        ("DOCKER_CONFIG", &docker_dir),
        ("XDG_RUNTIME_DIR", &podman_dir),
    ] {
        let out = scratch.path(&format!("{var}.json"));
        let args = ["pull", &reference, "-o", out.to_str().unwrap()];
        let pulled = recorder_in(scratch, &args, None, &[(var, dir.to_str().unwrap())]);
        assert!(pulled.status.success(), "{var}: {}", stderr(&pulled));
        assert_eq!(read(&out), read(&profile));
    }
}

/// docs/oci.md: an identity token is not supported, and the messages say it was found and
/// why it was not used, whether the file was named or found where `docker login` leaves it.
#[test]
fn an_identity_token_is_named_with_why_it_is_not_used() {
    let reg = Registry::with_auth("ci-user", "pw-Zq81x");
    let scratch = Scratch::new("oci-token");
    let reference = reg.reference("team/app-seccomp:v1");
    let out = scratch.path("pulled.json");
    let args = ["pull", &reference, "-o", out.to_str().unwrap()];
    let token_only = format!(
        r#"{{"auths":{{"{}":{{"identitytoken":"tok-5521"}}}}}}"#,
        reg.addr
    );
    let said = format!(
        "holds an identity token for {}, which is not supported",
        reg.addr
    );

    let authfile = write_tmp(&scratch, "auth.json", &token_only);
    let named = [&args[..], &["--authfile", authfile.to_str().unwrap()]].concat();
    let res = recorder_in(&scratch, &named, None, &[]);
    assert_eq!(res.status.code(), Some(2));
    let msg = stderr(&res);
    assert!(
        msg.contains(&said) && !msg.contains("no entry") && !msg.contains("tok-5521"),
        "{msg}"
    );

    let docker_dir = scratch.path("docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::write(docker_dir.join("config.json"), &token_only).unwrap();
    let env = [("DOCKER_CONFIG", docker_dir.to_str().unwrap())];
    let res = recorder_in(&scratch, &args, None, &env);
    assert_eq!(res.status.code(), Some(2));
    let msg = stderr(&res);
    assert!(msg.contains("401") && msg.contains(&said), "{msg}");
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn pull_refuses_what_is_not_a_profile() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-not-profile");
    let text = write_tmp(&scratch, "notes.txt", "just some notes\n");
    oras_push(&reg.reference("team/notes:v1"), &[&text], None);
    let big = scratch.path("big.json");
    std::fs::write(&big, vec![b' '; 2 << 20]).unwrap();
    oras_push(&reg.reference("team/big:v1"), &[&big], Some(SECCOMP_TYPE));

    let out = scratch.path("out.json");
    for (name, expected) in [
        ("team/notes:v1", "layer 'notes.txt' of"),
        (
            "team/big:v1",
            "is 2097152 bytes; CRI-O and the Security Profiles Operator accept at most 1048576",
        ),
    ] {
        let args = ["pull", &reg.reference(name), "-o", out.to_str().unwrap()];
        let res = recorder_in(&scratch, &args, None, &[]);
        assert_eq!(res.status.code(), Some(2));
        assert!(stderr(&res).contains(expected), "{name}: {}", stderr(&res));
        assert!(!out.exists(), "{name}: nothing is written");
    }
}

fn write_tmp(scratch: &Scratch, name: &str, text: &str) -> PathBuf {
    let path = scratch.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn unreachable_registry_is_a_clear_error_and_files_stay() {
    let mut reg = Registry::start();
    let reference = reg.reference("team/app-seccomp:v1");
    reg.stop();
    let scratch = Scratch::new("oci-down");
    let file = scratch.path("profile.json");
    std::fs::copy(fixture("oci/profile.json"), &file).unwrap();

    let out = recorder_in(
        &scratch,
        &["push", file.to_str().unwrap(), &reference],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(
        msg.contains(&format!("cannot reach registry {}", reg.addr)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "retry with `seccomp-recorder push {} {reference}`",
            file.display()
        )),
        "{msg}"
    );
    assert_eq!(read(&file), read(&fixture("oci/profile.json")));

    // The retry advice repeats the flags (never the password) and quotes what needs it.
    let spaced = scratch.path("my profile.json");
    std::fs::copy(fixture("oci/profile.json"), &spaced).unwrap();
    let args = [
        "push",
        "--username",
        "ci",
        "--password-stdin",
        "--insecure",
        spaced.to_str().unwrap(),
        &reference,
    ];
    let out = recorder_in(&scratch, &args, Some("pw-81723\n"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    let expected = format!(
        "retry with `seccomp-recorder push --username ci --password-stdin --insecure '{}' {reference}`",
        spaced.display()
    );
    assert!(
        msg.contains(&expected) && !msg.contains("pw-81723"),
        "{msg}"
    );
    assert_eq!(read(&spaced), read(&fixture("oci/profile.json")));

    let existing = write_tmp(&scratch, "existing.json", "keep me\n");
    let out = recorder_in(
        &scratch,
        &["pull", &reference, "-o", existing.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot reach registry"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&existing), b"keep me\n");
}

/// Without CA certificates (SSL_CERT_FILE names an empty bundle, as in an image that ships
/// none), a push stops before any connection with an error that says where certificates
/// were looked for and what to do, to an HTTPS registry and to a plain-HTTP one alike (the
/// registry client needs them to start). The client used to panic there. With
/// SSL_CERT_FILE naming a bundle of one root, as docs/kubernetes.md has pods do with the
/// node's bundle, the push works.
#[test]
fn without_ca_certificates_a_push_says_what_to_do_and_ssl_cert_file_fixes_it() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-no-roots");
    let empty = write_tmp(&scratch, "empty-bundle.pem", "");
    let file = scratch.path("profile.json");
    std::fs::copy(fixture("oci/profile.json"), &file).unwrap();
    let push_with = |bundle: &Path, reference: &str| {
        let mut cmd = recorder_cmd(&scratch, &["push", file.to_str().unwrap(), reference]);
        cmd.env("SSL_CERT_FILE", bundle).env_remove("SSL_CERT_DIR");
        cmd.output().unwrap()
    };
    let plain = reg.reference("team/app-seccomp:no-roots");
    for (reference, registry) in [
        ("registry.invalid/team/app-seccomp:v1", "registry.invalid"),
        (plain.as_str(), reg.addr.as_str()),
    ] {
        let out = push_with(&empty, reference);
        let msg = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{msg}");
        for part in [
            format!("registry {registry}: no CA certificates"),
            format!("none in SSL_CERT_FILE={}", empty.display()),
            "set SSL_CERT_FILE to a CA bundle".to_string(),
        ] {
            assert!(msg.contains(&part), "{part}: {msg}");
        }
        // Not a network error with its retry advice: nothing was sent.
        assert!(
            !msg.contains("panicked") && !msg.contains("retry with"),
            "{msg}"
        );
    }
    let one_root = Path::new("/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt");
    let out = push_with(one_root, &plain);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_profiles_are_refused_before_the_network() {
    let scratch = Scratch::new("oci-bad");
    // Nothing listens on port 9 of loopback; a network attempt would say so instead.
    let reference = "127.0.0.1:9/team/app:v1";
    let big = scratch.path("big.json");
    let names: Vec<String> = (0..120_000).map(|i| format!("\"call{i}\"")).collect();
    std::fs::write(
        &big,
        format!(r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":[{}],"action":"SCMP_ACT_ALLOW"}}]}}"#, names.join(",")),
    )
    .unwrap();
    let out = recorder_in(
        &scratch,
        &["push", big.to_str().unwrap(), reference],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at most 1048576 bytes"),
        "{}",
        stderr(&out)
    );

    let not_profile = write_tmp(&scratch, "x.json", "{\"names\": []}\n");
    let out = recorder_in(
        &scratch,
        &["push", not_profile.to_str().unwrap(), reference],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(
        msg.contains("x.json is not a valid seccomp profile") && msg.contains("defaultAction"),
        "{msg}"
    );
    assert!(
        !msg.contains("retry with"),
        "retrying cannot fix the file: {msg}"
    );

    let bad_ref = recorder_in(
        &scratch,
        &[
            "push",
            fixture("oci/profile.json").to_str().unwrap(),
            "Team/App:v1",
        ],
        None,
        &[],
    );
    assert_eq!(bad_ref.status.code(), Some(2));
    assert!(
        stderr(&bad_ref).contains("'Team/App:v1' is not a usable reference"),
        "{}",
        stderr(&bad_ref)
    );

    let out = recorder_in(
        &scratch,
        &[
            "push",
            scratch.path("missing.json").to_str().unwrap(),
            reference,
        ],
        None,
        &[],
    );
    assert!(
        stderr(&out).contains("cannot read") && stderr(&out).contains("missing.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn corrupted_layer_fails_digest_verification() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-corrupt");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    push(&scratch, &profile, &reference);

    // Same length, different bytes, straight into the registry's storage.
    let bytes = read(&profile);
    let hex = sha256_hex(&bytes);
    let blob = reg
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let tampered = String::from_utf8(bytes)
        .unwrap()
        .replacen("\"read\"", "\"reaD\"", 1);
    std::fs::write(&blob, tampered).unwrap();
    assert_eq!(
        std::fs::metadata(&blob).unwrap().len(),
        read(&profile).len() as u64
    );

    let existing = write_tmp(&scratch, "existing.json", "keep me\n");
    let out = recorder_in(
        &scratch,
        &["pull", &reference, "-o", existing.to_str().unwrap()],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not match its digest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&existing), b"keep me\n");
}

/// `push --subject SUBJECT FILE REFERENCE`.
fn push_with_subject(scratch: &Scratch, subject: &str, file: &Path, reference: &str) -> Output {
    let args = [
        "push",
        "--subject",
        subject,
        file.to_str().unwrap(),
        reference,
    ];
    recorder_in(scratch, &args, None, &[])
}

#[test]
fn subject_is_listed_under_the_referrers_tag() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-subject");
    let image_file = write_tmp(&scratch, "app.bin", "not really an image\n");
    let image = reg.reference("team/app:v1");
    oras_push(&image, &[&image_file], None);
    let image_raw = skopeo_raw(&image, None);
    let image_digest = sha256(&image_raw);

    let reference = reg.reference("team/app:v1-seccomp");
    let profile = fixture("oci/profile.json");
    let out = push_with_subject(&scratch, &image, &profile, &reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let m = json(&skopeo_raw(&reference, None));
    assert_eq!(m["subject"]["digest"], image_digest.as_str());
    assert_eq!(m["subject"]["size"], image_raw.len());
    assert_eq!(
        m["subject"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );

    let tag = image_digest.replace(':', "-");
    let index = json(&skopeo_raw(
        &reg.reference(&format!("team/app:{tag}")),
        None,
    ));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(entries[0]["digest"], digest.as_str());
    assert_eq!(entries[0]["artifactType"], SECCOMP_TYPE);

    // A second profile for the same image joins the list.
    let other = fixture("oci/profile-amd64.json");
    let out = push_with_subject(
        &scratch,
        &image,
        &other,
        &reg.reference("team/app:v2-seccomp"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let index = json(&skopeo_raw(
        &reg.reference(&format!("team/app:{tag}")),
        None,
    ));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");

    let other_repo = reg.reference("other/app:v1");
    let elsewhere = push_with_subject(&scratch, &other_repo, &profile, &reference);
    assert!(!elsewhere.status.success());
    assert!(
        stderr(&elsewhere).contains("same repository")
            || stderr(&elsewhere).contains("profile's repository"),
        "{}",
        stderr(&elsewhere)
    );
}

#[test]
fn index_resolves_to_the_host_platform() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-index");
    let mut entries = Vec::new();
    for arch in ["arm64", "amd64"] {
        let dir = scratch.path(arch);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("seccomp.json");
        std::fs::copy(fixture(&format!("oci/profile-{arch}.json")), &file).unwrap();
        let reference = reg.reference(&format!("team/multi:{arch}"));
        oras_push(&reference, &[&file], Some(SECCOMP_TYPE));
        let raw = skopeo_raw(&reference, None);
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
            sha256(&raw),
            raw.len()
        ));
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    // Raw distribution API, so the index is not written by any client under test.
    python(&format!(
        "import urllib.request\nreq = urllib.request.Request('http://{}/v2/team/multi/manifests/v1', data={index:?}.encode(), method='PUT', \
         headers={{'Content-Type': 'application/vnd.oci.image.index.v1+json'}})\nassert urllib.request.urlopen(req).status == 201",
        reg.addr
    ));
    let host = host_arch();
    let out = scratch.path("pulled.json");
    pull(&scratch, &reg.reference("team/multi:v1"), &out);
    assert_eq!(
        read(&out),
        read(&fixture(&format!("oci/profile-{host}.json")))
    );
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("these tests know amd64 and arm64 hosts, not {other}"),
    }
}

#[test]
fn security_profiles_operator_artifact_becomes_a_runtime_profile() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-spo");
    let mut files = Vec::new();
    for arch in ["amd64", "arm64"] {
        let file = scratch.path(&format!("profile-linux-{arch}.yaml"));
        std::fs::copy(
            fixture(&format!("oci/spo-profile-linux-{arch}.yaml")),
            &file,
        )
        .unwrap();
        files.push(file);
    }
    let reference = reg.reference("spo/demo:v1");
    oras_push(
        &reference,
        &files.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
        None,
    );
    let m = json(&skopeo_raw(&reference, None));
    assert_eq!(
        m["config"]["mediaType"], "application/vnd.unknown.config.v1+json",
        "{m}"
    );

    let out = scratch.path("pulled.json");
    pull(&scratch, &reference, &out);
    let expected = json(&read(&fixture(&format!(
        "oci/spo-expected-{}.json",
        host_arch()
    ))));
    assert_eq!(json(&read(&out)), expected);
    assert!(read(&out).ends_with(b"}\n"));
}

#[test]
fn missing_tag_is_a_clear_404() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-404");
    let reference = reg.reference("team/nothing:v9");
    let out = recorder_in(
        &scratch,
        &[
            "pull",
            &reference,
            "-o",
            scratch.path("x.json").to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert!(
        msg.contains("does not exist") && msg.contains("404") && msg.contains("team/nothing:v9"),
        "{msg}"
    );
    assert!(!scratch.path("x.json").exists());
}

/// Breaks the registry's storage (a file where its root directory was): every write is
/// answered with HTTP 500 until `repair_storage`.
fn break_storage(reg: &Registry) {
    std::fs::remove_dir_all(reg.storage()).unwrap();
    std::fs::write(reg.storage(), "not a directory\n").unwrap();
}

fn repair_storage(reg: &Registry) {
    std::fs::remove_file(reg.storage()).unwrap();
    std::fs::create_dir(reg.storage()).unwrap();
}

#[test]
fn server_errors_are_retried_then_reported() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-500");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    break_storage(&reg);
    let out = recorder_in(
        &scratch,
        &["push", profile.to_str().unwrap(), &reference],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let msg = stderr(&out);
    assert_eq!(msg.matches("retrying in").count(), 3, "{msg}");
    assert!(
        msg.contains("HTTP 500 (4 attempts)") && msg.contains("retry with"),
        "{msg}"
    );
}

#[test]
fn transient_server_error_is_overcome_by_retrying() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-retry");
    let profile = fixture("oci/profile.json");
    let reference = reg.reference("team/app-seccomp:v1");
    break_storage(&reg);
    let mut child = recorder_cmd(&scratch, &["push", profile.to_str().unwrap(), &reference])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // The KEP-6061 warnings and the baselines they use come before the network.
    let first = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains(&reference))
        .expect("a retry message");
    assert!(
        first.contains("500") && first.contains("retrying in"),
        "{first}"
    );
    // The registry recovers while the client waits before its next attempt.
    repair_storage(&reg);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let mut digest = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut digest)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert_eq!(digest.trim(), sha256(&skopeo_raw(&reference, None)));
}

#[test]
fn source_date_epoch_makes_pushes_reproducible() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-epoch");
    let profile = fixture("oci/profile.json");
    let env = [("SOURCE_DATE_EPOCH", "1700000000")];
    let digests: Vec<String> = ["team/app:a", "team/app:b"]
        .iter()
        .map(|name| {
            let args = ["push", profile.to_str().unwrap(), &reg.reference(name)];
            let out = recorder_in(&scratch, &args, None, &env);
            assert!(out.status.success(), "{}", stderr(&out));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    let m = json(&skopeo_raw(&reg.reference("team/app:b"), None));
    // `date -u -d @1700000000`
    assert_eq!(
        m["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
}

/// `record --push`: the profile is written first, then pushed; skopeo (not our client)
/// finds exactly the recorded bytes in the registry.
#[test]
fn record_push_publishes_the_recorded_profile() {
    seccomp_recorder_tests::require_root();
    let reg = Registry::start();
    let scratch = Scratch::new("oci-record-push");
    let out = scratch.path("recorded.json");
    let reference = reg.reference("team/recorded:v1");
    let o = recorder_in(
        &scratch,
        &[
            "record",
            "-o",
            out.to_str().unwrap(),
            "--push",
            &reference,
            "--",
            "/bin/true",
        ],
        None,
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let digest = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let dir = scratch.path("copy");
    run_ok(
        Command::new("skopeo")
            .args(["copy", "--src-tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .arg(format!("dir:{}", dir.display())),
    );
    let manifest = json(&read(&dir.join("manifest.json")));
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert_eq!(read(&dir.join(layer)), read(&out));
}

#[test]
fn record_push_to_a_dead_registry_keeps_the_profile_and_says_how_to_retry() {
    seccomp_recorder_tests::require_root();
    let mut reg = Registry::start();
    let reference = reg.reference("team/recorded:v1");
    reg.stop();
    let scratch = Scratch::new("oci-record-push-dead");
    let out = scratch.path("recorded.json");
    let o = recorder_in(
        &scratch,
        &[
            "record",
            "-o",
            out.to_str().unwrap(),
            "--push",
            &reference,
            "--",
            "/bin/true",
        ],
        None,
        &[],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("seccomp-recorder push"),
        "no retry advice: {err}"
    );
    let p: Value = json(&read(&out));
    assert!(
        p["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "execve"),
        "{p}"
    );
}

/// A profile runtimes refuse is refused by push and pull, which would otherwise move the
/// failure to every node that pulls it; --force publishes or writes it anyway.
#[test]
fn push_and_pull_refuse_a_profile_runtimes_cannot_load_unless_forced() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-unloadable");
    let bogus = write_tmp(
        &scratch,
        "bogus.json",
        r#"{"defaultAction":"SCMP_ACT_BOGUS","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let reference = reg.reference("team/bogus:v1");
    let refused = recorder_in(
        &scratch,
        &["push", bogus.to_str().unwrap(), &reference],
        None,
        &[],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains("SCMP_ACT_BOGUS") && err.contains("--force"),
        "{err}"
    );
    let forced = recorder_in(
        &scratch,
        &["push", "--force", bogus.to_str().unwrap(), &reference],
        None,
        &[],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));

    let out = scratch.path("out.json");
    let args = ["pull", &reference, "-o", out.to_str().unwrap()];
    let refused = recorder_in(&scratch, &args, None, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("SCMP_ACT_BOGUS"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.exists(), "an unloadable profile was written");
    let args = ["pull", "--force", &reference, "-o", out.to_str().unwrap()];
    let forced = recorder_in(&scratch, &args, None, &[]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(read(&out), read(&bogus));
}

/// The warning lines of a push, one per KEP-6061 finding.
fn kep6061_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains("KEP-6061"))
        .map(String::from)
        .collect()
}

/// containerd's RuntimeDefault refuses bpf without CAP_BPF/CAP_SYS_ADMIN (contrib/seccomp
/// gates it on those caps); a KEP-6061 runtime intersects, so the push says so and still
/// pushes: the warnings go to stderr, the digest alone to stdout.
#[test]
fn push_warns_about_calls_a_kep6061_baseline_removes() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-kep6061");
    let wide = write_tmp(
        &scratch,
        "wide.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["bpf","exit_group","read","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let reference = reg.reference("team/wide:v1");
    let args = [
        "push",
        "--baseline",
        "containerd",
        wide.to_str().unwrap(),
        &reference,
    ];
    let o = recorder_in(&scratch, &args, None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        stdout.trim().starts_with("sha256:") && stdout.lines().count() == 1,
        "{stdout}"
    );
    let refused: Vec<String> = kep6061_lines(&o)
        .into_iter()
        .filter(|l| l.contains("refuses"))
        .collect();
    assert_eq!(refused.len(), 1, "{}", stderr(&o));
    assert!(refused[0].contains("containerd"), "{}", refused[0]);
    assert!(refused[0].contains("bpf -> EPERM"), "{}", refused[0]);
    for allowed in ["read", "write", "exit_group"] {
        assert!(
            !refused[0].contains(&format!("{allowed} ->")),
            "{}",
            refused[0]
        );
    }
    let pulled = scratch.path("pulled.json");
    pull(&scratch, &reference, &pulled);
    assert_eq!(
        read(&pulled),
        read(&wide),
        "the warnings change nothing in what is pushed"
    );

    let narrow = write_tmp(
        &scratch,
        "narrow.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["exit_group","read","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let args = [
        "push",
        narrow.to_str().unwrap(),
        &reg.reference("team/narrow:v1"),
    ];
    let o = recorder_in(&scratch, &args, None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !kep6061_lines(&o).iter().any(|l| l.contains("refuses")),
        "{}",
        stderr(&o)
    );
}

/// KEP-6061 runtimes reject an artifact with more than 128 entries naming one syscall
/// (MaxArtifactEntriesPerSyscall); a Localhost file has no such cap, so it is a warning.
#[test]
fn push_warns_about_kep6061_entry_limit() {
    let reg = Registry::start();
    let scratch = Scratch::new("oci-kep6061-entries");
    let entries: Vec<String> = (0..129)
        .map(|i| {
            format!(
                r#"{{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{{"index":1,"value":{i},"op":"SCMP_CMP_EQ"}}]}}"#
            )
        })
        .collect();
    let file = write_tmp(
        &scratch,
        "many.json",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#,
            entries.join(",")
        ),
    );
    let args = [
        "push",
        file.to_str().unwrap(),
        &reg.reference("team/many:v1"),
    ];
    let o = recorder_in(&scratch, &args, None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = kep6061_lines(&o);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("129 entries name ioctl") && l.contains("128")),
        "{}",
        stderr(&o)
    );
}

/// `record --push`: a workload that calls unshare(2) gets the warning before its push; CRI-O
/// gates unshare on CAP_SYS_ADMIN, which its default containers lack.
#[test]
fn record_push_warns_about_kep6061_removals() {
    seccomp_recorder_tests::require_root();
    let reg = Registry::start();
    let scratch = Scratch::new("oci-kep6061-record");
    let out = scratch.path("unshare.json");
    let reference = reg.reference("team/unshare:v1");
    let args = [
        "record",
        "-o",
        out.to_str().unwrap(),
        "--push",
        &reference,
        "--baseline",
        "crio",
        "--",
        "unshare",
        "--user",
        "/bin/true",
    ];
    let o = recorder_in(&scratch, &args, None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let refused = kep6061_lines(&o)
        .into_iter()
        .find(|l| l.contains("refuses"))
        .unwrap_or_else(|| panic!("no refusal: {}", stderr(&o)));
    assert!(
        refused.contains("crio") && refused.contains("unshare ->"),
        "{refused}"
    );
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .trim()
            .starts_with("sha256:")
    );
}

/// nginx on a private port, serving `locations` (nginx.conf text, `{dir}` is its own
/// directory): a proxy in front of a registry, or a server in a registry's place.
struct Nginx {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    fn start(scratch: &Scratch, locations: &str) -> Nginx {
        let port = free_port("127.0.0.1");
        let dir = scratch.path("nginx");
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let locations = locations.replace("{dir}", &d.to_string());
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off; pid {d}/nginx.pid; error_log {d}/error.log; events {{}}
                 http {{ log_format sent '$body_bytes_sent'; access_log {d}/access.log sent;
                   client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
                   fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
                   server {{ listen 127.0.0.1:{port}; {locations} }} }}"
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (cargo xtask setup installs nginx-light)");
        wait_until("nginx listens", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Nginx { child, dir, port }
    }

    /// The body bytes nginx sent per request so far, in order.
    fn bytes_sent(&self) -> Vec<u64> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers too.
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn a_proxys_html_error_page_is_named_not_pasted() {
    let scratch = Scratch::new("oci-proxy");
    // A proxy whose registry is down: nothing listens on the upstream port.
    let upstream = format!(
        "location / {{ proxy_pass http://127.0.0.1:{}; }}",
        free_port("127.0.0.1")
    );
    let proxy = Nginx::start(&scratch, &upstream);
    let out = scratch.path("out.json");
    let reference = format!("127.0.0.1:{}/team/app:v1", proxy.port);
    let args = ["pull", &reference, "-o", out.to_str().unwrap()];
    let res = recorder_in(&scratch, &args, None, &[]);
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("502 Bad Gateway"), "{err}");
    assert!(!err.to_lowercase().contains("<html"), "HTML pasted: {err}");
    assert!(!out.exists());
}

/// A server in a registry's place answers a manifest request with 100 MiB: pull stops
/// reading at the 4 MiB manifest cap instead of taking the whole body first.
#[test]
fn pull_stops_reading_a_manifest_past_its_cap() {
    let scratch = Scratch::new("oci-huge-manifest");
    let manifests = scratch.path("nginx/manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let huge = std::fs::File::create(manifests.join("v1")).unwrap();
    huge.set_len(100 << 20).unwrap();
    let server = Nginx::start(
        &scratch,
        "location = /v2/ { default_type application/json; return 200 '{}'; }
         location /v2/team/huge/manifests/ { alias {dir}/manifests/;
           default_type application/vnd.oci.image.manifest.v1+json; }",
    );
    let out = scratch.path("out.json");
    let reference = format!("127.0.0.1:{}/team/huge:v1", server.port);
    let args = ["pull", &reference, "-o", out.to_str().unwrap()];
    let res = recorder_in(&scratch, &args, None, &[]);
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 4194304 bytes"), "{err}");
    assert!(!out.exists());
    // nginx logs a request once the connection is done with it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sent = server.bytes_sent();
    assert!(
        !sent.is_empty() && sent.iter().all(|&b| b < 32 << 20),
        "the 100 MiB body was read on: bytes sent per request {sent:?}"
    );
}
