/* Static workload for the container-engine tests. Each argument names a syscall to make
 * with harmless (often invalid) arguments; one line per call is printed:
 *   NAME ret=R errno=E
 * so a test can tell "refused by seccomp" (the profile's errno) from the kernel's own
 * answer. The argument "linger" sleeps a second instead, so that a watcher can still read
 * the cgroup of the process that made the calls before it. Raw syscalls: libc must not hide or cache any of them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct call {
    const char *name;
    long nr;
    long a0, a1, a2, a3, a4, a5;
};

/* Arguments chosen so that, unconfined, the call either succeeds harmlessly or fails with
 * an errno other than the ones the profiles return (EPERM, ENOSYS), where possible. */
static const struct call calls[] = {
    {"getpriority", SYS_getpriority, 0, 0},
    {"sched_getscheduler", SYS_sched_getscheduler, 0},
    {"sched_get_priority_max", SYS_sched_get_priority_max, 0},
    {"sysinfo", SYS_sysinfo, 0},               /* NULL buffer: EFAULT */
    {"times", SYS_times, 0},
    {"getitimer", SYS_getitimer, 0, 0},        /* NULL: EFAULT */
    {"getppid", SYS_getppid},
    {"getcpu", SYS_getcpu, 0, 0, 0},
    {"personality", SYS_personality, 0xffffffff},  /* query only */
    {"personality_linux32", SYS_personality, 0x0008},  /* PER_LINUX32: Docker allows by args */
    {"unshare", SYS_unshare, 0x10000000},      /* CLONE_NEWUSER */
    {"keyctl", SYS_keyctl, -1},                /* bad command: EOPNOTSUPP/EINVAL */
    {"add_key", SYS_add_key, 0, 0, 0, 0, 0},   /* NULL type: EFAULT */
    {"request_key", SYS_request_key, 0, 0, 0, 0},
    {"ptrace", SYS_ptrace, -1, 0, 0, 0},       /* bad request: ESRCH/EIO */
    {"userfaultfd", SYS_userfaultfd, -1},      /* bad flags: EINVAL */
    {"perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0}, /* NULL attr: EFAULT */
    {"bpf", SYS_bpf, -1, 0, 0},                /* bad cmd */
    {"mount", SYS_mount, 0, 0, 0, 0, 0},
    {"umount2", SYS_umount2, 0, 0},
    {"pivot_root", SYS_pivot_root, 0, 0},
    {"swapon", SYS_swapon, 0, 0},
    {"syslog", SYS_syslog, -1, 0, 0},          /* bad type: EINVAL */
    {"acct", SYS_acct, 0},
    {"settimeofday", SYS_settimeofday, 0, 0},
    {"clock_settime", SYS_clock_settime, -1, 0},
    {"setns", SYS_setns, -1, 0},               /* bad fd: EBADF */
    {"open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0},
    {"name_to_handle_at", SYS_name_to_handle_at, -1, 0, 0, 0, 0},
    {"kcmp", SYS_kcmp, 0, 0, -1, 0, 0},
    {"lookup_dcookie", SYS_lookup_dcookie, 0, 0, 0},
    {"move_pages", SYS_move_pages, 0, 0, 0, 0, 0, 0},
    {"mbind", SYS_mbind, 0, 0, -1, 0, 0, 0},
    {"get_mempolicy", SYS_get_mempolicy, 0, 0, 0, 0, -1},
    {"set_mempolicy", SYS_set_mempolicy, -1, 0, 0},
    {"process_vm_readv", SYS_process_vm_readv, 0, 0, 0, 0, 0, -1},
    {"fanotify_init", SYS_fanotify_init, -1, 0},
    {"io_uring_setup", SYS_io_uring_setup, 0, 0},
    {"clone3", SYS_clone3, 0, 0},              /* size 0: EINVAL */
    {"vhangup", SYS_vhangup},
    {"quotactl", SYS_quotactl, 0, 0, 0, 0},
    {"iopl", SYS_iopl, 99},
    {"ioperm", SYS_ioperm, 0, 0, 0},
    {"uselib", SYS_uselib, 0},
    {"ustat", SYS_ustat, 0, 0},
    {"sysfs", SYS_sysfs, -1, 0},
    {"_sysctl", SYS__sysctl, 0},
    {"pidfd_getfd", SYS_pidfd_getfd, -1, 0, 0},
    {"fsopen", SYS_fsopen, 0, 0},
    {"open_tree", SYS_open_tree, -1, 0, 0},
    {"memfd_secret", 447, -1},
    {"landlock_create_ruleset", SYS_landlock_create_ruleset, 0, 0, -1},
};

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const struct call *c = NULL;
        if (strcmp(argv[i], "linger") == 0) {
            fflush(stdout);
            sleep(1);
            continue;
        }
        for (size_t j = 0; j < sizeof calls / sizeof calls[0]; j++)
            if (strcmp(calls[j].name, argv[i]) == 0)
                c = &calls[j];
        if (!c) {
            printf("%s unknown\n", argv[i]);
            return 2;
        }
        errno = 0;
        long r = syscall(c->nr, c->a0, c->a1, c->a2, c->a3, c->a4, c->a5);
        printf("%s ret=%ld errno=%d\n", argv[i], r, r == -1 ? errno : 0);
    }
    fflush(stdout);
    return 0;
}
