//! Debian packages for the VMs, through apt configurations of our own: their sources, lists,
//! cache and (for downloads) dpkg status live under ~/.cache, never in /etc/apt.

use super::Arch;
use crate::{check, output};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Every suite a kernel of the matrix comes from, for amd64 and arm64.
const SUITES: &[(&str, &str)] = &[
    ("debian", "bullseye"),
    ("debian-security", "bullseye-security"),
    ("debian", "bookworm"),
    ("debian", "bookworm-backports"),
    ("debian-security", "bookworm-security"),
    ("debian", "trixie"),
    ("debian-security", "trixie-security"),
    ("debian", "sid"),
];

pub struct Apt {
    dir: PathBuf,
}

/// A kernel unpacked from its Debian packages.
pub struct Kernel {
    pub version: String,
    pub vmlinuz: PathBuf,
    /// lib/modules/<release>
    pub modules: PathBuf,
    pub release: String,
}

impl Apt {
    /// Writes the private configuration and refreshes its lists when a day old.
    pub fn new(dir: &Path) -> Result<Apt> {
        let apt = Apt {
            dir: dir.to_path_buf(),
        };
        let lines: String = SUITES
            .iter()
            .map(|(archive, suite)| {
                format!(
                    "deb [arch=amd64,arm64 signed-by={KEYRING}] http://deb.debian.org/{archive} {suite} main\n"
                )
            })
            .collect();
        apt.write_config(&lines, &["amd64", "arm64"])?;
        apt.update_if_old()?;
        Ok(apt)
    }

    fn write_config(&self, sources: &str, arches: &[&str]) -> Result<()> {
        for sub in ["lists/partial", "cache/archives/partial", "preferences.d"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }
        std::fs::write(self.dir.join("sources.list"), sources)?;
        let status = self.dir.join("status");
        if !status.exists() {
            std::fs::write(&status, "")?;
        }
        let arches: String = arches
            .iter()
            .map(|a| format!("APT::Architectures:: \"{a}\";\n"))
            .collect();
        std::fs::write(self.dir.join("arches.conf"), arches)?;
        Ok(())
    }

    fn cmd(&self, tool: &str) -> Command {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let mut c = Command::new(tool);
        c.arg("-c").arg(self.dir.join("arches.conf"));
        for (key, value) in [
            ("Dir::Etc::SourceList", d("sources.list")),
            ("Dir::Etc::SourceParts", "/dev/null".into()),
            ("Dir::Etc::Preferences", "/dev/null".into()),
            ("Dir::Etc::PreferencesParts", d("preferences.d")),
            ("Dir::State::Lists", d("lists")),
            ("Dir::State::status", d("status")),
            ("Dir::Cache", d("cache")),
            ("APT::Sandbox::User", "root".into()),
            ("Debug::NoLocking", "1".into()),
        ] {
            c.arg("-o").arg(format!("{key}={value}"));
        }
        c
    }

    fn update_if_old(&self) -> Result<()> {
        let stamp = self.dir.join("updated");
        let fresh = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|t| {
                SystemTime::now()
                    .duration_since(t)
                    .is_ok_and(|age| age < Duration::from_secs(86400))
            });
        if fresh {
            return Ok(());
        }
        eprintln!("vmtest: refreshing the private package lists");
        check(self.cmd("apt-get").args(["-qq", "update"]))?;
        std::fs::write(stamp, "")?;
        Ok(())
    }

    /// The newest version of `pkg` in the first of `suites` that has it.
    pub fn version(&self, pkg: &str, suites: &[&str]) -> Result<String> {
        let table = output(self.cmd("apt-cache").args(["madison", pkg]))?;
        let rows: Vec<(String, String)> = table
            .lines()
            .filter_map(|l| {
                let cols: Vec<&str> = l.split('|').map(str::trim).collect();
                let suite = cols.get(2)?.split_whitespace().nth(1)?;
                let suite = suite.split('/').next()?;
                Some((cols.get(1)?.to_string(), suite.to_string()))
            })
            .collect();
        suites
            .iter()
            .find_map(|s| rows.iter().find(|(_, suite)| suite == s))
            .map(|(v, _)| v.clone())
            .with_context(|| format!("no {pkg} in {suites:?} of the private package lists"))
    }

    /// The first alternative of each dependency of `pkg` at `version`.
    fn depends(&self, pkg: &str, version: &str) -> Result<Vec<String>> {
        let text = output(
            self.cmd("apt-cache")
                .args(["show", "--no-all-versions"])
                .arg(format!("{pkg}={version}")),
        )?;
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("Depends: "))
            .unwrap_or("");
        Ok(line
            .split(',')
            .filter_map(|d| d.split_whitespace().next())
            .map(String::from)
            .collect())
    }

    /// Downloads `pkgs` (`name:arch=version`) into a fresh `into` and unpacks each there.
    pub fn unpack(&self, pkgs: &[String], into: &Path) -> Result<()> {
        let debs = into.with_extension("debs");
        let _ = std::fs::remove_dir_all(&debs);
        let _ = std::fs::remove_dir_all(into);
        std::fs::create_dir_all(&debs)?;
        std::fs::create_dir_all(into)?;
        check(
            self.cmd("apt-get")
                .args(["-qq", "download"])
                .args(pkgs)
                .current_dir(&debs),
        )?;
        for deb in std::fs::read_dir(&debs)? {
            check(
                Command::new("dpkg-deb")
                    .arg("-x")
                    .arg(deb?.path())
                    .arg(into),
            )?;
        }
        std::fs::remove_dir_all(&debs)?;
        Ok(())
    }

    /// The kernel `name` for `arch`, downloaded and unpacked once per version.
    pub fn kernel(&self, cache: &Path, arch: Arch, name: &str) -> Result<Kernel> {
        let deb_arch = arch.debian();
        let meta = format!("linux-image-{deb_arch}");
        let version = self.version(&format!("{meta}:{deb_arch}"), super::suites(name)?)?;
        let dir = cache.join(format!("kernels/{arch}-{version}"));
        if !dir.join("ready").exists() {
            eprintln!("vmtest: downloading Debian's {meta} {version}");
            let image = self
                .depends(&format!("{meta}:{deb_arch}"), &version)?
                .into_iter()
                .find(|d| d.starts_with("linux-image-"))
                .with_context(|| format!("{meta} {version} depends on no linux-image"))?;
            // Newer kernels split the image into a binary and a modules package.
            let mut parts: Vec<String> = self
                .depends(&format!("{image}:{deb_arch}"), &version)?
                .into_iter()
                .filter(|d| d.starts_with("linux-binary-") || d.starts_with("linux-modules-"))
                .collect();
            if parts.is_empty() {
                parts.push(image);
            }
            let pkgs: Vec<String> = parts
                .iter()
                .map(|p| format!("{p}:{deb_arch}={version}"))
                .collect();
            self.unpack(&pkgs, &dir)?;
            std::fs::write(dir.join("ready"), &version)?;
        }
        let kernel = find_kernel(&dir, version)?;
        if !dir.join("pruned").exists() {
            prune(&kernel.modules.join("kernel"), "")?;
            let _ = std::fs::remove_dir_all(dir.join("usr/share"));
            std::fs::write(dir.join("pruned"), "")?;
        }
        Ok(kernel)
    }
}

