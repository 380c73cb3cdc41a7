/*
 * test-syslog.c: lines as RFC 5424 messages (lib/syslog.c): the exact
 * text, the NILVALUE for empty fields, header fields made PRINTUSASCII
 * and cut to their maximum, SD-PARAM values escaped, the sealed stream's
 * parameters only for a sealed line, MSG byte for byte, the header's
 * length as formatted, and the sinks' check against the longest message.
 */
#include <stdio.h>
#include <string.h>

#include "psm_ship.h"
#include "check.h"

#define SID "0c6e2a40-8a1b-4c1e-9d7f-0123456789ab"
#define STREAM "5f0c3d2a-1111-4222-8333-444455556666"
#define T0 INT64_C(1700000000)		/* 2023-11-14T22:13:20Z */

static struct psm_ship_line
line_of(const char *text)
{
	struct psm_ship_line l;

	memset(&l, 0, sizeof l);
	l.line = text;
	l.len = strlen(text);
	strcpy(l.sid, SID);
	l.seq = 7;
	l.t = 123456;
	strcpy(l.type, "output");
	l.lineno = 9;
	return l;
}

/* The message of l as a C string, and whether its header is header_len() long. */
static const char *
format(struct psm_buf *out, const struct psm_ship_line *l, const char *host, const char *app)
{
	out->len = 0;
	psm_syslog_format(out, l, host, app, T0, 123456);
	CHECK_EQ(out->len - l->len, psm_syslog_header_len(l, host, app));
	psm_buf_addc(out, '\0');
	return out->data;
}

static void
test_exact(void)
{
	struct psm_buf out = { 0 };
	struct psm_ship_line l = line_of("{\"sid\":\"" SID "\",\"seq\":7}");

	CHECK_STR(format(&out, &l, "web1.example.org", "psm"),
	    "<86>1 2023-11-14T22:13:20.123456Z web1.example.org psm - output "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"output\" t=\"123456\"] "
	    "{\"sid\":\"" SID "\",\"seq\":7}");

	/* A sealed line: its stream and its place in it. */
	strcpy(l.stream, STREAM);
	l.stream_line = 42;
	CHECK_STR(format(&out, &l, "web1", "psm"),
	    "<86>1 2023-11-14T22:13:20.123456Z web1 psm - output "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"output\" t=\"123456\" "
	    "stream=\"" STREAM "\" line=\"42\"] {\"sid\":\"" SID "\",\"seq\":7}");

	/* The largest numbers. */
	l.seq = l.t = l.stream_line = UINT64_MAX;
	format(&out, &l, "web1", "psm");
	CHECK(strstr(out.data, " seq=\"18446744073709551615\" ") != NULL, "seq: %s", out.data);
	CHECK(strstr(out.data, " line=\"18446744073709551615\"]") != NULL, "line: %s", out.data);

	/* psm_syslog_format() appends. */
	out.len = 0;
	psm_buf_adds(&out, "123 ");
	psm_syslog_format(&out, &l, "h", "a", T0, 0);
	CHECK(memcmp(out.data, "123 <86>1 2023-11-14T22:13:20.000000Z h a - ", 44) == 0,
	    "appended: %.*s", (int)out.len, out.data);
	psm_buf_free(&out);
}

static void
test_nilvalue(void)
{
	struct psm_buf out = { 0 };
	struct psm_ship_line l = line_of("{}");

	l.type[0] = '\0';
	CHECK_STR(format(&out, &l, NULL, ""),
	    "<86>1 2023-11-14T22:13:20.123456Z - - - - "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"\" t=\"123456\"] {}");
	CHECK_STR(format(&out, &l, "", NULL),
	    "<86>1 2023-11-14T22:13:20.123456Z - - - - "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"\" t=\"123456\"] {}");

	/* An empty line is an empty MSG after the separating space. */
	l = line_of("");
	CHECK_STR(format(&out, &l, "h", "a"),
	    "<86>1 2023-11-14T22:13:20.123456Z h a - output "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"output\" t=\"123456\"] ");
	psm_buf_free(&out);
}

