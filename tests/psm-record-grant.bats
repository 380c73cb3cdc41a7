#!/usr/bin/env bats
# psm-record --grant: a session runs only under a grant of the CA that holds
# here and now, for this user, host and command; it ends when the grant
# expires or is revoked. The grants come from tests/lib/test-grant, which
# signs them with a psm-keygen key as psm-grant issue does (with chosen
# times, accounts, hosts and commands), and from psm-grant itself.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	TG=$PSM_BIN/../tests/lib/test-grant
	[ -x "$TG" ] || fail "$TG is not built (make libtests builds it)"
	psm-keygen -o ca --no-passphrase
	psm-keygen -o other --no-passphrase
	CA_ID=$(cut -d' ' -f2 ca.pub)
	BG_PIDS=()
}

teardown() {
	stop_background
}

# grant FILE [NAME=VALUE...]: FILE holds a grant of ca.key for this user and host, valid for an hour.
grant() {
	local file=$1
	shift
	"$TG" grant ca.key "$@" > "$file" || fail "test-grant: $(cat "$file")"
}

# grant_id FILE: the id of the grant in FILE.
grant_id() { jq -r .id "$1"; }

# refused STATUS MESSAGE ARG...: psm-record ARG... -- touch ran exits STATUS with MESSAGE
# (a part of its stderr), and neither ran the command nor recorded anything.
refused() {
	local status=$1 msg=$2
	shift 2
	run "-$status" --separate-stderr psm-record -o s.jsonl "$@" -- touch ran </dev/null
	assert_stderr --partial "$msg"
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || fail "not one line: $stderr"
	assert_output ''
	[ ! -e ran ] || fail "the command ran"
	[ ! -e s.jsonl ] || fail "a recording was made: $(cat s.jsonl)"
}

start_field() { jq -r "select(.type == \"start\") | $1" "${2:-s.jsonl}"; }
end_field() { jq -r "select(.type == \"end\") | $1" "${2:-s.jsonl}"; }

# session_in_background GRANT: psm-record --grant GRANT --revoked revoked -- sleep 30,
# in the background (its status into rc, its stderr into err), once its start is recorded.
session_in_background() {
	( status=0
	  psm-record --grant "$1" --ca ca.pub --revoked revoked -o s.jsonl -- sleep 30 </dev/null 2>err ||
		status=$?
	  echo $status > rc ) &
	BG_PIDS+=($!)
	wait_for 5 grep -qs '"type":"start"' s.jsonl || fail "the session did not start: $(cat err)"
}

@test "psm-record --grant: a session under a good grant runs; its start event carries the grant line exactly and its id" {
	grant g.grant
	run -0 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl -- echo ran-under-grant </dev/null
	assert_output --partial ran-under-grant
	run start_field '.grant | fromjson | .id'
	assert_output "$(grant_id g.grant)"
	run start_field .grant_id
	assert_output "$(grant_id g.grant)"
	start_field .grant > line
	cmp line g.grant || fail "the start event's grant is not the grant's line: $(cat line)"
	run end_field .reason
	assert_output exit
}

@test "psm-record --grant: an expired grant is refused (exit 1), nothing run or recorded" {
	grant g.grant not_before=-100 expires=-10
	refused 1 "psm-record: g.grant: grant $(grant_id g.grant) expired at " --grant g.grant --ca ca.pub
}

@test "psm-record --grant: a grant not valid yet is refused (exit 1); 60 seconds early is allowed, for clocks" {
	grant g.grant not_before=+120 expires=+600
	refused 1 "psm-record: g.grant: grant $(grant_id g.grant) is not valid yet (from " --grant g.grant --ca ca.pub
	grant early.grant not_before=+30 expires=+600
	run -0 psm-record --grant early.grant --ca ca.pub -o s.jsonl -- echo early </dev/null
	assert_output --partial early
}

