/*
 * sink_relp.c: relp://HOST:PORT, a client of RELP, the Reliable Event
 * Logging Protocol of rsyslog (imrelp), written from its description.
 *
 * A frame, either way, is
 *
 *	TXNR SP COMMAND SP DATALEN [SP DATA] LF
 *
 * TXNR 1 to 999999999 (then 1 again), COMMAND letters, DATALEN the bytes of
 * DATA. The client opens the session ("open" with its offers), sends each
 * message as a "syslog" command whose DATA is the RFC 5424 message as it is
 * (syslog.c; no octet count), and closes it ("close"). The server answers
 * each command with "rsp", same TXNR, DATA "CODE SP TEXT [LF ...]": 200 when
 * it has the message. It may also say "0 serverclose 0" before it goes.
 *
 * A batch is pipelined: up to WINDOW commands without an answer. The
 * messages go in chunks of half the window (or CHUNK_BYTES): each chunk is
 * written, then the answers to the chunk before it are awaited, while this
 * one is in flight. The answers of a window take a few kilobytes, far below
 * a socket's buffer, so the server never waits on us while we wait on it.
 * send() returns 0 only when every message of the batch has its 200.
 *
 * What comes back is parsed strictly and bounded (RSP_MAX): a server that
 * sends garbage, too much or nothing makes the send fail (PSM_E_OS, to be
 * retried on a new session), within the timeout, and never more memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psm_ship.h"

#define TXNR_MAX 999999999u
#define WINDOW 1024			/* commands without an answer, at most */
#define CHUNK_BYTES (1024 * 1024)	/* of frames written at once, unless one is longer */
#define RSP_MAX 4096			/* DATA of a frame from the server, at most */
#define HEADER_MAX (9 + 1 + 32 + 1 + 9 + 1)	/* TXNR SP COMMAND SP DATALEN SP */
#define READ_SIZE 16384
#define DEFAULT_TIMEOUT (30 * UINT64_C(1000000))	/* as net.c's */

/* What the answers are matched against. */
struct batch_ctx {
	const struct psm_ship_batch *b;
};

struct relp_sink {
	struct psm_net *net;
	struct psm_buf out;		/* frames to write */
	struct psm_buf in;		/* bytes read, not yet parsed */
	uint32_t txnr;			/* the next command's */
	bool healthy;			/* the session may be closed politely */
	bool server_closing;		/* it said serverclose */

	/* The batch being sent: its commands are first_txnr onwards. */
	uint32_t first_txnr;
	size_t sent;			/* commands written */
	size_t done;			/* the first done commands all have their 200 */
	bool *answered;			/* by index in the batch */
	size_t answered_cap;
	struct batch_ctx batch;		/* from relp_start() to relp_finish() */
};

/* One frame from the server; data points into the read buffer. */
struct relp_frame {
	uint32_t txnr;
	char command[33];
	const char *data;
	size_t len;
};

static uint32_t
next_txnr(uint32_t t)
{
	return t >= TXNR_MAX ? 1 : t + 1;
}

/* ---- reading frames ---- */

/* Up to max decimal digits at p (at most n bytes): how many, and their value. */
static size_t
digits(const char *p, size_t n, size_t max, uint32_t *value)
{
	size_t i = 0;

	*value = 0;
	while (i < n && i < max && p[i] >= '0' && p[i] <= '9')
		*value = *value * 10 + (uint32_t)(p[i++] - '0');
	return i;
}

static int
fail_no_frame(const char *p, size_t n, struct psm_error *e)
{
	char q[HEADER_MAX * 4 + 4];

	psm_quote(q, sizeof q, p, n < HEADER_MAX ? n : HEADER_MAX);
	return psm_fail(e, PSM_E_OS, "the server sent no RELP frame: \"%s\"", q);
}

/*
 * A frame at the start of p (n bytes): 1 and *used when one is whole, 0
 * when more bytes are needed, -1 (e filled) when these are no frame.
 */
