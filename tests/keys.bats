#!/usr/bin/env bats
# Secret and public key files, and passphrases: what psm-keygen, psm-seal
# and psm-verify refuse, and the protection of a process that holds a key.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	unset PSM_PASSPHRASE_FILE
	psm-keygen -o plain --id keys-test --no-passphrase
	printf '%s\n' 'keys test passphrase' > pass
	chmod 600 pass
	PSM_PASSPHRASE_FILE=pass psm-keygen -o boxed
	psm-record --no-pty -o rec.jsonl -- echo sealed </dev/null >/dev/null
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	unset PSM_PASSPHRASE_FILE
	cp "$BATS_FILE_TMPDIR"/{plain,boxed}.{key,pub} "$BATS_FILE_TMPDIR"/pass \
		"$BATS_FILE_TMPDIR"/rec.jsonl .
}

teardown() {
	tmux_stop
}

# secret_key FILE LINE1 LINE2 SECRET-FILE: a key file (0600) of two header
# lines and the bytes of SECRET-FILE in base64 as line 3.
secret_key() {
	printf '%s\n%s\nsecret %s\n' "$2" "$3" "$(base64 -w0 "$4")" > "$1"
	chmod 600 "$1"
}

# flip_byte FILE OFFSET: change one byte of FILE (its complement).
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf %03o $(( 255 - b )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# echo_off: the terminal of the tmux window has echo turned off.
echo_off() {
	stty -F "$(tmux -L "$TMUX_SOCKET" display -p '#{pane_tty}')" -a | grep -qw -- -echo
}

# No passphrase is at hand: no PSM_PASSPHRASE_FILE and no terminal. A
# command that gets as far as asking for one fails with exit 4.
no_passphrase() {
	setsid -w "$@" </dev/null
}

# preload_lib NAME C-SOURCE: a library for LD_PRELOAD, built from C-SOURCE.
preload_lib() {
	command -v cc >/dev/null || skip "no C compiler"
	printf '%s\n' "$2" > "$1.c"
	cc -shared -fPIC -o "$1" "$1.c" -ldl
	# A sanitizer runtime must otherwise come first, and would set its own limits.
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:disable_coredump=0
}

@test "psm-seal: a secret key file cut after line 2 is refused with FILE:LINE (exit 3), not a crash" {
	head -n 2 plain.key > t.key
	chmod 600 t.key
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:3: the file ends before the secret'
	assert_output ''
	# Cut inside line 3, before and after "secret ".
	for cut in 'secr' 'secret' 'secret AAAA'; do
		{ head -n 2 plain.key; printf '%s' "$cut"; } > t.key
		run -3 --separate-stderr psm-seal -k t.key rec.jsonl
		assert_stderr 'psm-seal: t.key:3: malformed secret'
	done
	head -n 1 plain.key > t.key
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:2: the file ends before the key derivation'
	: > t.key
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:1: not a psm secret key'
	# A passphrase key cut short is refused before the passphrase is asked for.
	head -n 2 boxed.key > t.key
	run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:3: the file ends before the secret'
}

@test "psm-seal: a secret key file with text after the secret is refused with FILE:4 (exit 3)" {
	{ cat plain.key; echo 'more'; } > t.key
	chmod 600 t.key
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:4: text after the secret'
	assert_output ''
}

@test "psm-seal: a passphrase key whose first line is over 128 bytes is refused with FILE:1 (exit 3), before the passphrase" {
	long=$(printf 'x%.0s' {1..300})
	sed "1s/\$/$long/" boxed.key > t.key
	chmod 600 t.key
	run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:1: not a psm secret key (a line longer than 128 bytes)'
	PSM_PASSPHRASE_FILE=pass run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:1: not a psm secret key (a line longer than 128 bytes)'
	assert_output ''
	# Line 2 has the same bound.
	sed "2s/\$/ $long/" boxed.key > t.key
	run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:2: malformed key derivation'
}

@test "psm-seal: an Argon2id cost outside libsodium's bounds is refused with FILE:2 (exit 3), before the passphrase" {
	cost() {
		sed -E "2s/^kdf argon2id [0-9]+ [0-9]+ /kdf argon2id $1 $2 /" boxed.key > t.key
		chmod 600 t.key
	}
	cost 0 67108864
	run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:2: Argon2id opslimit 0 is out of bounds (1 to 4)'
	assert_output ''
	for ops in 5 4294967295 18446744073709551616 99999999999999999999; do
		cost "$ops" 67108864
		run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
		assert_stderr "psm-seal: t.key:2: Argon2id opslimit $ops is out of bounds (1 to 4)"
	done
	for mem in 0 8191 1073741825 4294967296; do
		cost 2 "$mem"
		run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
		assert_stderr "psm-seal: t.key:2: Argon2id memlimit $mem is out of bounds (8192 to 1073741824 bytes)"
	done
	# Not numbers at all.
	for bad in '-1 67108864' '+2 67108864' '2 64M' '2'; do
		sed -E "2s/^kdf argon2id [0-9]+ [0-9]+ /kdf argon2id $bad /" boxed.key > t.key
		run -3 --separate-stderr no_passphrase psm-seal -k t.key rec.jsonl
		assert_stderr 'psm-seal: t.key:2: malformed key derivation'
	done
	# The bounds themselves are taken: the key is derived (and the edited
	# header, the box's associated data, then fails to open it).
	for c in '1 8192' '4 8192'; do
		cost $c
		PSM_PASSPHRASE_FILE=pass run -1 --separate-stderr psm-seal -k t.key rec.jsonl
		assert_stderr 'psm-seal: t.key: wrong passphrase'
	done
}

@test "psm-seal: an unencrypted secret key whose seed was changed is refused with FILE:3 (exit 3)" {
	sed -n 3p plain.key | cut -c8- | base64 -d > sk.bin
	cp sk.bin seed.bin
	flip_byte seed.bin 0
	secret_key t.key "$(sed -n 1p plain.key)" 'kdf none' seed.bin
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:3: the secret key does not match its public key'
	assert_output ''
	# The public half stored after the seed is checked the same way.
	cp sk.bin half.bin
	flip_byte half.bin 40
	secret_key t.key "$(sed -n 1p plain.key)" 'kdf none' half.bin
	run -3 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr 'psm-seal: t.key:3: the secret key does not match its public key'
	# Untouched, the same bytes are a good key.
	secret_key t.key "$(sed -n 1p plain.key)" 'kdf none' sk.bin
	cmp t.key plain.key
	run -0 --separate-stderr psm-seal -k t.key rec.jsonl
	assert_stderr ''
}

@test "psm-keygen: a passphrase over 1023 bytes in PSM_PASSPHRASE_FILE is refused (exit 2), not cut" {
	printf 'p%.0s' {1..1024} > long
	chmod 600 long
	PSM_PASSPHRASE_FILE=long run -2 --separate-stderr psm-keygen -o k
	assert_stderr 'psm-keygen: long: the passphrase is longer than 1023 bytes'
	[ ! -e k.key ]
	[ ! -e k.pub ]
	# 1023 bytes is the longest; a CR before the newline is not counted.
	printf 'p%.0s' {1..1023} > max
	printf '\r\n' >> max
	chmod 600 max
	PSM_PASSPHRASE_FILE=max run -0 --separate-stderr psm-keygen -o k
	assert_stderr ''
	PSM_PASSPHRASE_FILE=max run -0 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr ''
	# psm-seal refuses a longer one too: it would have been cut to this key's.
	PSM_PASSPHRASE_FILE=long run -2 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: long: the passphrase is longer than 1023 bytes'
	assert_output ''
}

@test "psm-keygen: on a terminal a passphrase over 1023 bytes is refused (exit 2), not cut" {
	tmux_start "psm-keygen -o k 2>err; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'New passphrase:'
	wait_for 5 echo_off
	tmux_keys -l "$(printf 'q%.0s' {1..1100})"
	tmux_keys Enter
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=2
	run cat err
	assert_output 'psm-keygen: the passphrase is longer than 1023 bytes'
	run tmux_screen
	refute_output --partial 'Same passphrase again'
	[ ! -e k.key ]
	[ ! -e k.pub ]
}

@test "psm-seal: a secret key file owned by another user is refused (exit 4)" {
	[ "$(id -u)" -eq 0 ] || skip "only root can give a file to another user"
	chown 65534 plain.key
	run -4 --separate-stderr psm-seal -k plain.key rec.jsonl
	assert_stderr 'psm-seal: plain.key: secret key is owned by another user (uid 65534)'
	assert_output ''
	# Root's own key is taken.
	chown 0 plain.key
	run -0 --separate-stderr psm-seal -k plain.key rec.jsonl
	assert_stderr ''
}

@test "psm-keygen: when core dumps or ptrace cannot be turned off, psm-keygen and psm-seal refuse (exit 4)" {
	preload_lib noprctl.so '
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/prctl.h>
int prctl(int option, ...)
{
	va_list ap;
	unsigned long a[4];
	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_DUMPABLE) {
		errno = EPERM;
		return -1;
	}
	int (*real)(int, ...) = (int (*)(int, ...))dlsym(RTLD_NEXT, "prctl");
	return real(option, a[0], a[1], a[2], a[3]);
}'
	preload_lib nosetrlimit.so '
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>
int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
	if (resource == RLIMIT_CORE) {
		errno = EPERM;
		return -1;
	}
	int (*real)(__rlimit_resource_t, const struct rlimit *) =
		(int (*)(__rlimit_resource_t, const struct rlimit *))dlsym(RTLD_NEXT, "setrlimit");
	return real(resource, rl);
}'
	for refusal in 'noprctl prctl(PR_SET_DUMPABLE)' 'nosetrlimit setrlimit(RLIMIT_CORE)'; do
		lib=${refusal%% *} call=${refusal#* }
		LD_PRELOAD=$PWD/$lib.so run -4 --separate-stderr psm-keygen -o k --no-passphrase
		assert_stderr "psm-keygen: $call: Operation not permitted"
		[ ! -e k.key ]
		LD_PRELOAD=$PWD/$lib.so run -4 --separate-stderr psm-seal -k plain.key rec.jsonl
		assert_stderr "psm-seal: $call: Operation not permitted"
		assert_output ''
	done
}

