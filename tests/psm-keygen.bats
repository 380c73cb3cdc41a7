#!/usr/bin/env bats
# psm-keygen: make the Ed25519 key pairs psm-seal signs with.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	unset PSM_PASSPHRASE_FILE
	# A small session to seal.
	psm-record --no-pty -o rec.jsonl -- echo sealed </dev/null >/dev/null
}

teardown() {
	tmux_stop
}

# pass FILE TEXT: a passphrase file of mode 0600.
pass() {
	printf '%s\n' "$2" > "$1"
	chmod 600 "$1"
}

# echo_off: the terminal of the tmux window has echo turned off (a
# passphrase prompt is reading; keys typed before that may be flushed).
echo_off() {
	stty -F "$(tmux -L "$TMUX_SOCKET" display -p '#{pane_tty}')" -a | grep -qw -- -echo
}

# The key id a public key line states, and the one its key gives:
# the first 8 bytes of SHA-256("psm-key-id" NUL || the 32-byte key), in hex.
stated_id() { cut -d' ' -f2 "$1"; }
computed_id() {
	{ printf 'psm-key-id\0'; awk '{ print $NF }' "$1" | base64 -d; } | sha256sum | cut -c1-16
}

@test "psm-keygen: --no-passphrase writes BASE.key (0600) and a one-line BASE.pub" {
	run -0 --separate-stderr psm-keygen -o k --no-passphrase
	assert_output ''
	assert_stderr ''
	run stat -c %a k.key
	assert_output 600
	run cat k.pub
	assert_output --regexp '^ed25519 [0-9a-f]{16} [A-Za-z0-9+/]{43}=$'
	[ "$(wc -l < k.pub)" -eq 1 ]
	[ "$(stated_id k.pub)" = "$(computed_id k.pub)" ]
	run sed -n 1,2p k.key
	assert_output "psm-secret-key v1 ed25519 $(stated_id k.pub) -
kdf none"
	run sed -n 3p k.key
	assert_output --regexp '^secret [A-Za-z0-9+/]{86}==$'
}

@test "psm-keygen: each run makes a new key" {
	psm-keygen -o a --no-passphrase
	psm-keygen -o b --no-passphrase
	[ "$(stated_id a.pub)" != "$(stated_id b.pub)" ]
	run -1 cmp -s a.key b.key
}

@test "psm-keygen: --id NAME is written into BASE.pub and BASE.key" {
	run -0 psm-keygen -o k --id backup.host-1@example.com --no-passphrase
	run cat k.pub
	assert_output --regexp '^ed25519 [0-9a-f]{16} backup\.host-1@example\.com [A-Za-z0-9+/]{43}=$'
	[ "$(stated_id k.pub)" = "$(computed_id k.pub)" ]
	run sed -n 1p k.key
	assert_output "psm-secret-key v1 ed25519 $(stated_id k.pub) backup.host-1@example.com"
	run -0 psm-keygen -o n -n short:name+1 --no-passphrase
	run cut -d' ' -f3 n.pub
	assert_output short:name+1
}

@test "psm-keygen: an existing BASE.key is not overwritten: exit 4, its name, nothing changed" {
	echo 'precious key' > k.key
	chmod 600 k.key
	run -4 --separate-stderr psm-keygen -o k --no-passphrase
	assert_stderr 'psm-keygen: k.key: File exists'
	run cat k.key
	assert_output 'precious key'
	[ ! -e k.pub ]
}

@test "psm-keygen: an existing BASE.pub is not overwritten: exit 4, its name, nothing changed" {
	echo 'precious pub' > k.pub
	run -4 --separate-stderr psm-keygen -o k --no-passphrase
	assert_stderr 'psm-keygen: k.pub: File exists'
	run cat k.pub
	assert_output 'precious pub'
	[ ! -e k.key ]
}

