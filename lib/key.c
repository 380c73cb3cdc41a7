/*
 * key.c: Ed25519 keys (libsodium) for sealing.
 *
 *   BASE.pub  one line: "ed25519 KEYID [NAME] PUBLIC-KEY-BASE64"
 *   BASE.key  three lines:
 *             psm-secret-key v1 ed25519 KEYID NAME|-
 *             kdf none | kdf argon2id OPSLIMIT MEMLIMIT SALT-BASE64
 *             secret BASE64 (the 64-byte secret key, or nonce || XChaCha20-
 *                    Poly1305 box of it under the Argon2id key of the
 *                    passphrase; lines 1 and 2 are the box's associated data)
 *
 * The bytes of a secret key exist only in sodium memory: the file is read
 * into it, its base64 decoded from there into it, and the box opened into
 * it. Everything a key file states is checked before a passphrase is asked
 * for or a key derived: the lines' lengths, the Argon2id cost within
 * bounds, the secret's length; after that the seed must give the stored
 * public half, and that the key id of line 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"

#define SECRET_FILE_MAX 1024	/* a key file is about 300 bytes */
#define HEADER_LINE_MAX 128	/* lines 1 and 2 of a key file */
#define PUBLIC_LINE_MAX 512
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define BOX_LEN (NONCE_LEN + crypto_sign_SECRETKEYBYTES + \
	crypto_aead_xchacha20poly1305_ietf_ABYTES)

_Static_assert(sizeof ((struct psm_keyfile *)0)->salt == crypto_pwhash_SALTBYTES,
    "psm_keyfile's salt is Argon2id's");
_Static_assert(crypto_sign_SECRETKEYBYTES == 64 && crypto_sign_PUBLICKEYBYTES == 32,
    "Ed25519 key sizes");

static const char secret_magic[] = "psm-secret-key v1 ed25519 ";

/* A run of bytes of a line; lines are not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool
span_is(struct span f, const char *s)
{
	return f.n == strlen(s) && memcmp(f.p, s, f.n) == 0;
}

/* Split at runs of blanks into at most max fields; max + 1 when there are more. */
static size_t
split(const char *s, size_t len, struct span *f, size_t max)
{
	size_t nf = 0, i = 0;

	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == len)
			return nf;
		if (nf == max)
			return max + 1;
		f[nf].p = s + i;
		while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			i++;
		f[nf].n = (size_t)(s + i - f[nf].p);
		nf++;
	}
}

/* The next line of [*p, end), without its newline; false at the end. */
static bool
next_line(const char **p, const char *end, struct span *line)
{
	const char *nl;

	if (*p == end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	line->p = *p;
	line->n = (size_t)((nl ? nl : end) - *p);
	*p = nl ? nl + 1 : end;
	return true;
}

/* The key id: the first 8 bytes of SHA-256("psm-key-id" NUL || pk), in hex.
 * (After psm_secret_init(), as everything that uses libsodium.) */
void
psm_key_id(char out[PSM_KEYID_LEN + 1], const unsigned char pk[32])
{
	static const char tag[] = "psm-key-id";
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)tag, sizeof tag);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	psm_hex(out, h, PSM_KEYID_LEN / 2);
}

bool
psm_key_name_validn(const char *name, size_t n)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._@:+-";

	if (n == 0 || n >= PSM_KEYNAME_MAX || (n == 1 && name[0] == '-'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '\0' || strchr(allowed, name[i]) == NULL)
			return false;
	return true;
}

bool
psm_key_name_valid(const char *name)
{
	return psm_key_name_validn(name, strlen(name));
}

static bool
keyid_valid(struct span f)
{
	if (f.n != PSM_KEYID_LEN)
		return false;
	for (size_t i = 0; i < f.n; i++)
		if (strchr("0123456789abcdef", f.p[i]) == NULL || f.p[i] == '\0')
			return false;
	return true;
}

