/*
 * verify.c: the streaming verifier of a sealed stream (psm-verify, and
 * psm-seal --append, which checks the file it continues).
 *
 * Line by line: the hash psm-seal added must be the chain's next hash of
 * the line as it was; a checkpoint must belong to this stream, come in
 * order, name the chain's head before it and carry a good signature of a
 * known key; events must keep the order rules of their session. The
 * stream is OK when its last line is a verified seal, INCOMPLETE when
 * nothing is wrong but lines follow the last signature.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "psm.h"

#define SIG_SUFFIX_LEN 98	/* ,"sig":"<88 base64>"} */

void
psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys)
{
	memset(v, 0, sizeof *v);
	v->keys = keys;
	v->nkeys = nkeys;
	psm_chain_init(&v->chain);
}

void
psm_verifier_free(struct psm_verifier *v)
{
	psm_chain_free(&v->chain);
	psm_sessions_free(&v->sessions);
	psm_buf_free(&v->base);
	psm_buf_free(&v->scratch);
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

/* The first line: the opening checkpoint, which gives the chain its start. */
static int
open_stream(struct psm_verifier *v, const struct psm_event *ev)
{
	if (!psm_event_is(ev, "checkpoint") || ev->seq != 0 ||
	    !get_str(v, ev, "start", v->start, sizeof v->start))
		return stop(v, PSM_V_INVALID, "not a sealed psm stream (no opening checkpoint)");
	memcpy(v->stream, ev->sid, sizeof v->stream);
	psm_chain_genesis(&v->chain, v->stream, v->start);
	v->opened = true;
	return 0;
}

static int
check_checkpoint(struct psm_verifier *v, const struct psm_event *ev,
    const unsigned char head_before[32])
{
	const struct psm_field *sig = psm_event_get(ev, "sig");
	const struct psm_pubkey *key;
	uint64_t version, lines;
	unsigned char head[32], sigbytes[64];
	char hex[65];
	struct psm_buf raw = { 0 };

	if (psm_field_u64(psm_event_get(ev, "v"), &version) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint without a format version", v->line);
	if (version != PSM_SEAL_VERSION)
		return stop(v, PSM_V_INVALID, "line %" PRIu64 ": checkpoint format version %" PRIu64
		    " is not known to this psm-verify", v->line, version);
	if (strcmp(ev->sid, v->stream) != 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint of another sealed stream (%s)",
		    v->line, ev->sid);
	if (ev->seq != v->next_checkpoint)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint out of order (seq %" PRIu64
		    " where %" PRIu64 " was due): replayed or removed", v->line, ev->seq, v->next_checkpoint);
	if ((key = find_key(v, psm_event_get(ev, "key"))) == NULL) {
		char id[32] = "?";
		get_str(v, ev, "key", id, sizeof id);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": signed by unknown key %s", v->line, id);
	}
	if (!get_str(v, ev, "head", hex, sizeof hex) || psm_unhex(head, 32, hex, 64) < 0 ||
	    psm_field_u64(psm_event_get(ev, "lines"), &lines) < 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed checkpoint", v->line);
	if (memcmp(head, head_before, 32) != 0 || lines != v->line - 1)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": checkpoint does not match the lines before "
		    "it (changed, inserted or removed after line %" PRIu64 ")", v->line, v->verified_through);
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
	memcpy(v->key_id, key->id, sizeof v->key_id);
	v->next_checkpoint++;
	v->verified_through = v->line;
	v->sealed = psm_event_is(ev, "seal");
	if (v->sealed && !get_str(v, ev, "end", v->end, sizeof v->end))
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": seal without an end time", v->line);
	if (v->sealed) {
		const struct psm_field *cut = psm_event_get(ev, "cut");
		v->cut = cut != NULL && cut->type == PSM_J_TRUE;
	}
	v->checkpoint_t = ev->t;
	return 0;
}

static int
check_event(struct psm_verifier *v, const struct psm_event *ev)
{
	const char *why = psm_sessions_check(&v->sessions, ev, NULL);

	if (why != NULL)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": %s", v->line, why);
	v->events++;
	v->sealed = false;
	return 0;
}

/* One whole line (without its newline). 0, or -1 once the verdict is in. */
int
psm_verifier_line(struct psm_verifier *v, const char *line, size_t len)
{
	unsigned char stated[32], before_head[32];
	size_t before;
	struct psm_event ev;
	const char *why;

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
	if ((why = psm_event_parse(&ev, v->base.data, v->base.len)) != NULL) {
		if (v->line == 1)
			return stop(v, PSM_V_INVALID, "not a sealed psm stream (%s)", why);
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": malformed: %s", v->line, why);
	}
	if (!v->opened && open_stream(v, &ev) < 0)
		return -1;
	memcpy(before_head, v->chain.head, 32);
	psm_chain_add(&v->chain, line, before, "}", 1);
	if (memcmp(v->chain.head, stated, 32) != 0)
		return stop(v, PSM_V_FAILED, "line %" PRIu64 ": chain hash does not match (this line was "
		    "changed, or lines before it inserted, removed or reordered)", v->line);
	if (psm_event_is(&ev, "checkpoint") || psm_event_is(&ev, "seal"))
		return check_checkpoint(v, &ev, before_head);
	return check_event(v, &ev);
}

/* At the end of the input; partial: an unfinished last line was there. */
int
psm_verifier_finish(struct psm_verifier *v, bool partial)
{
	if (v->verdict != PSM_V_OK)
		return v->verdict;
	if (v->line == 0 && !partial)
		return stop(v, PSM_V_INVALID, "not a sealed psm stream (empty)"), v->verdict;
	if (v->sealed && v->verified_through == v->line && !partial)
		return PSM_V_OK;
	uint64_t unsealed = v->line - v->verified_through + (partial ? 1 : 0);
	stop(v, PSM_V_INCOMPLETE, "verified through line %" PRIu64 ", %" PRIu64 " line%s unsealed",
	    v->verified_through, unsealed, unsealed == 1 ? "" : "s");
	return PSM_V_INCOMPLETE;
}
