#!/usr/bin/env bats
# The PostgreSQL sink (lib/sink_pg.c) against a real server: tests/lib/test-sink-pg
# ship URL FILE BATCH [retry] sends a file's lines as psm-ship does.
load helpers
load postgres

SHIP=$PSM_BIN/../tests/lib/test-sink-pg

# lines N: N lines of sessions of 500 events as psm-record writes them (escapes,
# UTF-8, a backslash, quotes), 4 sessions interleaved.
lines() {
	awk -v n="$1" 'BEGIN {
		for (i = 0; i < n; i++) {
			s = int(i / 2000) * 4 + i % 4; k = int(i / 4) % 500
			sid = sprintf("%08x-6c1d-4b7e-a0f3-%012x", s, s)
			if (k == 0)
				printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1,\"time\":\"2026-11-24T09:14:02.518203Z\",\"user\":\"alice\",\"uid\":1000,\"gid\":1000,\"loginuid\":1000,\"host\":\"db1\",\"tty\":\"/dev/pts/3\",\"term\":\"xterm-256color\",\"cols\":80,\"rows\":24,\"cwd\":\"/home/alice\",\"argv\":[\"-bash\"],\"mode\":\"pty\",\"input\":true,\"pid\":48213,\"psm\":\"0.1.0\",\"setuid\":false,\"escrow\":false}\n", sid
			else if (k == 499)
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":%d}\n", sid, k, k * 1000, k * 1000 + 7
			else
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"line %d: café\\t\\\"quoted\\\" C:\\\\tmp \\u001b[0m\\r\\nroot@db1:~# \"}\n", sid, k, k * 1000, i
		}
	}'
}

# has_rows [WHERE ...]: psm_lines has rows (that match).
has_rows() {
	[ "$(pg_psql "SELECT count(*) > 0 FROM psm_lines $*" 2>/dev/null)" = t ]
}

stored() {
	pg_psql "SELECT line FROM psm_lines ORDER BY file, file_line"
}

setup_file() {
	pg_start
}

teardown_file() {
	pg_teardown
}

setup() {
	[ -x "$SHIP" ] || fail "$SHIP is not built (make libtests)"
	cd "$BATS_TEST_TMPDIR"
	pg_psql "DROP TABLE IF EXISTS psm_lines"
	BG_PIDS=()
}

teardown() {
	stop_background
	pg_resume 2>/dev/null || true
}

@test "sink-pg: 20,000 lines arrive as 20,000 rows, byte for byte" {
	lines 20000 > rec.jsonl
	run -0 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 1000
	assert_output 'shipped 20000 lines'
	stored > back.jsonl
	cmp back.jsonl rec.jsonl
	run -0 pg_psql "SELECT count(*), count(DISTINCT sid), min(host), min(file), count(stream)
		FROM psm_lines"
	assert_output "20000|40|shipper1|$PWD/rec.jsonl|0"
}

@test "sink-pg: lines sent again, alone or with new ones, are not stored twice" {
	lines 10000 > rec.jsonl
	head -n 3500 rec.jsonl > part.jsonl
	run -0 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 2000
	run -0 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 2000
	[ "$(pg_psql 'SELECT count(*) FROM psm_lines')" -eq 10000 ]
	# Batches that straddle what is there and what is not.
	pg_psql "DELETE FROM psm_lines WHERE file_line > 3500"
	run -0 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 3000
	stored > back.jsonl
	cmp back.jsonl rec.jsonl
}

@test "sink-pg: the server killed mid-run: an error, then after its restart every line once" {
	lines 60000 > rec.jsonl
	PSM_TEST_TIMEOUT=2000000 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 500 retry \
		> out 2> err 3>&- &
	BG_PIDS+=($!)
	wait_for 30 has_rows
	pg_kill
	wait_for 30 grep -q '^send: OS: ' err
	pg_restart
	wait_for 60 test -s out
	assert_equal "$(cat out)" 'shipped 60000 lines'
	stored > back.jsonl
	cmp back.jsonl rec.jsonl
}

