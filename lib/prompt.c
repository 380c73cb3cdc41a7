/*
 * prompt.c: password prompts recognised in a terminal's output.
 *
 * Why: psm-record writes down what is typed in a session. When the program
 * that reads a password turns the terminal's echo off in canonical mode,
 * psm-record sees that mode on its own pty and withholds the typed bytes.
 * Often it cannot see it. With sudo's "Defaults use_pty" (Debian's
 * default), `sudo -i` puts psm-record's pty in raw mode and runs the
 * programs inside on a pty of its own, whose echo state psm-record never
 * sees; so do ssh -t to another host and tmux; and sudo's pwfeedback reads
 * in non-canonical mode and prints a '*' per key. Without more, the
 * passwords typed there would be written in clear into a recording that
 * is kept, copied and read by others than the user. What psm-record always
 * sees is the output, and the output shows the prompt: when input arrives
 * while the screen's current line is a password prompt, it withholds that
 * input up to Enter. This file is the recogniser of that current line.
 *
 * It errs on the side of a prompt only within the rules below (a keyword
 * and a final ':'): the output comes from whoever runs the session, so a
 * user can print "Password: " to hide one line of typing. That costs the
 * typed bytes of a line, not its output, and the "withheld" event says
 * that it happened; a missed prompt would cost a password.
 *
 * The current line is kept as a terminal would show it, with no screen
 * model: '\n' (and VT, FF, which also move down) and '\r' start it over;
 * backspace removes the last character (UTF-8 aware); ESC sequences (CSI,
 * strings such as OSC and DCS up to BEL or ST, two-byte and charset
 * designations), the other C0 controls and DEL are dropped. Its last
 * PSM_PROMPT_LINE_MAX bytes are kept: a prompt is at the end. State is a
 * few bytes and survives any chunking of the output; memory is the
 * struct, time linear in the output.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "psm.h"

struct psm_prompt_re {
	regex_t re;
};

/*
 * The built-in patterns: each a keyword, case-insensitive, anywhere in
 * the line; the line must also end with ':' (after the trailing spaces
 * and '*' are removed). Short keywords are whole words, so that
 * "Spinning:", "Hotplug:" or "Secretary:" are not prompts.
 */
#define WORD_BEFORE "(^|[^[:alnum:]_])"
#define WORD_AFTER "([^[:alnum:]_]|$)"
static const char *const builtin[] = {
	"\\[sudo\\] ",			/* sudo's own prompt, in any language */
	"password",
	"passphrase",
	"passcode",
	WORD_BEFORE "pin" WORD_AFTER,
	"verification code",
	"one-time",
	WORD_BEFORE "otp" WORD_AFTER,
	"token code",
	WORD_BEFORE "secret" WORD_AFTER,
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

/* Where the parser is: in text or inside an escape sequence. */
enum {
	S_TEXT,
	S_ESC,		/* after ESC */
	S_ESC_INTER,	/* ESC, intermediates (0x20-0x2f): ESC ( B, ESC # 8 */
	S_CSI,		/* ESC [, parameters and intermediates, up to a final byte */
	S_STRING,	/* OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \) */
	S_STRING_ESC,	/* ESC inside a string: '\' ends it, else a new sequence */
};

#define ESC 0x1b
#define CAN 0x18
#define SUB 0x1a
#define DEL 0x7f

static int
compile(struct psm_prompt_re *r, const char *ere, char *why, size_t whylen)
{
	int rc = regcomp(&r->re, ere, REG_EXTENDED | REG_ICASE | REG_NOSUB);

	if (rc != 0)
		regerror(rc, &r->re, why, whylen);
	return rc;
}

/*
 * A recogniser with the built-in patterns and an empty line. On failure
 * (out of memory) nothing is left to free.
 */
int
psm_prompt_init(struct psm_prompt *p, struct psm_error *e)
{
	char why[128];

	memset(p, 0, sizeof *p);
	p->re = calloc(NBUILTIN + PSM_PROMPT_ADDED_MAX, sizeof *p->re);
	if (p->re == NULL)
		return psm_fail_errno(e, "prompt patterns");
	for (size_t i = 0; i < NBUILTIN; i++) {
		if (compile(&p->re[i], builtin[i], why, sizeof why) != 0) {
			psm_prompt_free(p);
			return psm_fail(e, PSM_E_OS, "prompt pattern \"%s\": %s",
			    builtin[i], why);
		}
		p->nre = p->nbuiltin = i + 1;
	}
	return 0;
}

/* The line without the bytes that cannot be a prompt's last: spaces and '*'. */
static size_t
trimmed(const struct psm_prompt *p, const unsigned char **s)
{
	const unsigned char *b = p->buf + p->start;
	size_t n = p->end - p->start;

	while (n > 0 && (*b & 0xc0) == 0x80) {	/* cut at the front inside a character */
		b++;
		n--;
	}
	while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '*'))
		n--;
	*s = b;
	return n;
}

