/* b64.c: base64 (RFC 4648, standard alphabet, padded); strict decoding. */
#include <string.h>

#include "psm.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
psm_b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
psm_b64_encode(char *out, const unsigned char *in, size_t n)
{
	char *o = out;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	return (size_t)(o - out);
}

static int
sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode into out (room for cap bytes): the one decoder, which writes
 * nowhere else, so that secret bytes can go straight into sodium memory.
 * Refuses anything but canonical base64: a length that is a multiple of
 * 4, padding only at the end, and unused bits of the last group zero (so
 * each byte string has one encoding). 0 and *outlen, or -1.
 */
int
psm_b64_decode_to(unsigned char *out, size_t cap, const char *in, size_t n, size_t *outlen)
{
	size_t o = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int a = sextet(in[i]), b = sextet(in[i + 1]);
		int c = sextet(in[i + 2]), d = sextet(in[i + 3]);
		bool last = i + 4 == n;
		unsigned char g[3];
		size_t k;

		if (a < 0 || b < 0)
			return -1;
		if (last && in[i + 2] == '=' && in[i + 3] == '=') {
			if (b & 15)
				return -1;
			k = 1;
		} else if (last && c >= 0 && in[i + 3] == '=') {
			if (c & 3)
				return -1;
			k = 2;
		} else if (c < 0 || d < 0) {
			return -1;
		} else {
			k = 3;
		}
		if (cap - o < k)
			return -1;
		g[0] = (unsigned char)(a << 2 | b >> 4);
		g[1] = (unsigned char)((b & 15) << 4 | (c > 0 ? c : 0) >> 2);
		g[2] = (unsigned char)(((c > 0 ? c : 0) & 3) << 6 | (d > 0 ? d : 0));
		memcpy(out + o, g, k);
		o += k;
	}
	*outlen = o;
	return 0;
}

/* Append the decoded bytes to out (psm_b64_decode_to's rules). */
int
psm_b64_decode(struct psm_buf *out, const char *in, size_t n)
{
	size_t got;

	if (n < 4)	/* "" or malformed; out may have no memory yet, to point past */
		return n == 0 ? 0 : -1;
	psm_buf_reserve(out, n / 4 * 3);
	if (psm_b64_decode_to((unsigned char *)out->data + out->len, n / 4 * 3,
	    in, n, &got) < 0)
		return -1;
	out->len += got;
	return 0;
}
