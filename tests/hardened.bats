#!/usr/bin/env bats
# psm-record installed set-user-id psm (the hardened mode), attacked by the
# user it records. Each test runs in a private world of its own: a copy of
# /etc with the users psm, alice and bob, mounted over /etc in a mount
# namespace, with a spool in /var/log/psm (tests/hardened.bash); alice's
# sessions are driven through tmux, and the recording is searched for what
# she typed at password prompts.
load helpers
load hardened

# A secret alice types at a prompt of her own (read -s), not a password of the world.
SECRET=R3ad-S3cret-Vn8

setup() {
	hw_world
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	hw_teardown
}

# assert_typed FILE TEXT: the input recorded in FILE has TEXT.
# far_sudo: ssh -t to the world's sshd, her password at ssh's prompt, then sudo's on the far side.
far_sudo() {
	hw_type 'ssh -t alice@127.0.0.1 sudo -k id -un'
	hw_wait_line "alice@127.0.0.1's password:"
	hw_type "$HW_ALICE_PW"
	sudo_password
	hw_wait_line root
	hw_wait 'Connection to 127.0.0.1 closed.'
	hw_wait_prompt 'alice$'
}

assert_typed() {
	hw_typed "$1" | grep -qF -- "$2" || fail "'$2' is not in the recorded input of $1: $(hw_typed "$1")"
}

# verifies FILE: psm-verify finds FILE sealed by the world's host key (hw_seal_filter).
verifies() { psm-verify -p "$W/host.pub" "$1" >/dev/null 2>&1; }

# sudo_password: answer sudo's prompt for alice with her password.
sudo_password() {
	hw_wait_line '[sudo] password for alice:'
	hw_type "$HW_ALICE_PW"
}

# refused NAME ARG...: set-user-id psm-record, given ARGs, exits 2 with a message
# naming the option (NAME, an extended regular expression); the command never runs.
refused() {
	local name=$1
	shift
	run -2 --separate-stderr hw_as alice "psm-record $* -- touch ran"
	[[ $stderr =~ ^psm-record:\ ($name)\ is\ not\ allowed\ in\ a\ set-user-id\ recorder ]] ||
		fail "stderr: $stderr"
	[ ! -e "$W/home/alice/ran" ]
}

# ---- the harness itself (these pass with any psm-record) ----

@test "psm-record hardened: harness: in the world alice is alice, and sudo asks for her password and takes it" {
	hw_session bash
	hw_type 'id -un; echo "home=$HOME"'
	hw_wait "home=$W/home/alice"
	run tmux_screen
	assert_line alice
	hw_type 'sudo -k; sudo id -un'
	sudo_password
	hw_wait_line root
	hw_exit
	run cat "$W/rc"
	assert_output rc=0
	run grep -c alice /etc/passwd
	assert_output 0
}

@test "psm-record hardened: harness: the world's sshd takes alice's password, and sudo on the far side hers" {
	hw_sshd
	hw_session bash
	far_sudo
	hw_exit
}

@test "psm-record hardened: harness: psm-record in the world is set-user-id psm and the spool is psm's" {
	run "$W/enter" stat -c '%U %a' /usr/local/bin/psm-record /var/log/psm
	assert_output $'psm 4755\npsm 750'
	run hw_as alice 'ls /var/log/psm'
	assert_failure
	assert_output --partial 'Permission denied'
}

# ---- the recorder cannot be stopped, killed or traced by the user ----

@test "psm-record hardened: kill -9 of the recorder from the session is not permitted; the session goes on, recorded, to its end event" {
	hw_session
	hw_type 'kill -9 $PPID; echo kill-status-$?'
	hw_wait kill-status-1
	hw_wait 'Operation not permitted'
	hw_type 'echo after-kill-$((6*7))'
	hw_wait after-kill-42
	hw_exit
	f=$(hw_recording)
	hw_assert_marker "$f" after-kill-42
	assert_typed "$f" 'echo after-kill-$((6*7))'
	run events "$f" end
	assert_output --partial '"reason":"exit"'
}

