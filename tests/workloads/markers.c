/* A workload that makes one rare "marker" syscall from each place a recorder can miss:
 * the main thread, a second thread, a forked child, an exec'd grandchild, and a child
 * cgroup created while recording. Markers are raw syscalls, so libc cannot hide them
 * behind the vDSO or a cache. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/time.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *thread_marker(void *arg) {
    struct itimerval it;
    syscall(SYS_getitimer, ITIMER_REAL, &it);
    return arg;
}

static void tree(const char *self) {
    syscall(SYS_sched_getscheduler, 0);
    pthread_t t;
    pthread_create(&t, NULL, thread_marker, NULL);
    pthread_join(t, NULL);
    pid_t child = fork();
    if (child == 0) {
        struct sysinfo si;
        syscall(SYS_sysinfo, &si);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            execl(self, self, "grandchild", (char *)NULL);
            _exit(127);
        }
        waitpid(grandchild, NULL, 0);
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

/* Moves this process into a new child of its own cgroup v2, then makes a marker. */
static int nested(const char *mount) {
    char line[4096], path[8192];
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 1;
    path[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(path, sizeof path, "%s%s/nested", mount, line + 3);
        }
    fclose(f);
    if (!path[0] || mkdir(path, 0755)) { perror("mkdir nested cgroup"); return 1; }
    strcat(path, "/cgroup.procs");
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) { perror("join nested cgroup"); return 1; }
    close(fd);
    syscall(SYS_sched_get_priority_max, 0);
    return 0;
}

static volatile sig_atomic_t go;
static void on_usr1(int sig) { (void)sig; go = 1; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "tree";
    if (!strcmp(mode, "tree")) {
        tree(argv[0]);
    } else if (!strcmp(mode, "grandchild")) {
        struct tms t;
        syscall(SYS_times, &t);
    } else if (!strcmp(mode, "nested") && argc > 2) {
        return nested(argv[2]);
    } else if (!strcmp(mode, "odd")) {
        /* Numbers no table names: inside the per-ABI slots, and far outside them. */
        syscall(1000);
        syscall(5000);
    } else if (!strcmp(mode, "storm")) {
        /* 200 children that live a millisecond; only the last makes the marker. */
        for (int i = 0; i < 200; i++) {
            pid_t c = fork();
            if (c == 0) {
                if (i == 199) syscall(SYS_sched_get_priority_max, 0);
                _exit(0);
            }
            waitpid(c, NULL, 0);
        }
    } else if (!strcmp(mode, "outside")) {
        /* The marker of a process that is NOT recorded, made until killed. */
        for (;;) {
            syscall(SYS_getpriority, 0, 0);
            usleep(1000);
        }
    } else if (!strcmp(mode, "wait-usr1") && argc > 2) {
        /* Waits for SIGUSR1 (sent once the recorder is attached), then makes the
         * marker named by argv[2]: "min" or "max". */
        signal(SIGUSR1, on_usr1);
        while (!go) pause();
        syscall(!strcmp(argv[2], "min") ? SYS_sched_get_priority_min : SYS_sched_get_priority_max, 0);
    } else if (!strcmp(mode, "sleep")) {
        syscall(SYS_sched_get_priority_min, 0);
        for (;;) pause();
    } else if (!strcmp(mode, "exit") && argc > 2) {
        syscall(SYS_sched_getscheduler, 0);
        return atoi(argv[2]);
    } else {
        fprintf(stderr, "usage: markers [tree|odd|storm|nested MOUNT|outside|wait-usr1 min|max|sleep|exit N]\n");
        return 2;
    }
    return 0;
}
