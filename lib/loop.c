/*
 * loop.c: one poll() loop for a command's descriptors, timers and signals.
 *
 * The command adds sources, each with its callbacks and a context, and
 * runs the loop until its done() says so. One round: done(), then each
 * descriptor's want(), one poll() that sleeps until the earliest timer,
 * and then, in this order: the ready descriptors in the order they were
 * added, one signal from the signalfd, the timers that are due (earliest
 * first), and the after hooks. The order is part of the contract: a
 * recorder reads the command's output before it hears that the command
 * has exited, and writes what it read once the round is over.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "psm.h"

enum kind {
	FREE,		/* a slot to reuse */
	GONE,		/* removed during this round: reused from the next */
	FD,
	TIMER,
	SIGNALS,
	AFTER,
};

struct psm_loop_source {
	enum kind kind;
	void *ctx;
	const int *fd;			/* FD */
	short (*want)(void *ctx);
	void (*ready)(void *ctx, int fd, short revents);
	int polled;			/* the descriptor given to this round's poll() */
	const uint64_t *at;		/* TIMER */
	void (*fire)(void *ctx);
	uint64_t fired;			/* the round it last fired in */
	sigset_t set;			/* SIGNALS */
	void (*on_signal)(void *ctx, int signo);
	void (*after)(void *ctx);	/* AFTER */
};

#define SIGNALFD_SLOT SIZE_MAX		/* in pfd_src: the loop's signalfd */

void
psm_loop_init(struct psm_loop *l)
{
	memset(l, 0, sizeof *l);
	l->sigfd = -1;
	sigemptyset(&l->sigs);
}

/* A slot for a new source: a free one, else a new one at the end. */
static int
add(struct psm_loop *l, const struct psm_loop_source *src)
{
	size_t i;

	for (i = 0; i < l->nsrc; i++)
		if (l->src[i].kind == FREE)
			break;
	if (i == l->nsrc) {
		if (l->nsrc == INT_MAX)
			xpsm_die(&(struct psm_error){ PSM_E_OS, 0, "too many loop sources" });
		l->src = xpsm_grow(l->src, &l->srccap, l->nsrc + 1, sizeof *l->src);
		l->nsrc++;
	}
	l->src[i] = *src;
	return (int)i;
}

/*
 * A descriptor: *fd is read before each poll() (a negative one is not
 * polled), want() says which events to wait for (NULL: POLLIN; 0: not
 * now), and ready() gets the descriptor and the events that came.
 * Returns the source's id.
 */
int
psm_loop_add_fd(struct psm_loop *l, const int *fd, short (*want)(void *ctx),
    void (*ready)(void *ctx, int fd, short revents), void *ctx)
{
	return add(l, &(struct psm_loop_source){ .kind = FD, .fd = fd,
	    .want = want, .ready = ready, .ctx = ctx });
}

/*
 * A timer: *at is the monotonic time (psm_mono_usec()) at which to call
 * fire(), or 0 for none. Like a descriptor it is read every round, so the
 * command sets, moves and stops the timer by writing *at; fire() should
 * clear or move it, or it fires again the next round. A timer with no
 * fire() only wakes the loop up. Returns the source's id.
 */
int
psm_loop_add_timer(struct psm_loop *l, const uint64_t *at,
    void (*fire)(void *ctx), void *ctx)
{
	return add(l, &(struct psm_loop_source){ .kind = TIMER, .at = at,
	    .fire = fire, .ctx = ctx });
}

/* A hook run at the end of every round. Returns the source's id. */
int
psm_loop_add_after(struct psm_loop *l, void (*after)(void *ctx), void *ctx)
{
	return add(l, &(struct psm_loop_source){ .kind = AFTER, .after = after,
	    .ctx = ctx });
}

/*
 * The signals of set, given to on_signal() instead of their usual action:
 * they are blocked and read from a signalfd the loop owns, and one that
 * the process inherited as ignored is set back to its default, or it
 * would never arrive. They stay blocked after the loop is freed. Returns
 * the source's id, or -1 and why.
 */
