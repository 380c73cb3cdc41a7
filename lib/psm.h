/*
 * psm.h: the one internal header of psm's library (libpsm.a).
 *
 * The library holds mechanism shared by the commands: the stream's writer
 * and its strict streaming reader, base64, UTF-8, durations, time, the PTY.
 * Policy (options, messages, exit codes) lives in each bin/psm-*.c.
 */
#ifndef PSM_H
#define PSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit status shared by every command (psm(7)). */
enum {
	PSM_EXIT_OK = 0,
	PSM_EXIT_NO = 1,
	PSM_EXIT_USAGE = 2,
	PSM_EXIT_DATA = 3,
	PSM_EXIT_OS = 4,
	PSM_EXIT_INCOMPLETE = 5,
};

#define PSM_FORMAT_VERSION 1
#define PSM_PAYLOAD_MAX 65536		/* bytes of terminal data per event */
#define PSM_LINE_MAX (1024 * 1024)	/* readers refuse longer lines */
#define PSM_SEALED_LINE_MAX (PSM_LINE_MAX + 71)	/* ... and psm-seal adds ,"h":"..." */
#define PSM_SID_LEN 36			/* a UUID in its text form */
#define PSM_FIELDS_MAX 64		/* keys in one event */

/* buf.c: a growable byte buffer; allocation failure exits. */
struct psm_buf {
	char *data;
	size_t len, cap;
};
void psm_buf_reserve(struct psm_buf *b, size_t more);
void psm_buf_add(struct psm_buf *b, const void *p, size_t n);
void psm_buf_addc(struct psm_buf *b, char c);
void psm_buf_adds(struct psm_buf *b, const char *s);
void psm_buf_consume(struct psm_buf *b, size_t n);
void psm_buf_free(struct psm_buf *b);

/* util.c */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
int psm_parse_duration(const char *s, uint64_t *usec);
uint64_t psm_mono_usec(void);
void psm_rfc3339(char out[48], int64_t sec, long usec);
void psm_new_sid(char out[PSM_SID_LEN + 1]);
bool psm_sid_valid(const char *s, size_t n);
int psm_write_all(int fd, const void *p, size_t n);

/*
 * Bit tricks on eight bytes at once, for the string scans of the reader
 * and the writer: the high bit of each byte of the result marks a byte of
 * w that is zero (psm_zero_bytes) or below 0x20 (psm_control_bytes),
 * exactly, so that the lowest mark says where to stop.
 */
#define PSM_ONES UINT64_C(0x0101010101010101)
#define PSM_HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t
psm_zero_bytes(uint64_t w)
{
	return ~(((w & ~PSM_HIGHS) + ~PSM_HIGHS) | w) & PSM_HIGHS;
}
static inline uint64_t
psm_control_bytes(uint64_t w)
{
	return ~(((w & ~PSM_HIGHS) + PSM_ONES * 0x60) | w) & PSM_HIGHS;
}

/* utf8.c */
bool psm_utf8_valid(const unsigned char *p, size_t n);
size_t psm_utf8_sequence_len(const unsigned char *p, size_t n, bool *cut);
size_t psm_utf8_unfinished_tail(const unsigned char *p, size_t n);

/* b64.c: RFC 4648 base64 with padding; decoding is strict. */
size_t psm_b64_encoded_len(size_t n);
size_t psm_b64_encode(char *out, const unsigned char *in, size_t n);
int psm_b64_decode(struct psm_buf *out, const char *in, size_t n);

/* event.c: the deterministic writer. Keys come in the order they are added. */
void psm_ev_begin(struct psm_buf *b, const char *sid, uint64_t seq, uint64_t t,
    const char *type);
void psm_ev_str(struct psm_buf *b, const char *key, const char *val);
void psm_ev_strn(struct psm_buf *b, const char *key, const void *val, size_t n);
void psm_ev_u64(struct psm_buf *b, const char *key, uint64_t val);
void psm_ev_null(struct psm_buf *b, const char *key);
void psm_ev_bool(struct psm_buf *b, const char *key, bool val);
void psm_ev_strv(struct psm_buf *b, const char *key, char *const *v);
void psm_ev_payload(struct psm_buf *b, const void *data, size_t n);
void psm_ev_end(struct psm_buf *b);
void psm_json_string(struct psm_buf *b, const void *s, size_t n);

