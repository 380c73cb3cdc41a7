/*
 * test-session.c: the order rules of sessions in a shared stream
 * (lib/session.c), and its memory bound over a million sessions.
 *
 * The rule for an event after the end of its session: it is always
 * refused. While the id is among the last PSM_ENDED_KEPT sessions that
 * ended, the message says so ("event after its end"); an id that ended
 * longer ago is forgotten, so the event is refused as a session that
 * "has no start event". Only a start event at seq 0 can bring a
 * forgotten id back, and it begins a new session.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "psm.h"
#include "check.h"

#define SID_A "0a0a0a0a-0000-4000-a000-000000000001"
#define SID_B "0b0b0b0b-0000-4000-a000-000000000002"

/* One event as psm writes it and a reader parses it, through the session checks. */
static int
feed(struct psm_sessions *s, const char *sid, uint64_t seq, uint64_t t, const char *type,
    struct psm_error *e)
{
	struct psm_buf b = { 0 };
	struct psm_event ev;
	int rc;

	psm_ev_begin(&b, sid, seq, t, type);
	if (strcmp(type, "out") == 0)
		psm_ev_payload(&b, "ok\r\n", 4);
	psm_ev_end(&b);
	rc = psm_event_parse(&ev, b.data, b.len - 1, e);
	if (CHECK(rc == 0, "the test's own event does not parse: %s", e->msg))
		rc = psm_sessions_check(s, &ev, e);
	psm_buf_free(&b);
	return rc;
}

/* feed() must refuse the event, as PSM_E_DATA, with exactly want. */
static void
refused(struct psm_sessions *s, const char *sid, uint64_t seq, uint64_t t, const char *type,
    const char *want, int line)
{
	struct psm_error e = { 0 };

	if (!check_(feed(s, sid, seq, t, type, &e) == -1, __FILE__, line,
	    "%s seq %" PRIu64 " was taken", type, seq))
		return;
	check_(e.kind == PSM_E_DATA, __FILE__, line, "kind %d, expected PSM_E_DATA", (int)e.kind);
	check_str_(__FILE__, line, "the message", e.msg, want);
}
#define REFUSED(s, sid, seq, t, type, want) refused(s, sid, seq, t, type, want, __LINE__)

static void
taken(struct psm_sessions *s, const char *sid, uint64_t seq, uint64_t t, const char *type, int line)
{
	struct psm_error e = { 0 };

	check_(feed(s, sid, seq, t, type, &e) == 0, __FILE__, line, "%s seq %" PRIu64
	    " was refused: %s", type, seq, e.msg);
}
#define TAKEN(s, sid, seq, t, type) taken(s, sid, seq, t, type, __LINE__)

static void
test_rules(void)
{
	struct psm_sessions s;

	psm_sessions_init(&s);

	/* A session begins with its start event, at seq 0. */
	REFUSED(&s, SID_A, 0, 10, "out", "session " SID_A " has no start event (first seen at seq 0)");
	REFUSED(&s, SID_A, 1, 10, "start", "session " SID_A " has no start event (first seen at seq 1)");
	CHECK_EQ(s.started, 0);
	CHECK_EQ(s.table.count, 0);
	TAKEN(&s, SID_A, 0, 100, "start");
	CHECK_EQ(s.started, 1);
	CHECK_EQ(s.open, 1);

	/* seq counts up by one: no gap, no repeat; a refused event changes nothing. */
	TAKEN(&s, SID_A, 1, 100, "out");
	REFUSED(&s, SID_A, 3, 110, "out", "session " SID_A ": seq 3 where 2 was due");
	REFUSED(&s, SID_A, 1, 110, "out", "session " SID_A ": seq 1 where 2 was due");
	TAKEN(&s, SID_A, 2, 110, "out");

	/* A second start, even at the right seq. */
	REFUSED(&s, SID_A, 3, 120, "start", "session " SID_A ": a second start event");

	/* t never runs backwards; the same t again is fine. */
	REFUSED(&s, SID_A, 3, 109, "out", "session " SID_A ": t runs backwards (109 after 110)");
	TAKEN(&s, SID_A, 3, 110, "out");

	/* Another session's rules are its own. */
	TAKEN(&s, SID_B, 0, 5, "start");
	TAKEN(&s, SID_B, 1, 6, "out");
	CHECK_EQ(s.open, 2);

	/* psm-seal's own events are not session events. */
	TAKEN(&s, SID_A, 99, 0, "checkpoint");
	TAKEN(&s, SID_B, 0, 0, "seal");

	/* Nothing after the end: not an event, not a start. */
	TAKEN(&s, SID_A, 4, 130, "end");
	CHECK_EQ(s.open, 1);
	REFUSED(&s, SID_A, 5, 140, "out", "session " SID_A ": event after its end");
	REFUSED(&s, SID_A, 5, 140, "end", "session " SID_A ": event after its end");
	REFUSED(&s, SID_A, 0, 140, "start", "session " SID_A ": event after its end");
	TAKEN(&s, SID_B, 2, 7, "end");
	CHECK_EQ(s.open, 0);
	CHECK_EQ(s.started, 2);
	psm_sessions_free(&s);
}

