//! `cargo xtask image [--push REF]`: the agent's image, an OCI image index for linux/amd64
//! and linux/arm64, built from source with no container daemon and written as an OCI
//! layout under `target/image/oci` (tag `latest`).
//!
//! Each platform's one layer holds the release recorder and exactly the shared libraries it
//! loads (glibc's loader, libc, libgcc_s: what the ELF files name), and a CA bundle for
//! registries served over HTTPS (`--push`); nothing else: no shell. The amd64 libraries are
//! the host's, the arm64 ones Debian's cross glibc the binary was linked against, so the
//! binary always meets the glibc it was built for.
//!
//! The CA bundle is Debian's ca-certificates package as shipped: its certificates
//! concatenated in file-name order, at the path the recorder's TLS client reads first
//! (/etc/ssl/certs/ca-certificates.crt). It is built from the package's files, not taken
//! from the host's /etc/ssl/certs, which holds whatever the build machine's admin added or
//! removed; the package's version is a label of the image.
//!
//! Reproducible: the same commit on the same machine gives the same index digest. The
//! binaries are built with the source paths remapped; the tar entries are sorted with
//! fixed owners and modes, and their mtime, like the config's `created`, is the commit's
//! time (`SOURCE_DATE_EPOCH` overrides it); `gzip -n` writes no name or time.

use crate::{check, output};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Where the layout goes, relative to the workspace.
pub const LAYOUT: &str = "target/image/oci";
/// The tag the layout's index.json gives the image index.
pub const TAG: &str = "latest";
/// Where the recorder lives in the image; the entrypoint.
pub const BINARY: &str = "usr/bin/seccomp-recorder";
/// Where the CA bundle lives in the image: the first place the TLS client looks.
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
/// The Debian package the CA bundle comes from (installed by `cargo xtask setup`).
const CA_PACKAGE: &str = "ca-certificates";
/// Where that package keeps its certificates, one PEM file each.
const CA_SOURCE: &str = "/usr/share/ca-certificates/";

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One platform of the index.
pub struct Platform {
    /// GOARCH spelling, as OCI platforms use.
    pub arch: &'static str,
    variant: Option<&'static str>,
    target: &'static str,
    /// Debian's multiarch directory name, where the loader looks for libraries.
    triple: &'static str,
    /// Where the libraries the binary was linked against live on this machine.
    libdir: &'static str,
}

pub const PLATFORMS: [Platform; 2] = [
    Platform {
        arch: "amd64",
        variant: None,
        target: "x86_64-unknown-linux-gnu",
        triple: "x86_64-linux-gnu",
        libdir: "/lib/x86_64-linux-gnu",
    },
    Platform {
        arch: "arm64",
        variant: Some("v8"),
        target: "aarch64-unknown-linux-gnu",
        triple: "aarch64-linux-gnu",
        libdir: "/usr/aarch64-linux-gnu/lib",
    },
];

pub fn run(root: &Path, args: &[String]) -> Result<ExitCode> {
    let push = match args {
        [] => None,
        [flag, reference] if flag == "--push" => Some(reference.as_str()),
        _ => bail!("usage: cargo xtask image [--push REGISTRY/REPOSITORY:TAG]"),
    };
    let (layout, digest) = build(root)?;
    println!(
        "image: {} ({}:{TAG}), index {digest}",
        layout.display(),
        layout.display()
    );
    if let Some(reference) = push {
        push_layout(&layout, reference)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds both platforms and writes the layout; returns its path and the index's digest.
pub fn build(root: &Path) -> Result<(PathBuf, String)> {
    crate::setup()?;
    let epoch = source_date_epoch(root)?;
    let ca = ca_bundle(root)?;
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for p in &PLATFORMS {
        let binary = compile(root, p)?;
        let mut files = files(p, &binary)?;
        files.push(File {
            path: CA_BUNDLE.to_string(),
            source: ca.path.clone(),
            mode: 0o644,
        });
        let layer = tar(&files, epoch)?;
        manifests.push(platform_manifest(root, p, &layer, epoch, &ca, &mut blobs)?);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": manifests,
    });
    let index = to_bytes(&index);
    let digest = sha256(&index);
    let top = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{
            "mediaType": INDEX,
            "digest": digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": TAG},
        }],
    });
    blobs.push(index);
    let layout = root.join(LAYOUT);
    write_layout(&layout, &blobs, &to_bytes(&top))?;
    Ok((layout, digest))
}

