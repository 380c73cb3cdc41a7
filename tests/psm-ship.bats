#!/usr/bin/env bats
# psm-ship: delivery to a file: store (no receiver needed), the state per
# file and destination, rotation, failures and the sandbox.
load helpers

SID=9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05
SID_B=0b5c7e2a-1f3d-4c8e-9a6b-7d2e4f1a3c5b

setup() {
	cd "$BATS_TEST_TMPDIR"
	MOUNTS=()
}

teardown() {
	stop_background
	tmux_stop
	local m
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || true
	done
}

# gen FROM TO [SID]: "out" events with seq FROM to TO, one a line.
gen() {
	awk -v sid="${3:-$SID}" -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++)
		printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"line %d\\r\\n\"}\n",
			sid, i, i * 1000, i }'
}

# ship ARG...: psm-ship to file:store with its state in state/.
ship() {
	psm-ship --state state --to file:store "$@"
}

# state_of FILE [STORE]: the state file of FILE for file:STORE (store), named
# by the first 32 hex digits of SHA-256(FILE's absolute path NUL file:STORE's
# absolute path).
state_of() {
	local h
	h=$(printf '%s\0%s' "$PWD/$1" "file:$PWD/${2:-store}" | sha256sum | cut -c 1-32)
	echo "state/$h.state"
}

# state_value FILE KEY [STORE]: a key's value in FILE's state (for file:STORE).
state_value() {
	sed -n "s/^$2 //p" "$(state_of "$1" "${3:-store}")"
}

# mount_tmpfs DIR SIZE [OPTIONS]: a small tmpfs at DIR, unmounted in teardown.
mount_tmpfs() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" || skip "cannot mount a tmpfs here"
	MOUNTS+=("$PWD/$1")
}

# settled FILE: FILE last changed a minute ago, as a rotated file that its
# writer has left (psm-ship waits until a rotated file is quiet for 2 s).
settled() {
	touch -d '1 minute ago' "$1"
}

# store_over BYTES: the store is longer than BYTES.
store_over() {
	[ "$(stat -c %s store 2>/dev/null || echo 0)" -gt "$1" ]
}

# ends_with_newline FILE
ends_with_newline() {
	[ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = 0a ]
}

# follow ARG...: psm-ship --follow -v in the background (stderr in follow.err), its pid in FOLLOW_PID.
follow() {
	psm-ship --state state --to file:store --follow -v "$@" 2>follow.err 3>&- &
	FOLLOW_PID=$!
	BG_PIDS+=("$FOLLOW_PID")
}

# stop_follow: SIGTERM to the follower; it must exit 0.
stop_follow() {
	kill -TERM "$FOLLOW_PID"
	local rc=0
	wait "$FOLLOW_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "psm-ship --follow exited $rc after SIGTERM: $(cat follow.err)"
}

# ---- delivery ----------------------------------------------------------

@test "psm-ship: a recording is shipped to file: byte for byte, quietly, its state dir made 0700" {
	psm-record -o s.jsonl -- sh -c 'echo hello; printf "h\303\251llo w\303\266rld\n"; echo bye >&2' \
		</dev/null >/dev/null
	run -0 --separate-stderr ship s.jsonl
	assert_output ''
	assert_stderr ''
	cmp s.jsonl store
	[ "$(stat -c %a state)" = 700 ]
	[ "$(stat -c %a store)" = 600 ]
	[ -f "$(state_of s.jsonl)" ]
	[ "$(state_value s.jsonl lines)" = "$(wc -l < s.jsonl)" ]
	[ "$(state_value s.jsonl offset)" = "$(stat -c %s s.jsonl)" ]
}

@test "psm-ship: a second run sends 0 lines and leaves the store as it was" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	cp store before
	touch -d '2000-01-01' store
	run -0 --separate-stderr ship -v s.jsonl
	assert_stderr --partial 'psm-ship: s.jsonl: 0 lines (0 bytes) to file:store'
	cmp before store
	[ "$(stat -c %Y store)" = "$(date -d 2000-01-01 +%s)" ]	# not even written to
}

