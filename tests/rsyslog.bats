#!/usr/bin/env bats
# tests/rsyslog.bash itself: the receiver that psm-ship's syslog and RELP
# tests rely on gives back each message's MSG byte for byte (long lines,
# UTF-8, quotes, backslashes, brackets, DEL), in each mode, and keeps its
# port and its files across a crash and a restart. Messages are framed
# here, in the shell, and sent with socat.
load helpers
load rsyslog

setup() {
	rsyslog_available || skip "rsyslogd with imtcp, imrelp and lmnsd_ossl is not installed (scripts/deps.sh test)"
	command -v socat >/dev/null || skip "socat is not installed (scripts/deps.sh test)"
	cd "$BATS_TEST_TMPDIR" || return 1
	{
		printf '{"seq":0,"data":"plain"}\n'
		printf '{"seq":1,"data":"caf\xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80"}\n'
		printf '{"seq":2,"data":"\\"quoted\\" \\\\ back ] bracket [x] \x7f"}\n'
		printf '  {"seq":3,"data":"leading spaces, trailing space"} \n'
		printf '{"seq":4,"data":"%s"}\n' "$(head -c 300000 /dev/zero | tr '\0' x)"
	} > lines
}

teardown() {
	rsyslog_stop
	stop_background
}

# message LINE: LINE as an RFC 5424 message (SD names it).
message() {
	printf '<86>1 2024-01-01T00:00:00.000000Z h psm - output [psm@32473 line="%d"] %s' "$2" "$1"
}

# framed FILE: each line of FILE as an octet-counted message (RFC 6587).
framed() {
	local LC_ALL=C line msg n=0
	while IFS= read -r line; do
		n=$((n + 1))
		msg=$(message "$line" $n)
		printf '%d %s' "${#msg}" "$msg"
	done < "$1"
}

# relp_session FILE: open, each line of FILE as a syslog command, close.
relp_session() {
	local LC_ALL=C line msg n=1 offers=$'relp_version=0\nrelp_software=test\ncommands=syslog'
	printf '1 open %d %s\n' "${#offers}" "$offers"
	while IFS= read -r line; do
		msg=$(message "$line" $n)
		n=$((n + 1))
		printf '%d syslog %d %s\n' "$n" "${#msg}" "$msg"
	done < "$1"
	printf '%d close 0\n' $((n + 1))
}

@test "rsyslog helper: tcp: octet-counted messages give back MSG byte for byte, and the structured data apart" {
	rsyslog_start tcp
	framed lines | socat -u - "TCP:127.0.0.1:$RSYSLOG_PORT"
	rsyslog_count 5
	cmp lines "$RSYSLOG_DIR/messages"
	run sed -n 2p "$RSYSLOG_DIR/sd"
	assert_output '[psm@32473 line="2"]'
}

@test "rsyslog helper: tls: the server's certificate is the test CA's, for 127.0.0.1 and localhost" {
	rsyslog_start tls
	framed lines | socat -u - "OPENSSL:localhost:$RSYSLOG_PORT,cafile=$RSYSLOG_CA/ca.pem"
	rsyslog_count 5
	cmp lines "$RSYSLOG_DIR/messages"
	run openssl verify -CAfile "$RSYSLOG_CA/other-ca.pem" "$RSYSLOG_CA/server.pem"
	[ "$status" -ne 0 ]
	openssl verify -CAfile "$RSYSLOG_CA/ca.pem" "$RSYSLOG_CA/client.pem"
	[ "$(stat -c %a "$RSYSLOG_CA/client.key")" = 600 ]
}

@test "rsyslog helper: relp: imrelp answers 200 to each command and gives back MSG byte for byte" {
	rsyslog_start relp
	relp_session lines > session
	run -0 socat -t 5 - "TCP:127.0.0.1:$RSYSLOG_PORT" < session
	[ "$(grep -c '^[2-6] rsp 6 200 OK$' <<< "$output")" -eq 5 ] || fail "answers: $output"
	assert_line '7 rsp 0'
	rsyslog_count 5
	cmp lines "$RSYSLOG_DIR/messages"
}

@test "rsyslog helper: after rsyslog_kill, rsyslog_restart listens on the same port and appends" {
	rsyslog_start tcp
	port=$RSYSLOG_PORT
	framed lines | socat -u - "TCP:127.0.0.1:$RSYSLOG_PORT"
	rsyslog_count 5
	rsyslog_kill
	rsyslog_restart
	[ "$RSYSLOG_PORT" = "$port" ]
	framed lines | socat -u - "TCP:127.0.0.1:$RSYSLOG_PORT"
	rsyslog_count 10
	cmp <(cat lines lines) "$RSYSLOG_DIR/messages"
}
