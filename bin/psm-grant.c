/*
 * psm-grant: just-in-time, approval-gated, time-limited grants as filters.
 *
 *   request   prints a request (who asks comes from the kernel)
 *   approve   adds an approver's signed yes or no to a request
 *   issue     checks every approval, runs the policy, prints the signed grant
 *             (and an OpenSSH user certificate for the same window)
 *   check     verifies a grant and prints its window and scope
 *   revoke    adds a grant to a signed revocation list (and to an OpenSSH KRL)
 *   ssh-ca    prints a psm public key as an OpenSSH line, for sshd's TrustedUserCAKeys
 *
 * Every document is a JSON line (lib/grant.c); psm-grant(1) is the spec.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jq.h>
#include <sodium.h>

#include "psm_grant.h"
#include "psm_jq.h"

#define REQUEST_LIFE_DEFAULT 3600	/* seconds a request waits for its approvals */
#define DOC_LINES_MAX (1 + PSM_GRANT_APPROVERS_MAX)	/* a request and its answers; a grant names them all */
#define APPROVERS_FILE_MAX (1024 * 1024)
#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_SECONDS 10
#define POLICY_SECONDS_TEXT "10"
#define DEFAULT_FORCE_COMMAND "psm-record --grant " PSM_CONF_DIR "/grants/%g"

extern char **environ;

static const char *const ssh_extensions_known[] = {
	"permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding",
	"permit-pty", "permit-user-rc", NULL,
};

static void
usage(void)
{
	fprintf(stderr, "Try 'psm-grant --help'\n");
	exit(PSM_EXIT_USAGE);
}

static void
help(void)
{
	printf("Usage: psm-grant request --role ROLE --target [ACCOUNT@]HOST --reason TEXT --ttl DURATION\n"
	    "                         [--ticket ID] [--command CMD] [--expires-in DURATION]\n"
	    "       psm-grant approve -k KEY [--deny] [--reason TEXT] [FILE]\n"
	    "       psm-grant issue -k CA.key --policy POLICY.jq --approvers FILE [--explain]\n"
	    "                       [--ssh-pubkey USER.pub --ssh-ca SSHCA.key [--ssh-force-command CMD]\n"
	    "                       [--ssh-source-address LIST]] [FILE]\n"
	    "       psm-grant check --ca CA.pub [--revoked FILE] [FILE]\n"
	    "       psm-grant revoke -k CA.key --list FILE [--reason TEXT]\n"
	    "                        [--krl FILE --ssh-ca SSHCA.pub] GRANT\n"
	    "       psm-grant ssh-ca PUBKEY\n"
	    "Ask for, approve, issue, check and revoke time-limited access grants.\n\n"
	    "  -r, --role=ROLE            the role asked for (request)\n"
	    "  -t, --target=[ACCOUNT@]HOST  where, and as whom (request; ACCOUNT: you)\n"
	    "      --reason=TEXT          why (request; approve --deny; revoke)\n"
	    "      --ttl=DURATION         how long the access lasts once issued (request)\n"
	    "      --ticket=ID            a change or incident ticket (request)\n"
	    "      --command=CMD          only this command, exactly (request)\n"
	    "      --expires-in=DURATION  how long the request waits for approval (default 1h)\n"
	    "  -k, --key=KEY              the approver's key (approve), the CA's (issue, revoke)\n"
	    "      --deny                 record a refusal (approve)\n"
	    "      --policy=FILE          the jq policy (issue; see psm-policy(5))\n"
	    "      --approvers=FILE       NAME GROUP[,GROUP...] PUBKEY-FILE per line (issue)\n"
	    "      --explain              show the decision and why on stderr (issue)\n"
	    "      --ssh-pubkey=FILE      also write FILE's -cert.pub for the window (issue)\n"
	    "      --ssh-ca=KEY           the SSH CA's key (issue: secret; revoke: public)\n"
	    "      --ssh-force-command=CMD  the certificate's force-command (%%g: the grant id)\n"
	    "      --ssh-source-address=LIST  the certificate's source-address\n"
	    "      --ca=PUBKEY            the grant CA's public key (check)\n"
	    "      --revoked=FILE         a revocation list to check against (check)\n"
	    "      --list=FILE            the revocation list to add to (revoke)\n"
	    "      --krl=FILE             also revoke the grant's SSH certificate in this KRL\n"
	    "  -h, --help                 show this help and exit\n"
	    "  -V, --version              show the version and exit\n");
	exit(PSM_EXIT_OK);
}

struct options {
	const char *role, *target, *reason, *ticket, *command;
	uint64_t ttl, expires_in;
	const char *key, *policy, *approvers, *ssh_pubkey, *ssh_ca, *force_command, *source_address;
	const char *ca, *revoked, *list, *krl;
	bool deny, explain;
	const char *file;		/* the input document, NULL: stdin */
};

enum {
	OPT_REASON = 256, OPT_TTL, OPT_TICKET, OPT_COMMAND, OPT_EXPIRES_IN, OPT_DENY, OPT_POLICY,
	OPT_APPROVERS, OPT_EXPLAIN, OPT_SSH_PUBKEY, OPT_SSH_CA, OPT_FORCE_COMMAND, OPT_SOURCE,
	OPT_CA, OPT_REVOKED, OPT_LIST, OPT_KRL,
};

/* Which options each subcommand takes (the rest are usage errors). */
struct subcommand {
	const char *name;
	const char *takes;		/* option names, space-separated */
	int args;			/* positional arguments at most */
};
static const struct subcommand subcommands[] = {
	{ "request", " role target reason ttl ticket command expires-in ", 0 },
	{ "approve", " key deny reason ", 1 },
	{ "issue", " key policy approvers explain ssh-pubkey ssh-ca ssh-force-command ssh-source-address ", 1 },
	{ "check", " ca revoked ", 1 },
	{ "revoke", " key list reason krl ssh-ca ", 1 },
	{ "ssh-ca", " ", 1 },
	{ NULL, NULL, 0 },
};

static void
duration_seconds(const char *name, const char *s, uint64_t *out)
{
	uint64_t usec;

	if (psm_parse_duration(s, &usec) < 0 || usec < 1000000 || usec % 1000000 != 0 ||
	    usec / 1000000 > PSM_GRANT_TTL_MAX) {
		warnx("--%s: '%s' is not a duration of whole seconds from 1s to 7d", name, s);
		usage();
	}
	*out = usec / 1000000;
}

