/*
 * psm-redact: a filter that masks secrets in the terminal bytes of a psm
 * stream (psm-redact(1); the rules' format: psm-redact(5)).
 *
 * Each session's typed input, output and error are scanned as three
 * continuous streams. A session's events wait in its queue, in order,
 * until the bytes after them make any change to theirs impossible (the
 * widest rule's length), until the session ends, or, on a live input
 * that has nothing to read, until they have waited --hold-time. Then
 * they are written: byte for byte when nothing in them was masked.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm_redact.h"
#include "psm_sandbox.h"
#include "redact_rules.h"	/* builtin_rules[]: share/psm/redact.rules, made by make */
#include "redact_db.h"		/* builtin_db[]: those of them on by default, compiled */

#define OUT_FLUSH_AT (256 * 1024)
#define QUEUE_MAX (2 * 1024 * 1024)	/* a session's waiting lines, in bytes, at most */
#define HELD_MAX (16 * 1024 * 1024)	/* and all sessions' */
#define LINES_KEPT (256 * 1024)		/* a session's room for lines kept when none waits */
#define DEFAULT_HOLD (2 * UINT64_C(1000000))

struct toggle {
	const char *name;
	bool on;
};

struct options {
	const char **rulefiles;
	size_t nrulefiles, rfcap;
	struct toggle *toggles;
	size_t ntoggles, tcap;
	const char **prompts;
	size_t nprompts, pcap;
	uint64_t hold;			/* microseconds */
	const char *report;
	bool verbose, list, no_sandbox;
	char **files;
	int nfiles;
};

/*
 * The screen's current line, as far as output and error tell: what came
 * after their last line feed. Whether it is a password prompt is asked
 * only when something is typed.
 */
#define TAIL_MAX 1024
struct line_tail {
	struct psm_buf text;
	uint64_t at;			/* its offset in the channel */
	uint64_t answered;		/* the line last answered, at + 1; 0: none */
	bool asked, prompt;		/* the line was matched since it changed, and the answer */
};

/* A line waiting in its session's queue. */
struct queued {
	size_t at, len;			/* in the session's lines */
	int chan;			/* PSM_IN, PSM_OUT, PSM_ERR, or -1: no payload */
	size_t n;			/* payload bytes */
	uint64_t arrived;		/* monotonic */
};

struct session {
	char sid[PSM_SID_LEN + 1];
	size_t index;			/* in the redactor's open list */
	struct psm_redact_chan chan[3];
	struct line_tail tail[2];	/* of output and of error */
	struct queued *q;
	size_t qhead, qn, qcap;
	struct psm_buf lines;
	size_t lines_head;
	uint64_t *fired;		/* per rule */
	uint64_t masked;		/* bytes, in all */
};

/* An item of the table: sessions themselves do not move. */
struct slot {
	char sid[PSM_SID_LEN + 1];
	struct session *s;
};

struct redactor {
	const struct options *opt;
	struct psm_redact_rules rules;
	struct psm_table table;
	struct psm_sessions order;
	struct session **open;
	size_t nopen, opencap;
	struct psm_buf out, payload, masked, line;
	uint64_t *bytes;		/* per rule, for one event */
	FILE *report;
	const char *name;		/* the input being read */
	struct psm_prompt prompt;	/* asked about a session's current line */
	struct psm_buf probe;
	bool live;			/* the input is a pipe or a terminal */
	size_t held;			/* bytes of the lines waiting, in all sessions */
	uint64_t lines;			/* read, for the checks of the time */
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-redact --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-redact [options] [FILE...]\n"
	    "Mask secrets in the terminal bytes of a psm stream (standard input if no FILE).\n\n"
	    "  -r, --rules=FILE       add the rules of FILE (psm-redact(5)); repeatable\n"
	    "      --enable=NAME      turn a rule on (\"all\": every rule); repeatable\n"
	    "      --disable=NAME     turn a rule off (\"all\": every rule); repeatable\n"
	    "      --prompt=ERE       a password prompt to know, besides the built-in ones\n"
	    "      --hold-time=DURATION  on a live input, how long an event may wait (2s)\n"
	    "      --report=FILE      a JSON line per session: the rules that fired, bytes masked\n"
	    "  -v, --verbose          a summary per session on standard error\n"
	    "      --list-rules       print the rules (name, on or off, description) and exit\n"
	    "      --no-sandbox       do not confine the process (for debugging)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n\n"
	    "Masked bytes become [redacted:RULE]. Exit: 0 done, 2 usage, 3 bad input or rule file\n"
	    "or a sealed stream, 4 system error.\n");
	exit(PSM_EXIT_OK);
}

