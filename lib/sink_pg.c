/*
 * sink_pg.c: the PostgreSQL sink. Each line is a row of psm_lines, whose
 * key is the SHA-256 of the line's bytes: a batch sent again after a
 * failure (psm-ship delivers at least once) adds no row.
 *
 * A batch is one transaction, sent as one simple query:
 *     BEGIN; COPY psm_lines (...) FROM STDIN (FORMAT binary); COMMIT
 * and only when a row is there already (unique_violation: a batch sent
 * again after a failure) does a second query take the rows that are new,
 * through a temporary staging table (ON COMMIT DELETE ROWS, made at the
 * first need on a connection), since COPY cannot skip a row:
 *     ROLLBACK; BEGIN; CREATE TEMP TABLE IF NOT EXISTS psm_stage ...;
 *     COPY pg_temp.psm_stage FROM STDIN (FORMAT binary);
 *     INSERT INTO psm_lines SELECT ... FROM pg_temp.psm_stage ON CONFLICT DO NOTHING;
 *     COMMIT
 * (ON CONFLICT without "(id)": naming the arbiter needs the SELECT
 * privilege, and a role that ships should only need INSERT, and TEMP.)
 * Staging every batch cost the server a third more (COPY into the staging
 * table, then the INSERT ... SELECT row by row) and ON CONFLICT more again
 * (speculative insertion probes the index and writes more WAL a row).
 * send() returns 0 only once the COMMIT has answered "COMMIT". COPY's
 * binary format costs the server half of what text does (no parsing of
 * uuid, bigint and bytea's hex), and the hash computed here spares the
 * server 2 to 4 microseconds a row that sha256() took it.
 *
 * The server's work a row (the heap, two indexes, WAL) is what limits:
 * on a 2-core machine, client and server on it, fsync and
 * synchronous_commit on, 100,000 lines of 230 bytes went at 70,000 lines/s
 * in batches of 1000, 100,000 lines/s in batches of 5000 to 10000, and
 * 80,000 to 90,000 into a table of a million rows. Batches of a few
 * thousand lines are best: each is a commit (a WAL flush).
 *
 * libpq runs non-blocking: the connection by PQconnectStartParams and
 * PQconnectPoll, queries by PQsendQuery, PQputCopyData, PQflush and
 * PQconsumeInput, every wait a poll() on PQsocket bounded by the timeout,
 * so that a server that stops answering (SIGSTOP, a cable cut) is an
 * error after the timeout, never a hang.
 *
 * Host names are resolved once, at the first connection, and given to
 * libpq as hostaddr (host stays for TLS and ~/.pgpass): later connections
 * need no DNS, which a sandboxed psm-ship could not ask.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "psm_ship.h"

#define PG_TIMEOUT_DEFAULT (30 * UINT64_C(1000000))
#define PG_PASSWORD_MAX 1023		/* bytes in a password file; more is refused */
#define PG_COPY_CHUNK 65536		/* bytes handed to PQputCopyData at a time */
#define PG_ADVISORY_KEY "8102940196546832752"	/* "psm-ship" as a bigint: who creates the table */

