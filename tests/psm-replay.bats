#!/usr/bin/env bats
# psm-replay: play a recorded session back.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "psm-replay: --raw gives back the recorded output" {
	psm-record -o s.jsonl -- sh -c 'stty -opost; printf "one\ntwo\n"' </dev/null >/dev/null
	run -0 psm-replay --raw s.jsonl
	assert_output $'one\ntwo'
}
