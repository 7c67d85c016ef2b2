//! The library's tracer with each way of reading the cgroup id: a process in the target
//! cgroup is recorded, the test process outside it is not.

use seccomp_recorder::arch::Arch;
use seccomp_recorder::cgroup;
use seccomp_recorder::trace::{AttachKind, CgroupRead, LoadOptions, Tracer};
use seccomp_recorder_tests::require_root;
use std::ffi::CString;
use std::path::Path;

/// Forks a child that joins `cg` and makes syscall `nr`; waits for it. Only raw,
/// async-signal-safe calls between fork and _exit.
fn call_in(cg: &Path, nr: libc::c_long) {
    let procs = CString::new(cg.join("cgroup.procs").to_str().unwrap()).unwrap();
    // SAFETY: the child makes only raw syscalls and exits.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            let ok = fd >= 0 && libc::write(fd, c"0".as_ptr().cast(), 1) == 1;
            libc::syscall(nr, 0);
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert_eq!(status, 0, "the child could not join {}", cg.display());
    }
}

fn load(read: CgroupRead) -> Tracer {
    let opts = LoadOptions {
        follow: false,
        cgroup_read: Some(read),
    };
    Tracer::load_opts(4, opts).expect("the tracer loads")
}

#[test]
fn both_cgroup_id_reads_record_the_target_and_nothing_outside() {
    require_root();
    let mount = cgroup::mount_point().expect("cgroup v2 is mounted");
    let host = Arch::host().expect("a supported host");
    for read in [CgroupRead::Helper, CgroupRead::TaskBtf] {
        let cg = mount.join(format!("scr-test-cgread-{read:?}-{}", std::process::id()));
        std::fs::create_dir(&cg).unwrap();
        let id = cgroup::id(&cg).unwrap();
        let mut tracer = load(read);
        tracer.add_target(id).unwrap();
        assert_eq!(
            tracer.attach(Some(AttachKind::Btf)).unwrap(),
            AttachKind::Btf
        );
        assert_eq!(tracer.cgroup_read(), read);
        call_in(&cg, libc::SYS_sched_get_priority_min);
        // SAFETY: a plain syscall.
        unsafe { libc::syscall(libc::SYS_sched_get_priority_max, 0) };
        tracer.detach();
        let seen = tracer.read().unwrap();
        std::fs::remove_dir(&cg).unwrap();
        let names = &seen.get(&id).expect("the target has a set").names[&host];
        assert!(
            names.contains("sched_get_priority_min"),
            "{read:?}: {names:?}"
        );
        assert!(
            !names.contains("sched_get_priority_max"),
            "{read:?}: {names:?}"
        );
    }
}

#[test]
fn the_raw_tracepoint_reads_the_cgroup_id_with_the_helper() {
    require_root();
    let mut tracer = load(CgroupRead::TaskBtf);
    assert_eq!(
        tracer.attach(Some(AttachKind::Raw)).unwrap(),
        AttachKind::Raw
    );
    assert_eq!(tracer.cgroup_read(), CgroupRead::Helper);
}
