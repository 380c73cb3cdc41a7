/*
 * test-sshcert.c: OpenSSH user certificates and public key lines
 * (lib/sshcert.c). Run alone it checks what needs no other program; with
 * a directory it also writes there, for tests/sshcert.bats to hand to
 * ssh-keygen -L (which checks the CA's signature):
 *	ca.pub user.pub user-cert.pub (a valid certificate)
 *	tampered-cert.pub (one byte of the signed part changed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "psm_crypto.h"
#include "check.h"

static unsigned char ca_pk[32], ca_sk[64], user_pk[32], user_sk[64];

static char *principals[] = { "dbadmin", NULL };
static char *extensions[] = { "permit-pty", NULL };

static struct psm_sshcert
grant_cert(void)
{
	struct psm_sshcert c = {
		.serial = 4242,
		.key_id = "grant 6f1c2a90 for alice approved by bob,carol",
		.principals = principals,
		.valid_after = 1796000000,
		.valid_before = 1796000000 + 15 * 60,
		.force_command = "/usr/local/bin/psm-record -- /bin/bash",
		.source_address = "127.0.0.1/32",
		.extensions = extensions,
	};

	memcpy(c.user_pk, user_pk, 32);
	return c;
}

static void
test_pubkey_lines(void)
{
	struct psm_buf line = { 0 };
	struct psm_error e;
	unsigned char back[32];

	psm_ssh_pubkey_write(&line, user_pk, "alice@db1");
	CHECK(strncmp(line.data, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0,
	    "an ssh-ed25519 key line begins as OpenSSH's do: %.40s", line.data);
	CHECK(line.len > 0 && line.data[line.len - 1] == '\n', "a line ends with its newline");
	CHECK(psm_ssh_pubkey_parse(line.data, line.len, back, &e) == 0, "%s", e.msg);
	CHECK(memcmp(back, user_pk, 32) == 0, "the key read back is the key written");
	const char *bad[] = {
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x",
		"ssh-ed25519 not-base64!",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA",	/* a key cut short */
		"ssh-ed25519",
		"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(psm_ssh_pubkey_parse(bad[i], strlen(bad[i]), back, &e) < 0 &&
		    e.kind == PSM_E_DATA, "\"%s\" is refused", bad[i]);
	psm_buf_free(&line);
}

static void
test_refusals(void)
{
	struct psm_buf out = { 0 };
	struct psm_error e;
	struct psm_sshcert c = grant_cert();
	char *unsorted[] = { "permit-pty", "permit-X11-forwarding", NULL };

	c.valid_before = c.valid_after;
	CHECK(psm_sshcert_write(&out, &c, ca_sk, &e) < 0 && e.kind == PSM_E_USAGE,
	    "an empty window is refused");
	c = grant_cert();
	c.extensions = unsorted;
	CHECK(psm_sshcert_write(&out, &c, ca_sk, &e) < 0 && e.kind == PSM_E_USAGE,
	    "extensions out of order are refused");
	CHECK(out.len == 0, "nothing written when refused");
	psm_buf_free(&out);
}

static void
write_file(const char *dir, const char *name, const char *text, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!CHECK((f = fopen(path, "w")) != NULL, "%s", path))
		return;
	CHECK(fwrite(text, 1, n, f) == n && fclose(f) == 0, "%s: write", path);
}

/*
 * The certificate with one letter of its key id changed ("grant" to
 * "grunt"): well formed still, but no longer what the CA signed.
 */
static void
write_tampered(const char *dir, const struct psm_buf *cert)
{
	const char *b64 = cert->data + strlen("ssh-ed25519-cert-v01@openssh.com ");
	size_t b64len = (size_t)((const char *)memchr(b64, ' ', cert->len) - b64);
	struct psm_buf blob = { 0 }, line = { 0 };

	if (!CHECK(psm_b64_decode(&blob, b64, b64len) == 0, "the certificate's base64"))
		return;
	char *id = memmem(blob.data, blob.len, "grant ", 6);
	if (CHECK(id != NULL, "the key id is in the certificate"))
		id[2] = 'u';
	psm_buf_adds(&line, "ssh-ed25519-cert-v01@openssh.com ");
	psm_buf_reserve(&line, psm_b64_encoded_len(blob.len));
	line.len += psm_b64_encode(line.data + line.len, (unsigned char *)blob.data, blob.len);
	psm_buf_adds(&line, " tampered\n");
	write_file(dir, "tampered-cert.pub", line.data, line.len);
	psm_buf_free(&blob);
	psm_buf_free(&line);
}

/* The files for ssh-keygen -L: a certificate, and one with its signed part changed. */
static void
write_files(const char *dir)
{
	struct psm_buf line = { 0 };
	struct psm_error e;
	struct psm_sshcert c = grant_cert();

	psm_ssh_pubkey_write(&line, ca_pk, "psm grant CA");
	write_file(dir, "ca.pub", line.data, line.len);
	line.len = 0;
	psm_ssh_pubkey_write(&line, user_pk, "alice");
	write_file(dir, "user.pub", line.data, line.len);
	line.len = 0;
	if (CHECK(psm_sshcert_write(&line, &c, ca_sk, &e) == 0, "%s", e.msg)) {
		write_file(dir, "user-cert.pub", line.data, line.len);
		write_tampered(dir, &line);
	}
	psm_buf_free(&line);
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(ca_pk, ca_sk);
	crypto_sign_keypair(user_pk, user_sk);
	test_pubkey_lines();
	test_refusals();
	if (argc > 1)
		write_files(argv[1]);
	return check_done();
}
