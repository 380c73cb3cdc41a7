/*
 * grant.c: psm-grant's documents (psm_grant.h). The writers put the keys
 * in a fixed order with psm's own JSON writer, so that what is signed is
 * what is printed; the readers parse with libjq's jv and check every
 * field's type and range before anything else looks at it. A signed line
 * ends with ,"sig":"<88 base64 characters>"}: the signature covers a
 * domain string that says what the line is (so an approval cannot pass
 * for a grant), then every byte before ,"sig":.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jq.h>
#include <sodium.h>

#include "psm_grant.h"

#define SIG_B64_LEN 88
#define SIG_SUFFIX_LEN (sizeof ",\"sig\":\"" - 1 + SIG_B64_LEN + 2)
#define REVOKED_FILE_MAX (64 * 1024 * 1024)

static const char request_domain[] = "psm-approval v1\n";
static const char grant_domain[] = "psm-grant v1\n";
static const char revoked_domain[] = "psm-revoked v1\n";

void
psm_time_format(char out[PSM_TIME_LEN + 1], int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		memset(&tm, 0, sizeof tm);
	snprintf(out, PSM_TIME_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ",
	    (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) % 100,
	    (unsigned)tm.tm_mday % 100, (unsigned)tm.tm_hour % 100, (unsigned)tm.tm_min % 100,
	    (unsigned)tm.tm_sec % 100);
}

static bool
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int
psm_time_parse(const char *s, size_t n, int64_t *t)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, se;
	char back[PSM_TIME_LEN + 1];

	if (n != PSM_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -1;
	if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*t = (int64_t)timegm(&tm);
	psm_time_format(back, *t);	/* February 30th does not come back the same */
	return memcmp(back, s, PSM_TIME_LEN) == 0 ? 0 : -1;
}

/* A key's name (psm-keygen --id) that cannot pass for an option. */
bool
psm_grant_name_valid(const char *s, size_t n)
{
	return n > 0 && s[0] != '-' && psm_key_name_validn(s, n);
}

bool
psm_grant_host_valid(const char *s, size_t n)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_";

	if (n == 0 || n > PSM_GRANT_HOST_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
			return false;
	return true;
}

