/*
 * echolat: keystroke-echo latency through a recorder, as a user at a
 * terminal feels it.
 *
 *     echolat [-r] [-n COUNT] -- COMMAND [ARG...]
 *
 * Opens a pseudo-terminal pair (the "outer" terminal, 80x24, cooked, with
 * echo) and runs COMMAND on its slave as the controlling terminal of a new
 * session, e.g. `psm-record -o FILE -- cat`, `script -q -c cat /dev/null`
 * or plain `cat`. Then COUNT times: write one byte to the outer master and
 * time (CLOCK_MONOTONIC) until that byte comes back as echo. Prints one
 * line on stdout:
 *
 *     p50 p90 p99 max sent
 *
 * the percentiles and the maximum in microseconds, and the number of bytes
 * typed in all (to check a recording of the input against).
 *
 * -r: COMMAND is a recorder that puts the outer terminal in raw mode and
 * runs the program on a terminal of its own, which echoes. echolat waits
 * until the outer terminal's echo is off before it types, so that every
 * echo it times went through the recorder.
 *
 * Every 64 bytes, untimed, it types a carriage return and waits for the
 * line to come back (the echo of the newline, then cat's copy of the
 * line), so the inner line discipline never fills its line buffer. At the
 * end it types ^D on an empty line; cat ends, and so does the recorder.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000
#define WARMUP 100
#define LINE 64

static int master = -1;
static pid_t child;
static unsigned long sent;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "echolat: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (child > 0)
		kill(child, SIGKILL);
	exit(1);
}

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait for the master to be readable; read what is there into buf. */
static ssize_t
read_some(char *buf, size_t size)
{
	struct pollfd p = { master, POLLIN, 0 };
	ssize_t n;

	for (;;) {
		int r = poll(&p, 1, TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("poll: %s", strerror(errno));
		if (r == 0)
			fail("no echo within 5 seconds");
		n = read(master, buf, size);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			fail("the command closed the terminal");
		return n;
	}
}

static void
type(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(master, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail("write: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
		sent += (unsigned long)w;
	}
}

/* Type one byte; nanoseconds until it comes back. */
static long long
echo_time(char c)
{
	char buf[256];
	long long t0 = now_ns();

	type(&c, 1);
	for (;;) {
		ssize_t n = read_some(buf, sizeof buf);
		if (memchr(buf, c, (size_t)n) != NULL)
			return now_ns() - t0;
	}
}

/* End the line: wait for its two newlines (the echo, then cat's copy). */
static void
end_line(void)
{
	char buf[4096];
	int newlines = 0;

	type("\r", 1);
	while (newlines < 2) {
		ssize_t n = read_some(buf, sizeof buf);
		for (ssize_t i = 0; i < n; i++)
			newlines += buf[i] == '\n';
	}
}

/* Type COUNT bytes, ending a line every LINE; their times into ns (or NULL). */
static void
run(long long *ns, int count)
{
	for (int i = 0; i < count; i++) {
		long long t = echo_time((char)('a' + i % 26));
		if (ns != NULL)
			ns[i] = t;
		if (i % LINE == LINE - 1)
			end_line();
	}
	if (count % LINE != 0)
		end_line();
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank, in microseconds. */
static double
pct(const long long *v, int n, int p)
{
	int k = (n * p + 99) / 100;

	return (double)v[k > 0 ? k - 1 : 0] / 1000.0;
}

static void
wait_raw(void)
{
	long long until = now_ns() + (long long)TIMEOUT_MS * 1000000;
	struct termios t;

	/* tcgetattr on a master gives the slave's settings (Linux). */
	while (tcgetattr(master, &t) == 0 && (t.c_lflag & ECHO)) {
		if (now_ns() > until)
			fail("the command did not put the terminal in raw mode");
		usleep(1000);
	}
}

int
main(int argc, char **argv)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	int raw = 0, count = 2000, c, slave, status;
	long long *ns, deadline;
	char *name, buf[4096];

	while ((c = getopt(argc, argv, "+rn:")) != -1) {
		switch (c) {
		case 'r': raw = 1; break;
		case 'n': count = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (optind >= argc || count < 1) {
usage:
		fprintf(stderr, "usage: echolat [-r] [-n COUNT] -- COMMAND [ARG...]\n");
		return 2;
	}
	if ((ns = calloc((size_t)count, sizeof *ns)) == NULL)
		fail("out of memory");
	if ((master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
	    grantpt(master) < 0 || unlockpt(master) < 0 || (name = ptsname(master)) == NULL)
		fail("cannot open a pseudo-terminal: %s", strerror(errno));
	if ((slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		fail("%s: %s", name, strerror(errno));
	ioctl(slave, TIOCSWINSZ, &ws);
	if ((child = fork()) < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, STDIN_FILENO);
		dup2(slave, STDOUT_FILENO);
		dup2(slave, STDERR_FILENO);
		execvp(argv[optind], argv + optind);
		dprintf(STDERR_FILENO, "echolat: %s: %s\r\n", argv[optind], strerror(errno));
		_exit(127);
	}
	close(slave);
	signal(SIGPIPE, SIG_IGN);
	if (raw)
		wait_raw();
	run(NULL, WARMUP);
	run(ns, count);

	/* ^D on an empty line: cat ends, then the recorder. */
	type("\004", 1);
	deadline = now_ns() + (long long)TIMEOUT_MS * 1000000;
	for (int reading = 1; waitpid(child, &status, WNOHANG) != child;) {
		struct pollfd p = { master, POLLIN, 0 };

		if (now_ns() > deadline)
			fail("the command did not end after ^D");
		if (!reading)
			usleep(1000);
		else if (poll(&p, 1, 10) > 0 && read(master, buf, sizeof buf) <= 0)
			reading = 0;	/* EIO: the last slave closed */
	}
	child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the command failed (status 0x%x)", (unsigned)status);

	qsort(ns, (size_t)count, sizeof *ns, cmp_ll);
	printf("%.1f %.1f %.1f %.1f %lu\n", pct(ns, count, 50), pct(ns, count, 90),
	    pct(ns, count, 99), (double)ns[count - 1] / 1000.0, sent);
	free(ns);
	return 0;
}
