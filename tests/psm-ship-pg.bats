#!/usr/bin/env bats
# psm-ship into a real PostgreSQL (tests/postgres.bash), end to end: the command, its state
# and its sandbox, with the server killed, stopped and paused under it. The sink alone is
# tested by sink-pg.bats, the views by psm-ship-views.bats.
load helpers
load postgres

N=100000	# events in the big stream

# events N TAG: N events in psm-stream(5) form, 8 sessions interleaved, each with its
# start and end; TAG (a number) goes into the sids and the data, so that two streams
# made with other tags share no line (a row's key is the line's hash).
events() {
	awk -v n="$1" -v tag="$2" 'BEGIN {
		ns = 8
		for (i = 0; i < n; i++) {
			s = i % ns + 1; k = int(i / ns)
			sid = sprintf("%08x-%04x-4b7e-a0f3-%012x", s, tag, s)
			if (k == 0)
				printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1,\"time\":\"2026-11-24T09:14:02.518203Z\",\"user\":\"alice\",\"uid\":1000,\"host\":\"db1\",\"argv\":[\"-bash\"],\"cols\":80,\"rows\":24}\n", sid
			else if (i >= n - ns)
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":%d}\n", sid, k, k * 1000, k * 1000 + 7
			else
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"%d/%d: café \\\"q\\\" C:\\\\tmp \\u001b[0m\\t\\r\\n$ \"}\n", sid, k, k * 1000, tag, i
		}
	}'
}

# rows_over N: psm_lines has more than N rows (false while the server is down).
rows_over() {
	[ "$(pg_psql "SELECT count(*) > $1 FROM psm_lines" 2>/dev/null)" = t ]
}

# shipping PID N: wait until psm_lines has more than N rows, PID (psm-ship) still running.
shipping() {
	wait_for 60 rows_or_ended "$1" "$2" || fail "not over $2 rows after 60 s: $(cat err)"
	! ended "$1" || fail "psm-ship ended before there were $2 rows: $(cat err)"
}
rows_or_ended() {
	ended "$1" || rows_over "$2"
}

rows() {
	pg_psql "SELECT count(*) FROM psm_lines"
}

