/*
 * test-escrow.c: withheld input sealed to an auditor's key (lib/escrow.c):
 * a round trip, a box refused by another key, a truncated or changed box
 * refused, the escrow named by its key's id, and a withheld event's escrow
 * fields read or refused.
 *
 * With arguments it is also the tests' sealer, since no command seals yet:
 *	test-escrow seal PUBFILE TEXT
 * prints the standard base64 of TEXT sealed to the public key in PUBFILE,
 * as psm-record writes it in a withheld event's "escrow" (tests/psm-replay.bats).
 */
#include <stdlib.h>
#include <string.h>

#include "psm_crypto.h"
#include "check.h"

static void
new_pair(struct psm_seckey *sk, struct psm_pubkey *pk, const char *name)
{
	psm_seckey_generate(sk, name);
	psm_seckey_public(sk, pk);
}

static void
test_round_trip(void)
{
	struct psm_seckey sk;
	struct psm_pubkey pk;
	struct psm_escrow x;
	struct psm_error e;
	static const char text[] = "hunter2\r";
	unsigned char box[sizeof text - 1 + PSM_ESCROW_OVERHEAD], again[sizeof box];
	char out[sizeof text];

	new_pair(&sk, &pk, "auditor");
	CHECK(psm_escrow_init(&x, &pk, &e) == 0, "init: %s", e.msg);
	CHECK_STR(x.id, pk.id);
	CHECK_STR(x.id, sk.id);
	psm_escrow_seal(&x, box, text, sizeof text - 1);
	memset(out, 0, sizeof out);
	CHECK(psm_escrow_open(&sk, out, box, sizeof box, &e) == 0, "open: %s", e.msg);
	CHECK_STR(out, text);
	/* A new ephemeral key each time: the same text seals differently. */
	psm_escrow_seal(&x, again, text, sizeof text - 1);
	CHECK(memcmp(box, again, sizeof box) != 0, "two boxes of the same text are equal");
	/* Nothing withheld still makes a box, of the overhead alone. */
	psm_escrow_seal(&x, again, "", 0);
	CHECK(psm_escrow_open(&sk, out, again, PSM_ESCROW_OVERHEAD, &e) == 0, "empty: %s", e.msg);
	psm_seckey_free(&sk);
}

static void
test_refused(void)
{
	struct psm_seckey sk, other;
	struct psm_pubkey pk, otherpk;
	struct psm_escrow x;
	struct psm_error e;
	unsigned char box[5 + PSM_ESCROW_OVERHEAD];
	char out[sizeof box];

	new_pair(&sk, &pk, "auditor");
	new_pair(&other, &otherpk, "someone-else");
	CHECK(psm_escrow_init(&x, &pk, &e) == 0, "init: %s", e.msg);
	psm_escrow_seal(&x, box, "12345", 5);

	CHECK(psm_escrow_open(&other, out, box, sizeof box, &e) == -1, "another key opens it");
	CHECK_EQ(e.kind, PSM_E_NO);
	CHECK_STR(e.msg, "not sealed to this key");

	/* Cut short: by a byte (it no longer opens), below the overhead (not a box). */
	CHECK(psm_escrow_open(&sk, out, box, sizeof box - 1, &e) == -1, "a cut box opens");
	CHECK_EQ(e.kind, PSM_E_NO);
	CHECK(psm_escrow_open(&sk, out, box, PSM_ESCROW_OVERHEAD - 1, &e) == -1,
	    "a box shorter than the overhead opens");
	CHECK_EQ(e.kind, PSM_E_DATA);
	CHECK(strstr(e.msg, "too short") != NULL, "message: %s", e.msg);
	CHECK(psm_escrow_open(&sk, out, box, 0, &e) == -1 && e.kind == PSM_E_DATA, "empty box");

	/* One bit changed anywhere. */
	for (size_t i = 0; i < sizeof box; i++) {
		box[i] ^= 0x10;
		if (!CHECK(psm_escrow_open(&sk, out, box, sizeof box, &e) == -1 && e.kind == PSM_E_NO,
		    "a box with byte %zu changed opens", i))
			break;
		box[i] ^= 0x10;
	}
	CHECK(psm_escrow_open(&sk, out, box, sizeof box, &e) == 0, "restored box: %s", e.msg);
	CHECK(memcmp(out, "12345", 5) == 0, "restored box gives back the text");
	psm_seckey_free(&sk);
	psm_seckey_free(&other);
}