struct pg {
	PGconn *conn;
	/* The URL's hosts, with the addresses found at the first connection. */
	char *url_host, *url_port, *url_hostaddr;
	bool resolved;
	char *host, *hostaddr, *port;	/* NULL: as the URL says */
	struct psm_buf copy;		/* a batch in COPY's binary format */
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

static const char create_table[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(" PG_ADVISORY_KEY ");"
    "CREATE TABLE IF NOT EXISTS psm_lines ("
    " id bytea PRIMARY KEY,"
    " line text NOT NULL,"
    " sid uuid NOT NULL,"
    " seq bigint NOT NULL,"
    " type text NOT NULL,"
    " t bigint NOT NULL,"
    " host text NOT NULL,"
    " file text NOT NULL,"
    " file_line bigint NOT NULL,"
    " stream uuid NULL,"
    " stream_line bigint NULL,"
    " shipped timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX IF NOT EXISTS psm_lines_sid_seq ON psm_lines (sid, seq);"
    "COMMIT";

#define PG_COLUMNS "id, line, sid, seq, type, t, host, file, file_line, stream, stream_line"
#define PG_NCOLUMNS 11
#define PG_COPY "FROM STDIN (FORMAT binary);"
static const char batch_sql[] =
    "BEGIN;"
    "COPY psm_lines (" PG_COLUMNS ") " PG_COPY
    "COMMIT";
static const char batch_again_sql[] =
    "ROLLBACK;"
    "BEGIN;"
    "CREATE TEMP TABLE IF NOT EXISTS psm_stage ("
    " id bytea, line text, sid uuid, seq bigint, type text, t bigint,"
    " host text, file text, file_line bigint, stream uuid, stream_line bigint)"
    " ON COMMIT DELETE ROWS;"
    "COPY pg_temp.psm_stage " PG_COPY
    "INSERT INTO psm_lines (" PG_COLUMNS ") SELECT " PG_COLUMNS " FROM pg_temp.psm_stage"
    " ON CONFLICT DO NOTHING;"
    "COMMIT";

/* ---- Waiting on the connection's socket ---- */

static uint64_t
timeout_of(const struct psm_sink *s)
{
	return s->conf.timeout ? s->conf.timeout : PG_TIMEOUT_DEFAULT;
}

/*
 * Wait until the socket is ready for events, at most the timeout; returns
 * the events that came (POLLHUP and POLLERR among them: libpq's next call
 * says what happened), or -1.
 */
static int
wait_socket(struct psm_sink *s, short events, struct psm_error *e)
{
	struct pg *pg = s->impl;
	int fd = PQsocket(pg->conn);
	uint64_t deadline = psm_mono_usec() + timeout_of(s);

	if (fd < 0)
		return psm_fail(e, PSM_E_OS, "%s: the connection is closed", s->where);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = psm_mono_usec();
		uint64_t ms = now < deadline ? (deadline - now + 999) / 1000 : 0;
		int n = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);

		if (n > 0)
			return p.revents;
		if (n < 0 && errno != EINTR)
			return psm_fail_errno(e, "%s: poll", s->where);
		if (n == 0 && psm_mono_usec() >= deadline)
			return psm_fail(e, PSM_E_OS, "%s: no answer in %.3g s", s->where,
			    (double)timeout_of(s) / 1e6);
	}
}

/* libpq's message, on one line, quoted (it may hold the server's text). */
static const char *
conn_message(PGconn *conn, char *q, size_t size)
{
	char line[512];
	const char *m = conn ? PQerrorMessage(conn) : "out of memory";
	size_t n = 0;

	for (; *m && n < sizeof line - 1; m++) {
		char c = *m == '\n' || *m == '\t' ? ' ' : *m;
		if (c == ' ' && (n == 0 || line[n - 1] == ' '))
			continue;
		line[n++] = c;
	}
	while (n > 0 && line[n - 1] == ' ')
		n--;
	psm_quote(q, size, line, n);
	return q;
}

static int
lost(struct psm_sink *s, struct psm_error *e)
{
	char q[300];

	return psm_fail(e, PSM_E_OS, "%s: connection lost: %s", s->where,
	    conn_message(((struct pg *)s->impl)->conn, q, sizeof q));
}

/* Send what libpq holds; while the socket is full, read what comes (libpq's rule). */
static int
flush_out(struct psm_sink *s, struct psm_error *e)
{
	PGconn *conn = ((struct pg *)s->impl)->conn;
	int r;

	while ((r = PQflush(conn)) == 1) {
		int ev = wait_socket(s, POLLIN | POLLOUT, e);
		if (ev < 0)
			return -1;
		if ((ev & POLLIN) && !PQconsumeInput(conn))
			return lost(s, e);
	}
	return r < 0 ? lost(s, e) : 0;
}

/* The next result of the query sent, or NULL after the last. */
static int
next_result(struct psm_sink *s, PGresult **res, struct psm_error *e)
{
	PGconn *conn = ((struct pg *)s->impl)->conn;

	while (PQisBusy(conn)) {
		if (wait_socket(s, POLLIN, e) < 0)
			return -1;
		if (!PQconsumeInput(conn))
			return lost(s, e);
	}
	*res = PQgetResult(conn);
	return 0;
}

/* ---- What the server said ---- */

/*
 * Which errors are worth a retry, by SQLSTATE class: the connection (08),
 * a transaction rolled back for a conflict (40), resources (53: disk full,
 * too many connections), a lock or object busy (55), the server shutting
 * down or a cancelled statement (57), the system's I/O (58), a read-only
 * server after a failover (25) and internal errors (XX). Bad data (22, 23)
 * is PSM_E_DATA; the rest (28: authentication, 42: privileges, a table
 * of other columns, 3D: no such database...) needs someone to change
 * something: PSM_E_NO.
 */
static enum psm_errkind
sqlstate_kind(const char *state)
{
	static const char *const retry[] = { "08", "25", "40", "53", "55", "57", "58", "XX" };

	if (state == NULL || strlen(state) != 5)
		return PSM_E_OS;	/* no answer from the server: libpq's own error */
	for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++)
		if (strncmp(state, retry[i], 2) == 0)
			return PSM_E_OS;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return PSM_E_DATA;
	return PSM_E_NO;
}

