/*
 * reader.c: the strict streaming reader of psm's JSON lines.
 *
 * psm_event_parse() checks one line against RFC 8259 (strings, escapes,
 * numbers, UTF-8) without building a tree: each top-level key keeps a
 * pointer to its raw value inside the line, which stays the caller's.
 * The fields every event must have (sid, seq, t, type) are checked and
 * decoded. Nothing is allocated, so a bad line cannot leak.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psm.h"

#define NEST_MAX 16

struct parser {
	const char *p, *end;
	const char *err;
};

static bool
fail(struct parser *ps, const char *msg)
{
	if (ps->err == NULL)
		ps->err = msg;
	return false;
}

static void
skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* A hex digit's value plus one; 0 for any other byte. */
static const unsigned char hex_plus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Four hex digits at p (end permitting), or -1. */
static long
hex4(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;

	if (end - p < 4)
		return -1;
	unsigned a = hex_plus1[u[0]], b = hex_plus1[u[1]], c = hex_plus1[u[2]], d = hex_plus1[u[3]];
	if (a == 0 || b == 0 || c == 0 || d == 0)
		return -1;
	return (long)((a - 1) << 12 | (b - 1) << 8 | (c - 1) << 4 | (d - 1));
}

/* After a backslash at p[-1]: check one escape and move past it. */
static bool
check_escape(struct parser *ps)
{
	const char *p = ps->p;

	if (p >= ps->end)
		return fail(ps, "unterminated string");
	switch (*p) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
		ps->p = p + 1;
		return true;
	case 'u':
		break;
	default:
		return fail(ps, "invalid escape in string");
	}
	long u = hex4(p + 1, ps->end);
	if (u < 0)
		return fail(ps, "invalid \\u escape in string");
	p += 5;
	if (u >= 0xdc00 && u <= 0xdfff)
		return fail(ps, "unpaired surrogate in string");
	if (u >= 0xd800 && u <= 0xdbff) {
		long lo = (ps->end - p >= 2 && p[0] == '\\' && p[1] == 'u') ?
		    hex4(p + 2, ps->end) : -1;
		if (lo < 0xdc00 || lo > 0xdfff)
			return fail(ps, "unpaired surrogate in string");
		p += 6;
	}
	ps->p = p;
	return true;
}

static inline bool
little_endian(void)
{
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

/*
 * Marks (high bit of the byte) of the bytes at p that end a plain run in
 * a string: '"', backslash, a control byte, or a byte >= 0x80. Exact for
 * each byte, so the first mark says where to stop.
 */
static inline uint64_t
stops8(const char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	uint64_t control = psm_control_bytes(w);
	return control | (w & PSM_HIGHS) | psm_zero_bytes(w ^ (PSM_ONES * '"')) |
	    psm_zero_bytes(w ^ (PSM_ONES * '\\'));
}

/*
 * A string at ps->p (which is at its '"'); its inside goes to *s, *n.
 * Escapes and UTF-8 are checked in the same pass.
 */
static bool
parse_string(struct parser *ps, const char **s, size_t *n)
{
	const char *p = ps->p + 1, *end = ps->end;
	const char *start = p;
	bool cut;

	for (;;) {
		while (little_endian() && end - p >= 8) {
			uint64_t m = stops8(p);
			if (m != 0) {
				p += __builtin_ctzll(m) >> 3;	/* little-endian: first byte lowest */
				break;
			}
			p += 8;
		}
		if (p >= end)
			return fail(ps, "unterminated string");
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(ps, "control character in string");
		if (c == '\\') {
			ps->p = p + 1;
			if (!check_escape(ps))
				return false;
			p = ps->p;
		} else if (c >= 0x80) {
			size_t len = psm_utf8_sequence_len((const unsigned char *)p,
			    (size_t)(end - p), &cut);
			if (len == 0)
				return fail(ps, "invalid UTF-8 in string");
			p += len;
		} else {
			p++;
		}
	}
	*s = start;
	*n = (size_t)(p - start);
	ps->p = p + 1;
	return true;
}

static bool
digits(struct parser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

static bool
parse_number(struct parser *ps)
{
	if (*ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!digits(ps))
		return fail(ps, "invalid number");
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digits(ps))
			return fail(ps, "invalid number");
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps))
			return fail(ps, "invalid number");
	}
	return true;
}

static bool
parse_literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, "unexpected character");
	ps->p += n;
	return true;
}

static bool parse_value(struct parser *ps, int depth, enum psm_jtype *type);

