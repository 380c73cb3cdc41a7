# A real rsyslogd of the test's own, for psm-ship's syslog and RELP sinks:
# never the system's. It runs in the foreground (-n) on 127.0.0.1 on a free
# high port, with its own configuration, pid file and work directory in
# $RSYSLOG_DIR (default $BATS_TEST_TMPDIR/rsyslog), and writes each message
# it receives to two files:
#
#	$RSYSLOG_DIR/messages	MSG, then a newline: the line shipped, byte for byte
#	$RSYSLOG_DIR/sd		the STRUCTURED-DATA, then a newline
#
# Byte for byte needs: global(maxMessageSize) large enough for psm's longest
# lines (1 MiB and the header), set before the inputs are loaded, and
# imtcp's maxFrameSize too (its default, 200000, cuts an octet-counted
# frame: "frame too large ... change to octet stuffing");
# parser.escapeControlCharactersOnReceive off (JSON lines hold none, but a
# receiver that rewrites bytes would hide a sink that does); "%msg%" in a
# string template, which writes MSG as it was received.
#
# The main queue is Direct: no worker threads (with the default queue,
# rsyslogd starts a second when messages queue up, and two write their
# batches in either order: seen with 200,000 lines sent at once on a busy
# machine), and each message is its own transaction, written
# to the file and flushed (omfile's flushOnTXEnd) before imrelp answers 200
# and before imtcp reads on. With rsyslog's default in-memory queue, 200
# means "queued": a SIGKILL then loses messages already acknowledged (441
# of 100,000 in one run of psm-ship-syslog.bats's fault test), and omfile,
# writing batches through its 4 KiB buffer as it fills, can leave half a
# line. A receiver meant to lose nothing it acknowledged needs a Direct or
# a disk-assisted queue.
#
#	load rsyslog
#	rsyslog_start tcp | tls | tls-client | relp	# sets RSYSLOG_PORT, RSYSLOG_PID
#	rsyslog_count 10000				# waits until 10000 messages are in
#	rsyslog_stop | rsyslog_kill | rsyslog_restart
#
# tls: imtcp with the OpenSSL driver (lmnsd_ossl), a server certificate for
# 127.0.0.1 and localhost from a CA of the test's (make_test_ca), clients
# not authenticated; tls-client: the same, but the client must show a
# certificate of that CA (x509/certvalid). The CA's files are in $RSYSLOG_CA.
# Needs helpers.bash (free_port, wait_for, BG_PIDS).

RSYSLOGD=${RSYSLOGD:-/usr/sbin/rsyslogd}

rsyslog_available() {
	[ -x "$RSYSLOGD" ] || return 1
	local mods=/usr/lib/x86_64-linux-gnu/rsyslog
	[ -d "$mods" ] || mods=$(dirname "$(find /usr/lib -name imtcp.so -print -quit 2>/dev/null)")
	[ -e "$mods/imtcp.so" ] && [ -e "$mods/imrelp.so" ] && [ -e "$mods/lmnsd_ossl.so" ]
}

# make_test_ca DIR: a throwaway CA (ca.pem, ca.key), a server certificate
# for 127.0.0.1 and localhost (server.pem, server.key), a client certificate
# (client.pem, client.key, mode 0600), and a second CA that signed nothing
# of these (other-ca.pem): a client that trusts only it must refuse the server.
make_test_ca() {
	local d=$1
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
		ca() {	# ca NAME CN
			ec "$1.key"
			openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.pem" \
				-addext basicConstraints=critical,CA:TRUE \
				-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		}
		leaf() {	# leaf NAME CN EXTENSIONS
			ec "$1.key"
			openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
			printf '%s\n' "$3" > "$1.ext"
			openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
				-days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
		}
		ca ca "psm test CA"
		ca other-ca "psm test CA that nobody trusts"
		leaf server localhost $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
		leaf client psm-ship $'extendedKeyUsage=clientAuth'
	) || return 1
	[ -s "$d/server.pem" ] && [ -s "$d/client.pem" ] && [ -s "$d/other-ca.pem" ]
}

# The configuration for MODE (see above) in $RSYSLOG_DIR/rsyslog.conf.
rsyslog_write_conf() {
	local mode=$1 input
	case $mode in
	tcp)
		input='module(load="imtcp" maxFrameSize="2200000")
input(type="imtcp" port="'$RSYSLOG_PORT'" address="127.0.0.1")' ;;
	tls|tls-client)
		local auth=anon
		[ "$mode" = tls-client ] && auth=x509/certvalid
		input='global(defaultNetstreamDriver="ossl"
	defaultNetstreamDriverCAFile="'$RSYSLOG_CA'/ca.pem"
	defaultNetstreamDriverCertFile="'$RSYSLOG_CA'/server.pem"
	defaultNetstreamDriverKeyFile="'$RSYSLOG_CA'/server.key")
