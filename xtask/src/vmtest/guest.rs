//! One kernel: an initramfs that loads the kernel's own 9p modules and chroots into the
//! shared root, QEMU under TCG, and what the guest printed on its serial console.

use super::apt::{Apt, Kernel};
use super::cpio::{Archive, Entry};
use super::stage::Stage;
use super::{Arch, Outcome};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Modules the guest needs to mount its root; built in on some kernels.
const MODULES: [&str; 3] = ["virtio_pci", "9pnet_virtio", "9p"];
/// Where the guest runs containerd and its helpers from (its own tmpfs `/run`).
const CRI_BIN: &str = "/run/vmtest-cri-bin";
/// The binaries of containerd's CRI with runc, as the tests' PATH finds them.
const CRI_BINARIES: &str = "containerd containerd-shim-runc-v2 runc ctr";
/// The 9p tag of the checkout's own share (see `Stage::checkout`).
const CHECKOUT_TAG: &str = "checkout";
/// TCG is slow, but a kernel that needs longer than this is stuck (the CRI pods' test
/// alone took 2 min on a lightly loaded machine, over 8 on one loaded five times over).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub fn run(stage: &Stage, apt: &Apt, cache: &Path, arch: Arch, name: &str) -> Outcome {
    let start = Instant::now();
    let mut o = Outcome {
        arch,
        name: name.to_string(),
        release: "?".into(),
        passed: 0,
        failed: 0,
        ok: false,
        facts: Vec::new(),
        notes: Vec::new(),
        secs: 0,
        error: None,
    };
    if let Err(e) = boot_and_test(stage, apt, cache, &mut o) {
        o.error = Some(format!("{e:#}"));
        o.ok = false;
    }
    o.secs = start.elapsed().as_secs();
    o
}

fn boot_and_test(stage: &Stage, apt: &Apt, cache: &Path, o: &mut Outcome) -> Result<()> {
    let kernel = apt.kernel(cache, o.arch, &o.name)?;
    o.release = format!("{} ({})", kernel.release, kernel.version);
    let dir = crate::root().join("target/vmtest");
    let initrd = dir.join(format!("{}-{}.initrd", o.arch, o.name));
    std::fs::write(&initrd, initramfs(stage, &kernel)?)?;
    let log = dir.join(format!("{}-{}.log", o.arch, o.name));
    eprintln!(
        "vmtest: booting {} {} (console in {})",
        o.arch,
        kernel.release,
        log.display()
    );
    let console = qemu(o.arch, &kernel.vmlinuz, &initrd, stage, &log)?;
    read_console(&console, o)
}

fn read_console(console: &str, o: &mut Outcome) -> Result<()> {
    let mut exit = None;
    for line in console.lines().map(|l| l.trim_end_matches('\r')) {
        // libtest prints "test NAME ... " before the test's own output, on the same line.
        let tagged = |tag: &str| line.find(tag).map(|at| &line[at + tag.len()..]);
        if let Some(f) = tagged("vmtest-fact: ") {
            o.facts.push(f.to_string());
        } else if let Some(n) = tagged("vmtest-note: ") {
            o.notes.push(n.to_string());
        } else if let Some(e) = tagged("vmtest-error: ") {
            bail!("{e}");
        } else if let Some(code) = tagged("vmtest-exit: ") {
            exit = code.trim().parse::<i32>().ok();
        } else if let Some(summary) = line.strip_prefix("test result: ") {
            o.passed += count(summary, " passed");
            o.failed += count(summary, " failed");
        }
    }
    let exit = exit.context("the guest never finished the tests (see its console log)")?;
    o.ok = exit == 0 && o.failed == 0 && o.passed > 0;
    if !o.ok {
        bail!("the tests exited with {exit}");
    }
    Ok(())
}

fn count(summary: &str, what: &str) -> u32 {
    crate::count(summary, what) as u32
}

