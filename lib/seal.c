/*
 * seal.c: the text psm-seal adds to each line, and taking it off again.
 * (No hashing here: readers that only look at the text need no OpenSSL.)
 */
#include <string.h>

#include "psm.h"

void
psm_hex(char *out, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* One more than the value of a lower-case hex digit; 0 for any other byte. */
static const unsigned char nibble1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13,
	['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* Lower-case hex only, exactly 2n digits. */
int
psm_unhex(unsigned char *out, size_t n, const char *hex, size_t len)
{
	unsigned bad = 0;

	if (len != 2 * n)
		return -1;
	/* A table and no branch per digit: every sealed line has 64 of them. */
	for (size_t i = 0; i < n; i++) {
		unsigned hi = nibble1[(unsigned char)hex[2 * i]];
		unsigned lo = nibble1[(unsigned char)hex[2 * i + 1]];
		bad |= (unsigned)(hi == 0) | (unsigned)(lo == 0);
		out[i] = (unsigned char)((hi - 1) << 4 | ((lo - 1) & 15));
	}
	return bad ? -1 : 0;
}

/*
 * The text psm-seal adds to a line: the tag of its sealed stream (the
 * first 8 characters of the stream's id), by which a reader finds the
 * stream without trying them all, then its chain hash:
 *     ,"chain":"<8 hex>","h":"<64 hex>"}
 */
size_t
psm_seal_suffix(char *out, const char *stream_id, const unsigned char head[32])
{
	memcpy(out, ",\"chain\":\"", 10);
	memcpy(out + 10, stream_id, PSM_SEAL_TAG_LEN);
	memcpy(out + 18, "\",\"h\":\"", 7);
	psm_hex(out + 25, head, 32);
	memcpy(out + 89, "\"}", 3);
	return PSM_SEAL_SUFFIX_LEN;
}

static bool
is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (nibble1[(unsigned char)p[i]] == 0)
			return false;
	return true;
}

/*
 * If line ends with psm-seal's suffix: the length of the text before it
 * (the line as it was is that text and "}"), the stream's tag and the
 * hash it states.
 */
bool
psm_seal_split(const char *line, size_t len, size_t *before, char tag[PSM_SEAL_TAG_LEN + 1],
    unsigned char h[32])
{
	if (len < PSM_SEAL_SUFFIX_LEN + 1)
		return false;
	const char *s = line + len - PSM_SEAL_SUFFIX_LEN;
	if (memcmp(s, ",\"chain\":\"", 10) != 0 || !is_hex(s + 10, PSM_SEAL_TAG_LEN) ||
	    memcmp(s + 18, "\",\"h\":\"", 7) != 0 || memcmp(s + 89, "\"}", 2) != 0 ||
	    psm_unhex(h, 32, s + 25, 64) < 0)
		return false;
	memcpy(tag, s + 10, PSM_SEAL_TAG_LEN);
	tag[PSM_SEAL_TAG_LEN] = '\0';
	*before = len - PSM_SEAL_SUFFIX_LEN;
	return true;
}
