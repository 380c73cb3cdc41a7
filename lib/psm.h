/*
 * psm.h: the core of psm's library (libpsm.a), with no third-party types.
 * The other headers add one dependency each: psm_crypto.h (OpenSSL and
 * libsodium: chain, keys, secrets, verifier), psm_sandbox.h (libseccomp).
 * HACKING.md explains the layout and the conventions, with examples.
 *
 * The library is mechanism: it never prints and never exits. A function
 * that can fail returns int, 0 or -1, and fills the struct psm_error its
 * caller passed with a kind and a message; the command decides what to do
 * with it (print it and exit with psm_exit_status(), retry, or go on).
 * Pure decoders of one value (base64, hex, a number, a duration) return
 * -1 for "malformed" and fill nothing: the caller knows what it decoded.
 * The exceptions are the x-prefixed helpers: out of memory ends the
 * process (xmalloc, xrealloc, xstrdup, xpsm_grow, and the buffers and
 * tables that grow with them), and xpsm_die() is the commands' way out.
 *
 * A struct of the library is read by its users but changed only through
 * its functions.
 */
#ifndef PSM_H
#define PSM_H

#include <signal.h>
#include <stdarg.h>
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
#define PSM_SID_LEN 36			/* a UUID in its text form */
#define PSM_FIELDS_MAX 64		/* keys in one event */

