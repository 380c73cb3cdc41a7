/*
 * psm-ship: delivers the lines of psm streams to a destination and
 * remembers, per file and destination, what the receiver acknowledged
 * (psm-ship(1)).
 *
 * A run takes each file from where its state says, a batch at a time:
 * whole lines, each checked, sent, and only once the receiver has them
 * the state moves past them (written anew, fsync'd). A failure to send is
 * retried with exponential backoff and jitter for --retry-for; a bad line
 * stops that file after everything before it is delivered.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "psm_crypto.h"
#include "psm_sandbox.h"
#include "psm_ship.h"

#define DEFAULT_BATCH 5000
#define BATCH_LINES_MAX 100000
#define DEFAULT_RETRY_FOR (60 * UINT64_C(1000000))
#define DEFAULT_TIMEOUT (30 * UINT64_C(1000000))
#define DEFAULT_MAX_MESSAGE 65536
#define BACKOFF_FIRST (100 * UINT64_C(1000))		/* microseconds */
#define BACKOFF_MAX (10 * UINT64_C(1000000))
#define FOLLOW_POLL (200 * UINT64_C(1000))		/* how often a followed file is looked at */
#define ROTATED_QUIET 2					/* seconds: see rotated_done() */
#define STEP_BATCHES 16		/* of one file before the next file's turn */
#define PROGRESS_EVERY (500 * UINT64_C(1000))
#define PROGRESS_BACKLOG (4 * 1024 * 1024)		/* bytes behind before a progress line shows */

struct options {
	const char *to, *state_dir;
	struct psm_sink_conf conf;
	size_t batch;
	uint64_t retry_for;
	bool follow, verbose, no_sandbox;
	char **files;
	int nfiles;
};

struct source {
	const char *name;		/* as given */
	char *path;			/* absolute: the state's name for it */
	bool is_stdin;
	struct psm_ship_state st;
	bool have_state;
	char *reading;			/* the file read now: path, or where the old one went */
	bool then_path;			/* reading a rotated file: the path comes after it */
	bool copy;			/* that file is a copy (copytruncate): no writer has it */
	int fd;
	struct psm_lines rd;
	uint64_t offset;		/* the next byte to read from it */
	uint64_t dev, ino;
	bool at_end;			/* read to its end (or to a line not yet whole) */
	bool done;			/* nothing more in this run */
	uint64_t lines, bytes;		/* shipped in this run */
};

/*
 * A batch and what the state becomes once it is acknowledged. Two take
 * turns: one is with the receiver while the next is read.
 */
struct outgoing {
	struct psm_ship_batch batch;
	struct psm_buf text;		/* its lines */
	uint64_t end_offset;		/* in its file: the end of its last line */
	uint64_t last_start;		/* and where that line begins */
	uint64_t dev, ino;		/* of its file */
	struct psm_ship_stream *streams;	/* the file's open sealed streams after it */
	size_t nstreams, scap;
	bool stopped;			/* reading stopped at a line that cannot go, or failed */
	struct psm_error err;		/* why */
};

struct shipper {
	struct options *opt;
	struct psm_sink sink;
	char *state_to;			/* the destination as the states name it */
	char host[256];
	struct outgoing out[2];
	int status;
	bool halt;			/* the destination failed or refused: nothing more goes */
	uint64_t started, lines, bytes, retries;
	uint64_t backlog, progress_at;	/* bytes behind at the start; the last progress line */
	bool progress;
};

