#!/bin/sh
# Install the Debian 12 packages that psm needs to build, test or benchmark.
# As root it calls apt-get for whatever is missing; as anyone else it prints
# the apt-get line to run and fails, so nothing is installed behind your back.
# usage: scripts/deps.sh [build] [test] [fuzz] [bench]
set -eu

pkgs_build="gcc make pkg-config uuid-dev libssl-dev libsodium-dev libseccomp-dev libvectorscan-dev libpcre2-dev libpq-dev libjq-dev"
pkgs_test="bats bats-support bats-assert mandoc tmux bsdutils procps valgrind jq openssl openssh-client openssh-server zsh bash-completion sudo strace gdb util-linux mount postgresql rsyslog rsyslog-relp rsyslog-openssl socat"
pkgs_fuzz="clang libclang-rt-14-dev"
pkgs_bench="tlog time bsdutils openssl rsyslog rsyslog-relp rsyslog-openssl socat postgresql"

wanted=""
[ $# -gt 0 ] || set -- build test
for group in "$@"; do
	case $group in
	build) wanted="$wanted $pkgs_build" ;;
	test) wanted="$wanted $pkgs_test" ;;
	fuzz) wanted="$wanted $pkgs_fuzz" ;;
	bench) wanted="$wanted $pkgs_bench" ;;
	*) echo "deps.sh: unknown group: $group (build, test, fuzz, bench)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $wanted; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages; as root run:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The tests start their own sshd on a loopback port: the package must not
# start the machine's service (invoke-rc.d(8): 101 means "not allowed").
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends $missing >&2
