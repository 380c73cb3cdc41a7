/*
 * verify.c: the streaming verifier of sealed streams (psm-verify, and
 * psm-seal --append, which checks the file it continues).
 *
 * A file may hold several sealed streams, one after another or
 * interleaved line by line (each session's psm-seal appending to one log
 * with >>). Each begins with its opening checkpoint, from which its chain
 * starts, and every line carries the tag of its stream, so a line is
 * hashed once, against its own stream. A checkpoint must belong to its
 * stream, come in order, name the chain's head before it and carry a good
 * signature of the key its stream was opened under; an opening checkpoint
 * after line 1 must name the hash of the line before it in the file (the
 * link that makes a removed or replaced stream visible); events must keep
 * the order rules of their session. The file is OK when every stream ends
 * with a verified seal, INCOMPLETE when nothing is wrong but lines follow
 * the last signature of a stream.
 *
 * The rule for bad input versus tampering: the file is INVALID (bad
 * input, exit 3) only when not one of its lines carries a chain hash, or
 * a checkpoint with a good signature names a format this verifier does
 * not know. Anything else wrong with a file that holds sealed lines is
 * FAILED: an attacker must not be able to make evidence look like a
 * mistake.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psm_crypto.h"

#define SIG_SUFFIX_LEN 98	/* ,"sig":"<88 base64>"} */
#define TAG_STREAMS_MAX 4	/* open streams that share a tag (32 random bits) */

/* The streams that carry one tag: the tags table's item. */
struct tag_entry {
	char key[PSM_SID_LEN + 1];	/* the tag, padded to the length of an id */
	size_t n;
	char ids[TAG_STREAMS_MAX][PSM_SID_LEN + 1];
};

void
psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys,
    void (*on_stream)(void *ctx, const struct psm_sealed *st), void *ctx)
{
	memset(v, 0, sizeof *v);
	v->keys = keys;
	v->nkeys = nkeys < PSM_VERIFY_KEYS_MAX ? nkeys : PSM_VERIFY_KEYS_MAX;
	v->on_stream = on_stream;
	v->ctx = ctx;
	psm_sessions_init(&v->sessions);
	psm_table_init(&v->streams, sizeof(struct psm_sealed));
	psm_table_init(&v->tags, sizeof(struct tag_entry));
	/* Commands call psm_chain_preload() first: failing here is a broken OpenSSL. */
	if (psm_chain_init(&v->chain, &v->err) < 0)
		abort();
}

void
psm_verifier_on_event(struct psm_verifier *v,
    int (*on_event)(void *ctx, const struct psm_event *ev, struct psm_error *e), void *ctx)
{
	v->on_event = on_event;
	v->event_ctx = ctx;
}

void
psm_verifier_free(struct psm_verifier *v)
{
	psm_chain_free(&v->chain);
	psm_sessions_free(&v->sessions);
	psm_table_free(&v->streams);
	psm_table_free(&v->tags);
	psm_buf_free(&v->base);
	psm_buf_free(&v->scratch);
}

const char *
psm_verifier_reason(const struct psm_verifier *v)
{
	return v->err.msg;
}

/* The ids of the keys that signed, comma-separated. */
size_t
psm_verifier_keys(const struct psm_verifier *v, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < v->nkeys; i++) {
		if (!v->keys_used[i] || n + PSM_KEYID_LEN + 2 > size)
			continue;
		if (n > 0)
			out[n++] = ',';
		memcpy(out + n, v->keys[i].id, PSM_KEYID_LEN + 1);
		n += PSM_KEYID_LEN;
	}
	return n;
}

/* psm-seal --append: the sessions still open go on in the new run. */
void
psm_verifier_take_sessions(struct psm_verifier *v, struct psm_sessions *out)
{
	*out = v->sessions;
	psm_sessions_init(&v->sessions);
}

