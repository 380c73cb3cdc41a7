#!/bin/bash
# bench/ship.sh BINDIR: psm-ship's throughput to each kind of destination,
# against a raw copy of the same bytes to the same receiver, and its peak
# RSS with a large backlog, in one run.
#
#   bench/ship.sh bin          (what `make bench` runs)
#
# Environment: RUNS (timed runs of each, 3; the best is kept), LINES (events
# of the stream, 200000), BACKLOG (lines of the backlog for the memory runs,
# 1000000), PG_FSYNC (the PostgreSQL server's fsync, on), CC (cc).
#
# bench/shipgen.c writes the stream: 12 sessions open at a time, their
# lines interleaved as in one host's file (start, typed commands, their
# output with colours and UTF-8, resizes, end), 95 to 480 bytes a line,
# about 225 on average.
#
# The receivers are those of the tests (tests/rsyslog.bash: a real rsyslogd
# on 127.0.0.1, on a free port, with its own directory, that writes each MSG
# to its file messages; tests/postgres.bash: a throwaway PostgreSQL server),
# never the machine's own. Each timed run has a receiver started afresh with
# no messages, psm-ship a fresh --state directory and its default sandbox.
#
#   syslog+tcp, syslog+tls, relp: psm-ship is timed from its start until
#   the receiver has written every message (its file messages is the stream,
#   byte for byte: checked after each run), that is until that file is as
#   long as the stream: shipgen run looks at its size every millisecond,
#   where rsyslog_count's wc -l of 45 MB every 50 ms (20 ms each) would take
#   a third of a core from the receiver. The anchor is the receiver's own
#   limit: the same bytes, pre-framed, copied by socat to the same receiver
#   started afresh, timed the same way. The frames are those psm-ship sends:
#   captured once by shipping the stream to `socat -u TCP-LISTEN`. For tcp,
#   that file of octet-counted RFC 5424 frames ("LEN SP MSG") through
#   `socat -u` to imtcp; for tls, the same frames through socat's OPENSSL
#   (the same OpenSSL, the same CA) to imtcp over TLS; for relp, the same
#   messages as one RELP session (open, a "syslog" command each, close:
#   shipgen relp) that socat writes all at once, reading the answers to
#   /dev/null but never waiting for them, to imrelp: what imrelp takes with
#   no window at all, where psm-ship waits for the 200 of each message
#   (1024 in flight at most) before its state moves past a batch.
#   Target: psm-ship at least half the raw copy's lines/s.
#
#   postgresql: psm-ship into a fresh database of the server (fsync on by
#   default), with the default --batch (5000; the target) and with --batch 1000, timed
#   until it exits (every batch committed); rows counted after.
#   Target: 100,000 lines/s.
#
#   file: psm-ship to a fresh file store, timed until it exits (each batch
#   fsync'd, then its state), against `cat STREAM >> STORE; sync STORE`
#   (one fsync): informational, no target.
#
#   Peak RSS (/usr/bin/time -f %M) of psm-ship: the largest over the timed
#   runs of LINES lines, and one run of a BACKLOG-line stream (the same
#   generator) to file:, relp and postgresql. Targets: under 16 MiB, and no
#   more than 1 MiB larger with the large backlog: memory does not grow with
#   the backlog.
#
# The runs of one round alternate anchor and psm-ship for each destination;
# RUNS rounds, and the best (shortest) time of each is kept: on a shared
# machine what other work does only ever slows a run down. The CPU time of
# psm-ship (user + system) is that of the same run.
#
# Exit status: 0 when the benchmark ran, whether or not psm-ship met its
# targets (they are printed as PASS or FAIL); 1 when a receiver did not get
# the stream byte for byte, or something could not run; 2 on a usage error.
set -eu
export LC_ALL=C

prog=bench/ship.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_setup $# "${1-}" psm-ship
RUNS=${RUNS:-3}
LINES=${LINES:-200000}
BACKLOG=${BACKLOG:-1000000}
CC=${CC:-cc}
positive_ints RUNS LINES BACKLOG
export PG_FSYNC=${PG_FSYNC:-on}

need "$CC" gcc
need socat socat
need openssl openssl

# tests/rsyslog.bash and tests/postgres.bash are plain bash; what they take
# from bats and tests/helpers.bash (which only loads under bats) is this,
# and tests/wait.bash:
BG_PIDS=()
. "$here/../tests/wait.bash"
skip() { die "$*"; }
. "$here/../tests/rsyslog.bash"
. "$here/../tests/postgres.bash"
rsyslog_available ||
	die "rsyslogd with imtcp, imrelp and lmnsd_ossl: not found (Debian packages rsyslog rsyslog-relp rsyslog-openssl)"
for p in initdb postgres pg_isready psql createdb dropdb; do
	[ -x "$PG_BIN/$p" ] || die "$PG_BIN/$p: not found (Debian package postgresql)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psm-bench.XXXXXX") || die "cannot make a temporary directory"