static int
parse_public(struct psm_pubkey *k, const char *line, size_t len, struct psm_error *e)
{
	struct span f[4], b64;
	size_t nf = split(line, len, f, 4), got;
	char want[PSM_KEYID_LEN + 1];

	if (nf < 3 || nf > 4 || !span_is(f[0], "ed25519"))
		return psm_fail(e, PSM_E_DATA, "not a psm public key (ed25519 KEYID [NAME] KEY)");
	if (nf == 4) {
		if (!psm_key_name_validn(f[2].p, f[2].n))
			return psm_fail(e, PSM_E_DATA, "invalid key name");
		memcpy(k->name, f[2].p, f[2].n);
	}
	b64 = f[nf - 1];
	if (psm_b64_decode_to(k->pk, sizeof k->pk, b64.p, b64.n, &got) < 0 ||
	    got != sizeof k->pk)
		return psm_fail(e, PSM_E_DATA, "the public key is not 32 bytes of base64");
	psm_key_id(want, k->pk);
	if (f[1].n != PSM_KEYID_LEN || memcmp(f[1].p, want, PSM_KEYID_LEN) != 0)
		return psm_fail(e, PSM_E_DATA, "the key id does not match the key");
	memcpy(k->id, want, sizeof k->id);
	return 0;
}

/* A public key line (len bytes, no newline); the message says what is wrong. */
int
psm_pubkey_parse(struct psm_pubkey *k, const char *line, size_t len, struct psm_error *e)
{
	memset(k, 0, sizeof *k);
	if (psm_secret_init(e) < 0)
		return -1;
	if (parse_public(k, line, len, e) < 0) {
		memset(k, 0, sizeof *k);
		return -1;
	}
	return 0;
}

/* The first line of the file path: "PATH:1: why" for bad data. */
int
psm_pubkey_load(struct psm_pubkey *k, const char *path, struct psm_error *e)
{
	char buf[PUBLIC_LINE_MAX + 1];
	const char *nl = NULL;
	size_t n = 0;
	int fd;

	memset(k, 0, sizeof *k);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return psm_fail_errno(e, "%s", path);
	while (n < sizeof buf && (nl = memchr(buf, '\n', n)) == NULL) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			psm_fail_errno(e, "%s", path);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == 0)
		return psm_fail(e, PSM_E_DATA, "%s:1: empty public key file", path);
	if (nl == NULL)
		nl = memchr(buf, '\n', n);
	if (nl == NULL && n > PUBLIC_LINE_MAX)
		return psm_fail(e, PSM_E_DATA,
		    "%s:1: not a psm public key (a line longer than %d bytes)", path,
		    PUBLIC_LINE_MAX);
	if (psm_pubkey_parse(k, buf, nl ? (size_t)(nl - buf) : n, e) < 0) {
		psm_error_prefix(e, "%s:1", path);
		return -1;
	}
	return 0;
}

void
psm_pubkey_format(char *out, size_t size, const struct psm_pubkey *k)
{
	char b64[64];
	size_t n = psm_b64_encode(b64, k->pk, sizeof k->pk);

	b64[n] = '\0';
	if (k->name[0] != '\0')
		snprintf(out, size, "ed25519 %s %s %s\n", k->id, k->name, b64);
	else
		snprintf(out, size, "ed25519 %s %s\n", k->id, b64);
}

void
psm_seckey_generate(struct psm_seckey *k, const char *name)
{
	memset(k, 0, sizeof *k);
	k->sk = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	crypto_sign_keypair(k->pk, k->sk);
	psm_key_id(k->id, k->pk);
	if (name != NULL && psm_key_name_valid(name))
		memcpy(k->name, name, strlen(name) + 1);
}

void
psm_seckey_public(const struct psm_seckey *k, struct psm_pubkey *pub)
{
	memset(pub, 0, sizeof *pub);
	memcpy(pub->pk, k->pk, sizeof pub->pk);
	memcpy(pub->id, k->id, sizeof pub->id);
	memcpy(pub->name, k->name, sizeof pub->name);
}

/* snprintf at out + *n; false when it does not fit. */
static bool __attribute__((format(printf, 4, 5)))
append(char *out, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= size)
		return false;
	va_start(ap, fmt);
	r = vsnprintf(out + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= size - *n)
		return false;
	*n += (size_t)r;
	return true;
}

/*
 * The text of BASE.key into out (size bytes, sodium memory), its length in
 * *len. With a passphrase the secret is boxed under its Argon2id key
 * (interactive cost), with lines 1 and 2 as the box's associated data, so
 * that they cannot be edited either.
 */
