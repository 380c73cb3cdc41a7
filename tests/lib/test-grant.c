/*
 * test-grant.c: psm-grant's documents (lib/grant.c) and the grants of a
 * stream's sessions (lib/grant_window.c), and psm_rfc3339_parse().
 *
 * With arguments it is also the tests' issuer of grants, for the bats
 * tests of psm-record --grant and psm-verify --ca:
 *	test-grant grant CA.key [NAME=VALUE...]
 * prints a grant line signed by the secret key in CA.key (made by
 * psm-keygen --no-passphrase). NAME is id, serial, user, uid, role,
 * account (default: the running user's name), target (default: this
 * host's name), command (default: null), not_before and expires (seconds
 * since the epoch, or +N / -N seconds from now; default now and +3600).
 *	test-grant revoke CA.key GRANT-ID [SERIAL]
 * prints a line of a revocation list that revokes that grant;
 *	test-grant request [NAME=VALUE...]
 * prints a request line (id, user, account, target, command, ttl).
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "psm_grant.h"
#include "check.h"

#define T0 INT64_C(1796000000)		/* 2026-11-30T00:53:20Z */

static struct psm_seckey ca, other;
static struct psm_pubkey ca_pub, other_pub;

static char *no_flags[] = { NULL };
static char *groups[] = { "security", NULL };

/* A request of alice's for dbadmin on db1, made at T0. */
static struct psm_request
request(void)
{
	struct psm_request r = {
		.id = "6f1c2a90-3b4d-4e5f-8a7b-9c0d1e2f3a4b",
		.time = T0, .expires = T0 + 3600,
		.user = "alice", .host = "laptop", .role = "dba", .account = "dbadmin",
		.target = "db1", .uid = 1000, .ttl = 900,
		.reason = "INC-42: the disk is full",
	};
	return r;
}

/* The grant of request r, issued at issued, for ttl seconds, as a line (no newline). */
static void
grant_line(struct psm_buf *out, const struct psm_request *r, int64_t issued, int64_t ttl,
    const struct psm_seckey *by)
{
	struct psm_grant_approver a = { .name = "bob", .key = "0123456789abcdef", .groups = groups,
		.time = issued - 10 };
	struct psm_grant_out g = { .request = r, .serial = 4242, .approvers = &a, .napprovers = 1,
		.issued = issued, .expires = issued + ttl, .flags = no_flags };

	out->len = 0;
	psm_grant_write(out, &g, by);
	out->len--;		/* the newline */
}

