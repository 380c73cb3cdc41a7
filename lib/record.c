/*
 * record.c: the writing side of a recording. Events are built in memory
 * and written in whole lines, at least once a second. A write that fails
 * is reported to the caller; in fail-open mode the recorder counts what it
 * could not write and, once writing works again, says so in a "lost" event
 * (after the start event, written again when it was the one lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm.h"

static const char *const stream_type[] = { "in", "out", "err" };

/*
 * A recording of session sid written to fd; path names it in messages.
 * Its clock starts now. Returns 0, or -1 when sid is not a session id.
 */
int
psm_rec_init(struct psm_rec *r, int fd, const char *path, const char *sid,
    bool fail_open, struct psm_error *e)
{
	struct stat st;

	memset(r, 0, sizeof *r);
	if (!psm_sid_valid(sid, strnlen(sid, PSM_SID_LEN + 1)))
		return psm_fail(e, PSM_E_USAGE, "not a session id: %.40s", sid);
	memcpy(r->sid, sid, PSM_SID_LEN);
	r->fd = fd;
	r->path = path;
	r->fail_open = fail_open;
	r->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	r->t0 = psm_mono_usec();
	r->last_flush = r->t0;
	r->write_timeout = PSM_REC_WRITE_TIMEOUT;
	/* A pipe or FIFO whose reader stops must not stop the session: writes wait a bounded time. */
	if (!r->regular)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* Microseconds since the recording began: the t of an event made now. */
uint64_t
psm_rec_now(const struct psm_rec *r)
{
	return psm_mono_usec() - r->t0;
}

/* The monotonic time (psm_mono_usec()) at which the recording began. */
uint64_t
psm_rec_t0(const struct psm_rec *r)
{
	return r->t0;
}

/* Whether writes are failing: events are counted, not written (fail-open). */
bool
psm_rec_failing(const struct psm_rec *r)
{
	return r->failed;
}

/* Withheld input not yet reported goes out before anything later. */
static void
emit_withheld(struct psm_rec *r)
{
	uint64_t n = r->withheld;

	if (n == 0)
		return;
	r->withheld = 0;
	if (r->failed) {
		r->lost_events++;
	} else {
		psm_ev_begin(&r->buf, r->sid, r->seq++, r->withheld_t, "withheld");
		psm_ev_str(&r->buf, "stream", "in");
		psm_ev_u64(&r->buf, "bytes", n);
		psm_ev_str(&r->buf, "reason", r->withheld_reason);
		if (r->escrow != NULL)
			r->escrow(r->escrow_ctx, &r->buf, r->held, r->nheld);
		psm_ev_end(&r->buf);
	}
	explicit_bzero(r->held, r->nheld);
	r->nheld = 0;
}

/*
 * Begin an event of TYPE; the caller adds its fields with psm_ev_*() and
 * ends it with psm_rec_end_event(). Returns NULL while writes are failing
 * (fail-open): the caller skips the event.
 */
struct psm_buf *
psm_rec_begin(struct psm_rec *r, const char *type)
{
	emit_withheld(r);
	if (r->failed) {
		r->lost_events++;
		return NULL;
	}
	r->event_at = r->buf.len;
	r->event_seq = r->seq;
	psm_ev_begin(&r->buf, r->sid, r->seq++, psm_rec_now(r), type);
	return &r->buf;
}

/* End the event begun last; the first one (seq 0) is kept, to be written again if lost. */
void
psm_rec_end_event(struct psm_rec *r)
{
	psm_ev_end(&r->buf);
	if (r->event_seq != 0)
		return;
	r->start_line.len = 0;
	psm_buf_add(&r->start_line, r->buf.data + r->event_at, r->buf.len - r->event_at);
}

/*
 * Typed bytes kept out of the stream (a password): counted in a "withheld"
 * event, and with an escrow (psm_rec_set_escrow) sealed into it. Reads in
 * a row for the same reason make one event, of at most PSM_REC_HELD_MAX
 * bytes when they are escrowed.
 */
void
psm_rec_withhold(struct psm_rec *r, const void *data, size_t n, const char *reason)
{
	const unsigned char *p = data;

	if (r->withheld > 0 && strcmp(reason, r->withheld_reason) != 0)
		emit_withheld(r);
	while (n > 0) {
		size_t take = n;

		if (r->escrow != NULL) {
			if (r->nheld == sizeof r->held)
				emit_withheld(r);
			if (take > sizeof r->held - r->nheld)
				take = sizeof r->held - r->nheld;
			memcpy(r->held + r->nheld, p, take);
			r->nheld += take;
		}
		if (r->withheld == 0)
			r->withheld_t = psm_rec_now(r);
		r->withheld += take;
		r->withheld_reason = reason;
		p += take;
		n -= take;
	}
}

/*
 * Seal withheld bytes into their event: escrow(ctx, ev, p, n) adds its
 * keys to the event being built in ev.
 */
void
psm_rec_set_escrow(struct psm_rec *r,
    void (*escrow)(void *ctx, struct psm_buf *ev, const void *p, size_t n), void *ctx)
{
	r->escrow = escrow;
	r->escrow_ctx = ctx;
}

/* How long one flush may wait for a recording that does not take its writes. */
void
psm_rec_set_write_timeout(struct psm_rec *r, uint64_t usec)
{
	r->write_timeout = usec;
}

static void
emit_chunk(struct psm_rec *r, int stream, const unsigned char *p, size_t n)
{
	emit_withheld(r);
	if (r->failed) {
		r->lost[stream] += n;
		return;
	}
	psm_ev_begin(&r->buf, r->sid, r->seq++, psm_rec_now(r), stream_type[stream]);
	psm_ev_payload(&r->buf, p, n);
	psm_ev_end(&r->buf);
}

/* Keep an unfinished character at the end of p for the next chunk. */
static void
emit_keeping_tail(struct psm_rec *r, int stream, const unsigned char *p, size_t n)
{
	size_t tail = psm_utf8_unfinished_tail(p, n);

	if (tail == n && n >= 4)
		tail = 0;
	memcpy(r->carry[stream], p + n - tail, tail);
	r->ncarry[stream] = tail;
	if (n > tail)
		emit_chunk(r, stream, p, n - tail);
}

/*
 * Terminal bytes of one stream. A UTF-8 character cut by the end of the
 * read is held back (at most 3 bytes) and joined to the next chunk, so
 * that text stays text in the stream.
 */
void
psm_rec_data(struct psm_rec *r, int stream, const void *data, size_t n)
{
	unsigned char chunk[PSM_PAYLOAD_MAX];
	const unsigned char *p = data;

	while (n > 0) {
		size_t held = r->ncarry[stream];
		size_t take = PSM_PAYLOAD_MAX - held;

		if (take > n)
			take = n;
		if (held == 0) {	/* the common case: no copy */
			emit_keeping_tail(r, stream, p, take);
		} else {
			memcpy(chunk, r->carry[stream], held);
			memcpy(chunk + held, p, take);
			emit_keeping_tail(r, stream, chunk, held + take);
		}
		p += take;
		n -= take;
	}
}

/* At the end: bytes held back for a character that never finished. */
void
psm_rec_drain_carry(struct psm_rec *r)
{
	for (int s = 0; s < 3; s++) {
		if (r->ncarry[s] == 0)
			continue;
		emit_chunk(r, s, r->carry[s], r->ncarry[s]);
		r->ncarry[s] = 0;
	}
	emit_withheld(r);
}

/*
 * A write stopped inside a line: take the piece off again when nobody
 * else has appended since, so the file still ends with a whole line.
 */
static void
trim_partial_line(struct psm_rec *r, size_t partial)
{
	struct stat st;
	off_t end;

	if (!r->regular || partial == 0)
		return;
	end = lseek(r->fd, 0, SEEK_CUR);
	if (end < (off_t)partial || fstat(r->fd, &st) < 0 || st.st_size != end)
		return;
	if (ftruncate(r->fd, end - (off_t)partial) < 0)
		return;
}

/* Count what the unwritten lines held, for the "lost" event. */
static void
count_unwritten(struct psm_rec *r, const char *p, size_t n)
{
	struct psm_buf payload = { 0 };
	bool first = true;

	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = (size_t)(nl - p);
		struct psm_event ev;
		struct psm_error e;

		if (psm_event_parse(&ev, p, len, &e) == 0) {
			if (first)
				r->seq = ev.seq;
			first = false;
			int s = psm_event_is(&ev, "in") ? 0 :
			    psm_event_is(&ev, "out") ? 1 :
			    psm_event_is(&ev, "err") ? 2 : -1;
			payload.len = 0;
			if (ev.seq == 0)
				r->start_lost = true;
			else if (s >= 0 && psm_event_payload(&ev, &payload, &e) == 0)
				r->lost[s] += payload.len;
			else
				r->lost_events++;
		}
		p += len + 1;
		n -= len + 1;
	}
	psm_buf_free(&payload);
}

