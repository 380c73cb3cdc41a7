#!/bin/bash
# bench/redact.sh BINDIR: psm-redact, with its default rules, against
# `openssl dgst -sha256` on the same ~100 MB stream, in one run, and a
# check that nothing planted in the stream survives.
#
#   bench/redact.sh bin          (what `make bench` runs)
#
# Environment: RUNS (timed runs of each, 5), SIZE_MB (MB of the large
# stream, 100), SMALL_MB (of the small one, 25), CC (cc).
#
# bench/redactgen.c writes each stream: one output-heavy session (terminal
# output cut into events of up to 4 KiB, typed commands, a few events that
# are not UTF-8) with 3 secrets per MB planted in it: AWS access key ids,
# GitHub tokens, JWTs, PEM private keys, passwords in URLs and card
# numbers, some of them across the boundary of two events (every PEM block,
# every secret typed one key an event), and the list of what it planted.
#
# Before the timed runs, psm-redact's output on each stream is checked: as
# many lines as its input, a stream psm-replay reads, and none of the
# planted strings in it, in its lines or in the bytes that psm-replay
# --raw (and --raw --input) puts back together from its events.
#
# The timed runs alternate: openssl and psm-redact on the large stream,
# then on the small one. Printed: median wall time, MB/s and the largest
# peak RSS of each, and psm-redact's time as a multiple of openssl's.
# Targets: at most 3x openssl's time (stretch: 2x); peak RSS under 16 MiB
# and no larger on the large stream than on the small one (1 MiB allowed):
# memory does not grow with the input.
#
# Exit status: 0 when the benchmark ran, whether or not psm-redact met its
# speed and memory targets (they are printed as PASS or FAIL); 1 when a
# planted secret survived, the output lost or gained lines, or something
# could not run; 2 on a usage error.
set -eu
export LC_ALL=C

prog=bench/redact.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_setup $# "${1-}" psm-redact psm-replay
RUNS=${RUNS:-5}
SIZE_MB=${SIZE_MB:-100}
SMALL_MB=${SMALL_MB:-25}
CC=${CC:-cc}
positive_ints RUNS SIZE_MB SMALL_MB

need "$CC" gcc
# (openssl is in scripts/deps.sh's test group, not its bench group)
command -v openssl >/dev/null 2>&1 || die "openssl: not found (Debian package openssl)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psm-bench.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/redactgen" "$here/redactgen.c" ||
	die "cannot compile $here/redactgen.c"

printf 'psm-redact benchmark: streams of %s and %s MB, %s timed runs of each tool\n' "$SIZE_MB" "$SMALL_MB" "$RUNS"
printf '  host: %s, %s CPUs, Linux %s; %s\n' \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" \
	"$(uname -r)" "$(openssl version)"
for s in large small; do
	if [ $s = large ]; then mb=$SIZE_MB; else mb=$SMALL_MB; fi
	"$tmp/redactgen" $((mb * 1000000)) "$tmp/$s.list" > "$tmp/$s.jsonl" 2> "$tmp/gen" ||
		{ cat "$tmp/gen" >&2; die "redactgen failed"; }
	printf '  %s: %s\n' "$s" "$(sed 's/^redactgen: //' "$tmp/gen")"
done

# check NAME: psm-redact on NAME.jsonl, untimed; its output is checked.
# Prints "planted: N, surviving: M" and sets bad when something is wrong.
bad=
check() {
	local s=$1 in=$tmp/$1.jsonl out=$tmp/$1.out st=0
	"$bindir/psm-redact" --report "$tmp/$s.report" "$in" > "$out" 2> "$tmp/stderr" || st=$?
	if [ "$st" -ne 0 ]; then
		cat "$tmp/stderr" >&2
		die "psm-redact exited with $st on the $s stream (its messages are above)"
	fi
	local lin lout
	lin=$(wc -l < "$in")
	lout=$(wc -l < "$out")
	if [ "$lin" -ne "$lout" ]; then
		printf '%s: %s stream: %s lines in, %s out\n' "$prog" "$s" "$lin" "$lout" >&2
		bad="$bad lines-$s"
	fi
	"$bindir/psm-replay" --raw "$out" > "$tmp/$s.raw" ||
		die "psm-replay --raw cannot read psm-redact's output on the $s stream"
	"$bindir/psm-replay" --raw --input "$out" > "$tmp/$s.rawin" ||
		die "psm-replay --raw --input cannot read psm-redact's output on the $s stream"
	# The list: KIND NUMBER PLACE STRING; the strings, one a line, for grep.
	cut -d' ' -f4- "$tmp/$s.list" > "$tmp/$s.strings"
	cat "$out" "$tmp/$s.raw" "$tmp/$s.rawin" | grep -a -o -F -f "$tmp/$s.strings" |
		sort -u > "$tmp/$s.found" || true
	rm -f "$tmp/$s.raw" "$tmp/$s.rawin"
	awk -v s="$s" -v prog="$prog" '
	FILENAME == ARGV[1] { found[$0] = 1; next }
	{ str = $0; sub(/^[^ ]* [^ ]* [^ ]* /, "", str)
	  if (!($2 in all)) { all[$2] = 1; n++; if (!($1 in kn)) kinds[++nk] = $1; kn[$1]++; pn[$3]++ }
	  if (str in found && !($2 in surv)) { surv[$2] = 1; m++; ks[$1]++; ps[$3]++
	    if (m <= 20) printf "%s: %s stream: survived: %s #%s (%s): %s\n", prog, s, $1, $2, $3, str > "/dev/stderr" } }
	END {
		printf "%s stream: planted: %d, surviving: %d (", s, n, m
		for (i = 1; i <= nk; i++) printf "%s%s %d/%d", (i > 1 ? ", " : ""), kinds[i], ks[kinds[i]], kn[kinds[i]]
		printf "; by place:"
		split("text split b64 paste typed", pl, " ")
		sep = " "
		for (i = 1; i <= 5; i++) if (pn[pl[i]]) { printf "%s%s %d/%d", sep, pl[i], ps[pl[i]], pn[pl[i]]; sep = ", " }
		printf ")\n"
	}' \
		"$tmp/$s.found" "$tmp/$s.list"
	[ ! -s "$tmp/$s.found" ] || bad="$bad survived-$s"
	printf '%s stream: masked (--report): %s\n' "$s" \
		"$(sed -n 's/.*"rules":\({[^}]*}\).*"bytes":\([0-9]*\).*/\1, \2 bytes/p' "$tmp/$s.report")"
}
echo
check large
check small
rm -f "$tmp/large.out" "$tmp/small.out"

