/*
 * chain.c: the hash chain of a sealed stream.
 *
 * Each line's hash covers the previous hash and the line's exact bytes as
 * they were before psm-seal added the hash to them:
 *     h_i = SHA-256("psm-chain-v1" NUL || h_{i-1} || bytes_i)
 * and the chain begins from a hash of the stream's id and start time, so
 * a line cannot be moved from one sealed stream to another.
 * SHA-256 is OpenSSL's EVP, which uses the CPU's SHA extensions.
 */
#include <err.h>
#include <string.h>

#include <openssl/evp.h>

#include "psm.h"

static const char chain_tag[] = "psm-chain-v1";		/* hashed with its NUL */
static const char genesis_tag[] = "psm-chain-v1 genesis";

void
psm_chain_init(struct psm_chain *c)
{
	memset(c, 0, sizeof *c);
	c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->ctx = EVP_MD_CTX_new();
	if (c->md == NULL || c->ctx == NULL)
		errx(PSM_EXIT_OS, "SHA-256 is not available from OpenSSL");
}

/* Load OpenSSL's configuration and providers now, before the sandbox. */
void
psm_chain_preload(void)
{
	struct psm_chain c;

	psm_chain_init(&c);
	psm_chain_genesis(&c, "", "");
	psm_chain_free(&c);
}

static void
begin(struct psm_chain *c, const char *tag, size_t taglen)
{
	if (!EVP_DigestInit_ex2(c->ctx, c->md, NULL) ||
	    !EVP_DigestUpdate(c->ctx, tag, taglen))
		errx(PSM_EXIT_OS, "SHA-256 failed");
}

static void
update(struct psm_chain *c, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(c->ctx, p, n))
		errx(PSM_EXIT_OS, "SHA-256 failed");
}

static void
finish(struct psm_chain *c)
{
	if (!EVP_DigestFinal_ex(c->ctx, c->head, NULL))
		errx(PSM_EXIT_OS, "SHA-256 failed");
}

/* The hash before the first line: the stream's id and its start time. */
void
psm_chain_genesis(struct psm_chain *c, const char *stream_id, const char *start)
{
	begin(c, genesis_tag, sizeof genesis_tag);
	update(c, stream_id, strlen(stream_id));
	update(c, "", 1);
	update(c, start, strlen(start));
	finish(c);
}

/* Hash one line given in two pieces (a sealed line without its hash is
 * its text up to the hash, then "}"). */
void
psm_chain_add(struct psm_chain *c, const void *p, size_t n, const void *p2, size_t n2)
{
	begin(c, chain_tag, sizeof chain_tag);
	update(c, c->head, sizeof c->head);
	update(c, p, n);
	if (n2 > 0)
		update(c, p2, n2);
	finish(c);
}

void
psm_chain_free(struct psm_chain *c)
{
	EVP_MD_CTX_free(c->ctx);
	EVP_MD_free(c->md);
	c->ctx = NULL;
	c->md = NULL;
}

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