/* Text for people: valid UTF-8 (jv made sure), no control characters. */
static bool
text_valid(const char *s, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* ---- writing ---- */

/*
 * The event writer's (event.c) keys, escaping and numbers; each line
 * begins with its "psm" key, so that every other key follows a comma.
 * What goes in was checked as UTF-8 where it came in.
 */
static void
begin_line(struct psm_buf *b, const char *type)
{
	psm_buf_adds(b, "{\"psm\":");
	psm_json_string(b, type, strlen(type));
	psm_ev_u64(b, "v", 1);
}

static void
add_str(struct psm_buf *b, const char *key, const char *val)
{
	if (val == NULL)
		psm_ev_null(b, key);
	else
		psm_ev_str(b, key, val);
}

static void
add_time(struct psm_buf *b, const char *key, int64_t t)
{
	char s[PSM_TIME_LEN + 1];

	psm_time_format(s, t);
	psm_ev_str(b, key, s);
}

/* Signs the line from start (its opening brace) on, after domain and prefix, and closes it. */
static void
sign_line(struct psm_buf *b, size_t start, const char *domain, const char *prefix, size_t prefixlen,
    const struct psm_seckey *k)
{
	struct psm_buf msg = { 0 };
	unsigned char sig[64];
	char b64[SIG_B64_LEN + 1];

	psm_buf_adds(&msg, domain);
	psm_buf_add(&msg, prefix, prefixlen);
	psm_buf_add(&msg, b->data + start, b->len - start);
	psm_sign(sig, msg.data, msg.len, k);
	psm_buf_free(&msg);
	psm_ev_strn(b, "sig", b64, psm_b64_encode(b64, sig, sizeof sig));
	psm_buf_adds(b, "}\n");
}

void
psm_request_write(struct psm_buf *out, const struct psm_request *r)
{
	begin_line(out, "request");
	add_str(out, "id", r->id);
	add_time(out, "time", r->time);
	add_time(out, "expires", r->expires);
	add_str(out, "user", r->user);
	psm_ev_u64(out, "uid", r->uid);
	add_str(out, "host", r->host);
	add_str(out, "role", r->role);
	add_str(out, "account", r->account);
	add_str(out, "target", r->target);
	add_str(out, "command", r->command);
	psm_ev_u64(out, "ttl", r->ttl);
	add_str(out, "ticket", r->ticket);
	add_str(out, "reason", r->reason);
	psm_buf_adds(out, "}\n");
}

void
psm_approval_write(struct psm_buf *out, const struct psm_request *r, bool deny, int64_t time,
    const char *reason, const struct psm_seckey *k)
{
	size_t start = out->len;

	begin_line(out, "approval");
	add_str(out, "request", r->id);
	add_str(out, "decision", deny ? "deny" : "approve");
	add_time(out, "time", time);
	add_str(out, "key", k->id);
	add_str(out, "name", k->name[0] ? k->name : NULL);
	add_str(out, "reason", reason);
	struct psm_buf pre = { 0 };
	psm_buf_add(&pre, r->line, r->len);
	psm_buf_addc(&pre, '\n');
	sign_line(out, start, request_domain, pre.data, pre.len, k);
	psm_buf_free(&pre);
}

void
psm_grant_write(struct psm_buf *out, const struct psm_grant_out *g, const struct psm_seckey *ca)
{
	const struct psm_request *r = g->request;
	size_t start = out->len;

	begin_line(out, "grant");
	add_str(out, "id", r->id);
	psm_ev_u64(out, "serial", g->serial);
	add_str(out, "user", r->user);
	psm_ev_u64(out, "uid", r->uid);
	add_str(out, "role", r->role);
	add_str(out, "account", r->account);
	add_str(out, "target", r->target);
	add_str(out, "command", r->command);
	add_str(out, "ticket", r->ticket);
	add_str(out, "reason", r->reason);
	add_time(out, "requested", r->time);
	psm_buf_adds(out, ",\"approvers\":[");
	for (size_t i = 0; i < g->napprovers; i++) {
		psm_buf_adds(out, i > 0 ? ",{\"name\":" : "{\"name\":");
		psm_json_string(out, g->approvers[i].name, strlen(g->approvers[i].name));
		psm_ev_str(out, "key", g->approvers[i].key);
		psm_ev_strv(out, "groups", g->approvers[i].groups);
		add_time(out, "time", g->approvers[i].time);
		psm_buf_addc(out, '}');
	}
	psm_buf_addc(out, ']');
	add_time(out, "issued", g->issued);
	add_time(out, "not_before", g->issued);
	add_time(out, "expires", g->expires);
	psm_ev_strv(out, "flags", g->flags);
	add_str(out, "ca", ca->id);
	sign_line(out, start, grant_domain, "", 0, ca);
}

void
psm_revoked_write(struct psm_buf *out, const struct psm_grant *g, int64_t time, const char *reason,
    const struct psm_seckey *ca)
{
	size_t start = out->len;

	begin_line(out, "revoked");
	add_str(out, "grant", g->id);
	psm_ev_u64(out, "serial", g->serial);
	add_time(out, "time", time);
	add_str(out, "reason", reason);
	add_str(out, "ca", ca->id);
	sign_line(out, start, revoked_domain, "", 0, ca);
}

/* ---- reading ---- */

/* A JSON object parsed with jv, and the field being read, for messages. */
struct doc {
	jv obj;
	const char *what;		/* "request", "approval", ... */
	struct psm_error *e;
};

/*
 * A string where a separator should be ({"a":1 "b"}, [1] "x"). libjq 1.6
 * refuses such a line ("Expected separator between values") but loses the
 * string it has just made: value() in its jv_parse.c returns the error
 * without freeing it (jq 1.7 does). Valid JSON never has one, so the line
 * is refused here, before jv sees it. Outside strings, each byte other
 * than a separator, an opening or white space ends or continues a value.
 */
static bool
string_after_value(const char *s, size_t n)
{
	bool after = false;	/* a value has just ended */

	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case ' ': case '\t': case '\n': case '\r':
			break;
		case ',': case ':': case '[': case '{':
			after = false;
			break;
		case '"':
			if (after)
				return true;
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			after = true;
			break;
		default:
			after = true;
		}
	}
	return false;
}

