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
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "psm.h"

#define KILL_GRACE_USEC (5 * UINT64_C(1000000))
#define WARN_BEFORE_USEC (60 * UINT64_C(1000000))
#define DRAIN_QUIET_USEC (200 * UINT64_C(1000))
#define INPUT_PENDING_MAX (64 * 1024)
#define MASTER_RETRY_USEC (250 * UINT64_C(1000))

struct options {
	const char *output;
	bool no_input, no_pty, fail_open;
	uint64_t max_time;
	char **command;		/* NULL: the user's shell */
	const char *shell_command;	/* -c STRING */
};

struct session {
	struct options *opt;
	struct psm_rec rec;
	struct psm_loop loop;
	char *path;		/* of the recording */
	bool default_path;	/* print it at the end */
	pid_t pid;
	int master;		/* pty mode: the master, else -1 */
	int out, err;		/* where the command's output comes from */
	int in;			/* where its input goes, -1 once closed */
	int stdin_fd;		/* STDIN_FILENO, for the loop */
	bool stdin_open, stdin_tty, stdout_ok;
	bool input_seen, input_ended_line, close_in_when_drained;
	struct psm_buf pending_in;
	struct termios saved;
	bool raw;
	unsigned short cols, rows;
	/* The loop's timers: monotonic microseconds, 0 for none. */
	uint64_t warn_at, deadline, kill_at;
	uint64_t master_retry_at;	/* the command closed its terminal: poll again then */
	uint64_t drain_until;		/* the command has ended: its output is over then */
	uint64_t flush_at;		/* of the recording */
	const char *reason;
	int caught;		/* the signal that stopped psm-record, or 0 */
	bool ending, child_done, record_failed;
	int status;
};

static struct termios *restore_tty;

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-record --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-record [-o FILE|DIR/] [options] [--] [COMMAND [ARG...] | -c STRING]\n"
	    "Run COMMAND (default: your login shell) on a pseudo-terminal and record\n"
	    "the session as a psm stream.\n\n"
	    "  -o, --output=FILE      append the recording to FILE (DIR/: a new file per session)\n"
	    "  -c, --command=STRING   run STRING with the session's shell, as a shell's -c does\n"
	    "      --no-input         do not record typed input\n"
	    "      --no-pty           run COMMAND on pipes; record stdout and stderr apart\n"
	    "      --fail-open        keep the session going when the recording cannot be written\n"
	    "      --max-time=DURATION  end the session after DURATION (90s, 15m, 2h, 1d)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
	exit(PSM_EXIT_OK);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_INPUT = 256, OPT_NO_PTY, OPT_FAIL_OPEN, OPT_MAX_TIME };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "command", required_argument, NULL, 'c' },
		{ "no-input", no_argument, NULL, OPT_NO_INPUT },
		{ "no-pty", no_argument, NULL, OPT_NO_PTY },
		{ "fail-open", no_argument, NULL, OPT_FAIL_OPEN },
		{ "max-time", required_argument, NULL, OPT_MAX_TIME },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "+o:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt->output = optarg; break;
		case 'c': opt->shell_command = optarg; break;
		case OPT_NO_INPUT: opt->no_input = true; break;
		case OPT_NO_PTY: opt->no_pty = true; break;
		case OPT_FAIL_OPEN: opt->fail_open = true; break;
		case OPT_MAX_TIME:
			if (psm_parse_duration(optarg, &opt->max_time) < 0) {
				warnx("invalid duration '%s' (like 90s, 15m, 2h, 1d)", optarg);
				usage();
			}
			break;
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

