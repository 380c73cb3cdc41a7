/*
 * test-sink-pg.c: the PostgreSQL sink without a server: URLs refused (a
 * password never echoed), where, the lines check() refuses, the password
 * file's checks, and connections that fail or hang bounded by the timeout.
 * With arguments it is a shipper for tests/sink-pg.bats, which runs it
 * against a real server (tests/postgres.bash):
 *     test-sink-pg ship URL FILE BATCH [retry]
 * sends FILE's lines in batches of BATCH lines, as psm-ship does: on
 * PSM_E_OS (with retry) it disconnects, waits, connects and sends the
 * same batch again. Environment: PSM_TEST_TIMEOUT (microseconds),
 * PSM_TEST_PASSWORD_FILE. Errors go to stderr as "KIND: message"; the
 * exit status is psm_exit_status()'s.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psm_ship.h"
#include "check.h"

static int
new_sink(struct psm_sink *s, const char *url, struct psm_error *e)
{
	memset(s, 0, sizeof *s);
	s->conf.url = url;
	s->conf.host = "shipper1";
	s->conf.timeout = 300000;
	return psm_sink_pg_new(s, e);
}

static void
test_urls(void)
{
	static const char *const with_password[] = {
		"postgresql://psm:hunter2@db1/audit",
		"postgres://psm:hunter2@db1:5432/audit?sslmode=require",
		"postgresql://db1/audit?password=hunter2",
		"postgresql://db1/audit?user=psm&%70assword=hunter2",
		"postgresql://db1/audit?%70assword=hunter2%zz",
	};
	struct psm_sink s;
	struct psm_error e;

	for (size_t i = 0; i < sizeof with_password / sizeof with_password[0]; i++) {
		CHECK_EQ(new_sink(&s, with_password[i], &e), -1);
		CHECK_EQ(e.kind, PSM_E_USAGE);
		CHECK(strstr(e.msg, "hunter2") == NULL, "%s: the password is echoed: %s",
		    with_password[i], e.msg);
		if (strstr(with_password[i], "%zz") == NULL)
			CHECK_STR(e.msg, "the URL carries a password: put it in a file "
			    "(--password-file) or PGPASSWORD/~/.pgpass");
	}
	CHECK_EQ(new_sink(&s, "mysql://db1/audit", &e), -1);
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK_EQ(new_sink(&s, "postgresql://db1/audit?bogus=1", &e), -1);
	CHECK_STR(e.msg, "the PostgreSQL URL: invalid URI query parameter: \"bogus\"");

	CHECK_EQ(new_sink(&s, "postgresql://psm@db1:5433/audit?options=-csearch_path%3Daudit", &e),
	    0);
	CHECK_STR(s.where, "postgresql://psm@db1:5433/audit");
	CHECK_STR(s.scheme, "postgresql");
	CHECK_STR(s.acked, "PostgreSQL committed the rows");
	CHECK(!s.connected, "connected before connect()");
	s.ops->free(&s);
	CHECK_EQ(new_sink(&s, "postgres://u@[::1]:5432,db2:5433/audit", &e), 0);
	CHECK_STR(s.where, "postgresql://u@[::1]:5432,db2:5433/audit");
	s.ops->free(&s);
	CHECK_EQ(new_sink(&s, "postgresql:///psm?host=/run/pg&port=5444", &e), 0);
	CHECK_STR(s.where, "postgresql:///psm?host=/run/pg&port=5444");
	s.ops->free(&s);
}

static void
set_line(struct psm_ship_line *l, const char *text)
{
	memset(l, 0, sizeof *l);
	l->line = text;
	l->len = strlen(text);
	strcpy(l->sid, "9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05");
	strcpy(l->type, "out");
	l->seq = 1;
	l->t = 6120;
	l->lineno = 2;
}

static void
test_check(void)
{
	struct psm_sink s;
	struct psm_error e;
	struct psm_ship_line l;
	static const char nul_line[] = "{\"a\":\"\0\"}";

	CHECK_EQ(new_sink(&s, "postgresql://db1/audit", &e), 0);
	set_line(&l, "{\"sid\":\"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05\",\"data\":\"caf\xc3\xa9\"}");
	CHECK_EQ(s.ops->check(&s, &l, &e), 0);

	set_line(&l, "{\"data\":\"caf\xe9\"}");
	CHECK_EQ(s.ops->check(&s, &l, &e), -1);
	CHECK_EQ(e.kind, PSM_E_DATA);
	CHECK_STR(e.msg, "line of 15 bytes is not UTF-8 without NUL: a PostgreSQL text column "
	    "cannot hold it");
	set_line(&l, "");
	l.line = nul_line;
	l.len = sizeof nul_line - 1;
	CHECK_EQ(s.ops->check(&s, &l, &e), -1);
	CHECK_EQ(e.kind, PSM_E_DATA);

	set_line(&l, "{}");
	l.seq = UINT64_C(1) << 63;
	CHECK_EQ(s.ops->check(&s, &l, &e), -1);
	CHECK_EQ(e.kind, PSM_E_DATA);
	set_line(&l, "{}");
	strcpy(l.stream, "4d2f1c7a");
	CHECK_EQ(s.ops->check(&s, &l, &e), -1);
	CHECK_EQ(e.kind, PSM_E_DATA);
	strcpy(l.stream, "4d2f1c7a-0000-4000-8000-000000000000");
	l.stream_line = 9;
	CHECK_EQ(s.ops->check(&s, &l, &e), 0);
	s.ops->free(&s);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0, "%s: %s", path, strerror(errno));
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

/* The password file is read, and checked, before any connection. */
static void
test_password_file(void)
{
	char dir[] = "/tmp/test-sink-pg.XXXXXX", path[64];
	struct psm_sink s;
	struct psm_error e;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof path, "%s/pw", dir);
	CHECK_EQ(new_sink(&s, "postgresql://psm@127.0.0.1:1/audit", &e), 0);
	s.conf.password_file = path;

	write_file(path, "s3cret\n", 0644);
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	CHECK(strstr(e.msg, ": readable by others: chmod 600") != NULL, "%s", e.msg);
	write_file(path, "\n", 0600);
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK(strstr(e.msg, "/pw: empty") != NULL, "%s", e.msg);
	write_file(path, "s3cret\nmore\n", 0600);
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK(strstr(e.msg, "s3cret") == NULL, "the password is echoed: %s", e.msg);
	unlink(path);
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	CHECK(strstr(e.msg, "No such file or directory") != NULL, "%s", e.msg);

	/* A good file: then the connection is refused (nothing on port 1). */
	write_file(path, "s3cret\n", 0600);
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	CHECK(strstr(e.msg, "postgresql://psm@127.0.0.1:1/audit: cannot connect: ") == e.msg, "%s",
	    e.msg);
	CHECK(strstr(e.msg, "s3cret") == NULL, "the password is echoed: %s", e.msg);
	CHECK(!s.connected, "connected");
	s.ops->free(&s);
	unlink(path);
	rmdir(dir);
}

