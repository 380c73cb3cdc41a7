#!/usr/bin/env bats
# No leaks and no invalid accesses under valgrind on the main paths
# (make check; make check-asan covers the whole suite with LeakSanitizer).
load helpers

setup() {
	[ -z "${PSM_SANITIZED:-}" ] || skip "valgrind cannot run sanitizer builds"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	cd "$BATS_TEST_TMPDIR"
}

vg() {
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
}

@test "valgrind: psm-record on a PTY, with input, leaks nothing" {
	run -3 sh -c "printf 'echo hi\nexit 3\n' | valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 '$PSM_BIN/psm-record' -o s.jsonl -- sh"
	refute_output --partial '=='
}

@test "valgrind: psm-record --no-pty and --fail-open leak nothing" {
	run -0 vg "$PSM_BIN/psm-record" --no-pty -o s.jsonl -- sh -c 'echo x; echo y >&2' </dev/null
	run -0 vg "$PSM_BIN/psm-record" --fail-open -o /dev/full -- true </dev/null
	run -4 vg "$PSM_BIN/psm-record" -o /dev/full -- true </dev/null
	refute_output --partial '=='
}

@test "valgrind: psm-record withholding and escrowing a password, through a pipeline, with a prompt pattern, leaks nothing" {
	psm-keygen -o auditor --no-passphrase
	# Each line once the command is ready for it: typed-ahead input is not withheld.
	feed() {
		wait_for 20 grep -qs '"data":"ready' s.jsonl && printf 'hunter2\n'	# not the start's argv
		wait_for 20 grep -qs '"withheld"' s.jsonl && printf 'echo after\n'
	}
	run -0 --separate-stderr bash -c "$(declare -f wait_for feed); feed | valgrind -q --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 '$PSM_BIN/psm-record' \
		--escrow auditor.pub --prompt 'token>' -o '|cat > s.jsonl' \
		-- sh -c 'stty -echo; echo ready; read pw; stty echo; read cmd; echo \$cmd'"
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	run jq -r 'select(.type == "withheld") | "\(.reason) \(.bytes) \(.escrow != null)"' s.jsonl
	assert_output 'echo-off 8 true'
	run grep -c hunter2 s.jsonl
	assert_output 0
}

# Valgrind has no seccomp(2) (libseccomp cannot set up a filter under it):
# the sandboxed commands run with --no-sandbox here. The sandbox has its
# own tests, and check-asan runs the whole suite with the filter loaded.
@test "valgrind: psm-replay's modes leak nothing, on good and bad input" {
	psm-record -o s.jsonl -- sh -c 'echo one; printf "\377\n"' </dev/null >/dev/null
	psm-record -o s.jsonl -- sh -c 'echo two' </dev/null >/dev/null
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --list s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --max-wait 0 s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --raw s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --raw --input - < s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --follow s.jsonl
	printf '{"sid":1}\n' >> s.jsonl
	run -3 vg "$PSM_BIN/psm-replay" --no-sandbox --raw s.jsonl
	run -3 vg "$PSM_BIN/psm-replay" --no-sandbox --list s.jsonl
	refute_output --partial '=='
}

@test "valgrind: psm-replay's safe playback, --input and --escrow-key leak nothing" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; printf "a\033]52;c;eA==\007\033[31mb\033[6n\033"; sleep 0.1; printf "]0;t\007c\n"' </dev/null >/dev/null
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --max-wait 0 s.jsonl
	assert_output $'a\e[31mbc'
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --input s.jsonl
	psm-keygen -o k --no-passphrase
	psm-keygen -o other --no-passphrase
	sid=5e55a000-0000-4000-8000-0000000000bd
	box=$("$PSM_BIN/../tests/lib/test-escrow" seal k.pub secret)
	printf '%s\n' "{\"sid\":\"$sid\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$sid\",\"seq\":1,\"t\":1,\"type\":\"withheld\",\"stream\":\"in\",\"bytes\":6,\"reason\":\"prompt\",\"escrow_key\":\"$(cut -d' ' -f2 k.pub)\",\"escrow\":\"$box\"}" > e.jsonl
	run -0 --separate-stderr vg "$PSM_BIN/psm-replay" --no-sandbox --input --escrow-key k.key e.jsonl
	assert_output 'secret'
	run -0 --separate-stderr vg "$PSM_BIN/psm-replay" --no-sandbox --input --escrow-key other.key e.jsonl
	refute_output --partial '=='
	printf '{"sid":"%s","seq":2,"t":2,"type":"withheld","escrow_key":"0123456789abcdef","escrow":"x"}\n' "$sid" >> e.jsonl
	run -3 vg "$PSM_BIN/psm-replay" --no-sandbox --raw --input --escrow-key k.key e.jsonl
	refute_output --partial '=='
}