static void
test_times(void)
{
	char s[PSM_TIME_LEN + 1], r[48];
	int64_t t;

	psm_time_format(s, T0);
	CHECK_STR(s, "2026-11-30T00:53:20Z");
	CHECK(psm_time_parse(s, strlen(s), &t) == 0 && t == T0, "read back");
	const char *bad[] = { "2026-02-30T00:00:00Z", "2026-11-29 22:13:20Z", "2026-11-29T22:13:20",
		"1969-12-31T23:59:59Z", "2026-11-29T24:00:00Z", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(psm_time_parse(bad[i], strlen(bad[i]), &t) < 0, "\"%s\" is refused", bad[i]);

	psm_rfc3339(r, T0, 518203);
	CHECK_STR(r, "2026-11-30T00:53:20.518203Z");
	CHECK(psm_rfc3339_parse(r, strlen(r), &t) == 0 && t == T0 * 1000000 + 518203, "read back");
	CHECK(psm_rfc3339_parse("1970-01-01T00:00:00.000000Z", 27, &t) == 0 && t == 0, "the epoch");
	const char *bad3339[] = { "2026-02-30T00:00:00.000000Z", "2026-11-30T00:53:20Z",
		"2026-11-29T22:13:20.51820Z", "2026-11-29T22:13:20.5182030Z",
		"2026-11-29T22:13:20.518203z", "2026-11-29T22:13:20,518203Z",
		"+026-11-29T22:13:20.518203Z", "2026-13-29T22:13:20.518203Z" };
	for (size_t i = 0; i < sizeof bad3339 / sizeof bad3339[0]; i++)
		CHECK(psm_rfc3339_parse(bad3339[i], strlen(bad3339[i]), &t) < 0, "\"%s\" is refused",
		    bad3339[i]);
}

static void
test_grants(void)
{
	struct psm_request r = request();
	struct psm_buf line = { 0 };
	struct psm_grant g;
	struct psm_error e;

	grant_line(&line, &r, T0 + 60, 900, &ca);
	if (CHECK(psm_grant_parse(&g, line.data, line.len, &ca_pub, &e) == 0, "%s", e.msg)) {
		CHECK_STR(g.id, r.id);
		CHECK_STR(g.account, "dbadmin");
		CHECK_STR(g.target, "db1");
		CHECK_STR(g.ca, ca.id);
		CHECK(g.command == NULL, "no command: any");
		CHECK_EQ(g.serial, 4242);
		CHECK_EQ(g.not_before, T0 + 60);
		CHECK_EQ(g.expires, T0 + 960);
		CHECK_EQ(g.len, line.len);
		CHECK(memcmp(g.line, line.data, line.len) == 0, "the exact line is kept");
		CHECK(psm_grant_outside(&g, T0) == NULL, "60 s early: the skew allowed");
		CHECK_STR(psm_grant_outside(&g, T0 - 1) ? psm_grant_outside(&g, T0 - 1) : "",
		    "not valid yet");
		CHECK(psm_grant_outside(&g, T0 + 959) == NULL, "its last second");
		CHECK_STR(psm_grant_outside(&g, T0 + 960) ? psm_grant_outside(&g, T0 + 960) : "",
		    "expired");
		CHECK(psm_grant_for_host(&g, "db1") && psm_grant_for_host(&g, "DB1.example.com"),
		    "the host or its first label");
		CHECK(!psm_grant_for_host(&g, "db10") && !psm_grant_for_host(&g, "db") &&
		    !psm_grant_for_host(&g, "web.db1"), "no other host");
		psm_grant_free(&g);
	}

	CHECK(psm_grant_parse(&g, line.data, line.len, &other_pub, &e) < 0 && e.kind == PSM_E_NO &&
	    strstr(e.msg, "was issued by key") != NULL, "another CA's key: %s", e.msg);

	/* One byte changed: the reason, or the window. */
	char *p = strstr(line.data, "disk is full");
	p[0] = 'D';
	CHECK(psm_grant_parse(&g, line.data, line.len, &ca_pub, &e) < 0 && e.kind == PSM_E_NO &&
	    strstr(e.msg, "bad signature") != NULL, "a changed byte: %s", e.msg);
	p[0] = 'd';
	p = strstr(line.data, "\"expires\":\"") + 11;	/* a minute later */
	p[15] = p[15] == '9' ? '8' : '9';
	CHECK(psm_grant_parse(&g, line.data, line.len, &ca_pub, &e) < 0 && e.kind == PSM_E_NO,
	    "a later expiry: %s", e.msg);

	/* A grant signed by the other key but naming the CA's id: a bad signature. */
	struct psm_seckey forged = other;
	memcpy(forged.id, ca.id, sizeof forged.id);
	grant_line(&line, &r, T0, 900, &forged);
	CHECK(psm_grant_parse(&g, line.data, line.len, &ca_pub, &e) < 0 && e.kind == PSM_E_NO &&
	    strstr(e.msg, "bad signature") != NULL, "forged: %s", e.msg);

	/* Not a grant: a request, or nothing signed. */
	line.len = 0;
	psm_request_write(&line, &r);
	CHECK(psm_grant_parse(&g, line.data, line.len - 1, &ca_pub, &e) < 0 && e.kind == PSM_E_DATA,
	    "a request is not a grant: %s", e.msg);
	psm_buf_free(&line);
}

/* path holds text; returns path. */
static const char *
put_file(const char *path, const char *text, size_t n)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fwrite(text, 1, n, f);
		fclose(f);
	}
	return path;
}