static int
result_failed(struct psm_sink *s, const PGresult *r, const char *what, struct psm_error *e)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char q[300];

	if (msg == NULL)
		return psm_fail(e, sqlstate_kind(state), "%s: %s: %s", s->where, what,
		    conn_message(((struct pg *)s->impl)->conn, q, sizeof q));
	psm_quote(q, sizeof q, msg, strlen(msg));
	return psm_fail(e, sqlstate_kind(state), "%s: %s: %s (SQLSTATE %s)", s->where, what, q,
	    state ? state : "none");
}

static bool
result_ok(const PGresult *r)
{
	ExecStatusType st = PQresultStatus(r);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN;
}

/* sql on its way to the server: its results are read next. */
static int
send_query(struct psm_sink *s, const char *sql, struct psm_error *e)
{
	if (!PQsendQuery(((struct pg *)s->impl)->conn, sql))
		return lost(s, e);
	return flush_out(s, e);
}

/*
 * Run sql (one or more statements, no COPY) and read every result; the
 * first error is the one reported. The first row's first value of the
 * last result that has one goes to value (if not NULL), "" if none.
 */
static int
run(struct psm_sink *s, const char *sql, const char *what, char *value, size_t valsize,
    struct psm_error *e)
{
	PGresult *r;
	int rc = 0;

