/*
 * fuzz-reader.c: feeds arbitrary bytes to psm's stream reader, to the
 * verifier of sealed streams (psm-verify's loop) as they are and resealed
 * with well-signed checkpoints, to the parsers of key files (each line
 * as a public key, the whole input as a secret key file), to the
 * playback filter (lib/term.c), whose promises it checks, to a
 * redaction channel (lib/redact.c), with secrets planted in the bytes,
 * which must not get out, and to the readers of psm-grant's documents
 * (lib/grant.c).
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
#include "psm_grant.h"
#include "psm_redact.h"
#include "redact_rules.h"	/* builtin_rules[]: share/psm/redact.rules */

/* The seed of the harness's one signing key (the resealer's, psm-grant's CA and approver). */
static const unsigned char fixed_seed[32] = "psm fuzz harness fixed key seed";

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
	struct resealer rs = { 0 };
	struct psm_verifier v;
	struct psm_error e;
	const unsigned char *p = data, *end = data + size;

	rs.key.sk = xsodium_malloc(crypto_sign_SECRETKEYBYTES);
	crypto_sign_seed_keypair(rs.key.pk, rs.key.sk, fixed_seed);
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
 * psm-grant's documents: each line as a request, an approval, a grant and
 * a revocation list of one line, and the whole input as a revocation
 * list; approvals are checked against the first line that is a request.
 * The fixed key is the CA and the approver: the corpus's grant-* inputs
 * were made by psm-grant with a key file of that seed, so that the
 * fuzzer also reaches what is read once a signature holds.
 */
static void
grant_documents(const unsigned char *data, size_t size)
{
	static struct psm_pubkey key;
	const char *text = (const char *)data, *p = text, *end = text + size;
	struct psm_request first;
	bool have_first = false;
	struct psm_revoked rl;
	struct psm_error e;

	if (key.id[0] == '\0') {
		unsigned char sk[crypto_sign_SECRETKEYBYTES];
		crypto_sign_seed_keypair(key.pk, sk, fixed_seed);
		sodium_memzero(sk, sizeof sk);
		psm_key_id(key.id, key.pk);
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct psm_request r;
		struct psm_approval a;
		struct psm_grant g;

		if (psm_request_parse(&r, p, len, &e) == 0) {
			if (!have_first) {
				first = r;
				have_first = true;
			} else {
				psm_request_free(&r);
			}
		}
		if (psm_approval_parse(&a, p, len, &e) == 0) {
			if (have_first)
				psm_approval_signed_by(&a, &first, &key);
			psm_approval_free(&a);
		}
		if (psm_grant_parse(&g, p, len, &key, &e) == 0) {
			psm_grant_outside(&g, g.not_before);
			psm_grant_for_host(&g, "db1.example.org");
			psm_grant_free(&g);
		}
		if (psm_revoked_parse(&rl, p, nl ? len + 1 : len, "fuzz", &key, &e) == 0) {
			psm_revoked_has(&rl, "00000000-0000-4000-8000-000000000000");
			psm_revoked_free(&rl);
		}
		p += len + 1;
	}
	if (psm_revoked_parse(&rl, text, size, "fuzz", &key, &e) == 0)
		psm_revoked_free(&rl);
	if (have_first)
		psm_request_free(&first);
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

/*
 * Secrets of the built-in rules, planted in the input by redact() below;
 * secret: the part that is masked, when it is not the whole text. Each
 * secret holds a '7' and the rest of its text none, and the filler has
 * none: a '7' in the output is a byte of a secret that got out.
 */
static const struct {
	const char *rule, *text, *secret;
} plants[] = {
	{ "aws-access-key-id", "AKIAQ3EGRJ7ZT5BUXW4M", NULL },
	{ "github-token", "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", NULL },
	{ "generic-secret", "password=Xk4rT9vQ7mLp", "Xk4rT9vQ7mLp" },
	{ "url-password", "postgres://app:Zq7vN4pLw9kR@db", "Zq7vN4pLw9kR" },
	{ "pem-private-key", "-----BEGIN RSA PRIVATE KEY-----\r\n"
	  "MIIEowIBAAKCAQEA7fXk3Jv9qW2mQzL0pN8sTy4uRb6cHd1eGfAiOjBkCl5nD\r\n"
	  "-----END RSA PRIVATE KEY-----",
	  "MIIEowIBAAKCAQEA7fXk3Jv9qW2mQzL0pN8sTy4uRb6cHd1eGfAiOjBkCl5nD" },
	{ "card-number", "4666 1760 3137 2159", NULL },
};
#define NPLANTS (sizeof plants / sizeof *plants)

static struct psm_redact_rules redact_rs;

/* Freed at exit, so that valgrind has nothing to say about the replay. */
static void
redact_rules_free(void)
{
	psm_redact_rules_free(&redact_rs);
}

/* The built-in rules, compiled once for every input. */
static const struct psm_redact_rules *
redact_rules(void)
{
	static bool ready;
	struct psm_error e;

	if (ready)
		return &redact_rs;
	if (psm_redact_rules_init(&redact_rs, &e) < 0 || psm_redact_parse(&redact_rs,
	    builtin_rules, sizeof builtin_rules, "(built-in rules)", &e) < 0 ||
	    psm_redact_compile(&redact_rs, &e) < 0) {
		fprintf(stderr, "fuzz: %s\n", e.msg);
		abort();
	}
	atexit(redact_rules_free);
	ready = true;
	return &redact_rs;
}

/* The plant's rule is among the rules (a rule the built-in set does not have yet is skipped). */
static bool
planted(const struct psm_redact_rules *rs, size_t k)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].name, plants[k].rule) == 0)
			return rs->r[i].on;
	return false;
}