static int __attribute__((format(printf, 3, 4)))
stop(struct psm_verifier *v, enum psm_verdict verdict, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	psm_failv(&v->err, verdict == PSM_V_INVALID ? PSM_E_DATA : PSM_E_NO, fmt, ap);
	va_end(ap);
	v->verdict = verdict;
	v->where = v->line ? v->line : 1;
	return -1;
}

static void
tag_key(char key[PSM_SID_LEN + 1], const char *tag)
{
	memset(key, '-', PSM_SID_LEN);
	memcpy(key, tag, PSM_SEAL_TAG_LEN);
	key[PSM_SID_LEN] = '\0';
}

/* A string field copied out (short ones: ids, times, hashes). */
static bool
get_str(struct psm_verifier *v, const struct psm_event *ev, const char *key,
    char *out, size_t size)
{
	const struct psm_field *f = psm_event_get(ev, key);

	v->scratch.len = 0;
	if (f == NULL || psm_field_str(f, &v->scratch) < 0 || v->scratch.len >= size)
		return false;
	memcpy(out, v->scratch.data, v->scratch.len);
	out[v->scratch.len] = '\0';
	return true;
}

/* A time as psm-seal writes it: 2026-11-24T04:30:30.123456Z, nothing else. */
static bool
get_time(struct psm_verifier *v, const struct psm_event *ev, const char *key, char out[48])
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

	if (!get_str(v, ev, key, out, 48) || strlen(out) != sizeof shape - 1)
		return false;
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == 'd' ? out[i] < '0' || out[i] > '9' : out[i] != shape[i])
			return false;
	return true;
}

static bool
is_checkpoint(const struct psm_event *ev)
{
	return psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal");
}

static bool
is_opening(const struct psm_event *ev)
{
	return psm_event_is(ev, "checkpoint") && ev->seq == 0 &&
	    psm_event_get(ev, "start") != NULL;
}

/* An opening checkpoint: a new open stream, whose chain starts from its id and start. */
static struct psm_sealed *
open_stream(struct psm_verifier *v, const struct psm_event *ev)
{
	char key[PSM_SID_LEN + 1], start[48];
	struct tag_entry *te;
	struct psm_sealed *st;

	if (psm_table_find(&v->streams, ev->sid) != NULL) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": sealed stream %s opened twice", v->line, ev->sid);
		return NULL;
	}
	if (!get_time(v, ev, "start", start)) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed opening checkpoint", v->line);
		return NULL;
	}
	tag_key(key, ev->sid);
	if ((te = psm_table_find(&v->tags, key)) == NULL)
		te = psm_table_add(&v->tags, key);
	if (te->n == TAG_STREAMS_MAX) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": more than %d open sealed streams share "
		    "the tag %.8s", v->line, TAG_STREAMS_MAX, ev->sid);
		return NULL;
	}
	memcpy(te->ids[te->n++], ev->sid, PSM_SID_LEN + 1);
	st = psm_table_add(&v->streams, ev->sid);
	memcpy(st->start, start, sizeof st->start);
	st->first_line = v->line;
	psm_chain_genesis(&v->chain, st->id, st->start);
	memcpy(st->head, v->chain.head, 32);
	v->nstreams++;
	return st;
}

/* A sealed stream reported and forgotten (its seal verified, or at the end). */
static void
report_stream(struct psm_verifier *v, const struct psm_sealed *st)
{
	if (v->from[0] == '\0' || strcmp(st->start, v->from) < 0)
		memcpy(v->from, st->start, sizeof v->from);
	if (strcmp(st->end, v->to) > 0)
		memcpy(v->to, st->end, sizeof v->to);
	v->cut |= st->cut;
	if (v->on_stream != NULL)
		v->on_stream(v->ctx, st);
}

static void
close_stream(struct psm_verifier *v, struct psm_sealed *st)
{
	char key[PSM_SID_LEN + 1], id[PSM_SID_LEN + 1];
	struct tag_entry *te;

	report_stream(v, st);
	memcpy(id, st->id, sizeof id);
	tag_key(key, id);
	if ((te = psm_table_find(&v->tags, key)) != NULL) {
		for (size_t i = 0; i < te->n; i++)
			if (strcmp(te->ids[i], id) == 0)
				memmove(te->ids[i], te->ids[i + 1], (te->n - i - 1) * sizeof te->ids[0]);
		if (--te->n == 0)
			psm_table_remove(&v->tags, key);
	}
	psm_table_remove(&v->streams, id);
}

