#!/usr/bin/env bats
# psm-grant's OpenSSH certificates against a real sshd (Debian's), started on
# 127.0.0.1 on a free high port with a config of its own: psm-grant's SSH CA
# in TrustedUserCAKeys, the principals each account takes, a KRL, and no
# authorized_keys or passwords: a certificate is the only way in.
load helpers

sshd_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; }

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "sshd's privilege separation needs root"
	[ -x /usr/sbin/sshd ] || fail "openssh-server is not installed (scripts/deps.sh test installs it)"
	export D=$BATS_FILE_TMPDIR/grant
	mkdir -p "$D/spool" "$D/grants" /run/sshd
	cd "$D"
	# The grant CA, the SSH CA, another SSH CA that sshd does not trust, an approver.
	psm-keygen -o ca --id grant-ca --no-passphrase
	psm-keygen -o sshca --id sshca --no-passphrase
	psm-keygen -o otherca --id otherca --no-passphrase
	psm-keygen -o alice --id alice --no-passphrase
	echo 'alice ops alice.pub' > approvers
	echo '{allow: true, approvals: 1, max_ttl: 3600}' > policy.jq
	psm-grant ssh-ca sshca.pub > trusted_ca
	# sshd refuses every login when RevokedKeys names a file that is missing,
	# and psm-record a --revoked list that is.
	ssh-keygen -q -k -f krl
	: > revoked
	ssh-keygen -q -t ed25519 -N '' -f host_key
	# sshd reads a principals file only if it and every directory above it
	# belong to root (or the account) and no one else can write them
	# (StrictModes): /tmp fails that, so they are in a directory of /run.
	PRINCIPALS=$(mktemp -d /run/psm-grant-sshd.XXXXXX)
	export PRINCIPALS
	chmod 0755 "$PRINCIPALS"
	echo root > "$PRINCIPALS/root"
	chmod 0644 "$PRINCIPALS/root"
	mkdir -p "$D/unsafe"
	chmod 0777 "$D/unsafe"
	echo root > "$D/unsafe/root"
	SSHD_PORT=$(free_port)
	UNSAFE_PORT=$(free_port)
	[ "$SSHD_PORT" != "$UNSAFE_PORT" ] || UNSAFE_PORT=$(free_port)
	export SSHD_PORT UNSAFE_PORT
	# LogLevel DEBUG2: why a CA is not trusted is logged at that level only.
	# The second port reads its principals from a directory anyone can write.
	cat > sshd_config <<-CONF
	ListenAddress 127.0.0.1:$SSHD_PORT
	ListenAddress 127.0.0.1:$UNSAFE_PORT
	HostKey $D/host_key
	PidFile $D/sshd.pid
	TrustedUserCAKeys $D/trusted_ca
	AuthorizedPrincipalsFile $PRINCIPALS/%u
	RevokedKeys $D/krl
	AuthorizedKeysFile none
	PermitRootLogin forced-commands-only
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes yes
	LogLevel DEBUG2
	Match LocalPort $UNSAFE_PORT
	AuthorizedPrincipalsFile $D/unsafe/%u
	CONF
	/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"
	wait_for 10 sshd_answers
}

# The processes below PID, the deepest first.
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1"); do
		descendants "$c"
		echo "$c"
	done
}

# Whatever a test left running under sshd: its sessions (sshd keeps running).
stop_sessions() {
	local pid
	[ -s "${D:-/nonexistent}/sshd.pid" ] || return 0
	for pid in $(descendants "$(cat "$D/sshd.pid")"); do
		kill -9 "$pid" 2>/dev/null || true
	done
}

teardown() {
	stop_background
	stop_sessions
}

teardown_file() {
	stop_sessions
	[ -s "${D:-/nonexistent}/sshd.pid" ] && kill "$(cat "$D/sshd.pid")" 2>/dev/null || true
	[ -z "${PRINCIPALS:-}" ] || rm -rf "$PRINCIPALS"
}

