/*
 * policy.c: jq programs as policies (libjq, jq 1.6). The program is
 * compiled once; each decision runs it on one JSON input and takes its
 * first result, which must be an object. jq reports compile errors
 * through a callback, one message each, then a count: the first message
 * is kept, and its "line N" becomes the FILE:LINE of psm's message.
 *
 * libjq 1.6 (Debian 12's) leaks a little memory in some builtins: index()
 * on an array leaks its strings, at compile and at run time, and Debian's
 * jq binary does the same under valgrind. Policies written for psm use
 * any(...; . == $x) instead, which leaks nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "psm_jq.h"

struct psm_policy {
	jq_state *jq;
	char *name;		/* the file, for messages */
	char first[400];	/* jq's first complaint while compiling */
};

static void
keep_first_error(void *ctx, jv msg)
{
	struct psm_policy *p = ctx;

	if (p->first[0] == '\0' && jv_get_kind(msg) == JV_KIND_STRING)
		snprintf(p->first, sizeof p->first, "%s", jv_string_value(msg));
	jv_free(msg);
}

/* jq's "jq: error: WHAT at <top-level>, line N:\nTEXT" as "NAME:N: WHAT". */
static int
compile_failed(struct psm_policy *p, struct psm_error *e)
{
	const char *m = p->first, *at = strstr(m, " at <top-level>, line ");
	unsigned long line = 0;
	char what[300];

	if (strncmp(m, "jq: error: ", 11) == 0)
		m += 11;
	if (at != NULL)
		line = strtoul(at + 22, NULL, 10);
	size_t n = at != NULL ? (size_t)(at - m) : strcspn(m, "\n");
	psm_quote(what, sizeof what, m, n);
	if (line > 0)
		return psm_fail(e, PSM_E_DATA, "%s:%lu: %s", p->name, line, what);
	return psm_fail(e, PSM_E_DATA, "%s: %s", p->name, what[0] ? what : "does not compile");
}

int
psm_policy_compile(struct psm_policy **pp, const char *name, const char *program,
    struct psm_error *e)
{
	struct psm_policy *p = xmalloc(sizeof *p);

	memset(p, 0, sizeof *p);
	p->name = xstrdup(name);
	if ((p->jq = jq_init()) == NULL) {
		psm_policy_free(p);
		return psm_fail(e, PSM_E_OS, "jq: cannot start");
	}
	jq_set_error_cb(p->jq, keep_first_error, p);
	/* No module path: import and include fail as compile errors (without one, libjq 1.6 aborts). */
	jq_set_attr(p->jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
	if (!jq_compile(p->jq, program)) {
		compile_failed(p, e);
		psm_policy_free(p);
		return -1;
	}
	*pp = p;
	return 0;
}

/* jq's message for a run that failed, quoted. */
static int
run_failed(struct psm_policy *p, jv msg, struct psm_error *e)
{
	jv text = jv_get_kind(msg) == JV_KIND_STRING ? msg : jv_dump_string(msg, 0);
	char q[300];

	psm_quote(q, sizeof q, jv_string_value(text), strlen(jv_string_value(text)));
	jv_free(text);
	return psm_fail(e, PSM_E_DATA, "%s: error: %s", p->name, q);
}

int
psm_policy_run(struct psm_policy *p, const char *input, size_t n, struct psm_buf *out,
    struct psm_error *e)
{
	if (n > INT32_MAX)
		return psm_fail(e, PSM_E_DATA, "%s: the input is too long", p->name);
	jv in = jv_parse_sized(input, (int)n);
	if (!jv_is_valid(in)) {
		jv_free(in);
		return psm_fail(e, PSM_E_DATA, "%s: the input is not JSON", p->name);
	}
	jq_start(p->jq, in, 0);
	jv r = jq_next(p->jq);
	if (!jv_is_valid(r)) {
		if (jv_invalid_has_msg(jv_copy(r)))
			return run_failed(p, jv_invalid_get_msg(r), e);
		jv_free(r);
		return psm_fail(e, PSM_E_DATA, "%s: gave no output (an object is needed)", p->name);
	}
	if (jv_get_kind(r) != JV_KIND_OBJECT) {
		jv_free(r);
		return psm_fail(e, PSM_E_DATA, "%s: its output is not an object", p->name);
	}
	jv text = jv_dump_string(r, JV_PRINT_SORTED);
	psm_buf_adds(out, jv_string_value(text));
	jv_free(text);
	return 0;
}

void
psm_policy_free(struct psm_policy *p)
{
	if (p == NULL)
		return;
	if (p->jq != NULL)
		jq_teardown(&p->jq);
	free(p->name);
	free(p);
}
