//! The agent's `--watch-refusals` on the kernel path, end to end: Debian's containerd with
//! its CRI plugin and runc (in a vmtest guest, the host's own binaries, which the harness
//! copies from the 9p root to the guest's tmpfs; state on the guest's tmpfs, host-network
//! pods, so no CNI), the agent watching every pod, and pods refused by a Localhost profile
//! without SECCOMP_FILTER_FLAG_LOG and by containerd's RuntimeDefault: refusals no audit
//! record reports.

use super::{check_refusal_reason, kernel};
use k8s_cri::v1::{SecurityProfile, security_profile::ProfileType};
use seccomp_recorder::refusals::KernelPath;
use seccomp_recorder_tests::agent::{Agent, free_addr, localhost_args, namespace};
use seccomp_recorder_tests::cri::{Client, CriRuntime, Pod, PodSpec};
use seccomp_recorder_tests::{Scratch, profile, require_root};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set by the harness, to the reason, where the guest's root has no containerd (the arm64
/// guests' staged root).
const NO_CRI: &str = "SECCOMP_RECORDER_NO_CRI";

/// A refusal the agent must report: which container made which call.
struct Refused<'a> {
    client: &'a Client,
    pod: &'a Pod,
    ns: &'a str,
    workload: &'a str,
    container: &'a str,
    syscall: &'a str,
}

/// A Localhost profile that allows everything but getpriority (EPERM), without the log flag.
fn unflagged_profile(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let p = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    std::fs::write(path, p.to_string()).unwrap();
}

/// A pod of `workload` (a Deployment's pod name and label, as the kubelet passes them).
fn run_pod(client: &Client, ns: &str, workload: &str) -> Pod {
    let spec = PodSpec::new(ns, &format!("{workload}-5d8f7c9b4-x2x7k"))
        .label("app.kubernetes.io/name", workload);
    client.run_pod(&spec)
}