static volatile sig_atomic_t stop_signal;

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-ship --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-ship --to URL [options] FILE...\n"
	    "Deliver psm streams to a destination, remembering what it acknowledged.\n\n"
	    "  -t, --to=URL           file:PATH, syslog+tcp://HOST:PORT, syslog+tls://HOST:PORT,\n"
	    "                         relp://HOST:PORT or postgresql://...\n"
	    "  -s, --state=DIR        where the state of each file is kept\n"
	    "                         ($XDG_STATE_HOME/psm/ship or ~/.local/state/psm/ship)\n"
	    "  -f, --follow           keep shipping what is added to the files, across rotations\n"
	    "      --retry-for=DURATION  how long to retry a destination that fails (1m)\n"
	    "      --timeout=DURATION    how long a connection or an answer may take (30s)\n"
	    "      --batch=N          lines in one batch, at most (5000)\n"
	    "      --max-message=BYTES  syslog and RELP: the longest message (65536)\n"
	    "      --ca=FILE          TLS: the CA certificates to trust\n"
	    "      --cert=FILE        TLS: a client certificate\n"
	    "      --key=FILE         TLS: its key (mode 0600)\n"
	    "      --server-name=NAME TLS: the name the certificate must have (the URL's host)\n"
	    "      --password-file=FILE  PostgreSQL: the password (mode 0600)\n"
	    "  -v, --verbose          retries as they happen, and a summary\n"
	    "      --no-sandbox       do not confine the process (for debugging)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n\n"
	    "FILE - is standard input (shipped without state). Exit: 0 all delivered, 1 the\n"
	    "receiver refused or another run holds the state, 2 usage, 3 a bad line (after\n"
	    "what came before it), 4 system error or the destination failed past --retry-for.\n");
	exit(PSM_EXIT_OK);
}

static void
parse_size(const char *opt, const char *s, size_t min, size_t max, size_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max) {
		warnx("--%s: not a number from %zu to %zu: %s", opt, min, max, s);
		usage();
	}
	*out = (size_t)v;
}

