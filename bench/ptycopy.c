/*
 * ptycopy: the least a PTY recorder can do, as a baseline. Runs COMMAND
 * on a new pseudo-terminal (its controlling terminal, in a new session)
 * and copies what comes out of the master to stdout with read/write until
 * the last slave closes; records nothing. Exits with COMMAND's status.
 *
 *     ptycopy [-e] COMMAND [ARG...]
 *
 * With -e the pseudo-terminal is only COMMAND's standard error (and its
 * controlling terminal), and what comes out of the master goes to stderr;
 * standard input and output stay as they are. The benchmark runs every
 * recorder that way, so that each has a terminal to take its settings
 * from: tlog-rec uses plain pipes, not a PTY, when none of its standard
 * descriptors is a terminal, and it registers the session in utmp when
 * its standard input is one (which fails where there is no /run/utmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void
die(const char *what)
{
	fprintf(stderr, "ptycopy: %s: %s\n", what, strerror(errno));
	exit(126);
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static char buf[65536];
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	int stderr_only = 0, master, slave, status;
	char *name;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "-e") == 0) {
		stderr_only = 1;
		argv++, argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: ptycopy [-e] COMMAND [ARG...]\n");
		return 2;
	}
	if ((master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		die("posix_openpt");
	if (grantpt(master) < 0 || unlockpt(master) < 0 || (name = ptsname(master)) == NULL)
		die("grantpt");
	/* Held open here until the child has it, so the master never sees EIO early. */
	if ((slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		die(name);
	ioctl(slave, TIOCSWINSZ, &ws);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
			die("controlling terminal");
		if (!stderr_only) {
			dup2(slave, STDIN_FILENO);
			dup2(slave, STDOUT_FILENO);
		}
		dup2(slave, STDERR_FILENO);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "ptycopy: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	close(slave);
	signal(SIGPIPE, SIG_IGN);
	/* Until every slave is closed: EIO (Linux) or end of file. */
	for (int out = stderr_only ? STDERR_FILENO : STDOUT_FILENO, out_ok = 1;;) {
		ssize_t n = read(master, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out_ok && write_all(out, buf, (size_t)n) < 0)
			out_ok = 0;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	close(master);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