static int
parse_frame(const char *p, size_t n, struct relp_frame *f, size_t *used, struct psm_error *e)
{
	size_t i, k, c = 0;
	uint32_t len;

	k = digits(p, n, 9, &f->txnr);
	if (k == n)
		return 0;
	if (k == 0 || k >= n || p[k] != ' ')
		goto bad;
	i = k + 1;
	while (i < n && c < 32 && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
		f->command[c++] = p[i++];
	f->command[c] = '\0';
	if (i == n)
		return 0;
	if (c == 0 || i >= n || p[i] != ' ')
		goto bad;
	k = digits(p + i + 1, n - i - 1, 9, &len);
	if (k == n - i - 1)
		return 0;
	if (len > RSP_MAX)
		return psm_fail(e, PSM_E_OS, "the server sent a frame of %" PRIu32 " bytes "
		    "(at most %d are taken)", len, RSP_MAX);
	if (k == 0)
		goto bad;
	i += 1 + k;
	if (len > 0) {
		if (i >= n)
			return 0;
		if (p[i] != ' ')
			goto bad;
		i++;
	}
	if (n - i < (size_t)len + 1)
		return 0;
	if (p[i + len] != '\n')
		goto bad;
	f->data = p + i;
	f->len = len;
	*used = i + len + 1;
	return 1;
bad:
	return fail_no_frame(p, n, e);
}

/* An rsp's code (its DATA's first 3 digits, then a space or the end). */
static int
rsp_code(const struct relp_frame *f)
{
	uint32_t code;

	if (digits(f->data, f->len, 3, &code) != 3 || (f->len > 3 && f->data[3] != ' '))
		return -1;
	return (int)code;
}

/* An rsp's text: after the code, up to the first LF. */
static void
rsp_text(const struct relp_frame *f, char *out, size_t size)
{
	const char *t = f->len > 4 ? f->data + 4 : f->data + f->len;
	const char *lf = memchr(t, '\n', (size_t)(f->data + f->len - t));
	size_t n = (size_t)((lf != NULL ? lf : f->data + f->len) - t);

	psm_quote(out, size, t, n);
}

/*
 * Read once (waiting at most the timeout), then take the frames that are
 * whole, one by one, with take(). -1 (e filled) on a lost connection or a
 * frame that is no frame or that take() refuses.
 */
static int
read_frames(struct psm_sink *s, int (*take)(struct psm_sink *s, const struct relp_frame *f,
    void *ctx, struct psm_error *e), void *ctx, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	struct relp_frame f;
	size_t used = 0, at = 0;
	ssize_t got;
	int st;

	psm_buf_reserve(&r->in, READ_SIZE);
	got = psm_net_read(r->net, r->in.data + r->in.len, READ_SIZE, e);
	if (got < 0)
		return -1;
	if (got == 0)
		return psm_fail(e, PSM_E_OS, r->server_closing ? "the server closed the session" :
		    "the server closed the connection");
	r->in.len += (size_t)got;
	while ((st = parse_frame(r->in.data + at, r->in.len - at, &f, &used, e)) == 1) {
		at += used;
		if (f.txnr == 0 && strcmp(f.command, "serverclose") == 0) {
			r->server_closing = true;
			continue;
		}
		if (strcmp(f.command, "rsp") != 0) {
			char q[40];
			psm_quote(q, sizeof q, f.command, strlen(f.command));
			return psm_fail(e, PSM_E_OS, "the server sent the command \"%s\"", q);
		}
		if (take(s, &f, ctx, e) < 0)
			return -1;
	}
	if (st < 0)
		return -1;
	psm_buf_consume(&r->in, at);
	return 0;
}

/* ---- the session ---- */

static uint64_t
timeout_of(const struct psm_sink *s)
{
	return s->conf.timeout != 0 ? s->conf.timeout : DEFAULT_TIMEOUT;
}

/* Frames that answer nothing we wait for (serverclose, again and again) count as silence. */
static int
waited_too_long(const struct psm_sink *s, uint64_t deadline, struct psm_error *e)
{
	if (psm_mono_usec() < deadline)
		return 0;
	return psm_fail(e, PSM_E_OS, "no answer from the server in %.3g s",
	    (double)timeout_of(s) / 1e6);
}

static int
write_frame(struct relp_sink *r, const char *command, const char *data, size_t len,
    struct psm_error *e)
{
	char head[64];

	snprintf(head, sizeof head, len ? "%" PRIu32 " %s %zu " : "%" PRIu32 " %s %zu",
	    r->txnr, command, len);
	r->out.len = 0;
	psm_buf_adds(&r->out, head);
	psm_buf_add(&r->out, data, len);
	psm_buf_addc(&r->out, '\n');
	return psm_net_write(r->net, r->out.data, r->out.len, e);
}

/* Whether the offers of the open rsp (after its first line) include the syslog command. */
static bool
offers_syslog(const struct relp_frame *f)
{
	const char *p = f->data, *end = f->data + f->len;
	static const char key[] = "commands=";

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((eol != NULL ? eol : end) - p);

		if (n < sizeof key - 1 || memcmp(p, key, sizeof key - 1) != 0)
			continue;
		for (const char *c = p + sizeof key - 1; c < p + n;) {
			const char *comma = memchr(c, ',', (size_t)(p + n - c));
			size_t cl = (size_t)((comma != NULL ? comma : p + n) - c);
			if (cl == 6 && memcmp(c, "syslog", 6) == 0)
				return true;
			c += cl + 1;
		}
	}
	return false;
}

