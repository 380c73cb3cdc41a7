#!/usr/bin/env bats
# psm-verify: check sealed streams offline with public keys.
load helpers

# The sealed stream s.jsonl (psm-seal --every 3 of a recording of N events):
#   line 1 opening checkpoint (seq 0), lines 2-4 events 1-3 (start, out, out),
#   line 5 checkpoint 1, lines 6-8 events 4-6, line 9 checkpoint 2, ...,
#   the last line the seal.
setup_file() {
	cd "$BATS_FILE_TMPDIR"
	psm-keygen -o k --id verify-test --no-passphrase
	psm-keygen -o other --no-passphrase
	psm-keygen -o attacker --no-passphrase
	psm-record --no-pty -o rec.jsonl -- sh -c \
		'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.02; done' </dev/null >/dev/null
	psm-record --no-pty -o rec2.jsonl -- sh -c 'echo second; sleep 0.02; echo session' </dev/null >/dev/null
	psm-seal -k k.key --every 3 rec.jsonl > s.jsonl
	psm-seal -k k.key --every 3 rec.jsonl > same-key.jsonl
	psm-seal -k other.key --every 3 rec.jsonl > other.jsonl
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR"/*.key "$BATS_FILE_TMPDIR"/*.pub "$BATS_FILE_TMPDIR"/*.jsonl .
	KEYID=$(cut -d' ' -f2 k.pub)
	TAG=$(head -n 1 s.jsonl | jq -r .sid | cut -c1-8)	# s.jsonl's chain tag
	SID=$(head -n 1 rec.jsonl | jq -r .sid)	# the recorded session
	N=$(wc -l < rec.jsonl)			# its events
	T=$(wc -l < s.jsonl)			# the lines of s.jsonl
	[ "$N" -ge 8 ] || fail "the recording has only $N events"
	BG_PIDS=()
}

teardown() {
	stop_background
	tmux_stop
}

CHANGED='chain hash does not match (this line was changed, or lines before it inserted, removed or reordered)'

# line N FILE: line N of FILE.
line() { sed -n "$1p" "$2"; }

# put FILE N TEXT: FILE with line N replaced by TEXT.
put() {
	{ head -n $(( $2 - 1 )) "$1"; printf '%s\n' "$3"; tail -n +$(( $2 + 1 )) "$1"; } > "$1.new"
	mv "$1.new" "$1"
}

