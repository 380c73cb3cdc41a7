# Shared set-up for psm's bats tests.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

PSM_BIN=${PSM_BIN:-$BATS_TEST_DIRNAME/../bin}
PATH=$PSM_BIN:$PATH
FIXTURES=$BATS_TEST_DIRNAME/fixtures

# wait_for and free_port, which bench scripts use too.
. "$BATS_TEST_DIRNAME/wait.bash"

# bats-assert 2.1.0 has no assert_stderr: check $stderr from run --separate-stderr.
assert_stderr() {
	if [ "${1:-}" = --partial ]; then
		[[ $stderr == *"$2"* ]] || fail "stderr does not contain '$2': $stderr"
	else
		[ "$stderr" = "$1" ] || fail "stderr is '$stderr', expected '$1'"
	fi
}


# The events of TYPE in a stream (jq is only a test tool here).
events() {
	jq -c --arg t "$2" 'select(.type == $t)' "$1"
}

# A real outer terminal for the tests that need one: a detached tmux server
# of the test's own, stopped in teardown (tmux_stop).
export TERM=${TERM:-xterm}
tmux_start() {	# tmux_start COMMAND: run COMMAND in an 80x24 window
	TMUX_SOCKET="psm-test-$$-${BATS_TEST_NUMBER}"
	tmux -L "$TMUX_SOCKET" -f /dev/null new-session -d -x 80 -y 24 "$1"
}
tmux_keys() { tmux -L "$TMUX_SOCKET" send-keys "$@"; }
tmux_screen() { tmux -L "$TMUX_SOCKET" capture-pane -p; }
tmux_screen_has() { tmux_screen | grep -qF -- "$1"; }
tmux_stop() {
	[ -z "${TMUX_SOCKET:-}" ] || tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
}

# build_late_syscall LIB: a library for LD_PRELOAD that makes a system call
# outside the sandbox's list (getppid) at exit, after the sandbox is in force.
build_late_syscall() {
	command -v cc >/dev/null || skip "no C compiler"
	printf '%s\n' '#include <sys/syscall.h>' '#include <unistd.h>' \
		'__attribute__((destructor)) static void late(void) { syscall(SYS_getppid); }' > "$1.c"
	cc -shared -fPIC -o "$1" "$1.c"
}

# stop_background: kill what a test started in the background (BG_PIDS).
stop_background() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
}


# record_escrowed_read: in tmux, psm-record --escrow auditor.pub -o s.jsonl a bash
# whose read -s takes the secret escrowed-s3cr3t (auditor.key/.pub made here).
record_escrowed_read() {
	psm-keygen -o auditor --no-passphrase
	tmux_start "PS1='ready> ' psm-record --escrow auditor.pub -o s.jsonl -- bash --norc --noprofile; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'ready>'
	tmux_keys "read -s -p 'g''o> ' pw; echo; echo len=\${#pw}" Enter	# "go>" only once read runs
	wait_for 5 tmux_screen_has 'go>'
	tmux_keys 'escrowed-s3cr3t' Enter
	wait_for 5 tmux_screen_has 'len=15'
	tmux_keys 'exit' Enter
	wait_for 5 test -s rc
}
