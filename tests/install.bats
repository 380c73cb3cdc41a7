#!/usr/bin/env bats
# make install and make uninstall, into a DESTDIR.
load helpers

@test "make install: binaries, man pages, completions and share/psm go under DESTDIR/PREFIX" {
	dest=$BATS_TEST_TMPDIR/dest
	run -0 make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$dest" PREFIX=/opt/psm
	for cmd in psm-record psm-replay psm-keygen psm-seal psm-verify psm-redact psm-ship psm-grant; do
		for f in bin/$cmd share/man/man1/$cmd.1 share/bash-completion/completions/$cmd; do
			[ -f "$dest/opt/psm/$f" ] || fail "missing $f"
		done
	done
	for f in share/man/man5/psm-stream.5 share/man/man5/psm-redact.5 share/man/man5/psm-policy.5 \
	    share/man/man7/psm.7 share/zsh/vendor-completions/_psm share/psm/ship-views.sql \
	    share/psm/policies/{default,roles,business-hours,vendor,break-glass}.jq; do
		[ -f "$dest/opt/psm/$f" ] || fail "missing $f"
	done
	[ -x "$dest/opt/psm/bin/psm-record" ]
	run -0 "$dest/opt/psm/bin/psm-replay" --version
	run -0 make -s -C "$BATS_TEST_DIRNAME/.." uninstall DESTDIR="$dest" PREFIX=/opt/psm
	run find "$dest" -type f
	assert_output ''
}

@test "make install-hardened: psm-record set-user-id on the recorder's user, the spool its own" {
	[ "$(id -u)" -eq 0 ] || skip "chown needs root"
	dest=$BATS_TEST_TMPDIR/dest
	run -0 --separate-stderr make -s -C "$BATS_TEST_DIRNAME/.." install-hardened DESTDIR="$dest" \
		PREFIX=/opt/psm PSM_USER=nobody NO_USERADD=1 SPOOLDIR=/var/log/psm CONFDIR=/etc/psm
	assert_stderr --partial 'no /etc/psm/escrow.pub'
	run stat -c '%a %U' "$dest/opt/psm/bin/psm-record" "$dest/var/log/psm" "$dest/etc/psm"
	assert_output $'4755 nobody\n750 nobody\n755 root'
}