# chain_next PREV_HEX TEXT: SHA-256("psm-chain-v1" NUL || prev || text), in hex.
chain_next() {
	{ printf 'psm-chain-v1\0'; printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"; printf '%s' "$2"; } |
		sha256sum | cut -c1-64
}

# rehash FILE FROM: what an attacker can do without a key: recompute the
# chain hash of every line from line FROM on.
rehash() {
	local file=$1 from=$2 n=0 prev line base h
	prev=$(line $(( from - 1 )) "$file" | sed 's/.*,"h":"\([0-9a-f]\{64\}\)"}$/\1/')
	while IFS= read -r line; do
		n=$(( n + 1 ))
		if [ "$n" -ge "$from" ]; then
			base=${line%,\"chain\":\"*}
			tag=${line##*,\"chain\":\"}
			tag=${tag:0:8}
			h=$(chain_next "$prev" "$base}")
			line="$base,\"chain\":\"$tag\",\"h\":\"$h\"}"
			prev=$h
		fi
		printf '%s\n' "$line"
	done < "$file" > "$file.new"
	mv "$file.new" "$file"
}

# has_lines N FILE: FILE has at least N lines.
has_lines() { [ -f "$2" ] && [ "$(wc -l < "$2")" -ge "$1" ]; }

# resign5 SED: checkpoint line 5 of s.jsonl edited by SED and signed again
# with the sealer's own key, the chain recomputed after it.
resign5() {
	local body sig
	body=$(line 5 s.jsonl | sed -E "s/,\"sig\":.*//; $1")
	sig=$(printf '%s' "$body" | sign k.key)
	put s.jsonl 5 "$body,\"sig\":\"$sig\",\"chain\":\"$TAG\",\"h\":\"0\"}"
	rehash s.jsonl 5
}

# h_of N FILE: the chain hash line N states.
h_of() { line "$1" "$2" | sed 's/.*,"h":"\([0-9a-f]\{64\}\)"}$/\1/'; }

# unsealed N: "N line(s) unsealed"
unsealed() { if [ "$1" -eq 1 ]; then echo '1 line unsealed'; else echo "$1 lines unsealed"; fi; }

# other_char C: a character of the same alphabet (hex, base64) that is not C.
other_char() { if [ "$1" = a ]; then echo b; else echo a; fi; }

# sign KEYFILE < MESSAGE: an Ed25519 signature in base64 with a psm secret
# key (no passphrase), made with openssl: what a holder of that key can do.
sign() {
	{ printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20'
	  sed -n 's/^secret //p' "$1" | base64 -d | head -c 32; } > sk.der
	openssl pkey -inform DER -in sk.der -out sk.pem 2>/dev/null
	cat > msg
	openssl pkeyutl -sign -inkey sk.pem -rawin -in msg | base64 -w0
}

# ok_line FILE EVENTS SESSIONS: the start of psm-verify's line for a good stream.
ok_line() {
	local e=events s=sessions
	[ "$2" -ne 1 ] || e=event
	[ "$3" -ne 1 ] || s=session
	printf '%s: OK: %s %s, %s %s, sealed by %s, ' "$1" "$2" "$e" "$3" "$s" "$KEYID"
}

@test "psm-verify: a sealed stream is OK: its events, sessions, key and time span, exit 0" {
	run -0 --separate-stderr psm-verify -p k.pub s.jsonl
	from=$(line 1 s.jsonl | jq -r .start)
	to=$(line "$T" s.jsonl | jq -r .end)
	assert_output "s.jsonl: OK: $N events, 1 session, sealed by $KEYID, $from .. $to"
	assert_stderr ''
	run -0 --separate-stderr psm-verify --pubkey=k.pub s.jsonl
	assert_output "s.jsonl: OK: $N events, 1 session, sealed by $KEYID, $from .. $to"
}

@test "psm-verify: with no FILE, or '-', it reads standard input" {
	run -0 --separate-stderr psm-verify -p k.pub < s.jsonl
	assert_output --partial "$(ok_line '(stdin)' "$N" 1)"
	run -0 --separate-stderr psm-verify -p k.pub - < s.jsonl
	assert_output --partial "$(ok_line - "$N" 1)"
}

@test "psm-verify: several sessions in one stream are counted apart" {
	cat rec.jsonl rec2.jsonl | psm-seal -k k.key > two.jsonl
	run -0 psm-verify -p k.pub two.jsonl
	assert_output --partial "$(ok_line two.jsonl $(( N + $(wc -l < rec2.jsonl) )) 2)"
}

@test "psm-verify: a log that sealed streams were added to with >> verifies (the design's pipeline)" {
	# DESIGN.md and psm-seal(1): psm-record -o >(psm-seal -k host.key >> /var/log/psm/s.jsonl),
	# then psm-verify -p host.pub /var/log/psm/s.jsonl: one sealed stream per session, one file.
	psm-seal -k k.key rec.jsonl >> host.jsonl
	psm-seal -k k.key rec2.jsonl >> host.jsonl
	run -0 --separate-stderr psm-verify -p k.pub host.jsonl
	assert_output --partial "host.jsonl: OK: $(( N + $(wc -l < rec2.jsonl) )) events, 2 sessions"
	[ "${#lines[@]}" -eq 1 ]
}

@test "psm-verify: a changed byte in an event's data fails at that line (exit 1)" {
	sed -i '3s/line 1/line X/' s.jsonl
	run -1 cmp -s s.jsonl "$BATS_FILE_TMPDIR/s.jsonl"
	run -1 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 3: $CHANGED"
	assert_stderr ''
}

@test "psm-verify: a changed event with the chain recomputed fails at the next checkpoint" {
	sed -i '3s/line 1/line X/' s.jsonl
	rehash s.jsonl 3
	run -1 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: checkpoint does not match the lines before it (changed, inserted or removed after line 1)'
}

@test "psm-verify: a changed seq fails: at its hash, and with the chain recomputed, by the session's order" {
	sed -i '4s/"seq":2,/"seq":3,/' s.jsonl
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 4: $CHANGED"
	rehash s.jsonl 4
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 4: session $SID: seq 3 where 2 was due"
}

@test "psm-verify: a t set back, with the chain recomputed, fails: t runs backwards" {
	t3=$(line 3 s.jsonl | jq .t)
	[ "$t3" -gt 0 ]
	sed -i -E '4s/"t":[0-9]+,/"t":0,/' s.jsonl
	rehash s.jsonl 4
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 4: session $SID: t runs backwards (0 after $t3)"
}

@test "psm-verify: a changed checkpoint head fails, also with the chain recomputed: its signature is checked first" {
	c=$(line 5 s.jsonl | sed 's/.*"head":"\(.\).*/\1/')
	sed -i "5s/\"head\":\"$c/\"head\":\"$(other_char "$c")/" s.jsonl
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 5: $CHANGED"
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: bad signature (forged or changed checkpoint)'
}

@test "psm-verify: a checkpoint's line count changed, with the chain recomputed, fails" {
	sed -i '5s/"lines":4,/"lines":3,/' s.jsonl
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: bad signature (forged or changed checkpoint)'
}

@test "psm-verify: a checkpoint that does not match the lines before it fails, even well signed" {
	# The sealer's own key signs a checkpoint that names a wrong line count.
	resign5 's/"lines":4,/"lines":3,/'
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: checkpoint does not match the lines before it (changed, inserted or removed after line 1)'
}

@test "psm-verify: a forged signature (one base64 character changed) fails: bad signature" {
	c=$(line 5 s.jsonl | sed 's/.*"sig":"\(.\).*/\1/')
	sed -i "5s|\"sig\":\"$c|\"sig\":\"$(other_char "$c")|" s.jsonl	# | : base64 has /
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 5: $CHANGED"
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: bad signature (forged or changed checkpoint)'
	# The seal's signature too.
	cp "$BATS_FILE_TMPDIR/s.jsonl" s.jsonl
	c=$(line "$T" s.jsonl | sed 's/.*"sig":"\(.\).*/\1/')
	sed -i "${T}s|\"sig\":\"$c|\"sig\":\"$(other_char "$c")|" s.jsonl
	rehash s.jsonl "$T"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line $T: bad signature (forged or changed checkpoint)"
}

@test "psm-verify: a seal's cut flag changed, with the chain recomputed, fails: bad signature" {
	sed -i "${T}s/\"cut\":false/\"cut\":true/" s.jsonl
	rehash s.jsonl "$T"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line $T: bad signature (forged or changed checkpoint)"
}

@test "psm-verify: a deleted event in the middle fails where it was" {
	sed -i '3d' s.jsonl
	run -1 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 3: $CHANGED"
	# Deleted with the chain recomputed: the checkpoint after it catches it.
	cp "$BATS_FILE_TMPDIR/s.jsonl" s.jsonl
	sed -i '8d' s.jsonl
	rehash s.jsonl 8
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 8: checkpoint does not match the lines before it (changed, inserted or removed after line 5)'
}

@test "psm-verify: an inserted copy of another line fails where it is" {
	put s.jsonl 3 "$(line 7 s.jsonl)
$(line 3 s.jsonl)"
	[ "$(wc -l < s.jsonl)" -eq $(( T + 1 )) ]
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 3: $CHANGED"
}

@test "psm-verify: a duplicated line fails at the copy" {
	sed -i '6p' s.jsonl
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 7: $CHANGED"
}

@test "psm-verify: two lines swapped fail at the first" {
	a=$(line 6 s.jsonl)
	put s.jsonl 6 "$(line 7 s.jsonl)"
	put s.jsonl 7 "$a"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 6: $CHANGED"
}

@test "psm-verify: a line inserted without a chain hash fails" {
	put s.jsonl 3 "$(line 3 rec.jsonl)
$(line 3 s.jsonl)"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 3: no chain hash (a line inserted unsealed?)'
}

@test "psm-verify: events dropped before the final seal fail at the seal" {
	{ head -n $(( T - 3 )) s.jsonl; tail -n 1 s.jsonl; } > cut.jsonl
	run -1 psm-verify -p k.pub cut.jsonl
	assert_output "cut.jsonl: FAILED: line $(( T - 2 )): $CHANGED"
}

@test "psm-verify: a tail cut off with its seal is INCOMPLETE (exit 5): verified through the last checkpoint" {
	last=$(grep -n '"type":"checkpoint"' s.jsonl | tail -n 1 | cut -d: -f1)
	head -n $(( T - 1 )) s.jsonl > cut.jsonl
	run -5 --separate-stderr psm-verify -p k.pub cut.jsonl
	assert_output "cut.jsonl: INCOMPLETE: verified through line $last, $(unsealed $(( T - 1 - last )))"
	assert_stderr ''
	# Cut just after a checkpoint: nothing is unsealed, but it is not finished.
	head -n 9 s.jsonl > at.jsonl
	run -5 psm-verify -p k.pub at.jsonl
	assert_output 'at.jsonl: INCOMPLETE: verified through line 9, 0 lines unsealed'
	head -n 10 s.jsonl > one.jsonl
	run -5 psm-verify -p k.pub one.jsonl
	assert_output 'one.jsonl: INCOMPLETE: verified through line 9, 1 line unsealed'
	# Only the opening checkpoint.
	head -n 1 s.jsonl > open.jsonl
	run -5 psm-verify -p k.pub open.jsonl
	assert_output 'open.jsonl: INCOMPLETE: verified through line 1, 0 lines unsealed'
}

@test "psm-verify: an unfinished last line is INCOMPLETE, never OK" {
	head -c -1 s.jsonl > nonl.jsonl
	last=$(grep -n '"type":"checkpoint"' s.jsonl | tail -n 1 | cut -d: -f1)
	run -5 psm-verify -p k.pub nonl.jsonl
	# The whole lines after the last checkpoint, and the unfinished one.
	assert_output "nonl.jsonl: INCOMPLETE: verified through line $last, $(unsealed $(( T - last )))"
	head -c -30 s.jsonl > mid.jsonl
	run -5 psm-verify -p k.pub mid.jsonl
	assert_output "mid.jsonl: INCOMPLETE: verified through line $last, $(unsealed $(( T - last )))"
}

@test "psm-verify: lines chained on after the final seal fail: a sealed stream is closed" {
	psm-seal -k k.key rec2.jsonl > tail.jsonl
	cp s.jsonl more.jsonl
	line 2 tail.jsonl >> more.jsonl
	run -1 psm-verify -p k.pub more.jsonl
	assert_output --partial "more.jsonl: FAILED: line $(( T + 1 )): no open sealed stream has the chain tag $(line 1 tail.jsonl | jq -r .sid | cut -c1-8) "
	# Tagged as the sealed stream's and chained on from its seal: still refused.
	sed -i "\$s/\"chain\":\"[0-9a-f]*\"/\"chain\":\"$TAG\"/" more.jsonl
	rehash more.jsonl $(( T + 1 ))
	run -1 psm-verify -p k.pub more.jsonl
	assert_output --partial "more.jsonl: FAILED: line $(( T + 1 )): no open sealed stream has the chain tag $TAG (the start of its stream removed, a line after its seal, "
}

@test "psm-verify: the same event moved from another stream sealed with the same key fails" {
	# same-key.jsonl sealed the same recording with the same key: line 3 is
	# the same event, but its chain began from another stream id and time.
	[ "$(line 3 same-key.jsonl | sed 's/,"chain":.*//')" = "$(line 3 s.jsonl | sed 's/,"chain":.*//')" ]
	put s.jsonl 3 "$(line 3 same-key.jsonl)"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output --partial "s.jsonl: FAILED: line 3: no open sealed stream has the chain tag "
	# Given this stream's tag, its hash does not chain.
	put s.jsonl 3 "$(line 3 same-key.jsonl | sed "s/\"chain\":\"[0-9a-f]*\"/\"chain\":\"$TAG\"/")"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 3: $CHANGED"
	# An event of another stream added in, with the chain recomputed.
	cp "$BATS_FILE_TMPDIR/s.jsonl" s.jsonl
	put s.jsonl 4 "$(line 4 s.jsonl)
$(line 3 same-key.jsonl | sed "s/\"chain\":\"[0-9a-f]*\"/\"chain\":\"$TAG\"/")"
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 5: session $SID: seq 1 where 3 was due"
}

@test "psm-verify: the rest of another stream sealed with the same key, rechained, fails" {
	{ head -n 4 s.jsonl; tail -n +5 same-key.jsonl; } > spliced.jsonl
	# line 5 is the other stream's checkpoint: its stream id gives it away
	run -1 psm-verify -p k.pub spliced.jsonl
	assert_output "spliced.jsonl: FAILED: line 5: checkpoint of a sealed stream that is not open here ($(line 1 same-key.jsonl | jq -r .sid)): its opening removed, or a line after its seal"
	rehash spliced.jsonl 5
	run -1 psm-verify -p k.pub spliced.jsonl
	assert_output "spliced.jsonl: FAILED: line 5: checkpoint of a sealed stream that is not open here ($(line 1 same-key.jsonl | jq -r .sid)): its opening removed, or a line after its seal"
}

@test "psm-verify: a checkpoint replayed later fails: out of order" {
	put s.jsonl 9 "$(line 9 s.jsonl)
$(line 5 s.jsonl)"
	run -1 psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 10: $CHANGED"
	rehash s.jsonl 10
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 10: checkpoint out of order (seq 1 where 3 was due): replayed or removed'
	# In place of the one that was due.
	cp "$BATS_FILE_TMPDIR/s.jsonl" s.jsonl
	put s.jsonl 9 "$(line 5 s.jsonl)"
	rehash s.jsonl 9
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 9: checkpoint out of order (seq 1 where 2 was due): replayed or removed'
}

@test "psm-verify: a checkpoint removed, with the chain recomputed, fails at the next" {
	sed -i '5d' s.jsonl
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 8: checkpoint out of order (seq 2 where 1 was due): replayed or removed'
}

@test "psm-verify: a stream signed by a key not given with -p fails: signed by unknown key" {
	run -1 --separate-stderr psm-verify -p k.pub other.jsonl
	assert_output "other.jsonl: FAILED: line 1: signed by unknown key $(cut -d' ' -f2 other.pub)"
	assert_stderr ''
}

@test "psm-verify: with two -p keys, a stream signed by either is OK" {
	run -0 psm-verify -p other.pub -p k.pub s.jsonl
	assert_output --partial "$(ok_line s.jsonl "$N" 1)"
	run -0 psm-verify -p k.pub -p other.pub other.jsonl
	assert_output --partial "other.jsonl: OK: $N events, 1 session, sealed by $(cut -d' ' -f2 other.pub), "
}

@test "psm-verify: a rewrite with jq -c that keeps the meaning fails: the exact bytes are sealed" {
	# An event whose text is written with a \u escape: the same string to jq.
	sed '2s/"data":"line 1/"data":"\\u006cine 1/' rec.jsonl > esc.jsonl
	run -1 cmp -s esc.jsonl rec.jsonl
	[ "$(jq -c . esc.jsonl | md5sum)" = "$(jq -c . rec.jsonl | md5sum)" ]
	psm-seal -k k.key esc.jsonl > e.jsonl
	run -0 psm-verify -p k.pub e.jsonl
	jq -c . e.jsonl > rewritten.jsonl
	run -1 cmp -s e.jsonl rewritten.jsonl
	run -1 psm-verify -p k.pub rewritten.jsonl
	assert_output "rewritten.jsonl: FAILED: line 3: $CHANGED"
}

@test "psm-verify: an attacker who re-seals a changed recording with another key fails: unknown key" {
	sed 's/line 1/line X/' rec.jsonl > changed.jsonl
	psm-seal -k attacker.key changed.jsonl > forged.jsonl
	run -1 psm-verify -p k.pub forged.jsonl
	assert_output "forged.jsonl: FAILED: line 1: signed by unknown key $(cut -d' ' -f2 attacker.pub)"
}

@test "psm-verify: an attacker who rechains and re-signs the checkpoints with another key fails" {
	command -v openssl >/dev/null || skip "openssl is not installed"
	sed -i '3s/line 1/line X/' s.jsonl
	rehash s.jsonl 3
	# forge ID: checkpoint 1 as the attacker makes it, with the new head,
	# naming key ID, signed with the attacker's key.
	forge() {
		local body sig
		body=$(line 5 s.jsonl | sed -E "s/,\"sig\":.*//; s/\"key\":\"[0-9a-f]+\"/\"key\":\"$1\"/; s/\"head\":\"[0-9a-f]+\"/\"head\":\"$(h_of 4 s.jsonl)\"/")
		sig=$(printf '%s' "$body" | sign attacker.key)
		[ "${#sig}" -eq 88 ]
		cp s.jsonl forged.jsonl
		put forged.jsonl 5 "$body,\"sig\":\"$sig\",\"chain\":\"$TAG\",\"h\":\"0\"}"
		rehash forged.jsonl 5
	}
	attacker=$(cut -d' ' -f2 attacker.pub)
	forge "$attacker"
	# Well made, and the attacker's key trusted too: the stream was opened
	# under the sealer's key, and stays pinned to it.
	head -n 5 forged.jsonl > head.jsonl
	run -1 psm-verify -p attacker.pub -p k.pub head.jsonl
	assert_output "head.jsonl: FAILED: line 5: checkpoint signed by key $attacker, but its stream was opened under key $KEYID"
	run -1 psm-verify -p k.pub forged.jsonl
	assert_output "forged.jsonl: FAILED: line 5: signed by unknown key $attacker"
	# Naming the sealer's key does not help.
	forge "$KEYID"
	run -1 psm-verify -p k.pub forged.jsonl
	assert_output 'forged.jsonl: FAILED: line 5: bad signature (forged or changed checkpoint)'
}

@test "psm-verify: a stream whose opening checkpoint was removed fails at line 1" {
	sed -i '1d' s.jsonl
	run -1 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output "s.jsonl: FAILED: line 1: no open sealed stream has the chain tag $TAG (the start of its stream removed, a line after its seal, or a line from another file)"
	assert_stderr ''
}

@test "psm-verify: a checkpoint whose format version was changed fails (exit 1), not bad input" {
	sed -i '5s/"v":2,/"v":3,/' s.jsonl
	rehash s.jsonl 5
	run -1 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: bad signature (forged or changed checkpoint)'
	assert_stderr ''
}

@test "psm-verify: a well-signed checkpoint of an unknown format version is exit 3, named by FILE:LINE once" {
	resign5 's/"v":2,/"v":3,/'
	run -3 --separate-stderr psm-verify -p k.pub s.jsonl
	assert_output ''
	assert_stderr 'psm-verify: s.jsonl:5: checkpoint format version 3 is not known to this psm-verify (it reads 2)'
}

@test "psm-verify: a line that is not JSON after the first, with a chain hash, fails as malformed" {
	put s.jsonl 3 "{\"sid\":,\"chain\":\"$TAG\",\"h\":\"$(printf '%064d' 0)\"}"
	rehash s.jsonl 3
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 3: malformed: unexpected character'
}

@test "psm-verify: a line over 1 MiB fails with its line number" {
	{
		head -n 4 s.jsonl
		printf '{"sid":"%s","seq":3,"t":99999999,"type":"out","data":"' "$SID"
		head -c 1100000 /dev/zero | tr '\0' a
		printf '","chain":"%s","h":"%064d"}\n' "$TAG" 0
		tail -n +5 s.jsonl
	} > big.jsonl
	run -1 psm-verify -p k.pub big.jsonl
	assert_output 'big.jsonl: FAILED: line 5: longer than 1 MiB'
}

@test "psm-verify: an unsealed recording is not a sealed stream (exit 3, FILE:1 on stderr)" {
	run -3 --separate-stderr psm-verify -p k.pub rec.jsonl
	assert_output ''
	assert_stderr 'psm-verify: rec.jsonl:1: not a sealed psm stream (line 1 has no chain hash)'
	echo 'not json at all' > text.jsonl
	run -3 --separate-stderr psm-verify -p k.pub text.jsonl
	assert_stderr 'psm-verify: text.jsonl:1: not a sealed psm stream (line 1 has no chain hash)'
}

@test "psm-verify: a file cut to zero bytes fails (exit 1): a sealed stream is never empty" {
	: > empty.jsonl
	run -1 --separate-stderr psm-verify -p k.pub empty.jsonl
	assert_output 'empty.jsonl: FAILED: empty (a sealed stream is never empty: was the file emptied?)'
	assert_stderr ''
}

@test "psm-verify: a file that cannot be read is exit 4 with its name" {
	run -4 --separate-stderr psm-verify -p k.pub no-such.jsonl
	assert_stderr 'psm-verify: no-such.jsonl: No such file or directory'
	assert_output ''
	mkdir dir.jsonl
	run -4 --separate-stderr psm-verify -p k.pub dir.jsonl
	assert_stderr 'psm-verify: dir.jsonl: Is a directory'
}

@test "psm-verify: several files: one line each, and the worst status (1, then 3, then 5)" {
	head -n 9 s.jsonl > incomplete.jsonl
	sed '3s/line 1/line X/' s.jsonl > failed.jsonl
	run -5 --separate-stderr psm-verify -p k.pub s.jsonl incomplete.jsonl
	assert_line --index 0 --partial "$(ok_line s.jsonl "$N" 1)"
	assert_line --index 1 'incomplete.jsonl: INCOMPLETE: verified through line 9, 0 lines unsealed'
	[ "${#lines[@]}" -eq 2 ]
	run -3 --separate-stderr psm-verify -p k.pub incomplete.jsonl rec.jsonl s.jsonl
	assert_line --index 0 'incomplete.jsonl: INCOMPLETE: verified through line 9, 0 lines unsealed'
	assert_line --index 1 --partial "$(ok_line s.jsonl "$N" 1)"
	[ "${#lines[@]}" -eq 2 ]
	assert_stderr 'psm-verify: rec.jsonl:1: not a sealed psm stream (line 1 has no chain hash)'
	run -1 --separate-stderr psm-verify -p k.pub rec.jsonl incomplete.jsonl failed.jsonl s.jsonl
	assert_output "incomplete.jsonl: INCOMPLETE: verified through line 9, 0 lines unsealed
failed.jsonl: FAILED: line 3: $CHANGED
$(psm-verify -p k.pub s.jsonl)"
	assert_stderr 'psm-verify: rec.jsonl:1: not a sealed psm stream (line 1 has no chain hash)'
	run -0 psm-verify -p k.pub s.jsonl s.jsonl
	[ "${#lines[@]}" -eq 2 ]
}

@test "psm-verify: --json gives one JSON object per file with its status and where it stopped" {
	head -n 10 s.jsonl > incomplete.jsonl
	sed '3s/line 1/line X/' s.jsonl > failed.jsonl
	run -1 --separate-stderr psm-verify --json -p k.pub s.jsonl incomplete.jsonl failed.jsonl rec.jsonl
	assert_stderr ''
	[ "${#lines[@]}" -eq 4 ]
	printf '%s\n' "$output" > report.jsonl
	stream=$(line 1 s.jsonl | jq -r .sid)
	line 1 report.jsonl | jq -e --arg k "$KEYID" --arg s "$stream" --argjson n "$N" --argjson t "$T" '
		.file == "s.jsonl" and .status == "OK" and .lines == $t and .verified_through == $t and
		.events == $n and .sessions == 1 and .key == $k and .nstreams == 1 and .cut == false and
		(.from | test("^[0-9-]{10}T")) and (.to | test("^[0-9-]{10}T")) and (has("reason") | not) and
		(.streams | length) == 1 and .streams[0].id == $s and .streams[0].key == $k and
		.streams[0].start == .from and .streams[0].end == .to and .streams[0].lines == $t and
		.streams[0].first_line == 1 and .streams[0].last_line == $t and .streams[0].events == $n and
		.streams[0].sessions == 1 and .streams[0].sealed and (.streams[0].cut | not) and
		(.streams[0].linked | not)'
	line 2 report.jsonl | jq -e --arg s "$stream" '
		.file == "incomplete.jsonl" and .status == "INCOMPLETE" and .lines == 10 and
		.verified_through == 9 and .events == 7 and .streams[0].id == $s and
		.streams[0].end == null and (.streams[0].sealed | not) and
		.reason == "verified through line 9, 1 line unsealed"'
	line 3 report.jsonl | jq -e --arg r "line 3: $CHANGED" '
		.file == "failed.jsonl" and .status == "FAILED" and .lines == 3 and
		.verified_through == 1 and .reason == $r'
	line 4 report.jsonl | jq -e '
		.file == "rec.jsonl" and .status == "INVALID" and .verified_through == 0 and .streams == [] and
		.reason == "not a sealed psm stream (line 1 has no chain hash)"'
}

@test "psm-verify: --json names the file as a JSON string, whatever its name" {
	cp s.jsonl 'a "quoted" \ name.jsonl'
	run -0 psm-verify -j -p k.pub 'a "quoted" \ name.jsonl'
	printf '%s\n' "$output" | jq -e '.file == "a \"quoted\" \\ name.jsonl" and .status == "OK"'
}

@test "psm-verify: usage errors exit 2 and point to --help" {
	run -2 --separate-stderr psm-verify s.jsonl
	assert_stderr "psm-verify: a public key is required: -p BASE.pub
Try 'psm-verify --help'"
	assert_output ''
	run -2 --separate-stderr psm-verify -p k.pub --no-such-option s.jsonl
	assert_stderr --partial "Try 'psm-verify --help'"
	run -2 --separate-stderr psm-verify -p
	assert_stderr --partial "Try 'psm-verify --help'"
}

@test "psm-verify: a public key file that is not one is exit 3 with FILE:1" {
	echo 'hello world' > bad.pub
	run -3 --separate-stderr psm-verify -p bad.pub s.jsonl
	assert_stderr 'psm-verify: bad.pub:1: not a psm public key (ed25519 KEYID [NAME] KEY)'
	assert_output ''
	run -3 --separate-stderr psm-verify -p k.key s.jsonl
	assert_stderr 'psm-verify: k.key:1: not a psm public key (ed25519 KEYID [NAME] KEY)'
	sed 's/ [0-9a-f]\{16\} / 0123456789abcdef /' k.pub > id.pub
	run -3 --separate-stderr psm-verify -p id.pub s.jsonl
	assert_stderr 'psm-verify: id.pub:1: the key id does not match the key'
	sed -E 's/ [A-Za-z0-9+/]{43}=$/ AAAA/' k.pub > short.pub
	run -3 --separate-stderr psm-verify -p short.pub s.jsonl
	assert_stderr 'psm-verify: short.pub:1: the public key is not 32 bytes of base64'
	sed 's/ verify-test / bad;name /' k.pub > name.pub
	run -3 --separate-stderr psm-verify -p name.pub s.jsonl
	assert_stderr 'psm-verify: name.pub:1: invalid key name'
	: > empty.pub
	run -3 --separate-stderr psm-verify -p empty.pub s.jsonl
	assert_stderr 'psm-verify: empty.pub:1: empty public key file'
	run -4 --separate-stderr psm-verify -p no-such.pub s.jsonl
	assert_stderr 'psm-verify: no-such.pub: No such file or directory'
}

@test "psm-verify: --help lists every option on stdout, --version prints the version" {
	run -0 --separate-stderr psm-verify --help
	for o in --pubkey --json --no-sandbox --help --version; do
		assert_output --partial -- "$o"
	done
	assert_stderr ''
	run -0 psm-verify --version
	assert_output --regexp '^psm-verify [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "psm-verify: works in its sandbox with stdout on a pipe, /dev/null and a file" {
	run -0 --separate-stderr bash -c 'psm-verify -p k.pub s.jsonl | cat; exit ${PIPESTATUS[0]}'
	assert_output --partial "$(ok_line s.jsonl "$N" 1)"
	run -0 --separate-stderr bash -c 'psm-verify -p k.pub s.jsonl > /dev/null'
	assert_output ''
	assert_stderr ''
	run -0 --separate-stderr bash -c 'psm-verify -p k.pub s.jsonl > out.txt'
	run cat out.txt
	assert_output --partial "$(ok_line s.jsonl "$N" 1)"
	# A failure report goes the same ways.
	sed '3s/line 1/line X/' s.jsonl > failed.jsonl
	run -1 --separate-stderr bash -c 'psm-verify -p k.pub failed.jsonl > /dev/null'
	assert_stderr ''
}

@test "psm-verify: works in its sandbox with stdout on a terminal" {
	tmux_start "psm-verify -p k.pub s.jsonl; echo rc=\$? > rc; sleep 60"
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=0
	wait_for 5 tmux_screen_has "s.jsonl: OK: $N events"
}

@test "psm-verify: stdout on /dev/full is exit 4 with the reason, not a kill by the sandbox" {
	run -4 --separate-stderr bash -c 'psm-verify -p k.pub s.jsonl > /dev/full'
	assert_stderr 'psm-verify: stdout: No space left on device'
	run -4 --separate-stderr bash -c 'psm-verify --json -p k.pub s.jsonl > /dev/full'
	assert_stderr 'psm-verify: stdout: No space left on device'
	run -4 --separate-stderr bash -c 'psm-verify --no-sandbox -p k.pub s.jsonl > /dev/full'
	assert_stderr 'psm-verify: stdout: No space left on device'
}

@test "psm-verify: --no-sandbox is accepted and verifies the same way" {
	run -0 psm-verify --no-sandbox -p k.pub s.jsonl
	assert_output "$(psm-verify -p k.pub s.jsonl)"
	sed '3s/line 1/line X/' s.jsonl > failed.jsonl
	run -1 psm-verify --no-sandbox -p k.pub failed.jsonl
	assert_output "failed.jsonl: FAILED: line 3: $CHANGED"
}

@test "psm-verify: the seccomp filter is in force while it reads" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	mkfifo in
	psm-verify -p k.pub in > out.txt 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7<> in
	head -n 3 s.jsonl >&7
	wait_for 5 grep -q "$(printf '^Seccomp:\t2$')" "/proc/$pid/status"
	tail -n +4 s.jsonl >&7
	exec 7>&-
	wait "$pid"
	run cat out.txt
	assert_output --partial "$(ok_line in "$N" 1)"
}

@test "psm-verify: a system call outside the sandbox's list kills it" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "LD_PRELOAD does not mix with the sanitizer runtime"
	build_late_syscall late.so
	run -159 env LD_PRELOAD=$PWD/late.so psm-verify -p k.pub s.jsonl
	run -0 env LD_PRELOAD=$PWD/late.so psm-verify --no-sandbox -p k.pub s.jsonl
}