static void
test_header_fields(void)
{
	struct psm_buf out = { 0 };
	struct psm_ship_line l = line_of("{}");
	char host[300], app[60], want[512];

	/* Bytes outside 33..126 become '_', each byte of a UTF-8 character too. */
	strcpy(l.type, "a b\tc");
	CHECK_STR(format(&out, &l, "my host\x01\xc3\xa9", "p s\x7f"),
	    "<86>1 2023-11-14T22:13:20.123456Z my_host___ p_s_ - a_b_c "
	    "[psm@32473 sid=\"" SID "\" seq=\"7\" type=\"a b\tc\" t=\"123456\"] {}");

	/* HOST is cut at 255 bytes, APP at 48. */
	memset(host, 'h', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	memset(app, 'a', sizeof app - 1);
	app[sizeof app - 1] = '\0';
	strcpy(l.type, "input");
	snprintf(want, sizeof want, "<86>1 2023-11-14T22:13:20.123456Z %.255s %.48s - input ",
	    host, app);
	format(&out, &l, host, app);
	CHECK(strncmp(out.data, want, strlen(want)) == 0, "long fields: %.*s", 400, out.data);
	psm_buf_free(&out);
}

static void
test_escaping(void)
{
	struct psm_buf out = { 0 };
	struct psm_ship_line l = line_of("a \"quoted\" \\ ] line");

	/* The strict reader's sid and type need none, but the values are escaped all the same. */
	strcpy(l.sid, "x\"y\\z]");
	strcpy(l.type, "t\"]\\");
	strcpy(l.stream, "s]");
	l.stream_line = 1;
	CHECK_STR(format(&out, &l, "h", "a"),
	    "<86>1 2023-11-14T22:13:20.123456Z h a - t\"]\\ "
	    "[psm@32473 sid=\"x\\\"y\\\\z\\]\" seq=\"7\" type=\"t\\\"\\]\\\\\" t=\"123456\" "
	    "stream=\"s\\]\" line=\"1\"] a \"quoted\" \\ ] line");
	psm_buf_free(&out);
}

/* MSG is the line's bytes, whatever they are: NUL, newline, invalid UTF-8, no BOM added. */
static void
test_bytes(void)
{
	static const char bytes[] = "{\"a\":\"\xff\xfe\"}\n\0\r\x1b[31m";
	struct psm_buf out = { 0 };
	struct psm_ship_line l = line_of("");
	size_t header;

	l.line = bytes;
	l.len = sizeof bytes - 1;
	psm_syslog_format(&out, &l, "h", "a", T0, 5);
	header = psm_syslog_header_len(&l, "h", "a");
	CHECK_EQ(out.len, header + l.len);
	CHECK(memcmp(out.data + header, bytes, l.len) == 0, "MSG is not the line's bytes");
	CHECK(memcmp(out.data + header - 2, "] ", 2) == 0, "MSG does not follow \"] \"");
	psm_buf_free(&out);
}

static void
test_check(void)
{
	struct psm_sink s;
	struct psm_ship_line l = line_of("{\"seq\":7}");
	struct psm_error e = { 0 };
	size_t msg = psm_syslog_header_len(&l, "web1", PSM_SYSLOG_APP) + l.len;
	char want[200];

	memset(&s, 0, sizeof s);
	s.conf.host = "web1";
	s.conf.max_message = msg;
	CHECK(psm_syslog_check(&s, &l, &e) == 0, "a message of the maximum is refused: %s", e.msg);
	s.conf.max_message = msg - 1;
	CHECK(psm_syslog_check(&s, &l, &e) < 0, "a message over the maximum is taken");
	CHECK_EQ(e.kind, PSM_E_DATA);
	snprintf(want, sizeof want, "line of %zu bytes: the syslog message would be %zu bytes, "
	    "over the maximum of %zu (--max-message)", l.len, msg, msg - 1);
	CHECK_STR(e.msg, want);
	s.conf.max_message = 0;
	CHECK(psm_syslog_check(&s, &l, &e) == 0, "no maximum: refused");
}

int
main(void)
{
	test_exact();
	test_nilvalue();
	test_header_fields();
	test_escaping();
	test_bytes();
	test_check();
	return check_done();
}