static const struct subcommand *
parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "target", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "ttl", required_argument, NULL, OPT_TTL },
		{ "ticket", required_argument, NULL, OPT_TICKET },
		{ "command", required_argument, NULL, OPT_COMMAND },
		{ "expires-in", required_argument, NULL, OPT_EXPIRES_IN },
		{ "key", required_argument, NULL, 'k' },
		{ "deny", no_argument, NULL, OPT_DENY },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "approvers", required_argument, NULL, OPT_APPROVERS },
		{ "explain", no_argument, NULL, OPT_EXPLAIN },
		{ "ssh-pubkey", required_argument, NULL, OPT_SSH_PUBKEY },
		{ "ssh-ca", required_argument, NULL, OPT_SSH_CA },
		{ "ssh-force-command", required_argument, NULL, OPT_FORCE_COMMAND },
		{ "ssh-source-address", required_argument, NULL, OPT_SOURCE },
		{ "ca", required_argument, NULL, OPT_CA },
		{ "revoked", required_argument, NULL, OPT_REVOKED },
		{ "list", required_argument, NULL, OPT_LIST },
		{ "krl", required_argument, NULL, OPT_KRL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct subcommand *sub = NULL;
	int c, index;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		help();
	if (argc > 1 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("psm-grant %s\n", PSM_VERSION);
		exit(PSM_EXIT_OK);
	}
	for (int i = 0; argc > 1 && subcommands[i].name != NULL; i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			sub = &subcommands[i];
	if (sub == NULL) {
		warnx(argc > 1 ? "unknown subcommand '%s'" : "a subcommand is required%s", argc > 1 ? argv[1] : "");
		usage();
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "r:t:k:hV", longopts, &index)) != -1) {
		const char *name = NULL;
		for (int i = 0; longopts[i].name != NULL; i++)
			if (longopts[i].val == c)
				name = longopts[i].name;
		if (c == 'h')
			help();
		if (c == 'V') {
			printf("psm-grant %s\n", PSM_VERSION);
			exit(PSM_EXIT_OK);
		}
		if (name == NULL)
			usage();
		char want[64];
		snprintf(want, sizeof want, " %s ", name);
		if (strstr(sub->takes, want) == NULL) {
			warnx("%s does not take --%s", sub->name, name);
			usage();
		}
		switch (c) {
		case 'r': opt->role = optarg; break;
		case 't': opt->target = optarg; break;
		case OPT_REASON: opt->reason = optarg; break;
		case OPT_TTL: duration_seconds("ttl", optarg, &opt->ttl); break;
		case OPT_TICKET: opt->ticket = optarg; break;
		case OPT_COMMAND: opt->command = optarg; break;
		case OPT_EXPIRES_IN: duration_seconds("expires-in", optarg, &opt->expires_in); break;
		case 'k': opt->key = optarg; break;
		case OPT_DENY: opt->deny = true; break;
		case OPT_POLICY: opt->policy = optarg; break;
		case OPT_APPROVERS: opt->approvers = optarg; break;
		case OPT_EXPLAIN: opt->explain = true; break;
		case OPT_SSH_PUBKEY: opt->ssh_pubkey = optarg; break;
		case OPT_SSH_CA: opt->ssh_ca = optarg; break;
		case OPT_FORCE_COMMAND: opt->force_command = optarg; break;
		case OPT_SOURCE: opt->source_address = optarg; break;
		case OPT_CA: opt->ca = optarg; break;
		case OPT_REVOKED: opt->revoked = optarg; break;
		case OPT_LIST: opt->list = optarg; break;
		case OPT_KRL: opt->krl = optarg; break;
		}
	}
	if (argc - optind > sub->args) {
		warnx("unexpected argument '%s'", argv[optind + sub->args]);
		usage();
	}
	if (optind < argc)
		opt->file = argv[optind];
	return sub;
}

static void
require(const char *value, const char *what)
{
	if (value == NULL || value[0] == '\0') {
		warnx("%s is required", what);
		usage();
	}
}

static int64_t
now_seconds(void)
{
	return (int64_t)time(NULL);
}

static void
write_out(const struct psm_buf *b)
{
	struct psm_error e;

	if (psm_write_all(STDOUT_FILENO, b->data, b->len, &e) < 0) {
		psm_error_prefix(&e, "stdout");
		xpsm_die(&e);
	}
}

/* ---- request ---- */

static void
text_option(const char *name, const char *s, size_t max)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			warnx("--%s: control characters are not allowed", name);
			usage();
		}
	if (n > max || !psm_utf8_valid((const unsigned char *)s, n)) {
		warnx("--%s: at most %zu bytes of UTF-8", name, max);
		usage();
	}
}

/* --target [ACCOUNT@]HOST */
static void
parse_target(struct psm_request *r, const char *target)
{
	const char *at = strrchr(target, '@'), *host = at ? at + 1 : target;

	if (at != NULL) {
		size_t n = (size_t)(at - target);
		if (!psm_grant_name_valid(target, n)) {
			warnx("--target: '%.*s' is not a valid account name", (int)n, target);
			usage();
		}
		memcpy(r->account, target, n);
		r->account[n] = '\0';
	}
	if (!psm_grant_host_valid(host, strlen(host))) {
		warnx("--target: '%s' is not a valid host name", host);
		usage();
	}
	snprintf(r->target, sizeof r->target, "%s", host);
}

static int
cmd_request(struct options *opt)
{
	struct psm_request r = { 0 };
	struct passwd *pw = getpwuid(getuid());
	struct psm_buf out = { 0 };
	char host[PSM_GRANT_HOST_MAX + 1] = "";	/* as r.host: gethostname leaves its last byte 0 */

	require(opt->role, "--role");
	require(opt->target, "--target");
	require(opt->reason, "--reason");
	if (opt->ttl == 0) {
		warnx("--ttl is required");
		usage();
	}
	if (!psm_grant_name_valid(opt->role, strlen(opt->role))) {
		warnx("--role: '%s' is not a valid name (letters, digits, ._@:+-)", opt->role);
		usage();
	}
	text_option("reason", opt->reason, PSM_GRANT_TEXT_MAX);
	if (opt->ticket != NULL)
		text_option("ticket", opt->ticket, PSM_GRANT_TEXT_MAX);
	if (opt->command != NULL) {
		require(opt->command, "--command's value");
		text_option("command", opt->command, PSM_GRANT_COMMAND_MAX);
	}
	/* Who asks is the kernel's word: a user name in the environment is not. */
	if (pw == NULL || !psm_grant_name_valid(pw->pw_name, strlen(pw->pw_name)))
		errx(PSM_EXIT_OS, "uid %lu has no valid user name", (unsigned long)getuid());
	snprintf(r.user, sizeof r.user, "%s", pw->pw_name);
	snprintf(r.account, sizeof r.account, "%s", pw->pw_name);
	r.uid = getuid();
	parse_target(&r, opt->target);
	gethostname(host, sizeof host - 1);
	if (!psm_grant_host_valid(host, strlen(host)))
		snprintf(host, sizeof host, "localhost");
	snprintf(r.host, sizeof r.host, "%s", host);
	snprintf(r.role, sizeof r.role, "%s", opt->role);
	psm_new_sid(r.id);
	r.time = now_seconds();
	r.expires = r.time + (int64_t)(opt->expires_in ? opt->expires_in : REQUEST_LIFE_DEFAULT);
	r.ttl = opt->ttl;
	r.command = (char *)opt->command;
	r.ticket = (char *)opt->ticket;
	r.reason = (char *)opt->reason;
	psm_request_write(&out, &r);
	write_out(&out);
	psm_buf_free(&out);
	return PSM_EXIT_OK;
}