@test "psm-verify: two sealed streams interleaved line by line in one log verify together" {
	# Two live sealers appending to one log with >>, their writes taking turns.
	mkfifo in1 in2
	exec 7<>in1 8<>in2
	psm-seal -k k.key --every 2 < in1 >> log.jsonl 3>&- 7>&- 8>&- &
	BG_PIDS+=($!)
	wait_for 5 has_lines 1 log.jsonl
	psm-seal -k other.key --every 2 < in2 >> log.jsonl 3>&- 7>&- 8>&- &
	BG_PIDS+=($!)
	wait_for 5 has_lines 2 log.jsonl
	n=2
	for i in 1 2 3 4 5 6; do
		if [ "$(sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec.jsonl | wc -l)" -gt 0 ]; then
			sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec.jsonl >&7
			n=$(( n + $(sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec.jsonl | wc -l) + 1 ))
			wait_for 5 has_lines "$(( n - 1 ))" log.jsonl
		fi
		if [ "$(sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec2.jsonl | wc -l)" -gt 0 ]; then
			sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec2.jsonl >&8
			n=$(( n + $(sed -n "$(( 2 * i - 1 )),$(( 2 * i ))p" rec2.jsonl | wc -l) + 1 ))
			wait_for 5 has_lines "$(( n - 1 ))" log.jsonl
		fi
	done
	exec 7>&- 8>&-
	wait "${BG_PIDS[@]}"
	BG_PIDS=()
	# interleaved: the second stream's lines come before the first's seal
	a=$(line 1 log.jsonl | jq -r .sid)
	b=$(line 2 log.jsonl | jq -r .sid)
	[ "$(grep -n "\"chain\":\"${b:0:8}\"" log.jsonl | sed -n 2p | cut -d: -f1)" -lt \
	  "$(grep -n "\"sid\":\"$a\".*\"type\":\"seal\"" log.jsonl | cut -d: -f1)" ]
	run -0 psm-verify -p k.pub -p other.pub log.jsonl
	assert_output --regexp "^log.jsonl: OK: $(( N + $(wc -l < rec2.jsonl) )) events, 2 sessions, 2 sealed streams, sealed by [0-9a-f]{16},[0-9a-f]{16}, "
	# the last stream's final seal removed: the other is fine, this one is unfinished
	grep -v "\"sid\":\"$b\".*\"type\":\"seal\"" log.jsonl > cut.jsonl
	run -5 psm-verify -p k.pub -p other.pub cut.jsonl
	assert_output --regexp '^cut.jsonl: INCOMPLETE: verified through line [0-9]+, 0 lines unsealed$'
	# a line of one stream moved two lines on fails
	{ line 1 log.jsonl; line 2 log.jsonl; line 4 log.jsonl; line 5 log.jsonl; line 3 log.jsonl; tail -n +6 log.jsonl; } > mixed.jsonl
	run -1 psm-verify -p k.pub -p other.pub mixed.jsonl
	assert_output --partial 'mixed.jsonl: FAILED: line '
	# separately sealed files pasted together do not verify: the second opens unlinked
	psm-seal -k k.key --every 2 rec.jsonl > a.jsonl
	psm-seal -k other.key --every 2 rec2.jsonl > b.jsonl
	paste -d '\n' a.jsonl b.jsonl | sed '/^$/d' > pasted.jsonl
	run -1 psm-verify -p k.pub -p other.pub pasted.jsonl
	assert_output "pasted.jsonl: FAILED: line 2: sealed stream $(line 1 b.jsonl | jq -r .sid) opens without a link to the line before it (streams sealed apart and joined, or a stream put in the place of another)"
}

