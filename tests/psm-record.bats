#!/usr/bin/env bats
# psm-record: capture a session into the psm stream.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "psm-record: the command's exit status is passed through" {
	run -7 psm-record -o s.jsonl -- sh -c 'exit 7' </dev/null
	run jq -r 'select(.type == "end") | "\(.reason) \(.exit)"' s.jsonl
	assert_output 'exit 7'
}