# state_lines DIR: the lines acknowledged, from the one state file in DIR.
state_lines() {
	local f=("$1"/*.state)
	[ "${#f[@]}" -eq 1 ] && [ -f "${f[0]}" ] || fail "not one state file in $1: ${f[*]}"
	sed -n 's/^lines //p' "${f[0]}"
}

# ended PID: the process is gone (or a zombie).
ended() {
	! kill -0 "$1" 2>/dev/null || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# finish PID SECONDS: wait at most SECONDS for the background PID to end; its status in rc.
finish() {
	wait_for "$2" ended "$1" || fail "still running after $2 s: $(cat err 2>/dev/null)"
	rc=0
	wait "$1" || rc=$?
}

# big_stored: the big stream is in psm_lines, every line once, byte for byte.
big_stored() {
	run -0 pg_psql "SELECT count(*), count(DISTINCT id), count(DISTINCT file_line) FROM psm_lines"
	assert_output "$N|$N|$N"
	pg_psql "SELECT line FROM psm_lines ORDER BY file_line" > back.jsonl
	cmp back.jsonl "$BIG"
}

setup_file() {
	pg_start
	events "$N" 1 > "$BATS_FILE_TMPDIR/big.jsonl"
}

teardown_file() {
	pg_teardown
}

setup() {
	BIG=$BATS_FILE_TMPDIR/big.jsonl
	BG_PIDS=()
	cd "$BATS_TEST_TMPDIR"
	pg_psql "SET client_min_messages = warning;
		DROP TABLE IF EXISTS public.psm_lines CASCADE; DROP SCHEMA IF EXISTS audit CASCADE"
}

teardown() {
	stop_background
	pg_resume
	# a test that failed with the server down leaves it running for the next
	[ -n "$(pg_postmaster)" ] || pg_restart
}

@test "psm-ship into PostgreSQL: a recorded stream and its sealed form, a row per line, byte for byte" {
	psm-keygen -o k --no-passphrase
	psm-record -q -o raw.jsonl -- sh -c 'echo hello; printf "caf\303\251 \\\\ \"q\"\n"' \
		</dev/null >/dev/null
	psm-seal -k k.key raw.jsonl > sealed.jsonl
	run -0 --separate-stderr psm-ship --state st --to "$PG_URL" -v raw.jsonl sealed.jsonl
	assert_stderr --partial "raw.jsonl: $(wc -l < raw.jsonl) lines ($(wc -c < raw.jsonl) bytes) to postgresql://psm@/psm?host=$PG_SOCK&port=$PG_PORT"
	assert_stderr --partial "sealed.jsonl: $(wc -l < sealed.jsonl) lines"
	assert_stderr --partial 'delivered means: PostgreSQL committed the rows'
	[ "$(rows)" -eq $(( $(wc -l < raw.jsonl) + $(wc -l < sealed.jsonl) )) ]
	for f in raw sealed; do
		pg_psql "SELECT line FROM psm_lines WHERE file = '$PWD/$f.jsonl' ORDER BY file_line" > back
		cmp back $f.jsonl
	done
	# The columns: the event's, this host, the file; the sealed stream's id (its
	# checkpoint's sid) and place, from 1 at the checkpoint, only for the sealed lines.
	local stream
	stream=$(head -n 1 sealed.jsonl | jq -r .sid)
	{ jq -r --arg f "$PWD/raw.jsonl" --arg h "$(uname -n)" \
		'[.sid, .seq, .type, .t, $h, $f, input_line_number, "-", "-"] | map(tostring) | join("|")' raw.jsonl
	  jq -r --arg f "$PWD/sealed.jsonl" --arg h "$(uname -n)" --arg s "$stream" \
		'[.sid, .seq, .type, .t, $h, $f, input_line_number, $s, input_line_number] | map(tostring) | join("|")' sealed.jsonl
	} > expected
	pg_psql "SELECT sid, seq, type, t, host, file, file_line, coalesce(stream::text, '-'),
		coalesce(stream_line::text, '-') FROM psm_lines ORDER BY file, file_line" > got
	diff expected got
	[ "$(head -n 1 sealed.jsonl | jq -r .type)" = checkpoint ]
	[ "$(tail -n 1 sealed.jsonl | jq -r .type)" = seal ]
	# Again: nothing is sent.
	pg_psql "SELECT id, shipped FROM psm_lines ORDER BY id" > before
	run -0 --separate-stderr psm-ship --state st --to "$PG_URL" -v raw.jsonl sealed.jsonl
	assert_stderr --partial 'raw.jsonl: 0 lines (0 bytes)'
	assert_stderr --partial 'sealed.jsonl: 0 lines (0 bytes)'
	assert_stderr --partial 'psm-ship: 0 lines in '
	pg_psql "SELECT id, shipped FROM psm_lines ORDER BY id" > after
	cmp before after
}

@test "psm-ship into PostgreSQL: the server killed and restarted 5 times in 100,000 lines: each line once" {
	psm-ship --state st --batch 1000 --retry-for 60s -v --to "$PG_URL" "$BIG" > out 2> err 3>&- &
	local pid=$! k
	BG_PIDS+=("$pid")
	for k in 1 2 3 4 5; do
		shipping "$pid" $(( k * 10000 ))
		# the reconnects that follow happen inside the sandbox
		[ "$k" -gt 1 ] || grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status"
		pg_kill
		pg_restart
	done
	finish "$pid" 120
	[ "$rc" -eq 0 ] || fail "psm-ship exited $rc: $(cat err)"
	grep -q "^psm-ship: $BIG: $N lines " err
	[ "$(sed -n 's/.* \([0-9]*\) retries; .*/\1/p' err)" -ge 5 ] || fail "$(cat err)"
	big_stored
}

@test "psm-ship into PostgreSQL: killed (SIGKILL) mid-shipment, run again: every line, once" {
	psm-ship --state st --batch 1000 --to "$PG_URL" "$BIG" 2> err 3>&- &
	local pid=$! acked stored
	BG_PIDS+=("$pid")
	shipping "$pid" 30000
	kill -KILL "$pid"
	finish "$pid" 10
	[ "$rc" -eq 137 ]
	acked=$(state_lines st)
	stored=$(rows)
	[ "$acked" -ge 1000 ] && [ "$acked" -le "$stored" ] && [ "$stored" -lt "$N" ] ||
		fail "state at $acked lines, $stored rows"
	run -0 --separate-stderr psm-ship --state st -v --to "$PG_URL" "$BIG"
	assert_stderr --partial "$BIG: $(( N - acked )) lines ("
	big_stored
	[ "$(state_lines st)" -eq "$N" ]
}

@test "psm-ship into PostgreSQL: the server stopped: exit 4 after --retry-for, the state no further than the rows; then the rest" {
	psm-ship --state st --batch 1000 --retry-for 2s --to "$PG_URL" "$BIG" > out 2> err 3>&- &
	local pid=$! acked stored where="postgresql://psm@/psm?host=$PG_SOCK&port=$PG_PORT"
	BG_PIDS+=("$pid")
	shipping "$pid" 20000
	pg_stop
	finish "$pid" 30
	[ "$rc" -eq 4 ] || fail "exit $rc: $(cat err)"
	# the destination named once
	[[ $(cat err) == "psm-ship: gave up after 2."[0-9]" s: $where: cannot connect: "* ]] || fail "$(cat err)"
	[ "$(grep -oF "$where" err | wc -l)" -eq 1 ] || fail "$(cat err)"
	pg_restart
	acked=$(state_lines st)
	stored=$(rows)
	[ "$acked" -ge 20000 ] && [ "$acked" -le "$stored" ] && [ "$stored" -lt "$N" ] ||
		fail "state at $acked lines, $stored rows"
	[ "$(pg_psql "SELECT count(*) FROM psm_lines WHERE file_line <= $acked")" -eq "$acked" ]
	run -0 --separate-stderr psm-ship --state st --retry-for 2s -v --to "$PG_URL" "$BIG"
	assert_stderr --partial "$BIG: $(( N - acked )) lines ("
	big_stored
}

@test "psm-ship into PostgreSQL: a server that stops answering (SIGSTOP) is exit 4 in seconds, not a hang" {
	psm-ship --state st --batch 1000 --timeout 1s --retry-for 2s -v --to "$PG_URL" "$BIG" \
		> out 2> err 3>&- &
	local pid=$! acked stored
	BG_PIDS+=("$pid")
	shipping "$pid" 20000
	pg_pause
	SECONDS=0
	finish "$pid" 30
	[ "$rc" -eq 4 ] || fail "exit $rc: $(cat err)"
	[ "$SECONDS" -le 8 ] || fail "exit 4 after $SECONDS s"
	grep -q ': no answer in 1 s (retrying in ' err
	grep -q '^psm-ship: gave up after [23]\.[0-9] s: .*: no answer in 1 s$' err || fail "$(cat err)"
	pg_resume
	acked=$(state_lines st)
	stored=$(rows)
	[ "$acked" -ge 20000 ] && [ "$acked" -le "$stored" ] && [ "$stored" -lt "$N" ] ||
		fail "state at $acked lines, $stored rows"
}

@test "psm-ship into PostgreSQL: passwords from --password-file or PGPASSWORD over TCP, never from the URL, never shown" {
	events 300 6 > rec.jsonl
	# In the URL, either way: a usage error, before any connection, the password not echoed.
	run -2 --separate-stderr psm-ship --state st0 --to "postgresql://psm:$PG_PASSWORD@127.0.0.1:$PG_PORT/psm" rec.jsonl
	assert_stderr --partial "psm-ship: the URL carries a password: put it in a file (--password-file) or PGPASSWORD/~/.pgpass"
	echo "$output$stderr" >> all
	run -2 --separate-stderr psm-ship --state st0 --to "$PG_TCP_URL?password=$PG_PASSWORD" rec.jsonl
	assert_stderr --partial "psm-ship: the URL carries a password: put it in a file (--password-file) or PGPASSWORD/~/.pgpass"
	echo "$output$stderr" >> all
	[ ! -e st0 ]
	# Its file, mode 0644: refused at once, not retried, saying how to fix it.
	printf '%s\n' "$PG_PASSWORD" > pw
	chmod 644 pw
	SECONDS=0
	run -4 --separate-stderr psm-ship --state st1 --retry-for 30s -v --password-file pw --to "$PG_TCP_URL" rec.jsonl
	assert_stderr "psm-ship: pw: readable by others: chmod 600"
	[ "$SECONDS" -lt 10 ] || fail "a password file of mode 0644 was retried for ${SECONDS}s"
	echo "$output$stderr" >> all
	# Mode 0600: delivered, over TCP, by SCRAM.
	chmod 600 pw
	run -0 --separate-stderr psm-ship --state st1 -v --password-file pw --to "$PG_TCP_URL" rec.jsonl
	assert_stderr --partial "rec.jsonl: 300 lines"
	echo "$output$stderr" >> all
	[ "$(pg_psql "SELECT count(*) FROM psm_lines WHERE file = '$PWD/rec.jsonl'")" -eq 300 ]
	# A wrong one: the server's no, exit 1, not retried.
	printf 'not-the-Pg-password\n' > bad
	chmod 600 bad
	SECONDS=0
	run -1 --separate-stderr psm-ship --state st2 -v --password-file bad --to "$PG_TCP_URL" rec.jsonl
	[ "$SECONDS" -lt 10 ]
	assert_stderr --partial 'password authentication failed for user "psm"'
	[[ $stderr != *not-the-Pg-password* ]]
	[[ $stderr != *retrying* ]]
	echo "$output$stderr" >> all
	# None: exit 1. PGPASSWORD: delivered (a state of its own: st1 says all is there).
	run -1 --separate-stderr psm-ship --state st2 -v --to "$PG_TCP_URL" rec.jsonl
	assert_stderr --partial 'no password supplied'
	echo "$output$stderr" >> all
	events 200 7 > more.jsonl
	PGPASSWORD=$PG_PASSWORD run -0 --separate-stderr psm-ship --state st2 -v --to "$PG_TCP_URL" more.jsonl
	assert_stderr --partial "more.jsonl: 200 lines"
	echo "$output$stderr" >> all
	[ "$(rows)" -eq 500 ]
	run grep -rF -e "$PG_PASSWORD" all st1 st2
	[ "$status" -eq 1 ] || fail "the password is shown: $output"
}

@test "psm-ship into PostgreSQL: over TCP, the server restarted mid-run: the sandboxed reconnect takes the password again" {
	printf '%s\n' "$PG_PASSWORD" > pw
	chmod 600 pw
	# a name, resolved once: the reconnects inside the sandbox need no DNS
	psm-ship --state st --batch 1000 --password-file pw -v \
		--to "postgresql://psm@localhost:$PG_PORT/psm" "$BIG" > out 2> err 3>&- &
	local pid=$!
	BG_PIDS+=("$pid")
	shipping "$pid" 20000
	grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status"
	pg_kill
	pg_restart
	finish "$pid" 120
	[ "$rc" -eq 0 ] || fail "psm-ship exited $rc: $(cat err)"
	[ "$(sed -n 's/.* \([0-9]*\) retries; .*/\1/p' err)" -ge 1 ] || fail "$(cat err)"
	big_stored
}

@test "psm-ship into PostgreSQL: a file rotated between runs: its rest under its new name, then the new file" {
	events 1000 8 > all.jsonl
	sed -n 1,600p all.jsonl > h.jsonl
	run -0 psm-ship --state st --to "$PG_URL" h.jsonl
	sed -n 601,800p all.jsonl >> h.jsonl
	mv h.jsonl h.jsonl.1
	sed -n 801,1000p all.jsonl > h.jsonl
	# h.jsonl.1 has just changed: its rest goes, the new file waits for the next run.
	run -0 --separate-stderr psm-ship --state st -v --to "$PG_URL" h.jsonl
	assert_stderr --partial "psm-ship: h.jsonl: rotated: the rest of $PWD/h.jsonl.1 first"
	assert_stderr --partial 'h.jsonl: 200 lines'
	run -0 pg_psql "SELECT file, min(file_line), max(file_line), count(*) FROM psm_lines
		GROUP BY file ORDER BY file"
	assert_output "$PWD/h.jsonl|1|600|600
$PWD/h.jsonl.1|601|800|200"
	# 2 s quiet, as if it were later.
	touch -d '-1 minute' h.jsonl.1
	run -0 --separate-stderr psm-ship --state st -v --to "$PG_URL" h.jsonl
	assert_stderr --partial 'h.jsonl: 200 lines'
	run -0 --separate-stderr psm-ship --state st -v --to "$PG_URL" h.jsonl
	assert_stderr --partial 'h.jsonl: 0 lines'
	run -0 pg_psql "SELECT count(*), count(DISTINCT id) FROM psm_lines"
	assert_output '1000|1000'
	pg_psql "SELECT line FROM psm_lines ORDER BY shipped, file, file_line" > back
	cmp back all.jsonl
	pg_psql "SELECT line FROM psm_lines WHERE file = '$PWD/h.jsonl.1' ORDER BY file_line" > back.1
	cmp back.1 <(sed -n 601,800p all.jsonl)
	pg_psql "SELECT file_line, line FROM psm_lines WHERE file = '$PWD/h.jsonl' AND file_line <= 200
		ORDER BY shipped DESC, file_line LIMIT 200" > back.new
	diff back.new <(sed -n 801,1000p all.jsonl | awk '{ print NR "|" $0 }')
}

@test "psm-ship into PostgreSQL: the views show the recorded session, and its lines in order" {
	run -3 psm-record -q -o rec.jsonl -- sh -c 'echo one; echo two; exit 3' </dev/null
	run -0 psm-ship --state st --to "$PG_URL" rec.jsonl
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" \
		-f "$BATS_TEST_DIRNAME/../share/psm/ship-views.sql"
	local sid time dur
	sid=$(jq -r 'select(.type == "start") | .sid' rec.jsonl)
	time=$(jq -r 'select(.type == "start") | .time' rec.jsonl)
	dur=$(jq -r 'select(.type == "end") | .duration' rec.jsonl)
	run -0 pg_psql "SELECT user_name, host, argv, started = '$time', duration =
		$dur * interval '1 microsecond', reason, exit, shipped_from FROM psm_sessions WHERE sid = '$sid'"
	assert_output "$(id -un)|$(uname -n)|[\"sh\", \"-c\", \"echo one; echo two; exit 3\"]|t|t|exit|3|$(uname -n)"
	pg_psql "SELECT line FROM psm_session_lines('$sid')" > back
	cmp back rec.jsonl
	# psm-ship(1)'s query of the sessions of the day
	run -0 pg_psql "select sid, user_name, host, started, duration, exit from psm_sessions
		where started > now() - interval '1 day'"
	assert_output --regexp "^$sid\|$(id -un)\|$(uname -n)\|"
}

@test "psm-ship into PostgreSQL: a malformed line stops its file at FILE:LINE after the lines before it; the other file goes" {
	events 1000 9 > bad.jsonl
	sed -i '250s/.*/{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":1,"type":"out"}/' bad.jsonl
	events 300 10 > good.jsonl
	run -3 --separate-stderr psm-ship --state st --batch 100 --to "$PG_URL" bad.jsonl good.jsonl
	assert_stderr "psm-ship: bad.jsonl:250: not a psm event (sid, seq, t and type are required)"
	run -0 pg_psql "SELECT file, min(file_line), max(file_line), count(*) FROM psm_lines
		GROUP BY file ORDER BY file"
	assert_output "$PWD/bad.jsonl|1|249|249
$PWD/good.jsonl|1|300|300"
	pg_psql "SELECT line FROM psm_lines WHERE file = '$PWD/bad.jsonl' ORDER BY file_line" > back
	cmp back <(head -n 249 bad.jsonl)
	# Again: the same line stops it, nothing after it goes.
	run -3 --separate-stderr psm-ship --state st --batch 100 -v --to "$PG_URL" bad.jsonl good.jsonl
	assert_stderr --partial "psm-ship: bad.jsonl:250: "
	assert_stderr --partial 'bad.jsonl: 0 lines'
	[ "$(rows)" -eq 549 ]
}

@test "psm-ship into PostgreSQL: the table goes in the schema of the URL's search_path" {
	events 500 11 > rec.jsonl
	pg_psql "CREATE SCHEMA audit"
	run -0 psm-ship --state st --to "$PG_URL&options=-csearch_path%3Daudit" rec.jsonl
	run -0 pg_psql "SELECT count(*), to_regclass('public.psm_lines') IS NULL FROM audit.psm_lines"
	assert_output '500|t'
	pg_psql "SELECT line FROM audit.psm_lines ORDER BY file_line" > back
	cmp back rec.jsonl
}
