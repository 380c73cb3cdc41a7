/*
 * redact.c: the rules of psm-redact, and the channels they mask.
 *
 * One Vectorscan database in streaming mode holds every rule that is on
 * (rule i: expression 2i, and 2i + 1 for a block rule's end), with the
 * leftmost start of each match. A channel is one stream of a session's
 * bytes; what Vectorscan reports becomes a "hit", a span of offsets to
 * mask. A match whose end may still grow is a candidate until no byte to
 * come can make it longer: then its group (PCRE2), checks, entropy and
 * stop words are tested once, on the longest match, so that a prefix of a
 * placeholder is not taken for a secret.
 *
 * The scanner sees every byte of an escape sequence as ESC (0x1b), a
 * non-word byte that no rule's secret contains: "\b" then works after a
 * colour code, and a span, cut of ESC bytes at both ends, never takes a
 * part of a sequence. Spans are also widened to whole UTF-8 characters.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "psm_redact.h"

#define ESC 0x1b
/* Bytes a candidate's span may move back (UTF-8) or look behind (PCRE2's \b). */
#define LOOKBEHIND 16
/* Later beginnings tried when the leftmost match fails its tests. */
#define RETRIES 8

/*
 * Vectorscan's id of an expression: the rule's index times
 * EXPRS_PER_RULE, plus the pattern's (END_EXPR: a block's end). A
 * channel's candidates are indexed by it too.
 */
#define EXPRS_PER_RULE (PSM_REDACT_PATTERNS + 1)
#define END_EXPR PSM_REDACT_PATTERNS

static unsigned
expr_id(size_t rule, size_t k)
{
	return (unsigned)(rule * EXPRS_PER_RULE + k);
}

/* Rules. */

static void
rule_clear(struct psm_redact_rule *r)
{
	free(r->description);
	for (size_t k = 0; k < r->npat; k++) {
		free(r->pattern[k]);
		if (r->re[k] != NULL)
			pcre2_code_free(r->re[k]);
	}
	free(r->end);
	free(r->file);
	for (size_t i = 0; i < r->nstop; i++)
		free(r->stop[i]);
	free(r->stop);
	memset(r, 0, sizeof *r);
}

static struct psm_redact_rule *
rule_new(struct psm_redact_rules *rs, const char *name)
{
	struct psm_redact_rule *r = NULL;

	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].name, name) == 0)
			r = &rs->r[i];	/* a later definition replaces it */
	if (r == NULL) {
		rs->r = xpsm_grow(rs->r, &rs->cap, rs->n + 1, sizeof *rs->r);
		r = &rs->r[rs->n++];
		memset(r, 0, sizeof *r);
	}
	rule_clear(r);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->on = true;
	r->max = PSM_REDACT_BLOCK_MAX;
	return r;
}

int
psm_redact_rules_init(struct psm_redact_rules *rs, struct psm_error *e)
{
	(void)e;
	memset(rs, 0, sizeof *rs);
	struct psm_redact_rule *r = rule_new(rs, PSM_REDACT_PROMPT_RULE);
	r->prompt = true;
	r->description = xstrdup("what is typed after a password prompt, up to Enter, and its echo");
	return 0;
}

static bool
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PSM_REDACT_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int
parse_check(const char *s, enum psm_redact_check *c)
{
	static const struct { const char *name; enum psm_redact_check c; } checks[] = {
		{ "luhn", PSM_CHECK_LUHN }, { "iban", PSM_CHECK_IBAN },
		{ "github", PSM_CHECK_GITHUB }, { "jwt", PSM_CHECK_JWT }, { "card", PSM_CHECK_CARD },
	};

	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
		if (strcmp(s, checks[i].name) == 0) {
			*c = checks[i].c;
			return 0;
		}
	return -1;
}

static int
parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 16 * 1024 * 1024)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void
add_stop_words(struct psm_redact_rule *r, char *arg)
{
	for (char *w = strtok(arg, " \t"); w != NULL; w = strtok(NULL, " \t")) {
		size_t cap = r->nstop;
		r->stop = xpsm_grow(r->stop, &cap, r->nstop + 1, sizeof *r->stop);
		r->stop[r->nstop++] = xstrdup(w);
	}
}

/* A pattern Vectorscan takes, bounded and never empty; its width. */
static int
check_expression(const struct psm_redact_rule *r, const char *re, size_t *width,
    size_t *minwidth, struct psm_error *e)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *err = NULL;
	unsigned flags = r->nocase ? HS_FLAG_CASELESS : 0;

	if (hs_expression_info(re, flags, &info, &err) != HS_SUCCESS) {
		psm_fail(e, PSM_E_DATA, "rule %s: %s", r->name, err ? err->message : "bad pattern");
		hs_free_compile_error(err);
		return -1;
	}
	unsigned min = info->min_width, max = info->max_width;
	free(info);
	if (max > PSM_REDACT_WIDTH_MAX)
		return psm_fail(e, PSM_E_DATA, "rule %s: pattern can match more than %d bytes "
		    "(give every repeat a maximum)", r->name, PSM_REDACT_WIDTH_MAX);
	if (min == 0)
		return psm_fail(e, PSM_E_DATA, "rule %s: pattern matches the empty string", r->name);
	*width = max;
	*minwidth = min;
	return 0;
}

/*
 * PCRE2 for the exact span: Vectorscan reports where a match ends, the
 * pattern compiled to end there finds where it begins and its group.
 */
static int
compile_span(struct psm_redact_rule *r, size_t k, struct psm_error *e)
{
	int code;
	PCRE2_SIZE at;
	uint32_t opts = PCRE2_ENDANCHORED | (r->nocase ? PCRE2_CASELESS : 0);
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)r->pattern[k], PCRE2_ZERO_TERMINATED, opts,
	    &code, &at, NULL);

	if (re == NULL) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof msg);
		return psm_fail(e, PSM_E_DATA, "rule %s: %s (at %zu)", r->name, (char *)msg,
		    (size_t)at);
	}
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* else the interpreter */
	r->re[k] = re;
	return 0;
}

