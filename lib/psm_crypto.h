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
void psm_sha256(unsigned char out[32], const void *p, size_t n);
/*
 * secret.c: what every command that holds a secret shares. Secrets live
 * in sodium_malloc memory (guard pages, locked, wiped by sodium_free).
 * psm_secret_init() starts libsodium (any number of times); the library
 * calls it before it uses libsodium. psm_secret_protect_process() also
 * turns off core dumps and ptrace by others: commands that hold a secret
 * call it before they read one. xsodium_malloc() ends the process when
 * out of memory, as xmalloc() does.
 */
#define PSM_PASSPHRASE_MAX 1023		/* bytes; a longer one is refused, never cut */
int psm_secret_init(struct psm_error *e);
int psm_secret_protect_process(struct psm_error *e);
void *xsodium_malloc(size_t n);
int psm_passphrase_read(char **pass, size_t *len, const char *prompt,
    const char *confirm, struct psm_error *e);

/*
 * key.c: Ed25519 keys (libsodium). Messages name the file and line
 * ("k.key:3: malformed secret"); bad data is PSM_E_DATA, a wrong
 * passphrase PSM_E_NO, a key file that others may read or that another
 * user owns PSM_E_OS, as the system's errors.
 */
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
/* A secret key file checked up to its passphrase; it points into its text. */
struct psm_keyfile {
	const char *name;		/* the file, for messages */
	char id[PSM_KEYID_LEN + 1];	/* as line 1 states it */
	char keyname[PSM_KEYNAME_MAX];
	bool encrypted;
	unsigned long long opslimit;	/* Argon2id cost, within bounds, if encrypted */
	size_t memlimit;
	unsigned char salt[16];
	const char *header;		/* lines 1 and 2: the box's associated data */
	size_t headerlen;
	unsigned char *secret;		/* line 3 decoded (sodium memory) */
	size_t secretlen;
};
void psm_key_id(char out[PSM_KEYID_LEN + 1], const unsigned char pk[32]);
bool psm_key_name_valid(const char *name);
bool psm_key_name_validn(const char *name, size_t n);	/* letters, digits, ._@:+- */
int psm_pubkey_parse(struct psm_pubkey *k, const char *line, size_t len,
    struct psm_error *e);
int psm_pubkey_load(struct psm_pubkey *k, const char *path, struct psm_error *e);
void psm_pubkey_format(char *out, size_t size, const struct psm_pubkey *k);
void psm_seckey_generate(struct psm_seckey *k, const char *name);
void psm_seckey_public(const struct psm_seckey *k, struct psm_pubkey *pub);
int psm_seckey_format(char *out, size_t size, const struct psm_seckey *k,
    const char *pass, size_t passlen, size_t *len, struct psm_error *e);
int psm_keyfile_parse(struct psm_keyfile *f, const char *text, size_t len,
    const char *name, struct psm_error *e);
int psm_keyfile_open(struct psm_seckey *k, const struct psm_keyfile *f,
    const char *pass, size_t passlen, struct psm_error *e);
void psm_keyfile_free(struct psm_keyfile *f);
int psm_seckey_parse(struct psm_seckey *k, const char *text, size_t len,
    const char *name, const char *pass, size_t passlen, struct psm_error *e);
int psm_seckey_load(struct psm_seckey *k, const char *path, struct psm_error *e);
void psm_seckey_free(struct psm_seckey *k);
void psm_sign(unsigned char sig[64], const void *msg, size_t n, const struct psm_seckey *k);
bool psm_sig_valid(const unsigned char sig[64], const void *msg, size_t n,
    const struct psm_pubkey *k);

/*
 * verify.c: the streaming verifier of sealed streams (psm-verify, and
 * psm-seal --append on the file it continues). Several sealed streams may
 * share a file; each is kept while it is open and reported through the
 * on_stream callback when its seal verifies (and at the end for those
 * that never got one), so memory is bounded by the streams and sessions
 * open at once. A line finds its stream by the tag psm-seal put on it.
 */
