/*
 * shipgen: the helpers of bench/ship.sh.
 *
 *     shipgen events N            N events of interleaved sessions on stdout
 *     shipgen relp                octet-counted syslog frames on stdin (RFC 6587
 *                                 "LEN SP MSG", as psm-ship sends them) to one
 *                                 RELP session on stdout: open, a "syslog"
 *                                 command for each message, close
 *     shipgen run RESULT FILE BYTES SECONDS COMMAND...
 *                                 run COMMAND and time it: RESULT gets
 *                                 "WRITTEN EXITED STATUS", microseconds from
 *                                 the start until FILE holds BYTES bytes (0
 *                                 when FILE is "-") and until COMMAND exited,
 *                                 and its exit status (128 + n if killed by
 *                                 signal n); exit 1 when FILE is not that long
 *                                 after SECONDS or COMMAND failed
 *
 * The events: 12 sessions open at a time, their lines interleaved as in
 * one host's stream, each session a start, then typed commands ("in", a
 * key or a line at a time) and their output ("out": ls -l listings, logs,
 * coloured prompts, systemctl, UTF-8), now and then a resize, then an end,
 * and another session in its place. Lines are 95 to 480 bytes, about 225
 * on average. The same bytes on every run (a fixed-seed generator, no
 * clock). A summary goes to stderr.
 *
 * run looks at FILE's size every millisecond (stat(2) only: counting the
 * lines of a file of 45 MB every 50 ms, as tests/rsyslog.bash's
 * rsyslog_count does, takes a third of a core from the receiver on a
 * 2-core machine).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SESSIONS 12

#define SPLITMIX_SEED 0x13198a2e03707344u
#include "splitmix.h"

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

/* ---- events ---------------------------------------------------------- */

struct session {
	char sid[37];
	unsigned long long seq, t, left;	/* left: events before its end */
	unsigned user, host, cols, rows;
	char cwd[64];
};

static const char *const users[] = { "root", "alice", "bob", "deploy", "postgres", "carol" };
static const char *const hosts[] = { "db1", "web-03", "bastion", "build7", "mail" };
static const char *const dirs[] = { "/root", "/var/log", "/etc/nginx", "/srv/app/current",
	"/home/alice", "/var/lib/postgresql/15/main", "/opt/release-2026.12" };
static const char *const commands[] = {
	"ls -la", "sudo systemctl restart nginx", "tail -n 50 /var/log/syslog",
	"journalctl -u postgresql --since today", "cd /srv/app/current && git log --oneline -5",
	"df -h", "ps aux --sort=-%mem | head", "vim /etc/nginx/sites-enabled/default",
	"grep -rn 'timeout' /etc/haproxy/", "kubectl get pods -n payments",
	"cat /etc/passwd | cut -d: -f1", "ss -ltnp", "apt-get install -y htop", "exit",
};
/* Terminal output, as a recorder sees it: \r\n ends lines, ESC starts colours. */
static const char *const outputs[] = {
	"-rw-r--r--  1 root root   4096 Dec  7 09:14 \033[01;34mconf.d\033[0m\r\n",
	"drwxr-xr-x  2 alice staff 12288 Dec  6 17:02 \033[01;34mreleases\033[0m\r\n",
	"-rwxr-x---  1 deploy deploy 88231 Nov 30 23:59 \033[01;32mdeploy.sh\033[0m\r\n",
	"Dec  7 09:14:02 db1 postgres[1187]: LOG:  checkpoint complete: wrote 4112 buffers (25.1%)\r\n",
	"Dec  7 09:14:03 web-03 nginx[902]: 10.0.4.17 - - \"GET /api/v2/orders?page=3 HTTP/1.1\" 200 5123\r\n",
	"\033[0;1;32m\342\227\217\033[0m nginx.service - A high performance web server and a reverse proxy server\r\n",
	"     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; preset: enabled)\r\n",
	"     Active: \033[0;1;32mactive (running)\033[0m since Mon 2026-12-07 09:14:02 UTC; 3s ago\r\n",
	"Filesystem      Size  Used Avail Use% Mounted on\r\n/dev/vda1       252G   17G  223G   8% /\r\n",
	"root        1187  2.1  4.3 2218764 351220 ?     Ssl  Dec06  31:02 /usr/lib/postgresql/15/bin/postgres\r\n",
	"payments-api-7d9c6b5f4-x2kqz   1/1     Running   0          3d4h\r\n",
	"LISTEN 0      4096       127.0.0.1:5432      0.0.0.0:*    users:((\"postgres\",pid=1187,fd=6))\r\n",
	"Setting up htop (3.2.2-2) ...\r\nProcessing triggers for man-db (2.11.2-2) ...\r\n",
	"a3f9e1c Fix retry of the payment webhook (#4312)\r\n",
	"Caf\303\251 M\303\274ller \342\200\224 r\303\251sum\303\251 \342\234\223 \342\200\230quoted\342\200\231\r\n",
	"\033[01;32mroot@db1\033[00m:\033[01;34m/var/log\033[00m# ",
	"\033[?2004h\033[01;32malice@web-03\033[00m:\033[01;34m~\033[00m$ ",
	"\033[H\033[2J\033[3J\033[7mtop - 09:14:02 up 41 days,  2:11,  3 users,  load average: 0.42, 0.37, 0.30\033[m\r\n",
};