@test "psm-record --grant: a grant for another account is refused (exit 1), nothing run or recorded" {
	grant g.grant account=somebody-else
	refused 1 "psm-record: g.grant: grant $(grant_id g.grant) is for the account somebody-else, not $(id -un)" \
		--grant g.grant --ca ca.pub
}

@test "psm-record --grant: the account is the real user's name, whatever USER and LOGNAME say" {
	grant g.grant account=somebody-else
	USER=somebody-else LOGNAME=somebody-else refused 1 "is for the account somebody-else, not $(id -un)" \
		--grant g.grant --ca ca.pub
}

@test "psm-record --grant: a grant for another host is refused (exit 1); the host's name in upper case is the same host" {
	grant g.grant target=db9.example.com
	refused 1 "psm-record: g.grant: grant $(grant_id g.grant) is for the host db9.example.com, not $(hostname)" \
		--grant g.grant --ca ca.pub
	grant upper.grant target="$(hostname | tr a-z A-Z)"
	run -0 psm-record --grant upper.grant --ca ca.pub -o s.jsonl -- echo same-host </dev/null
	assert_output --partial same-host
}

@test "psm-record --grant: a grant for one command runs that command, as argv, -c or SSH_ORIGINAL_COMMAND" {
	grant g.grant command='echo one command'
	run -0 psm-record --grant g.grant --ca ca.pub -o s.jsonl -- echo one command </dev/null
	assert_output --partial 'one command'
	run -0 psm-record --grant g.grant --ca ca.pub -o s.jsonl -c 'echo one command' </dev/null
	assert_output --partial 'one command'
	SSH_ORIGINAL_COMMAND='echo one command' run -0 psm-record --grant g.grant --ca ca.pub -o s.jsonl </dev/null
	assert_output --partial 'one command'
	run jq -r 'select(.type == "start") | .grant_id' s.jsonl
	assert_output "$(printf '%s\n' "$(grant_id g.grant)"{,,})"
}

@test "psm-record --grant: a grant for one command refuses another (exit 1), by argv, -c or SSH_ORIGINAL_COMMAND" {
	grant g.grant command='touch ran'
	id=$(grant_id g.grant)
	run -1 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl -- touch ran2 </dev/null
	assert_stderr "psm-record: g.grant: grant $id is for the command 'touch ran' only, not 'touch ran2'"
	run -1 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl -- touch 'ran' '' </dev/null
	assert_stderr "psm-record: g.grant: grant $id is for the command 'touch ran' only, not 'touch ran '"
	run -1 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl -c 'touch  ran' </dev/null
	assert_stderr "psm-record: g.grant: grant $id is for the command 'touch ran' only, not 'touch  ran'"
	SSH_ORIGINAL_COMMAND='touch ran; id' run -1 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl </dev/null
	assert_stderr "psm-record: g.grant: grant $id is for the command 'touch ran' only, not 'touch ran; id'"
	[ ! -e ran ] && [ ! -e ran2 ] && [ ! -e s.jsonl ]
}

@test "psm-record --grant: a grant for one command refuses a login shell (exit 1)" {
	grant g.grant command='uptime'
	run -1 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl </dev/null
	assert_stderr "psm-record: g.grant: grant $(grant_id g.grant) is for the command 'uptime' only, not a login shell"
	assert_output ''
	[ ! -e s.jsonl ]
}

@test "psm-record --grant: a grant with one byte changed is refused (exit 1): bad signature" {
	grant g.grant
	sed -i 's/"reason":"INC-42/"reason":"INC-43/' g.grant
	grep -q INC-43 g.grant || fail "the byte was not changed"
	refused 1 "psm-record: g.grant:1: grant $(grant_id g.grant): bad signature" --grant g.grant --ca ca.pub
}

