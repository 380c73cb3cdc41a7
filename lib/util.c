/* util.c: allocation, input files, durations, clocks, whole writes. */
#include <errno.h>
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "psm.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		err(PSM_EXIT_OS, "malloc");
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		err(PSM_EXIT_OS, "realloc");
	return q;
}

/*
 * Room for need items of size bytes in the array p of *cap items, by
 * doubling: the one grow-by-doubling of the library and the commands.
 */
void *
xpsm_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			errx(PSM_EXIT_OS, "out of memory");
		n *= 2;
	}
	p = xrealloc(p, n * size);
	*cap = n;
	return p;
}

/*
 * Each of the n files, opened for reading ("-" is standard input), before
 * the command confines itself; one that cannot be opened ends the command
 * (exit status 4, naming it).
 */
int *
xpsm_open_inputs(char *const *files, int n)
{
	int *fds = xmalloc(sizeof *fds * (size_t)(n > 0 ? n : 1));

	for (int i = 0; i < n; i++) {
		fds[i] = strcmp(files[i], "-") == 0 ? STDIN_FILENO :
		    open(files[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			err(PSM_EXIT_OS, "%s", files[i]);
	}
	return fds;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		err(PSM_EXIT_OS, "strdup");
	return p;
}

/*
 * A duration: a positive integer with a unit, ms s m h or d ("500ms",
 * "90s", "15m", "2h", "1d"); a bare number is seconds. Returns 0, or -1
 * if malformed.
 */
int
psm_parse_duration(const char *s, uint64_t *usec)
{
	uint64_t n = 0, unit;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > UINT64_C(100000000))
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (strcmp(p, "ms") == 0)
		unit = 1000;
	else if (p[0] != '\0' && p[1] != '\0')
		return -1;
	else switch (*p) {
	case '\0': case 's': unit = 1000000; break;
	case 'm': unit = 60 * UINT64_C(1000000); break;
	case 'h': unit = 3600 * UINT64_C(1000000); break;
	case 'd': unit = 86400 * UINT64_C(1000000); break;
	default: return -1;
	}
	if (n == 0 || n * unit > UINT64_C(100) * 365 * 86400 * 1000000)
		return -1;
	*usec = n * unit;
	return 0;
}

uint64_t
psm_mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* RFC 3339 in UTC with microseconds: 2026-11-24T04:30:30.123456Z */
void
psm_rfc3339(char out[48], int64_t sec, long usec)
{
	struct tm tm;
	time_t t = (time_t)sec;

	gmtime_r(&t, &tm);
	int year = tm.tm_year + 1900;
	if (year < 0 || year > 9999 || usec < 0 || usec > 999999) {
		snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		    year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
		return;
	}
	/* By hand, as snprintf() would: psm-ship's syslog sinks stamp every message. */
	const struct { long v; int width; char after; } part[] = {
		{ year, 4, '-' }, { tm.tm_mon + 1, 2, '-' }, { tm.tm_mday, 2, 'T' },
		{ tm.tm_hour, 2, ':' }, { tm.tm_min, 2, ':' }, { tm.tm_sec, 2, '.' },
		{ usec, 6, 'Z' },
	};
	char *p = out;
	for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
		long v = part[i].v;
		for (int k = part[i].width - 1; k >= 0; k--) {
			p[k] = (char)('0' + v % 10);
			v /= 10;
		}
		p += part[i].width;
		*p++ = part[i].after;
	}
	*p = '\0';
}

/*
 * The other way: exactly the form psm_rfc3339() writes, 27 characters, to
 * microseconds since the epoch; -1 for anything else (a date that does
 * not exist, as February 30th, included).
 */
int
psm_rfc3339_parse(const char *s, size_t n, int64_t *usec)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	long v[7] = { 0 };
	struct tm tm = { 0 };
	char back[48];

	if (n != sizeof shape - 1)
		return -1;
	for (size_t i = 0, k = 0; i < n; i++) {
		if (shape[i] != 'd') {
			if (s[i] != shape[i])
				return -1;
			k++;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v[k] = v[k] * 10 + (s[i] - '0');
	}
	if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
	    v[4] > 59 || v[5] > 59)
		return -1;
	tm.tm_year = (int)v[0] - 1900;
	tm.tm_mon = (int)v[1] - 1;
	tm.tm_mday = (int)v[2];
	tm.tm_hour = (int)v[3];
	tm.tm_min = (int)v[4];
	tm.tm_sec = (int)v[5];
	int64_t sec = (int64_t)timegm(&tm);
	psm_rfc3339(back, sec, v[6]);
	if (memcmp(back, s, n) != 0)
		return -1;
	*usec = sec * 1000000 + v[6];
	return 0;
}

/* A session id as psm writes it: a lower-case UUID. */
bool
psm_sid_valid(const char *s, size_t n)
{
	if (n != PSM_SID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-' :
		    !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/*
 * Write everything, retrying short writes and EINTR. 0, or -1 with e
 * filled (its errnum says why; the message is errno's text alone: the
 * caller knows the file's name).
 */
int
psm_write_all(int fd, const void *p, size_t n, struct psm_error *e)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			int errnum = errno;
			psm_fail(e, PSM_E_OS, "%s", strerror(errnum));
			e->errnum = errnum;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory that holds path: a name just made or renamed there stays after a crash. */
int
psm_fsync_dir_of(const char *path, struct psm_error *e)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash == NULL ? xstrdup(".") : slash == path ? xstrdup("/") :
	    strndup(path, (size_t)(slash - path));
	int rc = 0;

	if (dir == NULL)
		err(PSM_EXIT_OS, "strndup");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = psm_fail_errno(e, "%s: fsync", dir);
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}
