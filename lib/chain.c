/*
 * chain.c: the hash chain of a sealed stream.
 *
 * Each line's hash covers the previous hash and the line's exact bytes as
 * they were before psm-seal added the hash to them:
 *     h_i = SHA-256("psm-chain-v1" NUL || h_{i-1} || bytes_i)
 * and the chain begins from a hash of the stream's id and start time, so
 * a line cannot be moved from one sealed stream to another.
 * SHA-256 is OpenSSL's EVP, which uses the CPU's SHA extensions. Once
 * psm_chain_init() has succeeded, SHA-256 of bytes in memory cannot fail
 * for want of anything, so the hashing functions return nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "psm_crypto.h"

static const char chain_tag[] = "psm-chain-v1";		/* hashed with its NUL */
static const char genesis_tag[] = "psm-chain-v1 genesis";

int
psm_chain_init(struct psm_chain *c, struct psm_error *e)
{
	memset(c, 0, sizeof *c);
	c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	c->ctx = EVP_MD_CTX_new();
	if (c->md == NULL || c->ctx == NULL) {
		psm_chain_free(c);
		return psm_fail(e, PSM_E_OS, "SHA-256 is not available from OpenSSL");
	}
	return 0;
}

/* Load OpenSSL's configuration and providers now, before the sandbox. */
int
psm_chain_preload(struct psm_error *e)
{
	struct psm_chain c;

	if (psm_chain_init(&c, e) < 0)
		return -1;
	psm_chain_genesis(&c, "", "");
	psm_chain_free(&c);
	return 0;
}

/*
 * EVP_Digest* fail only on a context without a digest or out of memory
 * in a provider; neither can happen after init: abort rather than go on
 * with a wrong hash.
 */
static void
must(int ok)
{
	if (!ok)
		abort();
}

static void
begin(struct psm_chain *c, const char *tag, size_t taglen)
{
	must(EVP_DigestInit_ex2(c->ctx, c->md, NULL));
	must(EVP_DigestUpdate(c->ctx, tag, taglen));
}

static void
update(struct psm_chain *c, const void *p, size_t n)
{
	must(EVP_DigestUpdate(c->ctx, p, n));
}

static void
finish(struct psm_chain *c)
{
	must(EVP_DigestFinal_ex(c->ctx, c->head, NULL));
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

/* Go on from another chain's head (the verifier's streams, psm-seal --append). */
void
psm_chain_set_head(struct psm_chain *c, const unsigned char head[32])
{
	memcpy(c->head, head, sizeof c->head);
}

void
psm_chain_free(struct psm_chain *c)
{
	EVP_MD_CTX_free(c->ctx);
	EVP_MD_free(c->md);
	c->ctx = NULL;
	c->md = NULL;
}

/* SHA-256 of bytes in memory, alone (psm-ship's state and PostgreSQL ids). */
void
psm_sha256(unsigned char out[32], const void *p, size_t n)
{
	must(EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL));
}