fn initramfs(stage: &Stage, kernel: &Kernel) -> Result<Vec<u8>> {
    let mut a = Archive::default();
    for d in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "root", "mod",
    ] {
        a.add(d, Entry::Dir);
    }
    let busybox = std::fs::read(&stage.busybox)
        .with_context(|| format!("cannot read {}", stage.busybox.display()))?;
    a.add("bin/busybox", file(busybox));
    let mut order = Vec::new();
    for (i, (name, data)) in modules(&kernel.modules)?.into_iter().enumerate() {
        let file_name = format!("{i:02}-{name}.ko");
        a.add(&format!("mod/{file_name}"), file(data));
        order.push(file_name);
    }
    a.add("init", file(init_script(stage, &order).into_bytes()));
    Ok(a.finish())
}

fn file(data: Vec<u8>) -> Entry {
    Entry::File { mode: 0o755, data }
}

fn init_script(stage: &Stage, modules: &[String]) -> String {
    let path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    let mut env = vec![
        match stage.no_cri {
            None => format!("PATH={CRI_BIN}:{path}"),
            Some(_) => format!("PATH={path}"),
        },
        "HOME=/tmp".into(),
        "TMPDIR=/tmp".into(),
        "RUST_BACKTRACE=1".into(),
        format!("SECCOMP_RECORDER_BIN={}", stage.recorder),
        format!("SECCOMP_RECORDER_WORKLOADS={}", stage.workloads),
        format!("SECCOMP_RECORDER_REQUIRE_ABIS={}", stage.abis),
    ];
    if let Some(why) = stage.no_cri {
        env.push(format!("SECCOMP_RECORDER_NO_CRI={}", shell_quote(why)));
    }
    let env = env.join(" ");
    format!(
        r#"#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in {mods}; do insmod /mod/$m || echo "vmtest-error: insmod $m failed"; done
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /root; then
  echo "vmtest-error: cannot mount the 9p root"; reboot -f
fi
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mount -t tmpfs tmp /root/tmp
mount -t tmpfs run /root/run
{checkout}mount -t cgroup2 cgroup2 /root/sys/fs/cgroup
mount -t bpf bpf /root/sys/fs/bpf
mount -t tracefs tracefs /root/sys/kernel/tracing
mount -t debugfs debugfs /root/sys/kernel/debug
# containerd's CRI and the agent's --listen serve on 127.0.0.1.
ip link set lo up
echo "vmtest-kernel: $(uname -r) $(uname -m)"
{cri_bin}chroot /root /bin/env -i {env} {test} --test-threads=1 --nocapture
echo "vmtest-exit: $?"
reboot -f
"#,
        mods = modules.join(" "),
        checkout = stage
            .checkout
            .as_deref()
            .map(mount_checkout)
            .unwrap_or_default(),
        test = stage.test_bin,
        cri_bin = if stage.no_cri.is_none() {
            copy_cri_binaries()
        } else {
            String::new()
        },
    )
}

/// Shell lines that copy containerd, its runc shim and runc (and ctr) from the 9p root to
/// [`CRI_BIN`] on the guest's tmpfs, which the tests' PATH puts first.
///
/// Why: 9p (cache=none) keeps no page of a binary once it exits, so under TCG every start
/// of the shim or runc read megabytes over 9p again: a pod sandbox's stop took 5.7 to 55 s
/// (0.9 to 5.2 s from tmpfs), and on a loaded machine a task delete overran the 10 s
/// containerd's CRI gives an exit handler, which then retries with a backoff doubling up to
/// 5 min while StopPodSandbox waits without a deadline (docs/refusals.md).
fn copy_cri_binaries() -> String {
    format!("chroot /root /bin/sh -c {}\n", shell_quote(&cri_copy()))
}

/// The copy itself, run in the guest's root; a binary it lacks is left to the tests to miss.
fn cri_copy() -> String {
    format!(
        "mkdir -p {CRI_BIN} && for b in {CRI_BINARIES}; do \
         p=$(command -v $b) && cp -L \"$p\" {CRI_BIN}/; done"
    )
}

/// Shell lines that mount the host's `dir` at the same path in the guest's root, over
/// whatever hides it there (the guest's own tmpfs `/tmp` and `/run`).
fn mount_checkout(dir: &Path) -> String {
    let at = shell_quote(&format!("/root{}", dir.display()));
    format!(
        "mkdir -p {at}\n\
         if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 {CHECKOUT_TAG} {at}; then\n\
         \x20 echo \"vmtest-error: cannot mount the checkout at\" {at}; reboot -f\n\
         fi\n"
    )
}

