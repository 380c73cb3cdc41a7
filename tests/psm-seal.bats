#!/usr/bin/env bats
# psm-seal: chain and sign a psm stream.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	psm-keygen -o k --id seal-test --no-passphrase
	psm-keygen -o other --no-passphrase
	# Sessions to seal: a start, some output events, an end.
	psm-record --no-pty -o rec.jsonl -- sh -c \
		'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.02; done' </dev/null >/dev/null
	psm-record --no-pty -o rec2.jsonl -- sh -c 'echo second; sleep 0.02; echo session' </dev/null >/dev/null
	psm-record --no-pty -o rec3.jsonl -- echo third </dev/null >/dev/null
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR"/k.key "$BATS_FILE_TMPDIR"/k.pub "$BATS_FILE_TMPDIR"/other.key \
		"$BATS_FILE_TMPDIR"/other.pub "$BATS_FILE_TMPDIR"/rec*.jsonl .
	KEYID=$(cut -d' ' -f2 k.pub)
	BG_PIDS=()
}

teardown() {
	stop_background
	tmux_stop
}

# unseal FILE: a sealed stream without what psm-seal added (its checkpoint
# and seal lines, and the ,"chain":"...","h":"..." of every line).
unseal() {
	grep -v -E '^\{"sid":"[0-9a-f-]{36}","seq":[0-9]+,"t":[0-9]+,"type":"(checkpoint|seal)",' "$1" |
		sed -E 's/,"chain":"[0-9a-f]{8}","h":"[0-9a-f]{64}"\}$/}/'
}

# The seq of the checkpoints and seals of a sealed stream, on one line.
checkpoint_seqs() {
	jq -r 'select(.type == "checkpoint" or .type == "seal") | .seq' "$1" | paste -sd' '
}

# chain_next PREV_HEX TEXT: SHA-256("psm-chain-v1" NUL || prev || text), in hex.
chain_next() {
	{ printf 'psm-chain-v1\0'; printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; printf '%s' "$2"; } |
		sha256sum | cut -c1-64
}

# OK_LINE FILE EVENTS SESSIONS: the start of psm-verify's line for a good stream.
ok_line() {	# ok_line FILE EVENTS SESSIONS [STREAMS]
	local e=events s=sessions n=""
	[ "$2" -ne 1 ] || e=event
	[ "$3" -ne 1 ] || s=session
	[ "${4:-1}" -eq 1 ] || n="$4 sealed streams, "
	printf '%s: OK: %s %s, %s %s, %ssealed by %s, ' "$1" "$2" "$e" "$3" "$s" "$n" "$KEYID"
}

# links FILE: for each opening checkpoint, "first:AFTER" at line 1,
# "linked" when its "after" is the h of the line before it, else "broken:AFTER".
links() {
	local n=0 prev="" line after
	while IFS= read -r line; do
		n=$(( n + 1 ))
		if [ "$(printf '%s' "$line" | jq -r 'select(.type == "checkpoint" and .seq == 0) | "y"')" = y ]; then
			after=$(printf '%s' "$line" | jq -r '.after // "none"')
			if [ "$n" -eq 1 ]; then echo "first:$after"
			elif [ "$after" = "$prev" ]; then echo linked
			else echo "broken:$after"; fi
		fi
		prev=$(printf '%s' "$line" | jq -r .h)
	done < "$1"
}


# cut_at INPUT L MESSAGE: psm-seal stops at line L of INPUT with MESSAGE
# (exit 3), and what it wrote is a good stream of the lines before L, with
# a seal that says the input was cut.
cut_at() {
	run -3 --separate-stderr psm-seal -k k.key "$1"
	assert_stderr "psm-seal: $1:$2: $3"
	printf '%s\n' "$output" > out.jsonl
	run -0 psm-verify -p k.pub out.jsonl
	assert_output --partial "$(ok_line out.jsonl $(( $2 - 1 )) "$(head -n $(( $2 - 1 )) "$1" | jq -r .sid | sort -u | wc -l)")"
	assert_output --partial ' (the input was cut: see psm-seal'
	run jq -c 'select(.type == "seal") | .cut' out.jsonl
	assert_output true
	cmp <(unseal out.jsonl) <(head -n $(( $2 - 1 )) "$1")
}

@test "psm-seal: a sealed recording verifies OK with its events, its session and the key" {
	run -0 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr ''
	printf '%s\n' "$output" > s.jsonl
	n=$(wc -l < rec.jsonl)
	[ "$n" -ge 4 ]
	run -0 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output --regexp "^s\\.jsonl: OK: $n events, 1 session, sealed by $KEYID, [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z \\.\\. [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{6}Z\$"
	assert_stderr ''
}

