/*
 * redactgen: write a psm stream (psm-stream(5)) of one output-heavy
 * session with secrets planted in it, the same bytes on every run, and
 * the list of what was planted.
 *
 *     redactgen SIZE LIST [COUNT]
 *
 * The stream, on stdout, is about SIZE bytes: a start event; out events of
 * terminal output as a pseudo-terminal gives it (lines ended by \r\n, SGR
 * colours, build logs, `ls -l`, web server and JSON logs, git log, UTF-8
 * text, progress bars redrawn with \r), each at most 4096 bytes and most
 * of them full, cut wherever a read would cut them; commands typed at a
 * shell prompt one key an event, each echoed by an out event; now and then
 * a sudo prompt and its withheld answer, a resize, and output that is not
 * UTF-8 (a "b64" event); an end event.
 *
 * COUNT secrets (default: 3 per MB of SIZE, at least 6) are planted at
 * even intervals, in turn of six kinds: AWS access key ids, GitHub
 * personal access tokens (ghp_, with their CRC32 checksum), JWTs, PEM
 * private key blocks (always cut across several events), passwords in
 * URLs, and payment card numbers that pass the Luhn check. Each is placed
 * in one of several ways: inside an out event, across the boundary of two
 * out events, in an event of bytes that are not UTF-8, pasted at the
 * prompt (one in event, its echo in one out event) or typed there one key
 * an event.
 *
 * LIST gets a line for each string that must not survive redaction:
 *
 *     KIND NUMBER PLACE STRING
 *
 * KIND: aws, github, jwt, pem, url, card; NUMBER: the secret's, from 1;
 * PLACE: text, split, b64, paste, typed; STRING: to the end of the line.
 * A PEM block has a line for each body line of 16 characters or more, a
 * JWT one for its payload and one for its signature, a URL one for its
 * password. A summary goes to stderr.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_MAX 4096
#define SID "5e4b1d2c-8a7f-4c3e-9b6d-0f1e2d3c4b5a"

#define SPLITMIX_SEED 0x243f6a8885a308d3u
#include "splitmix.h"

static unsigned long long written;	/* bytes of stream on stdout */
static unsigned long long seq;
static unsigned long long now;		/* t: microseconds since the start */
static unsigned long events;		/* in/out events written */
static FILE *list;

static void
fail(const char *what)
{
	perror(what);
	exit(1);
}

static void
raw(const char *p, size_t n)
{
	if (fwrite(p, 1, n, stdout) != n)
		fail("redactgen: stdout");
	written += n;
}

static void rawf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
rawf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	if (n < 0)
		fail("redactgen: stdout");
	written += (unsigned long long)n;
}

/* The bytes as a JSON string's contents, escaped the way psm writes them. */
static void
json_bytes(const unsigned char *p, size_t n)
{
	char tmp[EVENT_MAX * 6 + 8];
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		switch (c) {
		case '"': tmp[o++] = '\\'; tmp[o++] = '"'; break;
		case '\\': tmp[o++] = '\\'; tmp[o++] = '\\'; break;
		case '\b': tmp[o++] = '\\'; tmp[o++] = 'b'; break;
		case '\f': tmp[o++] = '\\'; tmp[o++] = 'f'; break;
		case '\n': tmp[o++] = '\\'; tmp[o++] = 'n'; break;
		case '\r': tmp[o++] = '\\'; tmp[o++] = 'r'; break;
		case '\t': tmp[o++] = '\\'; tmp[o++] = 't'; break;
		default:
			if (c < 0x20 || c == 0x7f)
				o += (size_t)sprintf(tmp + o, "\\u%04x", c);
			else
				tmp[o++] = (char)c;
		}
	}
	raw(tmp, o);
}

/* Base64 of p into out (NUL-terminated), with the alphabet of RFC 4648
 * (url: its URL-safe one, without padding). Returns the length. */