capture_pid=
RSYSLOG_PID=
# receiver_stop: the rsyslogd running, if any, stopped (its pid forgotten: never signalled again).
receiver_stop() {
	rsyslog_stop
	RSYSLOG_PID=
}
cleanup() {
	[ -z "$capture_pid" ] || kill "$capture_pid" 2>/dev/null || true
	receiver_stop 2>/dev/null || true
	[ -z "${PG_DIR:-}" ] || pg_teardown >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/shipgen" "$here/shipgen.c" ||
	die "cannot compile $here/shipgen.c"
gen=$tmp/shipgen

# ---- the streams, and the frames psm-ship sends ----

"$gen" events "$LINES" > "$tmp/events.jsonl" 2> "$tmp/gen" || { cat "$tmp/gen" >&2; die "shipgen failed"; }
"$gen" events "$BACKLOG" > "$tmp/backlog.jsonl" 2> "$tmp/gen-backlog" ||
	{ cat "$tmp/gen-backlog" >&2; die "shipgen failed"; }
size=$(wc -c < "$tmp/events.jsonl")
backlog_size=$(wc -c < "$tmp/backlog.jsonl")

printf 'psm-ship benchmark: %s lines, best of %s runs\n' "$LINES" "$RUNS"
printf '  host: %s, %s CPUs, Linux %s\n' \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" "$(uname -r)"
printf '  %s; PostgreSQL %s (fsync %s); %s; %s\n' \
	"$("$RSYSLOGD" -v | sed -n '1s/ (aka.*//; 1s/  */ /p')" "$("$PG_BIN/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/')" \
	"$PG_FSYNC" "$(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p')" \
	"$(openssl version | cut -d' ' -f1-2)"
printf '  load average at the start: %s (other work on the machine slows the runs)\n' \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf '  stream: %s\n' "$(sed 's/^shipgen: //' "$tmp/gen")"
printf '  backlog: %s\n' "$(sed 's/^shipgen: //' "$tmp/gen-backlog")"

# ship_capture: what psm-ship sends to syslog+tcp, into frames.bin.
capture_port=$(free_port) || die "no free port"
socat -u "TCP-LISTEN:$capture_port,bind=127.0.0.1,reuseaddr" "OPEN:$tmp/frames.bin,creat,trunc" &
capture_pid=$!
if command -v ss >/dev/null; then
	wait_for 10 eval "ss -Hltn 'sport = :$capture_port' | grep -q ." || die "socat did not listen"
fi	# (else psm-ship's retries wait for it)
"$bindir/psm-ship" --state "$tmp/state-capture" --to "syslog+tcp://127.0.0.1:$capture_port" \
	"$tmp/events.jsonl" || die "psm-ship could not ship to socat"
wait "$capture_pid" || die "socat (the capture) failed"
capture_pid=
"$gen" relp < "$tmp/frames.bin" > "$tmp/relp.bin" 2> "$tmp/gen-relp" ||
	{ cat "$tmp/gen-relp" >&2; die "the frames psm-ship sent are not LEN SP MSG"; }
grep -q "^shipgen: $LINES RELP" "$tmp/gen-relp" || die "captured: $(cat "$tmp/gen-relp"), not $LINES frames"
printf '  frames: %s bytes of octet-counted RFC 5424 (%s RELP)\n' \
	"$(wc -c < "$tmp/frames.bin")" "$(wc -c < "$tmp/relp.bin")"

# ---- timing ----

: > "$tmp/runs"
export RSYSLOG_CA=$tmp/ca

# receiver MODE: a fresh rsyslogd in MODE (tcp, tls, relp), no messages yet.
receiver() {
	receiver_stop
	rm -rf "$tmp/rsyslog"
	rsyslog_start "$1" "$tmp/rsyslog" > "$tmp/rsyslog-start" 2>&1 ||
		{ cat "$tmp/rsyslog-start" >&2; die "rsyslogd did not start in $1 mode"; }
}

# timed DEST TOOL LINES WAITFILE WAITBYTES COMMAND...: run COMMAND under
# /usr/bin/time; the time until WAITFILE holds WAITBYTES bytes (or, with
# WAITFILE -, until COMMAND exits). Appends "DEST TOOL LINES usec rss_kib
# cpu_s" to runs.
timed() {
	local dest=$1 tool=$2 lines=$3 file=$4 bytes=$5 w x st usec
	shift 5
	if ! "$gen" run "$tmp/result" "$file" "$bytes" 300 \
	    /usr/bin/time -f '%M %U %S' -o "$tmp/time" "$@" > "$tmp/out" 2>&1; then
		cat "$tmp/out" >&2
		die "$tool to $dest failed (its messages are above)"
	fi
	read -r w x st < "$tmp/result"
	usec=$x
	[ "$file" = - ] || usec=$w
	echo "$dest $tool $lines $usec $(awk '{ printf "%d %.3f", $1, $2 + $3 }' "$tmp/time")" >> "$tmp/runs"
}

