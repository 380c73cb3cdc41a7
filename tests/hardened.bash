# A private world for the tests of the set-user-id recorder (tests/hardened.bats).
#
# hw_world makes, as root, a temporary directory $W that holds a copy of /etc
# with the users psm, alice and bob added, a spool, state directories for sudo
# and sshd, and a bin/ with psm-record installed set-user-id psm; and a mount
# namespace of the world's own, where those are mounted over /etc, /var/log,
# /run, /var/lib/sudo and /usr/local/bin. $W/enter COMMAND runs COMMAND as root
# in that namespace: the machine's own files are never written, and what the
# world logs stays in $W. In a test:
#
#   hw_world                         a new world in $W (in setup)
#   hw_sshd                          its sshd, for `ssh -t alice@127.0.0.1`
#   hw_as alice 'psm-record -- id'   a command as alice (su -c), no terminal
#   hw_session                       tmux: alice logs in with su, her shell recorded
#   hw_type 'echo hi-$((6*7))'       she types a line
#   hw_wait hi-42                    wait until the screen shows it (hw_wait_line,
#                                    hw_wait_prompt: at the start of a line, the last)
#   hw_exit                          she logs out; wait until su has returned
#   f=$(hw_recording)                the one recording in the spool
#   hw_refute_secret "$f" SECRET     SECRET is not in it, nor in its decoded input
#   hw_teardown                      (in teardown) every process of the world killed, $W removed
#
# PSM_HARDENED_BASELINE=1 runs the same tests against a recorder that alice runs
# as herself (no set-user-id bit, `psm-record -o /var/log/psm/`, a spool of hers):
# the recorder of today, which shows which attacks work against it.

HW_PSM_UID=64990
HW_ALICE_UID=64991
HW_BOB_UID=64992
HW_ALICE_PW='Al1ce-pw-7Qx'
HW_BOB_PW='B0b-pw-4Kz'

# hw_require: skip unless this machine can make a world (root, a mount namespace, the tools).
hw_require() {
	[ "$(id -u)" -eq 0 ] || skip "the world's set-user-id files and mounts need root"
	# LeakSanitizer checks at exit through ptrace, which a set-user-id,
	# non-dumpable recorder refuses: it exits 1. make check runs these.
	[ -z "${PSM_SANITIZED:-}" ] || skip "LeakSanitizer cannot check a set-user-id recorder"
	local t
	for t in unshare nsenter findmnt su sudo openssl tmux strace gdb ssh /usr/sbin/sshd; do
		command -v "$t" >/dev/null || skip "$t is not installed (scripts/deps.sh test)"
	done
	unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace here"
	local uid
	for uid in $HW_PSM_UID $HW_ALICE_UID $HW_BOB_UID; do
		! getent passwd "$uid" >/dev/null || skip "uid $uid is taken on this machine"
	done
}

# hw_add_user NAME UID HOME SHELL [PASSWORD]: a user with a group of its own, in the world's /etc.
hw_add_user() {
	local name=$1 uid=$2 home=$3 shell=$4 hash='!'
	[ -z "${5:-}" ] || hash=$(openssl passwd -6 "$5")
	echo "$name:x:$uid:$uid:$name:$home:$shell" >> "$W/etc/passwd"
	echo "$name:x:$uid:" >> "$W/etc/group"
	echo "$name:$hash:$(( $(date +%s) / 86400 )):0:99999:7:::" >> "$W/etc/shadow"
	echo "$name:!::" >> "$W/etc/gshadow"
}

# hw_home NAME UID PROMPT: a home directory whose shells (login or not) show PROMPT;
# over ssh the prompt says "@far".
hw_home() {
	local home=$W/home/$1
	mkdir -p "$home"
	cat > "$home/.bashrc" <<-RC
	PS1='$3 '
	[ -z "\${SSH_CONNECTION:-}" ] || PS1='$1@far\$ '
	export TMUX_TMPDIR=\$HOME
	RC
	echo '. ~/.bashrc' > "$home/.bash_profile"
	chown -R "$2:$2" "$home"
	chmod 700 "$home"
}

