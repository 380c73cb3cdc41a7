/*
 * term.c: a session's output made safe to show on a viewer's terminal, and
 * typed input made visible.
 *
 * The filter follows a terminal's parser (ECMA-48, as VT500-style terminals
 * and xterm read it) over UTF-8 and drops what acts on the viewer's machine
 * rather than on the screen:
 *
 *   - every control string: OSC (titles, the clipboard, hyperlinks, colour
 *     queries, the working directory), DCS (DECRQSS, XTGETTCAP, sixels),
 *     SOS, PM and APC, to their terminator (ST, BEL for an OSC, or what
 *     aborts them: CAN, SUB, ESC);
 *   - control sequences that make the terminal answer or act outside the
 *     screen: CSI ... n, c, t and i (status reports, device attributes,
 *     window operations and reports, media copy), DECREQTPARM, DECRQM,
 *     DECRQPSR, DECRQTSR, DECRQUPSS, DECRQCRA, DECRQDE, DECSR, DECRQLP,
 *     XTREPORTSGR, XTREPORTCOLORS, XTSMGRAPHICS, XTVERSION, XTQMODKEYS, the
 *     keyboard protocol's queries and modes (CSI ? u, CSI > u ...), and
 *     XTRMTITLE;
 *   - ESC Z (DECID), the switches of coding (ESC % ...) and of control
 *     transmission (ESC SP ...), and ENQ (the answerback).
 *
 * The C1 controls, U+0080 to U+009F in UTF-8 (0xc2 0x80 to 0xc2 0x9f),
 * count as their ESC forms. A byte 0x80 to 0x9f on its own, not part of a
 * UTF-8 character, is dropped: a UTF-8 terminal shows it as U+FFFD, an
 * 8-bit one would take it for a control.
 *
 * Everything else passes as it was: text, colours and attributes, cursor
 * motion, clearing, scrolling regions, modes, character sets. A sequence
 * is written out only once it is whole and judged, so that what passes
 * never opens anything that the filter did not see end; what is still
 * unfinished at the end of a call is held for the next (at most
 * PSM_TERM_HELD_MAX bytes: a longer control sequence is dropped to its
 * end, as are control strings, which are never held). Each byte is looked
 * at once, and a held sequence once more when it ends: linear time, and
 * the state is the struct.
 */
#include <string.h>

#include "psm.h"

#define ESC 0x1b
#define CAN 0x18
#define SUB 0x1a
#define BEL 0x07
#define ENQ 0x05
#define DEL 0x7f

enum {
	T_GROUND,	/* text */
	T_ESC,		/* after ESC, with its intermediates held */
	T_CSI,		/* a control sequence, held */
	T_IGNORE,	/* a sequence refused or too long: dropped to its final byte */
	T_STRING,	/* a control string: dropped to its end */
	T_STRING_ESC,	/* ESC inside a control string: ST, or the string is over */
};

void
psm_term_init(struct psm_term *t)
{
	memset(t, 0, sizeof *t);
	t->state = T_GROUND;
}

static void
emit(struct psm_buf *out, const void *p, size_t n)
{
	psm_buf_add(out, p, n);
}

/* Hold the bytes of the sequence being read; one too long is ignored to its end. */
static void
hold(struct psm_term *t, const unsigned char *p, size_t n)
{
	if (t->state == T_IGNORE)
		return;
	if (t->nheld + n > PSM_TERM_HELD_MAX) {
		t->nheld = 0;
		t->final_from = t->state == T_CSI ? 0x40 : 0x30;
		t->state = T_IGNORE;
		return;
	}
	memcpy(t->held + t->nheld, p, n);
	t->nheld += n;
}

/* Begin an escape with its introducer: ESC, or a C1 control's bytes (is_c1). */
static void
begin(struct psm_term *t, const unsigned char *p, size_t n, bool is_c1)
{
	t->nheld = 0;
	t->state = T_ESC;
	t->c1 = is_c1;
	hold(t, p, n);
	t->intro = n;
}

static void
begin_string(struct psm_term *t, bool osc)
{
	t->nheld = 0;
	t->state = T_STRING;
	t->osc = osc;
}

/* An ASCII byte to pass: text, or a C0 control, which terminals act on
 * where it is, inside a sequence too. */
static void
pass(struct psm_buf *out, unsigned char c)
{
	if (c != ENQ)		/* ENQ: the terminal sends its answerback */
		emit(out, &c, 1);
}

/*
 * Whether a finished control sequence is one to drop. markers: the
 * private markers (< = > ?) among its parameters; inter: its intermediate
 * bytes; final: its final byte. Markers and intermediates are looked for
 * anywhere, so that a malformed sequence that a lenient terminal might
 * still take for a request is dropped too.
 */