/* ---- reading a request document: the request, then approvals ---- */

struct document {
	const char *name;
	struct psm_request request;
	struct psm_approval approvals[DOC_LINES_MAX];
	uint64_t approval_line[DOC_LINES_MAX];
	size_t napprovals;
};

static void
die_at(const char *name, uint64_t line, struct psm_error *e)
{
	psm_error_prefix(e, "%s:%" PRIu64, name, line);
	xpsm_die(e);
}

static void
read_document(struct document *d, const char *path)
{
	struct psm_lines in;
	struct psm_error e;
	const char *line;
	size_t len;
	int fd = STDIN_FILENO, rc;

	memset(d, 0, sizeof *d);
	if (path != NULL && strcmp(path, "-") == 0)
		path = NULL;	/* as check and revoke take it */
	d->name = path != NULL ? path : "stdin";
	if (path != NULL && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		err(PSM_EXIT_OS, "%s", path);
	psm_lines_init(&in, fd, d->name);
	psm_lines_set_max(&in, PSM_GRANT_LINE_MAX);
	while ((rc = psm_lines_next(&in, &line, &len)) == PSM_LINE_OK) {
		if (in.lineno == 1) {
			if (psm_request_parse(&d->request, line, len, &e) < 0)
				die_at(d->name, 1, &e);
			continue;
		}
		if (d->napprovals == DOC_LINES_MAX - 1)
			errx(PSM_EXIT_DATA, "%s:%" PRIu64 ": over %d approvals", d->name, in.lineno,
			    DOC_LINES_MAX - 1);
		if (psm_approval_parse(&d->approvals[d->napprovals], line, len, &e) < 0)
			die_at(d->name, in.lineno, &e);
		d->approval_line[d->napprovals++] = in.lineno;
	}
	if (rc == PSM_LINE_ERROR)
		err(PSM_EXIT_OS, "%s", d->name);
	if (rc == PSM_LINE_TOOLONG)
		errx(PSM_EXIT_DATA, "%s:%" PRIu64 ": a line over %d bytes", d->name, in.lineno + 1,
		    PSM_GRANT_LINE_MAX);
	if (rc == PSM_LINE_PARTIAL)
		errx(PSM_EXIT_DATA, "%s:%" PRIu64 ": the last line is not whole", d->name, in.lineno + 1);
	if (in.lineno == 0)
		errx(PSM_EXIT_DATA, "%s:1: empty, not a request", d->name);
	psm_lines_free(&in);
	if (fd != STDIN_FILENO)
		close(fd);
}

static void
free_document(struct document *d)
{
	psm_request_free(&d->request);
	for (size_t i = 0; i < d->napprovals; i++)
		psm_approval_free(&d->approvals[i]);
}

static void
refuse_expired_request(const struct document *d, int64_t now)
{
	char when[PSM_TIME_LEN + 1];

	psm_time_format(when, d->request.expires);
	if (now >= d->request.expires)
		errx(PSM_EXIT_NO, "%s: request %s expired at %s", d->name, d->request.id, when);
	psm_time_format(when, d->request.time);
	if (d->request.time > now + PSM_GRANT_SKEW)
		errx(PSM_EXIT_NO, "%s: request %s was made in the future (%s)", d->name, d->request.id,
		    when);
}

/* ---- approve ---- */

static void
load_secret(struct psm_seckey *k, const char *path)
{
	struct psm_error e;

	if (psm_secret_protect_process(&e) < 0 || psm_seckey_load(k, path, &e) < 0)
		xpsm_die(&e);
}

/* An approver at a terminal sees what they sign before the passphrase is asked for. */
static void
show_request(const struct document *d, bool deny)
{
	const struct psm_request *r = &d->request;

	if (!isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "psm-grant: %s request %s: %s (uid %" PRIu64 ") on %s asks for %s as %s on %s "
	    "for %" PRIu64 " s%s%s%s%s: %s\n", deny ? "denying" : "approving", r->id, r->user, r->uid,
	    r->host, r->role, r->account, r->target, r->ttl, r->command ? ", only: " : "",
	    r->command ? r->command : "", r->ticket ? ", ticket " : "", r->ticket ? r->ticket : "",
	    r->reason);
}

static int
cmd_approve(struct options *opt)
{
	struct document *d = xmalloc(sizeof *d);
	struct psm_seckey k;
	struct psm_buf out = { 0 };

	require(opt->key, "-k KEY");
	if (opt->deny)
		require(opt->reason, "--deny's --reason");
	if (opt->reason != NULL)
		text_option("reason", opt->reason, PSM_GRANT_TEXT_MAX);
	read_document(d, opt->file);
	int64_t now = now_seconds();
	refuse_expired_request(d, now);
	show_request(d, opt->deny);
	load_secret(&k, opt->key);
	for (size_t i = 0; i < d->napprovals; i++)
		if (strcmp(d->approvals[i].key, k.id) == 0)
			errx(PSM_EXIT_NO, "%s:%" PRIu64 ": key %s has answered this request already",
			    d->name, d->approval_line[i], k.id);
	psm_buf_add(&out, d->request.line, d->request.len);
	psm_buf_addc(&out, '\n');
	for (size_t i = 0; i < d->napprovals; i++) {
		psm_buf_add(&out, d->approvals[i].line, d->approvals[i].len);
		psm_buf_addc(&out, '\n');
	}
	psm_approval_write(&out, &d->request, opt->deny, now, opt->reason, &k);
	psm_seckey_free(&k);
	write_out(&out);
	psm_buf_free(&out);
	free_document(d);
	free(d);
	return PSM_EXIT_OK;
}

/* ---- the approvers file ---- */

struct approver {
	char name[PSM_GRANT_NAME_MAX];
	char **groups;			/* NULL-terminated */
	struct psm_pubkey key;
};
struct approvers {
	struct approver *list;
	size_t n, cap;
};

static char *
read_text_file(const char *path, size_t max)
{
	struct psm_buf b = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	for (;;) {
		psm_buf_reserve(&b, 65536);
		ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err(PSM_EXIT_OS, "%s", path);
		if (r == 0)
			break;
		b.len += (size_t)r;
		if (b.len > max)
			errx(PSM_EXIT_DATA, "%s: over %zu bytes", path, max);
	}
	close(fd);
	b.data[b.len] = '\0';
	if (strlen(b.data) != b.len)
		errx(PSM_EXIT_DATA, "%s: a NUL byte", path);
	return b.data;
}

/* A key file named in the approvers file: relative to that file's directory. */
static void
approver_key(struct approver *a, const char *file, unsigned line, const char *keyfile)
{
	char path[PATH_MAX];
	const char *slash = strrchr(file, '/');
	struct psm_error e;

	if (keyfile[0] == '/' || slash == NULL)
		snprintf(path, sizeof path, "%s", keyfile);
	else
		snprintf(path, sizeof path, "%.*s/%s", (int)(slash - file), file, keyfile);
	if (psm_pubkey_load(&a->key, path, &e) < 0)
		errx(psm_exit_status(&e), "%s:%u: %s", file, line, e.msg);
}

static char **
split_groups(const char *file, unsigned line, char *list)
{
	char **groups = NULL;
	size_t n = 0, cap = 0;

	for (char *g = strtok(list, ","); g != NULL; g = strtok(NULL, ",")) {
		if (!psm_grant_name_valid(g, strlen(g)))
			errx(PSM_EXIT_DATA, "%s:%u: '%s' is not a valid group name", file, line, g);
		groups = xpsm_grow(groups, &cap, n + 2, sizeof *groups);
		groups[n++] = xstrdup(g);
	}
	if (n == 0)
		errx(PSM_EXIT_DATA, "%s:%u: no group", file, line);
	groups[n] = NULL;
	return groups;
}

static void
load_approvers(struct approvers *list, const char *path)
{
	char *text = read_text_file(path, APPROVERS_FILE_MAX), *save = NULL;
	unsigned line = 0;

	memset(list, 0, sizeof *list);
	for (char *l = text, *next; l != NULL && *l != '\0'; l = next) {
		next = strchr(l, '\n');
		if (next != NULL)
			*next++ = '\0';
		line++;
		char *hash = strchr(l, '#');
		if (hash != NULL)
			*hash = '\0';
		char *name = strtok_r(l, " \t\r", &save), *groups = strtok_r(NULL, " \t\r", &save);
		char *key = strtok_r(NULL, " \t\r", &save), *extra = strtok_r(NULL, " \t\r", &save);
		if (name == NULL)
			continue;
		if (key == NULL || extra != NULL)
			errx(PSM_EXIT_DATA, "%s:%u: not NAME GROUP[,GROUP...] PUBKEY-FILE", path, line);
		if (!psm_grant_name_valid(name, strlen(name)))
			errx(PSM_EXIT_DATA, "%s:%u: '%s' is not a valid name", path, line, name);
		list->list = xpsm_grow(list->list, &list->cap, list->n + 1, sizeof *list->list);
		struct approver *a = &list->list[list->n];
		memset(a, 0, sizeof *a);
		snprintf(a->name, sizeof a->name, "%s", name);
		a->groups = split_groups(path, line, groups);
		approver_key(a, path, line, key);
		for (size_t i = 0; i < list->n; i++)
			if (strcmp(list->list[i].key.id, a->key.id) == 0 || strcmp(list->list[i].name, name) == 0)
				errx(PSM_EXIT_DATA, "%s:%u: %s or its key is named twice", path, line, name);
		list->n++;
	}
	free(text);
}

static const struct approver *
find_approver(const struct approvers *list, const char *keyid)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->list[i].key.id, keyid) == 0)
			return &list->list[i];
	return NULL;
}

