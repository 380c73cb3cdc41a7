/*
 * test-prompt.c: password prompts in a terminal's output (lib/prompt.c):
 * the prompts of sudo, ssh, passwd, PAM and others recognised, shell
 * prompts and ordinary lines not; the current line as a terminal shows it
 * (escape sequences, controls, backspaces, carriage returns), in any
 * chunking, bounded; patterns added by the caller; the answer kept.
 */
#include <stdlib.h>
#include <string.h>

#include "psm.h"
#include "check.h"

static void
feed(struct psm_prompt *p, const char *s)
{
	psm_prompt_output(p, s, strlen(s));
}

static void
init(struct psm_prompt *p)
{
	struct psm_error e;

	if (!CHECK(psm_prompt_init(p, &e) == 0, "psm_prompt_init: %s", e.msg))
		exit(check_done());
}

/* Output that leaves a password prompt as the current line. */
static const char *const prompts[] = {
	"[sudo] password for alice: ",
	"Password: ",
	"Password:",
	"alice@127.0.0.1's password: ",
	"Enter passphrase for key '/home/a/.ssh/id_ed25519': ",
	"Enter PIN for 'PIV Card': ",
	"Verification code: ",
	"Password for user postgres: ",
	"[sudo] password for alice: ****",
	"\x1b[1mPassword:\x1b[0m ",
	"Enter new UNIX password: ",
	"Retype new password: ",
	"New password: ",
	"(current) UNIX password: ",
	"Enter password: ",
	"PASSWORD:",
	"PIN: ",
	"Enter passcode: ",
	"One-time password (OATH) for `alice': ",
	"OTP: ",
	"Token code: ",
	"Client secret: ",
	"[sudo] Passwort f\xc3\xbcr alice: ",		/* sudo in German */
	"Last login: Mon\r\nwelcome\n$ sudo -i\r\n[sudo] password for alice: ",
	"$ ssh host\r\n\x1b]0;alice@host\x07" "alice@host's password: ",
	"Password: \x1b[K",
	"Passwore\bd: ",
	"Password:   ** * ",
};

/* Output whose current line is not a password prompt. */
static const char *const not_prompts[] = {
	"",
	"Password: ok\n$ ",
	"$ ",
	"root@host:~# ",
	"password changed successfully",
	"grep password file.txt",
	"Spinning: ",
	"Pinned: ",
	"Hotplug: ",
	"Secretary: ",
	"user@host:/srv/passwords$ ",
	"Username: ",
	"Login: ",
	"Your password will expire in 3 days",
	"Change password?",
	"Change password? ",
	"password: \r\n",
	"password: \n",
	"password: \r",
	"Password: \x0c",
	"Password: \x1b[1m$ ",
	"Password: x",
	"Password: \x1b]0;Password: \x07$ ",
};

/* Each output whole, in every two chunks, and a byte at a time: one answer. */
static void
test_examples(const char *const *list, size_t n, bool want)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = list[i];
		size_t len = strlen(s);
		struct psm_prompt p;

		init(&p);
		feed(&p, s);
		CHECK(psm_prompt_active(&p) == want, "%s: %s",
		    want ? "not a prompt" : "a prompt", s);
		psm_prompt_free(&p);

		for (size_t cut = 0; cut <= len; cut++) {
			init(&p);
			psm_prompt_output(&p, s, cut);
			psm_prompt_output(&p, s + cut, len - cut);
			bool ok = CHECK(psm_prompt_active(&p) == want,
			    "cut at %zu: %s: %s", cut, want ? "not a prompt" : "a prompt", s);
			psm_prompt_free(&p);
			if (!ok)
				break;
		}

		init(&p);
		for (size_t k = 0; k < len; k++)
			psm_prompt_output(&p, s + k, 1);
		CHECK(psm_prompt_active(&p) == want, "a byte at a time: %s: %s",
		    want ? "not a prompt" : "a prompt", s);
		psm_prompt_free(&p);
	}
}

/* The current line after the output s, and the line expected. */
static void
check_line(const char *s, const char *want)
{
	struct psm_prompt p;
	size_t len, n = strlen(s);
	const char *line;

	init(&p);
	feed(&p, s);
	line = psm_prompt_line(&p, &len);
	CHECK_STR(line, want);
	CHECK_EQ(len, strlen(want));
	psm_prompt_free(&p);

	init(&p);	/* and a byte at a time */
	for (size_t k = 0; k < n; k++)
		psm_prompt_output(&p, s + k, 1);
	CHECK_STR(psm_prompt_line(&p, &len), want);
	psm_prompt_free(&p);
}

