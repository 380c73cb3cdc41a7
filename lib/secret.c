/*
 * secret.c: what every holder of a secret shares: libsodium's start, the
 * protection of the process (no core dump, no ptrace by others), sodium
 * memory, and the one place a passphrase is read: the file that
 * PSM_PASSPHRASE_FILE names, or the terminal with echo off.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"

/* Room for one byte more than the longest passphrase (to see that it is
 * too long) and the NUL. */
#define PASS_BUF (PSM_PASSPHRASE_MAX + 2)

/* sodium_init() may be called any number of times; everything that uses
 * libsodium calls this first. */
int
psm_secret_init(struct psm_error *e)
{
	if (sodium_init() < 0)
		return psm_fail(e, PSM_E_OS, "libsodium cannot be initialised");
	return 0;
}

/* For commands that hold a secret, before they read one. */
int
psm_secret_protect_process(struct psm_error *e)
{
	static const struct rlimit none = { 0, 0 };

	if (psm_secret_init(e) < 0)
		return -1;
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return psm_fail_errno(e, "setrlimit(RLIMIT_CORE)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return psm_fail_errno(e, "prctl(PR_SET_DUMPABLE)");
	return 0;
}

/* Guarded, locked memory for secrets (free with sodium_free, which wipes
 * it). Out of memory ends the process, as xmalloc does. */
void *
xsodium_malloc(size_t n)
{
	void *p;

	if (sodium_init() < 0)
		errx(PSM_EXIT_OS, "libsodium cannot be initialised");
	if ((p = sodium_malloc(n)) == NULL)
		err(PSM_EXIT_OS, "sodium_malloc");
	return p;
}

/*
 * One line of fd into buf (PASS_BUF bytes), without its newline and a
 * carriage return before it. A line over PSM_PASSPHRASE_MAX bytes is
 * read to its end and refused: a passphrase is never cut. what names the
 * source in messages (NULL for the terminal).
 */
static int
read_line(int fd, char *buf, size_t *len, const char *what, struct psm_error *e)
{
	size_t n = 0;
	bool over = false;
	char c = 0;
	int rc = 0;

	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = psm_fail_errno(e, "%s", what ? what : "/dev/tty");
			break;
		}
		if (r == 0 || c == '\n')
			break;
		if (n < PASS_BUF - 1)
			buf[n++] = c;
		else
			over = true;
	}
	sodium_memzero(&c, sizeof c);
	if (rc == 0 && !over && n > 0 && buf[n - 1] == '\r')
		n--;
	if (rc == 0 && (over || n > PSM_PASSPHRASE_MAX))
		rc = psm_fail(e, PSM_E_USAGE, "%s%sthe passphrase is longer than %d bytes",
		    what ? what : "", what ? ": " : "", PSM_PASSPHRASE_MAX);
	if (rc < 0) {
		sodium_memzero(buf, PASS_BUF);
		return -1;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int
from_file(const char *file, char *buf, size_t *len, struct psm_error *e)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return psm_fail_errno(e, "%s", file);
	if (fstat(fd, &st) < 0)
		rc = psm_fail_errno(e, "%s", file);
	else if (st.st_mode & 077)
		rc = psm_fail(e, PSM_E_OS, "%s: passphrase file is readable by others (chmod 600 %s)",
		    file, file);
	else
		rc = read_line(fd, buf, len, file, e);
	close(fd);
	return rc;
}

/*
 * The terminal's settings while echo is off, for a signal that comes
 * then: the handler puts them back and dies of the signal.
 */
static const int caught[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
static struct sigaction caught_saved[sizeof caught / sizeof caught[0]];
static int echo_fd = -1;
static struct termios echo_saved;

static void
restore_echo_and_die(int sig)
{
	tcsetattr(echo_fd, TCSAFLUSH, &echo_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Prompt on the terminal fd and read a line with echo off. */
static int
ask(int fd, const char *prompt, char *buf, size_t *len, struct psm_error *e)
{
	struct termios quiet;
	struct sigaction sa;
	int rc;

	if (write(fd, prompt, strlen(prompt)) < 0)
		return psm_fail_errno(e, "/dev/tty");
	if (tcgetattr(fd, &echo_saved) < 0)
		return psm_fail_errno(e, "/dev/tty");
	echo_fd = fd;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = restore_echo_and_die;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
		sigaction(caught[i], &sa, &caught_saved[i]);
	quiet = echo_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		rc = psm_fail_errno(e, "/dev/tty: cannot turn echo off");
	else
		rc = read_line(fd, buf, len, NULL, e);
	tcsetattr(fd, TCSAFLUSH, &echo_saved);
	for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
		sigaction(caught[i], &caught_saved[i], NULL);
	echo_fd = -1;
	return rc;
}

/* From the terminal; with confirm, a second time to compare (not for an
 * empty one, which the caller refuses or takes as it is). */
static int
from_tty(const char *prompt, const char *confirm, char *buf, size_t *len,
    struct psm_error *e)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return psm_fail(e, PSM_E_OS,
		    "no terminal to ask for the passphrase: set PSM_PASSPHRASE_FILE");
	rc = ask(fd, prompt, buf, len, e);
	if (rc == 0 && confirm != NULL && *len > 0) {
		char *again = xsodium_malloc(PASS_BUF);
		size_t n;

		rc = ask(fd, confirm, again, &n, e);
		if (rc == 0 && (n != *len || sodium_memcmp(buf, again, n) != 0))
			rc = psm_fail(e, PSM_E_USAGE, "the passphrases differ");
		sodium_free(again);
	}
	close(fd);
	return rc;
}

/*
 * The passphrase: the first line of the file PSM_PASSPHRASE_FILE names
 * (for scripts: it must not be readable by group or others), else asked
 * on the terminal with prompt, and again with confirm when that is not
 * NULL. At most PSM_PASSPHRASE_MAX bytes: a longer one is refused
 * (PSM_E_USAGE), never cut. On success *pass is sodium memory holding
 * *len bytes and a NUL; free it with sodium_free().
 */
int
psm_passphrase_read(char **pass, size_t *len, const char *prompt, const char *confirm,
    struct psm_error *e)
{
	const char *file = getenv("PSM_PASSPHRASE_FILE");
	char *buf;
	int rc;

	*pass = NULL;
	*len = 0;
	if (psm_secret_init(e) < 0)
		return -1;
	buf = xsodium_malloc(PASS_BUF);
	if (file != NULL && *file != '\0')
		rc = from_file(file, buf, len, e);
	else
		rc = from_tty(prompt, confirm, buf, len, e);
	if (rc < 0) {
		sodium_free(buf);
		*len = 0;
		return -1;
	}
	*pass = buf;
	return 0;
}
