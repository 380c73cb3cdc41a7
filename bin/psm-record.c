/*
 * psm-record: run a command on a pseudo-terminal (or on pipes) and record
 * the session into the psm stream.
 *
 * The library's event loop (lib/loop.c) carries the caller's input to the
 * command and its output back, and this file's callbacks record both;
 * signals arrive in the same loop, so SIGCHLD, SIGWINCH and a request to
 * stop are ordinary events, and the session's deadlines are its timers.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "psm.h"
#include "psm_crypto.h"
#include "psm_grant.h"

#define KILL_GRACE_USEC (5 * UINT64_C(1000000))
#define WARN_BEFORE_USEC (60 * UINT64_C(1000000))
#define DRAIN_QUIET_USEC (200 * UINT64_C(1000))
#define DRAIN_MAX_USEC (2 * UINT64_C(1000000))	/* output after the command ended, at most */
#define EOF_RETRY_USEC (300 * UINT64_C(1000))
#define EOF_SENDS_MAX 5
#define FILTER_WAIT_USEC (10 * UINT64_C(1000000))
#define INPUT_PENDING_MAX (64 * 1024)
#define MASTER_RETRY_USEC (250 * UINT64_C(1000))
#define WITHHOLD_LINE_MAX 1024		/* bytes of one withheld line, at most */
#define REVOKED_CHECK_USEC (1 * UINT64_C(1000000))	/* the revocation list looked at */
#define INPUT_STOP_USEC (1 * UINT64_C(1000000))	/* no typed input taken so close to the expiry */

#define PROMPTS_MAX 32

struct options {
	const char *output;
	const char *escrow;		/* a public key file */
	const char *grant, *ca, *revoked;	/* --grant FILE, its CA's key, the revocation list */
	const char *prompts[PROMPTS_MAX];
	int nprompts;
	bool no_input, no_pty, fail_open, quiet;
	uint64_t max_time;
	char **command;		/* NULL: the user's shell */
	const char *shell_command;	/* -c STRING */
};

/*
 * Output on its way to the caller. While some waits (a slow or
 * non-blocking stdout), the command's output is not read: it waits in
 * the terminal, and the recording never runs ahead of what was shown.
 */
struct shown {
	int fd;			/* STDOUT_FILENO or STDERR_FILENO; -1 once dead */
	struct psm_buf pending;
};

struct session {
	struct options *opt;
	struct psm_rec rec;
	struct psm_loop loop;
	char *path;		/* of the recording */
	bool new_file;		/* a new file (DIR/ or the default): its name is printed */
	struct psm_priv priv;	/* set-user-id: the user's and the recorder's ids */
	pid_t filter_pid;	/* the filter the recording goes into, or 0 */
	int filter_status;
	bool filter_done;
	struct psm_escrow escrow;
	bool escrowing;
	/* --grant: the grant the session runs under, its CA, the revocation list. */
	struct psm_grant grant;
	bool granted;
	struct psm_pubkey ca;
	const char *revoked_path;
	bool revoked_missing_ok;	/* the default list, which need not exist */
	struct psm_revoked revoked;	/* the list as last read well */
	struct stat revoked_seen;	/* the list's file when last looked at (zero: none) */
	bool revoked_said;		/* a list that cannot be read was said */
	int64_t start_usec;		/* the start event's wall-clock time */
	pid_t pid;
	int master;		/* pty mode: the master, else -1 */
	int out, err;		/* where the command's output comes from */
	int in;			/* where its input goes, -1 once closed */
	int stdin_fd;		/* STDIN_FILENO, for the loop */
	bool stdin_open, stdin_tty;
	struct shown show[2];	/* the command's output on our stdout and stderr */
	bool input_seen, input_ended_line, close_in_when_drained;
	enum { WITHHOLD_NONE, WITHHOLD_LINE, WITHHOLD_SPENT } withhold;
	const char *withhold_reason;	/* of the period: "echo-off" or "prompt" */
	size_t withheld_line;		/* bytes withheld of the line so far */
	uint64_t spent_at_line;		/* the output's line count when the line ended */
	bool limit_said;		/* the withhold-limit event of the period */
	uint64_t out_lines;		/* line feeds in the output so far */
	uint64_t period_lines;		/* and when the withholding period began */
	struct psm_buf pending_in;
	struct termios saved;
	struct psm_prompt prompt;	/* password prompts in the output */
	bool raw;
	unsigned short cols, rows;
	/* The loop's timers: monotonic microseconds, 0 for none. */
	uint64_t warn_at, deadline, kill_at;
	const char *deadline_reason;	/* "time-limit" or "grant-expired" */
	uint64_t input_until;		/* the grant's: typed input is taken until then */
	uint64_t revoked_check_at;
	uint64_t master_retry_at;	/* the command closed its terminal: poll again then */
	uint64_t drain_until;		/* the command has ended: its output is over then */
	uint64_t hard_stop_at;		/* the session ends then, whatever still writes */
	uint64_t eof_at;		/* input ended: give the command its end of file */
	uint64_t last_output_at, last_round, stopped_at;
	int eof_sent;
	uint64_t flush_at;		/* of the recording */
	const char *reason;
	int caught;		/* the signal that stopped psm-record, or 0 */
	bool ending, child_done, orphans_gone, record_failed;
	int status;
};

static struct termios *restore_tty;

static void reap_children(struct session *s);
static void window_changed(struct session *s);

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-record --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-record [-o FILE|DIR/|'|COMMAND'] [options] [--] [COMMAND [ARG...] | -c STRING]\n"
	    "Run COMMAND (default: your login shell) on a pseudo-terminal and record\n"
	    "the session as a psm stream.\n\n"
	    "  -o, --output=FILE      append the recording to FILE (DIR/: a new file per\n"
	    "                         session; '|COMMAND': into COMMAND's standard input)\n"
	    "  -c, --command=STRING   run STRING with the session's shell, as a shell's -c does\n"
	    "  -q, --quiet            do not say where the recording goes\n"
	    "      --escrow=PUBKEY    seal withheld input (passwords) to this auditor's key\n"
	    "      --prompt=REGEX     also take output lines matching REGEX as password prompts\n"
	    "      --no-input         do not record typed input\n"
	    "      --no-pty           run COMMAND on pipes; record stdout and stderr apart\n"
	    "      --fail-open        keep the session going when the recording cannot be written\n"
	    "      --max-time=DURATION  end the session after DURATION (90s, 15m, 2h, 1d)\n"
	    "      --grant=FILE       run the session only under the grant in FILE (psm-grant)\n"
	    "      --ca=PUBKEY        the grant CA's public key (default %s/grant-ca.pub)\n"
	    "      --revoked=FILE     the revocation list (default %s/revoked, if it exists)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n\n"
	    "Without -o the recording is a new file in $XDG_STATE_HOME/psm/\n"
	    "(~/.local/state/psm/). Installed set-user-id (make install-hardened), it is\n"
	    "a new file in %s/, fed through %s/record-filter if there is one.\n\n"
	    "Exit status: the command's (128+N if it was killed by signal N); 1 the grant\n"
	    "does not allow the session; 2 usage error; 3 a malformed grant; 4 the\n"
	    "recording could not be written or the session not started.\n",
	    PSM_CONF_DIR, PSM_CONF_DIR, PSM_SPOOL_DIR, PSM_CONF_DIR);
	exit(PSM_EXIT_OK);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_INPUT = 256, OPT_NO_PTY, OPT_FAIL_OPEN, OPT_MAX_TIME, OPT_ESCROW, OPT_PROMPT,
		OPT_GRANT, OPT_CA, OPT_REVOKED };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "command", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "escrow", required_argument, NULL, OPT_ESCROW },
		{ "prompt", required_argument, NULL, OPT_PROMPT },
		{ "no-input", no_argument, NULL, OPT_NO_INPUT },
		{ "no-pty", no_argument, NULL, OPT_NO_PTY },
		{ "fail-open", no_argument, NULL, OPT_FAIL_OPEN },
		{ "max-time", required_argument, NULL, OPT_MAX_TIME },
		{ "grant", required_argument, NULL, OPT_GRANT },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "revoked", required_argument, NULL, OPT_REVOKED },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+o:c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt->output = optarg; break;
		case 'c': opt->shell_command = optarg; break;
		case 'q': opt->quiet = true; break;
		case OPT_ESCROW: opt->escrow = optarg; break;
		case OPT_PROMPT:
			if (opt->nprompts == PROMPTS_MAX) {
				warnx("more than %d --prompt patterns", PROMPTS_MAX);
				usage();
			}
			opt->prompts[opt->nprompts++] = optarg;
			break;
		case OPT_NO_INPUT: opt->no_input = true; break;
		case OPT_NO_PTY: opt->no_pty = true; break;
		case OPT_FAIL_OPEN: opt->fail_open = true; break;
		case OPT_MAX_TIME:
			if (psm_parse_duration(optarg, &opt->max_time) < 0) {
				warnx("invalid duration '%s' (like 90s, 15m, 2h, 1d)", optarg);
				usage();
			}
			break;
		case OPT_GRANT: opt->grant = optarg; break;
		case OPT_CA: opt->ca = optarg; break;
		case OPT_REVOKED: opt->revoked = optarg; break;
		case 'h': help(); break;
		case 'V': printf("psm-record %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	if (optind < argc)
		opt->command = argv + optind;
	if (opt->command != NULL && opt->shell_command != NULL) {
		warnx("-c STRING and a COMMAND exclude each other");
		usage();
	}
	if ((opt->ca != NULL || opt->revoked != NULL) && opt->grant == NULL) {
		warnx("%s goes with --grant", opt->ca != NULL ? "--ca" : "--revoked");
		usage();
	}
}