static void
add_toggle(struct options *opt, const char *name, bool on)
{
	opt->toggles = xpsm_grow(opt->toggles, &opt->tcap, opt->ntoggles + 1, sizeof *opt->toggles);
	opt->toggles[opt->ntoggles++] = (struct toggle){ name, on };
}

static void
add_string(const char ***v, size_t *n, size_t *cap, const char *s)
{
	*v = xpsm_grow(*v, cap, *n + 1, sizeof **v);
	(*v)[(*n)++] = s;
}

/* --hold-time: psm's durations (500ms, 2s, 1m), or 0. */
static int
parse_hold(const char *s, uint64_t *usec)
{
	if (strcmp(s, "0") == 0) {
		*usec = 0;
		return 0;
	}
	return psm_parse_duration(s, usec);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_ENABLE = 256, OPT_DISABLE, OPT_PROMPT, OPT_HOLD, OPT_REPORT, OPT_LIST,
		OPT_NO_SANDBOX };
	static const struct option longopts[] = {
		{ "rules", required_argument, NULL, 'r' },
		{ "enable", required_argument, NULL, OPT_ENABLE },
		{ "disable", required_argument, NULL, OPT_DISABLE },
		{ "prompt", required_argument, NULL, OPT_PROMPT },
		{ "hold-time", required_argument, NULL, OPT_HOLD },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "list-rules", no_argument, NULL, OPT_LIST },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->hold = DEFAULT_HOLD;
	while ((c = getopt_long(argc, argv, "r:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': add_string(&opt->rulefiles, &opt->nrulefiles, &opt->rfcap, optarg); break;
		case OPT_ENABLE: add_toggle(opt, optarg, true); break;
		case OPT_DISABLE: add_toggle(opt, optarg, false); break;
		case OPT_PROMPT: add_string(&opt->prompts, &opt->nprompts, &opt->pcap, optarg); break;
		case OPT_HOLD:
			if (parse_hold(optarg, &opt->hold) < 0) {
				warnx("--hold-time: not a duration: %s (as 0, 500ms, 2s, 1m)", optarg);
				usage();
			}
			break;
		case OPT_REPORT: opt->report = optarg; break;
		case 'v': opt->verbose = true; break;
		case OPT_LIST: opt->list = true; break;
		case OPT_NO_SANDBOX: opt->no_sandbox = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-redact %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	opt->files = argv + optind;
	opt->nfiles = argc - optind;
}

/* A whole file into memory (a rules file: small). */
static char *
slurp(const char *path, size_t *len)
{
	struct psm_buf b = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	do {
		psm_buf_reserve(&b, 65536);
		n = read(fd, b.data + b.len, 65536);
		if (n > 0)
			b.len += (size_t)n;
	} while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0)
		err(PSM_EXIT_OS, "%s", path);
	close(fd);
	*len = b.len;
	return b.data;
}

/* The built-in rules, then each -r file, then --enable and --disable in their order. */
static void
load_rules(struct redactor *rd, const struct options *opt)
{
	struct psm_error e;

	if (psm_redact_rules_init(&rd->rules, &e) < 0 ||
	    psm_redact_parse(&rd->rules, builtin_rules, sizeof builtin_rules,
	    "(built-in rules)", &e) < 0)
		xpsm_die(&e);
	for (size_t i = 0; i < opt->nrulefiles; i++) {
		size_t len;
		char *text = slurp(opt->rulefiles[i], &len);
		int rc = psm_redact_parse(&rd->rules, text, len, opt->rulefiles[i], &e);
		free(text);
		if (rc < 0)
			xpsm_die(&e);
	}
	for (size_t i = 0; i < opt->ntoggles; i++)
		if (psm_redact_set(&rd->rules, opt->toggles[i].name, opt->toggles[i].on, &e) < 0)
			xpsm_die(&e);
}

static void
list_rules(const struct psm_redact_rules *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		printf("%s\t%s\t%s\n", rs->r[i].name, rs->r[i].on ? "on" : "off",
		    rs->r[i].description ? rs->r[i].description : "");
	if (fflush(stdout) != 0 || ferror(stdout))
		err(PSM_EXIT_OS, "stdout");
	exit(PSM_EXIT_OK);
}

/* Output. */

static void
flush_out(struct redactor *rd)
{
	struct psm_error e;

	if (rd->out.len > 0 && psm_write_all(STDOUT_FILENO, rd->out.data, rd->out.len, &e) < 0) {
		psm_error_prefix(&e, "stdout");
		xpsm_die(&e);
	}
	rd->out.len = 0;
}

static void
put_line(struct redactor *rd, const char *line, size_t len)
{
	psm_buf_add(&rd->out, line, len);
	psm_buf_addc(&rd->out, '\n');
	if (rd->out.len >= OUT_FLUSH_AT)
		flush_out(rd);
}

/*
 * The "redacted" of an event redacted before (psm-redact twice): its
 * counts are added to this run's, and names this run does not know kept.
 */
static void
merge_old(struct redactor *rd, const struct psm_field *old, struct psm_buf *b, bool *first)
{
	const char *p = old->val, *end = old->val + old->vallen;

	if (old->type != PSM_J_OBJ)
		return;
	while (p < end) {
		const char *q, *name;
		size_t n;
		uint64_t v = 0;
		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			break;
		name = q + 1;
		if ((q = memchr(name, '"', (size_t)(end - name))) == NULL)
			break;
		n = (size_t)(q - name);
		for (p = q + 1; p < end && (*p == ':' || *p == ' '); p++)
			;
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		bool known = false;
		for (size_t i = 0; i < rd->rules.n; i++)
			if (strlen(rd->rules.r[i].name) == n && memcmp(rd->rules.r[i].name, name, n) == 0) {
				rd->bytes[i] += v;
				known = true;
			}
		if (!known && n > 0 && psm_utf8_valid((const unsigned char *)name, n)) {
			psm_buf_adds(b, *first ? "" : ",");
			psm_json_string(b, name, n);
			char num[24];
			snprintf(num, sizeof num, ":%" PRIu64, v);
			psm_buf_adds(b, num);
			*first = false;
		}
	}
}

/* "RULE":N for each rule whose count is not 0, comma-separated; whether there was one. */
static bool
put_counts(struct psm_buf *b, const struct psm_redact_rules *rs, const uint64_t *counts)
{
	bool any = false;
	char num[24];

	for (size_t i = 0; i < rs->n; i++) {
		if (counts[i] == 0)
			continue;
		snprintf(num, sizeof num, ":%" PRIu64, counts[i]);
		psm_buf_adds(b, any ? ",\"" : "\"");
		psm_buf_adds(b, rs->r[i].name);
		psm_buf_addc(b, '"');
		psm_buf_adds(b, num);
		any = true;
	}
	return any;
}

/* The event again, its payload masked, with the "redacted" key. */
static void
rebuild(struct redactor *rd, const struct psm_event *ev)
{
	struct psm_buf *b = &rd->line;
	const struct psm_field *old = NULL;
	struct psm_buf others = { 0 };
	bool first = true;

	b->len = 0;
	psm_ev_begin(b, ev->sid, ev->seq, ev->t, ev->type);
	for (int i = 0; i < ev->nf; i++) {
		const struct psm_field *f = &ev->f[i];
		char key[PSM_REDACT_NAME_MAX + 1];
		snprintf(key, sizeof key, "%.*s", (int)(f->keylen < 40 ? f->keylen : 40), f->key);
		if (strcmp(key, "sid") == 0 || strcmp(key, "seq") == 0 || strcmp(key, "t") == 0 ||
		    strcmp(key, "type") == 0)
			continue;
		if (strcmp(key, "data") == 0 || strcmp(key, "b64") == 0) {
			psm_ev_payload(b, rd->masked.data, rd->masked.len);
			continue;
		}
		if (f->keylen == 8 && memcmp(f->key, "redacted", 8) == 0) {
			old = f;
			continue;
		}
		bool str = f->type == PSM_J_STR;
		psm_buf_add(b, ",\"", 2);
		psm_buf_add(b, f->key, f->keylen);
		psm_buf_add(b, "\":", 2);
		psm_buf_add(b, f->val - str, f->vallen + 2 * str);
	}
	if (old != NULL)
		merge_old(rd, old, &others, &first);
	psm_buf_adds(b, ",\"redacted\":{");
	bool any = put_counts(b, &rd->rules, rd->bytes);
	if (others.len > 0) {
		if (any)
			psm_buf_addc(b, ',');
		psm_buf_add(b, others.data, others.len);
	}
	psm_buf_free(&others);
	psm_buf_addc(b, '}');
	psm_ev_end(b);
}

static int
chan_of(const struct psm_event *ev)
{
	if (psm_event_is(ev, "out"))
		return PSM_OUT;
	if (psm_event_is(ev, "in"))
		return PSM_IN;
	if (psm_event_is(ev, "err"))
		return PSM_ERR;
	return -1;
}

/* Write the line at the head of the session's queue, masked. */
static void
emit(struct redactor *rd, struct session *s, const struct queued *q)
{
	const char *line = s->lines.data + q->at;
	struct psm_redact_chan *c = q->chan >= 0 ? &s->chan[q->chan] : NULL;
	struct psm_event ev;
	struct psm_error e;

	if (c == NULL || !psm_redact_masks(c, q->n)) {
		if (c != NULL)
			psm_redact_skip(c, q->n);
		put_line(rd, line, q->len);
		return;
	}
	/* Read when it came: it parses again. */
	rd->payload.len = 0;
	if (psm_event_parse(&ev, line, q->len, &e) < 0 || psm_event_payload(&ev, &rd->payload, &e) < 0)
		xpsm_die(&e);
	memset(rd->bytes, 0, rd->rules.n * sizeof *rd->bytes);
	struct psm_redact_taken t = { .bytes = rd->bytes, .max = PSM_PAYLOAD_MAX };
	rd->masked.len = 0;
	psm_redact_take(c, rd->payload.data, rd->payload.len, &rd->masked, &t);
	for (size_t i = 0; i < rd->rules.n; i++)
		s->masked += rd->bytes[i];
	rebuild(rd, &ev);
	put_line(rd, rd->line.data, rd->line.len - 1);
}

/* Can the head of the queue go? */
static bool
head_ready(const struct redactor *rd, struct session *s, uint64_t now)
{
	const struct queued *q = &s->q[s->qhead];

	if (q->chan < 0)
		return true;
	if (s->lines.len - s->lines_head > QUEUE_MAX)
		return true;	/* bounded: the rest is masked where it can be */
	if (now != 0 && q->arrived + rd->opt->hold <= now)
		return true;
	struct psm_redact_chan *c = &s->chan[q->chan];
	return psm_redact_settled(c) >= c->taken + q->n;
}

/* Write what may go: now, when not 0, lets what waited long enough go too. */
static void
release(struct redactor *rd, struct session *s, uint64_t now)
{
	/*
	 * Over the bound of all sessions: this one's events all go, and its
	 * room with them, whatever the rest of its bytes would have told.
	 */
	bool pressed = rd->held > HELD_MAX;

	while (s->qhead < s->qn && (pressed || head_ready(rd, s, now))) {
		const struct queued *q = &s->q[s->qhead++];
		emit(rd, s, q);
		s->lines_head = q->at + q->len;
		rd->held -= q->len;
	}
	if (s->qhead == s->qn) {
		s->qhead = s->qn = 0;
		s->lines.len = s->lines_head = 0;
		psm_buf_shrink(&s->lines, LINES_KEPT);	/* a burst held is not kept for good */
	} else if (s->lines_head > s->lines.len / 2 && s->lines_head > 65536) {
		size_t gone = s->lines_head;
		psm_buf_consume(&s->lines, gone);
		memmove(s->q, s->q + s->qhead, (s->qn - s->qhead) * sizeof *s->q);
		s->qn -= s->qhead;
		s->qhead = 0;
		for (size_t i = 0; i < s->qn; i++)
			s->q[i].at -= gone;
		s->lines_head = 0;
		psm_buf_shrink(&s->lines, LINES_KEPT);
	}
}

/* When the first held event's time is up (UINT64_MAX: none is held). */
static uint64_t
first_due(const struct redactor *rd)
{
	uint64_t due = UINT64_MAX;

	for (size_t i = 0; i < rd->nopen; i++) {
		const struct session *s = rd->open[i];
		if (s->qhead < s->qn && s->q[s->qhead].arrived + rd->opt->hold < due)
			due = s->q[s->qhead].arrived + rd->opt->hold;
	}
	return due;
}

/* Events that waited --hold-time go. */
static void
release_due(struct redactor *rd)
{
	uint64_t now = psm_mono_usec();

	if (first_due(rd) > now)
		return;
	for (size_t i = 0; i < rd->nopen; i++)
		release(rd, rd->open[i], now);
}

static void
enqueue(struct redactor *rd, struct session *s, const char *line, size_t len, int chan, size_t n)
{
	rd->held += len;
	s->q = xpsm_grow(s->q, &s->qcap, s->qn + 1, sizeof *s->q);
	s->q[s->qn++] = (struct queued){ .at = s->lines.len, .len = len, .chan = chan, .n = n,
	    .arrived = psm_mono_usec() };
	psm_buf_add(&s->lines, line, len);
}

/* Sessions. */

static struct session *
session_new(struct redactor *rd, const char *sid)
{
	struct session *s = xmalloc(sizeof *s);
	struct psm_error e;

	memset(s, 0, sizeof *s);
	memcpy(s->sid, sid, sizeof s->sid);
	s->fired = xmalloc(rd->rules.n * sizeof *s->fired);
	memset(s->fired, 0, rd->rules.n * sizeof *s->fired);
	for (int i = 0; i < 3; i++)
		if (psm_redact_chan_init(&s->chan[i], &rd->rules, s->fired, &e) < 0)
			xpsm_die(&e);
	struct slot *slot = psm_table_add(&rd->table, sid);
	slot->s = s;
	rd->open = xpsm_grow(rd->open, &rd->opencap, rd->nopen + 1, sizeof *rd->open);
	s->index = rd->nopen;
	rd->open[rd->nopen++] = s;
	return s;
}

static struct session *
session_find(struct redactor *rd, const char *sid)
{
	struct slot *slot = psm_table_find(&rd->table, sid);

	return slot != NULL ? slot->s : session_new(rd, sid);
}

static void
report_session(struct redactor *rd, const struct session *s)
{
	struct psm_buf b = { 0 };
	bool any = false;

	if (rd->report != NULL) {
		psm_buf_adds(&b, "{\"sid\":\"");
		psm_buf_adds(&b, s->sid);
		psm_buf_adds(&b, "\",\"rules\":{");
		put_counts(&b, &rd->rules, s->fired);
		char tail[48];
		snprintf(tail, sizeof tail, "},\"bytes\":%" PRIu64 "}\n", s->masked);
		psm_buf_adds(&b, tail);
		if (fwrite(b.data, 1, b.len, rd->report) != b.len)
			err(PSM_EXIT_OS, "%s", rd->opt->report);
	}
	psm_buf_free(&b);
	if (!rd->opt->verbose || s->masked == 0)
		return;
	fprintf(stderr, "psm-redact: %s:", s->sid);
	for (size_t i = 0; i < rd->rules.n; i++)
		if (s->fired[i] > 0) {
			fprintf(stderr, "%s %s %" PRIu64, any ? "," : "", rd->rules.r[i].name, s->fired[i]);
			any = true;
		}
	fprintf(stderr, " (%" PRIu64 " bytes)\n", s->masked);
}

/* The session ended, or the input did: everything goes. */
static void
session_finish(struct redactor *rd, struct session *s)
{
	for (int i = 0; i < 3; i++)
		psm_redact_close(&s->chan[i]);
	release(rd, s, 0);
	report_session(rd, s);
	for (int i = 0; i < 3; i++)
		psm_redact_chan_free(&s->chan[i]);
	for (int i = 0; i < 2; i++)
		psm_buf_free(&s->tail[i].text);
	psm_table_remove(&rd->table, s->sid);
	rd->open[s->index] = rd->open[--rd->nopen];
	rd->open[s->index]->index = s->index;
	free(s->q);
	psm_buf_free(&s->lines);
	free(s->fired);
	free(s);
}

static void
follow_line(struct line_tail *t, uint64_t at, const unsigned char *p, size_t n)
{
	const unsigned char *nl = memrchr(p, '\n', n);

	if (nl != NULL) {
		t->text.len = 0;
		t->at = at + (uint64_t)(nl + 1 - p);
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	if (t->text.len + n > TAIL_MAX) {	/* the recogniser keeps less anyway */
		size_t drop = t->text.len + n - TAIL_MAX / 2;
		if (drop >= t->text.len) {
			p += drop - t->text.len;
			n -= drop - t->text.len;
			drop = t->text.len;
		}
		psm_buf_consume(&t->text, drop);
	}
	psm_buf_add(&t->text, p, n);
	t->asked = false;
}

/*
 * Could the line be one of the built-in prompts? They end with ':', then
 * perhaps spaces, '*' and escape sequences: a cheap test before matching
 * (a shell's prompt has a ':' too, but not at its end).
 */
static bool
ends_like_prompt(const char *text, size_t len)
{
	const char *colon = memrchr(text, ':', len), *p, *end = text + len;

	if (colon == NULL)
		return false;
	for (p = colon + 1; p < end; p++) {
		if (*p == ' ' || *p == '*' || *p == '\t')
			continue;
		if (*p != '\033')
			return false;
		if (p + 1 < end && p[1] == '[')	/* CSI: to its final byte */
			for (p += 2; p < end && (*p < 0x40 || *p > 0x7e); p++)
				;
		else
			p++;
	}
	return true;
}

/* Is the line of t a password prompt not yet answered? */
static bool
unanswered_prompt(struct redactor *rd, struct line_tail *t)
{
	if (t->text.len == 0 || t->answered == t->at + 1)
		return false;
	if (t->asked)
		return t->prompt;
	t->asked = true;
	t->prompt = false;
	/* The built-in prompts end with ':'; a line without one needs no matching. */
	if (rd->opt->nprompts == 0 && !ends_like_prompt(t->text.data, t->text.len))
		return false;
	rd->probe.len = 0;
	psm_buf_add(&rd->probe, "\030\n", 2);	/* CAN ends any sequence; a new line */
	psm_buf_add(&rd->probe, t->text.data, t->text.len);
	psm_prompt_output(&rd->prompt, rd->probe.data, rd->probe.len);
	t->prompt = psm_prompt_active(&rd->prompt);
	return t->prompt;
}

/*
 * Typed bytes: if the session's current line is a password prompt that
 * has had no answer yet, they are its answer, masked up to Enter, and
 * so is the rest of the line on the screen (an echo).
 */
static void
feed_input(struct redactor *rd, struct session *s, const unsigned char *p, size_t n)
{
	if (n > 0 && psm_redact_prompt_rule(&rd->rules) != NULL)
		for (int i = 0; i < 2; i++) {
			struct line_tail *t = &s->tail[i];
			if (!unanswered_prompt(rd, t))
				continue;
			t->answered = t->at + 1;
			psm_redact_mask_line(&s->chan[PSM_IN]);
			psm_redact_mask_line(&s->chan[i == 0 ? PSM_OUT : PSM_ERR]);
			break;
		}
	psm_redact_add(&s->chan[PSM_IN], p, n);
}

/* Bytes of a session: scanned, and the current line followed. */
static void
feed(struct redactor *rd, struct session *s, int chan, const unsigned char *p, size_t n)
{
	if (chan == PSM_IN) {
		feed_input(rd, s, p, n);
		return;
	}
	struct line_tail *t = &s->tail[chan == PSM_ERR];
	follow_line(t, s->chan[chan].added, p, n);
	psm_redact_add(&s->chan[chan], p, n);
}

/* psm-record withheld the answer: the prompt on the screen has had it. */
static void
answered_by_recorder(struct session *s)
{
	for (int i = 0; i < 2; i++)
		s->tail[i].answered = s->tail[i].at + 1;
}

static bool
sealed(const struct psm_event *ev)
{
	return psm_event_get(ev, "h") != NULL || psm_event_get(ev, "chain") != NULL ||
	    psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal");
}

static int
take_line(struct redactor *rd, const char *line, size_t len, struct psm_error *e)
{
	struct psm_event ev;
	struct session *s;
	int chan;

	if (psm_event_parse(&ev, line, len, e) < 0)
		return -1;
	if (sealed(&ev))
		return psm_fail(e, PSM_E_DATA, "a sealed stream: psm-redact comes before psm-seal");
	if (psm_sessions_check(&rd->order, &ev, e) < 0)
		return -1;
	s = session_find(rd, ev.sid);
	if ((chan = chan_of(&ev)) >= 0) {
		rd->payload.len = 0;
		if (psm_event_payload(&ev, &rd->payload, e) < 0)
			return -1;
		feed(rd, s, chan, (const unsigned char *)rd->payload.data, rd->payload.len);
	}
	else if (psm_event_is(&ev, "withheld"))
		answered_by_recorder(s);
	enqueue(rd, s, line, len, chan, chan >= 0 ? rd->payload.len : 0);
	if (psm_event_is(&ev, "end"))
		session_finish(rd, s);
	else
		release(rd, s, 0);
	if (rd->live && ++rd->lines % 256 == 0)
		release_due(rd);	/* another session may keep the input busy */
	return 0;
}

/* Every session as if its input ended: what was good is written. */
static void
finish_all(struct redactor *rd)
{
	while (rd->nopen > 0)
		session_finish(rd, rd->open[rd->nopen - 1]);
	flush_out(rd);
	if (rd->report != NULL && fflush(rd->report) != 0)
		err(PSM_EXIT_OS, "%s", rd->opt->report);
}

static void __attribute__((noreturn))
fail_input(struct redactor *rd, struct psm_error *e)
{
	finish_all(rd);
	xpsm_die(e);
}

/* A live input has nothing to read: wait for it, or until a held event's time is up. */
static void
wait_for_input(struct redactor *rd, struct psm_lines *r)
{
	struct pollfd p = { r->fd, POLLIN, 0 };
	uint64_t due = first_due(rd), now;

	flush_out(rd);
	now = psm_mono_usec();
	int timeout = due == UINT64_MAX ? -1 : due <= now ? 0 : (int)((due - now + 999) / 1000);
	int n = poll(&p, 1, timeout);
	if (n > 0) {
		psm_lines_may_read(r);
		return;
	}
	if (n < 0 && errno != EINTR)
		err(PSM_EXIT_OS, "poll");
	release_due(rd);
	flush_out(rd);
}

static void
redact_input(struct redactor *rd, int fd, const char *name)
{
	struct psm_lines r;
	const char *line;
	size_t len;
	struct stat st;
	struct psm_error e;

	rd->name = name;
	psm_lines_init(&r, fd, name);
	psm_lines_set_max(&r, PSM_LINE_MAX);
	rd->live = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
	psm_lines_wait_before_read(&r, rd->live);
	for (;;) {
		int rc = psm_lines_next(&r, &line, &len);
		if (rc == PSM_LINE_OK) {
			if (take_line(rd, line, len, &e) < 0) {
				psm_error_prefix(&e, "%s:%" PRIu64, name, r.lineno);
				fail_input(rd, &e);
			}
			continue;
		}
		if (rc == PSM_LINE_WAIT) {
			wait_for_input(rd, &r);
			continue;
		}
		if (rc == PSM_LINE_ERROR)
			psm_fail_errno(&e, "%s", name), fail_input(rd, &e);
		if (rc == PSM_LINE_TOOLONG)
			psm_fail(&e, PSM_E_DATA, "%s:%" PRIu64 ": line longer than 1 MiB", name,
			    r.lineno + 1), fail_input(rd, &e);
		if (rc == PSM_LINE_PARTIAL)
			psm_fail(&e, PSM_E_DATA, "%s:%" PRIu64 ": last line is incomplete "
			    "(no newline at the end)", name, r.lineno + 1), fail_input(rd, &e);
		break;
	}
	psm_lines_free(&r);
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct redactor rd = { .opt = &opt };
	struct psm_error e;
	int *fds;

	parse_options(argc, argv, &opt);
	signal(SIGPIPE, SIG_IGN);	/* a reader that goes is an EPIPE and a message, not a death */
	load_rules(&rd, &opt);
	if (opt.list)
		list_rules(&rd.rules);
	int loaded = psm_redact_load(&rd.rules, builtin_db, sizeof builtin_db, &e);
	if (loaded < 0 || (loaded == 0 && psm_redact_compile(&rd.rules, &e) < 0))
		xpsm_die(&e);
	fds = xpsm_open_inputs(opt.files, opt.nfiles);
	if (opt.report != NULL && (rd.report = fopen(opt.report, "we")) == NULL)
		err(PSM_EXIT_OS, "%s", opt.report);
	if (psm_prompt_init(&rd.prompt, &e) < 0)
		xpsm_die(&e);
	for (size_t k = 0; k < opt.nprompts; k++)
		if (psm_prompt_add(&rd.prompt, opt.prompts[k], &e) < 0) {
			warnx("--prompt: %s", e.msg);
			usage();
		}
	if (!opt.no_sandbox && psm_sandbox(NULL, &e) < 0)
		xpsm_die(&e);

	psm_table_init(&rd.table, sizeof(struct slot));
	psm_sessions_init(&rd.order);
	rd.bytes = xmalloc(rd.rules.n * sizeof *rd.bytes);
	if (opt.nfiles == 0)
		redact_input(&rd, STDIN_FILENO, "(stdin)");
	for (int i = 0; i < opt.nfiles; i++) {
		redact_input(&rd, fds[i], opt.files[i]);
		if (fds[i] != STDIN_FILENO)
			close(fds[i]);
	}
	finish_all(&rd);
	if (rd.report != NULL && fclose(rd.report) != 0)
		err(PSM_EXIT_OS, "%s", opt.report);
	psm_prompt_free(&rd.prompt);
	psm_buf_free(&rd.probe);
	psm_sessions_free(&rd.order);
	psm_table_free(&rd.table);
	psm_redact_rules_free(&rd.rules);
	psm_buf_free(&rd.out);
	psm_buf_free(&rd.payload);
	psm_buf_free(&rd.masked);
	psm_buf_free(&rd.line);
	free(rd.bytes);
	free(rd.open);
	free(fds);
	free(opt.rulefiles);
	free(opt.toggles);
	free(opt.prompts);
	return PSM_EXIT_OK;
}