/* The answer to a lone command (open, close). */
struct lone {
	uint32_t txnr;
	bool got;
	int code;
	bool syslog;			/* open: the server takes syslog commands */
	char text[128];
};

static int
take_lone(struct psm_sink *s, const struct relp_frame *f, void *ctx, struct psm_error *e)
{
	struct lone *w = ctx;

	(void)s;
	if (f->txnr != w->txnr || w->got)
		return psm_fail(e, PSM_E_OS, "the server answered command %" PRIu32
		    ", which waits for no answer", f->txnr);
	w->got = true;
	w->code = f->len == 0 ? 0 : rsp_code(f);	/* close's answer may be empty */
	if (w->code < 0)
		return psm_fail(e, PSM_E_OS, "the server's answer has no code");
	w->syslog = offers_syslog(f);
	rsp_text(f, w->text, sizeof w->text);
	return 0;
}

static int
lone_command(struct psm_sink *s, const char *command, const char *data, struct lone *w,
    struct psm_error *e)
{
	struct relp_sink *r = s->impl;

	uint64_t deadline = psm_mono_usec() + timeout_of(s);

	w->txnr = r->txnr;
	w->got = false;
	if (write_frame(r, command, data, strlen(data), e) < 0)
		return -1;
	r->txnr = next_txnr(r->txnr);
	while (!w->got)
		if (read_frames(s, take_lone, w, e) < 0 || waited_too_long(s, deadline, e) < 0)
			return -1;
	return 0;
}

static int
relp_connect(struct psm_sink *s, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	struct lone w;

	r->txnr = 1;
	r->in.len = 0;
	r->healthy = false;
	r->server_closing = false;
	if (psm_net_connect(r->net, e) < 0)
		return -1;
	if (lone_command(s, "open", "relp_version=0\nrelp_software=psm," PSM_VERSION
	    "\ncommands=syslog", &w, e) < 0) {
		psm_net_close(r->net);
		return -1;
	}
	if (w.code != 200 || !w.syslog) {
		psm_net_close(r->net);
		if (w.code != 200)
			return psm_fail(e, PSM_E_NO, "the server refused the session: %d \"%s\"",
			    w.code, w.text);
		return psm_fail(e, PSM_E_NO, "the server does not take syslog messages");
	}
	r->healthy = true;
	return 0;
}

/* ---- a batch ---- */

static int
take_answer(struct psm_sink *s, const struct relp_frame *f, void *ctx, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	const struct psm_ship_batch *b = ((struct batch_ctx *)ctx)->b;
	size_t i = (size_t)((f->txnr + TXNR_MAX - r->first_txnr) % TXNR_MAX);
	int code = rsp_code(f);

	if (f->txnr == 0 || f->txnr > TXNR_MAX || i >= r->sent || r->answered[i])
		return psm_fail(e, PSM_E_OS, "the server answered command %" PRIu32
		    ", which waits for no answer", f->txnr);
	if (code != 200) {
		char text[160];

		rsp_text(f, text, sizeof text);
		if (code < 0)
			return psm_fail(e, PSM_E_OS, "the server's answer has no code");
		return psm_fail(e, code >= 500 && code <= 599 ? PSM_E_NO : PSM_E_OS,
		    "%s:%" PRIu64 ": the server refused the line: %d \"%s\"", b->file,
		    b->v[i].lineno, code, text);
	}
	r->answered[i] = true;
	while (r->done < r->sent && r->answered[r->done])
		r->done++;
	return 0;
}

/* Frames of b's lines from r->sent on, up to a chunk, into r->out. */
static void
add_chunk(struct psm_sink *s, const struct psm_ship_batch *b, int64_t sec, long usec)
{
	struct relp_sink *r = s->impl;
	size_t end = r->sent + WINDOW / 2;

	r->out.len = 0;
	if (end > b->n)
		end = b->n;
	while (r->sent < end && (r->out.len < CHUNK_BYTES || r->out.len == 0)) {
		const struct psm_ship_line *l = &b->v[r->sent];
		char head[48];

		snprintf(head, sizeof head, "%" PRIu32 " syslog %zu ", r->txnr,
		    psm_syslog_header_len(l, s->conf.host, PSM_SYSLOG_APP) + l->len);
		psm_buf_adds(&r->out, head);
		psm_syslog_format(&r->out, l, s->conf.host, PSM_SYSLOG_APP, sec, usec);
		psm_buf_addc(&r->out, '\n');
		r->txnr = next_txnr(r->txnr);
		r->sent++;
	}
}

