#!/usr/bin/env bats
# psm-ship to a real rsyslogd (tests/rsyslog.bash) over syslog+tcp, syslog+tls
# and relp: byte for byte, the structured data, --max-message, TLS checks, the
# receiver killed and restarted under a running psm-ship (at least once: every
# line arrives, copies allowed), psm-ship killed, a destination down past
# --retry-for, and --follow. No test here passes --no-sandbox: reconnecting
# after a failure is done under the seccomp sandbox.
load helpers
load rsyslog

setup() {
	rsyslog_available || skip "rsyslogd with imtcp, imrelp and lmnsd_ossl is not installed (scripts/deps.sh test)"
	cd "$BATS_TEST_TMPDIR" || return 1
	BG_PIDS=()
	: > markers.jsonl
}

teardown() {
	[ -z "${RSYSLOG_PID:-}" ] || kill -CONT "$RSYSLOG_PID" 2>/dev/null || true
	rsyslog_stop
	stop_background
}

# events N [SESSIONS]: N lines of psm-stream(5) events, SESSIONS sessions
# (default 4) interleaved, each with its start and end; every line unique.
events() {
	awk -v n="$1" -v k="${2:-4}" 'BEGIN {
		for (i = 0; i < n; i++) {
			s = i % k; q = int(i / k)
			sid = sprintf("%08x-6c1d-4b7e-a0f3-%012x", s + 1, s + 1)
			if (q == 0)
				printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1,\"user\":\"alice\",\"host\":\"db1\",\"cols\":80,\"rows\":24}\n", sid
			else if (i + k >= n)
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":%d}\n", sid, q, q * 1000, q * 1000 + 7
			else
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"line %d: caf\303\251 \\\"q\\\" C:\\\\tmp \\u001b[0m ] [x]\\r\\n\"}\n", sid, q, q * 1000, i + 1
		}
	}'
}

# sealed: a recorded session, sealed, in sealed.jsonl (key k.key).
sealed() {
	psm-record -q -o raw.jsonl -- sh -c 'echo hello; printf "caf\303\251 \033[1mbold\033[m \\\\ ] [x]\n"; seq 1 50' \
		</dev/null >/dev/null
	psm-keygen -o k --no-passphrase
	psm-seal -k k.key raw.jsonl > sealed.jsonl
	[ "$(wc -l < sealed.jsonl)" -ge 5 ]
}

# The structured data rsyslogd should have for each line of a sealed stream
# FILE (one stream: its checkpoint is line 1).
expected_sd() {
	local stream
	stream=$(head -n 1 "$1" | jq -r 'select(.type == "checkpoint") | .sid')
	[ -n "$stream" ] || return 1
	jq -r --arg st "$stream" '"[psm@32473 sid=\"\(.sid)\" seq=\"\(.seq)\" type=\"\(.type)\" t=\"\(.t)\" stream=\"\($st)\" line=\"" + (input_line_number | tostring) + "\"]"' "$1"
}

# What the receiver has, without the markers (marker below).
received() { grep -vxF -f markers.jsonl "$RSYSLOG_DIR/messages" || true; }
distinct() { sort -u "$RSYSLOG_DIR/messages" | wc -l; }

# state_value KEY: the value of KEY in the only state file of state/.
state_value() {
	local f
	f=$(compgen -G 'state/*.state') || return 1
	[ "$(wc -l <<< "$f")" -eq 1 ] || return 1
	sed -n "s/^$1 //p" "$f"
}

no_state() { ! compgen -G 'state/*.state' >/dev/null; }

# marker URL [ARGS]: ship one more line from another file and wait until it is
# in; what was sent before by a run that has ended is then in too (one
# receiver, written in order): "nothing more came" without a sleep.
marker() {
	local url=$1
	shift
	printf '{"sid":"ffffffff-6c1d-4b7e-a0f3-ffffffffffff","seq":0,"t":0,"type":"start","marker":%d}\n' \
		"$RANDOM$RANDOM" > marker.jsonl
	cat marker.jsonl >> markers.jsonl
	psm-ship --state marker-state --to "$url" "$@" marker.jsonl
	wait_for 10 grep -qxF -f marker.jsonl "$RSYSLOG_DIR/messages"
}

