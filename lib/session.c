/*
 * session.c: the order rules of a stream that several sessions share.
 * Each session begins with its start event at seq 0, its seq then counts
 * up by one with no gap, its t never runs backwards, and nothing follows
 * its end event.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psm.h"

static struct psm_session *
find(struct psm_sessions *s, const char *sid)
{
	/* Newest first: a live log's events are mostly the latest session's. */
	for (size_t i = s->n; i-- > 0;)
		if (strcmp(s->v[i].sid, sid) == 0)
			return &s->v[i];
	return NULL;
}

static struct psm_session *
add(struct psm_sessions *s, const char *sid)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	struct psm_session *ss = &s->v[s->n++];
	memset(ss, 0, sizeof *ss);
	memcpy(ss->sid, sid, sizeof ss->sid);
	return ss;
}

/* NULL if ev keeps the rules (and is then counted), else why not. */
const char *
psm_sessions_check(struct psm_sessions *s, const struct psm_event *ev,
    struct psm_session **out)
{
	static char msg[160];
	struct psm_session *ss;

	/* psm-seal's own events are checked by the verifier, not as a session. */
	if (psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal"))
		return NULL;
	ss = find(s, ev->sid);

	if (ss == NULL) {
		if (ev->seq != 0 || !psm_event_is(ev, "start")) {
			snprintf(msg, sizeof msg, "session %s has no start event "
			    "(first seen at seq %" PRIu64 ")", ev->sid, ev->seq);
			return msg;
		}
		ss = add(s, ev->sid);
	} else if (ss->ended) {
		snprintf(msg, sizeof msg, "session %s: event after its end", ev->sid);
		return msg;
	} else if (ev->seq != ss->next_seq) {
		snprintf(msg, sizeof msg, "session %s: seq %" PRIu64 " where %"
		    PRIu64 " was due", ev->sid, ev->seq, ss->next_seq);
		return msg;
	} else if (psm_event_is(ev, "start")) {
		snprintf(msg, sizeof msg, "session %s: a second start event", ev->sid);
		return msg;
	} else if (ev->t < ss->last_t) {
		snprintf(msg, sizeof msg, "session %s: t runs backwards (%" PRIu64
		    " after %" PRIu64 ")", ev->sid, ev->t, ss->last_t);
		return msg;
	}
	ss->next_seq = ev->seq + 1;
	ss->last_t = ev->t;
	ss->ended = psm_event_is(ev, "end");
	if (out != NULL)
		*out = ss;
	return NULL;
}

void
psm_sessions_free(struct psm_sessions *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
