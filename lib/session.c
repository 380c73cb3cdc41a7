/*
 * session.c: the order rules of a stream that several sessions share.
 * Each session begins with its start event at seq 0, its seq then counts
 * up by one with no gap, its t never runs backwards, and nothing follows
 * its end event.
 *
 * Only open sessions are kept, in a hash table, and the last
 * PSM_ENDED_KEPT that ended (to say "after its end" rather than "no start
 * event"): time is linear in the input and memory bounded by the sessions
 * open at once. An id seen again with a start event after it was
 * forgotten begins a new session (ids are random UUIDs: that is no
 * accident, and a sealed stream's chain shows whether it was written so).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "psm.h"

void
psm_sessions_init(struct psm_sessions *s)
{
	memset(s, 0, sizeof *s);
	psm_table_init(&s->table, sizeof(struct psm_session));
	s->ended = xmalloc(PSM_ENDED_KEPT * sizeof *s->ended);
}

/* Keep the ended session's id for a while; forget the oldest beyond that. */
static void
ended(struct psm_sessions *s, struct psm_session *ss, const char *sid)
{
	ss->ended = true;	/* before the removal below, which may move ss */
	s->open--;
	if (s->nended == PSM_ENDED_KEPT) {
		psm_table_remove(&s->table, s->ended[s->oldest]);
		memcpy(s->ended[s->oldest], sid, PSM_SID_LEN + 1);
		s->oldest = (s->oldest + 1) % PSM_ENDED_KEPT;
		return;
	}
	memcpy(s->ended[s->nended++], sid, PSM_SID_LEN + 1);
}

/* 0 if ev keeps the rules (and is then counted), else -1 and why not (PSM_E_DATA). */
int
psm_sessions_check(struct psm_sessions *s, const struct psm_event *ev, struct psm_error *e)
{
	struct psm_session *ss;

	/* psm-seal's own events are checked by the verifier, not as a session. */
	if (psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal"))
		return 0;
	ss = psm_table_find(&s->table, ev->sid);
	if (ss == NULL) {
		if (ev->seq != 0 || !psm_event_is(ev, "start"))
			return psm_fail(e, PSM_E_DATA, "session %s has no start event "
			    "(first seen at seq %" PRIu64 ")", ev->sid, ev->seq);
		ss = psm_table_add(&s->table, ev->sid);
		s->started++;
		s->open++;
	} else if (ss->ended) {
		return psm_fail(e, PSM_E_DATA, "session %s: event after its end", ev->sid);
	} else if (ev->seq != ss->next_seq) {
		return psm_fail(e, PSM_E_DATA, "session %s: seq %" PRIu64 " where %"
		    PRIu64 " was due", ev->sid, ev->seq, ss->next_seq);
	} else if (psm_event_is(ev, "start")) {
		return psm_fail(e, PSM_E_DATA, "session %s: a second start event", ev->sid);
	} else if (ev->t < ss->last_t) {
		return psm_fail(e, PSM_E_DATA, "session %s: t runs backwards (%" PRIu64
		    " after %" PRIu64 ")", ev->sid, ev->t, ss->last_t);
	}
	ss->next_seq = ev->seq + 1;
	ss->last_t = ev->t;
	if (psm_event_is(ev, "end"))
		ended(s, ss, ev->sid);
	return 0;
}

void
psm_sessions_free(struct psm_sessions *s)
{
	psm_table_free(&s->table);
	free(s->ended);
	s->ended = NULL;
}