@test "psm-verify: live sealers appending to one log with >> give a log that verifies" {
	mkfifo in1 in2
	psm-seal -k k.key --interval 1s < in1 >> shared.jsonl &
	BG_PIDS+=($!)
	psm-seal -k other.key --interval 1s < in2 >> shared.jsonl &
	BG_PIDS+=($!)
	exec 7>in1 8>in2
	head -n 4 rec.jsonl >&7
	cat rec2.jsonl >&8
	tail -n +5 rec.jsonl >&7
	exec 7>&- 8>&-
	wait "${BG_PIDS[@]}"
	BG_PIDS=()
	run -0 psm-verify -p k.pub -p other.pub shared.jsonl
	assert_output --partial 'shared.jsonl: OK: '
	assert_output --partial '2 sealed streams'
}

# day3 FILE: three recordings sealed onto FILE with --append: three linked streams.
day3() {
	for part in rec.jsonl rec2.jsonl rec3.jsonl; do
		psm-seal -k k.key --append "$1" "$part"
	done
}

# tag_of N FILE: the chain tag of line N.
tag_of() { line "$1" "$2" | jq -r .chain; }

@test "psm-verify: a whole sealed stream removed from the middle of a log fails at the link after it" {
	psm-record --no-pty -o rec3.jsonl -- echo third </dev/null >/dev/null
	day3 day.jsonl
	run -0 psm-verify -p k.pub day.jsonl
	second=$(grep -n '"type":"checkpoint"' day.jsonl | grep '"seq":0,' | sed -n 2p | cut -d: -f1)
	tag=$(tag_of "$second" day.jsonl)
	grep -v "\"chain\":\"$tag\"" day.jsonl > cut.jsonl
	run -1 psm-verify -p k.pub cut.jsonl
	third=$(line "$second" cut.jsonl | jq -r .sid)
	assert_output "cut.jsonl: FAILED: line $second: sealed stream $third is linked to a line that is not the one before it (lines or a whole stream before it removed, replaced or moved)"
}

