#!/usr/bin/env bats
# psm-verify --ca: every session of a sealed stream ran under a grant of the
# grant CA, and within its window. Grants come from tests/lib/test-grant;
# recordings from psm-record --grant, or written by hand with chosen times
# and sealed with psm-seal.
load helpers

T0=1796000000		# 2026-11-30T00:53:20Z: the hand-written grant's not_before
SID=9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	TG=$PSM_BIN/../tests/lib/test-grant
	[ -x "$TG" ] || return 1
	psm-keygen -o host --no-passphrase
	psm-keygen -o ca --no-passphrase
	psm-keygen -o other --no-passphrase
	"$TG" grant ca.key > g.grant
	"$TG" grant ca.key > g2.grant
	"$TG" grant other.key > other.grant
	# T0 to T0 + 900 (15 minutes)
	"$TG" grant ca.key not_before=$T0 expires=$((T0 + 900)) > past.grant
	psm-record --grant g.grant --ca ca.pub -o rec.jsonl -- echo under-grant </dev/null >/dev/null
	psm-record --grant g2.grant --ca ca.pub -o rec2.jsonl -- echo under-grant-2 </dev/null >/dev/null
	psm-record --grant other.grant --ca other.pub -o other.jsonl -- echo other-ca </dev/null >/dev/null
	psm-record -o plain.jsonl -- echo no-grant </dev/null >/dev/null
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR"/* .
	TG=$PSM_BIN/../tests/lib/test-grant
	[ -x "$TG" ] || fail "$TG is not built (make libtests builds it)"
	CA_ID=$(cut -d' ' -f2 ca.pub)
	HOST_ID=$(cut -d' ' -f2 host.pub)
	BG_PIDS=()
}

teardown() {
	stop_background
}

# seal IN OUT: OUT is IN sealed with host.key.
seal() { psm-seal -k host.key "$1" > "$2" || fail "psm-seal $1"; }

# sid FILE: the session id of the first session of FILE.
sid() { head -n 1 "$1" | jq -r .sid; }

# line_of TEXT FILE: the number of the line of FILE that has TEXT.
line_of() { grep -nF -- "$1" "$2" | cut -d: -f1; }

# A session written by hand under past.grant (T0 .. T0 + 900), started at
# T0 + 100 s: its events at t (microseconds) are at T0 + 100 s + t. The
# expiry is t = 800000000.
#   hand_start [START_SECONDS [USER]]: its start event (START_SECONDS after
#   the epoch, default T0 + 100), by USER (default the test's user)
#   hand_event SEQ T TYPE DATA: an event of it
#   hand_end SEQ T: its end event
hand_start() {
	jq -cn --arg sid $SID --arg time "$(date -u -d @"${1:-$((T0 + 100))}" +%Y-%m-%dT%H:%M:%S.000000Z)" \
		--arg user "${2:-$(id -un)}" --arg host "$(hostname)" --rawfile g past.grant \
		'{sid: $sid, seq: 0, t: 0, type: "start", version: 1, time: $time, user: $user, uid: 0,
		  host: $host, argv: ["sh"], grant: ($g | rtrimstr("\n")), grant_id: ($g | fromjson | .id)}'
}
hand_event() { printf '{"sid":"%s","seq":%d,"t":%d,"type":"%s","data":"%s"}\n' $SID "$1" "$2" "$3" "$4"; }
hand_end() { printf '{"sid":"%s","seq":%d,"t":%d,"type":"end","reason":"grant-expired","exit":129,"duration":%d}\n' $SID "$1" "$2" "$2"; }

@test "psm-verify --ca: a sealed recording made under a grant of the CA is OK, and says so" {
	seal rec.jsonl s.jsonl
	run -0 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output --regexp "^s\.jsonl: OK: 3 events, 1 session, sealed by $HOST_ID, under grants of $CA_ID, [0-9TZ:.-]+ \.\. [0-9TZ:.-]+\$"
	run -0 psm-verify -p host.pub --ca ca.pub --json s.jsonl
	run jq -r '"\(.status) \(.ca) \(.grants) \(.sessions)"' <<<"$output"
	assert_output "OK $CA_ID 1 1"
}