@test "psm-seal: removing what psm-seal added gives back the input byte for byte" {
	psm-seal -k k.key rec.jsonl > s.jsonl
	cmp <(unseal s.jsonl) rec.jsonl
	psm-seal -k k.key < rec.jsonl > stdin.jsonl
	cmp <(unseal stdin.jsonl) rec.jsonl
	psm-seal -k k.key - < rec.jsonl > dash.jsonl
	cmp <(unseal dash.jsonl) rec.jsonl
	# Every line of the input is there, in order, with only the hash added.
	[ "$(wc -l < s.jsonl)" -eq $(( $(wc -l < rec.jsonl) + 2 )) ]
}

@test "psm-seal: the output opens with a signed checkpoint and ends with a signed seal" {
	psm-seal -k k.key rec.jsonl > s.jsonl
	n=$(wc -l < rec.jsonl)
	run jq -c 'keys_unsorted' s.jsonl
	assert_line --index 0 '["sid","seq","t","type","v","key","lines","head","start","sig","chain","h"]'
	assert_line --index "$(( n + 1 ))" '["sid","seq","t","type","v","key","lines","head","end","cut","sig","chain","h"]'
	run jq -r 'select(.type == "checkpoint" or .type == "seal") |
		"\(.type) \(.seq) \(.v) \(.key) \(.lines) \(.cut)"' s.jsonl
	assert_output "checkpoint 0 2 $KEYID 0 null
seal 1 2 $KEYID $(( n + 1 )) false"
	# The checkpoints name a stream of their own, not the recorded session.
	stream=$(head -n 1 s.jsonl | jq -r .sid)
	[ "$stream" != "$(head -n 1 rec.jsonl | jq -r .sid)" ]
	[ "$(tail -n 1 s.jsonl | jq -r .sid)" = "$stream" ]
	run jq -r 'select(.type == "checkpoint") | .start' s.jsonl
	assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
	run jq -r 'select(.type == "seal") | .end' s.jsonl
	assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
	# The seal's head is the hash of the line before it.
	[ "$(tail -n 1 s.jsonl | jq -r .head)" = "$(tail -n 2 s.jsonl | head -n 1 | jq -r .h)" ]
}

@test "psm-seal: each h is SHA-256(\"psm-chain-v1\" NUL, the previous h, the line as it was)" {
	psm-seal -k k.key --every 4 rec.jsonl > s.jsonl
	# Before the first line: SHA-256("psm-chain-v1 genesis" NUL, stream id, NUL, start).
	sid=$(head -n 1 s.jsonl | jq -r .sid)
	start=$(head -n 1 s.jsonl | jq -r .start)
	prev=$({ printf 'psm-chain-v1 genesis\0%s\0%s' "$sid" "$start"; } | sha256sum | cut -c1-64)
	[ "$(head -n 1 s.jsonl | jq -r .head)" = "$prev" ]
	lines=0
	while IFS= read -r line; do
		base=${line%,\"chain\":\"*}
		h=$(chain_next "$prev" "$base}")
		[ "$line" = "$base,\"chain\":\"${sid:0:8}\",\"h\":\"$h\"}" ] ||
			fail "line $(( lines + 1 )): not the stream's tag and the chain hash"
		prev=$h
		lines=$(( lines + 1 ))
	done < s.jsonl
	[ "$lines" -eq "$(wc -l < s.jsonl)" ]
}

@test "psm-seal: checkpoint signatures are Ed25519 over the line's bytes before ,\"sig\": (openssl agrees)" {
	command -v openssl >/dev/null || skip "openssl is not installed"
	psm-seal -k k.key --every 3 rec.jsonl > s.jsonl
	{ printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; awk '{ print $NF }' k.pub | base64 -d; } > pub.der
	openssl pkey -pubin -inform DER -in pub.der -out pub.pem
	checked=0
	while IFS= read -r line; do
		printf '%s' "${line%%,\"sig\":\"*}" > msg
		printf '%s' "$line" | sed 's/.*,"sig":"\([^"]*\)".*/\1/' | base64 -d > sig
		run -0 openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg -sigfile sig
		checked=$(( checked + 1 ))
	done < <(grep -E '"type":"(checkpoint|seal)"' s.jsonl)
	[ "$checked" -eq $(( $(wc -l < rec.jsonl) / 3 + 2 )) ]
}

@test "psm-seal: several sessions in one stream, one after the other or interleaved" {
	cat rec.jsonl rec2.jsonl rec3.jsonl > three.jsonl
	psm-seal -k k.key three.jsonl > s.jsonl
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$(wc -l < three.jsonl)" 3)"
	cmp <(unseal s.jsonl) three.jsonl
	# Lines of two sessions taken in turns.
	paste -d'\n' rec.jsonl rec2.jsonl | grep -v '^$' > mixed.jsonl
	psm-seal -k k.key mixed.jsonl > m.jsonl
	run -0 psm-verify -p k.pub m.jsonl
	assert_output --partial "$(ok_line m.jsonl "$(wc -l < mixed.jsonl)" 2)"
	cmp <(unseal m.jsonl) mixed.jsonl
}

@test "psm-seal: an empty input is a stream of no events, opened and sealed" {
	run -0 --separate-stderr psm-seal -k k.key < /dev/null
	printf '%s\n' "$output" > s.jsonl
	run jq -r '"\(.type) \(.seq) \(.lines)"' s.jsonl
	assert_output 'checkpoint 0 0
seal 1 1'
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl 0 0)"
}