static void
parse_time(const char *opt, const char *s, uint64_t *usec)
{
	if (psm_parse_duration(s, usec) < 0) {
		warnx("--%s: not a duration: %s (as 500ms, 30s, 5m, 1h)", opt, s);
		usage();
	}
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_RETRY = 256, OPT_TIMEOUT, OPT_BATCH, OPT_MAX_MESSAGE, OPT_CA, OPT_CERT,
		OPT_KEY, OPT_SERVER_NAME, OPT_PASSWORD_FILE, OPT_NO_SANDBOX };
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "state", required_argument, NULL, 's' },
		{ "follow", no_argument, NULL, 'f' },
		{ "retry-for", required_argument, NULL, OPT_RETRY },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "max-message", required_argument, NULL, OPT_MAX_MESSAGE },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "server-name", required_argument, NULL, OPT_SERVER_NAME },
		{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->batch = DEFAULT_BATCH;
	opt->retry_for = DEFAULT_RETRY_FOR;
	opt->conf.timeout = DEFAULT_TIMEOUT;
	opt->conf.max_message = DEFAULT_MAX_MESSAGE;
	while ((c = getopt_long(argc, argv, "t:s:fvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': opt->to = optarg; break;
		case 's': opt->state_dir = optarg; break;
		case 'f': opt->follow = true; break;
		case OPT_RETRY: parse_time("retry-for", optarg, &opt->retry_for); break;
		case OPT_TIMEOUT: parse_time("timeout", optarg, &opt->conf.timeout); break;
		case OPT_BATCH: parse_size("batch", optarg, 1, BATCH_LINES_MAX, &opt->batch); break;
		case OPT_MAX_MESSAGE:
			parse_size("max-message", optarg, 480, PSM_SEALED_LINE_MAX + 4096,
			    &opt->conf.max_message);
			break;
		case OPT_CA: opt->conf.ca = optarg; break;
		case OPT_CERT: opt->conf.cert = optarg; break;
		case OPT_KEY: opt->conf.key = optarg; break;
		case OPT_SERVER_NAME: opt->conf.server_name = optarg; break;
		case OPT_PASSWORD_FILE: opt->conf.password_file = optarg; break;
		case 'v': opt->verbose = true; break;
		case OPT_NO_SANDBOX: opt->no_sandbox = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-ship %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	opt->files = argv + optind;
	opt->nfiles = argc - optind;
	if (opt->to == NULL) {
		warnx("--to: where to ship is required");
		usage();
	}
	if (opt->nfiles == 0) {
		warnx("no FILE: name the files to ship (- for standard input)");
		usage();
	}
	for (int i = 0; i < opt->nfiles; i++)
		if (strcmp(opt->files[i], "-") == 0 && opt->nfiles > 1) {
			warnx("-: standard input is shipped alone");
			usage();
		}
	opt->conf.url = opt->to;
}

static void
on_stop(int sig)
{
	stop_signal = sig;
}

/* The worst status wins: a failure of the system over a bad line over a refusal. */
static void
note_status(struct shipper *sh, int status)
{
	if (status > sh->status)
		sh->status = status;
}

static void
report(struct shipper *sh, const struct psm_error *e)
{
	if (sh->progress)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "psm-ship: %s\n", e->msg);
	note_status(sh, psm_exit_status(e));
}

/* Sleep, waking for a stop signal. */
static void
nap(uint64_t usec)
{
	struct timespec ts = { .tv_sec = (time_t)(usec / 1000000),
		.tv_nsec = (long)(usec % 1000000) * 1000 };

	if (!stop_signal)
		nanosleep(&ts, NULL);
}

/* ---- progress -------------------------------------------------------- */

static void
show_progress(struct shipper *sh, bool force)
{
	uint64_t now = psm_mono_usec();

	if (!sh->progress || (!force && now - sh->progress_at < PROGRESS_EVERY))
		return;
	sh->progress_at = now;
	double secs = (double)(now - sh->started) / 1e6;
	double rate = secs > 0 ? (double)sh->lines / secs : 0;
	double bps = secs > 0 ? (double)sh->bytes / secs : 0;
	double left = bps > 0 && sh->backlog > sh->bytes ? (double)(sh->backlog - sh->bytes) / bps : 0;
	fprintf(stderr, "\r\033[Kpsm-ship: %" PRIu64 " lines, %.1f MB, %.0f lines/s, %.0f s left",
	    sh->lines, (double)sh->bytes / 1e6, rate, left);
	fflush(stderr);
}

/* ---- sources ----------------------------------------------------------- */

/*
 * name as an absolute path, its directory resolved (./s.jsonl and s.jsonl
 * are one file, one state); the name itself is kept, so that a rotation
 * that moves a link is not followed into its target.
 */
static char *
join(const char *dir, const char *base)
{
	size_t n = strlen(dir) + strlen(base) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base);
	return p;
}

static char *
absolute(const char *name)
{
	char *d = xstrdup(name), *b = xstrdup(name), cwd[4096];
	char *dir = realpath(dirname(d), NULL), *p;

	if (dir != NULL)
		p = join(dir, basename(b));
	else if (name[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
		p = join(cwd, name);
	else
		p = xstrdup(name);
	free(dir);
	free(d);
	free(b);
	return p;
}

/*
 * The destination as the states know it: a file store by its absolute
 * path, as the files are, so that file:store from two directories is two
 * destinations.
 */
static char *
state_destination(const struct psm_sink *sink)
{
	if (strcmp(sink->scheme, "file") != 0)
		return xstrdup(sink->where);
	char *path = absolute(sink->where + strlen("file:"));
	size_t n = strlen("file:") + strlen(path) + 1;
	char *to = xmalloc(n);
	snprintf(to, n, "file:%s", path);
	free(path);
	return to;
}

/* The file being read, for messages: as the user named it, or where a rotated one is. */
static const char *
shown(const struct source *src)
{
	return src->then_path ? src->reading : src->name;
}

static void
close_reading(struct source *src)
{
	if (src->fd >= 0 && !src->is_stdin)
		close(src->fd);
	if (src->fd >= 0)
		psm_lines_free(&src->rd);
	src->fd = -1;
	free(src->reading);
	src->reading = NULL;
}

/* Open what is to be read next of src at offset; a file not there yet is waited for by --follow. */
static int
open_reading(struct shipper *sh, struct source *src, char *file, uint64_t offset,
    struct psm_error *e)
{
	struct stat sb;

	src->reading = file;
	src->fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (src->fd < 0) {
		int errnum = errno;
		if (errnum == ENOENT && sh->opt->follow)
			return 0;	/* not there yet */
		errno = errnum;
		return psm_fail_errno(e, "%s", file);
	}
	if (fstat(src->fd, &sb) < 0 || lseek(src->fd, (off_t)offset, SEEK_SET) < 0)
		return psm_fail_errno(e, "%s", file);
	src->dev = sb.st_dev;
	src->ino = sb.st_ino;
	src->offset = offset;
	if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > offset)
		sh->backlog += (uint64_t)sb.st_size - offset;
	psm_lines_init(&src->rd, src->fd, file);
	psm_lines_set_max(&src->rd, PSM_SEALED_LINE_MAX);
	src->rd.lineno = src->st.lines;
	return 0;
}

/* The state's file no longer holds what comes next: start src's path over. */
static void
restart_at_path(struct source *src)
{
	src->st.offset = src->st.lines = src->st.last_start = 0;
	memset(src->st.last_hash, 0, sizeof src->st.last_hash);
}

/* Where src goes on (psm_ship_locate), and open it there. */
static int
open_source(struct shipper *sh, struct source *src, struct psm_error *e)
{
	enum psm_ship_found found;
	char *old;

	src->at_end = false;
	src->then_path = src->copy = false;
	if (src->is_stdin) {
		src->reading = xstrdup("-");
		src->fd = STDIN_FILENO;
		psm_lines_init(&src->rd, src->fd, "-");
		psm_lines_set_max(&src->rd, PSM_SEALED_LINE_MAX);
		psm_lines_wait_before_read(&src->rd, true);
		return 0;
	}
	if (psm_ship_locate(&src->st, src->path, &old, &found, e) < 0)
		return -1;
	switch (found) {
	case PSM_SHIP_SAME:
		return open_reading(sh, src, xstrdup(src->path), src->st.offset, e);
	case PSM_SHIP_MOVED:
		if (sh->opt->verbose)
			fprintf(stderr, "psm-ship: %s: rotated: the rest of %s first\n", src->name, old);
		src->then_path = true;
		if (open_reading(sh, src, old, src->st.offset, e) < 0)
			return -1;
		src->copy = src->fd >= 0 && (src->dev != src->st.dev || src->ino != src->st.ino);
		return 0;
	case PSM_SHIP_LOST:
		fprintf(stderr, "psm-ship: %s: the file shipped up to line %" PRIu64 " is gone or "
		    "was rewritten, and no copy of it is next to it: what it had after that line "
		    "may not have been shipped; shipping %s from its start\n", src->name,
		    src->st.lines, src->name);
		restart_at_path(src);
		break;
	case PSM_SHIP_FROM_START:
		restart_at_path(src);
		break;
	}
	return open_reading(sh, src, xstrdup(src->path), 0, e);
}

/* ---- batches ----------------------------------------------------------- */

/* Line (len bytes) of src into o's batch, or an error that names it. */
static int
take_line(struct shipper *sh, struct source *src, struct outgoing *o, const char *line,
    size_t len, struct psm_error *e)
{
	struct psm_event ev;
	struct psm_ship_line *l;

	if (psm_event_parse(&ev, line, len, e) < 0) {
		psm_error_prefix(e, "%s:%" PRIu64, shown(src), src->rd.lineno);
		return -1;
	}
	size_t at = o->text.len;
	psm_buf_add(&o->text, line, len);	/* room reserved: the text never moves */
	l = psm_ship_batch_add(&o->batch);
	l->line = o->text.data + at;
	l->len = len;
	memcpy(l->sid, ev.sid, sizeof l->sid);
	l->seq = ev.seq;
	l->t = ev.t;
	memcpy(l->type, ev.type, sizeof l->type);
	l->lineno = src->rd.lineno;
	if (psm_sink_check(&sh->sink, l, e) < 0) {
		o->batch.n--;
		o->text.len = at;
		psm_error_prefix(e, "%s:%" PRIu64, shown(src), src->rd.lineno);
		return -1;
	}
	psm_ship_state_place(&src->st, &ev, l);
	o->batch.bytes += len;
	o->last_start = src->offset;
	src->offset += len + 1;
	o->end_offset = src->offset;
	return 0;
}

static void
wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (!stop_signal)
		poll(&p, 1, -1);
}

/*
 * Lines of src into the batch until it is full or src has no whole line
 * left. Returns -1 with e for a line that cannot go (the batch keeps the
 * lines before it) and for a read that failed.
 */
static int
read_lines(struct shipper *sh, struct source *src, struct outgoing *o, struct psm_error *e)
{
	const char *line;
	size_t len;

	while (o->batch.n < sh->opt->batch && o->batch.bytes < PSM_SHIP_BATCH_BYTES &&
	    !stop_signal) {
		switch (psm_lines_next(&src->rd, &line, &len)) {
		case PSM_LINE_OK:
			if (take_line(sh, src, o, line, len, e) < 0)
				return -1;
			continue;
		case PSM_LINE_TOOLONG:
			return psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": line longer than %zu bytes",
			    shown(src), src->rd.lineno, (size_t)PSM_SEALED_LINE_MAX);
		case PSM_LINE_ERROR:
			return psm_fail_errno(e, "%s", shown(src));
		case PSM_LINE_WAIT:	/* a pipe with nothing to read: what there is goes now */
			if (o->batch.n > 0)
				return 0;
			wait_readable(src->fd);
			psm_lines_may_read(&src->rd);
			continue;
		case PSM_LINE_PARTIAL:
			if (src->is_stdin)
				return psm_fail(e, PSM_E_DATA, "-:%" PRIu64 ": the last line has no "
				    "newline", src->rd.lineno + 1);
			src->at_end = true;	/* being written: waited for, or the next run's */
			return 0;
		default:
			src->at_end = true;
			return 0;
		}
	}
	return 0;
}