static int
doc_open(struct doc *d, const char *line, size_t n, const char *what, struct psm_error *e)
{
	d->what = what;
	d->e = e;
	d->obj = jv_null();
	if (n > PSM_GRANT_LINE_MAX)
		return psm_fail(e, PSM_E_DATA, "a line over %d bytes", PSM_GRANT_LINE_MAX);
	if (string_after_value(line, n))
		return psm_fail(e, PSM_E_DATA, "not JSON (a string where a separator is expected)");
	d->obj = jv_parse_sized(line, (int)n);
	if (!jv_is_valid(d->obj)) {
		jv msg = jv_invalid_get_msg(d->obj);
		char m[200];
		psm_quote(m, sizeof m, jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "",
		    jv_get_kind(msg) == JV_KIND_STRING ? (size_t)jv_string_length_bytes(jv_copy(msg)) : 0);
		jv_free(msg);
		d->obj = jv_null();
		return psm_fail(e, PSM_E_DATA, "not JSON (%s)", m);
	}
	if (jv_get_kind(d->obj) != JV_KIND_OBJECT)
		return psm_fail(e, PSM_E_DATA, "not a JSON object");
	return 0;
}

/* The field key: its value (to be freed), or invalid after a message. */
static jv
field(struct doc *d, const char *key, jv_kind kind, bool nullable)
{
	jv v = jv_object_get(jv_copy(d->obj), jv_string(key));

	if (!jv_is_valid(v)) {
		jv_free(v);
		psm_fail(d->e, PSM_E_DATA, "not a %s: no \"%s\"", d->what, key);
		return jv_invalid();
	}
	if (jv_get_kind(v) == kind || (nullable && jv_get_kind(v) == JV_KIND_NULL))
		return v;
	jv_free(v);
	psm_fail(d->e, PSM_E_DATA, "%s: \"%s\" is not %s", d->what, key,
	    kind == JV_KIND_STRING ? "a string" : kind == JV_KIND_NUMBER ? "a number" :
	    kind == JV_KIND_ARRAY ? "an array" : "of the right type");
	return jv_invalid();
}

enum text_kind { T_NAME, T_HOST, T_TEXT, T_ID, T_KEYID, T_SIG, T_TIME };

static bool
string_ok(enum text_kind k, const char *s, size_t n, size_t cap)
{
	int64_t t;

	if (n >= cap || strlen(s) != n)
		return false;
	switch (k) {
	case T_NAME: return psm_grant_name_valid(s, n);
	case T_HOST: return psm_grant_host_valid(s, n);
	case T_TEXT: return text_valid(s, n, cap - 1);
	case T_ID: return psm_sid_valid(s, n);
	case T_KEYID: return n == PSM_KEYID_LEN && strspn(s, "0123456789abcdef") == n;
	case T_SIG: return n == SIG_B64_LEN;
	case T_TIME: return psm_time_parse(s, n, &t) == 0;
	}
	return false;
}

/* A string field into out (cap bytes); null gives "" when nullable. */
static int
get_str(struct doc *d, const char *key, enum text_kind k, char *out, size_t cap, bool nullable)
{
	jv v = field(d, key, JV_KIND_STRING, nullable);

	if (!jv_is_valid(v))
		return -1;
	out[0] = '\0';
	if (jv_get_kind(v) == JV_KIND_NULL)
		return 0;
	const char *s = jv_string_value(v);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
	if (!string_ok(k, s, n, cap) || (n == 0 && !nullable)) {
		jv_free(v);
		return psm_fail(d->e, PSM_E_DATA, "%s: \"%s\" is not a valid %s", d->what, key,
		    k == T_NAME ? "name" : k == T_HOST ? "host name" : k == T_ID ? "id" :
		    k == T_KEYID ? "key id" : k == T_TIME ? "time (YYYY-MM-DDTHH:MM:SSZ)" :
		    k == T_SIG ? "signature" : "text (control characters, or too long)");
	}
	memcpy(out, s, n + 1);
	jv_free(v);
	return 0;
}

