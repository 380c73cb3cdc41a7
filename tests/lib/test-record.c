/*
 * test-record.c: the writing side of a recording (lib/record.c) on its
 * own: the session id it is given, the start event it keeps to write
 * again, the errors it reports, and when it says a flush is due.
 * Prints one line per failed check to stderr; exits 0 when all pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "psm.h"
#include "check.h"

#define SID "0f5e3a7c-2b1d-4c8e-9a6f-1d2e3f4a5b6c"

static const char *test = "";
/* One-argument checks (tests/lib/check.h), named by the test that runs. */
#define EXPECT(cond) CHECK(cond, "%s: failed: %s", test, #cond)

/* A new empty file for a recording; its name in path. */
static int
temp_file(char path[64])
{
	int fd;

	snprintf(path, 64, "/tmp/test-record-XXXXXX");
	if ((fd = mkstemp(path)) < 0) {
		EXPECT(!"mkstemp");
		exit(1);
	}
	return fd;
}

/* The whole file, read through a descriptor of its own. */
static size_t
slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

/* Line n (from 0) of text, parsed. */
static bool
line_event(const char *text, int n, struct psm_event *ev)
{
	struct psm_error e;
	const char *p = text, *nl;

	for (; n > 0 && (p = strchr(p, '\n')) != NULL; n--)
		p++;
	if (p == NULL || (nl = strchr(p, '\n')) == NULL)
		return false;
	return psm_event_parse(ev, p, (size_t)(nl - p), &e) == 0;
}

static void
start_event(struct psm_rec *r)
{
	struct psm_buf *b = psm_rec_begin(r, "start");

	EXPECT(b != NULL);
	if (b == NULL)
		return;
	psm_ev_u64(b, "version", PSM_FORMAT_VERSION);
	psm_rec_end_event(r);
}

static void
test_sid(void)
{
	struct psm_rec r;
	struct psm_error e = { 0 };

	test = "psm_rec_init takes the session id and refuses what is not one";
	EXPECT(psm_rec_init(&r, STDOUT_FILENO, "out", "not-a-sid", false, &e) == -1);
	EXPECT(e.kind == PSM_E_USAGE);
	EXPECT(strcmp(e.msg, "not a session id: not-a-sid") == 0);
	psm_rec_free(&r);
	EXPECT(psm_rec_init(&r, STDOUT_FILENO, "out", SID, false, &e) == 0);
	EXPECT(strcmp(r.sid, SID) == 0);
	EXPECT(psm_rec_t0(&r) <= psm_mono_usec() && psm_rec_now(&r) < 1000000);
	EXPECT(!psm_rec_failing(&r));
	psm_rec_free(&r);
}

static void
test_write_error(void)
{
	struct psm_rec r;
	struct psm_error e = { 0 };
	int fd = open("/dev/full", O_WRONLY);

	test = "a write that fails returns -1 and names the recording";
	if (fd < 0) {
		EXPECT(!"open /dev/full");
		return;
	}
	EXPECT(psm_rec_init(&r, fd, "/dev/full", SID, false, &e) == 0);
	start_event(&r);
	EXPECT(psm_rec_flush(&r, &e) == -1);
	EXPECT(e.kind == PSM_E_OS && e.errnum == ENOSPC);
	EXPECT(strcmp(e.msg, "/dev/full: No space left on device") == 0);
	EXPECT(psm_rec_failing(&r));
	EXPECT(psm_rec_begin(&r, "resize") == NULL);	/* counted, not built */
	psm_rec_free(&r);
	close(fd);
}

/*
 * Writes fail (over RLIMIT_FSIZE: EFBIG) from the start event on, then
 * work again: the library writes the start event it kept, then says what
 * was lost.
 */
static void
test_start_written_again(void)
{
	struct psm_rec r;
	struct psm_error e = { 0 };
	struct psm_event ev;
	struct rlimit old, none;
	char path[64], text[4096];
	int fd = temp_file(path);
	const struct psm_field *f;
	uint64_t n;

	test = "a start event that could not be written is written again, then a lost event";
	signal(SIGXFSZ, SIG_IGN);
	EXPECT(psm_rec_init(&r, fd, path, SID, true, &e) == 0);
	start_event(&r);
	EXPECT(getrlimit(RLIMIT_FSIZE, &old) == 0);
	none = old;
	none.rlim_cur = 0;
	EXPECT(setrlimit(RLIMIT_FSIZE, &none) == 0);
	EXPECT(psm_rec_flush(&r, &e) == -1);
	EXPECT(e.errnum == EFBIG && strstr(e.msg, path) == e.msg);
	EXPECT(psm_rec_failing(&r));
	psm_rec_data(&r, PSM_OUT, "hello", 5);		/* lost: 5 bytes of out */
	EXPECT(psm_rec_begin(&r, "resize") == NULL);	/* lost: one event */
	EXPECT(psm_rec_tick(&r, &e) == -1);		/* while failing, every tick tries */
	EXPECT(setrlimit(RLIMIT_FSIZE, &old) == 0);
	EXPECT(psm_rec_tick(&r, &e) == 0);
	EXPECT(!psm_rec_failing(&r));
	slurp(path, text, sizeof text);
	EXPECT(line_event(text, 0, &ev) && ev.seq == 0 && psm_event_is(&ev, "start"));
	EXPECT(line_event(text, 1, &ev) && ev.seq == 1 && psm_event_is(&ev, "lost"));
	EXPECT((f = psm_event_get(&ev, "out")) != NULL && psm_field_u64(f, &n) == 0 && n == 5);
	EXPECT((f = psm_event_get(&ev, "events")) != NULL && psm_field_u64(f, &n) == 0 && n == 1);
	EXPECT(!line_event(text, 2, &ev));
	test = "after a lost event, events go on from the next seq";
	psm_rec_data(&r, PSM_OUT, "again", 5);
	EXPECT(psm_rec_flush(&r, &e) == 0);
	slurp(path, text, sizeof text);
	EXPECT(line_event(text, 2, &ev) && ev.seq == 2 && psm_event_is(&ev, "out"));
	psm_rec_free(&r);
	close(fd);
	unlink(path);
}

static void
test_due(void)
{
	static char big[300 * 1024];
	struct psm_rec r;
	struct psm_error e = { 0 };
	char path[64], text[4096];
	int fd = temp_file(path);

	test = "a flush is due a second after the last, only when something waits";
	EXPECT(psm_rec_init(&r, fd, path, SID, false, &e) == 0);
	EXPECT(psm_rec_due(&r) == 0);
	start_event(&r);
	EXPECT(psm_rec_due(&r) == psm_rec_t0(&r) + 1000000);
	EXPECT(psm_rec_tick(&r, &e) == 0);
	EXPECT(slurp(path, text, sizeof text) == 0);	/* not yet due */
	EXPECT(psm_rec_flush(&r, &e) == 0);
	EXPECT(psm_rec_due(&r) == 0);
	EXPECT(slurp(path, text, sizeof text) > 0);

	test = "much pending is written at the next tick";
	memset(big, 'x', sizeof big);
	psm_rec_data(&r, PSM_OUT, big, sizeof big);
	EXPECT(psm_rec_due(&r) > psm_mono_usec());
	EXPECT(psm_rec_tick(&r, &e) == 0);
	EXPECT(psm_rec_due(&r) == 0);
	psm_rec_free(&r);
	close(fd);
	unlink(path);
}

int
main(void)
{
	test_sid();
	test_write_error();
	test_start_written_again();
	test_due();
	return check_done();
}