/// The commit's time, so that a rebuild of the same commit gives the same bytes.
fn source_date_epoch(root: &Path) -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"));
    }
    let out = output(
        Command::new("git")
            .current_dir(root)
            .args(["log", "-1", "--format=%ct"]),
    )
    .context("the image's dates come from the last commit: run it in a git checkout, or set SOURCE_DATE_EPOCH")?;
    out.trim()
        .parse()
        .with_context(|| format!("git log gave {out:?} as the commit time"))
}

/// The release recorder for `p`, in a target directory of its own (its flags differ from
/// the debug build's, which would otherwise be rebuilt each time).
fn compile(root: &Path, p: &Platform) -> Result<PathBuf> {
    if p.target != host_target() {
        crate::cross_setup(p.target)?;
    }
    let dir = root.join("target/image/cargo");
    let mut c = crate::cargo();
    c.args(["build", "--release", "--locked", "-p", "seccomp-recorder"]);
    c.args(["--bin", "seccomp-recorder", "--target", p.target]);
    c.arg("--target-dir").arg(&dir);
    let mut flags = reproducible_flags(root);
    if p.target != host_target() {
        crate::cross_env(&mut c, p.target);
        flags.push(' ');
        flags.push_str(&crate::cross_rustflags(p.target));
    }
    let var = p.target.to_uppercase().replace('-', "_");
    c.env(format!("CARGO_TARGET_{var}_RUSTFLAGS"), flags);
    // Nothing in the binary records a build time, and the cc crate rebuilds the C parts
    // (and so nearly everything) whenever this variable changes, as it would with each commit.
    c.env_remove("SOURCE_DATE_EPOCH");
    check(&mut c)?;
    Ok(dir.join(p.target).join("release/seccomp-recorder"))
}

fn host_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    }
}

/// No path of this machine in the binary (panic messages name source files), and no
/// debug info (it would be most of the image and names paths too).
fn reproducible_flags(root: &Path) -> String {
    let cargo_home = crate::cargo_home();
    format!(
        "--remap-path-prefix={}=/seccomp-recorder --remap-path-prefix={}=/cargo -C strip=debuginfo",
        root.display(),
        cargo_home.display()
    )
}

/// The CA bundle, written under target/image, and the package version it is from.
struct CaBundle {
    path: PathBuf,
    version: String,
}

/// Debian's CA certificates as its package ships them, concatenated in file-name order.
fn ca_bundle(root: &Path) -> Result<CaBundle> {
    let query = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", CA_PACKAGE])
        .output();
    let version = query
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("the image's CA bundle comes from Debian's {CA_PACKAGE}: install it (cargo xtask setup)")
        })?;
    let listed = output(Command::new("dpkg").args(["-L", CA_PACKAGE]))?;
    let mut certs: Vec<&str> = listed
        .lines()
        .filter(|l| l.starts_with(CA_SOURCE) && l.ends_with(".crt"))
        .collect();
    certs.sort_unstable();
    if certs.is_empty() {
        bail!("dpkg -L {CA_PACKAGE} lists no certificate under {CA_SOURCE}");
    }
    let mut bundle = Vec::new();
    for cert in certs {
        let pem = std::fs::read(cert).with_context(|| {
            format!("cannot read {cert}: reinstall {CA_PACKAGE} (apt-get install --reinstall {CA_PACKAGE})")
        })?;
        if !pem.starts_with(b"-----BEGIN CERTIFICATE-----") {
            bail!("{cert} is not a PEM certificate: reinstall {CA_PACKAGE}");
        }
        bundle.extend_from_slice(&pem);
        if !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
    }
    let path = root.join("target/image/ca-certificates.crt");
    std::fs::create_dir_all(root.join("target/image"))?;
    std::fs::write(&path, bundle).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(CaBundle { path, version })
}

/// A file of the image: its path there (no leading '/'), where it comes from, its mode.
struct File {
    path: String,
    source: PathBuf,
    mode: u32,
}

/// The recorder, its ELF interpreter, and every library it needs, transitively.
fn files(p: &Platform, binary: &Path) -> Result<Vec<File>> {
    let (interpreter, mut wanted) = elf_needs(binary)?;
    let interpreter = interpreter.with_context(|| {
        format!(
            "{} names no ELF interpreter: is it static?",
            binary.display()
        )
    })?;
    let loader_name = Path::new(&interpreter)
        .file_name()
        .context("empty ELF interpreter")?
        .to_string_lossy()
        .into_owned();
    let mut out = vec![
        File {
            path: BINARY.to_string(),
            source: binary.to_path_buf(),
            mode: 0o755,
        },
        File {
            path: interpreter.trim_start_matches('/').to_string(),
            source: Path::new(p.libdir).join(&loader_name),
            mode: 0o755,
        },
    ];
    let mut seen = vec![loader_name];
    while let Some(lib) = wanted.pop() {
        if seen.contains(&lib) {
            continue;
        }
        let source = Path::new(p.libdir).join(&lib);
        if !source.exists() {
            bail!(
                "{} needs {lib}, which is not in {} (is the {} glibc installed?)",
                binary.display(),
                p.libdir,
                p.arch
            );
        }
        wanted.extend(elf_needs(&source)?.1);
        out.push(File {
            path: format!("lib/{}/{lib}", p.triple),
            source,
            mode: 0o644,
        });
        seen.push(lib);
    }
    Ok(out)
}

