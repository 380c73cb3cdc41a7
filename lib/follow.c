/*
 * follow.c: what a reader that follows a growing file (psm-replay --follow)
 * looks at when it has read to the end and waits: whether the file at its
 * path is still the one it reads, and no shorter than what it has read
 * (logrotate's copytruncate and create, a file deleted), and whether the
 * process that writes it still exists.
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm.h"

/*
 * The file open on fd, which was opened as path and read up to where fd
 * is now. Only a regular file is judged; anything else is PSM_FOLLOWED_OK,
 * as is a path that cannot be looked at for another reason than that it
 * no longer exists.
 */
enum psm_followed
psm_followed_state(int fd, const char *path)
{
	struct stat st, now;
	off_t at;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return PSM_FOLLOWED_OK;
	if ((at = lseek(fd, 0, SEEK_CUR)) > st.st_size)
		return PSM_FOLLOWED_TRUNCATED;
	if (stat(path, &now) < 0)
		return errno == ENOENT || errno == ENOTDIR ? PSM_FOLLOWED_MOVED : PSM_FOLLOWED_OK;
	if (now.st_ino != st.st_ino || now.st_dev != st.st_dev)
		return PSM_FOLLOWED_REPLACED;
	return PSM_FOLLOWED_OK;
}

/* Whether process pid is known to exist no more (kill with signal 0: nothing is sent). */
bool
psm_pid_gone(pid_t pid)
{
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}
