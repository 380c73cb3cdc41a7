/*
 * net.c: a TCP connection with deadlines, optionally in TLS.
 *
 * The host name is resolved once, in psm_net_new(), and its addresses are
 * kept: a reconnection happens under the sandbox, where there is no DNS.
 * The TLS context is made there too (the CA file, the client certificate
 * and its key are read once). Sockets are non-blocking; each wait is a
 * poll() bounded by the timeout, which counts from the last progress: a
 * connection (TCP and the TLS handshake together) must be made within it,
 * and a write or a read that moves no byte for that long fails.
 *
 * No SIGPIPE: plain writes use send(MSG_NOSIGNAL), and TLS goes through a
 * BIO of our own that does the same, where OpenSSL's socket BIO would
 * write().
 *
 * psm_net_drain() is what "delivered" means for plain syslog: the peer's
 * TCP has acknowledged every byte (the socket's send queue, SIOCOUTQ, is
 * empty), and the connection was neither reset nor closed by the peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "psm_ship.h"

#define DEFAULT_TIMEOUT (30 * UINT64_C(1000000))
#define DRAIN_POLL_MAX_MS 20	/* SIOCOUTQ has no event: look again this often */
#define REFUSAL_WAIT (1000 * UINT64_C(1000))	/* see confirm_accepted() */

struct psm_net {
	char *host, *port, *name;	/* name: the one the certificate must have */
	char where[300];		/* HOST:PORT, for messages */
	bool tls;
	uint64_t timeout;
	struct addrinfo *addrs;
	SSL_CTX *ctx;
	BIO_METHOD *bio_method;
	SSL *ssl;
	int fd;
	int bio_errno;			/* of the BIO's last failed send or recv */
	bool healthy;			/* no failure since the handshake: close_notify may go */
	bool cert_requested;		/* the server asked for our certificate */
	bool handshaken;		/* SSL_connect() is done */
	bool peer_spoke;		/* a handshake message from the server after that */
};

/* ---- errors ---- */

/* OpenSSL's first queued error as text (the queue emptied), else fallback. */
static const char *
ssl_reason(char *buf, size_t size, const char *fallback)
{
	unsigned long err = ERR_get_error();

	ERR_clear_error();
	if (err == 0)
		return fallback;
	ERR_error_string_n(err, buf, size);
	return buf;
}

static int
fail_ssl(struct psm_error *e, enum psm_errkind kind, const char *subject, const char *fallback)
{
	char reason[256];

	return psm_fail(e, kind, "%s: %s", subject, ssl_reason(reason, sizeof reason, fallback));
}

static int
fail_timeout(struct psm_net *n, struct psm_error *e, const char *what)
{
	psm_fail(e, PSM_E_OS, "%s: timed out after %.3g s", what,
	    (double)n->timeout / 1e6);
	e->errnum = ETIMEDOUT;
	return -1;
}

/* ---- waiting ---- */

/*
 * Wait until fd is ready for events or the deadline (monotonic
 * microseconds) passes: 1 ready (errors and hang-ups count as ready: the
 * next call says which), 0 timed out, -1 poll failed (errno).
 */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = psm_mono_usec();
		int ms, r;

		if (now >= deadline)
			return 0;
		ms = deadline - now > (uint64_t)INT32_MAX * 1000 ? INT32_MAX :
		    (int)((deadline - now + 999) / 1000);
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static uint64_t
deadline_of(const struct psm_net *n)
{
	return psm_mono_usec() + n->timeout;
}

/* ---- the BIO: send and recv with MSG_NOSIGNAL ---- */

static int
bio_write(BIO *b, const char *p, size_t len, size_t *written)
{
	struct psm_net *n = BIO_get_data(b);
	ssize_t r = send(n->fd, p, len, MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (r < 0) {
		n->bio_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return 0;
	}
	*written = (size_t)r;
	return 1;
}

static int
bio_read(BIO *b, char *p, size_t cap, size_t *got)
{
	struct psm_net *n = BIO_get_data(b);
	ssize_t r = recv(n->fd, p, cap, 0);

	BIO_clear_retry_flags(b);
	if (r < 0) {
		n->bio_errno = errno;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return 0;
	}
	if (r == 0) {
		n->bio_errno = 0;
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
		return 0;
	}
	*got = (size_t)r;
	return 1;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;	/* nothing is buffered here */
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	default:
		return 0;
	}
}

