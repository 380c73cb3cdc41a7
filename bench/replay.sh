#!/bin/sh
# bench/replay.sh BINDIR: psm-replay --raw and --list on streams of 100,000
# and 200,000 short sessions (a start, one out event, an end), in two
# layouts: "in turn" (each session ends before the next starts) and
# "all open" (every start, then every out event, then every end: each
# lookup of a session has the whole stream's sessions to look among).
# Prints the median CPU time (user + system: other work on the machine
# moves it less than the wall time) and wall time over RUNS runs (default
# 5), the peak RSS, and the ratio of the CPU time for 200,000 sessions to
# that for 100,000: about 2 when the time is linear (target at most 2.5).
set -eu
bin=$(cd "${1:-bin}" && pwd)
runs=${RUNS:-5}
for tool in /usr/bin/time awk; do
	command -v "$tool" >/dev/null || { echo "bench/replay.sh: $tool is missing (scripts/deps.sh bench)" >&2; exit 4; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# sessions N LAYOUT: a stream of N sessions on stdout.
sessions() {
	awk -v n="$1" -v layout="$2" '
	function sid(i) { return sprintf("%08x-0000-4000-8000-%012x", i, i) }
	function start(i) {
		printf "{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"version\":1," \
		    "\"time\":\"2026-01-02T03:04:05.000000Z\",\"user\":\"u%d\",\"host\":\"h%d\"}\n", sid(i), i % 97, i % 13
	}
	function out(i) { printf "{\"sid\":\"%s\",\"seq\":1,\"t\":%d,\"type\":\"out\",\"data\":\"line %d\\r\\n\"}\n", sid(i), 1000 + i % 1000, i }
	function end(i) {
		printf "{\"sid\":\"%s\",\"seq\":2,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":%d}\n", sid(i), 5000 + i % 1000, 5000 + i % 1000
	}
	BEGIN {
		if (layout == "in-turn") {
			for (i = 0; i < n; i++) { start(i); out(i); end(i) }
		} else {
			for (i = 0; i < n; i++) start(i)
			for (i = 0; i < n; i++) out(i)
			for (i = 0; i < n; i++) end(i)
		}
	}'
}

# median: the middle of the numbers on standard input.
median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# once N LAYOUT MODE: one run, its "user system wall RSS" added to times-N.
once() {
	/usr/bin/time -f '%U %S %e %M' -o "$work/one" "$bin/psm-replay" "$3" "$work/$2-$1.jsonl" >/dev/null
	cat "$work/one" >> "$work/times-$1"
}

# result N LAYOUT MODE: median CPU and wall seconds, the largest peak RSS (KiB).
result() {
	echo "$1 $2 $3 $(awk '{ print $1 + $2 }' "$work/times-$1" | median)" \
	    "$(awk '{ print $3 }' "$work/times-$1" | median)" \
	    "$(awk '{ print $4 }' "$work/times-$1" | sort -n | tail -n 1)" >> "$work/results"
}

: > "$work/results"
for layout in in-turn all-open; do
	for n in 100000 200000; do
		sessions "$n" "$layout" > "$work/$layout-$n.jsonl"
		# A check that the stream is valid and complete, not timed.
		[ "$("$bin/psm-replay" --list "$work/$layout-$n.jsonl" | wc -l)" -eq "$n" ] ||
			{ echo "bench/replay.sh: psm-replay --list does not list $n sessions" >&2; exit 1; }
	done
	for mode in --raw --list; do
		# The two sizes in turns, so that other work on the machine weighs on both.
		: > "$work/times-100000"
		: > "$work/times-200000"
		i=0
		while [ "$i" -lt "$runs" ]; do
			once 100000 "$layout" "$mode"
			once 200000 "$layout" "$mode"
			i=$((i + 1))
		done
		result 100000 "$layout" "$mode"
		result 200000 "$layout" "$mode"
	done
done

awk '
{ key = $2 " " $3; cpu[key, $1] = $4; wall[key, $1] = $5; rss[key, $1] = $6
  if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
END {
	printf "%-9s %-7s %-24s %-24s %6s\n", "", "", "100,000 sessions", "200,000 sessions", "ratio"
	printf "%-9s %-7s %7s %7s %8s  %7s %7s %8s  %6s\n", "layout", "mode",
	    "CPU s", "wall s", "RSS KiB", "CPU s", "wall s", "RSS KiB", "CPU"
	fail = 0
	for (i = 1; i <= k; i++) {
		key = order[i]
		split(key, f, " ")
		a = cpu[key, 100000]; b = cpu[key, 200000]
		r = a > 0 ? b / a : 0
		printf "%-9s %-7s %7.2f %7.2f %8d  %7.2f %7.2f %8d  %6.2f\n", f[1], f[2],
		    a, wall[key, 100000], rss[key, 100000], b, wall[key, 200000], rss[key, 200000], r
		if (r > 2.5) fail = 1
	}
	printf "CPU time for 200,000 / for 100,000 sessions (target <= 2.50; linear is about 2): %s\n",
	    fail ? "FAIL" : "PASS"
}' "$work/results"