@test "psm-record hardened: kill -STOP of the recorder from the session is not permitted; the session goes on" {
	hw_session
	hw_type 'kill -STOP $PPID; echo stop-status-$?'
	hw_wait stop-status-1
	hw_wait 'Operation not permitted'
	hw_type 'echo after-stop-$((6*7))'
	hw_wait after-stop-42
	hw_exit
	f=$(hw_recording)
	assert_typed "$f" 'echo after-stop-$((6*7))'
	[ -n "$(events "$f" end)" ]
}

@test "psm-record hardened: strace -p of the recorder is not permitted" {
	hw_session
	hw_type 'timeout 3 strace -p $PPID -o /dev/null; echo strace-status-$?'
	hw_wait strace-status-1
	hw_wait 'Operation not permitted'
	hw_type 'echo after-strace-$((6*7))'
	hw_wait after-strace-42
	hw_exit
	assert_typed "$(hw_recording)" 'echo after-strace-$((6*7))'
}

@test "psm-record hardened: gdb -p of the recorder is not permitted" {
	hw_session
	hw_type "gdb -q -batch -iex 'set debuginfod enabled off' -p \$PPID -ex 'call (int) kill((int) getpid(), 9)'; echo gdb-done-\$((2+3))"
	hw_wait gdb-done-5
	hw_wait 'ptrace: Operation not permitted'
	hw_type 'echo after-gdb-$((6*7))'
	hw_wait after-gdb-42
	hw_exit
	assert_typed "$(hw_recording)" 'echo after-gdb-$((6*7))'
}

@test "psm-record hardened: the recorder runs as psm (real and saved uid) for alice (effective uid) and is not dumpable" {
	hw_session
	hw_type 'awk '\''/^Uid:/ { print "ids", $2, $3, $4 }'\'' /proc/$PPID/status; stat -c "owner %u" /proc/$PPID/status'
	hw_wait_line owner
	run tmux_screen
	assert_line "ids $HW_PSM_UID $HW_ALICE_UID $HW_PSM_UID"
	assert_line 'owner 0'
	hw_exit
}

@test "psm-record hardened: the record-filter cannot be killed from the session, and its sealed file verifies" {
	hw_seal_filter
	hw_session
	hw_type 'pgrep -u psm -a; pkill -9 -u psm; kill -9 $(pgrep -u psm); echo pkill-done-$((1+1))'
	hw_wait pkill-done-2
	run tmux_screen
	assert_output --partial 'psm-seal -k /etc/psm/host.key'
	assert_output --regexp 'pkill: killing pid [0-9]+ failed: Operation not permitted'
	assert_output --regexp 'kill: \([0-9]+\) - Operation not permitted'
	hw_type 'echo after-pkill-$((6*7))'
	hw_wait after-pkill-42
	hw_exit
	f=$(hw_recording)
	wait_for 5 verifies "$f" || fail "$(psm-verify -p "$W/host.pub" "$f" 2>&1)"
	assert_typed "$f" 'echo after-pkill-$((6*7))'
	[ -n "$(events "$f" end)" ]
}

# ---- what a set-user-id recorder refuses ----

@test "psm-record hardened: -o FILE is refused: exit 2, the option named, the command not run" {
	refused '-o|--output' -o mine.jsonl
}

@test "psm-record hardened: --output=FILE is refused: exit 2, the option named, the command not run" {
	refused '-o|--output' --output=mine.jsonl
}

@test "psm-record hardened: --no-input is refused: exit 2, the option named, the command not run" {
	refused --no-input --no-input
}

@test "psm-record hardened: --fail-open is refused: exit 2, the option named, the command not run" {
	refused --fail-open --fail-open
}

@test "psm-record hardened: --escrow is refused: exit 2, the option named, the command not run" {
	psm-keygen -o "$W/home/alice/mine" --no-passphrase
	chown $HW_ALICE_UID "$W/home/alice/mine".*
	refused --escrow --escrow "$W/home/alice/mine.pub"
}

@test "psm-record hardened: --prompt is refused: exit 2, the option named, the command not run" {
	refused --prompt --prompt "'[$]'"
}

@test "psm-record hardened: --ca is refused: exit 2, the option named, the command not run" {
	refused --ca --grant /tmp/any.grant --ca /tmp/alices-own-ca.pub
}

