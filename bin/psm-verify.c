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
#include "psm_grant.h"
#include "psm_sandbox.h"

#define KEYS_MAX PSM_VERIFY_KEYS_MAX

struct options {
	struct psm_pubkey keys[KEYS_MAX];
	size_t nkeys;
	struct psm_pubkey ca;		/* --ca: every session's grant is checked */
	bool grants, json, no_sandbox;
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
	printf("Usage: psm-verify -p BASE.pub [-p BASE.pub...] [--ca CA.pub] [--json] [FILE...]\n"
	    "Verify sealed psm streams (standard input if no FILE), offline.\n\n"
	    "  -p, --pubkey=FILE      a public key whose signatures are trusted (repeatable)\n"
	    "      --ca=FILE          also check that every session ran under a grant of this\n"
	    "                         grant CA's key, and within its window\n"
	    "  -j, --json             one JSON report per file instead of a line\n"
	    "      --no-sandbox       do not confine the process (for debugging)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
	exit(PSM_EXIT_OK);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_SANDBOX = 256, OPT_CA };
	static const struct option longopts[] = {
		{ "pubkey", required_argument, NULL, 'p' },
		{ "ca", required_argument, NULL, OPT_CA },
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
		case OPT_CA:
			if (opt->grants)
				errx(PSM_EXIT_USAGE, "one --ca at most");
			if (psm_pubkey_load(&opt->ca, optarg, &e) < 0)
				xpsm_die(&e);
			opt->grants = true;
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

/* --json: the report of one file is written as its streams end. */
struct report {
	bool json;
	uint64_t nstreams;
	struct psm_buf b;
};

static void
print_buf(struct psm_buf *b)
{
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len)
		err(PSM_EXIT_OS, "stdout");
	b->len = 0;
}

/* One sealed stream of the file, as the verifier reports it. */
static void
json_stream(void *ctx, const struct psm_sealed *st)
{
	struct report *rp = ctx;
	struct psm_buf *b = &rp->b;

	if (!rp->json)
		return;
	psm_buf_adds(b, rp->nstreams++ ? ",{" : "{");
	psm_buf_adds(b, "\"id\":");
	psm_json_string(b, st->id, strlen(st->id));
	psm_ev_str(b, "key", st->key_id);
	psm_ev_str(b, "start", st->start);
	if (st->sealed)
		psm_ev_str(b, "end", st->end);
	else
		psm_ev_null(b, "end");
	psm_ev_u64(b, "first_line", st->first_line);
	psm_ev_u64(b, "last_line", st->last_line);
	psm_ev_u64(b, "lines", st->lines);
	psm_ev_u64(b, "events", st->events);
	psm_ev_u64(b, "sessions", st->sessions);
	psm_ev_bool(b, "sealed", st->sealed);
	psm_ev_bool(b, "cut", st->cut);
	psm_ev_bool(b, "linked", st->linked);
	psm_buf_addc(b, '}');
	print_buf(b);
}

static void
json_begin(struct report *rp, const char *name)
{
	psm_buf_adds(&rp->b, "{\"file\":");
	psm_json_string(&rp->b, name, strlen(name));
	psm_buf_adds(&rp->b, ",\"streams\":[");
	print_buf(&rp->b);
}

static void
json_end(struct report *rp, const struct psm_verifier *v, const struct psm_grant_windows *gw,
    int verdict)
{
	struct psm_buf *b = &rp->b;
	char keys[PSM_VERIFY_KEYS_MAX * (PSM_KEYID_LEN + 1)];

	psm_verifier_keys(v, keys, sizeof keys);
	psm_buf_adds(b, "],\"status\":\"");
	psm_buf_adds(b, verdict_name[verdict]);
	psm_buf_addc(b, '"');
	psm_ev_u64(b, "lines", v->line);
	psm_ev_u64(b, "verified_through", v->verified_through);
	psm_ev_u64(b, "events", v->events);
	psm_ev_u64(b, "sessions", v->sessions.started);
	psm_ev_u64(b, "nstreams", v->nstreams);
	if (gw != NULL) {
		psm_ev_str(b, "ca", gw->ca->id);
		psm_ev_u64(b, "grants", gw->checked);
	}
	if (v->nstreams > 0)
		psm_ev_str(b, "from", v->from);
	if (verdict == PSM_V_OK) {
		psm_ev_str(b, "to", v->to);
		psm_ev_str(b, "key", keys);
		psm_ev_bool(b, "cut", v->cut);
	} else {
		psm_ev_str(b, "reason", psm_verifier_reason(v));
	}
	psm_buf_adds(b, "}\n");
	print_buf(b);
}

static void
report_line(const char *name, const struct psm_verifier *v, const struct psm_grant_windows *gw,
    int verdict)
{
	char streams[48] = "", keys[PSM_VERIFY_KEYS_MAX * (PSM_KEYID_LEN + 1)], grants[64] = "";
	uint64_t n = v->sessions.started;

	psm_verifier_keys(v, keys, sizeof keys);
	switch (verdict) {
	case PSM_V_OK:
		if (v->nstreams > 1)
			snprintf(streams, sizeof streams, "%" PRIu64 " sealed streams, ", v->nstreams);
		if (gw != NULL)
			snprintf(grants, sizeof grants, ", under grants of %s", gw->ca->id);
		printf("%s: OK: %" PRIu64 " event%s, %" PRIu64 " session%s, %ssealed by %s%s, %s .. %s%s\n",
		    name, v->events, v->events == 1 ? "" : "s", n, n == 1 ? "" : "s", streams,
		    keys, grants, v->from, v->to,
		    v->cut ? " (the input was cut: see psm-seal's message)" : "");
		break;
	case PSM_V_FAILED:
		printf("%s: FAILED: %s\n", name, psm_verifier_reason(v));
		break;
	case PSM_V_INCOMPLETE:
		printf("%s: INCOMPLETE: %s\n", name, psm_verifier_reason(v));
		break;
	default:
		fflush(stdout);
		fprintf(stderr, "psm-verify: %s:%" PRIu64 ": %s\n", name, v->where,
		    psm_verifier_reason(v));
	}
}

/* Verify one input; returns its verdict. */
static int
verify(const struct options *opt, int fd, const char *name)
{
	struct report rp = { .json = opt->json };
	struct psm_verifier v;
	struct psm_grant_windows gw;
	struct psm_error e;
	int verdict;

	psm_verifier_init(&v, opt->keys, opt->nkeys, json_stream, &rp);
	if (opt->grants) {
		psm_grant_windows_init(&gw, &opt->ca);
		psm_verifier_on_event(&v, psm_grant_windows_event, &gw);
	}
	if (opt->json)
		json_begin(&rp, name);
	if ((verdict = psm_verify_fd(&v, fd, name, &e)) < 0)
		xpsm_die(&e);
	if (opt->json)
		json_end(&rp, &v, opt->grants ? &gw : NULL, verdict);
	else
		report_line(name, &v, opt->grants ? &gw : NULL, verdict);
	psm_buf_free(&rp.b);
	psm_verifier_free(&v);
	if (opt->grants)
		psm_grant_windows_free(&gw);
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
	fds = xpsm_open_inputs(opt.files, opt.nfiles);
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
