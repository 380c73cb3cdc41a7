/*
 * syslog.c: a line as an RFC 5424 syslog message.
 *
 *     <86>1 TIMESTAMP HOST APP - TYPE [psm@32473 sid="S" seq="N" type="T" t="N"] LINE
 *
 * PRI 86 is facility authpriv (10) times 8 plus severity info (6): session
 * records are security information. TIMESTAMP is UTC with microseconds.
 * PROCID is the NILVALUE "-"; MSGID is the event's type. The structured
 * data names the event (and, for a sealed line, its stream and its place
 * in it: stream="ID" line="N"), so that a receiver can index without
 * parsing MSG. MSG is the line byte for byte, without a BOM: a line is
 * UTF-8 JSON, but the BOM would be one more thing for receivers to strip.
 *
 * Header fields are PRINTUSASCII (bytes 33 to 126) of bounded length:
 * any other byte of HOST, APP or MSGID becomes '_', a field longer than
 * its maximum (HOST 255, APP 48, MSGID 32) is cut there, and an empty one
 * is the NILVALUE "-". SD-PARAM values escape '"', '\' and ']' with a
 * backslash (RFC 5424, 6.3.3).
 *
 * psm_syslog_header_len() is the length of what psm_syslog_format() writes
 * before the line, whatever the time (years 0 to 9999), so that a sink can
 * refuse a line before it formats it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "psm_ship.h"

#define PRI "<86>1 "
#define TIMESTAMP_LEN 27	/* 2024-01-02T03:04:05.123456Z */
#define HOST_MAX 255
#define APP_MAX 48
#define MSGID_MAX 32

/* The length of s as a header field of at most max bytes. */
static size_t
field_len(const char *s, size_t max)
{
	size_t n = s == NULL ? 0 : strnlen(s, max);

	return n == 0 ? 1 : n;
}

static void
add_field(struct psm_buf *out, const char *s, size_t max)
{
	size_t n = s == NULL ? 0 : strnlen(s, max);

	if (n == 0) {
		psm_buf_addc(out, '-');
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		psm_buf_addc(out, c >= 33 && c <= 126 ? (char)c : '_');
	}
}

static bool
sd_special(char c)
{
	return c == '"' || c == '\\' || c == ']';
}

static size_t
value_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += sd_special(*s) ? 2 : 1;
	return n;
}

static void
add_value(struct psm_buf *out, const char *s)
{
	for (; *s; s++) {
		if (sd_special(*s))
			psm_buf_addc(out, '\\');
		psm_buf_addc(out, *s);
	}
}

/*
 * Numbers in decimal by hand: snprintf() took a third of psm-ship's time
 * to syslog (each number formatted once to count it, once to write it).
 */
static size_t
u64_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void
add_u64(struct psm_buf *out, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof d - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	psm_buf_add(out, d + sizeof d - n, n);
}

/* The structured data's parameters after the SD-ID, each with its leading space. */
static void
add_params(struct psm_buf *out, const struct psm_ship_line *l)
{
	psm_buf_adds(out, " sid=\"");
	add_value(out, l->sid);
	psm_buf_adds(out, "\" seq=\"");
	add_u64(out, l->seq);
	psm_buf_adds(out, "\" type=\"");
	add_value(out, l->type);
	psm_buf_adds(out, "\" t=\"");
	add_u64(out, l->t);
	psm_buf_addc(out, '"');
	if (l->stream[0] != '\0') {
		psm_buf_adds(out, " stream=\"");
		add_value(out, l->stream);
		psm_buf_adds(out, "\" line=\"");
		add_u64(out, l->stream_line);
		psm_buf_addc(out, '"');
	}
}

static size_t
params_len(const struct psm_ship_line *l)
{
	size_t n = 0;

	n += strlen(" sid=\"") + value_len(l->sid);
	n += strlen("\" seq=\"") + u64_len(l->seq);
	n += strlen("\" type=\"") + value_len(l->type);
	n += strlen("\" t=\"") + u64_len(l->t) + 1;
	if (l->stream[0] != '\0') {
		n += strlen(" stream=\"") + value_len(l->stream);
		n += strlen("\" line=\"") + u64_len(l->stream_line) + 1;
	}
	return n;
}

/* Appends the message of l to out: the header, then the line's bytes. */
void
psm_syslog_format(struct psm_buf *out, const struct psm_ship_line *l, const char *host,
    const char *app, int64_t sec, long usec)
{
	char ts[48];

	psm_buf_reserve(out, psm_syslog_header_len(l, host, app) + l->len);
	psm_rfc3339(ts, sec, usec);
	psm_buf_adds(out, PRI);
	psm_buf_adds(out, ts);
	psm_buf_addc(out, ' ');
	add_field(out, host, HOST_MAX);
	psm_buf_addc(out, ' ');
	add_field(out, app, APP_MAX);
	psm_buf_adds(out, " - ");
	add_field(out, l->type, MSGID_MAX);
	psm_buf_adds(out, " [" PSM_SYSLOG_SDID);
	add_params(out, l);
	psm_buf_adds(out, "] ");
	psm_buf_add(out, l->line, l->len);
}

size_t
psm_syslog_header_len(const struct psm_ship_line *l, const char *host, const char *app)
{
	return strlen(PRI) + TIMESTAMP_LEN + 1 + field_len(host, HOST_MAX) + 1 +
	    field_len(app, APP_MAX) + strlen(" - ") + field_len(l->type, MSGID_MAX) +
	    strlen(" [" PSM_SYSLOG_SDID) + params_len(l) + strlen("] ");
}
