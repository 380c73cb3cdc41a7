/*
 * test-term.c: the playback filter (lib/term.c): what acts on the viewer's
 * machine is dropped, what draws the screen passes; the same output however
 * the input is split; memory bounded by a held sequence of PSM_TERM_HELD_MAX
 * bytes; the filter's output filtered again is unchanged; and the visible
 * form of typed input.
 */
#include <stdlib.h>
#include <string.h>

#include "psm.h"
#include "check.h"

/* in (n bytes) filtered in one call, as a C string in out (size bytes). */
static const char *
filter_n(const char *in, size_t n, size_t step)
{
	static struct psm_buf out;
	struct psm_term t;

	psm_term_init(&t);
	out.len = 0;
	if (step == 0)
		step = n ? n : 1;
	for (size_t i = 0; i < n; i += step)
		psm_term_filter(&t, &out, in + i, n - i < step ? n - i : step);
	psm_buf_addc(&out, '\0');
	return out.data;
}

static const char *
filter(const char *in)
{
	return filter_n(in, strlen(in), 0);
}

/* Each pair: the input, and what the viewer's terminal gets. */
static const struct {
	const char *in, *out;
} cases[] = {
	/* What draws the screen passes. */
	{ "plain text\r\n", "plain text\r\n" },
	{ "\033[31mred\033[0m \033[1;38;5;208mbold\033[m", "\033[31mred\033[0m \033[1;38;5;208mbold\033[m" },
	{ "\033[2J\033[H\033[10;20H\033[K\033[3A\033[?25l\033[?1049h\033[?1049l", NULL },
	{ "\033(0lqk\033(B \0337\0338 \033=\033> \033M \033#8 \033c", NULL },
	{ "\033[1;24r\033[2 q\033[u\033[s\033[>4;1m\033[!p", NULL },
	{ "caf\303\251 \342\234\223 \360\237\230\200 \a\b\t\016\017", NULL },
	{ "\302\205next line", NULL },				/* NEL in UTF-8 */
	{ "\302\233" "31mred", "\302\233" "31mred" },		/* CSI in UTF-8 */
	/* OSC: clipboard, titles, hyperlinks (their text stays), queries, cwd. */
	{ "a\033]52;c;cm0gLXJmIH4K\ab", "ab" },
	{ "a\033]52;c;?\033\\b", "ab" },
	{ "\033]0;evil title\a\033]2;x\033\\\033]1;icon\a$ ", "$ " },
	{ "\033]8;;http://example.com/\033\\link\033]8;;\033\\", "link" },
	{ "\033]4;1;?\a\033]10;?\a\033]11;?\a\033]12;?\a\033]7;file://h/tmp\a.", "." },
	{ "\302\235" "52;c;eA==\302\234after", "after" },	/* OSC and ST in UTF-8 */
	{ "\302\235" "0;t\aafter", "after" },
	/* DCS, SOS, PM, APC. */
	{ "\033P$qm\033\\\033P+q544e\033\\x", "x" },
	{ "\302\220" "$q\"p\302\234x", "x" },
	{ "\033Xsos\033\\\033^pm\033\\\033_apc\033\\x", "x" },
	{ "\033Pbel does not end a DCS\ax\033\\y", "y" },
	/* Requests that the terminal answers. */
	{ "\033[5n\033[6n\033[?6n\033[?15n\033[?996n.", "." },
	{ "\033[c\033[0c\033[>c\033[>0c\033[=c.", "." },
	{ "\033[14t\033[18t\033[21t\033[8;50;100t\033[22;0t.", "." },
	{ "\033[?1$p\033[2$p\033[?2026$p.", "." },
	{ "\033[x\033[1x\033[>q\033[>0q\033[?u\033[>1u\033[=1;1u\033[<u\033[$u\033[&u.", "." },
	{ "\033[1;1;1;1;1*y\033[\"v\033['|\033[#|\033[#R\033[?2;1S\033[?4m\033[$w\033[>0T.", "." },
	{ "\033[5i\033[4i\033[?5i.", "." },
	{ "\302\233" "6n.", "." },
	/* ESC Z, ENQ, switches of coding and of control transmission, a stray ST. */
	{ "\033Z\302\232\005\033%G\033%@\033 G\033 F\033\\.", "." },
	/* C0 controls act where they are, inside a sequence too. */
	{ "\033[3\n1m", "\n\033[31m" },
	{ "\033[6\rn", "\r" },
	{ "\033\n[31m", "\n\033[31m" },
	/* CAN and SUB cancel; ESC ends a string and begins anew. */
	{ "\033[31\030m", "\030m" },
	{ "\033]0;title\030x", "\030x" },
	{ "\033]0;title\033[31mred", "\033[31mred" },
	{ "\033\033[32m", "\033[32m" },
	/* A sequence that is not one is dropped to its final byte. */
	{ "\033[1\303\2516nx", "x" },
	{ "\033[31\177m", "\033[31m" },				/* DEL inside: ignored */
	/* Bytes that are not UTF-8: 0x80 to 0x9f alone dropped, others pass. */
	{ "a\235" "52;c;x\ab", "a52;c;x\ab" },
	{ "\233" "6n.", "6n." },
	{ "\377\376 \351t\351.", "\377\376 \351t\351." },
	{ "\342\202x", "\342x" },
	/* What is unfinished when the output ends is never written. */
	{ "x\033[31", "x" },
	{ "x\033]0;t", "x" },
	{ "x\342\202", "x" },
	{ "\303\033[6n\033[1m", "\303\033[1m" },
};