static int
make_bio_method(struct psm_net *n, struct psm_error *e)
{
	n->bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "psm socket");
	if (n->bio_method == NULL || !BIO_meth_set_write_ex(n->bio_method, bio_write) ||
	    !BIO_meth_set_read_ex(n->bio_method, bio_read) ||
	    !BIO_meth_set_ctrl(n->bio_method, bio_ctrl))
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot make a BIO method");
	return 0;
}

/* ---- the TLS context, once ---- */

/* An encrypted key would make OpenSSL ask on the terminal: there is no one to answer. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int
check_key_mode(const char *key, struct psm_error *e)
{
	struct stat st;

	if (stat(key, &st) < 0)
		return psm_fail_errno(e, "%s", key);
	if (st.st_mode & (S_IRGRP | S_IROTH))
		return psm_fail(e, PSM_E_OS, "%s: readable by others: chmod 600", key);
	return 0;
}

static int
load_client_cert(SSL_CTX *ctx, const struct psm_net_conf *c, struct psm_error *e)
{
	if ((c->cert == NULL) != (c->key == NULL))
		return psm_fail(e, PSM_E_USAGE, "a client certificate needs its key, and a key "
		    "its certificate");
	if (c->cert == NULL)
		return 0;
	if (check_key_mode(c->key, e) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1)
		return fail_ssl(e, PSM_E_OS, c->cert, "cannot load the certificate");
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1)
		return fail_ssl(e, PSM_E_OS, c->key, "cannot load the key (an encrypted key "
		    "is not supported)");
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		return psm_fail(e, PSM_E_OS, "%s: not the key of %s", c->key, c->cert);
	}
	return 0;
}

static int
make_ctx(struct psm_net *n, const struct psm_net_conf *c, struct psm_error *e)
{
	ERR_clear_error();
	n->ctx = SSL_CTX_new(TLS_client_method());
	if (n->ctx == NULL)
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot make a context");
	if (SSL_CTX_set_min_proto_version(n->ctx, TLS1_2_VERSION) != 1)
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot require TLS 1.2");
	SSL_CTX_set_verify(n->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_passwd_cb(n->ctx, no_passphrase);
	SSL_CTX_set_mode(n->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (c->ca != NULL) {
		if (SSL_CTX_load_verify_locations(n->ctx, c->ca, NULL) != 1)
			return fail_ssl(e, PSM_E_OS, c->ca, "cannot load the CA certificates");
	} else if (SSL_CTX_set_default_verify_paths(n->ctx) != 1) {
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot load the system's CA certificates");
	}
	if (load_client_cert(n->ctx, c, e) < 0)
		return -1;
	return make_bio_method(n, e);
}

/* ---- making and freeing ---- */

static int
resolve(struct psm_net *n, struct psm_error *e)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP };
	int r = getaddrinfo(n->host, n->port, &hints, &n->addrs);

	if (r == EAI_SYSTEM)
		return psm_fail_errno(e, "%s: cannot resolve", n->where);
	if (r != 0)
		return psm_fail(e, PSM_E_OS, "%s: cannot resolve: %s", n->where, gai_strerror(r));
	return 0;
}

int
psm_net_new(struct psm_net **np, const struct psm_net_conf *c, struct psm_error *e)
{
	struct psm_net *n = xmalloc(sizeof *n);

	memset(n, 0, sizeof *n);
	n->fd = -1;
	n->host = xstrdup(c->host);
	n->port = xstrdup(c->port);
	n->name = xstrdup(c->server_name != NULL ? c->server_name : c->host);
	n->tls = c->tls;
	n->timeout = c->timeout != 0 ? c->timeout : DEFAULT_TIMEOUT;
	snprintf(n->where, sizeof n->where, strchr(c->host, ':') != NULL ? "[%s]:%s" : "%s:%s",
	    c->host, c->port);
	*np = NULL;
	if (resolve(n, e) < 0 || (n->tls && make_ctx(n, c, e) < 0)) {
		psm_net_free(n);
		return -1;
	}
	*np = n;
	return 0;
}