@test "psm-record hardened: --revoked is refused: exit 2, the option named, the command not run" {
	refused --revoked --grant /tmp/any.grant --revoked /dev/null
}

# ---- the spool ----

@test "psm-record hardened: the session goes to a new file of psm's in /var/log/psm, named after the time and the sid, that says it is alice's" {
	run -0 hw_as alice 'psm-record -- id -un'
	assert_output --partial alice
	f=$(hw_recording)
	sid=$(jq -r 'select(.type == "start") | .sid' "$f")
	[[ $(basename "$f") =~ ^[0-9]{8}T[0-9]{6}Z-$sid\.jsonl$ ]] || fail "bad name: $f"
	run stat -c %u "$f"
	assert_output $HW_PSM_UID
	run jq -r 'select(.type == "start") | "\(.user) \(.uid)"' "$f"
	assert_output "alice $HW_ALICE_UID"
}

@test "psm-record hardened: on a terminal, alice is told where she is recorded before her shell starts" {
	hw_session
	hw_exit
	f=$(hw_recording)
	# The screen's lines joined where the path wrapped.
	run tmux -L "$TMUX_SOCKET" capture-pane -p -J
	assert_output --partial "psm-record: recording to /var/log/psm/$(basename "$f")"
	[ "$(grep -n 'psm-record: recording to' <<< "$output" | cut -d: -f1)" -lt "$(grep -n 'alice\$' <<< "$output" | head -n 1 | cut -d: -f1)" ]
}

@test "psm-record hardened: a group-writable spool is refused: exit 4, the spool named, the command not run" {
	chmod 770 "$W/log/psm"
	run -4 --separate-stderr hw_as alice 'psm-record -- touch ran'
	assert_stderr --partial /var/log/psm
	[ ! -e "$W/home/alice/ran" ]
}

@test "psm-record hardened: a spool owned by someone else than psm is refused: exit 4, the spool named, the command not run" {
	chown $HW_ALICE_UID "$W/log/psm"
	run -4 --separate-stderr hw_as alice 'psm-record -- touch ran'
	assert_stderr --partial /var/log/psm
	[ ! -e "$W/home/alice/ran" ]
}

# ---- the record-filter and the escrow key ----

@test "psm-record hardened: the record-filter runs as psm with a clean environment, the recording on its stdin" {
	printf '#!/bin/sh\n{ id -u; id -ru; env | sort; } > /var/log/psm/filter.env\nexec cat\n' > "$W/etc/psm/record-filter"
	chmod 755 "$W/etc/psm/record-filter"
	run -0 hw_as alice 'PSM_PLANTED=1 LD_LIBRARY_PATH=/tmp psm-record -- echo filtered-$((3*4))'
	f=$(hw_recording)
	wait_for 5 grep -q '"type":"end"' "$f"
	hw_assert_marker "$f" filtered-12
	run cat "$W/log/psm/filter.env"
	assert_line -n 0 $HW_PSM_UID
	assert_line -n 1 $HW_PSM_UID
	assert_line 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	assert_line 'PSM_USER=alice'
	assert_line "PSM_SID=$(jq -r 'select(.type == "start") | .sid' "$f")"
	refute_output --partial PSM_PLANTED
	refute_output --partial LD_LIBRARY_PATH
}

@test "psm-record hardened: a group-writable record-filter is refused: exit 4, the filter named, the command not run" {
	printf '#!/bin/sh\nexec cat\n' > "$W/etc/psm/record-filter"
	chmod 775 "$W/etc/psm/record-filter"
	run -4 --separate-stderr hw_as alice 'psm-record -- touch ran'
	assert_stderr --partial /etc/psm/record-filter
	[ ! -e "$W/home/alice/ran" ]
}

# ---- grants ----

