use super::*;

/// The fields of a kernel-log SECCOMP record that the tests vary.
struct Rec<'a> {
    time: &'a str,
    pid: u32,
    uid: u32,
    comm: &'a str,
    exe: &'a str,
    arch: &'a str,
    nr: u32,
    code: &'a str,
}

const REC: Rec = Rec {
    time: "1795384464.398",
    pid: 1,
    uid: 0,
    comm: "\"a\"",
    exe: "\"/bin/a\"",
    arch: "c000003e",
    nr: 39,
    code: "0x7ffc0000",
};

impl Rec<'_> {
    /// The exact layout the kernel prints (see the observed line in parse.rs's tests).
    fn line(&self) -> String {
        format!(
            "audit: type=1326 audit({}:77): auid=4294967295 uid={} gid=0 ses=4294967295 pid={} \
             comm={} exe={} sig=0 arch={} syscall={} compat=0 ip=0x7f0e450d9829 code={}",
            self.time, self.uid, self.pid, self.comm, self.exe, self.arch, self.nr, self.code
        )
    }
}

fn log(pid: u32, comm: &str, nr: u32) -> String {
    Rec {
        pid,
        comm: &format!("\"{comm}\""),
        nr,
        ..REC
    }
    .line()
}

fn run(lines: &[String], options: &Options) -> Imported {
    import(lines.join("\n").as_bytes(), options).unwrap()
}

fn names(imported: &Imported, arch: Arch) -> Vec<&str> {
    imported
        .syscalls
        .get(&arch)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
}

#[test]
fn default_keeps_every_log_record_and_only_those() {
    let lines = [
        log(1, "a", 39),
        log(2, "b", 0),
        Rec {
            pid: 3,
            comm: "\"c\"",
            exe: "\"/c\"",
            nr: 1,
            code: "0x50000",
            ..REC
        }
        .line(),
        Rec {
            pid: 3,
            comm: "\"c\"",
            exe: "\"/c\"",
            nr: 2,
            code: "0x80000000",
            ..REC
        }
        .line(),
    ];
    let got = run(&lines, &Options::default());
    assert_eq!(names(&got, Arch::X86_64), ["getpid", "read"]);
    assert_eq!(got.stats.matched, 2);
    assert_eq!(got.stats.skipped, BTreeMap::from([(Skip::Action, 2)]));

    let all = Options {
        actions: Action::ALL.into(),
        ..Options::default()
    };
    assert_eq!(
        names(&run(&lines, &all), Arch::X86_64),
        ["getpid", "open", "read", "write"]
    );
}

#[test]
fn arch_field_picks_the_syscall_table() {
    let i386 = Rec {
        pid: 5,
        exe: "\"/a\"",
        arch: "40000003",
        nr: 20,
        ..REC
    }
    .line();
    let x32 = Rec {
        pid: 5,
        exe: "\"/a\"",
        nr: 0x4000_0000 + 520,
        ..REC
    }
    .line();
    let arm64 = Rec {
        pid: 5,
        exe: "\"/a\"",
        arch: "c00000b7",
        nr: 172,
        ..REC
    }
    .line();
    let riscv = Rec {
        pid: 5,
        exe: "\"/a\"",
        arch: "c00000f3",
        nr: 172,
        ..REC
    }
    .line();
    let unknown = Rec {
        pid: 5,
        exe: "\"/a\"",
        nr: 4000,
        ..REC
    }
    .line();
    let got = run(&[i386, x32, arm64, riscv, unknown], &Options::default());
    assert_eq!(names(&got, Arch::X86), ["getpid"]);
    assert_eq!(names(&got, Arch::X32), ["execve"]);
    assert_eq!(names(&got, Arch::Aarch64), ["getpid"]);
    assert_eq!(got.syscalls.len(), 3);
    assert_eq!(got.stats.skipped[&Skip::UnsupportedArch], 1);
    assert_eq!(got.stats.unknown, BTreeMap::from([((0xc000003e, 4000), 1)]));
}

/// web (pid 10, uid 1000), "my web" (pid 11, hex-encoded, a second later) and other
/// (pid 12, 1.5 s later).
fn three_processes() -> [String; 3] {
    [
        Rec {
            pid: 10,
            uid: 1000,
            comm: "\"web\"",
            exe: "\"/usr/sbin/web\"",
            ..REC
        }
        .line(),
        Rec {
            time: "1795384465.000",
            pid: 11,
            comm: "6D7920776562",
            exe: "2F7573722F7362696E2F6D7920776562",
            nr: 0,
            ..REC
        }
        .line(),
        Rec {
            time: "1795384466.500",
            pid: 12,
            comm: "\"other\"",
            exe: "\"/other\"",
            nr: 1,
            ..REC
        }
        .line(),
    ]
}

