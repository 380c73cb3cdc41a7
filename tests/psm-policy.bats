#!/usr/bin/env bats
# The example policies of share/psm/policies (psm-policy(5)), run as the jq
# programs they are by Debian's jq, the same engine (libjq 1.6) that
# psm-grant links: each branch's decision, numbers and reason, the
# contract of psm-policy(5) on every output, and no leak under valgrind.
#
# Each input is tests/fixtures/psm-policy/input.json (alice asks for root
# on db1 as ops, for an hour, on Monday 2026-12-07 at 10:00 UTC) changed
# by a jq expression.
load helpers

POLICIES=$BATS_TEST_DIRNAME/../share/psm/policies
INPUT=$FIXTURES/psm-policy/input.json

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# input [UPDATE]: the fixture's input changed by the jq expression UPDATE,
# on one line.
input() {
	jq -c "${1:-.}" "$INPUT"
}

# at TIME: a jq expression that sets now to TIME (YYYY-MM-DDTHH:MM:SSZ).
at() {
	echo ".now = (\"$1\" | fromdateiso8601)"
}

# contract: whether standard input, a policy's output, is one object that
# psm-grant takes (psm-policy(5)): allow a boolean; approvals, max_ttl
# whole numbers (at most 7 days); groups, flags, ssh_extensions arrays of
# strings (the extensions OpenSSH's, at most 8 flags); no more groups than
# approvals; a reason (a string) whenever it refuses; no other key.
contract() {
	jq -s -e '
		def whole: type == "number" and . == floor;
		def strings: type == "array" and all(.[]; type == "string");
		def extension: . as $x | any("permit-X11-forwarding", "permit-agent-forwarding",
			"permit-port-forwarding", "permit-pty", "permit-user-rc"; . == $x);
		length == 1 and (.[0] |
		type == "object"
		and (keys - ["allow", "reason", "approvals", "groups", "max_ttl", "self_approval",
			"flags", "ssh_extensions"] == [])
		and (.allow | type == "boolean")
		and ((.reason // "") | type == "string")
		and (.allow or (.reason | type == "string" and length > 0))
		and ((.approvals // 1) | whole and . >= 0)
		and ((.groups // []) | strings and length == (unique | length))
		and ((.groups // []) | length) <= (.approvals // 1)
		and ((.max_ttl // 3600) | whole and . > 0 and . <= 604800)
		and ((.self_approval // false) | type == "boolean")
		and ((.flags // []) | strings and length <= 8)
		and ((.ssh_extensions // ["permit-pty"]) | strings and all(.[]; extension)))' >/dev/null
}

# decide POLICY [UPDATE]: POLICY's decision on input UPDATE, keys sorted,
# in $output; fails unless it keeps the contract.
decide() {
	input "${2:-.}" > in.json
	run -0 --separate-stderr jq -c -S -f "$POLICIES/$1" in.json
	[ -z "$stderr" ] || fail "$1: jq says: $stderr"
	contract <<<"$output" || fail "$1: output outside the contract of psm-policy(5): $output"
}

# The inputs that take each policy down each of its branches, one a line.
branches() {
	case $1 in
	default.jq)
		input
		input '.request.role = "dba"'
		;;
	roles.jq)
		local role
		for role in dba ops read-only root; do
			input ".request.role = \"$role\""
		done
		;;
	business-hours.jq)
		input "$(at 2026-12-07T10:00:00Z)"
		input "$(at 2026-12-07T22:00:00Z)"
		input "$(at 2026-12-07T17:30:00Z)"
		input "$(at 2026-12-06T10:00:00Z)"
		;;
	vendor.jq)
		input
		input '.request.role = "vendor" | .request.account = "vendor-acme" | .request.ticket = "CHG-1"'
		input '.request.user = "vendor-netco"'
		input '.request.user = "vendor-unknown" | .request.ticket = "CHG-2"'
		;;
	break-glass.jq)
		input '.request.role = "break-glass" | .request.reason = "db down"'
		input '.request.role = "break-glass" | .request.reason = "primary database down, failover stuck"'
		input
		;;
	*)
		return 1
		;;
	esac
}

@test "default.jq: one approval by someone other than the requester, at most 1h, whatever the role" {
	decide default.jq
	assert_output '{"allow":true,"approvals":1,"max_ttl":3600,"reason":"one approval by someone else, at most 1h","self_approval":false}'
	decide default.jq '.request.role = "dba" | .approvals = []'
	assert_output '{"allow":true,"approvals":1,"max_ttl":3600,"reason":"one approval by someone else, at most 1h","self_approval":false}'
}

@test "roles.jq: dba needs 2 approvals, from dba and from security, for at most 1h" {
	decide roles.jq '.request.role = "dba"'
	assert_output '{"allow":true,"approvals":2,"groups":["dba","security"],"max_ttl":3600,"reason":"role dba: 2 approvals from dba and security, at most 1h","self_approval":false}'
}

@test "roles.jq: ops needs 1 approval, for at most 2h, with port forwarding" {
	decide roles.jq '.request.role = "ops"'
	assert_output '{"allow":true,"approvals":1,"groups":[],"max_ttl":7200,"reason":"role ops: 1 approval, at most 2h","self_approval":false,"ssh_extensions":["permit-pty","permit-port-forwarding"]}'
}

@test "roles.jq: read-only needs 1 approval, for at most 4h" {
	decide roles.jq '.request.role = "read-only"'
	assert_output '{"allow":true,"approvals":1,"groups":[],"max_ttl":14400,"reason":"role read-only: 1 approval, at most 4h","self_approval":false}'
}

@test "roles.jq: a role without a rule is refused, the reason naming it" {
	decide roles.jq '.request.role = "root"'
	assert_output '{"allow":false,"reason":"role \"root\" has no rule in roles.jq"}'
}

@test "business-hours.jq: on a weekday at 10:00 UTC, 1 approval, at most 4h" {
	decide business-hours.jq "$(at 2026-12-07T10:00:00Z)"
	assert_output '{"allow":true,"approvals":1,"max_ttl":14400,"reason":"within working hours (Monday to Friday, 08:00-18:00 UTC): 1 approval, at most 4h"}'
}

@test "business-hours.jq: on a weekday at 22:00 UTC, 2 approvals, at most 1h" {
	decide business-hours.jq "$(at 2026-12-07T22:00:00Z)"
	assert_output '{"allow":true,"approvals":2,"max_ttl":3600,"reason":"outside working hours (Monday to Friday, 08:00-18:00 UTC): 2 approvals, at most 1h"}'
}

@test "business-hours.jq: on a Sunday at 10:00 UTC, and on a Saturday, 2 approvals, at most 1h" {
	decide business-hours.jq "$(at 2026-12-06T10:00:00Z)"
	assert_output '{"allow":true,"approvals":2,"max_ttl":3600,"reason":"outside working hours (Monday to Friday, 08:00-18:00 UTC): 2 approvals, at most 1h"}'
	decide business-hours.jq "$(at 2026-12-12T10:00:00Z)"
	assert_output --partial '"approvals":2,'
}

@test "business-hours.jq: the edges: 08:00 is inside, 07:59:59 is not; a Friday access may end at 18:00, not after" {
	decide business-hours.jq "$(at 2026-12-07T08:00:00Z)"
	assert_output --partial '"approvals":1,'
	decide business-hours.jq "$(at 2026-12-07T07:59:59Z)"
	assert_output --partial '"approvals":2,'
	decide business-hours.jq "$(at 2026-12-11T17:00:00Z)"
	assert_output --partial '"approvals":1,'
	decide business-hours.jq "$(at 2026-12-11T17:00:01Z)"
	assert_output '{"allow":true,"approvals":2,"max_ttl":3600,"reason":"runs past working hours (Monday to Friday, 08:00-18:00 UTC): 2 approvals, at most 1h"}'
}

@test "business-hours.jq: an access asked for at 10:00 that would last past 18:00 needs 2 approvals" {
	decide business-hours.jq "$(at 2026-12-07T10:00:00Z) | .request.ttl = 8 * 3600"
	assert_output --partial '"approvals":1,'
	decide business-hours.jq "$(at 2026-12-07T10:00:00Z) | .request.ttl = 8 * 3600 + 1"
	assert_output --partial '"reason":"runs past working hours'
}

@test "business-hours.jq: shifted as its comment says (utc_offset 3600, zone CET), 07:30 UTC is 08:30 CET" {
	sed -e 's/^def utc_offset: 0;$/def utc_offset: 3600;/' -e 's/^def zone: "UTC";$/def zone: "CET";/' \
		"$POLICIES/business-hours.jq" > cet.jq
	! cmp -s cet.jq "$POLICIES/business-hours.jq" || fail "the settings were not found"
	POLICIES=$PWD
	decide cet.jq "$(at 2026-12-07T07:30:00Z)"
	assert_output '{"allow":true,"approvals":1,"max_ttl":14400,"reason":"within working hours (Monday to Friday, 08:00-18:00 CET): 1 approval, at most 4h"}'
	decide cet.jq "$(at 2026-12-07T17:30:00Z) | .request.ttl = 600"
	assert_output --partial '"reason":"outside working hours (Monday to Friday, 08:00-18:00 CET)'
	# Sunday 23:30 UTC is Monday 00:30 CET: still the night
	decide cet.jq "$(at 2026-12-06T23:30:00Z)"
	assert_output --partial '"approvals":2,'
}

@test "vendor.jq: the vendor role with a ticket needs 2 approvers, from security and the vendor's owner team, for at most 30m" {
	decide vendor.jq '.request.role = "vendor" | .request.account = "vendor-acme" | .request.ticket = "CHG-1"'
	assert_output '{"allow":true,"approvals":2,"groups":["security","dba"],"max_ttl":1800,"reason":"vendor access: 2 approvals, from security and dba, at most 30m","self_approval":false}'
}

@test "vendor.jq: a vendor-* user is a vendor whatever its role, its own owner team first" {
	decide vendor.jq '.request.user = "vendor-netco" | .request.account = "vendor-acme" | .request.ticket = "CHG-2"'
	assert_output '{"allow":true,"approvals":2,"groups":["security","network"],"max_ttl":1800,"reason":"vendor access: 2 approvals, from security and network, at most 30m","self_approval":false}'
}

@test "vendor.jq: a vendor without a ticket is refused: a ticket is required" {
	decide vendor.jq '.request.role = "vendor" | .request.account = "vendor-acme"'
	assert_output '{"allow":false,"reason":"vendor access: a ticket is required"}'
	decide vendor.jq '.request.user = "vendor-netco" | .request.ticket = ""'
	assert_output '{"allow":false,"reason":"vendor access: a ticket is required"}'
}

@test "vendor.jq: a vendor with no owner team is refused, the reason naming the user and account" {
	decide vendor.jq '.request.user = "vendor-unknown" | .request.ticket = "CHG-3"'
	assert_output '{"allow":false,"reason":"vendor access: neither \"vendor-unknown\" nor \"root\" has an owner team in vendor.jq"}'
}

@test "vendor.jq: anyone else needs 1 approval for at most 1h, and no ticket" {
	decide vendor.jq
	assert_output '{"allow":true,"approvals":1,"max_ttl":3600,"reason":"not a vendor: 1 approval, at most 1h"}'
	# a name that only holds "vendor" is no vendor's
	decide vendor.jq '.request.user = "alice-vendor" | .request.account = "vendors"'
	assert_output --partial '"reason":"not a vendor'
}

@test "break-glass.jq: break-glass with a reason of 20 characters or more: no approval, 15m, flagged break-glass" {
	decide break-glass.jq '.request.role = "break-glass" | .request.reason = "primary database down, failover stuck"'
	assert_output '{"allow":true,"approvals":0,"flags":["break-glass"],"max_ttl":900,"reason":"break-glass: no approval, at most 15m, the session flagged for review"}'
	# exactly 20 characters, counted as characters, not bytes
	decide break-glass.jq '.request.role = "break-glass" | .request.reason = "réplica db1 en panne"'
	assert_output --partial '"allow":true,'
}

@test "break-glass.jq: break-glass with a short reason is refused, blanks not counted" {
	decide break-glass.jq '.request.role = "break-glass" | .request.reason = "db down"'
	assert_output '{"allow":false,"reason":"break-glass: the reason must say what is broken, in at least 20 characters"}'
	decide break-glass.jq '.request.role = "break-glass" | .request.reason = "   urgent      \t    urgent   "'
	assert_output --partial '"allow":false,'
	decide break-glass.jq '.request.role = "break-glass" | .request.reason = "replica db1 is down"'
	assert_output --partial '"allow":false,'
}

@test "break-glass.jq: any other role falls through to 1 approval, at most 1h, no flag" {
	decide break-glass.jq '.request.reason = "x"'
	assert_output '{"allow":true,"approvals":1,"max_ttl":3600,"reason":"1 approval, at most 1h"}'
}

@test "psm-policy: every shipped policy is tested here, and only .jq files are shipped" {
	local p n=0
	for p in "$POLICIES"/*; do
		[[ $p == *.jq ]] || fail "not a policy: $p"
		branches "$(basename "$p")" >/dev/null || fail "$(basename "$p") has no branches here"
		n=$((n + 1))
	done
	[ "$n" -eq 5 ] || fail "$n policies"
}

@test "psm-policy: every branch of every shipped policy runs under valgrind with nothing definitely lost" {
	command -v valgrind >/dev/null || fail "valgrind is not installed (scripts/deps.sh test installs it)"
	local p
	for p in "$POLICIES"/*.jq; do
		branches "$(basename "$p")" > in.jsonl
		run --separate-stderr valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
			--error-exitcode=99 jq -c -f "$p" in.jsonl
		[ "$status" -eq 0 ] || fail "$(basename "$p"): exit $status: $stderr"
		[ "${#lines[@]}" -eq "$(wc -l < in.jsonl)" ] || fail "$(basename "$p"): ${#lines[@]} decisions"
		[[ $stderr != *'definitely lost'* ]] || fail "$(basename "$p"): $stderr"
	done
}

@test "psm-policy: the valgrind check finds the leak of index() on an array (libjq 1.6), and any() has none" {
	command -v valgrind >/dev/null || fail "valgrind is not installed (scripts/deps.sh test installs it)"
	echo '{allow: (["dba", "ops"] | index("ops") != null)}' > leaks.jq
	run --separate-stderr valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=99 jq -c -f leaks.jq "$INPUT"
	[ "$status" -eq 99 ] || skip "this jq does not leak in index() (status $status): not libjq 1.6"
	[[ $stderr == *'definitely lost'* ]] || fail "$stderr"
	echo '{allow: any(("dba", "ops"); . == "ops")}' > any.jq
	run -0 --separate-stderr valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=99 jq -c -f any.jq "$INPUT"
	assert_output '{"allow":true}'
	assert_stderr ''
}
