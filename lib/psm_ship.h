/*
 * psm_ship.h: psm-ship's mechanism. Sinks deliver batches of lines to a
 * destination and say when its receiver has them; the state says which
 * lines of a file a destination has. No third-party types here: the sinks
 * that use OpenSSL (syslog over TLS) and libpq (PostgreSQL) keep them in
 * their own files, and a program that includes this header links with
 * libssl, libcrypto and libpq.
 */
#ifndef PSM_SHIP_H
#define PSM_SHIP_H

#include <sys/types.h>

#include "psm.h"

#define PSM_SHIP_BATCH_BYTES (1024 * 1024)	/* a batch's lines, at most (or one longer line) */

/* One line to deliver, and what is known of it. */
struct psm_ship_line {
	const char *line;		/* the exact bytes, without the newline */
	size_t len;
	char sid[PSM_SID_LEN + 1];
	uint64_t seq, t;
	char type[16];
	uint64_t lineno;		/* its line number in its file, from 1 */
	char stream[PSM_SID_LEN + 1];	/* a sealed line's stream id; "" when none or unknown */
	uint64_t stream_line;		/* its place in that sealed stream, from 1; 0 when unknown */
};

/* Lines of one file, in order; the lines point into the caller's buffer. */
struct psm_ship_batch {
	struct psm_ship_line *v;
	size_t n, cap;
	size_t bytes;			/* of the lines, newlines not counted */
	const char *file;		/* where they come from: an absolute path, or "-" */
};

/* What a sink is made with. The strings must outlive the sink. */
struct psm_sink_conf {
	const char *url;
	const char *host;		/* this host's name: syslog HOSTNAME, PostgreSQL's host column */
	const char *ca;			/* TLS: file of trusted CA certificates (NULL: the system's) */
	const char *cert, *key;		/* TLS: client certificate and its key (NULL: none) */
	const char *server_name;	/* TLS: the name to check (NULL: the URL's host) */
	const char *password_file;	/* PostgreSQL: the password, in a file of mode 0600 */
	size_t max_message;		/* syslog, RELP: longest message, header included */
	uint64_t timeout;		/* microseconds a connection or an answer may take */
};

/*
 * A destination. Errors say what to do next: PSM_E_OS is worth a retry
 * (refused, reset, timed out: disconnect, wait, connect, send the batch
 * again); PSM_E_NO is the receiver's no (a certificate not trusted, a
 * password refused, RELP's 500): retrying will not help; PSM_E_DATA is a
 * line that this destination cannot take (check()); PSM_E_USAGE a URL or
 * an option it cannot take.
 */
struct psm_sink;
struct psm_sink_ops {
	int (*connect)(struct psm_sink *s, struct psm_error *e);
	/* Whether the line can go, before it joins a batch. May be NULL. */
	int (*check)(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e);
	/* Every line of b, in order: 0 only once the receiver has all of them. */
	int (*send)(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e);
	/*
	 * May be NULL: send() in two halves, so that the caller reads the next
	 * batch while the receiver takes this one. start() sends b, which must
	 * stay as it is until finish(); finish() is 0 once the receiver has all
	 * of it. A failure of either is a failure of the batch.
	 */
	int (*start)(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e);
	int (*finish)(struct psm_sink *s, struct psm_error *e);
	void (*disconnect)(struct psm_sink *s);	/* after a failure, and at the end */
	void (*free)(struct psm_sink *s);	/* disconnects first if connected */
};
struct psm_sink {
	const struct psm_sink_ops *ops;
	struct psm_sink_conf conf;
	const char *scheme;		/* "file", "syslog+tcp", "syslog+tls", "relp", "postgresql" */
	const char *acked;		/* what "acknowledged" means here, for -v and messages */
	char where[512];		/* the destination as messages name it, without secrets */
	bool connected;
	bool started;			/* a batch was started and is not finished */
	void *impl;
};

/*
 * sink.c: the URL's scheme picks the sink. Nothing is connected yet. A
 * URL with a password in it is refused (PSM_E_USAGE, without echoing it):
 * passwords come from files or the environment, never argv.
 */
int psm_sink_new(struct psm_sink *s, const struct psm_sink_conf *c, struct psm_error *e);
int psm_sink_connect(struct psm_sink *s, struct psm_error *e);
int psm_sink_check(struct psm_sink *s, const struct psm_ship_line *l, struct psm_error *e);
int psm_sink_send(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e);
int psm_sink_start(struct psm_sink *s, const struct psm_ship_batch *b, struct psm_error *e);
int psm_sink_finish(struct psm_sink *s, struct psm_error *e);
void psm_sink_disconnect(struct psm_sink *s);
void psm_sink_free(struct psm_sink *s);

/* The constructors, each in its own file; psm_sink_new() calls them. */
int psm_sink_file_new(struct psm_sink *s, const char *path, struct psm_error *e);
int psm_sink_syslog_new(struct psm_sink *s, bool tls, const char *host, const char *port,
    struct psm_error *e);
int psm_sink_relp_new(struct psm_sink *s, const char *host, const char *port,
    struct psm_error *e);
