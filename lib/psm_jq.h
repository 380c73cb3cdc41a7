/*
 * psm_jq.h: what needs libjq (jq 1.6): psm-grant's policies, jq programs
 * run on a JSON input (psm-policy(5)). Programs that include it link with
 * libjq. No jq type is shown: the policy is opaque.
 */
#ifndef PSM_JQ_H
#define PSM_JQ_H

#include "psm.h"

/*
 * policy.c: a jq program compiled once, run on inputs. Errors: a program
 * that does not compile is PSM_E_DATA "FILE:LINE: jq's message"; one that
 * fails when run, gives no output, or an output that is not an object is
 * PSM_E_DATA "FILE: ...". The output is the first result, as compact JSON
 * with its keys sorted.
 */
struct psm_policy;
int psm_policy_compile(struct psm_policy **p, const char *name, const char *program,
    struct psm_error *e);
int psm_policy_run(struct psm_policy *p, const char *input, size_t n, struct psm_buf *out,
    struct psm_error *e);
void psm_policy_free(struct psm_policy *p);

#endif
