/*
 * psm-verify: check sealed psm streams offline with public keys only.
 * One line per file: OK, FAILED (where and why) or INCOMPLETE.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psm_crypto.h"
#include "psm_sandbox.h"

#define KEYS_MAX 64

struct options {
	struct psm_pubkey keys[KEYS_MAX];
	size_t nkeys;
	bool json, no_sandbox;
	char **files;
	int nfiles;
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-verify --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-verify -p BASE.pub [-p BASE.pub...] [--json] [FILE...]\n"
	    "Verify sealed psm streams (standard input if no FILE), offline.\n\n"
	    "  -p, --pubkey=FILE      a public key whose signatures are trusted (repeatable)\n"
	    "  -j, --json             one JSON report per file instead of a line\n"
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
		{ "pubkey", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct psm_error e;
	int c;

	while ((c = getopt_long(argc, argv, "p:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (opt->nkeys == KEYS_MAX)
				errx(PSM_EXIT_USAGE, "at most %d keys", KEYS_MAX);
			if (psm_pubkey_load(&opt->keys[opt->nkeys++], optarg, &e) < 0)
				xpsm_die(&e);
			break;
		case 'j': opt->json = true; break;
		case OPT_NO_SANDBOX: opt->no_sandbox = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-verify %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	if (opt->nkeys == 0) {
		warnx("a public key is required: -p BASE.pub");
		usage();
	}
	opt->files = argv + optind;
	opt->nfiles = argc - optind;
}

static const char *const verdict_name[] = { "OK", "FAILED", "INCOMPLETE", "INVALID" };

/* Over all sealed streams of the file: the earliest start, the latest end, the keys. */
struct totals {
	const char *from, *to;
	char keys[4 * (PSM_KEYID_LEN + 1)];
	bool cut;
};

static void
add_up(const struct psm_verifier *v, struct totals *t)
{
	memset(t, 0, sizeof *t);
	for (size_t i = 0; i < v->nstreams; i++) {
		const struct psm_sealed *st = &v->streams[i];
		if (t->from == NULL || strcmp(st->start, t->from) < 0)
			t->from = st->start;
		if (t->to == NULL || strcmp(st->end, t->to) > 0)
			t->to = st->end;
		t->cut |= st->cut;
		if (st->key_id[0] != '\0' && strstr(t->keys, st->key_id) == NULL &&
		    strlen(t->keys) + PSM_KEYID_LEN + 2 < sizeof t->keys) {
			if (t->keys[0] != '\0')
				strcat(t->keys, ",");
			strcat(t->keys, st->key_id);
		}
	}
}

static void
report_json(const char *name, const struct psm_verifier *v, int verdict)
{
	struct psm_buf b = { 0 };
	struct totals t;

	add_up(v, &t);
	psm_buf_adds(&b, "{\"file\":");
	psm_json_string(&b, name, strlen(name));
	psm_buf_adds(&b, ",\"status\":\"");
	psm_buf_adds(&b, verdict_name[verdict]);
	psm_buf_addc(&b, '"');
	psm_ev_u64(&b, "lines", v->line);
	psm_ev_u64(&b, "verified_through", v->verified_through);
	psm_ev_u64(&b, "events", v->events);
	psm_ev_u64(&b, "sessions", v->sessions.started);
	psm_ev_u64(&b, "streams", v->nstreams);
	if (v->nstreams > 0) {
		psm_ev_str(&b, "stream", v->streams[0].id);
		psm_ev_str(&b, "from", t.from);
	}
	if (verdict == PSM_V_OK) {
		psm_ev_str(&b, "to", t.to);
		psm_ev_str(&b, "key", t.keys);
		psm_ev_bool(&b, "cut", t.cut);
	} else {
		psm_ev_str(&b, "reason", v->reason);
	}
	psm_buf_adds(&b, "}\n");
	fwrite(b.data, 1, b.len, stdout);
	psm_buf_free(&b);
}

