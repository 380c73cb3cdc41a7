#!/usr/bin/env bats
# psm-record: capture a session into the psm stream.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	tmux_stop
	if [ -n "${TMPFS:-}" ]; then umount "$TMPFS" 2>/dev/null || true; fi
}

start_field() { jq -r "select(.type == \"start\") | $1" "${2:-s.jsonl}"; }
end_field() { jq -r "select(.type == \"end\") | $1" "${2:-s.jsonl}"; }

@test "psm-record: the command's exit status is passed through" {
	run -7 psm-record -o s.jsonl -- sh -c 'exit 7' </dev/null
	run end_field '"\(.reason) \(.exit) \(.signal)"'
	assert_output 'exit 7 null'
}

@test "psm-record: a command killed by signal n gives 128+n and the end event names the signal" {
	run -143 psm-record -o s.jsonl -- sh -c 'kill -TERM $$' </dev/null
	run end_field '"\(.reason) \(.exit) \(.signal)"'
	assert_output 'exit 143 15'
}

@test "psm-record: a command that does not exist exits 127 with a message" {
	run -127 psm-record -o s.jsonl -- no-such-command-here </dev/null
	assert_output --partial 'psm-record: no-such-command-here: No such file or directory'
	run end_field .exit
	assert_output 127
}

@test "psm-record: the start event takes who from the kernel, not the environment" {
	USER=mallory LOGNAME=mallory psm-record -o s.jsonl -- true </dev/null
	run start_field '"\(.user) \(.uid) \(.gid) \(.host) \(.cwd) \(.argv | join(",")) \(.version) \(.mode) \(.input)"'
	assert_output "$(id -un) $(id -u) $(id -g) $(hostname) $PWD true 1 pty true"
	run start_field .time
	assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
}

@test "psm-record: every event has the sid, a contiguous seq and a t that never runs backwards" {
	printf 'echo one\necho two\nexit\n' | psm-record -o s.jsonl -- sh >/dev/null
	run jq -s '(map(.seq) == [range(0; length)]) and
		(map(.sid) | unique | length == 1) and
		([.[].t] == ([.[].t] | sort)) and (.[0].type == "start") and (.[-1].type == "end")' s.jsonl
	assert_output true
}

@test "psm-record: without a terminal, stdin is forwarded to the command and recorded" {
	run -0 --separate-stderr sh -c "printf 'abc\n' | psm-record -o s.jsonl -- sh -c 'read x; echo \"got \$x\"'"
	assert_output --partial 'got abc'
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output 'abc'
	run jq -j 'select(.type == "out") | .data' s.jsonl
	assert_output --partial 'got abc'
}

@test "psm-record: input reaching its end does not end or truncate the session" {
	run -0 psm-record -o s.jsonl -- sh -c 'sleep 0.5; echo late output' </dev/null
	assert_output --partial 'late output'
	run jq -j 'select(.type == "out") | .data' s.jsonl
	assert_output --partial 'late output'
	run end_field .reason
	assert_output exit
}

@test "psm-record: an unfinished last input line still reaches the command, then end of file" {
	run -0 sh -c "printf 'no newline' | psm-record -o s.jsonl -- sh -c 'cat > got'"
	run cat got
	assert_output 'no newline'
}

@test "psm-record: --no-input forwards input but does not record it" {
	run -0 sh -c "printf 'typed\n' | psm-record --no-input -o s.jsonl -- sh -c 'read x; echo \"len \${#x}\"'"
	assert_output --partial 'len 5'
	run jq -c 'select(.type == "in")' s.jsonl
	assert_output ''
	run start_field .input
	assert_output false
}

@test "psm-record: --no-pty records stdout and stderr apart and passes each through" {
	run -0 --separate-stderr psm-record --no-pty -o s.jsonl -- sh -c 'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2'
	assert_output $'out1\nout2'
	assert_stderr 'err1'
	run jq -r 'select(.type == "out" or .type == "err") | "\(.type) \(.data)"' s.jsonl
	assert_output $'out out1\n\nerr err1\n\nout out2'
	run start_field .mode
	assert_output pipes
}

@test "psm-record: --no-pty forwards stdin and closes it at its end" {
	run -0 sh -c "printf 'x\ny\n' | psm-record --no-pty -o s.jsonl -- wc -l"
	assert_output 2
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output $'x\ny'
}