/* -o FILE appends (created 0600); DIR/ and the default get a new file. */
static int
open_output(struct session *s, const char *output, const char *sid)
{
	char path[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	char *dir;
	int fd;

	if (output != NULL && !is_directory(output)) {
		fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0)
			err(PSM_EXIT_OS, "%s", output);
		s->path = xstrdup(output);
		start_on_new_line(fd, output);
		return fd;
	}
	dir = output ? xstrdup(output) : default_dir();
	s->default_path = output == NULL;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	if (snprintf(path, sizeof path, "%s/%s-%s.jsonl", dir, stamp, sid) >= (int)sizeof path)
		errx(PSM_EXIT_OS, "%s: path too long", dir);
	free(dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	s->path = xstrdup(path);
	return fd;
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
	psm_rec_end_event(&s->rec);
}

static void
exec_command(const char *file, char **argv)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execvp(file, argv);
	int e = errno;
	dprintf(STDERR_FILENO, "psm-record: %s: %s\n", file, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* The command on a new pseudo-terminal, as the leader of its own session. */
static void
spawn_pty(struct session *s, const char *file, char **argv)
{
	char name[64];
	int slave;
	struct winsize ws = { .ws_col = s->cols, .ws_row = s->rows };

	struct psm_error e;

	if (psm_pty_open(&s->master, &slave, name, sizeof name, &e) < 0)
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
		exec_command(file, argv);
	}
	close(slave);
	fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK);
	s->out = s->in = s->master;
	s->err = -1;
}

static void
xpipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		err(PSM_EXIT_OS, "pipe");
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
		exec_command(file, argv);
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

/* Ask the session to end: SIGHUP (and SIGCONT, for stopped jobs) to it. */
static void
hang_up(struct session *s, int sig)
{
	if (s->child_done)
		return;
	pid_t fg = s->master >= 0 ? tcgetpgrp(s->master) : -1;
	kill(-s->pid, sig);
	kill(-s->pid, SIGCONT);
	if (fg > 0 && fg != s->pid) {
		kill(-fg, sig);
		kill(-fg, SIGCONT);
	}
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

/* A timer: the grace time after the hang-up is over. */
static void
kill_session(void *ctx)
{
	struct session *s = ctx;

	s->kill_at = 0;
	if (s->child_done)
		return;
	pid_t fg = s->master >= 0 ? tcgetpgrp(s->master) : -1;
	kill(-s->pid, SIGKILL);
	if (fg > 0 && fg != s->pid)
		kill(-fg, SIGKILL);
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
	struct termios t;

	s->stdin_open = false;
	if (s->opt->no_pty) {
		s->close_in_when_drained = true;
		return;
	}
	if (s->stdin_tty || tcgetattr(s->master, &t) < 0 || !(t.c_lflag & ICANON))
		return;
	/* A partial line needs one VEOF to be read and a second to be an EOF. */
	if (s->input_seen && !s->input_ended_line)
		psm_buf_addc(&s->pending_in, (char)t.c_cc[VEOF]);
	psm_buf_addc(&s->pending_in, (char)t.c_cc[VEOF]);
}

/*
 * The loop's callbacks for descriptors get the events that came (POLLIN,
 * POLLOUT, POLLHUP, POLLERR), but read() and write() tell them apart.
 */
static void
read_input(void *ctx, int fd, short revents)
{
	struct session *s = ctx;
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof buf);

	(void)revents;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		input_ended(s);
		return;
	}
	if (!s->opt->no_input) {
		if (echo_off(s))
			psm_rec_withhold(&s->rec, (size_t)n);
		else
			psm_rec_data(&s->rec, PSM_IN, buf, (size_t)n);
	}
	s->input_seen = true;
	s->input_ended_line = buf[n - 1] == '\n' || buf[n - 1] == '\r';
	psm_buf_add(&s->pending_in, buf, (size_t)n);
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

/* Output of the command (stream PSM_OUT or PSM_ERR): show it, record it. */
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
	int to = stream == PSM_ERR ? STDERR_FILENO : STDOUT_FILENO;
	struct psm_error e;

	if (s->stdout_ok && psm_write_all(to, buf, (size_t)n, &e) < 0)
		s->stdout_ok = false;	/* keep recording what no one sees */
	psm_rec_data(&s->rec, stream, buf, (size_t)n);
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

static void
child_exited(struct session *s)
{
	int status;

	if (s->child_done || waitpid(s->pid, &status, WNOHANG) != s->pid)
		return;
	s->child_done = true;
	s->status = status;
	s->drain_until = psm_mono_usec() + DRAIN_QUIET_USEC;
	if (s->opt->no_pty)
		s->close_in_when_drained = true;
	if (s->master_retry_at)		/* its last output may wait there */
		master_retry(s);
}