@test "psm-keygen: a second run over a whole key pair leaves both files as they were" {
	psm-keygen -o k --no-passphrase
	cp k.key k.key.orig
	cp k.pub k.pub.orig
	run -4 --separate-stderr psm-keygen -o k --no-passphrase
	assert_stderr 'psm-keygen: k.key: File exists'
	cmp k.key k.key.orig
	cmp k.pub k.pub.orig
}

@test "psm-keygen: a dangling symlink at BASE.key is not followed" {
	ln -s elsewhere.key k.key
	run -4 --separate-stderr psm-keygen -o k --no-passphrase
	assert_stderr 'psm-keygen: k.key: File exists'
	[ ! -e elsewhere.key ]
	[ ! -e k.pub ]
}

@test "psm-keygen: a dangling symlink at BASE.pub is refused and leaves no secret key behind" {
	ln -s elsewhere.pub k.pub
	run -4 --separate-stderr psm-keygen -o k --no-passphrase
	assert_stderr 'psm-keygen: k.pub: File exists'
	[ ! -e elsewhere.pub ]
	# A failed run must not leave half a key pair: a secret key without its public key.
	[ ! -e k.key ]
}

@test "psm-keygen: a directory that cannot be written is exit 4 with the file's name" {
	run -4 --separate-stderr psm-keygen -o no/such/dir/k --no-passphrase
	assert_stderr 'psm-keygen: no/such/dir/k.key: No such file or directory'
}

@test "psm-keygen: a --no-passphrase key seals with no terminal and no passphrase file" {
	psm-keygen -o k --no-passphrase
	run -0 --separate-stderr setsid -w psm-seal -k k.key rec.jsonl </dev/null
	assert_stderr ''
	echo "$output" > s.jsonl
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "s.jsonl: OK: 3 events, 1 session, sealed by $(stated_id k.pub), "
}

@test "psm-keygen: a key with a passphrase from PSM_PASSPHRASE_FILE seals with that passphrase" {
	pass pass 'correct horse battery'
	PSM_PASSPHRASE_FILE=pass run -0 --separate-stderr psm-keygen -o k
	assert_stderr ''
	run stat -c %a k.key
	assert_output 600
	run sed -n 2p k.key
	assert_output --regexp '^kdf argon2id [0-9]+ [0-9]+ [A-Za-z0-9+/]{22}==$'
	# The secret is boxed: 24-byte nonce, 64 bytes, 16-byte tag (104 bytes).
	run sed -n 3p k.key
	assert_output --regexp '^secret [A-Za-z0-9+/]{139}=$'
	PSM_PASSPHRASE_FILE=pass run -0 --separate-stderr setsid -w psm-seal -k k.key rec.jsonl </dev/null
	assert_stderr ''
	echo "$output" > s.jsonl
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial "s.jsonl: OK: 3 events, 1 session, sealed by $(stated_id k.pub), "
}

@test "psm-keygen: a passphrase file without a final newline gives the same passphrase" {
	pass pass 'no newline here'
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k
	printf '%s' 'no newline here' > pass2
	chmod 600 pass2
	PSM_PASSPHRASE_FILE=pass2 run -0 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr ''
}

@test "psm-keygen: the wrong passphrase makes psm-seal exit 1 with 'wrong passphrase' and write nothing" {
	pass pass 'the right one'
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k
	pass wrong 'the wrong one'
	PSM_PASSPHRASE_FILE=wrong run -1 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: k.key: wrong passphrase'
	assert_output ''
	pass empty ''
	PSM_PASSPHRASE_FILE=empty run -1 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: k.key: wrong passphrase'
}

@test "psm-keygen: the header of a passphrase key cannot be edited (it is the box's associated data)" {
	pass pass 'pw'
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k --id before
	sed -i '1s/ before$/ after/' k.key
	PSM_PASSPHRASE_FILE=pass run -1 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: k.key: wrong passphrase'
}

@test "psm-keygen: a secret key whose key id was edited is refused by psm-seal (exit 3)" {
	psm-keygen -o k --no-passphrase
	sed -i '1s/ [0-9a-f]\{16\} / 0000000000000000 /' k.key
	run -3 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: k.key:1: the key id does not match the key'
	assert_output ''
}

