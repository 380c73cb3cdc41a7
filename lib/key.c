/*
 * key.c: Ed25519 keys (libsodium) for sealing.
 *
 *   BASE.pub  one line: "ed25519 KEYID [NAME] PUBLIC-KEY-BASE64"
 *   BASE.key  three lines:
 *             psm-secret-key v1 ed25519 KEYID NAME|-
 *             kdf none | kdf argon2id OPSLIMIT MEMLIMIT SALT-BASE64
 *             secret BASE64 (the 64-byte secret key, or nonce || XChaCha20-
 *                    Poly1305 box of it under the Argon2id key of the passphrase)
 *
 * A secret key lives in sodium_malloc memory; every other copy is wiped.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"

#define SECRET_FILE_MAX 4096
static const char secret_magic[] = "psm-secret-key v1 ed25519";

/* No core dumps and no ptrace by others while keys are in memory. */
void
psm_key_protect_process(void)
{
	struct rlimit none = { 0, 0 };

	if (sodium_init() < 0)
		errx(PSM_EXIT_OS, "libsodium cannot be initialised");
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0);
}

/* The key id: the first 8 bytes of SHA-256("psm-key-id" NUL || pk), in hex. */
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
psm_key_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= PSM_KEYNAME_MAX || strcmp(name, "-") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._@:+-") == n;
}

static bool
b64_exact(unsigned char *out, size_t n, const char *b64, size_t len)
{
	struct psm_buf b = { 0 };
	bool ok = psm_b64_decode(&b, b64, len) == 0 && b.len == n;

	if (ok)
		memcpy(out, b.data, n);
	if (b.data != NULL)
		sodium_memzero(b.data, b.cap);
	psm_buf_free(&b);
	return ok;
}

/* Parse a public key line; NULL or what is wrong. */
const char *
psm_pubkey_parse(struct psm_pubkey *k, const char *line)
{
	char alg[16], id[32], f3[128], f4[128];
	int n = sscanf(line, "%15s %31s %127s %127s", alg, id, f3, f4);
	const char *b64;
	char want[PSM_KEYID_LEN + 1];

	memset(k, 0, sizeof *k);
	if (n < 3 || strcmp(alg, "ed25519") != 0)
		return "not a psm public key (ed25519 KEYID [NAME] KEY)";
	if (n == 4) {
		if (!psm_key_name_valid(f3))
			return "invalid key name";
		memcpy(k->name, f3, strlen(f3) + 1);
		b64 = f4;
	} else {
		b64 = f3;
	}
	if (!b64_exact(k->pk, sizeof k->pk, b64, strlen(b64)))
		return "the public key is not 32 bytes of base64";
	psm_key_id(want, k->pk);
	if (strcmp(id, want) != 0)
		return "the key id does not match the key";
	memcpy(k->id, want, sizeof k->id);
	return NULL;
}