#define PSM_SEAL_VERSION 2
#define PSM_VERIFY_KEYS_MAX 64
enum psm_verdict { PSM_V_OK, PSM_V_FAILED, PSM_V_INCOMPLETE, PSM_V_INVALID };
struct psm_sealed {			/* one sealed stream of the file */
	char id[PSM_SID_LEN + 1];	/* the table's key: first */
	char start[48], end[48], key_id[PSM_KEYID_LEN + 1];
	unsigned char head[32];		/* its chain's last hash */
	uint64_t lines, events, sessions;	/* its own */
	uint64_t first_line, last_line;		/* where it is in the file */
	uint64_t next_checkpoint, verified_through, checkpoint_t;
	uint64_t unsealed, first_unsealed;	/* lines after its last signature */
	bool sealed, cut, linked;
};
struct psm_verifier {
	const struct psm_pubkey *keys;
	size_t nkeys;
	void (*on_stream)(void *ctx, const struct psm_sealed *st);
	void *ctx;
	int (*on_event)(void *ctx, const struct psm_event *ev, struct psm_error *e);
	void *event_ctx;
	struct psm_chain chain;
	struct psm_sessions sessions;
	struct psm_table streams;	/* open streams by id */
	struct psm_table tags;		/* open streams by tag */
	struct psm_buf base, scratch;
	uint64_t line, verified_through, events, nstreams;
	unsigned char last_h[32];	/* the hash the file's last line states */
	bool keys_used[PSM_VERIFY_KEYS_MAX], cut, seen_sealed;
	bool scanning;			/* line 1 unsealed: is any later line sealed? */
	char from[48], to[48];
	enum psm_verdict verdict;
	uint64_t where;			/* the line the verdict is about */
	struct psm_error err;		/* the verdict's reason */
};
void psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys,
    void (*on_stream)(void *ctx, const struct psm_sealed *st), void *ctx);
/*
 * A check of the caller's on every event that keeps its session's order
 * rules (checkpoints and seals excluded): -1 with e filled fails the
 * stream at that line, with e's message.
 */
void psm_verifier_on_event(struct psm_verifier *v,
    int (*on_event)(void *ctx, const struct psm_event *ev, struct psm_error *e), void *ctx);
int psm_verifier_line(struct psm_verifier *v, const char *line, size_t len);
enum psm_verdict psm_verifier_finish(struct psm_verifier *v, bool partial);
int psm_verify_fd(struct psm_verifier *v, int fd, const char *name, struct psm_error *e);
const char *psm_verifier_reason(const struct psm_verifier *v);
size_t psm_verifier_keys(const struct psm_verifier *v, char *out, size_t size);
void psm_verifier_take_sessions(struct psm_verifier *v, struct psm_sessions *out);
void psm_verifier_free(struct psm_verifier *v);

/* escrow.c: withheld input sealed to an auditor's key (libsodium sealed boxes). */
#define PSM_ESCROW_OVERHEAD 48	/* crypto_box_SEALBYTES */
struct psm_escrow { char id[PSM_KEYID_LEN + 1]; unsigned char pk[32]; /* X25519 */ };
int psm_escrow_init(struct psm_escrow *x, const struct psm_pubkey *k, struct psm_error *e);
/* out has room for n + PSM_ESCROW_OVERHEAD bytes */
void psm_escrow_seal(const struct psm_escrow *x, unsigned char *out, const void *in, size_t n);
/* out has room for n - PSM_ESCROW_OVERHEAD; returns 0, or -1 with PSM_E_NO ("not sealed to this key") / PSM_E_DATA (too short) */
int psm_escrow_open(const struct psm_seckey *k, void *out, const unsigned char *box, size_t n, struct psm_error *e);
/* A withheld event's "escrow_key" and decoded "escrow" (keyid "" when it has none). */
int psm_event_escrow(const struct psm_event *ev, char keyid[PSM_KEYID_LEN + 1],
    struct psm_buf *box, struct psm_error *e);

/*
 * sshcert.c: OpenSSH user certificates (ssh-ed25519-cert-v01@openssh.com,
 * PROTOCOL.certkeys) signed by an Ed25519 CA with libsodium, and OpenSSH
 * public key lines. Times are seconds since the epoch; principals and
 * extensions are NULL-terminated lists, extensions in name order.
 */
struct psm_sshcert {
	unsigned char user_pk[32];
	uint64_t serial;
	const char *key_id;
	char *const *principals;
	uint64_t valid_after, valid_before;
	const char *force_command;	/* NULL: none */
	const char *source_address;	/* NULL: none */
	char *const *extensions;	/* e.g. "permit-pty" */
};
int psm_sshcert_write(struct psm_buf *out, const struct psm_sshcert *c, const unsigned char *ca_sk,
    struct psm_error *e);
void psm_ssh_pubkey_write(struct psm_buf *out, const unsigned char pk[32], const char *comment);
int psm_ssh_pubkey_parse(const char *line, size_t n, unsigned char pk[32], struct psm_error *e);

#endif