@test "psm-verify --ca: without --ca the same file verifies as before: no grant is looked at" {
	seal rec.jsonl s.jsonl
	run -0 psm-verify -p host.pub s.jsonl
	refute_output --partial 'grants'
	assert_output --regexp "^s\.jsonl: OK: 3 events, 1 session, sealed by $HOST_ID, [0-9TZ:.-]+ \.\. [0-9TZ:.-]+\$"
	run -0 psm-verify -p host.pub --json s.jsonl
	run jq -c '[has("ca"), has("grants")]' <<<"$output"
	assert_output '[false,false]'
	# Nor in files that fail --ca.
	seal plain.jsonl p.jsonl
	run -0 psm-verify -p host.pub p.jsonl
	hand_start > h.jsonl
	hand_event 1 800000001 in typed-late >> h.jsonl
	hand_event 2 900000000 out far-too-late >> h.jsonl
	seal h.jsonl hs.jsonl
	run -0 psm-verify -p host.pub hs.jsonl
}

@test "psm-verify --ca: sessions of two grants in one log are OK; --json counts the grants" {
	seal rec.jsonl log.jsonl
	psm-seal -k host.key rec2.jsonl >> log.jsonl
	run -0 psm-verify -p host.pub --ca ca.pub log.jsonl
	assert_output --partial ': OK: 6 events, 2 sessions, 2 sealed streams, sealed by'
	run -0 psm-verify -p host.pub --ca ca.pub -j log.jsonl
	run jq -r .grants <<<"$output"
	assert_output 2
}

@test "psm-verify --ca: a session without a grant fails at its start line (exit 1)" {
	seal plain.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $(sid plain.jsonl) has no grant"
	run -1 psm-verify -p host.pub --ca ca.pub --json s.jsonl
	run jq -r '"\(.status) \(.grants) \(.reason)"' <<<"$output"
	assert_output "FAILED 0 line 2: session $(sid plain.jsonl) has no grant"
}

@test "psm-verify --ca: a log with a session under a grant, then one without, fails at the second's start" {
	seal rec.jsonl log.jsonl
	psm-seal -k host.key plain.jsonl >> log.jsonl
	n=$(line_of '"type":"start"' log.jsonl | tail -n 1)
	run -1 psm-verify -p host.pub --ca ca.pub log.jsonl
	assert_output "log.jsonl: FAILED: line $n: session $(sid plain.jsonl) has no grant"
}

@test "psm-verify --ca: a session under a grant of another CA fails at its start line" {
	seal other.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $(sid other.jsonl): grant $(jq -r .id other.grant) was issued by key $(cut -d' ' -f2 other.pub), not by $CA_ID"
	run -0 psm-verify -p host.pub --ca other.pub s.jsonl
}

@test "psm-verify --ca: a grant changed in the start event before sealing fails: bad signature" {
	sed '1s/INC-42/INC-43/' rec.jsonl > changed.jsonl
	grep -q INC-43 changed.jsonl || fail "not changed"
	seal changed.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output --partial "s.jsonl: FAILED: line 2: session $(sid rec.jsonl): grant $(jq -r .id g.grant): bad signature"
	# The seal itself is good: only --ca sees it.
	run -0 psm-verify -p host.pub s.jsonl
}

@test "psm-verify --ca: a grant_id that is not the grant's fails" {
	sed '1s/"grant_id":"[^"]*"/"grant_id":"00000000-0000-4000-8000-000000000000"/' rec.jsonl > changed.jsonl
	seal changed.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $(sid rec.jsonl): its \"grant_id\" is not the id of its grant $(jq -r .id g.grant)"
}

@test "psm-verify --ca: a session by another user than the grant's account fails" {
	hand_start $((T0 + 100)) somebody-else > h.jsonl
	hand_end 1 1000 >> h.jsonl
	seal h.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $SID: its user is not $(id -un), the account of its grant $(jq -r .id past.grant)"
}

@test "psm-verify --ca: events up to the expiry, and output and the end up to 10 s after it, are OK" {
	hand_start > h.jsonl
	hand_event 1 1 out hello >> h.jsonl
	hand_event 2 800000000 in typed-at-expiry >> h.jsonl
	hand_event 3 805000000 out said-after >> h.jsonl
	hand_event 4 810000000 out last-word >> h.jsonl
	hand_end 5 810000000 >> h.jsonl
	seal h.jsonl s.jsonl
	run -0 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output --partial 's.jsonl: OK: 6 events, 1 session,'
}

@test "psm-verify --ca: typed input after the expiry fails at its line" {
	hand_start > h.jsonl
	hand_event 1 1 out hello >> h.jsonl
	hand_event 2 800000001 in typed-late >> h.jsonl
	hand_end 3 801000000 >> h.jsonl
	seal h.jsonl s.jsonl
	n=$(line_of typed-late s.jsonl)
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line $n: session $SID: typed input at 2026-11-30T01:08:20.000001Z, after its grant $(jq -r .id past.grant) expired at 2026-11-30T01:08:20Z"
}

