#!/usr/bin/env bats
# psm-replay: play a recorded session back.
load helpers

F=$FIXTURES/psm-replay
# The sessions of fixtures/psm-replay/three-sessions.jsonl.
A=aa11e4a2-5b6c-4d7e-8f90-a1b2c3d4e5f6	# alice@db1, --no-pty, ended: exit 0
B=aa22f0e1-1c2d-4e3f-9a0b-c1d2e3f4a5b6	# bob@web2, ended: time-limit, 129
C=c0ffee00-0000-4000-8000-000000000003	# carol@jump, no end event
# The session of fixtures/psm-replay/before.jsonl (a start, then "before\n").
S=5e55a000-0000-4000-8000-0000000000bd

setup() {
	cd "$BATS_TEST_TMPDIR"
	BG_PIDS=()
}

teardown() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	tmux_stop
}

# every_byte N FILE: the byte values 0 to 255 in order, N (a power of 2) times over.
every_byte() {
	local i n=1
	for i in $(seq 0 255); do
		printf "\\$(printf %03o "$i")"
	done > "$2"
	while [ "$n" -lt "$1" ]; do
		cat "$2" "$2" > "$2.tmp"
		mv "$2.tmp" "$2"
		n=$(( n * 2 ))
	done
}

# not_utf8 FILE: byte sequences that are not UTF-8, between pieces of text.
not_utf8() {
	{
		printf 'lone continuation \200 \277 | two \200\200 |\n'
		printf 'truncated \303 | \342\202 | \360\237\230 |\n'
		printf 'overlong \300\200 \301\277 \340\200\257 \360\200\200\257 |\n'
		printf 'surrogates \355\240\200 \355\277\277 | beyond U+10FFFF \364\220\200\200 |\n'
		printf 'never used \365 \366 \367 \370 \371 \372 \373 \374 \375 \376 \377 |\n'
		printf 'valid caf\303\251 \342\234\223 \360\237\230\200 among them\n'
		printf 'and a cut one at the very end \342\202'
	} > "$1"
}

# record_cat FILE: record `cat FILE` on a pseudo-terminal (no output processing).
record_cat() {
	psm-record -o s.jsonl -- sh -c 'stty -opost; cat "$1"' sh "$1" </dev/null >/dev/null
}

# The bytes each out event carries, one number a line (data or b64).
payload_sizes() {
	jq -r 'select(.type == "out") |
	    if has("data") then (.data | utf8bytelength)
	    else (.b64 | length) / 4 * 3 -
	        (if (.b64 | endswith("==")) then 2 elif (.b64 | endswith("=")) then 1 else 0 end)
	    end' "$1"
}

# bad_stream LINE...: before.jsonl with LINEs after it (from line 3 on), in bad.jsonl.
bad_stream() {
	cp "$F/before.jsonl" bad.jsonl
	printf '%s\n' "$@" >> bad.jsonl
}

# assert_refused LINENO MESSAGE: --raw plays what comes before the bad line,
# then stops at it with exit 3 and "bad.jsonl:LINENO: MESSAGE".
assert_refused() {
	run -3 --separate-stderr psm-replay --raw bad.jsonl
	assert_output 'before'
	assert_stderr "psm-replay: bad.jsonl:$1: $2"
}

ms_since() {	# ms_since NANOSECONDS: milliseconds from then until now
	echo $(( ($(date +%s%N) - $1) / 1000000 ))
}

stated_id() {	# stated_id PUB: the key id of a public key file
	awk '{ print $2 }' "$1"
}

gone() {	# gone PID: the process has exited (and was reaped)
	! kill -0 "$1" 2>/dev/null
}

# follow FILE [OPTION...]: start psm-replay --follow in the background,
# output to out, errors to err; its pid in $FOLLOWER.
follow() {
	local file=$1
	shift
	psm-replay --follow "$@" "$file" >out 2>err 3>&- &
	FOLLOWER=$!
	BG_PIDS+=("$FOLLOWER")
}

# follower_status: wait for the follower to exit by itself; its status in $rc.
follower_status() {
	wait_for 10 gone "$FOLLOWER" || fail "psm-replay --follow did not exit: $(cat err)"
	rc=0
	wait "$FOLLOWER" || rc=$?
}

# --- exact bytes --------------------------------------------------------

@test "psm-replay: --raw gives back the recorded output" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; printf "one\ntwo\n"' </dev/null >/dev/null
	run -0 --separate-stderr psm-replay --raw s.jsonl
	assert_output $'one\ntwo'
	assert_stderr ''
}

@test "psm-replay: --raw gives back all 256 byte values exactly, NUL included" {
	every_byte 16 all.bin
	[ "$(wc -c < all.bin)" -eq 4096 ]
	record_cat all.bin
	psm-replay --raw s.jsonl > out 2>err
	cmp all.bin out
	[ ! -s err ]
	# Not text: the recorder had to use base64 for it.
	run jq -c 'select(.type == "out" and has("b64")) | .seq' s.jsonl
	refute_output ''
}

@test "psm-replay: --raw gives back bytes that are not UTF-8 exactly" {
	not_utf8 bad.bin
	record_cat bad.bin
	psm-replay --raw s.jsonl > out 2>err
	cmp bad.bin out
	[ ! -s err ]
}

@test "psm-replay: --raw gives back 3 MiB of output exactly, in events of at most 64 KiB" {
	every_byte 4096 mib.bin
	cat mib.bin mib.bin mib.bin > big.bin
	[ "$(wc -c < big.bin)" -eq 3145728 ]
	record_cat big.bin
	psm-replay --raw s.jsonl > out
	cmp big.bin out
	run -0 jq -s '[.[] | select(.type == "out")] | length >= 48' s.jsonl
	assert_output true
	payload_sizes s.jsonl > sizes
	run -0 sort -n -r sizes
	[ "${lines[0]}" -le 65536 ] || fail "an event carries ${lines[0]} bytes"
	[ "$(awk '{ n += $1 } END { print n }' sizes)" -eq 3145728 ]
}

@test "psm-replay: --raw gives back 3 MiB from a --no-pty recording, in events of at most 64 KiB" {
	every_byte 4096 mib.bin
	cat mib.bin mib.bin mib.bin > big.bin
	psm-record --no-pty -o s.jsonl -- cat big.bin </dev/null >/dev/null
	psm-replay --raw s.jsonl > out
	cmp big.bin out
	payload_sizes s.jsonl > sizes
	run -0 sort -n -r sizes
	[ "${lines[0]}" -le 65536 ] || fail "an event carries ${lines[0]} bytes"
	[ "${#lines[@]}" -ge 48 ]
	[ "$(awk '{ n += $1 } END { print n }' sizes)" -eq 3145728 ]
}

@test "psm-replay: text with every ASCII byte is recorded as data and given back exactly" {
	every_byte 1 all.bin
	head -c 128 all.bin > text.bin
	printf 'caf\303\251 \342\234\223 \360\237\230\200 \357\277\277 \364\217\277\277 \302\200\n' >> text.bin
	record_cat text.bin
	run -0 jq -s 'map(select(.type == "out")) | (length > 0) and all(has("data"))' s.jsonl
	assert_output true
	psm-replay --raw s.jsonl > out
	cmp text.bin out
}

@test "psm-replay: a UTF-8 character written in two pieces is recorded as text and played whole" {
	psm-record -o s.jsonl -- sh -c "stty -opost; printf 'caf\\303'; sleep 0.2; printf '\\251\\n'" </dev/null >/dev/null
	# Two events, both text: the first piece was held back for the second.
	run -0 jq -s 'map(select(.type == "out")) | (length >= 2) and all(has("data") and (has("b64") | not))' s.jsonl
	assert_output true
	run -0 jq -c 'select(.type == "out") | .data' s.jsonl
	assert_line '"é\n"'
	psm-replay --raw s.jsonl > out
	printf 'caf\303\251\n' | cmp - out
	run -0 jq -j 'select(.type == "out") | .data' s.jsonl
	assert_output 'café'
}

@test "psm-replay: --raw and --raw --stderr give back stdout and stderr of a --no-pty recording" {
	every_byte 8 all.bin
	not_utf8 bad.bin
	psm-record --no-pty -o s.jsonl -- sh -c 'cat all.bin; cat bad.bin >&2' </dev/null >/dev/null 2>&1
	psm-replay --raw s.jsonl > out 2>err
	cmp all.bin out
	[ ! -s err ]
	psm-replay --raw --stderr s.jsonl > out 2>err
	cmp bad.bin out
	[ ! -s err ]
	# Played back, each goes to where it came from: every byte with
	# --unsafe; without it, what would act on the terminal is dropped.
	psm-replay --unsafe s.jsonl > out 2>err
	cmp all.bin out
	cmp bad.bin err
	psm-replay s.jsonl > out 2>err
	! cmp -s all.bin out
	! cmp -s bad.bin err
}

@test "psm-replay: --raw --input gives back what was typed" {
	printf 'echo one\nexit 3\n' > typed
	run -3 psm-record -o s.jsonl -- sh < typed
	psm-replay --raw --input s.jsonl > out 2>err
	cmp typed out
	[ ! -s err ]
	# Without --input: the terminal's output (with its \r\n), not the input.
	run -0 psm-replay --raw s.jsonl
	assert_output --partial $'one\r\n'
}

@test "psm-replay: --raw --input gives back every byte piped into a --no-pty recording" {
	every_byte 8 all.bin
	psm-record --no-pty -o s.jsonl -- cat < all.bin > /dev/null
	psm-replay --raw --input s.jsonl > in.out
	cmp all.bin in.out
	psm-replay --raw s.jsonl > out.out
	cmp all.bin out.out
	psm-replay --raw --stderr s.jsonl > err.out
	[ ! -s err.out ]
}

@test "psm-replay: --raw picks each stream of a hand-written session" {
	run -0 --separate-stderr psm-replay --raw "$F/three-sessions.jsonl"
	assert_output $'file1\nfile2'
	run -0 --separate-stderr psm-replay --raw --input "$F/three-sessions.jsonl"
	assert_output 'ls'
	run -0 --separate-stderr psm-replay --raw --stderr "$F/three-sessions.jsonl"
	assert_output 'ls: warning'
	assert_stderr ''
}

