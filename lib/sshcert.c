/*
 * sshcert.c: OpenSSH user certificates for Ed25519 keys
 * (ssh-ed25519-cert-v01@openssh.com), signed by an Ed25519 CA with
 * libsodium, laid out as OpenSSH's PROTOCOL.certkeys says: the
 * certificate's fields in order, then the CA's public key, then the CA's
 * signature over everything before it. For psm-grant's short-lived
 * certificates: valid for a grant's window, one principal, force-command.
 *
 * The wire format is SSH's (RFC 4251): uint32 and uint64 big-endian, a
 * string is a uint32 length and its bytes. Critical options and
 * extensions are name/data pairs sorted by name, a datum being a string
 * that holds a string (or nothing, for a flag).
 */
#include <string.h>

#include <sodium.h>

#include "psm_crypto.h"

static const char ed25519[] = "ssh-ed25519";
static const char cert_type[] = "ssh-ed25519-cert-v01@openssh.com";

static void
put_string(struct psm_buf *b, const void *p, size_t n)
{
	psm_buf_add_be32(b, (uint32_t)n);
	psm_buf_add(b, p, n);
}

static void
put_cstring(struct psm_buf *b, const char *s)
{
	put_string(b, s, strlen(s));
}

/* An Ed25519 public key as SSH writes it: string "ssh-ed25519", string key. */
static void
put_key_blob(struct psm_buf *b, const unsigned char pk[32])
{
	put_cstring(b, ed25519);
	put_string(b, pk, 32);
}

/* The blob of an Ed25519 public key, as a string of its own. */
static void
put_key(struct psm_buf *b, const unsigned char pk[32])
{
	struct psm_buf blob = { 0 };

	put_key_blob(&blob, pk);
	put_string(b, blob.data, blob.len);
	psm_buf_free(&blob);
}

/*
 * The critical options present, in name order: force-command, then
 * source-address; each datum a string holding the value.
 */
static void
put_options(struct psm_buf *b, const struct psm_sshcert *c)
{
	struct psm_buf opts = { 0 }, datum = { 0 };

	if (c->force_command != NULL) {
		put_cstring(&opts, "force-command");
		put_cstring(&datum, c->force_command);
		put_string(&opts, datum.data, datum.len);
		datum.len = 0;
	}
	if (c->source_address != NULL) {
		put_cstring(&opts, "source-address");
		put_cstring(&datum, c->source_address);
		put_string(&opts, datum.data, datum.len);
	}
	put_string(b, opts.data, opts.len);
	psm_buf_free(&opts);
	psm_buf_free(&datum);
}

/* The extensions, flags with empty data, their names already in order. */
static void
put_extensions(struct psm_buf *b, char *const *names)
{
	struct psm_buf ext = { 0 };

	for (; names != NULL && *names != NULL; names++) {
		put_cstring(&ext, *names);
		put_string(&ext, "", 0);
	}
	put_string(b, ext.data, ext.len);
	psm_buf_free(&ext);
}

static bool
sorted(char *const *names)
{
	for (; names != NULL && names[0] != NULL && names[1] != NULL; names++)
		if (strcmp(names[0], names[1]) >= 0)
			return false;
	return true;
}

/*
 * The certificate of c, signed with the CA's secret key (64 bytes,
 * libsodium's form, its public half in the last 32), as the line of an
 * OpenSSH certificate file: "ssh-ed25519-cert-v01@openssh.com BASE64
 * COMMENT\n", appended to out.
 */
int
psm_sshcert_write(struct psm_buf *out, const struct psm_sshcert *c, const unsigned char *ca_sk,
    struct psm_error *e)
{
	struct psm_buf cert = { 0 }, principals = { 0 };
	unsigned char nonce[32], sig[crypto_sign_BYTES];