/* The hash of this line after stream st's head (into v->chain.head). */
static bool
chains_after(struct psm_verifier *v, const struct psm_sealed *st, const char *line,
    size_t before, const unsigned char stated[32])
{
	psm_chain_set_head(&v->chain, st->head);
	psm_chain_add(&v->chain, line, before, "}", 1);
	return memcmp(v->chain.head, stated, 32) == 0;
}

static const char no_match[] = "chain hash does not match (this line was changed, "
    "or lines before it inserted, removed or reordered)";

/* st, if this line continues its chain; else NULL, and the verdict says why. */
static struct psm_sealed *
chained(struct psm_verifier *v, struct psm_sealed *st, const char *line, size_t before,
    const unsigned char stated[32], const char *why)
{
	if (chains_after(v, st, line, before, stated))
		return st;
	stop(v, PSM_V_FAILED, "line %" PRIu64 ": %s", v->line, why);
	return NULL;
}

/* The open stream an event's tag names, whose chain this line continues. */
static struct psm_sealed *
stream_of_event(struct psm_verifier *v, const char *tag, const char *line,
    size_t before, const unsigned char stated[32])
{
	char key[PSM_SID_LEN + 1];
	const struct tag_entry *te;

	tag_key(key, tag);
	if ((te = psm_table_find(&v->tags, key)) == NULL) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": no open sealed stream has the chain tag %s "
		    "(the start of its stream removed, a line after its seal, or a line from "
		    "another file)", v->line, tag);
		return NULL;
	}
	for (size_t i = 0; i < te->n; i++) {
		struct psm_sealed *st = psm_table_find(&v->streams, te->ids[i]);
		if (st != NULL && chains_after(v, st, line, before, stated))
			return st;
	}
	stop(v, PSM_V_FAILED, "line %" PRIu64 ": %s", v->line, no_match);
	return NULL;
}

static const struct psm_pubkey *
find_key(struct psm_verifier *v, const struct psm_field *f, size_t *index)
{
	if (f == NULL || f->type != PSM_J_STR)
		return NULL;
	for (size_t i = 0; i < v->nkeys; i++)
		if (f->vallen == PSM_KEYID_LEN && memcmp(v->keys[i].id, f->val, f->vallen) == 0) {
			*index = i;
			return &v->keys[i];
		}
	return NULL;
}

static int
check_signature(struct psm_verifier *v, const struct psm_event *ev, const struct psm_pubkey *key)
{
	const struct psm_field *sig = psm_event_get(ev, "sig");
	unsigned char raw[64];
	size_t n;

	/* The signature is over the line's bytes before ,"sig":"...", its last key. */
	if (sig == NULL || sig->type != PSM_J_STR || ev->len < SIG_SUFFIX_LEN ||
	    sig->val != ev->line + ev->len - SIG_SUFFIX_LEN + 8 ||
	    psm_b64_decode_to(raw, sizeof raw, sig->val, sig->vallen, &n) < 0 || n != 64)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed checkpoint signature", v->line);
	if (!psm_sig_valid(raw, ev->line, ev->len - SIG_SUFFIX_LEN, key))
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": bad signature (forged or changed checkpoint)",
		    v->line);
	return 0;
}