@test "psm-replay: playing sends out events to stdout and err events to stderr" {
	run -0 --separate-stderr psm-replay "$F/three-sessions.jsonl"
	assert_output $'file1\nfile2'
	assert_stderr 'ls: warning'
}

@test "psm-replay: --raw gives back \\u escapes and b64 payloads as bytes" {
	psm-replay --raw --session "$B" "$F/three-sessions.jsonl" > out
	printf 'hello from bob\r\n\377\376\n' | cmp - out
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"\\u0000\\u001b\\u00e9\\ud83d\\ude00\\/\\\"\\\\\\b\\f\\n\\r\\t\"}"
	psm-replay --raw bad.jsonl > out
	printf 'before\n\000\033\303\251\360\237\230\200/"\\\b\f\n\r\t' | cmp - out
}

@test "psm-replay: empty payloads play as nothing, first or not" {
	printf '%s\n' "{\"sid\":\"$S\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$S\",\"seq\":1,\"t\":1,\"type\":\"out\",\"data\":\"\"}" \
	    "{\"sid\":\"$S\",\"seq\":2,\"t\":2,\"type\":\"err\",\"b64\":\"\"}" \
	    "{\"sid\":\"$S\",\"seq\":3,\"t\":3,\"type\":\"out\",\"data\":\"x\"}" \
	    "{\"sid\":\"$S\",\"seq\":4,\"t\":4,\"type\":\"out\",\"b64\":\"\"}" > s.jsonl
	run -0 --separate-stderr psm-replay --raw s.jsonl
	assert_output 'x'
	assert_stderr ''
	run -0 --separate-stderr psm-replay --raw --stderr s.jsonl
	assert_output ''
	assert_stderr ''
	run -0 --separate-stderr psm-replay s.jsonl
	assert_output 'x'
	assert_stderr ''
}

@test "psm-replay: a sealed stream plays back like the stream that was sealed" {
	command -v psm-seal >/dev/null && command -v psm-keygen >/dev/null || skip "no psm-seal here"
	psm-keygen -o k --no-passphrase
	psm-seal -k k.key --every 2 "$F/three-sessions.jsonl" > sealed.jsonl
	run -0 grep -c '"type":"checkpoint"' sealed.jsonl
	psm-replay --list "$F/three-sessions.jsonl" > list.want
	run -0 --separate-stderr psm-replay --list sealed.jsonl
	assert_output "$(cat list.want)"
	assert_stderr ''
	for sid in "$A" "$B" "$C"; do
		psm-replay --raw --session "$sid" "$F/three-sessions.jsonl" > want
		psm-replay --raw --session "$sid" sealed.jsonl > got
		cmp want got
	done
	psm-replay --raw --input --session "$A" sealed.jsonl > got
	printf 'ls\n' | cmp - got
}

# --- safe playback ----------------------------------------------------------

# out_stream DATA...: s.jsonl, a session of S whose out events carry each
# DATA as JSON string text (escapes and all), one event each, then its end.
out_stream() {
	local seq=1 d
	printf '{"sid":"%s","seq":0,"t":0,"type":"start"}\n' "$S" > s.jsonl
	for d in "$@"; do
		printf '{"sid":"%s","seq":%d,"t":%d,"type":"out","data":"%s"}\n' "$S" "$seq" "$seq" "$d" >> s.jsonl
		seq=$((seq + 1))
	done
	printf '{"sid":"%s","seq":%d,"t":%d,"type":"end","reason":"exit","exit":0,"duration":%d}\n' \
	    "$S" "$seq" "$seq" "$seq" >> s.jsonl
}

# played [OPTION...]: what psm-replay s.jsonl writes, as printable text (od -c).
played() {
	psm-replay "$@" s.jsonl | od -An -c | tr -s ' \n' ' '
}

# shown TEXT: TEXT (printf escapes) as played() shows it.
shown() {
	printf "$1" | od -An -c | tr -s ' \n' ' '
}

@test "psm-replay: playback drops OSC 52, so that a recording cannot set the viewer's clipboard" {
	out_stream 'a\u001b]52;c;cm0gLXJmIH4K\u0007b' 'c\u001b]52;c;?\u001b\\d' 'e\u009d52;p;eA==\u009cf'
	[ "$(played)" = "$(shown 'abcdef')" ]
	# The bytes are in the recording: --raw and --unsafe give them back.
	[ "$(played --raw)" = "$(shown 'a\033]52;c;cm0gLXJmIH4K\ab''c\033]52;c;?\033\\d''e\302\23552;p;eA==\302\234f')" ]
	[ "$(played --unsafe)" = "$(played --raw)" ]
}

@test "psm-replay: playback drops window titles, hyperlinks' targets and other OSC strings" {
	out_stream '\u001b]0;evil title\u0007$ ' '\u001b]2;x\u001b\\\u001b]1;icon\u0007ls\r\n' \
	    '\u001b]8;;http://example.com/\u001b\\link\u001b]8;;\u001b\\ ' \
	    '\u001b]11;?\u0007\u001b]4;1;?\u0007\u001b]7;file://h/tmp\u0007.'
	[ "$(played)" = "$(shown '$ ls\r\nlink .')" ]
}

@test "psm-replay: playback drops DCS, APC, PM and SOS strings" {
	out_stream 'a\u001bP$qm\u001b\\b\u001bP+q544e\u001b\\c' 'd\u001b_apc\u001b\\e\u001b^pm\u001b\\f\u001bXsos\u001b\\g' \
	    'h\u0090$q\"p\u009ci'
	[ "$(played)" = "$(shown 'abcdefghi')" ]
}

@test "psm-replay: playback drops the requests a terminal answers: DSR 6n, DA, window reports, DECRQM" {
	out_stream 'a\u001b[6nb\u001b[5nc\u001b[?6nd' 'e\u001b[cf\u001b[>cg\u001b[=ch' \
	    'i\u001b[14tj\u001b[18tk\u001b[21tl\u001b[8;99;99tm' 'n\u001b[?2026$po\u001b[>qp\u001bZq\u0005r'
	[ "$(played)" = "$(shown 'abcdefghijklmnopqr')" ]
	[ "$(played --unsafe)" = "$(played --raw)" ]
}

@test "psm-replay: playback keeps colours, cursor motion, clearing and the alternate screen" {
	local screen='\u001b[?1049h\u001b[2J\u001b[H\u001b[1;31mred\u001b[0m\u001b[10;5H\u001b[3Aup\u001b[K\u001b(0lqk\u001b(B\u001b[38;5;208mé ✓\u001b[m\u001b[?25l\u001b[?1049l\r\n'
	out_stream "$screen"
	[ "$(played)" = "$(played --raw)" ]
	[ "$(played)" = "$(shown '\033[?1049h\033[2J\033[H\033[1;31mred\033[0m\033[10;5H\033[3Aup\033[K\033(0lqk\033(B\033[38;5;208m\303\251 \342\234\223\033[m\033[?25l\033[?1049l\r\n')" ]
}

@test "psm-replay: a sequence split across two events is dropped whole, one to keep is kept whole" {
	out_stream 'a\u001b]52;c;ZWNo' 'byBoaQ==\u0007b\u001b[' '6nc\u001b' ']0;title\u001b' '\\d\u001b[3' '1me'
	[ "$(played)" = "$(shown 'abcd\033[31me')" ]
	# Each out event is written by itself (--follow flushes after each): the same.
	[ "$(played --follow)" = "$(shown 'abcd\033[31me')" ]
}

@test "psm-replay: an OSC never ended hides what follows, as it did on the terminal; --raw shows it" {
	local long
	long=$(head -c 10000 /dev/zero | tr '\0' A)
	out_stream "x\\u001b]0;$long" "$long" '\u0007shown' '\u001b]52;c;' 'never shown'
	[ "$(played)" = "$(shown 'xshown')" ]
	run -0 sh -c 'psm-replay --raw s.jsonl | grep -c "never shown"'
}

@test "psm-replay: playback drops the same from a --no-pty recording's stderr" {
	printf '%s\n' "{\"sid\":\"$S\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$S\",\"seq\":1,\"t\":1,\"type\":\"err\",\"data\":\"w\\u001b]52;c;eA==\\u0007arn\\u001b[6n\\n\"}" \
	    "{\"sid\":\"$S\",\"seq\":2,\"t\":2,\"type\":\"out\",\"data\":\"o\\u001b]0;t\\u0007k\\n\"}" > s.jsonl
	run -0 --separate-stderr psm-replay s.jsonl
	assert_output 'ok'
	assert_stderr 'warn'
	run -0 --separate-stderr psm-replay --raw --stderr s.jsonl
	assert_output $'w\e]52;c;eA==\aarn\e[6n'
}

@test "psm-replay: a recorded program that sets the clipboard and asks for the cursor position is played safely" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; printf "before\033]52;c;cm0gLXJmIH4K\007\033[6n\033]0;pwned\007after\n"' </dev/null >/dev/null
	run -0 --separate-stderr psm-replay s.jsonl
	assert_output 'beforeafter'
	assert_stderr ''
	psm-replay --raw s.jsonl > raw
	printf 'before\033]52;c;cm0gLXJmIH4K\007\033[6n\033]0;pwned\007after\n' | cmp - raw
	psm-replay --unsafe s.jsonl > unsafe
	cmp raw unsafe
}

@test "psm-replay: --input shows what was typed, control bytes made visible, where the output painted over it" {
	# The screen showed "$ ls": the command typed was painted over.
	printf '%s\n' "{\"sid\":\"$S\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$S\",\"seq\":1,\"t\":1,\"type\":\"in\",\"data\":\"rm -rf /srv/data\\r\"}" \
	    "{\"sid\":\"$S\",\"seq\":2,\"t\":2,\"type\":\"out\",\"data\":\"\\r\\u001b[K\\u001b[A\\r\\u001b[K$ ls\\r\\n\"}" \
	    "{\"sid\":\"$S\",\"seq\":3,\"t\":3,\"type\":\"in\",\"b64\":\"G1tBAH8JXP8N\"}" > s.jsonl
	run -0 --separate-stderr psm-replay --input s.jsonl
	assert_output $'rm -rf /srv/data\\r\n\\e[A\\x00\\x7f\\t\\\\\\xff\\r'
	assert_stderr ''
	# --raw --input: the bytes as typed.
	psm-replay --raw --input s.jsonl > raw
	printf 'rm -rf /srv/data\r\033[A\000\177\t\\\377\r' | cmp - raw
}