void
xpsm_pubkey_load(struct psm_pubkey *k, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");
	const char *why;

	if (f == NULL)
		err(PSM_EXIT_OS, "%s", path);
	if (fgets(line, sizeof line, f) == NULL) {
		if (ferror(f))
			err(PSM_EXIT_OS, "%s", path);
		errx(PSM_EXIT_DATA, "%s:1: empty public key file", path);
	}
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if ((why = psm_pubkey_parse(k, line)) != NULL)
		errx(PSM_EXIT_DATA, "%s:1: %s", path, why);
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

static void *
xsodium_malloc(size_t n)
{
	void *p = sodium_malloc(n);

	if (p == NULL)
		err(PSM_EXIT_OS, "sodium_malloc");
	return p;
}

/* A signal while echo is off: put the terminal back, then die of it. */
static int prompt_fd = -1;
static struct termios prompt_saved;

static void
restore_echo_and_die(int sig)
{
	tcsetattr(prompt_fd, TCSAFLUSH, &prompt_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
catch_signals(void (*handler)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], handler);
}

/*
 * The passphrase: the first line of the file PSM_PASSPHRASE_FILE names
 * (for cron; it must not be readable by others), or read from the
 * terminal with echo off. Returns its length; buf is sodium memory.
 */
size_t
psm_passphrase(char *buf, size_t size, const char *prompt)
{
	const char *file = getenv("PSM_PASSPHRASE_FILE");
	struct termios saved, quiet;
	int fd;
	bool tty = false;

	if (file != NULL && *file != '\0') {
		struct stat st;
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
			err(PSM_EXIT_OS, "%s", file);
		if (fstat(fd, &st) == 0 && (st.st_mode & 077))
			errx(PSM_EXIT_OS, "%s: passphrase file is readable by others (chmod 600 %s)", file, file);
	} else {
		if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0)
			errx(PSM_EXIT_OS, "no terminal to ask for the passphrase: set PSM_PASSPHRASE_FILE");
		tty = true;
		if (write(fd, prompt, strlen(prompt)) < 0)
			err(PSM_EXIT_OS, "/dev/tty");
		if (tcgetattr(fd, &saved) == 0) {
			prompt_fd = fd;
			prompt_saved = saved;
			catch_signals(restore_echo_and_die);
			quiet = saved;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= ECHONL;
			tcsetattr(fd, TCSAFLUSH, &quiet);
		}
	}
	size_t n = 0;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = c;
	}
	buf[n] = '\0';
	if (tty && prompt_fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		catch_signals(SIG_DFL);
		prompt_fd = -1;
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return n;
}

