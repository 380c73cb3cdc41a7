/*
 * test-loop.c: the event loop (lib/loop.c) on its own, for what no
 * command shows: the order of timers and of a round, sources that are not
 * polled, signals, done(), and failures that return instead of exiting.
 * Prints one line per failed check to stderr; exits 0 when all pass.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "psm.h"
#include "check.h"

static const char *test = "";
/* One-argument checks (tests/lib/check.h), named by the test that runs. */
#define EXPECT(cond) CHECK(cond, "%s: failed: %s", test, #cond)

/* A log of what the callbacks did, in order: one letter each. */
struct trace {
	char log[64];
	size_t n;
	int rounds, stop_after;		/* done() after stop_after rounds (after hooks) */
};

static void
note(struct trace *t, char c)
{
	if (t->n + 1 < sizeof t->log)
		t->log[t->n++] = c;
	t->log[t->n] = '\0';
}

static bool
rounds_done(void *ctx)
{
	struct trace *t = ctx;

	return t->rounds >= t->stop_after;
}

static void
count_round(void *ctx)
{
	((struct trace *)ctx)->rounds++;
}

/* Timers: each one's time, and the letter it writes when it fires. */
struct timer {
	struct trace *t;
	uint64_t at;
	char name;
};

static void
timer_fire(void *ctx)
{
	struct timer *tm = ctx;

	tm->at = 0;
	note(tm->t, tm->name);
}

static bool
log_has(void *ctx)
{
	struct trace *t = ctx;

	return t->n >= (size_t)t->stop_after;
}

static void
test_timers_in_order(void)
{
	struct trace t = { .stop_after = 3 };
	struct timer tm[3] = { { &t, 0, 'c' }, { &t, 0, 'a' }, { &t, 0, 'b' } };
	struct psm_loop l;
	struct psm_error e;
	uint64_t now = psm_mono_usec();

	test = "timers fire in order";
	psm_loop_init(&l);
	for (int i = 0; i < 3; i++)
		psm_loop_add_timer(&l, &tm[i].at, timer_fire, &tm[i]);
	tm[0].at = now + 30000;
	tm[1].at = now + 10000;
	tm[2].at = now + 20000;
	EXPECT(psm_loop_run(&l, log_has, &t, &e) == 0);
	EXPECT(strcmp(t.log, "abc") == 0);
	EXPECT(psm_mono_usec() >= now + 30000);

	/* Due in the same round: earliest first, then in the order added. */
	test = "timers due together fire earliest first";
	t.n = 0;
	tm[0].at = now - 1;
	tm[1].at = now - 3;
	tm[2].at = now - 1;
	EXPECT(psm_loop_run(&l, log_has, &t, &e) == 0);
	EXPECT(strcmp(t.log, "acb") == 0);
	psm_loop_free(&l);
}

/* A pipe with a byte in it, read by a source that says when it wants to be. */
struct reader {
	struct trace *t;
	int fd;
	bool wanted;
	int called;
	uint64_t at;	/* a timer that makes it wanted */
};

static short
reader_want(void *ctx)
{
	return ((struct reader *)ctx)->wanted ? POLLIN : 0;
}

static void
reader_ready(void *ctx, int fd, short revents)
{
	struct reader *r = ctx;
	char c;

	r->called++;
	if (fd == r->fd && (revents & POLLIN) && read(fd, &c, 1) == 1)
		note(r->t, 'r');
}

static void
want_now(void *ctx)
{
	struct reader *r = ctx;

	r->wanted = true;
	r->at = 0;
	note(r->t, 'T');
}

static void
test_want_zero_not_polled(void)
{
	struct trace t = { .stop_after = 2 };
	struct reader r = { .t = &t }, closed = { .t = &t, .fd = 1000 };
	struct psm_loop l;
	struct psm_error e;
	int p[2];

	test = "a source whose want() returns 0 is not polled";
	if (pipe(p) < 0 || write(p[1], "x", 1) != 1) {
		EXPECT(!"pipe");
		return;
	}
	r.fd = p[0];
	psm_loop_init(&l);
	psm_loop_add_fd(&l, &r.fd, reader_want, reader_ready, &r);
	/* Not open: polling it would be an error. */
	psm_loop_add_fd(&l, &closed.fd, reader_want, reader_ready, &closed);
	r.at = psm_mono_usec() + 20000;
	psm_loop_add_timer(&l, &r.at, want_now, &r);
	EXPECT(psm_loop_run(&l, log_has, &t, &e) == 0);
	EXPECT(strcmp(t.log, "Tr") == 0);	/* readable all along, read only once wanted */
	EXPECT(r.called == 1);
	EXPECT(closed.called == 0);

	test = "a negative descriptor is not polled";
	r.fd = -1;
	r.called = 0;
	t.n = 0;
	t.stop_after = 1;
	r.at = psm_mono_usec() + 10000;
	EXPECT(psm_loop_run(&l, log_has, &t, &e) == 0);
	EXPECT(r.called == 0);
	psm_loop_free(&l);
	close(p[0]);
	close(p[1]);
}