static void
test_files(const char *dir)
{
	struct psm_request r = request();
	struct psm_buf line = { 0 }, two = { 0 };
	struct psm_grant g;
	struct psm_revoked rv;
	struct psm_error e;
	char path[256], want[1024];

	grant_line(&line, &r, T0, 900, &ca);
	psm_buf_addc(&line, '\n');
	snprintf(path, sizeof path, "%s/g", dir);
	put_file(path, line.data, line.len);
	if (CHECK(psm_grant_load(&g, path, &ca_pub, &e) == 0, "%s", e.msg))
		psm_grant_free(&g);
	put_file(path, line.data, line.len - 1);
	if (CHECK(psm_grant_load(&g, path, &ca_pub, &e) == 0, "no newline: %s", e.msg))
		psm_grant_free(&g);
	psm_buf_add(&two, line.data, line.len);
	psm_buf_add(&two, line.data, line.len);
	put_file(path, two.data, two.len);
	snprintf(want, sizeof want, "%s:2: a grant file has one line", path);
	CHECK(psm_grant_load(&g, path, &ca_pub, &e) < 0 && e.kind == PSM_E_DATA &&
	    strcmp(e.msg, want) == 0, "two grants: %s", e.msg);
	put_file(path, "{}\n", 3);
	snprintf(want, sizeof want, "%s:1: not a signed grant (no \"sig\" at its end)", path);
	CHECK(psm_grant_load(&g, path, &ca_pub, &e) < 0 && e.kind == PSM_E_DATA &&
	    strcmp(e.msg, want) == 0, "not a grant: %s", e.msg);
	put_file(path, line.data, line.len);
	snprintf(want, sizeof want, "%s:1: grant %s was issued by key %s, not by %s", path, r.id,
	    ca.id, other.id);
	CHECK(psm_grant_load(&g, path, &other_pub, &e) < 0 && e.kind == PSM_E_NO &&
	    strcmp(e.msg, want) == 0, "another CA: %s", e.msg);
	snprintf(path, sizeof path, "%s/none", dir);
	CHECK(psm_grant_load(&g, path, &ca_pub, &e) < 0 && e.kind == PSM_E_OS && e.errnum == ENOENT,
	    "a missing file: %s", e.msg);

	/* Revocation lists. */
	line.len--;
	if (!CHECK(psm_grant_parse(&g, line.data, line.len, &ca_pub, &e) == 0, "%s", e.msg))
		goto out;
	two.len = 0;
	psm_revoked_write(&two, &g, T0 + 100, "left the company", &ca);
	snprintf(path, sizeof path, "%s/revoked", dir);
	put_file(path, two.data, two.len);
	if (CHECK(psm_revoked_load(&rv, path, &ca_pub, false, &e) == 0, "%s", e.msg)) {
		CHECK(psm_revoked_has(&rv, g.id), "the grant is revoked");
		CHECK(!psm_revoked_has(&rv, "00000000-0000-4000-8000-000000000000"), "no other");
		CHECK_EQ(rv.lines, 1);
		psm_revoked_free(&rv);
	}
	psm_revoked_write(&two, &g, T0 + 200, NULL, &other);	/* a line by another key */
	put_file(path, two.data, two.len);
	snprintf(want, sizeof want, "%s:2: bad signature (not signed by key %s)", path, ca.id);
	CHECK(psm_revoked_load(&rv, path, &ca_pub, false, &e) < 0 && e.kind == PSM_E_NO &&
	    strcmp(e.msg, want) == 0, "a line of another key: %s", e.msg);
	put_file(path, two.data, two.len - 1);
	CHECK(psm_revoked_load(&rv, path, &ca_pub, false, &e) < 0 && e.kind == PSM_E_DATA,
	    "an unfinished line: %s", e.msg);
	snprintf(path, sizeof path, "%s/no-list", dir);
	if (CHECK(psm_revoked_load(&rv, path, &ca_pub, true, &e) == 0, "missing, allowed: %s", e.msg)) {
		CHECK(!psm_revoked_has(&rv, g.id), "an empty list");
		psm_revoked_free(&rv);
	}
	CHECK(psm_revoked_load(&rv, path, &ca_pub, false, &e) < 0 && e.errnum == ENOENT,
	    "missing, not allowed: %s", e.msg);
	psm_grant_free(&g);
out:
	psm_buf_free(&line);
	psm_buf_free(&two);
}

/* ---- the grants of a stream's sessions ---- */

static const char sid[] = "9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05";

/* Hand an event to the windows: 0 or -1, as the hook returns. */
static int
feed(struct psm_grant_windows *w, struct psm_buf *b, struct psm_error *e)
{
	struct psm_event ev;
	struct psm_error pe;

	b->len--;		/* the newline */
	if (!CHECK(psm_event_parse(&ev, b->data, b->len, &pe) == 0, "%s", pe.msg))
		return -2;
	return psm_grant_windows_event(w, &ev, e);
}

/* A start event at wall time start (microseconds), with a grant line or none. */
static int
start(struct psm_grant_windows *w, int64_t start_usec, const struct psm_buf *grant,
    const char *grant_id, const char *user, struct psm_error *e)
{
	struct psm_buf b = { 0 };
	char when[48];

	psm_rfc3339(when, start_usec / 1000000, (long)(start_usec % 1000000));
	psm_ev_begin(&b, sid, 0, 0, "start");
	psm_ev_u64(&b, "version", 1);
	psm_ev_str(&b, "time", when);
	psm_ev_str(&b, "user", user);
	psm_ev_str(&b, "host", "db1.example.com");
	if (grant != NULL) {
		psm_ev_strn(&b, "grant", grant->data, grant->len);
		psm_ev_str(&b, "grant_id", grant_id);
	}
	psm_ev_end(&b);
	int rc = feed(w, &b, e);
	psm_buf_free(&b);
	return rc;
}