/*
 * Wait until the recording takes writes again, at most until the
 * deadline. A recording that stalled once (a reader that stopped) is not
 * waited for again until a write goes through: the session must not hang
 * on each attempt.
 */
static bool
writable_before(struct psm_rec *r, uint64_t deadline)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };

	for (;;) {
		uint64_t now = psm_mono_usec();

		if (r->stalled || now >= deadline)
			return false;
		int ms = (int)((deadline - now + 999) / 1000);
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

/*
 * Write as much of p as the recording takes, waiting at most the write
 * timeout for a reader that is slow; sets r->errnum when short.
 */
static size_t
write_some(struct psm_rec *r, const char *p, size_t n)
{
	uint64_t deadline = psm_mono_usec() + r->write_timeout;
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(r->fd, p + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (writable_before(r, deadline))
				continue;
			r->stalled = true;
			r->errnum = ETIMEDOUT;
			break;
		}
		if (w <= 0) {
			r->errnum = w < 0 ? errno : EIO;
			break;
		}
		r->stalled = false;
		done += (size_t)w;
	}
	return done;
}

/* Bytes of whole lines in the first done bytes of p; trims the rest. */
static size_t
keep_whole_lines(struct psm_rec *r, const char *p, size_t done)
{
	size_t whole = done;

	while (whole > 0 && p[whole - 1] != '\n')
		whole--;
	trim_partial_line(r, done - whole);
	return whole;
}

