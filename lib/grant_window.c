/*
 * grant_window.c: the grants of a stream's sessions, as psm-verify --ca
 * checks them (psm_grant.h). Each session's start event carries the grant
 * it ran under, the exact line, and a grant id; the grant must verify
 * against the CA's key, be for the session's user and host, and every
 * event of the session must lie in the grant's window, by the wall clock
 * of the start event plus the event's t.
 *
 * Only open sessions are kept, in a table by session id, removed at their
 * end event: memory is bounded by the sessions open at once, as the
 * verifier's own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "psm_grant.h"

struct window {
	char sid[PSM_SID_LEN + 1];	/* the table's key: first */
	char grant[PSM_SID_LEN + 1];
	int64_t start;			/* the start event's time, microseconds since the epoch */
	int64_t not_before, expires;	/* the grant's, seconds */
};

void
psm_grant_windows_init(struct psm_grant_windows *w, const struct psm_pubkey *ca)
{
	memset(w, 0, sizeof *w);
	w->ca = ca;
	psm_table_init(&w->open, sizeof(struct window));
}

void
psm_grant_windows_free(struct psm_grant_windows *w)
{
	psm_table_free(&w->open);
	psm_buf_free(&w->scratch);
}

/* A string field of the start event, decoded into w->scratch (NUL-terminated); NULL if none. */
static const char *
start_str(struct psm_grant_windows *w, const struct psm_event *ev, const char *key)
{
	const struct psm_field *f = psm_event_get(ev, key);

	w->scratch.len = 0;
	if (f == NULL || psm_field_str(f, &w->scratch) < 0)
		return NULL;
	psm_buf_addc(&w->scratch, '\0');
	w->scratch.len--;
	return w->scratch.data;
}

/* The session's grant, checked, into a new window. */
static int
open_window(struct psm_grant_windows *w, const struct psm_event *ev, struct psm_error *e)
{
	struct psm_grant g;
	struct window *win;
	const char *s;
	int64_t start;
	int rc = -1;

	if (psm_event_get(ev, "grant") == NULL)
		return psm_fail(e, PSM_E_NO, "session %s has no grant", ev->sid);
	if ((s = start_str(w, ev, "grant")) == NULL)
		return psm_fail(e, PSM_E_NO, "session %s: its \"grant\" is not a string", ev->sid);
	if (psm_grant_parse(&g, s, w->scratch.len, w->ca, e) < 0) {
		psm_error_prefix(e, "session %s", ev->sid);
		return -1;
	}
	if ((s = start_str(w, ev, "grant_id")) == NULL || strcmp(s, g.id) != 0) {
		psm_fail(e, PSM_E_NO, "session %s: its \"grant_id\" is not the id of its grant %s",
		    ev->sid, g.id);
		goto out;
	}
	if ((s = start_str(w, ev, "user")) == NULL || strcmp(s, g.account) != 0) {
		psm_fail(e, PSM_E_NO, "session %s: its user is not %s, the account of its grant %s",
		    ev->sid, g.account, g.id);
		goto out;
	}
	if ((s = start_str(w, ev, "host")) == NULL || !psm_grant_for_host(&g, s)) {
		psm_fail(e, PSM_E_NO, "session %s: its host is not %s, the target of its grant %s",
		    ev->sid, g.target, g.id);
		goto out;
	}
	if ((s = start_str(w, ev, "time")) == NULL ||
	    psm_rfc3339_parse(s, w->scratch.len, &start) < 0) {
		psm_fail(e, PSM_E_NO, "session %s: its start time is not RFC 3339 as psm writes it",
		    ev->sid);
		goto out;
	}
	if ((win = psm_table_find(&w->open, ev->sid)) == NULL)
		win = psm_table_add(&w->open, ev->sid);
	memcpy(win->grant, g.id, sizeof win->grant);
	win->start = start;
	win->not_before = g.not_before;
	win->expires = g.expires;
	w->checked++;
	rc = 0;
out:
	psm_grant_free(&g);
	return rc;
}

/* Typed input, which a session takes only while its grant holds. */
static bool
typed_input(const struct psm_event *ev)
{
	return psm_event_is(ev, "in") || psm_event_is(ev, "withheld");
}

/* Whether the event, t microseconds after the start, lies in the window. */
static int
in_window(const struct window *win, const struct psm_event *ev, struct psm_error *e)
{
	const int64_t usec = 1000000;
	int64_t from = (win->not_before - PSM_GRANT_SKEW) * usec - win->start;
	int64_t until = win->expires * usec - win->start;
	int64_t grace = until + PSM_GRANT_END_GRACE * usec;
	char when[48] = "", nb[PSM_TIME_LEN + 1], exp[PSM_TIME_LEN + 1];
	const char *why = NULL;

	if (from > 0 && ev->t < (uint64_t)from)
		why = "before";
	else if (until < 0 || ev->t > (uint64_t)until) {
		if (typed_input(ev))
			why = "input";
		else if (grace < 0 || ev->t > (uint64_t)grace)
			why = "after";
	}
	if (why == NULL)
		return 0;
	if (ev->t <= (uint64_t)(INT64_MAX - win->start))
		psm_rfc3339(when, (win->start + (int64_t)ev->t) / usec,
		    (long)((win->start + (int64_t)ev->t) % usec));
	else
		snprintf(when, sizeof when, "t %" PRIu64, ev->t);
	psm_time_format(nb, win->not_before);
	psm_time_format(exp, win->expires);
	if (why[0] == 'b')
		return psm_fail(e, PSM_E_NO, "session %s: an event at %s, before its grant %s was "
		    "valid (from %s, less %d s for clocks)", ev->sid, when, win->grant, nb,
		    PSM_GRANT_SKEW);
	if (why[0] == 'i')
		return psm_fail(e, PSM_E_NO, "session %s: typed input at %s, after its grant %s "
		    "expired at %s", ev->sid, when, win->grant, exp);
	return psm_fail(e, PSM_E_NO, "session %s: an event at %s, over %d s after its grant %s "
	    "expired at %s", ev->sid, when, PSM_GRANT_END_GRACE, win->grant, exp);
}

/*
 * The verifier's hook (psm_verifier_on_event): a start event's grant is
 * checked and its window kept; every event of the session is checked
 * against it; the end event closes it.
 */
int
psm_grant_windows_event(void *ctx, const struct psm_event *ev, struct psm_error *e)
{
	struct psm_grant_windows *w = ctx;
	const struct window *win;

	if (psm_event_is(ev, "start") && open_window(w, ev, e) < 0)
		return -1;
	if ((win = psm_table_find(&w->open, ev->sid)) == NULL)
		return psm_fail(e, PSM_E_NO, "session %s has no grant", ev->sid);
	int rc = in_window(win, ev, e);
	if (psm_event_is(ev, "end"))
		psm_table_remove(&w->open, ev->sid);
	return rc;
}