static size_t
base64(char *out, const unsigned char *p, size_t n, int url)
{
	const char *a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	                    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = a[v >> 18];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = a[v >> 6 & 63];
		else if (!url)
			out[o++] = '=';
		if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static void
event(const char *type, const unsigned char *p, size_t n, int b64)
{
	rawf("{\"sid\":\"" SID "\",\"seq\":%llu,\"t\":%llu,\"type\":\"%s\",\"%s\":\"", seq++, now, type,
	    b64 ? "b64" : "data");
	if (b64) {
		char tmp[EVENT_MAX / 3 * 4 + 8];
		raw(tmp, base64(tmp, p, n, 0));
	} else {
		json_bytes(p, n);
	}
	raw("\"}\n", 3);
	events++;
}

/*
 * Output goes through a buffer of one event. An event is cut when the
 * buffer reaches its size: the full 4096 bytes most of the time (a program
 * that writes a lot), otherwise a smaller read. A cut never splits a UTF-8
 * character (psm-record keeps them whole).
 */
static unsigned char ob[EVENT_MAX];
static size_t oblen, obcap = EVENT_MAX;

static void
cut(void)
{
	if (oblen > 0) {
		event("out", ob, oblen, 0);
		now += 20 + rnd(400);
	}
	oblen = 0;
	obcap = rnd(10) < 7 ? EVENT_MAX : 64 + rnd(EVENT_MAX - 64);
}

/* Returns how many cuts fell inside the n bytes. */
static unsigned
put(const char *s, size_t n)
{
	unsigned inside = 0;
	size_t done = 0;

	while (n > 0) {
		size_t room = obcap - oblen, k;

		if (n <= room) {
			memcpy(ob + oblen, s, n);
			oblen += n;
			break;
		}
		for (k = room; k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80; k--)
			;
		memcpy(ob + oblen, s, k);
		oblen += k;
		s += k;
		n -= k;
		done += k;
		if (done > 0)
			inside++;
		cut();
	}
	return inside;
}

static void putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
putf(const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		fprintf(stderr, "redactgen: a line too long\n");
		exit(1);
	}
	put(tmp, (size_t)n);
}

/* ---- the secrets ---- */

enum kind { AWS, GITHUB, JWT, PEM, URL, CARD, NKINDS };
static const char *const kind_name[NKINDS] = { "aws", "github", "jwt", "pem", "url", "card" };
enum place { TEXT, SPLIT, B64, PASTE, TYPED, NPLACES };
static const char *const place_name[NPLACES] = { "text", "split", "b64", "paste", "typed" };
static unsigned long planted[NKINDS], placed[NPLACES], crossing, strings;
static unsigned long secret_no;

static void
listed(enum kind k, enum place pl, const char *s, size_t n)
{
	if (fprintf(list, "%s %lu %s %.*s\n", kind_name[k], secret_no, place_name[pl], (int)n, s) < 0)
		fail("redactgen: list");
	strings++;
}