# --- escrowed input -----------------------------------------------------------

# escrow_stream PUB TEXT [KEYID]: s.jsonl, a session in which TEXT was typed
# at a password prompt, withheld and sealed to the public key PUB, its
# escrow_key KEYID (PUB's id if not given). tests/lib/test-escrow seals it:
# no command does yet.
escrow_stream() {
	local box id=${3:-$(awk '{ print $2 }' "$1")}
	box=$("$PSM_BIN/../tests/lib/test-escrow" seal "$1" "$2") || fail "test-escrow seal $1: $box"
	withheld_stream "\"bytes\":${#2},\"reason\":\"prompt\",\"escrow_key\":\"$id\",\"escrow\":\"$box\""
}

# withheld_stream KEYS: s.jsonl, typed input around a withheld event with
# "stream":"in" and then KEYS (JSON text), at line 4.
withheld_stream() {
	printf '%s\n' "{\"sid\":\"$S\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$S\",\"seq\":1,\"t\":1,\"type\":\"in\",\"data\":\"sudo -i\\r\"}" \
	    "{\"sid\":\"$S\",\"seq\":2,\"t\":2,\"type\":\"out\",\"data\":\"[sudo] password for alice: \"}" \
	    "{\"sid\":\"$S\",\"seq\":3,\"t\":3,\"type\":\"withheld\",\"stream\":\"in\",$1}" \
	    "{\"sid\":\"$S\",\"seq\":4,\"t\":4,\"type\":\"in\",\"data\":\"id\\r\"}" \
	    "{\"sid\":\"$S\",\"seq\":5,\"t\":5,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":5}" > s.jsonl
}

@test "psm-replay: --input --escrow-key shows the withheld password in its place" {
	psm-keygen -o auditor --no-passphrase
	escrow_stream auditor.pub $'hunter2\r'
	run -0 --separate-stderr psm-replay --input --escrow-key auditor.key s.jsonl
	assert_output $'sudo -i\\r\nhunter2\\r\nid\\r'
	assert_stderr ''
	psm-replay --raw --input --escrow-key=auditor.key s.jsonl > raw
	printf 'sudo -i\rhunter2\rid\r' | cmp - raw
	# --follow and --session too.
	run -0 --separate-stderr timeout 10 psm-replay --follow --input --escrow-key auditor.key -S "${S:0:8}" s.jsonl
	assert_output $'sudo -i\\r\nhunter2\\r\nid\\r'
}

@test "psm-replay: --escrow-key opens the password that psm-record --escrow withheld" {
	record_escrowed_read
	run -1 grep -q escrowed-s3cr3t s.jsonl
	run -0 --separate-stderr psm-replay --input --escrow-key auditor.key s.jsonl
	assert_line 'escrowed-s3cr3t\r'
	assert_line 'exit\r'
	assert_stderr ''
	run -0 --separate-stderr psm-replay --input s.jsonl
	refute_output --partial escrowed-s3cr3t
}

@test "psm-replay: without --escrow-key, withheld input shows nothing, escrow or not" {
	psm-keygen -o auditor --no-passphrase
	escrow_stream auditor.pub $'hunter2\r'
	run -0 --separate-stderr psm-replay --input s.jsonl
	assert_output $'sudo -i\\r\nid\\r'
	assert_stderr ''
	run -0 --separate-stderr psm-replay --raw --input s.jsonl
	assert_output $'sudo -i\rid\r'
	run -0 --separate-stderr psm-replay --raw s.jsonl
	assert_output '[sudo] password for alice: '
	run -0 --separate-stderr psm-replay --list s.jsonl
	refute_output --partial hunter2
	# Withheld with no escrow, with the key: nothing either.
	withheld_stream '"bytes":8,"reason":"echo-off"'
	run -0 --separate-stderr psm-replay --input --escrow-key auditor.key s.jsonl
	assert_output $'sudo -i\\r\nid\\r'
	assert_stderr ''
}

@test "psm-replay: --escrow-key of another key warns with FILE:LINE and plays on" {
	psm-keygen -o auditor --no-passphrase
	psm-keygen -o other --no-passphrase
	escrow_stream auditor.pub $'hunter2\r'
	run -0 --separate-stderr psm-replay --input --escrow-key other.key s.jsonl
	assert_output $'sudo -i\\r\nid\\r'
	assert_stderr "psm-replay: s.jsonl:4: withheld input sealed to key $(stated_id auditor.pub), not to $(stated_id other.pub)"
	# Named for this key, but sealed to another: it does not open.
	escrow_stream auditor.pub $'hunter2\r' "$(stated_id other.pub)"
	run -0 --separate-stderr psm-replay --raw --input --escrow-key other.key s.jsonl
	assert_output $'sudo -i\rid\r'
	assert_stderr "psm-replay: s.jsonl:4: withheld input does not open with key $(stated_id other.pub)"
}

@test "psm-replay: --escrow-key warns when the opened input is not as long as \"bytes\" says" {
	psm-keygen -o auditor --no-passphrase
	box=$("$PSM_BIN/../tests/lib/test-escrow" seal auditor.pub 'hunter2')
	withheld_stream "\"bytes\":9,\"reason\":\"prompt\",\"escrow_key\":\"$(stated_id auditor.pub)\",\"escrow\":\"$box\""
	run -0 --separate-stderr psm-replay --raw --input --escrow-key auditor.key s.jsonl
	assert_output $'sudo -i\rhunter2id\r'
	assert_stderr 'psm-replay: s.jsonl:4: withheld input of 7 bytes where "bytes" is 9'
}

@test "psm-replay: a malformed escrow stops at its line with exit 3" {
	psm-keygen -o auditor --no-passphrase
	id=$(stated_id auditor.pub)
	box=$("$PSM_BIN/../tests/lib/test-escrow" seal auditor.pub 'hunter2')
	short=$(printf 'too short' | base64)
	local keys want n=0
	while IFS='|' read -r keys want; do
		withheld_stream "\"bytes\":7,$keys"
		run -3 --separate-stderr psm-replay --input --escrow-key auditor.key s.jsonl
		assert_output 'sudo -i\r'
		assert_stderr "psm-replay: s.jsonl:4: $want"
		n=$((n + 1))
	done <<-EOF
	"escrow_key":"$id","escrow":"!!$box"|"escrow" is not canonical base64
	"escrow_key":"$id","escrow":"${box%?}"|"escrow" is not canonical base64
	"escrow_key":"$id","escrow":7|"escrow" is not canonical base64
	"escrow_key":"$id","escrow":"$short"|"escrow" is too short for a sealed box
	"escrow_key":"$id"|"escrow" and "escrow_key" go together
	"escrow":"$box"|"escrow" and "escrow_key" go together
	"escrow_key":"${id^^}","escrow":"$box"|"escrow_key" is not a key id
	"escrow_key":"${id}0","escrow":"$box"|"escrow_key" is not a key id
	"escrow_key":null,"escrow":"$box"|"escrow_key" is not a key id
	EOF
	[ "$n" -eq 9 ]
}

@test "psm-replay: --escrow-key takes a key with a passphrase, and refuses a wrong one (exit 1) or a missing file (exit 4)" {
	printf 'open sesame\n' > pass
	chmod 600 pass
	PSM_PASSPHRASE_FILE=pass psm-keygen -o auditor
	escrow_stream auditor.pub 'hunter2'
	PSM_PASSPHRASE_FILE=pass run -0 --separate-stderr psm-replay --raw --input --escrow-key auditor.key s.jsonl
	assert_output $'sudo -i\rhunter2id\r'
	assert_stderr ''
	printf 'wrong\n' > pass
	PSM_PASSPHRASE_FILE=pass run -1 --separate-stderr psm-replay --raw --input --escrow-key auditor.key s.jsonl
	assert_output ''
	assert_stderr 'psm-replay: auditor.key: wrong passphrase'
	run -4 --separate-stderr psm-replay --input --escrow-key nokey s.jsonl
	assert_output ''
	assert_stderr 'psm-replay: nokey: No such file or directory'
}

# --- list -----------------------------------------------------------------

@test "psm-replay: --list shows one line per session: sid, user, host, start, duration, exit, reason" {
	run -0 --separate-stderr psm-replay --list "$F/three-sessions.jsonl"
	assert_stderr ''
	[ "${#lines[@]}" -eq 3 ]
	assert_line -n 0 "$A"$'\talice\tdb1\t2026-01-02T03:04:05.000006Z\t0.003s\t0\texit'
	assert_line -n 1 "$B"$'\tbob\tweb2\t2026-01-02T03:04:06.500000Z\t12.345s\t129\ttime-limit'
	assert_line -n 2 "$C"$'\tcarol\tjump\t2026-01-02T03:05:00.000000Z\t0.000s\t-\t-'
}