static void
test_line(void)
{
	check_line("", "");
	check_line("abc", "abc");
	check_line("one\ntwo", "two");
	check_line("one\r\n", "");
	check_line("progress 10%\rprogress 20%", "progress 20%");
	check_line("one\vtwo\fthree", "three");
	/* CSI, with parameters, private markers and intermediates */
	check_line("\x1b[1;31mred\x1b[0m", "red");
	check_line("a\x1b[?2004hb\x1b[ qc\x1b[>4;1md", "abcd");
	check_line("a\x1b[2K\x1b[10;20Hb", "ab");
	/* OSC ended by BEL or by ST; DCS, APC, PM, SOS */
	check_line("\x1b]0;title: Password:\x07$ ", "$ ");
	check_line("\x1b]2;title\x1b\\x", "x");
	check_line("\x1b]8;;http://a/\x1b\\link\x1b]8;;\x1b\\", "link");
	check_line("\x1bPq#0;2;0;0;0\x1b\\a\x1b_apc\x1b\\b\x1b^pm\x07" "c\x1bXsos\x1b\\d", "abcd");
	/* a string's controls are its own, even '\n' */
	check_line("ab\x1b]0;x\ny\x07" "c", "abc");
	/* ESC inside a string ends it and begins a new sequence */
	check_line("a\x1b]0;x\x1b[1mb", "ab");
	/* two-byte sequences and charset designations */
	check_line("a\x1b=b\x1b>c\x1b" "7d\x1b" "8e\x1bMf", "abcdef");
	check_line("a\x1b(Bb\x1b)0c\x1b#8d\x1b%Ge", "abcde");
	/* CAN and SUB cancel a sequence; ESC restarts one */
	check_line("a\x1b[1\x18" "b", "ab");
	check_line("a\x1b[1\x1a" "b", "ab");
	check_line("a\x1b[12\x1b[31mb", "ab");
	/* a control inside a sequence still acts */
	check_line("abc\x1b[1\rmd", "d");
	check_line("abc\x1b[1\bmd", "abd");
	/* other C0 controls and DEL dropped */
	check_line("a\tb\x07" "c\x01" "d\x7f" "e\x0e" "f\x0f", "abcdef");
	/* backspace: the last character; nothing before the line's start */
	check_line("abc\b", "ab");
	check_line("abc\b\b\b\b\bxy", "xy");
	check_line("ab\b \b", "a");
	check_line("x\ny\b\bz", "z");
	/* UTF-8: a character is removed whole, a stray byte alone */
	check_line("a\xc3\xa9\b", "a");
	check_line("a\xe2\x82\xac\b", "a");
	check_line("a\xf0\x9f\x94\x91\b", "a");
	check_line("a\x80\x80\b", "a\x80");
	check_line("a\xe2\x82\b", "a\xe2");
	check_line("caf\xc3\xa9", "caf\xc3\xa9");
}

/* The line keeps its last PSM_PROMPT_LINE_MAX bytes: a prompt is at the end. */
static void
test_bounded(void)
{
	struct psm_prompt p;
	char big[4096];
	const char *line;
	size_t len;

	memset(big, 'x', sizeof big);
	init(&p);
	psm_prompt_output(&p, big, sizeof big);
	feed(&p, "Password: ");
	line = psm_prompt_line(&p, &len);
	CHECK_EQ(len, PSM_PROMPT_LINE_MAX);
	CHECK(len >= 10 && strcmp(line + len - 10, "Password: ") == 0, "line ends with %s", line);
	CHECK(psm_prompt_active(&p), "a prompt after 4096 bytes on its line");
	feed(&p, "\n");
	CHECK(!psm_prompt_active(&p), "a prompt after its newline");

	/* one byte at a time, and backspaces: never over the bound */
	for (size_t i = 0; i < 3 * PSM_PROMPT_LINE_MAX; i++) {
		psm_prompt_output(&p, i % 7 == 6 ? "\b" : "y", 1);
		psm_prompt_line(&p, &len);
		if (!CHECK(len <= PSM_PROMPT_LINE_MAX, "line of %zu bytes", len))
			break;
	}
	/* backspaces do not bring back the bytes cut at the front */
	feed(&p, "\rz");
	psm_prompt_output(&p, big, PSM_PROMPT_LINE_MAX);
	for (int i = 0; i < PSM_PROMPT_LINE_MAX; i++)
		feed(&p, "\b");
	CHECK_STR(psm_prompt_line(&p, &len), "");

	/* a long prompt cut at the front, inside a UTF-8 character */
	feed(&p, "\r");
	for (int i = 0; i < 200; i++)
		feed(&p, "\xc3\xa9");
	feed(&p, "Mot de passe : ");
	CHECK(!psm_prompt_active(&p), "not an English keyword");
	struct psm_error e;
	CHECK(psm_prompt_add(&p, "^mot de passe ?:$", &e) == 0, "%s", e.msg);
	CHECK(!psm_prompt_active(&p), "anchored at the line's start");
	CHECK(psm_prompt_add(&p, "mot de passe ?:$", &e) == 0, "%s", e.msg);
	CHECK(psm_prompt_active(&p), "an added pattern on a cut line");
	psm_prompt_free(&p);

	/* a megabyte of escape sequences and text: linear, bounded */
	init(&p);
	for (int i = 0; i < 20000; i++)
		feed(&p, "\x1b[1;31mabc\x1b]0;t\x07\b\b\b\b\x1b(B");
	CHECK_STR(psm_prompt_line(&p, &len), "");
	psm_prompt_free(&p);

	/* NUL bytes are dropped like the other controls */
	init(&p);
	psm_prompt_output(&p, "Pass\0word\0:\0 ", 13);
	CHECK_STR(psm_prompt_line(&p, &len), "Password: ");
	CHECK(psm_prompt_active(&p), "NUL bytes in a prompt");
	psm_prompt_free(&p);
}

