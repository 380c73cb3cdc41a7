#!/usr/bin/env bats
# psm-grant: requests, approvals, grants, their checks and revocations.
# What psm-record refuses at a session's start (user, host, command, not
# yet valid) is tested with psm-record; here, what psm-grant decides.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	mkdir keys
	for k in ca other-ca ssh-ca ann bob carol eve; do
		psm-keygen -o "keys/$k" --id "$k" --no-passphrase
	done
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp -r "$BATS_FILE_TMPDIR/keys" .
	# Key files are named relative to the approvers file, not to the current directory.
	cat > keys/approvers <<-'EOF'
	# NAME GROUP[,GROUP...] PUBKEY-FILE
	ann security ann.pub
	bob	dba	bob.pub		# tabs, and a comment after the line

	carol dba,security carol.pub
	EOF
	ME=$(id -un)
	printf '{allow: true, approvals: 1}\n' > one.jq
	printf '{allow: true, approvals: 2}\n' > two.jq
}

# request [OPTION...]: a request for dba on db1 for 15 minutes, options added.
request() {
	psm-grant request --role dba --target db1 --reason 'disk full' --ttl 15m "$@"
}

# approve IN OUT KEY...: the document IN approved by each KEY in turn, into OUT.
approve() {
	local in=$1 out=$2 k
	shift 2
	cp "$in" "$out.tmp"
	for k; do
		psm-grant approve -k "keys/$k.key" "$out.tmp" > "$out.next" || return
		mv "$out.next" "$out.tmp"
	done
	mv "$out.tmp" "$out"
}

# issue POLICY [OPTION...] [FILE]: psm-grant issue with keys/ca and keys/approvers.
issue() {
	local policy=$1
	shift
	psm-grant issue -k keys/ca.key --policy "$policy" --approvers keys/approvers "$@"
}

# grant OUT [REQUEST-OPTION...]: a grant of keys/ca, approved by ann, into OUT.
grant() {
	local out=$1
	shift
	request "$@" > "$out.req" && approve "$out.req" "$out.doc" ann && issue one.jq "$out.doc" > "$out"
}

# refused STATUS TEXT COMMAND...: COMMAND exits STATUS, says TEXT on stderr
# and prints nothing on stdout.
refused() {
	local status=$1 text=$2
	shift 2
	run "-$status" --separate-stderr "$@"
	assert_output ''
	assert_stderr --partial "$text"
}

# epoch FILE FIELD: a document's time field in seconds since 1970.
epoch() {
	jq -r ".$2 | fromdateiso8601" "$1"
}

keyid() {
	cut -d' ' -f2 "keys/$1.pub"
}

now_past() {
	[ "$(date +%s)" -ge "$1" ]
}

# ---- request ----

@test "psm-grant request: the user, uid and host are the kernel's; ACCOUNT@HOST is split" {
	run -0 --separate-stderr request --target postgres@db1.example.org
	assert_stderr ''
	[ "${#lines[@]}" -eq 1 ]
	printf '%s\n' "$output" > r
	run -0 jq -r '[.psm, .v, .user, .uid, .host, .role, .account, .target, .reason, .ttl] | map(tostring) | join(" ")' r
	assert_output "request 1 $ME $(id -u) $(hostname) dba postgres db1.example.org disk full 900"
	run -0 jq -r .id r
	assert_output --regexp '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
	# its time is now
	t=$(epoch r time)
	[ $(( $(date +%s) - t )) -le 5 ]
}

@test "psm-grant request: a target without ACCOUNT@ is asked for as oneself" {
	request > r
	run -0 jq -r '"\(.account) \(.target)"' r
	assert_output "$ME db1"
}

@test "psm-grant request: --ttl and --expires-in are durations in seconds; a request waits 1h by default" {
	request > r
	run -0 jq -r '.ttl' r
	assert_output 900
	[ $(( $(epoch r expires) - $(epoch r time) )) -eq 3600 ]
	request --ttl 90 --expires-in 2h > r
	run -0 jq -r '.ttl' r
	assert_output 90
	[ $(( $(epoch r expires) - $(epoch r time) )) -eq 7200 ]
	request --ttl 7d --expires-in 2000ms > r
	run -0 jq -r '.ttl' r
	assert_output 604800
	[ $(( $(epoch r expires) - $(epoch r time) )) -eq 2 ]
}

@test "psm-grant request: --ticket and --command are null when absent, and kept as given" {
	request > r
	run -0 jq -c '[.ticket, .command]' r
	assert_output '[null,null]'
	request --ticket CHG-1234 --command 'systemctl restart postgresql' > r
	run -0 jq -c '[.ticket, .command]' r
	assert_output '["CHG-1234","systemctl restart postgresql"]'
}

@test "psm-grant request: USER and LOGNAME in the environment do not change who asks" {
	USER=mallory LOGNAME=mallory request --target db1 > r
	run -0 jq -r '"\(.user) \(.uid) \(.account)"' r
	assert_output "$ME $(id -u) $ME"
}

@test "psm-grant request: a missing --role, --target, --reason or --ttl is a usage error" {
	refused 2 '--role is required' psm-grant request --target db1 --reason x --ttl 1h
	assert_stderr --partial "Try 'psm-grant --help'"
	refused 2 '--target is required' psm-grant request --role dba --reason x --ttl 1h
	refused 2 '--reason is required' psm-grant request --role dba --target db1 --ttl 1h
	refused 2 '--ttl is required' psm-grant request --role dba --target db1 --reason x
	refused 2 '--reason is required' psm-grant request --role dba --target db1 --reason '' --ttl 1h
}

@test "psm-grant request: a bad role, account or host, or control characters in the text, is a usage error" {
	refused 2 "--role: 'd b' is not a valid name" request --role 'd b'
	refused 2 "--role: '-x' is not a valid name" request --role -x
	refused 2 "--target: 'bad user' is not a valid account name" request --target 'bad user@db1'
	refused 2 "--target: '' is not a valid account name" request --target @db1
	refused 2 "--target: 'db1/x' is not a valid host name" request --target 'db1/x'
	refused 2 '--reason: control characters are not allowed' request --reason $'disk\nfull'
	refused 2 '--reason: control characters are not allowed' request --reason $'disk\e[2Jfull'
	refused 2 '--ticket: control characters are not allowed' request --ticket $'CHG\t1'
	refused 2 '--command: control characters are not allowed' request --command $'ls\r'
	refused 2 '--reason: at most 1024 bytes of UTF-8' request --reason "$(printf 'x%.0s' {1..1025})"
	refused 2 '--reason: at most 1024 bytes of UTF-8' request --reason $'caf\xe9'
}