static bool
match(struct psm_prompt *p)
{
	char text[PSM_PROMPT_LINE_MAX + 1];
	const unsigned char *s;
	size_t n = trimmed(p, &s);
	bool colon = n > 0 && s[n - 1] == ':';

	p->matches++;
	p->changed = false;
	if (!colon && p->nre == p->nbuiltin)
		return false;	/* the common case: no regexec */
	memcpy(text, s, n);
	text[n] = '\0';
	for (size_t i = colon ? 0 : p->nbuiltin; i < p->nre; i++)
		if (regexec(&p->re[i].re, text, 0, NULL, 0) == 0)
			return true;
	return false;
}

/*
 * Add a POSIX extended regular expression, matched case-insensitive
 * against the line (without its trailing spaces and '*'), as it is: the
 * caller chooses its anchors. PSM_E_USAGE when it does not compile or
 * when PSM_PROMPT_ADDED_MAX were added already. The current line is
 * matched again.
 */
int
psm_prompt_add(struct psm_prompt *p, const char *ere, struct psm_error *e)
{
	char why[128], q[64];

	psm_quote(q, sizeof q, ere, strlen(ere));
	if (p->re == NULL)
		return psm_fail(e, PSM_E_USAGE, "prompt pattern \"%s\": "
		    "the recogniser is not initialised", q);
	if (p->nre - p->nbuiltin >= PSM_PROMPT_ADDED_MAX)
		return psm_fail(e, PSM_E_USAGE, "prompt pattern \"%s\": "
		    "more than %d patterns", q, PSM_PROMPT_ADDED_MAX);
	if (compile(&p->re[p->nre], ere, why, sizeof why) != 0)
		return psm_fail(e, PSM_E_USAGE, "prompt pattern \"%s\": %s", q, why);
	p->nre++;
	p->active = match(p);
	return 0;
}

static void
new_line(struct psm_prompt *p)
{
	if (p->end == 0)
		return;
	p->lines++;
	p->start = p->end = 0;
	p->buf[0] = '\0';
	p->changed = true;
}

static void
put(struct psm_prompt *p, unsigned char c)
{
	if (p->end == sizeof p->buf - 1) {	/* full: the kept bytes to the front */
		memmove(p->buf, p->buf + p->start, p->end - p->start);
		p->end -= p->start;
		p->start = 0;
	}
	p->buf[p->end++] = c;
	p->buf[p->end] = '\0';
	if (p->end - p->start > PSM_PROMPT_LINE_MAX)
		p->start = p->end - PSM_PROMPT_LINE_MAX;
	p->changed = true;
}