@test "psm-ship: -v ends with a summary: lines and bytes of each file, the total, and what delivered means" {
	gen 1 10 > s.jsonl
	gen 1 3 $SID_B > t.jsonl
	run -0 --separate-stderr ship -v s.jsonl t.jsonl
	assert_output ''
	[ "${#stderr_lines[@]}" -eq 3 ] || fail "stderr: $stderr"
	assert_equal "${stderr_lines[0]}" "psm-ship: s.jsonl: 10 lines ($(stat -c %s s.jsonl) bytes) to file:store"
	assert_equal "${stderr_lines[1]}" "psm-ship: t.jsonl: 3 lines ($(stat -c %s t.jsonl) bytes) to file:store"
	[[ ${stderr_lines[2]} =~ ^psm-ship:\ 13\ lines\ in\ [0-9]+\.[0-9]{2}\ s\ \([0-9]+\ lines/s\),\ 0\ retries\;\ delivered\ means:\ appended\ and\ fsync\'d$ ]] ||
		fail "summary: ${stderr_lines[2]}"
}

@test "psm-ship: the man page's example: sealed, shipped twice, the second run has nothing to send" {
	psm-keygen -o host --no-passphrase
	psm-record -o raw.jsonl -- echo hello </dev/null >/dev/null
	psm-seal -k host.key raw.jsonl > sealed.jsonl
	psm-ship --state state --to file:store.jsonl sealed.jsonl
	psm-ship --state state --to file:store.jsonl -v sealed.jsonl 2>&1 | grep -F ': 0 lines'
	cmp sealed.jsonl store.jsonl
	run -0 psm-verify -p host.pub store.jsonl
}

@test "psm-ship: lines appended since the last run are the only ones shipped" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 25 >> s.jsonl
	run -0 --separate-stderr ship -v s.jsonl
	assert_stderr --partial "psm-ship: s.jsonl: 15 lines ($(gen 11 25 | wc -c) bytes) to file:store"
	cmp s.jsonl store
	gen 26 26 >> s.jsonl
	run -0 ship --batch 1 s.jsonl
	cmp s.jsonl store
}

@test "psm-ship: a last line without its newline waits for the next run, and is shipped once whole" {
	gen 1 5 > s.jsonl
	line=$(gen 6 6)
	printf '%s' "${line:0:40}" >> s.jsonl
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
	gen 1 5 | cmp - store
	[ "$(state_value s.jsonl lines)" = 5 ]
	run -0 ship s.jsonl	# still not whole: still not shipped
	gen 1 5 | cmp - store
	printf '%s\n' "${line:40}" >> s.jsonl
	run -0 ship s.jsonl
	cmp s.jsonl store
	gen 1 6 | cmp - store
	run -0 ship s.jsonl
	cmp s.jsonl store
}

@test "psm-ship: on a terminal, a backlog over 4 MiB shows a progress line; elsewhere it does not" {
	gen 1 60000 > s.jsonl
	[ "$(stat -c %s s.jsonl)" -gt $((4 * 1024 * 1024)) ]
	tmux_start "psm-ship --state state --to file:store s.jsonl; echo rc=\$? > rc; sleep 60"
	wait_for 30 test -s rc
	[ "$(cat rc)" = rc=0 ]
	cmp s.jsonl store
	mb=$(awk -v n="$(stat -c %s s.jsonl)" 'BEGIN { printf "%.1f", n / 1e6 }')
	tmux_screen_has "psm-ship: 60000 lines, $mb MB, " || fail "screen: $(tmux_screen)"
	tmux_screen_has ' lines/s, 0 s left' || fail "screen: $(tmux_screen)"
	rm -r state store
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
}

# ---- bad lines -------------------------------------------------------------

@test "psm-ship: a malformed line stops its file there (exit 3, FILE:LINE), the other files are shipped" {
	{ gen 1 4; printf '{"sid":"%s","seq":5,"t":5,"type":"out","data":"no end}\n' "$SID"; gen 6 9; } > s.jsonl
	gen 1 7 $SID_B > t.jsonl
	run -3 --separate-stderr ship --batch 3 s.jsonl t.jsonl
	[[ $stderr =~ ^psm-ship:\ (/.*/)?s\.jsonl:5:\ [a-z] ]] || fail "stderr: $stderr"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
	# every line before it in the store, none after; the other file whole
	grep -F "$SID" store | cmp - <(gen 1 4)
	grep -F "$SID_B" store | cmp - t.jsonl
	[ "$(wc -l < store)" -eq 11 ]
	# its state at the last good line
	[ "$(state_value s.jsonl lines)" = 4 ]
	[ "$(state_value s.jsonl offset)" = "$(gen 1 4 | wc -c)" ]
	# the line mended in place (the same file): the rest is shipped
	{ gen 1 9; } > fixed.jsonl
	cat fixed.jsonl > s.jsonl
	run -0 --separate-stderr ship s.jsonl t.jsonl
	assert_stderr ''
	grep -F "$SID" store | cmp - fixed.jsonl
	grep -F "$SID_B" store | cmp - t.jsonl
}

@test "psm-ship: a line that is not an event (no sid) is reported with its line number" {
	{ gen 1 2; echo '{"seq":3,"t":3,"type":"out","data":"x"}'; } > s.jsonl
	run -3 --separate-stderr ship s.jsonl
	assert_stderr --partial 's.jsonl:3: '
	cmp <(gen 1 2) store
}

@test "psm-ship: a line over 1 MiB stops its file with exit 3, after the lines before it" {
	gen 1 3 > s.jsonl
	printf '{"sid":"%s","seq":4,"t":4,"type":"out","data":"%s"}\n' "$SID" "$(head -c 1200000 /dev/zero | tr '\0' a)" >> s.jsonl
	gen 5 6 >> s.jsonl
	run -3 --separate-stderr ship s.jsonl
	[[ $stderr =~ ^psm-ship:\ (/.*/)?s\.jsonl:4:\ line\ longer\ than\ [0-9]+\ bytes$ ]] || fail "stderr: $stderr"
	cmp <(gen 1 3) store
	[ "$(state_value s.jsonl lines)" = 3 ]
}

# ---- rotation ----------------------------------------------------------

@test "psm-ship: a file rotated by rename: the rest of the old file, then the new one, nothing missing or doubled" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 15 >> s.jsonl	# written after the last run, before the rotation
	mv s.jsonl s.jsonl.1
	gen 16 20 > s.jsonl
	settled s.jsonl.1
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
	cat s.jsonl.1 s.jsonl | cmp - store
	gen 1 20 | cmp - store
	# and the new file goes on from there
	gen 21 22 >> s.jsonl
	run -0 ship s.jsonl
	gen 1 22 | cmp - store
}