/* o, emptied, filled from src, with what the state will be once it is acknowledged. */
static void
fill_batch(struct shipper *sh, struct source *src, struct outgoing *o)
{
	psm_ship_batch_clear(&o->batch);
	o->text.len = 0;
	o->batch.file = src->reading;
	o->stopped = read_lines(sh, src, o, &o->err) < 0;
	o->dev = src->dev;
	o->ino = src->ino;
	o->streams = xpsm_grow(o->streams, &o->scap, src->st.nstreams, sizeof *o->streams);
	if (src->st.nstreams > 0)
		memcpy(o->streams, src->st.streams, src->st.nstreams * sizeof *o->streams);
	o->nstreams = src->st.nstreams;
}

/* ---- delivery ---------------------------------------------------------- */

/*
 * Before a line is read: what shipping needs and no more. Files (the
 * state, rotated files found later), sockets (connections made and made
 * again: name resolution, when a sink needs it, is done before this),
 * and none of exec, ptrace, mount and the rest.
 */
static void
confine(struct shipper *sh)
{
	static const int extra[] = {
		SCMP_SYS(openat), SCMP_SYS(rename), SCMP_SYS(unlink), SCMP_SYS(fsync),
		SCMP_SYS(fdatasync), SCMP_SYS(ftruncate), SCMP_SYS(flock), SCMP_SYS(getdents64),
		SCMP_SYS(pread64), SCMP_SYS(statx), SCMP_SYS(socket), SCMP_SYS(connect),
		SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
		SCMP_SYS(getpeername), SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg),
		SCMP_SYS(recvmsg), SCMP_SYS(shutdown), SCMP_SYS(uname), SCMP_SYS(getuid),
		SCMP_SYS(geteuid), SCMP_SYS(getcwd), SCMP_SYS(rt_sigaction), SCMP_SYS(bind),
		-1,
	};
	struct psm_error e;

	if (sh->opt->no_sandbox)
		return;
	if (psm_sandbox_flags(extra, PSM_SANDBOX_SOCKETS, &e) < 0)
		xpsm_die(&e);
}

