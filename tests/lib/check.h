/*
 * check.h: the few macros of psm's library tests (tests/lib/test-*.c).
 *
 * Each test is a program. CHECK(cond, fmt, ...) prints "file:line: " and
 * the message to stderr when cond is false, and counts the failure;
 * CHECK_STR and CHECK_EQ compare and show both values. main ends with
 * "return check_done();": 0 when every check passed (and there was one),
 * else 1. A CHECK is
 * an expression with cond's truth, so that a long loop can stop at its
 * first failure: if (!CHECK(...)) break;
 * tests/lib.bats runs each program as one test.
 */
#ifndef PSM_CHECK_H
#define PSM_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned long check_count, check_failed;

__attribute__((format(printf, 4, 5), unused)) static bool
check_(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	check_count++;
	if (ok)
		return true;
	check_failed++;
	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return false;
}

#define CHECK(cond, ...) check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* s between quotes: a backslash doubled, control bytes, DEL and '"' as \xNN. */
__attribute__((unused)) static void
check_show_(const char *s)
{
	fputc('"', stderr);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\')
			fputs("\\\\", stderr);
		else if (c < 0x20 || c == 0x7f || c == '"')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('"', stderr);
}

__attribute__((unused)) static bool
check_str_(const char *file, int line, const char *expr, const char *got, const char *want)
{
	check_count++;
	if (strcmp(got, want) == 0)
		return true;
	check_failed++;
	fprintf(stderr, "%s:%d: %s is ", file, line, expr);
	check_show_(got);
	fputs(", expected ", stderr);
	check_show_(want);
	fputc('\n', stderr);
	return false;
}

__attribute__((unused)) static bool
check_eq_(const char *file, int line, const char *expr, uintmax_t got, uintmax_t want)
{
	return check_(got == want, file, line, "%s is %ju, expected %ju", expr, got, want);
}

/* Two C strings equal. */
#define CHECK_STR(got, want) check_str_(__FILE__, __LINE__, #got, (got), (want))
/* Two integers equal, compared as uintmax_t (-1 is UINTMAX_MAX on both sides). */
#define CHECK_EQ(got, want) \
	check_eq_(__FILE__, __LINE__, #got, (uintmax_t)(got), (uintmax_t)(want))

/* main's exit status: 0 if every check passed, else 1; the totals go to stderr. */
__attribute__((unused)) static int
check_done(void)
{
	fprintf(stderr, "%lu checks, %lu failed\n", check_count, check_failed);
	return check_failed == 0 && check_count > 0 ? 0 : 1;	/* no checks: a broken test */
}

#endif