@test "psm-replay: --list shows the sessions recorded into one file, and - for one that did not end" {
	psm-record -o s.jsonl -- sh -c 'exit 0' </dev/null >/dev/null
	run -5 psm-record -o s.jsonl -- sh -c 'sleep 0.1; exit 5' </dev/null
	psm-record -o t.jsonl -- true </dev/null >/dev/null
	grep -v '"type":"end"' t.jsonl >> s.jsonl
	run -0 jq -r 'select(.type == "start") | .sid' s.jsonl
	[ "${#lines[@]}" -eq 3 ]
	sids=("${lines[@]}")
	run -0 jq -r 'select(.type == "start") | .time' s.jsonl
	times=("${lines[@]}")
	run -0 jq -r 'select(.type == "end") | .t' s.jsonl
	ends=("${lines[@]}")
	last=$(jq -r --arg s "${sids[2]}" 'select(.sid == $s) | .t' s.jsonl | tail -n 1)
	user=$(id -un)
	host=$(hostname)
	dur() { printf '%d.%03ds' $(( $1 / 1000000 )) $(( $1 / 1000 % 1000 )); }

	run -0 --separate-stderr psm-replay --list s.jsonl
	assert_stderr ''
	[ "${#lines[@]}" -eq 3 ]
	assert_line -n 0 "${sids[0]}"$'\t'"$user"$'\t'"$host"$'\t'"${times[0]}"$'\t'"$(dur "${ends[0]}")"$'\t0\texit'
	assert_line -n 1 "${sids[1]}"$'\t'"$user"$'\t'"$host"$'\t'"${times[1]}"$'\t'"$(dur "${ends[1]}")"$'\t5\texit'
	assert_line -n 2 "${sids[2]}"$'\t'"$user"$'\t'"$host"$'\t'"${times[2]}"$'\t'"$(dur "$last")"$'\t-\t-'
	# The second session slept 0.1 s.
	[ "${ends[1]}" -ge 100000 ]
}

@test "psm-replay: --list keeps each session on one line when a name holds a tab or a newline" {
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","version":1,"time":"2026-01-02T03:04:05.000000Z","user":"a\\tb","host":"x\\ny"}\n' "$S" > s.jsonl
	run -0 --separate-stderr psm-replay --list s.jsonl
	assert_output "$S"$'\ta?b\tx?y\t2026-01-02T03:04:05.000000Z\t0.000s\t-\t-'
}

@test "psm-replay: --list shows control characters in names as ?, DEL and C1 included" {
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","user":"a\\u007fb\\u009bc\\u0085d\\u00e9","host":"\\u001b[31mred\\u0000"}\n' "$S" > s.jsonl
	run -0 --separate-stderr psm-replay --list s.jsonl
	assert_output "$S"$'\ta?b?c?d\303\251\t?[31mred?\t-\t0.000s\t-\t-'
	assert_stderr ''
}

@test "psm-replay: --list shows an empty name as it is, and cuts a long one at a character boundary" {
	long=$(printf '%0300d' 0 | sed 's/0/\xc3\xa9/g')
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","user":"","host":"%s"}\n' "$S" "$long" > s.jsonl
	# At most 255 bytes, and no half character: 127 times U+00E9.
	cut=$(printf '%0127d' 0 | sed 's/0/\xc3\xa9/g')
	run -0 --separate-stderr psm-replay --list s.jsonl
	assert_output "$S"$'\t\t'"$cut"$'\t-\t0.000s\t-\t-'
	assert_stderr ''
}

@test "psm-replay: --list shows - for a name that is missing or not a string" {
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","version":1,"user":null,"host_b64":"/w=="}\n' "$S" > s.jsonl
	run -0 --separate-stderr psm-replay --list s.jsonl
	assert_output "$S"$'\t-\t-\t-\t0.000s\t-\t-'
}

@test "psm-replay: --list of thousands of overlapping sessions, one id used again after its end" {
	# Session i starts, then i-1 writes and i-2 ends: three open at a time;
	# every tenth never ends. The id of session 0 starts a new session at
	# the end, long after its first session ended and was forgotten.
	awk -v n=3000 -v want=want '
	function sid(i) { return sprintf("%08x-0000-4000-8000-%012x", i, i) }
	function dur(t) { return sprintf("%d.%03ds", int(t / 1000000), int(t / 1000) % 1000) }
	BEGIN {
		for (i = 0; i < n + 2; i++) {
			if (i < n)
				printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"user\":\"u%d\",\"host\":\"h%d\",\"time\":\"T%d\"}\n", sid(i), i, i % 7, i
			k = i - 1
			if (k >= 0 && k < n)
				printf "{\"sid\":\"%s\",\"seq\":1,\"t\":%d,\"type\":\"out\",\"data\":\"%d\\n\"}\n", sid(k), 1000 * k, k
			k = i - 2
			if (k >= 0 && k < n && k % 10 != 3)
				printf "{\"sid\":\"%s\",\"seq\":2,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":%d}\n", sid(k), 1000 * k + 1000000, k % 256
		}
		printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"user\":\"again\",\"host\":\"h\",\"time\":\"T\"}\n", sid(0)
		for (i = 0; i < n; i++) {
			if (i % 10 == 3)
				printf "%s\tu%d\th%d\tT%d\t%s\t-\t-\n", sid(i), i, i % 7, i, dur(1000 * i) > want
			else
				printf "%s\tu%d\th%d\tT%d\t%s\t%d\texit\n", sid(i), i, i % 7, i, dur(1000 * i + 1000000), i % 256 > want
		}
		printf "%s\tagain\th\tT\t0.000s\t-\t-\n", sid(0) > want
	}' > many.jsonl
	psm-replay --list many.jsonl > got
	diff want got
	run -0 --separate-stderr psm-replay --raw --session 00000bb7 many.jsonl
	assert_output '2999'
}

@test "psm-replay: --list of a stream with no session prints nothing" {
	: > empty.jsonl
	run -0 --separate-stderr psm-replay --list empty.jsonl
	assert_output ''
	assert_stderr ''
}

@test "psm-replay: --list refuses an end event whose exit is not an integer" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"end\",\"reason\":\"exit\",\"exit\":\"0\"}"
	run -3 --separate-stderr psm-replay --list bad.jsonl
	assert_output ''
	assert_stderr 'psm-replay: bad.jsonl:3: "exit" of an end event is not an integer'
}

# --- session --------------------------------------------------------------

@test "psm-replay: --session picks a session by its full sid" {
	run -0 --separate-stderr psm-replay --raw --session "$C" "$F/three-sessions.jsonl"
	assert_output 'carol was here'
	run -0 --separate-stderr psm-replay --raw --input --session "$B" "$F/three-sessions.jsonl"
	assert_output $'exit\r'
	assert_stderr ''
}

@test "psm-replay: --session picks the first session whose sid begins with it" {
	run -0 --separate-stderr psm-replay --raw --session aa2 "$F/three-sessions.jsonl"
	assert_output $'hello from bob\r\n\377\376'
	run -0 --separate-stderr psm-replay --raw -S aa "$F/three-sessions.jsonl"
	assert_output $'file1\nfile2'
	run -0 --separate-stderr psm-replay --raw --session=c "$F/three-sessions.jsonl"
	assert_output 'carol was here'
	assert_stderr ''
}

@test "psm-replay: --session picks one of two sessions recorded into one file" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; echo first session' </dev/null >/dev/null
	psm-record -o s.jsonl -- sh -c 'stty -opost; echo second session' </dev/null >/dev/null
	run -0 jq -r 'select(.type == "start") | .sid' s.jsonl
	first=${lines[0]} second=${lines[1]}
	[ "$first" != "$second" ]
	run -0 --separate-stderr psm-replay --raw --session "$second" s.jsonl
	assert_output 'second session'
	run -0 --separate-stderr psm-replay --raw --session "${first:0:8}" s.jsonl
	assert_output 'first session'
	# Without --session: the first one.
	run -0 --separate-stderr psm-replay --raw s.jsonl
	assert_output 'first session'
}

@test "psm-replay: an unknown --session is exit 1 with a message" {
	run -1 --separate-stderr psm-replay --raw --session dead "$F/three-sessions.jsonl"
	assert_output ''
	assert_stderr 'psm-replay: no session dead in the stream'
	run -1 --separate-stderr psm-replay --session 00000000-0000-4000-8000-000000000000 "$F/three-sessions.jsonl"
	assert_output ''
	assert_stderr 'psm-replay: no session 00000000-0000-4000-8000-000000000000 in the stream'
}

@test "psm-replay: a stream without any session is exit 1 with a message" {
	: > empty.jsonl
	run -1 --separate-stderr psm-replay --raw empty.jsonl
	assert_output ''
	assert_stderr 'psm-replay: no session in the stream'
}

# --- timing ---------------------------------------------------------------

@test "psm-replay: a 2-second pause between two outputs is played in real time" {
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	assert_stderr ''
	[ "$ms" -ge 1500 ] || fail "played in $ms ms, expected about 2000"
	[ "$ms" -lt 2900 ] || fail "played in $ms ms, expected about 2000"
}

@test "psm-replay: --speed 10 plays the 2-second pause in 0.2 seconds" {
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay --speed 10 "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	assert_stderr ''
	[ "$ms" -ge 190 ] || fail "played in $ms ms, expected about 200"
	[ "$ms" -lt 1000 ] || fail "played in $ms ms, expected about 200"
}

@test "psm-replay: --max-wait 0.1 caps the 2-second pause" {
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay --max-wait 0.1 "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	assert_stderr ''
	[ "$ms" -ge 95 ] || fail "played in $ms ms, expected about 100"
	[ "$ms" -lt 1000 ] || fail "played in $ms ms, expected about 100"
}

@test "psm-replay: --max-wait caps the pause as --speed has made it" {
	# 2 s at speed 4 is 0.5 s: under the cap of 1 s.
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay -s 4 -w 1 "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	[ "$ms" -ge 490 ] || fail "played in $ms ms, expected about 500"
	[ "$ms" -lt 950 ] || fail "played in $ms ms, expected about 500"
	# 2 s at speed 2 is 1 s: capped at 0.3 s.
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay --speed=2 --max-wait=0.3 "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	[ "$ms" -ge 290 ] || fail "played in $ms ms, expected about 300"
	[ "$ms" -lt 900 ] || fail "played in $ms ms, expected about 300"
}

@test "psm-replay: --max-wait 0 and --raw play without pauses" {
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay --max-wait=0 "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	[ "$ms" -lt 1000 ] || fail "played in $ms ms"
	t0=$(date +%s%N)
	run -0 --separate-stderr psm-replay --raw "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	[ "$ms" -lt 1000 ] || fail "played in $ms ms"
}