/* sudo's pwfeedback: a '*' per key, "\b \b" for a backspace, then a newline. */
static void
test_pwfeedback(void)
{
	struct psm_prompt p;

	init(&p);
	feed(&p, "[sudo] password for alice: ");
	CHECK(psm_prompt_active(&p), "the prompt");
	for (int i = 0; i < 5; i++) {
		feed(&p, "*");
		CHECK(psm_prompt_active(&p), "after %d '*'", i + 1);
	}
	feed(&p, "\b \b");
	CHECK(psm_prompt_active(&p), "after a backspace");
	feed(&p, "\b \b\b \b\b \b\b \b");	/* sudo erases only what it printed */
	CHECK(psm_prompt_active(&p), "after erasing every key");
	CHECK_STR(psm_prompt_line(&p, &(size_t){ 0 }), "[sudo] password for alice: ");
	feed(&p, "***\n");
	CHECK(!psm_prompt_active(&p), "after Enter");
	feed(&p, "root@host:~# ");
	CHECK(!psm_prompt_active(&p), "the shell after it");
	psm_prompt_free(&p);
}

/* A session goes from prompt to shell and back. */
static void
test_session(void)
{
	struct psm_prompt p;

	init(&p);
	feed(&p, "$ ");
	CHECK(!psm_prompt_active(&p), "shell");
	feed(&p, "s");
	feed(&p, "udo -i\r\n");
	feed(&p, "[sudo] password for alice: ");
	CHECK(psm_prompt_active(&p), "sudo");
	feed(&p, "\r\nSorry, try again.\r\n[sudo] pass");
	CHECK(!psm_prompt_active(&p), "half a prompt");
	feed(&p, "word for alice: ");
	CHECK(psm_prompt_active(&p), "sudo again");
	feed(&p, "\r\n\x1b]0;root@host: ~\x07root@host:~# ");
	CHECK(!psm_prompt_active(&p), "root's shell");
	feed(&p, "passwd\r\nNew password: ");
	CHECK(psm_prompt_active(&p), "passwd");
	feed(&p, "\r\nRetype new password: ");
	CHECK(psm_prompt_active(&p), "passwd again");
	feed(&p, "\r\npasswd: password updated successfully\r\n");
	CHECK(!psm_prompt_active(&p), "passwd done");
	psm_prompt_free(&p);
}

/* Added patterns: as they are, case-insensitive; bad ones refused with why. */
static void
test_add(void)
{
	struct psm_prompt p;
	struct psm_error e;

	init(&p);
	feed(&p, "Enter code> ");
	CHECK(!psm_prompt_active(&p), "no built-in pattern");
	CHECK(psm_prompt_add(&p, "^enter code>$", &e) == 0, "%s", e.msg);
	CHECK(psm_prompt_active(&p), "the added pattern, on the current line");
	feed(&p, "\n");
	CHECK(!psm_prompt_active(&p), "empty line");
	feed(&p, "ENTER CODE>**  ");
	CHECK(psm_prompt_active(&p), "trimmed, case-insensitive");
	feed(&p, "\nxenter code>");
	CHECK(!psm_prompt_active(&p), "anchored by the caller");
	feed(&p, "\nPassword: ");
	CHECK(psm_prompt_active(&p), "built-in patterns still");

	memset(&e, 0, sizeof e);
	CHECK(psm_prompt_add(&p, "(unclosed", &e) == -1, "a bad pattern taken");
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK(strstr(e.msg, "prompt pattern \"(unclosed\": ") == e.msg, "message: %s", e.msg);
	CHECK(strstr(e.msg, "parenthes") != NULL || strstr(e.msg, "(") != NULL,
	    "regerror's text: %s", e.msg);
	CHECK(psm_prompt_add(&p, "a{2,1}", &e) == -1 && e.kind == PSM_E_USAGE, "a{2,1}");
	CHECK(psm_prompt_add(&p, "\x1b[31m(", &e) == -1, "quoted");
	CHECK(strstr(e.msg, "\\x1b[31m(") != NULL, "control bytes quoted: %s", e.msg);

	for (int i = 1; i < PSM_PROMPT_ADDED_MAX; i++)
		if (!CHECK(psm_prompt_add(&p, "^never$x", &e) == 0, "pattern %d: %s", i + 1, e.msg))
			break;
	CHECK(psm_prompt_add(&p, "^one more$", &e) == -1, "pattern 33 taken");
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK(strstr(e.msg, "more than 32 patterns") != NULL, "message: %s", e.msg);
	feed(&p, "\r\nenter code> ");
	CHECK(psm_prompt_active(&p), "the patterns still work");
	psm_prompt_free(&p);

	/* free twice, and add after free: refused, nothing leaks */
	psm_prompt_free(&p);
	CHECK(psm_prompt_add(&p, "x", &e) == -1 && e.kind == PSM_E_USAGE, "add after free");
	feed(&p, "Password: ");
	CHECK(!psm_prompt_active(&p), "no patterns after free");
}