# hw_grant [NAME=VALUE...]: the world's grant CA in /etc/psm/grant-ca.pub, and a grant of
# it for alice on this host in ~alice/g.grant, a file of hers that no one else may read.
hw_grant() {
	local tg=$PSM_BIN/../tests/lib/test-grant
	[ -x "$tg" ] || fail "$tg is not built (make libtests builds it)"
	[ -e ca.key ] || psm-keygen -o ca --no-passphrase
	install -m 644 ca.pub "$W/etc/psm/grant-ca.pub"
	"$tg" grant ca.key account=alice "$@" > "$W/home/alice/g.grant"
	chown $HW_ALICE_UID:$HW_ALICE_UID "$W/home/alice/g.grant"
	chmod 600 "$W/home/alice/g.grant"
	GRANT_ID=$(jq -r .id "$W/home/alice/g.grant")
}

@test "psm-record hardened: under a grant of /etc/psm/grant-ca.pub, alice's session runs (her grant file read as her) and is recorded with it" {
	hw_grant
	run -0 hw_as alice 'psm-record --grant ~/g.grant -- echo granted-$((6*7))'
	assert_output --partial granted-42
	f=$(hw_recording)
	run jq -r 'select(.type == "start") | "\(.grant_id) \(.grant | fromjson | .account) \(.setuid)"' "$f"
	assert_output "$GRANT_ID alice true"
}

@test "psm-record hardened: a grant of a CA of alice's own is refused (exit 1), nothing run or recorded" {
	hw_grant
	psm-keygen -o mine --no-passphrase
	"$PSM_BIN/../tests/lib/test-grant" grant mine.key account=alice > "$W/home/alice/g.grant"
	run -1 --separate-stderr hw_as alice 'psm-record --grant ~/g.grant -- touch ran'
	assert_stderr --partial "was issued by key $(cut -d' ' -f2 mine.pub), not by $(cut -d' ' -f2 ca.pub)"
	[ ! -e "$W/home/alice/ran" ]
	run ls "$W/log/psm"
	assert_output ''
}

@test "psm-record hardened: a group-writable /etc/psm/grant-ca.pub is refused: exit 4, the key named, the command not run" {
	hw_grant
	chmod 664 "$W/etc/psm/grant-ca.pub"
	run -4 --separate-stderr hw_as alice 'psm-record --grant ~/g.grant -- touch ran'
	assert_stderr 'psm-record: /etc/psm/grant-ca.pub: writable by group or others'
	[ ! -e "$W/home/alice/ran" ]
}