@test "psm-keygen: a file that is not a secret key is refused by psm-seal (exit 3, FILE:LINE)" {
	psm-keygen -o k --no-passphrase
	cp k.pub not.key
	chmod 600 not.key
	run -3 --separate-stderr psm-seal -k not.key rec.jsonl
	assert_stderr 'psm-seal: not.key:1: not a psm secret key'
	assert_output ''
	sed 's/^secret .*/secret !!!/' k.key > bad.key
	chmod 600 bad.key
	run -3 --separate-stderr psm-seal -k bad.key rec.jsonl
	assert_stderr 'psm-seal: bad.key:3: malformed secret'
}

@test "psm-keygen: a PSM_PASSPHRASE_FILE that others can read is refused" {
	printf 'pw\n' > pass
	chmod 644 pass
	PSM_PASSPHRASE_FILE=pass run -4 --separate-stderr psm-keygen -o k
	assert_stderr 'psm-keygen: pass: passphrase file is readable by others (chmod 600 pass)'
	[ ! -e k.key ]
	[ ! -e k.pub ]
	chmod 600 pass
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k
	chmod 640 pass
	PSM_PASSPHRASE_FILE=pass run -4 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr 'psm-seal: pass: passphrase file is readable by others (chmod 600 pass)'
	assert_output ''
}

@test "psm-keygen: a missing PSM_PASSPHRASE_FILE is exit 4 with its name" {
	PSM_PASSPHRASE_FILE=no-such-file run -4 --separate-stderr psm-keygen -o k
	assert_stderr 'psm-keygen: no-such-file: No such file or directory'
	[ ! -e k.key ]
}

@test "psm-keygen: an empty passphrase is refused (exit 2): --no-passphrase says so" {
	pass empty ''
	PSM_PASSPHRASE_FILE=empty run -2 --separate-stderr psm-keygen -o k
	assert_stderr 'psm-keygen: empty passphrase (use --no-passphrase for an unencrypted key)'
	[ ! -e k.key ]
	[ ! -e k.pub ]
}

@test "psm-keygen: a secret key readable by group or others is refused by psm-seal (exit 4)" {
	psm-keygen -o k --no-passphrase
	for mode in 640 604 644 660; do
		chmod "$mode" k.key
		run -4 --separate-stderr psm-seal -k k.key rec.jsonl
		assert_stderr 'psm-seal: k.key: secret key is readable by group or others (chmod 600 k.key)'
		assert_output ''
	done
	chmod 400 k.key
	run -0 --separate-stderr psm-seal -k k.key rec.jsonl
}

@test "psm-keygen: a passphrase key with no terminal and no PSM_PASSPHRASE_FILE is a clear error" {
	pass pass 'pw'
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k
	run -4 --separate-stderr setsid -w psm-seal -k k.key rec.jsonl </dev/null
	assert_stderr 'psm-seal: no terminal to ask for the passphrase: set PSM_PASSPHRASE_FILE'
	assert_output ''
	run -4 --separate-stderr setsid -w psm-keygen -o other </dev/null
	assert_stderr 'psm-keygen: no terminal to ask for the passphrase: set PSM_PASSPHRASE_FILE'
	[ ! -e other.key ]
	[ ! -e other.pub ]
}

@test "psm-keygen: on a terminal the passphrase is asked twice without echo, and works from a file" {
	tmux_start "psm-keygen -o k --id tty; echo rc=\$? > rc; stty -a > stty.txt; sleep 60"
	wait_for 5 tmux_screen_has 'New passphrase:'
	wait_for 5 echo_off
	tmux_keys -l 'typed secret 42'
	tmux_keys Enter
	wait_for 5 tmux_screen_has 'Same passphrase again:'
	wait_for 5 echo_off
	tmux_keys -l 'typed secret 42'
	tmux_keys Enter
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=0
	run tmux_screen
	refute_output --partial 'typed secret'
	# Echo is back on after the prompts.
	wait_for 5 test -s stty.txt
	run grep -c -w -- '-echo' stty.txt
	assert_output 0
	pass pass 'typed secret 42'
	PSM_PASSPHRASE_FILE=pass run -0 --separate-stderr psm-seal -k k.key rec.jsonl
	assert_stderr ''
}

