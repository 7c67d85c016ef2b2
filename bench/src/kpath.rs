//! Section 7: what the kernel path of `watch-refusals` costs. Its fexit program on
//! `__secure_computing` runs on every syscall of every task under a seccomp filter. This
//! machine's kernel may refuse fexit programs; `cargo xtask vmtest` guests do not, so the
//! figures come from there: `the_kernel_paths_cost_per_call_is_measured_beside_the_recorders`
//! (tests/tests/kernel.rs) prints one `vmtest-cost:` line into each guest's console log
//! under target/vmtest/, and this section reads the newest of each.

use seccomp_recorder::refusals::KernelPath;
use std::path::Path;

/// Whether the kernel path loads here, and the guests' figures beside the recorder's.
pub fn section(vmtest_dir: &Path) -> String {
    let here = match KernelPath::open() {
        Ok(_) => "It loads on this machine's kernel, but this run does not measure it here: \
                  the figures below come from the guests, where every row was measured the \
                  same way."
            .to_string(),
        Err(why) => format!(
            "It does not load on this machine's kernel ({}), so it cannot be measured here.",
            why.replace('|', "/")
        ),
    };
    let mut s = String::from(
        "## 7. The kernel path of watch-refusals: cost per call of a filtered task\n\n",
    );
    s += &format!(
        "The kernel path (fexit on `__secure_computing`, docs/refusals.md) runs on every \
         syscall of every task under a seccomp filter, allowed or refused. {here}\n\n"
    );
    let rows = rows(vmtest_dir);
    if rows.is_empty() {
        s += &format!(
            "No guest figures: no console log in {} has a `vmtest-cost:` line (run `cargo \
             xtask vmtest`).\n\n",
            vmtest_dir.display()
        );
        return s;
    }
    s += "Measured in `cargo xtask vmtest` guests: a task under a 4-instruction filter \
          (refuses getpriority, allows the rest) times its own calls, best of 3 rounds per \
          run, best over the runs; alone, with the kernel path attached, recorded \
          (`record`, tp_btf where the kernel has it), and both. After one run to warm \
          TCG's translation cache, the runs without the kernel path come before and after \
          the runs with it. Overhead is the row minus \"alone\" in the same guest.\n\n";
    s += "| guest | log written | calls: alone / kernel path / recorded / both (ns) | \
          overhead: kernel path / recorded (ns) | kernel path / recorder |\n\
          |---|---|---|---|---|\n";
    for r in rows {
        s += &r;
    }
    s += "\nThe recorder's sys_enter program does not run for a refused call: the kernel runs \
          seccomp first and skips the tracepoint for a call it refused. So the recorder's \
          overhead on refused calls is near 0, and the ratio there is large by construction.\n";
    s += "\nGuests run under QEMU's TCG (emulation, no KVM): their ns are an emulated CPU's, \
          many times the host's, and say nothing about a real machine. Read the last column: \
          both overheads measured in the same guest minutes apart. Even that is indicative \
          only, since TCG does not weigh a BPF program's instructions against a syscall's \
          entry as hardware does.\n\n";
    s
}

/// One table row per console log that has a `vmtest-cost:` line (two lines: allowed and
/// refused calls).
fn rows(dir: &Path) -> Vec<String> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for log in logs {
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        let Some(line) = text.lines().find_map(|l| {
            let at = l.find("vmtest-cost: ")?;
            Some(&l[at + "vmtest-cost: ".len()..])
        }) else {
            continue;
        };
        let written = modified(&log);
        let guest = log.file_stem().unwrap_or_default().to_string_lossy();
        for (what, key) in [
            ("allowed getppid", "allowed_ns="),
            ("refused getpriority", "refused_ns="),
        ] {
            out.push(row(&guest, &written, what, field(line, key)));
        }
    }
    out
}

/// When `file` was last written, in UTC, as `date -r` prints it.
fn modified(file: &Path) -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("-r")
        .arg(file)
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key))
}

fn row(guest: &str, written: &str, what: &str, ns: Option<&str>) -> String {
    let ns: Vec<f64> = ns
        .into_iter()
        .flat_map(|v| v.split('/'))
        .filter_map(|v| v.parse().ok())
        .collect();
    let [alone, kpath, recorded, both] = ns[..] else {
        return format!("| {guest}, {what} | {written} | unreadable | | |\n");
    };
    let (k, r) = (kpath - alone, recorded - alone);
    let ratio = if k > 0.0 && r > 0.0 {
        format!("{:.2}x", k / r)
    } else {
        "– (an overhead at or below 0: within this measurement's noise)".into()
    };
    format!(
        "| {guest}, {what} | {written} | {alone:.0} / {kpath:.0} / {recorded:.0} / {both:.0} | \
         {k:.0} / {r:.0} | {ratio} |\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cost_line_becomes_a_row_with_the_overheads_ratio() {
        let line = "kernel=6.12 arch=x86_64 calls=20000 reps=2 allowed_ns=1000.0/1100.0/1400.0/1500.0 \
                    refused_ns=1200.0/1500.0/1500.0/1800.0 (alone/kernel path/recorded/both)";
        let r = row(
            "x86_64-6.12",
            "t",
            "allowed getppid",
            field(line, "allowed_ns="),
        );
        assert_eq!(
            r,
            "| x86_64-6.12, allowed getppid | t | 1000 / 1100 / 1400 / 1500 | 100 / 400 | 0.25x |\n"
        );
        let r = row("g", "t", "refused getpriority", field(line, "refused_ns="));
        assert!(r.ends_with("| 300 / 300 | 1.00x |\n"), "{r}");
        let faster = "allowed_ns=1000/990/1400/1500";
        let r = row("g", "t", "x", field(faster, "allowed_ns="));
        assert!(
            r.contains("| -10 / 400 | – (an overhead at or below 0"),
            "{r}"
        );
        assert!(row("g", "t", "x", None).contains("unreadable"));
    }
}