@test "valgrind: psm-seal and psm-verify leak nothing, on linked streams, refusals and failures" {
	psm-keygen -o k --no-passphrase
	psm-record --no-pty -o a.jsonl -- echo one </dev/null >/dev/null
	psm-record --no-pty -o b.jsonl -- echo two </dev/null >/dev/null
	run -0 vg "$PSM_BIN/psm-seal" --no-sandbox -k k.key --every 2 a.jsonl
	run -0 vg "$PSM_BIN/psm-seal" --no-sandbox -k k.key --append day.jsonl a.jsonl
	run -0 vg "$PSM_BIN/psm-seal" --no-sandbox -k k.key --append day.jsonl b.jsonl
	run -0 vg "$PSM_BIN/psm-verify" --no-sandbox -p k.pub day.jsonl
	run -0 vg "$PSM_BIN/psm-verify" --no-sandbox --json -p k.pub day.jsonl
	# a failure in the middle, an unfinished file, no sealed line, bad input to the sealer
	sed '3s/one/onf/' day.jsonl > bad.jsonl
	run -1 vg "$PSM_BIN/psm-verify" --no-sandbox --json -p k.pub bad.jsonl
	head -n 2 day.jsonl > part.jsonl
	run -5 vg "$PSM_BIN/psm-verify" --no-sandbox -p k.pub part.jsonl
	run -3 vg "$PSM_BIN/psm-verify" --no-sandbox -p k.pub a.jsonl
	run -1 vg "$PSM_BIN/psm-seal" --no-sandbox -k k.key --append bad.jsonl b.jsonl
	printf '{"sid":1}\n' > junk.jsonl
	run -3 vg "$PSM_BIN/psm-seal" --no-sandbox -k k.key junk.jsonl
	refute_output --regexp '==[0-9]+=='	# valgrind's own lines (base64 ends in == too)
}

@test "valgrind: psm-redact masking, holding, prompts, a report, a bad line and a bad rules file leak nothing" {
	openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null
	psm-record -q -o s.jsonl -- sh -c 'echo AKIA2E7QXKFJ5MZL3WRT; cat key.pem; printf "Password: "; read pw; echo' \
		<<<'hunter2' >/dev/null
	run -0 --separate-stderr vg "$PSM_BIN/psm-redact" --no-sandbox --enable email -v --report r.jsonl s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	assert_output --partial '[redacted:aws-access-key-id]'
	assert_output --partial '[redacted:pem-private-key]'
	# from a pipe, and a bad line after good ones (valgrind cannot run the sandbox)
	run -3 --separate-stderr sh -c "{ cat s.jsonl | head -n 3; echo '{'; } |
		valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		'$PSM_BIN/psm-redact' --no-sandbox --hold-time 0"
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	printf 'rule x\n\tpattern (a\n' > bad.rules
	run -3 --separate-stderr vg "$PSM_BIN/psm-redact" --no-sandbox -r bad.rules s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
}

