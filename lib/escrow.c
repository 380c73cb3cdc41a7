/*
 * escrow.c: typed input that the recorder withholds (a password at a
 * prompt), sealed to an auditor's key so that only its holder can read it.
 *
 * The auditor's key is an ordinary psm-keygen Ed25519 pair; escrow turns
 * it into its X25519 form and uses libsodium's sealed boxes (an ephemeral
 * key pair per box, X25519 and XSalsa20-Poly1305). The box is anonymous:
 * it shows that it was sealed to the key, not who sealed it. The secret
 * half in X25519 form lives in sodium memory for the time of one open.
 */
#include <string.h>

#include <sodium.h>

#include "psm_crypto.h"

_Static_assert(PSM_ESCROW_OVERHEAD == crypto_box_SEALBYTES, "a sealed box's overhead");
_Static_assert(sizeof ((struct psm_escrow *)0)->pk == crypto_box_PUBLICKEYBYTES,
    "an X25519 public key");

/* The escrow of the public key k: its id and its X25519 form. */
int
psm_escrow_init(struct psm_escrow *x, const struct psm_pubkey *k, struct psm_error *e)
{
	memset(x, 0, sizeof *x);
	if (psm_secret_init(e) < 0)
		return -1;
	if (crypto_sign_ed25519_pk_to_curve25519(x->pk, k->pk) != 0)
		return psm_fail(e, PSM_E_DATA, "key %s cannot be used for escrow", k->id);
	memcpy(x->id, k->id, sizeof x->id);
	return 0;
}

/* n bytes of in, sealed into out (n + PSM_ESCROW_OVERHEAD bytes). */
void
psm_escrow_seal(const struct psm_escrow *x, unsigned char *out, const void *in, size_t n)
{
	crypto_box_seal(out, in, n, x->pk);
}

/*
 * Open the box of n bytes with the secret key k into out (n -
 * PSM_ESCROW_OVERHEAD bytes). A box too short to be one is PSM_E_DATA;
 * one that does not open, sealed to another key or changed, PSM_E_NO.
 */
int
psm_escrow_open(const struct psm_seckey *k, void *out, const unsigned char *box, size_t n,
    struct psm_error *e)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES], *sk;
	int rc;

	if (n < PSM_ESCROW_OVERHEAD)
		return psm_fail(e, PSM_E_DATA, "escrow box of %zu bytes: too short", n);
	if (psm_secret_init(e) < 0)
		return -1;
	if (crypto_sign_ed25519_pk_to_curve25519(pk, k->pk) != 0)
		return psm_fail(e, PSM_E_NO, "not sealed to this key");
	sk = xsodium_malloc(crypto_box_SECRETKEYBYTES);
	rc = crypto_sign_ed25519_sk_to_curve25519(sk, k->sk);
	if (rc == 0)
		rc = crypto_box_seal_open(out, box, n, pk, sk);
	sodium_free(sk);
	if (rc != 0)
		return psm_fail(e, PSM_E_NO, "not sealed to this key");
	return 0;
}

static bool
keyid_valid(const struct psm_field *f)
{
	if (f->type != PSM_J_STR || f->vallen != PSM_KEYID_LEN)
		return false;
	for (size_t i = 0; i < f->vallen; i++)
		if (!((f->val[i] >= '0' && f->val[i] <= '9') || (f->val[i] >= 'a' && f->val[i] <= 'f')))
			return false;
	return true;
}

/*
 * The escrow of a withheld event: its "escrow_key" into keyid and its
 * "escrow" decoded into box (which is emptied first). An event without
 * them gives keyid "" and an empty box; one with only one of them, a key
 * id that is not one, base64 that is not canonical or a box too short to
 * be one is PSM_E_DATA.
 */
int
psm_event_escrow(const struct psm_event *ev, char keyid[PSM_KEYID_LEN + 1], struct psm_buf *box,
    struct psm_error *e)
{
	const struct psm_field *k = psm_event_get(ev, "escrow_key");
	const struct psm_field *b = psm_event_get(ev, "escrow");

	keyid[0] = '\0';
	box->len = 0;
	if (k == NULL && b == NULL)
		return 0;
	if (k == NULL || b == NULL)
		return psm_fail(e, PSM_E_DATA, "\"escrow\" and \"escrow_key\" go together");
	if (!keyid_valid(k))
		return psm_fail(e, PSM_E_DATA, "\"escrow_key\" is not a key id");
	if (b->type != PSM_J_STR || psm_b64_decode(box, b->val, b->vallen) < 0)
		return psm_fail(e, PSM_E_DATA, "\"escrow\" is not canonical base64");
	if (box->len < PSM_ESCROW_OVERHEAD)
		return psm_fail(e, PSM_E_DATA, "\"escrow\" is too short for a sealed box");
	memcpy(keyid, k->val, PSM_KEYID_LEN);
	keyid[PSM_KEYID_LEN] = '\0';
	return 0;
}