int
psm_seckey_format(char *out, size_t size, const struct psm_seckey *k,
    const char *pass, size_t passlen, size_t *len, struct psm_error *e)
{
	const unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	const size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	unsigned char salt[crypto_pwhash_SALTBYTES], *key = NULL;
	unsigned char *box = xsodium_malloc(BOX_LEN);
	char *b64 = xsodium_malloc(psm_b64_encoded_len(BOX_LEN) + 1);
	char salt64[32];
	size_t n = 0, boxlen;
	int rc = -1;

	*len = 0;
	if (!append(out, size, &n, "%s%s %s\n", secret_magic, k->id,
	    k->name[0] ? k->name : "-"))
		goto small;
	if (pass == NULL) {
		if (!append(out, size, &n, "kdf none\n"))
			goto small;
		memcpy(box, k->sk, crypto_sign_SECRETKEYBYTES);
		boxlen = crypto_sign_SECRETKEYBYTES;
	} else {
		unsigned long long clen;

		randombytes_buf(salt, sizeof salt);
		salt64[psm_b64_encode(salt64, salt, sizeof salt)] = '\0';
		if (!append(out, size, &n, "kdf argon2id %llu %zu %s\n", ops, mem, salt64))
			goto small;
		key = xsodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
		if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass,
		    passlen, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
			psm_fail(e, PSM_E_OS, "out of memory deriving the key from the passphrase");
			goto out;
		}
		randombytes_buf(box, NONCE_LEN);
		crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_LEN, &clen, k->sk,
		    crypto_sign_SECRETKEYBYTES, (const unsigned char *)out, n, NULL, box, key);
		boxlen = NONCE_LEN + (size_t)clen;
	}
	b64[psm_b64_encode(b64, box, boxlen)] = '\0';
	if (!append(out, size, &n, "secret %s\n", b64))
		goto small;
	*len = n;
	rc = 0;
	goto out;
small:
	psm_fail(e, PSM_E_USAGE, "no room for the secret key's text (%zu bytes)", size);
out:
	if (rc < 0)
		sodium_memzero(out, size);
	sodium_free(key);
	sodium_free(box);
	sodium_free(b64);
	return rc;
}

/* Digits only; saturates at ULLONG_MAX (a cost that large is out of bounds). */
static bool
decimal(struct span f, unsigned long long *out)
{
	unsigned long long v = 0;

	if (f.n == 0)
		return false;
	for (size_t i = 0; i < f.n; i++) {
		unsigned d = (unsigned char)f.p[i] - '0';
		if (d > 9)
			return false;
		v = v > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : v * 10 + d;
	}
	*out = v;
	return true;
}

/* Line 1: psm-secret-key v1 ed25519 KEYID NAME|- */
static int
header_line(struct psm_keyfile *f, struct span l, struct psm_error *e)
{
	const size_t m = sizeof secret_magic - 1;
	struct span w[2];

	if (l.n > HEADER_LINE_MAX)
		return psm_fail(e, PSM_E_DATA,
		    "%s:1: not a psm secret key (a line longer than %d bytes)", f->name,
		    HEADER_LINE_MAX);
	if (l.n < m || memcmp(l.p, secret_magic, m) != 0 ||
	    split(l.p + m, l.n - m, w, 2) != 2)
		return psm_fail(e, PSM_E_DATA, "%s:1: not a psm secret key", f->name);
	if (!keyid_valid(w[0]))
		return psm_fail(e, PSM_E_DATA, "%s:1: the key id is not %d hexadecimal digits",
		    f->name, PSM_KEYID_LEN);
	memcpy(f->id, w[0].p, PSM_KEYID_LEN);
	if (!span_is(w[1], "-")) {
		if (!psm_key_name_validn(w[1].p, w[1].n))
			return psm_fail(e, PSM_E_DATA, "%s:1: invalid key name", f->name);
		memcpy(f->keyname, w[1].p, w[1].n);
	}
	return 0;
}

