/*
 * verify.c: the streaming verifier of sealed streams (psm-verify, and
 * psm-seal --append, which checks the file it continues).
 *
 * A file may hold several sealed streams, one after another or
 * interleaved line by line (each session's psm-seal appending to one log
 * with >>). Each begins with its opening checkpoint, from which its chain
 * starts. Line by line: the hash psm-seal added must be the next hash of
 * one of the file's chains over the line as it was; a checkpoint must
 * belong to its stream, come in order, name the chain's head before it and
 * carry a good signature of a known key; events must keep the order rules
 * of their session. The file is OK when every stream ends with a verified
 * seal, INCOMPLETE when nothing is wrong but lines follow the last
 * signature of a stream.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psm_crypto.h"

#define SIG_SUFFIX_LEN 98	/* ,"sig":"<88 base64>"} */

void
psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys)
{
	memset(v, 0, sizeof *v);
	v->keys = keys;
	v->nkeys = nkeys;
	psm_sessions_init(&v->sessions);
	if (psm_chain_init(&v->chain, &v->err) < 0)
		abort();
}

void
psm_verifier_free(struct psm_verifier *v)
{
	psm_chain_free(&v->chain);
	psm_sessions_free(&v->sessions);
	psm_buf_free(&v->base);
	psm_buf_free(&v->scratch);
	free(v->streams);
	v->streams = NULL;
}

static int __attribute__((format(printf, 3, 4)))
stop(struct psm_verifier *v, int verdict, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof v->reason, fmt, ap);
	va_end(ap);
	v->verdict = verdict;
	return -1;
}

static const struct psm_pubkey *
find_key(const struct psm_verifier *v, const struct psm_field *f)
{
	if (f == NULL || f->type != PSM_J_STR)
		return NULL;
	for (size_t i = 0; i < v->nkeys; i++)
		if (f->vallen == PSM_KEYID_LEN && memcmp(v->keys[i].id, f->val, f->vallen) == 0)
			return &v->keys[i];
	return NULL;
}

/* A string field copied out (short ones: ids, times). */
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

static struct psm_sealed *
find_stream(struct psm_verifier *v, const char *id)
{
	for (size_t i = 0; i < v->nstreams; i++)
		if (strcmp(v->streams[i].id, id) == 0)
			return &v->streams[i];
	return NULL;
}

static bool
is_opening(const struct psm_event *ev)
{
	return psm_event_is(ev, "checkpoint") && ev->seq == 0 &&
	    psm_event_get(ev, "start") != NULL;
}

/* An opening checkpoint: a new sealed stream, whose chain starts from its id and start. */
static struct psm_sealed *
open_stream(struct psm_verifier *v, const struct psm_event *ev)
{
	struct psm_sealed *st;

	if (find_stream(v, ev->sid) != NULL) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": sealed stream %s opened twice", v->line, ev->sid);
		return NULL;
	}
	if (v->nstreams == v->capstreams) {
		v->capstreams = v->capstreams ? v->capstreams * 2 : 4;
		v->streams = xrealloc(v->streams, v->capstreams * sizeof *v->streams);
	}
	st = &v->streams[v->nstreams];
	memset(st, 0, sizeof *st);
	memcpy(st->id, ev->sid, sizeof st->id);
	if (!get_str(v, ev, "start", st->start, sizeof st->start)) {
		stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed opening checkpoint", v->line);
		return NULL;
	}
	psm_chain_genesis(&v->chain, st->id, st->start);
	memcpy(st->head, v->chain.head, 32);
	v->nstreams++;
	return st;
}

/* The hash of this line after stream st's head (in v->chain.head). */
static bool
chains_after(struct psm_verifier *v, const struct psm_sealed *st, const char *line,
    size_t before, const unsigned char stated[32])
{
	memcpy(v->chain.head, st->head, 32);
	psm_chain_add(&v->chain, line, before, "}", 1);
	return memcmp(v->chain.head, stated, 32) == 0;
}

/*
 * The stream this line continues. A checkpoint names its stream; an event
 * is tried on each stream, the one that had the last line first.
 */
static struct psm_sealed *
stream_of(struct psm_verifier *v, const struct psm_event *ev, const char *line,
    size_t before, const unsigned char stated[32])
{
	if (psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal")) {
		struct psm_sealed *st = find_stream(v, ev->sid);
		if (st == NULL) {
			stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint of another sealed stream (%s)",
			    v->line, ev->sid);
			return NULL;
		}
		return chains_after(v, st, line, before, stated) ? st : NULL;
	}
	if (v->last != NULL && chains_after(v, v->last, line, before, stated))
		return v->last;
	for (size_t i = 0; i < v->nstreams; i++)
		if (&v->streams[i] != v->last &&
		    chains_after(v, &v->streams[i], line, before, stated))
			return &v->streams[i];
	return NULL;
}

static int
check_signature(struct psm_verifier *v, const struct psm_event *ev, const struct psm_pubkey *key)
{
	const struct psm_field *sig = psm_event_get(ev, "sig");
	struct psm_buf raw = { 0 };
	unsigned char sigbytes[64];

	/* The signature is over the line's bytes before ,"sig":"...", its last key. */
	if (sig == NULL || sig->type != PSM_J_STR || ev->len < SIG_SUFFIX_LEN ||
	    sig->val != ev->line + ev->len - SIG_SUFFIX_LEN + 8 ||
	    psm_b64_decode(&raw, sig->val, sig->vallen) < 0 || raw.len != 64) {
		psm_buf_free(&raw);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed checkpoint signature", v->line);
	}
	memcpy(sigbytes, raw.data, 64);
	psm_buf_free(&raw);
	if (!psm_sig_valid(sigbytes, ev->line, ev->len - SIG_SUFFIX_LEN, key))
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": bad signature (forged or changed checkpoint)",
		    v->line);
	return 0;
}

