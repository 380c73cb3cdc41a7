#!/usr/bin/env bats
# share/psm/ship-views.sql: the views of the lines psm-ship stores in PostgreSQL,
# against a real server (tests/postgres.bash) and lines stored as the sink stores them.
load helpers
load postgres

VIEWS=$BATS_TEST_DIRNAME/../share/psm/ship-views.sql

# Three sessions as psm-record writes them (psm-stream(5)): alice's, which
# ended; bob's, killed by a signal; carol's, still open.
sessions() {
	cat <<-'EOF'
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":0,"t":0,"type":"start","version":1,"time":"2026-11-24T09:14:02.518203Z","user":"alice","uid":1000,"gid":1000,"loginuid":1000,"host":"db1","tty":"/dev/pts/3","term":"xterm-256color","cols":80,"rows":24,"cwd":"/home/alice","argv":["sudo","-i"],"mode":"pty","input":true,"pid":48213,"psm":"0.1.0","setuid":false,"escrow":false}
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":1,"t":6120,"type":"out","data":"[sudo] password for alice: "}
	{"sid":"2b6f0c1e-8d4a-4f3b-9e21-7c5d3a1f0e98","seq":0,"t":0,"type":"start","version":1,"time":"2026-11-24T10:00:00.000001Z","user":"bob","uid":1001,"gid":1001,"loginuid":1001,"host":"web2","tty":null,"term":null,"cols":80,"rows":24,"cwd":"/srv","argv":["/bin/bash","-c","sleep 100"],"mode":"pipes","input":true,"pid":5001,"psm":"0.1.0","setuid":false,"escrow":false}
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":2,"t":3204518,"type":"withheld","stream":"in","bytes":13,"reason":"echo-off"}
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":3,"t":3391007,"type":"out","data":"\r\nroot@db1:~# "}
	{"sid":"2b6f0c1e-8d4a-4f3b-9e21-7c5d3a1f0e98","seq":1,"t":1500000,"type":"end","reason":"exit","exit":137,"signal":9,"duration":1500002}
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":4,"t":5880412,"type":"in","data":"exit\r"}
	{"sid":"5d0e6a7b-3c2f-4e1d-8a9b-0f1e2d3c4b5a","seq":0,"t":0,"type":"start","version":1,"time":"2026-11-24T11:30:00.250000Z","user":"carol","uid":1002,"gid":1002,"loginuid":null,"host":"db1","tty":"/dev/pts/7","term":"screen","cols":120,"rows":40,"cwd":null,"argv":["-bash"],"mode":"pty","input":true,"pid":7777,"psm":"0.1.0","setuid":true,"escrow":false}
	{"sid":"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05","seq":5,"t":9030114,"type":"end","reason":"exit","exit":0,"duration":9030117}
	{"sid":"5d0e6a7b-3c2f-4e1d-8a9b-0f1e2d3c4b5a","seq":1,"t":900,"type":"out","data":"carol$ "}
	EOF
}

# store FILE HOST: FILE's lines into psm_lines as the sink stores them (id the
# SHA-256 of the line; stream and stream_line left NULL), a line there already skipped.
store() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" <<-EOF
	CREATE TEMP TABLE raw (n serial, line text);
	\copy raw (line) FROM '$1' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
	INSERT INTO psm_lines (id, line, sid, seq, type, t, host, file, file_line)
	SELECT sha256(convert_to(line, 'UTF8')), line, (line::jsonb->>'sid')::uuid,
	       (line::jsonb->>'seq')::bigint, line::jsonb->>'type', (line::jsonb->>'t')::bigint,
	       '$2', '$1', n
	FROM raw ORDER BY n
	ON CONFLICT DO NOTHING;
	EOF
}

setup_file() {
	pg_start
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" -f "$VIEWS"
	cd "$BATS_FILE_TMPDIR"
	sessions > rec.jsonl
	psm-keygen -o k --no-passphrase
	psm-seal -k k.key rec.jsonl > sealed.jsonl
	store "$BATS_FILE_TMPDIR/rec.jsonl" shipper1
	store "$BATS_FILE_TMPDIR/sealed.jsonl" shipper2
	store "$BATS_FILE_TMPDIR/rec.jsonl" shipper1
}

