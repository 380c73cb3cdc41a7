/*
 * error.c: the library's one way to report a failure (struct psm_error),
 * and psm_quote() for messages that show bytes taken from the input.
 */
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "psm.h"

static void __attribute__((format(printf, 4, 0)))
set(struct psm_error *e, enum psm_errkind kind, int errnum, const char *fmt, va_list ap)
{
	e->kind = kind;
	e->errnum = errnum;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

/* Fill e; returns -1, so that a failing function can end with return psm_fail(...). */
int
psm_fail(struct psm_error *e, enum psm_errkind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set(e, kind, 0, fmt, ap);
	va_end(ap);
	return -1;
}

/* psm_fail for a function that takes its own arguments (a verifier's verdict). */
int
psm_failv(struct psm_error *e, enum psm_errkind kind, const char *fmt, va_list ap)
{
	set(e, kind, 0, fmt, ap);
	return -1;
}

/* A system failure: the message, ": ", and errno's text. */
int
psm_fail_errno(struct psm_error *e, const char *fmt, ...)
{
	int errnum = errno;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	set(e, PSM_E_OS, errnum, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errnum));
	return -1;
}

/* Put context before the message: psm_error_prefix(e, "%s:%lu", file, line). */
void
psm_error_prefix(struct psm_error *e, const char *fmt, ...)
{
	char old[sizeof e->msg];
	size_t n;
	va_list ap;

	memcpy(old, e->msg, sizeof old);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	if (n + 2 < sizeof e->msg) {
		memcpy(e->msg + n, ": ", 2);
		n += 2;
		size_t rest = strnlen(old, sizeof old - 1);
		if (rest > sizeof e->msg - 1 - n)
			rest = sizeof e->msg - 1 - n;
		memcpy(e->msg + n, old, rest);
		e->msg[n + rest] = '\0';
	}
}

/* The exit status psm(7) gives each kind. */
int
psm_exit_status(const struct psm_error *e)
{
	switch (e->kind) {
	case PSM_E_NO: return PSM_EXIT_NO;
	case PSM_E_USAGE: return PSM_EXIT_USAGE;
	case PSM_E_DATA: return PSM_EXIT_DATA;
	default: return PSM_EXIT_OS;
	}
}

/* For commands: print "program: message" and exit with the kind's status. */
void
xpsm_die(const struct psm_error *e)
{
	errx(psm_exit_status(e), "%s", e->msg);
}

/*
 * One item of psm_quote's input at s: a UTF-8 character (*plain) or one
 * byte to escape. Returns how many input bytes it takes.
 */
static size_t
quote_item(const unsigned char *s, size_t n, bool *plain)
{
	bool cut;
	size_t len = psm_utf8_sequence_len(s, n, &cut);
	bool c1 = len == 2 && s[0] == 0xc2 && s[1] < 0xa0;

	*plain = len > 1 ? !c1 : len == 1 && s[0] >= 0x20 && s[0] != 0x7f && s[0] != '\\';
	return len ? len : 1;
}

/* The quoted length of s, counted up to a little beyond limit. */
static size_t
quoted_len(const unsigned char *s, size_t n, size_t limit)
{
	size_t o = 0;
	bool plain;

	for (size_t i = 0; i < n && o <= limit;) {
		size_t len = quote_item(s + i, n - i, &plain);
		o += plain ? len : 4 * len;
		i += len;
	}
	return o;
}

/*
 * Bytes from the input, made safe to print in a message: control bytes
 * (C0, DEL, C1), backslashes and bytes that are not UTF-8 become \xNN, so
 * that a forged line cannot move the cursor or paint over a verdict.
 * Cut with "..." to fit size (at least 8), never inside an escape or a
 * character. Returns the length written.
 */
size_t
psm_quote(char *out, size_t size, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0;
	bool rest_fits = false;

	for (size_t i = 0; i < n;) {
		bool plain;
		size_t len = quote_item(s + i, n - i, &plain);
		size_t need = plain ? len : 4 * len;

		/*
		 * Room for "..." and its NUL is kept after each item, unless
		 * all that is left fits: a text that fits in size is not cut
		 * (it was: "abcde" in 8 bytes became "abcd...";
		 * tests/lib/test-error.c checks the edges).
		 */
		if (!rest_fits && o + need + 4 > size) {
			if (o + quoted_len(s + i, n - i, size - 1 - o) + 1 > size) {
				memcpy(out + o, "...", 4);
				return o + 3;
			}
			rest_fits = true;
		}
		if (plain) {
			memcpy(out + o, s + i, len);
		} else {
			for (size_t k = 0; k < len; k++)
				snprintf(out + o + 4 * k, 5, "\\x%02x", s[i + k]);
		}
		o += need;
		i += len;
	}
	out[o] = '\0';
	return o;
}