static bool
csi_refused(const char *markers, const char *inter, unsigned char final)
{
	bool any_inter = *inter != '\0';

	switch (final) {
	case 'n':	/* DSR, DECXCPR, XTQMODKEYS's n forms: reports */
	case 'c':	/* DA1, DA2, DA3 */
	case 't':	/* window operations and reports, XTSMTITLE, DECSWBV */
	case 'i':	/* media copy: printing, the printer controller */
		return true;
	case 'x':	/* DECREQTPARM (with no intermediate) */
		return !any_inter;
	case 'p':	/* DECRQM ($), DECSR (+) */
		return strpbrk(inter, "$+") != NULL;
	case 'u':	/* plain: restore the cursor; DECRQTSR, DECRQUPSS, keyboard protocol */
		return any_inter || *markers != '\0';
	case 'w':	/* DECRQPSR ($), DECEFR (') */
	case 'y':	/* DECRQCRA (*), DECTST */
		return any_inter;
	case 'v':	/* DECRQDE */
		return strchr(inter, '"') != NULL;
	case '|':	/* DECRQLP ('), XTREPORTSGR (#) */
		return strpbrk(inter, "'#") != NULL;
	case 'R':	/* XTREPORTCOLORS */
		return strchr(inter, '#') != NULL;
	case 'S':	/* XTSMGRAPHICS */
	case 'm':	/* XTQMODKEYS */
		return strchr(markers, '?') != NULL;
	case 'q':	/* XTVERSION */
	case 'T':	/* XTRMTITLE */
		return strchr(markers, '>') != NULL;
	default:
		return false;
	}
}

/* The control sequence held is over with final: write it or drop it. */
static void
csi_final(struct psm_term *t, struct psm_buf *out, unsigned char final)
{
	char markers[8] = "", inter[8] = "";
	size_t nm = 0, ni = 0;

	for (size_t i = t->intro; i < t->nheld; i++) {
		unsigned char c = t->held[i];
		if (c >= 0x3c && c <= 0x3f && nm < sizeof markers - 1 && !strchr(markers, c))
			markers[nm++] = (char)c;
		else if (c >= 0x20 && c <= 0x2f && ni < sizeof inter - 1 && !strchr(inter, c))
			inter[ni++] = (char)c;
	}
	if (!csi_refused(markers, inter, final)) {
		emit(out, t->held, t->nheld);
		emit(out, &final, 1);
	}
	t->nheld = 0;
	t->state = T_GROUND;
}

/*
 * The final byte f of an escape (of a C1 control: its ESC form), the
 * escape so far held: it begins a control sequence or string, or it is
 * written whole, or dropped.
 */
static void
esc_final(struct psm_term *t, struct psm_buf *out, unsigned char f)
{
	bool plain = t->nheld == t->intro;	/* no intermediates */
	unsigned char first = plain ? 0 : t->held[t->intro];

	if (plain && f == '[') {
		t->state = T_CSI;
		if (!t->c1)			/* ESC [: the [ is of the introducer */
			hold(t, &f, 1);
		t->intro = t->nheld;
		return;
	}
	if (plain && (f == ']' || f == 'P' || f == 'X' || f == '^' || f == '_')) {
		begin_string(t, f == ']');
		return;
	}
	bool refused = plain ? f == 'Z' || f == '\\' : first == '%' || first == ' ';
	if (!refused) {
		emit(out, t->held, t->nheld);
		if (!t->c1)		/* a C1 control is its own bytes */
			emit(out, &f, 1);
	}
	t->nheld = 0;
	t->state = T_GROUND;
}

/* A C1 control (U+0080 to U+009F), p its bytes: the same as ESC and c - 0x40. */
static void
c1(struct psm_term *t, struct psm_buf *out, unsigned char c, const unsigned char *p, size_t n)
{
	if ((t->state == T_STRING || t->state == T_STRING_ESC) && c == 0x9c) {
		t->state = T_GROUND;		/* ST */
		return;
	}
	begin(t, p, n, true);
	esc_final(t, out, (unsigned char)(c - 0x40));
}

/* An ASCII byte, in the state the filter is in. */
static void
ascii(struct psm_term *t, struct psm_buf *out, unsigned char c)
{
	static const unsigned char esc = ESC;

	switch (t->state) {
	case T_STRING:
		if (c == ESC) {
			t->state = T_STRING_ESC;
		} else if (c == CAN || c == SUB) {
			t->state = T_GROUND;	/* the string is cancelled */
			pass(out, c);
		} else if (c == BEL && t->osc) {
			t->state = T_GROUND;
		}
		return;
	case T_STRING_ESC:
		if (c == '\\') {
			t->state = T_GROUND;
			return;
		}
		begin(t, &esc, 1, false);	/* the string is over: this ESC begins anew */
		break;
	case T_GROUND:
		if (c == ESC)
			begin(t, &esc, 1, false);
		else
			pass(out, c);	/* text, or a C0 control */
		return;
	default:
		break;
	}
	/* T_ESC, T_CSI, T_IGNORE */
	if (c == ESC) {
		begin(t, &esc, 1, false);
	} else if (c == CAN || c == SUB) {
		t->nheld = 0;
		t->state = T_GROUND;
		pass(out, c);
	} else if (c < 0x20) {
		pass(out, c);
	} else if (c == DEL) {
		;			/* ignored inside a sequence */
	} else if (t->state == T_IGNORE) {
		if (c >= t->final_from)
			t->state = T_GROUND;
	} else if (t->state == T_ESC) {
		if (c < 0x30)
			hold(t, &c, 1);
		else
			esc_final(t, out, c);
	} else if (c < 0x40) {
		hold(t, &c, 1);		/* T_CSI: parameters and intermediates */
	} else {
		csi_final(t, out, c);
	}
}