teardown_file() {
	pg_teardown
}

@test "psm-ship views: the file can be run again on a database that has them" {
	run -0 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" -f "$VIEWS"
}

@test "psm-ship views: lines shipped twice, and sealed too, are one row per line" {
	# 10 lines, their 10 sealed forms, and psm-seal's checkpoints and seal.
	local sealed
	sealed=$(wc -l < "$BATS_FILE_TMPDIR/sealed.jsonl")
	run -0 pg_psql "SELECT count(*) FROM psm_lines"
	[ "$output" -eq $(( 10 + sealed )) ]
}

@test "psm-ship views: psm_sessions has one row per session, from its start and end" {
	run -0 pg_psql "SELECT sid, user_name, uid, host, tty, cwd, argv, started, ended, duration,
		reason, exit, signal, events, shipped_from FROM psm_sessions ORDER BY started"
	assert_line -n 0 '9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05|alice|1000|db1|/dev/pts/3|/home/alice|["sudo", "-i"]|2026-11-24 09:14:02.518203+00|2026-11-24 09:14:11.54832+00|00:00:09.030117|exit|0||6|shipper2'
	assert_line -n 1 '2b6f0c1e-8d4a-4f3b-9e21-7c5d3a1f0e98|bob|1001|web2||/srv|["/bin/bash", "-c", "sleep 100"]|2026-11-24 10:00:00.000001+00|2026-11-24 10:00:01.500003+00|00:00:01.500002|exit|137|9|2|shipper2'
	assert_line -n 2 '5d0e6a7b-3c2f-4e1d-8a9b-0f1e2d3c4b5a|carol|1002|db1|/dev/pts/7||["-bash"]|2026-11-24 11:30:00.25+00||||||2|shipper2'
	[ "${#lines[@]}" -eq 3 ]
}

@test "psm-ship views: psm_session_lines gives a session's events in order, each once, sealed" {
	run -0 pg_psql "SELECT seq, t, type, line::jsonb ? 'h' FROM psm_session_lines('9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05')"
	assert_output "$(printf '%s\n' 0\|0\|start\|t 1\|6120\|out\|t 2\|3204518\|withheld\|t \
		3\|3391007\|out\|t 4\|5880412\|in\|t 5\|9030114\|end\|t)"
}

@test "psm-ship views: without the sealed copies an event's line is the one psm-record wrote" {
	run -0 pg_psql "SELECT line FROM psm_session_events
		WHERE sid = '2b6f0c1e-8d4a-4f3b-9e21-7c5d3a1f0e98' AND NOT sealed"
	[ -z "$output" ]
	run -0 pg_psql "BEGIN; DELETE FROM psm_lines WHERE line::jsonb ? 'h';
		SELECT line FROM psm_session_lines('2b6f0c1e-8d4a-4f3b-9e21-7c5d3a1f0e98'); ROLLBACK"
	assert_output "$(sessions | grep 2b6f0c1e)"
}

@test "psm-ship views: two versions of one event are both shown, not one chosen" {
	run -0 pg_psql "BEGIN;
		INSERT INTO psm_lines (id, line, sid, seq, type, t, host, file, file_line)
		SELECT sha256(convert_to(l, 'UTF8')), l, '9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05', 4, 'in',
		       5880412, 'shipper3', '/var/log/psm/x.jsonl', 7
		FROM (VALUES ('{\"sid\":\"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05\",\"seq\":4,\"t\":5880412,\"type\":\"in\",\"data\":\"rm -rf /\\r\"}')) v(l);
		SELECT seq, type, line::jsonb->>'data' FROM psm_session_lines('9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05')
		WHERE seq = 4;
		SELECT events FROM psm_sessions WHERE sid = '9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05';
		ROLLBACK"
	assert_output "$(printf '4|in|exit\r\n4|in|rm -rf /\r\n7')"
}

@test "psm-ship views: a filter on sid uses the index on (sid, seq)" {
	run -0 pg_psql "SET enable_seqscan = off;
		EXPLAIN SELECT * FROM psm_session_events WHERE sid = '9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05'"
	assert_output --partial 'psm_lines_sid_seq'
}