/* A rule is whole: its patterns are checked where it was written. */
static int
finish_rule(struct psm_redact_rule *r, struct psm_error *e)
{
	size_t endwidth, minwidth;

	if (r->npat == 0)
		return psm_fail(e, PSM_E_DATA, "rule %s: no pattern", r->name);
	if (r->end != NULL && check_expression(r, r->end, &endwidth, &r->endmin, e) < 0)
		return -1;
	for (size_t k = 0; k < r->npat; k++) {
		if (check_expression(r, r->pattern[k], &r->pwidth[k], &minwidth, e) < 0 ||
		    compile_span(r, k, e) < 0)
			return -1;
		if (r->pwidth[k] > r->width)
			r->width = r->pwidth[k];
	}
	return 0;
}

/* One directive of a rule; arg may be rewritten. */
static int
directive(struct psm_redact_rule *r, const char *key, char *arg, uint64_t lineno,
    struct psm_error *e)
{
	bool none = *arg == '\0';

	if (strcmp(key, "description") == 0 && !none) {
		free(r->description);
		r->description = xstrdup(arg);
	} else if (strcmp(key, "pattern") == 0 && !none) {
		if (r->npat == PSM_REDACT_PATTERNS)
			return psm_fail(e, PSM_E_DATA, "rule %s: more than %d patterns", r->name,
			    PSM_REDACT_PATTERNS);
		r->pattern[r->npat++] = xstrdup(arg);
		if (r->line == 0)
			r->line = lineno;
	} else if (strcmp(key, "end") == 0 && !none) {
		free(r->end);
		r->end = xstrdup(arg);
	} else if (strcmp(key, "nocase") == 0 && none) {
		r->nocase = true;
	} else if (strcmp(key, "default") == 0) {
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return psm_fail(e, PSM_E_DATA, "\"default\" takes on or off");
		r->on = strcmp(arg, "on") == 0;
	} else if (strcmp(key, "check") == 0) {
		if (parse_check(arg, &r->check) < 0)
			return psm_fail(e, PSM_E_DATA, "unknown check \"%.40s\" (luhn, card, iban, github, jwt)",
			    arg);
	} else if (strcmp(key, "entropy") == 0) {
		char *end;
		r->entropy = strtod(arg, &end);
		if (none || *end != '\0' || !(r->entropy >= 0 && r->entropy <= 8))
			return psm_fail(e, PSM_E_DATA, "\"entropy\" takes bits per byte, 0 to 8");
	} else if (strcmp(key, "stop") == 0 && !none) {
		add_stop_words(r, arg);
	} else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0) {
		if (parse_size(arg, key[1] == 'i' ? &r->min : &r->max) < 0)
			return psm_fail(e, PSM_E_DATA, "\"%s\" takes a number of bytes", key);
	} else if (strcmp(key, "description") == 0 || strcmp(key, "pattern") == 0 ||
	    strcmp(key, "end") == 0 || strcmp(key, "stop") == 0) {
		return psm_fail(e, PSM_E_DATA, "\"%s\" needs an argument", key);
	} else if (strcmp(key, "nocase") == 0) {
		return psm_fail(e, PSM_E_DATA, "\"nocase\" takes no argument");
	} else {
		char q[48];
		psm_quote(q, sizeof q, key, strlen(key));
		return psm_fail(e, PSM_E_DATA, "unknown directive \"%s\"", q);
	}
	return 0;
}

/* Split a line into its keyword and the rest, both trimmed. */
static void
split_line(char *line, char **key, char **arg)
{
	char *p = line + strspn(line, " \t");
	size_t n = strlen(p);

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	*key = p;
	p += strcspn(p, " \t");
	if (*p != '\0')
		*p++ = '\0';
	*arg = p + strspn(p, " \t");
}

int
psm_redact_parse(struct psm_redact_rules *rs, const char *text, size_t len,
    const char *file, struct psm_error *e)
{
	struct psm_redact_rule *r = NULL;
	uint64_t lineno = 0, ruleline = 0;
	const char *p = text, *end = text + len;
	char *line = NULL;
	int rc = 0;

	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *key, *arg;

		lineno++;
		free(line);
		line = xmalloc(n + 1);
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl != NULL);
		if (memchr(line, '\0', n) != NULL) {
			rc = psm_fail(e, PSM_E_DATA, "a NUL byte");
			break;
		}
		split_line(line, &key, &arg);
		if (*key == '\0' || *key == '#')
			continue;
		if (strcmp(key, "rule") == 0) {
			if (r != NULL && (rc = finish_rule(r, e)) < 0) {
				lineno = r->line ? r->line : ruleline;
				break;
			}
			if (!name_valid(arg) || strcmp(arg, PSM_REDACT_PROMPT_RULE) == 0) {
				char q[64];
				psm_quote(q, sizeof q, arg, strlen(arg));
				rc = psm_fail(e, PSM_E_DATA, "bad rule name \"%s\" (a-z, 0-9 and -, "
				    "at most %d, a letter first)", q, PSM_REDACT_NAME_MAX);
				break;
			}
			r = rule_new(rs, arg);
			r->file = xstrdup(file);
			ruleline = lineno;
			continue;
		}
		if (r == NULL) {
			rc = psm_fail(e, PSM_E_DATA, "\"%.40s\" outside a rule (begin one with \"rule NAME\")", key);
			break;
		}
		rc = directive(r, key, arg, lineno, e);
	}
	if (rc == 0 && r != NULL && (rc = finish_rule(r, e)) < 0)
		lineno = r->line ? r->line : ruleline;
	free(line);
	if (rc < 0)
		psm_error_prefix(e, "%s:%" PRIu64, file, lineno);
	return rc;
}

