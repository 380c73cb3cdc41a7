#!/usr/bin/env bats
# The documentation: man pages, completions, and the man pages' EXAMPLES.
#
# The options are taken from each command's --help, never listed here.
#
# EXAMPLES are run as the reader sees them. Every literal block
# (.Bd -literal ... .Ed) in the EXAMPLES section of a man page is one
# example; its lines, with mdoc's escapes \e \& \- undone (any other escape
# fails the test), must appear in the rendered page, and are run by
# bash -e -o pipefail, standard input /dev/null, in a temporary directory
# with psm-* first on PATH. The blocks of one page run in order in the same
# directory, after prepare_examples has made the recordings they read
# (session.jsonl, whose sid begins with 9143c952, live.jsonl, and for
# psm-replay.1 sessions/). A block must exit 0.
# A comment line right above a block's .Bd changes that:
#   .\" test: skip REASON   the block is not run: it needs a terminal, changes
#                           the system, or is not a command (sshd_config)
#   .\" test: stream        the block is a psm stream, not commands:
#                           psm-replay --list and --raw must read it
#   .\" test: file NAME     the block is the content of a file (a rules file):
#                           it is written to NAME in the directory, for the
#                           blocks after it
load helpers

ROOT=$BATS_TEST_DIRNAME/..
EXAMPLE_SID=9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05
BASH_COMPLETION=/usr/share/bash-completion/bash_completion

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The long options (--name) that CMD --help lists, one a line.
long_options() {
	"$1" --help | grep -oE -- '^ +(-[[:alnum:]], +)?--[[:alnum:]][[:alnum:]-]*' |
		grep -oE -- '--[[:alnum:]][[:alnum:]-]*$'
}

# The short options (-x) that CMD --help lists, one a line.
short_options() {
	"$1" --help | grep -oE -- '^ +-[[:alnum:]],' | grep -oE -- '-[[:alnum:]]'
}

# Every option of CMD's --help; fails if there is no long option. (It runs
# in $(...), where a failing command does not stop it: hence the returns.)
help_options() {
	local long short
	long=$(long_options "$1")
	short=$(short_options "$1")
	if [ -z "$long" ]; then
		echo "no long options found in '$1 --help'" >&2
		return 1
	fi
	printf '%s\n' $long $short
}

# has_option OPTION: whether standard input has OPTION as a word of its own.
has_option() {
	grep -qE -- "(^|[^[:alnum:]-])$1([^[:alnum:]-]|\$)"
}

# The page as the reader sees it, without overstrike.
rendered() {
	mandoc -Tascii -O width=400 "$ROOT/man/$1" | sed 's/.\x08//g'
}

# The rendered section NAME of a page.
rendered_section() {
	rendered "$1" | awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on'
}