/* An array or object (ps->p at its opening bracket), checked, not kept. */
static bool
parse_container(struct parser *ps, int depth, char close)
{
	const char *s;
	size_t n;
	enum psm_jtype type;

	if (depth >= NEST_MAX)
		return fail(ps, "nested too deeply");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		skip_ws(ps);
		if (close == '}') {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected a key");
			if (!parse_string(ps, &s, &n))
				return false;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p++ != ':')
				return fail(ps, "expected ':'");
			skip_ws(ps);
		}
		if (!parse_value(ps, depth + 1, &type))
			return false;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return fail(ps, "unterminated array or object");
		if (*ps->p == close) {
			ps->p++;
			return true;
		}
		if (*ps->p++ != ',')
			return fail(ps, "expected ',' or a closing bracket");
	}
}

static bool
parse_value(struct parser *ps, int depth, enum psm_jtype *type)
{
	const char *s;
	size_t n;

	if (ps->p >= ps->end)
		return fail(ps, "expected a value");
	switch (*ps->p) {
	case '"':
		*type = PSM_J_STR;
		return parse_string(ps, &s, &n);
	case '{':
		*type = PSM_J_OBJ;
		return parse_container(ps, depth, '}');
	case '[':
		*type = PSM_J_ARR;
		return parse_container(ps, depth, ']');
	case 't':
		*type = PSM_J_TRUE;
		return parse_literal(ps, "true");
	case 'f':
		*type = PSM_J_FALSE;
		return parse_literal(ps, "false");
	case 'n':
		*type = PSM_J_NULL;
		return parse_literal(ps, "null");
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
			*type = PSM_J_NUM;
			return parse_number(ps);
		}
		return fail(ps, "unexpected character");
	}
}

static bool
key_is(const struct psm_field *f, const char *key)
{
	size_t n = strlen(key);

	return f->keylen == n && memcmp(f->key, key, n) == 0;
}

const struct psm_field *
psm_event_get(const struct psm_event *ev, const char *key)
{
	for (int i = 0; i < ev->nf; i++)
		if (key_is(&ev->f[i], key))
			return &ev->f[i];
	return NULL;
}

bool
psm_event_is(const struct psm_event *ev, const char *type)
{
	return strcmp(ev->type, type) == 0;
}

/* One top-level member: "key":value. */
static bool
parse_member(struct parser *ps, struct psm_event *ev)
{
	struct psm_field *f;
	const char *start;

	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, "expected a key");
	if (ev->nf >= PSM_FIELDS_MAX)
		return fail(ps, "too many keys");
	f = &ev->f[ev->nf];
	if (!parse_string(ps, &f->key, &f->keylen))
		return false;
	if (memchr(f->key, '\\', f->keylen) != NULL)
		return fail(ps, "escaped key");
	for (int i = 0; i < ev->nf; i++)
		if (ev->f[i].keylen == f->keylen &&
		    memcmp(ev->f[i].key, f->key, f->keylen) == 0)
			return fail(ps, "duplicate key");
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p++ != ':')
		return fail(ps, "expected ':'");
	skip_ws(ps);
	start = ps->p;
	if (!parse_value(ps, 1, &f->type))
		return false;
	f->val = start;
	f->vallen = (size_t)(ps->p - start);
	if (f->type == PSM_J_STR) {
		f->val++;
		f->vallen -= 2;
	}
	ev->nf++;
	return true;
}

/* The four fields every event has, decoded into ev. */
static const char *
check_envelope(struct psm_event *ev)
{
	const struct psm_field *sid = psm_event_get(ev, "sid");
	const struct psm_field *seq = psm_event_get(ev, "seq");
	const struct psm_field *t = psm_event_get(ev, "t");
	const struct psm_field *type = psm_event_get(ev, "type");

	if (sid == NULL || seq == NULL || t == NULL || type == NULL)
		return "not a psm event (sid, seq, t and type are required)";
	if (sid->type != PSM_J_STR || !psm_sid_valid(sid->val, sid->vallen))
		return "\"sid\" is not a lower-case UUID";
	if (psm_field_u64(seq, &ev->seq) < 0)
		return "\"seq\" is not a non-negative integer";
	if (psm_field_u64(t, &ev->t) < 0)
		return "\"t\" is not a non-negative integer";
	if (type->type != PSM_J_STR || type->vallen == 0 ||
	    type->vallen >= sizeof ev->type)
		return "\"type\" is not a short string";
	for (size_t i = 0; i < type->vallen; i++) {
		char c = type->val[i];
		if (!((c >= 'a' && c <= 'z') || c == '-'))
			return "\"type\" is not a short string";
	}
	memcpy(ev->sid, sid->val, PSM_SID_LEN);
	ev->sid[PSM_SID_LEN] = '\0';
	memcpy(ev->type, type->val, type->vallen);
	ev->type[type->vallen] = '\0';
	return NULL;
}

