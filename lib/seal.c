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

/* Lower-case hex only, exactly 2n digits. */
int
psm_unhex(unsigned char *out, size_t n, const char *hex, size_t len)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = hex[i];
		int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return 0;
}

/* The text psm-seal adds to a line: ,"h":"<64 hex>"} */
size_t
psm_seal_suffix(char *out, const unsigned char head[32])
{
	memcpy(out, ",\"h\":\"", 6);
	psm_hex(out + 6, head, 32);
	memcpy(out + 70, "\"}", 3);
	return PSM_SEAL_SUFFIX_LEN;
}

/*
 * If line ends with psm-seal's suffix: the length of the text before it
 * (the line as it was is that text and "}") and the hash it states.
 */
bool
psm_seal_split(const char *line, size_t len, size_t *before, unsigned char h[32])
{
	if (len < PSM_SEAL_SUFFIX_LEN + 1)
		return false;
	const char *s = line + len - PSM_SEAL_SUFFIX_LEN;
	if (memcmp(s, ",\"h\":\"", 6) != 0 || memcmp(s + 70, "\"}", 2) != 0 ||
	    psm_unhex(h, 32, s + 6, 64) < 0)
		return false;
	*before = len - PSM_SEAL_SUFFIX_LEN;
	return true;
}