void
psm_net_close(struct psm_net *n)
{
	if (n->ssl != NULL) {
		/* One try, without waiting: a close_notify tells the peer the end was meant. */
		if (n->healthy)
			SSL_shutdown(n->ssl);
		SSL_free(n->ssl);
		n->ssl = NULL;
	}
	if (n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	n->healthy = false;
	n->bio_errno = 0;
	ERR_clear_error();
}

void
psm_net_free(struct psm_net *n)
{
	if (n == NULL)
		return;
	psm_net_close(n);
	SSL_CTX_free(n->ctx);
	BIO_meth_free(n->bio_method);
	if (n->addrs != NULL)
		freeaddrinfo(n->addrs);
	free(n->host);
	free(n->port);
	free(n->name);
	free(n);
}

/* ---- connecting ---- */

/* One address: 0 connected (n->fd), -1 with errno. */
static int
connect_to(struct psm_net *n, const struct addrinfo *a, uint64_t deadline)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    a->ai_protocol);
	int err = 0, one = 1;
	socklen_t len = sizeof err;

	if (fd < 0)
		return -1;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
		int r;

		if (errno != EINPROGRESS)
			goto fail;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	/* Each write is a batch: don't hold its end back waiting for an ACK. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		goto fail;
	n->fd = fd;
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static bool
is_ip_literal(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/* The certificate must name n->name (a DNS name, or an IP address); SNI for a DNS name. */
static int
set_peer_name(struct psm_net *n, struct psm_error *e)
{
	if (is_ip_literal(n->name)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(n->ssl), n->name) != 1)
			return fail_ssl(e, PSM_E_OS, "TLS", "cannot set the address to check");
		return 0;
	}
	if (SSL_set_tlsext_host_name(n->ssl, n->name) != 1 || SSL_set1_host(n->ssl, n->name) != 1)
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot set the name to check");
	return 0;
}

/* A TLS alert from the peer that refuses our certificate, or our lack of one. */
static bool
is_refusal(unsigned long err)
{
	int reason = ERR_GET_REASON(err);

	return ERR_GET_LIB(err) == ERR_LIB_SSL && (reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
	    reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
	    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
	    reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE ||
	    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
	    reason == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
	    reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
	    reason == SSL_R_TLSV1_ALERT_ACCESS_DENIED);
}

/*
 * In TLS 1.3 the server checks our certificate after the handshake is
 * over for us: its refusal comes as an alert after it, and then the
 * connection ends. When a write or a wait fails, the alert may be there
 * to read: -1 with e filled (PSM_E_NO) if it is, else 0.
 */
static int
peer_refused(struct psm_net *n, struct psm_error *e)
{
	char scratch[256];
	size_t got = 0;
	int r;

	ERR_clear_error();
	r = SSL_read_ex(n->ssl, scratch, sizeof scratch, &got);
	if (r != 1 && SSL_get_error(n->ssl, r) == SSL_ERROR_SSL && is_refusal(ERR_peek_error()))
		return fail_ssl(e, PSM_E_NO, "the server refused our certificate", "refused");
	ERR_clear_error();
	return 0;
}

/*
 * After a failed TLS call: the error (PSM_E_NO for a certificate that
 * failed its check, or a TLS alert saying the peer refused ours).
 */