@test "sink-pg: a server that stops answering is an error after the timeout, not a hang" {
	lines 2000 > rec.jsonl
	pg_pause
	SECONDS=0
	PSM_TEST_TIMEOUT=1000000 run -4 --separate-stderr "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 1000
	[ "$SECONDS" -lt 10 ]
	assert_stderr --partial ': no answer in 1 s'
	pg_resume
	# Stopped in the middle of a batch: the same.
	run -0 "$SHIP" ship "$PG_URL" "$PWD/rec.jsonl" 1000
	lines 40000 > more.jsonl
	PSM_TEST_TIMEOUT=1000000 "$SHIP" ship "$PG_URL" "$PWD/more.jsonl" 200 > out 2> err 3>&- &
	BG_PIDS+=($!)
	wait_for 30 has_rows "WHERE file LIKE '%more.jsonl'"
	pg_pause
	wait_for 10 grep -q 'no answer in 1 s' err
	pg_resume
}

@test "sink-pg: a password from a file of mode 600; a wrong one is the server's no" {
	lines 100 > rec.jsonl
	printf '%s\n' "$PG_PASSWORD" > pw
	chmod 600 pw
	PSM_TEST_PASSWORD_FILE=$PWD/pw run -0 "$SHIP" ship "$PG_TCP_URL" "$PWD/rec.jsonl" 100
	chmod 644 pw
	PSM_TEST_PASSWORD_FILE=$PWD/pw run -4 --separate-stderr "$SHIP" ship "$PG_TCP_URL" "$PWD/rec.jsonl" 100
	assert_stderr --partial "new: OS: $PWD/pw: readable by others: chmod 600"
	printf 'not-the-password\n' > pw
	chmod 600 pw
	PSM_TEST_PASSWORD_FILE=$PWD/pw run -1 --separate-stderr "$SHIP" ship "$PG_TCP_URL" "$PWD/rec.jsonl" 100
	assert_stderr --partial 'connect: NO: postgresql://psm@127.0.0.1:'
	assert_stderr --partial 'password authentication failed for user "psm"'
	[[ $stderr != *not-the-password* ]]
	run -1 --separate-stderr "$SHIP" ship "$PG_TCP_URL" "$PWD/rec.jsonl" 100
	assert_stderr --partial 'no password supplied'
	PGPASSWORD=$PG_PASSWORD run -0 "$SHIP" ship "$PG_TCP_URL" "$PWD/rec.jsonl" 100
}

@test "sink-pg: a URL that carries a password is refused without echoing it" {
	run -2 --separate-stderr "$SHIP" ship "postgresql://psm:$PG_PASSWORD@127.0.0.1:$PG_PORT/psm" /dev/null 1
	assert_stderr 'new: USAGE: the URL carries a password: put it in a file (--password-file) or PGPASSWORD/~/.pgpass'
}

@test "sink-pg: into the schema search_path names, by a role that may only insert" {
	lines 3000 > rec.jsonl
	pg_psql "CREATE SCHEMA IF NOT EXISTS audit; DROP ROLE IF EXISTS shipper; CREATE ROLE shipper LOGIN"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL&options=-csearch_path%3Daudit" \
		-f "$BATS_TEST_DIRNAME/../share/psm/ship-views.sql"
	pg_psql "GRANT USAGE ON SCHEMA audit TO shipper; GRANT INSERT ON audit.psm_lines TO shipper"
	url="postgresql:///psm?host=$PG_SOCK&port=$PG_PORT&user=shipper&options=-csearch_path%3Daudit"
	run -0 "$SHIP" ship "$url" "$PWD/rec.jsonl" 1000
	run -0 "$SHIP" ship "$url" "$PWD/rec.jsonl" 700
	[ "$(pg_psql 'SELECT count(*) FROM audit.psm_lines')" -eq 3000 ]
	[ "$(pg_psql "SELECT count(*) FROM psm_sessions" 2>/dev/null || echo none)" = none ]
	[ "$(pg_psql "SET search_path = audit; SELECT count(*) FROM psm_sessions")" -eq 8 ]
	# Without INSERT, the server's no.
	pg_psql "REVOKE INSERT ON audit.psm_lines FROM shipper"
	run -1 --separate-stderr "$SHIP" ship "$url" "$PWD/rec.jsonl" 1000
	assert_stderr --partial 'permission denied for table psm_lines (SQLSTATE 42501)'
	pg_psql "DROP SCHEMA audit CASCADE; DROP OWNED BY shipper; DROP ROLE shipper"
}