#[test]
fn filters_select_processes() {
    let lines = three_processes();
    let pick = |options: Options| names(&run(&lines, &options), Arch::X86_64).join(" ");
    let base = Options::default;
    assert_eq!(
        pick(Options {
            pids: vec![10, 12],
            ..base()
        }),
        "getpid write"
    );
    assert_eq!(
        pick(Options {
            comms: vec!["my web".into()],
            ..base()
        }),
        "read"
    );
    assert_eq!(
        pick(Options {
            exes: vec!["/usr/sbin/my web".into()],
            ..base()
        }),
        "read"
    );
    assert_eq!(
        pick(Options {
            uids: vec![1000],
            ..base()
        }),
        "getpid"
    );
    assert_eq!(
        pick(Options {
            since_ms: Some(1_795_384_465_000),
            ..base()
        }),
        "read write"
    );
    assert_eq!(
        pick(Options {
            until_ms: Some(1_795_384_465_000),
            ..base()
        }),
        "getpid read"
    );
    let got = run(
        &lines,
        &Options {
            comms: vec!["web".into()],
            ..base()
        },
    );
    assert_eq!(got.stats.skipped, BTreeMap::from([(Skip::Comm, 2)]));
}

#[test]
fn runc_init_records_follow_their_process() {
    let lines = [
        log(20, "runc:[2:INIT]", 59),
        log(20, "nginx", 0),
        log(21, "runc:[2:INIT]", 138),
        log(21, "other", 1),
    ];
    let nginx = Options {
        comms: vec!["nginx".into()],
        ..Options::default()
    };
    let got = run(&lines, &nginx);
    assert_eq!(names(&got, Arch::X86_64), ["execve", "read"]);
    assert_eq!((got.stats.matched, got.stats.runtime_init), (2, 1));
    assert_eq!(
        got.stats.skipped,
        BTreeMap::from([(Skip::Comm, 1), (Skip::InitOfOther, 1)])
    );

    let without = Options {
        runtime_init: false,
        ..nginx
    };
    assert_eq!(names(&run(&lines, &without), Arch::X86_64), ["read"]);
    let everything = run(&lines, &Options::default());
    assert_eq!(
        names(&everything, Arch::X86_64),
        ["execve", "fstatfs", "read", "write"]
    );
    assert_eq!(everything.stats.runtime_init, 2);
}

#[test]
fn malformed_lines_are_counted_with_their_numbers() {
    let good = log(1, "a", 39);
    let truncated = good[..good.len() - 6].to_string();
    let lines = [
        good.clone(),
        "{not json".to_string(),
        truncated,
        "kernel: hello".to_string(),
        good,
    ];
    let got = run(&lines, &Options::default());
    assert_eq!(got.stats.lines, 5);
    assert_eq!(got.stats.matched, 2);
    assert_eq!(
        got.stats.skipped,
        BTreeMap::from([(Skip::Malformed, 2), (Skip::NotAudit, 1)])
    );
    let at: Vec<u64> = got.stats.malformed.iter().map(|m| m.line).collect();
    assert_eq!(at, [2, 3]);

    let strict = Options {
        strict: true,
        ..Options::default()
    };
    let mut importer = Importer::new(&strict);
    let err = importer
        .read(lines.join("\n").as_bytes(), "audit.log")
        .unwrap_err();
    assert!(
        matches!(err, AuditError::Malformed { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("audit.log:2: "), "{err}");
}

#[test]
fn times() {
    assert_eq!(parse_time("2026-11-22T10:00"), Ok(1_795_341_600_000));
    assert_eq!(parse_time("2026-11-22 10:00:00Z"), Ok(1_795_341_600_000));
    assert_eq!(parse_time("2026-11-22"), Ok(1_795_305_600_000));
    assert_eq!(parse_time("@1795384464.398"), Ok(1_795_384_464_398));
    for bad in [
        "yesterday",
        "2026-13-01",
        "@-5",
        "22/11/2026",
        "@18446744073709551.999",
        "@",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

#[test]
fn overlong_lines_are_cut_and_only_records_count_as_malformed() {
    let record = format!("{} {}", log(1, "a", 39), "x".repeat(MAX_LINE));
    let other = format!("kernel: {}", "y".repeat(MAX_LINE + 5));
    let got = run(&[record, other, log(1, "a", 0)], &Options::default());
    assert_eq!(names(&got, Arch::X86_64), ["read"]);
    let want = BTreeMap::from([(Skip::Malformed, 1), (Skip::NotAudit, 1)]);
    assert_eq!(got.stats.skipped, want);
    assert_eq!(got.stats.malformed[0].line, 1);
}