@test "psm-keygen: interrupted at the passphrase prompt, the terminal gets its echo back" {
	# The shell catches SIGINT (so it goes on to run stty) but psm-keygen gets it.
	tmux_start "trap : INT; psm-keygen -o k; echo rc=\$? > rc; stty -a > stty.txt; sleep 60"
	wait_for 5 tmux_screen_has 'New passphrase:'
	wait_for 5 echo_off
	tmux_keys C-c
	wait_for 5 test -s stty.txt
	run cat rc
	assert_output rc=130
	[ ! -e k.key ]
	run grep -c -w -- '-echo' stty.txt
	assert_output 0
	run grep -c -w -- 'echo' stty.txt
	assert_output 1
}

@test "psm-keygen: on a terminal two different passphrases are refused (exit 2), no files" {
	tmux_start "psm-keygen -o k 2>err; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'New passphrase:'
	wait_for 5 echo_off
	tmux_keys -l 'one'
	tmux_keys Enter
	wait_for 5 tmux_screen_has 'Same passphrase again:'
	wait_for 5 echo_off
	tmux_keys -l 'two'
	tmux_keys Enter
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=2
	run cat err
	assert_output 'psm-keygen: the passphrases differ'
	[ ! -e k.key ]
	[ ! -e k.pub ]
}

@test "psm-keygen: psm-seal asks for the passphrase on the terminal when there is no file" {
	pass pass 'asked on tty'
	PSM_PASSPHRASE_FILE=pass psm-keygen -o k
	tmux_start "psm-seal -k k.key rec.jsonl > s.jsonl; echo rc=\$? > rc; sleep 60"
	wait_for 5 tmux_screen_has 'Passphrase for k.key:'
	wait_for 5 echo_off
	tmux_keys -l 'asked on tty'
	tmux_keys Enter
	wait_for 10 test -s rc
	run cat rc
	assert_output rc=0
	run -0 psm-verify -p k.pub s.jsonl
	assert_output --partial 's.jsonl: OK: 3 events'
}

@test "psm-keygen: usage errors exit 2 and point to --help" {
	run -2 --separate-stderr psm-keygen --no-passphrase
	assert_stderr "psm-keygen: -o BASE is required
Try 'psm-keygen --help'"
	run -2 --separate-stderr psm-keygen -o '' --no-passphrase
	assert_stderr "psm-keygen: -o BASE is required
Try 'psm-keygen --help'"
	run -2 --separate-stderr psm-keygen -o k --no-passphrase extra
	assert_stderr "psm-keygen: unexpected argument 'extra'
Try 'psm-keygen --help'"
	run -2 --separate-stderr psm-keygen -o k --no-such-option
	assert_stderr --partial "Try 'psm-keygen --help'"
	for name in 'has space' - '' 'semi;colon' 'slash/name' "$(printf 'x%.0s' {1..64})" $'caf\303\251'; do
		run -2 --separate-stderr psm-keygen -o k --id "$name" --no-passphrase
		assert_stderr "psm-keygen: invalid key name '$name' (letters, digits and ._@:+- only)
Try 'psm-keygen --help'"
	done
	[ ! -e k.key ]
	[ ! -e k.pub ]
	# 63 characters is the longest name.
	run -0 psm-keygen -o k --id "$(printf 'x%.0s' {1..63})" --no-passphrase
}

@test "psm-keygen: --help lists every option on stdout, --version prints the version" {
	run -0 --separate-stderr psm-keygen --help
	for o in --output --id --no-passphrase --help --version; do
		assert_output --partial -- "$o"
	done
	assert_stderr ''
	run -0 psm-keygen --version
	assert_output --regexp '^psm-keygen [0-9]+\.[0-9]+\.[0-9]+$'
	[ ! -e .key ]
}