@test "psm-ship: a rotation is found among other files that begin with the file's name" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 1 10 $SID_B > s.jsonl.2	# older logs, not this one
	gen 1 3 > s.jsonl-old
	gen 11 12 >> s.jsonl
	mv s.jsonl s.jsonl-20261207
	gen 13 14 > s.jsonl
	settled s.jsonl-20261207
	run -0 --separate-stderr ship -v s.jsonl
	assert_stderr --partial "s.jsonl: rotated: the rest of $PWD/s.jsonl-20261207 first"
	gen 1 14 | cmp - store
}

@test "psm-ship: a file just rotated: the new file waits until the rotated one has been quiet for 2 s" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 12 >> s.jsonl
	mv s.jsonl s.jsonl.1
	gen 20 21 > s.jsonl
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
	gen 1 12 | cmp - store	# the rest of the rotated file, not the new one yet
	gen 13 14 >> s.jsonl.1	# its writer had it open: still writing to it after the rename
	run -0 ship s.jsonl
	gen 1 14 | cmp - store
	settled s.jsonl.1
	run -0 ship s.jsonl
	{ gen 1 14; gen 20 21; } | cmp - store
	run -0 ship s.jsonl
	{ gen 1 14; gen 20 21; } | cmp - store
}

@test "psm-ship: copytruncate: the rest of the copy, then the file from its start, nothing missing or doubled" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 15 >> s.jsonl
	cp s.jsonl s.jsonl.1
	: > s.jsonl
	gen 16 18 >> s.jsonl	# shorter than what was shipped
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
	cat s.jsonl.1 s.jsonl | cmp - store
	gen 1 18 | cmp - store
}

@test "psm-ship: copytruncate, the file longer again than what was shipped: still found by the last line's hash" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 15 >> s.jsonl
	cp s.jsonl s.jsonl.1
	: > s.jsonl
	gen 16 60 >> s.jsonl
	[ "$(stat -c %s s.jsonl)" -gt "$(gen 1 10 | wc -c)" ]
	run -0 --separate-stderr ship s.jsonl
	assert_stderr ''
	gen 1 60 | cmp - store
}