@test "valgrind: psm-ship to a file store, across a rotation, a copytruncate, a bad line, --follow and stdin, leaks nothing" {
	gen() {
		awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"sid\":\"9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"line %d\\r\\n\"}\n", i, i, i }'
	}
	ship() { vg "$PSM_BIN/psm-ship" --no-sandbox --state state --to file:store "$@"; }
	gen 1 50 > s.jsonl
	run -0 --separate-stderr ship --batch 7 -v s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	# a rotation by rename, a half line at the end of the rotated file
	gen 51 60 >> s.jsonl
	printf '{"sid":' >> s.jsonl
	mv s.jsonl s.jsonl.1
	touch -d '1 minute ago' s.jsonl.1
	gen 61 70 > s.jsonl
	run -0 --separate-stderr ship --batch 7 s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	# a copytruncate
	gen 71 75 >> s.jsonl
	cp s.jsonl s.jsonl-2
	: > s.jsonl
	gen 76 80 >> s.jsonl
	run -0 --separate-stderr ship s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	gen 1 80 | cmp - store
	# a bad line, a missing file, a corrupted state
	printf '{"sid":1}\n' >> s.jsonl
	run -4 --separate-stderr ship s.jsonl missing.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	sed -i 's/^lines .*/lines x/' state/*.state
	run -3 --separate-stderr ship s.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	# a sealed stream, open in the state across two runs, then sealed
	psm-keygen -o k --no-passphrase
	psm-record --no-pty -o rec.jsonl -- echo one </dev/null >/dev/null
	psm-seal -k k.key --every 2 rec.jsonl > sealed.jsonl
	head -n 3 sealed.jsonl > open.jsonl
	run -0 --separate-stderr ship open.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	tail -n +4 sealed.jsonl >> open.jsonl
	run -0 --separate-stderr ship open.jsonl
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	# --follow, ended by SIGTERM
	gen 1 5 > f.jsonl
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$PSM_BIN/psm-ship" --no-sandbox --state state --to file:followed --follow f.jsonl \
		2>follow.err 3>&- &
	pid=$!
	wait_for 30 cmp -s f.jsonl followed
	gen 6 8 >> f.jsonl
	wait_for 30 cmp -s f.jsonl followed
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat follow.err)"
	[[ $(cat follow.err) != *==* ]] || fail "valgrind: $(cat follow.err)"
	gen 1 8 | cmp - followed
	# standard input, whole and with a half line at its end
	run -0 --separate-stderr bash -c "$(declare -f gen vg); gen 1 20 | vg '$PSM_BIN/psm-ship' --no-sandbox --state state --to file:piped -"
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	gen 1 20 | cmp - piped
	run -3 --separate-stderr bash -c "$(declare -f gen vg); { gen 1 2; printf '{'; } | vg '$PSM_BIN/psm-ship' --no-sandbox --state state --to file:piped2 -"
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
}

# libjq 1.6 leaks in index() on arrays (lib/policy.c): the policy uses any().
@test "valgrind: psm-grant request, approve twice, issue with an SSH certificate, check and revoke leak nothing, nor do refusals" {
	command -v ssh-keygen >/dev/null || fail "ssh-keygen is not installed (scripts/deps.sh test installs openssh-client)"
	grant() { vg "$PSM_BIN/psm-grant" "$@"; }
	clean() { [[ ! $stderr =~ ==[0-9]+== ]] || fail "valgrind: $stderr"; }
	for k in ca ssh-ca ann bob; do
		psm-keygen -o "$k" --id "$k" --no-passphrase
	done
	printf '# who approves\nann security ann.pub\nbob dba,security bob.pub\n' > approvers
	printf '%s\n' '{allow: any(.approvals[]; .groups | any(. == "dba")), reason: "a dba must approve",' \
		' approvals: 2, groups: ["security", "dba"], max_ttl: 1800, flags: ["break-glass"],' \
		' ssh_extensions: ["permit-pty", "permit-agent-forwarding"]}' > policy.jq
	ssh-keygen -q -t ed25519 -N '' -f user
	run -0 --separate-stderr grant request --role dba --target postgres@db1 --reason 'disk full' \
		--ttl 15m --ticket CHG-1 --command 'vacuumdb --all'
	clean
	printf '%s\n' "$output" > r
	run -0 --separate-stderr bash -c "set -o pipefail; $(declare -f vg grant); grant approve -k ann.key r |
		grant approve -k bob.key --reason 'checked' | tee rab |
		grant issue -k ca.key --policy policy.jq --approvers approvers --explain \
			--ssh-pubkey user.pub --ssh-ca ssh-ca.key --ssh-source-address 10.0.0.0/8 > g &&
		grant check --ca ca.pub --revoked /dev/null < g"
	clean
	assert_output --partial 'valid now'
	ssh-keygen -L -f user-cert.pub > /dev/null
	run -0 --separate-stderr grant revoke -k ca.key --list rl --reason done --krl krl --ssh-ca ssh-ca.pub g
	clean
	run -0 --separate-stderr grant revoke -k ca.key --list rl g
	clean
	run -1 --separate-stderr grant check --ca ca.pub --revoked rl g
	clean
	run -0 --separate-stderr grant ssh-ca ssh-ca.pub
	clean
	# refusals: a policy's no, a bad signature, a malformed request, a policy that does not compile
	sed -n 1,2p rab > ra
	run -1 --separate-stderr grant issue -k ca.key --policy policy.jq --approvers approvers ra
	clean
	sed 's/"target":"db1"/"target":"db2"/' g > changed
	run -1 --separate-stderr grant check --ca ca.pub changed
	clean
	sed '1s/"ttl":900/"ttl":"900"/' rab > bad
	run -3 --separate-stderr grant issue -k ca.key --policy policy.jq --approvers approvers bad
	clean
	printf '{allow: }\n' > bad.jq
	run -3 --separate-stderr grant issue -k ca.key --policy bad.jq --approvers approvers rab
	clean
}

@test "valgrind: psm-record under a grant (run, refused, expired, its revocation list read again good and bad, revoked) and psm-verify --ca leak nothing" {
	tg=$PSM_BIN/../tests/lib/test-grant
	psm-keygen -o ca --no-passphrase
	psm-keygen -o k --no-passphrase
	"$tg" grant ca.key > g.grant
	"$tg" revoke ca.key 00000000-0000-4000-8000-000000000000 > revoked
	run -0 --separate-stderr vg "$PSM_BIN/psm-record" --grant g.grant --ca ca.pub --revoked revoked -o s.jsonl -- echo hi </dev/null
	"$tg" grant ca.key expires=-1 not_before=-60 > old.grant
	run -1 --separate-stderr vg "$PSM_BIN/psm-record" --grant old.grant --ca ca.pub -o x.jsonl -- true </dev/null
	"$tg" grant ca.key expires=+5 > short.grant
	run -129 --separate-stderr vg "$PSM_BIN/psm-record" --grant short.grant --ca ca.pub -o e.jsonl -- sleep 30 </dev/null
	[[ $stderr != *==* ]] || fail "valgrind: $stderr"
	# The list read again: bad (said, kept), then good with the revocation.
	( status=0
	  valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=99 "$PSM_BIN/psm-record" --grant g.grant --ca ca.pub --revoked revoked -o r.jsonl \
		-- sleep 30 </dev/null 2>err || status=$?
	  echo $status > rc ) &
	BG_PIDS=($!)
	wait_for 20 grep -qs '"type":"start"' r.jsonl || fail "no start: $(cat err)"
	echo garbage >> revoked
	wait_for 10 grep -qs 'stays in force' err || fail "nothing said: $(cat err)"
	"$tg" revoke ca.key "$(jq -r .id g.grant)" > revoked
	wait_for 20 test -s rc || fail "not ended: $(cat err)"
	run cat rc
	assert_output 129
	run grep -c '==[0-9]*==' err
	assert_output 0
	[ ! -e x.jsonl ] || fail "a refused session was recorded"
	psm-seal -k k.key s.jsonl > sealed.jsonl
	psm-record -o p.jsonl -- true </dev/null >/dev/null
	psm-seal -k k.key p.jsonl > plain.jsonl
	run -0 vg "$PSM_BIN/psm-verify" --no-sandbox -p k.pub --ca ca.pub sealed.jsonl
	run -0 vg "$PSM_BIN/psm-verify" --no-sandbox --json -p k.pub --ca ca.pub sealed.jsonl
	run -1 vg "$PSM_BIN/psm-verify" --no-sandbox -p k.pub --ca ca.pub plain.jsonl
	run -1 vg "$PSM_BIN/psm-verify" --no-sandbox --json -p k.pub --ca k.pub sealed.jsonl
	refute_output --regexp '==[0-9]+=='
}