/// `s` as one single-quoted shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `path` as a value inside a QEMU option list, where a comma is written twice.
fn qemu_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The modules in `MODULES` and what they depend on, dependencies first, decompressed
/// (busybox's insmod takes plain ELF). The packages ship no modules.dep (depmod makes it
/// at install time): each module's own `depends=` tag says it.
fn modules(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut index = HashMap::new();
    walk(dir, &mut index)?;
    let mut order = Vec::new();
    for m in MODULES {
        add_with_deps(m, &index, &mut order)?;
    }
    Ok(order)
}

fn walk(dir: &Path, index: &mut HashMap<String, PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = e?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            walk(&path, index)?;
        } else if name.contains(".ko") {
            index.insert(module_name(&name), path);
        }
    }
    Ok(())
}

/// `kernel/fs/9p/9p.ko.xz` -> `9p`; `-` and `_` are the same to the kernel.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// A module the package does not ship is built in (not every package lists those).
fn add_with_deps(
    name: &str,
    index: &HashMap<String, PathBuf>,
    order: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let Some(path) = index.get(name) else {
        return Ok(());
    };
    if order.iter().any(|(o, _)| o == name) {
        return Ok(());
    }
    let data = decompress(path)?;
    for dep in depends(&data) {
        add_with_deps(&dep, index, order)?;
    }
    order.push((name.to_string(), data));
    Ok(())
}

/// The `depends=a,b` string of a module's .modinfo section.
fn depends(module: &[u8]) -> Vec<String> {
    let tag = b"\0depends=";
    let Some(at) = module.windows(tag.len()).position(|w| w == tag) else {
        return Vec::new();
    };
    let rest = &module[at + tag.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| d.replace('-', "_"))
        .collect()
}

fn decompress(path: &Path) -> Result<Vec<u8>> {
    let tool = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("gz") => "gzip",
        _ => return std::fs::read(path).with_context(|| format!("cannot read {}", path.display())),
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("cannot run {tool}"))?;
    if !out.status.success() {
        bail!("{tool} -dc {} failed", path.display());
    }
    Ok(out.stdout)
}

/// A read-only 9p share of `dir` under `tag`.
fn share(dir: &Path, tag: &str) -> String {
    format!(
        "local,path={},mount_tag={tag},security_model=none,readonly=on",
        qemu_value(dir)
    )
}