# same STREAM FILE WHAT: FILE is STREAM, byte for byte, or the run failed.
same() {
	cmp -s "$1" "$2" && return
	if cmp -s <(sort "$1") <(sort "$2"); then
		die "$3: the receiver wrote the stream's lines in another order"
	fi
	die "$3: the receiver did not get the stream byte for byte ($(cmp "$1" "$2" 2>&1 | head -n 1))"
}

# net MODE TOOL STREAM LINES: one timed run to a fresh receiver.
net() {
	local mode=$1 tool=$2 in=$3 lines=$4 url extra=() dest
	receiver "$mode"
	case $mode in
	tcp) url=syslog+tcp://127.0.0.1:$RSYSLOG_PORT dest=syslog+tcp ;;
	tls) url=syslog+tls://127.0.0.1:$RSYSLOG_PORT dest=syslog+tls extra=(--ca "$RSYSLOG_CA/ca.pem") ;;
	relp) url=relp://127.0.0.1:$RSYSLOG_PORT dest=relp ;;
	esac
	if [ "$tool" = psm-ship ]; then
		rm -rf "$tmp/state"
		timed "$dest" psm-ship "$lines" "$RSYSLOG_DIR/messages" "$(wc -c < "$in")" \
			"$bindir/psm-ship" --state "$tmp/state" "${extra[@]}" --to "$url" "$in"
	else
		case $mode in
		tcp) timed "$dest" raw "$lines" "$RSYSLOG_DIR/messages" "$size" \
			socat -u -b 65536 "OPEN:$tmp/frames.bin" "TCP:127.0.0.1:$RSYSLOG_PORT" ;;
		tls) timed "$dest" raw "$lines" "$RSYSLOG_DIR/messages" "$size" \
			socat -u -b 65536 "OPEN:$tmp/frames.bin" \
			"OPENSSL:127.0.0.1:$RSYSLOG_PORT,cafile=$RSYSLOG_CA/ca.pem" ;;
		relp) timed "$dest" raw "$lines" "$RSYSLOG_DIR/messages" "$size" \
			socat -b 65536 -t 60 "OPEN:$tmp/relp.bin,rdonly!!OPEN:/dev/null,wronly" \
			"TCP:127.0.0.1:$RSYSLOG_PORT" ;;
		esac
	fi
	same "$in" "$RSYSLOG_DIR/messages" "$tool to $dest"
	receiver_stop
}

pg_url() { echo "postgresql:///$1?host=$PG_SOCK&port=$PG_PORT&user=psm"; }

# pg TOOL BATCH STREAM LINES: psm-ship into a fresh database; its rows counted.
pg() {
	local tool=$1 batch=$2 in=$3 lines=$4 db=bench$RANDOM rows
	"$PG_BIN/createdb" -h "$PG_SOCK" -p "$PG_PORT" -U psm "$db" || die "createdb failed"
	rm -rf "$tmp/state"
	timed postgresql "$tool" "$lines" - 0 "$bindir/psm-ship" --state "$tmp/state" \
		--batch "$batch" --to "$(pg_url "$db")" "$in"
	rows=$("$PG_BIN/psql" -X -At -d "$(pg_url "$db")" -c 'select count(*) from psm_lines')
	[ "$rows" = "$lines" ] || die "$tool: $rows rows in psm_lines, not $lines"
	"$PG_BIN/dropdb" -h "$PG_SOCK" -p "$PG_PORT" -U psm "$db" || die "dropdb failed"
}

# store TOOL STREAM LINES: to a fresh file store.
store() {
	local tool=$1 in=$2 lines=$3
	rm -rf "$tmp/state" "$tmp/store"
	if [ "$tool" = psm-ship ]; then
		timed file psm-ship "$lines" - 0 "$bindir/psm-ship" --state "$tmp/state" \
			--to "file:$tmp/store" "$in"
	else
		timed file raw "$lines" - 0 sh -c 'cat "$1" >> "$2" && sync "$2"' sh "$in" "$tmp/store"
	fi
	same "$in" "$tmp/store" "$tool to file:"
	rm -f "$tmp/store"
}

pg_start > "$tmp/pg-start" 2>&1 || { cat "$tmp/pg-start" >&2; die "PostgreSQL did not start"; }

for round in $(seq "$RUNS"); do
	printf '  round %s of %s ...\n' "$round" "$RUNS" >&2
	for mode in tcp tls relp; do
		net "$mode" raw "$tmp/events.jsonl" "$LINES"
		net "$mode" psm-ship "$tmp/events.jsonl" "$LINES"
	done
	pg psm-ship 5000 "$tmp/events.jsonl" "$LINES"
	pg psm-ship-1000 1000 "$tmp/events.jsonl" "$LINES"
	store raw "$tmp/events.jsonl" "$LINES"
	store psm-ship "$tmp/events.jsonl" "$LINES"