/* Who signed, and whether the signature holds: before anything else in it is believed. */
static int
check_signer(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev)
{
	const struct psm_field *f = psm_event_get(ev, "key");
	const struct psm_pubkey *key;
	size_t index = 0;
	uint64_t version;

	if ((key = find_key(v, f, &index)) == NULL) {
		char quoted[64] = "?";
		if (f != NULL)
			psm_quote(quoted, sizeof quoted, f->val, f->vallen);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": signed by unknown key %s", v->line, quoted);
	}
	if (check_signature(v, ev, key) < 0)
		return -1;
	if (psm_field_u64(psm_event_get(ev, "v"), &version) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint without a format version", v->line);
	if (version != PSM_SEAL_VERSION)
		return stop(v, PSM_V_INVALID, "checkpoint format version %" PRIu64
		    " is not known to this psm-verify (it reads %d)", version, PSM_SEAL_VERSION);
	if (st->key_id[0] == '\0') {
		memcpy(st->key_id, key->id, sizeof st->key_id);
	} else if (strcmp(st->key_id, key->id) != 0) {
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint signed by key %s, but its "
		    "stream was opened under key %s", v->line, key->id, st->key_id);
	}
	v->keys_used[index] = true;
	return 0;
}

/*
 * An opening checkpoint after line 1 names the hash of the line before it
 * in the file (psm-seal writes it under a lock); one at line 1 names none.
 */
static int
check_link(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev)
{
	char hex[65];
	unsigned char after[32];
	bool has = psm_event_get(ev, "after") != NULL;

	if (v->line == 1) {
		if (has)
			return stop(v, PSM_V_FAILED, "line 1: sealed stream %s was linked to a line "
			    "before it, which is missing (the start of the file was removed)", st->id);
		return 0;
	}
	if (!has)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": sealed stream %s opens without a link "
		    "to the line before it (streams sealed apart and joined, or a stream put in "
		    "the place of another)", v->line, st->id);
	if (!get_str(v, ev, "after", hex, sizeof hex) || psm_unhex(after, 32, hex, strlen(hex)) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed opening checkpoint", v->line);
	if (memcmp(after, v->last_h, 32) != 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": sealed stream %s is linked to a line "
		    "that is not the one before it (lines or a whole stream before it removed, "
		    "replaced or moved)", v->line, st->id);
	st->linked = true;
	return 0;
}

static int
check_checkpoint(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev,
    const unsigned char head_before[32])
{
	uint64_t lines;
	unsigned char head[32];
	char hex[65];

	if (check_signer(v, st, ev) < 0)
		return -1;
	if (ev->seq != st->next_checkpoint)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint out of order (seq %" PRIu64
		    " where %" PRIu64 " was due): replayed or removed", v->line, ev->seq, st->next_checkpoint);
	if (!get_str(v, ev, "head", hex, sizeof hex) || psm_unhex(head, 32, hex, strlen(hex)) < 0 ||
	    psm_field_u64(psm_event_get(ev, "lines"), &lines) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed checkpoint", v->line);
	if (memcmp(head, head_before, 32) != 0 || lines != st->lines)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint does not match the lines before "
		    "it (changed, inserted or removed after line %" PRIu64 ")", v->line, st->verified_through);
	if (ev->seq == 0 && check_link(v, st, ev) < 0)
		return -1;
	st->next_checkpoint++;
	st->verified_through = v->line;
	st->unsealed = 0;
	st->checkpoint_t = ev->t;
	if (psm_event_is(ev, "seal")) {
		const struct psm_field *cut = psm_event_get(ev, "cut");
		if (!get_time(v, ev, "end", st->end))
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": seal without an end time", v->line);
		st->cut = cut != NULL && cut->type == PSM_J_TRUE;
		st->sealed = true;
	}
	return 0;
}

static int
check_event(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev)
{
	struct psm_error e;

	if (psm_sessions_check(&v->sessions, ev, &e) < 0 ||
	    (v->on_event != NULL && v->on_event(v->event_ctx, ev, &e) < 0))
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": %s", v->line, e.msg);
	v->events++;
	st->events++;
	if (psm_event_is(ev, "start"))
		st->sessions++;
	if (st->unsealed++ == 0)
		st->first_unsealed = v->line;
	return 0;
}

/*
 * Whether a line that psm_seal_split() refused looks like a sealed line
 * that was changed at its end (a carriage return added), or was sealed
 * by psm 0.1 (format 1: ,"h":"..."} alone).
 */
