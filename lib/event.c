/*
 * event.c: psm's deterministic event writer.
 *
 * One escaping for every writer: '"' and '\\' are backslashed, \b \f \n \r
 * \t have their short forms, other bytes below 0x20 and DEL are \u00XX,
 * and everything else (UTF-8 included) is copied as it is. Keys are written
 * in the order the caller adds them, with no whitespace.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "psm.h"

static bool
needs_escape(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

/* Write the escape of c at o; returns the end. */
static char *
put_escape(char *o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	*o++ = '\\';
	switch (c) {
	case '"': *o++ = '"'; return o;
	case '\\': *o++ = '\\'; return o;
	case '\b': *o++ = 'b'; return o;
	case '\f': *o++ = 'f'; return o;
	case '\n': *o++ = 'n'; return o;
	case '\r': *o++ = 'r'; return o;
	case '\t': *o++ = 't'; return o;
	}
	memcpy(o, "u00", 3);
	o[3] = hex[c >> 4];
	o[4] = hex[c & 15];
	return o + 5;
}

/*
 * Marks (high bit of the byte) of the bytes at p that need escaping: a
 * control byte, '"', backslash or DEL. Exact for each byte, so the first
 * mark is where the plain run ends. Bytes >= 0x80 are plain: the caller
 * has checked that they are UTF-8.
 */
static inline uint64_t
escapes8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	uint64_t control = psm_control_bytes(w);
	return control | psm_zero_bytes(w ^ (PSM_ONES * '"')) | psm_zero_bytes(w ^ (PSM_ONES * '\\')) |
	    psm_zero_bytes(w ^ (PSM_ONES * 0x7f));
}

/*
 * A JSON string of n bytes that the caller knows to be valid UTF-8,
 * written straight into the buffer (room for the worst case, six bytes
 * for each, is made once).
 */
void
psm_json_string(struct psm_buf *b, const void *s, size_t n)
{
	const unsigned char *p = s, *end = p + n;
	char *o;

	psm_buf_reserve(b, 6 * n + 2);
	o = b->data + b->len;
	*o++ = '"';
	while (p < end) {
		if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && end - p >= 8) {
			uint64_t m = escapes8(p);
			size_t run = m ? (size_t)__builtin_ctzll(m) >> 3 : 8;
			memcpy(o, p, 8);	/* the whole word: o has room */
			o += run;
			p += run;
			if (run == 8)
				continue;
		}
		if (needs_escape(*p))
			o = put_escape(o, *p);
		else
			*o++ = (char)*p;
		p++;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
}

static void
add_key(struct psm_buf *b, const char *key)
{
	psm_buf_add(b, ",\"", 2);
	psm_buf_adds(b, key);
	psm_buf_add(b, "\":", 2);
}

static void
add_u64(struct psm_buf *b, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRIu64, v);

	psm_buf_add(b, num, (size_t)n);
}

void
psm_ev_begin(struct psm_buf *b, const char *sid, uint64_t seq, uint64_t t,
    const char *type)
{
	psm_buf_adds(b, "{\"sid\":\"");
	psm_buf_adds(b, sid);
	psm_buf_adds(b, "\",\"seq\":");
	add_u64(b, seq);
	psm_buf_adds(b, ",\"t\":");
	add_u64(b, t);
	psm_buf_adds(b, ",\"type\":\"");
	psm_buf_adds(b, type);
	psm_buf_addc(b, '"');
}

/*
 * Text that psm did not make (a host name, a cwd, argv) may be any bytes:
 * invalid UTF-8 is kept as base64 under KEY_b64 rather than lost.
 */
void
psm_ev_strn(struct psm_buf *b, const char *key, const void *val, size_t n)
{
	if (psm_utf8_valid(val, n)) {
		add_key(b, key);
		psm_json_string(b, val, n);
		return;
	}
	psm_buf_add(b, ",\"", 2);
	psm_buf_adds(b, key);
	psm_buf_adds(b, "_b64\":\"");
	psm_buf_reserve(b, psm_b64_encoded_len(n) + 1);
	b->len += psm_b64_encode(b->data + b->len, val, n);
	psm_buf_addc(b, '"');
}

void
psm_ev_str(struct psm_buf *b, const char *key, const char *val)
{
	psm_ev_strn(b, key, val, strlen(val));
}

void
psm_ev_u64(struct psm_buf *b, const char *key, uint64_t val)
{
	add_key(b, key);
	add_u64(b, val);
}

void
psm_ev_null(struct psm_buf *b, const char *key)
{
	add_key(b, key);
	psm_buf_add(b, "null", 4);
}

void
psm_ev_bool(struct psm_buf *b, const char *key, bool val)
{
	add_key(b, key);
	psm_buf_adds(b, val ? "true" : "false");
}

/* An array of strings; an element that is not UTF-8 is replaced by its base64 form in an object. */
void
psm_ev_strv(struct psm_buf *b, const char *key, char *const *v)
{
	add_key(b, key);
	psm_buf_addc(b, '[');
	for (size_t i = 0; v[i] != NULL; i++) {
		size_t n = strlen(v[i]);

		if (i > 0)
			psm_buf_addc(b, ',');
		if (psm_utf8_valid((const unsigned char *)v[i], n)) {
			psm_json_string(b, v[i], n);
			continue;
		}
		psm_buf_adds(b, "{\"b64\":\"");
		psm_buf_reserve(b, psm_b64_encoded_len(n) + 2);
		b->len += psm_b64_encode(b->data + b->len,
		    (const unsigned char *)v[i], n);
		psm_buf_add(b, "\"}", 2);
	}
	psm_buf_addc(b, ']');
}

/* Terminal bytes: "data" when they are UTF-8, else "b64". */
void
psm_ev_payload(struct psm_buf *b, const void *data, size_t n)
{
	if (psm_utf8_valid(data, n)) {
		psm_buf_adds(b, ",\"data\":");
		psm_json_string(b, data, n);
		return;
	}
	psm_buf_adds(b, ",\"b64\":\"");
	psm_buf_reserve(b, psm_b64_encoded_len(n) + 1);
	b->len += psm_b64_encode(b->data + b->len, data, n);
	psm_buf_addc(b, '"');
}

void
psm_ev_end(struct psm_buf *b)
{
	psm_buf_add(b, "}\n", 2);
}