fn find_kernel(dir: &Path, version: String) -> Result<Kernel> {
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|m| dir.join(m))
        .find(|m| m.is_dir())
        .with_context(|| format!("no lib/modules in {}", dir.display()))?;
    let modules = first_entry(&modules, "")?;
    // Newer packages keep the image beside the modules instead of in /boot.
    let vmlinuz = match modules.join("vmlinuz") {
        beside if beside.exists() => beside,
        _ => first_entry(&dir.join("boot"), "vmlinuz-")?,
    };
    let release = modules.file_name().unwrap().to_string_lossy().into_owned();
    Ok(Kernel {
        version,
        vmlinuz,
        modules,
        release,
    })
}

/// Where the guest's modules and everything they depend on live, on every kernel of the
/// matrix; the rest of a kernel's modules (hundreds of MB) is removed from the cache.
const KEEP: [&str; 5] = [
    "drivers/virtio",
    "fs/9p",
    "fs/netfs",
    "fs/fscache",
    "net/9p",
];

fn prune(dir: &Path, rel: &str) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = e?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let sub = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if KEEP.contains(&sub.as_str()) {
            continue;
        }
        if path.is_dir() && KEEP.iter().any(|k| k.starts_with(&format!("{sub}/"))) {
            prune(&path, &sub)?;
        } else if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn first_entry(dir: &Path, prefix: &str) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .with_context(|| format!("no {prefix}* in {}", dir.display()))
}

/// qemu-system for x86_64 and aarch64 from bookworm-backports (the machine's qemu-utils is
/// from there and Breaks bookworm's qemu-system-common), installed through private lists
/// of bookworm's suites only, so nothing else is pulled from a newer release.
pub fn install_qemu(dir: &Path) -> Result<()> {
    let bins = ["qemu-system-x86_64", "qemu-system-aarch64"];
    if bins.iter().all(|b| Path::new("/usr/bin").join(b).exists()) {
        return Ok(());
    }
    let apt = Apt {
        dir: dir.to_path_buf(),
    };
    let lines: String = SUITES
        .iter()
        .filter(|(_, suite)| suite.starts_with("bookworm"))
        .map(|(archive, suite)| {
            format!("deb [signed-by={KEYRING}] http://deb.debian.org/{archive} {suite} main\n")
        })
        .collect();
    apt.write_config(&lines, &["amd64"])?;
    eprintln!("vmtest: installing qemu-system from bookworm-backports");
    check(apt.cmd("apt-get").args(["-qq", "update"]))?;
    let mut install = apt.cmd("apt-get");
    // Installing uses the machine's own dpkg status, unlike the downloads.
    install
        .args(["-o", "Dir::State::status=/var/lib/dpkg/status"])
        .args(["install", "-y", "-qq", "-t", "bookworm-backports"])
        .args(["qemu-system-x86", "qemu-system-arm"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    check(&mut install)?;
    if let Some(missing) = bins
        .iter()
        .find(|b| !Path::new("/usr/bin").join(b).exists())
    {
        bail!("{missing} is still missing after installing qemu-system");
    }
    Ok(())
}
