/*
 * test-reader.c: the strict line parser (psm_event_parse) names what is
 * wrong with a malformed line, and the line reader (psm_lines_*) refuses
 * lines over its maximum and reports an unfinished last line.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "psm.h"
#include "check.h"

#define SID "0f1e2d3c-4b5a-4978-a695-a4b3c2d1e0f9"
#define HEAD "{\"sid\":\"" SID "\",\"seq\":3,\"t\":1500,"

/* line must be refused as PSM_E_DATA with exactly want. */
static void
malformed(const char *line, size_t len, const char *want, int lineno)
{
	struct psm_event *ev = xmalloc(sizeof *ev);
	struct psm_error e = { 0 };

	if (check_(psm_event_parse(ev, line, len, &e) == -1, __FILE__, lineno,
	    "taken: %.*s", (int)len, line)) {
		check_(e.kind == PSM_E_DATA, __FILE__, lineno, "kind %d, expected PSM_E_DATA",
		    (int)e.kind);
		check_str_(__FILE__, lineno, "the message", e.msg, want);
	}
	free(ev);
}
#define MALFORMED(lit, want) malformed(lit, sizeof lit - 1, want, __LINE__)

static void
test_malformed(void)
{
	char deep[128];

	MALFORMED("", "empty line");
	MALFORMED("[1,2]", "not a JSON object");
	MALFORMED(HEAD "\"type\":\"out\"", "unterminated object");
	MALFORMED(HEAD "\"type\":\"out\"} x", "text after the object");
	MALFORMED("{\"seq\":0,\"t\":0,\"type\":\"start\"}",
	    "not a psm event (sid, seq, t and type are required)");
	MALFORMED("{\"sid\":\"0F1E2D3C-4B5A-4978-A695-A4B3C2D1E0F9\",\"seq\":0,\"t\":0,\"type\":\"start\"}",
	    "\"sid\" is not a lower-case UUID");
	MALFORMED("{\"sid\":\"" SID "\",\"seq\":-1,\"t\":0,\"type\":\"start\"}",
	    "\"seq\" is not a non-negative integer");
	MALFORMED("{\"sid\":\"" SID "\",\"seq\":18446744073709551616,\"t\":0,\"type\":\"start\"}",
	    "\"seq\" is not a non-negative integer");
	MALFORMED("{\"sid\":\"" SID "\",\"seq\":01,\"t\":0,\"type\":\"start\"}",
	    "expected ',' or '}'");
	MALFORMED("{\"sid\":\"" SID "\",\"seq\":0,\"t\":\"5\",\"type\":\"start\"}",
	    "\"t\" is not a non-negative integer");
	MALFORMED(HEAD "\"type\":\"Start\"}", "\"type\" is not a short string");
	MALFORMED(HEAD "\"type\":\"out\",\"seq\":4}", "duplicate key");
	MALFORMED(HEAD "\"type\":\"out\",\"data\":\"a\x1b[2J\"}", "control character in string");
	MALFORMED(HEAD "\"type\":\"out\",\"data\":\"\xc0\xaf\"}", "invalid UTF-8 in string");
	MALFORMED(HEAD "\"type\":\"out\",\"data\":\"\\q\"}", "invalid escape in string");
	MALFORMED(HEAD "\"type\":\"out\",\"data\":\"\\ud800x\"}", "unpaired surrogate in string");
	MALFORMED(HEAD "\"type\":\"out\",\"data\":\"abc}", "unterminated string");

	/* Arrays inside arrays, 20 deep: over the parser's limit of 16. */
	snprintf(deep, sizeof deep, "%s\"type\":\"x\",\"a\":%.20s%.20s}", HEAD,
	    "[[[[[[[[[[[[[[[[[[[[", "]]]]]]]]]]]]]]]]]]]]");
	malformed(deep, strlen(deep), "nested too deeply", __LINE__);
}

static void
test_good(void)
{
	static const char line[] = HEAD "\"type\":\"out\",\"data\":\"hi\\n\\u00e9\"}";
	struct psm_event *ev = xmalloc(sizeof *ev);
	struct psm_error e = { 0 };
	struct psm_buf payload = { 0 };

	if (CHECK(psm_event_parse(ev, line, sizeof line - 1, &e) == 0, "refused: %s", e.msg)) {
		CHECK_STR(ev->sid, SID);
		CHECK_EQ(ev->seq, 3);
		CHECK_EQ(ev->t, 1500);
		CHECK_STR(ev->type, "out");
		CHECK(psm_event_is(ev, "out"), "psm_event_is(out)");
		CHECK_EQ(ev->nf, 5);
		CHECK(ev->line == line && ev->len == sizeof line - 1, "ev->line is the caller's line");
		CHECK(psm_event_payload(ev, &payload, &e) == 0 && payload.len == 5 &&
		    memcmp(payload.data, "hi\n\xc3\xa9", 5) == 0, "the payload");
		CHECK(psm_event_get(ev, "b64") == NULL, "no b64 field");
	}
	psm_buf_free(&payload);
	free(ev);
}

/* A pipe whose reader holds text, the writer closed. */
static int
pipe_with(const char *text, size_t n)
{
	int fd[2];

	if (pipe(fd) < 0)
		abort();
	if (write(fd[1], text, n) != (ssize_t)n)
		abort();
	close(fd[1]);
	return fd[0];
}