/* Write the buffer. On failure, remember why and what was not written. */
static int
write_buffer(struct psm_rec *r)
{
	size_t done = write_some(r, r->buf.data, r->buf.len);

	if (done == r->buf.len) {
		r->buf.len = 0;
		return 0;
	}
	size_t whole = keep_whole_lines(r, r->buf.data, done);
	r->failed = true;
	count_unwritten(r, r->buf.data + whole, r->buf.len - whole);
	r->buf.len = 0;
	return -1;
}

/*
 * After a failure: try to write the start event if it was lost, then a
 * "lost" event that says what was not recorded meanwhile.
 */
static int
retry_after_failure(struct psm_rec *r)
{
	struct psm_buf *b = &r->buf;
	uint64_t seq = r->start_lost ? 1 : r->seq;

	b->len = 0;
	if (r->start_lost)
		psm_buf_add(b, r->start_line.data, r->start_line.len);
	psm_ev_begin(b, r->sid, seq, psm_rec_now(r), "lost");
	psm_ev_u64(b, "in", r->lost[0]);
	psm_ev_u64(b, "out", r->lost[1]);
	psm_ev_u64(b, "err", r->lost[2]);
	psm_ev_u64(b, "events", r->lost_events);
	psm_ev_str(b, "reason", "write-failed");
	psm_ev_str(b, "error", strerror(r->errnum));
	psm_ev_end(b);
	size_t done = write_some(r, b->data, b->len);
	if (done < b->len) {
		if (keep_whole_lines(r, b->data, done) > 0)
			r->start_lost = false;	/* the start line went out */
		b->len = 0;
		return -1;
	}
	b->len = 0;
	r->seq = seq + 1;
	r->failed = r->start_lost = false;
	memset(r->lost, 0, sizeof r->lost);
	r->lost_events = 0;
	return 0;
}

/*
 * Write what is buffered. Returns 0, or -1 and why ("PATH: error") when
 * the recording could not be written; in fail-open mode the caller goes
 * on, and the next flush tries again.
 */
int
psm_rec_flush(struct psm_rec *r, struct psm_error *e)
{
	emit_withheld(r);
	r->last_flush = psm_mono_usec();
	if ((r->failed ? retry_after_failure(r) : write_buffer(r)) == 0)
		return 0;
	if (r->errnum == ETIMEDOUT)
		return psm_fail(e, PSM_E_OS, "%s: not read for %llu seconds",
		    r->path ? r->path : "recording",
		    (unsigned long long)(r->write_timeout / 1000000));
	errno = r->errnum;
	return psm_fail_errno(e, "%s", r->path ? r->path : "recording");
}

/* Flush when a second has passed since the last, or much is pending. */
int
psm_rec_tick(struct psm_rec *r, struct psm_error *e)
{
	if (r->buf.len < 256 * 1024 && !r->failed &&
	    psm_mono_usec() - r->last_flush < 1000000)
		return 0;
	return psm_rec_flush(r, e);
}

/*
 * When the next flush is due, in monotonic time (psm_mono_usec(); maybe
 * past), or 0 while nothing waits: a timer for psm_loop_add_timer().
 */
uint64_t
psm_rec_due(const struct psm_rec *r)
{
	if (r->buf.len == 0 && !r->failed)
		return 0;
	return r->last_flush + 1000000;
}

void
psm_rec_free(struct psm_rec *r)
{
	psm_buf_free(&r->buf);
	psm_buf_free(&r->start_line);
	explicit_bzero(r->held, sizeof r->held);
}