static void
test_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *in = cases[i].in, *want = cases[i].out ? cases[i].out : in;
		char name[32];

		snprintf(name, sizeof name, "case %zu", i);
		if (!check_str_(__FILE__, __LINE__, name, filter(in), want))
			continue;
		/* Byte by byte, and in pieces of 2 and 3: the same. */
		for (size_t step = 1; step <= 3; step++)
			if (!CHECK(strcmp(filter_n(in, strlen(in), step), want) == 0,
			    "case %zu in steps of %zu", i, step))
				break;
	}
}

/* The whole of every case as one stream, split at every point: one output. */
static void
test_splits(void)
{
	struct psm_buf all = { 0 }, want = { 0 };
	struct psm_term t;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		psm_buf_adds(&all, cases[i].in);
	psm_term_init(&t);
	psm_term_filter(&t, &want, all.data, all.len);
	for (size_t cut = 0; cut <= all.len; cut++) {
		struct psm_buf got = { 0 };
		psm_term_init(&t);
		psm_term_filter(&t, &got, all.data, cut);
		psm_term_filter(&t, &got, all.data + cut, all.len - cut);
		bool same = got.len == want.len && memcmp(got.data, want.data, got.len) == 0;
		psm_buf_free(&got);
		if (!CHECK(same, "split at %zu of %zu: another output", cut, all.len))
			break;
	}
	psm_buf_free(&all);
	psm_buf_free(&want);
}

/* Held sequences are bounded: longer ones are dropped to their end. */
static void
test_bounds(void)
{
	size_t n = 3 * PSM_TERM_HELD_MAX;
	char *in = xmalloc(n + 64);
	size_t k;

	/* An OSC far longer than what is held, ended by BEL: dropped, text after it kept. */
	k = (size_t)sprintf(in, "a\033]52;c;");
	memset(in + k, 'Q', n);
	k += n;
	k += (size_t)sprintf(in + k, "\ab");
	CHECK_STR(filter_n(in, k, 0), "ab");
	CHECK_STR(filter_n(in, k, 1000), "ab");
	/* Never ended: nothing after it is written. */
	CHECK_STR(filter_n(in, k - 2, 0), "a");

	/* A control sequence of PSM_TERM_HELD_MAX bytes is written; one byte more is dropped. */
	in[0] = '\033';
	in[1] = '[';
	memset(in + 2, '1', PSM_TERM_HELD_MAX - 2);
	in[PSM_TERM_HELD_MAX] = 'm';
	in[PSM_TERM_HELD_MAX + 1] = 'x';
	const char *out = filter_n(in, PSM_TERM_HELD_MAX + 2, 0);
	CHECK_EQ(strlen(out), PSM_TERM_HELD_MAX + 2);
	memset(in + 2, '1', PSM_TERM_HELD_MAX - 1);
	in[PSM_TERM_HELD_MAX + 1] = 'm';
	in[PSM_TERM_HELD_MAX + 2] = 'x';
	CHECK_STR(filter_n(in, PSM_TERM_HELD_MAX + 3, 0), "x");
	CHECK_STR(filter_n(in, PSM_TERM_HELD_MAX + 3, 7), "x");
	free(in);
}