static unsigned long long lines, bytes, minlen = ~0ull, maxlen;

/* s as a JSON string's contents (psm-stream(5)'s escaping) into out. */
static size_t
escape(char *out, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': out[o++] = '\\'; out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
		case '\b': out[o++] = '\\'; out[o++] = 'b'; break;
		case '\f': out[o++] = '\\'; out[o++] = 'f'; break;
		case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
		case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
		case '\t': out[o++] = '\\'; out[o++] = 't'; break;
		default:
			if (c < 0x20 || c == 0x7f)
				o += (size_t)sprintf(out + o, "\\u%04x", c);
			else
				out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

static void
emit(const char *line)
{
	size_t n = strlen(line);

	if (fputs(line, stdout) == EOF || putchar('\n') == EOF)
		die("stdout");
	lines++;
	bytes += n + 1;
	if (n < minlen)
		minlen = n;
	if (n > maxlen)
		maxlen = n;
}

static void
new_session(struct session *s, unsigned long long serial)
{
	uint64_t a = rnd64(), b = rnd64();

	snprintf(s->sid, sizeof s->sid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
	    (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, 0x8000 | ((unsigned)(b >> 48) & 0x3fff),
	    (unsigned long long)(b & 0xffffffffffffull));
	s->seq = 0;
	s->t = 0;
	s->left = 20 + rnd(1500);
	s->user = rnd(sizeof users / sizeof users[0]);
	s->host = rnd(sizeof hosts / sizeof hosts[0]);
	s->cols = 80 + 40 * rnd(3);
	s->rows = 24 + 12 * rnd(3);
	snprintf(s->cwd, sizeof s->cwd, "%s", dirs[rnd(sizeof dirs / sizeof dirs[0])]);

	char line[1024];
	unsigned uid = s->user == 0 ? 0 : 1000 + s->user;
	unsigned long long sec = 33000 + serial * 7 % 50000;
	snprintf(line, sizeof line, "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\","
	    "\"version\":1,\"time\":\"2026-12-07T%02llu:%02llu:%02llu.%06uZ\",\"user\":\"%s\","
	    "\"uid\":%u,\"gid\":%u,\"loginuid\":%u,\"host\":\"%s\",\"tty\":\"/dev/pts/%u\","
	    "\"term\":\"xterm-256color\",\"cols\":%u,\"rows\":%u,\"cwd\":\"%s\","
	    "\"argv\":[\"-bash\"],\"mode\":\"pty\",\"input\":true,\"pid\":%u,\"psm\":\"0.1.0\","
	    "\"setuid\":true,\"escrow\":false}",
	    s->sid, sec / 3600 % 24, sec / 60 % 60, sec % 60, rnd(1000000), users[s->user], uid, uid,
	    1000 + s->user, hosts[s->host], rnd(12), s->cols, s->rows, s->cwd, 2000 + rnd(60000));
	emit(line);
	s->seq = 1;
}

/* The next event of s; its end when it has none left. */
static void
next_event(struct session *s)
{
	char data[512], esc[3072], line[4096];
	size_t n = 0;
	const char *type = "out";

	s->t += 200 + rnd(3000000);
	if (s->left-- == 0) {
		snprintf(line, sizeof line, "{\"sid\":\"%s\",\"seq\":%llu,\"t\":%llu,\"type\":\"end\","
		    "\"reason\":\"exit\",\"exit\":%u,\"duration\":%llu}", s->sid, s->seq, s->t,
		    rnd(4) == 0 ? 1u : 0u, s->t + 150);
		emit(line);
		s->seq = 0;	/* over: another takes its place */
		return;
	}
	unsigned k = rnd(100);
	if (k < 2) {
		snprintf(line, sizeof line, "{\"sid\":\"%s\",\"seq\":%llu,\"t\":%llu,\"type\":\"resize\","
		    "\"cols\":%u,\"rows\":%u}", s->sid, s->seq++, s->t, 60 + rnd(200), 20 + rnd(60));
		emit(line);
		return;
	}
	if (k < 30) {	/* typed: a command and its Enter */
		type = "in";
		const char *c = commands[rnd(sizeof commands / sizeof commands[0])];
		n = (size_t)snprintf(data, sizeof data, "%s\r", c);
	} else {	/* output: fragments up to 40 to 200 bytes */
		size_t want = 40 + rnd(160);
		while (n < want) {
			const char *o = outputs[rnd(sizeof outputs / sizeof outputs[0])];
			size_t l = strlen(o);
			if (n + l >= sizeof data)
				break;
			memcpy(data + n, o, l);
			n += l;
		}
	}
	escape(esc, data, n);
	snprintf(line, sizeof line, "{\"sid\":\"%s\",\"seq\":%llu,\"t\":%llu,\"type\":\"%s\","
	    "\"data\":\"%s\"}", s->sid, s->seq++, s->t, type, esc);
	emit(line);
}

static int
events(unsigned long long n)
{
	struct session s[SESSIONS];
	unsigned long long serial = 0, started = 0;

	for (int i = 0; i < SESSIONS; i++)
		s[i].seq = 0;
	while (lines < n) {
		struct session *x = &s[rnd(SESSIONS)];
		if (x->seq == 0) {
			new_session(x, serial++);
			started++;
		} else {
			next_event(x);
		}
	}
	if (fflush(stdout) == EOF)
		die("stdout");
	fprintf(stderr, "shipgen: %llu lines, %llu bytes (%.0f a line, %llu to %llu), %llu sessions\n",
	    lines, bytes, (double)bytes / (double)lines, minlen + 1, maxlen + 1, started);
	return 0;
}

/* ---- RELP ------------------------------------------------------------ */

static int
relp(void)
{
	static const char offers[] = "relp_version=0\nrelp_software=psm-bench\ncommands=syslog";
	unsigned long txnr = 1, msgs = 0;
	static char msg[2 * 1024 * 1024];
	int c;

	printf("%lu open %zu %s\n", txnr++, strlen(offers), offers);
	while ((c = getchar()) != EOF) {
		size_t len = 0;
		for (; c >= '0' && c <= '9'; c = getchar())
			len = len * 10 + (size_t)(c - '0');
		if (c != ' ' || len == 0 || len > sizeof msg) {
			fprintf(stderr, "shipgen relp: frame %lu: not \"LEN SP MSG\"\n", msgs + 1);
			return 1;
		}
		if (fread(msg, 1, len, stdin) != len) {
			fprintf(stderr, "shipgen relp: frame %lu: cut short\n", msgs + 1);
			return 1;
		}
		printf("%lu syslog %zu ", txnr, len);
		fwrite(msg, 1, len, stdout);
		putchar('\n');
		txnr = txnr >= 999999999 ? 1 : txnr + 1;
		msgs++;
	}
	printf("%lu close 0\n", txnr);
	if (fflush(stdout) == EOF)
		die("stdout");
	fprintf(stderr, "shipgen: %lu RELP syslog commands\n", msgs);
	return 0;
}

/* ---- run ------------------------------------------------------------- */

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
run(const char *result, const char *file, unsigned long long want, unsigned secs, char **argv)
{
	const struct timespec ms = { 0, 1000000 };
	uint64_t t0 = now_usec(), written = 0, exited = 0;
	bool is_written = false, has_exited = false;
	int status = -1;
	pid_t pid;
	FILE *f;

	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	bool wait_file = strcmp(file, "-") != 0;
	for (;;) {
		struct stat sb;
		int st;
		uint64_t t = now_usec();

		if (wait_file && !is_written && stat(file, &sb) == 0 &&
		    (unsigned long long)sb.st_size >= want) {
			written = t - t0;
			is_written = true;
		}
		if (!has_exited && waitpid(pid, &st, WNOHANG) == pid) {
			exited = t - t0;
			has_exited = true;
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		if (has_exited && (is_written || !wait_file || status != 0))
			break;
		if (t - t0 > (uint64_t)secs * 1000000) {
			if (!has_exited) {
				kill(pid, SIGTERM);
				waitpid(pid, &st, 0);
				status = 128 + SIGTERM;
				fprintf(stderr, "shipgen run: %s: still running after %u s\n", argv[0], secs);
			}
			break;
		}
		nanosleep(&ms, NULL);
	}
	if ((f = fopen(result, "w")) == NULL)
		die(result);
	fprintf(f, "%llu %llu %d\n", (unsigned long long)written, (unsigned long long)exited, status);
	if (fclose(f) == EOF)
		die(result);
	if (wait_file && !is_written) {
		struct stat sb;
		fprintf(stderr, "shipgen run: %s has %lld bytes of %llu after %u s\n", file,
		    stat(file, &sb) == 0 ? (long long)sb.st_size : -1LL, want, secs);
		return 1;
	}
	return status == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "events") == 0)
		return events(strtoull(argv[2], NULL, 10));
	if (argc == 2 && strcmp(argv[1], "relp") == 0)
		return relp();
	if (argc >= 7 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3], strtoull(argv[4], NULL, 10),
		    (unsigned)strtoul(argv[5], NULL, 10), argv + 6);
	fprintf(stderr, "usage: shipgen events N | shipgen relp | "
	    "shipgen run RESULT FILE BYTES SECONDS COMMAND...\n");
	return 2;
}