/* A text field as a new string, NULL for null. */
static int
get_text(struct doc *d, const char *key, size_t max, char **out, bool nullable)
{
	char *buf = xmalloc(max + 1);

	*out = NULL;
	if (get_str(d, key, T_TEXT, buf, max + 1, nullable) < 0) {
		free(buf);
		return -1;
	}
	jv v = jv_object_get(jv_copy(d->obj), jv_string(key));
	bool null = jv_get_kind(v) == JV_KIND_NULL;
	jv_free(v);
	if (null) {
		free(buf);
		return 0;
	}
	*out = buf;
	return 0;
}

static int
get_time(struct doc *d, const char *key, int64_t *t)
{
	char s[PSM_TIME_LEN + 1];

	if (get_str(d, key, T_TIME, s, sizeof s, false) < 0)
		return -1;
	return psm_time_parse(s, PSM_TIME_LEN, t);
}

static int
get_u64(struct doc *d, const char *key, uint64_t max, uint64_t *out)
{
	jv v = field(d, key, JV_KIND_NUMBER, false);

	if (!jv_is_valid(v))
		return -1;
	double x = jv_number_value(v);
	jv_free(v);
	/* Doubles are exact to 2^53; a larger serial is refused, not rounded. */
	if (!(x >= 0) || x > (double)max || x > 9007199254740992.0 || x != (double)(uint64_t)x)
		return psm_fail(d->e, PSM_E_DATA, "%s: \"%s\" is not a whole number from 0 to %" PRIu64,
		    d->what, key, max);
	*out = (uint64_t)x;
	return 0;
}

static int
expect(struct doc *d, const char *type)
{
	char psm[16];
	uint64_t version;

	if (get_str(d, "psm", T_NAME, psm, sizeof psm, false) < 0 || strcmp(psm, type) != 0)
		return psm_fail(d->e, PSM_E_DATA, "not a psm %s (\"psm\":\"%s\" expected)", type, type);
	if (get_u64(d, "v", 1000, &version) < 0)
		return -1;
	if (version != 1)
		return psm_fail(d->e, PSM_E_DATA, "a %s of version %" PRIu64 ", which this psm does not read",
		    type, version);
	return 0;
}

/* The signature at the end of a signed line, and where the signed bytes end. */
static int
split_signed(const char *line, size_t n, size_t *body, unsigned char sig[64], const char *what,
    struct psm_error *e)
{
	static const char head[] = ",\"sig\":\"";

	if (n < SIG_SUFFIX_LEN + 2 || memcmp(line + n - SIG_SUFFIX_LEN, head, sizeof head - 1) != 0 ||
	    memcmp(line + n - 2, "\"}", 2) != 0)
		return psm_fail(e, PSM_E_DATA, "not a signed %s (no \"sig\" at its end)", what);
	size_t got = 0;
	*body = n - SIG_SUFFIX_LEN;
	if (psm_b64_decode_to(sig, 64, line + n - 2 - SIG_B64_LEN, SIG_B64_LEN, &got) != 0 || got != 64)
		return psm_fail(e, PSM_E_DATA, "%s: the signature is not base64 of 64 bytes", what);
	return 0;
}

static bool
sig_valid_over(const unsigned char sig[64], const char *domain, const char *pre, size_t prelen,
    const char *body, size_t n, const struct psm_pubkey *k)
{
	struct psm_buf msg = { 0 };

	psm_buf_adds(&msg, domain);
	psm_buf_add(&msg, pre, prelen);
	psm_buf_add(&msg, body, n);
	bool ok = psm_sig_valid(sig, msg.data, msg.len, k);
	psm_buf_free(&msg);
	return ok;
}

static char *
copy_line(const char *line, size_t n)
{
	char *s = xmalloc(n + 1);

	memcpy(s, line, n);
	s[n] = '\0';
	return s;
}

/* Past the id and times: what a request says about itself that must hold. */
static int
request_sane(struct psm_request *r, struct psm_error *e)
{
	if (r->expires < r->time || r->expires - r->time > PSM_GRANT_TTL_MAX)
		return psm_fail(e, PSM_E_DATA, "request: \"expires\" is not within 7 days after its time");
	if (r->ttl == 0)
		return psm_fail(e, PSM_E_DATA, "request: \"ttl\" is 0");
	return 0;
}