static void
free_approvers(struct approvers *list)
{
	for (size_t i = 0; i < list->n; i++) {
		for (char **g = list->list[i].groups; *g != NULL; g++)
			free(*g);
		free(list->list[i].groups);
	}
	free(list->list);
}

/* ---- issue ---- */

/* What the policy answered, checked. */
struct decision {
	bool allow, self_approval;
	char reason[PSM_GRANT_TEXT_MAX + 1];
	uint64_t approvals, max_ttl;
	char **groups, **flags, **extensions;	/* NULL-terminated */
	char *json;			/* as the policy gave it, for --explain */
};

/* An approval that stands: a known approver's valid signature. */
struct counted {
	const struct approver *who;
	const struct psm_approval *a;
	bool self, counts;
};

struct issue {
	struct options *opt;
	struct document *doc;
	struct approvers approvers;
	struct psm_policy *policy;
	struct counted counted[DOC_LINES_MAX];
	size_t ncounted;
	struct decision d;
	int64_t now;
	unsigned char ssh_user_pk[32];	/* --ssh-pubkey's key */
};

static void
explain(const struct issue *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
explain(const struct issue *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->opt->explain)
		return;
	fputs("psm-grant: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
refuse(const struct issue *s, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void
refuse(const struct issue *s, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	explain(s, "decision: refused");
	errx(PSM_EXIT_NO, "%s: request %s refused: %s", s->doc->name, s->doc->request.id, msg);
}

static void
groups_text(char *out, size_t size, char *const *groups)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; groups[i] != NULL && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i > 0 ? "," : "", groups[i]);
}

/* Every approval checked against the approvers file: bad ones refuse the request. */
static void
check_approvals(struct issue *s)
{
	const struct document *d = s->doc;

	for (size_t i = 0; i < d->napprovals; i++) {
		const struct psm_approval *a = &d->approvals[i];
		uint64_t line = d->approval_line[i];
		const struct approver *who = find_approver(&s->approvers, a->key);
		char groups[512];

		if (strcmp(a->request, d->request.id) != 0)
			refuse(s, "%s:%" PRIu64 ": an approval of another request (%s)", d->name, line,
			    a->request);
		if (who == NULL)
			refuse(s, "%s:%" PRIu64 ": key %s is not an approver's (not in %s)", d->name, line,
			    a->key, s->opt->approvers);
		if (!psm_approval_signed_by(a, &d->request, &who->key))
			refuse(s, "%s:%" PRIu64 ": bad signature on %s's approval", d->name, line, who->name);
		if (a->time + PSM_GRANT_SKEW < d->request.time || a->time > s->now + PSM_GRANT_SKEW)
			refuse(s, "%s:%" PRIu64 ": %s's approval is dated outside the request's life",
			    d->name, line, who->name);
		if (a->deny)
			refuse(s, "denied by %s: %s", who->name, a->reason ? a->reason : "(no reason)");
		groups_text(groups, sizeof groups, who->groups);
		bool twice = false;
		for (size_t j = 0; j < s->ncounted; j++)
			twice |= s->counted[j].who == who;
		if (twice) {
			explain(s, "line %" PRIu64 ": %s (%s) approved again: counted once", line, who->name,
			    groups);
			continue;
		}
		struct counted *c = &s->counted[s->ncounted++];
		c->who = who;
		c->a = a;
		c->self = strcmp(who->name, d->request.user) == 0;
		explain(s, "line %" PRIu64 ": %s (%s) approved%s", line, who->name, groups,
		    c->self ? ", approving their own request" : "");
	}
}

static void
add_json_strv(struct psm_buf *b, char *const *v)
{
	psm_buf_addc(b, '[');
	for (size_t i = 0; v[i] != NULL; i++) {
		if (i > 0)
			psm_buf_addc(b, ',');
		psm_json_string(b, v[i], strlen(v[i]));
	}
	psm_buf_addc(b, ']');
}

/* {"request":...,"approvals":[{name,groups,key,time,self}],"now":N} */
static void
policy_input(const struct issue *s, struct psm_buf *in)
{
	char num[32];

	psm_buf_adds(in, "{\"request\":");
	psm_buf_add(in, s->doc->request.line, s->doc->request.len);
	psm_buf_adds(in, ",\"approvals\":[");
	for (size_t i = 0; i < s->ncounted; i++) {
		const struct counted *c = &s->counted[i];
		psm_buf_adds(in, i > 0 ? ",{\"name\":" : "{\"name\":");
		psm_json_string(in, c->who->name, strlen(c->who->name));
		psm_buf_adds(in, ",\"groups\":");
		add_json_strv(in, c->who->groups);
		psm_buf_adds(in, ",\"key\":");
		psm_json_string(in, c->who->key.id, strlen(c->who->key.id));
		snprintf(num, sizeof num, ",\"time\":%" PRId64, c->a->time);
		psm_buf_adds(in, num);
		psm_buf_adds(in, c->self ? ",\"self\":true}" : ",\"self\":false}");
	}
	snprintf(num, sizeof num, "],\"now\":%" PRId64 "}", s->now);
	psm_buf_adds(in, num);
}

/* The policy's answer, key by key; a wrong type is the policy's fault (exit 3). */
static void
policy_bad(const struct issue *s, const char *key, const char *what)
{
	errx(PSM_EXIT_DATA, "%s: its output's \"%s\" is not %s", s->opt->policy, key, what);
}

static char **
policy_names(const struct issue *s, jv out, const char *key, char **fallback)
{
	jv v = jv_object_get(jv_copy(out), jv_string(key));
	char **names;
	size_t n = 0;

	if (jv_get_kind(v) == JV_KIND_INVALID || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		for (; fallback[n] != NULL; n++)
			;
		names = xmalloc((n + 1) * sizeof *names);
		for (size_t i = 0; i <= n; i++)
			names[i] = fallback[i] ? xstrdup(fallback[i]) : NULL;
		return names;
	}
	if (jv_get_kind(v) != JV_KIND_ARRAY || jv_array_length(jv_copy(v)) > PSM_GRANT_APPROVERS_MAX)
		policy_bad(s, key, "an array of at most 32 names");
	names = xmalloc(((size_t)jv_array_length(jv_copy(v)) + 1) * sizeof *names);
	jv_array_foreach(v, i, x) {
		if (jv_get_kind(x) != JV_KIND_STRING ||
		    !psm_grant_name_valid(jv_string_value(x), (size_t)jv_string_length_bytes(jv_copy(x))))
			policy_bad(s, key, "an array of names (letters, digits, ._@:+-)");
		names[n++] = xstrdup(jv_string_value(x));
		jv_free(x);
	}
	names[n] = NULL;
	jv_free(v);
	return names;
}

static uint64_t
policy_number(const struct issue *s, jv out, const char *key, uint64_t fallback, uint64_t max)
{
	jv v = jv_object_get(jv_copy(out), jv_string(key));
	double x;

	if (jv_get_kind(v) == JV_KIND_INVALID || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return fallback;
	}
	if (jv_get_kind(v) != JV_KIND_NUMBER)
		policy_bad(s, key, "a number");
	x = jv_number_value(v);
	jv_free(v);
	if (!(x >= 0) || x > (double)max || x != (double)(uint64_t)x)
		policy_bad(s, key, "a whole number in range");
	return (uint64_t)x;
}

static bool
policy_bool(const struct issue *s, jv out, const char *key, bool required)
{
	jv v = jv_object_get(jv_copy(out), jv_string(key));
	jv_kind k = jv_get_kind(v);

	jv_free(v);
	if (k == JV_KIND_TRUE || k == JV_KIND_FALSE)
		return k == JV_KIND_TRUE;
	if (required || (k != JV_KIND_INVALID && k != JV_KIND_NULL))
		policy_bad(s, key, required ? "true or false (it is required)" : "true or false");
	return false;
}

static const char *policy_running;	/* its file, for the alarm */

/* A policy that does not end (def f: f; f) cannot be stopped inside libjq: the process is. */
static void
policy_too_long(int sig)
{
	static const char msg[] = ": did not finish within " POLICY_SECONDS_TEXT " seconds\n";

	(void)sig;
	(void)!write(STDERR_FILENO, "psm-grant: ", 11);
	(void)!write(STDERR_FILENO, policy_running, strlen(policy_running));
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(PSM_EXIT_DATA);
}

static void
run_policy(struct issue *s)
{
	static char *const none[] = { NULL };
	static char *const pty_only[] = { "permit-pty", NULL };
	struct psm_buf in = { 0 }, answer = { 0 };
	struct psm_error e;

	policy_input(s, &in);
	policy_running = s->opt->policy;
	signal(SIGALRM, policy_too_long);
	alarm(POLICY_SECONDS);
	int rc = psm_policy_run(s->policy, in.data, in.len, &answer, &e);
	alarm(0);
	/*
	 * Run once: freed now, so that no refusal below exits with jq's state
	 * alive (jq keeps its stack by a pointer to the block's end, which
	 * leak checkers take for a leak).
	 */
	psm_policy_free(s->policy);
	s->policy = NULL;
	psm_buf_free(&in);
	if (rc < 0)
		xpsm_die(&e);
	psm_buf_addc(&answer, '\0');
	jv out = jv_parse(answer.data);
	s->d.json = answer.data;
	explain(s, "policy %s said %s", s->opt->policy, s->d.json);
	s->d.allow = policy_bool(s, out, "allow", true);
	s->d.self_approval = policy_bool(s, out, "self_approval", false);
	s->d.approvals = policy_number(s, out, "approvals", 1, PSM_GRANT_APPROVERS_MAX);
	s->d.max_ttl = policy_number(s, out, "max_ttl", 3600, PSM_GRANT_TTL_MAX);
	s->d.groups = policy_names(s, out, "groups", (char **)none);
	s->d.flags = policy_names(s, out, "flags", (char **)none);
	s->d.extensions = policy_names(s, out, "ssh_extensions", (char **)pty_only);
	jv reason = jv_object_get(jv_copy(out), jv_string("reason"));
	if (jv_get_kind(reason) == JV_KIND_STRING)
		psm_quote(s->d.reason, sizeof s->d.reason, jv_string_value(reason),
		    (size_t)jv_string_length_bytes(jv_copy(reason)));
	else if (jv_get_kind(reason) != JV_KIND_INVALID && jv_get_kind(reason) != JV_KIND_NULL)
		policy_bad(s, "reason", "a string");
	jv_free(reason);
	jv_free(out);
	for (size_t i = 0; s->d.extensions[i] != NULL; i++) {
		bool known = false;
		for (size_t j = 0; ssh_extensions_known[j] != NULL; j++)
			known |= strcmp(s->d.extensions[i], ssh_extensions_known[j]) == 0;
		if (!known)
			errx(PSM_EXIT_DATA, "%s: unknown SSH extension '%s'", s->opt->policy,
			    s->d.extensions[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->d.extensions[i], s->d.extensions[j]) == 0)
				errx(PSM_EXIT_DATA, "%s: SSH extension '%s' named twice", s->opt->policy,
				    s->d.extensions[i]);
	}
}

/* Can each group get its own counting approver? (augmenting paths; a few dozen at most) */
static bool
assign(const struct issue *s, char *const *groups, size_t g, int *owner, bool *seen)
{
	for (size_t i = 0; i < s->ncounted; i++) {
		const struct counted *c = &s->counted[i];
		bool member = false;
		if (!c->counts || seen[i])
			continue;
		for (char **x = c->who->groups; *x != NULL; x++)
			member |= strcmp(*x, groups[g]) == 0;
		if (!member)
			continue;
		seen[i] = true;
		if (owner[i] < 0 || assign(s, groups, (size_t)owner[i], owner, seen)) {
			owner[i] = (int)g;
			return true;
		}
	}
	return false;
}

static void
check_groups(const struct issue *s)
{
	int owner[DOC_LINES_MAX];
	bool seen[DOC_LINES_MAX];

	for (size_t i = 0; i < DOC_LINES_MAX; i++)
		owner[i] = -1;
	for (size_t g = 0; s->d.groups[g] != NULL; g++) {
		memset(seen, 0, sizeof seen);
		if (!assign(s, s->d.groups, g, owner, seen))
			refuse(s, "group %s is not represented (each group needs an approver of its own)",
			    s->d.groups[g]);
	}
}

static void
decide(struct issue *s)
{
	const struct psm_request *r = &s->doc->request;
	size_t counting = 0;

	if (!s->d.allow)
		refuse(s, "%s", s->d.reason[0] ? s->d.reason : "the policy does not allow it");
	if (r->ttl > s->d.max_ttl)
		refuse(s, "a ttl of %" PRIu64 " s is over the policy's maximum of %" PRIu64 " s",
		    r->ttl, s->d.max_ttl);
	for (size_t i = 0; i < s->ncounted; i++) {
		struct counted *c = &s->counted[i];
		c->counts = !c->self || s->d.self_approval;
		counting += c->counts;
	}
	char groups[512];
	groups_text(groups, sizeof groups, s->d.groups);
	explain(s, "needed: %" PRIu64 " approval%s%s%s, a ttl of at most %" PRIu64 " s; counted: %zu",
	    s->d.approvals, s->d.approvals == 1 ? "" : "s", groups[0] ? ", one from each of " : "",
	    groups, s->d.max_ttl, counting);
	if (counting < s->d.approvals)
		refuse(s, "%" PRIu64 " approval%s needed, %zu counted%s", s->d.approvals,
		    s->d.approvals == 1 ? "" : "s", counting,
		    counting < s->ncounted ? " (approving one's own request does not count)" : "");
	check_groups(s);
}

static void
approver_list(const struct issue *s, struct psm_grant_approver *out)
{
	for (size_t i = 0; i < s->ncounted; i++) {
		const struct counted *c = &s->counted[i];
		snprintf(out[i].name, sizeof out[i].name, "%s", c->who->name);
		snprintf(out[i].key, sizeof out[i].key, "%s", c->who->key.id);
		out[i].groups = c->who->groups;
		out[i].time = c->a->time;
	}
}

static uint64_t
random_serial(void)
{
	uint64_t serial = 0;

	while (serial == 0) {
		randombytes_buf(&serial, sizeof serial);
		serial &= INT64_MAX;	/* stays exact through JSON readers (below 2^53 too) */
		serial &= (UINT64_C(1) << 53) - 1;
	}
	return serial;
}

/* USER.pub -> USER-cert.pub, as ssh-keygen names it. */
static char *
cert_path(const char *pubkey)
{
	size_t n = strlen(pubkey);
	char *p = xmalloc(n + sizeof "-cert.pub");

	if (n > 4 && strcmp(pubkey + n - 4, ".pub") == 0)
		n -= 4;
	memcpy(p, pubkey, n);
	strcpy(p + n, "-cert.pub");
	return p;
}

static void
write_file_atomically(const char *path, const struct psm_buf *b, mode_t mode)
{
	char tmp[PATH_MAX];
	struct psm_error e;
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		err(PSM_EXIT_OS, "%s", tmp);
	if (psm_write_all(fd, b->data, b->len, &e) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		err(PSM_EXIT_OS, "%s", path);
	}
}

static char *
force_command(const char *template, const char *grant_id)
{
	struct psm_buf b = { 0 };

	for (const char *p = template; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'g') {
			psm_buf_adds(&b, grant_id);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			psm_buf_addc(&b, '%');
			p++;
		} else {
			psm_buf_addc(&b, *p);
		}
	}
	psm_buf_addc(&b, '\0');
	return b.data;
}