static int
fail_tls_call(struct psm_net *n, int err, const char *what, struct psm_error *e)
{
	char reason[256];
	long verify = SSL_get_verify_result(n->ssl);

	if (verify != X509_V_OK) {
		ERR_clear_error();
		return psm_fail(e, PSM_E_NO, "%s: the server's certificate: %s", what,
		    X509_verify_cert_error_string(verify));
	}
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (n->bio_errno == 0)
			return psm_fail(e, PSM_E_OS, "%s: connection closed by the peer", what);
		errno = n->bio_errno;
		return psm_fail_errno(e, "%s", what);
	}
	if (err == SSL_ERROR_ZERO_RETURN)
		return psm_fail(e, PSM_E_OS, "%s: connection closed by the peer", what);
	if (is_refusal(ERR_peek_error()))
		return psm_fail(e, PSM_E_NO, "%s: the server refused our certificate: %s", what,
		    ssl_reason(reason, sizeof reason, "refused"));
	return psm_fail(e, PSM_E_OS, "%s: %s", what,
	    ssl_reason(reason, sizeof reason, "TLS failed"));
}

/*
 * Wait as a TLS call asked (SSL_ERROR_WANT_*): 1 go on, 0 timed out, -1
 * not a wait (err is the call's failure), -2 poll failed (errno).
 */
static int
tls_wait(struct psm_net *n, int err, uint64_t deadline)
{
	int r;

	if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
		return -1;
	r = wait_fd(n->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
	return r < 0 ? -2 : r;
}

/* The handshake messages that the server sends: did it ask for a certificate, did it go on? */
static void
saw_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
    void *arg)
{
	struct psm_net *n = arg;
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1)
		return;
	if (p[0] == SSL3_MT_CERTIFICATE_REQUEST)
		n->cert_requested = true;
	else if (n->handshaken)
		n->peer_spoke = true;	/* a session ticket */
}

/*
 * In TLS 1.3 our handshake is over before the server has checked our
 * certificate (or its absence): a server that refuses it says so in an
 * alert after, which the bytes of a batch may beat, and then they would
 * count as delivered though the server dropped them. So when the server
 * asked for a certificate, wait for its word that it went on, a session
 * ticket (OpenSSL and GnuTLS servers send them, rsyslogd's among them),
 * or for its alert. A server that sends no ticket says nothing when it
 * takes us: after REFUSAL_WAIT, a refusal would have come.
 */
static int
confirm_accepted(struct psm_net *n, uint64_t deadline, struct psm_error *e)
{
	uint64_t quiet = psm_mono_usec() + REFUSAL_WAIT;
	char scratch[256];

	if (quiet < deadline)
		deadline = quiet;
	ERR_clear_error();
	while (!n->peer_spoke) {
		size_t got = 0;
		int r = SSL_read_ex(n->ssl, scratch, sizeof scratch, &got), err, w;

		if (r == 1 || n->peer_spoke)
			break;		/* it went on */
		err = SSL_get_error(n->ssl, r);
		w = tls_wait(n, err, deadline);
		if (w == 0)
			break;		/* quiet: no refusal */
		if (w == -2)
			return psm_fail_errno(e, "poll");
		if (w < 0)
			return fail_tls_call(n, err, "TLS handshake", e);
	}
	ERR_clear_error();
	return 0;
}

static int
handshake(struct psm_net *n, uint64_t deadline, struct psm_error *e)
{
	BIO *bio;

	ERR_clear_error();
	n->cert_requested = n->handshaken = n->peer_spoke = false;
	n->ssl = SSL_new(n->ctx);
	bio = n->ssl != NULL ? BIO_new(n->bio_method) : NULL;
	if (bio == NULL)
		return fail_ssl(e, PSM_E_OS, "TLS", "cannot start TLS");
	BIO_set_data(bio, n);
	BIO_set_init(bio, 1);
	SSL_set_bio(n->ssl, bio, bio);
	SSL_set_msg_callback(n->ssl, saw_message);
	SSL_set_msg_callback_arg(n->ssl, n);
	if (set_peer_name(n, e) < 0)
		return -1;
	for (;;) {
		int r = SSL_connect(n->ssl), err, w;

		if (r == 1) {
			n->handshaken = true;
			if (n->cert_requested && SSL_version(n->ssl) == TLS1_3_VERSION)
				return confirm_accepted(n, deadline, e);
			return 0;
		}
		err = SSL_get_error(n->ssl, r);
		w = tls_wait(n, err, deadline);
		if (w == 0)
			return fail_timeout(n, e, "TLS handshake");
		if (w == -2)
			return psm_fail_errno(e, "poll");
		if (w < 0)
			return fail_tls_call(n, err, "TLS handshake", e);
	}
}