int
psm_redact_set(struct psm_redact_rules *rs, const char *name, bool on, struct psm_error *e)
{
	bool all = strcmp(name, "all") == 0, found = false;

	for (size_t i = 0; i < rs->n; i++)
		if (all || strcmp(rs->r[i].name, name) == 0) {
			rs->r[i].on = on;
			found = true;
		}
	if (!found) {
		char q[64];
		psm_quote(q, sizeof q, name, strlen(name));
		return psm_fail(e, PSM_E_USAGE, "unknown rule \"%s\" (psm-redact --list-rules)", q);
	}
	return 0;
}

const struct psm_redact_rule *
psm_redact_prompt_rule(const struct psm_redact_rules *rs)
{
	return rs->r[0].on ? &rs->r[0] : NULL;
}

/* One database of every rule that is on (none: nothing to scan). */
int
psm_redact_compile(struct psm_redact_rules *rs, struct psm_error *e)
{
	size_t most = rs->n * EXPRS_PER_RULE;
	const char **exprs = xmalloc(most * sizeof *exprs);
	unsigned *flags = xmalloc(most * sizeof *flags), *ids = xmalloc(most * sizeof *ids);
	unsigned n = 0;
	hs_compile_error_t *err = NULL;
	hs_database_t *db = NULL;
	int rc = 0;

	rs->width = 0;
	for (size_t i = 0; i < rs->n; i++) {
		const struct psm_redact_rule *r = &rs->r[i];
		unsigned f = r->nocase ? HS_FLAG_CASELESS : 0;
		if (!r->on || r->prompt)
			continue;
		for (size_t k = 0; k < r->npat; k++)
			exprs[n] = r->pattern[k], flags[n] = f, ids[n++] = expr_id(i, k);
		if (r->end != NULL)
			exprs[n] = r->end, flags[n] = f, ids[n++] = expr_id(i, END_EXPR);
		if (r->width > rs->width)
			rs->width = r->width;
	}
	if (n > 0 && hs_compile_multi(exprs, flags, ids, n, HS_MODE_STREAM,
	    NULL, &db, &err) != HS_SUCCESS) {
		const struct psm_redact_rule *r = err->expression >= 0 ?
		    &rs->r[ids[err->expression] / EXPRS_PER_RULE] : NULL;
		if (r != NULL)
			rc = psm_fail(e, PSM_E_DATA, "%s:%" PRIu64 ": rule %s: %s", r->file, r->line,
			    r->name, err->message);
		else
			rc = psm_fail(e, PSM_E_DATA, "the rules: %s", err->message);
		hs_free_compile_error(err);
	} else if (n > 0 && hs_alloc_scratch(db, (hs_scratch_t **)&rs->scratch) != HS_SUCCESS) {
		rc = psm_fail(e, PSM_E_OS, "the rules: no memory for the scanner");
	}
	rs->db = db;
	rs->match = pcre2_match_data_create(64, NULL);
	if (rs->match == NULL && rc == 0)
		rc = psm_fail(e, PSM_E_OS, "the rules: no memory");
	free(exprs);
	free(flags);
	free(ids);
	return rc;
}

/*
 * What the database of the rules that are on is made of, as one string:
 * a saved database is used only for exactly these rules, in this order.
 */
static void
fingerprint(const struct psm_redact_rules *rs, struct psm_buf *b)
{
	char num[24];

	psm_buf_adds(b, hs_version());
	psm_buf_addc(b, '\n');
	for (size_t i = 0; i < rs->n; i++) {
		const struct psm_redact_rule *r = &rs->r[i];
		if (!r->on || r->prompt)
			continue;
		snprintf(num, sizeof num, "%zu %c ", i, r->nocase ? 'i' : '-');
		psm_buf_adds(b, num);
		for (size_t k = 0; k < r->npat; k++)
			psm_buf_add(b, r->pattern[k], strlen(r->pattern[k]) + 1);
		psm_buf_add(b, r->end ? r->end : "", strlen(r->end ? r->end : "") + 1);
	}
}

/*
 * The compiled database with its fingerprint, to be built in: compiling
 * the built-in rules costs more time and memory than scanning 100 MB.
 * Format: the fingerprint's length (8 hex digits), the fingerprint, the
 * database as hs_serialize_database() writes it.
 */
int
psm_redact_save(const struct psm_redact_rules *rs, struct psm_buf *out, struct psm_error *e)
{
	struct psm_buf fp = { 0 };
	char *bytes = NULL, len[9];
	size_t n = 0;

	if (rs->db == NULL || hs_serialize_database(rs->db, &bytes, &n) != HS_SUCCESS)
		return psm_fail(e, PSM_E_OS, "the rules: cannot save the database");
	fingerprint(rs, &fp);
	snprintf(len, sizeof len, "%08zx", fp.len);
	psm_buf_add(out, len, 8);
	psm_buf_add(out, fp.data, fp.len);
	psm_buf_add(out, bytes, n);
	psm_buf_free(&fp);
	free(bytes);
	return 0;
}

/*
 * Use a saved database if it was made of the rules now on and for this
 * machine: 1 if it was taken, 0 if not (then psm_redact_compile()).
 */