/* A byte of the input, chosen by k (an input of no bytes: 0). */
static unsigned
pick(const unsigned char *data, size_t size, size_t k)
{
	return size ? data[k % size] : 0;
}

/*
 * The text: the input without ESC, bytes >= 0x80 and '7' (no escape
 * sequence or UTF-8 character can take in a secret's first bytes), and
 * the plants inserted at offsets the input chooses, each between two
 * spaces or two CR LFs.
 */
static void
plant_text(struct psm_buf *text, const unsigned char *data, size_t size,
    const struct psm_redact_rules *rs)
{
	struct psm_buf filler = { 0 };
	size_t at[NPLANTS];

	for (size_t i = 0; i < size; i++)
		if (data[i] != 0x1b && data[i] < 0x80 && data[i] != '7')
			psm_buf_addc(&filler, (char)data[i]);
	for (size_t k = 0; k < NPLANTS; k++)
		at[k] = (pick(data, size, 2 * k) << 8 | pick(data, size, 2 * k + 1)) % (filler.len + 1);
	for (size_t pos = 0; pos <= filler.len; pos++) {
		for (size_t k = 0; k < NPLANTS; k++) {
			const char *sep = pick(data, size, k + 5) & 1 ? "\r\n" : " ";
			if (at[k] != pos || !planted(rs, k))
				continue;
			psm_buf_adds(text, sep);
			psm_buf_adds(text, plants[k].text);
			psm_buf_adds(text, sep);
		}
		if (pos < filler.len)
			psm_buf_addc(text, filler.data[pos]);
	}
	psm_buf_free(&filler);
}

/* One pass of the text through a channel, and how it is driven. */
struct redact_run {
	bool whole;			/* in one piece; else in pieces the input sizes */
	bool prompts;			/* some pieces typed after a password prompt */
	bool live;			/* pieces taken out once settled; else after close */
	struct psm_redact_chan c;
	uint64_t *fired, *bytes;
	struct psm_buf out;
};

/* The next n bytes out, as psm-redact's emit(). */
static void
redact_take(struct redact_run *r, const char *p, size_t n)
{
	if (!psm_redact_masks(&r->c, n)) {
		psm_redact_skip(&r->c, n);
		psm_buf_add(&r->out, p, n);
		return;
	}
	struct psm_redact_taken t = { .bytes = r->bytes };
	psm_redact_take(&r->c, p, n, &r->out, &t);
}

/*
 * The text through a channel as psm-redact drives it: in pieces of 0 to
 * 66 bytes, sizes taken from the input, some of them (with prompts) typed
 * after a password prompt (psm_redact_mask_line); each piece taken out
 * once it is settled (live), the rest after close.
 */