/* A small generator, the same on every run. */
static uint64_t rng = 88172645463325252ULL;
static unsigned
next(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/*
 * Random streams of the pieces that matter: filtering the output again
 * changes nothing (nothing it writes is something it would drop), and
 * what it writes has no introducer of a string and no request.
 */
static void
test_random(void)
{
	static const char *const pieces[] = {
		"\033", "[", "]", "P", "X", "^", "_", "\\", "\a", "\030", "\005", "6", "n",
		"c", "t", "p", "$", "?", ">", ";", "1", "m", "q", "Z", "%", " ", "x", "\n",
		"\302\235", "\302\233", "\302\234", "\302\220", "\303\251", "\235", "\233",
		"\342\234\223", "\177", "u", "*", "y", "i", "#",
	};
	size_t npieces = sizeof pieces / sizeof pieces[0];

	for (int round = 0; round < 3000; round++) {
		struct psm_buf in = { 0 }, out = { 0 }, again = { 0 };
		struct psm_term t;
		unsigned len = 1 + next(60);

		for (unsigned i = 0; i < len; i++)
			psm_buf_adds(&in, pieces[next((unsigned)npieces)]);
		psm_buf_adds(&in, "\033\\.");	/* ends any string, so that all is seen */
		psm_term_init(&t);
		psm_term_filter(&t, &out, in.data, in.len);
		psm_term_init(&t);
		psm_term_filter(&t, &again, out.data, out.len);
		bool same = out.len == again.len && memcmp(out.data, again.data, out.len) == 0;
		bool clean = true;
		for (size_t i = 0; i + 1 < out.len; i++) {
			unsigned char a = (unsigned char)out.data[i], b = (unsigned char)out.data[i + 1];
			if ((a == 0x1b && strchr("]PX^_Z", b) != NULL) ||
			    (a == 0xc2 && (b == 0x9d || b == 0x90 || b == 0x98 || b == 0x9e ||
			    b == 0x9f || b == 0x9a)) || a == 0x05)
				clean = false;
		}
		for (size_t i = 0; i < out.len; i++)
			if ((unsigned char)out.data[i] == 0x9d || (unsigned char)out.data[i] == 0x9b)
				clean = clean && i > 0 && (unsigned char)out.data[i - 1] == 0xc2;
		CHECK(same, "round %d: filtering the output again changes it", round);
		CHECK(clean, "round %d: the output opens a string or sends a request", round);
		psm_buf_free(&in);
		psm_buf_free(&out);
		psm_buf_free(&again);
		if (check_failed)
			break;
	}
}

/* Linear: 16 MiB of text and of sequences, each byte looked at a bounded number of times. */
static void
test_large(void)
{
	size_t n = 16 << 20;
	char *in = xmalloc(n);
	struct psm_buf out = { 0 };
	struct psm_term t;

	for (size_t i = 0; i < n; i++)
		in[i] = "\033[31mab\033[6nc\033]0;t\a"[i % 19];
	psm_term_init(&t);
	psm_term_filter(&t, &out, in, n);
	CHECK(out.len > 0 && out.len < n, "16 MiB filtered to %zu bytes", out.len);
	psm_buf_free(&out);
	free(in);
}

static const char *
visible(const char *in, size_t n)
{
	static char out[256];
	size_t len = psm_term_visible(out, in, n);

	out[len] = '\0';
	return out;
}

static void
test_visible(void)
{
	CHECK_STR(visible("ls -l\r", 6), "ls -l\\r\n");
	CHECK_STR(visible("a\tb\nc", 5), "a\\tb\\n\nc");
	CHECK_STR(visible("\033[A\177\\", 5), "\\e[A\\x7f\\\\");
	CHECK_STR(visible("caf\303\251 \302\233 \377\0", 11), "caf\303\251 \\xc2\\x9b \\xff\\x00");
	CHECK_STR(visible("\342\202", 2), "\\xe2\\x82");
	/* The most it may take: four bytes for each. */
	char in[64], out[PSM_TERM_VISIBLE_MAX(64)];
	memset(in, 0x01, sizeof in);
	CHECK_EQ(psm_term_visible(out, in, sizeof in), sizeof out);
	memset(in, '\r', sizeof in);
	CHECK(psm_term_visible(out, in, sizeof in) <= sizeof out, "CR takes over 4 bytes");
}

int
main(void)
{
	test_cases();
	test_splits();
	test_bounds();
	test_random();
	test_large();
	test_visible();
	return check_done();
}