/* Exponential, with jitter (half of it random), so that many hosts do not retry in step. */
static uint64_t
backoff(unsigned attempt)
{
	uint64_t d = BACKOFF_FIRST;

	while (attempt-- > 0 && d < BACKOFF_MAX)
		d *= 2;
	if (d > BACKOFF_MAX)
		d = BACKOFF_MAX;
	return d / 2 + arc4random_uniform((uint32_t)(d / 2) + 1);
}

/*
 * The batch to the receiver, retried on failures worth a retry for
 * --retry-for; with failed, e is the failure of a first attempt.
 */
static int
deliver(struct shipper *sh, const struct psm_ship_batch *b, bool failed, struct psm_error *e)
{
	uint64_t first_failure = 0;

	for (unsigned attempt = 0;; attempt++) {
		if (!failed && psm_sink_send(&sh->sink, b, e) == 0)
			return 0;
		failed = false;
		psm_sink_disconnect(&sh->sink);
		if (e->kind != PSM_E_OS)
			return -1;
		uint64_t now = psm_mono_usec();
		if (first_failure == 0)
			first_failure = now;
		if (now - first_failure >= sh->opt->retry_for || stop_signal) {
			psm_error_prefix(e, "gave up after %.1f s", (double)(now - first_failure) / 1e6);
			return -1;
		}
		uint64_t wait = backoff(attempt), left = sh->opt->retry_for - (now - first_failure);
		if (wait > left)
			wait = left;
		if (sh->opt->verbose)
			fprintf(stderr, "psm-ship: %s (retrying in %.1f s)\n", e->msg, (double)wait / 1e6);
		sh->retries++;
		nap(wait);
	}
}