@test "psm-record: --no-pty keeps binary output byte for byte" {
	head -c 300000 /dev/urandom > bin.dat
	psm-record --no-pty -o s.jsonl -- cat bin.dat >/dev/null </dev/null
	psm-replay --raw s.jsonl > back.dat
	cmp bin.dat back.dat
}

@test "psm-record: output is split into events of at most 64 KiB" {
	head -c 200000 /dev/zero | tr '\0' a > big.txt
	psm-record -o s.jsonl -- sh -c 'stty -opost; cat big.txt' </dev/null >/dev/null
	run jq -s '[.[] | select(.type == "out") | .data | length] | (max <= 65536) and (add == 200000) and (length >= 4)' s.jsonl
	assert_output true
}

@test "psm-record: a UTF-8 character split across two reads is recorded whole, as text" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; printf "caf\303"; sleep 0.3; printf "\251!\n"' </dev/null >/dev/null
	run jq -j 'select(.type == "out") | .data' s.jsonl
	assert_output $'café!'
	run jq -c 'select(.b64 != null)' s.jsonl
	assert_output ''
}

@test "psm-record: bytes that are not UTF-8 are kept in base64" {
	printf 'ok \377\376 \300\200 end' > bad.bin
	psm-record -o s.jsonl -- sh -c 'stty -opost; cat bad.bin' </dev/null >/dev/null
	run jq -r 'select(.type == "out") | .b64' s.jsonl
	assert_output "$(base64 < bad.bin)"
	psm-replay --raw s.jsonl | cmp - bad.bin
}

@test "psm-record: typed input is withheld while read -s has echo off" {
	tmux_start "psm-record -o s.jsonl -- sh -c 'printf \"pw: \"; stty -echo; read x; stty echo; echo; echo got \${#x}; read y; echo y=\$y'; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'pw:'
	tmux_keys 'hunter2' Enter
	wait_for 5 tmux_screen_has 'got 7'
	tmux_keys 'visible' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	run grep -c hunter2 s.jsonl
	assert_output 0
	run jq -c 'select(.type == "withheld") | [.stream, .bytes, .reason]' s.jsonl
	assert_output '["in",8,"echo-off"]'
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output $'visible\r'
}

@test "psm-record: a password prompt's answer never reaches the stream" {
	command -v openssl >/dev/null || skip "openssl is not installed"
	tmux_start "psm-record -o s.jsonl -- sh -c 'openssl passwd -6 -salt abcdefgh > hash'; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'Password:'
	tmux_keys 'S3cr3tPassw0rd' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	run grep -c S3cr3t s.jsonl
	assert_output 0
	run jq -s '[.[] | select(.type == "withheld") | .bytes] | add' s.jsonl
	assert_output 15
	run cat hash
	assert_output --partial '$6$abcdefgh$'
}

@test "psm-record: a window change is recorded and reaches the command" {
	tmux_start "psm-record -o s.jsonl -- sh -c 'echo ready; read x; tput cols; tput lines'; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready'
	tmux -L "$TMUX_SOCKET" resize-window -x 100 -y 30
	wait_for 5 grep -q '"type":"resize"' s.jsonl
	tmux_keys Enter
	wait_for 5 test -s rc
	run jq -c 'select(.type == "resize") | [.cols, .rows]' s.jsonl
	assert_output '[100,30]'
	run jq -j 'select(.type == "out") | .data' s.jsonl
	assert_output --partial $'100\r\n30'
	run start_field '"\(.cols)x\(.rows)"'
	assert_output 80x24
}

@test "psm-record: the caller's terminal is restored after the session, and after a signal" {
	tmux_start "stty -g > before; psm-record -o s.jsonl -- true; stty -g > after1; psm-record -o t.jsonl -- sleep 30; stty -g > after2; sleep 60"
	wait_for 5 test -s after1
	wait_for 5 grep -q '"type":"start"' t.jsonl
	pkill -TERM -f '^psm-record -o t.jsonl'
	wait_for 10 test -s after2
	cmp before after1
	cmp before after2
	run end_field '"\(.reason) \(.caught)"' t.jsonl
	assert_output 'signal 15'
}