# hw_world: make the world in $W (see the top of this file) and $W/enter.
hw_world() {
	hw_require
	# In /tmp, which every user can traverse (alice's home is in the world).
	W=$(mktemp -d /tmp/psm-world.XXXXXX)
	chmod 755 "$W"
	if findmnt -n -o OPTIONS -T "$W" | tr , '\n' | grep -qx nosuid; then
		skip "$W is on a nosuid file system"
	fi
	cp -a /etc "$W/etc"
	mkdir -p "$W/home" "$W/log/psm" "$W/run/sshd" "$W/lib-sudo" "$W/bin" "$W/sshd"
	chmod 700 "$W/lib-sudo"

	hw_add_user psm $HW_PSM_UID /nonexistent /usr/sbin/nologin
	hw_add_user alice $HW_ALICE_UID "$W/home/alice" /bin/bash "$HW_ALICE_PW"
	hw_add_user bob $HW_BOB_UID "$W/home/bob" /bin/bash "$HW_BOB_PW"
	hw_home alice $HW_ALICE_UID 'alice$'
	hw_home bob $HW_BOB_UID 'bob$'
	# root's home is the world's too: sudo -i reads its startup files and writes its history there.
	sed -i "s|^root:\([^:]*:[^:]*:[^:]*:[^:]*\):[^:]*:|root:\1:$W/home/root:|" "$W/etc/passwd"
	hw_home root 0 'root#'

	# Debian's sudoers (Defaults use_pty, said again in case this machine's lacks it) and alice in it.
	printf 'Defaults use_pty\nalice ALL=(ALL:ALL) ALL\n' > "$W/etc/sudoers.d/alice"
	chmod 440 "$W/etc/sudoers.d/alice"
	# No settings of this machine's own psm.
	rm -rf "$W/etc/psm"
	install -d -m 755 "$W/etc/psm"

	local p
	for p in psm-replay psm-keygen psm-seal psm-verify; do
		install -m 755 "$PSM_BIN/$p" "$W/bin/$p"
	done
	if [ -n "${PSM_HARDENED_BASELINE:-}" ]; then
		install -m 755 "$PSM_BIN/psm-record" "$W/bin/psm-record"
		chown $HW_ALICE_UID:$HW_ALICE_UID "$W/log/psm"
		HW_RECORD='psm-record -o /var/log/psm/'
	else
		install -o $HW_PSM_UID -g $HW_PSM_UID -m 4755 "$PSM_BIN/psm-record" "$W/bin/psm-record"
		chown $HW_PSM_UID:$HW_PSM_UID "$W/log/psm"
		HW_RECORD='psm-record'
	fi
	chmod 750 "$W/log/psm"

	# The world's mount namespace, held by a sleep until hw_teardown (an hour at
	# most, should teardown never run); $W/enter joins it. mount -n: libmount
	# would otherwise make /run/mount on the machine's /run.
	unshare -m --propagation private -- sh -euc '
		mount -n --bind "$1/run" /run
		mount -n --bind "$1/etc" /etc
		mount -n --bind "$1/log" /var/log
		mount -n --bind "$1/lib-sudo" /var/lib/sudo
		mount -n --bind "$1/bin" /usr/local/bin
		touch "$1/ready"
		exec sleep 3600' world "$W" >/dev/null 2>&1 3>&- &
	HW_HOLDER=$!
	disown "$HW_HOLDER"
	wait_for 5 test -e "$W/ready" || fail "cannot mount the world over /etc"
	cat > "$W/enter" <<-EOF
	#!/bin/sh
	# enter COMMAND [ARG...]: run COMMAND as root in the world's mount namespace,
	# where this world's etc, log, run, sudo state and bin are mounted.
	exec nsenter -t $HW_HOLDER -m -- "\$@"
	EOF
	chmod 755 "$W/enter"
}

# hw_as USER COMMAND: run the shell command COMMAND as USER's login (su -) in the world.
hw_as() {
	"$W/enter" su - "$1" -c "$2" </dev/null
}

# hw_session [COMMAND]: in tmux, alice logs in with su and COMMAND runs (by default
# her recorded shell: the recorder with no command); wait for her prompt. su's
# --session-command, unlike -c, leaves her the terminal as controlling terminal.
hw_session() {
	tmux_start "$W/enter su - alice --session-command '${1:-$HW_RECORD}'; echo rc=\$? > $W/rc; sleep 60"
	hw_wait 'alice$'
}