/* The batch was acknowledged: the state moves past it, on disk. */
static int
acknowledged(struct shipper *sh, struct source *src, struct outgoing *o, struct psm_error *e)
{
	const struct psm_ship_batch *b = &o->batch;
	const struct psm_ship_line *last = &b->v[b->n - 1];

	src->lines += b->n;
	src->bytes += b->bytes + b->n;	/* with their newlines, as in the file */
	sh->lines += b->n;
	sh->bytes += b->bytes + b->n;
	if (src->is_stdin)
		return 0;
	struct psm_ship_state st = src->st;	/* the streams as they were after the batch */
	st.dev = o->dev;
	st.ino = o->ino;
	st.offset = o->end_offset;
	st.lines = last->lineno;
	st.last_start = o->last_start;
	psm_sha256(st.last_hash, last->line, last->len);
	st.streams = o->streams;
	st.nstreams = o->nstreams;
	int rc = psm_ship_state_save(&st, e);
	src->st.dev = st.dev;
	src->st.ino = st.ino;
	src->st.offset = st.offset;
	src->st.lines = st.lines;
	src->st.last_start = st.last_start;
	memcpy(src->st.last_hash, st.last_hash, sizeof st.last_hash);
	src->st.known = st.known;
	return rc;
}

/*
 * Batch a to the receiver, and, when next is given and the sink can split
 * a batch, next read from src meanwhile; then a acknowledged and the state
 * moved past it.
 */
static int
ship(struct shipper *sh, struct source *src, struct outgoing *a, struct outgoing *next,
    struct psm_error *e)
{
	int rc = psm_sink_start(&sh->sink, &a->batch, e);

	if (next != NULL)
		fill_batch(sh, src, next);
	if (rc == 0)
		rc = psm_sink_finish(&sh->sink, e);
	if (rc < 0 && deliver(sh, &a->batch, true, e) < 0)
		return -1;
	return acknowledged(sh, src, a, e);
}

/* ---- a source's run ---------------------------------------------------- */

/*
 * Whether a rotated file read to its end is done with: a writer that had
 * it open may still add to it after the rename, so it is done once it has
 * not changed for ROTATED_QUIET seconds. Until then the path waits (the
 * next run, or the next look with --follow).
 */
