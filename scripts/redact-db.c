/*
 * redact-db: psm-redact's built-in rules, compiled at build time (make).
 * Writes the database of the rules that are on by default, saved with
 * psm_redact_save(), to standard output; psm-redact takes it when its
 * rules are those, and compiles them itself when not (another machine,
 * -r, --enable, --disable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "psm_redact.h"
#include "redact_rules.h"	/* builtin_rules[] */

int
main(void)
{
	struct psm_redact_rules rs;
	struct psm_buf out = { 0 };
	struct psm_error e;

	if (psm_redact_rules_init(&rs, &e) < 0 ||
	    psm_redact_parse(&rs, builtin_rules, sizeof builtin_rules, "share/psm/redact.rules", &e) < 0 ||
	    psm_redact_compile(&rs, &e) < 0 || psm_redact_save(&rs, &out, &e) < 0 ||
	    psm_write_all(STDOUT_FILENO, out.data, out.len, &e) < 0) {
		fprintf(stderr, "redact-db: %s\n", e.msg);
		return 1;
	}
	psm_buf_free(&out);
	psm_redact_rules_free(&rs);
	return 0;
}
