/*
 * ship_state.c: what a destination has of a file (psm_ship.h), and where
 * the rest of that file is after a rotation.
 *
 * The state file is text, one "key value" a line:
 *     psm-ship-state 1
 *     source /var/log/psm/host.jsonl      (for people: the name is a hash)
 *     to syslog+tls://siem:6514
 *     dev 2049
 *     ino 1311
 *     offset 81234
 *     lines 412
 *     last 81000 <SHA-256 of that line, hexadecimal>
 *     stream <id> <lines>                 (one per sealed stream still open)
 * Its name is the SHA-256 of the source and the destination, so that one
 * file shipped to two destinations has two states.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm_crypto.h"
#include "psm_ship.h"

#define STATE_VERSION "psm-ship-state 1"
#define STATE_FILE_MAX (64 * 1024 + PSM_SHIP_STREAMS_MAX * 64)

/* The default state directory: $XDG_STATE_HOME/psm/ship, or ~/.local/state/psm/ship. */
int
psm_ship_state_dir(char *out, size_t size, struct psm_error *e)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, size, "%s/psm/ship", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, size, "%s/.local/state/psm/ship", home);
	else
		return psm_fail(e, PSM_E_USAGE, "no state directory: HOME is not set (--state DIR)");
	if (n < 0 || (size_t)n >= size)
		return psm_fail(e, PSM_E_USAGE, "state directory: path too long");
	return 0;
}

/* mkdir -p, the directories made 0700: a state says what was shipped. */
static int
make_dirs(const char *dir, struct psm_error *e)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n >= sizeof path)
		return psm_fail(e, PSM_E_USAGE, "%s: path too long", dir);
	memcpy(path, dir, n + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return psm_fail_errno(e, "%s", path);
		if (c == '\0')
			break;
		*p = c;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return psm_fail_errno(e, "%s", dir);
	if (!S_ISDIR(st.st_mode))
		return psm_fail(e, PSM_E_OS, "%s: not a directory", dir);
	return 0;
}

/* DIR/<first 32 hex digits of SHA-256(source NUL to)><suffix> */
static char *
state_name(const char *dir, const char *source, const char *to, const char *suffix)
{
	struct psm_buf key = { 0 };
	unsigned char h[32];
	char hex[65];

	psm_buf_adds(&key, source);
	psm_buf_addc(&key, '\0');
	psm_buf_adds(&key, to);
	psm_sha256(h, key.data, key.len);
	psm_buf_free(&key);
	psm_hex(hex, h, 16);
	size_t n = strlen(dir) + 1 + 32 + strlen(suffix) + 1;
	char *path = xmalloc(n);
	snprintf(path, n, "%s/%s%s", dir, hex, suffix);
	return path;
}

static int
lock_state(struct psm_ship_state *st, const char *dir, struct psm_error *e)
{
	char *lock = state_name(dir, st->source, st->to, ".lock");
	int rc = 0;

	st->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (st->lockfd < 0)
		rc = psm_fail_errno(e, "%s", lock);
	else if (flock(st->lockfd, LOCK_EX | LOCK_NB) < 0)
		rc = errno == EWOULDBLOCK ?
		    psm_fail(e, PSM_E_NO, "%s: another psm-ship is shipping %s to %s", lock,
			st->source, st->to) :
		    psm_fail_errno(e, "%s: lock", lock);
	free(lock);
	return rc;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' '))
		return -1;
	*out = v;
	return 0;
}

static int
parse_stream(struct psm_ship_state *st, const char *v)
{
	if (st->nstreams >= PSM_SHIP_STREAMS_MAX || !psm_sid_valid(v, PSM_SID_LEN) ||
	    v[PSM_SID_LEN] != ' ')
		return -1;
	st->streams = xpsm_grow(st->streams, &st->scap, st->nstreams + 1, sizeof *st->streams);
	struct psm_ship_stream *s = &st->streams[st->nstreams];
	memcpy(s->id, v, PSM_SID_LEN);
	s->id[PSM_SID_LEN] = '\0';
	if (parse_u64(v + PSM_SID_LEN + 1, &s->lines) < 0)
		return -1;
	st->nstreams++;
	return 0;
}

/* One "key value" line of the state file. */
static int
parse_state_line(struct psm_ship_state *st, char *line)
{
	char *v = strchr(line, ' ');

	if (v == NULL)
		return -1;
	*v++ = '\0';
	if (strcmp(line, "source") == 0 || strcmp(line, "to") == 0)
		return 0;
	if (strcmp(line, "dev") == 0)
		return parse_u64(v, &st->dev);
	if (strcmp(line, "ino") == 0)
		return parse_u64(v, &st->ino);
	if (strcmp(line, "offset") == 0)
		return parse_u64(v, &st->offset);
	if (strcmp(line, "lines") == 0)
		return parse_u64(v, &st->lines);
	if (strcmp(line, "last") == 0) {
		char *hex = strchr(v, ' ');
		return hex == NULL || parse_u64(v, &st->last_start) < 0 ||
		    psm_unhex(st->last_hash, 32, hex + 1, strlen(hex + 1)) < 0 ? -1 : 0;
	}
	if (strcmp(line, "stream") == 0)
		return parse_stream(st, v);
	return -1;
}

