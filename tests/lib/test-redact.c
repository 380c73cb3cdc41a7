/*
 * test-redact.c: the secrets' engine (lib/redact.c): the checks (Luhn,
 * IBAN, GitHub's CRC32, JWT) and entropy; the rules' parser and its
 * errors, by file and line; channels that mask the built-in rules'
 * secrets planted in ordinary text however the bytes are cut into adds
 * and takes (two pieces at every byte, a byte at a time), taken live or
 * after close, with escape sequences and UTF-8 characters kept whole;
 * a prompt's answer masked up to the end of its line.
 */
#include <stdlib.h>
#include <string.h>

#include "psm_redact.h"
#include "redact_rules.h"	/* builtin_rules[]: share/psm/redact.rules */
#include "check.h"

#define FILE_NAME "t.rules"

/* Checks. */

static bool
check_s(enum psm_redact_check k, const char *s)
{
	return psm_redact_check(k, (const unsigned char *)s, strlen(s));
}

static void
test_luhn(void)
{
	static const char *const good[] = {
		"4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444",
		"378282246310005", "6011000990139424", "4666 1760 3137 2159",
		"30569309025904", "4111111111119", "4111111111111111110",
	};
	static const char *const bad[] = {
		"4111111111111112", "4111 1111 1111 1112", "5555-5555-5555-4445",
		"378282246310006", "4111 1111 1111 111x", "4111_1111_1111_1111",
		"", " - - ", "4",
	};
	static const char *const any_length[] = {	/* Luhn alone: a card's length is its rule's */
		"42", "41111111111111111115",
	};

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CHECK(check_s(PSM_CHECK_LUHN, good[i]), "luhn refuses %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!check_s(PSM_CHECK_LUHN, bad[i]), "luhn takes \"%s\"", bad[i]);
	for (size_t i = 0; i < sizeof any_length / sizeof *any_length; i++)
		CHECK(check_s(PSM_CHECK_LUHN, any_length[i]), "luhn refuses %s", any_length[i]);
}

/* card: an issuer's prefix and length, and Luhn. */
static void
test_card(void)
{
	static const char *const good[] = {
		"4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444",
		"2223000048400011", "378282246310005", "3782 822463 10005", "6011000990139424",
		"30569309025904", "3056 930902 5904", "3530111333300000", "4111111111111111110",
	};
	static const char *const bad[] = {
		"4111111111119",		/* Visa, but 13 digits */
		"5848466617603137",		/* 58: no issuer */
		"7111111111111114",		/* 7: no issuer */
		"4111111111111112",		/* Luhn */
		"37828224631000",		/* Amex, one short */
		"2721000000000005",		/* past Mastercard's 2720 */
		"", "4",
	};

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CHECK(check_s(PSM_CHECK_CARD, good[i]), "card refuses %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!check_s(PSM_CHECK_CARD, bad[i]), "card takes \"%s\"", bad[i]);
}

/* The examples of ISO 13616 (and the registries that publish it), and each with a digit changed. */
static void
test_iban(void)
{
	static const char *const good[] = {
		"GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432",
		"DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
	};
	static const char *const bad[] = {
		"GB82 WEST 1234 5698 7654 33", "GB82 WEST 1234 5698 7655 32",
		"GB83 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0131 00",
		"DE88370400440532013000", "DE89370400440532013001",
		"GBXX WEST 1234 5698 7654 32", "GB82 WEST", "GB82-WEST-1234-5698-7654-32",
		"GB82WEST123456987654321234567890123", "",
	};

	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		CHECK(check_s(PSM_CHECK_IBAN, good[i]), "iban refuses %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!check_s(PSM_CHECK_IBAN, bad[i]), "iban takes \"%s\"", bad[i]);
}