# ---- 1. byte for byte, the structured data, nothing twice -----------------

# shipped_sealed MODE SCHEME [TLS OPTIONS]: a recorded and sealed stream
# shipped to a receiver in MODE, then again.
shipped_sealed() {
	local mode=$1 scheme=$2 url
	shift 2
	sealed
	rsyslog_start "$mode"
	url="$scheme://127.0.0.1:$RSYSLOG_PORT"
	run -0 --separate-stderr psm-ship --state state --to "$url" "$@" -v sealed.jsonl
	n=$(wc -l < sealed.jsonl)
	assert_stderr --partial "psm-ship: sealed.jsonl: $n lines ($(wc -c < sealed.jsonl) bytes) to $url"
	rsyslog_count "$n"
	cmp sealed.jsonl "$RSYSLOG_DIR/messages"
	expected_sd sealed.jsonl > sd.expected
	diff sd.expected "$RSYSLOG_DIR/sd"
	[ "$(state_value lines)" -eq "$n" ]
	[ "$(state_value offset)" -eq "$(wc -c < sealed.jsonl)" ]
	# Again: nothing to send, and nothing sent.
	run -0 --separate-stderr psm-ship --state state --to "$url" "$@" -v sealed.jsonl
	assert_stderr --partial "psm-ship: sealed.jsonl: 0 lines (0 bytes) to $url"
	delivered_means=$stderr
	marker "$url" "$@"
	cmp <(cat sealed.jsonl marker.jsonl) "$RSYSLOG_DIR/messages"
}

@test "psm-ship: syslog+tcp: a sealed recording arrives byte for byte with sid, seq, type, t, stream and line; a second run sends nothing" {
	shipped_sealed tcp syslog+tcp
	[[ $delivered_means == *"delivered means: the receiver's TCP acknowledged the bytes (no acknowledgement from the syslog server itself)"* ]] ||
		fail "-v: $delivered_means"
}

@test "psm-ship: syslog+tls: a sealed recording arrives byte for byte with its structured data; a second run sends nothing" {
	RSYSLOG_CA=$BATS_TEST_TMPDIR/ca
	make_test_ca "$RSYSLOG_CA"
	shipped_sealed tls syslog+tls --ca "$RSYSLOG_CA/ca.pem"
	[[ $delivered_means == *"delivered means: the receiver's TCP acknowledged the bytes (no acknowledgement from the syslog server itself)"* ]] ||
		fail "-v: $delivered_means"
}

@test "psm-ship: relp: a sealed recording arrives byte for byte with its structured data; a second run sends nothing" {
	shipped_sealed relp relp
	[[ $delivered_means == *"delivered means: rsyslog's imrelp answered 200 for each message"* ]] ||
		fail "-v: $delivered_means"
}

# ---- 2. --max-message --------------------------------------------------------

# long_line FILE N BYTES: line N of FILE with BYTES more bytes of data.
long_line() {
	head -c "$3" /dev/zero | tr '\0' x > pad
	awk -v n="$2" 'NR == n { getline pad < "pad"; sub(/"data":"/, "\"data\":\"" pad) } { print }' "$1" > "$1.tmp"
	mv "$1.tmp" "$1"
}

@test "psm-ship: relp: a line whose message is over --max-message stops its file with status 3 and FILE:LINE, after every line before it; the limit is the message's length" {
	events 10 > big.jsonl
	long_line big.jsonl 6 2000
	rsyslog_start relp
	url=relp://127.0.0.1:$RSYSLOG_PORT
	run -3 --separate-stderr psm-ship --state state --to "$url" --max-message 1000 big.jsonl
	assert_stderr --partial "psm-ship: big.jsonl:6: line of $(sed -n 6p big.jsonl | tr -d '\n' | wc -c) bytes: the syslog message would be "
	assert_stderr --partial ", over the maximum of 1000 (--max-message)"
	size=$(sed -n 's/.*the syslog message would be \([0-9]*\) bytes.*/\1/p' <<< "$stderr")
	[ "$size" -gt 2000 ] && [ "$size" -lt 2400 ]
	[ "$(state_value lines)" -eq 5 ]
	marker "$url"
	cmp <(head -n 5 big.jsonl) <(received)
	# Again: the same line stops it, with nothing sent; one byte short of its size too.
	run -3 --separate-stderr psm-ship --state state --to "$url" --max-message 1000 big.jsonl
	assert_stderr --partial "psm-ship: big.jsonl:6: "
	run -3 --separate-stderr psm-ship --state state --to "$url" --max-message $((size - 1)) big.jsonl
	assert_stderr --partial "psm-ship: big.jsonl:6: line of"
	marker "$url"
	cmp <(head -n 5 big.jsonl) <(received)
	# At its size it goes, whole, and the rest after it.
	run -0 --separate-stderr psm-ship --state state --to "$url" --max-message "$size" big.jsonl
	marker "$url"
	cmp big.jsonl <(received)
	[ "$(state_value lines)" -eq 10 ]
}

