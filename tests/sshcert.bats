#!/usr/bin/env bats
# OpenSSH user certificates written by lib/sshcert.c (for psm-grant),
# read by OpenSSH's own ssh-keygen -L, which checks the CA's signature.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	command -v ssh-keygen >/dev/null || skip "ssh-keygen is not installed (openssh-client)"
	SSHCERT=$PSM_BIN/../tests/lib/test-sshcert
	[ -x "$SSHCERT" ] || fail "$SSHCERT is not built (make libtests builds it)"
	run -0 "$SSHCERT" .
}

@test "sshcert: ssh-keygen -L reads the certificate: its CA, key, serial, key id, window, principal, options, extension" {
	TZ=UTC run -0 ssh-keygen -L -f user-cert.pub
	assert_output --partial 'Type: ssh-ed25519-cert-v01@openssh.com user certificate'
	assert_output --partial "Public key: ED25519-CERT $(ssh-keygen -lf user.pub | cut -d' ' -f2)"
	assert_output --partial "Signing CA: ED25519 $(ssh-keygen -lf ca.pub | cut -d' ' -f2) (using ssh-ed25519)"
	assert_output --partial 'Key ID: "grant 6f1c2a90 for alice approved by bob,carol"'
	assert_output --partial 'Serial: 4242'
	# 1796000000 to 15 minutes later, as ssh-keygen shows it in UTC
	assert_output --partial "Valid: from $(TZ=UTC date -d @1796000000 +%Y-%m-%dT%H:%M:%S) to $(TZ=UTC date -d @1796000900 +%Y-%m-%dT%H:%M:%S)"
	assert_output --regexp $'Principals: *\n +dbadmin\n +Critical Options: *\n +force-command /usr/local/bin/psm-record -- /bin/bash\n +source-address 127.0.0.1/32\n +Extensions: *\n +permit-pty$'
}

@test "sshcert: a certificate changed after signing is refused by ssh-keygen (incorrect signature)" {
	run ssh-keygen -L -f tampered-cert.pub
	[ "$status" -ne 0 ]
	assert_output --partial 'incorrect signature'
}

@test "sshcert: the public key lines are OpenSSH's: ssh-keygen reads them" {
	run -0 ssh-keygen -lf ca.pub
	assert_output --regexp '^256 SHA256:[A-Za-z0-9+/]{43} psm grant CA \(ED25519\)$'
	run -0 ssh-keygen -lf user.pub
	assert_output --regexp '^256 SHA256:[A-Za-z0-9+/]{43} alice \(ED25519\)$'
}