/// The ELF interpreter and the NEEDED libraries of `path`, as readelf reports them.
fn elf_needs(path: &Path) -> Result<(Option<String>, Vec<String>)> {
    let text = output(Command::new("readelf").args(["-W", "-l", "-d"]).arg(path))?;
    let interpreter = text.lines().find_map(|l| {
        let rest = l.split("Requesting program interpreter: ").nth(1)?;
        Some(rest.trim_end_matches(']').to_string())
    });
    let needed = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split('[').nth(1)?.trim_end_matches(']').to_string()))
        .collect();
    Ok((interpreter, needed))
}

/// A gzip'd tar of `files` (and their directories) with fixed owners and times, sorted.
fn tar(files: &[File], mtime: u64) -> Result<Tar> {
    let mut entries: Vec<(String, Option<&File>)> = Vec::new();
    for f in files {
        let mut dir = Path::new(&f.path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            entries.push((format!("{}/", d.display()), None));
            dir = d.parent();
        }
        entries.push((f.path.clone(), Some(f)));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut raw = Vec::new();
    for (name, file) in entries {
        match file {
            None => raw.extend(header(&name, 0o755, 0, mtime, b'5')?),
            Some(f) => {
                let data = std::fs::read(&f.source)
                    .with_context(|| format!("cannot read {}", f.source.display()))?;
                raw.extend(header(&name, f.mode, data.len() as u64, mtime, b'0')?);
                raw.extend(&data);
                raw.resize(raw.len().next_multiple_of(512), 0);
            }
        }
    }
    raw.resize(raw.len() + 1024, 0);
    let gz = gzip(&raw)?;
    Ok(Tar {
        diff_id: sha256(&raw),
        gz,
    })
}

struct Tar {
    /// The digest of the uncompressed tar, which the config lists.
    diff_id: String,
    gz: Vec<u8>,
}

/// A ustar header: owner root, no user or group names.
fn header(name: &str, mode: u32, size: u64, mtime: u64, kind: u8) -> Result<[u8; 512]> {
    if name.len() > 100 {
        bail!("{name} is longer than a tar header holds");
    }
    let mut h = [0u8; 512];
    let mut put = |at: usize, value: &[u8]| h[at..at + value.len()].copy_from_slice(value);
    put(0, name.as_bytes());
    put(100, format!("{mode:07o}\0").as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, format!("{mtime:011o}\0").as_bytes());
    put(148, b"        ");
    put(156, &[kind]);
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// `gzip -n`: no file name and no time in the header, so the bytes depend on the input only.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-n", "-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start gzip")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer panicked"))??;
    if !out.status.success() {
        bail!("gzip failed: {}", out.status);
    }
    Ok(out.stdout)
}

/// The platform's config and manifest (added to `blobs` with its layer); returns the
/// index's descriptor of the manifest.
fn platform_manifest(
    root: &Path,
    p: &Platform,
    layer: &Tar,
    epoch: u64,
    ca: &CaBundle,
    blobs: &mut Vec<Vec<u8>>,
) -> Result<Value> {
    let mut platform = json!({"architecture": p.arch, "os": "linux"});
    if let Some(v) = p.variant {
        platform["variant"] = json!(v);
    }
    let mut config = platform.clone();
    config["created"] = json!(rfc3339(epoch)?);
    config["config"] = json!({
        "Entrypoint": [format!("/{BINARY}")],
        "Env": ["PATH=/usr/bin"],
        "Labels": labels(root, epoch, ca)?,
    });
    config["rootfs"] = json!({"type": "layers", "diff_ids": [layer.diff_id]});
    let config = to_bytes(&config);
    let manifest = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, &config),
        "layers": [descriptor(LAYER, &layer.gz)],
    }));
    let mut d = descriptor(MANIFEST, &manifest);
    d["platform"] = platform;
    blobs.extend([config, layer.gz.clone(), manifest]);
    Ok(d)
}