@test "psm-seal: --every 3 writes a signed checkpoint after every 3 events" {
	psm-seal -k k.key --every 3 rec.jsonl > s.jsonl
	n=$(wc -l < rec.jsonl)
	# The number of events between one checkpoint and the next.
	run jq -rs 'reduce .[] as $l ({n: 0, out: []};
		if ($l.type == "checkpoint" or $l.type == "seal") then {n: 0, out: (.out + [.n])}
		else .n += 1 end) | .out | map(tostring) | join(" ")' s.jsonl
	want=0
	for (( i = 0; i < n / 3; i++ )); do want="$want 3"; done
	want="$want $(( n % 3 ))"
	assert_output "$want"
	# Checkpoints count 0, 1, 2 ... and each says how many lines are before it.
	run checkpoint_seqs s.jsonl
	assert_output "$(seq 0 $(( n / 3 + 1 )) | paste -sd' ')"
	run jq -rs 'to_entries | map(select(.value.type == "checkpoint" or .value.type == "seal") |
		select(.value.lines != .key)) | length' s.jsonl
	assert_output 0
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$n" 1)"
	cmp <(unseal s.jsonl) rec.jsonl
}

@test "psm-seal: by default a checkpoint comes every 1000 events" {
	sid=5ea1ed00-0000-4000-8000-000000000001
	awk -v sid="$sid" 'BEGIN {
		printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\"}\n", sid
		for (i = 1; i < 2500; i++)
			printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"%d\\n\"}\n", sid, i, i, i
	}' > many.jsonl
	psm-seal -k k.key many.jsonl > s.jsonl
	run jq -r 'select(.type == "checkpoint" or .type == "seal") | "\(.type) \(.seq) \(.lines)"' s.jsonl
	assert_output 'checkpoint 0 0
checkpoint 1 1001
checkpoint 2 2002
seal 3 2503'
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl 2500 1)"
}

@test "psm-seal: --interval: a checkpoint comes while the input is idle, with the events so far" {
	mkfifo in
	psm-seal -k k.key --interval 1s < in > s.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	head -n 2 rec.jsonl >&7
	start=$SECONDS
	wait_for 5 grep -q '"type":"checkpoint","v":2,"key":"[0-9a-f]*","lines":3,' s.jsonl
	[ $(( SECONDS - start )) -le 2 ] || fail "the checkpoint came after $(( SECONDS - start )) s"
	# The input has not ended, and the two events are out, sealed as far as they go.
	kill -0 "$pid"
	cmp <(unseal s.jsonl) <(head -n 2 rec.jsonl)
	run -5 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: INCOMPLETE: verified through line 4, 0 lines unsealed'
	tail -n +3 rec.jsonl >&7
	exec 7>&-
	wait "$pid"
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$(wc -l < rec.jsonl)" 1)"
	cmp <(unseal s.jsonl) rec.jsonl
}

@test "psm-seal: a line that arrives in pieces, with the input idle in between, is sealed whole" {
	mkfifo in
	psm-seal -k k.key --interval 1s < in > s.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	second=$(sed -n 2p rec.jsonl)
	{ head -n 1 rec.jsonl; printf '%s' "${second:0:40}"; } >&7
	# The whole line is checkpointed while the half line waits.
	wait_for 5 grep -q '"type":"checkpoint","v":2,"key":"[0-9a-f]*","lines":2,' s.jsonl
	{ printf '%s\n' "${second:40}"; tail -n +3 rec.jsonl; } >&7
	exec 7>&-
	wait "$pid"
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$(wc -l < rec.jsonl)" 1)"
	cmp <(unseal s.jsonl) rec.jsonl
}