int
psm_net_connect(struct psm_net *n, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);
	int err = EADDRNOTAVAIL;

	psm_net_close(n);
	for (const struct addrinfo *a = n->addrs; a != NULL; a = a->ai_next) {
		if (connect_to(n, a, deadline) == 0)
			break;
		err = errno;
	}
	if (n->fd < 0) {
		if (err == ETIMEDOUT)
			return fail_timeout(n, e, "connect");
		errno = err;
		return psm_fail_errno(e, "connect");
	}
	if (n->tls && handshake(n, deadline, e) < 0) {
		psm_net_close(n);
		return -1;
	}
	n->healthy = true;
	return 0;
}

/* ---- writing and reading ---- */

/*
 * A reader of answers acknowledges at once: a server that answers in
 * small writes with Nagle's algorithm on (imrelp) waits for our ACK before
 * its next answer, and a delayed ACK (40 ms) would pace a whole window.
 * Linux turns quick ACKs off again by itself, so this is asked per read.
 */
static void
quick_ack(struct psm_net *n)
{
	int one = 1;

	(void)setsockopt(n->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

static int
write_plain(struct psm_net *n, const char *p, size_t len, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);

	while (len > 0) {
		ssize_t r = send(n->fd, p, len, MSG_NOSIGNAL);

		if (r > 0) {
			p += r;
			len -= (size_t)r;
			deadline = deadline_of(n);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return psm_fail_errno(e, "write");
		switch (wait_fd(n->fd, POLLOUT, deadline)) {
		case 0:
			return fail_timeout(n, e, "write");
		case -1:
			return psm_fail_errno(e, "poll");
		}
	}
	return 0;
}

static int
write_tls(struct psm_net *n, const char *p, size_t len, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);

	ERR_clear_error();
	while (len > 0) {
		size_t done = 0;
		int r = SSL_write_ex(n->ssl, p, len, &done), err, w;

		if (r == 1) {
			p += done;
			len -= done;
			deadline = deadline_of(n);
			continue;
		}
		err = SSL_get_error(n->ssl, r);
		w = tls_wait(n, err, deadline);
		if (w == 0)
			return fail_timeout(n, e, "write");
		if (w == -2)
			return psm_fail_errno(e, "poll");
		if (w < 0) {
			int saved = n->bio_errno;

			if (peer_refused(n, e) < 0)
				return -1;
			n->bio_errno = saved;
			return fail_tls_call(n, err, "write", e);
		}
	}
	return 0;
}

int
psm_net_write(struct psm_net *n, const void *p, size_t len, struct psm_error *e)
{
	if (n->fd < 0)
		return psm_fail(e, PSM_E_OS, "not connected");
	if ((n->tls ? write_tls(n, p, len, e) : write_plain(n, p, len, e)) < 0) {
		n->healthy = false;
		return -1;
	}
	return 0;
}

static ssize_t
read_plain(struct psm_net *n, void *p, size_t cap, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);

	for (;;) {
		ssize_t r = recv(n->fd, p, cap, 0);

		if (r >= 0) {
			quick_ack(n);
			return r;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return psm_fail_errno(e, "read");
		switch (wait_fd(n->fd, POLLIN, deadline)) {
		case 0:
			return fail_timeout(n, e, "waiting for an answer");
		case -1:
			return psm_fail_errno(e, "poll");
		}
	}
}

static ssize_t
read_tls(struct psm_net *n, void *p, size_t cap, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);

	ERR_clear_error();
	for (;;) {
		size_t got = 0;
		int r = SSL_read_ex(n->ssl, p, cap, &got), err, w;

		if (r == 1)
			return (ssize_t)got;
		err = SSL_get_error(n->ssl, r);
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && n->bio_errno == 0)
			return 0;	/* a TCP close without close_notify: closed all the same */
		w = tls_wait(n, err, deadline);
		if (w == 0)
			return fail_timeout(n, e, "waiting for an answer");
		if (w == -2)
			return psm_fail_errno(e, "poll");
		if (w < 0) {
			/* OpenSSL 3 reports a TCP close without close_notify as an error. */
			if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
				ERR_clear_error();
				return 0;
			}
			return fail_tls_call(n, err, "read", e);
		}
	}
}

