#!/bin/sh
# tests/run.sh BINDIR: run every bats file against the executables in BINDIR.
# The last line is "N passed, N failed, N skipped"; the exit status is 0 when none failed.
set -u
cd "$(dirname "$0")/.." || exit 4
PSM_BIN=$(cd "${1:-bin}" && pwd) || exit 4
export PSM_BIN
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bats --tap tests/*.bats | tee "$log"
planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n 1)
skipped=$(grep -c '^ok .* # skip' "$log")
passed=$(( $(grep -c '^ok ' "$log") - skipped ))
failed=$(grep -c '^not ok ' "$log")
# A run that stopped early did not pass the tests it never reached.
missing=$(( ${planned:-0} - passed - skipped - failed ))
[ "$missing" -gt 0 ] && failed=$(( failed + missing ))
[ -n "$planned" ] || failed=$(( failed + 1 ))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