@test "psm-seal: killed with SIGKILL mid-stream, its output is INCOMPLETE up to the last checkpoint" {
	mkfifo in
	psm-seal -k k.key --every 2 < in > s.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	head -n 5 rec.jsonl >&7
	wait_for 5 grep -q '"type":"checkpoint","v":2,"key":"[0-9a-f]*","lines":6,' s.jsonl
	kill -9 "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 137 ]
	exec 7>&-
	last=$(grep -n '"type":"checkpoint"' s.jsonl | tail -n 1 | cut -d: -f1)
	total=$(wc -l < s.jsonl)
	[ "$last" -ge 7 ]
	unsealed=$(( total - last ))
	run -5 --separate-stderr psm-verify -p k.pub s.jsonl
	if [ "$unsealed" -eq 1 ]; then
		assert_output "s.jsonl: INCOMPLETE: verified through line $last, 1 line unsealed"
	else
		assert_output "s.jsonl: INCOMPLETE: verified through line $last, $unsealed lines unsealed"
	fi
	refute_output --partial OK
}

@test "psm-seal: --append: three runs onto one file are three sealed streams, each linked to the seal before it" {
	for part in rec.jsonl rec2.jsonl rec3.jsonl; do
		run -0 --separate-stderr psm-seal -k k.key --append day.jsonl < "$part"
		assert_output ''
		assert_stderr ''
	done
	total=$(cat rec.jsonl rec2.jsonl rec3.jsonl | wc -l)
	run -0 psm-verify -p k.pub day.jsonl
	assert_output --partial "$(ok_line day.jsonl "$total" 3 3)"
	# Three streams, each opened and sealed: checkpoint 0 and seal 1.
	run checkpoint_seqs day.jsonl
	assert_output '0 1 0 1 0 1'
	run jq -r 'select(.type == "checkpoint" or .type == "seal") | .sid' day.jsonl
	[ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 3 ]
	# The first opens the file; the others name the hash of the seal before them.
	run links day.jsonl
	assert_output $'first:none\nlinked\nlinked'

	cmp <(unseal day.jsonl) <(cat rec.jsonl rec2.jsonl rec3.jsonl)
}

@test "psm-seal: --append: a session may go on from one run to the next" {
	head -n 4 rec.jsonl > part1.jsonl
	tail -n +5 rec.jsonl > part2.jsonl
	psm-seal -k k.key --every 3 --append day.jsonl part1.jsonl
	psm-seal -k k.key --every 3 --append day.jsonl part2.jsonl
	run -0 psm-verify -p k.pub day.jsonl
	assert_output --partial "$(ok_line day.jsonl "$(wc -l < rec.jsonl)" 1 2)"
	cmp <(unseal day.jsonl) rec.jsonl
	run links day.jsonl
	assert_output $'first:none\nlinked'

	# The next run still keeps the session's order: its seq cannot start again.
	head -n 3 part2.jsonl > again.jsonl
	run -3 --separate-stderr psm-seal -k k.key --append day.jsonl again.jsonl
	assert_stderr --partial "psm-seal: again.jsonl:1: session $(head -n 1 rec.jsonl | jq -r .sid): "
}

@test "psm-seal: --append: two runs at once onto one file do not break its chain" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	psm-seal -k k.key --append day.jsonl rec.jsonl
	mkfifo in1 in2
	psm-seal -k k.key --append day.jsonl < in1 3>&- &
	a=$!
	BG_PIDS+=("$a")
	exec 7<> in1
	# The first run has checked the file (it confines itself after that) and reads its input.
	wait_for 5 grep -q "$(printf '^Seccomp:\t2$')" "/proc/$a/status"
	psm-seal -k k.key --append day.jsonl < in2 3>&- 7>&- &
	b=$!
	BG_PIDS+=("$b")
	exec 8<> in2
	# The second gets as far as it goes while the first is busy: reading its
	# own input, or waiting for the first to finish with the file.
	wait_for 2 grep -q "$(printf '^Seccomp:\t2$')" "/proc/$b/status" || true
	cat rec2.jsonl >&7
	exec 7>&-
	wait "$a"
	cat rec3.jsonl >&8
	exec 8>&-
	rc=0
	wait "$b" || rc=$?
	# Whatever became of the second run, its streams are still good and linked.
	run -0 psm-verify -p k.pub day.jsonl
	if [ "$rc" -eq 0 ]; then
		assert_output --partial "$(ok_line day.jsonl "$(cat rec.jsonl rec2.jsonl rec3.jsonl | wc -l)" 3 3)"
	else
		assert_output --partial "$(ok_line day.jsonl "$(cat rec.jsonl rec2.jsonl | wc -l)" 2 2)"
	fi
}

