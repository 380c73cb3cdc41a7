/*
 * test-policy.c: jq programs as policies (lib/policy.c, libjq): a
 * decision from an input; the file and line of a program that does not
 * compile; a run that fails, gives nothing, or gives what is not an
 * object; an input that is not JSON.
 */
#include <string.h>

#include "psm_jq.h"
#include "check.h"

/* Two approvers from two groups, the access at most an hour: a policy's shape. */
static const char two_groups[] =
    "# a vendor needs one approver from security and one from dba\n"
    "def groups: [.approvals[].groups[]];\n"
    "def has($g): any(groups[]; . == $g);\n"
    "if has(\"security\") and has(\"dba\")\n"
    "then {allow: true, max_ttl: 3600}\n"
    "else {allow: false, reason: \"needs security and dba\"} end\n";

static void
decide(struct psm_policy *p, const char *input, const char *want)
{
	struct psm_buf out = { 0 };
	struct psm_error e;

	if (CHECK(psm_policy_run(p, input, strlen(input), &out, &e) == 0, "%s", e.msg)) {
		psm_buf_addc(&out, '\0');
		CHECK_STR(out.data, want);
	}
	psm_buf_free(&out);
}

static void
test_decisions(void)
{
	struct psm_policy *p = NULL;
	struct psm_error e;

	if (!CHECK(psm_policy_compile(&p, "vendor.jq", two_groups, &e) == 0, "%s", e.msg))
		return;
	decide(p, "{\"approvals\":[{\"name\":\"bob\",\"groups\":[\"security\"]},"
	    "{\"name\":\"carol\",\"groups\":[\"dba\",\"ops\"]}]}", "{\"allow\":true,\"max_ttl\":3600}");
	decide(p, "{\"approvals\":[{\"name\":\"bob\",\"groups\":[\"security\"]}]}",
	    "{\"allow\":false,\"reason\":\"needs security and dba\"}");
	/* the same program again: a run leaves nothing behind for the next */
	decide(p, "{\"approvals\":[]}", "{\"allow\":false,\"reason\":\"needs security and dba\"}");
	psm_policy_free(p);
}

static void
refused_compile(const char *program, const char *want)
{
	struct psm_policy *p = NULL;
	struct psm_error e;

	CHECK(psm_policy_compile(&p, "site.jq", program, &e) < 0 && e.kind == PSM_E_DATA &&
	    strcmp(e.msg, want) == 0, "\"%s\": got \"%s\", want \"%s\"", program, e.msg, want);
	CHECK(p == NULL, "nothing made");
}

static void
refused_run(const char *program, const char *input, const char *want)
{
	struct psm_policy *p = NULL;
	struct psm_buf out = { 0 };
	struct psm_error e;

	if (!CHECK(psm_policy_compile(&p, "site.jq", program, &e) == 0, "%s", e.msg))
		return;
	CHECK(psm_policy_run(p, input, strlen(input), &out, &e) < 0 && e.kind == PSM_E_DATA &&
	    strcmp(e.msg, want) == 0, "\"%s\": got \"%s\", want \"%s\"", program, e.msg, want);
	CHECK(out.len == 0, "no output");
	psm_buf_free(&out);
	psm_policy_free(p);
}

int
main(void)
{
	test_decisions();
	refused_compile("{allow: true}\n\n| ||| x\n",
	    "site.jq:3: syntax error, unexpected '|' (Unix shell quoting issues?)");
	refused_compile(".a |\n  undefined_fn(1)", "site.jq:2: undefined_fn/1 is not defined");
	/* Without a module path libjq 1.6 aborted on these: now they are refused. */
	refused_compile("import \"rules\" as r; {allow: true}", "site.jq: module not found: rules");
	refused_compile("include \"rules\"; {allow: true}", "site.jq: module not found: rules");
	refused_run("error(\"no rule for \\(.request.role)\")", "{\"request\":{\"role\":\"dba\"}}",
	    "site.jq: error: no rule for dba");
	refused_run("empty", "{}", "site.jq: gave no output (an object is needed)");
	refused_run(".approvals | length", "{\"approvals\":[]}", "site.jq: its output is not an object");
	refused_run("{allow: true}", "{\"unfinished\":", "site.jq: the input is not JSON");
	return check_done();
}
