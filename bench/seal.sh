#!/bin/sh
# bench/seal.sh BINDIR: psm-seal and psm-verify against `openssl dgst -sha256`
# on the same ~100 MB stream, in one run. Prints median wall time over
# RUNS runs (default 5), peak RSS, and the ratios to the hash alone.
# Targets: each at most 2x openssl's time; peak RSS under 8 MiB.
set -eu
bin=$(cd "${1:-bin}" && pwd)
runs=${RUNS:-5}
for tool in openssl /usr/bin/time awk; do
	command -v "$tool" >/dev/null || { echo "bench/seal.sh: $tool is missing (scripts/deps.sh bench)" >&2; exit 4; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Terminal-like output (colours, UTF-8, long and short lines), recorded
# by psm-record six times into one stream of about 100 MB.
awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++) {
	if (i % 50 == 0) printf "\033[1;34m==> step %d\033[0m\n", i
	else if (i % 7 == 0) printf "  CC  lib/file%04d.o  \342\234\223 %s\n", i % 977, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + i % 20)
	else printf "%08d %s \033[32mOK\033[0m %d ms caf\303\251\n", i, "the quick brown fox jumps over the lazy dog", int(rand() * 1000)
} }' > "$work/out.txt"
for _ in 1 2 3 4 5 6; do
	"$bin/psm-record" -o "$work/stream.jsonl" -- sh -c "stty -opost; cat '$work/out.txt'" </dev/null >/dev/null
done
"$bin/psm-keygen" -o "$work/k" --no-passphrase
"$bin/psm-seal" -k "$work/k.key" "$work/stream.jsonl" > "$work/sealed.jsonl"
"$bin/psm-verify" -p "$work/k.pub" "$work/sealed.jsonl" >/dev/null
size=$(wc -c < "$work/stream.jsonl")

# measure NAME COMMAND...: median seconds and the largest peak RSS (KiB).
measure() {
	name=$1
	shift
	: > "$work/times"
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -f '%e %M' -o "$work/one" "$@" >/dev/null
		cat "$work/one" >> "$work/times"
		i=$((i + 1))
	done
	sort -n "$work/times" | awk -v n="$name" '{ t[NR] = $1; if ($2 > m) m = $2 }
		END { printf "%s %s %d\n", n, t[int((NR + 1) / 2)], m }' >> "$work/results"
}
: > "$work/results"
measure openssl openssl dgst -sha256 "$work/stream.jsonl"
measure psm-seal "$bin/psm-seal" -k "$work/k.key" "$work/stream.jsonl"
measure psm-verify "$bin/psm-verify" -p "$work/k.pub" "$work/sealed.jsonl"

awk -v size="$size" '
{ name[NR] = $1; t[NR] = $2; rss[NR] = $3 }
END {
	printf "stream: %.1f MB\n", size / 1e6
	printf "%-12s %10s %10s %12s %8s\n", "tool", "seconds", "MB/s", "peak RSS KiB", "ratio"
	for (i = 1; i <= NR; i++)
		printf "%-12s %10.3f %10.0f %12d %8.2f\n", name[i], t[i], (t[i] > 0 ? size / 1e6 / t[i] : 0), rss[i], (t[1] > 0 ? t[i] / t[1] : 0)
	for (i = 2; i <= NR; i++) {
		printf "%s: %.2fx openssl dgst (target <= 2.00): %s\n", name[i], t[i] / t[1], (t[i] <= 2 * t[1] ? "PASS" : "FAIL")
		printf "%s: peak RSS %.1f MiB (target < 8): %s\n", name[i], rss[i] / 1024, (rss[i] < 8192 ? "PASS" : "FAIL")
	}
}' "$work/results"

