/* b64.c: base64 (RFC 4648, standard alphabet, padded); strict decoding. */
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
 * Append the decoded bytes to out. Refuses anything but canonical base64:
 * a length that is a multiple of 4, padding only at the end, and unused
 * bits of the last group zero (so each byte string has one encoding).
 */
int
psm_b64_decode(struct psm_buf *out, const char *in, size_t n)
{
	if (n % 4 != 0)
		return -1;
	psm_buf_reserve(out, n / 4 * 3);
	for (size_t i = 0; i < n; i += 4) {
		int a = sextet(in[i]), b = sextet(in[i + 1]);
		int c = sextet(in[i + 2]), d = sextet(in[i + 3]);
		bool last = i + 4 == n;

		if (a < 0 || b < 0)
			return -1;
		if (last && in[i + 2] == '=' && in[i + 3] == '=') {
			if (b & 15)
				return -1;
			psm_buf_addc(out, (char)(a << 2 | b >> 4));
			break;
		}
		if (last && c >= 0 && in[i + 3] == '=') {
			if (c & 3)
				return -1;
			psm_buf_addc(out, (char)(a << 2 | b >> 4));
			psm_buf_addc(out, (char)((b & 15) << 4 | c >> 2));
			break;
		}
		if (c < 0 || d < 0)
			return -1;
		psm_buf_addc(out, (char)(a << 2 | b >> 4));
		psm_buf_addc(out, (char)((b & 15) << 4 | c >> 2));
		psm_buf_addc(out, (char)((c & 3) << 6 | d));
	}
	return 0;
}