int
psm_request_parse(struct psm_request *r, const char *line, size_t n, struct psm_error *e)
{
	struct doc d;
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (doc_open(&d, line, n, "request", e) < 0)
		goto out;
	if (expect(&d, "request") < 0 ||
	    get_str(&d, "id", T_ID, r->id, sizeof r->id, false) < 0 ||
	    get_time(&d, "time", &r->time) < 0 || get_time(&d, "expires", &r->expires) < 0 ||
	    get_str(&d, "user", T_NAME, r->user, sizeof r->user, false) < 0 ||
	    get_u64(&d, "uid", UINT32_MAX, &r->uid) < 0 ||
	    get_str(&d, "host", T_HOST, r->host, sizeof r->host, false) < 0 ||
	    get_str(&d, "role", T_NAME, r->role, sizeof r->role, false) < 0 ||
	    get_str(&d, "account", T_NAME, r->account, sizeof r->account, false) < 0 ||
	    get_str(&d, "target", T_HOST, r->target, sizeof r->target, false) < 0 ||
	    get_text(&d, "command", PSM_GRANT_COMMAND_MAX, &r->command, true) < 0 ||
	    get_u64(&d, "ttl", PSM_GRANT_TTL_MAX, &r->ttl) < 0 ||
	    get_text(&d, "ticket", PSM_GRANT_TEXT_MAX, &r->ticket, true) < 0 ||
	    get_text(&d, "reason", PSM_GRANT_TEXT_MAX, &r->reason, false) < 0 ||
	    request_sane(r, e) < 0)
		goto out;
	if (r->command != NULL && r->command[0] == '\0') {
		psm_fail(e, PSM_E_DATA, "request: \"command\" is empty");
		goto out;
	}
	r->line = copy_line(line, n);
	r->len = n;
	rc = 0;
out:
	jv_free(d.obj);
	if (rc < 0)
		psm_request_free(r);
	return rc;
}

void
psm_request_free(struct psm_request *r)
{
	free(r->command);
	free(r->ticket);
	free(r->reason);
	free(r->line);
	r->command = r->ticket = r->reason = r->line = NULL;
}

int
psm_approval_parse(struct psm_approval *a, const char *line, size_t n, struct psm_error *e)
{
	struct doc d;
	char decision[16];
	int rc = -1;

	memset(a, 0, sizeof *a);
	d.obj = jv_null();
	if (split_signed(line, n, &a->body, a->sig, "approval", e) < 0 ||
	    doc_open(&d, line, n, "approval", e) < 0)
		goto out;
	if (expect(&d, "approval") < 0 ||
	    get_str(&d, "request", T_ID, a->request, sizeof a->request, false) < 0 ||
	    get_str(&d, "decision", T_NAME, decision, sizeof decision, false) < 0)
		goto out;
	if (strcmp(decision, "approve") != 0 && strcmp(decision, "deny") != 0) {
		psm_fail(e, PSM_E_DATA, "approval: \"decision\" is neither \"approve\" nor \"deny\"");
		goto out;
	}
	a->deny = decision[0] == 'd';
	if (get_time(&d, "time", &a->time) < 0 ||
	    get_str(&d, "key", T_KEYID, a->key, sizeof a->key, false) < 0 ||
	    get_str(&d, "name", T_NAME, a->name, sizeof a->name, true) < 0 ||
	    get_text(&d, "reason", PSM_GRANT_TEXT_MAX, &a->reason, true) < 0)
		goto out;
	a->line = copy_line(line, n);
	a->len = n;
	rc = 0;
out:
	jv_free(d.obj);
	if (rc < 0)
		psm_approval_free(a);
	return rc;
}

bool
psm_approval_signed_by(const struct psm_approval *a, const struct psm_request *r,
    const struct psm_pubkey *k)
{
	struct psm_buf pre = { 0 };

	if (strcmp(a->key, k->id) != 0 || strcmp(a->request, r->id) != 0)
		return false;
	psm_buf_add(&pre, r->line, r->len);
	psm_buf_addc(&pre, '\n');
	bool ok = sig_valid_over(a->sig, request_domain, pre.data, pre.len, a->line, a->body, k);
	psm_buf_free(&pre);
	return ok;
}