@test "psm-verify: a sealed stream replaced by another sealed with the same key fails" {
	psm-record --no-pty -o rec3.jsonl -- echo third </dev/null >/dev/null
	day3 day.jsonl
	second=$(grep -n '"type":"checkpoint"' day.jsonl | grep '"seq":0,' | sed -n 2p | cut -d: -f1)
	tag=$(tag_of "$second" day.jsonl)
	# The same recording sealed again with the same key, on its own: the
	# same events, counts and key; only its id, times and link differ.
	grep "\"chain\":\"$tag\"" day.jsonl > old.jsonl
	unsealed() { grep -v -E '"type":"(checkpoint|seal)"' "$1" | sed -E 's/,"chain":"[0-9a-f]{8}","h":"[0-9a-f]{64}"\}$/}/'; }
	unsealed old.jsonl > again.jsonl
	psm-seal -k k.key again.jsonl > new.jsonl
	[ "$(wc -l < new.jsonl)" -eq "$(wc -l < old.jsonl)" ]
	{ head -n $(( second - 1 )) day.jsonl; cat new.jsonl; tail -n +$(( second + $(wc -l < old.jsonl) )) day.jsonl; } > swapped.jsonl
	run -1 psm-verify -p k.pub swapped.jsonl
	assert_output "swapped.jsonl: FAILED: line $second: sealed stream $(line 1 new.jsonl | jq -r .sid) opens without a link to the line before it (streams sealed apart and joined, or a stream put in the place of another)"
	# A stream that was linked in another log does not fit here either.
	psm-seal -k k.key --append other-day.jsonl rec.jsonl
	psm-seal -k k.key --append other-day.jsonl again.jsonl
	grep -v "\"chain\":\"$(tag_of 1 other-day.jsonl)\"" other-day.jsonl > linked-elsewhere.jsonl
	{ head -n $(( second - 1 )) day.jsonl; cat linked-elsewhere.jsonl; tail -n +$(( second + $(wc -l < old.jsonl) )) day.jsonl; } > swapped2.jsonl
	run -1 psm-verify -p k.pub swapped2.jsonl
	assert_output --partial "swapped2.jsonl: FAILED: line $second: sealed stream $(line 1 linked-elsewhere.jsonl | jq -r .sid) is linked to a line that is not the one before it"
}