static void
random_chars(char *out, size_t n, const char *alphabet)
{
	size_t a = strlen(alphabet);

	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[rnd((unsigned)a)];
	out[n] = '\0';
}

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static uint32_t
crc32(const char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (int b = 0; b < 8; b++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* AKIA and 16 characters of base32's alphabet. */
static void
make_aws(char *out)
{
	memcpy(out, "AKIA", 4);
	random_chars(out + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
}

/* ghp_, 30 base62 characters, and the CRC32 of those 30 in base62, six
 * digits with leading zeros. */
static void
make_github(char *out)
{
	uint32_t c;

	memcpy(out, "ghp_", 4);
	random_chars(out + 4, 30, base62);
	c = crc32(out + 4, 30);
	for (int i = 5; i >= 0; i--) {
		out[34 + i] = base62[c % 62];
		c /= 62;
	}
	out[40] = '\0';
}

/* A JWT; *pay and *sig point at its second and third parts. */
static void
make_jwt(char *out, const char **pay, const char **sig)
{
	static const char *const algs[] = { "HS256", "RS256", "ES256" };
	static const size_t siglen[] = { 32, 256, 64 };
	static const char *const roles[] = { "admin", "deploy", "reader", "ops" };
	unsigned a = rnd(3);
	char json[256];
	unsigned char s[256];
	size_t o;
	int n;

	n = snprintf(json, sizeof json, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[a]);
	o = base64(out, (unsigned char *)json, (size_t)n, 1);
	out[o++] = '.';
	*pay = out + o;
	n = snprintf(json, sizeof json,
	    "{\"sub\":\"user-%u\",\"role\":\"%s\",\"iat\":%u,\"exp\":%u,\"jti\":\"%016llx\"}",
	    rnd(100000), roles[rnd(4)], 1780000000 + rnd(10000000), 1790000000 + rnd(10000000),
	    (unsigned long long)rnd64());
	o += base64(out + o, (unsigned char *)json, (size_t)n, 1);
	out[o++] = '.';
	*sig = out + o;
	for (size_t i = 0; i < siglen[a]; i++)
		s[i] = (unsigned char)rnd(256);
	base64(out + o, s, siglen[a], 1);
}

/* A payment card number of a known issuer that passes the Luhn check,
 * written as digits alone, in groups of four or in dashed groups. */
static void
make_card(char *out)
{
	static const char *const prefix[] = { "4", "51", "53", "55", "6011", "2221", "34", "37" };
	unsigned p = rnd(8);
	size_t len = p >= 6 ? 15 : 16, n = strlen(prefix[p]);
	char d[20];
	unsigned sum = 0;
	int sep = rnd(10) < 6 ? 0 : rnd(4) ? ' ' : '-';
	size_t o = 0;

	memcpy(d, prefix[p], n);
	for (size_t i = n; i < len - 1; i++)
		d[i] = (char)('0' + rnd(10));
	/* Luhn: from the right, every second digit doubled; the check digit
	 * makes the sum a multiple of 10. */
	for (size_t i = 0; i < len - 1; i++) {
		unsigned v = (unsigned)(d[len - 2 - i] - '0');
		if (i % 2 == 0)
			v = v * 2 > 9 ? v * 2 - 9 : v * 2;
		sum += v;
	}
	d[len - 1] = (char)('0' + (10 - sum % 10) % 10);
	for (size_t i = 0; i < len; i++) {
		/* Amex groups 4-6-5, the others 4-4-4-4 */
		if (sep && i > 0 && (len == 15 ? (i == 4 || i == 10) : i % 4 == 0))
			out[o++] = (char)sep;
		out[o++] = d[i];
	}
	out[o] = '\0';
}

static void
make_password(char *out)
{
	random_chars(out, 12 + rnd(13), "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_");
}

/* ---- the terminal ---- */

static const char *const names[] = {
	"api", "auth", "billing", "cache", "deploy", "gateway", "ingest", "ledger", "mailer",
	"metrics", "orders", "payments", "proxy", "queue", "reports", "search", "session",
	"storage", "users", "worker", "backup", "scheduler", "audit", "export",
};
#define NNAMES (sizeof names / sizeof names[0])
#define NAME() names[rnd(NNAMES)]

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
	"Oct", "Nov", "Dec" };

static const char prompt[] = "\033[01;32mroot@db1\033[00m:\033[01;34m/srv/app\033[00m# ";

static void
typed(const char *cmd)
{
	static const char crlf[] = "\r\n";

	put(prompt, sizeof prompt - 1);
	cut();
	now += 300000 + rnd(3000000);
	for (const char *p = cmd;; p++) {
		unsigned char c = *p ? (unsigned char)*p : '\r';

		event("in", &c, 1, 0);
		now += 100 + rnd(300);
		if (c == '\r')
			event("out", (const unsigned char *)crlf, 2, 0);
		else
			event("out", &c, 1, 0);
		if (c == '\r')
			break;
		now += 40000 + rnd(200000);
	}
	now += 500 + rnd(5000);
}

static void
pasted(const char *cmd)
{
	char line[8192];
	size_t n = strlen(cmd);

	put(prompt, sizeof prompt - 1);
	cut();
	now += 300000 + rnd(3000000);
	memcpy(line, cmd, n);
	line[n] = '\r';
	event("in", (unsigned char *)line, n + 1, 0);
	now += 150 + rnd(300);
	line[n + 1] = '\n';
	event("out", (unsigned char *)line, n + 2, 0);
	now += 500 + rnd(5000);
}

/* A command typed at the prompt, and where its output begins. */
static void
command(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
command(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	typed(cmd);
}

static void
build_log(unsigned lines)
{
	static const char *const step[] = { "CC", "CC", "CC", "LD", "AR", "GEN" };

	for (unsigned i = 0; i < lines; i++) {
		unsigned k = rnd(20);

		if (k == 0)
			putf("\033[1m%s/%s.c:%u:%u:\033[0m \033[1;35mwarning:\033[0m comparison of integer "
			    "expressions of different signedness: \342\200\230int\342\200\231 and "
			    "\342\200\230size_t\342\200\231 [\033[1;35m-Wsign-compare\033[0m]\r\n"
			    "  %4u |         if (\033[1;35mi < n\033[0m)\r\n", NAME(), NAME(), 1 + rnd(3000),
			    5 + rnd(60), 1 + rnd(3000));
		else if (k == 1)
			putf("cc -O2 -g -Wall -Wextra -fPIE -I. -Iinclude -I/usr/include/%s -DNDEBUG "
			    "-D%s_VERSION=\\\"%u.%u.%u\\\" -c -o build/%s/%s.o src/%s/%s.c\r\n", NAME(),
			    NAME(), rnd(10), rnd(30), rnd(100), NAME(), NAME(), NAME(), NAME());
		else
			putf("  \033[32m%-4s\033[0m    build/%s/%s_%03u.o\r\n", step[rnd(6)], NAME(), NAME(),
			    rnd(1000));
	}
}

static void
ls_long(unsigned lines)
{
	putf("total %u\r\n", 8 + rnd(90000));
	for (unsigned i = 0; i < lines; i++) {
		unsigned k = rnd(6);

		putf("%s %2u %-8s %-8s %9u %s %2u %02u:%02u %s%s%s%s\033[0m\r\n",
		    k == 0 ? "drwxr-xr-x" : k == 1 ? "-rwxr-xr-x" : k == 2 ? "lrwxrwxrwx" : "-rw-r--r--",
		    1 + rnd(9), rnd(3) ? "root" : "postgres", rnd(3) ? "root" : "adm", rnd(10000000),
		    months[rnd(12)], 1 + rnd(28), rnd(24), rnd(60),
		    k == 0 ? "\033[01;34m" : k == 1 ? "\033[01;32m" : k == 2 ? "\033[01;36m" : "\033[0m",
		    NAME(), k == 0 ? "" : k == 2 ? "" : rnd(2) ? ".conf" : ".log.1",
		    k == 2 ? " -> /etc/alternatives/x" : "");
	}
}

static void
access_log(unsigned lines)
{
	static const char *const verb[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE" };
	static const unsigned status[] = { 200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500 };

	for (unsigned i = 0; i < lines; i++)
		putf("10.%u.%u.%u - - [%02u/%s/2026:%02u:%02u:%02u +0000] \"%s /api/v2/%s/%u?page=%u "
		    "HTTP/1.1\" %u %u \"-\" \"Mozilla/5.0 (X11; Linux x86_64) %s/%u.%u\"\r\n",
		    rnd(256), rnd(256), 1 + rnd(254), 1 + rnd(28), months[rnd(12)], rnd(24), rnd(60),
		    rnd(60), verb[rnd(6)], NAME(), rnd(1000000), rnd(50), status[rnd(11)], rnd(200000),
		    NAME(), rnd(130), rnd(10));
}

static void
journal(unsigned lines)
{
	for (unsigned i = 0; i < lines; i++) {
		unsigned k = rnd(12);

		putf("%s %02u %02u:%02u:%02u db1 %s[%u]: ", months[rnd(12)], 1 + rnd(28), rnd(24),
		    rnd(60), rnd(60), k < 3 ? "sshd" : NAME(), 100 + rnd(4000000));
		if (k == 0)
			putf("Accepted publickey for alice from 192.0.2.%u port %u ssh2: ED25519 "
			    "SHA256:%08x%08x\r\n", 1 + rnd(254), 1024 + rnd(60000), (unsigned)rnd64(),
			    (unsigned)rnd64());
		else if (k < 3)
			putf("pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)\r\n");
		else if (k == 3)
			putf("\033[0;1;31mfailed to connect to upstream %s:%u: Connection refused\033[0m\r\n",
			    NAME(), 1024 + rnd(60000));
		else if (k == 4)
			putf("\033[0;1;39mretrying in %u ms (attempt %u of 5)\033[0m\r\n", rnd(5000), 1 + rnd(5));
		else
			putf("processed %u records in %u.%03u s (%u/s), queue depth %u\r\n", rnd(100000),
			    rnd(60), rnd(1000), rnd(50000), rnd(1000));
	}
}

static void
json_log(void)
{
	unsigned n = 10 + rnd(120);

	putf("{\"ts\":\"2026-%02u-%02uT%02u:%02u:%02u.%06uZ\",\"level\":\"%s\",\"logger\":\"%s.%s\","
	    "\"msg\":\"request served\",\"ctx\":{", 1 + rnd(12), 1 + rnd(28), rnd(24), rnd(60),
	    rnd(60), rnd(1000000), rnd(5) ? "info" : "warn", NAME(), NAME());
	for (unsigned i = 0; i < n; i++)
		putf("%s\"%s_%u\":%s%u%s", i ? "," : "", NAME(), i, i % 3 ? "" : "\"", rnd(1000000),
		    i % 3 ? "" : "\"");
	putf("}}\r\n");
}

static void
git_log(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		putf("\033[33mcommit %016llx%016llx%08x\033[m\r\nAuthor: Dev %u <dev%u@example.org>\r\n"
		    "Date:   %s %s %u %02u:%02u:%02u 2026 +0000\r\n\r\n    %s: fix the %s path when "
		    "the %s is empty\r\n\r\n", (unsigned long long)rnd64(), (unsigned long long)rnd64(),
		    (unsigned)rnd64(), rnd(50), rnd(50), "Mon", months[rnd(12)], 1 + rnd(28), rnd(24),
		    rnd(60), rnd(60), NAME(), NAME(), NAME());
}

static void
tests_run(unsigned n)
{
	static const char *const note[] = { "", "", "", " \342\200\224 r\303\251sum\303\251 ok",
		" (na\303\257ve caf\303\251)", " \342\206\222 \346\227\245\346\234\254\350\252\236",
		" \316\261\316\262\316\263", " \360\237\232\200" };

	for (unsigned i = 0; i < n; i++) {
		if (rnd(15) == 0)
			putf("\033[31m\342\234\227\033[0m test_%s_%u \033[2m(%u ms)\033[0m expected %u, got %u\r\n",
			    NAME(), rnd(1000), rnd(900), rnd(100), rnd(100));
		else
			putf("\033[32m\342\234\223\033[0m test_%s_%u \033[2m(%u ms)\033[0m%s\r\n", NAME(),
			    rnd(1000), rnd(900), note[rnd(8)]);
	}
}

static void
progress(void)
{
	unsigned steps = 10 + rnd(30);

	for (unsigned i = 0; i <= steps; i++) {
		unsigned w = 30 * i / steps;
		char bar[31];

		memset(bar, '#', w);
		memset(bar + w, '.', 30 - w);
		bar[30] = '\0';
		putf("\r%s.tar.zst [%s] %3u%% %u.%u MB/s", NAME(), bar, 100 * i / steps, rnd(300), rnd(10));
	}
	putf("\r\n");
}

/* Output that is not UTF-8 (a file in Latin-1) in one event, with a line
 * of text in it when line is not NULL. */
static void
latin1(const char *line)
{
	char tmp[EVENT_MAX];
	size_t o = 0;
	unsigned lines = 3 + rnd(20);

	cut();
	for (unsigned i = 0; i < lines; i++) {
		if (line != NULL && i == lines / 2)
			o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%s\r\n", line);
		o += (size_t)snprintf(tmp + o, sizeof tmp - o,
		    "%u;Gr\374\337e aus K\366ln;caf\351 cr\350me;%s;%u,%02u \244\r\n", rnd(100000), NAME(),
		    rnd(1000), rnd(100));
	}
	event("out", (unsigned char *)tmp, o, 1);
	now += 200 + rnd(2000);
}

static void
noise(void)
{
	unsigned k = rnd(100);

	if (k < 4)
		command("%s", k < 2 ? "make -j8" : "ninja -C build");
	else if (k < 6)
		command("ls -l --color=auto /var/lib/%s", NAME());
	else if (k < 8)
		command("tail -n 500 /var/log/nginx/%s.access.log", NAME());
	else if (k < 9)
		command("journalctl -u %s --since today", NAME());
	if (k < 30)
		build_log(20 + rnd(200));
	else if (k < 45)
		ls_long(5 + rnd(60));
	else if (k < 62)
		access_log(10 + rnd(150));
	else if (k < 74)
		journal(10 + rnd(100));
	else if (k < 82)
		json_log();
	else if (k < 86)
		git_log(1 + rnd(10));
	else if (k < 96)
		tests_run(10 + rnd(80));
	else if (k < 98)
		progress();
	else if (rnd(8) == 0)
		latin1(NULL);
	else if (rnd(4) == 0) {
		/* sudo's prompt and the password that psm-record withheld */
		cut();
		command("sudo systemctl restart %s", NAME());
		put("[sudo] password for alice: ", 27);
		cut();
		now += 2000000 + rnd(3000000);
		rawf("{\"sid\":\"" SID "\",\"seq\":%llu,\"t\":%llu,\"type\":\"withheld\",\"stream\":\"in\","
		    "\"bytes\":%u,\"reason\":\"echo-off\"}\n", seq++, now, 8 + rnd(12));
		put("\r\n", 2);
	} else {
		cut();
		rawf("{\"sid\":\"" SID "\",\"seq\":%llu,\"t\":%llu,\"type\":\"resize\",\"cols\":%u,\"rows\":%u}\n",
		    seq++, now, 80 + rnd(120), 24 + rnd(40));
	}
}

/* Writes text, a secret s and more text as output, placed as pl says. */
static void
show(enum place pl, const char *before, const char *s, const char *after)
{
	size_t n = strlen(s);

	if (pl == SPLIT) {
		size_t m = 1 + rnd((unsigned)n - 1);

		put(before, strlen(before));
		put(s, m);
		cut();
		put(s + m, n - m);
		put(after, strlen(after));
		crossing++;
	} else if (pl == B64) {
		char line[1024];

		snprintf(line, sizeof line, "%s%s%s", before, s, after);
		latin1(line);
	} else {
		put(before, strlen(before));
		if (put(s, n) > 0)
			crossing++;
		put(after, strlen(after));
	}
}

/* A command with a secret in it, at the prompt, pasted or typed. */
static void
enter(enum place pl, const char *cmd)
{
	if (pl == TYPED) {
		typed(cmd);
		crossing++;
	} else {
		pasted(cmd);
	}
}

static void
plant_aws(enum place pl)
{
	char key[24], tmp[256];

	make_aws(key);
	listed(AWS, pl, key, strlen(key));
	if (pl == PASTE || pl == TYPED) {
		snprintf(tmp, sizeof tmp, "export AWS_ACCESS_KEY_ID=%s", key);
		enter(pl, tmp);
		return;
	}
	switch (rnd(3)) {
	case 0:
		command("cat ~/.aws/credentials");
		show(pl, "[default]\r\naws_access_key_id = ", key, "\r\naws_secret_access_key = "
		    "(stored in vault)\r\nregion = eu-central-1\r\n");
		break;
	case 1:
		if (rnd(2))
			show(pl, "AWS_DEFAULT_REGION=eu-west-1\r\nAWS_ACCESS_KEY_ID=", key, "\r\nHOME=/root\r\n");
		else	/* a colourised env listing */
			show(pl, "\033[1;36mAWS_ACCESS_KEY_ID\033[0m=\033[33m", key, "\033[0m\r\n");
		break;
	default:
		show(pl, "{\"level\":\"debug\",\"msg\":\"s3 client\",\"accessKeyId\":\"", key,
		    "\",\"bucket\":\"backups\"}\r\n");
	}
}

static void
plant_github(enum place pl)
{
	char tok[48], tmp[256];

	make_github(tok);
	listed(GITHUB, pl, tok, strlen(tok));
	if (pl == PASTE || pl == TYPED) {
		snprintf(tmp, sizeof tmp, rnd(2) ? "export GITHUB_TOKEN=%s" :
		    "git clone https://%s@github.com/acme/infra.git", tok);
		enter(pl, tmp);
		return;
	}
	if (rnd(2))
		show(pl, "> GET /repos/acme/infra HTTP/2\r\n> Host: api.github.com\r\n> Authorization: token ",
		    tok, "\r\n> Accept: */*\r\n>\r\n");
	else
		show(pl, "origin\thttps://", tok, "@github.com/acme/infra.git (fetch)\r\n");
}

static void
plant_jwt(enum place pl)
{
	char jwt[1024], tmp[1200];
	const char *pay, *sig;

	make_jwt(jwt, &pay, &sig);
	listed(JWT, pl, pay, (size_t)(sig - 1 - pay));
	listed(JWT, pl, sig, strlen(sig));
	if (pl == PASTE || pl == TYPED) {
		snprintf(tmp, sizeof tmp, "curl -sH 'Authorization: Bearer %s' https://api.internal/v1/me", jwt);
		enter(pl, tmp);
		return;
	}
	if (rnd(2))
		show(pl, "> Authorization: Bearer ", jwt, "\r\n> User-Agent: curl/8.5.0\r\n");
	else
		show(pl, "time=2026-03-02T10:00:00Z level=debug msg=\"token issued\" token=", jwt,
		    " ttl=3600\r\n");
}

/* A private key shown by cat, over several events: the output is cut
 * every few lines, now and then inside a line. */
static void
plant_pem(void)
{
	static const struct {
		const char *label;
		const unsigned char *head;
		size_t headlen, len, width;
	} kinds[] = {
		{ "RSA PRIVATE KEY", (const unsigned char *)"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00", 12, 1192, 64 },
		{ "RSA PRIVATE KEY", (const unsigned char *)"\x30\x82\x09\x28\x02\x01\x00\x02\x82\x02\x01\x00", 12, 2348, 64 },
		{ "PRIVATE KEY", (const unsigned char *)"\x30\x82\x04\xbe\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00", 22, 1218, 64 },
		{ "EC PRIVATE KEY", (const unsigned char *)"\x30\x77\x02\x01\x01\x04\x20", 7, 121, 64 },
		{ "OPENSSH PRIVATE KEY", (const unsigned char *)"openssh-key-v1\0\0\0\0\x04none", 23, 399, 70 },
	};
	unsigned k = rnd(5);
	unsigned char der[2400];
	char b64[3300], line[128];
	size_t n, at, w = kinds[k].width;
	unsigned lines_left = 1 + rnd(8);

	memcpy(der, kinds[k].head, kinds[k].headlen);
	for (size_t i = kinds[k].headlen; i < kinds[k].len; i++)
		der[i] = (unsigned char)rnd(256);
	n = base64(b64, der, kinds[k].len, 0);
	command("cat /etc/ssl/private/%s.key", NAME());
	putf("-----BEGIN %s-----\r\n", kinds[k].label);
	for (at = 0; at < n; at += w) {
		size_t m = n - at < w ? n - at : w;

		if (m >= 16)
			listed(PEM, TEXT, b64 + at, m);
		memcpy(line, b64 + at, m);
		memcpy(line + m, "\r\n", 2);
		if (--lines_left == 0 || at == 0) {
			size_t c = rnd(3) == 0 ? 1 + rnd((unsigned)m) : m + 2;

			put(line, c);
			cut();
			put(line + c, m + 2 - c);
			lines_left = 1 + rnd(8);
		} else {
			put(line, m + 2);
		}
	}
	putf("-----END %s-----\r\n", kinds[k].label);
	crossing++;
}

static void
plant_url(enum place pl)
{
	static const char *const fmt[][2] = {
		{ "postgres://app:", "@db:5432/x" },
		{ "postgresql://report:", "@10.0.3.7/analytics?sslmode=require" },
		{ "mysql://root:", "@mysql.internal:3306/shop" },
		{ "redis://default:", "@cache:6379/0" },
		{ "amqp://svc-orders:", "@rabbit:5672/prod" },
		{ "https://deploy:", "@git.internal/ops/app.git" },
		{ "mongodb://admin:", "@mongo-0:27017/admin?authSource=admin" },
	};
	unsigned f = rnd(7);
	char pw[32], before[128], after[128], tmp[256];

	make_password(pw);
	listed(URL, pl, pw, strlen(pw));
	if (pl == PASTE || pl == TYPED) {
		snprintf(tmp, sizeof tmp, "psql '%s%s%s' -c 'select 1'", fmt[0][0], pw, fmt[0][1]);
		enter(pl, tmp);
		return;
	}
	switch (rnd(3)) {
	case 0:
		snprintf(before, sizeof before, "DATABASE_URL=%s", fmt[f][0]);
		snprintf(after, sizeof after, "%s\r\nPATH=/usr/local/bin:/usr/bin:/bin\r\n", fmt[f][1]);
		break;
	case 1:
		snprintf(before, sizeof before, "%s INFO  connecting to %s", "2026-03-02 10:00:01", fmt[f][0]);
		snprintf(after, sizeof after, "%s (pool size 10)\r\n", fmt[f][1]);
		break;
	default:
		snprintf(before, sizeof before, "  url: \"%s", fmt[f][0]);
		snprintf(after, sizeof after, "%s\"\r\n  timeout: 30s\r\n", fmt[f][1]);
	}
	show(pl, before, pw, after);
}

static void
plant_card(enum place pl)
{
	char card[24], tmp[128];

	make_card(card);
	listed(CARD, pl, card, strlen(card));
	if (pl == PASTE || pl == TYPED) {
		snprintf(tmp, sizeof tmp, "./refund --card '%s' --amount 12.50", card);
		enter(pl, tmp);
		return;
	}
	switch (rnd(3)) {
	case 0:
		show(pl, "2026-03-02 10:00:02 payments: charge accepted card=", card, " amount=129.00 EUR\r\n");
		break;
	case 1:
		show(pl, "  Card number:   ", card, "\r\n  Expires:       09/28\r\n");
		break;
	default:
		show(pl, "{\"event\":\"charge\",\"pan\":\"", card, "\",\"currency\":\"EUR\"}\r\n");
	}
}

static void
plant(enum kind k)
{
	unsigned r = rnd(100);
	enum place pl = r < 50 ? TEXT : r < 70 ? SPLIT : r < 76 ? B64 : r < 88 ? PASTE : TYPED;

	secret_no++;
	if (k == PEM)
		pl = TEXT;
	planted[k]++;
	placed[pl]++;
	switch (k) {
	case AWS: plant_aws(pl); break;
	case GITHUB: plant_github(pl); break;
	case JWT: plant_jwt(pl); break;
	case PEM: plant_pem(); break;
	case URL: plant_url(pl); break;
	default: plant_card(pl); break;
	}
}

int
main(int argc, char **argv)
{
	unsigned long long size, count, next;
	char *end;

	if (argc < 3 || argc > 4 || (size = strtoull(argv[1], &end, 10)) == 0 || *end != '\0') {
		fprintf(stderr, "usage: redactgen SIZE LIST [COUNT]\n");
		return 2;
	}
	count = size / 333333 < 6 ? 6 : size / 333333;
	if (argc == 4 && ((count = strtoull(argv[3], &end, 10)) == 0 || *end != '\0')) {
		fprintf(stderr, "usage: redactgen SIZE LIST [COUNT]\n");
		return 2;
	}
	if ((list = fopen(argv[2], "w")) == NULL)
		fail(argv[2]);
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);

	rawf("{\"sid\":\"" SID "\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1,"
	    "\"time\":\"2026-03-02T09:58:11.204518Z\",\"user\":\"alice\",\"uid\":1000,\"gid\":1000,"
	    "\"loginuid\":1000,\"host\":\"db1\",\"tty\":\"/dev/pts/4\",\"term\":\"xterm-256color\","
	    "\"cols\":200,\"rows\":50,\"cwd\":\"/home/alice\",\"argv\":[\"sudo\",\"-i\"],\"mode\":\"pty\","
	    "\"input\":true,\"pid\":48213,\"psm\":\"0.1.0\",\"setuid\":false,\"escrow\":false}\n");
	seq = 1;
	next = size / (count + 1);
	while (written < size) {
		if (secret_no < count && written >= next) {
			plant((enum kind)(secret_no % NKINDS));
			next = size / (count + 1) * (secret_no + 1);
		}
		noise();
	}
	while (secret_no < count)
		plant((enum kind)(secret_no % NKINDS));
	cut();
	now += 1000;
	rawf("{\"sid\":\"" SID "\",\"seq\":%llu,\"t\":%llu,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,"
	    "\"duration\":%llu}\n", seq, now, now);
	if (fflush(stdout) != 0 || ferror(stdout))
		fail("redactgen: stdout");
	if (fclose(list) != 0)
		fail(argv[2]);
	fprintf(stderr, "redactgen: %llu bytes, %llu lines, %lu in/out events; %lu secrets (", written,
	    seq + 1, events, secret_no);
	for (int k = 0; k < NKINDS; k++)
		fprintf(stderr, "%s%s %lu", k ? ", " : "", kind_name[k], planted[k]);
	fprintf(stderr, "), %lu across event boundaries (", crossing);
	for (int p = 0; p < NPLACES; p++)
		fprintf(stderr, "%s%s %lu", p ? ", " : "", place_name[p], placed[p]);
	fprintf(stderr, "); %lu strings listed\n", strings);
	return 0;
}