module(load="imtcp" maxFrameSize="2200000" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="'$auth'")
input(type="imtcp" port="'$RSYSLOG_PORT'" address="127.0.0.1")' ;;
	relp)
		input='module(load="imrelp")
input(type="imrelp" port="'$RSYSLOG_PORT'" address="127.0.0.1" maxDataSize="2m")' ;;
	*)
		echo "rsyslog_start: unknown mode $mode (tcp, tls, tls-client, relp)" >&2
		return 1 ;;
	esac
	cat > "$RSYSLOG_DIR/rsyslog.conf" <<-CONF
	global(workDirectory="$RSYSLOG_DIR/work" maxMessageSize="2m"
		parser.escapeControlCharactersOnReceive="off")
	main_queue(queue.type="Direct")
	$input
	template(name="psm_msg" type="string" string="%msg%\n")
	template(name="psm_sd" type="string" string="%structured-data%\n")
	action(type="omfile" file="$RSYSLOG_DIR/messages" template="psm_msg")
	action(type="omfile" file="$RSYSLOG_DIR/sd" template="psm_sd")
	CONF
}

# Listening: ss(8) asks without connecting; without iproute2, a connection
# (on fd 4: bats has fd 3) that rsyslogd sees open and close.
rsyslog_listening() {
	if command -v ss >/dev/null; then
		ss -Hltn "sport = :$RSYSLOG_PORT" 2>/dev/null | grep -q .
	else
		(exec 4<>"/dev/tcp/127.0.0.1/$RSYSLOG_PORT") 2>/dev/null
	fi
}

# rsyslog_start MODE [DIR]: configure and start; returns once it listens.
rsyslog_start() {
	RSYSLOG_MODE=$1
	RSYSLOG_DIR=${2:-${RSYSLOG_DIR:-$BATS_TEST_TMPDIR/rsyslog}}
	RSYSLOG_CA=${RSYSLOG_CA:-$RSYSLOG_DIR/ca}
	mkdir -p "$RSYSLOG_DIR/work"
	case $RSYSLOG_MODE in
	tls*) [ -s "$RSYSLOG_CA/server.pem" ] || make_test_ca "$RSYSLOG_CA" || return 1 ;;
	esac
	RSYSLOG_PORT=$(free_port) || return 1
	rsyslog_write_conf "$RSYSLOG_MODE" || return 1
	rsyslog_run
}

# Start rsyslogd on the configuration written, and wait until it listens.
rsyslog_run() {
	rm -f "$RSYSLOG_DIR/rsyslogd.pid"
	"$RSYSLOGD" -n -f "$RSYSLOG_DIR/rsyslog.conf" -i "$RSYSLOG_DIR/rsyslogd.pid" \
		>> "$RSYSLOG_DIR/rsyslogd.log" 2>&1 &
	RSYSLOG_PID=$!
	BG_PIDS+=("$RSYSLOG_PID")
	if ! wait_for 10 rsyslog_listening; then
		echo "rsyslogd did not listen on 127.0.0.1:$RSYSLOG_PORT:" >&2
		cat "$RSYSLOG_DIR/rsyslogd.log" >&2
		return 1
	fi
}

rsyslog_gone() { ! kill -0 "$RSYSLOG_PID" 2>/dev/null; }

# rsyslog_stop: SIGTERM, and wait until it has written what it had and exited.
rsyslog_stop() {
	[ -n "${RSYSLOG_PID:-}" ] || return 0
	kill -TERM "$RSYSLOG_PID" 2>/dev/null || true
	wait_for 15 rsyslog_gone
	wait "$RSYSLOG_PID" 2>/dev/null || true
}

# rsyslog_kill: SIGKILL, as a crash: what it had not written is lost.
rsyslog_kill() {
	[ -n "${RSYSLOG_PID:-}" ] || return 0
	kill -KILL "$RSYSLOG_PID" 2>/dev/null || true
	wait_for 5 rsyslog_gone
	wait "$RSYSLOG_PID" 2>/dev/null || true
}

# rsyslog_restart: again on the same port, appending to the same files.
rsyslog_restart() {
	rsyslog_gone || rsyslog_stop
	wait_for 10 eval '! rsyslog_listening'
	rsyslog_run
}

rsyslog_lines() {
	if [ -e "$RSYSLOG_DIR/messages" ]; then wc -l < "$RSYSLOG_DIR/messages"; else echo 0; fi
}

# rsyslog_count N [SECONDS]: wait until N messages (at least) are written.
rsyslog_count() {
	wait_for "${2:-30}" eval '[ "$(rsyslog_lines)" -ge '"$1"' ]'
}