@test "psm-ship: a line of 300 kB is over the default --max-message (exit 3); raised, it arrives byte for byte over syslog+tcp and relp" {
	events 3 1 > huge.jsonl
	long_line huge.jsonl 2 300000
	[ "$(sed -n 2p huge.jsonl | wc -c)" -gt 300000 ]
	for mode in tcp relp; do
		rsyslog_start "$mode" "$BATS_TEST_TMPDIR/rsyslog-$mode"
		url=$mode://127.0.0.1:$RSYSLOG_PORT
		[ "$mode" = tcp ] && url=syslog+$url
		run -3 --separate-stderr psm-ship --state "state-$mode" --to "$url" huge.jsonl
		assert_stderr --partial "psm-ship: huge.jsonl:2: line of 300"
		assert_stderr --partial "over the maximum of 65536 (--max-message)"
		run -0 --separate-stderr psm-ship --state "state-$mode" --to "$url" --max-message 400000 huge.jsonl
		rsyslog_count 3
		cmp huge.jsonl "$RSYSLOG_DIR/messages"
		rsyslog_stop
	done
}

# ---- 3. TLS ------------------------------------------------------------------

@test "psm-ship: syslog+tls: a CA that did not sign the receiver's certificate is a refusal (exit 1) with the reason; nothing sent, the state not made or moved" {
	events 30 > all.jsonl
	head -n 20 all.jsonl > s.jsonl
	rsyslog_start tls
	url=syslog+tls://127.0.0.1:$RSYSLOG_PORT
	run -1 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/other-ca.pem" s.jsonl
	assert_stderr "psm-ship: $url: TLS handshake: the server's certificate: self-signed certificate in certificate chain"
	no_state
	# Not retried: a refusal is final, whatever --retry-for.
	SECONDS=0
	run -1 --separate-stderr psm-ship --state state --to "$url" --retry-for 1m -v --ca "$RSYSLOG_CA/other-ca.pem" s.jsonl
	[ "$SECONDS" -lt 5 ]
	[[ $stderr != *retrying* ]]
	no_state
	marker "$url" --ca "$RSYSLOG_CA/ca.pem"
	[ -z "$(received)" ]
	# With the right CA: every line, once. Then lines added, and the wrong CA again.
	run -0 psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" s.jsonl
	cp state/*.state state.before
	tail -n 10 all.jsonl >> s.jsonl
	run -1 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/other-ca.pem" s.jsonl
	assert_stderr --partial "the server's certificate: self-signed certificate in certificate chain"
	cmp state.before state/*.state
	marker "$url" --ca "$RSYSLOG_CA/ca.pem"
	cmp <(head -n 20 all.jsonl) <(received)
	run -0 psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" s.jsonl
	marker "$url" --ca "$RSYSLOG_CA/ca.pem"
	cmp all.jsonl <(received)
	[ "$(state_value lines)" -eq 30 ]
}

@test "psm-ship: syslog+tls: the certificate must carry the name: --server-name it lacks is refused (exit 1); localhost by name works" {
	events 20 > s.jsonl
	rsyslog_start tls
	run -1 --separate-stderr psm-ship --state state --to "syslog+tls://127.0.0.1:$RSYSLOG_PORT" \
		--ca "$RSYSLOG_CA/ca.pem" --server-name siem.example s.jsonl
	assert_stderr --partial "TLS handshake: the server's certificate: hostname mismatch"
	no_state
	run -1 --separate-stderr psm-ship --state state --to "syslog+tls://127.0.0.1:$RSYSLOG_PORT" \
		--ca "$RSYSLOG_CA/ca.pem" --server-name 127.0.0.2 s.jsonl
	assert_stderr --partial "TLS handshake: the server's certificate: IP address mismatch"
	no_state
	# By name; then by address with the name to check (another destination: a state of its own).
	run -0 --separate-stderr psm-ship --state state --to "syslog+tls://localhost:$RSYSLOG_PORT" \
		--ca "$RSYSLOG_CA/ca.pem" s.jsonl
	run -0 --separate-stderr psm-ship --state state --to "syslog+tls://127.0.0.1:$RSYSLOG_PORT" \
		--ca "$RSYSLOG_CA/ca.pem" --server-name localhost s.jsonl
	rsyslog_count 40
	cmp <(cat s.jsonl s.jsonl) "$RSYSLOG_DIR/messages"
}

@test "psm-ship: syslog+tls: a receiver that wants a client certificate refuses us without one (exit 1) and takes us with --cert and --key" {
	events 20 > s.jsonl
	rsyslog_start tls-client
	url=syslog+tls://127.0.0.1:$RSYSLOG_PORT
	# Ten times: in TLS 1.3 the server's refusal comes after our handshake is
	# over, and a batch must not count as delivered before it.
	for i in $(seq 10); do
		run -1 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" s.jsonl
		assert_stderr --partial "psm-ship: $url: TLS handshake: the server refused our certificate: "
		no_state
	done
	# A certificate of a CA that the receiver does not trust: the same.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=stranger \
		-days 1 -keyout stranger.key -out stranger.pem 2>/dev/null
	chmod 600 stranger.key
	run -1 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" \
		--cert stranger.pem --key stranger.key s.jsonl
	assert_stderr --partial "psm-ship: $url: TLS handshake: the server refused our certificate: "
	no_state
	run -0 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" \
		--cert "$RSYSLOG_CA/client.pem" --key "$RSYSLOG_CA/client.key" s.jsonl
	marker "$url" --ca "$RSYSLOG_CA/ca.pem" --cert "$RSYSLOG_CA/client.pem" --key "$RSYSLOG_CA/client.key"
	cmp s.jsonl <(received)
}

@test "psm-ship: syslog+tls: a --key that others may read is refused, named, with chmod 600; nothing is sent" {
	events 20 > s.jsonl
	rsyslog_start tls-client
	cp "$RSYSLOG_CA/client.key" open.key
	chmod 644 open.key
	url=syslog+tls://127.0.0.1:$RSYSLOG_PORT
	run -4 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" \
		--cert "$RSYSLOG_CA/client.pem" --key open.key s.jsonl
	assert_stderr "psm-ship: open.key: readable by others: chmod 600"
	no_state
	chmod 640 open.key
	run -4 --separate-stderr psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" \
		--cert "$RSYSLOG_CA/client.pem" --key open.key s.jsonl
	assert_stderr "psm-ship: open.key: readable by others: chmod 600"
	chmod 600 open.key
	run -0 psm-ship --state state --to "$url" --ca "$RSYSLOG_CA/ca.pem" \
		--cert "$RSYSLOG_CA/client.pem" --key open.key s.jsonl
	marker "$url" --ca "$RSYSLOG_CA/ca.pem" --cert "$RSYSLOG_CA/client.pem" --key "$RSYSLOG_CA/client.key"
	cmp s.jsonl <(received)
}

@test "psm-ship: TLS options for syslog+tcp or relp are a usage error (exit 2)" {
	events 3 > s.jsonl
	run -2 --separate-stderr psm-ship --state state --to syslog+tcp://127.0.0.1:514 --ca ca.pem s.jsonl
	assert_stderr --partial "psm-ship: syslog+tcp: --ca, --cert, --key and --server-name are for syslog+tls://"
	run -2 --separate-stderr psm-ship --state state --to relp://127.0.0.1:514 --server-name x s.jsonl
	assert_stderr --partial "psm-ship: relp: --ca, --cert, --key and --server-name are for syslog+tls://"
	run -2 --separate-stderr psm-ship --state state --to syslog+tls://127.0.0.1:514 --cert c.pem s.jsonl
	assert_stderr --partial "a client certificate needs its key, and a key its certificate"
	no_state
}

# ---- 4-7. failures: the receiver killed, psm-ship killed, nobody there -------

# first_copies FILE: FILE's lines, each at its first copy, in the order they came.
first_copies() { awk '!seen[$0]++' "$1"; }

# every_line SOURCE: each line of SOURCE is at the receiver (copies allowed),
# nothing else is, and the first copies come in SOURCE's order.
every_line() {
	local total distinct missing
	total=$(wc -l < "$RSYSLOG_DIR/messages")
	distinct=$(distinct)
	missing=$(comm -23 <(sort -u "$1") <(sort -u "$RSYSLOG_DIR/messages") | wc -l)
	echo "# $1: $(wc -l < "$1") lines; the receiver has $total, $distinct distinct ($((total - distinct)) copies), $missing missing"
	[ "$missing" -eq 0 ] || fail "$missing lines of $1 never arrived ($total received, $distinct distinct)"
	cmp <(sort -u "$1") <(sort -u "$RSYSLOG_DIR/messages") || fail "the receiver has lines that $1 has not"
	[ "$distinct" -eq "$(wc -l < "$1")" ]
	cmp "$1" <(first_copies "$RSYSLOG_DIR/messages") || fail "the first copies are not in the order of $1"
}

# seccomp_on PID: the process is under a seccomp filter (psm-ship: from
# before it reads its first line).
seccomp_on() { grep -q '^Seccomp:[[:space:]]*2$' "/proc/$1/status"; }

# arrived N PID: wait until the receiver has N messages while psm-ship (PID,
# its stderr in ship.err) runs; fail, saying how it ended, if it ends first.
arrived() {
	local rc=0
	wait_for 30 eval '[ "$(rsyslog_lines)" -ge '"$1"' ] || ! kill -0 '"$2"' 2>/dev/null' || true
	if ! kill -0 "$2" 2>/dev/null; then
		wait "$2" || rc=$?
		fail "psm-ship ended (exit $rc) with $(rsyslog_lines) of $1 messages in: $(cat ship.err)"
	fi
	[ "$(rsyslog_lines)" -ge "$1" ] || fail "$(rsyslog_lines) of $1 messages in after 30 s: $(cat ship.err)"
}

@test "psm-ship: relp: 100,000 events while the receiver is killed (SIGKILL) and restarted 5 times: exit 0, every line arrives, copies allowed" {
	events 100000 8 > s.jsonl
	rsyslog_start relp
	psm-ship --state state --to "relp://127.0.0.1:$RSYSLOG_PORT" --retry-for 60s --batch 1000 -v \
		s.jsonl 2> ship.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	SECONDS=0
	for i in 1 2 3 4 5; do
		arrived $((i * 15000)) "$pid"
		# Confined since its first batch: it connects again under seccomp.
		wait_for 5 seccomp_on "$pid" || fail "psm-ship is not under seccomp: $(grep Seccomp "/proc/$pid/status")"
		rsyslog_kill
		rsyslog_restart
	done
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "psm-ship: exit $rc: $(cat ship.err)"
	echo "# shipped in $SECONDS s: $(tail -n 1 ship.err)"
	grep -q 'retrying in' ship.err
	retries=$(sed -n 's/.* lines in .*, \([0-9]*\) retries; .*/\1/p' ship.err)
	[ "$retries" -ge 5 ] || fail "$retries retries: $(cat ship.err)"
	every_line s.jsonl
	[ "$(state_value lines)" -eq 100000 ]
}