@test "psm-replay: a very slow --speed still pauses" {
	psm-replay --speed 1e-300 "$F/gap.jsonl" >out 2>err 3>&- &
	BG_PIDS+=("$!")
	wait_for 5 grep -q one out
	# The pause is practically forever: "two" does not come.
	run -0 sleep 0.3
	run -0 cat out
	assert_output 'one'
	run -0 kill -0 "${BG_PIDS[0]}"
}

# --- follow ---------------------------------------------------------------

@test "psm-replay: --follow plays a session while it is being recorded and exits after its end" {
	psm-record -o live.jsonl -- sh -c 'stty -opost; echo first; sleep 1; echo second' </dev/null >/dev/null 3>&- &
	BG_PIDS+=("$!")
	wait_for 10 grep -q '"type":"start"' live.jsonl
	follow live.jsonl
	wait_for 10 grep -q second out
	follower_status
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat err)"
	[ ! -s err ]
	printf 'first\nsecond\n' | cmp - out
	grep -q '"type":"end"' live.jsonl
}

@test "psm-replay: --follow shows each event as it arrives and exits only at the end event" {
	head -n 2 "$F/gap.jsonl" > live.jsonl
	follow live.jsonl
	wait_for 10 grep -q one out
	kill -0 "$FOLLOWER"
	sed -n 3p "$F/gap.jsonl" >> live.jsonl
	wait_for 10 grep -q two out
	kill -0 "$FOLLOWER"
	sed -n 4p "$F/gap.jsonl" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ]
	[ ! -s err ]
	printf 'one\ntwo\n' | cmp - out
}

@test "psm-replay: --follow stopped (SIGSTOP, ^Z) and continued goes on: its sleep restarts inside the sandbox" {
	head -n 2 "$F/gap.jsonl" > live.jsonl
	follow live.jsonl
	wait_for 10 grep -q one out
	kill -STOP "$FOLLOWER"
	sleep 0.3
	kill -CONT "$FOLLOWER"
	sleep 0.3
	kill -0 "$FOLLOWER" || fail "the follower died after SIGCONT: $(cat err)"
	sed -n 3,4p "$F/gap.jsonl" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat err)"
	printf 'one\ntwo\n' | cmp - out
}

@test "psm-replay: --follow waits for a last line that is still being written" {
	head -n 2 "$F/gap.jsonl" > live.jsonl
	line3=$(sed -n 3p "$F/gap.jsonl")
	printf '%s' "${line3:0:40}" >> live.jsonl
	follow live.jsonl
	wait_for 10 grep -q one out
	printf '%s\n' "${line3:40}" >> live.jsonl
	wait_for 10 grep -q two out
	kill -0 "$FOLLOWER"
	sed -n 4p "$F/gap.jsonl" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat err)"
	[ ! -s err ]
	printf 'one\ntwo\n' | cmp - out
}

@test "psm-replay: --follow plays a finished session at once, without its pauses" {
	t0=$(date +%s%N)
	run -0 --separate-stderr timeout 10 psm-replay --follow "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_output $'one\ntwo'
	assert_stderr ''
	[ "$ms" -lt 1000 ] || fail "played in $ms ms"
}

@test "psm-replay: --follow without --session follows the newest session in the file" {
	# Sessions A and B have ended; C, the newest, has begun and written a line.
	cp "$F/three-sessions.jsonl" live.jsonl
	follow live.jsonl
	wait_for 10 grep -q carol out
	kill -0 "$FOLLOWER"
	printf '{"sid":"%s","seq":2,"t":50,"type":"out","data":"and more\\n"}\n' "$C" >> live.jsonl
	wait_for 10 grep -q more out
	kill -0 "$FOLLOWER"
	printf '{"sid":"%s","seq":3,"t":60,"type":"end","reason":"exit","exit":0,"duration":60}\n' "$C" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ]
	[ ! -s err ]
	printf 'carol was here\nand more\n' | cmp - out
}

@test "psm-replay: --follow --session follows the session named, not the newest" {
	printf '%s\n' "$(sed -n 1p "$F/three-sessions.jsonl")" "$(sed -n 3p "$F/three-sessions.jsonl")" > live.jsonl
	follow live.jsonl --session "$A"
	printf '%s\n' "$(sed -n 2p "$F/three-sessions.jsonl")" "$(sed -n 4p "$F/three-sessions.jsonl")" \
	    "$(sed -n 5p "$F/three-sessions.jsonl")" >> live.jsonl
	wait_for 10 grep -q file2 out
	kill -0 "$FOLLOWER"
	sed -n 6,8p "$F/three-sessions.jsonl" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ]
	printf 'file1\nfile2\n' | cmp - out
	[ "$(cat err)" = 'ls: warning' ]
}

@test "psm-replay: --follow on an empty file waits for a session to start" {
	: > live.jsonl
	follow live.jsonl --raw
	cat "$F/gap.jsonl" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ]
	[ ! -s err ]
	printf 'one\ntwo\n' | cmp - out
}

@test "psm-replay: --follow stops at a bad line that arrives later" {
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl --raw
	wait_for 10 grep -q before out
	printf '{"sid":"%s","seq":5,"t":20,"type":"out","data":"x"}\n' "$S" >> live.jsonl
	follower_status
	[ "$rc" -eq 3 ]
	[ "$(cat err)" = "psm-replay: live.jsonl:3: session $S: seq 5 where 2 was due" ]
	printf 'before\n' | cmp - out
}

@test "psm-replay: --follow reads standard input to its end" {
	run -0 --separate-stderr timeout 10 psm-replay --follow - < "$F/gap.jsonl"
	assert_output $'one\ntwo'
	assert_stderr ''
	run -0 --separate-stderr timeout 10 psm-replay --follow --raw < "$F/gap.jsonl"
	assert_output $'one\ntwo'
	assert_stderr ''
}

@test "psm-replay: --follow on a missing file is exit 4" {
	run -4 --separate-stderr timeout 10 psm-replay --follow nofile
	assert_output ''
	assert_stderr 'psm-replay: nofile: No such file or directory'
}

@test "psm-replay: --follow says so and exits 5 when the recorder is killed before its end event" {
	psm-record -o live.jsonl -- sh -c 'stty -opost; echo started; exec sleep 60' </dev/null >/dev/null 3>&- &
	rec=$!
	BG_PIDS+=("$rec")
	wait_for 10 grep -q started live.jsonl
	[ "$(jq -r 'select(.type == "start") | .pid' live.jsonl)" = "$rec" ]
	follow live.jsonl
	wait_for 10 grep -q started out
	kill -0 "$FOLLOWER"
	kill -9 "$rec"
	wait "$rec" || true
	follower_status
	[ "$rc" -eq 5 ] || fail "exit $rc: $(cat err)"
	[ "$(cat err)" = "psm-replay: live.jsonl: the recorder (pid $rec) is gone; the session has no end" ]
	printf 'started\n' | cmp - out
	run -1 grep -q '"type":"end"' live.jsonl
}

@test "psm-replay: --follow of a session whose recorder is gone exits 5, in its sandbox and without it" {
	sh -c 'exit 0' &
	dead=$!
	wait "$dead" || true
	run -1 kill -0 "$dead"
	local sandbox
	for sandbox in '' --no-sandbox; do
		printf '{"sid":"%s","seq":0,"t":0,"type":"start","host":"%s","pid":%d}\n' "$S" "$(hostname)" "$dead" > live.jsonl
		printf '{"sid":"%s","seq":1,"t":1,"type":"out","data":"last words\\n"}\n' "$S" >> live.jsonl
		run -5 --separate-stderr timeout 10 psm-replay --follow $sandbox live.jsonl
		assert_output 'last words'
		assert_stderr "psm-replay: live.jsonl: the recorder (pid $dead) is gone; the session has no end"
		run -5 --separate-stderr timeout 10 psm-replay --follow --raw --input $sandbox live.jsonl
	done
}

@test "psm-replay: --follow waits on for a recorder of another host, whose process it cannot see" {
	sh -c 'exit 0' &
	dead=$!
	wait "$dead" || true
	printf '{"sid":"%s","seq":0,"t":0,"type":"start","host":"elsewhere.invalid","pid":%d}\n' "$S" "$dead" > live.jsonl
	follow live.jsonl
	# Longer than the follower takes to give up on a recorder of this host (about 2 s).
	sleep 3
	kill -0 "$FOLLOWER" || fail "it stopped: $(cat err)"
	printf '{"sid":"%s","seq":1,"t":1,"type":"end","reason":"exit","exit":0,"duration":1}\n' "$S" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat err)"
	[ ! -s err ]
}

@test "psm-replay: --follow says so and exits 3 when the file is truncated under it" {
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl
	wait_for 10 grep -q before out
	: > live.jsonl
	follower_status
	[ "$rc" -eq 3 ] || fail "exit $rc: $(cat err)"
	[ "$(cat err)" = 'psm-replay: live.jsonl: the file was truncated while it was followed' ]
	printf 'before\n' | cmp - out
}

@test "psm-replay: --follow says so and exits 5 when the file is replaced by a new one (rotated)" {
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl --raw
	wait_for 10 grep -q before out
	# logrotate's create: the old file keeps a name, a new one takes the path at once.
	ln live.jsonl live.jsonl.1
	: > new.jsonl
	mv new.jsonl live.jsonl
	follower_status
	[ "$rc" -eq 5 ] || fail "exit $rc: $(cat err)"
	[ "$(cat err)" = 'psm-replay: live.jsonl: the file was replaced while it was followed' ]
	printf 'before\n' | cmp - out
}

@test "psm-replay: --follow says so and exits 5 when the file is moved away or deleted" {
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl
	wait_for 10 grep -q before out
	mv live.jsonl moved.jsonl
	follower_status
	[ "$rc" -eq 5 ] || fail "exit $rc: $(cat err)"
	[ "$(cat err)" = 'psm-replay: live.jsonl: the file was moved or deleted while it was followed' ]

	# The first follower's out would do for the wait below: the second one
	# empties it only once it runs, and the file must be open by then.
	rm out
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl
	wait_for 10 grep -q before out
	rm live.jsonl
	follower_status
	[ "$rc" -eq 5 ] || fail "exit $rc: $(cat err)"
	[ "$(cat err)" = 'psm-replay: live.jsonl: the file was moved or deleted while it was followed' ]
}