static bool
rotated_done(const struct source *src)
{
	struct stat sb;

	return src->copy || fstat(src->fd, &sb) < 0 || time(NULL) - sb.st_mtime >= ROTATED_QUIET;
}

/*
 * A rotated file done with: its last line, if not whole, will never be;
 * say so, then go on with the path from its start.
 */
static int
finish_rotated(struct shipper *sh, struct source *src, struct psm_error *e)
{
	if (src->rd.end > src->rd.start)
		fprintf(stderr, "psm-ship: %s:%" PRIu64 ": %zu bytes without a newline at the end "
		    "of a rotated file: not a line, not shipped\n", src->reading,
		    src->rd.lineno + 1, src->rd.end - src->rd.start);
	close_reading(src);
	restart_at_path(src);
	src->then_path = false;
	src->at_end = false;
	return open_reading(sh, src, xstrdup(src->path), 0, e);
}

/* With --follow, at the end of src: has the file at its path changed under it? */
static int
look_again(struct shipper *sh, struct source *src, struct psm_error *e)
{
	if (src->fd < 0) {
		free(src->reading);
		src->reading = NULL;
		return open_source(sh, src, e);
	}
	if (psm_followed_state(src->fd, src->reading) == PSM_FOLLOWED_OK && !src->then_path &&
	    psm_ship_state_matches(&src->st, src->fd)) {	/* not truncated and written again */
		src->at_end = false;
		return 0;
	}
	if (src->then_path) {
		src->at_end = false;
		return rotated_done(src) ? finish_rotated(sh, src, e) : 0;
	}
	close_reading(src);
	return open_source(sh, src, e);
}

/*
 * Batches of src, up to STEP_BATCHES, each read while the one before is
 * with the receiver: read, delivered, acknowledged. Returns whether lines
 * went; a failure is reported and ends src (or, past --retry-for or for a
 * refusal, the run).
 */
static bool
step(struct shipper *sh, struct source *src)
{
	struct outgoing *a = &sh->out[0], *b = &sh->out[1];
	bool split = sh->sink.ops->start != NULL, went = false;
	struct psm_error e;

	if (src->fd < 0)
		return false;
	fill_batch(sh, src, a);
	for (int k = 0; a->batch.n > 0; k++) {
		bool more = split && !a->stopped && !src->at_end && !src->is_stdin &&
		    k + 1 < STEP_BATCHES;	/* (a pipe would be waited on with a batch out) */
		if (ship(sh, src, a, more ? b : NULL, &e) < 0) {
			report(sh, &e);
			src->done = true;
			if (e.kind != PSM_E_DATA)
				sh->halt = true;
			return false;
		}
		went = true;
		show_progress(sh, false);
		if (!more)
			break;
		struct outgoing *t = a;
		a = b;
		b = t;
	}
	if (a->stopped) {
		report(sh, &a->err);
		src->done = true;
		return went;
	}
	if (src->at_end && src->then_path && rotated_done(src)) {
		if (finish_rotated(sh, src, &e) < 0) {
			report(sh, &e);
			src->done = true;
		}
		return true;
	}
	if (src->at_end && !sh->opt->follow)
		src->done = true;
	return went;
}

static void
summary(const struct shipper *sh, const struct source *src, int n)
{
	double secs = (double)(psm_mono_usec() - sh->started) / 1e6;

	for (int i = 0; i < n; i++)
		fprintf(stderr, "psm-ship: %s: %" PRIu64 " lines (%" PRIu64 " bytes) to %s\n",
		    src[i].name, src[i].lines, src[i].bytes, sh->sink.where);
	fprintf(stderr, "psm-ship: %" PRIu64 " lines in %.2f s (%.0f lines/s), %" PRIu64
	    " retries; delivered means: %s\n", sh->lines, secs,
	    secs > 0 ? (double)sh->lines / secs : 0.0, sh->retries, sh->sink.acked);
}