@test "psm-grant request: a ttl or a request life over 7d, under 1s or not in whole seconds is a usage error" {
	refused 2 "--ttl: '8d' is not a duration of whole seconds from 1s to 7d" request --ttl 8d
	refused 2 "--ttl: '604801' is not a duration" request --ttl 604801
	refused 2 "--ttl: '0' is not a duration" request --ttl 0
	refused 2 "--ttl: '500ms' is not a duration" request --ttl 500ms
	refused 2 "--ttl: '1500ms' is not a duration" request --ttl 1500ms
	refused 2 "--ttl: '1w' is not a duration" request --ttl 1w
	refused 2 "--ttl: '-5m' is not a duration" request --ttl -5m
	refused 2 "--expires-in: '8d' is not a duration" request --expires-in 8d
}

@test "psm-grant: an option of another subcommand, an unknown subcommand or none is a usage error" {
	refused 2 'request does not take --deny' request --deny
	refused 2 'request does not take --key' request -k keys/ann.key
	refused 2 'approve does not take --ttl' psm-grant approve -k keys/ann.key --ttl 1h
	refused 2 'check does not take --policy' psm-grant check --ca keys/ca.pub --policy one.jq
	refused 2 "unknown subcommand 'grant'" psm-grant grant
	refused 2 'a subcommand is required' psm-grant
	refused 2 "unexpected argument 'b'" psm-grant check --ca keys/ca.pub a b
	refused 2 "unexpected argument 'x'" request x
}

@test "psm-grant --help and --version go to stdout and exit 0" {
	run -0 --separate-stderr psm-grant --help
	assert_stderr ''
	for sub in request approve issue check revoke ssh-ca; do
		assert_output --partial "psm-grant $sub "
	done
	run -0 --separate-stderr psm-grant request --help
	assert_output --partial 'Usage: psm-grant request'
	run -0 --separate-stderr psm-grant --version
	assert_output --regexp '^psm-grant [0-9]'
}

# ---- approve ----

@test "psm-grant approve: adds one signed line after the request, which is kept byte for byte" {
	request > r
	run -0 --separate-stderr psm-grant approve -k keys/ann.key r
	assert_stderr ''
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "$(cat r)" ]
	printf '%s\n' "${lines[1]}" > a
	run -0 jq -r --arg id "$(jq -r .id r)" \
		'[.psm, .v, .request == $id, .decision, .key, .name, .reason] | map(tostring) | join(" ")' a
	assert_output "approval 1 true approve $(keyid ann) ann null"
	[ $(( $(date +%s) - $(epoch a time) )) -le 5 ]
	# the signature is the line's last field: 64 bytes of base64
	run -0 cat a
	assert_output --regexp ',"sig":"[A-Za-z0-9+/]{86}=="}$'
	# from stdin (or -), and a second approver adds a line after the first
	psm-grant approve -k keys/ann.key < r > ra
	psm-grant approve -k keys/ann.key - < r > ra2
	[ "$(sed -n 1p ra2)" = "$(cat r)" ] && [ "$(wc -l < ra2)" -eq 2 ]
	refused 4 'nosuch: No such file or directory' psm-grant approve -k keys/ann.key nosuch
	run -0 psm-grant approve -k keys/bob.key < ra
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[1]}" = "$(sed -n 2p ra)" ]
	[ "$(jq -r .name <<< "${lines[2]}")" = bob ]
	# a yes may say why too
	run -0 psm-grant approve -k keys/carol.key --reason 'checked the ticket' ra
	[ "$(jq -r .reason <<< "${lines[2]}")" = 'checked the ticket' ]
}

@test "psm-grant approve: the approval covers the request's exact bytes: one byte changed and issue finds a bad signature" {
	request > r
	approve r ra ann
	run -0 issue one.jq ra
	sed '1s/"reason":"disk full"/"reason":"disk fulL"/' ra > changed
	! cmp -s ra changed
	refused 1 "changed:2: bad signature on ann's approval" issue one.jq changed
	assert_stderr --partial "changed: request $(jq -r .id r) refused: "
}

@test "psm-grant approve: the same key twice is refused" {
	request > r
	approve r ra ann bob
	refused 1 "ra:2: key $(keyid ann) has answered this request already" psm-grant approve -k keys/ann.key ra
	refused 1 "ra:3: key $(keyid bob) has answered this request already" psm-grant approve -k keys/bob.key --deny --reason no ra
}

@test "psm-grant approve: --deny needs --reason" {
	request > r
	refused 2 "--deny's --reason is required" psm-grant approve -k keys/bob.key --deny r
	refused 2 '-k KEY is required' psm-grant approve r
	refused 2 '--reason: control characters are not allowed' psm-grant approve -k keys/bob.key --deny --reason $'no\n' r
}

@test "psm-grant approve: a denial makes issue refuse, naming who denied and why" {
	request > r
	approve r ra ann
	psm-grant approve -k keys/bob.key --deny --reason 'not during the freeze' ra > rd
	run -0 jq -r -s '.[2] | "\(.decision) \(.name) \(.reason)"' rd
	assert_output 'deny bob not during the freeze'
	refused 1 "rd: request $(jq -r .id r) refused: denied by bob: not during the freeze" issue one.jq rd
	# whatever the policy: a denial is final
	refused 1 'denied by bob: not during the freeze' issue two.jq rd
}

@test "psm-grant approve: an expired request, or one made in the future, is refused" {
	request > r
	id=$(jq -r .id r)
	# a request is unsigned until approved: its times can be edited
	jq -c '.time = "2020-01-01T00:00:00Z" | .expires = "2020-01-01T01:00:00Z"' r > old
	refused 1 "old: request $id expired at 2020-01-01T01:00:00Z" psm-grant approve -k keys/ann.key old
	later=$(( $(date +%s) + 86400 ))
	jq -c --argjson t "$later" '.time = ($t | todate) | .expires = ($t + 3600 | todate)' r > future
	refused 1 "future: request $id was made in the future ($(date -u -d @$later +%Y-%m-%dT%H:%M:%SZ))" \
		psm-grant approve -k keys/ann.key future
}