setup() {
	T=$BATS_TEST_TMPDIR
	HOST=$(hostname)
	BG_PIDS=()
	# The certificate's force-command: the session runs under its grant.
	RECORD="$PSM_BIN/psm-record --grant $D/grants/%g --ca $D/ca.pub --revoked $D/revoked -o $D/spool/"
	LOG_FROM=$(( $(stat -c %s "$D/sshd.log") + 1 ))
}

# issue_cert KEY [ACCOUNT@]HOST TTL FORCE-COMMAND [SSH-CA [OPTION...]]: a new
# user key KEY, asked for by a request, approved by alice, issued under the
# policy (with the OPTIONs) with KEY-cert.pub signed by SSH-CA (default
# sshca); the grant is KEY.grant and grants/ID, its id GRANT.
issue_cert() {
	local key=$1 target=$2 ttl=$3 force=$4 sshca=${5:-sshca}
	shift 5 || shift $#
	ssh-keygen -q -t ed25519 -N '' -C user -f "$key"
	psm-grant request --role ops --target "$target" --reason "sshd test" --ttl "$ttl" > "$key.request"
	psm-grant approve -k "$D/alice.key" "$key.request" > "$key.approved"
	psm-grant issue -k "$D/ca.key" --policy "$D/policy.jq" --approvers "$D/approvers" \
		--ssh-pubkey "$key.pub" --ssh-ca "$D/$sshca.key" --ssh-force-command "$force" "$@" \
		"$key.approved" > "$key.grant"
	GRANT=$(jq -r .id "$key.grant")
	cp "$key.grant" "$D/grants/$GRANT"
}

# ssh_cert KEY COMMAND: log in as root with KEY and its certificate.
ssh_cert() {
	local key=$1
	shift
	ssh -F /dev/null -i "$key" -o CertificateFile="$key-cert.pub" -o IdentitiesOnly=yes \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -p "${PORT:-$SSHD_PORT}" root@127.0.0.1 "$@"
}

# ssh_background KEY COMMAND: ssh_cert in the background, its stdout in
# $T/out, its stderr in $T/err, and "STATUS TIME" in $T/done when it ends.
ssh_background() {
	(
		ssh_cert "$@" &
		echo $! > "$T/ssh.pid"
		rc=0
		wait $! || rc=$?
		echo "$rc $(date +%s)" > "$T/done"
	) > "$T/out" 2> "$T/err" &
	BG_PIDS+=($!)
	wait_for 5 test -s "$T/ssh.pid"
	BG_PIDS+=("$(cat "$T/ssh.pid")")
}

# sshd's log since the test began.
log_has() { tail -c +"$LOG_FROM" "$D/sshd.log" | grep -qF -- "$1"; }
assert_log() {
	wait_for 5 log_has "$1" ||
		fail "sshd's log does not say '$1': $(tail -c +"$LOG_FROM" "$D/sshd.log" | grep -v '^debug')"
}
refute_log() {
	! log_has "$1" || fail "sshd's log says '$1'"
}

# A time of the grant (issued, expires ...) in seconds since the epoch.
grant_time() { jq -r ".$2 | fromdateiso8601" "$1"; }
past() { [ "$(date +%s)" -ge "$1" ]; }

