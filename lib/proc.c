/*
 * proc.c: the processes below a process, from /proc. psm-record is the
 * child subreaper of its session (PR_SET_CHILD_SUBREAPER), so whatever the
 * session starts stays below it, a double fork and setsid included, and a
 * time limit can end all of it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psm.h"

struct proc_link {
	pid_t pid, ppid;
	bool below;
};

/* The parent of pid from /proc/PID/stat (after the command name, which may hold ')'). */
static pid_t
parent_of(const char *pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	int ppid;
	if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* Every process's parent; *n of them. NULL when /proc cannot be read. */
static struct proc_link *
read_links(size_t *n)
{
	DIR *d = opendir("/proc");
	struct proc_link *links = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid_t ppid = parent_of(de->d_name);
		if (ppid < 0)
			continue;
		links = xpsm_grow(links, &cap, *n + 1, sizeof *links);
		links[*n] = (struct proc_link){ (pid_t)atoi(de->d_name), ppid, false };
		(*n)++;
	}
	closedir(d);
	return links;
}

/* Mark the processes below root: passes until none is added. */
static void
mark_below(struct proc_link *links, size_t n, pid_t root)
{
	for (bool added = true; added;) {
		added = false;
		for (size_t i = 0; i < n; i++) {
			if (links[i].below)
				continue;
			bool parent_below = links[i].ppid == root;
			for (size_t j = 0; !parent_below && j < n; j++)
				parent_below = links[j].below && links[j].pid == links[i].ppid;
			if (parent_below)
				links[i].below = added = true;
		}
	}
}

/*
 * Send sig to every process below root (not root itself). Returns how
 * many were sent it, or -1 when /proc cannot be read. A process that
 * forks meanwhile may leave a child unsignalled: call again until 0.
 */
int
psm_proc_signal_below(pid_t root, int sig)
{
	size_t n;
	struct proc_link *links = read_links(&n);
	int sent = 0;

	if (links == NULL)
		return -1;
	mark_below(links, n, root);
	for (size_t i = 0; i < n; i++)
		if (links[i].below && kill(links[i].pid, sig) == 0)
			sent++;
	free(links);
	return sent;
}