# Many sessions: 1,000,000 short sessions (start, out, end) in one
# stream, and one session of as many lines, the same bytes: each group of
# three lines is padded (in its out event's text) to the length of the
# other file's. Readers that found sessions by a linear search, or kept
# ended ones, were quadratic in the first. Targets: each tool on the
# many-sessions file within 1.5x its time on the one-session file, peak
# RSS under 8 MiB on both.
SESSIONS=${SESSIONS:-1000000}
awk -v n="$SESSIONS" -v many="$work/many.jsonl" -v one="$work/one.jsonl" '
function pad(k) { return substr("................................................................", 1, k) }
BEGIN { sid1 = "00000000-0000-4000-8000-000000000000"; last = 3 * n - 1
	for (i = 0; i < n; i++) {
		sid = sprintf("%08x-0000-4000-8000-%012d", i, i)
		m1 = sprintf("{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"user\":\"ci\"}", sid)
		m2a = sprintf("{\"sid\":\"%s\",\"seq\":1,\"t\":10,\"type\":\"out\",\"data\":\"deploy %06d ok", sid, i % 1000000)
		m3 = sprintf("{\"sid\":\"%s\",\"seq\":2,\"t\":20,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":20}", sid)
		for (k = 0; k < 3; k++) {
			s = 3 * i + k
			if (s == 0) o[k] = sprintf("{\"sid\":\"%s\",\"seq\":0,\"t\":0,\"type\":\"start\",\"user\":\"ci\"}", sid1)
			else if (s == last) o[k] = sprintf("{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"end\",\"reason\":\"exit\",\"exit\":0,\"duration\":%d}", sid1, s, s, s)
			else o[k] = "out"
		}
		# the one-session group: out events whose text takes up the difference
		fixed = length(m1) + length(m2a) + length("\\r\\n\"}") + length(m3)
		used = 0; nout = 0
		for (k = 0; k < 3; k++) if (o[k] != "out") used += length(o[k]); else nout++
		base = sprintf("{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"x\"}", sid1, 3 * i, 3 * i)
		for (k = 0; k < 3; k++) if (o[k] == "out") used += length(sprintf("{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"\"}", sid1, 3 * i + k, 3 * i + k))
		extra = fixed - used	# bytes of text for the one-session outs
		if (extra < nout) { mp = nout - extra; extra = nout } else mp = 0
		print m1 > many; print m2a pad(mp) "\\r\\n\"}" > many; print m3 > many
		for (k = 0; k < 3; k++) {
			if (o[k] != "out") { print o[k] > one; continue }
			t = int(extra / nout) + (k == 2 || (k == 1 && o[2] != "out") ? extra % nout : 0)
			printf "{\"sid\":\"%s\",\"seq\":%d,\"t\":%d,\"type\":\"out\",\"data\":\"%s\"}\n", sid1, 3 * i + k, 3 * i + k, substr(pad(64) pad(64), 1, t) > one
		}
	} }'
"$bin/psm-seal" -k "$work/k.key" "$work/many.jsonl" > "$work/many.sealed.jsonl"
"$bin/psm-seal" -k "$work/k.key" "$work/one.jsonl" > "$work/one.sealed.jsonl"
: > "$work/results"
measure seal-one "$bin/psm-seal" -k "$work/k.key" "$work/one.jsonl"
measure seal-many "$bin/psm-seal" -k "$work/k.key" "$work/many.jsonl"
measure verify-one "$bin/psm-verify" -p "$work/k.pub" "$work/one.sealed.jsonl"
measure verify-many "$bin/psm-verify" -p "$work/k.pub" "$work/many.sealed.jsonl"
awk -v one="$(wc -c < "$work/one.jsonl")" -v many="$(wc -c < "$work/many.jsonl")" -v n="$SESSIONS" '
{ name[NR] = $1; t[NR] = $2; rss[NR] = $3 }
END {
	printf "\n%d sessions in one stream (%.1f MB) against one session of as many lines and bytes (%.1f MB)\n", n, many / 1e6, one / 1e6
	printf "%-12s %10s %10s %12s\n", "tool", "seconds", "MB/s", "peak RSS KiB"
	for (i = 1; i <= NR; i++) {
		size = name[i] ~ /many/ ? many : one
		printf "%-12s %10.3f %10.0f %12d\n", name[i], t[i], (t[i] > 0 ? size / 1e6 / t[i] : 0), rss[i]
	}
	for (i = 1; i <= NR; i += 2) {
		r = t[i] > 0 ? t[i + 1] / t[i] : 0
		tool = name[i]; sub(/-one$/, "", tool)
		printf "psm-%s: many sessions %.2fx the time of one session (target <= 1.50): %s\n", tool, r, (r <= 1.5 ? "PASS" : "FAIL")
		printf "psm-%s: peak RSS %.1f / %.1f MiB (target < 8): %s\n", tool, rss[i] / 1024, rss[i + 1] / 1024, (rss[i] < 8192 && rss[i + 1] < 8192 ? "PASS" : "FAIL")
	}
}' "$work/results"
