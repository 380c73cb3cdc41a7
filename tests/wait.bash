# Plain bash, for the tests (through helpers.bash) and the bench scripts
# that start the tests' receivers (bench/ship.sh).

# wait_for TIMEOUT_SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local deadline=$(( SECONDS + $1 ))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$(( 20000 + RANDOM % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}