/// When containerd's shim logged the first line of container `name` holding `needle`: the
/// probe prints and flushes its line right after the call, so this is when the call was
/// refused, to within the shim's read.
fn logged_at(client: &Client, pod: &Pod, name: &str, needle: &str) -> SystemTime {
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        let log = client.log(pod, name);
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{name} never said {needle}: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stamp = line.split(' ').next().unwrap_or_default();
    let out = Command::new("date")
        .args(["-u", "-d", stamp, "+%s.%N"])
        .output()
        .expect("date (coreutils)");
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a time: {line}"));
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

/// How soon after the refused call it must be reported: the 5 s, three times over,
/// because TCG runs the guest about ten times slower than the hardware and a loaded host
/// slows it more (one run at host load 9 took just over 5 s for the file). The times are
/// printed into the support table, where a slowdown shows long before it fails; the host
/// tests hold the agent's audit path to 5 s on the hardware.
const WITHIN: Duration = Duration::from_secs(15);

/// Waits until `r`, which the probe in `container` of `pod` says it was refused, is in the
/// metric, the log and `<container>.refusals.json` under `dir`, each within [`WITHIN`] of
/// the refused call; returns how long after the call each was seen.
fn reported(agent: &mut Agent, addr: &str, dir: &Path, r: &Refused) -> [Duration; 3] {
    let (client, pod) = (r.client, r.pod);
    let refused = format!("{} ret=-1 errno=1", r.syscall);
    let at = logged_at(client, pod, r.container, &refused);
    let since = || SystemTime::now().duration_since(at).unwrap_or_default();
    let left = || WITHIN.saturating_sub(since());
    let sample = format!(
        "seccomp_recorder_refusals_total{{namespace=\"{}\",workload=\"{}\",container=\"{}\",\
         syscall=\"{}\",arch=\"x86_64\"}}",
        r.ns, r.workload, r.container, r.syscall
    );
    let line = agent.wait_metric(addr, &sample, left());
    let metric = since();
    assert!(line.ends_with(" 1"), "{line}");
    let whose = format!("{}/{}/{}", r.ns, r.workload, r.container);
    agent.wait_line(&["refusal:", &whose, r.syscall], left());
    let logged = since();
    let file = dir
        .join(r.ns)
        .join(r.workload)
        .join(format!("{}.refusals.json", r.container));
    agent.wait_for(&file.display().to_string(), left(), |_| {
        file.exists().then_some(())
    });
    let written = since();
    let report = profile(&file);
    assert_eq!(
        (
            &report["namespace"],
            &report["workload"],
            &report["container"]
        ),
        (&r.ns.into(), &r.workload.into(), &r.container.into()),
        "{report}"
    );
    let refusals = report["refusals"].as_array().unwrap();
    assert!(
        refusals
            .iter()
            .any(|x| x["syscall"] == r.syscall && x["arch"] == "x86_64" && x["count"] == 1),
        "{report}"
    );
    [metric, logged, written]
}

/// A pod enforced with a Localhost profile that lacks a call it makes (no log flag), and a
/// pod under containerd's RuntimeDefault making a call that profile refuses (add_key:
/// EPERM there, EFAULT unconfined), are each reported within [`WITHIN`] as
/// namespace/workload/container/syscall in the metric, the log and
/// `<container>.refusals.json`; the agent says it uses the kernel path. Where the kernel path
/// is refused (5.10: no bpf_task_pt_regs; this project's host: EPERM), the reason is checked
/// and printed for the support table.
#[test]
fn pods_refusals_are_reported_through_the_kernel_path_in_time() {
    require_root();
    if let Err(why) = KernelPath::open() {
        check_refusal_reason(&why);
        println!(
            "vmtest-note: pods' refusals through the kernel path not tested on {:?}: {why}",
            kernel()
        );
        return;
    }
    if let Some(why) = std::env::var_os(NO_CRI) {
        let why = why.to_string_lossy();
        println!("vmtest-note: pods' refusals through the kernel path not tested: {why}");
        return;
    }
    let begun = Instant::now();
    let rt = CriRuntime::get();
    let cri_up = begun.elapsed();
    eprintln!("pods: containerd's CRI up after {cri_up:.0?}");
    let s = Scratch::new("kpods");
    let dir = s.path("localhost");
    let addr = free_addr();
    let mut args = vec!["--runtime-endpoint".to_string(), rt.endpoint()];
    args.extend(localhost_args(&dir));
    args.extend(["--watch-refusals".into(), "--listen".into(), addr.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = Agent::start(&args, "serving /healthz");
    // Under TCG on a loaded machine, reading the kernel's BTF alone can take a minute.
    let how = agent.wait_log(
        "watching seccomp refusals through",
        Duration::from_secs(300),
    );
    let agent_up = begun.elapsed() - cri_up;
    eprintln!("pods: the agent watching after {:.0?}", begun.elapsed());
    assert!(how.contains("through the kernel path"), "{how}");
    let ns = namespace("kpods");
    let client = rt.client();
    // Lingering keeps the container's cgroup, which the counts are keyed by, while the
    // agent names it.
    let linger = ["linger", "linger", "linger"];

    let localhost = dir.join(&ns).join("web").join("app.json");
    unflagged_profile(&localhost);
    let web = run_pod(&client, &ns, "web");
    let command = [&["getpriority"][..], &linger].concat();
    let config = client.config(&web, "app", &command, Some(&localhost));
    client.start(&client.create_with(&web, config));
    let web_app = Refused {
        client: &client,
        pod: &web,
        ns: &ns,
        workload: "web",
        container: "app",
        syscall: "getpriority",
    };
    let localhost_took = reported(&mut agent, &addr, &dir, &web_app);
    eprintln!("pods: Localhost pod reported after {:.0?}", begun.elapsed());

    let cache = run_pod(&client, &ns, "cache");
    eprintln!(
        "pods: RuntimeDefault pod made after {:.0?}",
        begun.elapsed()
    );
    let command = [&["add_key"][..], &linger].concat();
    let mut config = client.config(&cache, "db", &command, None);
    let context = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut());
    context.expect("the config has a security context").seccomp = Some(SecurityProfile {
        profile_type: ProfileType::RuntimeDefault as i32,
        localhost_ref: String::new(),
    });
    client.start(&client.create_with(&cache, config));
    eprintln!(
        "pods: RuntimeDefault container started after {:.0?}",
        begun.elapsed()
    );
    let cache_db = Refused {
        client: &client,
        pod: &cache,
        ns: &ns,
        workload: "cache",
        container: "db",
        syscall: "add_key",
    };
    let default_took = reported(&mut agent, &addr, &dir, &cache_db);
    eprintln!(
        "pods: RuntimeDefault pod reported after {:.0?}",
        begun.elapsed()
    );

    client.remove_pod(&web);
    client.remove_pod(&cache);
    eprintln!("pods: pods removed after {:.0?}", begun.elapsed());
    let (status, log) = agent.terminate();
    assert!(status.success(), "{log}");
    println!(
        "vmtest-note: pods' refusals reported through the kernel path: Localhost after \
         {localhost_took:.1?}, RuntimeDefault after {default_took:.1?} (metric, log, file; \
         containerd's CRI up in {cri_up:.0?}, the agent in {agent_up:.0?}, all in {:.0?})",
        begun.elapsed()
    );
}