/* Line 2: kdf none | kdf argon2id OPSLIMIT MEMLIMIT SALT, the cost within bounds. */
static int
kdf_line(struct psm_keyfile *f, struct span l, struct psm_error *e)
{
	const unsigned long long opsmin = crypto_pwhash_OPSLIMIT_MIN;
	const unsigned long long opsmax = crypto_pwhash_OPSLIMIT_SENSITIVE;
	const unsigned long long memmin = crypto_pwhash_MEMLIMIT_MIN;
	const unsigned long long memmax = crypto_pwhash_MEMLIMIT_SENSITIVE;
	struct span w[5];
	unsigned long long ops, mem;
	size_t got;

	if (span_is(l, "kdf none"))
		return 0;
	if (l.n > HEADER_LINE_MAX || split(l.p, l.n, w, 5) != 5 || !span_is(w[0], "kdf") ||
	    !span_is(w[1], "argon2id") || !decimal(w[2], &ops) || !decimal(w[3], &mem) ||
	    psm_b64_decode_to(f->salt, sizeof f->salt, w[4].p, w[4].n, &got) < 0 ||
	    got != sizeof f->salt)
		return psm_fail(e, PSM_E_DATA, "%s:2: malformed key derivation", f->name);
	if (ops < opsmin || ops > opsmax)
		return psm_fail(e, PSM_E_DATA,
		    "%s:2: Argon2id opslimit %.*s is out of bounds (%llu to %llu)", f->name,
		    (int)w[2].n, w[2].p, opsmin, opsmax);
	if (mem < memmin || mem > memmax)
		return psm_fail(e, PSM_E_DATA,
		    "%s:2: Argon2id memlimit %.*s is out of bounds (%llu to %llu bytes)", f->name,
		    (int)w[3].n, w[3].p, memmin, memmax);
	f->encrypted = true;
	f->opslimit = ops;
	f->memlimit = (size_t)mem;
	return 0;
}

/* Line 3: secret BASE64, decoded into sodium memory. */
static int
secret_line(struct psm_keyfile *f, struct span l, struct psm_error *e)
{
	const size_t want = f->encrypted ? BOX_LEN : crypto_sign_SECRETKEYBYTES;
	size_t got;

	f->secret = xsodium_malloc(BOX_LEN);
	if (l.n < 7 || memcmp(l.p, "secret ", 7) != 0 ||
	    psm_b64_decode_to(f->secret, want, l.p + 7, l.n - 7, &got) < 0 || got != want)
		return psm_fail(e, PSM_E_DATA, "%s:3: malformed secret", f->name);
	f->secretlen = got;
	return 0;
}

/*
 * A secret key file's text (len bytes; name for messages, "NAME:LINE: why"),
 * checked up to where the passphrase is needed. f points into text, which
 * must outlive it; free f with psm_keyfile_free().
 */
int
psm_keyfile_parse(struct psm_keyfile *f, const char *text, size_t len, const char *name,
    struct psm_error *e)
{
	const char *p = text, *end = text + len;
	struct span l1 = { text, 0 }, l2, l3, rest;

	memset(f, 0, sizeof *f);
	f->name = name;
	if (psm_secret_init(e) < 0)
		return -1;
	next_line(&p, end, &l1);
	if (header_line(f, l1, e) < 0)
		goto bad;
	if (!next_line(&p, end, &l2)) {
		psm_fail(e, PSM_E_DATA, "%s:2: the file ends before the key derivation", name);
		goto bad;
	}
	if (kdf_line(f, l2, e) < 0)
		goto bad;
	f->header = text;
	f->headerlen = (size_t)(p - text);
	if (!next_line(&p, end, &l3) || l3.n == 0) {
		psm_fail(e, PSM_E_DATA, "%s:3: the file ends before the secret", name);
		goto bad;
	}
	if (secret_line(f, l3, e) < 0)
		goto bad;
	if (next_line(&p, end, &rest)) {
		psm_fail(e, PSM_E_DATA, "%s:4: text after the secret", name);
		goto bad;
	}
	return 0;
bad:
	psm_keyfile_free(f);
	return -1;
}

void
psm_keyfile_free(struct psm_keyfile *f)
{
	sodium_free(f->secret);
	f->secret = NULL;
	f->secretlen = 0;
}

/* The seed must give the stored public half, and that the key id of line 1. */
static int
check_pair(struct psm_seckey *k, const struct psm_keyfile *f, struct psm_error *e)
{
	unsigned char *again = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	bool same;

	crypto_sign_seed_keypair(k->pk, again, k->sk);
	same = sodium_memcmp(again, k->sk, crypto_sign_SECRETKEYBYTES) == 0;
	sodium_free(again);
	if (!same)
		return psm_fail(e, PSM_E_DATA,
		    "%s:3: the secret key does not match its public key", f->name);
	psm_key_id(k->id, k->pk);
	if (strcmp(k->id, f->id) != 0)
		return psm_fail(e, PSM_E_DATA, "%s:1: the key id does not match the key", f->name);
	memcpy(k->name, f->keyname, sizeof k->name);
	return 0;
}

/* The key of a parsed file, with the passphrase if it has one (a wrong one
 * is PSM_E_NO). */
