/*
 * psm-keygen: make an Ed25519 key pair for psm-seal: BASE.key (secret,
 * 0600, passphrase-protected unless --no-passphrase) and BASE.pub.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "psm_crypto.h"

#define KEY_TEXT_MAX 1024

struct options {
	const char *base;
	const char *name;
	bool no_passphrase;
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-keygen --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-keygen -o BASE [--id NAME] [--no-passphrase]\n"
	    "Make a signing key pair for psm-seal: BASE.key (secret) and BASE.pub.\n\n"
	    "  -o, --output=BASE      write BASE.key and BASE.pub (never overwritten)\n"
	    "  -n, --id=NAME          a name for the key, written into BASE.pub\n"
	    "      --no-passphrase    leave BASE.key unencrypted (for unattended sealing)\n"
	    "  -h, --help             show this help and exit\n"
	    "  -V, --version          show the version and exit\n");
	exit(PSM_EXIT_OK);
}

static void
parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_NO_PASSPHRASE = 256 };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "id", required_argument, NULL, 'n' },
		{ "no-passphrase", no_argument, NULL, OPT_NO_PASSPHRASE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:n:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt->base = optarg; break;
		case 'n': opt->name = optarg; break;
		case OPT_NO_PASSPHRASE: opt->no_passphrase = true; break;
		case 'h': help(); break;
		case 'V': printf("psm-keygen %s\n", PSM_VERSION); exit(PSM_EXIT_OK);
		default: usage();
		}
	}
	if (optind < argc) {
		warnx("unexpected argument '%s'", argv[optind]);
		usage();
	}
	if (opt->base == NULL || *opt->base == '\0') {
		warnx("-o BASE is required");
		usage();
	}
	if (opt->name != NULL && !psm_key_name_valid(opt->name)) {
		warnx("invalid key name '%s' (letters, digits and ._@:+- only)", opt->name);
		usage();
	}
}

/* The passphrase of a new key: asked twice on a terminal, once from
 * PSM_PASSPHRASE_FILE; never empty. */
static size_t
new_passphrase(char **pass)
{
	struct psm_error e;
	size_t n;

	if (psm_passphrase_read(pass, &n, "New passphrase: ", "Same passphrase again: ", &e) < 0)
		xpsm_die(&e);
	if (n == 0) {
		sodium_free(*pass);
		errx(PSM_EXIT_USAGE, "empty passphrase (use --no-passphrase for an unencrypted key)");
	}
	return n;
}

static const char *keypath_to_remove;

static void
remove_unpublished_key(void)
{
	if (keypath_to_remove != NULL)
		unlink(keypath_to_remove);
}

/* Write, fsync and close fd; on failure unlink path: -1 with errno. */
static int
write_file(int fd, const char *path, const char *text, size_t n)
{
	struct psm_error we;

	if (psm_write_all(fd, text, n, &we) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;
		unlink(path);
		errno = e;
		return -1;
	}
	return 0;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* BASE.pub: written to a temporary name, then linked into place (never over a file). */
static void
publish(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		errx(PSM_EXIT_USAGE, "%s: name too long", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		err(PSM_EXIT_OS, "%s", tmp);
	fchmod(fd, 0644);
	if (write_file(fd, tmp, text, strlen(text)) < 0)
		err(PSM_EXIT_OS, "%s", tmp);
	if (link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		err(PSM_EXIT_OS, "%s", path);
	}
	unlink(tmp);
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct psm_seckey k;
	struct psm_pubkey pub;
	char keypath[PATH_MAX], pubpath[PATH_MAX], publine[256];
	char *pass = NULL, *text;
	size_t passlen = 0, n;
	struct psm_error e;
	int fd, rc;

	parse_options(argc, argv, &opt);
	if (psm_secret_protect_process(&e) < 0)
		xpsm_die(&e);
	atexit(remove_unpublished_key);
	if (snprintf(keypath, sizeof keypath, "%s.key", opt.base) >= (int)sizeof keypath ||
	    snprintf(pubpath, sizeof pubpath, "%s.pub", opt.base) >= (int)sizeof pubpath)
		errx(PSM_EXIT_USAGE, "%s: name too long", opt.base);
	/* lstat: a dangling symbolic link is in the way too. */
	if (exists(keypath) || exists(pubpath))
		errx(PSM_EXIT_OS, "%s: %s", exists(keypath) ? keypath : pubpath, strerror(EEXIST));
	if (!opt.no_passphrase)
		passlen = new_passphrase(&pass);
	psm_seckey_generate(&k, opt.name);
	text = xsodium_malloc(KEY_TEXT_MAX);
	rc = psm_seckey_format(text, KEY_TEXT_MAX, &k, pass, passlen, &n, &e);
	sodium_free(pass);
	psm_seckey_public(&k, &pub);
	psm_seckey_free(&k);
	if (rc < 0) {
		sodium_free(text);
		xpsm_die(&e);
	}
	fd = open(keypath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_file(fd, keypath, text, n) < 0) {
		int errnum = errno;
		sodium_free(text);
		errno = errnum;
		err(PSM_EXIT_OS, "%s", keypath);
	}
	sodium_free(text);
	psm_pubkey_format(publine, sizeof publine, &pub);
	keypath_to_remove = keypath;	/* no secret key without its public half */
	publish(pubpath, publine);
	keypath_to_remove = NULL;
	return PSM_EXIT_OK;
}