@test "psm-record: job control works inside the session" {
	tmux_start "PS1='ready> ' psm-record -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	tmux_keys "sleep 100.$$" Enter
	# A key is for the job only once it runs in the foreground: before, bash gets it.
	in_foreground() { [[ $(ps -o stat= -p "$(pgrep -f "^sleep 100.$$")") == S*+ ]]; }
	wait_for 5 in_foreground
	tmux_keys C-z
	wait_for 5 tmux_screen_has 'Stopped'
	tmux_keys 'fg' Enter
	wait_for 5 in_foreground
	tmux_keys C-c
	tmux_keys 'echo job-done' Enter
	wait_for 5 tmux_screen_has 'job-done'
	tmux_keys 'exit 3' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=3
}

@test "psm-record: full-screen programs work (less)" {
	seq 1 500 > numbers
	tmux_start "psm-record -o s.jsonl -- less numbers; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has '23'
	tmux_keys G
	wait_for 5 tmux_screen_has '500'
	tmux_keys q
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output 'Gq'
}

@test "psm-record: -o /dev/full fails closed: exit 4, message, the command never runs" {
	run -4 --separate-stderr psm-record -o /dev/full -- touch ran </dev/null
	assert_stderr 'psm-record: /dev/full: No space left on device: the session was not started'
	[ ! -e ran ]
}

@test "psm-record: a recording that dies mid-session ends the session at once with exit 4" {
	run -4 --separate-stderr bash -c "psm-record -o >(head -c 1 >/dev/null) -- sh -c 'i=0; while [ \$i -lt 300 ]; do echo line \$i; i=\$((i+1)); sleep 0.01; done; touch survived' </dev/null >/dev/null"
	assert_stderr --partial 'Broken pipe: ending the session'
	[ ! -e survived ]
}

@test "psm-record: --fail-open keeps the session going when the recording cannot be written" {
	run -0 --separate-stderr psm-record --fail-open -o /dev/full -- sh -c 'echo still running; touch ran' </dev/null
	assert_output --partial 'still running'
	assert_stderr --partial 'psm-record: /dev/full: No space left on device: recording suspended (--fail-open)'
	[ -e ran ]
}

@test "psm-record: --fail-open says what was lost once the disk has room again" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small tmpfs"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount a tmpfs here"
	TMPFS=$PWD/small
	head -c 1000000 /dev/zero > small/filler 2>/dev/null || true
	psm-record --fail-open -o small/s.jsonl -- sh -c 'echo before; while [ ! -e go ]; do sleep 0.05; done; sleep 1.5; echo after' </dev/null >shown 2>err &
	pid=$!
	wait_for 5 grep -q 'recording suspended' err
	wait_for 5 grep -q before shown	# shown once recorded: lost while the disk is full
	rm small/filler
	touch go
	wait "$pid"
	run sh -c "jq -r .type small/s.jsonl | uniq"	# the output may come in several reads
	assert_output $'start\nlost\nout\nend'
	run jq -r 'select(.type == "lost") | "\(.out > 0) \(.reason) \(.error)"' small/s.jsonl
	assert_output 'true write-failed No space left on device'
	run psm-replay --raw small/s.jsonl
	assert_output --partial after
}

@test "psm-record: --max-time ends the session with a warning and says so in the end event" {
	run -129 --separate-stderr psm-record --max-time 2s -o s.jsonl -- sleep 30 </dev/null
	assert_stderr --partial 'psm-record: the session ends in 2 seconds (time limit)'
	run end_field '"\(.reason) \(.exit) \(.signal) \(.duration >= 2000000) \(.duration < 4000000)"'
	assert_output 'time-limit 129 1 true true'
}

@test "psm-record: --max-time kills a session that ignores the hang-up after 5 seconds" {
	run -137 psm-record --max-time 1s -o s.jsonl -- sh -c 'trap "" HUP; sleep 30' </dev/null
	run end_field '"\(.reason) \(.signal) \(.duration >= 6000000) \(.duration < 9000000)"'
	assert_output 'time-limit 9 true true'
}

@test "psm-record: SIGTERM to psm-record ends the session and the end event says so" {
	psm-record -o s.jsonl -- sleep 30 </dev/null &
	pid=$!
	wait_for 5 grep -q '"type":"start"' s.jsonl
	sleep 0.2
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 129 ]
	run end_field '"\(.reason) \(.caught) \(.signal)"'
	assert_output 'signal 15 1'
}