@test "psm-ship: a file truncated with no copy: the gone-or-rewritten warning, exit 0, the file from its start" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	: > s.jsonl
	gen 11 13 >> s.jsonl
	run -0 --separate-stderr ship s.jsonl
	assert_stderr 'psm-ship: s.jsonl: the file shipped up to line 10 is gone or was rewritten, and no copy of it is next to it: what it had after that line may not have been shipped; shipping s.jsonl from its start'
	gen 1 13 | cmp - store
	run -0 --separate-stderr ship s.jsonl	# once only
	assert_stderr ''
	gen 1 13 | cmp - store
}

@test "psm-ship: a file deleted and made again with no copy: the warning, exit 0, the new file from its start" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	rm s.jsonl
	gen 11 30 > s.jsonl
	run -0 --separate-stderr ship s.jsonl
	assert_stderr --partial 'psm-ship: s.jsonl: the file shipped up to line 10 is gone or was rewritten'
	assert_stderr --partial 'shipping s.jsonl from its start'
	gen 1 30 | cmp - store
}

@test "psm-ship: a file moved to another directory is not found: the warning, the new file from its start" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 12 >> s.jsonl
	mkdir old
	mv s.jsonl old/s.jsonl.1
	gen 13 14 > s.jsonl
	run -0 --separate-stderr ship s.jsonl
	assert_stderr --partial 'psm-ship: s.jsonl: the file shipped up to line 10 is gone or was rewritten'
	{ gen 1 10; gen 13 14; } | cmp - store	# 11 and 12 lost, as the man page says
}

@test "psm-ship: a rotated file ending in half a line: reported, not shipped, the rest shipped" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	gen 11 12 >> s.jsonl
	half='{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c'
	printf '%s' "$half" >> s.jsonl
	mv s.jsonl s.jsonl.1
	gen 13 15 > s.jsonl
	run -0 --separate-stderr ship s.jsonl	# its writer may still end the line
	assert_stderr ''
	gen 1 12 | cmp - store
	settled s.jsonl.1
	run -0 --separate-stderr ship s.jsonl
	assert_stderr "psm-ship: $PWD/s.jsonl.1:13: ${#half} bytes without a newline at the end of a rotated file: not a line, not shipped"
	gen 1 15 | cmp - store
	run -0 --separate-stderr ship s.jsonl	# said once
	assert_stderr ''
	gen 1 15 | cmp - store
}

# ---- sealed streams ----------------------------------------------------

@test "psm-ship: a sealed stream open in the file is in the state with its lines, and leaves it at its seal" {
	psm-keygen -o k --no-passphrase
	psm-record -o rec.jsonl -- sh -c 'echo one; echo two; echo three' </dev/null >/dev/null
	psm-seal -k k.key --every 2 rec.jsonl > sealed.jsonl
	id=$(head -n 1 sealed.jsonl | jq -r 'select(.type == "checkpoint" and .seq == 0) | .sid')
	[ -n "$id" ]
	n=$(wc -l < sealed.jsonl)
	[ "$(tail -n 1 sealed.jsonl | jq -r .type)" = seal ]
	head -n 3 sealed.jsonl > s.jsonl
	run -0 ship s.jsonl
	run grep '^stream ' "$(state_of s.jsonl)"
	assert_output "stream $id 3"
	sed -n "4,$((n - 1))p" sealed.jsonl >> s.jsonl	# all but the seal
	run -0 ship s.jsonl
	run grep '^stream ' "$(state_of s.jsonl)"
	assert_output "stream $id $((n - 1))"
	tail -n 1 sealed.jsonl >> s.jsonl
	run -0 ship s.jsonl
	run -1 grep '^stream ' "$(state_of s.jsonl)"
	cmp sealed.jsonl store
	run -0 psm-verify -p k.pub store
}

# ---- crashes and concurrency -------------------------------------------

@test "psm-ship: killed with SIGKILL in a large shipment, run again: the store equals the source, nothing doubled" {
	gen 1 200000 > s.jsonl
	size=$(stat -c %s s.jsonl)
	psm-ship --state state --to file:store --batch 100 s.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for 30 store_over 1000000
	kill -KILL "$pid"
	wait "$pid" || true
	[ "$(stat -c %s store)" -lt "$size" ] || skip "psm-ship finished before it was killed"
	ends_with_newline store
	run -0 --separate-stderr ship --batch 100 s.jsonl
	assert_stderr ''
	cmp s.jsonl store
}