static void
open_sources(struct shipper *sh, struct source *src, int n, const char *state_dir)
{
	struct psm_error e;

	for (int i = 0; i < n; i++) {
		src[i].name = sh->opt->files[i];
		src[i].fd = -1;
		src[i].is_stdin = strcmp(src[i].name, "-") == 0;
		src[i].path = absolute(src[i].name);
		if (!src[i].is_stdin && psm_ship_state_open(&src[i].st, state_dir, src[i].path,
		    sh->state_to, &e) < 0) {
			report(sh, &e);
			src[i].done = true;
			continue;
		}
		if (open_source(sh, &src[i], &e) < 0) {
			report(sh, &e);
			src[i].done = true;
		}
	}
}

static void
run(struct shipper *sh, struct source *src, int n)
{
	struct psm_error e;

	for (;;) {
		bool went = false, left = false;
		for (int i = 0; i < n && !stop_signal && !sh->halt; i++) {
			if (src[i].done)
				continue;
			left = true;
			went |= step(sh, &src[i]);
		}
		if (stop_signal || sh->halt || !left)
			return;
		if (went || !sh->opt->follow)
			continue;
		nap(FOLLOW_POLL);
		for (int i = 0; i < n; i++)
			if (!src[i].done && (src[i].at_end || src[i].fd < 0) &&
			    look_again(sh, &src[i], &e) < 0) {
				report(sh, &e);
				src[i].done = true;
			}
	}
}

static void
set_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };	/* no SA_RESTART: sleeps end */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a receiver that goes is an error to retry, not a death */
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct shipper sh = { .opt = &opt };
	struct psm_error e;
	char state_dir[4096];

	parse_options(argc, argv, &opt);
	if (gethostname(sh.host, sizeof sh.host - 1) < 0)
		strcpy(sh.host, "-");
	opt.conf.host = sh.host;
	if (psm_sink_new(&sh.sink, &opt.conf, &e) < 0) {
		if (e.kind != PSM_E_USAGE)
			xpsm_die(&e);
		warnx("%s", e.msg);
		usage();
	}
	sh.state_to = state_destination(&sh.sink);
	if (opt.state_dir != NULL)
		snprintf(state_dir, sizeof state_dir, "%s", opt.state_dir);
	else if (psm_ship_state_dir(state_dir, sizeof state_dir, &e) < 0)
		xpsm_die(&e);
	if (psm_chain_preload(&e) < 0)
		xpsm_die(&e);
	set_signals();
	for (int i = 0; i < 2; i++)
		psm_buf_reserve(&sh.out[i].text, PSM_SHIP_BATCH_BYTES + PSM_SEALED_LINE_MAX + 1);
	struct source *src = xmalloc(sizeof *src * (size_t)opt.nfiles);
	memset(src, 0, sizeof *src * (size_t)opt.nfiles);
	sh.started = psm_mono_usec();
	open_sources(&sh, src, opt.nfiles, state_dir);
	sh.progress = isatty(STDERR_FILENO) && sh.backlog >= PROGRESS_BACKLOG;
	confine(&sh);		/* after isatty(): the sandbox answers ENOTTY */
	run(&sh, src, opt.nfiles);
	if (sh.progress) {
		show_progress(&sh, true);
		fputc('\n', stderr);
	}
	if (opt.verbose)
		summary(&sh, src, opt.nfiles);
	for (int i = 0; i < opt.nfiles; i++) {
		close_reading(&src[i]);
		psm_ship_state_close(&src[i].st);
		free(src[i].path);
	}
	free(src);
	psm_sink_free(&sh.sink);
	free(sh.state_to);
	for (int i = 0; i < 2; i++) {
		psm_ship_batch_free(&sh.out[i].batch);
		psm_buf_free(&sh.out[i].text);
		free(sh.out[i].streams);
	}
	if (stop_signal > 0 && sh.status == 0 && !opt.follow)
		return 128 + stop_signal;
	return sh.status;
}
