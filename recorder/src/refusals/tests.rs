use super::*;
use crate::audit::Action;

/// An errno refusal as the audit multicast group delivers it (the kernel's text after
/// the record type), observed with runc 1.3.6 and a profile carrying the log flag.
const MULTICAST_TEXT: &str = "audit(1795384464.398:3): auid=4294967295 uid=0 gid=0 \
    ses=4294967295 pid=17087 comm=\"getprio\" exe=\"/tmp/getprio\" sig=0 arch=c000003e \
    syscall=140 compat=0 ip=0x7f0e450d9829 code=0x50000";

fn refusal(line: &str) -> Refusal {
    match parse(line) {
        Parsed::Refusal(r) => r,
        _ => panic!("not a refusal: {line}"),
    }
}

#[test]
fn errno_refusal_names_its_call() {
    let r = refusal(&format!("type=1326 {MULTICAST_TEXT}"));
    assert_eq!((r.pid, r.nr, r.action), (17087, 140, Action::Errno));
    assert!(r.refused());
    assert_eq!(r.syscall(), Some("getpriority"));
    assert_eq!(r.arch_label(), "x86_64");
    assert_eq!(r.comm.as_deref(), Some("getprio"));
    assert_eq!(r.exe.as_deref(), Some("/tmp/getprio"));
}

#[test]
fn log_records_are_not_refusals() {
    let r = refusal(&format!(
        "type=1326 {}",
        MULTICAST_TEXT.replace("code=0x50000", "code=0x7ffc0000")
    ));
    assert_eq!(r.action, Action::Log);
    assert!(!r.refused());
}

#[test]
fn other_arches_and_unknown_numbers_keep_a_label() {
    let i386 = MULTICAST_TEXT.replace("arch=c000003e syscall=140", "arch=40000003 syscall=96");
    let r = refusal(&format!("type=1326 {i386}"));
    assert_eq!(
        (r.arch_label().as_str(), r.syscall()),
        ("i386", Some("getpriority"))
    );
    let s390 = MULTICAST_TEXT.replace("arch=c000003e", "arch=80000016");
    assert_eq!(refusal(&format!("type=1326 {s390}")).arch_label(), "s390x");
    let odd = MULTICAST_TEXT.replace("arch=c000003e", "arch=12345678");
    let r = refusal(&format!("type=1326 {odd}"));
    assert_eq!(
        (r.arch_label(), r.syscall_label()),
        ("12345678".into(), "nr:140".into())
    );
    let x32 = MULTICAST_TEXT.replace("syscall=140", "syscall=1073741964");
    assert_eq!(refusal(&format!("type=1326 {x32}")).arch_label(), "x32");
}

#[test]
fn foreign_and_malformed_lines_are_told_apart() {
    assert!(matches!(parse("EXT4-fs (vda): mounted"), Parsed::Foreign));
    assert!(matches!(
        parse("type=1300 audit(1.000:1): arch=c000003e"),
        Parsed::OtherType
    ));
    let cut = &MULTICAST_TEXT[..MULTICAST_TEXT.len() - 8];
    assert!(matches!(
        parse(&format!("type=1326 {cut}")),
        Parsed::Malformed(_)
    ));
}

#[test]
fn counts_stay_bounded() {
    let mut c = Counts::new(2);
    assert_eq!(c.add(&"a"), Added::First);
    assert_eq!(c.add(&"a"), Added::Again);
    assert_eq!(c.add(&"b"), Added::First);
    for _ in 0..1000 {
        assert_eq!(c.add(&"c"), Added::Overflow);
    }
    assert_eq!(
        (c.get(&"a"), c.get(&"c"), c.overflow(), c.total()),
        (2, 0, 1000, 1003)
    );
    assert_eq!(c.sorted(), vec![("a", 2), ("b", 1)]);
}

#[test]
fn kernel_counts_are_added_many_at_once_and_bounded_alike() {
    let mut c = Counts::new(1);
    assert_eq!(c.add_n(&"a", 7), Added::First);
    assert_eq!(c.add_n(&"a", 3), Added::Again);
    assert_eq!(c.add_n(&"b", 5), Added::Overflow);
    assert_eq!((c.get(&"a"), c.overflow(), c.total()), (10, 5, 15));
}

#[test]
fn within_a_cgroup_or_below() {
    let wanted = [std::path::PathBuf::from("/sys/fs/cgroup/a")];
    assert!(within(std::path::Path::new("/sys/fs/cgroup/a"), &wanted));
    assert!(within(std::path::Path::new("/sys/fs/cgroup/a/b"), &wanted));
    assert!(!within(std::path::Path::new("/sys/fs/cgroup/ab"), &wanted));
}

/// The kernel path and the audit path name an ABI alike in every output, and the name is
/// the audit spelling (linux/audit.h's, as `ausearch -i` prints it).
#[test]
fn both_paths_name_each_arch_alike() {
    let want: [(Arch, u32, u32, &str); 5] = [
        (Arch::X86_64, 0xc000_003e, 140, "x86_64"),
        (Arch::X86, 0x4000_0003, 96, "i386"),
        (Arch::X32, 0xc000_003e, 0x4000_0000 | 140, "x32"),
        (Arch::Aarch64, 0xc000_00b7, 141, "aarch64"),
        (Arch::Arm, 0x4000_0028, 96, "arm"),
    ];
    assert_eq!(want.len(), Arch::ALL.len());
    for (arch, audit_arch, audit_nr, label) in want {
        let line = MULTICAST_TEXT.replace(
            "arch=c000003e syscall=140",
            &format!("arch={audit_arch:x} syscall={audit_nr}"),
        );
        let audit = refusal(&format!("type=1326 {line}"));
        let kernel = KernelCount {
            cgroup: 1,
            arch: Some(arch),
            nr: u64::from(audit_nr & !0x4000_0000),
            count: 1,
        };
        assert_eq!(audit.arch_label(), label, "{arch:?}");
        assert_eq!(kernel.arch_label(), label, "{arch:?}");
        assert_eq!(audit.syscall_label(), "getpriority", "{arch:?}");
        assert_eq!(kernel.syscall_label(), "getpriority", "{arch:?}");
    }
}
