#!/usr/bin/env bats
# No leaks and no invalid accesses under valgrind on the main paths
# (make check; make check-asan covers the whole suite with LeakSanitizer).
load helpers

setup() {
	[ -z "${PSM_SANITIZED:-}" ] || skip "valgrind cannot run sanitizer builds"
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	cd "$BATS_TEST_TMPDIR"
}

vg() {
	valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$@"
}

@test "valgrind: psm-record on a PTY, with input, leaks nothing" {
	run -3 sh -c "printf 'echo hi\nexit 3\n' | valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 '$PSM_BIN/psm-record' -o s.jsonl -- sh"
	refute_output --partial '=='
}

@test "valgrind: psm-record --no-pty and --fail-open leak nothing" {
	run -0 vg "$PSM_BIN/psm-record" --no-pty -o s.jsonl -- sh -c 'echo x; echo y >&2' </dev/null
	run -0 vg "$PSM_BIN/psm-record" --fail-open -o /dev/full -- true </dev/null
	run -4 vg "$PSM_BIN/psm-record" -o /dev/full -- true </dev/null
	refute_output --partial '=='
}

# Valgrind has no seccomp(2) (libseccomp cannot set up a filter under it):
# the sandboxed commands run with --no-sandbox here. The sandbox has its
# own tests, and check-asan runs the whole suite with the filter loaded.
@test "valgrind: psm-replay's modes leak nothing, on good and bad input" {
	psm-record -o s.jsonl -- sh -c 'echo one; printf "\377\n"' </dev/null >/dev/null
	psm-record -o s.jsonl -- sh -c 'echo two' </dev/null >/dev/null
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --list s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --max-wait 0 s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --raw s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --raw --input - < s.jsonl
	run -0 vg "$PSM_BIN/psm-replay" --no-sandbox --follow s.jsonl
	printf '{"sid":1}\n' >> s.jsonl
	run -3 vg "$PSM_BIN/psm-replay" --no-sandbox --raw s.jsonl
	run -3 vg "$PSM_BIN/psm-replay" --no-sandbox --list s.jsonl
	refute_output --partial '=='
}