ssize_t
psm_net_read(struct psm_net *n, void *p, size_t cap, struct psm_error *e)
{
	ssize_t r;

	if (n->fd < 0)
		return psm_fail(e, PSM_E_OS, "not connected");
	r = n->tls ? read_tls(n, p, cap, e) : read_plain(n, p, cap, e);
	if (r <= 0)
		n->healthy = false;
	return r;
}

/* ---- draining ---- */

/*
 * The peer sent something while we only write: what is not a close (a
 * TLS session ticket, stray bytes) is read and dropped; a close is the end
 * of this connection. 0 still open, -1 (e filled) not.
 */
static int
check_peer_quiet(struct psm_net *n, struct psm_error *e)
{
	char scratch[512];

	if (n->tls) {
		size_t got = 0;
		int r, err;

		ERR_clear_error();
		r = SSL_read_ex(n->ssl, scratch, sizeof scratch, &got);
		err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(n->ssl, r);
		if (err == SSL_ERROR_SSL && is_refusal(ERR_peek_error()))
			return fail_ssl(e, PSM_E_NO, "the server refused our certificate", "refused");
		ERR_clear_error();
		if (err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ ||
		    err == SSL_ERROR_WANT_WRITE)
			return 0;
	} else {
		ssize_t r = recv(n->fd, scratch, sizeof scratch, MSG_DONTWAIT);

		if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR)))
			return 0;
		if (r < 0)
			return psm_fail_errno(e, "connection lost");
	}
	return psm_fail(e, PSM_E_OS, "the receiver closed the connection");
}

/* A reset or another error on the socket: -1 with e filled, else 0. */
static int
check_socket_error(struct psm_net *n, struct psm_error *e)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return psm_fail_errno(e, "getsockopt");
	if (err != 0) {
		errno = err;
		return psm_fail_errno(e, "connection lost");
	}
	return 0;
}

static int
drain(struct psm_net *n, struct psm_error *e)
{
	uint64_t deadline = deadline_of(n);
	int ms = 1, last = INT32_MAX;

	if (n->fd < 0)
		return psm_fail(e, PSM_E_OS, "not connected");
	for (;;) {
		struct pollfd p = { .fd = n->fd, .events = POLLIN | POLLRDHUP };
		int queued = 0, r;

		if (ioctl(n->fd, SIOCOUTQ, &queued) < 0)
			return psm_fail_errno(e, "ioctl SIOCOUTQ");
		/* After the count: a reset empties the queue, and shows here. */
		r = poll(&p, 1, queued == 0 ? 0 : ms);
		if (r < 0 && errno != EINTR)
			return psm_fail_errno(e, "poll");
		if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return (n->tls && peer_refused(n, e) < 0) || check_socket_error(n, e) < 0 ? -1 :
			    psm_fail(e, PSM_E_OS, "the connection was lost");
		if (r > 0 && (p.revents & (POLLIN | POLLRDHUP)) && check_peer_quiet(n, e) < 0)
			return -1;
		if (queued == 0)
			return 0;
		if (queued < last) {	/* progress: the timeout counts from here */
			deadline = deadline_of(n);
			last = queued;
		}
		if (psm_mono_usec() >= deadline)
			return fail_timeout(n, e, "waiting for the receiver's TCP acknowledgement");
		if (ms < DRAIN_POLL_MAX_MS)
			ms *= 2;
	}
}

int
psm_net_drain(struct psm_net *n, struct psm_error *e)
{
	if (drain(n, e) < 0) {
		n->healthy = false;
		return -1;
	}
	return 0;
}