/* reader.c: strict parser of one line, and a streaming line reader. */
enum psm_jtype { PSM_J_STR, PSM_J_NUM, PSM_J_TRUE, PSM_J_FALSE, PSM_J_NULL,
	PSM_J_ARR, PSM_J_OBJ };

struct psm_field {
	const char *key;	/* raw key, between its quotes */
	size_t keylen;
	enum psm_jtype type;
	const char *val;	/* raw value text; strings without their quotes */
	size_t vallen;
};

struct psm_event {
	const char *line;	/* the exact bytes, without the newline */
	size_t len;
	char sid[PSM_SID_LEN + 1];
	uint64_t seq, t;
	char type[16];
	struct psm_field f[PSM_FIELDS_MAX];
	int nf;
};

const char *psm_event_parse(struct psm_event *ev, const char *line, size_t len);
const struct psm_field *psm_event_get(const struct psm_event *ev,
    const char *key);
bool psm_event_is(const struct psm_event *ev, const char *type);
int psm_field_u64(const struct psm_field *f, uint64_t *out);
int psm_field_i64(const struct psm_field *f, int64_t *out);
int psm_field_str(const struct psm_field *f, struct psm_buf *out);
const char *psm_event_payload(const struct psm_event *ev, struct psm_buf *out);
const char *psm_event_payload_check(const struct psm_event *ev, struct psm_buf *scratch);

enum psm_line_status {
	PSM_LINE_OK,		/* a whole line */
	PSM_LINE_EOF,		/* end of input, nothing pending */
	PSM_LINE_PARTIAL,	/* end of input inside a line: more may come */
	PSM_LINE_TOOLONG,	/* over PSM_LINE_MAX */
	PSM_LINE_ERROR,		/* read failed: see errno */
	PSM_LINE_WAIT,		/* wait_before_read is set and may_read is not */
};

struct psm_lines {
	int fd;
	const char *name;
	uint64_t lineno;	/* of the line last returned */
	size_t max;		/* longest line taken: PSM_SEALED_LINE_MAX if sealed */
	bool wait_before_read;	/* a live input: read only after poll says so */
	bool may_read;
	char *buf;
	size_t cap, start, end, scanned;
};
void psm_lines_init(struct psm_lines *r, int fd, const char *name);
int psm_lines_next(struct psm_lines *r, const char **line, size_t *len);
void psm_lines_free(struct psm_lines *r);

/* session.c: per-session order checks for readers of a shared stream. */
struct psm_session {
	char sid[PSM_SID_LEN + 1];
	uint64_t next_seq, last_t;
	bool ended;
};
struct psm_sessions {
	struct psm_session *v;
	size_t n, cap;
};
const char *psm_sessions_check(struct psm_sessions *s, const struct psm_event *ev,
    struct psm_session **out);
void psm_sessions_free(struct psm_sessions *s);

/* record.c: the writing side of a recording (psm-record). */
enum { PSM_IN, PSM_OUT, PSM_ERR };

struct psm_rec {
	int fd;
	const char *path;		/* for messages */
	bool regular;			/* a regular file: partial lines can be trimmed */
	bool fail_open;
	char sid[PSM_SID_LEN + 1];
	uint64_t t0;			/* monotonic start, microseconds */
	uint64_t seq;			/* of the next event */
	uint64_t last_flush;
	struct psm_buf buf;		/* whole lines not yet written */
	struct psm_buf start_line;	/* kept to write again if it was lost */
	bool failed;			/* writes are failing: count, don't build */
	bool start_lost;
	int error;			/* errno of the last failed write */
	uint64_t lost[3], lost_events;
	uint64_t withheld, withheld_t;	/* echo-off input not yet reported */
	unsigned char carry[3][4];	/* unfinished UTF-8 per stream */
	size_t ncarry[3];
};

void psm_rec_init(struct psm_rec *r, int fd, const char *path, bool fail_open);
uint64_t psm_rec_now(const struct psm_rec *r);
struct psm_buf *psm_rec_begin(struct psm_rec *r, const char *type);
void psm_rec_withhold(struct psm_rec *r, size_t n);
void psm_rec_data(struct psm_rec *r, int stream, const void *data, size_t n);
void psm_rec_drain_carry(struct psm_rec *r);
int psm_rec_flush(struct psm_rec *r);
int psm_rec_tick(struct psm_rec *r);
uint64_t psm_rec_due(const struct psm_rec *r);
void psm_rec_free(struct psm_rec *r);