	if (value)
		value[0] = '\0';
	if (send_query(s, sql, e) < 0)
		return -1;
	for (;;) {
		if (next_result(s, &r, e) < 0)
			return -1;
		if (r == NULL)
			return rc;
		if (!result_ok(r) && rc == 0)
			rc = result_failed(s, r, what, e);
		else if (value && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
			snprintf(value, valsize, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
	}
}

/* ---- Connecting ---- */

/* The password file's first line: the file must be the user's, mode 600 or less. */
static int
read_password(const char *path, char *pw, size_t cap, struct psm_error *e)
{
	char q[256];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	psm_quote(q, sizeof q, path, strlen(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return psm_fail_errno(e, "%s", q);
	if (fstat(fd, &st) < 0) {
		psm_fail_errno(e, "%s", q);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		psm_fail(e, PSM_E_OS, "%s: not a regular file", q);
		goto fail;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		psm_fail(e, PSM_E_OS, "%s: owned by uid %u, not by this user", q,
		    (unsigned)st.st_uid);
		goto fail;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		psm_fail(e, PSM_E_OS, "%s: readable by others: chmod 600", q);
		goto fail;
	}
	while (len < cap && (n = read(fd, pw + len, cap - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			psm_fail_errno(e, "%s", q);
			goto fail;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > 0 && pw[len - 1] == '\n')
		len--;
	if (len >= cap || len == 0 || memchr(pw, '\0', len) || memchr(pw, '\n', len)) {
		explicit_bzero(pw, cap);
		if (len >= cap)
			return psm_fail(e, PSM_E_USAGE, "%s: over %d bytes", q, PG_PASSWORD_MAX);
		return psm_fail(e, PSM_E_USAGE, "%s: %s", q, len == 0 ? "empty" :
		    "more than one line, or a NUL byte: the file holds the password alone");
	}
	pw[len] = '\0';
	return 0;
fail:
	close(fd);
	explicit_bzero(pw, cap);
	return -1;
}

/* The password file read as it must be, once before the first connection: wrong is refused, not retried. */
static bool
password_file_ok(const char *path, struct psm_error *e)
{
	char pw[PG_PASSWORD_MAX + 2];
	bool ok = read_password(path, pw, sizeof pw, e) == 0;

	explicit_bzero(pw, sizeof pw);
	return ok;
}

static void
ignore_notice(void *arg, const PGresult *r)
{
	(void)arg;
	(void)r;
}

/*
 * Why the connection failed: a password or certificate refused, or no
 * such database or role, is the server's no; the rest (refused, reset,
 * timed out, the server starting or shutting down) may pass. libpq gives
 * no SQLSTATE for a failed connection: its message is all there is (a
 * server that answers in another language is retried).
 */
static int
connect_failed(struct psm_sink *s, struct psm_error *e)
{
	static const char *const refusals[] = {
		"authentication failed", "no pg_hba.conf entry", "no password supplied",
		"does not exist", "certificate verify failed", "does not match host name",
		"permission denied",
	};
	PGconn *conn = ((struct pg *)s->impl)->conn;
	enum psm_errkind kind = PSM_E_OS;
	const char *m = conn ? PQerrorMessage(conn) : "";
	char q[300];

	if (conn && PQconnectionNeedsPassword(conn))
		kind = PSM_E_NO;
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
		if (strstr(m, refusals[i]))
			kind = PSM_E_NO;
	return psm_fail(e, kind, "%s: cannot connect: %s", s->where, conn_message(conn, q, sizeof q));
}

static int
poll_connection(struct psm_sink *s, struct psm_error *e)
{
	PGconn *conn = ((struct pg *)s->impl)->conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (PQstatus(conn) == CONNECTION_BAD)
		return connect_failed(s, e);
	for (;;) {
		if (st == PGRES_POLLING_OK)
			return 0;
		if (st == PGRES_POLLING_FAILED)
			return connect_failed(s, e);
		if (PQsocket(conn) >= 0 &&
		    wait_socket(s, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, e) < 0)
			return -1;
		st = PQconnectPoll(conn);
	}
}

/* The hosts libpq is given: one entry per address, in three lists that go in step. */
struct hostlist {
	struct psm_buf host, addr, port;
	size_t n;
};

static void
add_entry(struct hostlist *l, const char *host, size_t hostlen, const char *addr,
    const char *port, size_t portlen)
{
	if (l->n++ > 0) {
		psm_buf_addc(&l->host, ',');
		psm_buf_addc(&l->addr, ',');
		psm_buf_addc(&l->port, ',');
	}
	psm_buf_add(&l->host, host, hostlen);
	psm_buf_adds(&l->addr, addr);
	psm_buf_add(&l->port, port, portlen);
}

/* Item i of a comma-separated list (libpq's lists have no escapes). */
static const char *
list_item(const char *list, size_t i, size_t *len)
{
	const char *p = list;

	*len = 0;
	while (i-- > 0 && (p = strchr(p, ',')) != NULL)
		p++;
	if (p == NULL)
		return "";
	*len = strcspn(p, ",");
	return p;
}

static size_t
list_len(const char *list)
{
	size_t n = 1;

	for (const char *p = list; (p = strchr(p, ',')) != NULL; p++)
		n++;
	return n;
}

/*
 * Resolve the URL's host names, once: each address becomes an entry of
 * host, hostaddr and port, the name kept for TLS's check and ~/.pgpass.
 * Sockets (a path) and hosts given with hostaddr stay as they are. A name
 * that does not resolve is left out, unless none does.
 */
static int
resolve_hosts(struct psm_sink *s, struct psm_error *e)
{
	struct pg *pg = s->impl;
	struct hostlist l = { 0 };
	size_t nhosts, nports;
	bool any_name = false, any_addr = false;
	char why[160] = "";

	if (pg->url_hostaddr || pg->url_host == NULL || pg->url_host[0] == '\0') {
		pg->resolved = true;
		return 0;
	}
	nhosts = list_len(pg->url_host);
	nports = pg->url_port ? list_len(pg->url_port) : 0;
	for (size_t i = 0; i < nhosts; i++) {
		size_t hl, pl = 0;
		const char *h = list_item(pg->url_host, i, &hl);
		const char *p = nports == nhosts ? list_item(pg->url_port, i, &pl) : "";
		char name[NI_MAXHOST];
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
		struct addrinfo *res;
		int rc;

		if (hl == 0 || h[0] == '/' || h[0] == '@' || hl >= sizeof name) {
			add_entry(&l, h, hl, "", p, pl);	/* a socket: nothing to resolve */
			continue;
		}
		any_name = true;
		memcpy(name, h, hl);
		name[hl] = '\0';
		if ((rc = getaddrinfo(name, NULL, &hints, &res)) != 0) {
			char q[80];
			psm_quote(q, sizeof q, name, hl);
			snprintf(why, sizeof why, "%s: %s", q,
			    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
			continue;
		}
		for (struct addrinfo *a = res; a; a = a->ai_next) {
			char ip[INET6_ADDRSTRLEN];
			if (getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof ip, NULL, 0,
			    NI_NUMERICHOST) != 0)
				continue;
			add_entry(&l, h, hl, ip, p, pl);
			any_addr = true;
		}
		freeaddrinfo(res);
	}
	if (any_name && !any_addr) {
		psm_buf_free(&l.host);
		psm_buf_free(&l.addr);
		psm_buf_free(&l.port);
		return psm_fail(e, PSM_E_OS, "%s: cannot resolve %s", s->where, why);
	}
	psm_buf_addc(&l.host, '\0');
	psm_buf_addc(&l.addr, '\0');
	psm_buf_addc(&l.port, '\0');
	pg->host = l.host.data;
	pg->hostaddr = l.addr.data;
	if (nports == nhosts)
		pg->port = l.port.data;		/* one port per host: one per address now */
	else
		psm_buf_free(&l.port);		/* none, or one for all: as the URL says */
	pg->resolved = true;
	return 0;
}

/* The database must take UTF-8 as it is: UTF8, or SQL_ASCII that takes any bytes. */
static int
check_encoding(struct psm_sink *s, struct psm_error *e)
{
	const char *enc = PQparameterStatus(((struct pg *)s->impl)->conn, "server_encoding");
	char q[64];

	if (enc == NULL || strcmp(enc, "UTF8") == 0 || strcmp(enc, "SQL_ASCII") == 0)
		return 0;
	psm_quote(q, sizeof q, enc, strlen(enc));
	return psm_fail(e, PSM_E_NO, "%s: the database's encoding is %s: psm lines are UTF-8 "
	    "(a database made WITH ENCODING 'UTF8' takes them)", s->where, q);
}

/*
 * psm_lines, if missing. Concurrent psm-ships serialize on an advisory
 * lock (two CREATE TABLE IF NOT EXISTS at once can fail on the catalog's
 * unique index); a role that may only insert never asks to create.
 */
static int
prepare_tables(struct psm_sink *s, struct psm_error *e)
{
	char missing[8];

	if (run(s, "SELECT to_regclass('psm_lines') IS NULL", "cannot look for table psm_lines",
	    missing, sizeof missing, e) < 0)
		return -1;
	if (strcmp(missing, "t") == 0)
		return run(s, create_table, "cannot create table psm_lines", NULL, 0, e);
	return 0;
}

static int
pg_connect(struct psm_sink *s, struct psm_error *e)
{
	struct pg *pg = s->impl;
	char pw[PG_PASSWORD_MAX + 2];
	char timeout[24];
	const char *kw[12], *val[12];
	int n = 0;

	if (s->connected)
		return 0;
	if (!pg->resolved && resolve_hosts(s, e) < 0)
		return -1;
	if (s->conf.password_file && read_password(s->conf.password_file, pw, sizeof pw, e) < 0)
		return -1;
	/* libpq's connect_timeout, in whole seconds (at least 2, its minimum). */
	snprintf(timeout, sizeof timeout, "%" PRIu64, (timeout_of(s) + 999999) / 1000000 < 2 ? 2 :
	    (timeout_of(s) + 999999) / 1000000);
	/*
	 * The URL is expanded where dbname is: it overrides what comes before
	 * (defaults), what comes after overrides it. No GSSAPI encryption
	 * unless the URL asks for it: "prefer" looks for Kerberos credentials
	 * in files at every connection, for nothing on most sites.
	 */
	kw[n] = "fallback_application_name", val[n++] = "psm-ship";
	kw[n] = "gssencmode", val[n++] = "disable";
	kw[n] = "dbname", val[n++] = s->conf.url;
	kw[n] = "client_encoding", val[n++] = "UTF8";
	kw[n] = "connect_timeout", val[n++] = timeout;
	if (pg->host) {
		kw[n] = "host", val[n++] = pg->host;
		kw[n] = "hostaddr", val[n++] = pg->hostaddr;
	}
	if (pg->port)
		kw[n] = "port", val[n++] = pg->port;
	if (s->conf.password_file)
		kw[n] = "password", val[n++] = pw;
	kw[n] = NULL, val[n] = NULL;

	pg->conn = PQconnectStartParams(kw, val, 1);
	if (s->conf.password_file)
		explicit_bzero(pw, sizeof pw);	/* libpq has its copy, which PQfinish wipes */
	if (pg->conn == NULL)
		return psm_fail(e, PSM_E_OS, "%s: cannot connect: out of memory", s->where);
	PQsetNoticeReceiver(pg->conn, ignore_notice, NULL);
	if (poll_connection(s, e) < 0 || check_encoding(s, e) < 0)
		goto fail;
	if (PQsetnonblocking(pg->conn, 1) < 0) {
		lost(s, e);
		goto fail;
	}
	if (prepare_tables(s, e) < 0)
		goto fail;
	s->connected = true;
	return 0;
fail:
	PQfinish(pg->conn);
	pg->conn = NULL;
	return -1;
}

static void
pg_disconnect(struct psm_sink *s)
{
	struct pg *pg = s->impl;

	if (pg->conn)
		PQfinish(pg->conn);
	pg->conn = NULL;
	s->connected = false;
}

/* ---- A batch in COPY's binary format ---- */

static void
put16(struct psm_buf *b, uint16_t v)
{
	unsigned char p[2] = { v >> 8, v };

	psm_buf_add(b, p, 2);
}

/* A bigint field: its length (8), then the number. */
static void
put_int8(struct psm_buf *b, uint64_t v)
{
	psm_buf_add_be32(b, 8);
	psm_buf_add_be64(b, v);
}

static void
put_bytes(struct psm_buf *b, const void *p, size_t n)
{
	psm_buf_add_be32(b, (uint32_t)n);
	psm_buf_add(b, p, n);
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A UUID's 16 bytes (binary COPY's uuid), or NULL for "". */
static int
put_uuid(struct psm_buf *b, const char *id)
{
	unsigned char u[16];
	size_t k = 0;

	if (id[0] == '\0') {
		psm_buf_add_be32(b, UINT32_MAX);	/* -1: NULL */
		return 0;
	}
	if (!psm_sid_valid(id, strlen(id)))
		return -1;
	for (size_t i = 0; i < PSM_SID_LEN; i++) {
		if (id[i] == '-')
			continue;
		u[k / 2] = (unsigned char)(k % 2 ? u[k / 2] | hexval(id[i]) : hexval(id[i]) << 4);
		k++;
	}
	put_bytes(b, u, sizeof u);
	return 0;
}

static void
sha256(struct pg *pg, const void *p, size_t n, unsigned char out[32])
{
	/* Fail only without a digest or memory: never go on with a wrong key. */
	if (!EVP_DigestInit_ex2(pg->ctx, pg->md, NULL) || !EVP_DigestUpdate(pg->ctx, p, n) ||
	    !EVP_DigestFinal_ex(pg->ctx, out, NULL))
		abort();
}

/*
 * A text value for the host and file columns: as it is when it is UTF-8
 * without NUL, which PostgreSQL's text takes; else quoted (\xNN).
 */
static const char *
text_value(const char *s, char **quoted)
{
	size_t n = strlen(s);

	*quoted = NULL;
	if (psm_utf8_valid((const unsigned char *)s, n))
		return s;
	*quoted = xmalloc(4 * n + 4);
	psm_quote(*quoted, 4 * n + 4, s, n);
	return *quoted;
}

static int
encode_batch(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	static const char signature[11] = "PGCOPY\n\377\r\n";	/* and its NUL */
	struct pg *pg = s->impl;
	struct psm_buf *c = &pg->copy;
	char *qhost, *qfile;
	const char *host = text_value(s->conf.host ? s->conf.host : "", &qhost);
	const char *file = text_value(b->file ? b->file : "-", &qfile);
	size_t hostlen = strlen(host), filelen = strlen(file);
	int rc = 0;

	c->len = 0;
	psm_buf_reserve(c, b->bytes + b->n * (150 + hostlen + filelen) + 32);
	psm_buf_add(c, signature, sizeof signature);
	psm_buf_add_be32(c, 0);		/* flags */
	psm_buf_add_be32(c, 0);		/* header extension */
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		const struct psm_ship_line *l = &b->v[i];
		unsigned char id[32];

		sha256(pg, l->line, l->len, id);
		put16(c, PG_NCOLUMNS);
		put_bytes(c, id, sizeof id);
		put_bytes(c, l->line, l->len);
		if (put_uuid(c, l->sid) < 0)
			rc = psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": \"sid\" is not a UUID", file,
			    l->lineno);
		put_int8(c, l->seq);
		put_bytes(c, l->type, strlen(l->type));
		put_int8(c, l->t);
		put_bytes(c, host, hostlen);
		put_bytes(c, file, filelen);
		put_int8(c, l->lineno);
		if (rc == 0 && put_uuid(c, l->stream) < 0)
			rc = psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": the sealed stream's id is not a UUID",
			    file, l->lineno);
		if (l->stream_line)
			put_int8(c, l->stream_line);
		else
			psm_buf_add_be32(c, UINT32_MAX);
	}
	put16(c, UINT16_MAX);	/* -1: the end */
	free(qhost);
	free(qfile);
	return rc;
}

/* ---- Sending ---- */

/*
 * libpq refused COPY data: either the connection is gone, or the server
 * ended the COPY with an error (a row it refused), which is the query's
 * next result.
 */
static int
copy_refused(struct psm_sink *s, struct psm_error *e)
{
	return PQstatus(((struct pg *)s->impl)->conn) == CONNECTION_OK ? 0 : lost(s, e);
}

static int
put_copy(struct psm_sink *s, struct psm_error *e)
{
	struct pg *pg = s->impl;
	size_t off = 0;
	int r;

	while (off < pg->copy.len) {
		size_t n = pg->copy.len - off < PG_COPY_CHUNK ? pg->copy.len - off : PG_COPY_CHUNK;

		if ((r = PQputCopyData(pg->conn, pg->copy.data + off, (int)n)) < 0)
			return copy_refused(s, e);
		if (r == 1)
			off += n;
		else if (flush_out(s, e) < 0)	/* 0: libpq's buffer is full */
			return -1;
	}
	while ((r = PQputCopyEnd(pg->conn, NULL)) == 0)
		if (flush_out(s, e) < 0)
			return -1;
	if (r < 0)
		return copy_refused(s, e);
	return flush_out(s, e);
}

/*
 * Send one of the batch's queries, the COPY's data if it asks for it, and
 * read every result: 0 once it committed. A unique_violation sets *again
 * (when again is not NULL) instead of failing: batch_again_sql ends the
 * transaction and sends the rows again, the new ones to stay.
 */
static int
batch_query(struct psm_sink *s, const char *sql, bool *again, struct psm_error *e)
{
	bool committed = false;
	PGresult *r;
	int rc = 0;

	if (send_query(s, sql, e) < 0)
		return -1;
	for (;;) {
		if (next_result(s, &r, e) < 0)
			return -1;
		if (r == NULL)
			break;
		if (!result_ok(r)) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (again && state && strcmp(state, "23505") == 0)
				*again = true;
			else if (rc == 0)
				rc = result_failed(s, r, "cannot store the lines", e);
		} else if (PQresultStatus(r) == PGRES_COPY_IN) {
			if (rc == 0 && put_copy(s, e) < 0) {
				PQclear(r);
				return -1;
			}
		} else if (strcmp(PQcmdStatus(r), "COMMIT") == 0) {
			committed = true;
		}
		PQclear(r);
	}
	if (rc == 0 && !committed && !(again && *again))
		rc = psm_fail(e, PSM_E_OS, "%s: the transaction did not commit", s->where);
	return rc;
}

static int
send_batch(struct psm_sink *s, struct psm_error *e)
{
	bool again = false;

	if (batch_query(s, batch_sql, &again, e) < 0)
		return -1;
	return again ? batch_query(s, batch_again_sql, NULL, e) : 0;
}

static int
pg_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e)
{
	if (b->n == 0)
		return 0;
	if (encode_batch(s, b, e) < 0 || pg_connect(s, e) < 0)
		return -1;
	if (send_batch(s, e) < 0) {
		/* Whatever the error, the connection's state is unknown: begin again. */
		pg_disconnect(s);
		return -1;
	}
	return 0;
}

/* A line the table cannot hold is refused before it joins a batch. */
static int
pg_check(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e)
{
	(void)s;
	if (!psm_utf8_valid((const unsigned char *)l->line, l->len) || memchr(l->line, 0, l->len))
		return psm_fail(e, PSM_E_DATA, "line of %zu bytes is not UTF-8 without NUL: "
		    "a PostgreSQL text column cannot hold it", l->len);
	if (l->seq > INT64_MAX || l->t > INT64_MAX || l->lineno > INT64_MAX ||
	    l->stream_line > INT64_MAX)
		return psm_fail(e, PSM_E_DATA, "a number of the line is over PostgreSQL's bigint");
	if (!psm_sid_valid(l->sid, strlen(l->sid)) ||
	    (l->stream[0] && !psm_sid_valid(l->stream, strlen(l->stream))))
		return psm_fail(e, PSM_E_DATA, "the line's session or stream id is not a UUID");
	return 0;
}

static void
pg_free(struct psm_sink *s)
{
	struct pg *pg = s->impl;

	if (pg == NULL)
		return;
	pg_disconnect(s);
	free(pg->url_host);
	free(pg->url_port);
	free(pg->url_hostaddr);
	free(pg->host);
	free(pg->hostaddr);
	free(pg->port);
	psm_buf_free(&pg->copy);
	EVP_MD_CTX_free(pg->ctx);
	EVP_MD_free(pg->md);
	free(pg);
	s->impl = NULL;
}

static const struct psm_sink_ops pg_ops = {
	.connect = pg_connect,
	.check = pg_check,
	.send = pg_send,
	.disconnect = pg_disconnect,
	.free = pg_free,
};

/* ---- The URL ---- */

/*
 * A password in the URL's user part ("user:password@") or query: refused
 * before libpq parses it, so that no parse error can quote it.
 */
static bool
url_has_password(const char *url)
{
	const char *p = strstr(url, "://");
	size_t auth;

	if (p == NULL)
		return false;
	p += 3;
	auth = strcspn(p, "/?");
	if (memchr(p, '@', auth) && memchr(p, ':', (size_t)((const char *)memchr(p, '@', auth) - p)))
		return true;
	return strstr(url, "password=") != NULL;
}

static const char *
option(PQconninfoOption *opts, const char *name)
{
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, name) == 0)
			return o->val && o->val[0] ? o->val : NULL;
	return NULL;
}