void
psm_approval_free(struct psm_approval *a)
{
	free(a->reason);
	free(a->line);
	a->reason = a->line = NULL;
}

/* The grant's approvers as one string for people: "ann (security) at TIME, bob (dba) at TIME". */
static int
grant_approvers(struct doc *d, struct psm_grant *g)
{
	jv list = field(d, "approvers", JV_KIND_ARRAY, false);
	struct psm_buf s = { 0 };
	int rc = -1;

	if (!jv_is_valid(list))
		return -1;
	int n = jv_array_length(jv_copy(list));
	if (n > PSM_GRANT_APPROVERS_MAX) {
		psm_fail(d->e, PSM_E_DATA, "grant: over %d approvers", PSM_GRANT_APPROVERS_MAX);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct doc a = { jv_array_get(jv_copy(list), i), "grant's approver", d->e };
		char name[PSM_GRANT_NAME_MAX], key[PSM_KEYID_LEN + 1], when[PSM_TIME_LEN + 1];
		bool ok = jv_get_kind(a.obj) == JV_KIND_OBJECT &&
		    get_str(&a, "name", T_NAME, name, sizeof name, false) == 0 &&
		    get_str(&a, "key", T_KEYID, key, sizeof key, false) == 0 &&
		    get_str(&a, "time", T_TIME, when, sizeof when, false) == 0;
		jv groups = ok ? field(&a, "groups", JV_KIND_ARRAY, false) : jv_invalid();
		jv_free(a.obj);
		if (!ok || !jv_is_valid(groups)) {
			jv_free(groups);
			if (ok || d->e->msg[0] == '\0')
				psm_fail(d->e, PSM_E_DATA, "grant: approver %d is not valid", i + 1);
			goto out;
		}
		psm_buf_adds(&s, i > 0 ? ", " : "");
		psm_buf_adds(&s, name);
		psm_buf_adds(&s, " (");
		jv_array_foreach(groups, j, gr) {
			if (jv_get_kind(gr) == JV_KIND_STRING &&
			    psm_grant_name_valid(jv_string_value(gr), strlen(jv_string_value(gr)))) {
				psm_buf_adds(&s, j > 0 ? "," : "");
				psm_buf_adds(&s, jv_string_value(gr));
			}
			jv_free(gr);
		}
		jv_free(groups);
		psm_buf_adds(&s, ") at ");
		psm_buf_adds(&s, when);
	}
	psm_buf_addc(&s, '\0');
	g->approvers = s.data;
	s.data = NULL;
	rc = 0;
out:
	psm_buf_free(&s);
	jv_free(list);
	return rc;
}

static int
grant_flags(struct doc *d, struct psm_grant *g)
{
	jv list = field(d, "flags", JV_KIND_ARRAY, false);
	struct psm_buf s = { 0 };
	int rc = 0;

	if (!jv_is_valid(list))
		return -1;
	if (jv_array_length(jv_copy(list)) > PSM_GRANT_FLAGS_MAX)
		rc = psm_fail(d->e, PSM_E_DATA, "grant: over %d flags", PSM_GRANT_FLAGS_MAX);
	jv_array_foreach(list, i, f) {
		const char *v = jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : NULL;
		if (rc == 0 && (v == NULL || !psm_grant_name_valid(v, strlen(v))))
			rc = psm_fail(d->e, PSM_E_DATA, "grant: flag %d is not a valid name", i + 1);
		if (rc == 0) {
			psm_buf_adds(&s, i > 0 ? "," : "");
			psm_buf_adds(&s, v);
			if (strcmp(v, "break-glass") == 0)
				g->break_glass = true;
		}
		jv_free(f);
	}
	jv_free(list);
	psm_buf_addc(&s, '\0');
	g->flags = s.data;
	return rc;
}

