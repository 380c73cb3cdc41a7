#!/bin/bash
# bench/record.sh BINDIR: psm-record against script(1), tlog-rec and a bare
# PTY copy (bench/ptycopy.c) on the same terminal output, and keystroke-echo
# latency through psm-record against script(1) (bench/echolat.c).
#
#   bench/record.sh bin          (what `make bench` runs)
#
# Environment: RUNS (timed runs per recorder, 9), SIZE_MB (MiB of output,
# 20), ECHO_COUNT (keystrokes per latency run, 2000), ECHO_RUNS (3), CC (cc),
# VERBOSE=1 (print every run on stderr).
#
# FILE is about SIZE_MB MiB of terminal-like output from bench/termgen.c
# (the same bytes every time). Each recorder runs a two-line script,
# `stty -opost; exec cat FILE`, with stdin from /dev/null, stdout to
# /dev/null and, as its standard error and controlling terminal, a
# pseudo-terminal of ptycopy -e (tlog-rec uses pipes, not a PTY, when it
# has no terminal at all). stty -opost keeps the terminal from turning \n
# into \r\n, so every recording must give back FILE byte for byte: each is
# checked after every run (tlog-rec's with bench/tlogout.c). The recorders
# run with their default settings.
#
# Exit status: 0 when the benchmark ran, whether or not psm-record met its
# targets (they are printed as PASS or FAIL); 1 when it could not run or a
# recorder did not record everything; 2 on a usage error.
set -eu
# One locale for every tool (tlog-rec warns in a non-UTF-8 one) and a '.'
# as the decimal point for awk and $EPOCHREALTIME.
export LC_ALL=C.UTF-8

prog=bench/record.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
bench_setup $# "${1-}" psm-record psm-replay
RUNS=${RUNS:-9}
SIZE_MB=${SIZE_MB:-20}
ECHO_COUNT=${ECHO_COUNT:-2000}
ECHO_RUNS=${ECHO_RUNS:-3}
CC=${CC:-cc}
positive_ints RUNS SIZE_MB ECHO_COUNT ECHO_RUNS

# What is needed, and where it comes from on Debian 12.
need "$CC" gcc
need script bsdutils
need tlog-rec tlog
need stty coreutils

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psm-bench.XXXXXX") || die "cannot make a temporary directory"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for c in ptycopy echolat termgen tlogout; do
	"$CC" -O2 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/$c" "$here/$c.c" ||
		die "cannot compile $here/$c.c"
done

in=$tmp/output.txt
"$tmp/termgen" $((SIZE_MB * 1024 * 1024)) > "$in"
size=$(wc -c < "$in")
job=$tmp/job
printf '#!/bin/sh\nstty -opost\nexec cat %q\n' "$in" > "$job"
chmod +x "$job"
cat "$in" > /dev/null	# in the page cache before the first run

tools="psm-record script tlog-rec ptycopy"
# psm-record set-user-id (psm-record(1), "Set-user-id"), as root: a build of
# its own whose spool is in $tmp, set-user-id on nobody: the cost of privilege
# separation (the spool checks, the split ids, the sanitizing). No
# record-filter: what a filter costs is the filter's (bench/seal.sh).
suid=
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
	suid=$tmp/suid
	chmod 711 "$tmp"
	mkdir -p "$suid/spool" "$suid/conf"
	make -s -C "$here/.." O="$suid/build" SPOOLDIR="$suid/spool" CONFDIR="$suid/conf" \
		"$suid/build/bin/psm-record" >&2 || die "cannot build the set-user-id psm-record"
	cp "$suid/build/bin/psm-record" "$suid/psm-record"
	chown nobody "$suid/psm-record" "$suid/spool"
	chmod 4755 "$suid/psm-record"
	chmod 750 "$suid/spool"
	tools="$tools psm-record-suid"
fi
log_of() {
	case $1 in
	psm-record) echo "$tmp/psm.jsonl" ;;
	psm-record-suid) echo "$suid/spool" ;;
	script) echo "$tmp/script.log" ;;
	tlog-rec) echo "$tmp/tlog.json" ;;
	ptycopy) echo "" ;;
	esac
}
cmd_of() {
	local log
	log=$(log_of "$1")
	case $1 in
	psm-record) echo "$bindir/psm-record -o $log -- $job" ;;
	psm-record-suid) echo "$suid/psm-record -q -- $job" ;;
	script) echo "script -q -O $log -c $job" ;;
	tlog-rec) echo "tlog-rec --writer=file --file-path=$log $job" ;;
	ptycopy) echo "$tmp/ptycopy $job" ;;
	esac
}
# The paths above are in $tmp, which mktemp made without spaces unless
# TMPDIR has some: refuse that rather than split words wrongly.
case $tmp in *[[:space:]]*) die "TMPDIR must not contain white space" ;; esac