done

printf '  the backlog of %s lines ...\n' "$BACKLOG" >&2
store psm-ship "$tmp/backlog.jsonl" "$BACKLOG"
net relp psm-ship "$tmp/backlog.jsonl" "$BACKLOG"
pg psm-ship 5000 "$tmp/backlog.jsonl" "$BACKLOG"
rm -rf "$tmp/rsyslog"

# ---- the table ----

printf '  load average at the end: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v lines="$LINES" -v backlog="$BACKLOG" -v size="$size" '
function commas(n,   s) {
	s = sprintf("%d", n)
	while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,.]|$)/, ",&", s)
	return s
}
{
	k = $1 " " $2 " " $3
	if (!(k in best) || $4 < best[k]) { best[k] = $4; cpu[k] = $6 }
	if ($5 > rss[k]) rss[k] = $5
}
function row(dest, label, k, anchor, ak, target,   r, a, ratio, verdict) {
	r = best[k] > 0 ? lines / (best[k] / 1e6) : 0
	printf "%-12s %-14s %8.2f %10s %7.2f %8.1f MiB", dest, label, best[k] / 1e6, commas(r), cpu[k], rss[k] / 1024
	if (ak != "") {
		a = best[ak] > 0 ? lines / (best[ak] / 1e6) : 0
		ratio = a > 0 ? r / a : 0
		printf "   %-34s %7.2f %10s %6.2f", anchor, best[ak] / 1e6, commas(a), ratio
	} else
		printf "   %-34s %7s %10s %6s", anchor, "-", "-", "-"
	if (target == "ratio") {
		verdict = ratio >= 0.5 ? "PASS" : "FAIL"
		printf "   ratio >= 0.50 %s", verdict
		summary = summary sprintf("%s: psm-ship %s lines/s, %.2fx the raw copy (target >= 0.50): %s\n", dest, commas(r), ratio, verdict)
	} else if (target == "rate") {
		verdict = r >= 100000 ? "PASS" : "FAIL"
		printf "   >= 100,000/s %s", verdict
		summary = summary sprintf("%s %s: psm-ship %s lines/s (target >= 100,000): %s\n", dest, label, commas(r), verdict)
	}
	printf "\n"
}
END {
	printf "%-12s %-14s %8s %10s %7s %12s   %-34s %7s %10s %6s   %s\n", "destination", "psm-ship", "seconds", "lines/s", "CPU s", "peak RSS",
	    "anchor (the same receiver)", "seconds", "lines/s", "ratio", "target"
	row("syslog+tcp", "", "syslog+tcp psm-ship " lines, "socat -u, psm-ship'"'"'s frames", "syslog+tcp raw " lines, "ratio")
	row("syslog+tls", "", "syslog+tls psm-ship " lines, "socat OPENSSL:, the same frames", "syslog+tls raw " lines, "ratio")
	row("relp", "", "relp psm-ship " lines, "socat, them as RELP, no window", "relp raw " lines, "ratio")
	row("postgresql", "--batch 5000", "postgresql psm-ship " lines, "", "", "rate")
	row("postgresql", "--batch 1000", "postgresql psm-ship-1000 " lines, "", "", "")
	row("file:", "", "file psm-ship " lines, "cat >> store; sync store", "file raw " lines, "")
	printf "\n%s", summary

	printf "\npeak RSS of psm-ship      %9s lines   %9s lines   %s\n", commas(lines), commas(backlog), "lines/s with the backlog"
	split("file relp postgresql", ds, " ")
	worst = 0; growth = -1e9
	for (i = 1; i <= 3; i++) {
		s = rss[ds[i] " psm-ship " lines]; l = rss[ds[i] " psm-ship " backlog]
		if (s > worst) worst = s
		if (l > worst) worst = l
		if (l - s > growth) growth = l - s
		k = ds[i] " psm-ship " backlog
		printf "  %-22s %9.1f MiB   %9.1f MiB   %s\n", (ds[i] == "file" ? "file:" : ds[i]), s / 1024, l / 1024,
		    commas(best[k] > 0 ? backlog / (best[k] / 1e6) : 0)
	}
	printf "psm-ship: peak RSS at most %.1f MiB (target < 16): %s\n", worst / 1024, worst < 16384 ? "PASS" : "FAIL"
	printf "psm-ship: peak RSS with %s lines - with %s = at most %d KiB (target <= 1024, constant in the backlog): %s\n",
	    commas(backlog), commas(lines), growth, growth <= 1024 ? "PASS" : "FAIL"
}' "$tmp/runs"
exit 0