@test "psm-ship: relp: psm-ship killed (SIGKILL) in the middle of 100,000 lines: run again, every line arrives, at most a batch twice" {
	events 100000 > s.jsonl
	rsyslog_start relp
	psm-ship --state state --to "relp://127.0.0.1:$RSYSLOG_PORT" --batch 1000 s.jsonl 2> ship.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	arrived 30000 "$pid"
	kill -KILL "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 137 ]
	acked=$(state_value lines)
	[ "$acked" -gt 0 ] && [ "$acked" -lt 100000 ] && [ $((acked % 1000)) -eq 0 ]
	run -0 --separate-stderr psm-ship --state state --to "relp://127.0.0.1:$RSYSLOG_PORT" -v s.jsonl
	assert_stderr --partial "psm-ship: s.jsonl: $((100000 - acked)) lines "
	every_line s.jsonl
	# The state was at most one batch behind the receiver.
	[ $(( $(wc -l < "$RSYSLOG_DIR/messages") - 100000 )) -le 1000 ]
}

@test "psm-ship: relp: the receiver stopped for longer than --retry-for: exit 4, gave up after, the state no further than the receiver; the next run completes" {
	events 100000 > s.jsonl
	rsyslog_start relp
	url=relp://127.0.0.1:$RSYSLOG_PORT
	psm-ship --state state --to "$url" --retry-for 2s --batch 1000 -v s.jsonl 2> ship.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	arrived 20000 "$pid"
	rsyslog_stop
	SECONDS=0
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 4 ] || fail "exit $rc: $(cat ship.err)"
	[ "$SECONDS" -le 6 ]
	[[ $(tail -n 3 ship.err) == *"psm-ship: gave up after 2."[0-9]" s: $url: connect: Connection refused"$'\n'* ]] ||
		fail "$(cat ship.err)"
	grep -q 'retrying in' ship.err
	acked=$(state_value lines)
	[ "$acked" -ge 20000 ] && [ "$acked" -lt 100000 ]
	[ "$acked" -le "$(distinct)" ]
	[ "$(state_value offset)" -eq "$(head -n "$acked" s.jsonl | wc -c)" ]
	# Every line that the state counts as delivered is at the receiver.
	[ -z "$(comm -23 <(head -n "$acked" s.jsonl | sort -u) <(sort -u "$RSYSLOG_DIR/messages"))" ]
	rsyslog_restart
	run -0 --separate-stderr psm-ship --state state --to "$url" -v s.jsonl
	assert_stderr --partial "psm-ship: s.jsonl: $((100000 - acked)) lines "
	every_line s.jsonl
}