fn labels(root: &Path, epoch: u64, ca: &CaBundle) -> Result<Value> {
    let revision = output(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "HEAD"]),
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_default();
    Ok(json!({
        "org.opencontainers.image.title": "seccomp-recorder",
        "org.opencontainers.image.version": env!("CARGO_PKG_VERSION"),
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": rfc3339(epoch)?,
        "org.opencontainers.image.licenses": env!("CARGO_PKG_LICENSE"),
        "io.seccomp-recorder.ca-certificates": format!("Debian {CA_PACKAGE} {}", ca.version),
    }))
}

fn rfc3339(epoch: u64) -> Result<String> {
    let out = output(
        Command::new("date")
            .env("TZ", "UTC")
            .arg(format!("--date=@{epoch}"))
            .arg("+%Y-%m-%dT%H:%M:%SZ"),
    )?;
    Ok(out.trim().to_string())
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values serialize")
}

pub fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Writes the layout beside its final place and renames it there: a reader never sees
/// half of one.
fn write_layout(layout: &Path, blobs: &[Vec<u8>], index_json: &[u8]) -> Result<()> {
    let tmp = layout.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let dir = tmp.join("blobs/sha256");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for blob in blobs {
        let digest = sha256(blob);
        std::fs::write(dir.join(&digest["sha256:".len()..]), blob)?;
    }
    std::fs::write(tmp.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(tmp.join("index.json"), index_json)?;
    let _ = std::fs::remove_dir_all(layout);
    std::fs::rename(&tmp, layout)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), layout.display()))
}

/// Pushes the layout with the project's own OCI code (`seccomp_recorder::oci::push_layout`),
/// through its example program: the xtask itself must build before the eBPF toolchain the
/// recorder library needs is installed.
fn push_layout(layout: &Path, reference: &str) -> Result<()> {
    check(
        crate::cargo()
            .args(["run", "--quiet", "-p", "seccomp-recorder", "--example"])
            .args(["push_layout", "--"])
            .arg(layout)
            .arg(reference),
    )
}

/// Extracts the recorder of `arch` from the layout at `layout` into `to`: what the image
/// holds, not what the build left in target/. Each blob is found by its digest and checked
/// against it, from the tag down to the layer.
pub fn extract_binary(layout: &Path, arch: &str, to: &Path) -> Result<()> {
    let blob = |d: &Value| -> Result<Vec<u8>> {
        let digest = d["digest"].as_str().unwrap_or_default();
        let hex = digest
            .strip_prefix("sha256:")
            .with_context(|| format!("{}: {d} names no sha256 digest", layout.display()))?;
        let path = layout.join("blobs/sha256").join(hex);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if sha256(&bytes) != digest {
            bail!(
                "{} does not hold {digest}: build the image again",
                path.display()
            );
        }
        Ok(bytes)
    };
    let json = |bytes: Vec<u8>| -> Result<Value> { Ok(serde_json::from_slice(&bytes)?) };
    let top = json(std::fs::read(layout.join("index.json"))?)?;
    let tagged = top["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        .with_context(|| format!("{} has no image tagged {TAG}", layout.display()))?;
    let index = json(blob(tagged)?)?;
    let manifest = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["platform"]["architecture"] == arch)
        .with_context(|| format!("{} has no {arch} image", layout.display()))?;
    let manifest = json(blob(manifest)?)?;
    let layer = blob(&manifest["layers"][0])?;
    let dir = to.with_extension("layer");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let gz = dir.with_extension("tar.gz");
    std::fs::write(&gz, layer)?;
    check(
        Command::new("tar")
            .arg("-xzf")
            .arg(&gz)
            .arg("-C")
            .arg(&dir)
            .arg(BINARY),
    )?;
    std::fs::rename(dir.join(BINARY), to)?;
    std::fs::remove_dir_all(&dir)?;
    std::fs::remove_file(&gz)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_are_ustar_with_a_valid_checksum() {
        let h = header("usr/bin/x", 0o755, 1234, 1_700_000_000, b'0').unwrap();
        assert_eq!(&h[257..263], b"ustar\0");
        assert_eq!(&h[100..108], b"0000755\0");
        assert_eq!(&h[124..136], b"00000002322\0");
        let mut blank = h;
        blank[148..156].copy_from_slice(b"        ");
        let sum: u32 = blank.iter().map(|&b| u32::from(b)).sum();
        let field = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(field, 8).unwrap(), sum);
        assert!(header(&"x".repeat(101), 0o644, 0, 0, b'0').is_err());
    }
}
