/* Installs a seccomp filter whose only action is SECCOMP_RET_LOG (what a profile with
 * defaultAction SCMP_ACT_LOG compiles to), then makes a fixed set of marker syscalls and
 * exits. Every syscall after the filter is in place is logged by the kernel, so the records
 * must name exactly: getppid, uname, sched_yield, personality, getcwd, exit_group.
 *
 * Raw syscall() only after the filter: libc wrappers may add calls of their own (stdio
 * would add fstat/write), which would make the expected set depend on the libc.
 * Built both natively and with -m32 -static, so records land under two architectures. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_LOG),
	};
	struct sock_fprog prog = { .len = 1, .filter = insns };
	struct utsname uts;
	char cwd[256];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("prctl(PR_SET_NO_NEW_PRIVS)");
		return 1;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("seccomp(SECCOMP_SET_MODE_FILTER)");
		return 1;
	}
	syscall(SYS_getppid);
	syscall(SYS_uname, &uts);
	syscall(SYS_sched_yield);
	syscall(SYS_personality, 0xffffffffUL);
	syscall(SYS_getcwd, cwd, sizeof(cwd));
	syscall(SYS_exit_group, 0);
	return 1;
}