/*
 * Set-user-id, psm-record takes nothing from its user that would weaken
 * the recording: where it goes, what it leaves out, whether it may fail;
 * nor the keys that say which grants hold (a CA of the user's own, a
 * revocation list that revokes nothing).
 */
static void
refuse_weakening(const struct options *opt)
{
	const char *which = opt->output ? "-o" : opt->no_input ? "--no-input" :
	    opt->fail_open ? "--fail-open" : opt->escrow ? "--escrow" :
	    opt->nprompts > 0 ? "--prompt" :	/* a pattern of the user's hides what it matches */
	    opt->ca ? "--ca" : opt->revoked ? "--revoked" : NULL;

	if (which == NULL)
		return;
	warnx("%s is not allowed in a set-user-id recorder", which);
	usage();
}

/* Whether path is this very program (psm-record as a user's login shell). */
static bool
is_self(const char *path)
{
	struct stat a, b;

	return stat(path, &a) == 0 && stat("/proc/self/exe", &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The shell of the session: the login shell from the password database
 * (not $SHELL: the recorded user sets that). When that is psm-record
 * itself, deployed as the login shell, the session gets bash, or sh.
 */
static const char *
session_shell(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *shell = pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";

	if (is_self(shell))
		shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	return shell;
}

/*
 * With no COMMAND: the string of -c (as a login shell is run by sshd and
 * su), else $SSH_ORIGINAL_COMMAND when sshd runs us as its ForceCommand
 * (so `ssh host cmd` is recorded too), each with the session's shell;
 * else that shell as a login shell.
 */
static char **
command_to_run(const struct options *opt, char **file)
{
	static char *argv[4];
	static char login_name[PATH_MAX];
	const char *shell, *base;
	const char *string = opt->shell_command ? opt->shell_command : getenv("SSH_ORIGINAL_COMMAND");

	if (opt->command != NULL) {
		*file = opt->command[0];
		return opt->command;
	}
	shell = session_shell();
	*file = xstrdup(shell);
	if (string != NULL) {
		argv[0] = *file;
		argv[1] = "-c";
		argv[2] = (char *)string;
		argv[3] = NULL;
		return argv;
	}
	base = strrchr(shell, '/') ? strrchr(shell, '/') + 1 : shell;
	snprintf(login_name, sizeof login_name, "-%s", base);
	argv[0] = login_name;
	argv[1] = NULL;
	return argv;
}

/* mkdir -p, each new directory 0700. */
static void
make_dirs(char *path)
{
	for (char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
		if (p != NULL)
			*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			err(PSM_EXIT_OS, "%s", path);
		if (p == NULL)
			return;
		*p = '/';
	}
}

/*
 * As sshd's ForceCommand, do what sshd would have done: `ssh host cmd`
 * (no -t) gets no terminal, so that binary output, scp and `tar c` work
 * and stdout and stderr stay apart.
 */
static bool
invoked_by_sshd_without_pty(const struct options *opt)
{
	return opt->command == NULL && !isatty(STDIN_FILENO) &&
	    (getenv("SSH_ORIGINAL_COMMAND") != NULL || getenv("SSH_CONNECTION") != NULL);
}

/*
 * The command the session runs, as a grant names it: the words of COMMAND
 * joined with one space, the string of -c, or $SSH_ORIGINAL_COMMAND (what
 * command_to_run() runs); NULL for a login shell.
 */
static char *
session_command(const struct options *opt)
{
	struct psm_buf b = { 0 };
	const char *string = opt->shell_command ? opt->shell_command : getenv("SSH_ORIGINAL_COMMAND");

	if (opt->command == NULL)
		return string != NULL ? xstrdup(string) : NULL;
	for (char **w = opt->command; *w != NULL; w++) {
		if (w != opt->command)
			psm_buf_addc(&b, ' ');
		psm_buf_adds(&b, *w);
	}
	psm_buf_addc(&b, '\0');
	return b.data;
}

static bool
same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * The revocation list read again, st its file as just looked at (NULL:
 * there is none). Set-user-id, the list is CONFDIR's, trusted as the
 * escrow key is. On failure the list read last stays.
 */
static int
read_revoked(struct session *s, const struct stat *st, struct psm_error *e)
{
	struct psm_revoked r;

	if (st == NULL && !s->revoked_missing_ok) {
		errno = ENOENT;
		return psm_fail_errno(e, "%s", s->revoked_path);
	}
	if (st != NULL && s->priv.on && psm_priv_trusted(&s->priv, s->revoked_path, false, e) < 0)
		return -1;
	if (psm_revoked_load(&r, s->revoked_path, &s->ca, s->revoked_missing_ok, e) < 0)
		return -1;
	psm_revoked_free(&s->revoked);
	s->revoked = r;
	return 0;
}

/* Why the grant does not allow this session here and now, or NULL. */
static const char *
grant_refusal(struct session *s, const char *command)
{
	static char why[2 * PSM_GRANT_COMMAND_MAX + 256];
	const struct psm_grant *g = &s->grant;
	struct passwd *pw = getpwuid(getuid());
	char host[PSM_GRANT_HOST_MAX + 2] = "", when[PSM_TIME_LEN + 1], q[PSM_GRANT_COMMAND_MAX + 8];
	const char *outside = psm_grant_outside(g, (int64_t)time(NULL));

	gethostname(host, sizeof host - 1);
	if (psm_revoked_has(&s->revoked, g->id))
		snprintf(why, sizeof why, "grant %s was revoked (%s)", g->id, s->revoked_path);
	else if (outside != NULL && strcmp(outside, "not valid yet") == 0) {
		psm_time_format(when, g->not_before);
		snprintf(why, sizeof why, "grant %s is not valid yet (from %s)", g->id, when);
	} else if (outside != NULL) {
		psm_time_format(when, g->expires);
		snprintf(why, sizeof why, "grant %s expired at %s", g->id, when);
	} else if (pw == NULL || strcmp(pw->pw_name, g->account) != 0) {
		psm_quote(q, sizeof q, pw ? pw->pw_name : "?", pw ? strlen(pw->pw_name) : 1);
		snprintf(why, sizeof why, "grant %s is for the account %s, not %s", g->id, g->account, q);
	} else if (!psm_grant_for_host(g, host)) {
		psm_quote(q, sizeof q, host, strlen(host));
		snprintf(why, sizeof why, "grant %s is for the host %s, not %s", g->id, g->target, q);
	} else if (g->command != NULL && command == NULL) {
		snprintf(why, sizeof why, "grant %s is for the command '%s' only, not a login shell",
		    g->id, g->command);
	} else if (g->command != NULL && strcmp(command, g->command) != 0) {
		psm_quote(q, sizeof q, command, strlen(command));
		snprintf(why, sizeof why, "grant %s is for the command '%s' only, not '%s'", g->id,
		    g->command, q);
	} else {
		return NULL;
	}
	return why;
}

/*
 * --grant FILE: the session runs only under a grant of the CA that holds
 * now, for this user, host and command, and is not revoked. Checked
 * before anything is recorded or run: a refusal is exit 1 and nothing
 * else. Set-user-id, the CA's key and the revocation list are CONFDIR's,
 * trusted as the escrow key is; the grant file is read as the user, whose
 * file it is (its signature is what is trusted).
 */
static void
setup_grant(struct session *s)
{
	static const char hardened_ca[] = PSM_CONF_DIR "/grant-ca.pub";
	static const char default_revoked[] = PSM_CONF_DIR "/revoked";
	const char *file = s->opt->grant, *why;
	struct psm_error e;
	struct stat st;

	if (file == NULL)
		return;
	if (s->priv.on && (psm_priv_trusted(&s->priv, PSM_CONF_DIR, true, &e) < 0 ||
	    psm_priv_trusted(&s->priv, hardened_ca, false, &e) < 0))
		xpsm_die(&e);
	if (psm_pubkey_load(&s->ca, s->opt->ca ? s->opt->ca : hardened_ca, &e) < 0)
		xpsm_die(&e);
	s->revoked_path = s->opt->revoked ? s->opt->revoked : default_revoked;
	s->revoked_missing_ok = s->opt->revoked == NULL;
	psm_table_init(&s->revoked.ids, PSM_SID_LEN + 1);
	bool listed = stat(s->revoked_path, &st) == 0;
	if (!listed && errno != ENOENT)
		err(PSM_EXIT_OS, "%s", s->revoked_path);
	if (read_revoked(s, listed ? &st : NULL, &e) < 0)
		xpsm_die(&e);
	if (listed)
		s->revoked_seen = st;
	psm_priv_files_as_user(&s->priv, true);
	int loaded = psm_grant_load(&s->grant, file, &s->ca, &e);
	psm_priv_files_as_user(&s->priv, false);
	if (loaded < 0)
		xpsm_die(&e);
	s->granted = true;
	char *command = session_command(s->opt);
	why = grant_refusal(s, command);
	free(command);
	if (why != NULL)
		errx(PSM_EXIT_NO, "%s: %s", file, why);
}

/* $XDG_STATE_HOME/psm (or ~/.local/state/psm), made 0700 if need be. */
static char *
default_dir(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	struct passwd *pw = getpwuid(getuid());
	const char *home = pw ? pw->pw_dir : getenv("HOME");
	char path[PATH_MAX];

	if (state != NULL && *state == '/')
		snprintf(path, sizeof path, "%s/psm", state);
	else if (home != NULL && *home == '/')
		snprintf(path, sizeof path, "%s/.local/state/psm", home);
	else
		errx(PSM_EXIT_OS, "no home directory: give -o FILE");
	make_dirs(path);
	return xstrdup(path);
}

static bool
is_directory(const char *path)
{
	struct stat st;
	size_t n = strlen(path);

	return (n > 0 && path[n - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/*
 * A file whose last line is unfinished (a recorder killed mid-write): our
 * events start on a line of their own, and the fragment stays as it was.
 */
static void
start_on_new_line(int fd, const char *path)
{
	struct stat st;
	char last;
	int rd;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return;
	/* Read through a descriptor of its own: the recording's is write-only. */
	if ((rd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return;
	bool unfinished = pread(rd, &last, 1, st.st_size - 1) == 1 && last != '\n';
	close(rd);
	if (!unfinished)
		return;
	struct psm_error e;

	if (psm_write_all(fd, "\n", 1, &e) < 0) {
		psm_error_prefix(&e, "%s", path);
		xpsm_die(&e);
	}
}

static void
xpipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		err(PSM_EXIT_OS, "pipe");
}

/* The name of a new recording: its start time and session id. */
static void
recording_name(char *out, size_t size, const char *sid)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, size, "%s-%s.jsonl", stamp, sid);
}

/*
 * -o FILE appends (created 0600); DIR/ and the default get a new file.
 * Opened without waiting: a FIFO with no reader is an error, not a hang.
 */
static int
open_output(struct session *s, const char *output, const char *sid)
{
	char path[PATH_MAX], name[128];
	char *dir;
	int fd;

	if (output != NULL && !is_directory(output)) {
		fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
		if (fd < 0 && errno == ENXIO)
			errx(PSM_EXIT_OS, "%s: no process reads it", output);
		if (fd < 0)
			err(PSM_EXIT_OS, "%s", output);
		s->path = xstrdup(output);
		start_on_new_line(fd, output);
		return fd;
	}
	dir = output ? xstrdup(output) : default_dir();
	s->new_file = true;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	recording_name(name, sizeof name, sid);
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		errx(PSM_EXIT_OS, "%s: path too long", dir);
	free(dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	s->path = xstrdup(path);
	return fd;
}

/*
 * Set-user-id: a new file in the spool, which must be the recorder's and
 * writable by no one else; opened below the directory's descriptor, no
 * symbolic link followed.
 */
static int
open_spool(struct session *s, const char *sid)
{
	char name[128], path[PATH_MAX];
	struct psm_error e;
	int dir, fd;

	if (psm_priv_trusted(&s->priv, PSM_SPOOL_DIR, true, &e) < 0)
		xpsm_die(&e);
	dir = open(PSM_SPOOL_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		err(PSM_EXIT_OS, "%s", PSM_SPOOL_DIR);
	recording_name(name, sizeof name, sid);
	snprintf(path, sizeof path, "%s/%s", PSM_SPOOL_DIR, name);
	fd = openat(dir, name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	close(dir);
	s->path = xstrdup(path);
	s->new_file = true;
	return fd;
}

/* The filter's environment when set-user-id: nothing of the user's. */
static void
clean_environment(const struct psm_priv *priv, const char *sid)
{
	struct passwd *pw = getpwuid(priv->user);

	clearenv();
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("PSM_SID", sid, 1);
	if (pw != NULL)
		setenv("PSM_USER", pw->pw_name, 1);
}

/*
 * The recording into a filter's standard input (psm-redact, psm-seal): a
 * pipe, and the filter on its other end with out as its standard output
 * (-1: ours). Set-user-id, the filter runs with the recorder's ids alone,
 * so that the recorded user cannot kill it, and with a clean environment.
 */
static int
start_filter(struct session *s, char *const argv[], int out, int errlog, const char *sid)
{
	int p[2];
	struct psm_error e;

	xpipe(p);
	if ((s->filter_pid = fork()) < 0)
		err(PSM_EXIT_OS, "fork");
	if (s->filter_pid == 0) {
		setpgid(0, 0);	/* the caller's terminal signals are not its own */
		signal(SIGPIPE, SIG_DFL);
		dup2(p[0], STDIN_FILENO);
		if (out >= 0)
			dup2(out, STDOUT_FILENO);
		if (errlog >= 0)
			dup2(errlog, STDERR_FILENO);
		if (psm_priv_become_recorder(&s->priv, &e) < 0) {
			dprintf(STDERR_FILENO, "psm-record: %s\n", e.msg);
			_exit(126);
		}
		if (s->priv.on)
			clean_environment(&s->priv, sid);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "psm-record: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[0]);
	if (out >= 0)
		close(out);
	if (errlog >= 0)
		close(errlog);
	return p[1];
}

/* -o '|COMMAND': the shell runs COMMAND with the recording as its input. */
static int
open_pipeline(struct session *s, const char *command, const char *sid)
{
	char *argv[] = { "/bin/sh", "-c", (char *)command + 1, NULL };

	s->path = xstrdup(command);
	return start_filter(s, argv, -1, -1, sid);
}

/*
 * Set-user-id: the spool file, through CONFDIR/record-filter when there
 * is one (trusted as the spool is); its messages go to filter.log there.
 */
static int
open_hardened(struct session *s, const char *sid)
{
	static char filter[] = PSM_CONF_DIR "/record-filter";
	char *argv[] = { filter, NULL };
	struct psm_error e;
	int fd = open_spool(s, sid);

	if (psm_priv_trusted(&s->priv, filter, false, &e) < 0) {
		if (e.errnum == ENOENT)
			return fd;
		xpsm_die(&e);
	}
	if (psm_priv_trusted(&s->priv, PSM_CONF_DIR, true, &e) < 0)
		xpsm_die(&e);
	int log = open(PSM_SPOOL_DIR "/filter.log", O_WRONLY | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
	return start_filter(s, argv, fd, log, sid);
}

static void
restore_terminal(void)
{
	if (restore_tty != NULL)
		tcsetattr(STDIN_FILENO, TCSADRAIN, restore_tty);
}

/* The caller's window size, from whichever of stdin, stdout, stderr is a tty. */
static bool
caller_winsize(struct winsize *ws)
{
	for (int fd = 0; fd <= 2; fd++)
		if (ioctl(fd, TIOCGWINSZ, ws) == 0 && ws->ws_col > 0)
			return true;
	return false;
}

/* A message on the caller's terminal, which may be in raw mode. */
static void
say(struct session *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "%spsm-record: %s%s", s->raw ? "\r\n" : "",
	    msg, s->raw ? "\r\n" : "\n");
}

static void
record_start(struct session *s, char **argv)
{
	struct psm_buf *b = psm_rec_begin(&s->rec, "start");
	struct timespec wall;
	char when[48], host[256] = "", cwd[PATH_MAX];
	struct passwd *pw = getpwuid(getuid());
	char *tty = ttyname(STDIN_FILENO);
	const char *term = getenv("TERM");
	FILE *f;
	unsigned long loginuid = 4294967295UL;

	clock_gettime(CLOCK_REALTIME, &wall);
	psm_rfc3339(when, wall.tv_sec, wall.tv_nsec / 1000);
	s->start_usec = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
	gethostname(host, sizeof host - 1);
	if ((f = fopen("/proc/self/loginuid", "re")) != NULL) {
		if (fscanf(f, "%lu", &loginuid) != 1)
			loginuid = 4294967295UL;
		fclose(f);
	}
	psm_ev_u64(b, "version", PSM_FORMAT_VERSION);
	psm_ev_str(b, "time", when);
	if (pw != NULL)
		psm_ev_str(b, "user", pw->pw_name);
	else
		psm_ev_null(b, "user");
	psm_ev_u64(b, "uid", getuid());
	psm_ev_u64(b, "gid", getgid());
	if (loginuid != 4294967295UL)
		psm_ev_u64(b, "loginuid", loginuid);
	else
		psm_ev_null(b, "loginuid");
	psm_ev_str(b, "host", host);
	if (tty != NULL)
		psm_ev_str(b, "tty", tty);
	else
		psm_ev_null(b, "tty");
	if (term != NULL)
		psm_ev_str(b, "term", term);
	else
		psm_ev_null(b, "term");
	psm_ev_u64(b, "cols", s->cols);
	psm_ev_u64(b, "rows", s->rows);
	if (getcwd(cwd, sizeof cwd) != NULL)
		psm_ev_str(b, "cwd", cwd);
	else
		psm_ev_null(b, "cwd");
	psm_ev_strv(b, "argv", argv);
	psm_ev_str(b, "mode", s->opt->no_pty ? "pipes" : "pty");
	psm_ev_bool(b, "input", !s->opt->no_input);
	psm_ev_u64(b, "pid", (uint64_t)getpid());
	psm_ev_str(b, "psm", PSM_VERSION);
	psm_ev_bool(b, "setuid", s->priv.on);
	psm_ev_bool(b, "escrow", s->rec.escrow != NULL);
	if (s->granted) {
		psm_ev_strn(b, "grant", s->grant.line, s->grant.len);
		psm_ev_str(b, "grant_id", s->grant.id);
	}
	psm_rec_end_event(&s->rec);
}

static void
exec_command(struct session *s, const char *file, char **argv)
{
	struct psm_error e;
	sigset_t none;

	if (psm_priv_become_user(&s->priv, &e) < 0) {
		dprintf(STDERR_FILENO, "psm-record: %s\n", e.msg);
		_exit(126);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	execvp(file, argv);
	int errnum = errno;
	dprintf(STDERR_FILENO, "psm-record: %s: %s\n", file, strerror(errnum));
	_exit(errnum == ENOENT ? 127 : 126);
}

/* The command on a new pseudo-terminal, as the leader of its own session. */
static void
spawn_pty(struct session *s, const char *file, char **argv)
{
	char name[64];
	int slave;
	struct winsize ws = { .ws_col = s->cols, .ws_row = s->rows };

	struct psm_error e;

	psm_priv_files_as_user(&s->priv, true);	/* the terminal is the user's */
	int opened = psm_pty_open(&s->master, &slave, name, sizeof name, &e);
	psm_priv_files_as_user(&s->priv, false);
	if (opened < 0)
		xpsm_die(&e);
	if (s->stdin_tty)
		tcsetattr(slave, TCSANOW, &s->saved);
	ioctl(slave, TIOCSWINSZ, &ws);
	s->pid = fork();
	if (s->pid < 0)
		err(PSM_EXIT_OS, "fork");
	if (s->pid == 0) {
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, STDIN_FILENO);
		dup2(slave, STDOUT_FILENO);
		dup2(slave, STDERR_FILENO);
		exec_command(s, file, argv);
	}
	close(slave);
	fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK);
	s->out = s->in = s->master;
	s->err = -1;
}

/* --no-pty: the command on three pipes, in a process group of its own. */
static void
spawn_pipes(struct session *s, const char *file, char **argv)
{
	int in[2], out[2], er[2];

	xpipe(in);
	xpipe(out);
	xpipe(er);
	s->pid = fork();
	if (s->pid < 0)
		err(PSM_EXIT_OS, "fork");
	if (s->pid == 0) {
		setpgid(0, 0);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(er[1], STDERR_FILENO);
		exec_command(s, file, argv);
	}
	setpgid(s->pid, s->pid);
	close(in[0]);
	close(out[1]);
	close(er[1]);
	s->in = in[1];
	s->out = out[0];
	s->err = er[0];
	fcntl(s->in, F_SETFL, fcntl(s->in, F_GETFL) | O_NONBLOCK);
	fcntl(s->out, F_SETFL, fcntl(s->out, F_GETFL) | O_NONBLOCK);
	fcntl(s->err, F_SETFL, fcntl(s->err, F_GETFL) | O_NONBLOCK);
}

/*
 * Ask the session to end: sig (and SIGCONT, for stopped jobs) to its
 * process group, the terminal's foreground group and every process below
 * psm-record (the child subreaper), so that a process that left the
 * session (setsid, a double fork) is asked too.
 */
static void
hang_up(struct session *s, int sig)
{
	if (s->child_done && s->orphans_gone)
		return;
	pid_t fg = s->master >= 0 ? tcgetpgrp(s->master) : -1;
	if (!s->child_done) {
		kill(-s->pid, sig);
		kill(-s->pid, SIGCONT);
	}
	if (fg > 0 && fg != s->pid) {
		kill(-fg, sig);
		kill(-fg, SIGCONT);
	}
	psm_proc_signal_below(getpid(), sig);
	psm_proc_signal_below(getpid(), SIGCONT);
}

static void
end_session(struct session *s, const char *reason, int sig)
{
	if (s->ending)
		return;
	s->ending = true;
	s->reason = reason;
	hang_up(s, sig);
	s->kill_at = psm_mono_usec() + KILL_GRACE_USEC;
}

/*
 * A timer: the grace time after the hang-up is over. Everything below
 * psm-record is killed, again until nothing is left (a process may fork
 * between two passes); then the session ends whatever still writes to
 * its terminal (a process of other ids, that psm-record may not kill,
 * gets the terminal's hang-up).
 */
static void
kill_session(void *ctx)
{
	struct session *s = ctx;

	s->kill_at = 0;
	pid_t fg = s->master >= 0 ? tcgetpgrp(s->master) : -1;
	if (!s->child_done)
		kill(-s->pid, SIGKILL);
	if (fg > 0 && fg != s->pid)
		kill(-fg, SIGKILL);
	for (int pass = 0; pass < 16 && psm_proc_signal_below(getpid(), SIGKILL) > 0; pass++)
		reap_children(s);
	s->hard_stop_at = psm_mono_usec() + DRAIN_QUIET_USEC;
}

/* Fail-closed: a session that cannot be recorded does not go on. */
static void
recording_failed(struct session *s, const struct psm_error *e)
{
	if (s->opt->fail_open) {
		if (!s->record_failed)
			say(s, "%s: recording suspended (--fail-open)", e->msg);
		s->record_failed = true;
		return;
	}
	if (s->record_failed)
		return;
	s->record_failed = true;
	say(s, "%s: ending the session", e->msg);
	s->stdin_open = false;	/* no more input to a session that is not recorded */
	s->pending_in.len = 0;
	end_session(s, "record-failed", SIGHUP);
}

/* Canonical mode with echo off: a password prompt (getpass, sudo, read -s). */
static bool
echo_off(struct session *s)
{
	struct termios t;

	return s->master >= 0 && tcgetattr(s->master, &t) == 0 &&
	    !(t.c_lflag & ECHO) && (t.c_lflag & ICANON);
}

/* Input reached its end: the command gets an end of file, not a hang-up. */
static void
input_ended(struct session *s)
{
	s->stdin_open = false;
	if (s->opt->no_pty) {
		s->close_in_when_drained = true;
		return;
	}
	if (!s->stdin_tty)
		s->eof_at = psm_mono_usec();	/* send_eof(), once the input before it is written */
}

/*
 * A timer: the end of input without a terminal, as the end-of-file key.
 * The terminal's mode is read when the key is sent, not when input ended:
 * a shell switches between canonical mode (its commands) and raw mode
 * (readline). A key sent while the terminal is canonical but read after
 * the switch reaches readline as a NUL byte; so while the command runs on
 * in raw mode, quiet, the key is sent again, a few times.
 */
static void
send_eof(void *ctx)
{
	struct session *s = ctx;
	struct termios t;
	uint64_t now = psm_mono_usec();

	s->eof_at = 0;
	if (s->child_done || s->master < 0 || s->eof_sent >= EOF_SENDS_MAX ||
	    tcgetattr(s->master, &t) < 0)
		return;
	bool canonical = t.c_lflag & ICANON;
	bool waited = s->pending_in.len > 0 || (s->eof_sent > 0 &&
	    (canonical || now - s->last_output_at < EOF_RETRY_USEC));
	if (!waited) {
		char eof = t.c_cc[VEOF] != _POSIX_VDISABLE ? (char)t.c_cc[VEOF] : 0x04;
		/* A partial line needs one VEOF to be read and a second to be an EOF. */
		if (s->eof_sent == 0 && canonical && s->input_seen && !s->input_ended_line)
			psm_buf_addc(&s->pending_in, eof);
		psm_buf_addc(&s->pending_in, eof);
		s->eof_sent++;
	}
	s->eof_at = now + EOF_RETRY_USEC;
}

/*
 * What ends a line typed at a prompt: Enter (CR in raw mode, LF once
 * translated), and the end-of-file and interrupt keys, which also end it.
 */
static bool
ends_typed_line(char c)
{
	return c == '\r' || c == '\n' || c == 0x04 || c == 0x03;
}

/* Why typed input would be withheld now: echo off, or a password prompt on the screen. */
static const char *
withhold_cause(struct session *s)
{
	if (echo_off(s))
		return "echo-off";
	if (psm_prompt_active(&s->prompt))
		return "prompt";
	return NULL;
}

/*
 * Start, go on with or end a withholding period. A period withholds one
 * line: a user who turns echo off for good (stty -echo; exec sh) or fakes
 * a prompt hides one line, not a session. A new password prompt on a new
 * line (sudo's "Sorry, try again.") starts a new period.
 */
static void
update_withhold_period(struct session *s, const char *cause)
{
	/* Typing at a prompt that has scrolled away, until the program ends the line. */
	bool typing_at_prompt = s->withhold == WITHHOLD_LINE &&
	    strcmp(s->withhold_reason, "prompt") == 0 && s->out_lines == s->period_lines;

	if (cause == NULL && !typing_at_prompt) {
		s->withhold = WITHHOLD_NONE;
		return;
	}
	if (s->withhold == WITHHOLD_SPENT && psm_prompt_active(&s->prompt) &&
	    s->out_lines != s->spent_at_line)
		s->withhold = WITHHOLD_NONE;
	if (s->withhold != WITHHOLD_NONE)
		return;
	s->withhold = WITHHOLD_LINE;
	s->withhold_reason = cause;
	s->period_lines = s->out_lines;
	s->withheld_line = 0;
	s->limit_said = false;
}

/* How many of the first bytes typed are withheld: at most one line of a period. */
static size_t
withheld_part(struct session *s, const char *buf, size_t n)
{
	size_t i = 0;

	update_withhold_period(s, withhold_cause(s));
	if (s->withhold != WITHHOLD_LINE)
		return 0;
	while (i < n && s->withheld_line < WITHHOLD_LINE_MAX) {
		s->withheld_line++;
		if (ends_typed_line(buf[i++])) {
			s->withhold = WITHHOLD_SPENT;
			s->spent_at_line = s->out_lines;
			return i;
		}
	}
	if (s->withheld_line >= WITHHOLD_LINE_MAX)
		s->withhold = WITHHOLD_SPENT;
	return i;
}

/* Input typed during a withholding period but past its one line: recorded, and said once. */
static void
record_past_limit(struct session *s)
{
	struct psm_buf *b;

	if (s->withhold != WITHHOLD_SPENT || s->limit_said)
		return;
	s->limit_said = true;
	if ((b = psm_rec_begin(&s->rec, "withhold-limit")) == NULL)
		return;
	psm_ev_str(b, "stream", "in");
	psm_ev_str(b, "reason", s->withhold_reason);
	psm_ev_str(b, "limit", s->withheld_line >= WITHHOLD_LINE_MAX ? "line-too-long" : "one-line");
	psm_rec_end_event(&s->rec);
}

/*
 * Record before forward: typed input is in the recording (its write has
 * returned) before the command can read it. Returns -1 when it could not
 * be recorded: then it never reaches the command (unless --fail-open).
 */
static int
record_input(struct session *s, const char *buf, size_t n)
{
	struct psm_error e;
	size_t held = withheld_part(s, buf, n);

	if (held > 0)
		psm_rec_withhold(&s->rec, buf, held, s->withhold_reason);
	if (held < n) {
		record_past_limit(s);
		psm_rec_data(&s->rec, PSM_IN, buf + held, n - held);
	}
	if (psm_rec_flush(&s->rec, &e) == 0)
		return 0;
	recording_failed(s, &e);
	return s->opt->fail_open ? 0 : -1;
}

/*
 * The loop's callbacks for descriptors get the events that came (POLLIN,
 * POLLOUT, POLLHUP, POLLERR), but read() and write() tell them apart.
 */
static void stop_input(void *ctx);

static void
read_input(void *ctx, int fd, short revents)
{
	struct session *s = ctx;
	char buf[16384];

	(void)revents;
	if (s->input_until && psm_mono_usec() >= s->input_until) {
		stop_input(s);		/* its timer is due: nothing more is read */
		return;
	}
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		input_ended(s);
		return;
	}
	if (!s->opt->no_input && record_input(s, buf, (size_t)n) < 0) {
		explicit_bzero(buf, (size_t)n);
		return;
	}
	s->input_seen = true;
	s->input_ended_line = buf[n - 1] == '\n' || buf[n - 1] == '\r';
	psm_buf_add(&s->pending_in, buf, (size_t)n);
	explicit_bzero(buf, (size_t)n);
}

static short
want_input(void *ctx)
{
	struct session *s = ctx;

	return s->stdin_open && s->pending_in.len < INPUT_PENDING_MAX ? POLLIN : 0;
}

static void
write_input(void *ctx, int fd, short revents)
{
	struct session *s = ctx;
	ssize_t n = write(fd, s->pending_in.data, s->pending_in.len);

	(void)revents;
	if (n > 0)
		psm_buf_consume(&s->pending_in, (size_t)n);
	else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		s->pending_in.len = 0;	/* the command stopped reading */
		s->close_in_when_drained = s->opt->no_pty;
	}
	if (s->close_in_when_drained && s->pending_in.len == 0 && s->in >= 0) {
		close(s->in);
		s->in = -1;
	}
}

static short
want_write(void *ctx)
{
	struct session *s = ctx;

	return s->pending_in.len > 0 || s->close_in_when_drained ? POLLOUT : 0;
}

/* The caller's output is gone (`psm-record ... | head -1`): the session ends, as a pipeline would. */
static void
output_closed(struct session *s, struct shown *o)
{
	o->fd = -1;
	o->pending.len = 0;
	end_session(s, "output-closed", SIGHUP);
}

/* Show what waits; a write that would block is tried again when the loop says so. */
static void
write_shown(void *ctx, int fd, short revents)
{
	struct session *s = ctx;
	struct shown *o = fd == s->show[1].fd ? &s->show[1] : &s->show[0];

	(void)revents;
	while (o->pending.len > 0) {
		ssize_t w = write(o->fd, o->pending.data, o->pending.len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			output_closed(s, o);
			return;
		}
		psm_buf_consume(&o->pending, (size_t)w);
	}
}

static short
want_shown(void *ctx, const struct shown *o)
{
	(void)ctx;
	return o->fd >= 0 && o->pending.len > 0 ? POLLOUT : 0;
}

static short want_stdout(void *ctx) { return want_shown(ctx, &((struct session *)ctx)->show[0]); }
static short want_stderr(void *ctx) { return want_shown(ctx, &((struct session *)ctx)->show[1]); }

/* The command's output is read only when what came before it has been shown. */
static short
want_output(void *ctx)
{
	struct session *s = ctx;

	return s->show[0].pending.len == 0 && s->show[1].pending.len == 0 ? POLLIN : 0;
}

/* Output of the command (stream PSM_OUT or PSM_ERR): record it, show it. */
static void
read_output(void *ctx, int polled, short revents)
{
	static char buf[PSM_PAYLOAD_MAX];
	struct session *s = ctx;
	int *fd = polled == s->err ? &s->err : &s->out;
	int stream = fd == &s->err ? PSM_ERR : PSM_OUT;
	ssize_t n = read(*fd, buf, sizeof buf);

	(void)revents;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 && *fd == s->master && !s->child_done) {
		/*
		 * EIO: the command closed the terminal but runs on. Closing the
		 * master would hang it up, so look again later instead.
		 */
		*fd = -1;
		s->master_retry_at = psm_mono_usec() + MASTER_RETRY_USEC;
		return;
	}
	if (n <= 0) {		/* end of file on a pipe, or the last EIO */
		close(*fd);
		if (*fd == s->master)
			s->master = s->in = -1;
		*fd = -1;
		return;
	}
	s->last_output_at = psm_mono_usec();
	psm_rec_data(&s->rec, stream, buf, (size_t)n);
	psm_prompt_output(&s->prompt, buf, (size_t)n);
	s->out_lines = psm_prompt_lines(&s->prompt);
	struct shown *o = &s->show[stream == PSM_ERR];
	if (o->fd >= 0) {
		psm_buf_add(&o->pending, buf, (size_t)n);
		write_shown(s, o->fd, POLLOUT);
	}
	if (s->child_done)
		s->drain_until = psm_mono_usec() + DRAIN_QUIET_USEC;
}

/* A timer: read the terminal again, someone may have reopened it. */
static void
master_retry(void *ctx)
{
	struct session *s = ctx;

	s->master_retry_at = 0;
	s->out = s->master;
}

static void
window_changed(struct session *s)
{
	struct winsize ws;
	struct psm_buf *b;

	if (!caller_winsize(&ws) || (ws.ws_col == s->cols && ws.ws_row == s->rows))
		return;
	s->cols = ws.ws_col;
	s->rows = ws.ws_row;
	if (s->master >= 0)
		ioctl(s->master, TIOCSWINSZ, &ws);
	if ((b = psm_rec_begin(&s->rec, "resize")) == NULL)
		return;
	psm_ev_u64(b, "cols", s->cols);
	psm_ev_u64(b, "rows", s->rows);
	psm_rec_end_event(&s->rec);
}

/* Wait for every child that ended: the command, and orphans given to us as subreaper. */
static void
reap_children(struct session *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->filter_pid) {
			s->filter_done = true;
			s->filter_status = status;
		}
		if (pid != s->pid || s->child_done)
			continue;
		s->child_done = true;
		s->status = status;
		uint64_t now = psm_mono_usec();
		s->drain_until = now + DRAIN_QUIET_USEC;
		if (!s->hard_stop_at)
			s->hard_stop_at = now + DRAIN_MAX_USEC;
		if (s->opt->no_pty)
			s->close_in_when_drained = true;
		if (s->master_retry_at)		/* its last output may wait there */
			master_retry(s);
	}
	if (pid < 0 && errno == ECHILD)
		s->orphans_gone = true;
}

/* A stop that psm-record saw coming (SIGTSTP): the terminal back as it was, then stop. */
static void
suspend(struct session *s, int signo)
{
	struct psm_buf *b;
	struct psm_error e;

	if ((b = psm_rec_begin(&s->rec, "suspend")) != NULL) {
		psm_ev_u64(b, "signal", (uint64_t)signo);
		psm_rec_end_event(&s->rec);
	}
	if (psm_rec_flush(&s->rec, &e) < 0)
		recording_failed(s, &e);
	restore_terminal();
	s->stopped_at = psm_mono_usec();
	raise(SIGSTOP);
}

/*
 * Continued after a stop (SIGTSTP and fg, or a SIGSTOP that could not be
 * caught): raw mode again, and an event that says for how long psm-record
 * had not run (an upper bound of the stop when it was SIGSTOP).
 */
static void
resume(struct session *s)
{
	struct psm_buf *b;
	struct termios raw = s->saved;
	uint64_t since = s->stopped_at ? s->stopped_at : s->last_round;

	if (s->raw) {
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	if ((b = psm_rec_begin(&s->rec, "resume")) != NULL) {
		psm_ev_u64(b, "signal", SIGCONT);
		psm_ev_u64(b, "idle", psm_mono_usec() - since);
		psm_rec_end_event(&s->rec);
	}
	s->stopped_at = 0;
	if (!s->opt->no_pty)
		window_changed(s);
}

static void
on_signal(void *ctx, int signo)
{
	struct session *s = ctx;

	switch (signo) {
	case SIGCHLD:
		reap_children(s);
		break;
	case SIGTSTP:
		suspend(s, signo);
		break;
	case SIGCONT:
		resume(s);
		break;
	case SIGWINCH:		/* only a terminal session has a window */
		if (!s->opt->no_pty)
			window_changed(s);
		break;
	default:	/* SIGHUP, SIGINT, SIGQUIT, SIGTERM */
		if (s->ending)
			break;
		s->caught = signo;
		/* --no-pty passes the signal on; a terminal session is hung up. */
		end_session(s, "signal", s->opt->no_pty ? signo : SIGHUP);
		break;
	}
}

static bool
grant_deadline(const struct session *s)
{
	return strcmp(s->deadline_reason, "grant-expired") == 0;
}

static void
warn_time_limit(void *ctx)
{
	struct session *s = ctx;
	uint64_t now = psm_mono_usec();
	unsigned long long left = s->deadline > now ? (s->deadline - now + 999999) / 1000000 : 0;

	s->warn_at = 0;
	say(s, "the session ends in %llu second%s (%s)", left, left == 1 ? "" : "s",
	    grant_deadline(s) ? "the grant expires" : "time limit");
}

/*
 * A timer, and read_input() when it is due: the grant is about to expire,
 * typed input is no longer taken, so that none is recorded after the
 * expiry (psm-verify --ca); a character cut by the last read is recorded
 * now. What was read before goes on to the command.
 */
static void
stop_input(void *ctx)
{
	struct session *s = ctx;

	s->input_until = 0;
	s->stdin_open = false;
	if (s->rec.ncarry[PSM_IN] > 0)
		psm_rec_drain_carry(&s->rec);
}

/* The grant no longer holds: no more input, and the session ends. */
static void
end_granted(struct session *s, const char *reason)
{
	stop_input(s);
	if (s->pending_in.len > 0)
		explicit_bzero(s->pending_in.data, s->pending_in.len);
	s->pending_in.len = 0;
	s->revoked_check_at = 0;
	end_session(s, reason, SIGHUP);
}

static void
time_limit(void *ctx)
{
	struct session *s = ctx;

	s->deadline = 0;
	if (!grant_deadline(s)) {
		end_session(s, "time-limit", SIGHUP);
		return;
	}
	say(s, "grant %s has expired: the session ends", s->grant.id);
	end_granted(s, "grant-expired");
}

/*
 * A timer, every second under a grant: the revocation list read again when
 * its file changed (another file, size or time); a list that cannot be read
 * is said once, and the one read last stays. A revoked grant ends the
 * session.
 */
static void
check_revoked(void *ctx)
{
	struct session *s = ctx;
	struct stat st;
	struct psm_error e;

	s->revoked_check_at = psm_mono_usec() + REVOKED_CHECK_USEC;
	bool listed = stat(s->revoked_path, &st) == 0;
	int errnum = listed ? 0 : errno;
	if (!listed)
		memset(&st, 0, sizeof st);
	if (same_file_state(&st, &s->revoked_seen))
		return;
	s->revoked_seen = st;
	if (!listed && errnum != ENOENT) {
		errno = errnum;
		psm_fail_errno(&e, "%s", s->revoked_path);
	} else if (read_revoked(s, listed ? &st : NULL, &e) == 0) {
		s->revoked_said = false;
		if (psm_revoked_has(&s->revoked, s->grant.id)) {
			say(s, "grant %s was revoked: the session ends", s->grant.id);
			end_granted(s, "revoked");
		}
		return;
	}
	if (!s->revoked_said)
		say(s, "%s; the revocation list read before stays in force", e.msg);
	s->revoked_said = true;
}

/* The end of each round. */
static void
flush_if_due(void *ctx)
{
	struct session *s = ctx;
	bool was_failing = psm_rec_failing(&s->rec);
	struct psm_error e;

	/* psm-record ran now, unless it was stopped and a SIGCONT waits: the stop has not been seen yet. */
	sigset_t pending;
	if (sigpending(&pending) == 0 && !sigismember(&pending, SIGCONT))
		s->last_round = psm_mono_usec();

	if (psm_rec_tick(&s->rec, &e) < 0)
		recording_failed(s, &e);
	else if (was_failing && !psm_rec_failing(&s->rec) && s->opt->fail_open) {
		say(s, "%s: recording resumed", s->path);
		s->record_failed = false;
	}
	s->flush_at = psm_rec_due(&s->rec);
}

static bool
finished(void *ctx)
{
	struct session *s = ctx;

	if (!s->child_done)
		return false;
	uint64_t now = psm_mono_usec();
	if (s->hard_stop_at && now >= s->hard_stop_at)
		return true;		/* output that goes on without the command */
	if (s->show[0].pending.len > 0 || s->show[1].pending.len > 0)
		return false;
	if (s->out < 0 && s->err < 0)
		return true;
	return now >= s->drain_until;
}

/*
 * The loop serves its sources in this order each round: the command's
 * output, its stderr (--no-pty), the caller's input, the writes to the
 * command, one signal, the timers that are due, the flush. The signals
 * are blocked from here on (the command gets them unblocked), before
 * the command starts, so that none is lost.
 */
static void
setup_loop(struct session *s)
{
	struct psm_loop *l = &s->loop;
	struct psm_error e;
	sigset_t set;

	psm_loop_init(l);
	psm_loop_add_fd(l, &s->out, want_output, read_output, s);
	psm_loop_add_fd(l, &s->err, want_output, read_output, s);
	psm_loop_add_fd(l, &s->show[0].fd, want_stdout, write_shown, s);
	psm_loop_add_fd(l, &s->show[1].fd, want_stderr, write_shown, s);
	psm_loop_add_fd(l, &s->stdin_fd, want_input, read_input, s);
	psm_loop_add_fd(l, &s->in, want_write, write_input, s);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGTSTP);
	sigaddset(&set, SIGCONT);
	if (psm_loop_signals(l, &set, on_signal, s, &e) < 0)
		xpsm_die(&e);
	signal(SIGPIPE, SIG_IGN);	/* a dead reader is an EPIPE, not a death */
	psm_loop_add_timer(l, &s->warn_at, warn_time_limit, s);
	psm_loop_add_timer(l, &s->deadline, time_limit, s);
	psm_loop_add_timer(l, &s->kill_at, kill_session, s);
	psm_loop_add_timer(l, &s->master_retry_at, master_retry, s);
	psm_loop_add_timer(l, &s->drain_until, NULL, s);	/* for finished() */
	psm_loop_add_timer(l, &s->hard_stop_at, NULL, s);
	psm_loop_add_timer(l, &s->eof_at, send_eof, s);
	psm_loop_add_timer(l, &s->input_until, stop_input, s);
	psm_loop_add_timer(l, &s->revoked_check_at, check_revoked, s);
	s->flush_at = psm_rec_due(&s->rec);	/* then flush_if_due() keeps it */
	psm_loop_add_timer(l, &s->flush_at, NULL, s);
	psm_loop_add_after(l, flush_if_due, s);
}

/*
 * The session's end: --max-time from the start, or the grant's expiry,
 * whichever comes first; a warning 60 seconds before (at once when less is
 * left). The expiry is on the wall clock of the start event, and its
 * deadline in the time of the events, t: no event of a session that ends at
 * the expiry says it was later than that, and typed input stops a second
 * before.
 */
static void
set_deadline(struct session *s)
{
	uint64_t t0 = psm_rec_t0(&s->rec);

	if (s->opt->max_time)
		s->deadline = t0 + s->opt->max_time;
	if (s->granted) {
		int64_t left = s->grant.expires * 1000000 - s->start_usec;
		uint64_t at = t0 + (left > 0 ? (uint64_t)left : 0);
		if (s->deadline == 0 || at < s->deadline) {
			s->deadline = at;
			s->deadline_reason = "grant-expired";
			s->input_until = at - t0 > INPUT_STOP_USEC ? at - INPUT_STOP_USEC : t0;
		}
		s->revoked_check_at = psm_mono_usec() + REVOKED_CHECK_USEC;
	}
	if (s->deadline)
		s->warn_at = s->deadline - t0 > WARN_BEFORE_USEC ? s->deadline - WARN_BEFORE_USEC : t0;
}

static int
exit_status(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void
record_end(struct session *s)
{
	struct psm_buf *b;
	struct psm_error e;

	psm_rec_drain_carry(&s->rec);
	if (psm_rec_failing(&s->rec) && psm_rec_flush(&s->rec, &e) < 0)
		return;
	if ((b = psm_rec_begin(&s->rec, "end")) == NULL)
		return;
	psm_ev_str(b, "reason", s->reason);
	psm_ev_u64(b, "exit", (uint64_t)exit_status(s->status));
	if (WIFSIGNALED(s->status))
		psm_ev_u64(b, "signal", (uint64_t)WTERMSIG(s->status));
	if (s->caught)
		psm_ev_u64(b, "caught", (uint64_t)s->caught);
	psm_ev_u64(b, "duration", psm_rec_now(&s->rec));
	psm_rec_end_event(&s->rec);
	if (psm_rec_flush(&s->rec, &e) < 0 && !s->record_failed)
		recording_failed(s, &e);
}

static void
enter_raw_mode(struct session *s)
{
	struct termios raw = s->saved;

	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
		err(PSM_EXIT_OS, "cannot set the terminal to raw mode");
	restore_tty = &s->saved;
	atexit(restore_terminal);
	s->raw = true;
}

static void
init_session(struct session *s, struct options *opt)
{
	struct winsize ws;

	memset(s, 0, sizeof *s);
	s->opt = opt;
	psm_priv_init(&s->priv);
	s->master = s->in = s->out = s->err = -1;
	s->stdin_fd = STDIN_FILENO;
	s->stdin_open = true;
	s->show[0].fd = STDOUT_FILENO;
	s->show[1].fd = STDERR_FILENO;
	s->reason = "exit";
	s->deadline_reason = "time-limit";
	s->stdin_tty = tcgetattr(STDIN_FILENO, &s->saved) == 0;
	s->cols = 80;
	s->rows = 24;
	if (caller_winsize(&ws)) {
		s->cols = ws.ws_col;
		s->rows = ws.ws_row;
	}
}

/* The record's escrow callback: withheld bytes sealed into their event. */
static void
escrow_withheld(void *ctx, struct psm_buf *ev, const void *p, size_t n)
{
	const struct psm_escrow *x = ctx;
	unsigned char box[PSM_REC_HELD_MAX + PSM_ESCROW_OVERHEAD];
	char b64[((sizeof box + 2) / 3) * 4 + 1];

	psm_escrow_seal(x, box, p, n);
	size_t len = psm_b64_encode(b64, box, n + PSM_ESCROW_OVERHEAD);
	psm_ev_str(ev, "escrow_key", x->id);
	psm_ev_strn(ev, "escrow", b64, len);
}

/* --escrow PUBKEY, or set-user-id CONFDIR/escrow.pub when there is one. */
static void
setup_escrow(struct session *s, const char *path)
{
	static const char hardened_key[] = PSM_CONF_DIR "/escrow.pub";
	struct psm_pubkey k;
	struct psm_error e;

	if (path == NULL && s->priv.on) {
		if (psm_priv_trusted(&s->priv, hardened_key, false, &e) < 0) {
			if (e.errnum == ENOENT)
				return;
			xpsm_die(&e);
		}
		path = hardened_key;
	}
	if (path == NULL)
		return;
	if (psm_pubkey_load(&k, path, &e) < 0 || psm_escrow_init(&s->escrow, &k, &e) < 0)
		xpsm_die(&e);
	s->escrowing = true;
}

/* Where the recording goes: a file, a new file in a directory, a pipeline or the spool. */
static int
open_recording(struct session *s, const char *sid)
{
	const char *o = s->opt->output;

	if (s->priv.on)
		return open_hardened(s, sid);
	if (o != NULL && o[0] == '|')
		return open_pipeline(s, o, sid);
	return open_output(s, o, sid);
}

/* After the last event: the filter has all of the recording when psm-record returns. */
static void
wait_for_filter(struct session *s)
{
	uint64_t deadline = psm_mono_usec() + FILTER_WAIT_USEC;
	int status;

	if (s->filter_pid <= 0)
		return;
	while (!s->filter_done && psm_mono_usec() < deadline) {
		pid_t pid = waitpid(s->filter_pid, &status, WNOHANG);
		if (pid == s->filter_pid) {
			s->filter_done = true;
			s->filter_status = status;
		} else {
			usleep(10000);
		}
	}
	if (!s->filter_done)
		say(s, "%s: the filter has not ended; not waiting for it", s->path);
	else if (s->filter_status != 0)
		say(s, "%s: the filter failed (status %d)", s->path, exit_status(s->filter_status));
	if (!s->filter_done || s->filter_status != 0)
		s->record_failed = true;
}

static void
prepare_prompts(struct session *s)
{
	struct psm_error e;

	if (psm_prompt_init(&s->prompt, &e) < 0)
		xpsm_die(&e);
	for (int i = 0; i < s->opt->nprompts; i++)
		if (psm_prompt_add(&s->prompt, s->opt->prompts[i], &e) < 0) {
			warnx("%s", e.msg);
			usage();
		}
}

static void
end_program(struct session *s, struct options *opt)
{
	psm_loop_free(&s->loop);
	psm_rec_free(&s->rec);
	psm_prompt_free(&s->prompt);
	psm_buf_free(&s->pending_in);
	psm_buf_free(&s->show[0].pending);
	psm_buf_free(&s->show[1].pending);
	free(s->path);
	if (s->granted) {
		psm_grant_free(&s->grant);
		psm_revoked_free(&s->revoked);
	}
	(void)opt;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct session s;
	char *file, **cmd, sid[PSM_SID_LEN + 1];
	struct psm_error e;
	int fd;

	init_session(&s, &opt);
	if (psm_priv_sanitize(&s.priv, &e) < 0)
		xpsm_die(&e);
	parse_options(argc, argv, &opt);
	if (s.priv.on)
		refuse_weakening(&opt);
	prepare_prompts(&s);
	cmd = command_to_run(&opt, &file);
	if (invoked_by_sshd_without_pty(&opt))
		opt.no_pty = true;
	setup_grant(&s);		/* a session the grant does not allow leaves nothing */
	setup_escrow(&s, opt.escrow);	/* a bad key leaves no recording behind */
	psm_new_sid(sid);
	signal(SIGPIPE, SIG_IGN);	/* a filter gone at once is an EPIPE, not a death */
	fd = open_recording(&s, sid);
	if (psm_rec_init(&s.rec, fd, s.path, sid, opt.fail_open, &e) < 0)
		xpsm_die(&e);
	if (s.escrowing)
		psm_rec_set_escrow(&s.rec, escrow_withheld, &s.escrow);
	record_start(&s, opt.command ? opt.command : cmd);
	if (psm_rec_flush(&s.rec, &e) < 0 && !opt.fail_open)
		errx(PSM_EXIT_OS, "%s: the session was not started", e.msg);
	if (!opt.quiet && isatty(STDERR_FILENO))
		say(&s, "recording to %s", s.path);	/* the user is told, before anything runs */
	setenv("PSM_SID", sid, 1);
	setup_loop(&s);
	set_deadline(&s);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		err(PSM_EXIT_OS, "cannot become the session's subreaper");
	if (opt.no_pty)
		spawn_pipes(&s, file, cmd);
	else
		spawn_pty(&s, file, cmd);
	if (psm_priv_split(&s.priv, &e) < 0) {
		kill(-s.pid, SIGKILL);
		xpsm_die(&e);
	}
	if (!opt.no_pty && s.stdin_tty)
		enter_raw_mode(&s);
	if (psm_loop_run(&s.loop, finished, &s, &e) < 0)
		xpsm_die(&e);
	if (s.ending)		/* ended by psm-record: nothing of the session outlives it */
		kill_session(&s);
	record_end(&s);
	restore_terminal();
	restore_tty = NULL;
	close(s.rec.fd);
	wait_for_filter(&s);
	/* Not into the output of `ssh host cmd` and the like, unless asked for no -o. */
	if (s.new_file && !opt.quiet && (isatty(STDERR_FILENO) || (opt.output == NULL && !s.priv.on)))
		fprintf(stderr, "psm-record: recorded in %s\n", s.path);
	end_program(&s, &opt);
	if (opt.command == NULL)
		free(file);
	if (s.record_failed && !opt.fail_open)
		return PSM_EXIT_OS;
	return exit_status(s.status);
}