# --- several inputs ---------------------------------------------------------

@test "psm-replay: several FILEs are read as one stream" {
	head -n 6 "$F/three-sessions.jsonl" > part1
	tail -n +7 "$F/three-sessions.jsonl" > part2
	psm-replay --list "$F/three-sessions.jsonl" > whole
	run -0 --separate-stderr psm-replay --list part1 part2
	assert_output "$(cat whole)"
	[ "${#lines[@]}" -eq 3 ]
	run -0 --separate-stderr psm-replay --raw --session "$B" part1 part2
	assert_output $'hello from bob\r\n\377\376'
	assert_stderr ''
	# Read the other way round, the second part's events have no start.
	run -3 --separate-stderr psm-replay --list part2 part1
	assert_output ''
	assert_stderr "psm-replay: part2:1: session $B has no start event (first seen at seq 2)"
}

@test "psm-replay: - reads standard input, alone or among FILEs" {
	head -n 6 "$F/three-sessions.jsonl" > part1
	tail -n +7 "$F/three-sessions.jsonl" > part2
	run -0 --separate-stderr psm-replay --raw --session "$B" part1 - < part2
	assert_output $'hello from bob\r\n\377\376'
	assert_stderr ''
	run -0 --separate-stderr psm-replay --raw - < "$F/gap.jsonl"
	assert_output $'one\ntwo'
	run -0 --separate-stderr psm-replay --raw < "$F/gap.jsonl"
	assert_output $'one\ntwo'
	run -0 --separate-stderr psm-replay --list < "$F/three-sessions.jsonl"
	[ "${#lines[@]}" -eq 3 ]
}

@test "psm-replay: a bad line in the second FILE is reported with that file's name and line" {
	cp "$F/gap.jsonl" first.jsonl
	bad_stream 'nonsense'
	run -3 --separate-stderr psm-replay --raw --session "$S" first.jsonl bad.jsonl
	assert_output 'before'
	assert_stderr 'psm-replay: bad.jsonl:3: not a JSON object'
	run -3 --separate-stderr psm-replay --raw --session "$S" first.jsonl - < bad.jsonl
	assert_output 'before'
	assert_stderr 'psm-replay: (stdin):3: not a JSON object'
}

# --- bad input: JSON ---------------------------------------------------------

@test "psm-replay: a line that is not JSON is refused with FILE:LINE" {
	bad_stream 'hello world'
	assert_refused 3 'not a JSON object'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,"
	assert_refused 3 'expected a key'
	bad_stream "{\"sid\":\"$S\",\"seq\":2"
	assert_refused 3 'unterminated object'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\",\"n\":tru}"
	assert_refused 3 'unexpected character'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\",\"n\":01}"
	assert_refused 3 "expected ',' or '}'"
}

@test "psm-replay: an empty line is refused with FILE:LINE" {
	bad_stream ''
	assert_refused 3 'empty line'
}

@test "psm-replay: JSON that is not an object is refused with FILE:LINE" {
	bad_stream '["sid", 2]'
	assert_refused 3 'not a JSON object'
	bad_stream '42'
	assert_refused 3 'not a JSON object'
	bad_stream '"text"'
	assert_refused 3 'not a JSON object'
}

@test "psm-replay: an event without sid, seq, t or type is refused with FILE:LINE" {
	local m='not a psm event (sid, seq, t and type are required)'
	bad_stream '{"seq":2,"t":20,"type":"out","data":"x"}'
	assert_refused 3 "$m"
	bad_stream "{\"sid\":\"$S\",\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "$m"
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "$m"
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"data\":\"x\"}"
	assert_refused 3 "$m"
	bad_stream '{}'
	assert_refused 3 "$m"
}

@test "psm-replay: a sid that is not a lower-case UUID is refused with FILE:LINE" {
	local m='"sid" is not a lower-case UUID'
	bad_stream '{"sid":"5E55A000-0000-4000-8000-0000000000BD","seq":2,"t":20,"type":"out","data":"x"}'
	assert_refused 3 "$m"
	bad_stream '{"sid":"5e55a000-0000-4000-8000-0000000000b","seq":2,"t":20,"type":"out","data":"x"}'
	assert_refused 3 "$m"
	bad_stream '{"sid":"5e55a000x0000-4000-8000-0000000000bd","seq":2,"t":20,"type":"out","data":"x"}'
	assert_refused 3 "$m"
	bad_stream '{"sid":12345,"seq":2,"t":20,"type":"out","data":"x"}'
	assert_refused 3 "$m"
}

@test "psm-replay: a seq or t that is not a non-negative integer is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":-1,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"seq" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":2.0,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"seq" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":\"2\",\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"seq" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":2e0,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"seq" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":18446744073709551616,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"seq" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":-20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"t" is not a non-negative integer'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":null,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 '"t" is not a non-negative integer'
}

@test "psm-replay: a type that is not a short lower-case word is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"OUT\",\"data\":\"x\"}"
	assert_refused 3 '"type" is not a short string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"\",\"data\":\"x\"}"
	assert_refused 3 '"type" is not a short string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":1,\"data\":\"x\"}"
	assert_refused 3 '"type" is not a short string'
}

@test "psm-replay: an event with more than 64 keys is refused with FILE:LINE" {
	local keys='' i
	for i in $(seq 1 59); do keys="$keys,\"k$i\":$i"; done
	# 4 + 1 + 59 = 64 keys are taken, 65 are not.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\"$keys}"
	run -0 --separate-stderr psm-replay --raw bad.jsonl
	assert_output $'before\nx'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\"$keys,\"k60\":60}"
	assert_refused 3 'too many keys'
}

@test "psm-replay: a duplicate key is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\",\"data\":\"y\"}"
	assert_refused 3 'duplicate key'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 'duplicate key'
}

@test "psm-replay: an invalid escape is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"\\x41\"}"
	assert_refused 3 'invalid escape in string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"\\u12\"}"
	assert_refused 3 'invalid \u escape in string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"\\ud800\"}"
	assert_refused 3 'unpaired surrogate in string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"\\udc00\\ud800\"}"
	assert_refused 3 'unpaired surrogate in string'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\\\"}"
	assert_refused 3 'unterminated string'
}

@test "psm-replay: invalid UTF-8 inside a line is refused with FILE:LINE" {
	local b
	for b in '\377' '\200' '\303' '\300\200' '\355\240\200' '\364\220\200\200' '\365\200\200\200'; do
		bad_stream "$(printf "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"a${b}b\"}")"
		assert_refused 3 'invalid UTF-8 in string'
	done
	bad_stream "$(printf "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\"}\377")"
	assert_refused 3 'text after the object'
}

@test "psm-replay: a control character in a string is refused with FILE:LINE" {
	local c
	for c in '\001' '\t' '\r' '\033' '\037'; do
		bad_stream "$(printf "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"a${c}b\"}")"
		assert_refused 3 'control character in string'
	done
	printf "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"a\000b\"}\n" > nul
	cat "$F/before.jsonl" nul > bad.jsonl
	assert_refused 3 'control character in string'
}

@test "psm-replay: text after the object is refused with FILE:LINE" {
	local ev="{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	bad_stream "$ev x"
	assert_refused 3 'text after the object'
	bad_stream "$ev$ev"
	assert_refused 3 'text after the object'
	bad_stream "$ev"$'\r'
	assert_refused 3 'text after the object'
}

# --- bad input: payloads -----------------------------------------------------------

@test "psm-replay: a b64 payload that is not canonical base64 is refused with FILE:LINE" {
	local b
	# Not base64; a length not a multiple of 4; padding inside; unused bits set
	# (QR== and QUJ= decode like QQ== and QUI=); a space; URL-safe letters.
	for b in '@@@@' 'QUJ' 'QUJDR' 'QQ==QUJD' 'QR==' 'QUJ=' 'QUI' 'Q===' '====' 'QU J' '-_-_'; do
		bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"b64\":\"$b\"}"
		assert_refused 3 '"b64" is not canonical base64'
	done
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"b64\":1234}"
	assert_refused 3 '"b64" is not canonical base64'
	# The canonical forms are taken.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"b64\":\"QQ==\"}" \
	    "{\"sid\":\"$S\",\"seq\":3,\"t\":20,\"type\":\"out\",\"b64\":\"QUI=\"}" \
	    "{\"sid\":\"$S\",\"seq\":4,\"t\":20,\"type\":\"out\",\"b64\":\"\"}" \
	    "{\"sid\":\"$S\",\"seq\":5,\"t\":20,\"type\":\"out\",\"b64\":\"Cg==\"}"
	run -0 --separate-stderr psm-replay --raw bad.jsonl
	assert_output $'before\nAAB'
}

@test "psm-replay: an event with both data and b64, or neither, is refused with FILE:LINE" {
	local m='event has neither or both of "data" and "b64"'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"A\",\"b64\":\"QQ==\"}"
	assert_refused 3 "$m"
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\"}"
	assert_refused 3 "$m"
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":65}"
	assert_refused 3 '"data" is not a string'
}

@test "psm-replay: a payload over 64 KiB is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"$(head -c 65537 /dev/zero | tr '\0' a)\"}"
	assert_refused 3 'payload over 64 KiB'
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"b64\":\"$(head -c 65537 /dev/zero | base64 -w 0)\"}"
	assert_refused 3 'payload over 64 KiB'
	# 64 KiB exactly is fine.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"b64\":\"$(head -c 65536 /dev/zero | base64 -w 0)\"}"
	psm-replay --raw bad.jsonl > out
	[ "$(wc -c < out)" -eq $(( 7 + 65536 )) ]
}

@test "psm-replay: a bad payload is refused in an event that is not played too" {
	# An in event during --raw (output), an out event of another session.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"in\",\"b64\":\"QR==\"}"
	assert_refused 3 '"b64" is not canonical base64'
	run -3 --separate-stderr psm-replay --list bad.jsonl
	assert_stderr 'psm-replay: bad.jsonl:3: "b64" is not canonical base64'
	bad_stream "{\"sid\":\"$A\",\"seq\":0,\"t\":0,\"type\":\"start\"}" \
	    "{\"sid\":\"$A\",\"seq\":1,\"t\":20,\"type\":\"out\",\"data\":\"x\",\"b64\":\"QQ==\"}"
	assert_refused 4 'event has neither or both of "data" and "b64"'
}