static int
event(struct psm_grant_windows *w, uint64_t seq, uint64_t t, const char *type,
    struct psm_error *e)
{
	struct psm_buf b = { 0 };

	psm_ev_begin(&b, sid, seq, t, type);
	if (strcmp(type, "end") == 0)
		psm_ev_str(&b, "reason", "grant-expired");
	else
		psm_ev_payload(&b, "x", 1);
	psm_ev_end(&b);
	int rc = feed(w, &b, e);
	psm_buf_free(&b);
	return rc;
}

static void
test_windows(void)
{
	struct psm_request r = request();
	struct psm_buf line = { 0 };
	struct psm_grant_windows w;
	struct psm_error e;
	const int64_t s = 1000000, start0 = (T0 + 100) * s;

	/* The grant: T0 to T0 + 900; the session starts at T0 + 100. */
	grant_line(&line, &r, T0, 900, &ca);
	psm_grant_windows_init(&w, &ca_pub);
	CHECK(start(&w, start0, &line, r.id, "dbadmin", &e) == 0, "%s", e.msg);
	CHECK_EQ(w.checked, 1);
	CHECK(event(&w, 1, 0, "out", &e) == 0, "%s", e.msg);
	CHECK(event(&w, 2, 800 * s, "in", &e) == 0, "input at the expiry: %s", e.msg);
	CHECK(event(&w, 3, 800 * s + 1, "in", &e) < 0 && e.kind == PSM_E_NO &&
	    strstr(e.msg, "typed input at 2026-11-30T01:08:20.000001Z, after its grant") != NULL,
	    "input after it: %s", e.msg);
	CHECK(event(&w, 3, 800 * s + 1, "withheld", &e) < 0, "withheld input after it");
	CHECK(event(&w, 3, 810 * s, "out", &e) == 0, "output 10 s after: %s", e.msg);
	CHECK(event(&w, 4, 810 * s + 1, "out", &e) < 0 &&
	    strstr(e.msg, "over 10 s after its grant") != NULL, "11 s after: %s", e.msg);
	CHECK(event(&w, 4, 805 * s, "end", &e) == 0, "the end: %s", e.msg);
	CHECK_EQ(w.open.count, 0);
	CHECK(event(&w, 5, 1, "out", &e) < 0 && strstr(e.msg, "has no grant") != NULL,
	    "a session not open: %s", e.msg);

	/* Started early: 60 s of skew, not 61. */
	CHECK(start(&w, (T0 - 60) * s, &line, r.id, "dbadmin", &e) == 0, "at the skew: %s", e.msg);
	CHECK(start(&w, (T0 - 60) * s - 1, &line, r.id, "dbadmin", &e) < 0 &&
	    strstr(e.msg, "before its grant") != NULL, "before it: %s", e.msg);

	CHECK(start(&w, start0, NULL, NULL, "dbadmin", &e) < 0 &&
	    strcmp(e.msg, "session 9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05 has no grant") == 0,
	    "no grant: %s", e.msg);
	CHECK(start(&w, start0, &line, "00000000-0000-4000-8000-000000000000", "dbadmin", &e) < 0 &&
	    strstr(e.msg, "\"grant_id\"") != NULL, "another id: %s", e.msg);
	CHECK(start(&w, start0, &line, r.id, "alice", &e) < 0 &&
	    strstr(e.msg, "its user is not dbadmin") != NULL, "another user: %s", e.msg);
	psm_grant_windows_free(&w);

	psm_grant_windows_init(&w, &other_pub);
	CHECK(start(&w, start0, &line, r.id, "dbadmin", &e) < 0 && e.kind == PSM_E_NO &&
	    strstr(e.msg, "session 9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05: grant ") == e.msg,
	    "another CA: %s", e.msg);
	psm_grant_windows_free(&w);
	psm_buf_free(&line);
}

/* ---- the tests' issuer ---- */

/* T: seconds since the epoch, or +N / -N from now. */
static int64_t
when(const char *v)
{
	int64_t n = strtoll(v, NULL, 10);

	return v[0] == '+' || v[0] == '-' ? (int64_t)time(NULL) + n : n;
}

static void
load_key(struct psm_seckey *k, const char *path)
{
	struct psm_error e;

	if (psm_seckey_load(k, path, &e) < 0) {
		fprintf(stderr, "test-grant: %s\n", e.msg);
		exit(1);
	}
}

