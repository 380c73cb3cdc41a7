/*
 * psm_sandbox.h: the seccomp allow-list (libseccomp) that commands load
 * before they read untrusted input. SCMP_SYS() names the extra calls.
 */
#ifndef PSM_SANDBOX_H
#define PSM_SANDBOX_H

#include <seccomp.h>

#include "psm.h"

/* sandbox.c: kill-by-default; EXTRA (may be NULL) ends in -1. */
int psm_sandbox(const int *extra, struct psm_error *e);

#endif