static void
on_signal(void *ctx, int signo)
{
	struct session *s = ctx;

	switch (signo) {
	case SIGCHLD:
		child_exited(s);
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

static void
warn_time_limit(void *ctx)
{
	struct session *s = ctx;
	unsigned long long left = (s->deadline - psm_mono_usec() + 999999) / 1000000;

	s->warn_at = 0;
	say(s, "the session ends in %llu second%s (time limit)", left, left == 1 ? "" : "s");
}

static void
time_limit(void *ctx)
{
	struct session *s = ctx;

	s->deadline = 0;
	end_session(s, "time-limit", SIGHUP);
}

/* The end of each round. */
static void
flush_if_due(void *ctx)
{
	struct session *s = ctx;
	bool was_failing = psm_rec_failing(&s->rec);
	struct psm_error e;

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
	if (s->out < 0 && s->err < 0)
		return true;
	return psm_mono_usec() >= s->drain_until;
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
	psm_loop_add_fd(l, &s->out, NULL, read_output, s);
	psm_loop_add_fd(l, &s->err, NULL, read_output, s);
	psm_loop_add_fd(l, &s->stdin_fd, want_input, read_input, s);
	psm_loop_add_fd(l, &s->in, want_write, write_input, s);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGTERM);
	if (psm_loop_signals(l, &set, on_signal, s, &e) < 0)
		xpsm_die(&e);
	signal(SIGPIPE, SIG_IGN);	/* a dead reader is an EPIPE, not a death */
	psm_loop_add_timer(l, &s->warn_at, warn_time_limit, s);
	psm_loop_add_timer(l, &s->deadline, time_limit, s);
	psm_loop_add_timer(l, &s->kill_at, kill_session, s);
	psm_loop_add_timer(l, &s->master_retry_at, master_retry, s);
	psm_loop_add_timer(l, &s->drain_until, NULL, s);	/* for finished() */
	s->flush_at = psm_rec_due(&s->rec);	/* then flush_if_due() keeps it */
	psm_loop_add_timer(l, &s->flush_at, NULL, s);
	psm_loop_add_after(l, flush_if_due, s);
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
	s->master = s->in = s->out = s->err = -1;
	s->stdin_fd = STDIN_FILENO;
	s->stdin_open = true;
	s->stdout_ok = true;
	s->reason = "exit";
	s->stdin_tty = tcgetattr(STDIN_FILENO, &s->saved) == 0;
	s->cols = 80;
	s->rows = 24;
	if (caller_winsize(&ws)) {
		s->cols = ws.ws_col;
		s->rows = ws.ws_row;
	}
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct session s;
	char *file, **cmd, sid[PSM_SID_LEN + 1];
	struct psm_error e;
	int fd;

	parse_options(argc, argv, &opt);
	cmd = command_to_run(&opt, &file);
	if (invoked_by_sshd_without_pty(&opt))
		opt.no_pty = true;
	init_session(&s, &opt);
	psm_new_sid(sid);
	fd = open_output(&s, opt.output, sid);
	if (psm_rec_init(&s.rec, fd, s.path, sid, opt.fail_open, &e) < 0)
		xpsm_die(&e);
	record_start(&s, opt.command ? opt.command : cmd);
	if (psm_rec_flush(&s.rec, &e) < 0 && !opt.fail_open)
		errx(PSM_EXIT_OS, "%s: the session was not started", e.msg);
	setenv("PSM_SID", sid, 1);
	setup_loop(&s);
	if (opt.max_time) {
		s.deadline = psm_rec_t0(&s.rec) + opt.max_time;
		s.warn_at = opt.max_time > WARN_BEFORE_USEC ?
		    s.deadline - WARN_BEFORE_USEC : psm_rec_t0(&s.rec);
	}
	if (opt.no_pty) {
		spawn_pipes(&s, file, cmd);
	} else {
		spawn_pty(&s, file, cmd);
		if (s.stdin_tty)
			enter_raw_mode(&s);
	}
	if (psm_loop_run(&s.loop, finished, &s, &e) < 0)
		xpsm_die(&e);
	record_end(&s);
	restore_terminal();
	restore_tty = NULL;
	if (s.default_path)
		fprintf(stderr, "psm-record: recorded in %s\n", s.path);
	psm_loop_free(&s.loop);
	psm_rec_free(&s.rec);
	psm_buf_free(&s.pending_in);
	free(s.path);
	if (opt.command == NULL)
		free(file);
	if (s.record_failed && !opt.fail_open)
		return PSM_EXIT_OS;
	return exit_status(s.status);
}