static int
issue(int argc, char **argv)
{
	static char host[PSM_GRANT_HOST_MAX + 1], account[PSM_GRANT_NAME_MAX], id[PSM_SID_LEN + 1];
	struct psm_request r = request();
	struct psm_grant_approver a = { .name = "bob", .key = "0123456789abcdef", .groups = groups };
	struct psm_grant_out g = { .request = &r, .serial = 4242, .approvers = &a, .napprovers = 1,
		.flags = no_flags };
	struct passwd *pw = getpwuid(getuid());
	struct psm_buf out = { 0 };
	struct psm_seckey k;
	bool request_only = strcmp(argv[1], "request") == 0;

	if (!request_only)
		load_key(&k, argv[2]);
	psm_new_sid(id);
	memcpy(r.id, id, sizeof r.id);
	gethostname(host, sizeof host - 1);
	snprintf(account, sizeof account, "%s", pw ? pw->pw_name : "nobody");
	snprintf(r.account, sizeof r.account, "%s", account);
	snprintf(r.user, sizeof r.user, "%s", account);
	snprintf(r.target, sizeof r.target, "%s", host);
	r.time = time(NULL);
	g.issued = r.time;
	g.expires = r.time + 3600;
	for (int i = request_only ? 2 : 3; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *v = eq ? eq + 1 : "";
		size_t n = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
#define IS(name) (n == sizeof name - 1 && strncmp(argv[i], name, n) == 0)
		if (IS("id"))
			snprintf(r.id, sizeof r.id, "%s", v);
		else if (IS("serial"))
			g.serial = strtoull(v, NULL, 10);
		else if (IS("user"))
			snprintf(r.user, sizeof r.user, "%s", v);
		else if (IS("uid"))
			r.uid = strtoull(v, NULL, 10);
		else if (IS("role"))
			snprintf(r.role, sizeof r.role, "%s", v);
		else if (IS("account"))
			snprintf(r.account, sizeof r.account, "%s", v);
		else if (IS("target"))
			snprintf(r.target, sizeof r.target, "%s", v);
		else if (IS("command"))
			r.command = v;
		else if (IS("ttl"))
			r.ttl = strtoull(v, NULL, 10);
		else if (IS("not_before"))
			g.issued = when(v);
		else if (IS("expires"))
			g.expires = when(v);
		else {
			fprintf(stderr, "test-grant: unknown %s\n", argv[i]);
			return 2;
		}
#undef IS
	}
	a.time = g.issued;
	if (request_only)
		psm_request_write(&out, &r);
	else
		psm_grant_write(&out, &g, &k);
	fwrite(out.data, 1, out.len, stdout);
	psm_buf_free(&out);
	if (!request_only)
		psm_seckey_free(&k);
	return 0;
}

static int
revoke_line(int argc, char **argv)
{
	struct psm_grant g = { 0 };
	struct psm_buf out = { 0 };
	struct psm_seckey k;

	load_key(&k, argv[2]);
	snprintf(g.id, sizeof g.id, "%s", argv[3]);
	g.serial = argc > 4 ? strtoull(argv[4], NULL, 10) : 4242;
	psm_revoked_write(&out, &g, time(NULL), "revoked by the tests", &k);
	fwrite(out.data, 1, out.len, stdout);
	psm_buf_free(&out);
	psm_seckey_free(&k);
	return 0;
}

int
main(int argc, char **argv)
{
	struct psm_error e;
	char dir[] = "/tmp/test-grant.XXXXXX";

	if (psm_secret_init(&e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	if (argc >= 3 && strcmp(argv[1], "grant") == 0)
		return issue(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "request") == 0)
		return issue(argc, argv);
	if (argc >= 4 && strcmp(argv[1], "revoke") == 0)
		return revoke_line(argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: test-grant [grant CA.key [NAME=VALUE...] | "
		    "revoke CA.key GRANT-ID [SERIAL] | request [NAME=VALUE...]]\n");
		return 2;
	}
	psm_seckey_generate(&ca, "grant-ca");
	psm_seckey_generate(&other, "other");
	psm_seckey_public(&ca, &ca_pub);
	psm_seckey_public(&other, &other_pub);
	test_times();
	test_grants();
	test_windows();
	if (CHECK(mkdtemp(dir) != NULL, "mkdtemp")) {
		test_files(dir);
		char path[64];
		const char *names[] = { "g", "revoked" };
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	psm_seckey_free(&ca);
	psm_seckey_free(&other);
	return check_done();
}
