/* utf8.c: strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
#include "psm.h"

/*
 * Length of the sequence that starts at p (at most n bytes available), or
 * 0 if it is invalid. *cut is set when the bytes so far are a valid
 * beginning that the end of the buffer cut off.
 */
size_t
psm_utf8_sequence_len(const unsigned char *p, size_t n, bool *cut)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;	/* range of the second byte */

	*cut = false;
	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if (i >= n) {
			*cut = true;
			return 0;
		}
		unsigned char b = p[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			return 0;
	}
	return len;
}

bool
psm_utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;
	bool cut;

	while (i < n) {
		/* Runs of ASCII are the common case: skip them fast. */
		while (i + 8 <= n) {
			uint64_t w;
			__builtin_memcpy(&w, p + i, 8);
			if (w & UINT64_C(0x8080808080808080))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		size_t len = psm_utf8_sequence_len(p + i, n - i, &cut);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

/*
 * How many bytes at the end of p are the valid start of a sequence that
 * the end cut off (0 to 3). A reader keeps them for the next chunk, so a
 * character split across two reads is recorded whole.
 */
size_t
psm_utf8_unfinished_tail(const unsigned char *p, size_t n)
{
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		unsigned char c = p[n - back];
		bool cut;

		if (c < 0x80)
			return 0;
		if (c >= 0xc0) {
			if (psm_utf8_sequence_len(p + n - back, back, &cut) == 0 && cut)
				return back;
			return 0;
		}
	}
	return 0;
}