@test "psm-ship: the store already has the batch the state does not: it is not written again" {
	# what a run killed between the store's fsync and the state's leaves
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	cp -p "$(state_of s.jsonl)" saved.state
	gen 11 20 >> s.jsonl
	run -0 ship s.jsonl
	cp saved.state "$(state_of s.jsonl)"
	gen 21 25 >> s.jsonl
	run -0 ship s.jsonl
	cmp s.jsonl store
}

@test "psm-ship: file:PATH relative is a store in the current directory: another directory's is another destination" {
	gen 1 5 > s.jsonl
	mkdir a b
	(cd a && psm-ship --state ../state --to file:store "$BATS_TEST_TMPDIR/s.jsonl")
	(cd b && psm-ship --state ../state --to file:store "$BATS_TEST_TMPDIR/s.jsonl")
	cmp s.jsonl a/store
	cmp s.jsonl b/store
	[ -f "$(state_of s.jsonl a/store)" ]
	[ -f "$(state_of s.jsonl b/store)" ]
	# and file:/abs/store is the same destination as file:store from its directory
	gen 6 7 >> s.jsonl
	run -0 psm-ship --state state --to "file://$PWD/a/store" s.jsonl
	cmp s.jsonl a/store
	run -0 --separate-stderr psm-ship --state state --to file:a/store -v s.jsonl
	assert_stderr --partial 'psm-ship: s.jsonl: 0 lines (0 bytes) to file:a/store'
}

@test "psm-ship: a second run on the same state while one holds it exits 1 and ships nothing" {
	gen 1 10 > s.jsonl
	run -0 ship s.jsonl
	lock=$(state_of s.jsonl)
	lock=${lock%.state}.lock
	[ -f "$lock" ]
	gen 11 12 >> s.jsonl
	exec 5<"$lock"
	flock -n 5
	run -1 --separate-stderr ship s.jsonl
	exec 5<&-
	assert_stderr "psm-ship: $lock: another psm-ship is shipping $PWD/s.jsonl to file:$PWD/store"
	gen 1 10 | cmp - store
	# the lock is for this file and destination only
	run -0 psm-ship --state state --to file:other s.jsonl
	cmp s.jsonl other
	run -0 ship s.jsonl
	cmp s.jsonl store
}

@test "psm-ship: a psm-ship --follow holds its state: a second run exits 1" {
	gen 1 10 > s.jsonl
	follow s.jsonl
	wait_for 10 cmp -s s.jsonl store
	run -1 --separate-stderr ship s.jsonl
	assert_stderr --partial 'another psm-ship is shipping'
	stop_follow
	cmp s.jsonl store
}

# ---- --follow ----------------------------------------------------------

@test "psm-ship --follow: appended lines arrive, across a rotation and a copytruncate; SIGTERM ends it with 0" {
	gen 1 10 > s.jsonl
	follow s.jsonl
	wait_for 10 cmp -s s.jsonl store
	gen 11 20 >> s.jsonl
	wait_for 10 cmp -s s.jsonl store
	# rotation by rename, lines written just before it
	gen 21 25 >> s.jsonl
	mv s.jsonl s.jsonl.1
	gen 26 30 > s.jsonl
	gen 1 30 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store)"
	grep -qF "rotated: the rest of $PWD/s.jsonl.1 first" follow.err
	# copytruncate
	gen 31 35 >> s.jsonl
	cp s.jsonl s.jsonl-2
	: > s.jsonl
	gen 36 38 >> s.jsonl
	gen 1 38 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store)"
	gen 39 40 >> s.jsonl
	gen 1 40 > want
	wait_for 10 cmp -s want store
	stop_follow
	run grep -c 'gone or was rewritten' follow.err
	assert_output 0
	gen 1 40 | cmp - store
	[ "$(state_value s.jsonl lines)" = 5 ]	# s.jsonl holds 36 to 40
}

@test "psm-ship --follow: stopped while its file is copied, truncated and written past where it was, then continued" {
	gen 1 10 > s.jsonl
	follow s.jsonl
	wait_for 10 cmp -s s.jsonl store
	kill -STOP "$FOLLOW_PID"	# asleep between two looks: continued, the sleep is restarted
	gen 11 12 >> s.jsonl
	cp s.jsonl s.jsonl.1
	: > s.jsonl
	gen 13 60 >> s.jsonl
	[ "$(stat -c %s s.jsonl)" -gt "$(stat -c %s s.jsonl.1)" ]
	kill -CONT "$FOLLOW_PID"
	gen 1 60 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store); $(cat follow.err)"
	stop_follow
}

