/*
 * test-ship-state.c: psm-ship's state (lib/ship_state.c): saved and read
 * back, refused when malformed, locked against a second run; where the
 * rest of a file is after a rotation (psm_ship_locate): the same file, a
 * rename found by inode, a copytruncate found by the last line's hash, a
 * file gone; sealed streams placed and counted; durations with ms.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm_crypto.h"
#include "psm_ship.h"
#include "check.h"

#define TO "file:/store"
#define SID_A "0a0a0a0a-0000-4000-a000-000000000001"
#define STREAM "5eed5eed-1111-4000-a000-000000000009"

static char dir[64];

static void
write_file(const char *path, const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);

	if (!CHECK(f != NULL, "%s: %s", path, strerror(errno)))
		return;
	fputs(text, f);
	fclose(f);
}

static char *
in_dir(const char *name)
{
	static char path[64][256];	/* each test asks fewer times: names stay valid */
	static int next;
	char *p = path[next++ % 64];

	snprintf(p, sizeof path[0], "%s/%s", dir, name);
	return p;
}

/* As psm-ship does after a batch: the state moves past the line that ends at offset. */
static void
ack(struct psm_ship_state *st, const char *path, uint64_t start, const char *line,
    uint64_t lines)
{
	struct stat sb;

	CHECK(stat(path, &sb) == 0, "%s", path);
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	st->last_start = start;
	st->offset = start + strlen(line) + 1;
	st->lines = lines;
	psm_sha256(st->last_hash, line, strlen(line));
}

static void
test_save_and_load(void)
{
	struct psm_ship_state st, back;
	struct psm_error e;
	char *src = in_dir("s.jsonl");

	write_file(src, "aa\nbbb\n", "w");
	CHECK(psm_ship_state_open(&st, in_dir("state"), src, TO, &e) == 0, "%s", e.msg);
	CHECK(!st.known, "a state that was never saved is not known");
	ack(&st, src, 3, "bbb", 2);
	CHECK(psm_ship_state_save(&st, &e) == 0, "%s", e.msg);
	psm_ship_state_close(&st);

	CHECK(psm_ship_state_open(&back, in_dir("state"), src, TO, &e) == 0, "%s", e.msg);
	CHECK(back.known, "the saved state is read back");
	CHECK_EQ(back.offset, 7);
	CHECK_EQ(back.lines, 2);
	CHECK_EQ(back.last_start, 3);
	int fd = open(src, O_RDONLY);
	CHECK(psm_ship_state_matches(&back, fd), "the file still holds the last line");
	close(fd);
	struct stat sb;
	CHECK(stat(in_dir("state"), &sb) == 0 && (sb.st_mode & 0777) == 0700,
	    "the state directory is made 0700");

	/* A second run on the same state is refused while the first holds it. */
	struct psm_ship_state second;
	CHECK(psm_ship_state_open(&second, in_dir("state"), src, TO, &e) < 0 &&
	    e.kind == PSM_E_NO && strstr(e.msg, "another psm-ship is shipping") != NULL,
	    "a second run on a locked state: %s", e.msg);
	psm_ship_state_close(&second);
	/* Another destination is another state. */
	CHECK(psm_ship_state_open(&second, in_dir("state"), src, "relp://h:1", &e) == 0 &&
	    !second.known, "another destination has its own state");
	psm_ship_state_close(&second);
	psm_ship_state_close(&back);
}

/* The state file of src for TO, with its text replaced. */
static void
corrupt_state(const char *text, const char *want)
{
	static int n;
	struct psm_ship_state st;
	struct psm_error e;
	char src[32];

	snprintf(src, sizeof src, "/m%d.jsonl", n++);	/* a state of its own */
	CHECK(psm_ship_state_open(&st, in_dir("bad"), src, TO, &e) == 0, "%s", e.msg);
	write_file(st.path, text, "w");
	psm_ship_state_close(&st);
	CHECK(psm_ship_state_open(&st, in_dir("bad"), src, TO, &e) < 0 && e.kind == PSM_E_DATA &&
	    strstr(e.msg, want) != NULL, "state %s: got \"%s\", want \"%s\"", text, e.msg, want);
	psm_ship_state_close(&st);
}

static void
test_malformed(void)
{
	corrupt_state("not a state\n", ":1: malformed state");
	corrupt_state("psm-ship-state 1\noffset x\n", ":2: malformed state");
	corrupt_state("psm-ship-state 1\nwhat 3\n", ":2: malformed state");
	corrupt_state("psm-ship-state 1\nlast 3 abc\n", ":2: malformed state");
	corrupt_state("psm-ship-state 1\nstream nope 3\n", ":2: malformed state");
	corrupt_state("psm-ship-state 1\noffset 3\nlast 9 "
	    "0000000000000000000000000000000000000000000000000000000000000000\n", "malformed state");
	corrupt_state("", "malformed state");
}

static enum psm_ship_found
locate(struct psm_ship_state *st, const char *path, char **old)
{
	enum psm_ship_found found = PSM_SHIP_FROM_START;
	struct psm_error e;

	CHECK(psm_ship_locate(st, path, old, &found, &e) == 0, "%s", e.msg);
	return found;
}