/* A server that takes the connection and never answers: an error after the timeout. */
static void
test_silent_server(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];
	struct psm_sink s;
	struct psm_error e;
	uint64_t t0;

	CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 4) == 0 &&
	    getsockname(l, (struct sockaddr *)&a, &alen) == 0, "listen: %s", strerror(errno));
	snprintf(url, sizeof url, "postgresql://psm@127.0.0.1:%u/audit", ntohs(a.sin_port));
	CHECK_EQ(new_sink(&s, url, &e), 0);
	t0 = psm_mono_usec();
	CHECK_EQ(s.ops->connect(&s, &e), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	CHECK(strstr(e.msg, ": no answer in 0.3 s") != NULL, "%s", e.msg);
	CHECK(psm_mono_usec() - t0 >= 300000 && psm_mono_usec() - t0 < 3000000,
	    "connect took %" PRIu64 " us", psm_mono_usec() - t0);

	/* send() connects first: the same error, no hang. */
	struct psm_ship_line line;
	struct psm_ship_batch b = { .v = &line, .n = 1, .file = "/var/log/psm/a.jsonl" };
	set_line(&line, "{}");
	b.bytes = line.len;
	CHECK_EQ(s.ops->send(&s, &b, &e), -1);
	CHECK_EQ(e.kind, PSM_E_OS);
	s.ops->free(&s);
	close(l);
}