int psm_sink_pg_new(struct psm_sink *s, struct psm_error *e);

/* Batches. */
void psm_ship_batch_clear(struct psm_ship_batch *b);
struct psm_ship_line *psm_ship_batch_add(struct psm_ship_batch *b);
void psm_ship_batch_free(struct psm_ship_batch *b);

/*
 * syslog.c: a line as an RFC 5424 message (the line byte for byte as MSG;
 * sid, seq, type, t and the sealed stream in structured data), which
 * syslog+tcp/tls frames by octet counting (RFC 6587) and RELP carries as is.
 */
#define PSM_SYSLOG_SDID "psm@32473"
#define PSM_SYSLOG_APP "psm"		/* APP-NAME of the sinks' messages */
/* Appends the message to out. */
void psm_syslog_format(struct psm_buf *out, const struct psm_ship_line *l, const char *host,
    const char *app, int64_t sec, long usec);
size_t psm_syslog_header_len(const struct psm_ship_line *l, const char *host, const char *app);
/* The syslog and RELP sinks' check(): the message within s->conf.max_message. */
int psm_syslog_check(const struct psm_sink *s, const struct psm_ship_line *l,
    struct psm_error *e);

/*
 * net.c: TCP connections with deadlines (non-blocking sockets and poll),
 * optionally in TLS (OpenSSL: TLS 1.2 or later, the peer's certificate
 * checked against the CA file and the host name). Errors are PSM_E_OS,
 * except a certificate that fails its check (PSM_E_NO).
 */
struct psm_net;
struct psm_net_conf {
	const char *host, *port;
	bool tls;
	const char *ca, *cert, *key, *server_name;
	uint64_t timeout;
};
int psm_net_new(struct psm_net **n, const struct psm_net_conf *c, struct psm_error *e);
int psm_net_connect(struct psm_net *n, struct psm_error *e);
int psm_net_write(struct psm_net *n, const void *p, size_t len, struct psm_error *e);
/* Up to cap bytes, waiting at most the timeout for the first: 0 is the peer's close. */
ssize_t psm_net_read(struct psm_net *n, void *p, size_t cap, struct psm_error *e);
/* Wait until the peer's TCP has acknowledged every byte written (SIOCOUTQ is 0). */
int psm_net_drain(struct psm_net *n, struct psm_error *e);
void psm_net_close(struct psm_net *n);
void psm_net_free(struct psm_net *n);

/*
 * ship_state.c: what a destination has of one file, in a file of its own
 * under the state directory, one per (file, destination): the file's
 * device and inode, the end of the last line acknowledged, where that
 * line began and its SHA-256, and the sealed streams still open in it
 * (their ids and lines so far). Saved only after an acknowledgement, by
 * replacing the file (temporary, fsync, rename, fsync of the directory);
 * a lock file (flock) keeps a second run off it.
 */
#define PSM_SHIP_STREAMS_MAX 1024	/* open sealed streams followed in one file */
struct psm_ship_stream {
	char id[PSM_SID_LEN + 1];
	uint64_t lines;
};
struct psm_ship_state {
	char *path;			/* the state file */
	int lockfd;
	char *source;			/* the file shipped: its absolute path */
	char *to;			/* the destination */
	bool known;			/* a state was read or saved */
	uint64_t dev, ino;		/* of the file the offset is in */
	uint64_t offset;		/* bytes acknowledged: the end of the last line */
	uint64_t lines;			/* lines acknowledged */
	uint64_t last_start;		/* where the last line acknowledged begins */
	unsigned char last_hash[32];	/* and its SHA-256 */
	struct psm_ship_stream *streams;
	size_t nstreams, scap;
};
int psm_ship_state_dir(char *out, size_t size, struct psm_error *e);
int psm_ship_state_open(struct psm_ship_state *st, const char *dir, const char *source,
    const char *to, struct psm_error *e);
int psm_ship_state_save(struct psm_ship_state *st, struct psm_error *e);
void psm_ship_state_close(struct psm_ship_state *st);
/* Which sealed stream line l belongs to, and its place there, from event ev. */
void psm_ship_state_place(struct psm_ship_state *st, const struct psm_event *ev,
    struct psm_ship_line *l);

/*
 * Where the lines after the last acknowledged one are, now that the file
 * may have been rotated, truncated or replaced since. A file is the one
 * shipped if its line at last_start still hashes to last_hash.
 */
enum psm_ship_found {
	PSM_SHIP_FROM_START,	/* nothing of this path shipped yet: from its start */
	PSM_SHIP_SAME,		/* the file shipped, unchanged: go on at offset */
	PSM_SHIP_MOVED,		/* it is now *old (renamed, or copied before a truncation):
				 * finish that from offset, then the path from its start */
	PSM_SHIP_LOST,		/* it is gone or was rewritten, and no copy of it is
				 * next to the path: the path from its start */
};
int psm_ship_locate(const struct psm_ship_state *st, const char *path, char **old,
    enum psm_ship_found *found, struct psm_error *e);
bool psm_ship_state_matches(const struct psm_ship_state *st, int fd);

#endif