/* A plain event, filled in directly (the million sessions below skip the parser). */
static void
fast_feed(struct psm_sessions *s, struct psm_event *ev, uint64_t i, uint64_t seq, const char *type,
    struct psm_error *e, int *rc)
{
	snprintf(ev->sid, sizeof ev->sid, "%08" PRIx64 "-0000-4000-a000-%012" PRIx64,
	    i >> 48, i & UINT64_C(0xffffffffffff));
	ev->seq = seq;
	ev->t = i;
	snprintf(ev->type, sizeof ev->type, "%s", type);
	ev->nf = 0;
	if (psm_sessions_check(s, ev, e) < 0)
		*rc = -1;
}

/*
 * A million sessions, each start, out, end, about OPEN open at a time:
 * session i starts at step i, has its out at step i + OPEN / 2 and ends
 * at step i + OPEN. The table holds the open sessions and at most the
 * PSM_ENDED_KEPT that ended last, never more.
 */
static void
test_million(void)
{
	enum { N = 1000000, OPEN = 10 };
	struct psm_sessions s;
	struct psm_event *ev = xmalloc(sizeof *ev);
	struct psm_error e = { 0 };
	size_t most = 0, most_slots = 0;
	int rc = 0;

	psm_sessions_init(&s);
	for (uint64_t step = 0; step < N + OPEN; step++) {
		if (step < N)
			fast_feed(&s, ev, step, 0, "start", &e, &rc);
		if (step >= OPEN / 2 && step - OPEN / 2 < N)
			fast_feed(&s, ev, step - OPEN / 2, 1, "out", &e, &rc);
		if (step >= OPEN)
			fast_feed(&s, ev, step - OPEN, 2, "end", &e, &rc);
		if (!CHECK(rc == 0, "step %" PRIu64 ": %s", step, e.msg))
			break;
		if (!CHECK(s.table.count <= PSM_ENDED_KEPT + s.open && s.open <= OPEN + 1,
		    "step %" PRIu64 ": %zu in the table, %" PRIu64 " open",
		    step, s.table.count, s.open))
			break;
		if (s.table.count > most)
			most = s.table.count;
		if (s.table.nslots > most_slots)
			most_slots = s.table.nslots;
	}
	CHECK_EQ(s.started, N);
	CHECK_EQ(s.open, 0);
	CHECK_EQ(s.table.count, PSM_ENDED_KEPT);
	CHECK(most <= PSM_ENDED_KEPT + OPEN + 1, "the table held %zu sessions at most", most);
	CHECK(most_slots <= 4 * (PSM_ENDED_KEPT + OPEN + 1), "the table grew to %zu slots", most_slots);

	/*
	 * Sessions ended in the order they began: the last PSM_ENDED_KEPT
	 * (N - PSM_ENDED_KEPT and after) are remembered, the ones before are not.
	 */
	rc = 0;
	fast_feed(&s, ev, N - PSM_ENDED_KEPT, 3, "out", &e, &rc);
	CHECK(rc == -1 && strstr(e.msg, ": event after its end") != NULL,
	    "the oldest session kept: %s", rc ? e.msg : "taken");
	rc = 0;
	fast_feed(&s, ev, N - 1, 3, "out", &e, &rc);
	CHECK(rc == -1 && strstr(e.msg, ": event after its end") != NULL,
	    "the last session: %s", rc ? e.msg : "taken");
	rc = 0;
	fast_feed(&s, ev, N - PSM_ENDED_KEPT - 1, 3, "out", &e, &rc);
	CHECK(rc == -1 && strstr(e.msg, " has no start event (first seen at seq 3)") != NULL,
	    "the newest forgotten session: %s", rc ? e.msg : "taken");
	rc = 0;
	fast_feed(&s, ev, 0, 3, "out", &e, &rc);
	CHECK(rc == -1 && e.kind == PSM_E_DATA, "the first session, ended long ago: taken");
	CHECK_STR(e.msg, "session 00000000-0000-4000-a000-000000000000 has no start event "
	    "(first seen at seq 3)");
	/* Its id with a start event at seq 0 begins a new session. */
	rc = 0;
	fast_feed(&s, ev, 0, 0, "start", &e, &rc);
	CHECK(rc == 0, "a forgotten id's new start: %s", e.msg);
	CHECK_EQ(s.started, N + 1);
	CHECK_EQ(s.open, 1);

	free(ev);
	psm_sessions_free(&s);
}

int
main(void)
{
	test_rules();
	test_million();
	return check_done();
}
