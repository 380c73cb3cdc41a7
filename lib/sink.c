/*
 * sink.c: a destination's URL to its sink, the calls every sink answers,
 * and the batches they take.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psm_ship.h"

/*
 * HOST:PORT after "scheme://", IPv6 in brackets, nothing after the port.
 * The port is required: psm has no default to guess for a receiver.
 * Messages name the scheme, not the URL: it might hold a password.
 */
static int
split_host_port(const char *scheme, const char *rest, char *host, size_t hostsize,
    char *port, size_t portsize, struct psm_error *e)
{
	const char *colon, *h = rest;
	size_t hl;

	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (close == NULL || close[1] != ':')
			return psm_fail(e, PSM_E_USAGE, "%s://: expected [ADDRESS]:PORT", scheme);
		h++;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(h, ':')) == NULL)
			return psm_fail(e, PSM_E_USAGE, "%s://: expected HOST:PORT", scheme);
		hl = (size_t)(colon - h);
	}
	const char *p = colon + 1;
	size_t pl = strspn(p, "0123456789");
	if (hl == 0 || hl >= hostsize || memchr(h, '@', hl) != NULL || memchr(h, '/', hl) != NULL)
		return psm_fail(e, PSM_E_USAGE, "%s://: expected HOST:PORT (no user, no path)", scheme);
	if (pl == 0 || pl >= portsize || p[pl] != '\0' || (pl == 1 && p[0] == '0'))
		return psm_fail(e, PSM_E_USAGE, "%s://: expected a port number after the host", scheme);
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, p, pl + 1);
	return 0;
}

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A network URL: scheme://HOST:PORT for syslog+tcp, syslog+tls and relp. */
static int
network_sink(struct psm_sink *s, const char *url, const char *scheme, struct psm_error *e)
{
	char host[256], port[8];

	if (split_host_port(scheme, url + strlen(scheme) + 3, host, sizeof host, port,
	    sizeof port, e) < 0)
		return -1;
	snprintf(s->where, sizeof s->where, "%s://%s%s%s:%s", scheme,
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
	if (strcmp(scheme, "relp") == 0)
		return psm_sink_relp_new(s, host, port, e);
	return psm_sink_syslog_new(s, strcmp(scheme, "syslog+tls") == 0, host, port, e);
}

/* The options that are some destinations' only: --ca and the rest for TLS, --password-file. */
static int
options_fit(const struct psm_sink_conf *c, const char *scheme, struct psm_error *e)
{
	if (strcmp(scheme, "syslog+tls") != 0 && (c->ca || c->cert || c->key || c->server_name))
		return psm_fail(e, PSM_E_USAGE, "%s: --ca, --cert, --key and --server-name are for "
		    "syslog+tls://", scheme);
	if (strcmp(scheme, "postgresql") != 0 && c->password_file)
		return psm_fail(e, PSM_E_USAGE, "%s: --password-file is for postgresql://", scheme);
	return 0;
}

int
psm_sink_new(struct psm_sink *s, const struct psm_sink_conf *c, struct psm_error *e)
{
	static const char *const net[] = { "syslog+tcp", "syslog+tls", "relp" };
	const char *url = c->url;

	memset(s, 0, sizeof *s);
	s->conf = *c;
	if (has_prefix(url, "file:")) {
		const char *path = url + 5;
		if (has_prefix(path, "//"))
			path += 2;	/* file:///var/x is /var/x */
		if (*path == '\0')
			return psm_fail(e, PSM_E_USAGE, "file:: expected file:PATH");
		snprintf(s->where, sizeof s->where, "file:%s", path);
		return options_fit(c, "file", e) < 0 ? -1 : psm_sink_file_new(s, path, e);
	}
	for (size_t i = 0; i < sizeof net / sizeof net[0]; i++) {
		size_t n = strlen(net[i]);
		if (strncmp(url, net[i], n) == 0 && strncmp(url + n, "://", 3) == 0)
			return options_fit(c, net[i], e) < 0 ? -1 : network_sink(s, url, net[i], e);
	}
	if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://"))
		return options_fit(c, "postgresql", e) < 0 ? -1 : psm_sink_pg_new(s, e);
	char q[64];
	const char *sep = strstr(url, "://");
	psm_quote(q, sizeof q, url, sep != NULL ? (size_t)(sep - url) + 3 : strcspn(url, ":@"));
	return psm_fail(e, PSM_E_USAGE, "%s: not a destination (file:PATH, syslog+tcp://, "
	    "syslog+tls://, relp://, postgresql://)", q);
}

/* The destination before e's message, unless the sink named it already (PostgreSQL's). */
static void
name_where(const struct psm_sink *s, struct psm_error *e)
{
	size_t n = strlen(s->where);

	if (strncmp(e->msg, s->where, n) != 0 || e->msg[n] != ':')
		psm_error_prefix(e, "%s", s->where);
}

int
psm_sink_connect(struct psm_sink *s, struct psm_error *e)
{
	if (s->connected)
		return 0;
	if (s->ops->connect(s, e) < 0) {
		name_where(s, e);
		return -1;
	}
	s->connected = true;
	return 0;
}

int
psm_sink_check(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e)
{
	return s->ops->check == NULL ? 0 : s->ops->check(s, l, e);
}

int
psm_sink_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	if (b->n == 0)
		return 0;
	if (psm_sink_connect(s, e) < 0)
		return -1;
	if (s->ops->send(s, b, e) < 0) {
		name_where(s, e);
		return -1;
	}
	return 0;
}

/*
 * The first half of psm_sink_send(): b sent, its acknowledgement left for
 * psm_sink_finish(). A sink that cannot split a batch sends it whole here.
 */
int
psm_sink_start(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	if (s->ops->start == NULL)
		return psm_sink_send(s, b, e);
	if (b->n == 0)
		return 0;
	if (psm_sink_connect(s, e) < 0)
		return -1;
	if (s->ops->start(s, b, e) < 0) {
		name_where(s, e);
		return -1;
	}
	s->started = true;
	return 0;
}

int
psm_sink_finish(struct psm_sink *s, struct psm_error *e)
{
	if (!s->started)
		return 0;
	s->started = false;
	if (s->ops->finish(s, e) < 0) {
		name_where(s, e);
		return -1;
	}
	return 0;
}

void
psm_sink_disconnect(struct psm_sink *s)
{
	if (s->connected)
		s->ops->disconnect(s);
	s->connected = false;
	s->started = false;
}

void
psm_sink_free(struct psm_sink *s)
{
	if (s->ops == NULL)
		return;
	psm_sink_disconnect(s);
	s->ops->free(s);
	s->ops = NULL;
}

void
psm_ship_batch_clear(struct psm_ship_batch *b)
{
	b->n = 0;
	b->bytes = 0;
}

/* Room for one more line at the end of b, zeroed. */
struct psm_ship_line *
psm_ship_batch_add(struct psm_ship_batch *b)
{
	b->v = xpsm_grow(b->v, &b->cap, b->n + 1, sizeof *b->v);
	memset(&b->v[b->n], 0, sizeof b->v[b->n]);
	return &b->v[b->n++];
}

void
psm_ship_batch_free(struct psm_ship_batch *b)
{
	free(b->v);
	memset(b, 0, sizeof *b);
}
