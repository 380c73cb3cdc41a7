/*
 * psm-replay: play a recorded session back, list the sessions of a stream,
 * follow one while it is being recorded, or give back its exact bytes.
 * Playback goes to a terminal: what would act on the viewer's terminal or
 * machine rather than on the screen is dropped (lib/term.c), unless
 * --unsafe. Typed input is shown with its control bytes made visible, and
 * with --escrow-key the withheld input sealed to that key in its place.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"
#include "psm_sandbox.h"

/* PLAY: to a terminal, in time; INPUT: the typed input, made visible. */
enum mode { PLAY, LIST, RAW, INPUT };

#define PAUSE_MAX (1e9)		/* seconds: about 31 years */
#define GONE_QUIET_USEC 1000000	/* a last look at the file after its recorder went */

struct options {
	enum mode mode;
	double speed;
	double max_wait;	/* seconds; < 0: no cap */
	const char *session;	/* a sid or the start of one */
	const char *escrow_key;	/* a secret key file, or NULL */
	bool follow, input, stderr_stream, no_sandbox, unsafe;
	char **files;
	int nfiles;
};

/*
 * What --list shows of a session; they are kept in start order. The names
 * are in one buffer, rp->names, each ending in NUL, so that a session
 * takes about a hundred bytes and its names' length.
 */
struct summary {
	char sid[PSM_SID_LEN + 1];
	size_t user, host, time, reason;	/* where each name is in rp->names */
	uint64_t duration;
	int64_t exit;
	bool ended;
};

/* Where an open session's summary is: the table maps a sid to its index. */
struct summary_at {
	char sid[PSM_SID_LEN + 1];
	size_t i;
};

/* An input, opened before the sandbox. */
struct input {
	int fd;
	const char *name;	/* for messages: the path, or "(stdin)" */
	bool is_stdin;
};

struct replay {
	struct options *opt;
	struct input *in;
	int nin;
	int ino;		/* --follow's inotify descriptor, or -1 */
	struct psm_sessions sessions;
	char chosen[PSM_SID_LEN + 1];	/* "" until a session is picked */
	bool chosen_ended;
	uint64_t last_t;		/* of the chosen session's last output */
	bool have_last_t;
	struct psm_buf payload;
	struct psm_term term[2];	/* playback's filters, of stdout and stderr */
	struct psm_buf shown;		/* the bytes written: filtered or made visible */
	struct psm_seckey key;		/* --escrow-key's, if key.sk */
	struct psm_buf box;		/* a withheld event's sealed box */
	char host[256];			/* this host, for --follow */
	pid_t recorder;			/* of the session followed, on this host; or 0 */
	uint64_t gone_since;		/* when the recorder was first seen gone */
	struct summary *sum;
	size_t nsum, capsum;
	struct psm_table open_sum;	/* of struct summary_at, until the end event */
	struct psm_buf names;
	const char *name;		/* of the input being read */
	uint64_t lineno;
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-replay --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-replay [options] [FILE...]\n"
	    "Play back a session recorded by psm-record (standard input if no FILE).\n\n"
	    "  -s, --speed=X          play X times as fast (default 1)\n"
	    "  -w, --max-wait=SECONDS  cap every pause at SECONDS\n"
	    "  -S, --session=SID      the session to play (a sid or its beginning)\n"
	    "  -l, --list             list the sessions: sid, user, host, start, duration,\n"
	    "                         exit and end reason\n"
	    "  -f, --follow           follow a session while it is being recorded\n"
	    "  -r, --raw              write the recorded output bytes only, at once\n"
	    "  -i, --input            write the typed input, control bytes made visible\n"
	    "                         (with --raw: the bytes as typed)\n"
	    "  -e, --stderr           with --raw: the standard error of a --no-pty recording\n"
	    "      --unsafe           play every byte as recorded, even the control sequences\n"
	    "                         that act on this terminal (clipboard, title, queries)\n"
	    "      --escrow-key=FILE  with --input: show the withheld input sealed to the\n"
	    "                         secret key in FILE\n"
	    "      --no-sandbox       do not confine the process (for debugging)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
	exit(PSM_EXIT_OK);
}