static bool
ends_like_sealed(const char *line, size_t len)
{
	size_t before;
	char tag[PSM_SEAL_TAG_LEN + 1];
	unsigned char h[32];

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return psm_seal_split(line, len, &before, tag, h);
}

static bool
sealed_by_format1(const char *line, size_t len)
{
	return len > 72 && memcmp(line + len - 72, ",\"h\":\"", 6) == 0 &&
	    memcmp(line + len - 2, "\"}", 2) == 0;
}

/* A line without psm-seal's suffix. */
static int
unsealed_line(struct psm_verifier *v, const char *line, size_t len)
{
	if (v->seen_sealed || ends_like_sealed(line, len)) {
		if (ends_like_sealed(line, len))
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": the end of the line was changed "
			    "(a carriage return or spaces after the chain hash)", v->line);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": no chain hash (a line inserted "
		    "unsealed?)", v->line);
	}
	if (sealed_by_format1(line, len))
		stop(v, PSM_V_INVALID, "sealed in format 1 (psm 0.1), which this psm-verify "
		    "does not read");
	else
		stop(v, PSM_V_INVALID, "not a sealed psm stream (line 1 has no chain hash)");
	v->scanning = true;
	return 0;	/* keep looking: a sealed line later makes this tampering */
}

/* The verdict is INVALID so far: a later sealed line turns it into FAILED. */
static int
invalid_so_far(struct psm_verifier *v, const char *line, size_t len)
{
	size_t before;
	char tag[PSM_SEAL_TAG_LEN + 1];
	unsigned char h[32];

	if (!psm_seal_split(line, len, &before, tag, h) && !ends_like_sealed(line, len))
		return 0;
	v->scanning = false;
	return stop(v, PSM_V_FAILED, "line 1: not sealed, but line %" PRIu64 " is: lines were put "
	    "before the opening checkpoint", v->line);
}

/* The stream a sealed line belongs to, its hash checked; NULL once the verdict is in. */
static struct psm_sealed *
stream_of(struct psm_verifier *v, const struct psm_event *ev, const char *tag,
    const char *line, size_t before, const unsigned char stated[32])
{
	struct psm_sealed *st;

	if (!is_checkpoint(ev))
		return stream_of_event(v, tag, line, before, stated);
	if (strncmp(ev->sid, tag, PSM_SEAL_TAG_LEN) != 0) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": the chain tag does not name the checkpoint's "
		    "stream", v->line);
		return NULL;
	}
	if (is_opening(ev)) {
		if ((st = open_stream(v, ev)) == NULL)
			return NULL;
		return chained(v, st, line, before, stated, "chain hash of an opening checkpoint "
		    "does not match its stream id and start");
	}
	if ((st = psm_table_find(&v->streams, ev->sid)) == NULL) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint of a sealed stream that is not "
		    "open here (%s): its opening removed, or a line after its seal", v->line, ev->sid);
		return NULL;
	}
	return chained(v, st, line, before, stated, no_match);
}

