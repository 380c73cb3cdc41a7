/*
 * sink_file.c: file:PATH, an append-only store (another mount, a WORM
 * volume). A batch is appended in one write under an exclusive lock and
 * fsync'd before it counts as delivered; a write that fails is undone
 * (ftruncate back to where the batch began), so a retry does not leave
 * half a batch behind it.
 *
 * Delivery is at least once everywhere else; here copies are also found:
 * a run that stopped after its batch reached the disk but before its
 * state did sends that batch again. So the first batch after connecting
 * is compared with the end of the file: lines already there, right after
 * an earlier copy of the batch's first line, are not written again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm_ship.h"

/* How much of the file's end is read to find an earlier copy of a batch. */
#define TAIL_MAX (PSM_SHIP_BATCH_BYTES + PSM_SEALED_LINE_MAX + 2)

struct file_sink {
	const char *path;
	int fd;
	bool fresh;			/* no batch sent since connecting */
	struct psm_buf seen;		/* the file's lines after an earlier copy of ours */
	size_t seen_at;			/* how much of them ours have matched */
	struct psm_buf out;
};

static int
file_connect(struct psm_sink *s, struct psm_error *e)
{
	struct file_sink *f = s->impl;

	f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (f->fd < 0)
		return psm_fail_errno(e, "%s", f->path);
	f->fresh = true;
	return psm_fsync_dir_of(f->path, e);	/* a file just made is there after a crash */
}

static void
file_disconnect(struct psm_sink *s)
{
	struct file_sink *f = s->impl;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* The file's last bytes (at most TAIL_MAX) into buf. */
static int
read_tail(struct file_sink *f, off_t size, struct psm_buf *buf, struct psm_error *e)
{
	off_t from = size > TAIL_MAX ? size - TAIL_MAX : 0;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return psm_fail_errno(e, "%s", f->path);
	buf->len = 0;
	psm_buf_reserve(buf, (size_t)(size - from));
	ssize_t n = pread(fd, buf->data, (size_t)(size - from), from);
	int saved = errno;
	close(fd);
	if (n < 0) {
		errno = saved;
		return psm_fail_errno(e, "%s", f->path);
	}
	buf->len = (size_t)n;
	return 0;
}

/*
 * What follows the last copy of line l in the file's end, into f->seen
 * (nothing when there is none). The copy must be a whole line: at the
 * start of what was read only if that is the file's start.
 */
static int
find_earlier_copy(struct file_sink *f, off_t size, const struct psm_ship_line *l,
    struct psm_error *e)
{
	struct psm_buf tail = { 0 };

	f->seen.len = f->seen_at = 0;
	if (size == 0)
		return 0;
	if (read_tail(f, size, &tail, e) < 0)
		return -1;
	bool whole_file = (off_t)tail.len == size;
	for (size_t at = tail.len; at-- > 0;) {
		if (at > 0 && tail.data[at - 1] != '\n')
			continue;
		if (at == 0 && !whole_file)
			break;
		if (tail.len - at > l->len && memcmp(tail.data + at, l->line, l->len) == 0 &&
		    tail.data[at + l->len] == '\n') {
			psm_buf_add(&f->seen, tail.data + at, tail.len - at);
			break;
		}
	}
	psm_buf_free(&tail);
	return 0;
}

/* Whether line l is the next of the lines already in the file. */
static bool
already_written(struct file_sink *f, const struct psm_ship_line *l)
{
	size_t left = f->seen.len - f->seen_at;

	if (left < l->len + 1 || memcmp(f->seen.data + f->seen_at, l->line, l->len) != 0 ||
	    f->seen.data[f->seen_at + l->len] != '\n') {
		f->seen.len = f->seen_at = 0;	/* from here on nothing is there */
		return false;
	}
	f->seen_at += l->len + 1;
	return true;
}

/* Out to the file and to its disk; on failure undone as far as the volume lets. */
static int
append(struct file_sink *f, off_t size, struct psm_error *e)
{
	if (psm_write_all(f->fd, f->out.data, f->out.len, e) < 0)
		psm_error_prefix(e, "%s", f->path);
	else if (fsync(f->fd) < 0)
		psm_fail_errno(e, "%s: fsync", f->path);
	else
		return 0;
	if (ftruncate(f->fd, size) < 0) {
		/* An append-only volume keeps the part; the batch is sent whole again. */
	}
	return -1;
}

static int
file_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	struct file_sink *f = s->impl;
	struct stat st;
	int rc = -1;

	if (flock(f->fd, LOCK_EX) < 0)
		return psm_fail_errno(e, "%s: lock", f->path);
	if (fstat(f->fd, &st) < 0) {
		psm_fail_errno(e, "%s", f->path);
		goto out;
	}
	if (f->fresh && find_earlier_copy(f, st.st_size, &b->v[0], e) < 0)
		goto out;
	f->fresh = false;
	f->out.len = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (f->seen.len > 0 && already_written(f, &b->v[i]))
			continue;
		psm_buf_add(&f->out, b->v[i].line, b->v[i].len);
		psm_buf_addc(&f->out, '\n');
	}
	rc = f->out.len == 0 ? 0 : append(f, st.st_size, e);
out:
	flock(f->fd, LOCK_UN);
	return rc;
}

static void
file_free(struct psm_sink *s)
{
	struct file_sink *f = s->impl;

	psm_buf_free(&f->seen);
	psm_buf_free(&f->out);
	free(f);
	s->impl = NULL;
}

static const struct psm_sink_ops file_ops = {
	.connect = file_connect,
	.send = file_send,
	.disconnect = file_disconnect,
	.free = file_free,
};

int
psm_sink_file_new(struct psm_sink *s, const char *path, struct psm_error *e)
{
	struct file_sink *f = xmalloc(sizeof *f);

	(void)e;
	memset(f, 0, sizeof *f);
	f->path = path;
	f->fd = -1;
	s->impl = f;
	s->ops = &file_ops;
	s->scheme = "file";
	s->acked = "appended and fsync'd";
	return 0;
}