/* Backspace: the last character, whole when it is valid UTF-8, else one byte. */
static void
back(struct psm_prompt *p)
{
	size_t n = 1, i = p->end;
	bool cut;

	if (p->end == p->start)
		return;
	while (i > p->start && p->end - i < 3 && (p->buf[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > p->start && i < p->end && psm_utf8_sequence_len(p->buf + i - 1,
	    p->end - i + 1, &cut) == p->end - i + 1)
		n = p->end - i + 1;
	p->end -= n;
	p->buf[p->end] = '\0';
	p->changed = true;
}

/* A C0 control or DEL, in text or inside a sequence: what a terminal does with it. */
static void
control(struct psm_prompt *p, unsigned char c)
{
	switch (c) {
	case '\n':
	case '\v':
	case '\f':
	case '\r':
		new_line(p);
		break;
	case '\b':
		back(p);
		break;
	case ESC:
		p->state = S_ESC;
		break;
	case CAN:
	case SUB:
		p->state = S_TEXT;
		break;
	default:		/* BEL, TAB, SI, SO, NUL, DEL ...: nothing on the line */
		break;
	}
}

static void
step(struct psm_prompt *p, unsigned char c)
{
	bool ctl = c < 0x20 || c == DEL;

	switch (p->state) {
	case S_TEXT:
		if (ctl)
			control(p, c);
		else
			put(p, c);
		return;
	case S_ESC:
		if (ctl)
			control(p, c);
		else if (c == '[')
			p->state = S_CSI;
		else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')
			p->state = S_STRING;
		else if (c >= 0x20 && c <= 0x2f)
			p->state = S_ESC_INTER;
		else
			p->state = S_TEXT;	/* a two-byte sequence: ESC 7, ESC =, ... */
		return;
	case S_ESC_INTER:
		if (ctl)
			control(p, c);
		else if (c > 0x2f)
			p->state = S_TEXT;	/* the final byte */
		return;
	case S_CSI:
		if (ctl)
			control(p, c);
		else if (c > 0x3f)
			p->state = S_TEXT;	/* the final byte (or one that ends it) */
		return;
	case S_STRING:
		if (c == 0x07 || c == CAN || c == SUB)
			p->state = S_TEXT;
		else if (c == ESC)
			p->state = S_STRING_ESC;
		return;			/* the rest, controls too, is the string's */
	case S_STRING_ESC:
		p->state = S_ESC;	/* ST, or ESC began a new sequence */
		if (c == '\\')
			p->state = S_TEXT;
		else
			step(p, c);
		return;
	}
}

/*
 * Output bytes of the terminal, in any chunks. When they changed the
 * line, it is matched again, once.
 */
void
psm_prompt_output(struct psm_prompt *p, const void *data, size_t n)
{
	const unsigned char *s = data;

	/*
	 * Only the end of a large chunk can be the screen's current line:
	 * start at its last line feed, where the line starts over, so that
	 * bulk output costs a memrchr. (An escape sequence still open across
	 * that line feed is taken as ended there.)
	 */
	if (n > PSM_PROMPT_BULK) {
		const unsigned char *nl = memrchr(s, '\n', n - PSM_PROMPT_LINE_MAX);
		if (nl != NULL) {
			new_line(p);
			p->state = S_TEXT;
			n -= (size_t)(nl + 1 - s);
			s = nl + 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		step(p, s[i]);
	if (p->changed)
		p->active = p->re != NULL && match(p);
}

/* How many lines have ended so far: a prompt on a line of its own is a new one. */
uint64_t
psm_prompt_lines(const struct psm_prompt *p)
{
	return p->lines;
}

/* Whether the current line is a password prompt. No matching: the answer is kept. */
bool
psm_prompt_active(const struct psm_prompt *p)
{
	return p->active;
}

/* The current line, as kept (NUL-terminated; *len bytes without the NUL). */
const char *
psm_prompt_line(const struct psm_prompt *p, size_t *len)
{
	*len = p->end - p->start;
	return (const char *)p->buf + p->start;
}

void
psm_prompt_free(struct psm_prompt *p)
{
	if (p->re != NULL) {
		for (size_t i = 0; i < p->nre; i++)
			regfree(&p->re[i].re);
		free(p->re);
	}
	p->re = NULL;
	p->nre = p->nbuiltin = 0;
	p->active = false;
}