/* CRC32 (IEEE 802.3, reflected), written here again to check the library's against. */
static uint32_t
crc32_here(const char *p, size_t n)
{
	uint32_t c = ~0u;

	for (size_t i = 0; i < n; i++) {
		c ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

/* A GitHub token: prefix, 30 random characters, their CRC32 as 6 base62 digits. */
static void
make_token(char *out, const char *prefix, const char *body30)
{
	static const char b62[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint32_t c = crc32_here(body30, 30);
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	memcpy(out + n, body30, 30);
	for (int i = 5; i >= 0; i--, c /= 62)
		out[n + 30 + (size_t)i] = b62[c % 62];
	out[n + 36] = '\0';
}

/* The token GitHub's documentation shows, its checksum computed here and by the library. */
#define GHP "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"

static void
test_github(void)
{
	char tok[48];
	static const char *const bad[] = {
		"ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18",	/* the checksum changed */
		"ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkj0mLq17",	/* the body changed */
		"ghp_aQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq17",
		"ghpzQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq17",	/* no '_' */
		"ghp_mLq17", "ghp_", "",
	};

	CHECK_EQ(crc32_here("123456789", 9), 0xcbf43926u);	/* the CRC's check value */
	make_token(tok, "ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
	CHECK_STR(tok, GHP);	/* the documented example is valid */
	CHECK(check_s(PSM_CHECK_GITHUB, GHP), "github refuses %s", GHP);
	for (const char *pre = "ghp_\0gho_\0ghu_\0ghs_\0ghr_\0"; *pre; pre += 5) {
		make_token(tok, pre, "0123456789abcdefghijABCDEFGHIJ");
		CHECK(check_s(PSM_CHECK_GITHUB, tok), "github refuses %s", tok);
		make_token(tok, pre, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
		CHECK(check_s(PSM_CHECK_GITHUB, tok), "github refuses %s", tok);
		tok[4] = 'y';
		CHECK(!check_s(PSM_CHECK_GITHUB, tok), "github takes %s", tok);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!check_s(PSM_CHECK_GITHUB, bad[i]), "github takes \"%s\"", bad[i]);
}

/* Headers: {"alg":"HS256","typ":"JWT"}, {"typ":"JWT"}, ["alg","HS256"]. */
#define JWT_HEAD "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_NOALG "eyJ0eXAiOiJKV1QifQ"
#define JWT_ARRAY "WyJhbGciLCJIUzI1NiJd"
#define JWT_BODY "eyJzdWIiOiJwc20tdGVzdCIsImlhdCI6MTcwMDAwMDAwMH0"
#define JWT_SIG "qmxyFHqNNKxOg9opulrqGOcH10imkrAmXXJM_-rUPlI"

static void
test_jwt(void)
{
	static const char *const bad[] = {
		JWT_NOALG "." JWT_BODY "." JWT_SIG,
		JWT_ARRAY "." JWT_BODY "." JWT_SIG,
		JWT_HEAD "." JWT_BODY,
		JWT_HEAD "." JWT_BODY ".",
		JWT_HEAD "." JWT_BODY "." JWT_SIG "." JWT_SIG,
		JWT_HEAD "=." JWT_BODY "." JWT_SIG,		/* padding is not base64url's */
		"eyJ*bGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." JWT_BODY "." JWT_SIG,
		"." JWT_BODY "." JWT_SIG, "..", "",
	};

	CHECK(check_s(PSM_CHECK_JWT, JWT_HEAD "." JWT_BODY "." JWT_SIG), "jwt refused");
	CHECK(check_s(PSM_CHECK_JWT, JWT_HEAD ".." JWT_SIG), "jwt with an empty payload refused");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK(!check_s(PSM_CHECK_JWT, bad[i]), "jwt takes \"%s\"", bad[i]);
	CHECK(check_s(PSM_CHECK_NONE, "anything"), "no check refuses");
}

static bool
near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

static void
test_entropy(void)
{
	static const struct { const char *s; double bits; } cases[] = {
		{ "", 0 }, { "a", 0 }, { "aaaaaaaa", 0 }, { "ab", 1 }, { "abab", 1 },
		{ "abcd", 2 }, { "0123456789abcdef", 4 }, { "aaab", 0.8112781244591328 },
		{ "aab", 0.9182958340544896 },
	};
	unsigned char all[256];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		double h = psm_redact_entropy((const unsigned char *)cases[i].s, strlen(cases[i].s));
		CHECK(near(h, cases[i].bits), "entropy of \"%s\": %.12f, expected %.12f",
		    cases[i].s, h, cases[i].bits);
	}
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	CHECK(near(psm_redact_entropy(all, sizeof all), 8), "every byte once: 8 bits");
}

/* The rules' parser. */

static size_t
rule_index(const struct psm_redact_rules *rs, const char *name)
{
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

static void
rules_init(struct psm_redact_rules *rs)
{
	struct psm_error e;

	if (!CHECK(psm_redact_rules_init(rs, &e) == 0, "psm_redact_rules_init: %s", e.msg))
		exit(check_done());
}

/* text refused with the message want; the messages of the compiler start with want. */
static void
parse_fails(const char *text, const char *want, bool prefix)
{
	struct psm_redact_rules rs;
	struct psm_error e;

	memset(&e, 0, sizeof e);
	rules_init(&rs);
	CHECK(psm_redact_parse(&rs, text, strlen(text), FILE_NAME, &e) == -1, "taken: %s", text);
	if (prefix)
		CHECK(strncmp(e.msg, want, strlen(want)) == 0, "message \"%s\", expected \"%s...\"",
		    e.msg, want);
	else
		CHECK_STR(e.msg, want);
	CHECK_EQ(e.kind, PSM_E_DATA);
	psm_redact_rules_free(&rs);
}

static void
test_parse_errors(void)
{
	parse_fails("rule x\n\tpatern abc\n", FILE_NAME ":2: unknown directive \"patern\"", false);
	parse_fails("rule x\n\x1b[31m abc\n", FILE_NAME ":2: unknown directive \"\\x1b[31m\"", false);
	parse_fails("rule x\ndescription d\n\nrule y\npattern y\n",
	    FILE_NAME ":1: rule x: no pattern", false);
	parse_fails("# c\nrule y\npattern y\nrule x\n", FILE_NAME ":4: rule x: no pattern", false);
	parse_fails("rule x\npattern a+b\n",
	    FILE_NAME ":2: rule x: pattern can match more than 8192 bytes "
	    "(give every repeat a maximum)", false);
	parse_fails("rule x\npattern a{1,8193}\n",
	    FILE_NAME ":2: rule x: pattern can match more than 8192 bytes "
	    "(give every repeat a maximum)", false);
	parse_fails("rule x\npattern a{1,9}\nend b*\n",
	    FILE_NAME ":2: rule x: pattern can match more than 8192 bytes "
	    "(give every repeat a maximum)", false);
	parse_fails("rule x\n\n  pattern (?:abc)?\nnocase\n",
	    FILE_NAME ":3: rule x: pattern matches the empty string", false);
	parse_fails("rule x\npattern x{0,3}\nrule y\npattern y\n",
	    FILE_NAME ":2: rule x: pattern matches the empty string", false);
	parse_fails("rule Bad\npattern x\n", FILE_NAME ":1: bad rule name \"Bad\" "
	    "(a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule ok\npattern x\nrule 9lives\n", FILE_NAME ":3: bad rule name \"9lives\" "
	    "(a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule a_b\n", FILE_NAME ":1: bad rule name \"a_b\" "
	    "(a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule\n", FILE_NAME ":1: bad rule name \"\" "
	    "(a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule abcdefghij-abcdefghij-abcdefghij-abcdefgh\npattern x\n",
	    FILE_NAME ":1: bad rule name \"abcdefghij-abcdefghij-abcdefghij-abcdefgh\" "
	    "(a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule prompt-answer\npattern x\n", FILE_NAME ":1: bad rule name "
	    "\"prompt-answer\" (a-z, 0-9 and -, at most 40, a letter first)", false);
	parse_fails("rule x\npattern x\ncheck crc\n",
	    FILE_NAME ":3: unknown check \"crc\" (luhn, card, iban, github, jwt)", false);
	parse_fails("# rules\n\npattern x\n",
	    FILE_NAME ":3: \"pattern\" outside a rule (begin one with \"rule NAME\")", false);
	parse_fails("rule x\npattern a\npattern b\npattern c\npattern d\npattern e\npattern f\n"
	    "pattern g\npattern h\npattern i\n", FILE_NAME ":10: rule x: more than 8 patterns", false);
	parse_fails("rule x\npattern a(b\n", FILE_NAME ":2: rule x: ", true);
	parse_fails("rule x\npattern (a)\\1\n", FILE_NAME ":2: rule x: ", true);
	parse_fails("rule x\npattern a(?=b)\n", FILE_NAME ":2: rule x: ", true);
	parse_fails("rule x\npattern a\\Kb\n", FILE_NAME ":2: rule x: ", true);
}

/* Parsed as written: the directives, a later rule replacing an earlier one; set by name. */
static void
test_parse(void)
{
	static const char text[] =
	    "# a comment\n"
	    "  rule one  \n"
	    "\tdescription the first rule  \n"
	    "\tpattern (a{2,3})b\n"
	    "\tnocase\n"
	    "\tdefault off\n"
	    "\tcheck luhn\n"
	    "\tentropy 2.5\n"
	    "\tstop foo  bar\n"
	    "\tstop baz\n"
	    "\tmin 3\n"
	    "rule two\n"
	    "pattern x{1,5}\n"
	    "rule one\n"
	    "pattern BEGIN\n"
	    "end END\n"
	    "max 100";
	struct psm_redact_rules rs;
	struct psm_error e;

	rules_init(&rs);
	CHECK(psm_redact_parse(&rs, text, sizeof text - 1, FILE_NAME, &e) == 0, "%s", e.msg);
	CHECK_EQ(rs.n, 3);
	size_t one = rule_index(&rs, "one"), two = rule_index(&rs, "two");
	CHECK_EQ(rule_index(&rs, PSM_REDACT_PROMPT_RULE), 0);
	CHECK(one == 1 && two == 2, "a rule defined again keeps its place");
	if (one == 1 && two == 2) {
		const struct psm_redact_rule *r = &rs.r[one];
		CHECK(r->description == NULL && !r->nocase && r->on && r->nstop == 0 &&
		    r->check == PSM_CHECK_NONE && r->min == 0, "the second \"one\" is all new");
		CHECK_STR(r->end, "END");
		CHECK_EQ(r->max, 100);
		CHECK_EQ(r->line, 15);
	}
	psm_redact_rules_free(&rs);

	rules_init(&rs);	/* a name of 40 characters */
	const char *forty = "rule abcdefghij-abcdefghij-abcdefghij-abcdefg\npattern x";
	CHECK(psm_redact_parse(&rs, forty, strlen(forty), FILE_NAME, &e) == 0, "%s", e.msg);
	psm_redact_rules_free(&rs);

	rules_init(&rs);	/* up to "rule two": the first "one" */
	CHECK(psm_redact_parse(&rs, text, (size_t)(strstr(text, "rule two") - text), FILE_NAME,
	    &e) == 0, "%s", e.msg);
	if (CHECK_EQ(rs.n, 2)) {
		const struct psm_redact_rule *r = &rs.r[1];
		CHECK_STR(r->description, "the first rule");
		CHECK_STR(r->pattern[0], "(a{2,3})b");
		CHECK(r->nocase && !r->on && r->check == PSM_CHECK_LUHN && near(r->entropy, 2.5) &&
		    r->min == 3 && r->end == NULL, "the directives of \"one\"");
		CHECK(r->nstop == 3 && strcmp(r->stop[0], "foo") == 0 &&
		    strcmp(r->stop[1], "bar") == 0 && strcmp(r->stop[2], "baz") == 0, "stop words");
		CHECK_EQ(r->width, 4);
	}

	CHECK(psm_redact_set(&rs, "one", true, &e) == 0 && rs.r[1].on, "set one on: %s", e.msg);
	CHECK(psm_redact_set(&rs, "all", false, &e) == 0 && !rs.r[0].on && !rs.r[1].on,
	    "set all off: %s", e.msg);
	CHECK(psm_redact_prompt_rule(&rs) == NULL, "prompt-answer off");
	CHECK(psm_redact_set(&rs, PSM_REDACT_PROMPT_RULE, true, &e) == 0 &&
	    psm_redact_prompt_rule(&rs) == &rs.r[0], "prompt-answer on: %s", e.msg);
	memset(&e, 0, sizeof e);
	CHECK(psm_redact_set(&rs, "nope", true, &e) == -1, "an unknown rule set");
	CHECK_STR(e.msg, "unknown rule \"nope\" (psm-redact --list-rules)");
	CHECK_EQ(e.kind, PSM_E_USAGE);
	CHECK(psm_redact_set(&rs, "one\x1b", false, &e) == -1, "an unknown rule set");
	CHECK_STR(e.msg, "unknown rule \"one\\x1b\" (psm-redact --list-rules)");
	psm_redact_rules_free(&rs);
}

/* Channels. */

/*
 * A url-password rule of the test's own while the built-in rules have
 * none: the channel tests plant a URL's password either way.
 */
static const char url_rule[] =
    "rule url-password\n"
    "pattern \\b[a-z][a-z0-9+.-]{1,30}://[^\\s/:@]{1,128}:([^\\s/@]{1,256})@\n"
    "nocase\n";

static void
compile(struct psm_redact_rules *rs)
{
	struct psm_error e;

	if (!CHECK(psm_redact_compile(rs, &e) == 0, "psm_redact_compile: %s", e.msg))
		exit(check_done());
}

static void
builtin(struct psm_redact_rules *rs)
{
	struct psm_error e;

	rules_init(rs);
	if (!CHECK(psm_redact_parse(rs, builtin_rules, sizeof builtin_rules, "(built-in rules)",
	    &e) == 0, "the built-in rules: %s", e.msg))
		exit(check_done());
	if (rule_index(rs, "url-password") == SIZE_MAX &&
	    !CHECK(psm_redact_parse(rs, url_rule, sizeof url_rule - 1, "url", &e) == 0, "%s", e.msg))
		exit(check_done());
	compile(rs);
}

/* Rules of the test's own. */
static void
local(struct psm_redact_rules *rs, const char *text)
{
	struct psm_error e;

	rules_init(rs);
	if (!CHECK(psm_redact_parse(rs, text, strlen(text), FILE_NAME, &e) == 0, "%s", e.msg))
		exit(check_done());
	compile(rs);
}

/* A piece of a test's text: ordinary, or a secret and the rule that masks it. */
struct seg {
	const char *text;
	const char *rule;
};

/* A test's text, what must come out, and the counts expected per rule. */
struct plant {
	const struct psm_redact_rules *rs;
	const struct seg *segs;
	size_t nsegs;
	struct psm_buf in, want;
	uint64_t *fired, *bytes;
	size_t mask_at;			/* psm_redact_mask_line() before this offset; SIZE_MAX: never */
};

/*
 * The text of segs, and what must come out of it: each secret replaced
 * by its rule's marker and the CRs and LFs it held (the screen keeps its
 * lines).
 */
static void
plant_init(struct plant *pl, const struct psm_redact_rules *rs, const struct seg *segs,
    size_t n)
{
	memset(pl, 0, sizeof *pl);
	pl->rs = rs;
	pl->segs = segs;
	pl->nsegs = n;
	pl->mask_at = SIZE_MAX;
	pl->fired = calloc(rs->n, sizeof *pl->fired);
	pl->bytes = calloc(rs->n, sizeof *pl->bytes);
	for (size_t i = 0; i < n; i++) {
		const char *s = segs[i].text;
		psm_buf_adds(&pl->in, s);
		if (segs[i].rule == NULL) {
			psm_buf_adds(&pl->want, s);
			continue;
		}
		size_t r = rule_index(rs, segs[i].rule);
		if (!CHECK(r != SIZE_MAX, "no rule %s", segs[i].rule))
			exit(check_done());
		if (pl->mask_at == SIZE_MAX && rs->r[r].prompt)
			pl->mask_at = pl->in.len - strlen(s);
		if (*s == '\0')
			continue;	/* a prompt answered with nothing */
		pl->fired[r]++;
		pl->bytes[r] += strlen(s);
		psm_buf_adds(&pl->want, "[redacted:");
		psm_buf_adds(&pl->want, segs[i].rule);
		psm_buf_adds(&pl->want, "]");
		for (; *s; s++)
			if (*s == '\r' || *s == '\n')
				psm_buf_addc(&pl->want, *s);
	}
	psm_buf_addc(&pl->want, '\0');
	pl->want.len--;
}

static void
plant_free(struct plant *pl)
{
	psm_buf_free(&pl->in);
	psm_buf_free(&pl->want);
	free(pl->fired);
	free(pl->bytes);
}

/* One run of a channel: what came out, and the counts. */
struct run {
	struct psm_redact_chan c;
	struct psm_buf out;
	uint64_t *fired, *bytes, *piece;
};

/* The next n bytes out, as psm-redact's emit(): as they are unless something in them is masked. */
static void
take_piece(struct run *r, const struct psm_redact_rules *rs, const char *p, size_t n)
{
	if (!psm_redact_masks(&r->c, n)) {
		psm_redact_skip(&r->c, n);
		psm_buf_add(&r->out, p, n);
		return;
	}
	memset(r->piece, 0, rs->n * sizeof *r->piece);
	struct psm_redact_taken t = { .bytes = r->piece };
	psm_redact_take(&r->c, p, n, &r->out, &t);
	CHECK(t.changed, "psm_redact_masks said yes, psm_redact_take changed nothing");
	for (size_t i = 0; i < rs->n; i++)
		r->bytes[i] += r->piece[i];
}

/*
 * The plant's text cut into n pieces (piece i: cuts[i] to cuts[i + 1]),
 * each added; live: the pieces taken out in order as soon as they are
 * settled (as psm-redact releases its queue), the rest after close;
 * else: all added, the channel closed, then all taken.
 */
static void
run_pieces(struct run *r, const struct plant *pl, const size_t *cuts, size_t n, bool live)
{
	const struct psm_redact_rules *rs = pl->rs;
	const char *text = pl->in.data;
	struct psm_error e;
	size_t head = 0;
	bool prompted = false;

	memset(r, 0, sizeof *r);
	r->fired = calloc(rs->n, sizeof *r->fired);
	r->bytes = calloc(rs->n, sizeof *r->bytes);
	r->piece = calloc(rs->n, sizeof *r->piece);
	if (!CHECK(psm_redact_chan_init(&r->c, rs, r->fired, &e) == 0, "%s", e.msg))
		exit(check_done());
	for (size_t i = 0; i < n; i++) {
		size_t len = cuts[i + 1] - cuts[i];
		if (!prompted && len > 0 && cuts[i] == pl->mask_at) {
			psm_redact_mask_line(&r->c);	/* as psm-redact, when typed bytes come */
			prompted = true;
		}
		psm_redact_add(&r->c, text + cuts[i], len);
		while (live && head <= i && psm_redact_settled(&r->c) >= r->c.taken +
		    (cuts[head + 1] - cuts[head])) {
			take_piece(r, rs, text + cuts[head], cuts[head + 1] - cuts[head]);
			head++;
		}
	}
	psm_redact_close(&r->c);
	CHECK_EQ(psm_redact_settled(&r->c), pl->in.len + 1);	/* after the non-word byte before them */
	for (; head < n; head++)
		take_piece(r, rs, text + cuts[head], cuts[head + 1] - cuts[head]);
	psm_buf_addc(&r->out, '\0');
	r->out.len--;
}

static void
run_free(struct run *r)
{
	psm_redact_chan_free(&r->c);
	psm_buf_free(&r->out);
	free(r->fired);
	free(r->bytes);
	free(r->piece);
}

/*
 * What came out is what was expected: no secret left (named if one is),
 * each replaced by its whole marker, the text between them unchanged;
 * each rule fired once per secret and counted its bytes.
 */
static bool
verify(const struct plant *pl, const struct run *r, const char *how, size_t at)
{
	const struct psm_redact_rules *rs = pl->rs;
	bool ok = true;

	for (size_t i = 0; i < pl->nsegs; i++)
		if (pl->segs[i].rule != NULL && *pl->segs[i].text != '\0')
			ok &= CHECK(memmem(r->out.data, r->out.len, pl->segs[i].text,
			    strlen(pl->segs[i].text)) == NULL, "%s %zu: the %s survives",
			    how, at, pl->segs[i].rule);
	if (!CHECK(strcmp(r->out.data, pl->want.data) == 0, "%s %zu: output differs", how, at)) {
		CHECK_STR(r->out.data, pl->want.data);
		ok = false;
	}
	for (size_t i = 0; i < rs->n; i++) {
		ok &= CHECK(r->fired[i] == pl->fired[i], "%s %zu: %s fired %ju times, expected %ju",
		    how, at, rs->r[i].name, (uintmax_t)r->fired[i], (uintmax_t)pl->fired[i]);
		ok &= CHECK(r->bytes[i] == pl->bytes[i], "%s %zu: %s masked %ju bytes, expected %ju",
		    how, at, rs->r[i].name, (uintmax_t)r->bytes[i], (uintmax_t)pl->bytes[i]);
	}
	return ok;
}

/*
 * The plant in two pieces cut at every byte (one of them empty: whole),
 * and a byte at a time; live and after close.
 */
static void
split_plant(const struct plant *pl)
{
	struct run r;
	size_t len = pl->in.len, *cuts = calloc(len + 1, sizeof *cuts);

	for (int live = 0; live < 2; live++) {
		bool ok = true;
		/* a prompt's answer comes in events of its own: a cut where it begins */
		size_t from = pl->mask_at == SIZE_MAX ? 0 : pl->mask_at;
		for (size_t k = from; k <= len && ok; k++) {
			size_t three[4] = { 0, from, k, len };
			run_pieces(&r, pl, three, 3, live);
			ok = verify(pl, &r, live ? "live, cut at" : "after close, cut at", k);
			run_free(&r);
		}
		for (size_t i = 0; i <= len; i++)
			cuts[i] = i;
		run_pieces(&r, pl, cuts, len, live);
		verify(pl, &r, live ? "live, a byte at a time, length" : "after close, a byte at a "
		    "time, length", len);
		run_free(&r);
	}
	free(cuts);
}

static void
every_split(const struct psm_redact_rules *rs, const struct seg *segs, size_t nsegs)
{
	struct plant pl;

	plant_init(&pl, rs, segs, nsegs);
	split_plant(&pl);
	plant_free(&pl);
}

#define AWS_ID "AKIAQ3EGRJ7ZT5BUXW4M"
#define CARD "4666 1760 3137 2159"
#define PEM "-----BEGIN OPENSSH PRIVATE KEY-----\r\n" \
	"b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABBr7qT2Wn\r\n" \
	"Qy9zM0cW5vdGFrZXlqdXN0YXRlc3RmaXh0dXJlZm9ycHNtcmVkYWN0aW9ubm90aGluZ2g=\r\n" \
	"-----END OPENSSH PRIVATE KEY-----"

/* A session's output with one secret of each kind in it. */
static const struct seg planted[] = {
	{ "$ aws sts get-caller-identity # as ", NULL }, { AWS_ID, "aws-access-key-id" },
	{ "\r\n$ export GH=", NULL }, { GHP, "github-token" },
	{ "\r\n$ psql postgres://app:", NULL }, { "Zq7vN4pLw9kR", "url-password" },
	{ "@db.internal:5432/app\r\n$ cat id\r\n", NULL }, { PEM, "pem-private-key" },
	{ "\r\n$ charge --card '", NULL }, { CARD, "card-number" },
	{ "' --amount 12.50\r\n$ mysql --password=", NULL }, { "Xk4rT9vQ2mLp", "generic-secret" },
	{ " -h db\r\n$ ", NULL },
};

/* grep --color: the secret between SGR and erase-line sequences. */
static const struct seg coloured[] = {
	{ "$ grep -r AKIA .\r\n./env:AWS_ID=\x1b[01;31m\x1b[K", NULL }, { AWS_ID, "aws-access-key-id" },
	{ "\x1b[m\x1b[K\r\n./env:GH=\x1b[01;31m\x1b[K", NULL }, { GHP, "github-token" },
	{ "\x1b[m\x1b[K\r\n\x1b[01;31m\x1b[K", NULL }, { AWS_ID, "aws-access-key-id" },
	{ "\x1b[m\x1b[K\r\n", NULL },
};

/* Secrets right after characters of 2, 3 and 4 bytes, and right before them. */
static const struct seg utf8[] = {
	{ "cl\xc3\xa9 \xc2\xab", NULL }, { AWS_ID, "aws-access-key-id" },
	{ "\xc2\xbb \xe2\x9c\x93 \xe2\x86\x92", NULL }, { GHP, "github-token" },
	{ "\xe2\x86\x90\r\n\xf0\x9f\x94\x91", NULL }, { AWS_ID, "aws-access-key-id" },
	{ "\xf0\x9f\x94\x91\r\n", NULL },
};

static void
test_planted(void)
{
	struct psm_redact_rules rs;

	builtin(&rs);
	every_split(&rs, planted, sizeof planted / sizeof *planted);
	every_split(&rs, coloured, sizeof coloured / sizeof *coloured);
	every_split(&rs, utf8, sizeof utf8 / sizeof *utf8);
	psm_redact_rules_free(&rs);
}

/*
 * Rules whose matches begin or end inside a UTF-8 character: the span
 * grows to the whole character (of 2, 3 or 4 bytes), never cuts it.
 */
static void
test_utf8_widened(void)
{
	static const char rules[] =
	    "rule head\npattern [^ \\r\\n]{2}key[0-9]{4}\n"
	    "rule tail\npattern pin[0-9]{4}[^ \\r\\n]\n";
	static const struct seg segs[] = {
		{ "a ", NULL }, { "\xe2\x82\xac" "key1234", "head" },
		{ " b ", NULL }, { "pin5678\xc3\xa9", "tail" },
		{ " c ", NULL }, { "\xf0\x9f\x94\x91key9876", "head" },
		{ "\r\n", NULL }, { "pin0000\xf0\x9f\x94\x91", "tail" },
		{ "\xe2\x82\xac ", NULL }, { "\xc3\xa9xkey5555", "head" },
		{ "\r\n", NULL },
	};
	struct psm_redact_rules rs;

	local(&rs, rules);
	every_split(&rs, segs, sizeof segs / sizeof *segs);
	psm_redact_rules_free(&rs);
}

/* A prompt's answer: masked from where it begins to CR, LF, ^C or ^D, not after. */
static void
test_prompt_answer(void)
{
	static const struct seg cr[] = {
		{ "sudo -i\r", NULL }, { "hunter2", PSM_REDACT_PROMPT_RULE }, { "\rls -l\r", NULL },
	};
	static const struct seg lf[] = {
		{ "", NULL }, { "s3cret pass phrase", PSM_REDACT_PROMPT_RULE }, { "\nexit\n", NULL },
	};
	static const struct seg etx[] = {
		{ "x", NULL }, { "hunt", PSM_REDACT_PROMPT_RULE }, { "\x03" "date\r", NULL },
	};
	static const struct seg eot[] = {
		{ "x", NULL }, { "hunt", PSM_REDACT_PROMPT_RULE }, { "\x04" "date\r", NULL },
	};
	static const struct seg echo[] = {	/* the output: a program that echoes */
		{ "[sudo] password for alice: ", NULL }, { "hunter2", PSM_REDACT_PROMPT_RULE },
		{ "\r\nroot@host:~# ", NULL },
	};
	struct psm_redact_rules rs;

	builtin(&rs);
	every_split(&rs, cr, sizeof cr / sizeof *cr);
	every_split(&rs, lf, sizeof lf / sizeof *lf);
	every_split(&rs, etx, sizeof etx / sizeof *etx);
	every_split(&rs, eot, sizeof eot / sizeof *eot);
	every_split(&rs, echo, sizeof echo / sizeof *echo);
	psm_redact_rules_free(&rs);
}

/*
 * A block that begins after a prompt's answer ended, in the same add as
 * its end: the answer's region is closed before the scanner sees what
 * follows it, or the block's beginning went unseen and its body out.
 */
static void
test_block_after_answer(void)
{
	static const struct seg echo[] = {	/* the output: sudo cat key, no echo */
		{ "[sudo] password for alice: ", NULL }, { "", PSM_REDACT_PROMPT_RULE },
		{ "\r\n", NULL }, { PEM, "pem-private-key" }, { "\r\n$ ", NULL },
	};
	static const struct seg stars[] = {	/* pwfeedback's stars, then the key */
		{ "Password: ", NULL }, { "****", PSM_REDACT_PROMPT_RULE },
		{ "\n", NULL }, { PEM, "pem-private-key" }, { "\n", NULL },
	};
	struct psm_redact_rules rs;
	struct plant pl;
	static const struct seg inside[] = {
		{ "", PSM_REDACT_PROMPT_RULE }, { "abc" PEM, "pem-private-key" }, { "\r", NULL },
	};

	builtin(&rs);
	every_split(&rs, echo, sizeof echo / sizeof *echo);
	every_split(&rs, stars, sizeof stars / sizeof *stars);
	/*
	 * A block that begins inside the answer (a key pasted at the prompt):
	 * the answer ends where the block's first line does, the block goes
	 * on to its end. One span, one marker: the answer's.
	 */
	plant_init(&pl, &rs, inside, sizeof inside / sizeof *inside);
	pl.want.len = 0;
	psm_buf_adds(&pl.want, "[redacted:" PSM_REDACT_PROMPT_RULE "]\r\n\r\n\r\n\r");
	psm_buf_addc(&pl.want, '\0');
	pl.fired[0] = 1;
	pl.bytes[0] = strlen("abc-----BEGIN OPENSSH PRIVATE KEY-----");
	pl.bytes[rule_index(&rs, "pem-private-key")] = strlen(PEM);
	split_plant(&pl);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
}

/* Blocks: from the beginning through the end, across lines; at most max bytes without an end. */
static void
test_blocks(void)
{
	static const char rules[] = "rule blk\npattern BEGIN\nend END\nmax 16\n";
	static const struct seg segs[] = {
		{ "xx END ", NULL }, { "BEGIN0123456789a", "blk" }, { "bcd ", NULL },
		{ "BEGIN\r\nab END", "blk" }, { " yy ", NULL }, { "BEGINEND", "blk" },
		{ " END zz\r\n", NULL },
	};
	struct psm_redact_rules rs;

	local(&rs, rules);
	every_split(&rs, segs, sizeof segs / sizeof *segs);
	psm_redact_rules_free(&rs);
}

/* An answer without its end masks PSM_REDACT_LINE_MAX bytes, and what follows is scanned. */
static void
test_prompt_bounded(void)
{
	struct psm_redact_rules rs;
	struct plant pl;
	struct run r;
	char *answer = malloc(PSM_REDACT_LINE_MAX + 1);
	struct seg segs[] = {
		{ "", NULL }, { answer, PSM_REDACT_PROMPT_RULE }, { "yyy " AWS_ID " z\r", NULL },
	};

	memset(answer, 'x', PSM_REDACT_LINE_MAX);
	answer[PSM_REDACT_LINE_MAX] = '\0';
	builtin(&rs);
	plant_init(&pl, &rs, segs, 3);
	size_t cuts[] = { 0, pl.in.len };
	run_pieces(&r, &pl, cuts, 1, true);
	CHECK_STR(r.out.data, "[redacted:" PSM_REDACT_PROMPT_RULE "]yyy [redacted:"
	    "aws-access-key-id] z\r");
	run_free(&r);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
	free(answer);
}

/*
 * Two matches of one rule that overlap are one span, counted once,
 * whenever the second is found: here at close, after nine other spans
 * (4071 4881 8174 1433 and 4881 8174 1433 3776 both pass).
 */
static void
test_overlap_counted_once(void)
{
	struct seg segs[21] = { { "$ pay ", NULL }, { "4071 4881 8174 1433 3776", "card-number" } };
	struct psm_redact_rules rs;

	for (int i = 0; i < 9; i++) {
		segs[2 + 2 * i] = (struct seg){ " ", NULL };
		segs[3 + 2 * i] = (struct seg){ AWS_ID, "aws-access-key-id" };
	}
	segs[20] = (struct seg){ "\r\n", NULL };
	builtin(&rs);
	every_split(&rs, segs, 21);
	psm_redact_rules_free(&rs);
}

/*
 * Two rules' spans that begin at the same byte: the marker is the first
 * rule's, whichever was found first ("word" is settled before the block's
 * first line is whole when the bytes come one by one, after it when they
 * come at once).
 */
static void
test_same_start(void)
{
	static const char rules[] =
	    "rule word\npattern =([A-Z]{4,8})\nrule blk\npattern BEGIN KEY\nend END\n";
	static const struct seg segs[] = {
		{ "x=", NULL }, { "BEGIN KEY\r\nbody\r\nEND", "word" }, { " y\r\n", NULL },
	};
	struct psm_redact_rules rs;
	struct plant pl;

	local(&rs, rules);
	plant_init(&pl, &rs, segs, sizeof segs / sizeof *segs);
	size_t word = rule_index(&rs, "word"), blk = rule_index(&rs, "blk");
	pl.bytes[word] = strlen("BEGIN");
	pl.fired[blk] = 1;
	pl.bytes[blk] = strlen(segs[1].text);
	split_plant(&pl);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
}

/* A secret typed as a prompt's answer: one span, the answer's marker; each rule counts its bytes. */
static void
test_secret_in_answer(void)
{
	static const struct seg segs[] = {
		{ "$ ", NULL }, { AWS_ID, PSM_REDACT_PROMPT_RULE }, { "\r$ ", NULL },
	};
	struct psm_redact_rules rs;
	struct plant pl;

	builtin(&rs);
	plant_init(&pl, &rs, segs, sizeof segs / sizeof *segs);
	size_t aws = rule_index(&rs, "aws-access-key-id");
	pl.fired[aws] = 1;
	pl.bytes[aws] = strlen(AWS_ID);
	split_plant(&pl);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
}

/* What only looks like a secret passes: placeholders, low entropy, bad checksums. */
static void
test_not_secrets(void)
{
	static const struct seg segs[] = {
		{ "password=changeme123 password: aaaaaaaa secret=ExAmPlE-key-1234\r\n"
		  "ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18 4111 1111 1111 1112\r\n"
		  "AKIAQ3EGRJ7ZT5BUXW4 AKIAQ3EGRJ7ZT5BUXW4MX xAKIAQ3EGRJ7ZT5BUXW4M\r\n"
		  "-----BEGIN PUBLIC KEY-----\r\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\r\n"
		  "-----END PUBLIC KEY-----\r\n", NULL },
	};
	struct psm_redact_rules rs;

	builtin(&rs);
	every_split(&rs, segs, sizeof segs / sizeof *segs);
	psm_redact_rules_free(&rs);
}

/* Every rule off: nothing to scan, the bytes pass as they are. */
static void
test_all_off(void)
{
	struct psm_redact_rules rs;
	struct psm_error e;
	struct plant pl;
	struct run r;

	rules_init(&rs);
	CHECK(psm_redact_parse(&rs, builtin_rules, sizeof builtin_rules, "(built-in rules)",
	    &e) == 0 && psm_redact_set(&rs, "all", false, &e) == 0, "%s", e.msg);
	compile(&rs);
	CHECK(rs.db == NULL, "a database of no rules");
	static const struct seg segs[] = { { "key " AWS_ID " " GHP "\r\n" PEM "\r\n", NULL } };
	plant_init(&pl, &rs, segs, 1);
	size_t cuts[] = { 0, 10, 11, pl.in.len };
	run_pieces(&r, &pl, cuts, 3, true);
	verify(&pl, &r, "every rule off", 0);
	run_free(&r);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
}

static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * A long session: the planted text a thousand times, in pieces of 1 to
 * 400 bytes, live. The channel's view and its spans are trimmed as it
 * goes; every secret is still masked, and nothing else.
 */
static void
test_long(void)
{
	enum { TIMES = 1000 };
	struct psm_redact_rules rs;
	struct plant one, pl;
	struct run r;
	size_t n = 0;

	builtin(&rs);
	plant_init(&one, &rs, planted, sizeof planted / sizeof *planted);
	plant_init(&pl, &rs, planted, 0);
	for (int i = 0; i < TIMES; i++) {
		psm_buf_add(&pl.in, one.in.data, one.in.len);
		psm_buf_add(&pl.want, one.want.data, one.want.len);
	}
	psm_buf_addc(&pl.want, '\0');
	pl.want.len--;
	pl.segs = planted;
	pl.nsegs = sizeof planted / sizeof *planted;
	for (size_t i = 0; i < rs.n; i++) {
		pl.fired[i] = one.fired[i] * TIMES;
		pl.bytes[i] = one.bytes[i] * TIMES;
	}
	size_t *cuts = malloc((pl.in.len + 1) * sizeof *cuts);
	for (size_t at = 0; at < pl.in.len; at += 1 + next() % 400)
		cuts[n++] = at;
	cuts[n] = pl.in.len;
	run_pieces(&r, &pl, cuts, n, true);
	verify(&pl, &r, "a long session, pieces", n);
	CHECK(r.c.vcap < 64 * 1024, "the view grew to %zu bytes", r.c.vcap);
	CHECK(r.c.hitcap <= 1024, "room for %zu spans", r.c.hitcap);	/* a batch's, at most */
	run_free(&r);
	free(cuts);
	plant_free(&one);
	plant_free(&pl);
	psm_redact_rules_free(&rs);
}

int
main(void)
{
	test_luhn();
	test_card();
	test_iban();
	test_github();
	test_jwt();
	test_entropy();
	test_parse_errors();
	test_parse();
	test_planted();
	test_utf8_widened();
	test_prompt_answer();
	test_prompt_bounded();
	test_block_after_answer();
	test_blocks();
	test_overlap_counted_once();
	test_same_start();
	test_secret_in_answer();
	test_not_secrets();
	test_all_off();
	test_long();
	return check_done();
}