/// Boots and returns the console output; it is also written to `log` as it comes.
fn qemu(arch: Arch, vmlinuz: &Path, initrd: &Path, stage: &Stage, log: &PathBuf) -> Result<String> {
    let (root, checkout) = (&stage.root, stage.checkout.as_deref());
    let mut c = match arch {
        Arch::X86_64 => {
            let mut c = Command::new("qemu-system-x86_64");
            // Debian kernels run x32 programs only when asked to at boot.
            c.args(["-append", "console=ttyS0 panic=-1 quiet syscall.x32=y"]);
            c
        }
        Arch::Aarch64 => {
            let mut c = Command::new("qemu-system-aarch64");
            c.args(["-machine", "virt"]);
            c.args(["-append", "console=ttyAMA0 panic=-1 quiet"]);
            c
        }
    };
    // /dev/kvm here does not run stock kernels (they hang in the decompressor): TCG.
    c.args([
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "2G",
    ])
    .args(["-nographic", "-no-reboot", "-nic", "none"])
    .arg("-kernel")
    .arg(vmlinuz)
    .arg("-initrd")
    .arg(initrd)
    .arg("-virtfs")
    .arg(share(root, "hostroot"));
    if let Some(dir) = checkout {
        c.arg("-virtfs").arg(share(dir, CHECKOUT_TAG));
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = c.spawn().context("cannot start qemu")?;
    let stdout = child.stdout.take().context("no qemu stdout")?;
    let mut file = std::fs::File::create(log)?;
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the guest did not finish within {} s", TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("console reader panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout under /tmp is hidden by the guest's own tmpfs unless its share is
    /// mounted after that tmpfs, at the same path.
    #[test]
    fn the_checkout_is_mounted_over_the_guests_tmpfs() {
        let stage = Stage {
            root: "/".into(),
            busybox: "/bin/busybox".into(),
            test_bin: "/tmp/it's here/target/debug/deps/kernel-0".into(),
            recorder: String::new(),
            workloads: String::new(),
            abis: "x86_64",
            checkout: Some("/tmp/it's here".into()),
            no_cri: None,
        };
        let script = init_script(&stage, &[]);
        let at = |needle: &str| {
            script
                .find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in\n{script}"))
        };
        let tmpfs = at("mount -t tmpfs tmp /root/tmp\n");
        let share = at(r"checkout '/root/tmp/it'\''s here'; then");
        let tests = at("chroot /root ");
        assert!(tmpfs < share && share < tests, "{script}");
    }

    /// The reason a guest cannot run the CRI reaches the tests as one variable, spaces and
    /// quotes and all, through the shell that runs the init script.
    #[test]
    fn the_no_cri_reason_reaches_the_tests_whole() {
        let why = "the staged root's \"containerd\" is missing";
        let stage = Stage {
            root: "/".into(),
            busybox: "/bin/busybox".into(),
            // Prints the environment; the test binary's arguments become its $0 and $1.
            test_bin: "/bin/sh -c env".into(),
            recorder: String::new(),
            workloads: String::new(),
            abis: "x86_64",
            checkout: None,
            no_cri: Some(why),
        };
        let script = init_script(&stage, &[]);
        let run = script
            .lines()
            .find_map(|l| l.strip_prefix("chroot /root "))
            .expect("the script runs the tests chrooted");
        let out = Command::new("sh").arg("-c").arg(run).output().unwrap();
        let env = String::from_utf8_lossy(&out.stdout);
        let want = format!("SECCOMP_RECORDER_NO_CRI={why}");
        assert!(env.lines().any(|l| l == want), "{run}\n{env}");
    }

    /// Where the guest runs containerd's CRI, its binaries are on the guest's tmpfs before
    /// the tests start, and the tests' PATH finds them there first; elsewhere nothing is
    /// copied.
    #[test]
    fn the_cri_binaries_are_copied_to_tmpfs_and_found_first() {
        let mut stage = Stage {
            root: "/".into(),
            busybox: "/bin/busybox".into(),
            test_bin: "/t".into(),
            recorder: String::new(),
            workloads: String::new(),
            abis: "x86_64",
            checkout: None,
            no_cri: None,
        };
        let script = init_script(&stage, &[]);
        let copy = script
            .find(&format!("mkdir -p {CRI_BIN} && for b in {CRI_BINARIES}"))
            .unwrap_or_else(|| panic!("no copy in\n{script}"));
        let tests = script.find("chroot /root /bin/env").unwrap();
        assert!(copy < tests, "{script}");
        assert!(
            script.contains(&format!(" PATH={CRI_BIN}:/usr/local/bin:")),
            "{script}"
        );
        stage.no_cri = Some("no containerd");
        let script = init_script(&stage, &[]);
        assert!(!script.contains(CRI_BIN), "{script}");
    }

    /// The copy, run in a root of its own, copies what PATH finds, symlinks resolved.
    #[test]
    fn the_copy_copies_what_path_finds() {
        let dir = std::env::temp_dir().join(format!("cri-copy-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(dir.join("runc.real"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(dir.join("runc.real"), bin.join("runc")).unwrap();
        let to = dir.join("to");
        let script = cri_copy()
            .replace(CRI_BIN, &to.display().to_string())
            .replace(CRI_BINARIES, "runc");
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .output()
            .unwrap();
        let copied = std::fs::symlink_metadata(to.join("runc"));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(copied.unwrap().is_file(), "{script}: {out:?}");
    }

    #[test]
    fn a_comma_in_a_shared_path_is_escaped_for_qemu() {
        let option = share(Path::new("/tmp/a,b"), CHECKOUT_TAG);
        assert!(option.starts_with("local,path=/tmp/a,,b,mount_tag=checkout,"));
    }
}