int
psm_redact_load(struct psm_redact_rules *rs, const void *saved, size_t len, struct psm_error *e)
{
	const char *p = saved;
	struct psm_buf fp = { 0 };
	unsigned long fplen;
	char hex[9], *end;
	hs_database_t *db = NULL;
	int taken = 0;

	if (len < 8)
		return 0;
	memcpy(hex, p, 8);
	hex[8] = '\0';
	fplen = strtoul(hex, &end, 16);
	if (*end != '\0' || fplen > len - 8)
		return 0;
	fingerprint(rs, &fp);
	if (fp.len == fplen && memcmp(fp.data, p + 8, fplen) == 0 &&
	    hs_deserialize_database(p + 8 + fplen, len - 8 - fplen, &db) == HS_SUCCESS) {
		rs->width = 0;
		for (size_t i = 0; i < rs->n; i++)
			if (rs->r[i].on && !rs->r[i].prompt && rs->r[i].width > rs->width)
				rs->width = rs->r[i].width;
		rs->db = db;
		if (hs_alloc_scratch(db, (hs_scratch_t **)&rs->scratch) != HS_SUCCESS ||
		    (rs->match = pcre2_match_data_create(64, NULL)) == NULL)
			taken = psm_fail(e, PSM_E_OS, "the rules: no memory for the scanner");
		else
			taken = 1;
	}
	psm_buf_free(&fp);
	return taken;
}

void
psm_redact_rules_free(struct psm_redact_rules *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		rule_clear(&rs->r[i]);
	free(rs->r);
	hs_free_scratch(rs->scratch);
	hs_free_database(rs->db);
	pcre2_match_data_free(rs->match);
	memset(rs, 0, sizeof *rs);
}

/* Checks. */

static bool
luhn(const unsigned char *p, size_t n)
{
	unsigned sum = 0, digits = 0;

	for (size_t i = n; i-- > 0;) {
		if (p[i] == ' ' || p[i] == '-')
			continue;
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = p[i] - '0';
		if (digits++ % 2 == 1)
			d = d * 2 > 9 ? d * 2 - 9 : d * 2;
		sum += d;
	}
	return digits >= 2 && sum % 10 == 0;
}

/*
 * A payment card number: an issuer's first digits and one of its lengths
 * (Visa, Mastercard, American Express, Diners Club, Discover, JCB), and
 * Luhn. In C rather than in the pattern: an alternation of every issuer's
 * prefixes cost Vectorscan more than all the other rules together.
 */
static bool
card(const unsigned char *p, size_t n)
{
	char d[20];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '-')
			continue;
		if (p[i] < '0' || p[i] > '9' || len == sizeof d - 1)
			return false;
		d[len++] = (char)p[i];
	}
	d[len] = '\0';
	unsigned two = (unsigned)((d[0] - '0') * 10 + (d[1] - '0'));
	unsigned four = (unsigned)atoi((char[]){ d[0], d[1], d[2], d[3], '\0' });
	unsigned three = four / 10;
	bool ok = (d[0] == '4' && (len == 16 || len == 19)) ||
	    (((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) && len == 16) ||
	    ((two == 34 || two == 37) && len == 15) ||
	    (((three >= 300 && three <= 305) || two == 36 || two == 38) && len == 14) ||
	    ((four == 6011 || two == 65 || (three >= 644 && three <= 649)) && (len == 16 || len == 19)) ||
	    (four >= 3528 && four <= 3589 && (len == 16 || len == 19));
	return ok && luhn(p, n);
}

/* ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97 is 1. */
static bool
iban(const unsigned char *p, size_t n)
{
	unsigned char s[34];
	size_t len = 0;
	unsigned rem = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ')
			continue;
		if (len == sizeof s)
			return false;
		s[len++] = (unsigned char)((p[i] >= 'a' && p[i] <= 'z') ? p[i] - 32 : p[i]);
	}
	if (len < 15 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
	    s[2] < '0' || s[2] > '9' || s[3] < '0' || s[3] > '9')
		return false;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = s[(k + 4) % len];
		if (c >= '0' && c <= '9')
			rem = (rem * 10 + (c - '0')) % 97;
		else if (c >= 'A' && c <= 'Z')
			rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
		else
			return false;
	}
	return rem == 1;
}

static uint32_t
crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/*
 * GitHub's tokens (and npm's): a prefix ending in '_', random base62, and
 * the CRC32 of the random part in six base62 digits (0-9, A-Z, a-z).
 */
static bool
github(const unsigned char *p, size_t n)
{
	static const char digits[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const unsigned char *u = memchr(p, '_', n);
	char want[7];

	if (u == NULL)
		return false;
	u++;
	size_t len = n - (size_t)(u - p);
	if (len <= 6)
		return false;
	uint32_t c = crc32(u, len - 6);
	for (int i = 5; i >= 0; i--) {
		want[i] = digits[c % 62];
		c /= 62;
	}
	return memcmp(want, u + len - 6, 6) == 0;
}

/* base64url without padding, into out (at most cap bytes); -1 if it is not. */
static long
b64url(unsigned char *out, size_t cap, const unsigned char *p, size_t n)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 :
		    c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (len < cap)
				out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)len;
}

/* A JWT: header.payload.signature, the header a JSON object naming its "alg". */
static bool
jwt(const unsigned char *p, size_t n)
{
	const unsigned char *dot = memchr(p, '.', n), *dot2;
	unsigned char head[512];
	long len;

	if (dot == NULL || (dot2 = memchr(dot + 1, '.', n - (size_t)(dot + 1 - p))) == NULL ||
	    memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - p)) != NULL || dot2 + 1 == p + n)
		return false;
	len = b64url(head, sizeof head, p, (size_t)(dot - p));
	return len > 2 && head[0] == '{' && memmem(head, (size_t)len, "\"alg\"", 5) != NULL;
}

bool
psm_redact_check(enum psm_redact_check check, const unsigned char *p, size_t n)
{
	switch (check) {
	case PSM_CHECK_LUHN: return luhn(p, n);
	case PSM_CHECK_CARD: return n >= 4 && card(p, n);
	case PSM_CHECK_IBAN: return iban(p, n);
	case PSM_CHECK_GITHUB: return github(p, n);
	case PSM_CHECK_JWT: return jwt(p, n);
	default: return true;
	}
}

