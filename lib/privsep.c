/*
 * privsep.c: the ids of a recorder installed set-user-id on a system user
 * of its own (psm), so that the user it records can neither signal, stop,
 * trace nor read it.
 *
 * Started as the user U with the effective id P of the recorder's user,
 * psm-record starts the session's command with U's ids alone, and the
 * filters it feeds with P's alone. It keeps for itself the real and saved
 * id P and the effective id U, file access as P (fsuid):
 *  - the kernel lets a process signal another when the sender's real or
 *    effective id is the target's real or saved id: psm-record (effective
 *    U) may signal the session, the session (U) may not signal psm-record
 *    (P, P);
 *  - ptrace and /proc/PID need all three ids to match, and the process to
 *    be dumpable: neither holds;
 *  - files are opened with the fsuid: P's spool and keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm.h"

/* The ids this process started with; on when it runs set-user-id. */
void
psm_priv_init(struct psm_priv *p)
{
	p->user = getuid();
	p->recorder = geteuid();
	p->on = p->user != p->recorder;
}

/*
 * What a set-user-id program must not take from whoever started it:
 * descriptors past stderr (and a closed 0, 1 or 2, which a file opened
 * later would take), signal dispositions (an ignored SIGCHLD would hide
 * the command's end), a umask and core dumps. In every mode: no core
 * dump and no ptrace by the same user.
 */
int
psm_priv_sanitize(const struct psm_priv *p, struct psm_error *e)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
		return psm_fail_errno(e, "cannot turn off core dumps and tracing");
	if (!p->on)
		return 0;
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			return psm_fail_errno(e, "cannot open /dev/null");
	closefrom(3);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is a failed write, not a death */
	umask(077);
	return 0;
}

/* All ids to id, and check that they are: for the command (U) or a filter (P). */
static int
become(uid_t id, struct psm_error *e)
{
	uid_t r, ef, sv;

	if (setresuid(id, id, id) < 0 || getresuid(&r, &ef, &sv) < 0 ||
	    r != id || ef != id || sv != id)
		return psm_fail_errno(e, "cannot change to user id %lu", (unsigned long)id);
	return 0;
}

int
psm_priv_become_user(const struct psm_priv *p, struct psm_error *e)
{
	return p->on ? become(p->user, e) : 0;
}

int
psm_priv_become_recorder(const struct psm_priv *p, struct psm_error *e)
{
	return p->on ? become(p->recorder, e) : 0;
}

/*
 * Files opened from now on are the user's (true) or the recorder's: the
 * session's terminal is opened as the user, so that it belongs to them as
 * a login's does.
 */
void
psm_priv_files_as_user(const struct psm_priv *p, bool user)
{
	if (p->on)
		setfsuid(user ? p->user : p->recorder);
}

/* The recorder's own ids from here on: real and saved P, effective U, files as P. */
int
psm_priv_split(const struct psm_priv *p, struct psm_error *e)
{
	uid_t r, ef, sv;

	if (!p->on)
		return 0;
	if (setresuid(p->recorder, p->user, p->recorder) < 0 ||
	    getresuid(&r, &ef, &sv) < 0 || r != p->recorder || ef != p->user ||
	    sv != p->recorder)
		return psm_fail_errno(e, "cannot separate the recorder from the session");
	setfsuid(p->recorder);
	if ((uid_t)setfsuid((uid_t)-1) != p->recorder)
		return psm_fail(e, PSM_E_OS, "cannot keep the recorder's file access");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return psm_fail_errno(e, "cannot turn off tracing");
	return 0;
}

/*
 * A file or directory of the recorder's settings that it may trust: not
 * a symbolic link, owned by root or the recorder, writable by no one
 * else. 0; -1 with PSM_E_OS otherwise (errno ENOENT when it is absent).
 */
int
psm_priv_trusted(const struct psm_priv *p, const char *path, bool dir, struct psm_error *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return psm_fail_errno(e, "%s", path);
	if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return psm_fail(e, PSM_E_OS, "%s: not a %s", path, dir ? "directory" : "regular file");
	if (st.st_uid != 0 && st.st_uid != p->recorder)
		return psm_fail(e, PSM_E_OS, "%s: owned by user %lu, not by root or the recorder",
		    path, (unsigned long)st.st_uid);
	if (st.st_mode & 022)
		return psm_fail(e, PSM_E_OS, "%s: writable by group or others", path);
	return 0;
}
