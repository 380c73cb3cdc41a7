#!/bin/bash
# bench/grant.sh BINDIR: what grants cost, in one run.
#  - psm-verify --ca against psm-verify alone (the anchor) on the same
#    ~100 MB sealed stream of six sessions under a grant: median of RUNS
#    (default 5) and peak RSS. Target: --ca at most 1.10x, RSS under 8 MiB.
#  - psm-grant issue (policy, two approvals, an SSH certificate) and
#    check: median milliseconds of 20 runs, against psm-keygen --help as
#    the cost of starting a program. Target: issue under 50 ms.
#  - revocation: from psm-grant revoke's start until psm-record, running a
#    session under the grant, has ended it: median of 5. Target: 2 s.
set -eu
prog=bench/grant.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_setup $# "${1:-}" psm-grant psm-record psm-seal psm-verify psm-keygen
runs=${RUNS:-5}
positive_ints runs
need ssh-keygen openssh-client
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT INT TERM
cd "$work"

for k in ca ann bob host; do "$bindir/psm-keygen" -o "$k" --id "$k" --no-passphrase; done
ssh-keygen -q -t ed25519 -N '' -f user
printf 'ann security ann.pub\nbob dba bob.pub\n' > approvers
echo '{allow: true, approvals: 2, groups: ["security", "dba"], max_ttl: 86400}' > two.jq
"$bindir/psm-grant" request --role dba --target "$(hostname)" --ttl 1d --reason bench > req.json
"$bindir/psm-grant" approve -k ann.key req.json | "$bindir/psm-grant" approve -k bob.key > approved.json
"$bindir/psm-grant" issue -k ca.key --policy two.jq --approvers approvers approved.json > grant.json

# The stream of bench/seal.sh, each session under the grant.
awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++) {
	if (i % 50 == 0) printf "\033[1;34m==> step %d\033[0m\n", i
	else if (i % 7 == 0) printf "  CC  lib/file%04d.o  \342\234\223 %s\n", i % 977, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + i % 20)
	else printf "%08d %s \033[32mOK\033[0m %d ms caf\303\251\n", i, "the quick brown fox jumps over the lazy dog", int(rand() * 1000)
} }' > out.txt
for _ in 1 2 3 4 5 6; do
	"$bindir/psm-record" --grant grant.json --ca ca.pub -o stream.jsonl -- sh -c "stty -opost; cat out.txt" \
		</dev/null >/dev/null 2>&1
done
"$bindir/psm-seal" -k host.key stream.jsonl > sealed.jsonl
"$bindir/psm-verify" -p host.pub --ca ca.pub sealed.jsonl >/dev/null
size=$(wc -c < sealed.jsonl)

# measure NAME COMMAND...: "NAME median-seconds peak-RSS-KiB" into results.
measure() {
	local name=$1 i
	shift
	: > times
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f '%e %M' -o one "$@" >/dev/null
		cat one >> times
	done
	sort -n times | awk -v n="$name" '{ t[NR] = $1; if ($2 > m) m = $2 }
		END { printf "%s %s %d\n", n, t[int((NR + 1) / 2)], m }' >> results
}
: > results
measure psm-verify "$bindir/psm-verify" -p host.pub sealed.jsonl
measure psm-verify--ca "$bindir/psm-verify" -p host.pub --ca ca.pub sealed.jsonl
awk -v size="$size" '{ name[NR] = $1; t[NR] = $2; rss[NR] = $3 }
END {
	printf "sealed stream: %.1f MB, 6 sessions under a grant\n", size / 1e6
	printf "%-16s %9s %8s %13s\n", "tool", "seconds", "MB/s", "peak RSS KiB"
	for (i = 1; i <= NR; i++)
		printf "%-16s %9.3f %8.0f %13d\n", name[i], t[i], size / 1e6 / t[i], rss[i]
	r = t[2] / t[1]
	printf "psm-verify --ca: %.2fx psm-verify (target <= 1.10): %s\n", r, (r <= 1.10 ? "PASS" : "FAIL")
	printf "psm-verify --ca: peak RSS %.1f MiB (target < 8): %s\n", rss[2] / 1024, (rss[2] < 8192 ? "PASS" : "FAIL")
}' results

# ms_median COMMAND...: the median wall time of 20 runs, in milliseconds.
ms_median() {
	local i
	for ((i = 0; i < 20; i++)); do
		local t0=$(date +%s%N)
		"$@" >/dev/null 2>&1 || true
		echo $(( ($(date +%s%N) - t0) / 1000 ))
	done | sort -n | awk '{ t[NR] = $1 } END { printf "%.1f", t[10] / 1000 }'
}
start=$(ms_median "$bindir/psm-keygen" --help)
issue=$(ms_median "$bindir/psm-grant" issue -k ca.key --policy two.jq --approvers approvers \
	--ssh-pubkey user.pub --ssh-ca host.key approved.json)
check=$(ms_median "$bindir/psm-grant" check --ca ca.pub grant.json)
echo "psm-grant issue with an SSH certificate: $issue ms, check: $check ms (a program's start: $start ms)"
awk -v t="$issue" 'BEGIN { printf "psm-grant issue: %s ms (target < 50): %s\n", t, (t < 50 ? "PASS" : "FAIL") }'

# One revocation: a session under a fresh grant, revoked; milliseconds until it has ended.
revoke_once() {
	"$bindir/psm-grant" issue -k ca.key --policy two.jq --approvers approvers approved.json > g.json
	: > revoked
	"$bindir/psm-record" --grant g.json --ca ca.pub --revoked revoked -o r.jsonl -- sleep 60 \
		</dev/null >/dev/null 2>&1 &
	local pid=$!
	pids=("$pid")
	until grep -qs '"type":"start"' r.jsonl; do sleep 0.05; done
	sleep 1.2	# past a check of the list, so that the next one is a whole period away at most
	local t0=$(date +%s%N)
	"$bindir/psm-grant" revoke -k ca.key --list revoked g.json
	wait "$pid" || true
	echo $(( ($(date +%s%N) - t0) / 1000000 ))
	rm -f r.jsonl
}
for _ in 1 2 3 4 5; do revoke_once; done | sort -n |
	awk '{ t[NR] = $1 } END { printf "revocation to the end of the session: median %d ms, at most %d ms (target <= 2000): %s\n",
		t[3], t[NR], (t[NR] <= 2000 ? "PASS" : "FAIL") }'