# run NAME STREAM COMMAND...: one run, output to /dev/null; appends
# "NAME STREAM wall_usec maxrss_kib" to $tmp/runs.
run() {
	local name=$1 s=$2 t0 t1
	shift 2
	t0=${EPOCHREALTIME/./}
	/usr/bin/time -f '%M' -o "$tmp/time" "$@" > /dev/null 2> "$tmp/stderr" ||
		{ cat "$tmp/stderr" "$tmp/time" >&2; die "$name failed on the $s stream"; }
	t1=${EPOCHREALTIME/./}
	echo "$name $s $((t1 - t0)) $(tail -n 1 "$tmp/time")" >> "$tmp/runs"
}
: > "$tmp/runs"
for _ in $(seq "$RUNS"); do
	for s in large small; do
		run openssl $s openssl dgst -sha256 "$tmp/$s.jsonl"
		run psm-redact $s "$bindir/psm-redact" "$tmp/$s.jsonl"
	done
done

echo
awk -v large="$(wc -c < "$tmp/large.jsonl")" -v small="$(wc -c < "$tmp/small.jsonl")" '
function median(k,   n, i, j, v, w) {
	n = split(times[k], v, " ")
	for (i = 2; i <= n; i++)	# insertion sort: a handful of runs
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { w = v[j]; v[j] = v[j - 1]; v[j - 1] = w }
	return v[int((n + 1) / 2)] / 1e6
}
{ k = $1 " " $2; times[k] = times[k] " " $3; if ($4 > rss[k]) rss[k] = $4 }
END {
	printf "%-11s %-6s %8s %9s %9s %13s %7s\n", "tool", "stream", "MB", "median s", "MB/s", "peak RSS KiB", "ratio"
	split("large small", ss, " ")
	for (i = 1; i <= 2; i++) {
		s = ss[i]; size = s == "large" ? large : small
		base = median("openssl " s)
		t = median("psm-redact " s)
		r[s] = base > 0 ? t / base : 0
		printf "%-11s %-6s %8.1f %9.3f %9.0f %13d %7s\n", "openssl", s, size / 1e6, base,
		    (base > 0 ? size / 1e6 / base : 0), rss["openssl " s], "1.00"
		printf "%-11s %-6s %8.1f %9.3f %9.0f %13d %7.2f\n", "psm-redact", s, size / 1e6, t,
		    (t > 0 ? size / 1e6 / t : 0), rss["psm-redact " s], r[s]
	}
	printf "psm-redact: %.2fx openssl dgst -sha256 (target <= 3.00: %s; stretch <= 2.00: %s)\n",
	    r["large"], (r["large"] <= 3 ? "PASS" : "FAIL"), (r["large"] <= 2 ? "PASS" : "FAIL")
	a = rss["psm-redact large"]; b = rss["psm-redact small"]
	printf "psm-redact: peak RSS %.1f MiB on %.0f MB, %.1f MiB on %.0f MB (target < 16): %s\n",
	    a / 1024, large / 1e6, b / 1024, small / 1e6, (a < 16384 && b < 16384 ? "PASS" : "FAIL")
	printf "psm-redact: peak RSS on %.0f MB - on %.0f MB = %d KiB (target <= 1024, constant in input size): %s\n",
	    large / 1e6, small / 1e6, a - b, (a - b <= 1024 ? "PASS" : "FAIL")
}' "$tmp/runs"

if [ -n "$bad" ]; then
	echo "$prog: FAILED:$bad" >&2
	exit 1
fi
exit 0