@test "psm-ship --follow: a half line is shipped once its newline comes" {
	gen 1 3 > s.jsonl
	line=$(gen 4 4)
	printf '%s' "${line:0:30}" >> s.jsonl
	follow s.jsonl
	gen 1 3 > want
	wait_for 10 cmp -s want store
	printf '%s\n' "${line:30}" >> s.jsonl
	wait_for 10 cmp -s s.jsonl store
	stop_follow
	gen 1 4 | cmp - store
}

@test "psm-ship --follow: a file that does not exist yet is waited for" {
	follow s.jsonl
	wait_for 5 test -d state
	sleep 0.3	# at least one look at the missing file
	kill -0 "$FOLLOW_PID"
	gen 1 5 > s.jsonl
	wait_for 10 cmp -s s.jsonl store
	stop_follow
}

@test "psm-ship --follow: a file truncated with no copy while followed: the warning, the file from its start" {
	gen 1 10 > s.jsonl
	follow s.jsonl
	wait_for 10 cmp -s s.jsonl store
	: > s.jsonl
	wait_for 10 grep -q 'the file shipped up to line 10 is gone or was rewritten' follow.err
	gen 11 14 >> s.jsonl
	gen 1 14 > want
	wait_for 10 cmp -s want store
	stop_follow
}

# ---- standard input ----------------------------------------------------

@test "psm-ship: - ships standard input to its end, without a state" {
	gen 1 3000 > s.jsonl
	run -0 --separate-stderr sh -c 'cat s.jsonl | psm-ship --state state --to file:store --batch 7 -'
	assert_stderr ''
	cmp s.jsonl store
	[ -z "$(find . -name '*.state')" ]
	# a second time is a second copy: stdin has no state
	run -0 sh -c 'cat s.jsonl | psm-ship --state state --to file:store2 -'
	cmp s.jsonl store2
}

@test "psm-ship: - ships lines as they come on a pipe, before its end" {
	mkfifo in
	psm-ship --state state --to file:store - < in 2>err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 5>in
	gen 1 2 >&5
	gen 1 2 > want
	wait_for 10 cmp -s want store
	gen 3 4 >&5
	gen 1 4 > want
	wait_for 10 cmp -s want store
	exec 5>&-
	wait "$pid"
	gen 1 4 | cmp - store
}

@test "psm-ship: - with another file is a usage error (exit 2)" {
	gen 1 3 > s.jsonl
	run -2 --separate-stderr ship - s.jsonl
	assert_stderr $'psm-ship: -: standard input is shipped alone\nTry \'psm-ship --help\''
	[ ! -e store ]
}

@test "psm-ship: a last line without its newline on standard input: exit 3, the lines before it shipped" {
	gen 1 3 > s.jsonl
	line=$(gen 4 4)
	run -3 --separate-stderr sh -c "{ cat s.jsonl; printf '%s' '$line'; } | psm-ship --state state --to file:store -"
	assert_stderr 'psm-ship: -:4: the last line has no newline'
	cmp s.jsonl store
}

@test "psm-ship: a bad line on standard input: exit 3 naming -:LINE" {
	run -3 --separate-stderr sh -c "printf '%s\n' '$(gen 1 1)' 'not json' | psm-ship --state state --to file:store -"
	assert_stderr --partial 'psm-ship: -:2: '
	gen 1 1 | cmp - store
}

# ---- failures ----------------------------------------------------------

@test "psm-ship: a store it cannot write: exit 4 after --retry-for, the state not advanced" {
	mount_tmpfs ro 64k ro
	gen 1 10 > s.jsonl
	run -4 --separate-stderr psm-ship --state state --to file:ro/store --retry-for 1s -v s.jsonl
	assert_stderr --partial 'psm-ship: gave up after 1.0 s: file:ro/store: ro/store: Read-only file system'
	assert_stderr --partial 'retrying in'
	[ ! -e ro/store ]
	[ ! -e "$(state_of s.jsonl ro/store)" ]
	mount -o remount,rw ro
	run -0 psm-ship --state state --to file:ro/store s.jsonl
	cmp s.jsonl ro/store
}