double
psm_redact_entropy(const unsigned char *p, size_t n)
{
	unsigned count[256] = { 0 };
	double h = 0;

	for (size_t i = 0; i < n; i++)
		count[p[i]]++;
	for (size_t i = 0; i < 256; i++)
		if (count[i] > 0) {
			double f = (double)count[i] / (double)n;
			h -= f * log2(f);
		}
	return h;
}

static bool
has_stop_word(const struct psm_redact_rule *r, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < r->nstop; i++) {
		size_t w = strlen(r->stop[i]);
		for (size_t k = 0; k + w <= n; k++)
			if (strncasecmp((const char *)p + k, r->stop[i], w) == 0)
				return true;
	}
	return false;
}

static bool
accepted(const struct psm_redact_rule *r, const unsigned char *p, size_t n)
{
	return n >= r->min && psm_redact_check(r->check, p, n) &&
	    (r->entropy == 0 || psm_redact_entropy(p, n) >= r->entropy) &&
	    !has_stop_word(r, p, n);
}

/* Channels. */

enum { GROUND, IN_ESC, IN_INTER, IN_CSI, IN_STR, IN_STR_ESC };

/*
 * What the scanner sees of byte b: ESC for every byte of an escape
 * sequence (CSI, a two-byte escape, the introducer and terminator of a
 * control string); the text of a control string (a title) stays text.
 */
static unsigned char
view_byte(int *st, unsigned char b)
{
	switch (*st) {
	case GROUND:
		if (b == ESC)
			*st = IN_ESC;
		return b;
	case IN_ESC:
		if (b == '[')
			*st = IN_CSI;
		else if (b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_')
			*st = IN_STR;
		else if (b >= 0x20 && b <= 0x2f)
			*st = IN_INTER;
		else if (b >= 0x30 && b <= 0x7e)
			*st = GROUND;
		else if (b != ESC) {
			*st = GROUND;
			return b;
		}
		return ESC;
	case IN_INTER:
		if (b >= 0x20 && b <= 0x2f)
			return ESC;
		if (b >= 0x30 && b <= 0x7e) {
			*st = GROUND;
			return ESC;
		}
		*st = GROUND;
		return view_byte(st, b);
	case IN_CSI:
		if (b >= 0x20 && b <= 0x3f)
			return ESC;
		if (b >= 0x40 && b <= 0x7e) {
			*st = GROUND;
			return ESC;
		}
		if (b < 0x20 && b != ESC)
			return b;	/* a control inside a sequence: the terminal runs it */
		*st = GROUND;
		return view_byte(st, b);
	case IN_STR:
		if (b == 0x07) {
			*st = GROUND;
			return ESC;
		}
		if (b == ESC) {
			*st = IN_STR_ESC;
			return ESC;
		}
		return b;
	default:			/* IN_STR_ESC */
		if (b == '\\') {
			*st = GROUND;
			return ESC;
		}
		*st = IN_ESC;
		return view_byte(st, b);
	}
}

static inline unsigned char *
view_at(const struct psm_redact_chan *c, uint64_t off)
{
	return c->view + (off - c->vbase);
}

/* The oldest byte the view must keep: what a candidate may still need. */
static uint64_t
keep_from(const struct psm_redact_chan *c)
{
	uint64_t hold = c->rules->width + 2 * LOOKBEHIND;
	uint64_t keep = c->scanned > hold ? c->scanned - hold : 0;

	for (size_t a = 0; a < c->nactive; a++) {
		const struct psm_redact_candidate *k = &c->cand[c->active[a]];
		uint64_t need = k->to > hold ? k->to - hold : 0;
		if (need < keep)
			keep = need;
	}
	return keep < c->vbase ? c->vbase : keep;
}

static void
view_room(struct psm_redact_chan *c, size_t n)
{
	uint64_t keep = keep_from(c);
	size_t kept = (size_t)(c->added - keep), dropped = (size_t)(keep - c->vbase);

	if (dropped > 0 && dropped >= kept) {	/* move only when most of it goes */
		memmove(c->view, view_at(c, keep), kept);
		c->vbase = keep;
	}
	c->view = xpsm_grow(c->view, &c->vcap, (size_t)(c->added - c->vbase) + n, 1);
}

/*
 * The bytes as the scanner sees them, eight at a time outside escape
 * sequences (a colour code every few dozen bytes is common: a call to
 * memchr for each would cost more than the copy).
 */
static void
view_append(struct psm_redact_chan *c, const unsigned char *p, size_t n)
{
	unsigned char *o = view_at(c, c->added);
	size_t i = 0;

	while (i < n) {
		if (c->esc == GROUND && n - i >= 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			memcpy(o + i, p + i, 8);
			uint64_t m = psm_zero_bytes(w ^ (PSM_ONES * ESC));
			if (m == 0) {
				i += 8;
				continue;
			}
			i += (size_t)__builtin_ctzll(m) >> 3;
		}
		o[i] = view_byte(&c->esc, p[i]);
		i++;
	}
}

/*
 * Spans are kept in order of where they begin, then of their rule: of
 * spans that begin together, the marker is the first rule's, whichever
 * was found first (that depends on how the bytes were split).
 */
static bool
hit_after(const struct psm_redact_hit *h, uint64_t from, unsigned rule)
{
	return h->from > from || (h->from == from && h->rule > rule);
}

/*
 * A span to mask, merged with one of the same rule that it meets, however
 * many spans of other rules came between them (a match is tested when it
 * can grow no more, which may be after the scan of a whole batch): else
 * the rule fired twice and the bytes they share were counted twice. The
 * spans of one rule do not overlap, so the search stops at the first of
 * them that ends before this one begins.
 */
static size_t
add_hit(struct psm_redact_chan *c, unsigned rule, uint64_t from, uint64_t to)
{
	size_t k = c->nhits;

	while (k > 0) {
		struct psm_redact_hit *h = &c->hits[--k];
		if (h->rule != rule)
			continue;
		if (h->to < from)
			break;
		if (h->from <= to) {
			if (to > h->to)
				h->to = to;
			if (from >= h->from)
				return k;
			h->from = from;	/* it moves back: keep the order by from */
			while (k > 0 && hit_after(&c->hits[k - 1], from, rule)) {
				struct psm_redact_hit tmp = c->hits[k - 1];
				c->hits[k - 1] = c->hits[k];
				c->hits[k] = tmp;
				if (c->open.hit == k - 1)
					c->open.hit = k;
				else if (c->open.hit == k)
					c->open.hit = k - 1;
				k--;
			}
			return k;
		}
	}
	c->hits = xpsm_grow(c->hits, &c->hitcap, c->nhits + 1, sizeof *c->hits);
	for (k = c->nhits; k > 0 && hit_after(&c->hits[k - 1], from, rule); k--)
		;
	memmove(&c->hits[k + 1], &c->hits[k], (c->nhits - k) * sizeof *c->hits);
	c->hits[k] = (struct psm_redact_hit){ .from = from, .to = to, .rule = rule };
	c->nhits++;
	if (c->open.hit != SIZE_MAX && c->open.hit >= k)
		c->open.hit++;
	c->fired[rule]++;
	return k;
}

static int match_span_from(const struct psm_redact_chan *c, const struct psm_redact_rule *r,
    size_t k, uint64_t to, uint64_t *at, uint64_t *from, uint64_t *end);

/*
 * The leftmost match of rule r that ends at `to`, and the span to mask:
 * its first group, or all of it. -1 if PCRE2 finds none there (it and
 * Vectorscan differ on a corner of the syntax): then nothing is masked
 * but the bytes the rule could have matched, to be safe.
 */
static int
match_span(const struct psm_redact_chan *c, const struct psm_redact_rule *r, size_t k,
    uint64_t to, uint64_t *from, uint64_t *end)
{
	uint64_t start = to > r->pwidth[k] ? to - r->pwidth[k] : 0;

	return match_span_from(c, r, k, to, &start, from, end);
}

/* The same, from *start on; *start becomes where the match begins. */
static int
match_span_from(const struct psm_redact_chan *c, const struct psm_redact_rule *r, size_t k,
    uint64_t to, uint64_t *at, uint64_t *from, uint64_t *end)
{
	pcre2_match_data *m = c->rules->match;
	uint64_t start = *at;

	if (start < c->vbase)
		start = c->vbase;
	*end = to;
	int rc = pcre2_match(r->re[k], c->view, (size_t)(to - c->vbase), (size_t)(start - c->vbase),
	    0, m, NULL);
	if (rc < 1) {
		*from = start;
		return -1;
	}
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m);
	*from = *at = c->vbase + ov[0];
	if (rc >= 2 && ov[2] != PCRE2_UNSET && ov[3] > ov[2]) {
		*from = c->vbase + ov[2];
		*end = c->vbase + ov[3];
	}
	return 0;
}

