/*
 * psm_redact.h: secrets found and masked in a session's bytes
 * (Vectorscan for finding, PCRE2 for the exact span of a rule with a
 * group). psm-redact(1) is its command, psm-redact(5) the rules' format.
 *
 * Rules are parsed from text (psm_redact_parse), turned on and off by
 * name, then compiled into one Vectorscan streaming database. Each stream
 * of bytes of a session (typed input, output, error) is a channel: bytes
 * are added as they come, whatever the events that carried them, and
 * masked when they are taken out (psm_redact_take) once nothing that may
 * still come can change them (psm_redact_settled).
 */
#ifndef PSM_REDACT_H
#define PSM_REDACT_H

#include "psm.h"

#define PSM_REDACT_WIDTH_MAX 8192	/* the longest match a rule may have */
#define PSM_REDACT_BLOCK_MAX 65536	/* a block rule's default "max" */
#define PSM_REDACT_NAME_MAX 40
#define PSM_REDACT_PATTERNS 8		/* patterns a rule may have */
#define PSM_REDACT_LINE_MAX 1024	/* bytes masked after a prompt, at most */
#define PSM_REDACT_BATCH 16384		/* bytes added before Vectorscan is called */
#define PSM_REDACT_PROMPT_RULE "prompt-answer"

enum psm_redact_check {
	PSM_CHECK_NONE,
	PSM_CHECK_LUHN,			/* the Luhn check digit */
	PSM_CHECK_CARD,			/* a card issuer's prefix and length, and Luhn */
	PSM_CHECK_IBAN,			/* ISO 13616, mod 97 */
	PSM_CHECK_GITHUB,		/* the CRC32 at the end of GitHub's tokens */
	PSM_CHECK_JWT,			/* three base64url parts, a JSON header with "alg" */
};

struct psm_redact_rule {
	char name[PSM_REDACT_NAME_MAX + 1];
	char *description;
	char *pattern[PSM_REDACT_PATTERNS];	/* alternatives, each its own expression */
	size_t npat;
	char *end;			/* a block rule's end */
	char *file;			/* where it was defined, for messages */
	uint64_t line;
	bool nocase, on, prompt;	/* prompt: the built-in prompt-answer rule */
	enum psm_redact_check check;
	double entropy;			/* bits per byte, at least; 0: no floor */
	char **stop;			/* words that make a match a placeholder */
	size_t nstop, min, max;
	void *re[PSM_REDACT_PATTERNS];	/* pcre2_code: each pattern, to end where a match ends */
	size_t pwidth[PSM_REDACT_PATTERNS];	/* each pattern's longest match */
	size_t width;			/* the longest of them */
	size_t endmin;			/* a block's end: its shortest match */
};

struct psm_redact_rules {
	struct psm_redact_rule *r;
	size_t n, cap;
	void *db;			/* hs_database_t of the rules that are on */
	void *scratch;			/* hs_scratch_t */
	void *match;			/* pcre2_match_data, big enough for any rule */
	size_t width;			/* the widest rule that is on */
};

int psm_redact_rules_init(struct psm_redact_rules *rs, struct psm_error *e);
int psm_redact_parse(struct psm_redact_rules *rs, const char *text, size_t len,
    const char *file, struct psm_error *e);
int psm_redact_set(struct psm_redact_rules *rs, const char *name, bool on,
    struct psm_error *e);
int psm_redact_compile(struct psm_redact_rules *rs, struct psm_error *e);
int psm_redact_save(const struct psm_redact_rules *rs, struct psm_buf *out, struct psm_error *e);
int psm_redact_load(struct psm_redact_rules *rs, const void *saved, size_t len,
    struct psm_error *e);
const struct psm_redact_rule *psm_redact_prompt_rule(const struct psm_redact_rules *rs);
void psm_redact_rules_free(struct psm_redact_rules *rs);

/* The checks, for the rules and for the tests. */
bool psm_redact_check(enum psm_redact_check check, const unsigned char *p, size_t n);
double psm_redact_entropy(const unsigned char *p, size_t n);

/* One masked span of a channel, by the offsets of its bytes. */
struct psm_redact_hit {
	uint64_t from, to;
	unsigned rule;
	bool marked;			/* its marker has been written */
};

/* A block rule, or a prompt's answer, masking what comes until its end. */
struct psm_redact_open {
	bool on;
	unsigned rule;
	uint64_t from, limit;		/* limit: masked up to here at most */
	uint64_t body;			/* a block's end counts from here */
	size_t hit;			/* its entry in hits */
	bool line;			/* a prompt's answer: ends at CR, LF, ^C, ^D */
};

/* A match whose end may still grow: tested when it can no longer. */
struct psm_redact_candidate {
	bool on;
	uint64_t to;
};

struct psm_redact_chan {
	const struct psm_redact_rules *rules;
	void *hs;			/* hs_stream_t */
	uint64_t *fired;		/* per rule: matches (the caller's array) */
	uint64_t added;			/* bytes added */
	uint64_t scanned;		/* bytes given to Vectorscan, so far */
	uint64_t taken;			/* bytes taken out */
	unsigned char *view;		/* what the scanner sees of [vbase, added) */
	uint64_t vbase;
	size_t vcap;
	int esc;			/* where in an escape sequence */
	struct psm_redact_hit *hits;	/* by from; those that end before taken are gone */
	size_t nhits, hitcap;
	struct psm_redact_candidate *cand;	/* per expression */
	unsigned *active;		/* the expressions with a candidate */
	size_t nactive;
	struct psm_redact_open open;
	bool closed;
};

int psm_redact_chan_init(struct psm_redact_chan *c, const struct psm_redact_rules *rs,
    uint64_t *fired, struct psm_error *e);
void psm_redact_add(struct psm_redact_chan *c, const void *p, size_t n);
void psm_redact_mask_line(struct psm_redact_chan *c);
uint64_t psm_redact_settled(struct psm_redact_chan *c);
void psm_redact_close(struct psm_redact_chan *c);

/* What psm_redact_take did to the bytes it took. */
struct psm_redact_taken {
	size_t max;			/* the bytes out may have, at most (0: no limit) */
	bool changed;
	uint64_t *bytes;		/* per rule: bytes masked (the caller's array, zeroed) */
};
bool psm_redact_masks(struct psm_redact_chan *c, size_t n);
void psm_redact_skip(struct psm_redact_chan *c, size_t n);
void psm_redact_take(struct psm_redact_chan *c, const void *p, size_t n,
    struct psm_buf *out, struct psm_redact_taken *t);
void psm_redact_chan_free(struct psm_redact_chan *c);

#endif