static void
report_line(const char *name, const struct psm_verifier *v, int verdict)
{
	struct totals t;
	char streams[48] = "";

	add_up(v, &t);
	switch (verdict) {
	case PSM_V_OK:
		if (v->nstreams > 1)
			snprintf(streams, sizeof streams, "%zu sealed streams, ", v->nstreams);
		printf("%s: OK: %" PRIu64 " event%s, %zu session%s, %ssealed by %s, %s .. %s%s\n",
		    name, v->events, v->events == 1 ? "" : "s", v->sessions.started,
		    v->sessions.started == 1 ? "" : "s", streams, t.keys, t.from, t.to,
		    t.cut ? " (the input was cut: see psm-seal's message)" : "");
		break;
	case PSM_V_FAILED:
		printf("%s: FAILED: %s\n", name, v->reason);
		break;
	case PSM_V_INCOMPLETE:
		printf("%s: INCOMPLETE: %s\n", name, v->reason);
		break;
	default:
		fflush(stdout);
		fprintf(stderr, "psm-verify: %s:%" PRIu64 ": %s\n", name, v->line ? v->line : 1,
		    v->reason);
	}
}

/* Verify one input; returns its verdict. */
static int
verify(const struct options *opt, int fd, const char *name)
{
	struct psm_verifier v;
	struct psm_lines r;
	const char *line;
	size_t len;
	int st, verdict;

	psm_verifier_init(&v, opt->keys, opt->nkeys);
	psm_lines_init(&r, fd, name);
	while ((st = psm_lines_next(&r, &line, &len)) == PSM_LINE_OK)
		if (psm_verifier_line(&v, line, len) < 0)
			break;
	if (st == PSM_LINE_ERROR)
		err(PSM_EXIT_OS, "%s", name);
	if (st == PSM_LINE_TOOLONG && v.verdict == PSM_V_OK) {
		v.line = r.lineno;
		snprintf(v.reason, sizeof v.reason, "line %" PRIu64 ": longer than 1 MiB", r.lineno);
		v.verdict = PSM_V_FAILED;
	}
	verdict = psm_verifier_finish(&v, st == PSM_LINE_PARTIAL);
	if (opt->json)
		report_json(name, &v, verdict);
	else
		report_line(name, &v, verdict);
	psm_lines_free(&r);
	psm_verifier_free(&v);
	return verdict;
}

/* Worst first: tampered, then not sealed, then unfinished. */
static int
exit_status(const int *seen)
{
	if (seen[PSM_V_FAILED])
		return PSM_EXIT_NO;
	if (seen[PSM_V_INVALID])
		return PSM_EXIT_DATA;
	if (seen[PSM_V_INCOMPLETE])
		return PSM_EXIT_INCOMPLETE;
	return PSM_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	int seen[4] = { 0 };
	int *fds;

	parse_options(argc, argv, &opt);
	fds = xmalloc(sizeof *fds * (size_t)(opt.nfiles ? opt.nfiles : 1));
	for (int i = 0; i < opt.nfiles; i++) {
		fds[i] = strcmp(opt.files[i], "-") == 0 ? STDIN_FILENO :
		    open(opt.files[i], O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			err(PSM_EXIT_OS, "%s", opt.files[i]);
	}
	struct psm_error e;
	if (psm_chain_preload(&e) < 0 || (!opt.no_sandbox && psm_sandbox(NULL, &e) < 0))
		xpsm_die(&e);
	if (opt.nfiles == 0)
		seen[verify(&opt, STDIN_FILENO, "(stdin)")]++;
	for (int i = 0; i < opt.nfiles; i++) {
		seen[verify(&opt, fds[i], opt.files[i])]++;
		if (fds[i] != STDIN_FILENO)
			close(fds[i]);
	}
	free(fds);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(PSM_EXIT_OS, "stdout");
	return exit_status(seen);
}