/* The symmetric key of a passphrase (Argon2id). */
static void
derive(unsigned char key[32], const char *pass, size_t n, const unsigned char *salt,
    unsigned long long ops, size_t mem)
{
	if (crypto_pwhash(key, 32, pass, n, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		errx(PSM_EXIT_OS, "out of memory deriving the key from the passphrase");
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

/*
 * The text of BASE.key, into sodium memory (out, size). With a passphrase
 * the secret is boxed under its Argon2id key; the header is the box's
 * associated data, so it cannot be edited either.
 */
size_t
psm_seckey_format(char *out, size_t size, const struct psm_seckey *k,
    const char *pass, size_t passlen)
{
	unsigned char salt[crypto_pwhash_SALTBYTES], *key, *box;
	char header[128], kdf[160], *b64;
	size_t boxlen, n;
	unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;

	snprintf(header, sizeof header, "%s %s %s\n", secret_magic, k->id,
	    k->name[0] ? k->name : "-");
	box = xsodium_malloc(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + 64 +
	    crypto_aead_xchacha20poly1305_ietf_ABYTES);
	b64 = xsodium_malloc(256);
	if (pass == NULL) {
		snprintf(kdf, sizeof kdf, "kdf none\n");
		memcpy(box, k->sk, 64);
		boxlen = 64;
	} else {
		char salt64[64];
		randombytes_buf(salt, sizeof salt);
		salt64[psm_b64_encode(salt64, salt, sizeof salt)] = '\0';
		snprintf(kdf, sizeof kdf, "kdf argon2id %llu %zu %s\n", ops, mem, salt64);
		key = xsodium_malloc(32);
		derive(key, pass, passlen, salt, ops, mem);
		unsigned char *nonce = box;
		randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
		unsigned long long clen;
		char ad[300];
		int adlen = snprintf(ad, sizeof ad, "%s%s", header, kdf);
		crypto_aead_xchacha20poly1305_ietf_encrypt(box + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		    &clen, k->sk, 64, (unsigned char *)ad, (unsigned long long)adlen, NULL, nonce, key);
		boxlen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)clen;
		sodium_free(key);
	}
	size_t blen = psm_b64_encode(b64, box, boxlen);
	b64[blen] = '\0';
	n = (size_t)snprintf(out, size, "%s%ssecret %s\n", header, kdf, b64);
	sodium_free(box);
	sodium_free(b64);
	return n;
}

static void
refuse_open_permissions(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		err(PSM_EXIT_OS, "%s", path);
	if (st.st_mode & 077)
		errx(PSM_EXIT_OS, "%s: secret key is readable by group or others (chmod 600 %s)",
		    path, path);
}

/* Read BASE.key into k (the secret in sodium memory). Exits on every error. */
void
xpsm_seckey_load(struct psm_seckey *k, const char *path)
{
	char *text = xsodium_malloc(SECRET_FILE_MAX + 1);
	char *l2, *l3, id[32], name[PSM_KEYNAME_MAX + 8];
	unsigned char *box = xsodium_malloc(256);
	struct psm_buf b = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	memset(k, 0, sizeof *k);
	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	refuse_open_permissions(fd, path);
	n = read(fd, text, SECRET_FILE_MAX);
	if (n < 0)
		err(PSM_EXIT_OS, "%s", path);
	close(fd);
	text[n] = '\0';
	if ((l2 = strchr(text, '\n')) == NULL || (l3 = strchr(l2 + 1, '\n')) == NULL)
		errx(PSM_EXIT_DATA, "%s:1: not a psm secret key", path);
	l2++;
	l3++;
	if (sscanf(text, "psm-secret-key v1 ed25519 %31s %71s", id, name) != 2 ||
	    strncmp(text, secret_magic, strlen(secret_magic)) != 0)
		errx(PSM_EXIT_DATA, "%s:1: not a psm secret key", path);
	size_t b64len = strcspn(l3 + 7, "\n");
	if (strncmp(l3, "secret ", 7) != 0 || psm_b64_decode(&b, l3 + 7, b64len) < 0 || b.len > 256)
		errx(PSM_EXIT_DATA, "%s:3: malformed secret", path);
	memcpy(box, b.data, b.len);
	size_t boxlen = b.len;
	sodium_memzero(b.data, b.cap);
	psm_buf_free(&b);
	k->sk = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (strncmp(l2, "kdf none\n", 9) == 0) {
		if (boxlen != 64)
			errx(PSM_EXIT_DATA, "%s:3: malformed secret", path);
		memcpy(k->sk, box, 64);
	} else {
		unsigned long long ops;
		size_t mem;
		char salt64[64], *pass, ad[300];
		unsigned char salt[crypto_pwhash_SALTBYTES], *key;
		unsigned long long mlen;
		const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;

		if (sscanf(l2, "kdf argon2id %llu %zu %63s", &ops, &mem, salt64) != 3 ||
		    !b64_exact(salt, sizeof salt, salt64, strlen(salt64)) ||
		    ops < crypto_pwhash_OPSLIMIT_MIN || mem > (size_t)1 << 32 ||
		    boxlen != nb + 64 + crypto_aead_xchacha20poly1305_ietf_ABYTES)
			errx(PSM_EXIT_DATA, "%s:2: malformed key derivation", path);
		pass = xsodium_malloc(1024);
		char prompt[600];
		snprintf(prompt, sizeof prompt, "Passphrase for %s: ", path);
		size_t plen = psm_passphrase(pass, 1024, prompt);
		key = xsodium_malloc(32);
		derive(key, pass, plen, salt, ops, mem);
		sodium_free(pass);
		int adlen = snprintf(ad, sizeof ad, "%.*s", (int)(l3 - text), text);
		int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(k->sk, &mlen, NULL,
		    box + nb, boxlen - nb, (unsigned char *)ad, (unsigned long long)adlen, box, key);
		sodium_free(key);
		if (bad != 0) {
			sodium_free(text);
			sodium_free(box);
			errx(PSM_EXIT_NO, "%s: wrong passphrase", path);
		}
	}
	sodium_free(text);
	sodium_free(box);
	crypto_sign_ed25519_sk_to_pk(k->pk, k->sk);
	psm_key_id(k->id, k->pk);
	if (strcmp(k->id, id) != 0)
		errx(PSM_EXIT_DATA, "%s:1: the key id does not match the key", path);
	if (strcmp(name, "-") != 0) {
		if (!psm_key_name_valid(name))
			errx(PSM_EXIT_DATA, "%s:1: invalid key name", path);
		memcpy(k->name, name, strlen(name) + 1);
	}
}

void
psm_seckey_free(struct psm_seckey *k)
{
	if (k->sk != NULL)
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