@test "psm-seal: --append onto an empty or new file starts a new stream there" {
	: > empty.jsonl
	psm-seal -k k.key --append empty.jsonl rec.jsonl
	psm-seal -k k.key --append new.jsonl rec.jsonl
	for f in empty.jsonl new.jsonl; do
		run -0 psm-verify -p k.pub "$f"
		assert_output --partial "$(ok_line "$f" "$(wc -l < rec.jsonl)" 1)"
		[ "$(head -n 1 "$f" | jq -r '"\(.type) \(.seq)"')" = 'checkpoint 0' ]
	done
}

@test "psm-seal: --append refuses a file whose tail was changed, and leaves it as it was" {
	psm-seal -k k.key --append day.jsonl rec.jsonl
	n=$(wc -l < day.jsonl)
	sed -i "$(( n - 1 ))s/\"seq\":/\"seq\":1/" day.jsonl
	cp day.jsonl before.jsonl
	run -1 --separate-stderr psm-seal -k k.key --append day.jsonl rec2.jsonl
	assert_stderr "psm-seal: day.jsonl: cannot append: line $(( n - 1 )): chain hash does not match (this line was changed, or lines before it inserted, removed or reordered)"
	assert_output ''
	cmp day.jsonl before.jsonl
}

@test "psm-seal: --append refuses a file without its final seal, and leaves it as it was" {
	psm-seal -k k.key --every 3 --append day.jsonl rec.jsonl
	sed -i '$d' day.jsonl
	cp day.jsonl before.jsonl
	last=$(grep -n '"type":"checkpoint"' day.jsonl | tail -n 1 | cut -d: -f1)
	unsealed=$(( $(wc -l < day.jsonl) - last ))
	run -1 --separate-stderr psm-seal -k k.key --append day.jsonl rec2.jsonl
	assert_stderr --partial "psm-seal: day.jsonl: cannot append: verified through line $last, $unsealed line"
	cmp day.jsonl before.jsonl
	# Nor one whose last line is unfinished.
	psm-seal -k k.key --append cut.jsonl rec.jsonl
	head -c -20 cut.jsonl > part.jsonl
	cp part.jsonl before.jsonl
	run -1 --separate-stderr psm-seal -k k.key --append part.jsonl rec2.jsonl
	assert_stderr --partial 'psm-seal: part.jsonl: cannot append: verified through line'
	cmp part.jsonl before.jsonl
}

@test "psm-seal: --append refuses a file sealed with another key, and leaves it as it was" {
	psm-seal -k other.key --append day.jsonl rec.jsonl
	cp day.jsonl before.jsonl
	run -1 --separate-stderr psm-seal -k k.key --append day.jsonl rec2.jsonl
	assert_stderr "psm-seal: day.jsonl: cannot append: line 1: signed by unknown key $(cut -d' ' -f2 other.pub)"
	cmp day.jsonl before.jsonl
}

@test "psm-seal: --append refuses a file that is not sealed (exit 3), and leaves it as it was" {
	cp rec.jsonl day.jsonl
	run -3 --separate-stderr psm-seal -k k.key --append day.jsonl rec2.jsonl
	assert_stderr 'psm-seal: day.jsonl: cannot append: not a sealed psm stream (line 1 has no chain hash)'
	cmp day.jsonl rec.jsonl
}

@test "psm-seal: a malformed JSON line stops it (exit 3, FILE:LINE) and what came before stays good" {
	{ head -n 3 rec.jsonl; echo '{"sid":'; tail -n +4 rec.jsonl; } > bad.jsonl
	cut_at bad.jsonl 4 'expected a value'
}

@test "psm-seal: a JSON object that is not a psm event stops it (exit 3)" {
	{ head -n 3 rec.jsonl; echo '{"a":1}'; tail -n +4 rec.jsonl; } > bad.jsonl
	cut_at bad.jsonl 4 'not a psm event (sid, seq, t and type are required)'
}