@test "psm-grant approve: a malformed document is exit 3 with FILE:LINE, a missing one exit 4" {
	echo 'not json' > bad
	refused 3 'bad:1: not JSON' psm-grant approve -k keys/ann.key bad
	refused 3 'stdin:1: not JSON' psm-grant approve -k keys/ann.key < bad
	request > r
	{ cat r; echo '{"psm":"approval"}'; } > bad2
	refused 3 'bad2:2: not a signed approval (no "sig" at its end)' psm-grant approve -k keys/ann.key bad2
	refused 4 'missing: No such file or directory' psm-grant approve -k keys/ann.key missing
}

# ---- issue: refusals ----

@test "psm-grant issue: a request that expired after its approvals is refused" {
	request --expires-in 2s > r
	approve r ra ann
	wait_for 10 now_past "$(epoch r expires)"
	refused 1 "ra: request $(jq -r .id r) expired at $(jq -r .expires r)" issue one.jq ra
}

@test "psm-grant issue: an approval by a key that is not in the approvers file is refused" {
	request > r
	approve r re ann eve
	refused 1 "re:3: key $(keyid eve) is not an approver's (not in keys/approvers)" issue one.jq re
}

@test "psm-grant issue: an approval changed after it was signed is refused (bad signature)" {
	request > r
	approve r ra ann bob
	# bob's approval dated at the request's expiry instead of when bob signed it
	sed "3s/\"time\":\"[^\"]*\"/\"time\":\"$(jq -r .expires r)\"/" ra > changed
	! cmp -s ra changed
	refused 1 "changed:3: bad signature on bob's approval" issue one.jq changed
	# or a reason added
	sed '2s/"reason":null/"reason":"ok"/' ra > changed
	refused 1 "changed:2: bad signature on ann's approval" issue one.jq changed
}

@test "psm-grant issue: an approval copied from another request's document is refused" {
	request > r1
	request > r2
	approve r1 r1a ann
	{ cat r2; sed -n 2p r1a; } > copied
	refused 1 "copied:2: an approval of another request ($(jq -r .id r1))" issue one.jq copied
	# with the other request's id put in, its signature no longer holds
	sed "2s/$(jq -r .id r1)/$(jq -r .id r2)/" copied > renamed
	refused 1 "renamed:2: bad signature on ann's approval" issue one.jq renamed
}

@test "psm-grant issue: approving one's own request does not count, unless the policy allows it" {
	printf '%s ops ann.pub\nbob dba bob.pub\n' "$ME" > keys/self
	request > r
	approve r ra ann
	refused 1 "1 approval needed, 0 counted (approving one's own request does not count)" \
		psm-grant issue -k keys/ca.key --policy one.jq --approvers keys/self ra
	printf '{allow: true, approvals: 1, self_approval: true}\n' > self.jq
	run -0 --separate-stderr psm-grant issue -k keys/ca.key --policy self.jq --approvers keys/self ra
	run -0 jq -r '.approvers | map(.name) | join(" ")' <<< "$output"
	assert_output "$ME"
	# someone else's approval counts; one's own still does not
	approve ra rab bob
	refused 1 "2 approvals needed, 1 counted (approving one's own request does not count)" \
		psm-grant issue -k keys/ca.key --policy two.jq --approvers keys/self rab
}

@test "psm-grant issue: too few approvals are refused; the same approval twice counts once" {
	request > r
	refused 1 "r: request $(jq -r .id r) refused: 1 approval needed, 0 counted" issue one.jq r
	approve r ra ann
	refused 1 'refused: 2 approvals needed, 1 counted' issue two.jq ra
	{ cat ra; sed -n 2p ra; } > twice
	refused 1 'refused: 2 approvals needed, 1 counted' issue two.jq twice
	approve r rab ann bob
	run -0 issue two.jq rab
}

@test "psm-grant issue: each group of the policy needs an approver of its own" {
	printf '{allow: true, approvals: 1, groups: ["security", "dba"]}\n' > groups.jq
	request > r
	# two approvers, both only in dba
	printf 'ann dba ann.pub\nbob dba bob.pub\n' > keys/dba-only
	approve r rab ann bob
	refused 1 'refused: group security is not represented (each group needs an approver of its own)' \
		psm-grant issue -k keys/ca.key --policy groups.jq --approvers keys/dba-only rab
	# one approver in both groups stands for one of them only
	approve r rc carol
	refused 1 'refused: group dba is not represented' issue groups.jq rc
	# security and dba
	run -0 issue groups.jq rab
	# carol can be the security one when bob is the dba
	approve r rcb carol bob
	run -0 issue groups.jq rcb
	run -0 jq -c '.approvers | map([.name, .groups])' <<< "$output"
	assert_output '[["carol",["dba","security"]],["bob",["dba"]]]'
}

@test "psm-grant issue: a ttl over the policy's max_ttl is refused (3600 s when it does not say)" {
	printf '{allow: true, max_ttl: 600}\n' > short.jq
	request > r
	approve r ra ann
	refused 1 "refused: a ttl of 900 s is over the policy's maximum of 600 s" issue short.jq ra
	request --ttl 2h > r
	approve r ra ann
	refused 1 "refused: a ttl of 7200 s is over the policy's maximum of 3600 s" issue one.jq ra
	request --ttl 1h > r
	approve r ra ann
	run -0 issue one.jq ra
}

@test "psm-grant issue: a policy that says no is a refusal with its reason" {
	request > r
	approve r ra ann bob
	printf '{allow: false, reason: "no access during the freeze"}\n' > no.jq
	refused 1 "ra: request $(jq -r .id r) refused: no access during the freeze" issue no.jq ra
	printf '{allow: false}\n' > no.jq
	refused 1 'refused: the policy does not allow it' issue no.jq ra
	# its reason is quoted: no control bytes reach the terminal
	printf '{allow: false, reason: "a\\u001b[2Jb"}\n' > no.jq
	refused 1 'refused: a\x1b[2Jb' issue no.jq ra
}

@test "psm-grant issue: the policy sees the request, the counted approvals and the time" {
	request > r
	approve r ra ann bob
	cat > input.jq <<-'EOF'
	{allow: false, reason: ([.request.role, .request.user, .request.ttl,
	  (.approvals | map("\(.name)/\(.groups | join(","))/\(.key)/\(.self)") | join(" ")),
	  ((.now - .approvals[0].time) | . >= 0 and . < 60),
	  ((.now - (.request.time | fromdateiso8601)) | . >= 0 and . < 60)] | map(tostring) | join(" "))}
	EOF
	refused 1 "refused: dba $ME 900 ann/security/$(keyid ann)/false bob/dba/$(keyid bob)/false true true" \
		issue input.jq ra
}

