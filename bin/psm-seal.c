/*
 * psm-seal: a streaming filter that makes a psm stream tamper-evident.
 *
 * Each line is written with its chain hash added (,"h":"..." before the
 * closing brace); every N events or T seconds a checkpoint signed with
 * Ed25519 names the chain's head, and the end of input gets a final seal.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "psm_crypto.h"
#include "psm_sandbox.h"

#define OUT_FLUSH_AT (1024 * 1024)

struct options {
	const char *key;
	uint64_t every;
	uint64_t interval;	/* microseconds */
	const char *append;
	const char *input;
	bool no_sandbox;
};

struct sealer {
	struct options *opt;
	struct psm_seckey key;
	struct psm_chain chain;
	struct psm_sessions sessions;
	struct psm_buf out, cp, payload;
	int outfd;
	const char *outname;
	bool shared;		/* a file others append to: lock around each write */
	bool locked;		/* held for the whole run (--append) or for a moment */
	int tailfd;		/* to read the output file's last line, or -1 */
	bool has_link;		/* the opening checkpoint names the line before it */
	unsigned char link[32];
	const char *inname;
	char stream[PSM_SID_LEN + 1];
	char start[48];
	int64_t start_usec;	/* wall clock of the stream's start */
	uint64_t lines;		/* lines in the sealed stream so far */
	uint64_t next_checkpoint, since_checkpoint, last_t;
	uint64_t checkpoint_due;	/* monotonic */
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-seal --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-seal -k BASE.key [options] [FILE]\n"
	    "Chain and sign a psm stream (FILE or standard input) onto standard output.\n\n"
	    "  -k, --key=FILE         the secret key (from psm-keygen)\n"
	    "  -n, --every=N          a signed checkpoint every N events (default 1000)\n"
	    "  -t, --interval=DURATION  and at least every DURATION (default 5s)\n"
	    "  -a, --append=FILE      seal onto the end of FILE, continuing its chain\n"
	    "      --no-sandbox       do not confine the process (for debugging)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
	exit(PSM_EXIT_OK);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_SANDBOX = 256 };
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "every", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 't' },
		{ "append", required_argument, NULL, 'a' },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	opt->every = 1000;
	opt->interval = 5 * UINT64_C(1000000);
	while ((c = getopt_long(argc, argv, "k:n:t:a:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': opt->key = optarg; break;
		case 'n':
			errno = 0;
			opt->every = strtoull(optarg, &end, 10);
			if (errno || *end || opt->every == 0 || *optarg < '1' || *optarg > '9') {
				warnx("invalid number of events '%s'", optarg);
				usage();
			}
			break;
		case 't':
			if (psm_parse_duration(optarg, &opt->interval) < 0) {
				warnx("invalid duration '%s' (like 5s, 1m)", optarg);
				usage();
			}
			break;
		case 'a': opt->append = optarg; break;
		case OPT_NO_SANDBOX: opt->no_sandbox = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-seal %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	if (opt->key == NULL) {
		warnx("a key is required: -k BASE.key");
		usage();
	}
	if (argc - optind > 1) {
		warnx("one input FILE at most");
		usage();
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0)
		opt->input = argv[optind];
}

static int64_t
wall_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
wall_string(char out[48], int64_t usec)
{
	psm_rfc3339(out, usec / 1000000, (long)(usec % 1000000));
}

/*
 * Sealers that append to one file take turns with flock(2) for each
 * write, so that what one reads as the file's last line (for the link of
 * its opening checkpoint) is still the last when it writes.
 */
static void
lock_output(struct sealer *s, int op)
{
	if (!s->shared || s->locked == (op == LOCK_EX))
		return;
	if (flock(s->outfd, op) < 0)
		err(PSM_EXIT_OS, "%s: cannot lock", s->outname);
	s->locked = op == LOCK_EX;
}

static void
flush_out(struct sealer *s)
{
	struct psm_error e;
	bool held = s->locked;

	lock_output(s, LOCK_EX);
	if (psm_write_all(s->outfd, s->out.data, s->out.len, &e) < 0)
		errx(PSM_EXIT_OS, "%s: %s", s->outname, e.msg);
	s->out.len = 0;
	if (!held)
		lock_output(s, LOCK_UN);
}

/* A line into the chain and out, with its hash added before the final '}'. */
static void
emit(struct sealer *s, const char *line, size_t len)
{
	char suffix[PSM_SEAL_SUFFIX_LEN + 1];

	psm_chain_add(&s->chain, line, len, NULL, 0);
	psm_buf_reserve(&s->out, len + PSM_SEAL_SUFFIX_LEN);
	psm_buf_add(&s->out, line, len - 1);
	psm_buf_add(&s->out, suffix, psm_seal_suffix(suffix, s->stream, s->chain.head));
	psm_buf_addc(&s->out, '\n');
	s->lines++;
}

/*
 * A checkpoint (or the final seal): the chain's head and the place it
 * covers, signed over its exact bytes before ,"sig":"..."; the very first
 * also binds the stream's id and start time, from which the chain began,
 * and the hash of the line before it in the file it is appended to.
 */
static void
checkpoint(struct sealer *s, const char *type, int cut)
{
	struct psm_buf *b = &s->cp;
	char head[65], when[48], sig64[96];
	unsigned char sig[64];
	int64_t now = wall_usec();
	uint64_t t = now > s->start_usec ? (uint64_t)(now - s->start_usec) : 0;

	if (t < s->last_t)
		t = s->last_t;	/* the wall clock stepped back: keep t in order */
	s->last_t = t;
	b->len = 0;
	psm_ev_begin(b, s->stream, s->next_checkpoint, t, type);
	psm_ev_u64(b, "v", PSM_SEAL_VERSION);
	psm_ev_str(b, "key", s->key.id);
	psm_ev_u64(b, "lines", s->lines);
	psm_hex(head, s->chain.head, 32);
	psm_ev_str(b, "head", head);
	if (s->next_checkpoint == 0)
		psm_ev_str(b, "start", s->start);
	if (s->next_checkpoint == 0 && s->has_link) {
		char after[65];
		psm_hex(after, s->link, 32);
		psm_ev_str(b, "after", after);
	}
	if (cut >= 0) {
		wall_string(when, now);
		psm_ev_str(b, "end", when);
		psm_ev_bool(b, "cut", cut);
	}
	psm_sign(sig, b->data, b->len, &s->key);
	sig64[psm_b64_encode(sig64, sig, sizeof sig)] = '\0';
	psm_ev_str(b, "sig", sig64);
	psm_buf_addc(b, '}');
	emit(s, b->data, b->len);
	s->next_checkpoint++;
	s->since_checkpoint = 0;
	s->checkpoint_due = 0;
	flush_out(s);
}

/* What was sealed stays valid: closed with a seal marked cut. Then exit. */
static void __attribute__((noreturn))
cut_and_exit(struct sealer *s, const struct psm_error *e)
{
	checkpoint(s, "seal", 1);
	psm_seckey_free(&s->key);	/* wiped before the exit too */
	xpsm_die(e);
}

/* One input line: checked, chained, written. 0, or -1 and what is wrong. */
static int
seal_line(struct sealer *s, const char *line, size_t len, struct psm_error *e)
{
	struct psm_event ev;

	if (psm_event_parse(&ev, line, len, e) < 0)
		return -1;
	if (psm_event_is(&ev, "checkpoint") || psm_event_is(&ev, "seal") ||
	    psm_event_get(&ev, "h") != NULL || psm_event_get(&ev, "chain") != NULL)
		return psm_fail(e, PSM_E_DATA, "already sealed (psm-seal's output cannot be sealed again)");
	if (line[len - 1] != '}')
		return psm_fail(e, PSM_E_DATA, "text after the closing brace");
	if (psm_sessions_check(&s->sessions, &ev, e) < 0)
		return -1;
	if ((psm_event_is(&ev, "in") || psm_event_is(&ev, "out") || psm_event_is(&ev, "err")) &&
	    psm_event_payload_check(&ev, &s->payload, e) < 0)
		return -1;
	emit(s, line, len);
	if (s->since_checkpoint++ == 0)
		s->checkpoint_due = psm_mono_usec() + s->opt->interval;
	if (s->since_checkpoint >= s->opt->every)
		checkpoint(s, "checkpoint", -1);
	else if (s->out.len >= OUT_FLUSH_AT)
		flush_out(s);
	return 0;
}

/* Wait for input, or for the time of the next checkpoint. */
static void
wait_for_input(struct sealer *s, struct psm_lines *r)
{
	struct pollfd p = { r->fd, POLLIN, 0 };
	int timeout = -1;

	if (s->checkpoint_due) {
		uint64_t now = psm_mono_usec();
		timeout = s->checkpoint_due > now ? (int)((s->checkpoint_due - now + 999) / 1000) : 0;
	}
	int n = poll(&p, 1, timeout);
	if (n > 0)
		psm_lines_may_read(r);
	else if (n == 0 && s->since_checkpoint > 0)
		checkpoint(s, "checkpoint", -1);
}

static void
seal_input(struct sealer *s, int fd)
{
	struct psm_lines r;
	const char *line;
	size_t len;
	struct stat in;
	struct psm_error e;

	psm_lines_init(&r, fd, s->inname);
	/* A live input is read only when poll says so, to checkpoint while it is idle. */
	psm_lines_wait_before_read(&r, fstat(fd, &in) == 0 && !S_ISREG(in.st_mode));
	for (;;) {
		int st = psm_lines_next(&r, &line, &len);

		if (st == PSM_LINE_OK) {
			if (seal_line(s, line, len, &e) < 0) {
				psm_error_prefix(&e, "%s:%" PRIu64, s->inname, r.lineno);
				cut_and_exit(s, &e);
			}
			if (s->checkpoint_due && psm_mono_usec() >= s->checkpoint_due)
				checkpoint(s, "checkpoint", -1);
			continue;
		}
		if (st == PSM_LINE_WAIT) {
			wait_for_input(s, &r);
			continue;
		}
		if (st == PSM_LINE_ERROR)
			psm_fail_errno(&e, "%s", s->inname), cut_and_exit(s, &e);
		if (st == PSM_LINE_TOOLONG)
			psm_fail(&e, PSM_E_DATA, "%s:%" PRIu64 ": line longer than 1 MiB",
			    s->inname, r.lineno), cut_and_exit(s, &e);
		if (st == PSM_LINE_PARTIAL)
			psm_fail(&e, PSM_E_DATA, "%s:%" PRIu64 ": last line is incomplete "
			    "(no newline at the end)", s->inname, r.lineno + 1), cut_and_exit(s, &e);
		break;
	}
	psm_lines_free(&r);
	checkpoint(s, "seal", 0);
}

/*
 * --append: FILE must verify with our own key and end with a seal. The
 * new stream links to that seal; sessions still open go on in it.
 */
static void
check_file(struct sealer *s, int fd, const char *path)
{
	struct psm_pubkey self;
	struct psm_verifier v;
	struct psm_error e;
	int verdict;

	psm_seckey_public(&s->key, &self);
	psm_verifier_init(&v, &self, 1, NULL, NULL);
	if ((verdict = psm_verify_fd(&v, fd, path, &e)) < 0)
		xpsm_die(&e);
	if (verdict != PSM_V_OK)
		errx(verdict == PSM_V_INVALID ? PSM_EXIT_DATA : PSM_EXIT_NO,
		    "%s: cannot append: %s", path, psm_verifier_reason(&v));
	psm_sessions_free(&s->sessions);
	psm_verifier_take_sessions(&v, &s->sessions);
	psm_verifier_free(&v);
}

/*
 * The hash the output file's last line states, for the link of a new
 * stream (the file is locked). An empty file needs none; a file that does
 * not end with a sealed line gets an unlinked stream, and a warning: it
 * does not verify anyway.
 */
static void
read_link(struct sealer *s)
{
	char tail[PSM_SEAL_SUFFIX_LEN + 2], tag[PSM_SEAL_TAG_LEN + 1];
	struct stat st;
	size_t before;

	s->has_link = false;
	if (s->tailfd < 0 || fstat(s->tailfd, &st) < 0 || st.st_size == 0)
		return;
	if (st.st_size < (off_t)sizeof tail ||
	    pread(s->tailfd, tail, sizeof tail, st.st_size - (off_t)sizeof tail) != (ssize_t)sizeof tail ||
	    tail[sizeof tail - 1] != '\n' ||
	    !psm_seal_split(tail, sizeof tail - 1, &before, tag, s->link)) {
		warnx("%s does not end with a sealed line: the new stream is not linked to it",
		    s->outname);
		return;
	}
	s->has_link = true;
}

static void
new_stream(struct sealer *s)
{
	psm_new_sid(s->stream);
	s->start_usec = wall_usec();
	wall_string(s->start, s->start_usec);
	psm_chain_genesis(&s->chain, s->stream, s->start);
	lock_output(s, LOCK_EX);
	read_link(s);
	checkpoint(s, "checkpoint", -1);
	if (s->opt->append == NULL)
		lock_output(s, LOCK_UN);
}

/*
 * Standard output appended to a regular file (>>): other sealers may
 * append to it too. Read its tail through a descriptor of our own.
 */
static void
share_stdout(struct sealer *s)
{
	struct stat st;
	int fl = fcntl(STDOUT_FILENO, F_GETFL);

	if (fl < 0 || !(fl & O_APPEND) || fstat(STDOUT_FILENO, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	s->shared = true;
	s->tailfd = open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

static int
open_append(struct sealer *s, const char *path, bool *fresh)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);

	if (fd < 0 || fstat(fd, &st) < 0)
		err(PSM_EXIT_OS, "%s", path);
	/* One sealer at a time: from the check of the file to the last write. */
	s->outfd = fd;
	s->outname = path;
	s->shared = true;
	s->tailfd = fd;
	lock_output(s, LOCK_EX);
	if (fstat(fd, &st) < 0)
		err(PSM_EXIT_OS, "%s", path);
	*fresh = st.st_size == 0;
	return fd;
}

static void
confine(const struct options *opt)
{
	static const int calls[] = { SCMP_SYS(fsync), SCMP_SYS(flock), -1 };

	struct psm_error e;

	if (!opt->no_sandbox && psm_sandbox(calls, &e) < 0)
		xpsm_die(&e);
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct sealer s = { 0 };
	struct psm_error e;
	bool fresh = true;
	int in = STDIN_FILENO;

	parse_options(argc, argv, &opt);
	s.opt = &opt;
	s.outfd = STDOUT_FILENO;
	s.outname = "stdout";
	s.tailfd = -1;
	s.inname = opt.input ? opt.input : "(stdin)";
	if (psm_secret_protect_process(&e) < 0 || psm_seckey_load(&s.key, opt.key, &e) < 0)
		xpsm_die(&e);
	if (psm_chain_init(&s.chain, &e) < 0)
		xpsm_die(&e);
	psm_sessions_init(&s.sessions);
	if (opt.input != NULL && (in = open(opt.input, O_RDONLY | O_CLOEXEC)) < 0)
		err(PSM_EXIT_OS, "%s", opt.input);
	if (opt.append != NULL) {
		open_append(&s, opt.append, &fresh);
		if (!fresh)
			check_file(&s, s.outfd, opt.append);
	} else {
		share_stdout(&s);
	}
	/* Before the sandbox: libuuid and /proc are out of its reach. */
	new_stream(&s);
	confine(&opt);
	seal_input(&s, in);
	if (opt.append != NULL && fsync(s.outfd) < 0 && errno != EINVAL)
		err(PSM_EXIT_OS, "%s", opt.append);
	psm_seckey_free(&s.key);
	psm_chain_free(&s.chain);
	psm_sessions_free(&s.sessions);
	psm_buf_free(&s.out);
	psm_buf_free(&s.cp);
	psm_buf_free(&s.payload);
	if (s.tailfd >= 0 && s.tailfd != s.outfd)
		close(s.tailfd);
	return PSM_EXIT_OK;
}
