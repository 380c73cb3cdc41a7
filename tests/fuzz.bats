#!/usr/bin/env bats
# The stream reader's fuzz corpus, replayed (under the sanitizers in make check-asan).
load helpers

@test "reader: every input of the fuzz corpus is read without a crash or a leak" {
	replay=$PSM_BIN/../tests/fuzz/replay
	[ -x "$replay" ] || fail "$replay is not built (make check builds it)"
	n=$(ls "$BATS_TEST_DIRNAME"/fuzz/corpus | wc -l)
	[ "$n" -gt 0 ]
	run -0 "$replay" "$BATS_TEST_DIRNAME"/fuzz/corpus/*
	assert_output "$n inputs read"
}