static int
await_answers(struct psm_sink *s, size_t upto, struct batch_ctx *c, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	uint64_t deadline = psm_mono_usec() + timeout_of(s);

	while (r->done < upto) {
		size_t before = r->done;

		if (read_frames(s, take_answer, c, e) < 0)
			return -1;
		if (r->done > before)
			deadline = psm_mono_usec() + timeout_of(s);
		else if (waited_too_long(s, deadline, e) < 0)
			return -1;
	}
	return 0;
}

/* What it has is unknown: no polite close, and the room of a long line given back. */
static void
relp_failed(struct relp_sink *r)
{
	r->out.len = 0;
	psm_buf_shrink(&r->out, 2 * CHUNK_BYTES);
	r->healthy = false;
}

/*
 * b's messages written, the answers read as the window moves, all but
 * those of the last chunks (relp_finish()): b must stay as it is until then.
 */
static int
relp_start(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	struct timespec now;

	if (r->server_closing)
		return psm_fail(e, PSM_E_OS, "the server closed the session");
	clock_gettime(CLOCK_REALTIME, &now);
	r->answered = xpsm_grow(r->answered, &r->answered_cap, b->n, sizeof *r->answered);
	memset(r->answered, 0, b->n * sizeof *r->answered);
	r->first_txnr = r->txnr;
	r->sent = r->done = 0;
	r->batch = (struct batch_ctx){ b };
	while (r->sent < b->n) {
		size_t before = r->sent;

		add_chunk(s, b, now.tv_sec, now.tv_nsec / 1000);
		if (psm_net_write(r->net, r->out.data, r->out.len, e) < 0)
			goto failed;
		/* The chunk before this one, while this one is on its way. */
		if (await_answers(s, before, &r->batch, e) < 0)
			goto failed;
	}
	return 0;
failed:
	relp_failed(r);
	return -1;
}

/* Delivered: every message of the batch answered 200. */
static int
relp_finish(struct psm_sink *s, struct psm_error *e)
{
	struct relp_sink *r = s->impl;
	if (await_answers(s, r->batch.b->n, &r->batch, e) < 0) {
		relp_failed(r);
		return -1;
	}
	r->out.len = 0;
	psm_buf_shrink(&r->out, 2 * CHUNK_BYTES);
	return 0;
}

static int
relp_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	return relp_start(s, b, e) < 0 ? -1 : relp_finish(s, e);
}

static int
relp_check(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e)
{
	return psm_syslog_check(s, l, e);
}

/* A polite close when the session is sound: the server learns nothing was lost. */
static void
relp_disconnect(struct psm_sink *s)
{
	struct relp_sink *r = s->impl;
	struct psm_error ignored;
	struct lone w;

	if (r->healthy && !r->server_closing)
		(void)lone_command(s, "close", "", &w, &ignored);
	r->healthy = false;
	psm_net_close(r->net);
	r->in.len = 0;
}

static void
relp_free(struct psm_sink *s)
{
	struct relp_sink *r = s->impl;

	psm_net_free(r->net);
	psm_buf_free(&r->out);
	psm_buf_free(&r->in);
	free(r->answered);
	free(r);
	s->impl = NULL;
}

static const struct psm_sink_ops relp_ops = {
	.connect = relp_connect,
	.check = relp_check,
	.send = relp_send,
	.start = relp_start,
	.finish = relp_finish,
	.disconnect = relp_disconnect,
	.free = relp_free,
};

/* s->conf is set (psm_sink_new()); host and port are copied. */
int
psm_sink_relp_new(struct psm_sink *s, const char *host, const char *port, struct psm_error *e)
{
	struct psm_net_conf nc = {
		.host = host, .port = port, .tls = false, .timeout = s->conf.timeout,
	};
	struct relp_sink *r;

	r = xmalloc(sizeof *r);
	memset(r, 0, sizeof *r);
	if (psm_net_new(&r->net, &nc, e) < 0) {
		free(r);
		return -1;
	}
	s->ops = &relp_ops;
	s->impl = r;
	s->scheme = "relp";
	s->acked = "rsyslog's imrelp answered 200 for each message";
	if (s->where[0] == '\0')
		snprintf(s->where, sizeof s->where, "relp://%s%s%s:%s",
		    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	return 0;
}