struct caught {
	int signo[4];
	int n;
};

static void
on_signal(void *ctx, int signo)
{
	struct caught *c = ctx;

	if (c->n < 4)
		c->signo[c->n] = signo;
	c->n++;
}

static bool
caught_two(void *ctx)
{
	return ((struct caught *)ctx)->n >= 2;
}

static void
test_signals(void)
{
	struct caught c = { 0 };
	struct psm_loop l;
	struct psm_error e;
	sigset_t set, blocked;

	test = "signals arrive through the callback";
	signal(SIGUSR2, SIG_IGN);	/* inherited as ignored: set back to default */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	psm_loop_init(&l);
	EXPECT(psm_loop_signals(&l, &set, on_signal, &c, &e) >= 0);
	EXPECT(sigprocmask(SIG_BLOCK, NULL, &blocked) == 0 &&
	    sigismember(&blocked, SIGUSR1) == 1 && sigismember(&blocked, SIGUSR2) == 1);
	raise(SIGUSR2);
	raise(SIGUSR1);
	EXPECT(psm_loop_run(&l, caught_two, &c, &e) == 0);
	EXPECT(c.n == 2);
	/* Pending signals are read lowest first: SIGUSR1 (10), SIGUSR2 (12). */
	EXPECT(c.signo[0] == SIGUSR1 && c.signo[1] == SIGUSR2);
	psm_loop_free(&l);
}

static bool
always(void *ctx)
{
	(void)ctx;
	return true;
}

static void
test_done(void)
{
	struct trace t = { .stop_after = 3 };
	struct reader r = { .t = &t, .fd = 1000, .wanted = true };	/* not open */
	struct psm_loop l;
	struct psm_error e;
	uint64_t at;

	test = "run() returns at once when done() is true";
	psm_loop_init(&l);
	psm_loop_add_fd(&l, &r.fd, reader_want, reader_ready, &r);
	psm_loop_add_after(&l, count_round, &t);
	EXPECT(psm_loop_run(&l, always, NULL, &e) == 0);
	EXPECT(t.rounds == 0 && r.called == 0);
	psm_loop_free(&l);

	test = "run() returns when done() becomes true";
	psm_loop_init(&l);
	at = 1;		/* long past: every round is over at once */
	psm_loop_add_timer(&l, &at, NULL, NULL);
	psm_loop_add_after(&l, count_round, &t);
	EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == 0);
	EXPECT(t.rounds == 3);
	psm_loop_free(&l);
}

static void
test_failures(void)
{
	struct trace t = { .stop_after = 1 };
	struct reader r = { .t = &t, .fd = 1000, .wanted = true };
	struct psm_loop l;
	struct psm_error e = { 0 };
	struct rlimit old, low;
	struct pollfd probe[64];
	int fds[64];

	for (int i = 0; i < 64; i++)
		probe[i] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	test = "a descriptor that is not open fails the loop, with a message";
	psm_loop_init(&l);
	psm_loop_add_fd(&l, &r.fd, reader_want, reader_ready, &r);
	psm_loop_add_after(&l, count_round, &t);
	EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == -1);
	EXPECT(e.kind == PSM_E_OS && e.errnum == EBADF);
	EXPECT(strcmp(e.msg, "poll: descriptor 1000: Bad file descriptor") == 0);
	EXPECT(r.called == 0 && t.rounds == 0);
	psm_loop_free(&l);

	/*
	 * poll() refuses more descriptors than RLIMIT_NOFILE: EINVAL (not
	 * under valgrind, which keeps a limit of its own: then no check).
	 */
	test = "a failing poll() returns -1 and why";
	psm_loop_init(&l);
	for (int i = 0; i < 64; i++) {
		fds[i] = STDIN_FILENO;
		psm_loop_add_fd(&l, &fds[i], NULL, reader_ready, &r);
	}
	psm_loop_add_after(&l, count_round, &t);	/* ends it if poll() works */
	memset(&e, 0, sizeof e);
	t.rounds = 0;
	EXPECT(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = 16;
	EXPECT(setrlimit(RLIMIT_NOFILE, &low) == 0);
	if (poll(probe, 64, 0) < 0 && errno == EINVAL) {
		EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == -1);
		EXPECT(e.kind == PSM_E_OS && e.errnum == EINVAL);
		EXPECT(strcmp(e.msg, "poll: Invalid argument") == 0);
	}
	setrlimit(RLIMIT_NOFILE, &old);
	psm_loop_free(&l);

	test = "a loop with nothing to wait for fails instead of sleeping forever";
	t.rounds = 0;
	psm_loop_init(&l);
	psm_loop_add_fd(&l, &r.fd, reader_want, reader_ready, &r);
	r.wanted = false;
	EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == -1);
	EXPECT(e.kind == PSM_E_USAGE);
	EXPECT(strcmp(e.msg, "poll: nothing to wait for") == 0);
	psm_loop_free(&l);
}