/* error.c: the one error record of the library. */
enum psm_errkind {
	PSM_E_NO = 1,		/* the answer is no: a wrong passphrase, a bad signature */
	PSM_E_USAGE,		/* the caller asked for something impossible */
	PSM_E_DATA,		/* bad input data */
	PSM_E_OS,		/* the system: I/O, memory, sandbox, a library below */
};
struct psm_error {
	enum psm_errkind kind;
	int errnum;		/* errno, for PSM_E_OS when there was one; else 0 */
	char msg[512];		/* "what: why", no program name, no newline */
};
int psm_fail(struct psm_error *e, enum psm_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int psm_failv(struct psm_error *e, enum psm_errkind kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int psm_fail_errno(struct psm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void psm_error_prefix(struct psm_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int psm_exit_status(const struct psm_error *e);
void xpsm_die(const struct psm_error *e) __attribute__((noreturn));
size_t psm_quote(char *out, size_t size, const void *p, size_t n);

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
void psm_buf_shrink(struct psm_buf *b, size_t keep);
void psm_buf_add_be32(struct psm_buf *b, uint32_t v);
void psm_buf_add_be64(struct psm_buf *b, uint64_t v);
void psm_buf_free(struct psm_buf *b);

/* util.c */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xpsm_grow(void *p, size_t *cap, size_t need, size_t size);
int *xpsm_open_inputs(char *const *files, int n);
int psm_parse_duration(const char *s, uint64_t *usec);
uint64_t psm_mono_usec(void);
void psm_rfc3339(char out[48], int64_t sec, long usec);
int psm_rfc3339_parse(const char *s, size_t n, int64_t *usec);
bool psm_sid_valid(const char *s, size_t n);
int psm_write_all(int fd, const void *p, size_t n, struct psm_error *e);
int psm_fsync_dir_of(const char *path, struct psm_error *e);

/* sid.c (libuuid) */
void psm_new_sid(char out[PSM_SID_LEN + 1]);

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
int psm_b64_decode_to(unsigned char *out, size_t cap, const char *in, size_t n,
    size_t *outlen);

/* table.c: a hash table of fixed-size items keyed by a session id (the
 * item's first PSM_SID_LEN + 1 bytes), keyed SipHash, so that ids chosen
 * by whoever wrote a log cannot make it slow. Pointers to items are valid
 * until the next add or remove. */
struct psm_table {
	unsigned char *slots;
	size_t itemsize, nslots, count;
	uint64_t key[2];
};
void psm_table_init(struct psm_table *t, size_t itemsize);
void *psm_table_find(const struct psm_table *t, const char *sid);
void *psm_table_add(struct psm_table *t, const char *sid);
void psm_table_remove(struct psm_table *t, const char *sid);
void psm_table_free(struct psm_table *t);

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

int psm_event_parse(struct psm_event *ev, const char *line, size_t len,
    struct psm_error *e);
const struct psm_field *psm_event_get(const struct psm_event *ev,
    const char *key);
bool psm_event_is(const struct psm_event *ev, const char *type);
int psm_field_u64(const struct psm_field *f, uint64_t *out);
int psm_field_i64(const struct psm_field *f, int64_t *out);
int psm_field_str(const struct psm_field *f, struct psm_buf *out);
int psm_event_payload(const struct psm_event *ev, struct psm_buf *out,
    struct psm_error *e);
int psm_event_payload_check(const struct psm_event *ev, struct psm_buf *scratch,
    struct psm_error *e);

enum psm_line_status {
	PSM_LINE_OK,		/* a whole line */
	PSM_LINE_EOF,		/* end of input, nothing pending */
	PSM_LINE_PARTIAL,	/* end of input inside a line: more may come */
	PSM_LINE_TOOLONG,	/* over the reader's maximum */
	PSM_LINE_ERROR,		/* read failed: see errno */
	PSM_LINE_WAIT,		/* a live input: poll it, then psm_lines_may_read() */
};

struct psm_lines {
	int fd;
	const char *name;
	uint64_t lineno;	/* of the line last returned */
	size_t max;		/* longest line taken */
	bool wait_before_read;
	bool may_read;
	char *buf;
	size_t cap, start, end, scanned;
};
void psm_lines_init(struct psm_lines *r, int fd, const char *name);
void psm_lines_set_max(struct psm_lines *r, size_t max);
void psm_lines_wait_before_read(struct psm_lines *r, bool wait);
void psm_lines_may_read(struct psm_lines *r);
int psm_lines_next(struct psm_lines *r, const char **line, size_t *len);
void psm_lines_free(struct psm_lines *r);

/*
 * session.c: per-session order checks for readers of a shared stream.
 * Only open sessions are kept, and the ids of the last PSM_ENDED_KEPT
 * that ended (to name an event after its end); memory is bounded by the
 * sessions open at once, time by the input's length.
 */
#define PSM_ENDED_KEPT 1024
struct psm_session {
	char sid[PSM_SID_LEN + 1];
	bool ended;
	uint64_t next_seq, last_t;
};
struct psm_sessions {
	struct psm_table table;
	char (*ended)[PSM_SID_LEN + 1];	/* ring of ended ids still in the table */
	size_t nended, oldest;
	uint64_t started, open;		/* sessions begun, and still open */
};
void psm_sessions_init(struct psm_sessions *s);
int psm_sessions_check(struct psm_sessions *s, const struct psm_event *ev,
    struct psm_error *e);
void psm_sessions_free(struct psm_sessions *s);

/* record.c: the writing side of a recording (psm-record). */
enum { PSM_IN, PSM_OUT, PSM_ERR };
#define PSM_REC_HELD_MAX 4096		/* withheld bytes escrowed in one event, at most */

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
	size_t event_at;		/* where in buf the last event begun starts */
	uint64_t event_seq;		/* and its seq */
	struct psm_buf start_line;	/* kept to write again if it was lost */
	bool failed;			/* writes are failing: count, don't build */
	bool start_lost;
	int errnum;			/* of the last failed write, for "lost" */
	uint64_t lost[3], lost_events;
	uint64_t withheld, withheld_t;	/* withheld input not yet reported */
	const char *withheld_reason;	/* "echo-off" or "prompt" */
	unsigned char held[PSM_REC_HELD_MAX];	/* its bytes, kept only for the escrow */
	size_t nheld;
	void (*escrow)(void *ctx, struct psm_buf *ev, const void *p, size_t n);
	void *escrow_ctx;
	uint64_t write_timeout;		/* microseconds a write may block */
	bool stalled;			/* a write timed out: later ones don't wait */
	unsigned char carry[3][4];	/* unfinished UTF-8 per stream */
	size_t ncarry[3];
};

/* How long a write to the recording may block before it is a failure. */
#define PSM_REC_WRITE_TIMEOUT (10 * UINT64_C(1000000))

int psm_rec_init(struct psm_rec *r, int fd, const char *path, const char *sid,
    bool fail_open, struct psm_error *e);
uint64_t psm_rec_now(const struct psm_rec *r);
uint64_t psm_rec_t0(const struct psm_rec *r);
bool psm_rec_failing(const struct psm_rec *r);
struct psm_buf *psm_rec_begin(struct psm_rec *r, const char *type);
void psm_rec_end_event(struct psm_rec *r);
void psm_rec_withhold(struct psm_rec *r, const void *data, size_t n, const char *reason);
void psm_rec_set_escrow(struct psm_rec *r,
    void (*escrow)(void *ctx, struct psm_buf *ev, const void *p, size_t n), void *ctx);
void psm_rec_set_write_timeout(struct psm_rec *r, uint64_t usec);
void psm_rec_data(struct psm_rec *r, int stream, const void *data, size_t n);
void psm_rec_drain_carry(struct psm_rec *r);
int psm_rec_flush(struct psm_rec *r, struct psm_error *e);
int psm_rec_tick(struct psm_rec *r, struct psm_error *e);
uint64_t psm_rec_due(const struct psm_rec *r);
void psm_rec_free(struct psm_rec *r);

/*
 * prompt.c: password prompts recognised in a terminal's output, so that
 * what is typed after one can be withheld whatever the terminal's mode.
 * The recogniser keeps the screen's current line (the text after the last
 * line feed / carriage return, control and escape sequences removed,
 * backspaces applied), bounded, and matches it against patterns.
 *
 * The line is matched with trailing spaces and '*' removed (sudo's
 * pwfeedback prints one '*' per key). A built-in pattern is a keyword
 * ("password", "passphrase", "PIN" as a word, ...) and needs the line to
 * end with ':'; a pattern added with psm_prompt_add() is a POSIX extended
 * regular expression, case-insensitive, matched as it is. Matching happens
 * once per psm_prompt_output() that changed the line (or psm_prompt_add());
 * psm_prompt_active() reads the answer. Memory is the struct and the
 * compiled patterns; time is linear in the output.
 */
#define PSM_PROMPT_LINE_MAX 256		/* the line's last bytes kept */
#define PSM_PROMPT_BULK 4096		/* a chunk longer than this is read from its last line */
#define PSM_PROMPT_ADDED_MAX 32		/* patterns psm_prompt_add() takes */
struct psm_prompt_re;			/* a compiled pattern (prompt.c) */
struct psm_prompt {
	unsigned char buf[2 * PSM_PROMPT_LINE_MAX + 1];	/* the line: buf[start..end) */
	size_t start, end;
	unsigned char state;		/* where in an escape sequence */
	bool changed;			/* the line changed since it was matched */
	bool active;			/* the answer for the line as last matched */
	unsigned long matches;		/* times the line was matched */
	uint64_t lines;			/* lines that ended (with text on them) */
	struct psm_prompt_re *re;	/* the built-in patterns, then the added ones */
	size_t nbuiltin, nre;
};
int psm_prompt_init(struct psm_prompt *p, struct psm_error *e);
int psm_prompt_add(struct psm_prompt *p, const char *ere, struct psm_error *e);
void psm_prompt_output(struct psm_prompt *p, const void *data, size_t n);
bool psm_prompt_active(const struct psm_prompt *p);
uint64_t psm_prompt_lines(const struct psm_prompt *p);
const char *psm_prompt_line(const struct psm_prompt *p, size_t *len);
void psm_prompt_free(struct psm_prompt *p);

/* privsep.c: a recorder set-user-id on its own user (see the file's top comment). */
struct psm_priv {
	uid_t user;			/* who is recorded: the real id at start */
	uid_t recorder;			/* the recorder's user: the effective id at start */
	bool on;			/* they differ: the program runs set-user-id */
};
void psm_priv_init(struct psm_priv *p);
int psm_priv_sanitize(const struct psm_priv *p, struct psm_error *e);
int psm_priv_become_user(const struct psm_priv *p, struct psm_error *e);
int psm_priv_become_recorder(const struct psm_priv *p, struct psm_error *e);
void psm_priv_files_as_user(const struct psm_priv *p, bool user);
int psm_priv_split(const struct psm_priv *p, struct psm_error *e);
int psm_priv_trusted(const struct psm_priv *p, const char *path, bool dir,
    struct psm_error *e);

/* proc.c: the processes below a process (a session that must end whole). */
int psm_proc_signal_below(pid_t root, int sig);

/* seal.c: the text psm-seal adds to a line (no hashing: see psm_crypto.h). */
#define PSM_SEAL_TAG_LEN 8		/* the stream id's first 8 characters */
#define PSM_SEAL_SUFFIX_LEN 91		/* ,"chain":"<8 hex>","h":"<64 hex>"} */
#define PSM_SEALED_LINE_MAX (PSM_LINE_MAX + PSM_SEAL_SUFFIX_LEN - 1)
void psm_hex(char *out, const unsigned char *p, size_t n);
int psm_unhex(unsigned char *out, size_t n, const char *hex, size_t len);
size_t psm_seal_suffix(char *out, const char *stream_id, const unsigned char head[32]);
bool psm_seal_split(const char *line, size_t len, size_t *before,
    char tag[PSM_SEAL_TAG_LEN + 1], unsigned char h[32]);

/*
 * loop.c: the event loop of a command: descriptors, timers and signals,
 * each a source with callbacks and a context, served by one poll().
 * A round: done()? then each descriptor's want(), poll() until the next
 * timer, then the ready descriptors in the order they were added, one
 * signal, the timers that are due (earliest first), the after hooks.
 * The loop reads a descriptor (*fd) and a timer's time (*at: monotonic
 * microseconds, psm_mono_usec(); 0 is none) from the command's own
 * variables every round. The add functions return an id for
 * psm_loop_remove().
 */
struct pollfd;
struct psm_loop_source;
struct psm_loop {
	struct psm_loop_source *src;	/* indexed by id */
	size_t nsrc, srccap;
	struct pollfd *pfd;		/* this round's poll() set */
	size_t *pfd_src;		/* the source of each */
	size_t pfdcap, pfd_srccap;
	int sigfd;			/* -1 until psm_loop_signals() */
	sigset_t sigs;			/* every signal it reads */
	uint64_t round;
	bool running;
};
void psm_loop_init(struct psm_loop *l);
int psm_loop_add_fd(struct psm_loop *l, const int *fd, short (*want)(void *ctx),
    void (*ready)(void *ctx, int fd, short revents), void *ctx);
int psm_loop_add_timer(struct psm_loop *l, const uint64_t *at,
    void (*fire)(void *ctx), void *ctx);
int psm_loop_add_after(struct psm_loop *l, void (*after)(void *ctx), void *ctx);
int psm_loop_signals(struct psm_loop *l, const sigset_t *set,
    void (*on_signal)(void *ctx, int signo), void *ctx, struct psm_error *e);
void psm_loop_remove(struct psm_loop *l, int id);
int psm_loop_run(struct psm_loop *l, bool (*done)(void *ctx), void *ctx,
    struct psm_error *e);
void psm_loop_free(struct psm_loop *l);

/*
 * term.c: terminal output made safe to play on a viewer's terminal, and
 * bytes made visible. psm_term_filter() drops what acts on the viewer's
 * machine rather than on the screen: control strings (OSC, DCS, SOS, PM,
 * APC: titles, the clipboard, hyperlinks, queries), the requests that a
 * terminal answers (status reports, device attributes, window reports,
 * mode and setting queries), media copy, ENQ, ESC Z and the switches of
 * coding; text, colours, cursor motion and clearing pass. A sequence may
 * be split across calls: what is unfinished is held, at most
 * PSM_TERM_HELD_MAX bytes (a longer one is dropped to its end), and what
 * is still held when the output ends is never written. Linear time, no
 * memory but the struct.
 */
#define PSM_TERM_HELD_MAX 4096
struct psm_term {
	int state;
	bool osc;			/* the string dropped is an OSC: BEL ends it too */
	bool c1;			/* the escape held began with a C1 control */
	unsigned char final_from;	/* when ignoring a sequence: its lowest final byte */
	size_t intro;			/* bytes of the introducer among those held */
	unsigned char u8[4];		/* a UTF-8 character not yet whole */
	size_t nu8;
	size_t nheld;
	unsigned char held[PSM_TERM_HELD_MAX];
};
void psm_term_init(struct psm_term *t);
void psm_term_filter(struct psm_term *t, struct psm_buf *out, const void *p, size_t n);
#define PSM_TERM_VISIBLE_MAX(n) (4 * (n))
size_t psm_term_visible(char *out, const void *p, size_t n);

/*
 * follow.c: for a reader that follows a growing file, once it has read to
 * the end: is the file at its path still the one open, and no shorter than
 * what was read? Has the process that wrote it gone?
 */
enum psm_followed {
	PSM_FOLLOWED_OK,
	PSM_FOLLOWED_TRUNCATED,		/* shorter than what was read */
	PSM_FOLLOWED_MOVED,		/* no file at its path: moved or deleted */
	PSM_FOLLOWED_REPLACED,		/* another file at its path */
};
enum psm_followed psm_followed_state(int fd, const char *path);
bool psm_pid_gone(pid_t pid);

/* pty.c */
int psm_pty_open(int *master, int *slave, char *name, size_t namelen,
    struct psm_error *e);

#endif
