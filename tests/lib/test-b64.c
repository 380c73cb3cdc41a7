/*
 * test-b64.c: base64 (lib/b64.c): the RFC 4648 test vectors both ways,
 * and a decoder that takes canonical input only and writes nothing
 * beyond the caller's capacity.
 */
#include <string.h>

#include "psm.h"
#include "check.h"

/* RFC 4648, section 10. */
static const struct {
	const char *plain, *b64;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_vectors(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		const char *plain = vectors[i].plain, *b64 = vectors[i].b64;
		size_t n = strlen(plain), len = 99;
		unsigned char out[16];
		char enc[16];

		memset(out, '#', sizeof out);
		CHECK(psm_b64_decode_to(out, sizeof out, b64, strlen(b64), &len) == 0,
		    "\"%s\" is refused", b64);
		CHECK_EQ(len, n);
		CHECK(memcmp(out, plain, n) == 0, "\"%s\" decodes to \"%.*s\"", b64, (int)n, out);
		CHECK(out[n] == '#', "\"%s\": a byte written after the output", b64);

		CHECK_EQ(psm_b64_encoded_len(n), strlen(b64));
		CHECK_EQ(psm_b64_encode(enc, (const unsigned char *)plain, n), strlen(b64));
		enc[strlen(b64)] = '\0';
		CHECK_STR(enc, b64);
	}
}

/* Every byte value, every length to 64, encoded and decoded back. */
static void
test_round_trip(void)
{
	unsigned char in[256], out[256];
	char enc[400];

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= 64; n++) {
		const unsigned char *p = in + n * 3;	/* windows over the whole range */
		size_t e = psm_b64_encode(enc, p, n), len = 0;

		if (!CHECK(psm_b64_decode_to(out, n, enc, e, &len) == 0 && len == n &&
		    memcmp(out, p, n) == 0, "round trip of %zu bytes", n))
			break;
	}
}

/* psm_b64_decode_to must refuse b64 (with room enough), and write nothing. */
static void
refuses(const char *b64, const char *why, int line)
{
	unsigned char out[64];
	size_t len = 77;

	memset(out, '#', sizeof out);
	check_(psm_b64_decode_to(out, sizeof out, b64, strlen(b64), &len) == -1, __FILE__, line,
	    "\"%s\" (%s) was taken", b64, why);
	check_(len == 77, __FILE__, line, "\"%s\": *outlen set on refusal", b64);
}
#define REFUSES(b64, why) refuses(b64, why, __LINE__)

static void
test_refusals(void)
{
	/* Length not a multiple of 4. */
	REFUSES("Z", "bad length");
	REFUSES("Zg", "bad length");
	REFUSES("Zg=", "bad length");
	REFUSES("Zm9", "bad length");
	REFUSES("Zm9vY", "bad length");
	REFUSES("Zm9vYg=", "bad length");

	/* Padding anywhere but at the end. */
	REFUSES("Zg==Zm8=", "padding in the middle");
	REFUSES("Zm8=Zm9v", "padding in the middle");
	REFUSES("Zm=v", "padding inside a group");
	REFUSES("=Zm9", "padding first");
	REFUSES("Z===", "three pads");
	REFUSES("====", "only padding");
	REFUSES("Zg=A", "a pad then a character");

	/* Non-zero unused bits: each byte string has one encoding. */
	REFUSES("Zh==", "unused bits set (\"f\" is Zg==)");
	REFUSES("ZB==", "unused bit 0 set");
	REFUSES("ZC==", "unused bit 1 set");
	REFUSES("ZE==", "unused bit 2 set");
	REFUSES("ZI==", "unused bit 3 set");
	REFUSES("Zm9=", "unused bits set (\"fo\" is Zm8=)");
	REFUSES("ZmB=", "unused bit 0 set");
	REFUSES("ZmC=", "unused bit 1 set");
	REFUSES("Zm9vYmF=", "unused bits set");

	/* Outside the alphabet: URL-safe base64, whitespace, NUL, high bytes. */
	REFUSES("Zm-v", "'-' of base64url");
	REFUSES("Zm_v", "'_' of base64url");
	REFUSES("Zm9v\nYmFy", "a newline");
	REFUSES(" Zm9", "a space");
	REFUSES("Zm\xc3\xa9", "a byte >= 0x80");

	/* And a NUL inside (strlen would stop there). */
	unsigned char out[8];
	size_t len;
	CHECK(psm_b64_decode_to(out, sizeof out, "Zm\0v", 4, &len) == -1, "a NUL was taken");
}

/*
 * The output must fit cap: refused when it does not, and nothing written
 * beyond cap (the groups before the one that did not fit may be written).
 */
static void
test_cap(void)
{
	unsigned char out[16];
	size_t len;

	memset(out, '#', sizeof out);
	CHECK(psm_b64_decode_to(out, 5, "Zm9vYmFy", 8, &len) == -1, "6 bytes into 5");
	CHECK(memcmp(out + 5, "###########", 11) == 0, "written beyond cap 5");
	memset(out, '#', sizeof out);
	CHECK(psm_b64_decode_to(out, 0, "Zg==", 4, &len) == -1, "1 byte into 0");
	CHECK(out[0] == '#', "written with cap 0");
	memset(out, '#', sizeof out);
	CHECK(psm_b64_decode_to(out, 1, "Zm8=", 4, &len) == -1, "2 bytes into 1");
	CHECK(memcmp(out + 1, "###############", 15) == 0, "written beyond cap 1");

	/* Exactly enough room. */
	CHECK(psm_b64_decode_to(out, 6, "Zm9vYmFy", 8, &len) == 0 && len == 6 &&
	    memcmp(out, "foobar", 6) == 0, "6 bytes into 6");
	CHECK(out[6] == '#', "written beyond cap 6");
	CHECK(psm_b64_decode_to(out, 4, "Zm9vYg==", 8, &len) == 0 && len == 4 &&
	    memcmp(out, "foob", 4) == 0, "4 bytes into 4");
	CHECK(psm_b64_decode_to(out, 0, "", 0, &len) == 0 && len == 0, "nothing into 0");
}

/* psm_b64_decode appends to a buffer, and leaves it as it was when it refuses. */
static void
test_decode_buf(void)
{
	struct psm_buf b = { 0 };

	psm_buf_adds(&b, "> ");
	CHECK(psm_b64_decode(&b, "Zm9vYmFy", 8) == 0, "foobar refused");
	CHECK(b.len == 8 && memcmp(b.data, "> foobar", 8) == 0, "appended: %.*s", (int)b.len, b.data);
	CHECK(psm_b64_decode(&b, "Zm9vYmF=", 8) == -1, "non-canonical input taken");
	CHECK_EQ(b.len, 8);
	CHECK(psm_b64_decode(&b, "Zg==", 4) == 0 && b.len == 9 && b.data[8] == 'f', "f appended");
	psm_buf_free(&b);
}

int
main(void)
{
	test_vectors();
	test_round_trip();
	test_refusals();
	test_cap();
	test_decode_buf();
	return check_done();
}