# --- bad input: order -------------------------------------------------------

@test "psm-replay: a gap in seq is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":3,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "session $S: seq 3 where 2 was due"
}

@test "psm-replay: a repeated seq is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":1,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "session $S: seq 1 where 2 was due"
	# A second start of the same session too.
	bad_stream "$(head -n 1 "$F/before.jsonl")"
	assert_refused 3 "session $S: seq 0 where 2 was due"
}

@test "psm-replay: a second start event of a session is refused with FILE:LINE" {
	# At seq 0 again it is a repeated seq; at the next seq, a second start.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"start\",\"user\":\"mallory\"}"
	assert_refused 3 "session $S: a second start event"
	run -3 --separate-stderr psm-replay --list bad.jsonl
	assert_output ''
	assert_stderr "psm-replay: bad.jsonl:3: session $S: a second start event"
}

@test "psm-replay: t running backwards is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":9,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "session $S: t runs backwards (9 after 10)"
	# The same t twice is fine.
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":10,\"type\":\"out\",\"data\":\"x\"}"
	run -0 --separate-stderr psm-replay --raw bad.jsonl
	assert_output $'before\nx'
}

@test "psm-replay: an event before its session's start is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$A\",\"seq\":0,\"t\":20,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 3 "session $A has no start event (first seen at seq 0)"
	bad_stream "{\"sid\":\"$A\",\"seq\":4,\"t\":20,\"type\":\"start\"}"
	assert_refused 3 "session $A has no start event (first seen at seq 4)"
	printf '{"sid":"%s","seq":1,"t":5,"type":"out","data":"x"}\n' "$S" > bad.jsonl
	cat "$F/before.jsonl" >> bad.jsonl
	run -3 --separate-stderr psm-replay --raw bad.jsonl
	assert_output ''
	assert_stderr "psm-replay: bad.jsonl:1: session $S has no start event (first seen at seq 1)"
}

@test "psm-replay: an event after its session's end is refused with FILE:LINE" {
	bad_stream "{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":20}" \
	    "{\"sid\":\"$S\",\"seq\":3,\"t\":30,\"type\":\"out\",\"data\":\"x\"}"
	assert_refused 4 "session $S: event after its end"
	run -3 --separate-stderr psm-replay --list bad.jsonl
	assert_output ''
	assert_stderr "psm-replay: bad.jsonl:4: session $S: event after its end"
}

# --- bad input: lines -------------------------------------------------------