/* Never a part of an escape sequence, never a part of a UTF-8 character. */
static void
widen(const struct psm_redact_chan *c, uint64_t *from, uint64_t *to)
{
	uint64_t s = *from, t = *to;

	while (s < t && *view_at(c, s) == ESC)
		s++;
	while (t > s && *view_at(c, t - 1) == ESC)
		t--;
	for (int k = 0; k < 3 && s > c->vbase && s < t && (*view_at(c, s) & 0xc0) == 0x80; k++)
		s--;
	for (int k = 0; k < 3 && t > s && t < c->added && (*view_at(c, t) & 0xc0) == 0x80; k++)
		t++;
	*from = s;
	*to = t;
}

/* Candidate id (an expression) can grow no more: test it, and mask it if it passes. */
static void
finalize(struct psm_redact_chan *c, size_t a)
{
	unsigned id = c->active[a];
	struct psm_redact_candidate *k = &c->cand[id];
	size_t i = id / EXPRS_PER_RULE;
	const struct psm_redact_rule *r = &c->rules->r[i];
	uint64_t from, to;

	size_t pat = id % EXPRS_PER_RULE;
	uint64_t at = k->to > r->pwidth[pat] ? k->to - r->pwidth[pat] : 0;

	k->on = false;
	c->active[a] = c->active[--c->nactive];
	if (k->to > c->scanned || k->to <= c->vbase)
		return;
	/*
	 * The leftmost match may fail its tests where a later one would pass
	 * ("secret= password=Xk4r...": the first holds a stop word): try
	 * later beginnings, a few.
	 */
	for (int tries = 0; tries < RETRIES; tries++) {
		if (match_span_from(c, r, pat, k->to, &at, &from, &to) < 0) {
			if (tries > 0)
				return;
			break;	/* PCRE2 and Vectorscan disagree: mask what the rule could have */
		}
		if (accepted(r, view_at(c, from), (size_t)(to - from)))
			break;
		if (tries == RETRIES - 1)
			return;
		at++;
	}
	widen(c, &from, &to);
	if (to > from)
		add_hit(c, (unsigned)i, from, to);
}

/* Those that may begin before off (all: UINT64_MAX), or (ripe) whose next byte has come. */
static void
finalize_before(struct psm_redact_chan *c, uint64_t off)
{
	for (size_t a = c->nactive; a-- > 0;) {
		const struct psm_redact_candidate *k = &c->cand[c->active[a]];
		const struct psm_redact_rule *r = &c->rules->r[c->active[a] / EXPRS_PER_RULE];
		if (off == UINT64_MAX || k->to < off + r->pwidth[c->active[a] % EXPRS_PER_RULE])
			finalize(c, a);
	}
}