/* --ssh-pubkey read early: a bad key is said before any passphrase is asked for. */
static void
read_ssh_pubkey(struct issue *s)
{
	char *text = read_text_file(s->opt->ssh_pubkey, 16384);
	struct psm_error e;

	if (psm_ssh_pubkey_parse(text, strcspn(text, "\n"), s->ssh_user_pk, &e) < 0)
		errx(psm_exit_status(&e), "%s:1: %s", s->opt->ssh_pubkey, e.msg);
	free(text);
}

static void
issue_ssh_cert(const struct issue *s, uint64_t serial, int64_t issued, int64_t expires)
{
	const struct psm_request *r = &s->doc->request;
	char keyid[1024], *principals[] = { (char *)r->account, NULL };
	struct psm_buf cert = { 0 };
	struct psm_seckey ca;
	struct psm_error e;
	struct psm_sshcert c = { 0 };
	size_t n = 0;

	memcpy(c.user_pk, s->ssh_user_pk, sizeof c.user_pk);
	n = (size_t)snprintf(keyid, sizeof keyid, "grant=%s user=%s approvers=", r->id, r->user);
	for (size_t i = 0; i < s->ncounted && n < sizeof keyid; i++)
		n += (size_t)snprintf(keyid + n, sizeof keyid - n, "%s%s", i > 0 ? "," : "",
		    s->counted[i].who->name);
	c.serial = serial;
	c.key_id = keyid;
	c.principals = principals;
	c.valid_after = (uint64_t)(issued - PSM_GRANT_SKEW);
	c.valid_before = (uint64_t)expires;
	char *command = force_command(s->opt->force_command ? s->opt->force_command :
	    DEFAULT_FORCE_COMMAND, r->id);
	c.force_command = command;
	c.source_address = s->opt->source_address;
	c.extensions = s->d.extensions;
	load_secret(&ca, s->opt->ssh_ca);
	if (psm_sshcert_write(&cert, &c, ca.sk, &e) < 0)
		xpsm_die(&e);
	psm_seckey_free(&ca);
	char *path = cert_path(s->opt->ssh_pubkey);
	write_file_atomically(path, &cert, 0644);
	explain(s, "SSH certificate %s: serial %" PRIu64 ", principal %s", path, serial, r->account);
	free(path);
	free(command);
	psm_buf_free(&cert);
}