/* Options that go together, and those that do not. */
static void
check_options(const struct options *opt, bool list, bool raw)
{
	if (list && raw) {
		warnx("--list and --raw exclude each other");
		usage();
	}
	if (list && opt->input) {
		warnx("--list and --input exclude each other");
		usage();
	}
	if (opt->input && opt->stderr_stream) {
		warnx("--input and --stderr exclude each other");
		usage();
	}
	if (opt->stderr_stream && !raw) {
		warnx("--stderr goes with --raw");
		usage();
	}
	if (opt->unsafe && opt->mode != PLAY) {
		warnx("--unsafe goes with playback, not with --raw, --input or --list");
		usage();
	}
	if (opt->escrow_key != NULL && !opt->input) {
		warnx("--escrow-key goes with --input");
		usage();
	}
	if (opt->follow && opt->mode == LIST) {
		warnx("--follow and --list exclude each other");
		usage();
	}
	if (opt->follow && opt->nfiles > 1) {
		warnx("--follow takes one FILE");
		usage();
	}
	if (opt->session != NULL && (*opt->session == '\0' || strlen(opt->session) > PSM_SID_LEN)) {
		warnx("invalid session id '%s'", opt->session);
		usage();
	}
}

/* A plain decimal number (digits, a point, an exponent): no sign, no hex. */
static double
parse_positive(const char *s, const char *what, bool zero_ok)
{
	char *end;
	double v;
	bool plain = ((*s >= '0' && *s <= '9') || *s == '.') &&
	    strspn(s, "0123456789.eE+-") == strlen(s);

	errno = 0;
	v = strtod(s, &end);
	if (!plain || errno || end == s || *end != '\0' || !isfinite(v) ||
	    v < 0 || (v == 0 && !zero_ok)) {
		warnx("invalid %s '%s'", what, s);
		usage();
	}
	return v;
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_SANDBOX = 256, OPT_UNSAFE, OPT_ESCROW_KEY };
	static const struct option longopts[] = {
		{ "speed", required_argument, NULL, 's' },
		{ "max-wait", required_argument, NULL, 'w' },
		{ "session", required_argument, NULL, 'S' },
		{ "list", no_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ "raw", no_argument, NULL, 'r' },
		{ "input", no_argument, NULL, 'i' },
		{ "stderr", no_argument, NULL, 'e' },
		{ "unsafe", no_argument, NULL, OPT_UNSAFE },
		{ "escrow-key", required_argument, NULL, OPT_ESCROW_KEY },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool list = false, raw = false;
	int c;

	argv[0] = program_invocation_short_name;	/* for getopt's messages */
	opt->speed = 1;
	opt->max_wait = -1;
	while ((c = getopt_long(argc, argv, "s:w:S:lfriehV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': opt->speed = parse_positive(optarg, "speed", false); break;
		case 'w': opt->max_wait = parse_positive(optarg, "max-wait", true); break;
		case 'S': opt->session = optarg; break;
		case 'l': list = true; break;
		case 'f': opt->follow = true; break;
		case 'r': raw = true; break;
		case 'i': opt->input = true; break;
		case 'e': opt->stderr_stream = true; break;
		case OPT_UNSAFE: opt->unsafe = true; break;
		case OPT_ESCROW_KEY: opt->escrow_key = optarg; break;
		case OPT_NO_SANDBOX: opt->no_sandbox = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-replay %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	opt->files = argv + optind;
	opt->nfiles = argc - optind;
	opt->mode = list ? LIST : raw ? RAW : opt->input ? INPUT : PLAY;
	check_options(opt, list, raw);
}
/* Stop at the line being read: "FILE:LINE: why", after what was played. */
static void __attribute__((noreturn))
bad_line(const struct replay *rp, struct psm_error *e)
{
	psm_error_prefix(e, "%s:%" PRIu64, rp->name, rp->lineno);
	fflush(stdout);
	xpsm_die(e);
}

/*
 * A name for --list, added to rp->names; returns where it is. One line
 * per session, so control characters (C0, DEL and C1) become '?'; cut to
 * max bytes at a character boundary; "-" when missing or not a string.
 */
static size_t
add_name(struct replay *rp, const struct psm_event *ev, const char *key, size_t max)
{
	struct psm_buf b = { 0 };
	const struct psm_field *f = psm_event_get(ev, key);
	size_t at = rp->names.len, n = 0;
	char out[256];

	if (max > sizeof out - 1)
		max = sizeof out - 1;
	if (f == NULL || psm_field_str(f, &b) < 0) {
		psm_buf_add(&rp->names, "-", 2);
		return at;
	}
	for (size_t i = 0; i < b.len && n < max; i++) {
		unsigned char c = (unsigned char)b.data[i];

		if (c == 0xc2 && i + 1 < b.len &&
		    (unsigned char)b.data[i + 1] >= 0x80 &&
		    (unsigned char)b.data[i + 1] <= 0x9f) {
			out[n++] = '?';		/* U+0080..U+009F */
			i++;
		} else {
			out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	n -= psm_utf8_unfinished_tail((const unsigned char *)out, n);
	out[n] = '\0';
	psm_buf_add(&rp->names, out, n + 1);
	psm_buf_free(&b);
	return at;
}

/*
 * One lookup per event, in a table that holds only the open sessions:
 * once a session has ended, psm_sessions_check() refuses its events.
 */
static void
summarize(struct replay *rp, const struct psm_event *ev)
{
	struct summary_at *at;
	struct summary *s;
	struct psm_error e;

	if (psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal"))
		return;		/* psm-seal's own events belong to no session */
	if (psm_event_is(ev, "start")) {
		rp->sum = xpsm_grow(rp->sum, &rp->capsum, rp->nsum + 1, sizeof *rp->sum);
		s = &rp->sum[rp->nsum];
		memset(s, 0, sizeof *s);
		memcpy(s->sid, ev->sid, sizeof s->sid);
		s->user = add_name(rp, ev, "user", 255);
		s->host = add_name(rp, ev, "host", 255);
		s->time = add_name(rp, ev, "time", 47);
		if ((at = psm_table_find(&rp->open_sum, ev->sid)) == NULL)
			at = psm_table_add(&rp->open_sum, ev->sid);
		at->i = rp->nsum++;
		return;
	}
	if ((at = psm_table_find(&rp->open_sum, ev->sid)) == NULL)
		return;
	s = &rp->sum[at->i];
	s->duration = ev->t;
	if (psm_event_is(ev, "end")) {
		s->ended = true;
		if (psm_field_i64(psm_event_get(ev, "exit"), &s->exit) < 0) {
			psm_fail(&e, PSM_E_DATA, "\"exit\" of an end event is not an integer");
			bad_line(rp, &e);
		}
		s->reason = add_name(rp, ev, "reason", 23);
		psm_table_remove(&rp->open_sum, ev->sid);
	}
}

static void
print_list(struct replay *rp)
{
	const char *want = rp->opt->session, *names = rp->names.data;

	for (size_t i = 0; i < rp->nsum; i++) {
		struct summary *s = &rp->sum[i];
		char exit_s[24] = "-";

		if (want != NULL && strncmp(s->sid, want, strlen(want)) != 0)
			continue;	/* --list --session: only the sessions it names */
		memcpy(rp->chosen, s->sid, sizeof rp->chosen);

		if (s->ended)
			snprintf(exit_s, sizeof exit_s, "%" PRId64, s->exit);
		printf("%s\t%s\t%s\t%s\t%" PRIu64 ".%03" PRIu64 "s\t%s\t%s\n",
		    s->sid, names + s->user, names + s->host, names + s->time,
		    s->duration / 1000000, s->duration / 1000 % 1000, exit_s,
		    s->ended ? names + s->reason : "-");
	}
}

/* Before a pause or a wait: what was played is seen, or we stop. */
static void
xflush(FILE *f)
{
	if (fflush(f) != 0)
		err(PSM_EXIT_OS, "%s", f == stderr ? "stderr" : "stdout");
}

static void
pause_for(struct replay *rp, uint64_t t)
{
	double secs;
	struct timespec ts;

	if (!rp->have_last_t || t <= rp->last_t) {
		rp->last_t = t > rp->last_t ? t : rp->last_t;
		rp->have_last_t = true;
		return;
	}
	secs = (double)(t - rp->last_t) / 1e6 / rp->opt->speed;
	rp->last_t = t;
	if (rp->opt->max_wait >= 0 && secs > rp->opt->max_wait)
		secs = rp->opt->max_wait;
	if (secs > PAUSE_MAX)	/* a tiny --speed: keep it a time_t */
		secs = PAUSE_MAX;
	xflush(stdout);
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool
wanted(const struct replay *rp, const struct psm_event *ev)
{
	const struct options *o = rp->opt;

	if (psm_event_is(ev, "out"))
		return o->mode == PLAY || (o->mode == RAW && !o->input && !o->stderr_stream);
	if (psm_event_is(ev, "err"))
		return o->mode == PLAY || o->stderr_stream;
	if (psm_event_is(ev, "in"))
		return o->input;
	return false;
}

static bool
has_payload(const struct psm_event *ev)
{
	return psm_event_is(ev, "out") || psm_event_is(ev, "err") ||
	    psm_event_is(ev, "in");
}

static void
put(FILE *to, const void *p, size_t n)
{
	/* An empty payload may have no buffer yet: fwrite() takes no NULL. */
	if (n > 0 && fwrite(p, 1, n, to) != n)
		err(PSM_EXIT_OS, "%s", to == stderr ? "stderr" : "stdout");
}

/*
 * Write n bytes of p as the mode wants them: for a terminal, without what
 * would act on it (unless --unsafe); typed input with its control bytes
 * made visible; or as they are.
 */
static void
write_out(struct replay *rp, FILE *to, const char *p, size_t n)
{
	const struct options *o = rp->opt;

	rp->shown.len = 0;
	if (o->mode == PLAY && !o->unsafe) {
		psm_term_filter(&rp->term[to == stderr], &rp->shown, p, n);
	} else if (o->mode == INPUT) {
		psm_buf_reserve(&rp->shown, PSM_TERM_VISIBLE_MAX(n));
		rp->shown.len = psm_term_visible(rp->shown.data, p, n);
	} else {
		put(to, p, n);
		return;
	}
	put(to, rp->shown.data, rp->shown.len);
}

/* Write the payload of ev, which handle_line() has decoded into rp->payload. */
static void
play(struct replay *rp, const struct psm_event *ev)
{
	if (!wanted(rp, ev))
		return;
	if (rp->opt->mode == PLAY && !rp->opt->follow)
		pause_for(rp, ev->t);
	FILE *to = psm_event_is(ev, "err") && rp->opt->mode == PLAY ? stderr : stdout;
	if (to == stderr)
		xflush(stdout);
	write_out(rp, to, rp->payload.data, rp->payload.len);
	if (rp->opt->follow)
		xflush(to);
}

/* A warning about the line being read; playback goes on. */
static void __attribute__((format(printf, 2, 3)))
warn_line(const struct replay *rp, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	xflush(stdout);
	warnx("%s:%" PRIu64 ": %s", rp->name, rp->lineno, msg);
}

/* Withheld input, opened: as typed (--raw) or made visible, and then wiped. */
static void
show_secret(struct replay *rp, const unsigned char *plain, size_t n)
{
	char *vis;
	size_t len;

	if (rp->opt->mode != INPUT) {
		put(stdout, plain, n);
		return;
	}
	vis = xsodium_malloc(PSM_TERM_VISIBLE_MAX(n) + 1);
	len = psm_term_visible(vis, plain, n);
	put(stdout, vis, len);
	sodium_free(vis);
}

/*
 * A withheld event with --escrow-key: the input that it withheld, in its
 * place. Sealed to another key, or a box that does not open with this
 * one, is a warning; a malformed escrow stops at the line (exit 3).
 */
static void
show_withheld(struct replay *rp, const struct psm_event *ev)
{
	char keyid[PSM_KEYID_LEN + 1];
	unsigned char *plain;
	uint64_t bytes;
	size_t n;
	struct psm_error e;

	if (psm_event_escrow(ev, keyid, &rp->box, &e) < 0)
		bad_line(rp, &e);
	if (keyid[0] == '\0')
		return;		/* withheld with no escrow: nothing to show */
	if (strcmp(keyid, rp->key.id) != 0) {
		warn_line(rp, "withheld input sealed to key %s, not to %s", keyid, rp->key.id);
		return;
	}
	n = rp->box.len - PSM_ESCROW_OVERHEAD;
	plain = xsodium_malloc(n + 1);
	if (psm_escrow_open(&rp->key, plain, (unsigned char *)rp->box.data, rp->box.len, &e) < 0) {
		warn_line(rp, "withheld input does not open with key %s", rp->key.id);
	} else {
		if (psm_field_u64(psm_event_get(ev, "bytes"), &bytes) == 0 && bytes != n)
			warn_line(rp, "withheld input of %zu bytes where \"bytes\" is %" PRIu64,
			    n, bytes);
		show_secret(rp, plain, n);
	}
	sodium_free(plain);
	if (rp->opt->follow)
		xflush(stdout);
}

/* --follow: the recorder of the session followed, if it ran on this host. */
static void
note_recorder(struct replay *rp, const struct psm_event *ev)
{
	struct psm_buf host = { 0 };
	uint64_t pid;

	rp->recorder = 0;
	if (psm_field_u64(psm_event_get(ev, "pid"), &pid) == 0 && pid >= 1 && pid <= INT_MAX &&
	    psm_field_str(psm_event_get(ev, "host"), &host) == 0 && rp->host[0] != '\0' &&
	    host.len == strlen(rp->host) && memcmp(host.data, rp->host, host.len) == 0)
		rp->recorder = (pid_t)pid;
	psm_buf_free(&host);
}

/* The first session that matches --session (or the first, or the one --follow picked). */
static bool
is_chosen(struct replay *rp, const struct psm_event *ev)
{
	if (rp->chosen[0] == '\0') {
		const char *want = rp->opt->session;
		if (!psm_event_is(ev, "start") ||
		    (want != NULL && strncmp(ev->sid, want, strlen(want)) != 0))
			return false;
		memcpy(rp->chosen, ev->sid, sizeof rp->chosen);
	}
	return strcmp(rp->chosen, ev->sid) == 0;
}

/* Whether ev's bytes are to be written (it is of the session chosen already). */
static bool
will_play(const struct replay *rp, const struct psm_event *ev)
{
	return rp->opt->mode != LIST && !rp->chosen_ended && rp->chosen[0] != '\0' &&
	    strcmp(rp->chosen, ev->sid) == 0 && wanted(rp, ev);
}

static void
handle_line(struct replay *rp, const char *line, size_t len)
{
	struct psm_event ev;
	struct psm_error e;

	if (psm_event_parse(&ev, line, len, &e) < 0 ||
	    psm_sessions_check(&rp->sessions, &ev, &e) < 0)
		bad_line(rp, &e);
	/*
	 * Every payload is checked, played or not: a bad one is bad input.
	 * Only what is played is decoded; the rest is checked the cheap way.
	 */
	if (has_payload(&ev)) {
		rp->payload.len = 0;
		int rc = will_play(rp, &ev) ? psm_event_payload(&ev, &rp->payload, &e) :
		    psm_event_payload_check(&ev, &rp->payload, &e);
		if (rc < 0)
			bad_line(rp, &e);
	}
	if (rp->opt->mode == LIST) {
		summarize(rp, &ev);
		return;
	}
	if (rp->chosen_ended || !is_chosen(rp, &ev))
		return;
	if (rp->key.sk != NULL && psm_event_is(&ev, "withheld"))
		show_withheld(rp, &ev);
	else
		play(rp, &ev);
	if (rp->opt->follow && psm_event_is(&ev, "start"))
		note_recorder(rp, &ev);
	if (psm_event_is(&ev, "end"))
		rp->chosen_ended = true;
}

/* --follow stops here: what was played is out, then the reason. */
static void __attribute__((noreturn, format(printf, 2, 3)))
stop_following(int status, const char *fmt, ...)
{
	va_list ap;

	xflush(stdout);
	va_start(ap, fmt);
	verrx(status, fmt, ap);
}

/*
 * --follow, at the end of the file with the session not ended: is there
 * more to wait for? Not when the file was truncated under it (what was
 * read is no longer there: exit 3), moved, deleted or replaced at its
 * path (rotated: exit 5), or when the recorder, on this host, has been
 * gone a while (exit 5). A recorder that died wrote no end event.
 */
static void
check_followed(struct replay *rp, const struct input *in)
{
	switch (psm_followed_state(in->fd, in->name)) {
	case PSM_FOLLOWED_TRUNCATED:
		stop_following(PSM_EXIT_DATA, "%s: the file was truncated while it was followed",
		    in->name);
	case PSM_FOLLOWED_MOVED:
		stop_following(PSM_EXIT_INCOMPLETE,
		    "%s: the file was moved or deleted while it was followed", in->name);
	case PSM_FOLLOWED_REPLACED:
		stop_following(PSM_EXIT_INCOMPLETE,
		    "%s: the file was replaced while it was followed", in->name);
	case PSM_FOLLOWED_OK:
		break;
	}
	if (rp->recorder == 0 || !psm_pid_gone(rp->recorder)) {
		rp->gone_since = 0;
		return;
	}
	uint64_t now = psm_mono_usec();
	if (rp->gone_since == 0)
		rp->gone_since = now;	/* one more look at the file first */
	else if (now - rp->gone_since >= GONE_QUIET_USEC)
		stop_following(PSM_EXIT_INCOMPLETE,
		    "%s: the recorder (pid %d) is gone; the session has no end", in->name,
		    (int)rp->recorder);
}

/* Wait until the followed file changes (or a second passes). */
static void
wait_for_more(int ino)
{
	char buf[4096];
	struct pollfd p = { ino, POLLIN, 0 };

	xflush(stdout);
	if (ino < 0) {		/* no inotify: look again in a while */
		poll(NULL, 0, 200);
		return;
	}
	if (poll(&p, 1, 1000) <= 0)
		return;
	while (read(ino, buf, sizeof buf) > 0)
		;
}

static void
read_input(struct replay *rp, const struct input *in)
{
	struct psm_lines r;
	const char *line;
	size_t len;
	bool wait = rp->opt->follow && !in->is_stdin;
	struct psm_error e;

	rp->name = in->name;
	psm_lines_init(&r, in->fd, in->name);
	for (;;) {
		int st = psm_lines_next(&r, &line, &len);

		rp->lineno = r.lineno;
		if (st == PSM_LINE_OK) {
			handle_line(rp, line, len);
			if (rp->opt->follow && rp->chosen_ended)
				break;
			continue;
		}
		if (st == PSM_LINE_ERROR)
			err(PSM_EXIT_OS, "%s", in->name);
		if (st == PSM_LINE_TOOLONG) {
			psm_fail(&e, PSM_E_DATA, "line longer than 1 MiB");
			bad_line(rp, &e);
		}
		if (wait) {
			check_followed(rp, in);
			wait_for_more(rp->ino);
			continue;
		}
		if (st == PSM_LINE_PARTIAL) {
			rp->lineno++;
			psm_fail(&e, PSM_E_DATA, "last line is incomplete (no newline at the end)");
			bad_line(rp, &e);
		}
		break;
	}
	psm_lines_free(&r);
}

/*
 * --follow with no --session: the newest session in the file now (or the
 * first to start later). It is played from its start, without pauses:
 * this reads the file once, then goes back to its beginning.
 */
static void
pick_newest(struct replay *rp, const struct input *in)
{
	struct psm_lines r;
	const char *line;
	size_t len;

	psm_lines_init(&r, in->fd, in->name);
	while (psm_lines_next(&r, &line, &len) == PSM_LINE_OK) {
		struct psm_event ev;
		struct psm_error e;
		if (psm_event_parse(&ev, line, len, &e) == 0 && psm_event_is(&ev, "start"))
			memcpy(rp->chosen, ev.sid, sizeof rp->chosen);
	}
	psm_lines_free(&r);
	if (lseek(in->fd, 0, SEEK_SET) < 0)
		err(PSM_EXIT_OS, "%s", in->name);
}

/*
 * Room for every FILE open at once (a directory of recordings may hold
 * more than the usual soft limit of 1024): the soft limit is raised as far
 * as the hard one allows.
 */
static void
room_for_files(int nfiles)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nfiles + 16;	/* and stdio, inotify, the libraries' */

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);	/* if not, open() says so below */
}

/*
 * Every FILE is opened, and --follow's watch set on its file, before the
 * sandbox: from then on nothing is opened.
 */
static void
open_inputs(struct replay *rp)
{
	const struct options *o = rp->opt;

	room_for_files(o->nfiles);
	rp->nin = o->nfiles > 0 ? o->nfiles : 1;
	rp->in = xmalloc((size_t)rp->nin * sizeof *rp->in);
	for (int i = 0; i < rp->nin; i++) {
		struct input *in = &rp->in[i];
		const char *path = o->nfiles > 0 ? o->files[i] : "-";

		in->is_stdin = strcmp(path, "-") == 0;
		in->name = in->is_stdin ? "(stdin)" : path;
		in->fd = in->is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
			err(PSM_EXIT_OS, "%s", path);
	}
	rp->ino = -1;
	if (o->follow && gethostname(rp->host, sizeof rp->host - 1) < 0)
		rp->host[0] = '\0';	/* no recorder is looked for */
	if (o->follow && !rp->in[0].is_stdin) {
		/* Growth, truncation, and the file moved or deleted. */
		uint32_t mask = IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF;
		rp->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (rp->ino >= 0 && inotify_add_watch(rp->ino, rp->in[0].name, mask) < 0) {
			close(rp->ino);
			rp->ino = -1;	/* wait_for_more() looks again in a while */
		}
	}
}

static void
read_all(struct replay *rp)
{
	const struct options *o = rp->opt;
	const struct input *first = &rp->in[0];

	/* A file that cannot be read twice (a pipe) is followed from its first session. */
	if (o->follow && o->session == NULL && !first->is_stdin &&
	    lseek(first->fd, 0, SEEK_CUR) == 0)
		pick_newest(rp, first);
	for (int i = 0; i < rp->nin && !(o->follow && rp->chosen_ended); i++)
		read_input(rp, &rp->in[i]);
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct replay rp = { 0 };
	struct psm_error e;

	parse_options(argc, argv, &opt);
	rp.opt = &opt;
	if (opt.escrow_key != NULL && (psm_secret_protect_process(&e) < 0 ||
	    psm_seckey_load(&rp.key, opt.escrow_key, &e) < 0))
		xpsm_die(&e);
	open_inputs(&rp);
	psm_sessions_init(&rp.sessions);
	psm_table_init(&rp.open_sum, sizeof(struct summary_at));
	psm_term_init(&rp.term[0]);
	psm_term_init(&rp.term[1]);
	/*
	 * Reading, parsing, pauses and --follow's waits need no more than the
	 * base list; --follow asks whether the recorder is still there.
	 */
	if (!opt.no_sandbox &&
	    psm_sandbox_flags(NULL, opt.follow ? PSM_SANDBOX_PROBE : 0, &e) < 0)
		xpsm_die(&e);
	read_all(&rp);
	if (opt.mode == LIST)
		print_list(&rp);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(PSM_EXIT_OS, "stdout");
	int status = PSM_EXIT_OK;
	if (rp.chosen[0] == '\0' && (opt.mode != LIST || opt.session != NULL)) {
		if (opt.session != NULL)
			warnx("no session %s in the stream", opt.session);
		else
			warnx("no session in the stream");
		status = PSM_EXIT_NO;
	}
	for (int i = 0; i < rp.nin; i++)
		if (!rp.in[i].is_stdin)
			close(rp.in[i].fd);
	if (rp.ino >= 0)
		close(rp.ino);
	free(rp.in);
	psm_sessions_free(&rp.sessions);
	psm_buf_free(&rp.payload);
	psm_buf_free(&rp.shown);
	psm_buf_free(&rp.box);
	psm_seckey_free(&rp.key);
	psm_table_free(&rp.open_sum);
	psm_buf_free(&rp.names);
	free(rp.sum);
	return status;
}
