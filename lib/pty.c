/* pty.c: a new pseudo-terminal pair. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psm.h"

/* Open a master and its slave, both close-on-exec. 0, or -1 and why. */
int
psm_pty_open(int *master, int *slave, char *name, size_t namelen, struct psm_error *e)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return psm_fail_errno(e, "cannot open a pseudo-terminal");
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, namelen) != 0)
		goto fail;
	int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto fail;
	*master = m;
	*slave = s;
	return 0;
fail:
	psm_fail_errno(e, "cannot open a pseudo-terminal");
	close(m);
	return -1;
}