@test "psm-seal: sealed input is refused: psm-seal's output cannot be sealed again (exit 3)" {
	psm-seal -k k.key rec.jsonl > sealed.jsonl
	cut_at sealed.jsonl 1 "already sealed (psm-seal's output cannot be sealed again)"
	# Also when only the events are left: their hashes give them away.
	grep -v -E '"type":"(checkpoint|seal)"' sealed.jsonl > events.jsonl
	cut_at events.jsonl 1 "already sealed (psm-seal's output cannot be sealed again)"
}

@test "psm-seal: an unfinished last line stops it (exit 3) after the whole lines" {
	{ head -n 3 rec.jsonl; sed -n 4p rec.jsonl | tr -d '\n'; } > bad.jsonl
	cut_at bad.jsonl 4 'last line is incomplete (no newline at the end)'
	run -3 --separate-stderr psm-seal -k k.key < bad.jsonl
	assert_stderr 'psm-seal: (stdin):4: last line is incomplete (no newline at the end)'
}

@test "psm-seal: a gap in a session's seq stops it (exit 3)" {
	sid=$(head -n 1 rec.jsonl | jq -r .sid)
	{ head -n 3 rec.jsonl; tail -n +5 rec.jsonl; } > bad.jsonl
	cut_at bad.jsonl 4 "session $sid: seq 4 where 3 was due"
}

@test "psm-seal: the other session order rules stop it too (exit 3)" {
	sid=$(head -n 1 rec.jsonl | jq -r .sid)
	# t running backwards
	{ head -n 3 rec.jsonl; sed -n 4p rec.jsonl | sed -E 's/"t":[0-9]+/"t":0/'; } > back.jsonl
	cut_at back.jsonl 4 "session $sid: t runs backwards (0 after $(sed -n 3p rec.jsonl | jq .t))"
	# an event after the session's end
	{ cat rec.jsonl; tail -n 1 rec.jsonl | sed -E 's/"seq":[0-9]+/"seq":99/'; } > after.jsonl
	cut_at after.jsonl "$(( $(wc -l < rec.jsonl) + 1 ))" "session $sid: event after its end"
	# a session whose first event is not its start
	{ head -n 2 rec.jsonl; sed -n 2p rec2.jsonl; } > nostart.jsonl
	cut_at nostart.jsonl 3 "session $(head -n 1 rec2.jsonl | jq -r .sid) has no start event (first seen at seq 1)"
}

@test "psm-seal: text after an event's closing brace stops it (exit 3)" {
	{ head -n 3 rec.jsonl; printf '%s \n' "$(sed -n 4p rec.jsonl)"; } > space.jsonl
	cut_at space.jsonl 4 'text after the closing brace'
	{ head -n 3 rec.jsonl; printf '%s\r\n' "$(sed -n 4p rec.jsonl)"; } > crlf.jsonl
	cut_at crlf.jsonl 4 'text after the object'
}

@test "psm-seal: terminal data that psm-stream(5) readers refuse stops it (exit 3)" {
	# in, out and err events carry exactly one of data and b64, canonical
	# base64, at most 64 KiB: a stream that breaks this must not be sealed
	# into evidence that verifies OK but that no reader (psm-replay) takes.
	sid=$(head -n 1 rec.jsonl | jq -r .sid)
	t=$(sed -n 3p rec.jsonl | jq .t)
	{ head -n 3 rec.jsonl; printf '{"sid":"%s","seq":3,"t":%s,"type":"out"}\n' "$sid" "$t"; } > neither.jsonl
	cut_at neither.jsonl 4 'event has neither or both of "data" and "b64"'
	{ head -n 3 rec.jsonl; printf '{"sid":"%s","seq":3,"t":%s,"type":"in","data":"x","b64":"eA=="}\n' "$sid" "$t"; } > both.jsonl
	cut_at both.jsonl 4 'event has neither or both of "data" and "b64"'
	{ head -n 3 rec.jsonl; printf '{"sid":"%s","seq":3,"t":%s,"type":"out","b64":"eA="}\n' "$sid" "$t"; } > b64.jsonl
	cut_at b64.jsonl 4 '"b64" is not canonical base64'
	{
		head -n 3 rec.jsonl
		printf '{"sid":"%s","seq":3,"t":%s,"type":"err","data":"' "$sid" "$t"
		head -c 70000 /dev/zero | tr '\0' a
		printf '"}\n'
	} > over.jsonl
	cut_at over.jsonl 4 'payload over 64 KiB'
}