/*
 * The destination for messages: user, hosts and ports, database; nothing
 * else. A socket's directory goes in the query, as libpq reads it.
 */
static void
set_where(struct psm_sink *s, PQconninfoOption *opts)
{
	const char *user = option(opts, "user"), *host = option(opts, "host");
	const char *port = option(opts, "port"), *db = option(opts, "dbname");
	bool socket = host && (host[0] == '/' || host[0] == '@');
	size_t nhosts = host ? list_len(host) : 0, nports = port ? list_len(port) : 0;
	struct psm_buf w = { 0 };

	psm_buf_adds(&w, "postgresql://");
	if (user) {
		psm_buf_adds(&w, user);
		psm_buf_addc(&w, '@');
	}
	for (size_t i = 0; host && !socket && i < nhosts; i++) {
		size_t hl, pl = 0;
		const char *h = list_item(host, i, &hl);
		const char *p = nports == nhosts ? list_item(port, i, &pl) :
		    nports == 1 ? port : "";
		bool v6 = memchr(h, ':', hl) != NULL;
		if (i > 0)
			psm_buf_addc(&w, ',');
		if (v6)
			psm_buf_addc(&w, '[');
		psm_buf_add(&w, h, hl);
		if (v6)
			psm_buf_addc(&w, ']');
		if (nports == 1)
			pl = strlen(p);
		if (pl > 0) {
			psm_buf_addc(&w, ':');
			psm_buf_add(&w, p, pl);
		}
	}
	psm_buf_addc(&w, '/');
	if (db)
		psm_buf_adds(&w, db);
	if (socket) {
		psm_buf_adds(&w, "?host=");
		psm_buf_adds(&w, host);
		if (port) {
			psm_buf_adds(&w, "&port=");
			psm_buf_adds(&w, port);
		}
	}
	psm_quote(s->where, sizeof s->where, w.data, w.len);
	psm_buf_free(&w);
}