static void
sort_names(char **v)
{
	for (size_t i = 1; v[0] != NULL && v[i] != NULL; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void
issue_grant(struct issue *s, const struct psm_seckey *ca)
{
	struct psm_grant_approver who[DOC_LINES_MAX];
	struct psm_buf out = { 0 };
	char from[PSM_TIME_LEN + 1], to[PSM_TIME_LEN + 1];
	struct psm_grant_out g = {
		.request = &s->doc->request, .serial = random_serial(), .approvers = who,
		.napprovers = s->ncounted, .flags = s->d.flags,
	};

	/* The window starts now, when the grant is issued, not when it was asked for. */
	g.issued = now_seconds();
	g.expires = g.issued + (int64_t)s->doc->request.ttl;
	approver_list(s, who);
	psm_grant_write(&out, &g, ca);
	if (s->opt->ssh_pubkey != NULL) {
		sort_names(s->d.extensions);
		issue_ssh_cert(s, g.serial, g.issued, g.expires);
	}
	psm_time_format(from, g.issued);
	psm_time_format(to, g.expires);
	explain(s, "decision: issued, grant %s from %s to %s", s->doc->request.id, from, to);
	write_out(&out);
	psm_buf_free(&out);
}

static void
compile_policy(struct issue *s)
{
	char *program = read_text_file(s->opt->policy, POLICY_FILE_MAX);
	struct psm_error e;

	if (psm_policy_compile(&s->policy, s->opt->policy, program, &e) < 0)
		xpsm_die(&e);
	free(program);
}

static void
explain_request(const struct issue *s)
{
	const struct psm_request *r = &s->doc->request;
	char made[PSM_TIME_LEN + 1], until[PSM_TIME_LEN + 1];

	psm_time_format(made, r->time);
	psm_time_format(until, r->expires);
	explain(s, "request %s: %s asks for %s as %s on %s for %" PRIu64 " s%s%s, made %s, "
	    "waits until %s", r->id, r->user, r->role, r->account, r->target, r->ttl,
	    r->command ? ", command only: " : "", r->command ? r->command : "", made, until);
}

static void
free_decision(struct decision *d)
{
	char **lists[] = { d->groups, d->flags, d->extensions };

	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; lists[i] != NULL && lists[i][j] != NULL; j++)
			free(lists[i][j]);
		free(lists[i]);
	}
	free(d->json);
}