@test "psm-seal: a line over 1 MiB stops it (exit 3)" {
	sid=$(head -n 1 rec.jsonl | jq -r .sid)
	{
		head -n 3 rec.jsonl
		printf '{"sid":"%s","seq":3,"t":99999999,"type":"out","data":"' "$sid"
		head -c 1100000 /dev/zero | tr '\0' a
		printf '"}\n'
		tail -n +4 rec.jsonl
	} > big.jsonl
	cut_at big.jsonl 4 'line longer than 1 MiB'
}

@test "psm-seal: an input line of exactly 1 MiB is sealed so that psm-verify accepts it" {
	sid=$(head -n 1 rec.jsonl | jq -r .sid)
	# not terminal data (at most 64 KiB an event): an event type of a later tool
	head=$(printf '{"sid":"%s","seq":1,"t":5,"type":"note","text":"' "$sid")
	{
		head -n 1 rec.jsonl
		printf '%s' "$head"
		head -c $(( 1048576 - ${#head} - 2 )) /dev/zero | tr '\0' a
		printf '"}\n'
	} > big.jsonl
	[ "$(sed -n 2p big.jsonl | wc -c)" -eq 1048577 ]	# 1 MiB and its newline
	run -0 --separate-stderr psm-seal -k k.key big.jsonl
	printf '%s\n' "$output" > s.jsonl
	# psm-seal took the line: the stream it made must verify.
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl 2 1)"
}

@test "psm-seal: files that cannot be opened are exit 4 with their names" {
	run -4 --separate-stderr psm-seal -k k.key no-such.jsonl
	assert_stderr 'psm-seal: no-such.jsonl: No such file or directory'
	assert_output ''
	run -4 --separate-stderr psm-seal -k no-such.key rec.jsonl
	assert_stderr 'psm-seal: no-such.key: No such file or directory'
	assert_output ''
	run -4 --separate-stderr psm-seal -k k.key --append no/such/dir/day.jsonl rec.jsonl
	assert_stderr 'psm-seal: no/such/dir/day.jsonl: No such file or directory'
}

@test "psm-seal: usage errors exit 2 and point to --help" {
	run -2 --separate-stderr psm-seal rec.jsonl
	assert_stderr "psm-seal: a key is required: -k BASE.key
Try 'psm-seal --help'"
	for n in 0 abc -1 '' 3x 010 1.5; do
		run -2 --separate-stderr psm-seal -k k.key --every "$n" rec.jsonl
		assert_stderr "psm-seal: invalid number of events '$n'
Try 'psm-seal --help'"
	done
	for d in 0 abc 5x 1.5s -1 ''; do
		run -2 --separate-stderr psm-seal -k k.key --interval "$d" rec.jsonl
		assert_stderr "psm-seal: invalid duration '$d' (like 5s, 1m)
Try 'psm-seal --help'"
	done
	run -2 --separate-stderr psm-seal -k k.key rec.jsonl rec2.jsonl
	assert_stderr "psm-seal: one input FILE at most
Try 'psm-seal --help'"
	run -2 --separate-stderr psm-seal -k k.key --no-such-option rec.jsonl
	assert_stderr --partial "Try 'psm-seal --help'"
	assert_output ''
}

@test "psm-seal: --help lists every option on stdout, --version prints the version" {
	run -0 --separate-stderr psm-seal --help
	for o in --key --every --interval --append --no-sandbox --help --version; do
		assert_output --partial -- "$o"
	done
	assert_stderr ''
	run -0 psm-seal --version
	assert_output --regexp '^psm-seal [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "psm-seal: works in its sandbox with stdout on a pipe, /dev/null and a file" {
	run -0 --separate-stderr bash -c 'psm-seal -k k.key rec.jsonl | cat > piped.jsonl; exit ${PIPESTATUS[0]}'
	assert_stderr ''
	run -0 psm-verify -p k.pub piped.jsonl
	run -0 --separate-stderr bash -c 'psm-seal -k k.key rec.jsonl > /dev/null'
	assert_stderr ''
	run -0 --separate-stderr psm-seal -k k.key --every 2 --append file.jsonl rec.jsonl
	assert_stderr ''
	run -0 psm-verify -p k.pub file.jsonl
}

@test "psm-seal: works in its sandbox with stdout on a terminal" {
	tmux_start "psm-seal -k k.key --every 3 rec.jsonl; echo rc=\$? > rc; sleep 60"
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=0
	run tmux_screen
	refute_output --partial 'Bad system call'
}

@test "psm-seal: stdout on /dev/full is exit 4 with the reason, not a kill by the sandbox" {
	run -4 --separate-stderr bash -c 'psm-seal -k k.key rec.jsonl > /dev/full'
	assert_stderr 'psm-seal: stdout: No space left on device'
	run -4 --separate-stderr bash -c 'psm-seal -k k.key --no-sandbox rec.jsonl > /dev/full'
	assert_stderr 'psm-seal: stdout: No space left on device'
}

@test "psm-seal: --no-sandbox is accepted and seals the same way" {
	run -0 --separate-stderr psm-seal --no-sandbox -k k.key rec.jsonl
	printf '%s\n' "$output" > s.jsonl
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$(wc -l < rec.jsonl)" 1)"
}

@test "psm-seal: the seccomp filter is in force while it reads, and not with --no-sandbox" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	mkfifo in
	psm-seal -k k.key < in > s.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	wait_for 5 grep -q '"type":"checkpoint"' s.jsonl
	run grep '^Seccomp:' "/proc/$pid/status"
	assert_output "$(printf 'Seccomp:\t2')"
	exec 7>&-
	wait "$pid"

	psm-seal --no-sandbox -k k.key < in > n.jsonl 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	wait_for 5 grep -q '"type":"checkpoint"' n.jsonl
	run grep '^Seccomp:' "/proc/$pid/status"
	assert_output "$(printf 'Seccomp:\t0')"
	exec 7>&-
	wait "$pid"
}

@test "psm-seal: a system call outside the sandbox's list kills it" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "LD_PRELOAD does not mix with the sanitizer runtime"
	build_late_syscall late.so
	run -159 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-seal -k k.key rec.jsonl
	run -0 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-seal --no-sandbox -k k.key rec.jsonl
}