int
psm_keyfile_open(struct psm_seckey *k, const struct psm_keyfile *f, const char *pass,
    size_t passlen, struct psm_error *e)
{
	unsigned char *key = NULL;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (f->secret == NULL)
		return psm_fail(e, PSM_E_USAGE, "%s: the key file was not parsed", f->name);
	k->sk = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!f->encrypted) {
		memcpy(k->sk, f->secret, crypto_sign_SECRETKEYBYTES);
	} else {
		key = xsodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
		if (crypto_pwhash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass, passlen,
		    f->salt, f->opslimit, f->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
			psm_fail(e, PSM_E_OS,
			    "%s: out of memory deriving the key from the passphrase", f->name);
			goto out;
		}
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(k->sk, NULL, NULL,
		    f->secret + NONCE_LEN, f->secretlen - NONCE_LEN,
		    (const unsigned char *)f->header, f->headerlen, f->secret, key) != 0) {
			psm_fail(e, PSM_E_NO, "%s: wrong passphrase", f->name);
			goto out;
		}
	}
	rc = check_pair(k, f, e);
out:
	sodium_free(key);
	if (rc < 0) {
		psm_seckey_free(k);
		memset(k, 0, sizeof *k);
	}
	return rc;
}

/*
 * A secret key from the text of its file (name for messages): with the
 * passphrase pass (passlen bytes) if it has one, or when pass is NULL the
 * passphrase psm_passphrase_read() gets, asked only once the file is
 * known to be sound.
 */
int
psm_seckey_parse(struct psm_seckey *k, const char *text, size_t len, const char *name,
    const char *pass, size_t passlen, struct psm_error *e)
{
	struct psm_keyfile f;
	char *asked = NULL, prompt[600];
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (psm_keyfile_parse(&f, text, len, name, e) < 0)
		return -1;
	if (f.encrypted && pass == NULL) {
		snprintf(prompt, sizeof prompt, "Passphrase for %s: ", name);
		if (psm_passphrase_read(&asked, &passlen, prompt, NULL, e) < 0)
			goto out;
		pass = asked;
	}
	rc = psm_keyfile_open(k, &f, pass, passlen, e);
out:
	sodium_free(asked);
	psm_keyfile_free(&f);
	return rc;
}

/*
 * Read the secret key file path into k: refused unless it is owned by the
 * effective user or root and no one else may read it (PSM_E_OS), then as
 * psm_seckey_parse() with the passphrase asked for.
 */
int
psm_seckey_load(struct psm_seckey *k, const char *path, struct psm_error *e)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	memset(k, 0, sizeof *k);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return psm_fail_errno(e, "%s", path);
	if (fstat(fd, &st) < 0) {
		psm_fail_errno(e, "%s", path);
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		psm_fail(e, PSM_E_OS, "%s: secret key is owned by another user (uid %lu)",
		    path, (unsigned long)st.st_uid);
		goto out;
	}
	if (st.st_mode & 077) {
		psm_fail(e, PSM_E_OS,
		    "%s: secret key is readable by group or others (chmod 600 %s)", path, path);
		goto out;
	}
	/* One byte more than the largest key file, to see a larger one. */
	text = xsodium_malloc(SECRET_FILE_MAX + 1);
	for (;;) {
		ssize_t r = read(fd, text + len, SECRET_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			psm_fail_errno(e, "%s", path);
			goto out;
		}
		if (r == 0 || (len += (size_t)r) > SECRET_FILE_MAX)
			break;
	}
	if (len > SECRET_FILE_MAX) {
		psm_fail(e, PSM_E_DATA, "%s: not a psm secret key (over %d bytes)", path,
		    SECRET_FILE_MAX);
		goto out;
	}
	close(fd);
	fd = -1;
	rc = psm_seckey_parse(k, text, len, path, NULL, 0, e);
out:
	if (fd >= 0)
		close(fd);
	sodium_free(text);
	return rc;
}

void
psm_seckey_free(struct psm_seckey *k)
{
	sodium_free(k->sk);
	k->sk = NULL;
}

void
psm_sign(unsigned char sig[64], const void *msg, size_t n, const struct psm_seckey *k)
{
	crypto_sign_detached(sig, NULL, msg, n, k->sk);
}

bool
psm_sig_valid(const unsigned char sig[64], const void *msg, size_t n, const struct psm_pubkey *k)
{
	return crypto_sign_verify_detached(sig, msg, n, k->pk) == 0;
}
