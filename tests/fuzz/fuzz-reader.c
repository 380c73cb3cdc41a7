/*
 * fuzz-reader.c: feeds arbitrary bytes to psm's stream reader, to the
 * verifier of sealed streams (psm-verify's loop) as they are and resealed
 * with well-signed checkpoints, to the parsers of key files (each line
 * as a public key, the whole input as a secret key file), and to the
 * playback filter (lib/term.c), whose promises it checks.
 *
 * Built two ways: with libFuzzer (make fuzz), and with -DSTANDALONE as a
 * plain program that replays the files it is given (make check runs the
 * corpus through it, under the sanitizers in make check-asan).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"

/* Every accessor a command may call on a parsed event. */
static void
use_event(const struct psm_event *ev, struct psm_sessions *sessions,
    struct psm_buf *scratch)
{
	uint64_t u;
	int64_t i;

	for (int k = 0; k < ev->nf; k++) {
		scratch->len = 0;
		psm_field_str(&ev->f[k], scratch);
		psm_field_u64(&ev->f[k], &u);
		psm_field_i64(&ev->f[k], &i);
	}
	scratch->len = 0;
	struct psm_error e;
	psm_event_payload(ev, scratch, &e);
	psm_sessions_check(sessions, ev, &e);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/*
 * The playback filter keeps its promises: the same output however the
 * input is split; nothing in it that the filter would drop (filtered
 * again, it stays the same, once an ASCII byte ends a character left
 * unfinished); no string introducer, ESC Z or ENQ in it.
 */
static void
filter_terminal(const unsigned char *data, size_t size)
{
	struct psm_buf whole = { 0 }, split = { 0 }, again = { 0 };
	struct psm_term t;
	size_t cut = size ? data[0] % (size + 1) : 0;

	psm_term_init(&t);
	psm_term_filter(&t, &whole, data, size);
	psm_term_init(&t);
	psm_term_filter(&t, &split, data, cut);
	psm_term_filter(&t, &split, data + cut, size - cut);
	if (split.len != whole.len || (whole.len && memcmp(split.data, whole.data, whole.len)))
		abort();
	psm_buf_addc(&whole, '.');
	psm_term_init(&t);
	psm_term_filter(&t, &again, whole.data, whole.len);
	if (again.len != whole.len || memcmp(again.data, whole.data, whole.len))
		abort();
	for (size_t i = 0; i < whole.len; i++) {
		unsigned char c = (unsigned char)whole.data[i], next = 0;
		if (i + 1 < whole.len)
			next = (unsigned char)whole.data[i + 1];
		if (c == 0x05 || (c == 0x1b && next && strchr("]PX^_Z", next)) ||
		    (c == 0xc2 && (next == 0x90 || next == 0x98 || next == 0x9a ||
		    next == 0x9d || next == 0x9e || next == 0x9f)))
			abort();
	}
	psm_buf_free(&whole);
	psm_buf_free(&split);
	psm_buf_free(&again);
}

/* A fixed public key: the verifier's checks run, signatures simply fail. */
static void
verify_lines(const unsigned char *data, size_t size)
{
	static struct psm_pubkey key = { .id = "0123456789abcdef" };
	struct psm_verifier v;
	const unsigned char *p = data, *end = data + size;

	psm_verifier_init(&v, &key, 1, NULL, NULL);
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (psm_verifier_line(&v, (const char *)p, len) < 0)
			break;
		p += len + 1;
	}
	psm_verifier_finish(&v, false);
	psm_verifier_free(&v);
}

/*
 * Checkpoints as a sealer with a key would write them: each line of the
 * input is chained (with its stream's tag), and each checkpoint or seal
 * in it is written anew from its fields, with the right head, line count
 * and key, and signed with a fixed key, so that the fuzzer reaches what
 * the verifier does after a signature holds (versions, order, links,
 * times, closed streams) and not only "bad signature".
 */
struct resealer {
	struct psm_seckey key;
	struct psm_pubkey pub;
	struct psm_chain chain;
	char stream[PSM_SID_LEN + 1];
	uint64_t lines;
	unsigned char last_h[32];
	struct psm_buf line, field;
};

static void
copy_field(struct resealer *rs, const struct psm_event *ev, const char *key)
{
	const struct psm_field *f = psm_event_get(ev, key);

	rs->field.len = 0;
	if (f != NULL && psm_field_str(f, &rs->field) == 0)
		psm_ev_strn(&rs->line, key, rs->field.data, rs->field.len);
}

/* A checkpoint of ev's fields, in psm-seal's order, signed: into rs->line (without its "}"). */
static void
resign(struct resealer *rs, const struct psm_event *ev)
{
	const struct psm_field *f;
	uint64_t v = 0;
	char hex[65], sig64[96];
	unsigned char sig[64];

	if (ev->seq == 0 && psm_event_get(ev, "start") != NULL) {
		memcpy(rs->stream, ev->sid, sizeof rs->stream);
		rs->field.len = 0;
		psm_field_str(psm_event_get(ev, "start"), &rs->field);
		psm_buf_addc(&rs->field, '\0');
		psm_chain_genesis(&rs->chain, rs->stream, rs->field.data);
		rs->lines = 0;
	}
	rs->line.len = 0;
	psm_ev_begin(&rs->line, ev->sid, ev->seq, ev->t, ev->type);
	psm_field_u64(psm_event_get(ev, "v"), &v);
	psm_ev_u64(&rs->line, "v", v);
	psm_ev_str(&rs->line, "key", rs->key.id);
	psm_ev_u64(&rs->line, "lines", rs->lines);
	psm_hex(hex, rs->chain.head, 32);
	psm_ev_str(&rs->line, "head", hex);
	copy_field(rs, ev, "start");
	if ((f = psm_event_get(ev, "after")) != NULL) {
		if (f->vallen == 0) {	/* "": the right link */
			psm_hex(hex, rs->last_h, 32);
			psm_ev_str(&rs->line, "after", hex);
		} else {
			copy_field(rs, ev, "after");
		}
	}
	copy_field(rs, ev, "end");
	if ((f = psm_event_get(ev, "cut")) != NULL)
		psm_ev_bool(&rs->line, "cut", f->type == PSM_J_TRUE);
	psm_sign(sig, rs->line.data, rs->line.len, &rs->key);
	sig64[psm_b64_encode(sig64, sig, sizeof sig)] = '\0';
	psm_ev_str(&rs->line, "sig", sig64);
}