# hw_type TEXT: type TEXT literally (no tmux key names) and Enter.
hw_type() {
	tmux_keys -l "$1"
	tmux_keys Enter
}

# hw_wait TEXT: wait until the screen shows TEXT (not after the session has ended).
hw_wait() {
	wait_for 10 hw_screen_has_or_ended tmux_screen_has "$1"
	tmux_screen_has "$1" || fail "the screen never showed '$1':
$(tmux_screen)"
}

# hw_screen_has_or_ended TEST TEXT: TEST TEXT holds, or alice's session has ended.
hw_screen_has_or_ended() { "$1" "$2" || test -s "$W/rc"; }

# hw_screen_has_line TEXT: a line of the screen begins with TEXT (a prompt, not the
# command line that was typed to print it).
hw_screen_has_line() { tmux_screen | awk -v t="$1" 'index($0, t) == 1 { f = 1 } END { exit !f }'; }

# hw_wait_line TEXT: wait until a line of the screen begins with TEXT.
hw_wait_line() {
	wait_for 10 hw_screen_has_or_ended hw_screen_has_line "$1"
	hw_screen_has_line "$1" || fail "no line of the screen began with '$1':
$(tmux_screen)"
}

# hw_screen_prompt TEXT: the last line of the screen that is not blank begins with TEXT.
hw_screen_prompt() { tmux_screen | awk -v t="$1" 'NF { last = $0 } END { exit index(last, t) != 1 }'; }

# hw_wait_prompt TEXT: wait until the last line of the screen that is not blank
# begins with TEXT (a shell is back at its prompt).
hw_wait_prompt() {
	wait_for 10 hw_screen_has_or_ended hw_screen_prompt "$1"
	hw_screen_prompt "$1" || fail "the screen's last line did not begin with '$1':
$(tmux_screen)"
}

# hw_exit: alice logs out of the recorded shell; wait until su has returned.
hw_exit() {
	hw_type exit
	wait_for 10 test -s "$W/rc" || fail "the session did not end:
$(tmux_screen)"
}