static int
grant_fields(struct doc *d, struct psm_grant *g)
{
	if (expect(d, "grant") < 0 ||
	    get_str(d, "id", T_ID, g->id, sizeof g->id, false) < 0 ||
	    get_u64(d, "serial", UINT64_MAX, &g->serial) < 0 ||
	    get_str(d, "user", T_NAME, g->user, sizeof g->user, false) < 0 ||
	    get_u64(d, "uid", UINT32_MAX, &g->uid) < 0 ||
	    get_str(d, "role", T_NAME, g->role, sizeof g->role, false) < 0 ||
	    get_str(d, "account", T_NAME, g->account, sizeof g->account, false) < 0 ||
	    get_str(d, "target", T_HOST, g->target, sizeof g->target, false) < 0 ||
	    get_text(d, "command", PSM_GRANT_COMMAND_MAX, &g->command, true) < 0 ||
	    get_text(d, "ticket", PSM_GRANT_TEXT_MAX, &g->ticket, true) < 0 ||
	    get_text(d, "reason", PSM_GRANT_TEXT_MAX, &g->reason, false) < 0 ||
	    get_time(d, "requested", &g->requested) < 0 ||
	    grant_approvers(d, g) < 0 ||
	    get_time(d, "issued", &g->issued) < 0 ||
	    get_time(d, "not_before", &g->not_before) < 0 ||
	    get_time(d, "expires", &g->expires) < 0 ||
	    grant_flags(d, g) < 0 ||
	    get_str(d, "ca", T_KEYID, g->ca, sizeof g->ca, false) < 0)
		return -1;
	if (g->expires <= g->not_before || g->expires - g->not_before > PSM_GRANT_TTL_MAX)
		return psm_fail(d->e, PSM_E_DATA, "grant: its window is empty or over 7 days");
	return 0;
}

int
psm_grant_parse(struct psm_grant *g, const char *line, size_t n, const struct psm_pubkey *ca,
    struct psm_error *e)
{
	struct doc d;
	unsigned char sig[64];
	size_t body;
	int rc = -1;

	memset(g, 0, sizeof *g);
	d.obj = jv_null();
	if (split_signed(line, n, &body, sig, "grant", e) < 0 || doc_open(&d, line, n, "grant", e) < 0 ||
	    grant_fields(&d, g) < 0)
		goto out;
	if (strcmp(g->ca, ca->id) != 0) {
		psm_fail(e, PSM_E_NO, "grant %s was issued by key %s, not by %s", g->id, g->ca, ca->id);
		goto out;
	}
	if (!sig_valid_over(sig, grant_domain, "", 0, line, body, ca)) {
		psm_fail(e, PSM_E_NO, "grant %s: bad signature (changed after it was issued, or not "
		    "issued by key %s)", g->id, ca->id);
		goto out;
	}
	g->line = copy_line(line, n);
	g->len = n;
	rc = 0;
out:
	jv_free(d.obj);
	if (rc < 0)
		psm_grant_free(g);
	return rc;
}

/* The whole file, at most max bytes, as a string. */
static int
read_small_file(const char *path, size_t max, char **text, size_t *n, struct psm_error *e)
{
	struct psm_buf b = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return psm_fail_errno(e, "%s", path);
	for (;;) {
		psm_buf_reserve(&b, 65536);
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			psm_fail_errno(e, "%s", path);
			break;
		}
		if (r == 0) {
			close(fd);
			psm_buf_addc(&b, '\0');
			*text = b.data;
			*n = b.len - 1;
			return 0;
		}
		b.len += (size_t)r;
		if (b.len > max) {
			psm_fail(e, PSM_E_DATA, "%s: over %zu bytes", path, max);
			break;
		}
	}
	close(fd);
	psm_buf_free(&b);
	return -1;
}

int
psm_grant_load(struct psm_grant *g, const char *path, const struct psm_pubkey *ca,
    struct psm_error *e)
{
	char *text;
	size_t n;

	memset(g, 0, sizeof *g);
	if (read_small_file(path, PSM_GRANT_LINE_MAX + 1, &text, &n, e) < 0)
		return -1;
	size_t len = strcspn(text, "\n");
	int rc = 0;
	if (len == 0)
		rc = psm_fail(e, PSM_E_DATA, "%s:1: empty, not a grant", path);
	else if (len < n && len + 1 < n)
		rc = psm_fail(e, PSM_E_DATA, "%s:2: a grant file has one line", path);
	else if (psm_grant_parse(g, text, len, ca, e) < 0) {
		psm_error_prefix(e, "%s:1", path);
		rc = -1;
	}
	free(text);
	return rc;
}