static void
finalize_ripe(struct psm_redact_chan *c)
{
	for (size_t a = c->nactive; a-- > 0;)
		if (c->scanned >= c->cand[c->active[a]].to + 3)
			finalize(c, a);
}

static void
open_region(struct psm_redact_chan *c, unsigned rule, uint64_t from, uint64_t limit, bool line)
{
	c->open = (struct psm_redact_open){ .on = true, .rule = rule, .from = from,
	    .limit = limit, .hit = SIZE_MAX, .line = line };
}

/* The open region masks up to `to` (no further than its limit). */
static void
extend_region(struct psm_redact_chan *c, uint64_t to)
{
	struct psm_redact_open *o = &c->open;

	if (to >= o->limit) {
		to = o->limit;
		o->on = false;
	}
	if (to <= o->from)
		return;
	if (o->hit == SIZE_MAX)
		o->hit = add_hit(c, o->rule, o->from, to);
	else if (to > c->hits[o->hit].to)
		c->hits[o->hit].to = to;
	if (!o->on)
		o->hit = SIZE_MAX;
}

static void
close_region(struct psm_redact_chan *c, uint64_t to)
{
	extend_region(c, to);
	c->open.on = false;
	c->open.hit = SIZE_MAX;
}

/*
 * A block's beginning, at `to`: it opens the block unless one is open.
 * The open block is first brought up to `to`, so that one that reached
 * its max is closed as it would have been had these bytes come in the
 * next add. Inside a prompt's answer (a key pasted at the prompt) it
 * ends the answer, and the block goes on to its own end.
 */
static void
block_begins(struct psm_redact_chan *c, size_t i, size_t pat, uint64_t to)
{
	const struct psm_redact_rule *r = &c->rules->r[i];
	uint64_t s, t;

	if (c->open.on && !c->open.line)
		extend_region(c, to);
	if (c->open.on && !c->open.line)
		return;
	if (c->open.on)
		close_region(c, to);
	match_span(c, r, pat, to, &s, &t);
	open_region(c, (unsigned)i, s, s + r->max, false);
	c->open.body = to;
	extend_region(c, to);
}

static int
on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
	struct psm_redact_chan *c = ctx;
	size_t i = id / EXPRS_PER_RULE, pat = id % EXPRS_PER_RULE;
	const struct psm_redact_rule *r = &c->rules->r[i];
	struct psm_redact_candidate *k = &c->cand[id];

	(void)flags;
	(void)from;			/* no start of match: PCRE2 finds it */
	if (r->end != NULL) {		/* a block: begins, or ends the one open */
		if (pat != END_EXPR)
			block_begins(c, i, pat, to);
		else if (c->open.on && !c->open.line && c->open.rule == i &&
		    to >= c->open.body + r->endmin)
			close_region(c, to);
		return 0;
	}
	if (k->on && to <= k->to + 1) {	/* the same match, one byte longer */
		k->to = to;
		return 0;
	}
	if (k->on)
		for (size_t a = 0; a < c->nactive; a++)
			if (c->active[a] == id) {
				finalize(c, a);
				break;
			}
	*k = (struct psm_redact_candidate){ .on = true, .to = to };
	c->active[c->nactive++] = id;
	return 0;
}

int
psm_redact_chan_init(struct psm_redact_chan *c, const struct psm_redact_rules *rs,
    uint64_t *fired, struct psm_error *e)
{
	memset(c, 0, sizeof *c);
	c->rules = rs;
	c->fired = fired;
	c->open.hit = SIZE_MAX;
	c->cand = xmalloc(rs->n * EXPRS_PER_RULE * sizeof *c->cand);
	memset(c->cand, 0, rs->n * EXPRS_PER_RULE * sizeof *c->cand);
	c->active = xmalloc(rs->n * EXPRS_PER_RULE * sizeof *c->active);
	if (rs->db != NULL && hs_open_stream(rs->db, 0, (hs_stream_t **)&c->hs) != HS_SUCCESS) {
		free(c->cand);
		free(c->active);
		c->cand = NULL;
		c->active = NULL;
		return psm_fail(e, PSM_E_OS, "no memory for a scanner's stream");
	}
	/*
	 * The stream begins after a non-word byte that is never taken out,
	 * so that a rule that wants one before its secret ([^A-Za-z0-9]eyJ)
	 * finds a secret at the first byte too.
	 */
	view_room(c, 1);
	c->view[0] = ESC;
	c->added = c->taken = 1;
	return 0;
}

/*
 * Vectorscan is given what was added since it last was, at once: a call
 * per event would cost more than the scan of a keystroke.
 */
static void
scan_added(struct psm_redact_chan *c)
{
	uint64_t at = c->scanned;

	if (at == c->added)
		return;
	c->scanned = c->added;
	if (c->hs != NULL)
		hs_scan_stream(c->hs, (const char *)view_at(c, at), (unsigned)(c->added - at), 0,
		    c->rules->scratch, on_match, c);
	if (c->open.on && !c->open.line)	/* a block masks whatever follows */
		extend_region(c, c->scanned);
}

/* A prompt's answer ends with the line: CR, LF, ^C or ^D. */
static void
extend_answer(struct psm_redact_chan *c, uint64_t at)
{
	uint64_t s = c->open.from > at ? c->open.from : at;

	for (; s < c->added; s++) {
		unsigned char b = *view_at(c, s);
		if (b == '\r' || b == '\n' || b == 3 || b == 4) {
			close_region(c, s);
			return;
		}
	}
	extend_region(c, c->added);
}