@test "psm-ship: nothing listening: exit 4 after --retry-for, saying each retry with -v; no state" {
	events 10 > s.jsonl
	port=$(free_port)
	for url in "relp://127.0.0.1:$port" "syslog+tcp://127.0.0.1:$port"; do
		SECONDS=0
		run -4 --separate-stderr psm-ship --state state --to "$url" --retry-for 1s -v s.jsonl
		[ "$SECONDS" -le 3 ]
		assert_stderr --partial "psm-ship: $url: connect: Connection refused (retrying in "
		[[ $stderr == *"psm-ship: gave up after 1."[0-9]" s: $url: connect: Connection refused"* ]] ||
			fail "$stderr"
		assert_stderr --partial "psm-ship: s.jsonl: 0 lines (0 bytes) to $url"
		no_state
		# Without -v, only the end.
		run -4 --separate-stderr psm-ship --state state --to "$url" --retry-for 500ms s.jsonl
		[[ $stderr == "psm-ship: gave up after 0."[5-9]" s: $url: connect: Connection refused" ]] ||
			fail "$stderr"
	done
}

@test "psm-ship: relp: a receiver that stops answering is a failure after --timeout, retried, then given up (exit 4); once it answers, the next run completes" {
	events 5000 > s.jsonl
	rsyslog_start relp
	url=relp://127.0.0.1:$RSYSLOG_PORT
	kill -STOP "$RSYSLOG_PID"
	SECONDS=0
	run -4 --separate-stderr psm-ship --state state --to "$url" --timeout 1s --retry-for 2s -v s.jsonl
	[ "$SECONDS" -le 6 ]
	assert_stderr --partial "psm-ship: $url: waiting for an answer: timed out after 1 s (retrying in "
	[[ $stderr == *"psm-ship: gave up after "[2-4].[0-9]" s: $url: waiting for an answer: timed out after 1 s"* ]] ||
		fail "$stderr"
	no_state
	kill -CONT "$RSYSLOG_PID"
	run -0 psm-ship --state state --to "$url" s.jsonl
	every_line s.jsonl
}