@test "psm-seal: while it waits for a passphrase it cannot dump core" {
	tmux_start "echo \$\$ > pid; exec psm-seal -k boxed.key rec.jsonl > s.jsonl"
	wait_for 5 tmux_screen_has 'Passphrase for boxed.key:'
	run grep -E '^Max core file size' "/proc/$(cat pid)/limits"
	assert_output --regexp '^Max core file size +0 +0 '
	tmux_keys -l 'keys test passphrase'
	tmux_keys Enter
	wait_for 10 grep -q '"type":"seal"' s.jsonl
}

@test "psm-seal: every piece of sodium memory it takes for a key is given back, on success and on each refusal" {
	# Counts sodium_malloc and sodium_free, and says the difference at exit.
	preload_lib count.so '
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
static long held;
static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
void *sodium_malloc(size_t n)
{
	if (real_malloc == NULL) {
		real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "sodium_malloc");
		real_free = (void (*)(void *))dlsym(RTLD_NEXT, "sodium_free");
	}
	void *p = real_malloc(n);
	if (p != NULL)
		held++;
	return p;
}
void sodium_free(void *p)
{
	if (p == NULL)
		return;
	held--;
	real_free(p);
}
__attribute__((destructor)) static void report(void)
{
	char s[128];
	int n = snprintf(s, sizeof s, "%s: sodium buffers held: %ld\n",
	    program_invocation_short_name, held);
	if (write(2, s, (size_t)n) < 0)
		return;
}'
	# held PROGRAM STATUS ARGS...: run with the counter; PROGRAM gave back all it took.
	held() {
		LD_PRELOAD=$PWD/count.so run "$2" --separate-stderr "${@:3}"
		assert_stderr --partial "$1: sodium buffers held: 0"
	}
	held psm-seal -0 psm-seal -k plain.key rec.jsonl
	PSM_PASSPHRASE_FILE=pass held psm-seal -0 psm-seal -k boxed.key rec.jsonl
	printf 'wrong\n' > wrong
	chmod 600 wrong
	PSM_PASSPHRASE_FILE=wrong held psm-seal -1 psm-seal -k boxed.key rec.jsonl
	held psm-seal -4 no_passphrase psm-seal -k boxed.key rec.jsonl
	sed '1s/ [0-9a-f]\{16\} / 0000000000000000 /' plain.key > id.key
	chmod 600 id.key
	held psm-seal -3 psm-seal -k id.key rec.jsonl
	sed 's/^secret .*/secret !!!/' plain.key > bad.key
	chmod 600 bad.key
	held psm-seal -3 psm-seal -k bad.key rec.jsonl
	head -n 2 plain.key > cut.key
	chmod 600 cut.key
	held psm-seal -3 psm-seal -k cut.key rec.jsonl
	sed -E '2s/^kdf argon2id [0-9]+ /kdf argon2id 9 /' boxed.key > cost.key
	chmod 600 cost.key
	held psm-seal -3 psm-seal -k cost.key rec.jsonl
	held psm-keygen -0 psm-keygen -o new --no-passphrase
	PSM_PASSPHRASE_FILE=pass held psm-keygen -0 psm-keygen -o new2
}

@test "psm-verify: a public key line with more than the key on it is refused (exit 3, FILE:1)" {
	psm-seal -k plain.key rec.jsonl > s.jsonl
	printf '%s extra\n' "$(cat plain.pub)" > extra.pub
	run -3 --separate-stderr psm-verify -p extra.pub s.jsonl
	assert_stderr 'psm-verify: extra.pub:1: not a psm public key (ed25519 KEYID [NAME] KEY)'
	assert_output ''
	# A line longer than any public key, even if it starts as one.
	printf '%s%600s\n' "$(cat plain.pub)" '' > long.pub
	run -3 --separate-stderr psm-verify -p long.pub s.jsonl
	assert_stderr 'psm-verify: long.pub:1: not a psm public key (a line longer than 512 bytes)'
	# Blanks around the fields, a CR before the newline and no final newline are fine.
	printf '  %s\r\n' "$(sed 's/ /\t/g' plain.pub)" > crlf.pub
	run -0 --separate-stderr psm-verify -p crlf.pub s.jsonl
	printf '%s' "$(cat plain.pub)" > nonl.pub
	run -0 --separate-stderr psm-verify -p nonl.pub s.jsonl
}