# The recording gives back exactly the output? Prints why not.
recorded_ok() {
	local log
	log=$(log_of "$1")
	case $1 in
	psm-record)
		"$bindir/psm-replay" --raw "$log" | cmp -s - "$in" ||
			{ echo "psm-replay --raw differs from the output"; return 1; } ;;
	psm-record-suid)
		"$bindir/psm-replay" --raw "$log"/*.jsonl | cmp -s - "$in" ||
			{ echo "psm-replay --raw of the spool file differs from the output"; return 1; } ;;
	script)
		# A header line, the output, then "\nScript done on ...".
		local head
		head=$(head -n 1 "$log" | wc -c)
		if ! tail -c +$((head + 1)) "$log" | head -c "$size" | cmp -s - "$in" ||
			! tail -c +$((head + size + 1)) "$log" | head -n 2 | grep -q '^Script done'; then
			echo "the typescript differs from the output"
			return 1
		fi ;;
	tlog-rec)
		"$tmp/tlogout" "$log" | cmp -s - "$in" ||
			{ echo "out_txt differs from the output"; return 1; } ;;
	esac
	return 0
}

# run TOOL OUT: one run, stdout to OUT; appends "wall_usec maxrss_kib user_s sys_s"
# to $tmp/runs.TOOL.
run() {
	local tool=$1 out=$2 log t0 t1 why
	log=$(log_of "$tool")
	if [ "$tool" = psm-record-suid ]; then rm -f "$log"/*; elif [ -n "$log" ]; then rm -f "$log"; fi
	t0=${EPOCHREALTIME/./}
	# shellcheck disable=SC2046
	if ! "$tmp/ptycopy" -e /usr/bin/time -o "$tmp/time" -f '%M %U %S' \
		$(cmd_of "$tool") < /dev/null > "$out" 2> "$tmp/stderr"; then
		cat "$tmp/stderr" "$tmp/time" >&2
		die "$tool failed (its messages are above)"
	fi
	t1=${EPOCHREALTIME/./}
	if ! why=$(recorded_ok "$tool"); then
		bad="$bad $tool"
		printf '%s: %s: %s\n' "$prog" "$tool" "$why" >&2
	fi
	echo "$((t1 - t0)) $(tail -n 1 "$tmp/time")" >> "$tmp/runs.$tool"
	[ "${VERBOSE:-0}" = 0 ] || printf '%s: %s: %s\n' "$prog" "$tool" "$(tail -n 1 "$tmp/runs.$tool")" >&2
}

printf 'psm-record benchmark: %s MiB of terminal output (%s bytes), %s runs each\n' \
	"$SIZE_MB" "$size" "$RUNS"
printf '  host: %s, %s CPUs, Linux %s; %s; %s\n' \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" \
	"$(uname -r)" "$(script --version)" "$(tlog-rec --version | head -n 1)"
read -r load_start _ < /proc/loadavg

# A first round, untimed: what reaches stdout is the output too.
bad=
for t in $tools; do
	run "$t" "$tmp/stdout"
	cmp -s "$tmp/stdout" "$in" || { bad="$bad $t"; echo "$prog: $t: stdout differs from the output" >&2; }
	rm -f "$tmp/runs.$t"
done
# Timed rounds; each starts with the next tool, so none always follows the same one.
order=$tools
for _ in $(seq "$RUNS"); do
	for t in $order; do
		run "$t" /dev/null
	done
	order="${order#* } ${order%% *}"
done

# median in microseconds, peak RSS in KiB, log size
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A med fast rss logsize cpu
for t in $tools; do
	med[$t]=$(cut -d' ' -f1 < "$tmp/runs.$t" | median)
	fast[$t]=$(cut -d' ' -f1 < "$tmp/runs.$t" | sort -n | head -n 1)
	cpu[$t]=$(awk '{ print $3 + $4 }' < "$tmp/runs.$t" | median)
	rss[$t]=$(cut -d' ' -f2 < "$tmp/runs.$t" | sort -n | tail -n 1)
	log=$(log_of "$t")
	[ "$t" != psm-record-suid ] || log=$(echo "$log"/*.jsonl)
	logsize[$t]=$([ -n "$log" ] && wc -c < "$log" || echo 0)
done
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

echo
read -r load_end _ < /proc/loadavg
printf '%-16s %9s %9s %8s %7s %13s %9s\n' tool "median s" "fastest" "MB/s" "CPU s" "peak RSS KiB" "log size"
for t in $tools; do
	case $t in
	script) name="script(1)" ;;
	ptycopy) name="ptycopy (no log)" ;;
	psm-record-suid) name="psm-record suid" ;;
	*) name=$t ;;
	esac
	printf '%-16s %9s %9s %8s %7s %13s %9s\n' "$name" "$(calc %.3f "${med[$t]} / 1e6")" \
		"$(calc %.3f "${fast[$t]} / 1e6")" "$(calc %.1f "$size / ${med[$t]}")" "$(calc %.2f "${cpu[$t]}")" "${rss[$t]}" \
		"$([ "${logsize[$t]}" -gt 0 ] && calc %.2fx "${logsize[$t]} / $size" || echo -)"
done
r_script=$(calc %.2f "${med[psm-record]} / ${med[script]}")
r_tlog=$(calc %.2f "${med[psm-record]} / ${med[tlog-rec]}")
r_pty=$(calc %.2f "${med[psm-record]} / ${med[ptycopy]}")
mib=$(calc %.1f "${rss[psm-record]} / 1024")
echo
printf 'psm-record / script(1)  time %sx  (fastest runs: %sx, CPU: %sx)\n' "$r_script" \
	"$(calc %.2f "${fast[psm-record]} / ${fast[script]}")" "$(calc %.2f "${cpu[psm-record]} / ${cpu[script]}")"
if [ -n "$suid" ]; then
	r_suid=$(calc %.2f "${med[psm-record-suid]} / ${med[script]}")
	printf 'psm-record set-user-id / script(1)  time %sx  (fastest runs: %sx, CPU: %sx)\n' "$r_suid" \
		"$(calc %.2f "${fast[psm-record-suid]} / ${fast[script]}")" "$(calc %.2f "${cpu[psm-record-suid]} / ${cpu[script]}")"
else
	echo "psm-record set-user-id: not measured (needs root and the user nobody)"
fi
printf 'psm-record / tlog-rec   time %sx  (fastest runs: %sx, CPU: %sx)\n' "$r_tlog" \
	"$(calc %.2f "${fast[psm-record]} / ${fast[tlog-rec]}")" "$(calc %.2f "${cpu[psm-record]} / ${cpu[tlog-rec]}")"
printf 'psm-record / ptycopy    time %sx  (fastest runs: %sx)\n' "$r_pty" \
	"$(calc %.2f "${fast[psm-record]} / ${fast[ptycopy]}")"
printf 'psm-record peak RSS     %s MiB (the larger of psm-record and the command it runs)\n' "$mib"
echo "(wall time from start to exit, median and fastest of $RUNS; MB/s: 10^6 bytes of output per"
echo " second at the median; CPU s: median user + system time of the recorder and the command,"
echo " in 10 ms steps)"
if awk "BEGIN { exit !($load_start > $(nproc) / 2 || $load_end > $(nproc) / 2) }"; then
	printf 'note: load average %s at the start, %s at the end, on %s CPUs: other work was\n' \
		"$load_start" "$load_end" "$(nproc)"
	echo "      running, so the wall times are noisy; the CPU times are steadier"
fi

verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
v_script=$(verdict "$r_script <= 1.10")
v_tlog=$(verdict "$r_tlog <= 0.50")
v_rss=$(verdict "${rss[psm-record]} < 8192")
[ -z "$suid" ] || v_suid=$(verdict "$r_suid <= 1.10")

# Keystroke echo: no recorder, script(1), psm-record; the median of each
# percentile over ECHO_RUNS interleaved runs.
echo
printf 'keystroke echo latency, %s keystrokes x %s runs (microseconds)\n' "$ECHO_COUNT" "$ECHO_RUNS"
declare -A lat
for _ in $(seq "$ECHO_RUNS"); do
	for t in cat script psm-record ${suid:+psm-record-suid}; do
		case $t in
		cat) set -- -- cat ;;
		script) set -- -r -- script -q -c cat /dev/null ;;
		psm-record) rm -f "$tmp/echo.jsonl"; set -- -r -- "$bindir/psm-record" -o "$tmp/echo.jsonl" -- cat ;;
		psm-record-suid) rm -f "$suid/spool"/*; set -- -r -- "$suid/psm-record" -q -- cat ;;
		esac
		r=$("$tmp/echolat" -n "$ECHO_COUNT" "$@") || die "echolat failed with $t"
		echo "$r" >> "$tmp/echo.$t"
		if [ "$t" = psm-record ]; then
			got=$("$bindir/psm-replay" --raw --input "$tmp/echo.jsonl" | wc -c)
			[ "$got" -eq "${r##* }" ] || {
				bad="$bad psm-record(input)"
				echo "$prog: psm-record recorded $got of ${r##* } typed bytes" >&2
			}
		fi
	done
done
printf '%-16s %9s %9s %9s %9s\n' recorder p50 p90 p99 max
for t in cat script psm-record ${suid:+psm-record-suid}; do
	for k in 1 2 3 4; do
		lat[$t.$k]=$(cut -d' ' -f"$k" < "$tmp/echo.$t" | median)
	done
	case $t in cat) name="none (cat)" ;; script) name="script(1)" ;; psm-record-suid) name="psm-record suid" ;; *) name=$t ;; esac
	printf '%-16s %9s %9s %9s %9s\n' "$name" "${lat[$t.1]}" "${lat[$t.2]}" "${lat[$t.3]}" "${lat[$t.4]}"
done
added=$(calc %.0f "${lat[psm-record.3]} - ${lat[script.3]}")
v_echo=$(verdict "$added < 1000")
printf 'p99 added by psm-record over script(1): %s us\n' "$added"
if [ -n "$suid" ]; then
	added_suid=$(calc %.0f "${lat[psm-record-suid.3]} - ${lat[script.3]}")
	v_echo_suid=$(verdict "$added_suid < 1000")
	printf 'p99 added by psm-record set-user-id over script(1): %s us\n' "$added_suid"
fi

echo
echo "targets:"
printf '  %s  psm-record time <= 1.10x script(1)       (%sx)\n' "$v_script" "$r_script"
printf '  %s  psm-record time <= 0.50x tlog-rec        (%sx)\n' "$v_tlog" "$r_tlog"
printf '  %s  psm-record peak RSS < 8 MiB              (%s MiB)\n' "$v_rss" "$mib"
printf '  %s  echo p99 added over script(1) < 1000 us  (%s us)\n' "$v_echo" "$added"
if [ -n "$suid" ]; then
	printf '  %s  set-user-id time <= 1.10x script(1)      (%sx)\n' "$v_suid" "$r_suid"
	printf '  %s  set-user-id echo p99 added < 1000 us     (%s us)\n' "$v_echo_suid" "$added_suid"
fi

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
row() {	# NAME TOOL: one line of the README's table
	printf '    %-18s %7s s %7s MiB   %s\n' "$1" "$(calc %.3f "${med[$2]} / 1e6")" \
		"$(calc %.1f "${rss[$2]} / 1024")" \
		"$([ "${logsize[$2]}" -gt 0 ] && calc %.2fx "${logsize[$2]} / $size" || echo -)"
}
echo
echo "----- for README.md, section Performance -----"
cat <<EOF
## Performance

\`make bench\` (bench/record.sh) has psm-record, script(1) and tlog-rec each record
the same ${SIZE_MB} MiB of terminal output (a build log with colours, \`ls --color\`,
top(1) screens, UTF-8, long lines), checks that every recording gives the output
back byte for byte, and times ${RUNS} runs of each: median wall time, peak RSS, and
the size of the recording against the output. A bare PTY copy that records
nothing (bench/ptycopy.c) is the floor. On ${cpu_model:-an unknown CPU}, $(nproc) CPUs, Linux $(uname -r):

    recorder              time      peak RSS   recording
$(row psm-record psm-record)
$(row "script(1) $(script --version | awk '{ print $NF }')" script)
$(row "tlog-rec $(tlog-rec --version | head -n 1 | awk '{ print $NF }')" tlog-rec)
$(row "PTY copy only" ptycopy)
$([ -z "$suid" ] || row "psm-record setuid" psm-record-suid)

psm-record takes ${r_script}x the time of script(1) (target: at most 1.10x) and
${r_tlog}x that of tlog-rec (target: at most 0.50x), with a peak RSS of ${mib} MiB
(target: under 8 MiB). A keystroke's echo through psm-record comes back in
${lat[psm-record.1]} us at the median and ${lat[psm-record.3]} us at the 99th percentile; through script(1)
in ${lat[script.1]} and ${lat[script.3]} us; with no recorder in ${lat[cat.1]} and ${lat[cat.3]} us (target: p99 at
most 1 ms above script(1)'s).
EOF
echo "-----"

if [ -n "$bad" ]; then
	echo "$prog: not recorded exactly:$bad (the figures above do not compare like with like)" >&2
	exit 1
fi
exit 0