@test "psm-record --grant: a later expiry written into the grant is refused (exit 1): bad signature" {
	grant g.grant expires=+60
	later=$(date -u -d @$(( $(date +%s) + 86400 )) +%Y-%m-%dT%H:%M:%SZ)
	sed -i "s/\"expires\":\"[^\"]*\"/\"expires\":\"$later\"/" g.grant
	refused 1 "bad signature" --grant g.grant --ca ca.pub
}

@test "psm-record --grant: a grant of another CA is refused (exit 1)" {
	"$TG" grant other.key > g.grant
	refused 1 "psm-record: g.grant:1: grant $(grant_id g.grant) was issued by key $(cut -d' ' -f2 other.pub), not by $CA_ID" \
		--grant g.grant --ca ca.pub
}

@test "psm-record --grant: a grant on the revocation list is refused (exit 1)" {
	grant g.grant
	"$TG" revoke ca.key "$(grant_id g.grant)" > revoked
	grant g2.grant
	"$TG" revoke ca.key "$(grant_id g2.grant)" >> revoked
	refused 1 "psm-record: g.grant: grant $(grant_id g.grant) was revoked (revoked)" \
		--grant g.grant --ca ca.pub --revoked revoked
	grant g3.grant
	run -0 psm-record --grant g3.grant --ca ca.pub --revoked revoked -o s.jsonl -- echo not-revoked </dev/null
	assert_output --partial not-revoked
}

@test "psm-record --grant: a revocation list with a line of another CA is refused (exit 1); a bad line is exit 3, FILE:LINE" {
	grant g.grant
	"$TG" revoke ca.key 00000000-0000-4000-8000-000000000000 > revoked
	"$TG" revoke other.key "$(grant_id g.grant)" >> revoked
	refused 1 "psm-record: revoked:2: bad signature (not signed by key $CA_ID)" --grant g.grant --ca ca.pub --revoked revoked
	printf 'not a line of a list\n' > revoked
	refused 3 'psm-record: revoked:1: not a signed revocation' --grant g.grant --ca ca.pub --revoked revoked
}

@test "psm-record --grant: a grant file that is not a grant is exit 3 with FILE:LINE" {
	printf '{"psm":"grant","v":1}\n' > g.grant
	refused 3 'psm-record: g.grant:1: not a signed grant (no "sig" at its end)' --grant g.grant --ca ca.pub
	grant g.grant
	cat g.grant g.grant > two.grant
	refused 3 'psm-record: two.grant:2: a grant file has one line' --grant two.grant --ca ca.pub
	: > empty.grant
	refused 3 'psm-record: empty.grant:1: empty, not a grant' --grant empty.grant --ca ca.pub
}

@test "psm-record --grant: a missing grant file, CA key or --revoked list is exit 4; a malformed CA key exit 3" {
	grant g.grant
	refused 4 'psm-record: no.grant: No such file or directory' --grant no.grant --ca ca.pub
	refused 4 'psm-record: no.pub: No such file or directory' --grant g.grant --ca no.pub
	refused 4 'psm-record: no-list: No such file or directory' --grant g.grant --ca ca.pub --revoked no-list
	echo 'not a key' > bad.pub
	refused 3 'psm-record: bad.pub:1' --grant g.grant --ca bad.pub
}

@test "psm-record --grant: without --ca the CA is /etc/psm/grant-ca.pub (here: none, exit 4)" {
	[ ! -e /etc/psm/grant-ca.pub ] || skip "this machine has /etc/psm/grant-ca.pub"
	grant g.grant
	refused 4 'psm-record: /etc/psm/grant-ca.pub: No such file or directory' --grant g.grant
}

@test "psm-record --grant: --ca and --revoked without --grant are usage errors (exit 2)" {
	run -2 --separate-stderr psm-record --ca ca.pub -o s.jsonl -- touch ran </dev/null
	assert_stderr $'psm-record: --ca goes with --grant\nTry \'psm-record --help\''
	run -2 --separate-stderr psm-record --revoked revoked -o s.jsonl -- touch ran </dev/null
	assert_stderr --partial 'psm-record: --revoked goes with --grant'
	[ ! -e ran ] && [ ! -e s.jsonl ]
}