static void
redact_pieces(struct redact_run *r, const struct psm_redact_rules *rs,
    const struct psm_buf *text, const unsigned char *data, size_t size)
{
	size_t *ends = xmalloc((2 * text->len + 2) * sizeof *ends), n = 0, head = 0, at = 0;
	struct psm_error e;
	bool empty = false;

	r->fired = xmalloc(rs->n * sizeof *r->fired);
	r->bytes = xmalloc(rs->n * sizeof *r->bytes);
	memset(r->fired, 0, rs->n * sizeof *r->fired);
	memset(r->bytes, 0, rs->n * sizeof *r->bytes);
	if (psm_redact_chan_init(&r->c, rs, r->fired, &e) < 0)
		abort();
	while (at < text->len) {
		unsigned b = pick(data, size, n);
		size_t len = r->whole || size == 0 ? text->len : b % 67;
		if (len == 0 && empty)
			len = 1;	/* no two empty pieces in a row: it ends */
		empty = len == 0;
		if (len > text->len - at)
			len = text->len - at;
		if (r->prompts && (b & 0xc0) == 0xc0 && len > 0)
			psm_redact_mask_line(&r->c);
		psm_redact_add(&r->c, text->data + at, len);
		ends[n++] = at += len;
		for (; r->live && head < n; head++) {
			size_t from = head ? ends[head - 1] : 0;
			if (psm_redact_settled(&r->c) < r->c.taken + (ends[head] - from))
				break;
			redact_take(r, text->data + from, ends[head] - from);
		}
	}
	psm_redact_close(&r->c);
	for (; head < n; head++) {
		size_t from = head ? ends[head - 1] : 0;
		redact_take(r, text->data + from, ends[head] - from);
	}
	psm_redact_chan_free(&r->c);
	free(ends);
}

static void
redact_run_free(struct redact_run *r)
{
	psm_buf_free(&r->out);
	free(r->fired);
	free(r->bytes);
}

static void __attribute__((noreturn))
secret_out(const char *what, const struct psm_buf *out, const char *at)
{
	char q[200];
	size_t from = (size_t)(at - out->data) > 40 ? (size_t)(at - out->data) - 40 : 0;

	psm_quote(q, sizeof q, out->data + from, out->len - from < 120 ? out->len - from : 120);
	fprintf(stderr, "fuzz: redaction: %s got out: ...%s\n", what, q);
	abort();
}

/* No planted secret in the output, whole or in part. */
static void
check_redacted(const struct psm_buf *out, const struct psm_redact_rules *rs)
{
	const char *seven;

	for (size_t k = 0; k < NPLANTS; k++) {
		const char *s = plants[k].secret ? plants[k].secret : plants[k].text;
		const char *at = memmem(out->data, out->len, s, strlen(s));
		if (at != NULL && planted(rs, k))
			secret_out(plants[k].rule, out, at);
	}
	if ((seven = memchr(out->data, '7', out->len)) != NULL)
		secret_out("a part of a secret", out, seven);
}

/* Two passes that differ only in when bytes were taken or how they were split agree. */
static void
check_same(const struct redact_run *a, const struct redact_run *b, size_t nrules,
    const char *what)
{
	if (a->out.len == b->out.len && memcmp(a->out.data, b->out.data, a->out.len) == 0 &&
	    memcmp(a->fired, b->fired, nrules * sizeof *a->fired) == 0 &&
	    memcmp(a->bytes, b->bytes, nrules * sizeof *a->bytes) == 0)
		return;
	fprintf(stderr, "fuzz: redaction: %s: not the same output or counts\n", what);
	abort();
}

/*
 * The planted text four ways: in pieces with prompts, taken live and
 * after close; in pieces without prompts, and at once. No secret gets
 * out; the pairs agree (masking does not depend on the events' sizes or
 * on when they are written).
 */
static void
redact(const unsigned char *data, size_t size)
{
	const struct psm_redact_rules *rs = redact_rules();
	struct psm_buf text = { 0 };
	struct redact_run live = { .prompts = true, .live = true }, closed = { .prompts = true },
	    split = { .live = true }, whole = { .whole = true, .live = true };

	plant_text(&text, data, size, rs);
	redact_pieces(&live, rs, &text, data, size);
	redact_pieces(&closed, rs, &text, data, size);
	redact_pieces(&split, rs, &text, data, size);
	redact_pieces(&whole, rs, &text, data, size);
	check_redacted(&live.out, rs);
	check_redacted(&whole.out, rs);
	check_same(&live, &closed, rs->n, "taken live or after close");
	check_same(&split, &whole, rs->n, "in pieces or at once");
	redact_run_free(&live);
	redact_run_free(&closed);
	redact_run_free(&split);
	redact_run_free(&whole);
	psm_buf_free(&text);
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
	grant_documents(data, size);
	filter_terminal(data, size);
	redact(data, size);
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
