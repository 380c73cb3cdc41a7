# A throwaway PostgreSQL server for the tests of psm-ship's PostgreSQL sink.
# Load it after helpers.bash (it uses wait_for and free_port):
#
#   pg_start [DIR]     initdb in DIR (by default a new /tmp/psm-pg.XXXXXX) and start the
#                      server on 127.0.0.1 on a free port; wait until it answers; database psm.
#                      Exports PG_URL (Unix socket, trust: psql and most tests), PG_TCP_URL
#                      (127.0.0.1, SCRAM: the password tests) and PG_PASSWORD.
#   pg_psql SQL        run SQL in database psm, unaligned, tuples only, stop at the first error
#   pg_stop            fast shutdown (SIGINT), wait until the server is gone
#   pg_kill            SIGKILL the postmaster and its children: the next start runs crash recovery
#   pg_restart         start again on the same directory and port
#   pg_pause/pg_resume SIGSTOP/SIGCONT the postmaster and its children: a server that stops answering
#   pg_teardown        (in teardown) kill whatever is left, remove the directory
#
# postgres refuses to run as root: when the tests run as root, the server runs as nobody
# (setpriv, which execs, so that $! is the server), with its directories owned by nobody, in
# /tmp, which nobody can traverse (bats's own temporary directories are root's, mode 700; and
# a socket's path must stay under 108 bytes). Nothing here touches the machine's own
# clusters: no pg_ctlcluster, nothing under /var/lib/postgresql or /var/run/postgresql.
#
# fsync is off by default (PG_FSYNC=on to keep it): it only matters when the machine itself
# goes down; SIGKILL of the server leaves the written pages in the kernel's cache, so crash
# recovery after pg_kill runs as it would with fsync on.

# The server's programs: PostgreSQL 15 (Debian 12's), else the newest installed.
if [ -z "${PG_BIN:-}" ]; then
	PG_BIN=/usr/lib/postgresql/15/bin
	[ -x "$PG_BIN/postgres" ] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
PG_PASSWORD='Pg-s3cret-9Lr'	# the test role's password, for SCRAM over TCP

# pg_require: skip unless the server's programs are installed.
pg_require() {
	local p
	for p in initdb postgres pg_isready psql createdb; do
		[ -x "$PG_BIN/$p" ] || skip "$PG_BIN/$p is not installed (scripts/deps.sh test)"
	done
}

# pg_as COMMAND...: run COMMAND as the server's user (nobody when we are root).
pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	else
		"$@"
	fi
}

# pg_own PATH...: give PATH to the server's user.
pg_own() {
	[ "$(id -u)" -ne 0 ] || chown nobody:nogroup "$@"
}

pg_start() {
	pg_require
	PG_DIR=${1:-$(mktemp -d /tmp/psm-pg.XXXXXX)}
	mkdir -p "$PG_DIR"
	chmod 755 "$PG_DIR"
	mkdir -m 700 "$PG_DIR/data"
	mkdir -m 755 "$PG_DIR/run"
	PG_SOCK=$PG_DIR/run
	printf '%s\n' "$PG_PASSWORD" > "$PG_DIR/pwfile"
	chmod 600 "$PG_DIR/pwfile"
	pg_own "$PG_DIR/data" "$PG_DIR/run" "$PG_DIR/pwfile"
	# Local (socket) logins are trusted; TCP logins need the password, by SCRAM.
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U psm -E UTF8 --no-locale \
		--auth-local=trust --auth-host=scram-sha-256 --pwfile="$PG_DIR/pwfile" \
		> "$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; return 1; }
	rm -f "$PG_DIR/pwfile"
	PG_PORT=$(free_port)
	pg_run || return 1
	"$PG_BIN/createdb" -h "$PG_SOCK" -p "$PG_PORT" -U psm psm
	export PG_DIR PG_SOCK PG_PORT PG_PASSWORD
	export PG_URL="postgresql:///psm?host=$PG_SOCK&port=$PG_PORT&user=psm"
	export PG_TCP_URL="postgresql://psm@127.0.0.1:$PG_PORT/psm"
}

# pg_run: start the server of $PG_DIR on $PG_PORT, wait until it takes connections;
# PG_PID is the postmaster's (from postmaster.pid: $! would be the subshell of pg_as).
pg_run() {
	pg_as "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_SOCK" -p "$PG_PORT" \
		-c listen_addresses=127.0.0.1 -c fsync="${PG_FSYNC:-off}" \
		-c logging_collector=off -c log_min_messages=warning \
		>> "$PG_DIR/server.log" 2>&1 3>&- &
	disown $!
	if ! wait_for 60 "$PG_BIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT" -U psm -d postgres; then
		cat "$PG_DIR/server.log"
		return 1
	fi
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	export PG_PID
}

pg_psql() {
	"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$PG_URL" -c "$1"
}

# pg_postmaster: the running postmaster's pid, from postmaster.pid (a test's
# pg_restart runs in another process than teardown_file: PG_PID may be old).
pg_postmaster() {
	local p
	p=$(head -n 1 "${PG_DIR:-/nonexistent}/data/postmaster.pid" 2>/dev/null) || return 0
	[ -z "$p" ] || ! kill -0 "$p" 2>/dev/null || echo "$p"
}

# pg_procs: the postmaster and its children (backends, checkpointer, walwriter ...).
pg_procs() {
	local pm
	pm=$(pg_postmaster)
	[ -n "$pm" ] || return 0
	echo "$pm"
	ps -o pid= --ppid "$pm" 2>/dev/null || true
}

pg_gone() {
	local p
	for p in "$@"; do
		! kill -0 "$p" 2>/dev/null || return 1
	done
}

pg_stop() {
	local pm
	pm=$(pg_postmaster)
	[ -n "$pm" ] || return 0
	kill -INT "$pm" 2>/dev/null || true
	wait_for 60 pg_gone "$pm"
	PG_PID=
}

pg_kill() {
	local procs
	procs=$(pg_procs)
	[ -n "$procs" ] || return 0
	# shellcheck disable=SC2086
	kill -KILL $procs 2>/dev/null || true
	# shellcheck disable=SC2086
	wait_for 30 pg_gone $procs
	PG_PID=
}

pg_restart() {
	pg_run
}

pg_pause() {
	local procs
	procs=$(pg_procs)
	# shellcheck disable=SC2086
	[ -z "$procs" ] || kill -STOP $procs
}

pg_resume() {
	local procs
	procs=$(pg_procs)
	# shellcheck disable=SC2086
	[ -z "$procs" ] || kill -CONT $procs 2>/dev/null || true
}

pg_teardown() {
	pg_resume
	pg_kill
	[ -z "${PG_DIR:-}" ] || rm -rf "$PG_DIR"
	PG_DIR=
}