@test "psm-verify: --json reports every sealed stream of a file, in file order" {
	psm-record --no-pty -o rec3.jsonl -- echo third </dev/null >/dev/null
	day3 day.jsonl
	run -0 psm-verify --json -p k.pub day.jsonl
	printf '%s\n' "$output" | jq -e --arg k "$KEYID" '
		.status == "OK" and .nstreams == 3 and (.streams | length) == 3 and
		([.streams[].key] | unique) == [$k] and ([.streams[].id] | unique | length) == 3 and
		.streams[0].first_line == 1 and (.streams[0].linked | not) and
		.streams[1].first_line == .streams[0].last_line + 1 and .streams[1].linked and
		.streams[2].first_line == .streams[1].last_line + 1 and .streams[2].linked and
		.streams[2].last_line == .lines and ([.streams[].sessions] == [1, 1, 1]) and
		([.streams[].sealed] | all)'
	ids=$(printf '%s\n' "$output" | jq -r '.streams[].id' | paste -sd' ')
	[ "$ids" = "$(jq -r 'select(.type == "checkpoint" and .seq == 0) | .sid' day.jsonl | paste -sd' ')" ]
}

@test "psm-verify: the start of a log of linked streams removed fails at line 1" {
	psm-record --no-pty -o rec3.jsonl -- echo third </dev/null >/dev/null
	day3 day.jsonl
	second=$(grep -n '"type":"checkpoint"' day.jsonl | grep '"seq":0,' | sed -n 2p | cut -d: -f1)
	tail -n +"$second" day.jsonl > headless.jsonl
	run -1 psm-verify -p k.pub headless.jsonl
	assert_output "headless.jsonl: FAILED: line 1: sealed stream $(line 1 headless.jsonl | jq -r .sid) was linked to a line before it, which is missing (the start of the file was removed)"
}