@test "psm-replay: a line over 1 MiB is refused with FILE:LINE" {
	ev="{\"sid\":\"$S\",\"seq\":2,\"t\":20,\"type\":\"out\",\"data\":\"x\",\"pad\":\""
	# 1 MiB exactly (without the newline) is taken.
	{ printf '%s' "$ev"; head -c $(( 1048576 - ${#ev} - 2 )) /dev/zero | tr '\0' p; printf '"}\n'; } > line
	[ "$(head -n 1 line | wc -c)" -eq 1048577 ]
	cat "$F/before.jsonl" line > bad.jsonl
	run -0 --separate-stderr psm-replay --raw bad.jsonl
	assert_output $'before\nx'
	# One byte more is not.
	{ printf '%s' "$ev"; head -c $(( 1048576 - ${#ev} - 1 )) /dev/zero | tr '\0' p; printf '"}\n'; } > line
	cat "$F/before.jsonl" line > bad.jsonl
	assert_refused 3 'line longer than 1 MiB'
	# Much more, with or without a newline at the end.
	cp "$F/before.jsonl" bad.jsonl
	head -c 3000000 /dev/zero | tr '\0' a >> bad.jsonl
	assert_refused 3 'line longer than 1 MiB'
	echo >> bad.jsonl
	assert_refused 3 'line longer than 1 MiB'
}

@test "psm-replay: an incomplete last line is refused with FILE:LINE" {
	cp "$F/before.jsonl" bad.jsonl
	printf '{"sid":"%s","seq":2,"t":20,"ty' "$S" >> bad.jsonl
	assert_refused 3 'last line is incomplete (no newline at the end)'
	# Even when what is there is a whole event.
	cp "$F/before.jsonl" bad.jsonl
	printf '{"sid":"%s","seq":2,"t":20,"type":"out","data":"x"}' "$S" >> bad.jsonl
	assert_refused 3 'last line is incomplete (no newline at the end)'
}

# --- files and usage --------------------------------------------------------

@test "psm-replay: a missing file is exit 4 with its name" {
	run -4 --separate-stderr psm-replay nofile
	assert_output ''
	assert_stderr 'psm-replay: nofile: No such file or directory'
	run -4 --separate-stderr psm-replay --list "$F/gap.jsonl" nofile
	assert_stderr 'psm-replay: nofile: No such file or directory'
}

@test "psm-replay: a directory given as FILE is exit 4" {
	mkdir dir
	run -4 --separate-stderr psm-replay --raw dir
	assert_output ''
	assert_stderr 'psm-replay: dir: Is a directory'
}

@test "psm-replay: an output that cannot be written is exit 4" {
	run -4 --separate-stderr sh -c 'psm-replay --raw "$1" > /dev/full' sh "$F/gap.jsonl"
	assert_stderr 'psm-replay: stdout: No space left on device'
	run -4 --separate-stderr sh -c 'psm-replay --list "$1" > /dev/full' sh "$F/gap.jsonl"
	assert_stderr 'psm-replay: stdout: No space left on device'
}

@test "psm-replay: an output that fails stops playing at once, before any pause" {
	t0=$(date +%s%N)
	run -4 --separate-stderr sh -c 'psm-replay "$1" > /dev/full' sh "$F/gap.jsonl"
	ms=$(ms_since "$t0")
	assert_stderr 'psm-replay: stdout: No space left on device'
	[ "$ms" -lt 1500 ] || fail "exit 4 after $ms ms: it paused first"
}

@test "psm-replay: --follow stops with exit 4 when its output fails" {
	# The session has not ended: a follower that did not notice would wait forever.
	cp "$F/before.jsonl" live.jsonl
	run -4 --separate-stderr timeout 10 sh -c 'psm-replay --follow live.jsonl > /dev/full'
	assert_stderr 'psm-replay: stdout: No space left on device'
	run -4 --separate-stderr timeout 10 sh -c 'psm-replay --follow --raw live.jsonl > /dev/full'
	assert_stderr 'psm-replay: stdout: No space left on device'
}

@test "psm-replay: an unknown option is a usage error" {
	run -2 --separate-stderr psm-replay --bogus "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: unrecognized option \'--bogus\'\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay -x "$F/gap.jsonl"
	assert_stderr $'psm-replay: invalid option -- \'x\'\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --speed
	assert_stderr $'psm-replay: option \'--speed\' requires an argument\nTry \'psm-replay --help\''
}

@test "psm-replay: usage errors name the program, however it was called" {
	run -2 --separate-stderr "$PSM_BIN/psm-replay" --bogus
	assert_stderr $'psm-replay: unrecognized option \'--bogus\'\nTry \'psm-replay --help\''
	run -2 --separate-stderr "$PSM_BIN/psm-replay" --follow --list x
	assert_stderr $'psm-replay: --follow and --list exclude each other\nTry \'psm-replay --help\''
}

@test "psm-replay: a speed that is not a positive number is a usage error" {
	local s
	for s in 0 abc -1 '' 2x inf nan 0x10 ' 2'; do
		run -2 --separate-stderr psm-replay --speed "$s" "$F/gap.jsonl"
		assert_output ''
		assert_stderr "psm-replay: invalid speed '$s'"$'\n'"Try 'psm-replay --help'"
	done
}

@test "psm-replay: a max-wait that is not a number of seconds is a usage error" {
	local s
	for s in abc -1 '' 1s inf; do
		run -2 --separate-stderr psm-replay --max-wait "$s" "$F/gap.jsonl"
		assert_output ''
		assert_stderr "psm-replay: invalid max-wait '$s'"$'\n'"Try 'psm-replay --help'"
	done
}

@test "psm-replay: --stderr without --raw, --input with --stderr or --list is a usage error" {
	run -2 --separate-stderr psm-replay --stderr "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --stderr goes with --raw\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --raw --input --stderr "$F/gap.jsonl"
	assert_stderr $'psm-replay: --input and --stderr exclude each other\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --input --stderr "$F/gap.jsonl"
	assert_stderr $'psm-replay: --input and --stderr exclude each other\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --list --input "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --list and --input exclude each other\nTry \'psm-replay --help\''
}

@test "psm-replay: --unsafe with --raw, --input or --list is a usage error" {
	local o
	for o in --raw --input --list; do
		run -2 --separate-stderr psm-replay --unsafe $o "$F/gap.jsonl"
		assert_output ''
		assert_stderr $'psm-replay: --unsafe goes with playback, not with --raw, --input or --list\nTry \'psm-replay --help\''
	done
}

@test "psm-replay: --escrow-key without --input is a usage error" {
	run -2 --separate-stderr psm-replay --escrow-key k.key "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --escrow-key goes with --input\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --raw --escrow-key=k.key "$F/gap.jsonl"
	assert_stderr $'psm-replay: --escrow-key goes with --input\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --input --escrow-key
	assert_stderr $'psm-replay: option \'--escrow-key\' requires an argument\nTry \'psm-replay --help\''
}

@test "psm-replay: --follow with two FILEs or with --list is a usage error" {
	run -2 --separate-stderr psm-replay --follow "$F/gap.jsonl" "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --follow takes one FILE\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --follow --list "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --follow and --list exclude each other\nTry \'psm-replay --help\''
}

@test "psm-replay: --list with --raw is a usage error" {
	run -2 --separate-stderr psm-replay --list --raw "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: --list and --raw exclude each other\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --raw --list "$F/gap.jsonl"
	assert_stderr $'psm-replay: --list and --raw exclude each other\nTry \'psm-replay --help\''
}

@test "psm-replay: an empty or overlong --session is a usage error" {
	run -2 --separate-stderr psm-replay --session '' "$F/gap.jsonl"
	assert_output ''
	assert_stderr $'psm-replay: invalid session id \'\'\nTry \'psm-replay --help\''
	run -2 --separate-stderr psm-replay --session "${A}0" "$F/gap.jsonl"
	assert_stderr "psm-replay: invalid session id '${A}0'"$'\n'"Try 'psm-replay --help'"
}

@test "psm-replay: --help lists the options on stdout" {
	run -0 --separate-stderr psm-replay --help
	assert_stderr ''
	assert_line -n 0 'Usage: psm-replay [options] [FILE...]'
	local o
	for o in '-s, --speed=X' '-w, --max-wait=SECONDS' '-S, --session=SID' '-l, --list' \
	    '-f, --follow' '-r, --raw' '-i, --input' '-e, --stderr' '    --unsafe' \
	    '    --escrow-key=FILE' '    --no-sandbox' '-h, --help' '-V, --version'; do
		assert_line --regexp "^  $o  +[a-z]"
	done
	run -0 --separate-stderr psm-replay -h
	assert_line -n 0 'Usage: psm-replay [options] [FILE...]'
}

@test "psm-replay: --version prints the name and version on stdout" {
	run -0 --separate-stderr psm-replay --version
	assert_output --regexp '^psm-replay [0-9]+\.[0-9]+\.[0-9]+$'
	assert_stderr ''
	run -0 --separate-stderr psm-replay -V
	assert_output --regexp '^psm-replay [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "psm-replay: --list --session lists only the sessions whose sid begins with SID" {
	psm-record -o two.jsonl -- echo one </dev/null >/dev/null
	psm-record -o two.jsonl -- echo two </dev/null >/dev/null
	second=$(jq -r 'select(.type == "start") | .sid' two.jsonl | tail -n 1)
	run -0 psm-replay --list --session "${second:0:8}" two.jsonl
	assert_output --regexp "^${second}	"
	[ "${#lines[@]}" -eq 1 ]
	run -1 --separate-stderr psm-replay --list --session ffffffff-no two.jsonl
	assert_output ''
	assert_stderr --partial 'no session ffffffff-no in the stream'
}

# --- files opened first, and the sandbox --------------------------------------

@test "psm-replay: every FILE is opened before any is read" {
	run -4 --separate-stderr psm-replay --raw "$F/gap.jsonl" nofile
	assert_output ''
	assert_stderr 'psm-replay: nofile: No such file or directory'
}

# hundred_files: s100.jsonl to s199.jsonl, a session started in each.
hundred_files() {
	local i
	for i in $(seq 100 199); do
		printf '{"sid":"00000000-0000-4000-8000-000000000%d","seq":0,"t":0,"type":"start","user":"u%d"}\n' \
		    "$i" "$i" > "s$i.jsonl"
	done
}

@test "psm-replay: more FILEs than the soft limit on open files are read" {
	hundred_files
	run -0 --separate-stderr bash -c 'ulimit -S -n 40 && psm-replay --list s*.jsonl'
	[ "${#lines[@]}" -eq 100 ]
	assert_line -n 99 $'00000000-0000-4000-8000-000000000199\tu199\t-\t-\t0.000s\t-\t-'
	assert_stderr ''
}

@test "psm-replay: more FILEs than the hard limit on open files is exit 4" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "LeakSanitizer needs a descriptor of its own at exit"
	hundred_files
	run -4 --separate-stderr bash -c 'ulimit -n 40 && psm-replay --list s*.jsonl'
	assert_output ''
	assert_stderr --partial ': Too many open files'
}

@test "psm-replay: --follow on a named pipe plays its first session (a pipe cannot be read twice)" {
	mkfifo pipe
	cat "$F/three-sessions.jsonl" > pipe 3>&- &
	BG_PIDS+=("$!")
	run -0 --separate-stderr timeout 10 psm-replay --follow --raw pipe
	assert_output $'file1\nfile2'
	assert_stderr ''
}

@test "psm-replay: the seccomp filter is in force while it reads, and not with --no-sandbox" {
	[ "$(awk '/^Seccomp:/ { print $2 }' /proc/self/status)" = 0 ] || skip "the tests already run under seccomp"
	# --follow, waiting for the rest of a session that has not ended.
	cp "$F/before.jsonl" live.jsonl
	follow live.jsonl
	wait_for 10 grep -q before out
	run grep '^Seccomp:' "/proc/$FOLLOWER/status"
	assert_output "$(printf 'Seccomp:\t2')"
	printf '{"sid":"%s","seq":2,"t":20,"type":"out","data":"after\\n"}\n' "$S" >> live.jsonl
	printf '{"sid":"%s","seq":3,"t":30,"type":"end","reason":"exit","exit":0,"duration":30}\n' "$S" >> live.jsonl
	follower_status
	[ "$rc" -eq 0 ] || fail "exit $rc: $(cat err)"
	printf 'before\nafter\n' | cmp - out

	# Blocked in the first read of a pipe: the filter came first.
	mkfifo in
	psm-replay --raw < in > raw.out 2> raw.err 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	exec 7> in
	wait_for 5 grep -q "$(printf '^Seccomp:\t2$')" "/proc/$pid/status" ||
		fail "$(grep '^Seccomp:' "/proc/$pid/status")"
	cat "$F/gap.jsonl" >&7
	exec 7>&-
	wait "$pid"
	printf 'one\ntwo\n' | cmp - raw.out
	[ ! -s raw.err ]

	# In a pause (one that practically never ends).
	psm-replay --speed 1e-300 "$F/gap.jsonl" > slow.out 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for 5 grep -q one slow.out
	run grep '^Seccomp:' "/proc/$pid/status"
	assert_output "$(printf 'Seccomp:\t2')"

	cp "$F/before.jsonl" live2.jsonl
	psm-replay --follow --no-sandbox live2.jsonl > out2 3>&- &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for 10 grep -q before out2
	run grep '^Seccomp:' "/proc/$pid/status"
	assert_output "$(printf 'Seccomp:\t0')"
}

@test "psm-replay: a system call outside the sandbox's list kills it" {
	[ -z "${PSM_SANITIZED:-}" ] || skip "LD_PRELOAD does not mix with the sanitizer runtime"
	build_late_syscall late.so
	local mode
	for mode in --raw --list --follow '--raw --input' '--max-wait 0' --input '--unsafe --max-wait 0'; do
		run -159 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-replay $mode "$F/gap.jsonl"
		run -0 --separate-stderr env LD_PRELOAD=$PWD/late.so psm-replay --no-sandbox $mode "$F/gap.jsonl"
	done
}

# sandbox_runs: the ways of running psm-replay that the sandbox tests try,
# one a line, on three.jsonl and gap.jsonl in the current directory (the
# tests split each line into words: $args is not quoted on purpose).
sandbox_runs() {
	cp "$F/three-sessions.jsonl" three.jsonl
	cp "$F/gap.jsonl" gap.jsonl
	psm-keygen -o esc --no-passphrase
	escrow_stream esc.pub $'hunter2\r'
	mv s.jsonl esc.jsonl
	printf '%s\n' '--raw three.jsonl' '--raw --input three.jsonl' '--raw --stderr three.jsonl' \
	    "--raw --session $B three.jsonl" '--list three.jsonl' "--list --session $C three.jsonl" \
	    '--max-wait 0 three.jsonl' '--speed 10 gap.jsonl' '--follow gap.jsonl' \
	    '--follow --raw gap.jsonl' '--raw gap.jsonl three.jsonl' '--input three.jsonl' \
	    '--unsafe --max-wait 0 three.jsonl' '--input --escrow-key esc.key esc.jsonl' \
	    '--raw --input --escrow-key esc.key esc.jsonl'
}

@test "psm-replay: works in its sandbox with stdout on a pipe, /dev/null and a file" {
	local args
	sandbox_runs > runs
	while read -r args; do
		psm-replay --no-sandbox $args > want.out 2> want.err || fail "--no-sandbox $args: exit $?"
		[ -s want.out ] || [ -s want.err ] || fail "$args: no output to compare"
		bash -c 'psm-replay "$@" 2> piped.err | cat > piped.out; exit ${PIPESTATUS[0]}' bash $args ||
			fail "$args | cat: exit $?"
		cmp want.out piped.out || fail "$args | cat: not the same output"
		cmp want.err piped.err || fail "$args | cat: $(cat piped.err)"
		psm-replay $args > /dev/null 2> null.err || fail "$args > /dev/null: exit $?"
		cmp want.err null.err || fail "$args > /dev/null: $(cat null.err)"
		psm-replay $args > file.out 2> file.err || fail "$args > file: exit $?"
		cmp want.out file.out || fail "$args > file: not the same output"
		cmp want.err file.err || fail "$args > file: $(cat file.err)"
	done < runs
}

@test "psm-replay: works in its sandbox with stdout on a terminal" {
	sandbox_runs > runs
	# Each run says its exit status on the screen and in rc.
	tmux_start "while read -r a; do psm-replay \$a; echo \"rc=\$? \$a\" | tee -a rc; done < runs; echo done >> rc; sleep 60"
	wait_for 20 grep -qsx done rc || fail "$(cat rc 2>/dev/null)"
	run grep -v -e '^rc=0 ' -e '^done$' rc
	assert_output ''
	[ "$(grep -c '^rc=0 ' rc)" -eq "$(wc -l < runs)" ]
	run tmux_screen
	refute_output --partial 'Bad system call'
	assert_output --partial 'two'
}

@test "psm-replay: stdout on /dev/full is exit 4 with the reason, not a kill by the sandbox" {
	local args sandbox
	sandbox_runs > runs
	for sandbox in '' --no-sandbox; do
		while read -r args; do
			run -4 --separate-stderr bash -c 'timeout 10 psm-replay "$@" > /dev/full' bash $sandbox $args
			assert_stderr 'psm-replay: stdout: No space left on device'
		done < runs
	done
}
