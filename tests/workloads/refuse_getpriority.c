/* Installs a seccomp filter that refuses getpriority with EPERM and allows everything
 * else, loaded with SECCOMP_FILTER_FLAG_LOG (unless the second argument is "nolog") so the
 * kernel writes an audit record for each refusal ("nofilter": no filter of its own, for a
 * container whose profile does the refusing), then calls getpriority COUNT times
 * (first argument, default 1) or until SECONDS have passed (third argument, if given: a
 * flood of a fixed length). It prints its pid, how many calls it made, how many failed
 * (were refused) and when it began (CLOCK_MONOTONIC, for a watcher's latency), and stays
 * half a second more: a watcher reads the cgroup of a refusing process from /proc. It
 * exits 0 only when every call it made was refused.
 *
 * With "time" as the second argument (a filter without the flag) it measures instead: 3
 * rounds of COUNT allowed calls (getppid) and 3 of COUNT refused ones (getpriority), and
 * prints the best round's ns per call of each (allowed_ns=, refused_ns=); refused= counts
 * all 3 * COUNT refusals. It does not stay: the kernel path's cost is read from these
 * figures, not from /proc.
 *
 * The filter does not check the architecture: it is a test workload built for one ABI
 * at a time (natively, or -m32 -static), and __NR_getpriority is that ABI's number. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The best of 3 rounds of COUNT calls of NR, in ns per call; adds the failed calls. */
static double best_of_3(long count, long nr, long *failed)
{
	double best = 0;

	for (int round = 0; round < 3; round++) {
		long long start = now_ns();

		for (long i = 0; i < count; i++)
			if (syscall(nr, 0, 0) == -1)
				(*failed)++;
		double ns = (double)(now_ns() - start) / (double)count;
		if (round == 0 || ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 1;
	const char *mode = argc > 2 ? argv[2] : "";
	int log = strcmp(mode, "nolog") != 0 && strcmp(mode, "time") != 0;
	int timed = strcmp(mode, "time") == 0;
	double seconds = argc > 3 ? atof(argv[3]) : 0;
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getpriority, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = insns };
	long refused = 0, made = 0;
	pid_t pid = getpid();
	struct timespec start, now;

	if (strcmp(mode, "nofilter") == 0)
		goto refuse;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("prctl(PR_SET_NO_NEW_PRIVS)");
		return 1;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    log ? SECCOMP_FILTER_FLAG_LOG : 0, &prog) != 0) {
		perror("seccomp(SECCOMP_SET_MODE_FILTER)");
		return 1;
	}
refuse:
	if (timed) {
		long unexpected = 0;
		double allowed_ns = best_of_3(count, SYS_getppid, &unexpected);
		double refused_ns = best_of_3(count, SYS_getpriority, &refused);

		printf("pid=%d refused=%ld allowed_ns=%.1f refused_ns=%.1f\n", (int)pid, refused,
		       allowed_ns, refused_ns);
		return refused == 3 * count && unexpected == 0 ? 0 : 1;
	}
	/* The vDSO's clock, not a syscall: the filter sees getpriority only. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (made = 0; made < count; made++) {
		if (seconds > 0 && made % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
				break;
		}
		if (syscall(SYS_getpriority, 0, 0) == -1)
			refused++;
	}
	printf("pid=%d refused=%ld made=%ld first_ns=%lld\n", (int)pid, refused, made,
	       (long long)start.tv_sec * 1000000000LL + start.tv_nsec);
	fflush(stdout);
	usleep(500000);
	return refused == made ? 0 : 1;
}