/* The line is matched once per output that changed it, never by asking. */
static void
test_cached(void)
{
	struct psm_prompt p;
	unsigned long m;

	init(&p);
	feed(&p, "Password: ");
	m = p.matches;
	CHECK_EQ(m, 1);
	for (int i = 0; i < 1000; i++)
		if (!CHECK(psm_prompt_active(&p), "asked %d times", i))
			break;
	CHECK_EQ(p.matches, m);
	psm_prompt_output(&p, "", 0);
	feed(&p, "\x1b[0m\x07");
	CHECK_EQ(p.matches, m);
	feed(&p, "a\b");
	CHECK_EQ(p.matches, m + 1);
	feed(&p, "x\ny\nz\n");
	CHECK_EQ(p.matches, m + 2);
	CHECK(!psm_prompt_active(&p), "empty line");
	psm_prompt_free(&p);
}

static uint64_t rng = 0x9e3779b97f4a7c15;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * Random output, built from the pieces that matter: whole and in random
 * chunks, the same line and answer; the line bounded, with no control
 * bytes in it.
 */
static void
test_random(void)
{
	static const char *const piece[] = {
		"Password", "password: ", ":", " ", "*", "\r", "\n", "\b", "\x1b", "[",
		"]", "\\", "\x07", "\x18", "1;2", "m", "(", "B", "\xc3\xa9", "\xa9",
		"pin", "x", "\x7f", "\t", "P", "$ ",
	};
	static char buf[8192];

	for (int round = 0; round < 2000; round++) {
		struct psm_prompt a, b;
		size_t n = 0, len, blen;

		while (n < sizeof buf - 16) {
			const char *s = piece[next() % (sizeof piece / sizeof piece[0])];
			memcpy(buf + n, s, strlen(s));
			n += strlen(s);
			if (next() % 64 == 0)
				break;
		}
		if (round % 2 == 0)	/* often end on a prompt */
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\rPIN:");
		init(&a);
		init(&b);
		psm_prompt_output(&a, buf, n);
		for (size_t i = 0; i < n;) {
			size_t k = (size_t)(next() % 40);
			if (k > n - i)
				k = n - i;
			psm_prompt_output(&b, buf + i, k);
			i += k;
		}
		const char *la = psm_prompt_line(&a, &len), *lb = psm_prompt_line(&b, &blen);
		bool ok = CHECK(len == blen && memcmp(la, lb, len) == 0 && la[len] == '\0',
		    "round %d: lines differ by chunking", round) &&
		    CHECK(psm_prompt_active(&a) == psm_prompt_active(&b),
		    "round %d: answers differ by chunking", round) &&
		    CHECK(len <= PSM_PROMPT_LINE_MAX, "round %d: line of %zu bytes", round, len);
		for (size_t i = 0; ok && i < len; i++)
			ok = CHECK((unsigned char)la[i] >= 0x20 && la[i] != 0x7f,
			    "round %d: byte 0x%02x in the line", round, (unsigned char)la[i]);
		psm_prompt_free(&a);
		psm_prompt_free(&b);
		if (!ok)
			break;
	}
}

int
main(void)
{
	test_examples(prompts, sizeof prompts / sizeof prompts[0], true);
	test_examples(not_prompts, sizeof not_prompts / sizeof not_prompts[0], false);
	test_line();
	test_bounded();
	test_pwfeedback();
	test_session();
	test_add();
	test_cached();
	test_random();
	return check_done();
}