/* A withheld event's escrow fields: taken, absent, or refused with a reason. */
static void
test_event_fields(void)
{
	static const char head[] = "{\"sid\":\"5e55a000-0000-4000-8000-0000000000bd\",\"seq\":3,"
	    "\"t\":3,\"type\":\"withheld\",\"stream\":\"in\",\"bytes\":1";
	/* 48 zero bytes: a box as far as its form goes. */
	static const char box[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const struct {
		const char *keys, *error;	/* error NULL: taken */
	} cases[] = {
		{ ",\"escrow_key\":\"0123456789abcdef\",\"escrow\":\"@\"}", NULL },
		{ "}", NULL },
		{ ",\"escrow_key\":\"0123456789abcdef\"}", "\"escrow\" and \"escrow_key\" go together" },
		{ ",\"escrow\":\"@\"}", "\"escrow\" and \"escrow_key\" go together" },
		{ ",\"escrow_key\":\"0123456789ABCDEF\",\"escrow\":\"@\"}", "\"escrow_key\" is not a key id" },
		{ ",\"escrow_key\":\"0123456789abcde\",\"escrow\":\"@\"}", "\"escrow_key\" is not a key id" },
		{ ",\"escrow_key\":\"0123456789abcdef\",\"escrow\":\"=@\"}", "\"escrow\" is not canonical base64" },
		{ ",\"escrow_key\":\"0123456789abcdef\",\"escrow\":\"AAAA\"}", "\"escrow\" is too short for a sealed box" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char line[512], keys[256], id[PSM_KEYID_LEN + 1] = "x";
		struct psm_buf b = { 0 };
		struct psm_event ev;
		struct psm_error e;

		const char *at = strchr(cases[i].keys, '@');	/* where the box goes */
		if (at != NULL)
			snprintf(keys, sizeof keys, "%.*s%s%s", (int)(at - cases[i].keys),
			    cases[i].keys, box, at + 1);
		else
			snprintf(keys, sizeof keys, "%s", cases[i].keys);
		snprintf(line, sizeof line, "%s%s", head, keys);
		if (!CHECK(psm_event_parse(&ev, line, strlen(line), &e) == 0, "case %zu: %s", i, e.msg))
			continue;
		int rc = psm_event_escrow(&ev, id, &b, &e);
		if (cases[i].error != NULL) {
			CHECK(rc == -1 && e.kind == PSM_E_DATA, "case %zu is taken", i);
			CHECK_STR(e.msg, cases[i].error);
		} else if (at != NULL) {
			CHECK(rc == 0, "case %zu: %s", i, e.msg);
			CHECK_STR(id, "0123456789abcdef");
			CHECK_EQ(b.len, PSM_ESCROW_OVERHEAD);
		} else {
			CHECK(rc == 0 && id[0] == '\0' && b.len == 0, "case %zu: no escrow, yet one", i);
		}
		psm_buf_free(&b);
	}
}

/* test-escrow seal PUBFILE TEXT: the base64 of the box, on stdout. */
static int
seal_main(const char *pubfile, const char *text)
{
	struct psm_pubkey pk;
	struct psm_escrow x;
	struct psm_error e;
	size_t n = strlen(text);
	unsigned char *box = xmalloc(n + PSM_ESCROW_OVERHEAD);
	char *b64 = xmalloc(psm_b64_encoded_len(n + PSM_ESCROW_OVERHEAD) + 1);

	if (psm_pubkey_load(&pk, pubfile, &e) < 0 || psm_escrow_init(&x, &pk, &e) < 0)
		xpsm_die(&e);
	psm_escrow_seal(&x, box, text, n);
	b64[psm_b64_encode(b64, box, n + PSM_ESCROW_OVERHEAD)] = '\0';
	printf("%s\n", b64);
	free(box);
	free(b64);
	return fflush(stdout) == 0 ? 0 : 4;
}

int
main(int argc, char **argv)
{
	struct psm_error e;

	if (argc == 4 && strcmp(argv[1], "seal") == 0)
		return seal_main(argv[2], argv[3]);
	if (argc != 1) {
		fprintf(stderr, "usage: test-escrow [seal PUBFILE TEXT]\n");
		return 2;
	}
	if (!CHECK(psm_secret_init(&e) == 0, "%s", e.msg))
		return check_done();
	test_round_trip();
	test_refused();
	test_event_fields();
	return check_done();
}