/* chain.c: the hash chain of a sealed stream (psm-seal, psm-verify);
 * seal.c: the text psm-seal adds to a line (psm_hex ... psm_seal_split). */
#define PSM_SEAL_SUFFIX_LEN 72		/* ,"h":"<64 hex>"} */
struct psm_chain {
	void *ctx, *md;			/* OpenSSL's EVP_MD_CTX and EVP_MD */
	unsigned char head[32];		/* the hash of the last line */
};
void psm_chain_init(struct psm_chain *c);
void psm_chain_preload(void);
void psm_chain_genesis(struct psm_chain *c, const char *stream_id, const char *start);
void psm_chain_add(struct psm_chain *c, const void *p, size_t n, const void *p2, size_t n2);
void psm_chain_free(struct psm_chain *c);
void psm_hex(char *out, const unsigned char *p, size_t n);
int psm_unhex(unsigned char *out, size_t n, const char *hex, size_t len);
size_t psm_seal_suffix(char *out, const unsigned char head[32]);
bool psm_seal_split(const char *line, size_t len, size_t *before, unsigned char h[32]);

/* key.c: Ed25519 keys (libsodium); secrets live in sodium_malloc memory. */
#define PSM_KEYID_LEN 16
#define PSM_KEYNAME_MAX 64
struct psm_pubkey {
	char id[PSM_KEYID_LEN + 1];
	char name[PSM_KEYNAME_MAX];
	unsigned char pk[32];
};
struct psm_seckey {
	char id[PSM_KEYID_LEN + 1];
	char name[PSM_KEYNAME_MAX];
	unsigned char pk[32];
	unsigned char *sk;		/* 64 bytes of sodium_malloc memory */
};
void psm_key_protect_process(void);
void psm_key_id(char out[PSM_KEYID_LEN + 1], const unsigned char pk[32]);
bool psm_key_name_valid(const char *name);
const char *psm_pubkey_parse(struct psm_pubkey *k, const char *line);
void xpsm_pubkey_load(struct psm_pubkey *k, const char *path);
void psm_pubkey_format(char *out, size_t size, const struct psm_pubkey *k);
size_t psm_passphrase(char *buf, size_t size, const char *prompt);
void psm_seckey_generate(struct psm_seckey *k, const char *name);
void psm_seckey_public(const struct psm_seckey *k, struct psm_pubkey *pub);
size_t psm_seckey_format(char *out, size_t size, const struct psm_seckey *k,
    const char *pass, size_t passlen);
void xpsm_seckey_load(struct psm_seckey *k, const char *path);
void psm_seckey_free(struct psm_seckey *k);
void psm_sign(unsigned char sig[64], const void *msg, size_t n, const struct psm_seckey *k);
bool psm_sig_valid(const unsigned char sig[64], const void *msg, size_t n,
    const struct psm_pubkey *k);

/* sandbox.c: kill-by-default seccomp allow-list; EXTRA ends in -1. */
void psm_sandbox(const int *extra);

/* verify.c: the streaming verifier of sealed streams (several may share a file). */
#define PSM_SEAL_VERSION 1
enum { PSM_V_OK, PSM_V_FAILED, PSM_V_INCOMPLETE, PSM_V_INVALID };
struct psm_sealed {			/* one sealed stream of the file */
	char id[PSM_SID_LEN + 1];
	char start[48], end[48], key_id[PSM_KEYID_LEN + 1];
	unsigned char head[32];		/* its chain's last hash */
	uint64_t lines;			/* its lines so far */
	uint64_t next_checkpoint, verified_through, checkpoint_t, events;
	uint64_t unsealed, first_unsealed;	/* lines after its last signature */
	bool sealed, cut;
};
struct psm_verifier {
	const struct psm_pubkey *keys;
	size_t nkeys;
	struct psm_chain chain;
	struct psm_sessions sessions;
	struct psm_buf base, scratch;
	struct psm_sealed *streams, *last;	/* last: the stream of the last line */
	size_t nstreams, capstreams;
	uint64_t line, verified_through, events;
	int verdict;
	char reason[320];
};
void psm_verifier_init(struct psm_verifier *v, const struct psm_pubkey *keys, size_t nkeys);
int psm_verifier_line(struct psm_verifier *v, const char *line, size_t len);
int psm_verifier_finish(struct psm_verifier *v, bool partial);
void psm_verifier_free(struct psm_verifier *v);

/* pty.c */
int psm_pty_open(int *master, int *slave, char *name, size_t namelen);

#endif