/* One input line as psm-seal would have written it, into the verifier. */
static int
reseal_line(struct resealer *rs, struct psm_verifier *v, const char *p, size_t len)
{
	struct psm_event ev;
	struct psm_error e;
	char suffix[PSM_SEAL_SUFFIX_LEN + 1];

	if (len == 0 || p[len - 1] != '}')
		return psm_verifier_line(v, p, len);
	if (psm_event_parse(&ev, p, len, &e) == 0 &&
	    (psm_event_is(&ev, "checkpoint") || psm_event_is(&ev, "seal"))) {
		resign(rs, &ev);
	} else {
		rs->line.len = 0;
		psm_buf_add(&rs->line, p, len - 1);
	}
	psm_chain_add(&rs->chain, rs->line.data, rs->line.len, "}", 1);
	rs->lines++;
	psm_seal_suffix(suffix, rs->stream, rs->chain.head);
	psm_buf_add(&rs->line, suffix, PSM_SEAL_SUFFIX_LEN);
	memcpy(rs->last_h, rs->chain.head, 32);
	return psm_verifier_line(v, rs->line.data, rs->line.len);
}

static void
verify_resealed(const unsigned char *data, size_t size)
{
	static const unsigned char seed[32] = "psm fuzz harness fixed key seed";
	struct resealer rs = { 0 };
	struct psm_verifier v;
	struct psm_error e;
	const unsigned char *p = data, *end = data + size;

	rs.key.sk = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	crypto_sign_seed_keypair(rs.key.pk, rs.key.sk, seed);
	psm_key_id(rs.key.id, rs.key.pk);
	psm_seckey_public(&rs.key, &rs.pub);
	memcpy(rs.stream, "00000000-0000-4000-8000-000000000000", sizeof rs.stream);
	if (psm_chain_init(&rs.chain, &e) < 0)
		abort();
	psm_chain_genesis(&rs.chain, rs.stream, "");
	psm_verifier_init(&v, &rs.pub, 1, NULL, NULL);
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (reseal_line(&rs, &v, (const char *)p, len) < 0)
			break;
		p += len + 1;
	}
	psm_verifier_finish(&v, false);
	psm_verifier_free(&v);
	psm_chain_free(&rs.chain);
	psm_seckey_free(&rs.key);
	psm_buf_free(&rs.line);
	psm_buf_free(&rs.field);
}

/*
 * Secret key files open with this passphrase (tests/fuzz/corpus/key-*).
 * Argon2id runs only at a cost of at most KDF_MEM_MAX bytes: a file may
 * ask for up to 1 GiB, and one such input would stall the fuzzer. Over
 * that, the file is parsed (every check before the passphrase) but not
 * opened.
 */
#define FUZZ_PASSPHRASE "fuzz"
#define KDF_MEM_MAX (64 * 1024)

static void
parse_keys(const unsigned char *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size;
	struct psm_error e;
	struct psm_pubkey pub;
	struct psm_keyfile f;
	struct psm_seckey sec;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		psm_pubkey_parse(&pub, p, len, &e);
		p += len + 1;
	}
	if (psm_keyfile_parse(&f, text, size, "fuzz", &e) < 0)
		return;
	bool cheap = !f.encrypted || f.memlimit <= KDF_MEM_MAX;
	psm_keyfile_free(&f);
	if (cheap && psm_seckey_parse(&sec, text, size, "fuzz", FUZZ_PASSPHRASE,
	    strlen(FUZZ_PASSPHRASE), &e) == 0)
		psm_seckey_free(&sec);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct psm_sessions sessions;
	struct psm_error e;
	struct psm_buf scratch = { 0 };
	struct psm_lines r;
	const char *line;
	size_t len;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0 || psm_write_all(fd, data, size, &e) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	psm_sessions_init(&sessions);
	psm_lines_init(&r, fd, "fuzz");
	while (psm_lines_next(&r, &line, &len) == PSM_LINE_OK) {
		struct psm_event ev;
		if (psm_event_parse(&ev, line, len, &e) == 0)
			use_event(&ev, &sessions, &scratch);
	}
	/* The same bytes as base64 and as UTF-8. */
	scratch.len = 0;
	psm_b64_decode(&scratch, (const char *)data, size);
	psm_utf8_valid(data, size);
	psm_utf8_unfinished_tail(data, size);
	verify_lines(data, size);
	verify_resealed(data, size);
	parse_keys(data, size);
	filter_terminal(data, size);
	psm_lines_free(&r);
	psm_sessions_free(&sessions);
	psm_buf_free(&scratch);
	close(fd);
	return 0;
}

#ifdef STANDALONE
int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		struct psm_buf b = { 0 };
		char chunk[65536];
		size_t n;

		if (f == NULL) {
			perror(argv[i]);
			return 4;
		}
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			psm_buf_add(&b, chunk, n);
		fclose(f);
		LLVMFuzzerTestOneInput((const unsigned char *)b.data, b.len);
		psm_buf_free(&b);
	}
	printf("%d inputs read\n", argc - 1);
	return 0;
}
#endif