@test "psm-record: the recording is flushed at least every second" {
	psm-record -o s.jsonl -- sh -c 'echo first; sleep 4' </dev/null >/dev/null &
	pid=$!
	start=$SECONDS
	wait_for 3 grep -q first s.jsonl
	kill -TERM "$pid"
	wait "$pid" || true
	[ $(( SECONDS - start )) -le 2 ]
}

@test "psm-record: -o appends to FILE, which is created 0600" {
	psm-record -o s.jsonl -- echo one </dev/null >/dev/null
	psm-record -o s.jsonl -- echo two </dev/null >/dev/null
	run stat -c %a s.jsonl
	assert_output 600
	run psm-replay --list s.jsonl
	assert_line --index 1 --partial "$(id -un)"
	[ "${#lines[@]}" -eq 2 ]
}

@test "psm-record: -o DIR/ writes a new 0600 file per session, named by start time and sid" {
	mkdir spool
	psm-record -o spool/ -- true </dev/null
	psm-record -o spool -- true </dev/null
	run ls spool
	[ "${#lines[@]}" -eq 2 ]
	for f in spool/*; do
		sid=$(start_field .sid "$f")
		[[ $(basename "$f") =~ ^[0-9]{8}T[0-9]{6}Z-${sid}\.jsonl$ ]]
		[ "$(stat -c %a "$f")" = 600 ]
	done
}

@test "psm-record: with no -o the recording goes under XDG_STATE_HOME and its path is printed" {
	run -0 --separate-stderr env XDG_STATE_HOME="$PWD/state" psm-record -- true </dev/null
	f=$(ls state/psm/*.jsonl)
	assert_stderr "psm-record: recorded in $PWD/$f"
	run stat -c %a state/psm
	assert_output 700
}

@test "psm-record: -o /dev/fd/N and a process substitution both work" {
	psm-record -o /dev/fd/3 -- echo via-fd 3>fd.jsonl </dev/null >/dev/null
	run psm-replay --raw fd.jsonl
	assert_output --partial via-fd
	bash -c 'psm-record -o >(cat > sub.jsonl) -- echo via-sub </dev/null >/dev/null; wait'
	wait_for 5 grep -q '"type":"end"' sub.jsonl
	run psm-replay --raw sub.jsonl
	assert_output --partial via-sub
}

@test "psm-record: as a ForceCommand it runs SSH_ORIGINAL_COMMAND" {
	run -0 env SSH_ORIGINAL_COMMAND='echo via-ssh' psm-record -o s.jsonl </dev/null
	assert_output --partial via-ssh
	run start_field '.argv[1:] | join(" ")'
	assert_output '-c echo via-ssh'
}

@test "psm-record: with no command it starts the user's login shell" {
	run -0 sh -c "printf 'echo shell=\$0\nexit\n' | psm-record -o s.jsonl"
	shell=$(getent passwd "$(id -un)" | cut -d: -f7)
	assert_output --partial "shell=-$(basename "$shell")"
}

@test "psm-record: the command sees the session id in PSM_SID" {
	run -0 psm-record -o s.jsonl -- sh -c 'echo "sid=$PSM_SID"' </dev/null
	assert_output --partial "sid=$(start_field .sid)"
}

@test "psm-record: an output file that cannot be opened is exit 4 with its name" {
	run -4 --separate-stderr psm-record -o no/such/dir/s.jsonl -- true </dev/null
	assert_stderr 'psm-record: no/such/dir/s.jsonl: No such file or directory'
}

@test "psm-record: usage errors exit 2 and point to --help" {
	run -2 --separate-stderr psm-record --no-such-option -- true
	assert_stderr --partial "Try 'psm-record --help'"
	for d in 0 abc 5x 10y -1 ''; do
		run -2 --separate-stderr psm-record --max-time "$d" -- true
		assert_stderr --partial "invalid duration"
	done
}

@test "psm-record: --help lists every option on stdout, --version prints the version" {
	run -0 psm-record --help
	for o in --output --no-input --no-pty --fail-open --max-time --help --version; do
		assert_output --partial -- "$o"
	done
	run -0 psm-record --version
	assert_output --regexp '^psm-record [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "psm-record: a command that closes its terminal does not make psm-record spin" {
	TIMEFORMAT='%U %S'
	{ time psm-record -o s.jsonl -- sh -c 'exec >/dev/null 2>&1 </dev/null; sleep 1; exit 4' </dev/null ; } 2> cpu || rc=$?
	[ "${rc:-0}" -eq 4 ]
	read -r user sys < cpu
	awk -v u="$user" -v s="$sys" 'BEGIN { exit !(u + s < 0.5) }'
	run end_field .exit
	assert_output 4
}

@test "psm-record: --no-pty passes a signal to psm-record on to the command" {
	psm-record --no-pty -o s.jsonl -- sh -c 'trap "echo got-int; exit 9" INT; while :; do sleep 0.05; done' </dev/null > out &
	pid=$!
	wait_for 5 grep -q '"type":"start"' s.jsonl
	sleep 0.3
	kill -INT "$pid"	# psm-record resets the SIGINT that bash ignores for background jobs
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 9 ]
	run cat out
	assert_output got-int
	run end_field '"\(.reason) \(.caught) \(.exit)"'
	assert_output 'signal 2 9'
}

@test "psm-record: appending to a file that ends in an unfinished line starts on a new line" {
	printf '{"sid":"0b172e7d-2f0f-4512-95b2-d185a297b0ee","seq":0,"t":0,"ty' > s.jsonl
	run -0 psm-record -o s.jsonl -- echo after-crash </dev/null
	run head -n 1 s.jsonl
	assert_output '{"sid":"0b172e7d-2f0f-4512-95b2-d185a297b0ee","seq":0,"t":0,"ty'
	run sed -n 2p s.jsonl
	assert_output --regexp '^\{"sid":"[0-9a-f-]{36}","seq":0,"t":[0-9]+,"type":"start"'
	tail -n +2 s.jsonl > rest.jsonl
	run -0 psm-replay --raw rest.jsonl
	assert_output --partial after-crash
}

@test "psm-record: -c STRING runs it with the session's shell, as a login shell is asked to" {
	run -3 psm-record -o s.jsonl -c 'echo "via -c $((1+1))"; exit 3' </dev/null
	assert_output --partial 'via -c 2'
	shell=$(getent passwd "$(id -un)" | cut -d: -f7)
	run start_field '.argv | join(" ")'
	assert_output "$shell -c echo \"via -c \$((1+1))\"; exit 3"
	run -2 --separate-stderr psm-record -c 'true' -- ls
	assert_stderr --partial '-c STRING and a COMMAND exclude each other'
}

@test "psm-record: typed input is in the recording before the command can act on it" {
	tmux_start "PS1='ready> ' psm-record -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	tmux_keys 'echo proof-$((6*7)) > proof; kill -9 $PPID' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=137
	run cat proof
	assert_output proof-42
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output --partial 'kill -9 $PPID'
}

@test "psm-record: echo turned off for good hides one line, not the rest of the session" {
	tmux_start "PS1='ready> ' psm-record -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	tmux_keys 'stty -echo; PS1="s""h> " exec /bin/sh' Enter	# "sh>" only once sh runs
	wait_for 5 tmux_screen_has 'sh>'
	tmux_keys 'echo first-line' Enter
	wait_for 5 tmux_screen_has 'first-line'
	tmux_keys 'echo second-$((40+2))' Enter
	wait_for 5 tmux_screen_has 'second-42'
	tmux_keys 'echo third-line' Enter
	wait_for 5 tmux_screen_has 'third-line'
	tmux_keys 'exit' Enter
	wait_for 5 test -s rc
	run jq -c 'select(.type == "withheld") | [.stream, .bytes, .reason]' s.jsonl
	assert_output '["in",16,"echo-off"]'
	run jq -c 'select(.type == "withhold-limit") | [.stream, .reason, .limit]' s.jsonl
	assert_output '["in","echo-off","one-line"]'
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output --partial 'echo second-$((40+2))'
	assert_output --partial 'echo third-line'
	refute_output --partial 'first-line'
}

@test "psm-record: a paste at an echo-off read withholds its first line only" {
	tmux_start "PS1='ready> ' psm-record -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	tmux_keys "read -s -p 'g''o> ' pw; echo; echo len=\${#pw}" Enter	# "go>" only once read runs
	wait_for 5 tmux_screen_has 'go>'
	tmux_keys -l $'s3cr3t-paste\necho after-paste-$((1+1))\n'
	wait_for 5 tmux_screen_has 'after-paste-2'
	tmux_keys 'exit' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	tmux_screen_has 'len=12'
	run grep -c s3cr3t-paste s.jsonl
	assert_output 0
	run psm-replay --raw --input s.jsonl
	refute_output --partial s3cr3t
	run jq -c 'select(.type == "withheld") | [.bytes, .reason]' s.jsonl
	assert_output '[13,"echo-off"]'
	run jq -j 'select(.type == "in") | .data' s.jsonl
	assert_output --partial 'echo after-paste-$((1+1))'
}

@test "psm-record: a secret read with read -s -n or read -s -d is withheld" {
	tmux_start "PS1='ready> ' psm-record -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	# The prompts' text split in the typed line: on the screen only once read runs.
	tmux_keys "read -s -n 8 -p 'Pass''word: ' pw; echo; echo n-len=\${#pw}" Enter
	wait_for 5 tmux_screen_has 'Password:'
	tmux_keys 'n8secret'
	wait_for 5 tmux_screen_has 'n-len=8'
	tmux_keys Enter
	tmux_keys "read -s -d x -p 'Pass''phrase: ' pw; echo; echo d-len=\${#pw}" Enter
	wait_for 5 tmux_screen_has 'Passphrase:'
	tmux_keys 'd7secretx'
	wait_for 5 tmux_screen_has 'd-len=8'
	tmux_keys Enter
	tmux_keys 'exit' Enter
	wait_for 5 test -s rc
	run grep -c -e n8secret -e d7secret s.jsonl
	assert_output 0
	run psm-replay --raw --input s.jsonl
	refute_output --partial secret
	run jq -s -c '[.[] | select(.type == "withheld")] | [(map(.bytes) | add >= 17), (map(.reason) | unique)]' s.jsonl
	assert_output '[true,["prompt"]]'
}

@test "psm-record: the answer to a password prompt read in raw mode is withheld" {
	cat > ask <<-'END'
		stty raw -echo
		printf 'Password: '
		head -c 9 > /dev/null
		stty sane
		echo
		echo done-prompt
	END
	tmux_start "psm-record -o s.jsonl -- bash --norc ask; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'Password:'
	tmux_keys 'rawsecret' Enter
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	tmux_screen_has 'done-prompt'
	run grep -c rawsecret s.jsonl
	assert_output 0
	run psm-replay --raw --input s.jsonl
	refute_output --partial raw
	run jq -c 'select(.type == "withheld") | .reason' s.jsonl
	assert_output '"prompt"'
}

@test "psm-record: --prompt REGEX adds a password prompt of the site's own" {
	cat > ask <<-'END'
		stty raw -echo
		printf '%s Token please> ' "$1"
		head -c 7 > /dev/null
		stty sane
		echo
		echo "done-$1"
	END
	tmux_start "psm-record -o plain.jsonl -- bash --norc ask one; psm-record --prompt 'token please>' -o s.jsonl -- bash --norc ask two; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'one Token please>'
	tmux_keys 'tok4711'
	wait_for 5 tmux_screen_has 'two Token please>'
	tmux_keys 'tok4712'
	wait_for 5 test -s rc
	run cat rc
	assert_output rc=0
	run psm-replay --raw --input plain.jsonl
	assert_output tok4711
	run grep -c tok4712 s.jsonl
	assert_output 0
	run jq -c 'select(.type == "withheld") | [.bytes, .reason]' s.jsonl
	assert_output '[7,"prompt"]'
}

@test "psm-record: a --prompt that is not a regular expression is a usage error" {
	run -2 --separate-stderr psm-record --prompt '(' -o s.jsonl -- true </dev/null
	assert_stderr --partial 'psm-record: prompt pattern "(": '
	assert_stderr --partial "Try 'psm-record --help'"
	[ ! -e s.jsonl ]
}

@test "psm-record: a closed output ends the session, as in a pipeline (yes | head -1)" {
	run -0 timeout -k 5 10 bash -c 'psm-record -o s.jsonl -- yes </dev/null | head -1; echo "rc=${PIPESTATUS[0]}"'
	assert_output $'y\r\nrc=129'
	run end_field '"\(.reason) \(.exit)"'
	assert_output 'output-closed 129'
}

@test "psm-record: a FIFO that no process reads is refused with exit 4" {
	mkfifo fifo
	run -4 --separate-stderr timeout 10 psm-record -o fifo -- touch ran </dev/null
	assert_stderr 'psm-record: fifo: no process reads it'
	[ ! -e ran ]
}

@test "psm-record: a FIFO whose reader stops reading ends the session within seconds, exit 4" {
	mkfifo fifo
	exec {held}<>fifo	# open, and never read
	start=$SECONDS
	run -4 --separate-stderr timeout -k 5 30 psm-record -o fifo -- yes </dev/null >/dev/null
	exec {held}<&-
	[ $(( SECONDS - start )) -lt 20 ]
	assert_stderr --partial 'psm-record: fifo: not read for 10 seconds'
}

@test "psm-record: --max-time leaves no process of the session behind, not even one that left it" {
	marker="ticker-$BATS_TEST_TMPDIR"
	run -129 timeout -k 5 15 psm-record --max-time 1s -o s.jsonl -- sh -c "setsid sh -c 'trap \"\" HUP; while :; do echo $marker; sleep 0.2; done' & sleep 60" </dev/null
	assert_output --partial "$marker"
	gone() { ! pgrep -f -- "$marker" >/dev/null; }
	if ! wait_for 2 gone; then
		pgrep -a -f -- "$marker" || true
		kill -9 $(pgrep -f -- "$marker") 2>/dev/null || true	# the marker is this test's own
		fail "a process of the session outlived psm-record"
	fi
	run end_field .reason
	assert_output time-limit
}

@test "psm-record: without a terminal, a readline login shell gets its end of input" {
	start=$SECONDS
	run -0 sh -c "printf 'echo hello-\$((6*7))\nsleep 0.3\necho after-\$((1+1))\n' | timeout -k 5 15 psm-record -o s.jsonl -- bash --login -i"
	[ $(( SECONDS - start )) -lt 8 ]
	assert_output --partial hello-42
	assert_output --partial after-2
}

@test "psm-record: a non-blocking stdout gets all of the output" {
	run -0 sh -c "perl -MFcntl -e 'fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die; exec @ARGV' psm-record -o s.jsonl -- seq 1 200000 </dev/null | (sleep 1; wc -l)"
	assert_output 200000
	run sh -c "psm-replay --raw s.jsonl | wc -l"
	assert_output 200000
}

@test "psm-record: suspended and brought back with fg, the terminal is raw again and both are recorded" {
	tmux_start "PS1='outer> ' bash --norc --noprofile"
	wait_for 5 tmux_screen_has 'outer>'
	tmux_keys "PS1='inn''er> ' psm-record -o $PWD/s.jsonl -- bash --norc --noprofile" Enter
	wait_for 5 tmux_screen_has 'inner>'
	pid=$(pgrep -f "^psm-record -o $PWD/s.jsonl")
	kill -TSTP "$pid"
	wait_for 5 tmux_screen_has 'Stopped'
	tmux_keys 'fg' Enter
	wait_for 5 grep -q '"type":"resume"' s.jsonl
	tmux_keys 'echo back-$((3*3))' Enter
	wait_for 5 tmux_screen_has 'back-9'
	run sh -c "tmux -L '$TMUX_SOCKET' capture-pane -p | grep -cF 'echo back-\$((3*3))'"
	assert_output 1	# cooked, the outer terminal would have echoed it too
	tmux_keys 'exit' Enter
	wait_for 5 grep -q '"type":"end"' s.jsonl
	run jq -c 'select(.type == "suspend") | .signal' s.jsonl
	assert_output 20
	run jq -c 'select(.type == "resume") | [.signal, .idle > 0]' s.jsonl
	assert_output '[18,true]'
}

@test "psm-record: a SIGSTOP and SIGCONT give a resume event that says how long it was idle" {
	psm-record -o s.jsonl -- sleep 2 </dev/null >/dev/null &
	pid=$!
	wait_for 5 grep -q '"type":"start"' s.jsonl
	kill -STOP "$pid"
	sleep 0.5	# the time it stays stopped
	kill -CONT "$pid"
	wait "$pid"
	run jq -c 'select(.type == "resume") | [.signal, .idle >= 500000]' s.jsonl
	assert_output '[18,true]'
}

@test "psm-record: on a terminal it says where it records before the command runs, and -q does not" {
	mkdir spool
	tmux_start "psm-record -o s.jsonl -- echo from-command; psm-record -q -o q.jsonl -- echo quiet-command; psm-record -o spool/ -- true; echo done > rc; sleep 60"
	wait_for 10 test -s rc
	name=$(ls spool)
	lines() { tmux -L "$TMUX_SOCKET" capture-pane -p -J | grep -v '^$'; }	# wrapped lines joined
	lines_have() { lines | grep -qF -- "$1"; }
	wait_for 5 lines_have "recorded in spool/$name"
	run lines
	assert_output "psm-record: recording to s.jsonl
from-command
quiet-command
psm-record: recording to spool/$name
psm-record: recorded in spool/$name"
}

@test "psm-record: --help says where the recording goes by default and what the exit status means" {
	run -0 psm-record --help
	assert_output --partial '.local/state/psm'
	assert_output --partial 'Exit status'
}

@test "psm-record: -o '|COMMAND' writes the recording through COMMAND, done when psm-record returns" {
	run -0 psm-record -o '|cat > piped.jsonl' -- echo via-pipe </dev/null
	assert_output --partial via-pipe
	run jq -r .type piped.jsonl
	assert_line --index 0 start
	assert_line --index -1 end	# no waiting: the filter has ended
	run psm-replay --raw piped.jsonl
	assert_output --partial via-pipe
}

@test "psm-record: -o '|COMMAND' with a COMMAND that fails at once is exit 4" {
	# Whether the filter has ended before the start event is written is a
	# race; a start event longer than a pipe holds makes it certain.
	long=$(head -c 100000 /dev/zero | tr '\0' x)
	run -4 --separate-stderr timeout -k 5 15 psm-record -o '|exit 3' -- true "$long" </dev/null
	assert_stderr --partial 'psm-record: |exit 3: '
	for i in $(seq 20); do
		run -4 --separate-stderr timeout -k 5 15 psm-record -o '|exit 3' -- true </dev/null
		assert_stderr --partial 'psm-record: |exit 3: '
	done
	[ ! -e '|exit 3' ]
}

@test "psm-record: --escrow seals the withheld input to the auditor's key" {
	record_escrowed_read
	id=$(cut -d' ' -f2 auditor.pub)
	run grep -c escrowed-s3cr3t s.jsonl
	assert_output 0
	run jq -r 'select(.type == "withheld") | "\(.bytes) \(.reason) \(.escrow_key)"' s.jsonl
	assert_output "16 echo-off $id"
	[ "${#id}" -eq 16 ]
	# A sealed box: the 16 bytes and 48 of overhead, in base64.
	run sh -c "jq -r 'select(.type == \"withheld\") | .escrow' s.jsonl | base64 -d | wc -c"
	assert_output 64
}

@test "psm-record: --escrow with a key file that cannot be read is exit 4 with its name" {
	run -4 --separate-stderr psm-record --escrow /nonexistent -o s.jsonl -- touch ran </dev/null
	assert_stderr 'psm-record: /nonexistent: No such file or directory'
	[ ! -e ran ]
}

@test "psm-record: run by its user, it cannot be traced by that user (not dumpable)" {
	command -v strace >/dev/null || skip "strace is not installed (scripts/deps.sh test)"
	[ "$(id -u)" -eq 0 ] || skip "needs root to run the recorder as another user"
	[ -z "${PSM_SANITIZED:-}" ] || skip "LeakSanitizer's exit check needs to trace the recorder"
	dir=$(mktemp -d /tmp/psm-trace.XXXXXX)
	chmod 777 "$dir"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$PSM_BIN/psm-record" -o "$dir/s.jsonl" -- sh -c 'timeout 3 strace -p $PPID -e trace=none 2>&1 | head -n 1; echo traced-$((6*7))' </dev/null
	rm -rf "$dir"
	assert_output --partial 'Operation not permitted'
	assert_output --partial 'traced-42'
}