# ---- 8. plain syslog over TCP across a receiver's restart ---------------------

@test "psm-ship: syslog+tcp: the receiver killed and restarted between two runs: the second run's lines arrive on a new connection" {
	events 2000 > all.jsonl
	head -n 1000 all.jsonl > s.jsonl
	rsyslog_start tcp
	url=syslog+tcp://127.0.0.1:$RSYSLOG_PORT
	run -0 psm-ship --state state --to "$url" s.jsonl
	rsyslog_count 1000
	rsyslog_kill
	rsyslog_restart
	tail -n 1000 all.jsonl >> s.jsonl
	run -0 --separate-stderr psm-ship --state state --to "$url" -v s.jsonl
	assert_stderr --partial "psm-ship: s.jsonl: 1000 lines "
	rsyslog_count 2000
	marker "$url"
	cmp all.jsonl <(received)
}

# follow_across_restart MODE SCHEME [TLS OPTIONS]: psm-ship --follow ships
# 1000 lines, the receiver is killed and restarted, 1000 more are added.
follow_across_restart() {
	local mode=$1 scheme=$2 url
	shift 2
	events 2000 > all.jsonl
	head -n 1000 all.jsonl > s.jsonl
	rsyslog_start "$mode"
	url=$scheme://127.0.0.1:$RSYSLOG_PORT
	psm-ship --state state --to "$url" "$@" --follow -v s.jsonl 2> ship.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	arrived 1000 "$pid"
	wait_for 5 seccomp_on "$pid"
	# Delivered, not only arrived: in TLS 1.3 the receiver's word on our
	# certificate comes after the lines; killed before it, they go again.
	wait_for 10 eval '[ "$(state_value lines)" = 1000 ]'
	rsyslog_kill
	rsyslog_restart
	tail -n 1000 all.jsonl >> s.jsonl
	arrived 2000 "$pid"
	grep -q 'retrying in' ship.err
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat ship.err)"
	grep -q 'psm-ship: s.jsonl: 2000 lines ' ship.err
	marker "$url" "$@"
	cmp all.jsonl <(received)
}