# what_completes [--bash-completion] WORD...: what _psm offers for the last
# WORD, one a line; with --bash-completion, bash-completion is loaded first.
what_completes() {
	local bc=
	if [ "$1" = --bash-completion ]; then
		bc=$BASH_COMPLETION
		shift
	fi
	bash --norc --noprofile -c '
		[ -z "$1" ] || . "$1"
		. "$2"
		shift 2
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE=$1	# as typed: bash splits "--opt=value" at the "="
		for ((i = 2; i <= $#; i++)); do
			if [ "${!i}" = = ] || [ "${COMP_WORDS[i - 2]}" = = ]; then
				COMP_LINE+=${!i}
			else
				COMP_LINE+=" ${!i}"
			fi
		done
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_psm "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}"
	' bash "$bc" "$ROOT/completions/psm.bash" "$@"
}

# The ways to run the bash completion here: on its own, and with
# bash-completion's helpers when that is installed.
completion_modes() {
	echo plain
	[ ! -r "$BASH_COMPLETION" ] || echo --bash-completion
}

# completes_to WORDS... '=>' EXPECTED...: each EXPECTED is offered, in every mode.
completes_to() {
	local words=() mode out want
	while [ "$1" != '=>' ]; do
		words+=("$1")
		shift
	done
	shift
	for mode in $(completion_modes); do
		if [ "$mode" = plain ]; then
			out=$(what_completes "${words[@]}")
		else
			out=$(what_completes "$mode" "${words[@]}")
		fi
		for want in "$@"; do
			grep -qxF -- "$want" <<<"$out" ||
				fail "'${words[*]}' ($mode) does not offer '$want': $(echo $out)"
		done
	done
}

# The options that a function of completions/_psm gives a spec with a
# description, one a line: '(excluded)'{-o+,--output=}'[description]:...'
# gives -o and --output, '--no-pty[description]' gives --no-pty.
zsh_specs() {
	awk -v f="$1() {" '$0 == f { on = 1; next } on && /^}/ { on = 0 } on' "$ROOT/completions/_psm" |
		grep -E "^[[:space:]]+'" | grep -F '[' |
		sed -E "s/^[[:space:]]+//; s/^'\*'//; s/^'\([^)]*\)'//; s/^'//" |
		sed -E 's/^\{([^}]*)\}.*/\1/; t; s/^([^[]*)\[.*/\1/' |
		tr ',' '\n' | sed -E 's/[-+=]+$//'
}

lint_ok() {
	run -0 mandoc -Tlint -W warning "$ROOT/man/$1"
	assert_output ''
}

options_documented() {
	local cmd=$1 page=$2 opts o
	opts=$(help_options "$cmd")
	run rendered_section "$page" OPTIONS
	[ -n "$output" ] || fail "$page has no OPTIONS section"
	for o in $opts; do
		has_option "$o" <<<"$output" || fail "$page: $o of '$cmd --help' is not in OPTIONS"
	done
}

# extract_examples PAGE DIR: DIR/N.txt for the Nth literal block of
# EXAMPLES, undone escapes and all, and DIR/N.kind: run, skip, stream or
# "file NAME".
extract_examples() {
	mkdir -p "$2"
	awk -v dir="$2" '
		/^\.Sh / { ex = ($0 == ".Sh EXAMPLES"); mark = ""; next }
		!ex { next }
		/^\.\\" test: / {
			mark = $3
			if (mark == "skip" && NF < 4) { print "a skip marker without a reason" > "/dev/stderr"; exit 1 }
			if (mark == "file" && (NF != 4 || $4 !~ /^[A-Za-z0-9][A-Za-z0-9._-]*$/)) {
				print "a file marker needs one plain file name: " $0 > "/dev/stderr"; exit 1
			}
			if (mark == "file") mark = "file " $4
			if (mark != "skip" && mark != "stream" && mark !~ /^file /) { print "unknown marker: " $0 > "/dev/stderr"; exit 1 }
			next
		}
		/^\.Bd -literal/ {
			n++; inblk = 1
			print (mark == "" ? "run" : mark) > (dir "/" n ".kind")
			printf "" > (dir "/" n ".src")
			mark = ""; next
		}
		/^\.Ed/ { inblk = 0; next }
		inblk { print > (dir "/" n ".src"); next }
		{ mark = "" }	# a marker stands right above its block
	' "$ROOT/man/$1" || return 1
	local src
	for src in "$2"/*.src; do
		[ -e "$src" ] || continue
		perl -pe 's{\\(.)}{ $1 eq "e" ? "\\" : $1 eq "&" ? "" : $1 eq "-" ? "-" :
			die "unsupported escape \\$1 in an example, line $.\n" }ge' \
			"$src" > "${src%.src}.txt" || return 1
	done
}

# The recordings the examples read.
prepare_examples() {
	local sid
	psm-record -o rec.jsonl -- sh -c 'echo hello; read line; echo "read $line"' <<<typed >/dev/null
	sid=$(sed -n '1s/^{"sid":"\([^"]*\)".*/\1/p' rec.jsonl)
	[ -n "$sid" ] || fail "no sid in the recording"
	sed "s/$sid/$EXAMPLE_SID/" rec.jsonl > session.jsonl
	rm rec.jsonl
	cp session.jsonl live.jsonl
	if [ "$1" = psm-replay.1 ]; then
		mkdir sessions
		psm-record -o sessions/ -- echo one </dev/null >/dev/null
		psm-record -o sessions/ -- echo two </dev/null >/dev/null
	fi
}

# Run the EXAMPLES of PAGE; fails unless each runs (or reads) as it should.
examples_run() {
	local page=$1 blocks=$BATS_TEST_TMPDIR/blocks work=$BATS_TEST_TMPDIR/work
	local kind txt n ran=0 shown line
	extract_examples "$page" "$blocks" || fail "$page: cannot extract the examples"
	shown=$(rendered "$page")
	mkdir -p "$work" "$BATS_TEST_TMPDIR/home"
	cd "$work"
	prepare_examples "$page"
	for kind in $(ls "$blocks"/*.kind 2>/dev/null | sort -V); do
		n=$(basename "$kind" .kind)
		txt=$blocks/$n.txt
		[ -s "$txt" ] || fail "$page: example $n is empty"
		case $(cat "$kind") in
		skip) continue ;;
		esac
		while IFS= read -r line; do
			[ -z "$line" ] || grep -qF -- "$line" <<<"$shown" ||
				fail "$page: example $n is not shown as written: $line"
		done < "$txt"
		case $(cat "$kind") in
		file\ *)
			cp "$txt" "$(sed 's/^file //' "$kind")"
			;;
		run)
			run env HOME="$BATS_TEST_TMPDIR/home" XDG_STATE_HOME="$BATS_TEST_TMPDIR/home/state" \
				timeout 60 bash -e -o pipefail "$txt" </dev/null
			[ "$status" -eq 0 ] ||
				fail "$page: example $n exits $status: $(cat "$txt")"$'\n'"$output"
			;;
		stream)
			run psm-replay --list "$txt"
			[ "$status" -eq 0 ] && [ -n "$output" ] ||
				fail "$page: example $n is not a stream psm-replay reads: $output"
			run psm-replay --raw "$txt"
			[ "$status" -eq 0 ] || fail "$page: example $n: psm-replay --raw: $output"
			;;
		esac
		ran=$((ran + 1))
	done
	[ "$ran" -gt 0 ] || fail "$page: no example was run"
}

@test "psm-record.1: mandoc -Tlint has no warning" {
	lint_ok psm-record.1
}

@test "psm-replay.1: mandoc -Tlint has no warning" {
	lint_ok psm-replay.1
}

@test "psm-stream.5: mandoc -Tlint has no warning" {
	lint_ok psm-stream.5
}

@test "psm.7: mandoc -Tlint has no warning" {
	lint_ok psm.7
}

@test "psm-record.1: every option of --help is documented in OPTIONS" {
	options_documented psm-record psm-record.1
}

@test "psm-replay.1: every option of --help is documented in OPTIONS" {
	options_documented psm-replay psm-replay.1
}

@test "completions/psm.bash: every option of psm-record --help is offered" {
	local opts
	opts=$(help_options psm-record)
	completes_to psm-record - '=>' $opts
}

@test "completions/psm.bash: every option of psm-replay --help is offered" {
	local opts
	opts=$(help_options psm-replay)
	completes_to psm-replay - '=>' $opts
}

@test "completions/psm.bash: psm-replay --sp completes to --speed, psm-record --max to --max-time" {
	completes_to psm-replay --sp '=>' --speed
	completes_to psm-record --max '=>' --max-time
	run what_completes psm-replay --sp
	assert_output --speed
}

@test "completions/psm.bash: file names after -o and for psm-replay, commands after --" {
	touch rec.jsonl
	completes_to psm-record -o re '=>' rec.jsonl
	completes_to psm-record --output = re '=>' rec.jsonl
	completes_to psm-replay --list re '=>' rec.jsonl
	completes_to psm-record -o rec.jsonl -- ech '=>' echo
	completes_to psm-record --no-pty ech '=>' echo
}

@test "completions/psm.bash: nothing is offered for the value of --speed, --max-wait or --max-time" {
	local mode
	for mode in $(completion_modes); do
		[ "$mode" = plain ] && mode=
		run what_completes $mode psm-replay --speed ''
		assert_output ''
		run what_completes $mode psm-replay -w ''
		assert_output ''
		run what_completes $mode psm-record --max-time ''
		assert_output ''
	done
}

@test "completions/psm.bash: psm-record's options stop at the command" {
	run what_completes psm-record -o s.jsonl ls --
	refute_output --partial -- --no-pty
}

@test "completions/_psm: every option of --help is described, for each command" {
	local cmd fn o opts specs
	for cmd in psm-record psm-replay psm-keygen psm-seal psm-verify psm-redact psm-ship psm-grant; do
		fn=_${cmd//-/_}
		specs=$(zsh_specs "$fn")
		[ -n "$specs" ] || fail "completions/_psm has no $fn"
		opts=$(help_options "$cmd")
		for o in $opts; do
			grep -qxF -- "$o" <<<"$specs" ||
				fail "completions/_psm: $o of $cmd has no spec with a description in $fn"
		done
	done
	run head -n 1 "$ROOT/completions/_psm"
	assert_output '#compdef psm-record psm-replay psm-keygen psm-seal psm-verify psm-redact psm-ship psm-grant'
}

@test "completions/_psm: zsh -n finds no syntax error" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run -0 zsh -n "$ROOT/completions/_psm"
	assert_output ''
}

@test "psm-record.1: the EXAMPLES run" {
	examples_run psm-record.1
}

@test "psm-replay.1: the EXAMPLES run" {
	examples_run psm-replay.1
}

@test "psm-stream.5: the EXAMPLES run, and the example session is a valid stream" {
	examples_run psm-stream.5
}

@test "psm.7: the EXAMPLES run" {
	examples_run psm.7
}

@test "psm-keygen.1 psm-seal.1 psm-verify.1: mandoc -Tlint has no warning" {
	lint_ok psm-keygen.1
	lint_ok psm-seal.1
	lint_ok psm-verify.1
}

@test "psm-keygen.1 psm-seal.1 psm-verify.1: every option of --help is documented in OPTIONS" {
	options_documented psm-keygen psm-keygen.1
	options_documented psm-seal psm-seal.1
	options_documented psm-verify psm-verify.1
}

@test "completions/psm.bash: every option of psm-keygen, psm-seal and psm-verify --help is offered" {
	local cmd opts
	for cmd in psm-keygen psm-seal psm-verify; do
		opts=$(help_options "$cmd")
		completes_to "$cmd" - '=>' $opts
	done
}

@test "completions/psm.bash: key files after psm-seal -k, psm-verify -p and psm-replay --escrow-key" {
	touch host.key host.pub
	completes_to psm-seal -k ho '=>' host.key host.pub
	completes_to psm-verify -p ho '=>' host.key host.pub
	completes_to psm-replay --escrow-key ho '=>' host.key host.pub
	completes_to psm-replay --escrow-key = ho '=>' host.key host.pub
	completes_to psm-seal --app '=>' --append
}

@test "completions/psm.bash: files after psm-record --grant and --revoked, public keys after --ca of psm-record and psm-verify" {
	touch g.grant revoked ca.pub ca.key
	completes_to psm-record --grant g. '=>' g.grant
	completes_to psm-record --grant = g. '=>' g.grant
	completes_to psm-record --revoked rev '=>' revoked
	completes_to psm-record --ca c '=>' ca.pub
	completes_to psm-verify --ca c '=>' ca.pub
	completes_to psm-verify --ca = c '=>' ca.pub
	completes_to psm-record --grant g.grant ech '=>' echo
	completes_to psm-record --gr '=>' --grant
	local mode
	for mode in $(completion_modes); do
		[ "$mode" = plain ] && mode=
		run what_completes $mode psm-record --ca c
		refute_output --partial ca.key
		run what_completes $mode psm-verify --ca c
		refute_output --partial ca.key
	done
}

@test "psm-keygen.1: the EXAMPLES run" {
	examples_run psm-keygen.1
}

@test "psm-seal.1: the EXAMPLES run" {
	examples_run psm-seal.1
}

@test "psm-verify.1: the EXAMPLES run" {
	examples_run psm-verify.1
}

@test "psm-redact.1 psm-redact.5: mandoc -Tlint has no warning" {
	lint_ok psm-redact.1
	lint_ok psm-redact.5
}

@test "psm-redact.1: every option of --help is documented in OPTIONS" {
	options_documented psm-redact psm-redact.1
}

@test "completions/psm.bash: every option of psm-redact --help is offered" {
	local opts
	opts=$(help_options psm-redact)
	completes_to psm-redact - '=>' $opts
}

@test "completions/psm.bash: psm-redact offers rule names after --enable and --disable, those of -r files too" {
	printf 'rule acme-token\npattern acme_([0-9]{8})\n' > site.rules
	completes_to psm-redact --enable em '=>' email
	completes_to psm-redact --disable '' '=>' all prompt-answer email
	completes_to psm-redact --enable = em '=>' email
	completes_to psm-redact -r site.rules --enable ac '=>' acme-token
	completes_to psm-redact --rules = site.rules --disable ac '=>' acme-token
}

@test "completions/psm.bash: psm-redact offers files after -r, --report and as operands, nothing after --hold-time" {
	touch site.rules rec.jsonl
	completes_to psm-redact -r si '=>' site.rules
	completes_to psm-redact --report = re '=>' rec.jsonl
	completes_to psm-redact re '=>' rec.jsonl
	completes_to psm-redact --hold '=>' --hold-time
	local mode
	for mode in $(completion_modes); do
		[ "$mode" = plain ] && mode=
		run what_completes $mode psm-redact --hold-time ''
		assert_output ''
		run what_completes $mode psm-redact --prompt ''
		assert_output ''
	done
}

@test "psm-redact.1: the EXAMPLES run" {
	examples_run psm-redact.1
}

@test "psm-redact.5: the EXAMPLES run, and its rules files are read" {
	examples_run psm-redact.5
}

@test "psm-ship.1: mandoc -Tlint has no warning" {
	lint_ok psm-ship.1
}

@test "psm-ship.1: every option of --help is documented in OPTIONS" {
	options_documented psm-ship psm-ship.1
}

@test "completions/psm.bash: every option of psm-ship --help is offered" {
	local opts
	opts=$(help_options psm-ship)
	completes_to psm-ship - '=>' $opts
}

@test "completions/psm.bash: psm-ship offers the destinations after --to, files after file:, directories after --state" {
	mkdir -p state.d
	touch store.jsonl ca.pem
	completes_to psm-ship --to '' '=>' file: syslog+tcp:// syslog+tls:// relp:// postgresql://
	completes_to psm-ship --to sys '=>' syslog+tcp:// syslog+tls://
	completes_to psm-ship --to file:st '=>' file:state.d file:store.jsonl
	completes_to psm-ship --state st '=>' state.d
	completes_to psm-ship --ca c '=>' ca.pem
	local mode
	for mode in $(completion_modes); do
		[ "$mode" = plain ] && mode=
		run what_completes $mode psm-ship --retry-for ''
		assert_output ''
		run what_completes $mode psm-ship --batch ''
		assert_output ''
	done
}

@test "psm-ship.1: the EXAMPLES run" {
	examples_run psm-ship.1
}

@test "psm-grant.1: mandoc -Tlint has no warning" {
	lint_ok psm-grant.1
}

@test "psm-grant.1: every option of --help is documented in OPTIONS" {
	options_documented psm-grant psm-grant.1
}

@test "completions/psm.bash: psm-grant offers the subcommands, then each one's options" {
	completes_to psm-grant '' '=>' request approve issue check revoke ssh-ca
	completes_to psm-grant request - '=>' --role --target --reason --ttl --ticket --command --expires-in
	completes_to psm-grant approve - '=>' --key --deny --reason
	completes_to psm-grant issue - '=>' --key --policy --approvers --explain --ssh-pubkey --ssh-ca \
		--ssh-force-command --ssh-source-address
	completes_to psm-grant check - '=>' --ca --revoked
	completes_to psm-grant revoke - '=>' --key --list --reason --krl --ssh-ca
	run what_completes psm-grant approve --
	refute_output --partial -- --policy
	# Every option of --help is offered by some subcommand (--help and --version first too).
	local o all
	all=$(what_completes psm-grant -; for sub in request approve issue check revoke; do what_completes psm-grant $sub -; done)
	for o in $(help_options psm-grant); do
		grep -qxF -- "$o" <<<"$all" || fail "psm-grant's $o is offered by no subcommand"
	done
}

@test "completions/psm.bash: psm-grant offers files after --policy and --approvers, nothing after --ttl" {
	cd "$BATS_TEST_TMPDIR"
	touch two.jq team.approvers
	completes_to psm-grant issue --policy tw '=>' two.jq
	completes_to psm-grant issue --approvers te '=>' team.approvers
	for mode in $(completion_modes); do
		[ "$mode" = plain ] && mode=
		run what_completes $mode psm-grant request --ttl ''
		assert_output ''
	done
}

@test "psm-grant.1: the EXAMPLES run" {
	examples_run psm-grant.1
}

@test "psm-policy.5: mandoc -Tlint has no warning" {
	lint_ok psm-policy.5
}

@test "psm-policy.5: the EXAMPLES run" {
	examples_run psm-policy.5
}

@test "psm-policy.5: FILES names each policy of share/psm/policies, and only those" {
	local p shipped named
	shipped=$(cd "$ROOT/share/psm/policies" && ls *.jq)
	named=$(rendered_section psm-policy.5 FILES | grep -oE '^ +[a-z-]+\.jq' | tr -d ' ' | sort)
	[ -n "$shipped" ] || fail "no policies in share/psm/policies"
	[ "$(sort <<<"$shipped")" = "$named" ] ||
		fail "share/psm/policies: $(echo $shipped); psm-policy.5's FILES: $(echo $named)"
}