/* The next line must be status st (and, for PSM_LINE_OK, the text want). */
static void
next_is(struct psm_lines *r, int st, const char *want, int line)
{
	const char *got = NULL;
	size_t len = 0;
	int rc = psm_lines_next(r, &got, &len);

	if (!check_(rc == st, __FILE__, line, "psm_lines_next is %d, expected %d", rc, st))
		return;
	if (st == PSM_LINE_OK)
		check_(len == strlen(want) && memcmp(got, want, len) == 0, __FILE__, line,
		    "line %llu is \"%.*s\", expected \"%s\"", (unsigned long long)r->lineno,
		    (int)(len > 40 ? 40 : len), got, want);
}
#define NEXT_IS(r, st, want) next_is(r, st, want, __LINE__)

static void
test_lines(void)
{
	struct psm_lines r;
	int fd;
	char x17[] = "xxxxxxxxxxxxxxxxx";	/* 17 bytes */

	/* Whole lines, then an unfinished last line: PARTIAL, not a line. */
	fd = pipe_with("line one\nline two\n\nunfinished", 29);
	psm_lines_init(&r, fd, "pipe");
	NEXT_IS(&r, PSM_LINE_OK, "line one");
	CHECK_EQ(r.lineno, 1);
	NEXT_IS(&r, PSM_LINE_OK, "line two");
	NEXT_IS(&r, PSM_LINE_OK, "");
	CHECK_EQ(r.lineno, 3);
	NEXT_IS(&r, PSM_LINE_PARTIAL, NULL);
	NEXT_IS(&r, PSM_LINE_PARTIAL, NULL);
	psm_lines_free(&r);
	close(fd);

	/* Nothing at all, and a last line with its newline: EOF. */
	fd = pipe_with("", 0);
	psm_lines_init(&r, fd, "pipe");
	NEXT_IS(&r, PSM_LINE_EOF, NULL);
	psm_lines_free(&r);
	close(fd);
	fd = pipe_with("a\n", 2);
	psm_lines_init(&r, fd, "pipe");
	NEXT_IS(&r, PSM_LINE_OK, "a");
	NEXT_IS(&r, PSM_LINE_EOF, NULL);
	psm_lines_free(&r);
	close(fd);

	/* A maximum of 16: 16 bytes are a line, 17 are too long, with or without their newline. */
	fd = pipe_with("short\nxxxxxxxxxxxxxxxx\nxxxxxxxxxxxxxxxxx\n", 41);
	psm_lines_init(&r, fd, "pipe");
	psm_lines_set_max(&r, 16);
	NEXT_IS(&r, PSM_LINE_OK, "short");
	NEXT_IS(&r, PSM_LINE_OK, "xxxxxxxxxxxxxxxx");
	NEXT_IS(&r, PSM_LINE_TOOLONG, NULL);
	CHECK_EQ(r.lineno, 3);
	psm_lines_free(&r);
	close(fd);

	fd = pipe_with(x17, 17);
	psm_lines_init(&r, fd, "pipe");
	psm_lines_set_max(&r, 16);
	NEXT_IS(&r, PSM_LINE_TOOLONG, NULL);
	psm_lines_free(&r);
	close(fd);

	fd = pipe_with(x17, 16);
	psm_lines_init(&r, fd, "pipe");
	psm_lines_set_max(&r, 16);
	NEXT_IS(&r, PSM_LINE_PARTIAL, NULL);
	psm_lines_free(&r);
	close(fd);
}

/* A file that grows: PARTIAL keeps what it has, and the line ends when its newline comes. */
static void
test_growing(void)
{
	struct psm_lines r;
	int fd = memfd_create("test-reader", 0);
	size_t big = 300 * 1000;
	char *line = xmalloc(big + 1);

	if (!CHECK(fd >= 0, "memfd_create"))
		return;
	psm_lines_init(&r, fd, "memfd");
	CHECK(pwrite(fd, "abc", 3, 0) == 3, "pwrite");
	NEXT_IS(&r, PSM_LINE_PARTIAL, NULL);
	CHECK(pwrite(fd, "def\nghi", 7, 3) == 7, "pwrite");
	NEXT_IS(&r, PSM_LINE_OK, "abcdef");
	NEXT_IS(&r, PSM_LINE_PARTIAL, NULL);
	CHECK(pwrite(fd, "\n", 1, 10) == 1, "pwrite");
	NEXT_IS(&r, PSM_LINE_OK, "ghi");
	NEXT_IS(&r, PSM_LINE_EOF, NULL);

	/* A line longer than the reader's first buffer: it grows. */
	memset(line, 'y', big);
	line[big] = '\n';
	CHECK(pwrite(fd, line, big + 1, 11) == (ssize_t)big + 1, "pwrite");
	line[big] = '\0';
	NEXT_IS(&r, PSM_LINE_OK, line);
	CHECK_EQ(r.lineno, 3);
	psm_lines_free(&r);

	/* The same line with a maximum below its length. */
	if (CHECK(lseek(fd, 11, SEEK_SET) == 11, "lseek")) {
		psm_lines_init(&r, fd, "memfd");
		psm_lines_set_max(&r, big - 1);
		NEXT_IS(&r, PSM_LINE_TOOLONG, NULL);
		psm_lines_free(&r);
	}
	free(line);
	close(fd);
}

int
main(void)
{
	test_malformed();
	test_good();
	test_lines();
	test_growing();
	return check_done();
}