/* The lines of a file, parsed as psm-ship would. */
static size_t
read_lines(const char *path, struct psm_buf *text, struct psm_ship_line **v)
{
	struct psm_lines r;
	struct psm_error e;
	const char *line;
	size_t len, n = 0, cap = 0, *off = NULL;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	psm_lines_init(&r, fd, path);
	while (psm_lines_next(&r, &line, &len) == PSM_LINE_OK) {
		off = xpsm_grow(off, &cap, n + 1, sizeof *off);
		off[n++] = text->len;
		psm_buf_add(text, line, len);
	}
	psm_lines_free(&r);
	close(fd);
	*v = xmalloc((n ? n : 1) * sizeof **v);
	for (size_t i = 0; i < n; i++) {
		struct psm_ship_line *l = &(*v)[i];
		struct psm_event ev;

		memset(l, 0, sizeof *l);
		l->line = text->data + off[i];
		l->len = (i + 1 < n ? off[i + 1] : text->len) - off[i];
		if (psm_event_parse(&ev, l->line, l->len, &e) < 0)
			errx(PSM_EXIT_DATA, "%s:%zu: %s", path, i + 1, e.msg);
		memcpy(l->sid, ev.sid, sizeof l->sid);
		memcpy(l->type, ev.type, sizeof l->type);
		l->seq = ev.seq;
		l->t = ev.t;
		l->lineno = i + 1;
	}
	free(off);
	return n;
}

static void
report(const char *what, const struct psm_error *e)
{
	static const char *const kinds[] = { "?", "NO", "USAGE", "DATA", "OS" };

	fprintf(stderr, "%s: %s: %s\n", what, kinds[e->kind <= PSM_E_OS ? e->kind : 0], e->msg);
}

/* Connect, or with retry, keep trying every 100 ms. */
static int
connect_retrying(struct psm_sink *s, bool retry, struct psm_error *e)
{
	while (s->ops->connect(s, e) < 0) {
		report("connect", e);
		if (!retry || e->kind != PSM_E_OS)
			return -1;
		usleep(100000);
	}
	return 0;
}

static int
ship(const char *url, const char *path, size_t batch, bool retry)
{
	struct psm_buf text = { 0 };
	struct psm_ship_line *v;
	size_t n = read_lines(path, &text, &v);
	struct psm_sink s;
	struct psm_error e;
	int rc = 0;

	memset(&s, 0, sizeof s);
	s.conf.url = url;
	s.conf.host = "shipper1";
	s.conf.password_file = getenv("PSM_TEST_PASSWORD_FILE");
	s.conf.timeout = getenv("PSM_TEST_TIMEOUT") ? strtoull(getenv("PSM_TEST_TIMEOUT"), NULL, 10) :
	    5000000;
	if (psm_sink_pg_new(&s, &e) < 0) {
		report("new", &e);
		free(v);
		psm_buf_free(&text);
		return psm_exit_status(&e);
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (s.ops->check(&s, &v[i], &e) < 0)
			rc = -1;
	if (rc == 0)
		rc = connect_retrying(&s, retry, &e);
	for (size_t i = 0; i < n && rc == 0; i += batch) {
		struct psm_ship_batch b = { .v = v + i, .n = n - i < batch ? n - i : batch,
			.file = path };
		for (size_t j = 0; j < b.n; j++)
			b.bytes += b.v[j].len;
		while ((rc = s.ops->send(&s, &b, &e)) < 0 && retry && e.kind == PSM_E_OS) {
			report("send", &e);
			s.ops->disconnect(&s);
			usleep(100000);
			if ((rc = connect_retrying(&s, retry, &e)) < 0)
				break;
		}
	}
	if (rc < 0)
		report("ship", &e);
	else
		printf("shipped %zu lines\n", n);
	s.ops->free(&s);
	free(v);
	psm_buf_free(&text);
	return rc < 0 ? psm_exit_status(&e) : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "ship") == 0)
		return ship(argv[2], argv[3], strtoul(argv[4], NULL, 10), argc > 5);
	test_urls();
	test_check();
	test_password_file();
	test_silent_server();
	return check_done();
}