@test "psm-ship: a store on a full disk: exit 4 after --retry-for, no half batch, the state at the last batch" {
	mount_tmpfs small 64k
	gen 1 2000 > s.jsonl
	run -4 --separate-stderr psm-ship --state state --to file:small/store --batch 100 --retry-for 1s s.jsonl
	[[ $stderr =~ ^psm-ship:\ gave\ up\ after\ 1\.[0-9]\ s:\ file:small/store:\ small/store:\ No\ space\ left\ on\ device$ ]] ||
		fail "stderr: $stderr"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
	n=$(wc -l < small/store)
	[ "$n" -gt 0 ] && [ "$n" -lt 2000 ]
	[ $((n % 100)) -eq 0 ]	# whole batches only
	ends_with_newline small/store
	head -n "$n" s.jsonl | cmp - small/store
	[ "$(state_value s.jsonl lines small/store)" = "$n" ]
	# with room: everything, nothing missing or doubled
	mount -o remount,size=1m small
	run -0 --separate-stderr psm-ship --state state --to file:small/store --batch 100 s.jsonl
	assert_stderr ''
	cmp s.jsonl small/store
}

@test "psm-ship: the state on a full disk: exit 4, and the next run goes on from the last line acknowledged" {
	mount_tmpfs sd 64k
	gen 1 10 > s.jsonl
	run -0 psm-ship --state sd/state --to file:store s.jsonl
	head -c 1000000 /dev/zero > sd/filler 2>/dev/null || true
	gen 11 20 >> s.jsonl
	run -4 --separate-stderr psm-ship --state sd/state --to file:store s.jsonl
	assert_stderr --partial 'No space left on device'
	run -0 grep -c '^lines 10$' sd/state/*.state
	run -0 find sd/state -name '*.tmp'
	assert_output ''
	gen 21 25 >> s.jsonl
	rm sd/filler
	run -0 --separate-stderr psm-ship --state sd/state --to file:store s.jsonl
	assert_stderr ''
	cmp s.jsonl store
}

@test "psm-ship: a corrupted state file: exit 3 naming STATEFILE:LINE, the other files shipped" {
	gen 1 5 > s.jsonl
	gen 1 5 $SID_B > t.jsonl
	run -0 ship s.jsonl t.jsonl
	st=$(state_of s.jsonl)
	sed -i 's/^lines 5$/lines five/' "$st"
	gen 6 7 >> s.jsonl
	gen 6 7 $SID_B >> t.jsonl
	run -3 --separate-stderr ship s.jsonl t.jsonl
	assert_stderr "psm-ship: $st:7: malformed state (remove the file to ship the source again from its start)"
	grep -F "$SID" store | cmp - <(gen 1 5)
	grep -F "$SID_B" store | cmp - t.jsonl
	sed -i '1s/.*/psm-ship-state 9/' "$st"
	run -3 --separate-stderr ship s.jsonl
	assert_stderr --partial "psm-ship: $st:1: malformed state"
}

# ---- usage -------------------------------------------------------------

@test "psm-ship: no --to, or no FILE, is a usage error (exit 2)" {
	gen 1 3 > s.jsonl
	run -2 --separate-stderr psm-ship s.jsonl
	assert_stderr $'psm-ship: --to: where to ship is required\nTry \'psm-ship --help\''
	run -2 --separate-stderr psm-ship --to file:store
	assert_stderr --partial 'psm-ship: no FILE'
	[ ! -e store ]
}

@test "psm-ship: a URL that is not a destination, or a network one without its port, is a usage error (exit 2)" {
	gen 1 3 > s.jsonl
	run -2 --separate-stderr ship --to http://example.org/x s.jsonl
	assert_stderr --partial 'psm-ship: http://: not a destination'
	assert_stderr --partial "Try 'psm-ship --help'"
	run -2 --separate-stderr psm-ship --state state --to relp://host s.jsonl
	assert_stderr --partial 'psm-ship: relp://: expected HOST:PORT'
	# a URL is never echoed whole: it may hold a password
	for url in syslog+tcp://ops:Hunter2pw@host:514 relp://ops:Hunter2pw@h https://ops:Hunter2pw@x/; do
		run -2 --separate-stderr psm-ship --state state --to "$url" s.jsonl
		[[ $stderr != *Hunter2pw* ]] || fail "the password is in the message: $stderr"
	done
	run -2 --separate-stderr psm-ship --state state --to syslog+tcp://host: s.jsonl
	assert_stderr --partial 'expected a port number'
	run -2 --separate-stderr psm-ship --state state --to file: s.jsonl
	assert_stderr --partial 'expected file:PATH'
	[ ! -e state ]
}