@test "psm-record --grant: a grant that expires in 3 s ends a session at once warned, with reason grant-expired, within a few seconds" {
	grant g.grant expires=+3
	SECONDS=0
	run -129 --separate-stderr psm-record --grant g.grant --ca ca.pub -o s.jsonl -- sleep 30 </dev/null
	[ "$SECONDS" -le 5 ] || fail "the session took $SECONDS s"
	[[ $stderr =~ ^psm-record:\ the\ session\ ends\ in\ [1-3]\ seconds?\ \(the\ grant\ expires\) ]] ||
		fail "no warning at once: $stderr"
	assert_stderr --partial "psm-record: grant $(grant_id g.grant) has expired: the session ends"
	run end_field '"\(.reason) \(.exit) \(.signal)"'
	assert_output 'grant-expired 129 1'
	# The expiry on the clock of the events: the start's time plus t is at the expiry, not a second after.
	run jq -r 'select(.type == "end") | .t' s.jsonl
	[ "$output" -le 3100000 ] || fail "the end came at t $output"
}

@test "psm-record --grant: the earlier of --max-time and the expiry ends the session, with its own reason" {
	grant long.grant
	run -129 --separate-stderr psm-record --grant long.grant --ca ca.pub --max-time 1s -o s.jsonl -- sleep 30 </dev/null
	assert_stderr --partial '(time limit)'
	run end_field .reason
	assert_output time-limit
	rm s.jsonl
	grant short.grant expires=+3
	run -129 --separate-stderr psm-record --grant short.grant --ca ca.pub --max-time 1h -o s.jsonl -- sleep 30 </dev/null
	assert_stderr --partial '(the grant expires)'
	run end_field .reason
	assert_output grant-expired
}

@test "psm-record --grant: a session that ignores the hang-up at the expiry is killed 5 s later" {
	grant g.grant expires=+3
	SECONDS=0
	run -137 psm-record --grant g.grant --ca ca.pub -o s.jsonl -- sh -c 'trap "" HUP; sleep 30' </dev/null
	[ "$SECONDS" -le 10 ] || fail "the session took $SECONDS s"
	run end_field '"\(.reason) \(.signal)"'
	assert_output 'grant-expired 9'
}

# revoke_and_time FILE: revoke the grant in FILE (appending to ./revoked) and print,
# in ms, how long psm-record (BG_PIDS[0], its status into ./rc) took to end after that.
revoke_and_time() {
	local t0 t1
	t0=$(date +%s%N)
	"$TG" revoke ca.key "$(grant_id "$1")" >> revoked
	wait_for 5 test -s rc || return 1
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / 1000000 ))
}

@test "psm-record --grant: revoking the grant while the session runs ends it within 2 s, with reason revoked" {
	grant g.grant
	"$TG" revoke ca.key 00000000-0000-4000-8000-000000000000 > revoked	# another grant's
	session_in_background g.grant
	sleep 1.2	# a check of the list in between: the list is read again, not only at the start
	ms=$(revoke_and_time g.grant) || fail "the session did not end: $(cat err)"
	[ "$ms" -le 2000 ] || fail "the session ended $ms ms after the revocation"
	run cat rc
	assert_output 129
	run end_field '"\(.reason) \(.exit)"'
	assert_output 'revoked 129'
	run cat err
	assert_output --partial "psm-record: grant $(grant_id g.grant) was revoked: the session ends"
}

@test "psm-record --grant: a --revoked list removed while the session runs is said once; back with the revocation, it ends the session" {
	grant g.grant
	: > revoked
	session_in_background g.grant
	rm revoked
	sleep 1.5
	ms=$(revoke_and_time g.grant) || fail "the session did not end: $(cat err)"
	[ "$ms" -le 2000 ] || fail "the session ended $ms ms after the revocation"
	run end_field .reason
	assert_output revoked
	run grep -c 'revoked: No such file or directory; the revocation list read before stays in force' err
	assert_output 1
}