static int
check_checkpoint(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev,
    const unsigned char head_before[32])
{
	const struct psm_pubkey *key;
	uint64_t version, lines;
	unsigned char head[32];
	char hex[65];

	if (psm_field_u64(psm_event_get(ev, "v"), &version) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint without a format version", v->line);
	if (version != PSM_SEAL_VERSION)
		return stop(v, PSM_V_INVALID, "checkpoint format version %" PRIu64
		    " is not known to this psm-verify", version);
	if (ev->seq != st->next_checkpoint)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint out of order (seq %" PRIu64
		    " where %" PRIu64 " was due): replayed or removed", v->line, ev->seq, st->next_checkpoint);
	if ((key = find_key(v, psm_event_get(ev, "key"))) == NULL) {
		char id[32] = "?";
		get_str(v, ev, "key", id, sizeof id);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": signed by unknown key %s", v->line, id);
	}
	if (!get_str(v, ev, "head", hex, sizeof hex) || psm_unhex(head, 32, hex, 64) < 0 ||
	    psm_field_u64(psm_event_get(ev, "lines"), &lines) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed checkpoint", v->line);
	if (memcmp(head, head_before, 32) != 0 || lines != st->lines)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint does not match the lines before "
		    "it (changed, inserted or removed after line %" PRIu64 ")", v->line, st->verified_through);
	if (check_signature(v, ev, key) < 0)
		return -1;
	memcpy(st->key_id, key->id, sizeof st->key_id);
	st->next_checkpoint++;
	st->verified_through = v->line;
	st->unsealed = 0;
	st->sealed = psm_event_is(ev, "seal");
	st->checkpoint_t = ev->t;
	if (st->sealed) {
		const struct psm_field *cut = psm_event_get(ev, "cut");
		if (!get_str(v, ev, "end", st->end, sizeof st->end))
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": seal without an end time", v->line);
		st->cut = cut != NULL && cut->type == PSM_J_TRUE;
	}
	return 0;
}

static int
check_event(struct psm_verifier *v, struct psm_sealed *st, const struct psm_event *ev)
{
	struct psm_error e;

	if (psm_sessions_check(&v->sessions, ev, &e) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": %s", v->line, e.msg);
	v->events++;
	st->events++;
	st->sealed = false;
	if (st->unsealed++ == 0)
		st->first_unsealed = v->line;
	return 0;
}

/* One whole line (without its newline). 0, or -1 once the verdict is in. */
int
psm_verifier_line(struct psm_verifier *v, const char *line, size_t len)
{
	unsigned char stated[32], head_before[32];
	size_t before;
	struct psm_event ev;
	struct psm_sealed *st;

	v->line++;
	if (!psm_seal_split(line, len, &before, stated)) {
		if (v->line == 1)
			return stop(v, PSM_V_INVALID, "not a sealed psm stream (line 1 has no chain hash)");
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": no chain hash (a line inserted unsealed?)",
		    v->line);
	}
	v->base.len = 0;
	psm_buf_add(&v->base, line, before);
	psm_buf_addc(&v->base, '}');
	if (psm_event_parse(&ev, v->base.data, v->base.len, &v->err) < 0) {
		if (v->line == 1)
			return stop(v, PSM_V_INVALID, "not a sealed psm stream (%s)", v->err.msg);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed: %s", v->line, v->err.msg);
	}
	if (is_opening(&ev)) {
		if ((st = open_stream(v, &ev)) == NULL)
			return -1;
		memcpy(head_before, st->head, 32);
		if (!chains_after(v, st, line, before, stated))
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": chain hash of an opening "
			    "checkpoint does not match its stream id and start", v->line);
	} else {
		if (v->nstreams == 0)
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": sealed, but no opening checkpoint "
			    "before it (the start of the stream was removed)", v->line);
		if ((st = stream_of(v, &ev, line, before, stated)) == NULL) {
			if (v->verdict != PSM_V_OK)
				return -1;
			return stop(v, PSM_V_FAILED, "line %" PRIu64 ": chain hash does not match (this "
			    "line was changed, or lines before it inserted, removed or reordered)", v->line);
		}
		memcpy(head_before, st->head, 32);
	}
	memcpy(st->head, v->chain.head, 32);
	v->last = st;
	int rc = psm_event_is(&ev, "checkpoint") || psm_event_is(&ev, "seal") ?
	    check_checkpoint(v, st, &ev, head_before) : check_event(v, st, &ev);
	st->lines++;
	return rc;
}

/* At the end of the input; partial: an unfinished last line was there. */
int
psm_verifier_finish(struct psm_verifier *v, bool partial)
{
	uint64_t unsealed = partial ? 1 : 0, first = partial ? v->line + 1 : 0;

	if (v->verdict != PSM_V_OK) {
		/* How far the signatures went before the failure. */
		for (size_t i = 0; i < v->nstreams; i++)
			if (v->streams[i].verified_through > v->verified_through &&
			    v->streams[i].verified_through < v->line)
				v->verified_through = v->streams[i].verified_through;
		return v->verdict;
	}
	if (v->line == 0 && !partial)
		return stop(v, PSM_V_INVALID, "not a sealed psm stream (empty)"), v->verdict;
	for (size_t i = 0; i < v->nstreams; i++) {
		struct psm_sealed *st = &v->streams[i];
		if (st->sealed)
			continue;
		unsealed += st->unsealed;
		uint64_t f = st->unsealed ? st->first_unsealed : st->verified_through + 1;
		if (first == 0 || f < first)
			first = f;
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