@test "psm-ship: bad option values are usage errors (exit 2)" {
	gen 1 3 > s.jsonl
	run -2 --separate-stderr ship --batch 0 s.jsonl
	assert_stderr --partial 'psm-ship: --batch: not a number from 1 to 100000: 0'
	run -2 --separate-stderr ship --batch 100001 s.jsonl
	run -2 --separate-stderr ship --retry-for x s.jsonl
	assert_stderr --partial 'psm-ship: --retry-for: not a duration: x'
	run -2 --separate-stderr ship --timeout 5parsecs s.jsonl
	run -2 --separate-stderr ship --no-such-option s.jsonl
	[ ! -e store ]
}

@test "psm-ship: a missing FILE: exit 4, the other files shipped" {
	gen 1 3 > s.jsonl
	run -4 --separate-stderr ship missing.jsonl s.jsonl
	assert_stderr --partial 'missing.jsonl: No such file or directory'
	cmp s.jsonl store
}

@test "psm-ship: --help and --version go to standard output, exit 0" {
	run -0 --separate-stderr psm-ship --help
	assert_output --partial '  -t, --to=URL'
	assert_stderr ''
	run -0 psm-ship --version
	assert_output --regexp '^psm-ship [0-9]'
}

@test "psm-ship: the default state is \$XDG_STATE_HOME/psm/ship, made 0700, or ~/.local/state/psm/ship" {
	gen 1 3 > s.jsonl
	XDG_STATE_HOME=$PWD/xdg run -0 psm-ship --to file:store s.jsonl
	[ "$(stat -c %a xdg/psm/ship)" = 700 ]
	[ "$(stat -c %a xdg/psm)" = 700 ]
	[ "$(find xdg/psm/ship -name '*.state' | wc -l)" -eq 1 ]
	cmp s.jsonl store
	mkdir home
	run -0 env -u XDG_STATE_HOME HOME=$PWD/home psm-ship --to file:store2 s.jsonl
	[ "$(stat -c %a home/.local/state/psm/ship)" = 700 ]
	[ "$(find home/.local/state/psm/ship -name '*.state' | wc -l)" -eq 1 ]
	cmp s.jsonl store2
}

# ---- the sandbox -------------------------------------------------------

@test "psm-ship: the seccomp filter is in force before a line is read, and rotations work under it" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	follow s.jsonl	# not there yet: nothing read, nothing connected
	wait_for 10 grep -q "$(printf '^Seccomp:\t2')" "/proc/$FOLLOW_PID/status"
	gen 1 10 > s.jsonl
	wait_for 10 cmp -s s.jsonl store
	# a rotation by rename, the new file made a little later
	gen 11 12 >> s.jsonl
	mv s.jsonl s.jsonl.1
	gen 1 12 > want
	wait_for 10 cmp -s want store
	gen 13 15 > s.jsonl
	gen 1 15 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store); $(cat follow.err)"
	# a copytruncate
	gen 16 17 >> s.jsonl
	cp s.jsonl s.jsonl.2
	: > s.jsonl
	gen 18 19 >> s.jsonl
	gen 1 19 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store); $(cat follow.err)"
	# gone with no copy
	rm s.jsonl s.jsonl.1 s.jsonl.2
	gen 20 21 > s.jsonl
	gen 1 21 > want
	wait_for 10 cmp -s want store || fail "store: $(diff want store); $(cat follow.err)"
	kill -0 "$FOLLOW_PID"
	stop_follow
}

@test "psm-ship: a system call outside the sandbox's list kills it, and not with --no-sandbox" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "LD_PRELOAD does not mix with the sanitizer runtime"
	build_late_syscall late.so
	gen 1 3 > s.jsonl
	run -159 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-ship --state state --to file:store s.jsonl
	cmp s.jsonl store
	gen 4 5 >> s.jsonl
	run -0 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-ship --state state --to file:store --no-sandbox s.jsonl
	cmp s.jsonl store
}