@test "psm-ship: syslog+tcp: --follow goes on across a receiver killed and restarted while it waits (a new connection, under seccomp)" {
	follow_across_restart tcp syslog+tcp
}

@test "psm-ship: syslog+tls: --follow goes on across a receiver killed and restarted: a new TLS handshake with a client certificate, under seccomp" {
	RSYSLOG_CA=$BATS_TEST_TMPDIR/ca
	make_test_ca "$RSYSLOG_CA"
	follow_across_restart tls-client syslog+tls --ca "$RSYSLOG_CA/ca.pem" \
		--cert "$RSYSLOG_CA/client.pem" --key "$RSYSLOG_CA/client.key"
}

# ---- 10. --follow over RELP --------------------------------------------------

@test "psm-ship: relp: --follow ships lines as they are appended, a line only once it has its newline; SIGTERM ends it with 0" {
	events 3000 > all.jsonl
	head -n 10 all.jsonl > s.jsonl
	rsyslog_start relp
	url=relp://127.0.0.1:$RSYSLOG_PORT
	psm-ship --state state --to "$url" --follow -v s.jsonl 2> ship.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	arrived 10 "$pid"
	wait_for 5 seccomp_on "$pid"
	sed -n 11,2000p all.jsonl >> s.jsonl
	arrived 2000 "$pid"
	# Half a line: it waits for its newline. (The pause gives psm-ship, which
	# looks every 0.2 s, the time to see the half line: there is nothing to poll.)
	line=$(sed -n 2001p all.jsonl)
	printf '%s' "${line:0:40}" >> s.jsonl
	sleep 0.5
	printf '%s\n' "${line:40}" >> s.jsonl
	arrived 2001 "$pid"
	sed -n '2002,$p' all.jsonl >> s.jsonl
	arrived 3000 "$pid"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat ship.err)"
	grep -q "psm-ship: s.jsonl: 3000 lines " ship.err
	marker "$url"
	cmp all.jsonl <(received)
	[ "$(state_value lines)" -eq 3000 ]
}