int
psm_loop_signals(struct psm_loop *l, const sigset_t *set,
    void (*on_signal)(void *ctx, int signo), void *ctx, struct psm_error *e)
{
	sigset_t all;
	int fd;

	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return psm_fail_errno(e, "sigprocmask");
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sigismember(set, sig) == 1 && sigaction(sig, NULL, &sa) == 0 &&
		    !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
			signal(sig, SIG_DFL);
	}
	sigorset(&all, &l->sigs, set);
	if ((fd = signalfd(l->sigfd, &all, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return psm_fail_errno(e, "signalfd");
	l->sigfd = fd;
	l->sigs = all;
	struct psm_loop_source src = { .kind = SIGNALS, .on_signal = on_signal,
		.ctx = ctx };
	src.set = *set;
	return add(l, &src);
}

/*
 * Forget a source. A callback may remove any source, itself included;
 * one removed during a round is not called again in it.
 */
void
psm_loop_remove(struct psm_loop *l, int id)
{
	if (id < 0 || (size_t)id >= l->nsrc)
		return;
	l->src[id].kind = l->running ? GONE : FREE;
}

/* The poll() set of this round; the signalfd comes last. */
static size_t
gather(struct psm_loop *l)
{
	size_t n = 0;

	l->pfd = xpsm_grow(l->pfd, &l->pfdcap, l->nsrc + 1, sizeof *l->pfd);
	l->pfd_src = xpsm_grow(l->pfd_src, &l->pfd_srccap, l->nsrc + 1,
	    sizeof *l->pfd_src);
	for (size_t i = 0; i < l->nsrc; i++) {
		struct psm_loop_source *s = &l->src[i];
		short events;

		if (s->kind == GONE)
			s->kind = FREE;
		if (s->kind != FD || *s->fd < 0)
			continue;
		events = s->want ? s->want(s->ctx) : POLLIN;
		if (events == 0)
			continue;
		s->polled = *s->fd;
		l->pfd[n] = (struct pollfd){ .fd = s->polled, .events = events };
		l->pfd_src[n++] = i;
	}
	if (l->sigfd >= 0) {
		l->pfd[n] = (struct pollfd){ .fd = l->sigfd, .events = POLLIN };
		l->pfd_src[n++] = SIGNALFD_SLOT;
	}
	return n;
}

/* Milliseconds to the earliest timer, rounded up; -1 for none. */
static int
timeout(struct psm_loop *l)
{
	uint64_t next = 0, now;

	for (size_t i = 0; i < l->nsrc; i++) {
		uint64_t at;

		if (l->src[i].kind == TIMER && (at = *l->src[i].at) != 0 &&
		    (next == 0 || at < next))
			next = at;
	}
	if (next == 0)
		return -1;
	now = psm_mono_usec();
	if (next <= now)
		return 0;
	if ((next - now) / 1000 >= INT_MAX)
		return INT_MAX;
	return (int)((next - now + 999) / 1000);
}

/* A descriptor closed under the loop: a bug of the command's, not an event. */
static int
check_valid(struct psm_loop *l, size_t n, struct psm_error *e)
{
	for (size_t k = 0; k < n; k++) {
		if (l->pfd[k].revents & POLLNVAL) {
			errno = EBADF;
			return psm_fail_errno(e, "poll: descriptor %d", l->pfd[k].fd);
		}
	}
	return 0;
}

/* One signal a round, so that descriptors are served between signals. */
static void
read_signal(struct psm_loop *l)
{
	struct signalfd_siginfo si;

	if (read(l->sigfd, &si, sizeof si) != sizeof si)
		return;
	for (size_t i = 0; i < l->nsrc; i++) {
		struct psm_loop_source *s = &l->src[i];

		if (s->kind == SIGNALS && sigismember(&s->set, (int)si.ssi_signo) == 1) {
			s->on_signal(s->ctx, (int)si.ssi_signo);
			return;
		}
	}
}

static void
dispatch(struct psm_loop *l, size_t n)
{
	bool signalled = false;

	for (size_t k = 0; k < n; k++) {
		size_t i = l->pfd_src[k];
		struct psm_loop_source *s;

		if (l->pfd[k].revents == 0)
			continue;
		if (i == SIGNALFD_SLOT) {
			signalled = l->pfd[k].revents & POLLIN;
			continue;
		}
		s = &l->src[i];
		/* Removed, or its descriptor closed or changed by an earlier callback. */
		if (s->kind != FD || *s->fd != s->polled)
			continue;
		s->ready(s->ctx, s->polled, l->pfd[k].revents);
	}
	if (signalled)
		read_signal(l);
}

/*
 * The timers that are due, earliest first (in the order added when equal),
 * each at most once a round; each is read again before the next fires,
 * because a callback may have moved or stopped a timer.
 */
static void
fire_timers(struct psm_loop *l)
{
	uint64_t now = psm_mono_usec();

	for (;;) {
		size_t best = SIZE_MAX;
		uint64_t best_at = 0;

		for (size_t i = 0; i < l->nsrc; i++) {
			struct psm_loop_source *s = &l->src[i];
			uint64_t at;

			if (s->kind != TIMER || s->fired == l->round)
				continue;
			at = *s->at;
			if (at != 0 && at <= now && (best == SIZE_MAX || at < best_at)) {
				best = i;
				best_at = at;
			}
		}
		if (best == SIZE_MAX)
			return;
		l->src[best].fired = l->round;
		if (l->src[best].fire != NULL)
			l->src[best].fire(l->src[best].ctx);
	}
}

static void
run_after(struct psm_loop *l)
{
	for (size_t i = 0; i < l->nsrc; i++)
		if (l->src[i].kind == AFTER)
			l->src[i].after(l->src[i].ctx);
}

/*
 * Run rounds until done(ctx) is true, checked before each. Returns 0 then,
 * or -1 and why: poll() failed (an interrupted one is tried again), a
 * descriptor given to it was not open, or there was nothing to wait for.
 */
int
psm_loop_run(struct psm_loop *l, bool (*done)(void *ctx), void *ctx,
    struct psm_error *e)
{
	int rc = 0;

	l->running = true;
	while (!done(ctx)) {
		size_t n = gather(l);
		int ms = timeout(l);

		if (n == 0 && ms < 0) {
			rc = psm_fail(e, PSM_E_USAGE, "poll: nothing to wait for");
			break;
		}
		if (poll(l->pfd, (nfds_t)n, ms) < 0) {
			if (errno == EINTR)
				continue;
			rc = psm_fail_errno(e, "poll");
			break;
		}
		if ((rc = check_valid(l, n, e)) < 0)
			break;
		l->round++;
		dispatch(l, n);
		fire_timers(l);
		run_after(l);
	}
	l->running = false;
	for (size_t i = 0; i < l->nsrc; i++)
		if (l->src[i].kind == GONE)
			l->src[i].kind = FREE;
	return rc;
}

/* Free the loop and close its signalfd (the signals stay blocked). */
void
psm_loop_free(struct psm_loop *l)
{
	if (l->sigfd >= 0)
		close(l->sigfd);
	free(l->src);
	free(l->pfd);
	free(l->pfd_src);
	psm_loop_init(l);
}
