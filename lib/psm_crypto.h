/*
 * psm_crypto.h: what needs OpenSSL (the hash chain) or libsodium (keys,
 * secret memory, signatures), and the verifier built on both.
 * Programs that include it link with libcrypto and libsodium.
 */
#ifndef PSM_CRYPTO_H
#define PSM_CRYPTO_H

#include <openssl/evp.h>

#include "psm.h"

/* chain.c: the hash chain of a sealed stream (OpenSSL EVP SHA-256). */
struct psm_chain {
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	unsigned char head[32];		/* the hash of the last line */
};
int psm_chain_init(struct psm_chain *c, struct psm_error *e);
int psm_chain_preload(struct psm_error *e);
void psm_chain_genesis(struct psm_chain *c, const char *stream_id, const char *start);
void psm_chain_add(struct psm_chain *c, const void *p, size_t n, const void *p2, size_t n2);
void psm_chain_set_head(struct psm_chain *c, const unsigned char head[32]);
void psm_chain_free(struct psm_chain *c);
/* key.c: Ed25519 keys (libsodium); secrets live in sodium_malloc memory. */
#define PSM_KEYID_LEN 16
#define PSM_KEYNAME_MAX 64
struct psm_pubkey {
	char id[PSM_KEYID_LEN + 1];
	char name[PSM_KEYNAME_MAX];
	unsigned char pk[32];
};
struct psm_seckey {
	char id[PSM_KEYID_LEN + 1];
	char name[PSM_KEYNAME_MAX];
	unsigned char pk[32];
	unsigned char *sk;		/* 64 bytes of sodium_malloc memory */
};
void psm_key_protect_process(void);
void psm_key_id(char out[PSM_KEYID_LEN + 1], const unsigned char pk[32]);
bool psm_key_name_valid(const char *name);
const char *psm_pubkey_parse(struct psm_pubkey *k, const char *line);
void xpsm_pubkey_load(struct psm_pubkey *k, const char *path);
void psm_pubkey_format(char *out, size_t size, const struct psm_pubkey *k);
size_t psm_passphrase(char *buf, size_t size, const char *prompt);
void psm_seckey_generate(struct psm_seckey *k, const char *name);
void psm_seckey_public(const struct psm_seckey *k, struct psm_pubkey *pub);
size_t psm_seckey_format(char *out, size_t size, const struct psm_seckey *k,
    const char *pass, size_t passlen);
void xpsm_seckey_load(struct psm_seckey *k, const char *path);
void psm_seckey_free(struct psm_seckey *k);
void psm_sign(unsigned char sig[64], const void *msg, size_t n, const struct psm_seckey *k);
bool psm_sig_valid(const unsigned char sig[64], const void *msg, size_t n,
    const struct psm_pubkey *k);

/* verify.c: the streaming verifier of sealed streams (several may share a file). */
#define PSM_SEAL_VERSION 1
enum { PSM_V_OK, PSM_V_FAILED, PSM_V_INCOMPLETE, PSM_V_INVALID };
struct psm_sealed {			/* one sealed stream of the file */
	char id[PSM_SID_LEN + 1];
	char start[48], end[48], key_id[PSM_KEYID_LEN + 1];
	unsigned char head[32];		/* its chain's last hash */
	uint64_t lines;			/* its lines so far */
	uint64_t next_checkpoint, verified_through, checkpoint_t, events;
	uint64_t unsealed, first_unsealed;	/* lines after its last signature */
	bool sealed, cut;
};
struct psm_verifier {
	const struct psm_pubkey *keys;
	size_t nkeys;
	struct psm_chain chain;
	struct psm_sessions sessions;
	struct psm_buf base, scratch;
	struct psm_sealed *streams, *last;	/* last: the stream of the last line */
	size_t nstreams, capstreams;
	uint64_t line, verified_through, events;
	int verdict;
	char reason[320];
	struct psm_error err;
};
void psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys);
int psm_verifier_line(struct psm_verifier *v, const char *line, size_t len);
int psm_verifier_finish(struct psm_verifier *v, bool partial);
void psm_verifier_free(struct psm_verifier *v);

#endif