@test "psm-verify: a line whose chain tag was changed fails" {
	psm-seal -k other.key rec2.jsonl >> s.jsonl
	other=$(tail -n 1 s.jsonl | jq -r .chain)
	sed -i "3s/\"chain\":\"$TAG\"/\"chain\":\"$other\"/" s.jsonl
	run -1 psm-verify -p k.pub -p other.pub s.jsonl
	assert_output --partial 's.jsonl: FAILED: line 3: '
	sed -i "3s/\"chain\":\"$other\"/\"chain\":\"0000abcd\"/" s.jsonl
	run -1 psm-verify -p k.pub s.jsonl
	assert_output --partial 's.jsonl: FAILED: line 3: no open sealed stream has the chain tag 0000abcd'
}

@test "psm-verify: bytes from the file are escaped in messages: a forged key id cannot paint the terminal" {
	# A key id with C1 controls (CSI, NEL: valid UTF-8 in a JSON string) and a backslash.
	evil=$(printf '\302\2332K\302\205OK\\')
	sed -i "5s/\"key\":\"[0-9a-f]*\"/\"key\":\"$(printf '%s' "$evil" | sed 's/\\/\\\\\\\\/g')\"/" s.jsonl
	rehash s.jsonl 5
	run -1 psm-verify -p k.pub s.jsonl
	assert_output 's.jsonl: FAILED: line 5: signed by unknown key \xc2\x9b2K\xc2\x85OK\x5c\x5c'
	printf '%s' "$output" | LC_ALL=C grep -q "$(printf '\302')" && fail "a raw C1 byte reached the output"
	true
}