# hw_recording: the path of the one recording in the spool.
hw_recording() {
	local f=("$W"/log/psm/*.jsonl)
	if [ "${#f[@]}" -ne 1 ] || [ ! -f "${f[0]}" ]; then
		fail "not one recording in the spool: $(ls -la "$W/log/psm")"
		return 1
	fi
	echo "${f[0]}"
}

# hw_typed FILE: the input recorded in FILE, decoded (the base64 payloads too).
hw_typed() { psm-replay --raw --input "$1"; }

# hw_refute_secret FILE SECRET: SECRET is neither in FILE's lines nor in its decoded input.
hw_refute_secret() {
	if grep -qF -- "$2" "$1"; then
		fail "'$2' is in $1: $(grep -F -- "$2" "$1")"
	elif hw_typed "$1" | grep -qF -- "$2"; then
		fail "'$2' is in the decoded input of $1: $(hw_typed "$1")"
	fi
}

# hw_assert_marker FILE TEXT: the session's output recorded in FILE shows TEXT.
hw_assert_marker() {
	psm-replay --raw "$1" | grep -qF -- "$2" || fail "'$2' is not in the recorded output of $1"
}

# hw_seal_filter: a record-filter that seals the spool file with a key of psm's;
# the public key is $W/host.pub.
hw_seal_filter() {
	psm-keygen -o "$W/host" --no-passphrase
	install -o $HW_PSM_UID -g $HW_PSM_UID -m 600 "$W/host.key" "$W/etc/psm/host.key"
	printf '#!/bin/sh\nexec psm-seal -k /etc/psm/host.key\n' > "$W/etc/psm/record-filter"
	chmod 755 "$W/etc/psm/record-filter"
}

# hw_sshd: a real sshd in the world on a free port of 127.0.0.1 that takes alice's
# password; `ssh -t alice@127.0.0.1` reaches it from the world (her ~/.ssh/config).
hw_sshd() {	# hw_sshd [CONFIG-LINE]: one more line of sshd_config (ForceCommand ...)
	HW_SSHD_PORT=$(free_port)
	ssh-keygen -q -t ed25519 -N '' -f "$W/sshd/host_key"
	cat > "$W/sshd/sshd_config" <<-CONF
	ListenAddress 127.0.0.1:$HW_SSHD_PORT
	HostKey $W/sshd/host_key
	PidFile $W/sshd/sshd.pid
	PasswordAuthentication yes
	KbdInteractiveAuthentication no
	PubkeyAuthentication no
	UsePAM no
	PermitRootLogin no
	AllowUsers alice
	PrintMotd no
	PrintLastLog no
	${1:-}
	CONF
	mkdir -p "$W/home/alice/.ssh"
	cat > "$W/home/alice/.ssh/config" <<-CONF
	Host 127.0.0.1
		Port $HW_SSHD_PORT
		StrictHostKeyChecking no
		UserKnownHostsFile /dev/null
		PreferredAuthentications password
	CONF
	chown -R $HW_ALICE_UID:$HW_ALICE_UID "$W/home/alice/.ssh"
	chmod 700 "$W/home/alice/.ssh"
	"$W/enter" /usr/sbin/sshd -f "$W/sshd/sshd_config" -E "$W/sshd/log"
	wait_for 10 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$HW_SSHD_PORT) 2>/dev/null" ||
		fail "sshd did not answer: $(cat "$W/sshd/log")"
}

# hw_postgres: a PostgreSQL server of the world, run by bob on 127.0.0.1 on a free
# port, with scram passwords: bob's database user has the password HW_PG_PW.
HW_PG_PW='Pg-pw-9Wt'
hw_postgres() {
	local bin
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -x "$bin/initdb" ] || skip "the PostgreSQL server is not installed (scripts/deps.sh test)"
	HW_PG_PORT=$(free_port)
	mkdir -p "$W/pg"
	printf '%s\n' "$HW_PG_PW" > "$W/pg/pwfile"
	chown -R $HW_BOB_UID:$HW_BOB_UID "$W/pg"
	hw_as bob "$bin/initdb -D $W/pg/data -U bob -A scram-sha-256 --pwfile=$W/pg/pwfile" >/dev/null ||
		fail "initdb failed"
	hw_as bob "$bin/pg_ctl -D $W/pg/data -l $W/pg/log -w -o '-p $HW_PG_PORT -k $W/pg -c listen_addresses=127.0.0.1' start" >/dev/null ||
		fail "PostgreSQL did not start: $(cat "$W/pg/log")"
}

# hw_postgres_stop: stop the world's PostgreSQL server, if it runs.
hw_postgres_stop() {
	[ -n "${HW_PG_PORT:-}" ] || return 0
	hw_as bob "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl -D $W/pg/data -m immediate stop" >/dev/null 2>&1 || true
}

# hw_world_pids: the processes in the world's mount namespace but its holder.
hw_world_pids() {
	local ns
	grep -qF " $W/etc /etc " "/proc/$HW_HOLDER/mountinfo" 2>/dev/null || return 0
	ns=$(ps -o mntns= -p "$HW_HOLDER") || return 0
	ps -e -o mntns=,pid= | awk -v ns="$ns" -v holder="$HW_HOLDER" '$1 == ns && $2 != holder { print $2 }'
}

# hw_no_world_pids: no process is left in the world's namespace but its holder.
hw_no_world_pids() { [ -z "$(hw_world_pids)" ]; }

# hw_teardown: stop tmux, kill every process of the world (sshd, stopped ones too),
# then the holder of its namespace, and remove $W.
hw_teardown() {
	tmux_stop
	hw_postgres_stop
	[ -n "${W:-}" ] && [ -d "$W" ] || return 0
	if [ -n "${HW_HOLDER:-}" ]; then
		local pid
		for _ in 1 2 3; do
			for pid in $(hw_world_pids); do
				kill -9 "$pid" 2>/dev/null || true
			done
			wait_for 2 hw_no_world_pids && break
		done
		kill -9 "$HW_HOLDER" 2>/dev/null || true
	fi
	rm -rf "$W"
}