static int
cmd_issue(struct options *opt)
{
	struct issue s = { .opt = opt };
	struct psm_seckey ca;

	require(opt->key, "-k CA.key");
	require(opt->policy, "--policy");
	require(opt->approvers, "--approvers");
	if ((opt->ssh_pubkey != NULL) != (opt->ssh_ca != NULL)) {
		warnx("--ssh-pubkey and --ssh-ca go together");
		usage();
	}
	if ((opt->force_command || opt->source_address) && opt->ssh_pubkey == NULL) {
		warnx("--ssh-force-command and --ssh-source-address need --ssh-pubkey");
		usage();
	}
	if (opt->source_address != NULL)
		text_option("ssh-source-address", opt->source_address, 1024);
	/* What can be wrong with the files is said before a passphrase is asked for. */
	compile_policy(&s);
	load_approvers(&s.approvers, opt->approvers);
	s.doc = xmalloc(sizeof *s.doc);
	read_document(s.doc, opt->file);
	if (opt->ssh_pubkey != NULL)
		read_ssh_pubkey(&s);
	s.now = now_seconds();
	explain_request(&s);
	refuse_expired_request(s.doc, s.now);
	check_approvals(&s);
	run_policy(&s);
	decide(&s);
	load_secret(&ca, opt->key);
	issue_grant(&s, &ca);
	psm_seckey_free(&ca);
	free_decision(&s.d);
	psm_policy_free(s.policy);
	free_approvers(&s.approvers);
	free_document(s.doc);
	free(s.doc);
	return PSM_EXIT_OK;
}

/* ---- check ---- */

static void
load_grant(struct psm_grant *g, const char *path, const struct psm_pubkey *ca)
{
	struct psm_error e;

	if (path == NULL || strcmp(path, "-") == 0)
		path = "/dev/stdin";
	if (psm_grant_load(g, path, ca, &e) < 0)
		xpsm_die(&e);
}

static void
print_duration(FILE *f, int64_t s)
{
	if (s % 3600 == 0)
		fprintf(f, "%" PRId64 "h", s / 3600);
	else if (s % 60 == 0)
		fprintf(f, "%" PRId64 "m", s / 60);
	else
		fprintf(f, "%" PRId64 "s", s);
}

static void
print_grant(const struct psm_grant *g, const char *state)
{
	char from[PSM_TIME_LEN + 1], to[PSM_TIME_LEN + 1], asked[PSM_TIME_LEN + 1];

	psm_time_format(from, g->not_before);
	psm_time_format(to, g->expires);
	psm_time_format(asked, g->requested);
	printf("grant %s (serial %" PRIu64 ", CA %s)\n", g->id, g->serial, g->ca);
	printf("user %s (uid %" PRIu64 "), role %s, asked %s\n", g->user, g->uid, g->role, asked);
	printf("scope %s on %s, %s%s\n", g->account, g->target, g->command ? "only: " : "any command",
	    g->command ? g->command : "");
	printf("approved by %s\n", g->approvers[0] ? g->approvers : "nobody");
	printf("reason %s\n", g->reason);
	if (g->ticket != NULL)
		printf("ticket %s\n", g->ticket);
	if (g->flags[0] != '\0')
		printf("flags %s\n", g->flags);
	printf("window %s to %s (", from, to);
	print_duration(stdout, g->expires - g->not_before);
	printf(")\n%s\n", state);
}

static int
cmd_check(struct options *opt)
{
	struct psm_pubkey ca;
	struct psm_grant g;
	struct psm_revoked rl;
	struct psm_error e;
	const char *state;
	int status = PSM_EXIT_OK;

	require(opt->ca, "--ca");
	if (psm_pubkey_load(&ca, opt->ca, &e) < 0)
		xpsm_die(&e);
	load_grant(&g, opt->file, &ca);
	state = psm_grant_outside(&g, now_seconds());
	if (opt->revoked != NULL) {
		if (psm_revoked_load(&rl, opt->revoked, &ca, false, &e) < 0)
			xpsm_die(&e);
		if (psm_revoked_has(&rl, g.id))
			state = "revoked";
		psm_revoked_free(&rl);
	}
	if (state != NULL)
		status = PSM_EXIT_NO;
	print_grant(&g, state != NULL ? state : "valid now");
	if (fflush(stdout) != 0 || ferror(stdout))
		err(PSM_EXIT_OS, "stdout");
	psm_grant_free(&g);
	return status;
}

/* ---- revoke ---- */