@test "psm-verify: CRLF line ends fail (exit 1), they are not mere bad input" {
	sed 's/$/\r/' s.jsonl > crlf.jsonl
	run -1 --separate-stderr psm-verify -p k.pub crlf.jsonl
	assert_output 'crlf.jsonl: FAILED: line 1: the end of the line was changed (a carriage return or spaces after the chain hash)'
	assert_stderr ''
	# only one line changed so
	sed '4s/$/\r/' s.jsonl > crlf.jsonl
	run -1 psm-verify -p k.pub crlf.jsonl
	assert_output 'crlf.jsonl: FAILED: line 4: the end of the line was changed (a carriage return or spaces after the chain hash)'
}

@test "psm-verify: a line put before the opening checkpoint fails (exit 1), it is not mere bad input" {
	{ line 2 rec.jsonl; cat s.jsonl; } > before.jsonl
	run -1 --separate-stderr psm-verify -p k.pub before.jsonl
	assert_output 'before.jsonl: FAILED: line 1: not sealed, but line 2 is: lines were put before the opening checkpoint'
	assert_stderr ''
	{ echo 'garbage'; echo; cat s.jsonl; } > before.jsonl
	run -1 psm-verify -p k.pub before.jsonl
	assert_output 'before.jsonl: FAILED: line 1: not sealed, but line 3 is: lines were put before the opening checkpoint'
}

@test "psm-verify: a file sealed by psm 0.1 (format 1) is named as such (exit 3)" {
	sed -E 's/,"chain":"[0-9a-f]{8}","h":/,"h":/' s.jsonl > v1.jsonl
	run -3 --separate-stderr psm-verify -p k.pub v1.jsonl
	assert_stderr 'psm-verify: v1.jsonl:1: sealed in format 1 (psm 0.1), which this psm-verify does not read'
}

@test "psm-verify: a log of many short sessions keeps only the open ones" {
	# 3000 sessions, one after another: the verifier and the sealer keep the
	# open ones and the last 1024 ended (psm-stream(5)).
	awk -v n=3000 'BEGIN { for (i = 0; i < n; i++) {
		sid = sprintf("%08x-0000-4000-8000-000000000000", i)
		printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\"}\n", sid
		printf "{\"sid\":\"%s\",\"seq\":1,\"t\":1,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":1}\n", sid } }' > many.jsonl
	psm-seal -k k.key many.jsonl > many.sealed.jsonl
	run -0 psm-verify -p k.pub many.sealed.jsonl
	assert_output --partial 'many.sealed.jsonl: OK: 6000 events, 3000 sessions, '
	# An event after the end of a session ended just before is named so.
	printf '{"sid":"%s","seq":2,"t":2,"type":"out","data":"x"}\n' 00000bb7-0000-4000-8000-000000000000 >> many.jsonl
	run -3 --separate-stderr psm-seal -k k.key many.jsonl
	assert_stderr --partial 'many.jsonl:6001: session 00000bb7-0000-4000-8000-000000000000: event after its end'
	# The first session was forgotten long ago: its id has no start event now.
	sed -i '$s/00000bb7/00000000/' many.jsonl
	run -3 --separate-stderr psm-seal -k k.key many.jsonl
	assert_stderr --partial 'many.jsonl:6001: session 00000000-0000-4000-8000-000000000000 has no start event (first seen at seq 2)'
}
