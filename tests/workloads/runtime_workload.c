/* The workload of the runc tests, compiled with -static so the busybox rootfs needs no
 * libc. `runtime_workload MARKER` makes MARKER's raw syscall (a rare one that neither runc's
 * init nor busybox makes, so its presence in a profile can only come from this container)
 * and fails if it is refused. With PROBE set in the environment it then tries a syscall
 * that no recording ever saw, and prints the errno it got: the enforcing runs set PROBE,
 * the recorded ones never do. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long nr;
    if (argc == 2 && strcmp(argv[1], "one") == 0)
        nr = SYS_sched_get_priority_max;
    else if (argc == 2 && strcmp(argv[1], "two") == 0)
        nr = SYS_sched_get_priority_min;
    else {
        fprintf(stderr, "usage: %s one|two\n", argv[0]);
        return 2;
    }
    errno = 0;
    /* SCHED_OTHER: both calls return 0 when allowed. */
    long r = syscall(nr, 0);
    printf("marker %s %d\n", argv[1], r < 0 ? errno : 0);
    fflush(stdout);
    if (r < 0)
        return 1;
    if (getenv("PROBE")) {
        struct itimerval it;
        errno = 0;
        r = syscall(SYS_getitimer, ITIMER_REAL, &it);
        printf("probe getitimer %d\n", r < 0 ? errno : 0);
    }
    return 0;
}