@test "psm-grant issue: a policy that does not compile is exit 3 with FILE:LINE and jq's words" {
	request > r
	approve r ra ann
	printf '{allow: true,\n  approvals: 1 +}\n' > bad.jq
	refused 3 "bad.jq:2: syntax error, unexpected '+'" issue bad.jq ra
	printf '{allow: true}\n|\n\nnosuch(1)\n' > bad.jq
	refused 3 'bad.jq:4: nosuch/1 is not defined' issue bad.jq ra
	# an empty program is jq's identity: its output, the input, has no "allow"
	: > empty.jq
	refused 3 'empty.jq: its output'"'"'s "allow" is not true or false (it is required)' issue empty.jq ra
	refused 4 'missing.jq: No such file or directory' issue missing.jq ra
}

@test "psm-grant issue: a policy with a module is refused, one that never ends is stopped after 10 s: exit 3, no grant" {
	request > r
	approve r ra ann
	printf 'import "rules" as r;\n{allow: true}\n' > mod.jq
	refused 3 'mod.jq: module not found: rules' issue mod.jq ra
	printf 'def forever: forever;\nforever\n' > loop.jq
	SECONDS=0
	refused 3 'loop.jq: did not finish within 10 seconds' issue loop.jq ra
	[ "$SECONDS" -ge 9 ] && [ "$SECONDS" -le 20 ] || fail "stopped after $SECONDS s"
}

@test "psm-grant issue: a policy that fails when run, gives no object, or a value of the wrong type is exit 3" {
	request > r
	approve r ra ann
	p() { printf '%s\n' "$1" > p.jq; }
	p 'error("x")'
	refused 3 'p.jq: error: x' issue p.jq ra
	p '.request.ttl | keys'
	refused 3 'p.jq: error: number (900) has no keys' issue p.jq ra
	p '[{allow: true}]'
	refused 3 'p.jq: its output is not an object' issue p.jq ra
	p 'empty'
	refused 3 'p.jq: gave no output (an object is needed)' issue p.jq ra
	p '{allow: true, approvals: "two"}'
	refused 3 'p.jq: its output'"'"'s "approvals" is not a number' issue p.jq ra
	p '{allow: true, approvals: -1}'
	refused 3 '"approvals" is not a whole number in range' issue p.jq ra
	p '{allow: true, approvals: 1.5}'
	refused 3 '"approvals" is not a whole number in range' issue p.jq ra
	p '{allow: true, max_ttl: 604801}'
	refused 3 '"max_ttl" is not a whole number in range' issue p.jq ra
	p '{approvals: 1}'
	refused 3 '"allow" is not true or false (it is required)' issue p.jq ra
	p '{allow: "yes"}'
	refused 3 '"allow" is not true or false' issue p.jq ra
	p '{allow: true, self_approval: 1}'
	refused 3 '"self_approval" is not true or false' issue p.jq ra
	p '{allow: true, groups: "dba"}'
	refused 3 '"groups" is not an array' issue p.jq ra
	p '{allow: true, flags: ["break glass"]}'
	refused 3 '"flags" is not an array of names' issue p.jq ra
	p '{allow: false, reason: 5}'
	refused 3 '"reason" is not a string' issue p.jq ra
}

@test "psm-grant issue: a malformed request document is exit 3 with FILE:LINE" {
	request > r
	approve r ra ann
	echo 'not json' > doc
	refused 3 'doc:1: not JSON' issue one.jq doc
	# (libjq 1.6 would lose the string that follows "psm": it is refused before)
	sed 's/"request",/"request" /' r > doc
	refused 3 'doc:1: not JSON (a string where a separator is expected)' issue one.jq doc
	jq -c 'del(.reason)' r > doc
	refused 3 'doc:1: not a request: no "reason"' issue one.jq doc
	jq -c '.ttl = "900"' r > doc
	refused 3 'doc:1: request: "ttl" is not a number' issue one.jq doc
	sed 's/"time":"[^"]*"/"time":"2026-02-30T00:00:00Z"/' r > doc
	refused 3 'doc:1: request: "time" is not a valid time (YYYY-MM-DDTHH:MM:SSZ)' issue one.jq doc
	sed 's/"time":"\([^"]*\)Z"/"time":"\1+00:00"/' r > doc
	refused 3 'doc:1: request: "time" is not a valid time' issue one.jq doc
	jq -c '.psm = "grant"' r > doc
	refused 3 'doc:1: not a psm request ("psm":"request" expected)' issue one.jq doc
	jq -c '.v = 2' r > doc
	refused 3 'doc:1: a request of version 2, which this psm does not read' issue one.jq doc
	jq -c '.reason = "a\u0007b"' r > doc
	refused 3 'doc:1: request: "reason" is not a valid text' issue one.jq doc
	: > doc
	refused 3 'doc:1: empty, not a request' issue one.jq doc
	refused 3 'stdin:1: empty, not a request' issue one.jq < doc
	refused 3 'stdin:1: empty, not a request' issue one.jq - < doc
	head -c -1 ra > doc
	refused 3 'doc:2: the last line is not whole' issue one.jq doc
	head -c 50 r > doc
	refused 3 'doc:1: the last line is not whole' issue one.jq doc
	{ cat r; echo '{"psm":"approval","v":1}'; } > doc
	refused 3 'doc:2: not a signed approval' issue one.jq doc
	{ cat ra; echo; } > doc
	refused 3 'doc:3: not a signed approval' issue one.jq doc
	sed '2s/"decision":"approve"/"decision":"maybe"/' ra > doc
	refused 3 'doc:2: approval: "decision" is neither "approve" nor "deny"' issue one.jq doc
	refused 4 'missing: No such file or directory' issue one.jq missing
}

