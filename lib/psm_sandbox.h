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
/* With PSM_SANDBOX_PROBE, also kill(pid, 0), which asks whether a process
 * exists (psm-replay --follow: is the recorder still there?). */
#define PSM_SANDBOX_PROBE 1u
/* With PSM_SANDBOX_SOCKETS, also ioctl SIOCOUTQ and FIONREAD (psm-ship). */
#define PSM_SANDBOX_SOCKETS 2u
int psm_sandbox_flags(const int *extra, unsigned flags, struct psm_error *e);

#endif
