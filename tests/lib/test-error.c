/*
 * test-error.c: the library's error record (psm_fail, psm_fail_errno,
 * psm_error_prefix), the exit status of each kind, and psm_quote.
 */
#include <errno.h>
#include <string.h>

#include "psm.h"
#include "check.h"

static void
test_fail(void)
{
	struct psm_error e;
	char long_text[1000];

	memset(&e, 0x55, sizeof e);
	CHECK_EQ(psm_fail(&e, PSM_E_DATA, "line %d: %s", 7, "bad"), -1);
	CHECK_EQ(e.kind, PSM_E_DATA);
	CHECK_EQ(e.errnum, 0);
	CHECK_STR(e.msg, "line 7: bad");

	/* Too long for msg: cut, and still a string. */
	memset(long_text, 'a', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	CHECK_EQ(psm_fail(&e, PSM_E_NO, "%s", long_text), -1);
	CHECK_EQ(e.kind, PSM_E_NO);
	CHECK_EQ(strlen(e.msg), sizeof e.msg - 1);
	CHECK(strspn(e.msg, "a") == sizeof e.msg - 1, "the cut message is the text's beginning");
}

static void
test_fail_errno(void)
{
	struct psm_error e;
	char want[600], long_text[1000];

	errno = ENOENT;
	CHECK_EQ(psm_fail_errno(&e, "open %s", "s.key"), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	CHECK_EQ(e.errnum, ENOENT);
	snprintf(want, sizeof want, "open s.key: %s", strerror(ENOENT));
	CHECK_STR(e.msg, want);

	/* errno is read before the message is formatted, which may change it. */
	errno = EACCES;
	CHECK_EQ(psm_fail_errno(&e, "%s", "x"), -1);
	CHECK_EQ(e.errnum, EACCES);

	/* A message that fills msg leaves no room for strerror, and no overflow. */
	memset(long_text, 'b', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	errno = EIO;
	CHECK_EQ(psm_fail_errno(&e, "%s", long_text), -1);
	CHECK_EQ(e.errnum, EIO);
	CHECK_EQ(strlen(e.msg), sizeof e.msg - 1);
	CHECK(strspn(e.msg, "b") == sizeof e.msg - 1, "the message is kept, strerror is cut");
}

static void
test_prefix(void)
{
	struct psm_error e;
	char prefix[601], want[1024];

	psm_fail(&e, PSM_E_DATA, "chain broken");
	psm_error_prefix(&e, "%s:%lu", "s.jsonl", 12UL);
	CHECK_STR(e.msg, "s.jsonl:12: chain broken");
	CHECK_EQ(e.kind, PSM_E_DATA);

	/* Twice: the context grows outwards. */
	psm_error_prefix(&e, "psm-verify");
	CHECK_STR(e.msg, "psm-verify: s.jsonl:12: chain broken");

	/* A 600-byte prefix: cut to the buffer (ASan in make check-asan watches the bounds). */
	memset(prefix, 'p', 600);
	prefix[600] = '\0';
	psm_fail(&e, PSM_E_OS, "short");
	psm_error_prefix(&e, "%s", prefix);
	CHECK_EQ(strlen(e.msg), sizeof e.msg - 1);
	CHECK(strspn(e.msg, "p") == sizeof e.msg - 1, "a long prefix fills msg");
	CHECK_EQ(e.kind, PSM_E_OS);

	/* A 500-byte prefix before a long message: prefix, ": ", the message's start. */
	prefix[500] = '\0';
	psm_fail(&e, PSM_E_DATA, "0123456789abcdefghij");
	psm_error_prefix(&e, "%s", prefix);
	snprintf(want, sizeof want, "%s: 0123456789abcdefghij", prefix);
	want[sizeof e.msg - 1] = '\0';
	CHECK_EQ(strlen(e.msg), sizeof e.msg - 1);
	CHECK(strcmp(e.msg, want) == 0, "500-byte prefix: the message's start follows \": \"");

	/* A full message (511 bytes) after a short prefix: cut at the end. */
	memset(prefix, 'm', 511);
	prefix[511] = '\0';
	psm_fail(&e, PSM_E_DATA, "%s", prefix);
	psm_error_prefix(&e, "f:1");
	CHECK_EQ(strlen(e.msg), sizeof e.msg - 1);
	CHECK(strncmp(e.msg, "f:1: mmm", 8) == 0, "msg is \"%.20s...\"", e.msg);
}

static void
test_exit_status(void)
{
	struct psm_error e = { 0 };

	e.kind = PSM_E_NO;
	CHECK_EQ(psm_exit_status(&e), PSM_EXIT_NO);
	e.kind = PSM_E_USAGE;
	CHECK_EQ(psm_exit_status(&e), PSM_EXIT_USAGE);
	e.kind = PSM_E_DATA;
	CHECK_EQ(psm_exit_status(&e), PSM_EXIT_DATA);
	e.kind = PSM_E_OS;
	CHECK_EQ(psm_exit_status(&e), PSM_EXIT_OS);
	/* The statuses psm(7) lists. */
	CHECK(PSM_EXIT_NO == 1 && PSM_EXIT_USAGE == 2 && PSM_EXIT_DATA == 3 && PSM_EXIT_OS == 4,
	    "exit statuses 1 2 3 4");
	/* A record never filled in is no success. */
	e.kind = 0;
	CHECK_EQ(psm_exit_status(&e), PSM_EXIT_OS);
}

/* psm_quote of s (n bytes) into size bytes must give want, and return its length. */
static void
quote_is(const char *s, size_t n, size_t size, const char *want, int line)
{
	char out[257];
	size_t len;

	memset(out, 'Z', sizeof out - 1);
	out[sizeof out - 1] = '\0';
	len = psm_quote(out, size, s, n);
	check_str_(__FILE__, line, "psm_quote", out, want);
	check_eq_(__FILE__, line, "psm_quote's length", len, strlen(want));
	check_(len < size && strspn(out + size, "Z") == sizeof out - 1 - size, __FILE__, line,
	    "psm_quote wrote beyond size %zu", size);
}
#define QUOTE_IS(lit, size, want) quote_is(lit, sizeof lit - 1, size, want, __LINE__)

static void
test_quote(void)
{
	char out[256], one[2], want[8];

	/* A forged line cannot clear the screen or return the carriage. */
	QUOTE_IS("\x1b[2J OK\r", 64, "\\x1b[2J OK\\x0d");
	psm_quote(out, sizeof out, "\x1b[2J OK\r", 8);
	CHECK(strchr(out, '\x1b') == NULL && strchr(out, '\r') == NULL, "ESC or CR left in the quote");

	/* Every C0 byte, NUL included, and DEL and backslash. */
	for (int c = 0; c < 0x20; c++) {
		one[0] = (char)c;
		snprintf(want, sizeof want, "\\x%02x", c);
		psm_quote(out, sizeof out, one, 1);
		if (!CHECK_STR(out, want))
			break;
	}
	QUOTE_IS("\x7f", 16, "\\x7f");
	QUOTE_IS("a\\b", 16, "a\\x5cb");

	/* C1 controls (U+0080..U+009F) as UTF-8; U+00A0 is text. */
	QUOTE_IS("\xc2\x80", 16, "\\xc2\\x80");
	QUOTE_IS("\xc2\x9b" "31m", 16, "\\xc2\\x9b31m");
	QUOTE_IS("\xc2\x9f", 16, "\\xc2\\x9f");
	QUOTE_IS("\xc2\xa0", 16, "\xc2\xa0");

	/* Valid UTF-8 text is kept as it is. */
	QUOTE_IS("h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 64,
	    "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
	QUOTE_IS("plain ASCII, 100% text.", 64, "plain ASCII, 100% text.");

	/* Invalid UTF-8, byte by byte: stray bytes, an overlong, a surrogate, a cut sequence. */
	QUOTE_IS("\xff" "a\xfe", 64, "\\xffa\\xfe");
	QUOTE_IS("\xc0\xaf", 64, "\\xc0\\xaf");
	QUOTE_IS("\xed\xa0\x80", 64, "\\xed\\xa0\\x80");
	QUOTE_IS("\xf4\x90\x80\x80", 64, "\\xf4\\x90\\x80\\x80");
	QUOTE_IS("ab\xe2\x82", 64, "ab\\xe2\\x82");
	QUOTE_IS("\x80", 64, "\\x80");

	/* Cut with "..." inside size, never through an escape or a character. */
	QUOTE_IS("abcdefghijklmnopqrstuvwxyz", 16, "abcdefghijkl...");
	QUOTE_IS("\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", 16, "\\x1b\\x1b\\x1b...");
	QUOTE_IS("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, "\xc3\xa9\xc3\xa9\xc3\xa9...");
	QUOTE_IS("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 12, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80...");

	/* What fits in size is not cut: the text and its NUL, to the last byte. */
	QUOTE_IS("abcde", 8, "abcde");
	QUOTE_IS("abcdefg", 8, "abcdefg");
	QUOTE_IS("abcdefgh", 8, "abcd...");
	QUOTE_IS("ab\x1b", 8, "ab\\x1b");
	QUOTE_IS("abc\x1b", 8, "abc\\x1b");
	QUOTE_IS("abcd\x1b", 8, "abcd...");
	QUOTE_IS("", 8, "");
}

int
main(void)
{
	test_fail();
	test_fail_errno();
	test_prefix();
	test_exit_status();
	test_quote();
	return check_done();
}