/* One round, every kind of source ready: the documented order. */
struct order {
	struct trace *t;
	struct psm_loop *l;
	int fd;
	char name;
	int remove;	/* a source to remove when called, or -1 */
	int *clear;	/* a descriptor to close under the loop when called */
};

static void
order_ready(void *ctx, int fd, short revents)
{
	struct order *o = ctx;

	(void)fd;
	(void)revents;
	note(o->t, o->name);
	if (o->remove >= 0)
		psm_loop_remove(o->l, o->remove);
	if (o->clear != NULL)
		*o->clear = -1;
}

static void
order_signal(void *ctx, int signo)
{
	(void)signo;
	note(ctx, 's');
}

static void
order_after(void *ctx)
{
	struct trace *t = ctx;

	note(t, 'f');
	t->rounds++;
}

static void
test_round_order(void)
{
	struct trace t = { .stop_after = 1 };
	struct psm_loop l;
	struct psm_error e;
	struct order o[5];
	struct timer tm = { &t, 1, 't' };
	sigset_t set;
	int p[2], ids[5];

	test = "a round serves descriptors in the order added, then a signal, timers, after hooks";
	if (pipe(p) < 0 || write(p[1], "x", 1) != 1) {
		EXPECT(!"pipe");
		return;
	}
	psm_loop_init(&l);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	/* Added first, served last of their kinds. */
	EXPECT(psm_loop_add_after(&l, order_after, &t) >= 0);
	EXPECT(psm_loop_signals(&l, &set, order_signal, &t, &e) >= 0);
	EXPECT(psm_loop_add_timer(&l, &tm.at, timer_fire, &tm) >= 0);
	for (int i = 0; i < 5; i++) {
		o[i] = (struct order){ &t, &l, p[0], (char)('a' + i), -1, NULL };
		ids[i] = psm_loop_add_fd(&l, &o[i].fd, NULL, order_ready, &o[i]);
	}
	o[1].remove = ids[2];	/* b removes c: c is not called */
	o[3].clear = &o[4].fd;	/* d closes e's descriptor: e is not called */
	raise(SIGUSR1);
	EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == 0);
	EXPECT(strcmp(t.log, "abdstf") == 0);

	test = "a removed source's id is given to the next source added";
	EXPECT(psm_loop_add_fd(&l, &o[2].fd, NULL, order_ready, &o[2]) == ids[2]);
	psm_loop_free(&l);
	close(p[0]);
	close(p[1]);
}

/* Many sources: no small fixed limit. */
static void
count_ready(void *ctx, int fd, short revents)
{
	(void)fd;
	(void)revents;
	(*(int *)ctx)++;
}

static void
test_many(void)
{
	enum { N = 500 };
	static int fds[N];
	struct trace t = { .stop_after = 1 };
	struct psm_loop l;
	struct psm_error e;
	int calls = 0, p[2];

	test = "hundreds of sources are all served";
	if (pipe(p) < 0 || write(p[1], "x", 1) != 1) {
		EXPECT(!"pipe");
		return;
	}
	psm_loop_init(&l);
	for (int i = 0; i < N; i++) {
		fds[i] = p[0];
		EXPECT(psm_loop_add_fd(&l, &fds[i], NULL, count_ready, &calls) == i);
	}
	psm_loop_add_after(&l, count_round, &t);
	EXPECT(psm_loop_run(&l, rounds_done, &t, &e) == 0);
	EXPECT(calls == N);
	psm_loop_free(&l);
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	test_timers_in_order();
	test_want_zero_not_polled();
	test_signals();
	test_done();
	test_failures();
	test_round_order();
	test_many();
	return check_done();
}