@test "psm-grant issue: a malformed approvers file is exit 3 with FILE:LINE" {
	request > r
	approve r ra ann
	echo 'dave security' >> keys/approvers
	refused 3 'keys/approvers:6: not NAME GROUP[,GROUP...] PUBKEY-FILE' issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'dave security eve.pub extra' >> keys/approvers
	refused 3 'keys/approvers:6: not NAME GROUP[,GROUP...] PUBKEY-FILE' issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'da/ve security eve.pub' >> keys/approvers
	refused 3 "keys/approvers:6: 'da/ve' is not a valid name" issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'dave sec/urity eve.pub' >> keys/approvers
	refused 3 "keys/approvers:6: 'sec/urity' is not a valid group name" issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'ann2 security ann.pub' >> keys/approvers
	refused 3 'keys/approvers:6: ann2 or its key is named twice' issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'ann dba eve.pub' >> keys/approvers
	refused 3 'keys/approvers:6: ann or its key is named twice' issue one.jq ra
	sed -i '$d' keys/approvers
	echo 'dave security eve.key' >> keys/approvers
	refused 3 'keys/approvers:6: keys/eve.key:1: not a psm public key' issue one.jq ra
}

@test "psm-grant issue: an approver's key file that is missing is exit 4, named with its line" {
	request > r
	approve r ra ann
	echo 'dave security dave.pub' >> keys/approvers
	refused 4 'keys/approvers:6: keys/dave.pub: No such file or directory' issue one.jq ra
	refused 4 'nosuch: No such file or directory' \
		psm-grant issue -k keys/ca.key --policy one.jq --approvers nosuch ra
}

@test "psm-grant issue: a secret key that others can read is refused (exit 4)" {
	request > r
	approve r ra ann
	cp keys/ca.key open.key
	chmod 644 open.key
	refused 4 'open.key: secret key is readable by group or others (chmod 600 open.key)' \
		psm-grant issue -k open.key --policy one.jq --approvers keys/approvers ra
	cp keys/bob.key open-bob.key
	chmod 640 open-bob.key
	refused 4 'open-bob.key: secret key is readable by group or others' psm-grant approve -k open-bob.key ra
}

@test "psm-grant issue: missing options and SSH options without their pair are usage errors" {
	request > r
	approve r ra ann
	refused 2 '-k CA.key is required' psm-grant issue --policy one.jq --approvers keys/approvers ra
	refused 2 '--policy is required' psm-grant issue -k keys/ca.key --approvers keys/approvers ra
	refused 2 '--approvers is required' psm-grant issue -k keys/ca.key --policy one.jq ra
	refused 2 '--ssh-pubkey and --ssh-ca go together' issue one.jq --ssh-pubkey user.pub ra
	refused 2 '--ssh-pubkey and --ssh-ca go together' issue one.jq --ssh-ca keys/ssh-ca.key ra
	refused 2 '--ssh-force-command and --ssh-source-address need --ssh-pubkey' \
		issue one.jq --ssh-source-address 10.0.0.0/8 ra
	refused 2 '--ssh-force-command and --ssh-source-address need --ssh-pubkey' \
		issue one.jq --ssh-force-command true ra
}

# ---- issue: grants ----

@test "psm-grant issue: the grant carries the request, its approvers and the CA, signed" {
	request --target postgres@db1 --ticket INC-7 --command 'psql -c vacuum' > r
	approve r rab ann bob
	run -0 --separate-stderr issue two.jq rab
	assert_stderr ''
	[ "${#lines[@]}" -eq 1 ]
	printf '%s\n' "$output" > g
	run -0 jq -r --slurpfile r r '[.psm, .v, .id == $r[0].id, .user == $r[0].user, .uid == $r[0].uid,
		.role, .account, .target, .ticket, .command, .reason, .requested == $r[0].time,
		.ca] | map(tostring) | join("|")' g
	assert_output "grant|1|true|true|true|dba|postgres|db1|INC-7|psql -c vacuum|disk full|true|$(keyid ca)"
	# each approver: name, key, groups from the approvers file, and when the approval was signed
	run -0 jq -c '.approvers | map([.name, .key, .groups])' g
	assert_output "[[\"ann\",\"$(keyid ann)\",[\"security\"]],[\"bob\",\"$(keyid bob)\",[\"dba\"]]]"
	[ "$(jq -r '.approvers | map(.time) | join(" ")' g)" = "$(sed 1d rab | jq -r .time | paste -sd' ')" ]
	run -0 jq -r '"\(.serial | type) \(.serial > 0) \(.flags)"' g
	assert_output 'number true []'
	run -0 cat g
	assert_output --regexp ',"ca":"[0-9a-f]{16}","sig":"[A-Za-z0-9+/]{86}=="}$'
	run -0 psm-grant check --ca keys/ca.pub g
	# a grant is never a request: issue refuses it as input
	refused 3 'g:1: not a psm request' issue one.jq g
}

@test "psm-grant issue: the window starts when the grant is issued, not when it was asked for" {
	request --ttl 20m > r
	sleep 2		# time passes between the request and its grant: nothing to poll
	approve r ra ann
	issue one.jq ra > g
	issued=$(epoch g issued)
	[ "$(epoch g not_before)" -eq "$issued" ]
	[ $(( $(epoch g expires) - issued )) -eq 1200 ]
	[ "$(epoch g requested)" -eq "$(epoch r time)" ]
	[ "$issued" -gt "$(epoch r time)" ]
	[ $(( $(date +%s) - issued )) -le 5 ]
}

@test "psm-grant issue: the policy's flags are the grant's, and check shows them" {
	printf '{allow: true, flags: ["break-glass", "audit-live"]}\n' > flags.jq
	request > r
	approve r ra ann
	issue flags.jq ra > g
	run -0 jq -c .flags g
	assert_output '["break-glass","audit-live"]'
	run -0 psm-grant check --ca keys/ca.pub g
	assert_line 'flags break-glass,audit-live'
}

@test "psm-grant issue --explain: the decision and each approval on stderr, only the grant on stdout" {
	request > r
	approve r rab ann bob
	id=$(jq -r .id r)
	run -0 --separate-stderr issue two.jq --explain rab
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .psm <<< "$output")" = grant ]
	assert_stderr --partial "psm-grant: request $id: $ME asks for dba as $ME on db1 for 900 s"
	assert_stderr --partial 'psm-grant: line 2: ann (security) approved'
	assert_stderr --partial 'psm-grant: line 3: bob (dba) approved'
	assert_stderr --partial 'psm-grant: policy two.jq said {"allow":true,"approvals":2}'
	assert_stderr --partial 'psm-grant: needed: 2 approvals, a ttl of at most 3600 s; counted: 2'
	assert_stderr --partial "psm-grant: decision: issued, grant $id from $(jq -r .issued <<< "$output") to $(jq -r .expires <<< "$output")"
	# and a refusal, explained
	approve r ra ann
	run -1 --separate-stderr issue two.jq --explain ra
	assert_output ''
	assert_stderr --partial 'psm-grant: decision: refused'
	assert_stderr --partial 'refused: 2 approvals needed, 1 counted'
	# without --explain, nothing on stderr
	run -0 --separate-stderr issue two.jq rab
	assert_stderr ''
}