/* One whole line (without its newline). 0, or -1 once the verdict is in. */
int
psm_verifier_line(struct psm_verifier *v, const char *line, size_t len)
{
	unsigned char stated[32], head_before[32];
	char tag[PSM_SEAL_TAG_LEN + 1];
	size_t before;
	struct psm_event ev;
	struct psm_sealed *st;
	struct psm_error e;
	int rc;

	if (v->verdict != PSM_V_OK && !v->scanning)
		return -1;
	v->line++;
	if (v->scanning)
		return invalid_so_far(v, line, len);
	if (!psm_seal_split(line, len, &before, tag, stated))
		return unsealed_line(v, line, len);
	v->seen_sealed = true;
	v->base.len = 0;
	psm_buf_add(&v->base, line, before);
	psm_buf_addc(&v->base, '}');
	if (psm_event_parse(&ev, v->base.data, v->base.len, &e) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed: %s", v->line, e.msg);
	if ((st = stream_of(v, &ev, tag, line, before, stated)) == NULL)
		return -1;
	memcpy(head_before, st->head, 32);
	memcpy(st->head, v->chain.head, 32);
	st->last_line = v->line;
	rc = is_checkpoint(&ev) ? check_checkpoint(v, st, &ev, head_before) : check_event(v, st, &ev);
	st->lines++;
	memcpy(v->last_h, stated, 32);
	if (rc == 0 && st->sealed)
		close_stream(v, st);
	return rc;
}

static int
by_first_line(const void *a, const void *b)
{
	const struct psm_sealed *x = a, *y = b;

	return x->first_line < y->first_line ? -1 : x->first_line > y->first_line;
}

/*
 * The streams still open, in file order: reported, and the first line
 * that no signature vouches for (0: none).
 */
static uint64_t
report_open_streams(struct psm_verifier *v, uint64_t *unsealed)
{
	struct psm_sealed *open = xmalloc((v->streams.count ? v->streams.count : 1) * sizeof *open);
	size_t n = 0;
	uint64_t first = 0;

	for (size_t i = 0; i < v->streams.nslots; i++) {
		const struct psm_sealed *st = (const void *)(v->streams.slots + i * v->streams.itemsize);
		if (st->id[0] != '\0')
			open[n++] = *st;
	}
	qsort(open, n, sizeof *open, by_first_line);
	*unsealed = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t f = open[i].unsealed ? open[i].first_unsealed : open[i].verified_through + 1;
		*unsealed += open[i].unsealed;
		if (first == 0 || f < first)
			first = f;
		report_stream(v, &open[i]);
	}
	free(open);
	return first;
}

/* At the end of the input; partial: an unfinished last line was there. */
enum psm_verdict
psm_verifier_finish(struct psm_verifier *v, bool partial)
{
	uint64_t unsealed, first = report_open_streams(v, &unsealed);

	if (v->verdict == PSM_V_FAILED) {
		v->verified_through = first && first < v->line ? first - 1 : v->line - 1;
		return v->verdict;
	}
	if (v->verdict == PSM_V_INVALID)
		return v->verdict;
	if (v->line == 0 && !partial) {
		stop(v, PSM_V_FAILED, "empty (a sealed stream is never empty: was the file emptied?)");
		return v->verdict;
	}
	if (partial) {
		unsealed++;
		if (first == 0)
			first = v->line + 1;
	}
	if (first == 0) {
		v->verified_through = v->line;
		return PSM_V_OK;
	}
	v->verified_through = first - 1;
	stop(v, PSM_V_INCOMPLETE, "verified through line %" PRIu64 ", %" PRIu64 " line%s unsealed",
	    v->verified_through, unsealed, unsealed == 1 ? "" : "s");
	return PSM_V_INCOMPLETE;
}

/*
 * Verify what fd holds, to its end: the one loop of psm-verify and
 * psm-seal --append. Returns the verdict, or -1 when fd cannot be read.
 */
int
psm_verify_fd(struct psm_verifier *v, int fd, const char *name, struct psm_error *e)
{
	struct psm_lines r;
	const char *line;
	size_t len;
	int st;

	psm_lines_init(&r, fd, name);
	while ((st = psm_lines_next(&r, &line, &len)) == PSM_LINE_OK)
		if (psm_verifier_line(v, line, len) < 0)
			break;
	psm_lines_free(&r);
	if (st == PSM_LINE_ERROR)
		return psm_fail_errno(e, "%s", name);
	if (st == PSM_LINE_TOOLONG && (v->verdict == PSM_V_OK || v->scanning)) {
		v->line = r.lineno;
		if (v->seen_sealed)
			stop(v, PSM_V_FAILED, "line %" PRIu64 ": longer than 1 MiB", r.lineno);
		else if (v->verdict != PSM_V_INVALID)
			stop(v, PSM_V_INVALID, "longer than 1 MiB");
	}
	return psm_verifier_finish(v, st == PSM_LINE_PARTIAL);
}
