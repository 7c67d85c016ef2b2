//! The agent's image (`cargo xtask image`): an OCI image index for linux/amd64 and
//! linux/arm64 that skopeo reads, the same digest when built again, nothing inside but the
//! recorder and the libraries it loads, and pushed by our own OCI code to a real registry.
//! The image is built once for the whole run (tests/src/image.rs), and once more here to
//! compare digests.

use seccomp_recorder::oci::{Access, OciError, push_layout};
use seccomp_recorder_tests::image::{image, rebuild, skopeo};
use seccomp_recorder_tests::registry::Registry;
use seccomp_recorder_tests::{Scratch, require_root, sha256};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// `os/arch[/variant]` of each entry of an index.
fn platforms(index: &Value) -> Vec<String> {
    let mut out: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s = format!("{s}/{v}");
            }
            s
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_image_is_an_index_for_amd64_and_arm64() {
    let img = image();
    let index = json(&skopeo(&["inspect", "--raw", &img.skopeo_ref()]));
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64/v8"]);
    for arch in ["amd64", "arm64"] {
        let config = json(&skopeo(&[
            "inspect",
            "--config",
            "--override-arch",
            arch,
            &img.skopeo_ref(),
        ]));
        assert_eq!(config["architecture"], arch, "{config}");
        assert_eq!(config["os"], "linux");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/bin/seccomp-recorder"]),
            "{config}"
        );
    }
}

#[test]
fn a_second_build_gives_the_same_digest() {
    let first = image().digest.clone();
    assert_eq!(rebuild(), first);
}

/// The layer of `arch`, as listed by tar (`mode owner size date time name`).
fn layer_listing(layout: &Path, arch: &str, unpack_into: Option<&Path>) -> Vec<String> {
    let index = json(&skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:latest", layout.display()),
    ]));
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap();
    let blob = |d: &Value| layout.join("blobs/sha256").join(&d.as_str().unwrap()[7..]);
    let manifest = json(&std::fs::read(blob(&manifest["digest"])).unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let gz = blob(&layers[0]["digest"]);
    let out = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&gz)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -t {}", gz.display());
    if let Some(dir) = unpack_into {
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&gz)
            .arg("-C")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Only the recorder, its ELF loader, the libraries it loads and a CA bundle, owned by
/// root, all with the same time; and those suffice: the amd64 recorder runs chrooted into
/// its layer, and its registry client finds the bundle there.
#[test]
fn the_image_holds_the_recorder_and_its_libraries_only() {
    require_root();
    let img = image();
    let expected = [
        (
            "amd64",
            "lib64/ld-linux-x86-64.so.2",
            "lib/x86_64-linux-gnu/",
        ),
        (
            "arm64",
            "lib/ld-linux-aarch64.so.1",
            "lib/aarch64-linux-gnu/",
        ),
    ];
    for (arch, loader, libdir) in expected {
        let listing = layer_listing(&img.layout, arch, None);
        let names: Vec<&str> = listing
            .iter()
            .map(|l| l.split_whitespace().last().unwrap())
            .collect();
        let mut files: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.ends_with('/'))
            .collect();
        files.sort();
        let mut wanted = vec![
            loader.to_string(),
            format!("{libdir}libc.so.6"),
            format!("{libdir}libgcc_s.so.1"),
            "usr/bin/seccomp-recorder".to_string(),
            "etc/ssl/certs/ca-certificates.crt".to_string(),
        ];
        wanted.sort();
        assert_eq!(files, wanted, "{arch}:\n{}", listing.join("\n"));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{arch}: entries in order");
        let stamps: Vec<(&str, &str, &str)> = listing
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1], f[3], f[4])
            })
            .collect();
        assert!(
            stamps.iter().all(|s| s == &stamps[0]) && stamps[0].0 == "0/0",
            "{arch}: owners and times differ:\n{}",
            listing.join("\n")
        );
    }
    let root = Scratch::new("image-rootfs");
    layer_listing(&img.layout, "amd64", Some(&root.0));
    let out = Command::new("chroot")
        .arg(&root.0)
        .args(["/usr/bin/seccomp-recorder", "--version"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the recorder in its own layer: {text}"
    );
    assert!(text.contains("seccomp-recorder"), "{text}");
    assert!(!root.path("bin/sh").exists());
    assert_ships_debians_ca_certificates(&root);
}

/// The bundle holds one certificate per file of Debian's ca-certificates package (not the
/// host's /etc/ssl/certs, which may hold local additions), and the recorder chrooted into
/// its layer finds it where it looks: a pull from an HTTPS registry gets as far as the
/// network (this name never resolves) instead of stopping for want of CA certificates.
fn assert_ships_debians_ca_certificates(root: &Scratch) {
    let bundle = std::fs::read_to_string(root.path("etc/ssl/certs/ca-certificates.crt")).unwrap();
    let shipped = std::fs::read_dir("/usr/share/ca-certificates/mozilla")
        .expect("Debian's ca-certificates is installed (cargo xtask setup)")
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "crt")
        })
        .count();
    assert!(shipped > 100, "{shipped} certificates in the package?");
    assert_eq!(
        bundle.matches("-----BEGIN CERTIFICATE-----").count(),
        shipped
    );
    let out = Command::new("chroot")
        .arg(&root.0)
        .args(["/usr/bin/seccomp-recorder", "pull"])
        .args(["registry.invalid/team/app:v1", "-o", "/profile.json"])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("cannot reach registry registry.invalid")
            && !text.contains("CA certificates"),
        "{text}"
    );
}

/// `push_layout` sends the index, both platforms' manifests and every blob; skopeo reads
/// the index back by the same digest and copies every platform (checking each blob).
#[test]
fn the_image_pushes_to_a_registry_and_skopeo_reads_it_back() {
    let img = image();
    let registry = Registry::start();
    let reference = registry.reference("seccomp-recorder:test");
    let pushed = push_layout(&img.layout, &reference, &Access::default()).unwrap();
    assert_eq!(pushed.digest, img.digest);
    let remote = format!("docker://{reference}");
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(sha256(&raw), img.digest);
    let config = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &remote,
    ]));
    assert_eq!(config["Architecture"], "arm64", "{config}");
    let copy = Scratch::new("image-copy");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:copy", copy.0.display()),
    ]);
    // A second push finds every blob there and changes nothing.
    let again = push_layout(&img.layout, &reference, &Access::default()).unwrap();
    assert_eq!(again.digest, img.digest);
}

/// A layout whose blob does not match its digest is refused, naming the file, before any
/// connection (the registry address is closed).
#[test]
fn a_damaged_layout_is_refused_before_anything_is_sent() {
    let dir = Scratch::new("image-damaged");
    let blobs = dir.path("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let claimed = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(blobs.join("ab".repeat(32)), b"{}").unwrap();
    std::fs::write(dir.path("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": claimed, "size": 2}]});
    std::fs::write(dir.path("index.json"), index.to_string()).unwrap();
    let e = push_layout(&dir.0, "127.0.0.1:1/x:y", &Access::default()).unwrap_err();
    assert!(matches!(e, OciError::Layout { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&"ab".repeat(32)) && text.contains("holds sha256:44136fa3"),
        "{text}"
    );
    let e = push_layout(&dir.0, "127.0.0.1:1/x@sha256:00", &Access::default()).unwrap_err();
    assert!(matches!(e, OciError::Reference { .. }), "{e}");
}