@test "psm-seal: reading a terminal leaves it as it was for the next program" {
	# psm-seal reads a live input without blocking; the terminal it shares
	# with the shell must not be left in non-blocking mode afterwards.
	tmux_start "psm-seal -k k.key > s.jsonl; echo seal=\$? > rc; cat > after.txt 2> cat.err; echo cat=\$? >> rc; sleep 60"
	wait_for 5 grep -q '"type":"checkpoint"' s.jsonl
	tmux_keys C-d
	wait_for 5 grep -qs 'seal=' rc
	tmux_keys -l 'typed after'
	tmux_keys Enter C-d
	wait_for 5 grep -qs 'cat=' rc
	run cat rc
	assert_output 'seal=0
cat=0'
	run cat cat.err
	assert_output ''
	run cat after.txt
	assert_output 'typed after'
}

@test "psm-seal: --append refuses a file with a 2 MiB line after its seal, as psm-verify fails it" {
	psm-seal -k k.key --append day.jsonl rec.jsonl
	head -c 2097152 /dev/zero | tr '\0' x >> day.jsonl
	echo >> day.jsonl
	cp day.jsonl before.jsonl
	run -1 psm-verify -p k.pub day.jsonl
	assert_output --partial 'day.jsonl: FAILED: line '
	run -1 --separate-stderr psm-seal -k k.key --append day.jsonl rec2.jsonl
	assert_stderr --partial "psm-seal: day.jsonl: cannot append: line $(( $(wc -l < before.jsonl) )): longer than 1 MiB"
	cmp day.jsonl before.jsonl
}

@test "psm-seal: appended with >> to a log, each new stream links to the log's last line" {
	psm-seal -k k.key rec.jsonl >> log.jsonl
	psm-seal -k k.key rec2.jsonl >> log.jsonl
	psm-seal -k k.key rec3.jsonl >> log.jsonl
	run links log.jsonl
	assert_output $'first:none\nlinked\nlinked'
	run -0 psm-verify -p k.pub log.jsonl
	assert_output --partial '3 sealed streams'
	# Written to a pipe or a new file there is nothing to link to.
	psm-seal -k k.key rec.jsonl | cat > piped.jsonl
	[ "$(head -n 1 piped.jsonl | jq -r '.after // "none"')" = none ]
}

@test "psm-seal: appended with >> after a line that is not sealed, it warns and writes an unlinked stream" {
	cp rec.jsonl log.jsonl
	run -0 --separate-stderr sh -c 'psm-seal -k k.key rec2.jsonl >> log.jsonl'
	assert_stderr 'psm-seal: stdout does not end with a sealed line: the new stream is not linked to it'
	[ "$(tail -n +$(( $(wc -l < rec.jsonl) + 1 )) log.jsonl | head -n 1 | jq -r '.after // "none"')" = none ]
}
