# Shared set-up for psm's bats tests.
bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

PSM_BIN=${PSM_BIN:-$BATS_TEST_DIRNAME/../bin}
PATH=$PSM_BIN:$PATH
FIXTURES=$BATS_TEST_DIRNAME/fixtures

# bats-assert 2.1.0 has no assert_stderr: check $stderr from run --separate-stderr.
assert_stderr() {
	if [ "${1:-}" = --partial ]; then
		[[ $stderr == *"$2"* ]] || fail "stderr does not contain '$2': $stderr"
	else
		[ "$stderr" = "$1" ] || fail "stderr is '$stderr', expected '$1'"
	fi
}

# wait_for TIMEOUT_SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local deadline=$(( SECONDS + $1 ))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# The events of TYPE in a stream (jq is only a test tool here).
events() {
	jq -c --arg t "$2" 'select(.type == $t)' "$1"
}