	if (c->valid_after >= c->valid_before)
		return psm_fail(e, PSM_E_USAGE, "certificate: valid after is not before valid before");
	if (!sorted(c->extensions))
		return psm_fail(e, PSM_E_USAGE, "certificate: extensions not in name order");
	randombytes_buf(nonce, sizeof nonce);
	put_cstring(&cert, cert_type);
	put_string(&cert, nonce, sizeof nonce);
	put_string(&cert, c->user_pk, 32);
	psm_buf_add_be64(&cert, c->serial);
	psm_buf_add_be32(&cert, 1);		/* SSH2_CERT_TYPE_USER */
	put_cstring(&cert, c->key_id);
	for (char *const *p = c->principals; p != NULL && *p != NULL; p++)
		put_cstring(&principals, *p);
	put_string(&cert, principals.data, principals.len);
	psm_buf_add_be64(&cert, c->valid_after);
	psm_buf_add_be64(&cert, c->valid_before);
	put_options(&cert, c);
	put_extensions(&cert, c->extensions);
	put_string(&cert, "", 0);	/* reserved */
	put_key(&cert, ca_sk + 32);
	crypto_sign_detached(sig, NULL, (const unsigned char *)cert.data, cert.len, ca_sk);
	struct psm_buf signature = { 0 };
	put_cstring(&signature, ed25519);
	put_string(&signature, sig, sizeof sig);
	put_string(&cert, signature.data, signature.len);
	psm_buf_free(&signature);
	psm_buf_free(&principals);

	psm_buf_adds(out, cert_type);
	psm_buf_addc(out, ' ');
	psm_buf_reserve(out, psm_b64_encoded_len(cert.len));
	out->len += psm_b64_encode(out->data + out->len, (const unsigned char *)cert.data, cert.len);
	psm_buf_addc(out, ' ');
	psm_buf_adds(out, c->key_id);
	psm_buf_addc(out, '\n');
	sodium_memzero(cert.data, cert.len);
	psm_buf_free(&cert);
	return 0;
}

/* An Ed25519 public key as an OpenSSH public key line: "ssh-ed25519 BASE64 COMMENT\n". */
void
psm_ssh_pubkey_write(struct psm_buf *out, const unsigned char pk[32], const char *comment)
{
	struct psm_buf blob = { 0 };

	put_key_blob(&blob, pk);
	psm_buf_adds(out, ed25519);
	psm_buf_addc(out, ' ');
	psm_buf_reserve(out, psm_b64_encoded_len(blob.len));
	out->len += psm_b64_encode(out->data + out->len, (const unsigned char *)blob.data, blob.len);
	if (comment != NULL && *comment != '\0') {
		psm_buf_addc(out, ' ');
		psm_buf_adds(out, comment);
	}
	psm_buf_addc(out, '\n');
	psm_buf_free(&blob);
}

static bool
get_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
	if (end - *p < 4)
		return false;
	*v = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	return true;
}

static bool
get_string(const unsigned char **p, const unsigned char *end, const unsigned char **s,
    uint32_t *n)
{
	if (!get_u32(p, end, n) || (uint64_t)(end - *p) < *n)
		return false;
	*s = *p;
	*p += *n;
	return true;
}

/*
 * The Ed25519 key of an OpenSSH public key line ("ssh-ed25519 BASE64
 * [COMMENT]"), n bytes at line, into pk. PSM_E_DATA if it is not one.
 */
int
psm_ssh_pubkey_parse(const char *line, size_t n, unsigned char pk[32], struct psm_error *e)
{
	size_t tl = strlen(ed25519);
	unsigned char blob[128];
	size_t blen, b64len;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n <= tl + 1 || memcmp(line, ed25519, tl) != 0 || line[tl] != ' ')
		return psm_fail(e, PSM_E_DATA, "not an ssh-ed25519 public key");
	const char *b64 = line + tl + 1;
	const char *sp = memchr(b64, ' ', n - tl - 1);
	b64len = sp != NULL ? (size_t)(sp - b64) : n - tl - 1;
	const unsigned char *p = blob, *end, *s;
	uint32_t sl;
	if (psm_b64_decode_to(blob, sizeof blob, b64, b64len, &blen) < 0)
		return psm_fail(e, PSM_E_DATA, "an ssh-ed25519 public key that is not base64");
	end = blob + blen;
	if (!get_string(&p, end, &s, &sl) || sl != tl || memcmp(s, ed25519, tl) != 0 ||
	    !get_string(&p, end, &s, &sl) || sl != 32 || p != end)
		return psm_fail(e, PSM_E_DATA, "an ssh-ed25519 public key of the wrong form");
	memcpy(pk, s, 32);
	return 0;
}