@test "psm-record hardened: a grant in /etc/psm/revoked is refused at the start; revoked during the session, it ends the session" {
	hw_grant
	"$PSM_BIN/../tests/lib/test-grant" revoke ca.key 00000000-0000-4000-8000-000000000000 > "$W/etc/psm/revoked"
	hw_as alice 'psm-record --grant ~/g.grant -- sleep 30' > out 2>&1 &
	BG=$!
	spool_started() { grep -qs '"type":"start"' "$W"/log/psm/*.jsonl; }
	wait_for 5 spool_started || fail "the session did not start: $(cat out)"
	"$PSM_BIN/../tests/lib/test-grant" revoke ca.key "$GRANT_ID" >> "$W/etc/psm/revoked"
	SECONDS=0
	wait "$BG" || true
	[ "$SECONDS" -le 3 ] || fail "the session took $SECONDS s to end"
	f=$(hw_recording)
	run jq -r 'select(.type == "end") | .reason' "$f"
	assert_output revoked
	rm "$f"
	run -1 --separate-stderr hw_as alice 'psm-record --grant ~/g.grant -- touch ran'
	assert_stderr "psm-record: $W/home/alice/g.grant: grant $GRANT_ID was revoked (/etc/psm/revoked)"
	[ ! -e "$W/home/alice/ran" ]
}

@test "psm-record hardened: a sealing record-filter gives a spool file that psm-verify verifies" {
	hw_seal_filter
	hw_session
	hw_type 'echo sealed-$((6*7))'
	hw_wait sealed-42
	hw_exit
	f=$(hw_recording)
	wait_for 5 verifies "$f" || fail "$(psm-verify -p "$W/host.pub" "$f" 2>&1)"
	run psm-verify -p "$W/host.pub" "$f"
	assert_output --regexp ': OK: [0-9]+ events, 1 session, sealed by '
	hw_assert_marker "$f" sealed-42
}

@test "psm-record hardened: with /etc/psm/escrow.pub the sudo password is escrowed: back with the secret key, absent without" {
	psm-keygen -o "$W/escrow" --no-passphrase
	install -m 644 "$W/escrow.pub" "$W/etc/psm/escrow.pub"
	hw_session
	hw_type 'sudo -k; sudo id -un'
	sudo_password
	hw_wait_line root
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	run jq -r 'select(.type == "withheld") | "\(.escrow_key) \(.escrow != null)"' "$f"
	assert_line "$(cut -d' ' -f2 "$W/escrow.pub") true"
	run psm-replay --raw --input --escrow-key "$W/escrow.key" "$f"
	assert_output --partial "$HW_ALICE_PW"
}

# ---- passwords never reach the stream ----

@test "psm-record hardened: sudo -i (use_pty), then read -s in the root shell: neither secret is recorded, the commands around are" {
	hw_session
	hw_type 'echo before-$((6*7))'
	hw_wait before-42
	hw_type 'sudo -k; sudo -i'
	sudo_password
	hw_wait_prompt 'root#'
	hw_type "read -s -p 'Password: ' x; echo; echo len-\${#x}"
	hw_wait_line 'Password:'
	hw_type "$SECRET"
	hw_wait "len-${#SECRET}"
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_type exit
	hw_wait_prompt 'alice$'
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	hw_refute_secret "$f" "$SECRET"
	assert_typed "$f" 'echo before-$((6*7))'
	assert_typed "$f" 'echo after-$((7*7))'
	hw_assert_marker "$f" before-42
	hw_assert_marker "$f" after-49
}

@test "psm-record hardened: sudo with pwfeedback (raw terminal, stars echoed): the password is not recorded" {
	echo 'Defaults pwfeedback' > "$W/etc/sudoers.d/pwfeedback"
	chmod 440 "$W/etc/sudoers.d/pwfeedback"
	hw_session
	hw_type 'sudo -k; sudo id -un'
	sudo_password
	hw_wait_line root
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	assert_typed "$f" 'echo after-$((7*7))'
}

@test "psm-record hardened: su - bob: bob's password is not recorded, his commands are" {
	hw_session
	hw_type 'su - bob'
	hw_wait_line 'Password:'
	hw_type "$HW_BOB_PW"
	hw_wait_prompt 'bob$'
	hw_type 'echo as-$(id -un)-$((2*3))'
	hw_wait as-bob-6
	hw_type exit
	hw_wait_prompt 'alice$'
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_BOB_PW"
	assert_typed "$f" 'echo as-$(id -un)-$((2*3))'
	assert_typed "$f" 'echo after-$((7*7))'
}

@test "psm-record hardened: ssh with a password (the client's prompt): the password is not recorded, the far commands are" {
	hw_sshd
	hw_session
	hw_type 'ssh -t alice@127.0.0.1'
	hw_wait_line "alice@127.0.0.1's password:"
	hw_type "$HW_ALICE_PW"
	hw_wait_prompt 'alice@far$'
	hw_type 'echo far-$((8*8))'
	hw_wait far-64
	hw_type exit
	hw_wait 'Connection to 127.0.0.1 closed.'
	hw_wait_prompt 'alice$'
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	assert_typed "$f" 'echo far-$((8*8))'
	assert_typed "$f" 'echo after-$((7*7))'
}

@test "psm-record hardened: sudo on the far side of ssh -t (raw local terminal): the password is not recorded" {
	hw_sshd
	hw_session
	far_sudo
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	assert_typed "$f" 'ssh -t alice@127.0.0.1 sudo -k id -un'
	assert_typed "$f" 'echo after-$((7*7))'
}

@test "psm-record hardened: read -s in a tmux run inside the session (raw terminal): the secret is not recorded" {
	hw_session
	hw_type 'tmux -f /dev/null'
	hw_wait '0:bash*'
	hw_type "read -s -p 'Password: ' x; echo; echo len-\${#x}"
	hw_wait_line 'Password:'
	hw_type "$SECRET"
	hw_wait "len-${#SECRET}"
	hw_type 'echo in-tmux-$((5*5))'
	hw_wait in-tmux-25
	hw_type exit
	hw_wait '[exited]'
	hw_wait_prompt 'alice$'
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$SECRET"
	assert_typed "$f" 'echo in-tmux-$((5*5))'
	assert_typed "$f" 'echo after-$((7*7))'
}

@test "psm-record hardened: read -s -n 5 at the shell (echo off, not canonical, no Enter): the PIN is not recorded" {
	hw_session
	hw_type "read -s -n 5 -p 'PIN: ' x; echo; echo len-\${#x}"
	hw_wait_line 'PIN:'
	tmux_keys -l Zq7Xw
	hw_wait len-5
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" Zq7Xw
	hw_assert_marker "$f" after-49
}

@test "psm-record hardened: read -s -d x at the shell (echo off, not canonical, no Enter): the secret is not recorded" {
	hw_session
	hw_type "read -s -d x -p 'Password: ' v; echo; echo len-\${#v}"
	hw_wait_line 'Password:'
	tmux_keys -l "${SECRET}x"
	hw_wait "len-${#SECRET}"
	hw_type 'echo after-$((7*7))'
	hw_wait after-49
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$SECRET"
	hw_assert_marker "$f" after-49
}

# ---- echo off is not a way out of the recording ----

@test "psm-record hardened: stty -echo; exec /bin/sh: after one withheld line, every command typed is recorded" {
	hw_session
	hw_type 'stty -echo; exec /bin/sh'
	hw_wait_prompt '$'
	hw_type 'echo first-$((1+1))'
	hw_wait first-2
	hw_type 'echo second-$((2+2))'
	hw_wait second-4
	hw_type 'echo third-$((3+3))'
	hw_wait third-6
	hw_exit
	f=$(hw_recording)
	assert_typed "$f" 'stty -echo; exec /bin/sh'
	assert_typed "$f" 'echo second-$((2+2))'
	assert_typed "$f" 'echo third-$((3+3))'
	[ -n "$(events "$f" withhold-limit)" ] || fail "no withhold-limit event"
}

@test "psm-record hardened: as sshd's ForceCommand, a password login cannot kill its recorder, and its commands are recorded" {
	hw_sshd "ForceCommand $W/bin/psm-record"
	tmux_start "ssh -tt -p $HW_SSHD_PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o PreferredAuthentications=password alice@127.0.0.1; echo rc=\$? > $W/rc; sleep 60"
	hw_wait "password:"
	hw_type "$HW_ALICE_PW"
	hw_wait 'alice@far$'
	hw_type 'kill -9 $PPID; echo ssh-kill-status-$?'
	hw_wait ssh-kill-status-1
	hw_type 'echo over-ssh-$((6*7))'
	hw_wait over-ssh-42
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_ALICE_PW"
	assert_typed "$f" 'kill -9 $PPID'
	assert_typed "$f" 'echo over-ssh-$((6*7))'
	run jq -r 'select(.type == "start") | "\(.user) \(.setuid)"' "$f"
	assert_output 'alice true'
	run events "$f" end
	assert_output --partial '"reason":"exit"'
}

@test "psm-record hardened: psql -W inside sudo -i (a real client's prompt on a raw terminal): the password is not recorded" {
	hw_postgres
	hw_session
	hw_type 'sudo -k; sudo -i'
	sudo_password
	hw_wait_prompt 'root#'
	hw_type "psql -W -h 127.0.0.1 -p $HW_PG_PORT -U bob -d postgres -At -c 'select 6*7 as answer'"
	hw_wait_line 'Password:'
	hw_type "$HW_PG_PW"
	hw_wait_line 42
	hw_type 'echo after-psql-$((7*7))'
	hw_wait after-psql-49
	hw_type exit
	hw_wait_prompt 'alice$'
	hw_exit
	f=$(hw_recording)
	hw_refute_secret "$f" "$HW_PG_PW"
	hw_refute_secret "$f" "$HW_ALICE_PW"
	assert_typed "$f" "psql -W -h 127.0.0.1 -p $HW_PG_PORT"
	assert_typed "$f" 'echo after-psql-$((7*7))'
	run jq -r 'select(.type == "withheld") | .reason' "$f"
	assert_output --partial prompt
}