static int
parse_state(struct psm_ship_state *st, char *text, struct psm_error *e)
{
	uint64_t lineno = 0;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (lineno == 1 ? strcmp(line, STATE_VERSION) != 0 : parse_state_line(st, line) < 0)
			return psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": malformed state "
			    "(remove the file to ship the source again from its start)",
			    st->path, lineno);
	}
	if (lineno == 0 || (st->offset > 0 && st->offset <= st->last_start))
		return psm_fail(e, PSM_E_DATA, "%s: malformed state", st->path);
	st->known = true;
	return 0;
}

static int
load_state(struct psm_ship_state *st, struct psm_error *e)
{
	int fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct psm_buf text = { 0 };
	int rc = -1;

	if (fd < 0)
		return errno == ENOENT ? 0 : psm_fail_errno(e, "%s", st->path);
	psm_buf_reserve(&text, STATE_FILE_MAX + 1);
	ssize_t n = read(fd, text.data, STATE_FILE_MAX + 1);
	if (n < 0)
		psm_fail_errno(e, "%s", st->path);
	else if (n > STATE_FILE_MAX || memchr(text.data, '\0', (size_t)n) != NULL)
		psm_fail(e, PSM_E_DATA, "%s: malformed state", st->path);
	else {
		text.data[n] = '\0';
		rc = parse_state(st, text.data, e);
	}
	close(fd);
	psm_buf_free(&text);
	return rc;
}

int
psm_ship_state_open(struct psm_ship_state *st, const char *dir, const char *source,
    const char *to, struct psm_error *e)
{
	memset(st, 0, sizeof *st);
	st->lockfd = -1;
	st->source = xstrdup(source);
	st->to = xstrdup(to);
	if (make_dirs(dir, e) < 0)
		return -1;
	st->path = state_name(dir, source, to, ".state");
	if (lock_state(st, dir, e) < 0)
		return -1;
	return load_state(st, e);
}

/* The state's text, as the file holds it. */
static void
format_state(const struct psm_ship_state *st, struct psm_buf *b)
{
	char line[256], hex[65], q[200];

	psm_buf_adds(b, STATE_VERSION "\n");
	psm_quote(q, sizeof q, st->source, strlen(st->source));
	snprintf(line, sizeof line, "source %s\n", q);
	psm_buf_adds(b, line);
	psm_quote(q, sizeof q, st->to, strlen(st->to));
	snprintf(line, sizeof line, "to %s\n", q);
	psm_buf_adds(b, line);
	psm_hex(hex, st->last_hash, 32);
	snprintf(line, sizeof line, "dev %" PRIu64 "\nino %" PRIu64 "\noffset %" PRIu64
	    "\nlines %" PRIu64 "\nlast %" PRIu64 " %s\n", st->dev, st->ino, st->offset,
	    st->lines, st->last_start, hex);
	psm_buf_adds(b, line);
	for (size_t i = 0; i < st->nstreams; i++) {
		snprintf(line, sizeof line, "stream %s %" PRIu64 "\n", st->streams[i].id,
		    st->streams[i].lines);
		psm_buf_adds(b, line);
	}
}

/* Replace the state file: temporary file, fsync, rename, fsync of the directory. */
int
psm_ship_state_save(struct psm_ship_state *st, struct psm_error *e)
{
	struct psm_buf text = { 0 };
	size_t n = strlen(st->path) + 5;
	char *tmp = xmalloc(n);
	int rc = -1;

	snprintf(tmp, n, "%s.tmp", st->path);
	format_state(st, &text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		psm_fail_errno(e, "%s", tmp);
	else if (psm_write_all(fd, text.data, text.len, e) < 0)
		psm_error_prefix(e, "%s", tmp);
	else if (fsync(fd) < 0)
		psm_fail_errno(e, "%s: fsync", tmp);
	else
		rc = 0;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = psm_fail_errno(e, "%s", tmp);
	if (rc == 0 && rename(tmp, st->path) < 0)
		rc = psm_fail_errno(e, "%s", st->path);
	if (rc == 0)
		rc = psm_fsync_dir_of(st->path, e);
	if (rc < 0)
		unlink(tmp);
	else
		st->known = true;
	free(tmp);
	psm_buf_free(&text);
	return rc;
}

void
psm_ship_state_close(struct psm_ship_state *st)
{
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st->path);
	free(st->source);
	free(st->to);
	free(st->streams);
	memset(st, 0, sizeof *st);
	st->lockfd = -1;
}