/* The bytes that follow, in order, whatever the events that carry them. */
void
psm_redact_add(struct psm_redact_chan *c, const void *p, size_t n)
{
	uint64_t at = c->added;

	if (n == 0 || c->closed)
		return;
	view_room(c, n);
	view_append(c, p, n);
	c->added += n;
	if (c->open.on && c->open.line)
		extend_answer(c, at);
	if (c->added - c->scanned >= PSM_REDACT_BATCH)
		scan_added(c);
}

/* What comes next answers a prompt: masked up to the end of its line. */
void
psm_redact_mask_line(struct psm_redact_chan *c)
{
	if (c->closed)
		return;
	scan_added(c);			/* a block open before it goes on */
	if (c->open.on)
		return;
	open_region(c, 0, c->added, c->added + PSM_REDACT_LINE_MAX, true);
}

/* Bytes before the offset returned are masked as they will stay. */
uint64_t
psm_redact_settled(struct psm_redact_chan *c)
{
	uint64_t hold = c->rules->width ? c->rules->width + LOOKBEHIND : 0;

	if (c->closed)
		return c->added;
	/*
	 * No report came for the next byte (one ending in \b comes a byte
	 * late), and the view holds the 3 bytes after the match that widen()
	 * may need to finish a UTF-8 character.
	 */
	finalize_ripe(c);
	return c->scanned > hold ? c->scanned - hold : 0;
}

/* No more bytes: what Vectorscan still had, the candidates, the region. */
void
psm_redact_close(struct psm_redact_chan *c)
{
	if (c->closed)
		return;
	scan_added(c);
	if (c->hs != NULL)
		hs_close_stream(c->hs, c->rules->scratch, on_match, c);
	c->hs = NULL;
	finalize_before(c, UINT64_MAX);
	c->open.on = false;
	c->open.hit = SIZE_MAX;
	c->closed = true;
}

/*
 * Before bytes up to b are taken: scanned as far as they can be (taken
 * before they settled, by --hold-time or a bound), and every match that
 * may reach into them tested.
 */
static void
settle_to(struct psm_redact_chan *c, uint64_t b)
{
	if (b + c->rules->width + LOOKBEHIND > c->scanned)
		scan_added(c);
	finalize_before(c, b);
}

static void
put_marker(struct psm_buf *out, const char *name)
{
	psm_buf_adds(out, "[redacted:");
	psm_buf_adds(out, name);
	psm_buf_addc(out, ']');
}

/* The hits wholly before off go, except the open region's. */
static void
prune(struct psm_redact_chan *c, uint64_t off)
{
	size_t k = 0;

	while (k < c->nhits && c->hits[k].to <= off && k != c->open.hit)
		k++;
	if (k == 0)
		return;
	memmove(c->hits, c->hits + k, (c->nhits - k) * sizeof *c->hits);
	c->nhits -= k;
	if (c->open.hit != SIZE_MAX)
		c->open.hit -= k;
}

/*
 * Take the next n bytes out, masked into out: a marker where a masked
 * span begins, its line breaks, nothing else of it. The caller passes the
 * bytes it added, in the same order.
 */
void
psm_redact_take(struct psm_redact_chan *c, const void *data, size_t n,
    struct psm_buf *out, struct psm_redact_taken *t)
{
	const unsigned char *p = data;
	uint64_t a = c->taken, b = a + n, pos = a;
	size_t i = 0;

	t->changed = false;
	settle_to(c, b);
	while (i < c->nhits && c->hits[i].from < b) {
		size_t j = i;
		uint64_t end = c->hits[i].to;
		bool marked = c->hits[i].marked;

		while (j + 1 < c->nhits && c->hits[j + 1].from <= end) {
			j++;
			if (c->hits[j].to > end)
				end = c->hits[j].to;
			marked |= c->hits[j].marked;
		}
		uint64_t ms = c->hits[i].from > a ? c->hits[i].from : a, me = end < b ? end : b;
		if (ms < me) {
			psm_buf_add(out, p + (pos - a), (size_t)(ms - pos));
			/* No marker where it would take the event past its limit. */
			const char *name = c->rules->r[c->hits[i].rule].name;
			if (!marked && (t->max == 0 ||
			    out->len + strlen(name) + 11 + (size_t)(b - ms) <= t->max))
				put_marker(out, name);
			for (size_t k = i; k <= j; k++) {
				struct psm_redact_hit *h = &c->hits[k];
				uint64_t hs = h->from > a ? h->from : a, he = h->to < b ? h->to : b;
				h->marked = true;
				if (he > hs)
					t->bytes[h->rule] += he - hs;
			}
			for (uint64_t x = ms; x < me; x++)
				if (p[x - a] == '\r' || p[x - a] == '\n')
					psm_buf_addc(out, (char)p[x - a]);
			pos = me;
			t->changed = true;
		}
		if (end > b)
			break;
		i = j + 1;
	}
	psm_buf_add(out, p + (pos - a), (size_t)(b - pos));
	c->taken = b;
	prune(c, b);
}

void
psm_redact_chan_free(struct psm_redact_chan *c)
{
	if (c->hs != NULL)
		hs_close_stream(c->hs, NULL, NULL, NULL);
	free(c->view);
	free(c->hits);
	free(c->cand);
	free(c->active);
	memset(c, 0, sizeof *c);
}

/* Will the next n bytes be masked? (If not, psm_redact_skip() them.) */
bool
psm_redact_masks(struct psm_redact_chan *c, size_t n)
{
	uint64_t a = c->taken, b = a + n;

	settle_to(c, b);
	for (size_t i = 0; i < c->nhits && c->hits[i].from < b; i++)
		if (c->hits[i].to > a && c->hits[i].to > c->hits[i].from)
			return true;
	return false;
}

void
psm_redact_skip(struct psm_redact_chan *c, size_t n)
{
	c->taken += n;
	prune(c, c->taken);
}