# The recording whose start event carries TEXT.
recording_with() {
	grep -lF -- "$1" "$D"/spool/*.jsonl | head -n 1
}

@test "psm-grant sshd: inside its window the certificate logs in; ssh-keygen -L reads its principal, window, force-command and permit-pty alone" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD"
	issued=$(grant_time "$T/user.grant" issued)
	expires=$(grant_time "$T/user.grant" expires)
	[ "$expires" -eq $(( issued + 60 )) ]
	TZ=UTC run -0 ssh-keygen -L -f "$T/user-cert.pub"
	assert_output --partial "Signing CA: ED25519 $(ssh-keygen -lf "$D/trusted_ca" | cut -d' ' -f2) "
	assert_output --partial "Key ID: \"grant=$GRANT user=root approvers=alice\""
	assert_output --partial "Serial: $(jq -r .serial "$T/user.grant")"
	# 60 s of clock skew before the grant is issued, none after it expires
	assert_output --partial "Valid: from $(TZ=UTC date -d "@$(( issued - 60 ))" +%Y-%m-%dT%H:%M:%S) to $(TZ=UTC date -d "@$expires" +%Y-%m-%dT%H:%M:%S)"
	assert_output --regexp $'Principals: *\n +root\n +Critical Options: *\n +force-command [^\n]*\n +Extensions: *\n +permit-pty$'
	force=${RECORD//%g/$GRANT}
	assert_output --partial "force-command $force"

	run -0 --separate-stderr ssh_cert "$T/user" 'echo inside-$((6*7))'
	assert_output 'inside-42'
	assert_log "Accepted certificate ID \"grant=$GRANT user=root approvers=alice\""
	assert_log 'Root login accepted for forced command.'
}

@test "psm-grant sshd: a certificate is refused once its grant has expired (Certificate invalid: expired)" {
	issue_cert "$T/user" "root@$HOST" 4s "$RECORD"
	expires=$(grant_time "$T/user.grant" expires)
	TZ=UTC run -0 ssh-keygen -L -f "$T/user-cert.pub"
	assert_output --partial " to $(TZ=UTC date -d "@$expires" +%Y-%m-%dT%H:%M:%S)"
	run -0 --separate-stderr ssh_cert "$T/user" 'echo before-expiry'
	assert_output 'before-expiry'
	wait_for 10 past $(( expires + 1 ))
	run -255 --separate-stderr ssh_cert "$T/user" 'echo after-expiry'
	refute_output --partial 'after-expiry'
	assert_stderr --partial 'Permission denied (publickey)'
	assert_log 'Certificate invalid: expired'
}

@test "psm-grant sshd: a certificate for another account is refused (its principal is not in root's principals file)" {
	issue_cert "$T/user" "otheruser@$HOST" 1m "$RECORD"
	TZ=UTC run -0 ssh-keygen -L -f "$T/user-cert.pub"
	assert_output --regexp $'Principals: *\n +otheruser\n +Critical'
	run -255 --separate-stderr ssh_cert "$T/user" 'echo as-root'
	refute_output --partial 'as-root'
	assert_stderr --partial 'Permission denied (publickey)'
	assert_log "trying authorized principals file $PRINCIPALS/root"
	assert_log 'Certificate does not contain an authorized principal'
}

@test "psm-grant sshd: a certificate signed by another CA is refused (not in TrustedUserCAKeys)" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD" otherca
	other=$(psm-grant ssh-ca "$D/otherca.pub" | ssh-keygen -lf - | cut -d' ' -f2)
	TZ=UTC run -0 ssh-keygen -L -f "$T/user-cert.pub"
	assert_output --partial "Signing CA: ED25519 $other "
	run -255 --separate-stderr ssh_cert "$T/user" 'echo other-ca'
	refute_output --partial 'other-ca'
	assert_log "CA ED25519 $other is not listed in $D/trusted_ca"
	assert_log "Failed publickey for root from 127.0.0.1"
	refute_log "Accepted certificate ID \"grant=$GRANT"
}

@test "psm-grant sshd: psm-grant revoke --krl: sshd refuses the certificate from then on (the KRL it reads at each login)" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD"
	run -0 --separate-stderr ssh_cert "$T/user" 'echo before-revoke'
	assert_output 'before-revoke'
	inode=$(stat -c %i "$D/krl")
	run -0 psm-grant revoke -k "$D/ca.key" --list "$D/revoked" --reason 'sshd test' \
		--krl "$D/krl" --ssh-ca "$D/sshca.pub" "$T/user.grant"
	run -0 jq -r 'select(.grant == "'"$GRANT"'") | .serial' "$D/revoked"
	assert_output "$(jq -r .serial "$T/user.grant")"
	run ssh-keygen -Q -f "$D/krl" "$T/user-cert.pub"
	assert_output --partial 'REVOKED'
	# replaced whole, never rewritten in place under sshd's eyes
	[ "$(stat -c %i "$D/krl")" != "$inode" ]
	run -255 --separate-stderr ssh_cert "$T/user" 'echo after-revoke'
	refute_output --partial 'after-revoke'
	assert_log "revoked by file $D/krl"
}

@test "psm-grant sshd: the force-command runs the session under psm-record --grant: the user's command runs inside it, recorded with the grant in the start event" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD"
	run -0 --separate-stderr ssh_cert "$T/user" 'echo recorded-$((6*7)); echo "$SSH_ORIGINAL_COMMAND" >&2'
	assert_output 'recorded-42'
	assert_stderr --partial 'echo recorded-$((6*7)); echo "$SSH_ORIGINAL_COMMAND" >&2'
	# sshd took the command from the certificate, not from the client
	force=${RECORD//%g/$GRANT}
	assert_log "Starting session: forced-command (key-option) '$force' for root from 127.0.0.1"
	f=$(recording_with 'recorded-$((6*7))')
	[ -n "$f" ]
	shell=$(getent passwd root | cut -d: -f7)
	run -0 jq -c 'select(.type == "start") | [.user, .mode, .argv]' "$f"
	assert_output '["root","pipes",["'"$shell"'","-c","echo recorded-$((6*7)); echo \"$SSH_ORIGINAL_COMMAND\" >&2"]]'
	run -0 psm-replay --raw "$f"
	assert_output 'recorded-42'
	run -0 psm-replay --raw --stderr "$f"
	assert_output 'echo recorded-$((6*7)); echo "$SSH_ORIGINAL_COMMAND" >&2'
	# the start event carries the grant, the exact line
	run -0 jq -r 'select(.type == "start") | (.grant | fromjson | .id), .grant_id' "$f"
	assert_output "$GRANT"$'\n'"$GRANT"
	run -0 jq -r 'select(.type == "start") | .grant' "$f"
	assert_output "$(cat "$T/user.grant")"
}

@test "psm-grant sshd: sshd does not end an open session when its certificate expires" {
	issue_cert "$T/user" "root@$HOST" 3s 'sh -c "$SSH_ORIGINAL_COMMAND"'
	expires=$(grant_time "$T/user.grant" expires)
	ssh_background "$T/user" "echo open; until [ \$(date +%s) -ge $(( expires + 3 )) ]; do sleep 0.1; done; echo still-open-at-\$(date +%s)"
	wait_for 10 grep -q open "$T/out"
	wait_for 10 past $(( expires + 1 ))
	run -255 --separate-stderr ssh_cert "$T/user" 'echo new-login'
	assert_log 'Certificate invalid: expired'
	wait_for 10 test -s "$T/done"
	run -0 cat "$T/out" "$T/done"
	assert_line --index 0 'open'
	assert_line --index 1 --regexp '^still-open-at-[0-9]+$'
	assert_line --index 2 --regexp '^0 '
	[ "${lines[1]#still-open-at-}" -ge $(( expires + 3 )) ]
}

@test "psm-grant sshd: psm-record --grant ends the session when the grant expires (end reason grant-expired), which sshd does not" {
	issue_cert "$T/user" "root@$HOST" 5s "$RECORD"
	expires=$(grant_time "$T/user.grant" expires)
	ssh_background "$T/user" 'echo open-$((6*7)); sleep 60; echo not-ended'
	wait_for 10 grep -q open-42 "$T/out"
	wait_for $(( expires - $(date +%s) + 10 )) test -s "$T/done"
	read -r ssh_status ended < "$T/done"
	# ended within a few seconds of the expiry, not at the end of sleep 60
	[ "$ended" -ge $(( expires - 1 )) ] || fail "the session ended at $ended, before the grant's expiry at $expires"
	[ "$ended" -le $(( expires + 4 )) ] || fail "the session ended at $ended, grant expired at $expires"
	run -0 cat "$T/out"
	refute_output --partial 'not-ended'
	run -0 cat "$T/err"
	assert_output --partial "psm-record: grant $GRANT has expired: the session ends"
	f=$(recording_with "$GRANT")
	[ -n "$f" ]
	run -0 jq -r 'select(.type == "end") | "\(.reason) \(.exit)"' "$f"
	assert_output "grant-expired $ssh_status"
	run -0 jq -r 'select(.type == "start") | .grant | fromjson | .id' "$f"
	assert_output "$GRANT"
}

@test "psm-grant sshd: sshd does not end an open session when its certificate is revoked in the KRL" {
	issue_cert "$T/user" "root@$HOST" 1m 'sh -c "$SSH_ORIGINAL_COMMAND"'
	ssh_background "$T/user" "echo open; until [ -e '$T/revoked' ]; do sleep 0.1; done; sleep 2; echo still-open"
	wait_for 10 grep -q open "$T/out"
	psm-grant revoke -k "$D/ca.key" --list "$D/revoked" --krl "$D/krl" --ssh-ca "$D/sshca.pub" "$T/user.grant"
	run -255 --separate-stderr ssh_cert "$T/user" 'echo new-login'
	assert_log "revoked by file $D/krl"
	touch "$T/revoked"
	wait_for 10 test -s "$T/done"
	run -0 cat "$T/out" "$T/done"
	assert_line --index 0 'open'
	assert_line --index 1 'still-open'
	assert_line --index 2 --regexp '^0 '
}

@test "psm-grant sshd: psm-record --revoked ends an open session within 2 s of psm-grant revoke (end reason revoked), which sshd does not" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD"
	ssh_background "$T/user" 'echo open-$((6*7)); sleep 60; echo not-ended'
	wait_for 10 grep -q open-42 "$T/out"
	revoked=$(date +%s)
	psm-grant revoke -k "$D/ca.key" --list "$D/revoked" --reason 'sshd test' \
		--krl "$D/krl" --ssh-ca "$D/sshca.pub" "$T/user.grant"
	wait_for 10 test -s "$T/done"
	read -r ssh_status ended < "$T/done"
	[ "$ended" -le $(( revoked + 3 )) ] || fail "the session ended at $ended, revoked at $revoked"
	run -0 cat "$T/out"
	refute_output --partial 'not-ended'
	run -0 cat "$T/err"
	assert_output --partial "psm-record: grant $GRANT was revoked: the session ends"
	f=$(recording_with "$GRANT")
	[ -n "$f" ]
	run -0 jq -r 'select(.type == "end") | "\(.reason) \(.exit)"' "$f"
	assert_output "revoked $ssh_status"
	# and sshd lets no new session in with it
	run -255 --separate-stderr ssh_cert "$T/user" 'echo after-revoke'
	assert_log "revoked by file $D/krl"
}

@test "psm-grant sshd: --ssh-source-address: the certificate logs in only from the addresses it names" {
	issue_cert "$T/here" "root@$HOST" 1m "$RECORD" sshca --ssh-source-address 127.0.0.1/32
	run -0 --separate-stderr ssh_cert "$T/here" 'echo from-127.0.0.1'
	assert_output 'from-127.0.0.1'
	issue_cert "$T/there" "root@$HOST" 1m "$RECORD" sshca --ssh-source-address 127.0.0.2/32
	TZ=UTC run -0 ssh-keygen -L -f "$T/there-cert.pub"
	assert_output --partial 'source-address 127.0.0.2/32'
	run -255 --separate-stderr ssh_cert "$T/there" 'echo not-from-127.0.0.2'
	refute_output --partial 'not-from'
	assert_log 'with valid certificate but not from a permitted source address (127.0.0.1)'
}

@test "psm-grant sshd: a principals file below a directory others can write is refused (StrictModes)" {
	issue_cert "$T/user" "root@$HOST" 1m "$RECORD"
	PORT=$UNSAFE_PORT run -255 --separate-stderr ssh_cert "$T/user" 'echo unsafe-principals'
	refute_output --partial 'unsafe-principals'
	assert_log "Authentication refused: bad ownership or modes for directory $D/unsafe"
	assert_log 'Certificate does not contain an authorized principal'
	# the same certificate through the principals file in /run
	run -0 --separate-stderr ssh_cert "$T/user" 'echo safe-principals'
	assert_output 'safe-principals'
}