static struct psm_ship_stream *
find_stream(struct psm_ship_state *st, const char *tag, size_t taglen)
{
	for (size_t i = 0; i < st->nstreams; i++)
		if (memcmp(st->streams[i].id, tag, taglen) == 0)
			return &st->streams[i];
	return NULL;
}

/*
 * A sealed stream opens with its checkpoint of seq 0 (its sid is the
 * stream's id), its lines carry "chain" (the id's first 8 characters),
 * and its seal closes it. Its lines count from 1, the checkpoint first.
 */
void
psm_ship_state_place(struct psm_ship_state *st, const struct psm_event *ev,
    struct psm_ship_line *l)
{
	bool mark = psm_event_is(ev, "checkpoint") || psm_event_is(ev, "seal");
	const struct psm_field *chain = mark ? NULL : psm_event_get(ev, "chain");
	struct psm_ship_stream *s = NULL;

	if (mark && ev->seq == 0 && psm_event_is(ev, "checkpoint") &&
	    find_stream(st, ev->sid, PSM_SID_LEN) == NULL &&
	    st->nstreams < PSM_SHIP_STREAMS_MAX) {
		st->streams = xpsm_grow(st->streams, &st->scap, st->nstreams + 1,
		    sizeof *st->streams);
		s = &st->streams[st->nstreams++];
		memcpy(s->id, ev->sid, sizeof s->id);
		s->lines = 0;
	} else if (mark)
		s = find_stream(st, ev->sid, PSM_SID_LEN);
	else if (chain != NULL && chain->type == PSM_J_STR && chain->vallen == PSM_SEAL_TAG_LEN)
		s = find_stream(st, chain->val, PSM_SEAL_TAG_LEN);
	if (s == NULL)
		return;
	memcpy(l->stream, s->id, sizeof l->stream);
	l->stream_line = ++s->lines;
	if (psm_event_is(ev, "seal"))
		*s = st->streams[--st->nstreams];
}

/* Whether the file open on fd holds, at last_start, the line acknowledged last. */
bool
psm_ship_state_matches(const struct psm_ship_state *st, int fd)
{
	struct stat sb;

	if (!st->known || st->offset == 0)
		return true;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size < st->offset)
		return false;
	size_t n = (size_t)(st->offset - st->last_start) - 1;	/* the newline is not hashed */
	char *line = xmalloc(n);
	unsigned char h[32];
	bool same = pread(fd, line, n, (off_t)st->last_start) == (ssize_t)n;
	if (same) {
		psm_sha256(h, line, n);
		same = memcmp(h, st->last_hash, 32) == 0;
	}
	free(line);
	return same;
}

static bool
path_matches(const struct psm_ship_state *st, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return false;
	bool same = psm_ship_state_matches(st, fd);
	close(fd);
	return same;
}

/*
 * A file next to path, its name beginning with path's, that holds the
 * lines shipped: by its inode (renamed) or, failing that, by the hash of
 * the last line (copied, then truncated: logrotate's copytruncate).
 */
static char *
find_moved(const struct psm_ship_state *st, const char *path)
{
	char *d = xstrdup(path), *b = xstrdup(path);
	const char *dir = dirname(d), *base = basename(b);
	size_t baselen = strlen(base);
	char *by_inode = NULL, *by_hash = NULL;
	DIR *dp = opendir(dir);

	for (struct dirent *de; dp != NULL && by_inode == NULL && (de = readdir(dp)) != NULL;) {
		struct stat sb;
		if (strncmp(de->d_name, base, baselen) != 0 || de->d_name[baselen] == '\0')
			continue;
		size_t n = strlen(dir) + strlen(de->d_name) + 2;
		char *cand = xmalloc(n);
		snprintf(cand, n, "%s/%s", dir, de->d_name);
		if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) && path_matches(st, cand)) {
			if (sb.st_dev == st->dev && sb.st_ino == st->ino)
				by_inode = cand, cand = NULL;
			else if (by_hash == NULL)
				by_hash = cand, cand = NULL;
		}
		free(cand);
	}
	if (dp != NULL)
		closedir(dp);
	free(d);
	free(b);
	if (by_inode != NULL) {
		free(by_hash);
		return by_inode;
	}
	return by_hash;
}

int
psm_ship_locate(const struct psm_ship_state *st, const char *path, char **old,
    enum psm_ship_found *found, struct psm_error *e)
{
	struct stat sb;

	*old = NULL;
	if (!st->known || st->offset == 0) {
		*found = PSM_SHIP_FROM_START;
		return 0;
	}
	if (stat(path, &sb) == 0) {
		if (sb.st_dev == st->dev && sb.st_ino == st->ino && path_matches(st, path)) {
			*found = PSM_SHIP_SAME;
			return 0;
		}
	} else if (errno != ENOENT && errno != ENOTDIR)
		return psm_fail_errno(e, "%s", path);
	*old = find_moved(st, path);
	*found = *old != NULL ? PSM_SHIP_MOVED : PSM_SHIP_LOST;
	return 0;
}
