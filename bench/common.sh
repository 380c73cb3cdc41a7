# Shared set-up of the bench/*.sh scripts, sourced after they set $prog:
# bench_setup BINDIR PROGRAM... checks the arguments and the programs,
# sets $bindir and $here; die, need and positive_ints are for the rest.

die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

# need COMMAND PACKAGE: COMMAND must be there (PACKAGE: where Debian has it).
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1: not found (Debian package $2; scripts/deps.sh bench installs it)"
}

# positive_ints NAME...: each variable named is a positive integer.
positive_ints() {
	local v
	for v in "$@"; do
		case ${!v} in '' | *[!0-9]* | 0) die "$v must be a positive integer" ;; esac
	done
}

# bench_setup ARGC BINDIR PROGRAM...: one argument, a directory with the programs built.
bench_setup() {
	[ "$1" -eq 1 ] || { printf 'usage: %s BINDIR\n' "$prog" >&2; exit 2; }
	bindir=$(cd "$2" 2>/dev/null && pwd) || die "$2: no such directory"
	shift 2
	local p
	for p in "$@"; do
		[ -x "$bindir/$p" ] || die "$bindir/$p: not found (run make first)"
	done
	[ -x /usr/bin/time ] ||
		die "/usr/bin/time: not found (Debian package time; scripts/deps.sh bench installs it)"
}
