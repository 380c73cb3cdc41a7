/*
 * sandbox.c: a kill-by-default seccomp allow-list (libseccomp) that a
 * command loads once its options are parsed, keys read and files opened,
 * before it reads a byte of untrusted input.
 *
 * Built with -DPSM_SANDBOX_DEBUG the filter traps instead of killing and
 * names the syscall that was refused; an AddressSanitizer build only logs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "psm_sandbox.h"

/* What every reading loop needs: I/O on open descriptors, memory, time, exit. */
static const int base_calls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(fcntl), SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill),
	SCMP_SYS(mlock), SCMP_SYS(munlock),	/* sodium_free of secret memory */
	SCMP_SYS(restart_syscall),	/* a sleep stopped (SIGSTOP, ^Z) and continued */
};

#ifdef PSM_SANDBOX_DEBUG
static void
name_refused_call(int sig, siginfo_t *si, void *ctx)
{
	char msg[128];
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, si->si_syscall);
	int n = snprintf(msg, sizeof msg, "sandbox: refused syscall %s (%d)\n",
	    name ? name : "?", si->si_syscall);

	(void)sig;
	(void)ctx;
	if (write(STDERR_FILENO, msg, (size_t)n) < 0)
		_exit(PSM_EXIT_OS);
	_exit(PSM_EXIT_OS);
}
#endif

static int
allow(scmp_filter_ctx ctx, int call, struct psm_error *e)
{
	if (call >= 0 && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, call, 0) < 0)
		return psm_fail(e, PSM_E_OS, "sandbox: cannot allow syscall %d", call);
	return 0;
}

/* The allow-list and the ioctl rule into ctx. */
static int
add_rules(scmp_filter_ctx ctx, const int *extra, unsigned flags, struct psm_error *e)
{
	for (size_t i = 0; i < sizeof base_calls / sizeof base_calls[0]; i++)
		if (allow(ctx, base_calls[i], e) < 0)
			return -1;
	for (; extra != NULL && *extra != -1; extra++)
		if (allow(ctx, *extra, e) < 0)
			return -1;
	struct scmp_arg_cmp is_tcgets = { .arg = 1, .op = SCMP_CMP_EQ,
		.datum_a = TCGETS, .datum_b = 0 };
	if (seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 1,
	    &is_tcgets) < 0)
		return psm_fail(e, PSM_E_OS, "sandbox: cannot add the ioctl rule");
	/*
	 * Signal 0 only: whether a process exists; no signal is ever sent.
	 * The comparison spelled out as above: SCMP_A1() leaves datum_b out,
	 * which clang's -Wmissing-field-initializers refuses (make fuzz).
	 */
	struct scmp_arg_cmp is_probe = { .arg = 1, .op = SCMP_CMP_EQ, .datum_a = 0, .datum_b = 0 };
	if ((flags & PSM_SANDBOX_PROBE) && seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW,
	    SCMP_SYS(kill), 1, &is_probe) < 0)
		return psm_fail(e, PSM_E_OS, "sandbox: cannot add the kill rule");
	/* A socket's queues: how much the peer has not acknowledged, or is there to read. */
	static const unsigned long socket_ioctls[] = { SIOCOUTQ, FIONREAD };
	for (size_t i = 0; (flags & PSM_SANDBOX_SOCKETS) && i < 2; i++) {
		struct scmp_arg_cmp is_req = { .arg = 1, .op = SCMP_CMP_EQ,
			.datum_a = socket_ioctls[i], .datum_b = 0 };
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &is_req) < 0)
			return psm_fail(e, PSM_E_OS, "sandbox: cannot add the socket ioctl rule");
	}
	return 0;
}

/*
 * Confine the process: the base list plus EXTRA (ending in -1). stdio asks
 * the kernel whether a descriptor is a terminal (ioctl TCGETS) on its
 * first write; that answers ENOTTY, every other ioctl kills.
 */
int
psm_sandbox(const int *extra, struct psm_error *e)
{
	return psm_sandbox_flags(extra, 0, e);
}

/* psm_sandbox(), and with PSM_SANDBOX_PROBE kill(pid, 0). */
int
psm_sandbox_flags(const int *extra, unsigned flags, struct psm_error *e)
{
	uint32_t deny = SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;

#if defined(__SANITIZE_ADDRESS__)
	/*
	 * LeakSanitizer's check at exit stops the world with a ptrace helper
	 * thread: a sanitizer build logs what the list refuses instead.
	 */
	deny = SCMP_ACT_LOG;
#endif
#ifdef PSM_SANDBOX_DEBUG
	struct sigaction sa = { .sa_sigaction = name_refused_call, .sa_flags = SA_SIGINFO };
	sigaction(SIGSYS, &sa, NULL);
	deny = SCMP_ACT_TRAP;
#endif
	/* glibc reads /etc/localtime on the first time conversion: do it now. */
	time_t epoch = 0;
	struct tm tm;
	tzset();
	gmtime_r(&epoch, &tm);
	if ((ctx = seccomp_init(deny)) == NULL)
		return psm_fail(e, PSM_E_OS, "sandbox: seccomp_init failed");
	int rc = add_rules(ctx, extra, flags, e);
	if (rc == 0 && (rc = seccomp_load(ctx)) < 0)
		psm_fail(e, PSM_E_OS, "sandbox: cannot load the filter: %s", strerror(-rc));
	seccomp_release(ctx);
	return rc < 0 ? -1 : 0;
}