@test "psm-grant issue: the shipped policies compile and decide" {
	shipped=("$BATS_TEST_DIRNAME"/../share/psm/policies/*.jq)
	[ -e "${shipped[0]}" ] || fail "no policies in share/psm/policies"
	request > r
	approve r rab ann bob
	for p in "${shipped[@]}"; do
		run --separate-stderr issue "$p" rab
		[ "$status" -eq 0 ] || [ "$status" -eq 1 ] || fail "$p: exit $status: $stderr"
		[ "$status" -eq 0 ] || assert_stderr --partial 'refused: '
	done
}

# ---- check ----

@test "psm-grant check: a valid grant's window and scope, exit 0" {
	request --target postgres@db1 --ticket CHG-9 --ttl 90m > r
	approve r rab ann bob
	printf '{allow: true, approvals: 2, max_ttl: 7200}\n' > long.jq
	issue long.jq rab > g
	run -0 --separate-stderr psm-grant check --ca keys/ca.pub g
	assert_stderr ''
	assert_line --index 0 "grant $(jq -r .id g) (serial $(jq -r .serial g), CA $(keyid ca))"
	assert_line --index 1 "user $ME (uid $(id -u)), role dba, asked $(jq -r .time r)"
	assert_line --index 2 'scope postgres on db1, any command'
	assert_line --index 3 "approved by ann (security) at $(jq -r '.approvers[0].time' g), bob (dba) at $(jq -r '.approvers[1].time' g)"
	assert_line --index 4 'reason disk full'
	assert_line --index 5 'ticket CHG-9'
	assert_line --index 6 "window $(jq -r .issued g) to $(jq -r .expires g) (90m)"
	assert_line --index 7 'valid now'
	[ "${#lines[@]}" -eq 8 ]
	# from stdin; a command-only grant says so
	grant g2 --command 'pg_dump app'
	run -0 psm-grant check --ca keys/ca.pub < g2
	assert_line "scope $ME on db1, only: pg_dump app"
	run -0 psm-grant check --ca keys/ca.pub - < g2
}

@test "psm-grant check: a grant with one byte changed is refused (bad signature)" {
	grant g
	id=$(jq -r .id g)
	sed 's/"target":"db1"/"target":"db2"/' g > changed
	refused 1 "changed:1: grant $id: bad signature (changed after it was issued, or not issued by key $(keyid ca))" \
		psm-grant check --ca keys/ca.pub changed
	# the window made longer
	sed "s/\"expires\":\"[^\"]*\"/\"expires\":\"$(date -u -d '+5 hours' +%Y-%m-%dT%H:%M:%SZ)\"/" g > changed
	refused 1 'changed:1: grant '"$id"': bad signature' psm-grant check --ca keys/ca.pub changed
}

@test "psm-grant check: a grant issued by another CA is refused" {
	grant g
	id=$(jq -r .id g)
	refused 1 "g:1: grant $id was issued by key $(keyid ca), not by $(keyid other-ca)" \
		psm-grant check --ca keys/other-ca.pub g
	# the other CA's id written in: the signature is still the first CA's
	sed "s/\"ca\":\"$(keyid ca)\"/\"ca\":\"$(keyid other-ca)\"/" g > claimed
	refused 1 "claimed:1: grant $id: bad signature" psm-grant check --ca keys/other-ca.pub claimed
	refused 2 '--ca is required' psm-grant check g
	refused 3 'keys/ca.key:1: not a psm public key' psm-grant check --ca keys/ca.key g
}

@test "psm-grant check: an expired grant is exit 1, 'expired'" {
	grant g --ttl 1s
	wait_for 10 now_past "$(epoch g expires)"
	run -1 --separate-stderr psm-grant check --ca keys/ca.pub g
	assert_stderr ''
	assert_line "window $(jq -r .issued g) to $(jq -r .expires g) (1s)"
	[ "${lines[-1]}" = expired ]
}

@test "psm-grant check --revoked: a revoked grant is exit 1, 'revoked'" {
	grant g
	grant other
	psm-grant revoke -k keys/ca.key --list rl g
	run -1 --separate-stderr psm-grant check --ca keys/ca.pub --revoked rl g
	assert_stderr ''
	[ "${lines[-1]}" = revoked ]
	run -0 psm-grant check --ca keys/ca.pub --revoked rl other
	[ "${lines[-1]}" = 'valid now' ]
	: > empty
	run -0 psm-grant check --ca keys/ca.pub --revoked empty g
	refused 4 'nosuch: No such file or directory' psm-grant check --ca keys/ca.pub --revoked nosuch g
}

@test "psm-grant check: a malformed grant file is exit 3 with FILE:LINE" {
	grant g
	: > bad
	refused 3 'bad:1: empty, not a grant' psm-grant check --ca keys/ca.pub bad
	echo 'not json' > bad
	refused 3 'bad:1: not a signed grant (no "sig" at its end)' psm-grant check --ca keys/ca.pub bad
	{ cat g; cat g; } > bad
	refused 3 'bad:2: a grant file has one line' psm-grant check --ca keys/ca.pub bad
	sed 's/^{"psm":"grant",/{"psm":"grant" /' g > bad
	refused 3 'bad:1: not JSON' psm-grant check --ca keys/ca.pub bad
	sed 's/"serial":[0-9]*/"serial":-1/' g > bad
	refused 3 'bad:1: grant: "serial" is not a whole number' psm-grant check --ca keys/ca.pub bad
	sed 's/"target":"db1"/"target":"db 1"/' g > bad
	refused 3 'bad:1: grant: "target" is not a valid host name' psm-grant check --ca keys/ca.pub bad
	sed 's/"flags":\[\]/"flags":{}/' g > bad
	refused 3 'bad:1: grant: "flags" is not an array' psm-grant check --ca keys/ca.pub bad
	# a request or an approval is not a grant
	refused 3 'g.req:1: not a signed grant' psm-grant check --ca keys/ca.pub g.req
	sed -n 2p g.doc > approval
	refused 3 'approval:1: not a psm grant ("psm":"grant" expected)' psm-grant check --ca keys/ca.pub approval
	refused 4 'nosuch: No such file or directory' psm-grant check --ca keys/ca.pub nosuch
}

# ---- revoke ----

@test "psm-grant revoke: appends one line signed by the CA; revoking again adds none" {
	grant g
	grant g2
	run -0 --separate-stderr psm-grant revoke -k keys/ca.key --list rl --reason 'left the company' g
	assert_output ''
	assert_stderr ''
	[ "$(wc -l < rl)" -eq 1 ]
	run -0 jq -r --slurpfile g g '[.psm, .v, .grant == $g[0].id, .serial == $g[0].serial, .reason, .ca] |
		map(tostring) | join(" ")' rl
	assert_output "revoked 1 true true left the company $(keyid ca)"
	[ $(( $(date +%s) - $(epoch rl time) )) -le 5 ]
	run -0 cat rl
	assert_output --regexp ',"sig":"[A-Za-z0-9+/]{86}=="}$'
	cp rl before
	run -0 --separate-stderr psm-grant revoke -k keys/ca.key --list rl g
	assert_stderr "psm-grant: rl: grant $(jq -r .id g) is revoked already"
	cmp rl before
	psm-grant revoke -k keys/ca.key --list rl - < g2
	[ "$(wc -l < rl)" -eq 2 ]
	run -0 jq -r .reason rl
	assert_output $'left the company\nnull'
}

@test "psm-grant revoke: a revocation list with a forged line is refused with FILE:LINE" {
	grant g
	grant g2
	psm-grant revoke -k keys/ca.key --list rl g2
	cp rl good
	# a byte changed: the line names another grant
	sed "s/$(jq -r .id g2)/$(jq -r .id g)/" good > rl
	refused 1 "rl:1: bad signature (not signed by key $(keyid ca))" psm-grant check --ca keys/ca.pub --revoked rl g
	# a line signed by another key
	request > r
	approve r ra ann
	psm-grant issue -k keys/other-ca.key --policy one.jq --approvers keys/approvers ra > other-g
	psm-grant revoke -k keys/other-ca.key --list other-rl other-g
	cat good other-rl > rl
	refused 1 "rl:2: bad signature (not signed by key $(keyid ca))" psm-grant check --ca keys/ca.pub --revoked rl g
	# revoke refuses to add to it
	refused 1 'rl:2: bad signature' psm-grant revoke -k keys/ca.key --list rl g
	cmp rl <(cat good other-rl)
	# lines that are not revocations at all
	{ cat good; echo '{"psm":"revoked"}'; } > rl
	refused 3 'rl:2: not a signed revocation' psm-grant check --ca keys/ca.pub --revoked rl g
	{ cat good; cat g; } > rl
	refused 3 'rl:2: not a psm revoked ("psm":"revoked" expected)' psm-grant check --ca keys/ca.pub --revoked rl g
	head -c -1 good > rl
	refused 3 'rl:1: the last line is not whole' psm-grant check --ca keys/ca.pub --revoked rl g
}

@test "psm-grant revoke: a grant of another CA is refused, and nothing is written" {
	grant g
	refused 1 "g:1: grant $(jq -r .id g) was issued by key $(keyid ca), not by $(keyid other-ca)" \
		psm-grant revoke -k keys/other-ca.key --list rl g
	[ ! -e rl ]
	sed 's/"role":"dba"/"role":"dbb"/' g > changed
	refused 1 'changed:1: grant' psm-grant revoke -k keys/ca.key --list rl changed
	[ ! -e rl ]
}

@test "psm-grant revoke: usage errors" {
	grant g
	refused 2 '--list is required' psm-grant revoke -k keys/ca.key g
	refused 2 '-k CA.key is required' psm-grant revoke --list rl g
	refused 2 'the grant (a file, or - for stdin) is required' psm-grant revoke -k keys/ca.key --list rl
	refused 2 '--krl and --ssh-ca go together' psm-grant revoke -k keys/ca.key --list rl --krl krl g
	refused 2 '--krl and --ssh-ca go together' psm-grant revoke -k keys/ca.key --list rl --ssh-ca keys/ssh-ca.pub g
	refused 2 '--reason: control characters are not allowed' psm-grant revoke -k keys/ca.key --list rl --reason $'a\nb' g
	[ ! -e rl ]
}

# ---- OpenSSH ----

need_ssh_keygen() {
	command -v ssh-keygen >/dev/null || fail "ssh-keygen is not installed (scripts/deps.sh test installs openssh-client)"
}

@test "psm-grant ssh-ca: prints an OpenSSH public key line that ssh-keygen reads" {
	need_ssh_keygen
	run -0 --separate-stderr psm-grant ssh-ca keys/ssh-ca.pub
	assert_stderr ''
	assert_output --regexp '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} ssh-ca$'
	printf '%s\n' "$output" > ca.ssh
	run -0 ssh-keygen -l -f ca.ssh
	assert_output --regexp '^256 SHA256:[A-Za-z0-9+/]{43} ssh-ca \(ED25519\)$'
	refused 2 'a public key file is required' psm-grant ssh-ca
	refused 3 'keys/ssh-ca.key:1: not a psm public key' psm-grant ssh-ca keys/ssh-ca.key
	refused 4 'nosuch: No such file or directory' psm-grant ssh-ca nosuch
}

@test "psm-grant issue --ssh-pubkey: the certificate's principal, serial, key id and window are the grant's" {
	need_ssh_keygen
	ssh-keygen -q -t ed25519 -N '' -C alice -f user
	request --target postgres@db1 --ttl 30m > r
	approve r rab ann bob
	run -0 --separate-stderr issue two.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key rab
	assert_stderr ''
	printf '%s\n' "$output" > g
	psm-grant ssh-ca keys/ssh-ca.pub > ca.ssh
	TZ=UTC run -0 ssh-keygen -L -f user-cert.pub
	assert_output --partial 'Type: ssh-ed25519-cert-v01@openssh.com user certificate'
	assert_output --partial "Public key: ED25519-CERT $(ssh-keygen -lf user.pub | cut -d' ' -f2)"
	assert_output --partial "Signing CA: ED25519 $(ssh-keygen -lf ca.ssh | cut -d' ' -f2) (using ssh-ed25519)"
	assert_output --partial "Key ID: \"grant=$(jq -r .id g) user=$ME approvers=ann,bob\""
	assert_output --partial "Serial: $(jq -r .serial g)"
	from=$(( $(epoch g issued) - 60 ))
	assert_output --partial "Valid: from $(date -u -d @$from +%Y-%m-%dT%H:%M:%S) to $(date -u -d @"$(epoch g expires)" +%Y-%m-%dT%H:%M:%S)"
	assert_output --regexp $'Principals: *\n +postgres\n +Critical Options:'
	# ssh-keygen names it so: user.pub -> user-cert.pub, a name without .pub too
	cp user.pub bare
	issue two.jq --ssh-pubkey bare --ssh-ca keys/ssh-ca.key rab > /dev/null
	run -0 ssh-keygen -L -f bare-cert.pub
}

@test "psm-grant issue --ssh-pubkey: force-command with %g, source-address when asked, only permit-pty by default" {
	need_ssh_keygen
	ssh-keygen -q -t ed25519 -N '' -f user
	request > r
	approve r ra ann
	issue one.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra > g
	id=$(jq -r .id g)
	run -0 ssh-keygen -L -f user-cert.pub
	assert_output --regexp $'Critical Options: *\n +force-command psm-record --grant /[^ ]*/grants/'"$id"$'\n +Extensions: *\n +permit-pty$'
	refute_output --partial source-address
	issue one.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key --ssh-force-command 'run %g, 100%% %x' \
		--ssh-source-address 10.1.0.0/16,192.0.2.7 ra > g
	id=$(jq -r .id g)
	run -0 ssh-keygen -L -f user-cert.pub
	assert_output --partial "force-command run $id, 100% %x"
	assert_output --partial 'source-address 10.1.0.0/16,192.0.2.7'
	refused 2 '--ssh-source-address: control characters are not allowed' \
		issue one.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key --ssh-source-address $'10.0.0.1\n' ra
}

@test "psm-grant issue --ssh-pubkey: the policy's ssh_extensions are the certificate's; an unknown one is exit 3" {
	need_ssh_keygen
	ssh-keygen -q -t ed25519 -N '' -f user
	request > r
	approve r ra ann
	printf '{allow: true, ssh_extensions: ["permit-pty", "permit-agent-forwarding", "permit-X11-forwarding"]}\n' > ext.jq
	issue ext.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra > g
	run -0 ssh-keygen -L -f user-cert.pub
	assert_output --regexp $'Extensions: *\n +permit-X11-forwarding\n +permit-agent-forwarding\n +permit-pty$'
	printf '{allow: true, ssh_extensions: []}\n' > none.jq
	issue none.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra > g
	run -0 ssh-keygen -L -f user-cert.pub
	assert_output --regexp $'Extensions: *\\(none\\)$|Extensions: *$'
	rm user-cert.pub
	printf '{allow: true, ssh_extensions: ["permit-pty", "permit-everything"]}\n' > bad.jq
	refused 3 "bad.jq: unknown SSH extension 'permit-everything'" \
		issue bad.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra
	[ ! -e user-cert.pub ]
	# a certificate cannot name one twice (OpenSSH wants them in strict order)
	printf '{allow: true, ssh_extensions: ["permit-pty", "permit-pty"]}\n' > twice.jq
	refused 3 "twice.jq: SSH extension 'permit-pty' named twice" \
		issue twice.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra
	[ ! -e user-cert.pub ]
}

@test "psm-grant issue --ssh-pubkey: a refused request gets no certificate, and a bad public key is exit 3" {
	need_ssh_keygen
	ssh-keygen -q -t ed25519 -N '' -f user
	request > r
	refused 1 'refused: 1 approval needed, 0 counted' issue one.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key r
	[ ! -e user-cert.pub ]
	approve r ra ann
	echo 'ssh-ed25519 AAAA' > junk.pub
	run -3 --separate-stderr issue one.jq --ssh-pubkey junk.pub --ssh-ca keys/ssh-ca.key ra
	assert_output ''
	assert_stderr --partial 'junk.pub:1: '
	[ ! -e junk-cert.pub ]
	ssh-keygen -q -t rsa -b 1024 -N '' -f rsa
	run -3 --separate-stderr issue one.jq --ssh-pubkey rsa.pub --ssh-ca keys/ssh-ca.key ra
	assert_output ''
	assert_stderr --partial 'rsa.pub:1: '
}

@test "psm-grant revoke --krl: ssh-keygen -Q finds the grant's certificate revoked" {
	need_ssh_keygen
	ssh-keygen -q -t ed25519 -N '' -f user
	ssh-keygen -q -t ed25519 -N '' -f user2
	request > r
	approve r ra ann
	request > r2
	approve r2 r2a ann
	issue one.jq --ssh-pubkey user.pub --ssh-ca keys/ssh-ca.key ra > g
	issue one.jq --ssh-pubkey user2.pub --ssh-ca keys/ssh-ca.key r2a > g2
	run -0 --separate-stderr psm-grant revoke -k keys/ca.key --list rl --krl krl --ssh-ca keys/ssh-ca.pub g
	assert_output ''
	run -1 ssh-keygen -Q -f krl user-cert.pub
	assert_output --partial 'user-cert.pub (grant='"$(jq -r .id g)"' '
	assert_output --partial 'REVOKED'
	run -0 ssh-keygen -Q -f krl user2-cert.pub
	assert_output --partial ': ok'
	# the KRL is updated, not made again
	psm-grant revoke -k keys/ca.key --list rl --krl krl --ssh-ca keys/ssh-ca.pub g2
	run -1 ssh-keygen -Q -f krl user-cert.pub
	run -1 ssh-keygen -Q -f krl user2-cert.pub
	[ "$(wc -l < rl)" -eq 2 ]
}

@test "psm-grant issue: a document of more than 32 answers is refused (exit 3, FILE:LINE): a grant names every approver" {
	request > r
	approve r ra ann
	{ cat ra; for i in $(seq 32); do tail -n 1 ra; done; } > many
	[ "$(wc -l < many)" -eq 34 ]
	refused 3 'many:34: over 32 approvals' issue one.jq many
	{ cat ra; for i in $(seq 31); do tail -n 1 ra; done; } > enough
	run -0 --separate-stderr issue one.jq enough
}