/* The checks of one line; NULL, or what is wrong. */
static const char *
parse_line(struct psm_event *ev, const char *line, size_t len)
{
	struct parser ps = { line, line + len, NULL };

	ev->line = line;
	ev->len = len;
	ev->nf = 0;
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return len == 0 ? "empty line" : "not a JSON object";
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == '}') {
		ps.p++;
	} else {
		for (;;) {
			skip_ws(&ps);
			if (!parse_member(&ps, ev))
				return ps.err;
			skip_ws(&ps);
			if (ps.p >= ps.end)
				return "unterminated object";
			if (*ps.p == '}') {
				ps.p++;
				break;
			}
			if (*ps.p++ != ',')
				return "expected ',' or '}'";
		}
	}
	skip_ws(&ps);
	if (ps.p != ps.end)
		return "text after the object";
	return check_envelope(ev);
}

/*
 * Parse one line (without its newline). 0, or -1 with what is wrong
 * (PSM_E_DATA); ev then holds nothing useful.
 */
int
psm_event_parse(struct psm_event *ev, const char *line, size_t len, struct psm_error *e)
{
	const char *why = parse_line(ev, line, len);

	return why == NULL ? 0 : psm_fail(e, PSM_E_DATA, "%s", why);
}

int
psm_field_u64(const struct psm_field *f, uint64_t *out)
{
	uint64_t v = 0;

	if (f == NULL || f->type != PSM_J_NUM || f->vallen == 0 || f->vallen > 20)
		return -1;
	for (size_t i = 0; i < f->vallen; i++) {
		char c = f->val[i];
		if (c < '0' || c > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(c - '0');
	}
	*out = v;
	return 0;
}

int
psm_field_i64(const struct psm_field *f, int64_t *out)
{
	struct psm_field abs;
	uint64_t v;
	bool neg;

	if (f == NULL || f->type != PSM_J_NUM || f->vallen == 0)
		return -1;
	abs = *f;
	neg = f->val[0] == '-';
	if (neg) {
		abs.val++;
		abs.vallen--;
	}
	if (psm_field_u64(&abs, &v) < 0 || v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* The UTF-8 form of code point cp at o; returns the end. */
static char *
put_utf8(char *o, unsigned long cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* One escape after its backslash at p; the byte(s) go to *o. Returns the end of the escape. */
static const char *
decode_escape(const char *p, const char *end, char **o)
{
	switch (*p++) {
	case 'b': *(*o)++ = '\b'; return p;
	case 'f': *(*o)++ = '\f'; return p;
	case 'n': *(*o)++ = '\n'; return p;
	case 'r': *(*o)++ = '\r'; return p;
	case 't': *(*o)++ = '\t'; return p;
	case 'u': {
		unsigned long cp = (unsigned long)hex4(p, end);
		p += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			unsigned long lo = (unsigned long)hex4(p + 2, end);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		*o = put_utf8(*o, cp);
		return p;
	}
	default: *(*o)++ = p[-1]; return p;
	}
}

/*
 * Append the bytes a string field stands for. The parser has checked the
 * escapes already, so this only decodes, eight bytes at a time between
 * backslashes (terminal output has an escape every few dozen bytes). The
 * bytes never outnumber the text, so room is made once.
 */
int
psm_field_str(const struct psm_field *f, struct psm_buf *out)
{
	const char *p, *end;
	char *o;

	if (f == NULL || f->type != PSM_J_STR)
		return -1;
	p = f->val;
	end = f->val + f->vallen;
	psm_buf_reserve(out, f->vallen + 8);
	o = out->data + out->len;
	while (p < end) {
		if (little_endian() && end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			uint64_t m = psm_zero_bytes(w ^ (PSM_ONES * '\\'));
			memcpy(o, p, 8);	/* the whole word: out has room */
			size_t run = m ? (size_t)__builtin_ctzll(m) >> 3 : 8;
			o += run;
			p += run;
			if (run == 8)
				continue;
		}
		if (*p == '\\')
			p = decode_escape(p + 1, end, &o);
		else
			*o++ = *p++;
	}
	out->len = (size_t)(o - out->data);
	return 0;
}

/* The terminal bytes of an in, out or err event: "data" or "b64", one of them. */
int
psm_event_payload(const struct psm_event *ev, struct psm_buf *out, struct psm_error *e)
{
	const struct psm_field *data = psm_event_get(ev, "data");
	const struct psm_field *b64 = psm_event_get(ev, "b64");
	size_t before = out->len;

	if ((data == NULL) == (b64 == NULL))
		return psm_fail(e, PSM_E_DATA, "event has neither or both of \"data\" and \"b64\"");
	if (data != NULL) {
		if (psm_field_str(data, out) < 0)
			return psm_fail(e, PSM_E_DATA, "\"data\" is not a string");
	} else if (b64->type != PSM_J_STR ||
	    psm_b64_decode(out, b64->val, b64->vallen) < 0) {
		out->len = before;
		return psm_fail(e, PSM_E_DATA, "\"b64\" is not canonical base64");
	}
	if (out->len - before > PSM_PAYLOAD_MAX) {
		out->len = before;
		return psm_fail(e, PSM_E_DATA, "payload over 64 KiB");
	}
	return 0;
}

/*
 * The checks of psm_event_payload without its copy where it can: a string
 * is never shorter than what it stands for, so a short one is in bounds.
 */
int
psm_event_payload_check(const struct psm_event *ev, struct psm_buf *scratch, struct psm_error *e)
{
	const struct psm_field *data = psm_event_get(ev, "data");

	if (data != NULL && data->type == PSM_J_STR && data->vallen <= PSM_PAYLOAD_MAX &&
	    psm_event_get(ev, "b64") == NULL)
		return 0;
	scratch->len = 0;
	return psm_event_payload(ev, scratch, e);
}

void
psm_lines_init(struct psm_lines *r, int fd, const char *name)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->name = name;
	r->max = PSM_SEALED_LINE_MAX;
}

/* The longest line taken (PSM_SEALED_LINE_MAX by default). */
void
psm_lines_set_max(struct psm_lines *r, size_t max)
{
	r->max = max;
}

/*
 * A live input: read only after the caller's poll says so, so that the
 * caller can do other work (a checkpoint) while it is idle.
 */
void
psm_lines_wait_before_read(struct psm_lines *r, bool wait)
{
	r->wait_before_read = wait;
}

void
psm_lines_may_read(struct psm_lines *r)
{
	r->may_read = true;
}

/*
 * Over the reader's maximum: always. Over 1 MiB: only a sealed line, by
 * what psm-seal added to it. (The maximum is checked first: a line below
 * 1 MiB used to pass a smaller psm_lines_set_max() whenever its newline
 * came in the same read; tests/lib/test-reader.c.)
 */
static bool
too_long(const struct psm_lines *r, const char *line, size_t n)
{
	size_t before;
	unsigned char h[32];
	char tag[PSM_SEAL_TAG_LEN + 1];

	if (n > r->max)
		return true;
	if (n <= PSM_LINE_MAX)
		return false;
	return !psm_seal_split(line, n, &before, tag, h);
}

/* Make room to read more: slide the pending line down, or grow. */
static void
make_room(struct psm_lines *r)
{
	if (r->start > 0 && (r->end == r->cap || r->start > r->cap / 2)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->scanned -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 128 * 1024;
		if (cap > r->max + 128 * 1024)
			cap = r->max + 128 * 1024;
		r->buf = xrealloc(r->buf, cap);
		r->cap = cap;
	}
}

/*
 * The next line, without its newline, valid until the next call. At the
 * end of input inside a line it returns PSM_LINE_PARTIAL and keeps what it
 * has: a caller that follows a growing file may call again later.
 */
int
psm_lines_next(struct psm_lines *r, const char **line, size_t *len)
{
	for (;;) {
		char *nl = r->scanned < r->end ?
		    memchr(r->buf + r->scanned, '\n', r->end - r->scanned) : NULL;

		if (nl != NULL) {
			size_t n = (size_t)(nl - (r->buf + r->start));
			r->lineno++;
			if (too_long(r, r->buf + r->start, n))
				return PSM_LINE_TOOLONG;
			*line = r->buf + r->start;
			*len = n;
			r->start = r->scanned = (size_t)(nl - r->buf) + 1;
			return PSM_LINE_OK;
		}
		r->scanned = r->end;
		if (r->end - r->start > r->max) {
			r->lineno++;
			return PSM_LINE_TOOLONG;
		}
		if (r->wait_before_read && !r->may_read)
			return PSM_LINE_WAIT;	/* the caller polls, then sets may_read */
		r->may_read = false;
		make_room(r);
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return PSM_LINE_ERROR;
		}
		if (n == 0)
			return r->end > r->start ? PSM_LINE_PARTIAL : PSM_LINE_EOF;
		r->end += (size_t)n;
	}
}

void
psm_lines_free(struct psm_lines *r)
{
	free(r->buf);
	r->buf = NULL;
}