@test "psm-record --grant: a list that goes bad while the session runs is said once, the last good one stays, and a good one revokes" {
	grant g.grant
	"$TG" revoke ca.key 00000000-0000-4000-8000-000000000000 > revoked
	session_in_background g.grant
	echo 'garbage' >> revoked
	wait_for 3 grep -qs 'stays in force' err || fail "nothing said: $(cat err)"
	"$TG" revoke other.key "$(grant_id g.grant)" >> revoked	# signed by another key: still bad
	sleep 2.2
	[ ! -s rc ] || fail "the session ended: $(cat err)"
	run grep -c 'stays in force' err
	assert_output 1
	run grep -F 'revoked:2: not a signed revocation' err
	assert_success
	"$TG" revoke ca.key 00000000-0000-4000-8000-000000000000 > revoked.new
	mv revoked.new revoked
	sleep 1.5
	[ ! -s rc ] || fail "the session ended under a good list that does not revoke it: $(cat err)"
	ms=$(revoke_and_time g.grant) || fail "the session did not end: $(cat err)"
	[ "$ms" -le 2000 ] || fail "the session ended $ms ms after the revocation"
	run end_field .reason
	assert_output revoked
}

@test "psm-record --grant: input typed up to the expiry is recorded before it; the sealed recording verifies with psm-verify --ca" {
	psm-keygen -o host --no-passphrase
	grant g.grant expires=+3
	# A line every 0.1 s until psm-record is gone.
	run -129 --separate-stderr bash -c 'while echo typed; do sleep 0.1; done 2>/dev/null |
		psm-record --grant g.grant --ca ca.pub -o s.jsonl -- cat'
	run end_field .reason
	assert_output grant-expired
	run jq -s '[.[] | select(.type == "in")] | length > 10' s.jsonl
	assert_output true
	psm-seal -k host.key s.jsonl > sealed.jsonl
	run -0 psm-verify -p host.pub --ca ca.pub sealed.jsonl
	assert_output --partial ", under grants of $CA_ID,"
}

@test "psm-record --grant: psm-grant's own grant runs a session, and psm-grant revoke ends it within 2 s" {
	psm-keygen -o ann --id ann --no-passphrase
	printf 'ann security ann.pub\n' > approvers
	echo '{allow: true, approvals: 1, groups: ["security"], max_ttl: 3600}' > one.jq
	psm-grant request --role dba --target "$(id -un)@$(hostname)" --ttl 15m --reason 'INC-7: a test' > req.json
	psm-grant approve -k ann.key req.json > approved.json
	psm-grant issue -k ca.key --policy one.jq --approvers approvers approved.json > grant.json
	run -0 psm-record --grant grant.json --ca ca.pub -o first.jsonl -- echo issued-by-psm-grant </dev/null
	assert_output --partial issued-by-psm-grant
	: > revoked
	session_in_background grant.json
	t0=$(date +%s%N)
	psm-grant revoke -k ca.key --list revoked --reason 'done early' grant.json
	wait_for 5 test -s rc || fail "the session did not end: $(cat err)"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$ms" -le 2000 ] || fail "the session ended $ms ms after psm-grant revoke"
	run end_field .reason
	assert_output revoked
	run -1 --separate-stderr psm-record --grant grant.json --ca ca.pub --revoked revoked -o x.jsonl -- touch ran </dev/null
	assert_stderr "psm-record: grant.json: grant $(grant_id grant.json) was revoked (revoked)"
	[ ! -e ran ] && [ ! -e x.jsonl ]
}

@test "psm-record --grant: --help lists --grant, --ca and --revoked" {
	run -0 psm-record --help
	assert_output --partial '--grant=FILE'
	assert_output --partial '--ca=PUBKEY'
	assert_output --partial '--revoked=FILE'
}