static void
test_locate(void)
{
	struct psm_ship_state st;
	struct psm_error e;
	char *src = in_dir("r.jsonl"), *old = NULL;

	write_file(src, "one\ntwo\n", "w");
	CHECK(psm_ship_state_open(&st, in_dir("loc"), src, TO, &e) == 0, "%s", e.msg);
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_FROM_START);
	ack(&st, src, 4, "two", 2);
	st.known = true;
	write_file(src, "three\n", "a");
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_SAME);

	/* logrotate's create: renamed, a new file at the path. */
	CHECK(rename(src, in_dir("r.jsonl.1")) == 0, "rename");
	write_file(src, "new\n", "w");
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_MOVED);
	CHECK(old != NULL && strcmp(old, in_dir("r.jsonl.1")) == 0, "the renamed file: %s", old);
	free(old);

	/* ... and with no new file yet. */
	unlink(src);
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_MOVED);
	free(old);

	/* copytruncate: a copy with another inode, the file emptied and grown again. */
	unlink(in_dir("r.jsonl.1"));
	write_file(src, "one\ntwo\nthree\n", "w");
	ack(&st, src, 4, "two", 2);
	write_file(in_dir("r.jsonl-20261207"), "one\ntwo\nthree\n", "w");
	write_file(src, "other\nlines\nhere\n", "w");
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_MOVED);
	CHECK(old != NULL && strcmp(old, in_dir("r.jsonl-20261207")) == 0, "the copy: %s", old);
	free(old);

	/* Truncated, and no copy next to it (compressed at once): lost. */
	unlink(in_dir("r.jsonl-20261207"));
	write_file(in_dir("r.jsonl-20261207.gz"), "\x1f\x8b...", "w");
	write_file(in_dir("other.jsonl"), "one\ntwo\n", "w");	/* not a name of the file's */
	write_file(src, "", "w");
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_LOST);
	CHECK(old == NULL, "nothing found");

	/* Rewritten in place, longer than before: the last line is not there: lost. */
	write_file(src, "ONE\nTWO\nTHREE\n", "w");
	CHECK_EQ(locate(&st, src, &old), PSM_SHIP_LOST);
	psm_ship_state_close(&st);
}

static void
place(struct psm_ship_state *st, const char *line, struct psm_ship_line *l)
{
	struct psm_event ev;
	struct psm_error e;

	memset(l, 0, sizeof *l);
	if (CHECK(psm_event_parse(&ev, line, strlen(line), &e) == 0, "%s: %s", line, e.msg))
		psm_ship_state_place(st, &ev, l);
}

static void
test_streams(void)
{
	struct psm_ship_state st = { 0 };
	struct psm_ship_line l;
	const char *cp = "{\"sid\":\"" STREAM "\",\"seq\":0,\"t\":0,\"type\":\"checkpoint\"}";
	const char *in = "{\"sid\":\"" SID_A "\",\"seq\":0,\"t\":0,\"type\":\"start\","
	    "\"chain\":\"5eed5eed\",\"h\":\"00\"}";
	const char *stray = "{\"sid\":\"" SID_A "\",\"seq\":1,\"t\":0,\"type\":\"out\","
	    "\"chain\":\"ffffffff\",\"h\":\"00\"}";
	const char *plain = "{\"sid\":\"" SID_A "\",\"seq\":1,\"t\":0,\"type\":\"out\"}";
	const char *seal = "{\"sid\":\"" STREAM "\",\"seq\":1,\"t\":9,\"type\":\"seal\"}";

	place(&st, cp, &l);
	CHECK_STR(l.stream, STREAM);
	CHECK_EQ(l.stream_line, 1);
	place(&st, in, &l);
	CHECK_STR(l.stream, STREAM);
	CHECK_EQ(l.stream_line, 2);
	place(&st, plain, &l);
	CHECK_STR(l.stream, "");
	CHECK_EQ(l.stream_line, 0);
	place(&st, stray, &l);
	CHECK(l.stream[0] == '\0' && l.stream_line == 0, "a tag of no open stream: unknown");
	CHECK_EQ(st.nstreams, 1);
	place(&st, seal, &l);
	CHECK_EQ(l.stream_line, 3);
	CHECK_EQ(st.nstreams, 0);
	place(&st, in, &l);
	CHECK(l.stream[0] == '\0', "after its seal a stream is closed");
	free(st.streams);
}

static void
test_durations(void)
{
	uint64_t us = 0;

	CHECK(psm_parse_duration("500ms", &us) == 0 && us == 500000, "500ms: %ju", (uintmax_t)us);
	CHECK(psm_parse_duration("2s", &us) == 0 && us == 2000000, "2s");
	CHECK(psm_parse_duration("3", &us) == 0 && us == 3000000, "3");
	CHECK(psm_parse_duration("1m", &us) == 0 && us == 60000000, "1m");
	CHECK(psm_parse_duration("1d", &us) == 0 && us == UINT64_C(86400000000), "1d");
	const char *bad[] = { "", "ms", "0", "0ms", "5x", "5mss", "-1s", "1.5s", " 1s" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(psm_parse_duration(bad[i], &us) < 0, "\"%s\" is not a duration", bad[i]);
}

int
main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test-ship-state.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	test_save_and_load();
	test_malformed();
	test_locate();
	test_streams();
	test_durations();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		CHECK(0, "%s", cmd);
	return check_done();
}
