/*
 * psm_grant.h: psm-grant's documents (psm-grant(1)): requests, approvals,
 * grants and revocation lists, each one JSON line written by psm's own
 * deterministic writer and read with libjq's jv. Approvals, grants and
 * revocations are signed (Ed25519) over their exact bytes. Programs that
 * include it link with libjq and libsodium.
 *
 * Parsers take the line as untrusted: errors are PSM_E_DATA for a line
 * that is not the document it should be (the caller adds FILE:LINE) and
 * PSM_E_NO for a signature that does not verify.
 */
#ifndef PSM_GRANT_H
#define PSM_GRANT_H

#include "psm.h"
#include "psm_crypto.h"

#define PSM_GRANT_NAME_MAX PSM_KEYNAME_MAX	/* user, account, role, approver names */
#define PSM_GRANT_HOST_MAX 254
#define PSM_GRANT_TEXT_MAX 1024		/* a reason or a ticket */
#define PSM_GRANT_COMMAND_MAX 4096
#define PSM_GRANT_LINE_MAX 65536	/* any document line, at most */
#define PSM_GRANT_SKEW 60		/* seconds of clock difference allowed between hosts */
#define PSM_GRANT_END_GRACE 10		/* seconds a recorder may take to end a session at expiry */
#define PSM_GRANT_TTL_MAX (7 * 86400)	/* an access window or a request's life, at most */
#define PSM_GRANT_APPROVERS_MAX 32
#define PSM_GRANT_FLAGS_MAX 8
#define PSM_TIME_LEN 20			/* YYYY-MM-DDTHH:MM:SSZ */

/* "YYYY-MM-DDTHH:MM:SSZ", UTC, whole seconds, both ways; -1 for anything else. */
void psm_time_format(char out[PSM_TIME_LEN + 1], int64_t t);
int psm_time_parse(const char *s, size_t n, int64_t *t);

struct psm_request {
	char id[PSM_SID_LEN + 1];
	int64_t time, expires;
	char user[PSM_GRANT_NAME_MAX], host[PSM_GRANT_HOST_MAX + 1];
	char role[PSM_GRANT_NAME_MAX], account[PSM_GRANT_NAME_MAX];
	char target[PSM_GRANT_HOST_MAX + 1];
	uint64_t uid, ttl;
	char *command, *ticket;		/* NULL when null */
	char *reason;
	char *line;			/* the exact line, its own copy */
	size_t len;
};
void psm_request_write(struct psm_buf *out, const struct psm_request *r);
int psm_request_parse(struct psm_request *r, const char *line, size_t n, struct psm_error *e);
void psm_request_free(struct psm_request *r);
bool psm_grant_name_valid(const char *s, size_t n);
bool psm_grant_host_valid(const char *s, size_t n);

struct psm_approval {
	char request[PSM_SID_LEN + 1];	/* the request's id */
	bool deny;
	int64_t time;
	char key[PSM_KEYID_LEN + 1];
	char name[PSM_KEYNAME_MAX];	/* the key's own name, "" for none */
	char *reason;			/* NULL when null */
	unsigned char sig[64];
	char *line;
	size_t len, body;		/* body: the signed bytes of the line */
};
/* The approval line of key k for request r, with its newline. */
void psm_approval_write(struct psm_buf *out, const struct psm_request *r, bool deny,
    int64_t time, const char *reason, const struct psm_seckey *k);
int psm_approval_parse(struct psm_approval *a, const char *line, size_t n, struct psm_error *e);
bool psm_approval_signed_by(const struct psm_approval *a, const struct psm_request *r,
    const struct psm_pubkey *k);
void psm_approval_free(struct psm_approval *a);

struct psm_grant_approver {
	char name[PSM_GRANT_NAME_MAX];
	char key[PSM_KEYID_LEN + 1];
	char *const *groups;		/* NULL-terminated */
	int64_t time;
};
/* What psm-grant issue decided, written and signed as the grant line. */
struct psm_grant_out {
	const struct psm_request *request;
	uint64_t serial;
	const struct psm_grant_approver *approvers;
	size_t napprovers;
	int64_t issued, expires;
	char *const *flags;		/* NULL-terminated */
};
void psm_grant_write(struct psm_buf *out, const struct psm_grant_out *g, const struct psm_seckey *ca);

/* A grant whose signature verified against the CA's key. */
struct psm_grant {
	char id[PSM_SID_LEN + 1];
	uint64_t serial, uid;
	char user[PSM_GRANT_NAME_MAX], role[PSM_GRANT_NAME_MAX], account[PSM_GRANT_NAME_MAX];
	char target[PSM_GRANT_HOST_MAX + 1], ca[PSM_KEYID_LEN + 1];
	char *command, *ticket, *reason;	/* command and ticket NULL when null */
	char *approvers;		/* "name (group,group) at TIME, ...", for people; "" for none */
	int64_t requested, issued, not_before, expires;
	bool break_glass;		/* "break-glass" among its flags */
	char *flags;			/* the flags joined with ",", "" for none */
	char *line;			/* the exact line */
	size_t len;
};
int psm_grant_parse(struct psm_grant *g, const char *line, size_t n, const struct psm_pubkey *ca,
    struct psm_error *e);
int psm_grant_load(struct psm_grant *g, const char *path, const struct psm_pubkey *ca,
    struct psm_error *e);
void psm_grant_free(struct psm_grant *g);
/* Why the grant does not hold at time now for this host, or NULL. */
const char *psm_grant_outside(const struct psm_grant *g, int64_t now);
bool psm_grant_for_host(const struct psm_grant *g, const char *hostname);

/* A revocation list: lines signed by the grant CA, naming grants by id. */
struct psm_revoked {
	struct psm_table ids;
	uint64_t lines;
};
void psm_revoked_write(struct psm_buf *out, const struct psm_grant *g, int64_t time,
    const char *reason, const struct psm_seckey *ca);
/* A missing file is an empty list only when missing_ok. */
int psm_revoked_load(struct psm_revoked *r, const char *path, const struct psm_pubkey *ca,
    bool missing_ok, struct psm_error *e);
int psm_revoked_parse(struct psm_revoked *r, const char *text, size_t n, const char *name,
    const struct psm_pubkey *ca, struct psm_error *e);
bool psm_revoked_has(const struct psm_revoked *r, const char *grant_id);
void psm_revoked_free(struct psm_revoked *r);

/*
 * grant_window.c: the grants of a stream's sessions (psm-verify --ca), a
 * hook of the verifier (psm_verifier_on_event). A session's start event
 * must carry a grant that verifies against ca, with its "grant_id", for
 * the session's user and host; every event of the session must lie in the
 * grant's window, by the start event's time plus its t: from not_before
 * less PSM_GRANT_SKEW to expires, and up to PSM_GRANT_END_GRACE after
 * expires for what is not typed input ("in", "withheld"). Failures are
 * PSM_E_NO. Only open sessions are kept.
 */
struct psm_grant_windows {
	const struct psm_pubkey *ca;
	struct psm_table open;		/* by session id */
	struct psm_buf scratch;
	uint64_t checked;		/* sessions whose grant verified */
};
void psm_grant_windows_init(struct psm_grant_windows *w, const struct psm_pubkey *ca);
int psm_grant_windows_event(void *ctx, const struct psm_event *ev, struct psm_error *e);
void psm_grant_windows_free(struct psm_grant_windows *w);

#endif