int
psm_sink_pg_new(struct psm_sink *s, struct psm_error *e)
{
	const char *url = s->conf.url ? s->conf.url : "";
	PQconninfoOption *opts;
	char *err = NULL;
	struct pg *pg;

	if (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0)
		return psm_fail(e, PSM_E_USAGE, "a PostgreSQL URL begins with postgresql:// "
		    "or postgres://");
	if (url_has_password(url))
		goto password;
	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		char q[200];
		const char *m = err ? err : "out of memory";
		/*
		 * libpq may quote the URL or a value of it, where a password can
		 * hide, percent-encoded: only keywords are shown.
		 */
		const char *quoted = strstr(m, ": \"");
		size_t n = strcspn(m, "\n");
		bool keyword = strncmp(m, "invalid URI query parameter", 27) == 0 ||
		    strncmp(m, "invalid connection option", 25) == 0;
		if (!keyword && quoted && (size_t)(quoted - m) < n)
			n = (size_t)(quoted - m);
		psm_quote(q, sizeof q, m, n);
		PQfreemem(err);
		return psm_fail(e, PSM_E_USAGE, "the PostgreSQL URL: %s", q);
	}
	if (option(opts, "password")) {
		PQconninfoFree(opts);
		goto password;
	}
	if (s->conf.password_file != NULL && !password_file_ok(s->conf.password_file, e)) {
		PQconninfoFree(opts);
		return -1;	/* refused now, not retried at each connection */
	}
	pg = xmalloc(sizeof *pg);
	memset(pg, 0, sizeof *pg);
	pg->url_host = option(opts, "host") ? xstrdup(option(opts, "host")) : NULL;
	pg->url_port = option(opts, "port") ? xstrdup(option(opts, "port")) : NULL;
	pg->url_hostaddr = option(opts, "hostaddr") ? xstrdup(option(opts, "hostaddr")) : NULL;
	set_where(s, opts);
	PQconninfoFree(opts);
	pg->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	pg->ctx = EVP_MD_CTX_new();
	s->impl = pg;
	s->ops = &pg_ops;
	s->scheme = "postgresql";
	s->acked = "PostgreSQL committed the rows";
	s->connected = false;
	if (pg->md == NULL || pg->ctx == NULL) {
		pg_free(s);
		return psm_fail(e, PSM_E_OS, "SHA-256 is not available from OpenSSL");
	}
	return 0;
password:
	return psm_fail(e, PSM_E_USAGE, "the URL carries a password: put it in a file "
	    "(--password-file) or PGPASSWORD/~/.pgpass");
}
