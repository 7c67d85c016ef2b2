//! The fleet's convergence through a real registry (Debian's docker-registry): nodes
//! publish their shares and compute the union with the library the agent uses; what is
//! in the registry is read back with skopeo (containers/image, what CRI-O uses) and
//! sha256sum, and the fleet view with `seccomp-recorder ls`.

use seccomp_recorder::arch::Arch;
use seccomp_recorder::fleet::{Fleet, Key, Provenance, Share, Union};
use seccomp_recorder::oci::{Access, Repository};
use seccomp_recorder::profile::DefaultAction;
use seccomp_recorder_tests::engines::run_ok;
use seccomp_recorder_tests::registry::{Registry, raw_manifest};
use seccomp_recorder_tests::{bin, sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::{Arc, Barrier};

const ENOSYS: DefaultAction = DefaultAction::Errno(38);

fn key(workload: &str) -> Key {
    Key {
        namespace: "shop".into(),
        workload: workload.into(),
        container: "app".into(),
        image: None,
    }
}

fn node(registry: &Registry, name: &str, stable_after: u64) -> Fleet {
    let repo = registry.reference("team/seccomp");
    Fleet::open(&repo, &Access::default(), name, ENOSYS, stable_after).unwrap()
}

fn share(node: &str, calls: &[&str]) -> Share {
    Share {
        calls: BTreeMap::from([(Arch::X86_64, calls.iter().map(|c| c.to_string()).collect())]),
        provenance: Provenance {
            profile: "shop/web/app".into(),
            images: [format!("sha256:{}", "ab".repeat(32))].into(),
            nodes: [node.to_string()].into(),
            containers_from_birth: 1,
            first_seen: Some("2026-12-06T10:00:00Z".into()),
            last_seen: Some("2026-12-06T10:00:00Z".into()),
            ..Provenance::default()
        },
    }
}

/// Publishes (when given) and syncs; the union this node holds afterwards.
fn step(f: &mut Fleet, k: &Key, own: Option<&Share>, held: &mut Option<Union>) {
    if let Some(s) = own {
        f.publish(k, s).unwrap();
    }
    if let Some(u) = f.sync(k, own).unwrap() {
        *held = Some(u);
    }
}

fn calls_of(u: &Union) -> BTreeSet<String> {
    let p = seccomp_recorder::profile::Profile::parse(u.artifact.json.as_bytes()).unwrap();
    p.allowed().into_values().flatten().collect()
}

#[test]
fn three_nodes_converge_on_one_union_whatever_node_pushes_last() {
    let registry = Registry::start();
    let k = key("web");
    let (mut n1, mut n2, mut n3) = (
        node(&registry, "node-1", 5),
        node(&registry, "node-2", 5),
        node(&registry, "node-3", 5),
    );
    let a = share("node-1", &["getpriority", "read"]);
    let b = share("node-2", &["sched_getscheduler", "read"]);
    let (mut h1, mut h2, mut h3) = (None, None, None);
    // Each node publishes and syncs before seeing the other: the stable tag first holds
    // node 1's union, then node 2's without node 1's share.
    step(&mut n1, &k, Some(&a), &mut h1);
    step(&mut n2, &k, Some(&b), &mut h2);
    // Node 3 ran nothing; it learns the workload from the registry.
    assert_eq!(n3.workloads().unwrap(), std::slice::from_ref(&k));
    for _ in 0..2 {
        step(&mut n1, &k, Some(&a), &mut h1);
        step(&mut n2, &k, Some(&b), &mut h2);
        step(&mut n3, &k, None, &mut h3);
    }
    let (h1, h2, h3) = (h1.unwrap(), h2.unwrap(), h3.unwrap());
    assert_eq!(h1.artifact.json, h2.artifact.json);
    assert_eq!(h1.artifact.json, h3.artifact.json);
    assert_eq!(
        calls_of(&h1),
        ["getpriority", "read", "sched_getscheduler"]
            .map(String::from)
            .into()
    );
    let stable = registry.reference("team/seccomp:shop_web_app");
    let raw = raw_manifest(&stable);
    assert_eq!(sha256(&raw), h1.artifact.digest);
    assert_eq!(h1.artifact.digest, h3.artifact.digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let ann = &manifest["annotations"];
    assert_eq!(ann["io.seccomp-recorder.nodes"], "node-1,node-2");
    assert_eq!(ann["io.seccomp-recorder.profile"], "shop/web/app");
    assert_eq!(ann["io.seccomp-recorder.containers-from-birth"], "2");
    assert_eq!(ann["io.seccomp-recorder.stable"], "false");
    assert_eq!(
        ann["org.opencontainers.image.created"],
        "2026-12-06T10:00:00Z"
    );
    // Each node's share is in the shares repository under its own tag.
    for n in ["node-1", "node-2"] {
        let share_ref = registry.reference(&format!("team/seccomp-shares:shop_web_app.node-{n}"));
        let m: serde_json::Value = serde_json::from_slice(&raw_manifest(&share_ref)).unwrap();
        assert_eq!(m["annotations"]["io.seccomp-recorder.nodes"], n);
    }
    // Whichever node pushes last pushes the same bytes: pushing node 3's copy again
    // leaves the digest as it is.
    let again = Repository::open(&registry.reference("team/seccomp"), &Access::default())
        .unwrap()
        .push(
            "shop_web_app",
            h3.artifact.json.as_bytes(),
            &h3.artifact.annotations,
        )
        .unwrap();
    assert_eq!(again, h1.artifact.digest);
    // In steady state nothing changes.
    assert!(n1.sync(&k, Some(&a)).unwrap().is_none());
    assert!(n3.sync(&k, None).unwrap().is_none());
}

const CALLS: [&str; 40] = [
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "gettid",
    "getpgrp",
    "getpriority",
    "setpriority",
    "sched_yield",
    "sched_getscheduler",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "times",
    "getitimer",
    "alarm",
    "umask",
    "sync",
    "uname",
    "sysinfo",
    "getrusage",
    "getcwd",
    "chdir",
    "fchdir",
    "dup",
    "dup2",
    "pipe",
    "pause",
    "nanosleep",
    "getsid",
    "setsid",
    "getpgid",
    "setpgid",
    "capget",
    "personality",
    "getrlimit",
    "setrlimit",
    "vhangup",
];

#[test]
fn twenty_rounds_of_two_nodes_publishing_at_once_lose_no_call() {
    let registry = Registry::start();
    let barrier = Arc::new(Barrier::new(2));
    let run = |name: &'static str, mine: Vec<&'static str>| {
        let barrier = barrier.clone();
        let repo = registry.reference("team/seccomp");
        std::thread::spawn(move || {
            let mut f = Fleet::open(&repo, &Access::default(), name, ENOSYS, 5).unwrap();
            let k = key("race");
            let mut held = None;
            let mut calls = Vec::new();
            for call in mine {
                calls.push(call);
                let s = share(name, &calls);
                barrier.wait();
                step(&mut f, &k, Some(&s), &mut held);
            }
            // Two more syncs repair a union that lost the last race.
            let last = share(name, &calls);
            for _ in 0..2 {
                barrier.wait();
                step(&mut f, &k, Some(&last), &mut held);
            }
            held.unwrap()
        })
    };
    let one = run("node-1", CALLS[..20].to_vec());
    let two = run("node-2", CALLS[20..].to_vec());
    let (u1, u2) = (one.join().unwrap(), two.join().unwrap());
    let all: BTreeSet<String> = CALLS.iter().map(|c| c.to_string()).collect();
    assert_eq!(calls_of(&u1), all);
    assert_eq!(u1, u2);
    let raw = raw_manifest(&registry.reference("team/seccomp:shop_race_app"));
    assert_eq!(sha256(&raw), u1.artifact.digest);
}

#[test]
fn tag_lists_read_every_tag_and_head_reads_digests() {
    let registry = Registry::start();
    let repo_name = registry.reference("team/pages");
    let repo = Repository::open(&repo_name, &Access::default())
        .unwrap()
        .page_size(2);
    assert!(repo.tags().unwrap().is_empty(), "no repository yet");
    let profile = br#"{"defaultAction":"SCMP_ACT_ERRNO"}"#;
    let tags = [
        "a_x_c",
        "b_x_c.node-1",
        "b_x_c.node-2",
        "b_x_c.node-3",
        "c_x_c",
        "d",
    ];
    for t in tags.iter().rev() {
        repo.push(t, profile, &BTreeMap::new()).unwrap();
    }
    // Debian's registry (distribution 2.8) ignores `n` and sends no Link header: the
    // Link parsing is unit-tested (oci::repository). Its order is not lexical either.
    let mut listed = repo.tags().unwrap();
    listed.sort();
    assert_eq!(listed, tags);
    let digest = repo.head("c_x_c").unwrap().unwrap();
    assert_eq!(sha256(&raw_manifest(&format!("{repo_name}:c_x_c"))), digest);
    assert_eq!(repo.head("missing").unwrap(), None);
}

#[test]
fn ls_shows_the_provenance_and_stable_after_enough_quiet_runs() {
    let registry = Registry::start();
    let k = key("cron");
    let mut n1 = node(&registry, "node-1", 5);
    let mut s = share("node-1", &["getpriority"]);
    let mut held = None;
    // The first run records the calls; then six from-birth runs add none.
    s.provenance.run_ended(true, 1);
    step(&mut n1, &k, Some(&s), &mut held);
    for _ in 0..6 {
        s.provenance.containers_from_birth += 1;
        s.provenance.run_ended(false, 1);
        step(&mut n1, &k, Some(&s), &mut held);
    }
    let out = run_ok(Command::new(bin()).args([
        "ls",
        &registry.reference("team/seccomp"),
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v[0];
    assert_eq!(e["workload"], "cron");
    assert_eq!(e["status"]["stable"], true);
    assert_eq!(e["status"]["quietRuns"], 6);
    assert_eq!(e["status"]["containersFromBirth"], 7);
    assert_eq!(e["status"]["nodes"], serde_json::json!(["node-1"]));
    assert_eq!(e["calls"], 1);
    let raw = raw_manifest(&registry.reference("team/seccomp:shop_cron_app"));
    assert_eq!(
        e["reference"],
        format!("{}@{}", registry.reference("team/seccomp"), sha256(&raw))
    );
    let table = run_ok(Command::new(bin()).args(["ls", &registry.reference("team/seccomp")]));
    let text = String::from_utf8_lossy(&table.stdout);
    let row = text.lines().find(|l| l.starts_with("shop/cron")).unwrap();
    assert!(
        row.contains(" yes ") && row.contains("6/5") && row.contains("node-1"),
        "{text}"
    );
}

#[test]
fn a_profile_pushed_without_shares_is_left_as_it_is() {
    let registry = Registry::start();
    let repo = Repository::open(&registry.reference("team/seccomp"), &Access::default()).unwrap();
    // As `seccomp-recorder push` (or an agent before shares existed) leaves it.
    let profile = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let before = repo
        .push("shop_old_app", profile, &BTreeMap::new())
        .unwrap();
    let mut n3 = node(&registry, "node-3", 5);
    let k = key("old");
    assert_eq!(n3.workloads().unwrap(), std::slice::from_ref(&k));
    assert!(n3.sync(&k, None).unwrap().is_none());
    assert_eq!(repo.head("shop_old_app").unwrap(), Some(before));
}

/// Eight nodes push the same profile to the same tag at once, round after round: every
/// push succeeds. They push the same blobs (the empty config every artifact has, and the
/// profile), and docker-registry's filesystem storage rewrites a blob's link in place while
/// another push's manifest is checked against it, answering `MANIFEST_BLOB_UNKNOWN`: that
/// refusal is retried.
#[test]
fn eight_nodes_pushing_the_same_blobs_at_once_all_succeed() {
    const NODES: usize = 8;
    let registry = Registry::start();
    let repo = registry.reference("team/seccomp");
    let barrier = Arc::new(Barrier::new(NODES));
    let nodes: Vec<_> = (0..NODES)
        .map(|_| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            std::thread::spawn(move || {
                let r = Repository::open(&repo, &Access::default()).unwrap();
                let mut digests = Vec::new();
                for (round, call) in CALLS.iter().enumerate().take(15) {
                    let profile = serde_json::json!({
                        "defaultAction": "SCMP_ACT_ERRNO",
                        "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": [call], "action": "SCMP_ACT_ALLOW"}]
                    });
                    let bytes = serde_json::to_vec(&profile).unwrap();
                    barrier.wait();
                    // A failure is kept, not raised: the others wait at the barrier.
                    let pushed = r.push("shop_same_app", &bytes, &BTreeMap::new());
                    digests.push(pushed.map_err(|e| format!("round {round}: {e}")));
                }
                digests.into_iter().collect::<Result<Vec<String>, String>>()
            })
        })
        .collect();
    let digests: Vec<Vec<String>> = nodes
        .into_iter()
        .map(|n| n.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    // The same bytes everywhere, so the same manifest: each round's digest is one.
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    let raw = raw_manifest(&registry.reference("team/seccomp:shop_same_app"));
    assert_eq!(sha256(&raw), digests[0][14]);
}
