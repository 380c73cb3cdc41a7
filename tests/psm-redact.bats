#!/usr/bin/env bats
# psm-redact: the filter's behaviour (the rules themselves: psm-redact-rules.bats).

load helpers

SID_A=9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05
SID_B=0b5c7e2a-1f3d-4c8e-9a6b-7d2e4f1a3c5b
AWS=AKIAIOSFODNN7EXAMPLE

setup() {
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	stop_background
}

# start SID / ev SID SEQ TYPE DATA / end SID SEQ: the lines of a session.
# DATA is in printf %b form ("\r\n").
start() {
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","version":1,"cols":80,"rows":24}\n' "$1"
}
ev() {
	local d
	d=$(printf '%bX' "$4")
	jq -cn --arg sid "$1" --argjson seq "$2" --arg type "$3" --arg d "${d%X}" \
		'{sid:$sid,seq:$seq,t:$seq,type:$type,data:$d}'
}
end() {
	printf '{"sid":"%s","seq":%d,"t":%d,"type":"end","reason":"exit","exit":0,"duration":1}\n' "$1" "$2" "$2"
}

# session SID TYPE DATA [TYPE DATA]...: a whole session.
session() {
	local sid=$1 seq=1
	shift
	start "$sid"
	while [ $# -gt 0 ]; do
		ev "$sid" $seq "$1" "$2"
		seq=$((seq + 1))
		shift 2
	done
	end "$sid" $seq
}

# The bytes of every TYPE event of a stream, in order.
bytes_of() {
	jq -j --arg t "$2" 'select(.type == $t) | .data // (.b64 | @base64d)' "$1"
}

@test "psm-redact: a recorded session with nothing to mask passes byte for byte" {
	psm-record -q -o rec.jsonl -- sh -c 'ls -l /; echo héllo wörld; printf "\033[1;32mgreen\033[m\n"' \
		</dev/null >/dev/null
	run -0 psm-redact rec.jsonl
	printf '%s\n' "$output" > out.jsonl
	cmp rec.jsonl out.jsonl
}

@test "psm-redact: a secret split across two events at every byte boundary is masked" {
	local text="key=$AWS done\r\n" plain="key=$AWS done"
	for ((cut = 1; cut < ${#plain}; cut++)); do
		{ start $SID_A; ev $SID_A 1 out "${plain:0:cut}"; ev $SID_A 2 out "${plain:cut}\r\n"
		  end $SID_A 3; } > s.jsonl
		run -0 psm-redact s.jsonl
		printf '%s\n' "$output" > r.jsonl
		[ "$(wc -l < r.jsonl)" -eq 4 ] || fail "cut $cut: $(cat r.jsonl)"
		run bytes_of r.jsonl out
		[ "$output" = $'key=[redacted:aws-access-key-id] done\r' ] || fail "cut $cut: '$output'"
	done
	[ -n "$text" ]
}

@test "psm-redact: a secret typed one key per event is masked, and each event keeps its place" {
	local keys="export TOKEN=$AWS" args=() i
	for ((i = 0; i < ${#keys}; i++)); do args+=(in "${keys:i:1}"); done
	session $SID_A "${args[@]}" in '\r' > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	[ "$(wc -l < r.jsonl)" -eq "$(wc -l < s.jsonl)" ]
	run bytes_of r.jsonl in
	assert_output $'export TOKEN=[redacted:aws-access-key-id]\r'
	# seq, t and sid of every event as they were
	diff <(jq -c '[.sid, .seq, .t, .type]' s.jsonl) <(jq -c '[.sid, .seq, .t, .type]' r.jsonl)
}

@test "psm-redact: a span over several events: the first has the marker, the others lose its bytes" {
	session $SID_A out "id AKIAIOSF" out "ODNN7E" out "XAMPLE ok\r\n" > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run jq -c 'select(.type == "out") | [.data, .redacted]' r.jsonl
	assert_output '["id [redacted:aws-access-key-id]",{"aws-access-key-id":8}]
["",{"aws-access-key-id":6}]
[" ok\r\n",{"aws-access-key-id":6}]'
}

@test "psm-redact: a PEM key printed by cat in a recorded session is masked; the events stay and replay" {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null
	psm-record -q -o rec.jsonl -- sh -c 'echo before; cat key.pem; echo after' </dev/null >/dev/null
	run -0 psm-redact rec.jsonl
	printf '%s\n' "$output" > r.jsonl
	[ "$(wc -l < r.jsonl)" -eq "$(wc -l < rec.jsonl)" ]
	# no line of the key's body survives, in any event
	while read -r l; do
		case $l in -----*) continue ;; esac
		! grep -qF -- "$l" r.jsonl || fail "key line survived: $l"
	done < key.pem
	run -0 psm-replay --raw r.jsonl
	assert_output --partial before
	assert_output --partial '[redacted:pem-private-key]'
	assert_output --partial after
	refute_output --partial 'BEGIN'
}

@test "psm-redact: a PEM key over 40 events is masked whole, line breaks kept" {
	local i breaks="" n
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out key.pem 2>/dev/null
	{ start $SID_A; ev $SID_A 1 out 'before\r\n'
	  jq -Rsc --arg sid $SID_A 'gsub("\n"; "\r\n") as $p | ($p | length) as $n |
		(($n + 39) / 40 | floor) as $k | [range(0; $n; $k)] | to_entries[] |
		{sid: $sid, seq: (.key + 2), t: (.key + 2), type: "out", data: $p[.value:.value + $k]}' key.pem
	} > s.jsonl
	n=$(wc -l < s.jsonl)
	{ ev $SID_A "$n" out 'after\r\n'; end $SID_A $((n + 1)); } >> s.jsonl
	[ "$(grep -c '"out"' s.jsonl)" -ge 40 ]
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	[ "$(wc -l < r.jsonl)" -eq "$(wc -l < s.jsonl)" ]
	# the block's lines, BEGIN to END, each leave their line break
	for ((i = 1; i < $(wc -l < key.pem); i++)); do breaks+=$'\r\n'; done
	run bytes_of r.jsonl out
	assert_output "before"$'\r\n'"[redacted:pem-private-key]$breaks"$'\r\nafter\r'
}

@test "psm-redact: interleaved sessions are kept apart" {
	# A's key is split by an event of B; B's half of a key alone is nothing
	{ start $SID_A; start $SID_B
	  ev $SID_A 1 out "a: AKIAIOSF"
	  ev $SID_B 1 out "b: ODNN7EXAMPLE\r\n"
	  ev $SID_A 2 out "ODNN7EXAMPLE\r\n"
	  ev $SID_B 2 out "b: AKIAIOSF\r\n"
	  end $SID_A 3; end $SID_B 3; } > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run jq -j --arg s $SID_A 'select(.sid == $s and .type == "out") | .data' r.jsonl
	assert_output $'a: [redacted:aws-access-key-id]\r'
	run jq -j --arg s $SID_B 'select(.sid == $s and .type == "out") | .data' r.jsonl
	assert_output $'b: ODNN7EXAMPLE\r\nb: AKIAIOSF\r'
	# each session's events in order; the stream reads as one
	run -0 psm-replay --list r.jsonl
	[ "${#lines[@]}" -eq 2 ]
}

@test "psm-redact: colour codes around a secret come out whole" {
	session $SID_A out "\033[01;31m\033[K${AWS}\033[m\033[K\r\n" > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run bytes_of r.jsonl out
	assert_output $'\033[01;31m\033[K[redacted:aws-access-key-id]\033[m\033[K\r'
}

@test "psm-redact: UTF-8 characters next to a secret stay whole; the event stays text" {
	session $SID_A out "é${AWS}€ password=Zq8é€xK3vbN9\r\n" > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run jq -r 'select(.type == "out") | if .data then "data" else "b64" end' r.jsonl
	assert_output data
	run bytes_of r.jsonl out
	assert_output "é[redacted:aws-access-key-id]€ password=[redacted:generic-secret]"$'\r'
}

@test "psm-redact: bytes carried as b64 are masked and stay b64" {
	{ start $SID_A
	  printf '{"sid":"%s","seq":1,"t":1,"type":"out","b64":"%s"}\n' $SID_A \
		"$(printf '\377 key %s \376\r\n' $AWS | base64 -w0)"
	  end $SID_A 2; } > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run jq -r 'select(.type == "out") | .b64' r.jsonl
	assert_output "$(printf '\377 key [redacted:aws-access-key-id] \376\r\n' | base64 -w0)"
}

@test "psm-redact: a password typed after a prompt is masked up to Enter, and its echo" {
	session $SID_A out 'Password: ' in 'h' out 'h' in 'u' out 'u' in 'n2\r' out 'n2\r\n$ ' \
		in 'ls\r' out 'ls\r\nfile\r\n' > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run bytes_of r.jsonl in
	assert_output $'[redacted:prompt-answer]\rls\r'
	run bytes_of r.jsonl out
	assert_output $'Password: [redacted:prompt-answer]\r\n$ ls\r\nfile\r'
	run jq -c 'select(.type == "in") | .redacted' r.jsonl
	assert_output 'null
{"prompt-answer":1}
{"prompt-answer":1}
{"prompt-answer":2}
null' || true
	run jq -s '[.[] | select(.type == "in") | .redacted["prompt-answer"] // 0] | add' r.jsonl
	assert_output 4
}

@test "psm-redact: sudo's prompt and a prompt on standard error are known" {
	session $SID_A out '[sudo] password for alice: ' in 'S3cret!\r' out '\r\n' > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run bytes_of r.jsonl in
	assert_output $'[redacted:prompt-answer]\r'
	session $SID_A err 'Enter passphrase for key: ' in 'pass phrase\n' > s2.jsonl
	run -0 psm-redact s2.jsonl
	printf '%s\n' "$output" > r2.jsonl
	run bytes_of r2.jsonl in
	assert_output '[redacted:prompt-answer]'
}

@test "psm-redact: --prompt adds a prompt; --disable prompt-answer turns them off" {
	session $SID_A out 'Vault code> ' in '7734\r' > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run bytes_of r.jsonl in
	assert_output $'7734\r'
	run -0 psm-redact --prompt 'vault code>' s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run bytes_of r.jsonl in
	assert_output $'[redacted:prompt-answer]\r'
	session $SID_A out 'Password: ' in 'hunter2\r' > s2.jsonl
	run -0 psm-redact --disable prompt-answer s2.jsonl
	printf '%s\n' "$output" > r2.jsonl
	run bytes_of r2.jsonl in
	assert_output $'hunter2\r'
	run -2 --separate-stderr psm-redact --prompt '(' s.jsonl
	assert_stderr --partial -- '--prompt'
}

@test "psm-redact: a changed event names its rules and bytes, never the secret" {
	session $SID_A out "$AWS and postgres://app:Pa55w0rdQx@db/x\r\n" > s.jsonl
	run -0 psm-redact s.jsonl
	printf '%s\n' "$output" > r.jsonl
	run jq -c 'select(.type == "out") | .redacted' r.jsonl
	assert_output --partial '"aws-access-key-id":20'
	refute_output --partial "$AWS"
	! grep -q Pa55w0rdQx r.jsonl
	! grep -q IOSFODNN r.jsonl
	# events that were not changed have no such key, and are the same bytes
	diff <(grep -v '"out"' s.jsonl) <(grep -v '"out"' r.jsonl)
}

@test "psm-redact: redacting twice adds to the counts of the first run" {
	session $SID_A out "$AWS u@example.org\r\n" > s.jsonl
	psm-redact s.jsonl | psm-redact --enable email > r.jsonl
	run jq -c 'select(.type == "out") | [.data, .redacted]' r.jsonl
	assert_output '["[redacted:aws-access-key-id] [redacted:email]\r\n",{"aws-access-key-id":20,"email":13}]'
}

@test "psm-redact: --report writes a line per session; -v a summary on stderr" {
	{ start $SID_A; start $SID_B; ev $SID_A 1 out "$AWS\r\n"; ev $SID_B 1 out 'nothing\r\n'
	  ev $SID_A 2 out "AKIAZ7XQ3TDRVMNB5LWA\r\n"; end $SID_A 3; end $SID_B 2; } > s.jsonl
	run -0 --separate-stderr psm-redact -v --report rep.jsonl s.jsonl
	assert_stderr "psm-redact: $SID_A: aws-access-key-id 2 (40 bytes)"
	run jq -c . rep.jsonl
	assert_output "{\"sid\":\"$SID_A\",\"rules\":{\"aws-access-key-id\":2},\"bytes\":40}
{\"sid\":\"$SID_B\",\"rules\":{},\"bytes\":0}"
	run -4 psm-redact --report /nonexistent/dir/r.jsonl s.jsonl
	assert_output --partial /nonexistent/dir/r.jsonl
}

@test "psm-redact: --list-rules shows every rule and whether it is on, after the options" {
	run -0 psm-redact --list-rules
	assert_line --regexp $'^aws-access-key-id\ton\t.+'
	assert_line --regexp $'^email\toff\t.+'
	assert_line --regexp $'^prompt-answer\ton\t.+'
	run -0 psm-redact --list-rules --enable email --disable aws-access-key-id
	assert_line --regexp $'^aws-access-key-id\toff\t'
	assert_line --regexp $'^email\ton\t'
	run -0 psm-redact --list-rules --disable all --enable aws-access-key-id
	[ "$(printf '%s\n' "$output" | grep -c $'\ton\t')" -eq 1 ]
}

@test "psm-redact: --enable and --disable turn rules on and off by name" {
	session $SID_A out "mail bob@example.org key $AWS\r\n" > s.jsonl
	run -0 psm-redact s.jsonl
	assert_output --partial 'bob@example.org key [redacted:aws-access-key-id]'
	run -0 psm-redact --enable email --disable aws-access-key-id s.jsonl
	assert_output --partial "[redacted:email] key $AWS"
	run -2 --separate-stderr psm-redact --enable no-such-rule s.jsonl
	assert_stderr 'psm-redact: unknown rule "no-such-rule" (psm-redact --list-rules)'
	run -2 psm-redact --disable nope s.jsonl
}

@test "psm-redact: -r adds rules and replaces a built-in one of the same name" {
	cat > my.rules <<-'EOF'
	# an internal token format
	rule acme-token
		description ACME deploy tokens
		pattern \b(acme_[a-f0-9]{32})\b
	rule aws-access-key-id
		pattern \bAKIAIOSFODNN7EXAMPLF\b
	EOF
	session $SID_A out "t acme_0123456789abcdef0123456789abcdef $AWS AKIAIOSFODNN7EXAMPLF\r\n" > s.jsonl
	run -0 psm-redact -r my.rules s.jsonl
	assert_output --partial "t [redacted:acme-token] $AWS [redacted:aws-access-key-id]"
	run -0 psm-redact --rules my.rules --list-rules
	assert_line --regexp $'^acme-token\ton\tACME deploy tokens$'
}

@test "psm-redact: a bad rule file: FILE:LINE, the reason, exit 3" {
	printf 'rule x\n\tpattern a+b\n' > unbounded.rules
	run -3 --separate-stderr psm-redact -r unbounded.rules </dev/null
	assert_stderr 'psm-redact: unbounded.rules:2: rule x: pattern can match more than 8192 bytes (give every repeat a maximum)'
	printf '# c\nrule x\n\tpatern abc\n' > typo.rules
	run -3 --separate-stderr psm-redact -r typo.rules </dev/null
	assert_stderr 'psm-redact: typo.rules:3: unknown directive "patern"'
	printf 'rule x\n\tdescription nothing\nrule y\n\tpattern abc\n' > nopattern.rules
	run -3 --separate-stderr psm-redact -r nopattern.rules </dev/null
	assert_stderr 'psm-redact: nopattern.rules:1: rule x: no pattern'
	printf 'rule x\n\tpattern (abc\n' > syntax.rules
	run -3 --separate-stderr psm-redact -r syntax.rules </dev/null
	assert_stderr --partial 'psm-redact: syntax.rules:2: rule x: '
	printf 'pattern abc\n' > outside.rules
	run -3 --separate-stderr psm-redact -r outside.rules </dev/null
	assert_stderr --partial 'psm-redact: outside.rules:1: "pattern" outside a rule'
	printf 'rule Bad_Name\n' > name.rules
	run -3 --separate-stderr psm-redact -r name.rules </dev/null
	assert_stderr --partial 'psm-redact: name.rules:1: bad rule name "Bad_Name"'
	printf 'rule x\n\tpattern a{0,3}\n' > empty.rules
	run -3 --separate-stderr psm-redact -r empty.rules </dev/null
	assert_stderr 'psm-redact: empty.rules:2: rule x: pattern matches the empty string'
	printf 'rule x\n\tpattern abc\n\tcheck crc64\n' > check.rules
	run -3 --separate-stderr psm-redact -r check.rules </dev/null
	assert_stderr --partial 'psm-redact: check.rules:3: unknown check "crc64"'
	run -4 --separate-stderr psm-redact -r missing.rules </dev/null
	assert_stderr 'psm-redact: missing.rules: No such file or directory'
}

@test "psm-redact: a sealed stream is refused with exit 3" {
	psm-keygen -o host --no-passphrase >/dev/null 2>&1
	session $SID_A out 'hello\r\n' | psm-seal -k host.key > sealed.jsonl
	run -3 --separate-stderr psm-redact sealed.jsonl
	assert_stderr 'psm-redact: sealed.jsonl:1: a sealed stream: psm-redact comes before psm-seal'
	[ -z "$output" ]
}

@test "psm-redact: a malformed line: FILE:LINE, exit 3, and the events before it are written, masked" {
	{ start $SID_A; ev $SID_A 1 out "key $AWS"; echo '{"sid":'; } > bad.jsonl
	run -3 --separate-stderr psm-redact bad.jsonl
	assert_stderr --partial 'psm-redact: bad.jsonl:3: '
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial 'key [redacted:aws-access-key-id]'
	# out of order, and a last line without its newline
	{ start $SID_A; ev $SID_A 2 out x; } > order.jsonl
	run -3 --separate-stderr psm-redact order.jsonl
	assert_stderr --partial 'psm-redact: order.jsonl:2: '
	{ start $SID_A; printf '%s' "$(ev $SID_A 1 out x)"; } > cut.jsonl
	run -3 --separate-stderr psm-redact cut.jsonl
	assert_stderr 'psm-redact: cut.jsonl:2: last line is incomplete (no newline at the end)'
	assert_output --partial '"type":"start"'
}

@test "psm-redact: a missing input file is exit 4; a full disk is exit 4" {
	run -4 --separate-stderr psm-redact nothing-here.jsonl
	assert_stderr 'psm-redact: nothing-here.jsonl: No such file or directory'
	session $SID_A out 'x\r\n' > s.jsonl
	run -4 --separate-stderr sh -c 'psm-redact s.jsonl > /dev/full'
	assert_stderr 'psm-redact: stdout: No space left on device'
}

@test "psm-redact: a reader that goes away: a message and exit 4, not a silent death" {
	{ start $SID_A
	  jq -nc --arg sid $SID_A '{sid: $sid, seq: range(1; 3001), type: "out"} |
		.t = .seq | .data = ("line \(.seq) " * 40 + "\r\n")'
	  end $SID_A 3001; } > s.jsonl
	run -0 bash -c 'psm-redact s.jsonl 2> err | head -c 10 > /dev/null; echo "${PIPESTATUS[0]}"'
	assert_output 4
	run cat err
	assert_output 'psm-redact: stdout: Broken pipe'
}

@test "psm-redact: a stream made to hold much, in many sessions at once, stays in bounded memory" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "ulimit -d does not bound a sanitizer build"
	# 80 sessions, each an output event that no later output settles and 1000 typed
	# lines behind it, interleaved: each waits (2 MiB a session, 80 MiB in all, without
	# the bound of all sessions), then a key id each.
	awk 'BEGIN {
		pad = sprintf("%998s", ""); gsub(/ /, "x", pad); pad = pad "\\r"
		for (s = 1; s <= 80; s++) {
			sid[s] = sprintf("00000000-0000-4000-8000-%012d", s)
			printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1}\n", sid[s]
			printf "{\"sid\":\"%s\",\"seq\":1,\"t\":1,\"type\":\"out\",\"data\":\"$ \"}\n", sid[s]
		}
		for (k = 2; k < 1000; k++)
			for (s = 1; s <= 80; s++)
				printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"in\",\"data\":\"%s\"}\n", sid[s], k, k, pad
		for (s = 1; s <= 80; s++)
			printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"in\",\"data\":\"AKIA2E7QXKFJ5MZL3WRT\\r\"}\n", sid[s], k, k
	}' > many.jsonl
	# 95 MB of data: the build without the bound of all sessions runs out at about 110
	run -0 bash -c 'ulimit -d 95000 && psm-redact many.jsonl > out.jsonl'
	[ "$(wc -l < out.jsonl)" -eq "$(wc -l < many.jsonl)" ]
	[ "$(grep -c '\[redacted:aws-access-key-id\]' out.jsonl)" -eq 80 ]
	rm -f many.jsonl out.jsonl
}

@test "psm-redact: a session that never ends is written whole at the end of the input" {
	{ start $SID_A; ev $SID_A 1 out "abc $AWS"; } > s.jsonl
	run -0 psm-redact s.jsonl
	[ "${#lines[@]}" -eq 2 ]
	assert_line --index 1 --partial 'abc [redacted:aws-access-key-id]'
}

@test "psm-redact: on a live input, a held event goes after --hold-time, before the input ends" {
	mkfifo in.fifo
	psm-redact --hold-time 300ms < in.fifo > out.jsonl &
	BG_PIDS+=($!)
	exec 7> in.fifo
	{ start $SID_A; ev $SID_A 1 out 'typed ls\r\n'; } >&7
	wait_for 5 grep -q 'typed ls' out.jsonl
	exec 7>&-
	wait "${BG_PIDS[0]}"
	run -2 psm-redact --hold-time soon s.jsonl
	run -0 psm-redact --hold-time 0 /dev/null
}

@test "psm-redact: in psm-record's pipeline the secret is masked and the sealed log verifies" {
	psm-keygen -o host --no-passphrase >/dev/null 2>&1
	psm-record -q -o '|psm-redact | psm-seal -k host.key > log.jsonl' -- \
		sh -c "echo aws_access_key_id = $AWS" </dev/null >/dev/null
	run -0 psm-verify -p host.pub log.jsonl
	! grep -q "$AWS" log.jsonl
	run -0 psm-replay --raw log.jsonl
	assert_output --partial 'aws_access_key_id = [redacted:aws-access-key-id]'
}

@test "psm-redact: --no-sandbox, --help and --version" {
	session $SID_A out "$AWS\r\n" > s.jsonl
	run -0 psm-redact --no-sandbox s.jsonl
	assert_output --partial '[redacted:aws-access-key-id]'
	run -0 psm-redact --help
	assert_output --partial 'Usage: psm-redact'
	run -0 psm-redact --version
	assert_output --regexp '^psm-redact [0-9]'
	run -2 psm-redact --bogus
}
