#!/usr/bin/env bats
# psm-record as sshd's ForceCommand: a real sshd from Debian's package,
# started on 127.0.0.1 on a free high port in a temporary directory.
load helpers

sshd_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; }

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "sshd's privilege separation needs root"
	[ -x /usr/sbin/sshd ] || skip "openssh-server is not installed (scripts/deps.sh test)"
	export SSHD_DIR="$BATS_FILE_TMPDIR/sshd"
	mkdir -p "$SSHD_DIR/spool" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/user_key"
	cp "$SSHD_DIR/user_key.pub" "$SSHD_DIR/authorized_keys"
	SSHD_PORT=$(free_port)
	export SSHD_PORT
	cat > "$SSHD_DIR/sshd_config" <<-CONF
	ListenAddress 127.0.0.1:$SSHD_PORT
	HostKey $SSHD_DIR/host_key
	PidFile $SSHD_DIR/sshd.pid
	AuthorizedKeysFile $SSHD_DIR/authorized_keys
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	ForceCommand $PSM_BIN/psm-record -o $SSHD_DIR/spool/
	CONF
	/usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/log"
	wait_for 10 sshd_answers
}

teardown_file() {
	[ -s "${SSHD_DIR:-/nonexistent}/login.pid" ] && kill "$(cat "$SSHD_DIR/login.pid")" 2>/dev/null || true
	[ -s "${SSHD_DIR:-/nonexistent}/sshd.pid" ] && kill "$(cat "$SSHD_DIR/sshd.pid")" 2>/dev/null || true
}

ssh_test() {
	ssh -i "$SSHD_DIR/user_key" -p "$SSHD_PORT" -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		"$(id -un)@127.0.0.1" "$@"
}

# The recording whose start event's argv contains WORD.
recording_with() {
	grep -l -- "$1" "$SSHD_DIR"/spool/*.jsonl | head -n 1
}

@test "sshd ForceCommand: 'ssh host cmd' runs cmd under psm-record and is recorded" {
	run -0 ssh_test 'echo via-ssh-$((6*7))'
	assert_output 'via-ssh-42'
	f=$(recording_with 'via-ssh-')
	[ -n "$f" ]
	run jq -r 'select(.type == "start") | "\(.mode) \(.argv[1:] | join(" "))"' "$f"
	assert_output 'pipes -c echo via-ssh-$((6*7))'
	run psm-replay --raw "$f"
	assert_output 'via-ssh-42'
}

@test "sshd ForceCommand: 'ssh host cmd' without -t is byte-exact and keeps stderr apart" {
	head -c 200000 /dev/urandom > "$BATS_TEST_TMPDIR/blob"
	ssh_test 'cat; echo to-stderr-$((1+1)) >&2' < "$BATS_TEST_TMPDIR/blob" > "$BATS_TEST_TMPDIR/back" 2> "$BATS_TEST_TMPDIR/err"
	cmp "$BATS_TEST_TMPDIR/blob" "$BATS_TEST_TMPDIR/back"
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output 'to-stderr-2'
	f=$(recording_with 'to-stderr-')
	psm-replay --raw "$f" | cmp - "$BATS_TEST_TMPDIR/blob"
	psm-replay --raw --input "$f" | cmp - "$BATS_TEST_TMPDIR/blob"
	run psm-replay --raw --stderr "$f"
	assert_output 'to-stderr-2'
}

@test "sshd ForceCommand: the exit status of the remote command comes back through ssh" {
	run -5 ssh_test 'exit 5'
}

@test "sshd ForceCommand: an interactive 'ssh host' is a recorded login shell" {
	run -0 bash -c "printf 'echo marker-\$((40+2))\nexit\n' | ssh -tt -i '$SSHD_DIR/user_key' -p $SSHD_PORT \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		$(id -un)@127.0.0.1"
	f=$(grep -l '"argv":\["-' "$SSHD_DIR"/spool/*.jsonl | head -n 1)
	[ -n "$f" ]
	run jq -r 'select(.type == "start") | "\(.argv[0]) \(.tty != null)"' "$f"
	assert_output --regexp '^-[a-z]+sh true$'
	run psm-replay --raw "$f"
	assert_output --partial 'marker-42'
}

# psm-record as the login shell: a second sshd, without ForceCommand, in a
# mount namespace of its own where /etc/passwd (bind-mounted over, for it
# alone) gives this user psm-record as shell and a home in the test's tmp.
start_login_shell_sshd() {
	command -v unshare >/dev/null || skip "unshare is not installed"
	local user home passwd
	user=$(id -un)
	home=$SSHD_DIR/home
	passwd=$SSHD_DIR/passwd
	mkdir -p "$home"
	awk -F: -v OFS=: -v u="$user" -v h="$home" -v s="$PSM_BIN/psm-record" \
		'$1 == u { $6 = h; $7 = s } { print }' /etc/passwd > "$passwd"
	LOGIN_PORT=$(free_port)
	sed -e "s/^ListenAddress .*/ListenAddress 127.0.0.1:$LOGIN_PORT/" \
		-e "s|^PidFile .*|PidFile $SSHD_DIR/login.pid|" -e '/^ForceCommand/d' \
		"$SSHD_DIR/sshd_config" > "$SSHD_DIR/login_config"
	unshare -m sh -c "mount --bind '$passwd' /etc/passwd && exec /usr/sbin/sshd -f '$SSHD_DIR/login_config' -E '$SSHD_DIR/login.log'" ||
		skip "cannot make a mount namespace here"
	wait_for 10 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$LOGIN_PORT) 2>/dev/null"
	RECORDINGS=$home/.local/state/psm
}

stop_login_shell_sshd() {
	[ -s "$SSHD_DIR/login.pid" ] && kill "$(cat "$SSHD_DIR/login.pid")" 2>/dev/null || true
}

ssh_login() {
	ssh -i "$SSHD_DIR/user_key" -p "$LOGIN_PORT" -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		"$(id -un)@127.0.0.1" "$@"
}

@test "sshd login shell: with psm-record as the user's shell, 'ssh host cmd' and 'ssh host' are recorded" {
	start_login_shell_sshd
	run -0 ssh_login 'echo as-login-shell-$((2*21))'
	run -0 bash -c "printf 'echo interactive-\$((40+3))\nexit\n' | ssh -tt -i '$SSHD_DIR/user_key' -p $LOGIN_PORT \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		$(id -un)@127.0.0.1"
	stop_login_shell_sshd
	assert_output --partial 'interactive-43'
	run ls "$RECORDINGS"
	[ "${#lines[@]}" -eq 2 ]
	f=$(grep -l 'as-login-shell-' "$RECORDINGS"/*.jsonl)
	run jq -r 'select(.type == "start") | "\(.mode) \(.argv | join(" "))"' "$f"
	assert_output 'pipes /bin/bash -c echo as-login-shell-$((2*21))'
	run psm-replay --raw "$f"
	assert_output 'as-login-shell-42'
	f=$(grep -L 'as-login-shell-' "$RECORDINGS"/*.jsonl)
	run jq -r 'select(.type == "start") | .argv[0]' "$f"
	assert_output -- '-bash'
	run psm-replay --raw "$f"
	assert_output --partial 'interactive-43'
}