/* A character beyond ASCII (p: its n bytes), or a byte that is not UTF-8. */
static void
other(struct psm_term *t, struct psm_buf *out, const unsigned char *p, size_t n)
{
	static const unsigned char esc = ESC;

	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
		c1(t, out, p[1], p, n);
		return;
	}
	if (n == 1 && p[0] < 0xa0)
		return;			/* a lone 0x80 to 0x9f */
	if (t->state == T_STRING_ESC)
		begin(t, &esc, 1, false);	/* the string is over: this ESC begins anew */
	switch (t->state) {
	case T_GROUND:
		emit(out, p, n);
		break;
	case T_ESC:
	case T_CSI:
		t->nheld = 0;		/* not part of any sequence: ignore it to its end */
		t->final_from = t->state == T_CSI ? 0x40 : 0x30;
		t->state = T_IGNORE;
		break;
	default:
		break;			/* T_STRING, T_IGNORE: dropped */
	}
}

/* The bytes held of an unfinished UTF-8 character, which will not be finished. */
static void
flush_utf8(struct psm_term *t, struct psm_buf *out)
{
	size_t n = t->nu8;

	t->nu8 = 0;
	for (size_t i = 0; i < n; i++)
		other(t, out, t->u8 + i, 1);
}

static void
byte(struct psm_term *t, struct psm_buf *out, unsigned char c)
{
	bool cut;

	if (t->nu8 > 0) {
		t->u8[t->nu8] = c;
		size_t len = psm_utf8_sequence_len(t->u8, t->nu8 + 1, &cut);
		if (len > 0) {
			t->nu8 = 0;
			other(t, out, t->u8, len);
			return;
		}
		if (cut) {
			t->nu8++;
			return;
		}
		flush_utf8(t, out);	/* not UTF-8: c begins anew */
	}
	if (c < 0x80) {
		ascii(t, out, c);
	} else if (c >= 0xc2 && c <= 0xf4) {
		t->u8[0] = c;
		t->nu8 = 1;
	} else {
		other(t, out, &c, 1);
	}
}

/*
 * Filter n bytes of p onto out. What is unfinished is held for the next
 * call; what is held when the output ends is never written.
 */
void
psm_term_filter(struct psm_term *t, struct psm_buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;

	psm_buf_reserve(out, n);
	for (size_t i = 0; i < n;) {
		/* The common case, runs of printable ASCII in text, at once. */
		if (t->state == T_GROUND && t->nu8 == 0) {
			size_t j = i;
			while (j < n && s[j] >= 0x20 && s[j] < 0x7f)
				j++;
			if (j > i) {
				emit(out, s + i, j - i);
				i = j;
				continue;
			}
		}
		byte(t, out, s[i++]);
	}
}

/*
 * Typed input (or any bytes) made visible, for one line of text per line
 * typed: \r, \n, \t, \e and \\ for carriage return, newline, tab, escape
 * and the backslash, \xNN for the other control bytes (C0, DEL, C1) and
 * for bytes that are not UTF-8; a newline follows each \r and \n. out has
 * room for PSM_TERM_VISIBLE_MAX(n) bytes; returns the length written (no
 * NUL). Writes nowhere else, so that a secret stays where its caller put it.
 */
size_t
psm_term_visible(char *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t o = 0;
	bool cut;

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = psm_utf8_sequence_len(s + i, n - i, &cut);
		bool is_c1 = len == 2 && c == 0xc2 && s[i + 1] < 0xa0;
		const char *named = c == '\r' ? "\\r\n" : c == '\n' ? "\\n\n" : c == '\t' ? "\\t" :
		    c == ESC ? "\\e" : c == '\\' ? "\\\\" : NULL;

		if (named != NULL) {
			memcpy(out + o, named, strlen(named));
			o += strlen(named);
			i++;
		} else if (len > 1 && !is_c1) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else if (len == 1 && c >= 0x20 && c != DEL) {
			out[o++] = (char)c;
			i++;
		} else {
			size_t k = is_c1 ? 2 : 1;	/* a C1 control: both its bytes */
			for (size_t j = 0; j < k; j++, i++) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[s[i] >> 4];
				out[o++] = hex[s[i] & 15];
			}
		}
	}
	return o;
}
