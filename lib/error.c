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
 * Bytes from the input, made safe to print in a message: control bytes
 * (C0, DEL, C1), backslashes and bytes that are not UTF-8 become \xNN, so
 * that a forged line cannot move the cursor or paint over a verdict.
 * Cut with "..." to fit size (at least 8). Returns the length written.
 */
size_t
psm_quote(char *out, size_t size, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0;
	bool cut;

	for (size_t i = 0; i < n;) {
		size_t len = psm_utf8_sequence_len(s + i, n - i, &cut);
		bool c1 = len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0;
		bool plain = len > 1 ? !c1 : len == 1 && s[i] >= 0x20 && s[i] != 0x7f && s[i] != '\\';
		size_t need = plain ? len : 4 * (len ? len : 1);

		if (o + need + 4 > size) {
			memcpy(out + o, "...", 4);
			return o + 3;
		}
		if (plain) {
			memcpy(out + o, s + i, len);
		} else {
			for (size_t k = 0; k < (len ? len : 1); k++)
				snprintf(out + o + 4 * k, 5, "\\x%02x", s[i + k]);
		}
		o += need;
		i += len ? len : 1;
	}
	out[o] = '\0';
	return o;
}
