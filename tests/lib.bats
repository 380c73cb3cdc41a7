#!/usr/bin/env bats
# The library's tests in C (tests/lib/test-*.c, built by make check next to
# $PSM_BIN: $PSM_BIN/../tests/lib/test-*), one @test per program. A program
# prints file:line and what failed to stderr and exits 1.
# A new tests/lib/test-NAME.c needs one line here:
#	@test "lib: NAME: what it covers" { run_libtest test-NAME; }
load helpers

LIBTESTS=$PSM_BIN/../tests/lib

# run_libtest NAME: run it; on failure show what it printed (file:line of each failed check).
run_libtest() {
	[ -x "$LIBTESTS/$1" ] || fail "$LIBTESTS/$1 is not built (make libtests builds it)"
	run "$LIBTESTS/$1"
	[ "$status" -eq 0 ] || fail "$1 exited with status $status:"$'\n'"$output"
}

@test "lib: error: psm_fail, psm_fail_errno, psm_error_prefix, psm_exit_status, psm_quote" { run_libtest test-error; }
@test "lib: table: many ids, removal inside probe runs, bounded slots" { run_libtest test-table; }
@test "lib: session: order rules, a million sessions in bounded memory" { run_libtest test-session; }
@test "lib: b64: canonical base64 only, RFC 4648 vectors, the caller's capacity" { run_libtest test-b64; }
@test "lib: reader: malformed lines named, over-long and unfinished lines" { run_libtest test-reader; }
@test "lib: loop: timers in order, sources polled when wanted, signals, removal mid-round, poll failures returned" { run_libtest test-loop; }
@test "lib: record: bad session id refused, write failures reported, a lost start written again" { run_libtest test-record; }
@test "lib: prompt: password prompts of sudo, ssh, passwd and PAM recognised, shell prompts not; the current line in any chunking, bounded; added patterns" { run_libtest test-prompt; }
@test "lib: escrow: a round trip, another key refused, a cut or changed box refused, the key's id" { run_libtest test-escrow; }
@test "lib: redact: the checks and entropy; rule files' errors by line; built-in secrets masked in any split, live or after close, escape sequences and UTF-8 kept whole; prompt answers; blocks" { run_libtest test-redact; }
@test "lib: term: requests and control strings dropped, the screen's sequences kept, any split, bounded, visible input" { run_libtest test-term; }
@test "lib: syslog: RFC 5424 messages exact, NILVALUE, header fields printable and cut, SD values escaped, MSG byte for byte, the header's length, the longest message" { run_libtest test-syslog; }
@test "lib: sink-pg: URLs with a password refused unechoed, where, lines a text column cannot hold, the password file checked, a silent server bounded by the timeout" { run_libtest test-sink-pg; }
@test "lib: ship-state: saved, read back, locked, refused when malformed; a rotation found by inode, a copytruncate by the last line's hash, a file gone; sealed streams counted; durations in ms" { run_libtest test-ship-state; }
@test "lib: sshcert: OpenSSH public key lines written and read back, malformed ones refused; a certificate with an empty window or extensions out of order refused (ssh-keygen reads the others: sshcert.bats)" { run_libtest test-sshcert; }
@test "lib: policy: a jq program's decision; FILE:LINE of one that does not compile; a run that fails, gives nothing or not an object; an input that is not JSON" { run_libtest test-policy; }
@test "lib: grant: grants written and read back, another CA or a changed byte refused, the window and host rules, grant files and revocation lists by FILE:LINE; each session's grant and window in a stream; RFC 3339 with microseconds read" { run_libtest test-grant; }

@test "lib: every tests/lib/test-*.c has its @test in lib.bats" {
	for src in "$BATS_TEST_DIRNAME"/lib/test-*.c; do
		name=$(basename "$src" .c)
		grep -q "run_libtest $name;" "$BATS_TEST_FILENAME" || fail "$name has no @test in tests/lib.bats"
	done
}
