/*
 * sink_syslog.c: syslog+tcp://HOST:PORT and syslog+tls://HOST:PORT, RFC
 * 5424 messages (syslog.c) framed by octet counting (RFC 6587, 3.4.1:
 * "LEN SP MSG", no trailer), so that a line arrives whole whatever bytes it
 * holds; over TLS that is also RFC 5425's framing.
 *
 * Plain syslog has no answer: a batch is delivered once the receiver's TCP
 * has acknowledged its last byte (psm_net_drain()). That is less than
 * "written": a receiver killed after its kernel took the bytes loses them.
 * RELP (sink_relp.c) is the answer to that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psm_ship.h"

/* Room kept between batches: a batch of 1 MiB of short lines, with their headers. */
#define OUT_KEEP (4 * 1024 * 1024)

struct syslog_sink {
	struct psm_net *net;
	struct psm_buf out;		/* the batch's frames */
};

/* The syslog message's length for line l, header included. */
static size_t
message_len(const struct psm_sink *s, const struct psm_ship_line *l)
{
	return psm_syslog_header_len(l, s->conf.host, PSM_SYSLOG_APP) + l->len;
}

/* Shared with sink_relp.c through psm_syslog_check(). */
int
psm_syslog_check(const struct psm_sink *s, const struct psm_ship_line *l,
    struct psm_error *e)
{
	size_t n = message_len(s, l);

	if (s->conf.max_message != 0 && n > s->conf.max_message)
		return psm_fail(e, PSM_E_DATA, "line of %zu bytes: the syslog message would be "
		    "%zu bytes, over the maximum of %zu (--max-message)", l->len, n,
		    s->conf.max_message);
	return 0;
}

static int
syslog_check(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e)
{
	return psm_syslog_check(s, l, e);
}

static int
syslog_connect(struct psm_sink *s, struct psm_error *e)
{
	struct syslog_sink *y = s->impl;

	return psm_net_connect(y->net, e);
}

/* The batch framed and written, not waited for (syslog_finish()). */
static int
syslog_start(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	struct syslog_sink *y = s->impl;
	struct timespec now;
	int r;

	clock_gettime(CLOCK_REALTIME, &now);
	y->out.len = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct psm_ship_line *l = &b->v[i];
		char len[24];

		snprintf(len, sizeof len, "%zu ", message_len(s, l));
		psm_buf_adds(&y->out, len);
		psm_syslog_format(&y->out, l, s->conf.host, PSM_SYSLOG_APP, now.tv_sec,
		    now.tv_nsec / 1000);
	}
	r = psm_net_write(y->net, y->out.data, y->out.len, e);
	y->out.len = 0;
	psm_buf_shrink(&y->out, OUT_KEEP);	/* after a line of 1 MiB, not 2 MiB for ever */
	return r;
}

/* Delivered: the receiver's TCP has acknowledged every byte written. */
static int
syslog_finish(struct psm_sink *s, struct psm_error *e)
{
	struct syslog_sink *y = s->impl;

	return psm_net_drain(y->net, e);
}

static int
syslog_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	return syslog_start(s, b, e) < 0 ? -1 : syslog_finish(s, e);
}

static void
syslog_disconnect(struct psm_sink *s)
{
	struct syslog_sink *y = s->impl;

	psm_net_close(y->net);
}

static void
syslog_free(struct psm_sink *s)
{
	struct syslog_sink *y = s->impl;

	psm_net_free(y->net);
	psm_buf_free(&y->out);
	free(y);
	s->impl = NULL;
}

static const struct psm_sink_ops syslog_ops = {
	.connect = syslog_connect,
	.check = syslog_check,
	.send = syslog_send,
	.start = syslog_start,
	.finish = syslog_finish,
	.disconnect = syslog_disconnect,
	.free = syslog_free,
};

/* s->conf is set (psm_sink_new()); host and port are copied. */
int
psm_sink_syslog_new(struct psm_sink *s, bool tls, const char *host, const char *port,
    struct psm_error *e)
{
	struct psm_net_conf nc = {
		.host = host, .port = port, .tls = tls, .ca = s->conf.ca,
		.cert = s->conf.cert, .key = s->conf.key, .server_name = s->conf.server_name,
		.timeout = s->conf.timeout,
	};
	struct syslog_sink *y;

	y = xmalloc(sizeof *y);
	memset(y, 0, sizeof *y);
	if (psm_net_new(&y->net, &nc, e) < 0) {
		free(y);
		return -1;
	}
	s->ops = &syslog_ops;
	s->impl = y;
	s->scheme = tls ? "syslog+tls" : "syslog+tcp";
	s->acked = "the receiver's TCP acknowledged the bytes (no acknowledgement from the "
	    "syslog server itself)";
	if (s->where[0] == '\0')
		snprintf(s->where, sizeof s->where, "%s://%s%s%s:%s", s->scheme,
		    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	return 0;
}