void
psm_grant_free(struct psm_grant *g)
{
	free(g->command);
	free(g->ticket);
	free(g->reason);
	free(g->approvers);
	free(g->flags);
	free(g->line);
	g->command = g->ticket = g->reason = g->approvers = g->flags = g->line = NULL;
}

const char *
psm_grant_outside(const struct psm_grant *g, int64_t now)
{
	if (now + PSM_GRANT_SKEW < g->not_before)
		return "not valid yet";
	if (now >= g->expires)
		return "expired";
	return NULL;
}

/* The host's name, or its first label, is the grant's target (case does not matter). */
bool
psm_grant_for_host(const struct psm_grant *g, const char *hostname)
{
	size_t n = strlen(g->target), label = strcspn(hostname, ".");

	if (strcasecmp(g->target, hostname) == 0)
		return true;
	return strchr(g->target, '.') == NULL && n == label && strncasecmp(g->target, hostname, n) == 0;
}

/* ---- revocation lists ---- */

struct revoked_item { char id[PSM_SID_LEN + 1]; };

static int
revoked_line(struct psm_revoked *r, const char *line, size_t n, const struct psm_pubkey *ca,
    struct psm_error *e)
{
	struct doc d;
	unsigned char sig[64];
	size_t body;
	char id[PSM_SID_LEN + 1], by[PSM_KEYID_LEN + 1];
	int64_t t;
	uint64_t serial;
	char *reason = NULL;
	int rc = -1;

	d.obj = jv_null();
	if (split_signed(line, n, &body, sig, "revocation", e) < 0 ||
	    doc_open(&d, line, n, "revocation", e) < 0 || expect(&d, "revoked") < 0 ||
	    get_str(&d, "grant", T_ID, id, sizeof id, false) < 0 ||
	    get_u64(&d, "serial", UINT64_MAX, &serial) < 0 || get_time(&d, "time", &t) < 0 ||
	    get_text(&d, "reason", PSM_GRANT_TEXT_MAX, &reason, true) < 0 ||
	    get_str(&d, "ca", T_KEYID, by, sizeof by, false) < 0)
		goto out;
	if (strcmp(by, ca->id) != 0 || !sig_valid_over(sig, revoked_domain, "", 0, line, body, ca)) {
		psm_fail(e, PSM_E_NO, "bad signature (not signed by key %s)", ca->id);
		goto out;
	}
	if (psm_table_find(&r->ids, id) == NULL)
		psm_table_add(&r->ids, id);
	rc = 0;
out:
	free(reason);
	jv_free(d.obj);
	return rc;
}

int
psm_revoked_parse(struct psm_revoked *r, const char *text, size_t n, const char *name,
    const struct psm_pubkey *ca, struct psm_error *e)
{
	const char *p = text, *end = text + n;

	psm_table_init(&r->ids, sizeof(struct revoked_item));
	r->lines = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		r->lines++;
		if (nl == NULL) {
			psm_revoked_free(r);
			return psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": the last line is not whole",
			    name, r->lines);
		}
		if (revoked_line(r, p, len, ca, e) < 0) {
			psm_error_prefix(e, "%s:%" PRIu64, name, r->lines);
			psm_revoked_free(r);
			return -1;
		}
		p = nl + 1;
	}
	return 0;
}

int
psm_revoked_load(struct psm_revoked *r, const char *path, const struct psm_pubkey *ca,
    bool missing_ok, struct psm_error *e)
{
	char *text;
	size_t n;

	if (read_small_file(path, REVOKED_FILE_MAX, &text, &n, e) < 0) {
		if (missing_ok && e->errnum == ENOENT) {
			psm_table_init(&r->ids, sizeof(struct revoked_item));
			r->lines = 0;
			return 0;
		}
		return -1;
	}
	int rc = psm_revoked_parse(r, text, n, path, ca, e);
	free(text);
	return rc;
}

bool
psm_revoked_has(const struct psm_revoked *r, const char *grant_id)
{
	return psm_sid_valid(grant_id, strlen(grant_id)) && psm_table_find(&r->ids, grant_id) != NULL;
}

void
psm_revoked_free(struct psm_revoked *r)
{
	psm_table_free(&r->ids);
}