/* ssh-keygen's exit status, 128 + N when killed by signal N. */
static int
run_ssh_keygen(char *const argv[])
{
	pid_t pid;
	int status, rc;

	if ((rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) != 0) {
		errno = rc;
		err(PSM_EXIT_OS, "cannot run %s", argv[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			err(PSM_EXIT_OS, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* FROM's bytes into a new file TO with FROM's mode; -1 and errno on failure. */
static int
copy_file(const char *from, const char *to)
{
	char buf[65536];
	struct stat st;
	struct psm_error e;
	ssize_t r;
	int in, out, rc = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(in, &st) < 0 ||
	    (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777)) < 0) {
		int saved = errno;
		close(in);
		errno = saved;
		return -1;
	}
	while (rc == 0 && (r = read(in, buf, sizeof buf)) != 0) {
		if (r < 0 && errno != EINTR)
			rc = -1;
		else if (r > 0 && psm_write_all(out, buf, (size_t)r, &e) < 0)
			rc = -1;
	}
	int saved = errno;
	close(in);
	if (close(out) < 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

/*
 * The certificate's serial into an OpenSSH KRL, through ssh-keygen -k. sshd
 * reads the KRL at each login, and ssh-keygen rewrites a file in place
 * (truncated, then written): it changes a copy, which then replaces the KRL
 * whole. Between the two, sshd would read an empty file, which to it is no KRL
 * but an empty list of keys: nothing revoked.
 */
static void
revoke_in_krl(const struct options *opt, const struct psm_grant *g)
{
	char dir[] = "/tmp/psm-grant.XXXXXX", ca_path[64], spec_path[64], serial[64];
	char krl_tmp[PATH_MAX];
	struct psm_pubkey ssh_ca;
	struct psm_buf b = { 0 };
	struct psm_error e;
	struct stat st;
	int fd, status;

	if (psm_pubkey_load(&ssh_ca, opt->ssh_ca, &e) < 0)
		xpsm_die(&e);
	if ((size_t)snprintf(krl_tmp, sizeof krl_tmp, "%s.tmp.%ld", opt->krl, (long)getpid()) >=
	    sizeof krl_tmp)
		errx(PSM_EXIT_USAGE, "--krl: '%s' is too long a path", opt->krl);
	bool update = stat(opt->krl, &st) == 0;
	if (update && copy_file(opt->krl, krl_tmp) < 0) {
		int saved = errno;
		unlink(krl_tmp);
		errno = saved;
		err(PSM_EXIT_OS, "%s", opt->krl);
	}
	if (mkdtemp(dir) == NULL)
		err(PSM_EXIT_OS, "mkdtemp");
	snprintf(ca_path, sizeof ca_path, "%s/ca.pub", dir);
	snprintf(spec_path, sizeof spec_path, "%s/spec", dir);
	psm_ssh_pubkey_write(&b, ssh_ca.pk, ssh_ca.name[0] ? ssh_ca.name : ssh_ca.id);
	write_file_atomically(ca_path, &b, 0600);
	b.len = 0;
	snprintf(serial, sizeof serial, "serial: %" PRIu64 "\n", g->serial);
	psm_buf_adds(&b, serial);
	write_file_atomically(spec_path, &b, 0600);
	psm_buf_free(&b);
	char *argv[] = { "ssh-keygen", "-q", "-k", update ? "-u" : "-q", "-f", krl_tmp,
	    "-s", ca_path, spec_path, NULL };
	status = run_ssh_keygen(argv);
	unlink(ca_path);
	unlink(spec_path);
	rmdir(dir);
	if (status != 0) {
		unlink(krl_tmp);
		errx(PSM_EXIT_OS, "%s: ssh-keygen -k failed (status %d): the KRL was not changed",
		    opt->krl, status);
	}
	if ((fd = open(krl_tmp, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(krl_tmp, opt->krl) < 0) {
		int saved = errno;
		unlink(krl_tmp);
		errno = saved;
		err(PSM_EXIT_OS, "%s", opt->krl);
	}
}

static bool
already_revoked(const struct options *opt, const struct psm_grant *g, const struct psm_pubkey *ca)
{
	struct psm_revoked rl;
	struct psm_error e;

	if (psm_revoked_load(&rl, opt->list, ca, true, &e) < 0)
		xpsm_die(&e);
	bool has = psm_revoked_has(&rl, g->id);
	psm_revoked_free(&rl);
	return has;
}

static void
append_revocation(const char *path, const struct psm_buf *line)
{
	struct psm_error e;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		err(PSM_EXIT_OS, "%s", path);
	if (psm_write_all(fd, line->data, line->len, &e) < 0 || fsync(fd) < 0)
		err(PSM_EXIT_OS, "%s", path);
	close(fd);
}

static int
cmd_revoke(struct options *opt)
{
	struct psm_seckey ca;
	struct psm_pubkey pub;
	struct psm_grant g;
	struct psm_buf line = { 0 };

	require(opt->key, "-k CA.key");
	require(opt->list, "--list");
	require(opt->file, "the grant (a file, or - for stdin)");
	if ((opt->krl != NULL) != (opt->ssh_ca != NULL)) {
		warnx("--krl and --ssh-ca go together");
		usage();
	}
	if (opt->reason != NULL)
		text_option("reason", opt->reason, PSM_GRANT_TEXT_MAX);
	load_secret(&ca, opt->key);
	psm_seckey_public(&ca, &pub);
	load_grant(&g, opt->file, &pub);
	if (!already_revoked(opt, &g, &pub)) {
		psm_revoked_write(&line, &g, now_seconds(), opt->reason, &ca);
		append_revocation(opt->list, &line);
		psm_buf_free(&line);
	} else {
		fprintf(stderr, "psm-grant: %s: grant %s is revoked already\n", opt->list, g.id);
	}
	psm_seckey_free(&ca);
	if (opt->krl != NULL)
		revoke_in_krl(opt, &g);
	psm_grant_free(&g);
	return PSM_EXIT_OK;
}

/* ---- ssh-ca ---- */

static int
cmd_ssh_ca(struct options *opt)
{
	struct psm_pubkey k;
	struct psm_error e;
	struct psm_buf b = { 0 };

	require(opt->file, "a public key file");
	if (psm_pubkey_load(&k, opt->file, &e) < 0)
		xpsm_die(&e);
	psm_ssh_pubkey_write(&b, k.pk, k.name[0] ? k.name : k.id);
	write_out(&b);
	psm_buf_free(&b);
	return PSM_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct psm_error e;
	const struct subcommand *sub = parse_options(argc, argv, &opt);

	signal(SIGPIPE, SIG_IGN);
	if (psm_secret_init(&e) < 0)
		xpsm_die(&e);
	switch (sub - subcommands) {
	case 0: return cmd_request(&opt);
	case 1: return cmd_approve(&opt);
	case 2: return cmd_issue(&opt);
	case 3: return cmd_check(&opt);
	case 4: return cmd_revoke(&opt);
	default: return cmd_ssh_ca(&opt);
	}
}
