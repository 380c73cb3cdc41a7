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