@test "psm-verify --ca: an event 11 s after the expiry fails at its line" {
	hand_start > h.jsonl
	hand_event 1 811000000 out too-late >> h.jsonl
	hand_end 2 811000001 >> h.jsonl
	seal h.jsonl s.jsonl
	n=$(line_of too-late s.jsonl)
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line $n: session $SID: an event at 2026-11-30T01:08:31.000000Z, over 10 s after its grant $(jq -r .id past.grant) expired at 2026-11-30T01:08:20Z"
}

@test "psm-verify --ca: a session started over 60 s before the grant's not_before fails at its start; 60 s is allowed" {
	hand_start $((T0 - 60)) > h.jsonl
	hand_end 1 1000 >> h.jsonl
	seal h.jsonl s.jsonl
	run -0 psm-verify -p host.pub --ca ca.pub s.jsonl
	hand_start $((T0 - 61)) > h.jsonl
	hand_end 1 1000 >> h.jsonl
	seal h.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $SID: an event at 2026-11-30T00:52:19.000000Z, before its grant $(jq -r .id past.grant) was valid (from 2026-11-30T00:53:20Z, less 60 s for clocks)"
}

@test "psm-verify --ca: a start time that is not psm's RFC 3339 fails" {
	hand_start | sed 's/\.000000Z"/Z"/' > h.jsonl
	hand_end 1 1000 >> h.jsonl
	seal h.jsonl s.jsonl
	run -1 psm-verify -p host.pub --ca ca.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 2: session $SID: its start time is not RFC 3339 as psm writes it"
}

@test "psm-verify --ca: a missing CA key is exit 4, a malformed one exit 3, two --ca a usage error" {
	seal rec.jsonl s.jsonl
	run -4 --separate-stderr psm-verify -p host.pub --ca no.pub s.jsonl
	assert_stderr 'psm-verify: no.pub: No such file or directory'
	echo 'not a key' > bad.pub
	run -3 --separate-stderr psm-verify -p host.pub --ca bad.pub s.jsonl
	assert_stderr --partial 'psm-verify: bad.pub:1'
	run -2 --separate-stderr psm-verify -p host.pub --ca ca.pub --ca other.pub s.jsonl
	assert_stderr 'psm-verify: one --ca at most'
}

@test "psm-verify --ca: the grants are checked inside the sandbox (seccomp in force while it reads)" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	seal rec.jsonl s.jsonl
	mkfifo in
	psm-verify -p host.pub --ca ca.pub in > out.txt 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	head -n 1 s.jsonl >&7
	wait_for 5 grep -q "$(printf '^Seccomp:\t2$')" "/proc/$pid/status"
	tail -n +2 s.jsonl >&7
	exec 7>&-
	wait "$pid"
	run cat out.txt
	assert_output --partial "in: OK: 3 events, 1 session, sealed by $HOST_ID, under grants of $CA_ID,"
}

@test "the whole flow: request, approve, approve, issue, record, seal, verify --ca; the grant's story is in the sealed stream" {
	for k in ann bob; do psm-keygen -o "$k" --id "$k" --no-passphrase; done
	printf 'ann security ann.pub\nbob dba bob.pub\n' > approvers
	echo '{allow: true, approvals: 2, groups: ["security", "dba"], max_ttl: 3600}' > two.jq
	psm-grant request --role dba --target "$(hostname)" --ttl 15m --ticket INC-9 \
		--reason 'the whole flow' > req.json
	psm-grant approve -k ann.key req.json | psm-grant approve -k bob.key > approved.json
	run -0 --separate-stderr psm-grant issue -k ca.key --policy two.jq --approvers approvers approved.json
	printf '%s\n' "$output" > grant.json
	run -0 psm-record --grant grant.json --ca ca.pub -o flow.jsonl -- echo deployed </dev/null
	assert_output --partial deployed
	seal flow.jsonl flow.sealed
	run -0 psm-verify -p host.pub --ca ca.pub flow.sealed
	assert_output --partial "OK: 3 events, 1 session"
	assert_output --partial "under grants of $CA_ID"
	# The sealed start event carries the grant: who asked, who approved, the window.
	run jq -r 'select(.type == "start") | .grant | fromjson |
		"\(.id) \(.user) \(.ticket) \([.approvers[].name] | join(",")) \(.flags | length)"' flow.sealed
	assert_output "$(jq -r .id req.json) $(id -un) INC-9 ann,bob 0"
	# Another CA's key is refused, and so is a session recorded without a grant.
	run -1 psm-verify -p host.pub --ca other.pub flow.sealed
	seal plain.jsonl plain.sealed
	run -1 psm-verify -p host.pub --ca ca.pub plain.sealed
	assert_output --partial 'no grant'
}
