# bash completion for the psm commands                      -*- shell-script -*-
# One file, installed under the name of each command (psm-record, psm-replay,
# psm-keygen, psm-seal, psm-verify, psm-redact, psm-ship, psm-grant).
# It uses bash-completion's helpers when they are loaded, plain compgen if not.

# _psm_files [-d | EXT]: files (or directories only, or files named *.EXT
# and directories) matching the current word.
_psm_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir "$@"
		return
	fi
	local IFS=$'\n'
	if [[ ${1-} == -d ]]; then
		COMPREPLY+=($(compgen -d -- "$cur"))
	elif [[ -n ${1-} ]]; then
		COMPREPLY+=($(compgen -f -X "!*.$1" -- "$cur") $(compgen -d -- "$cur"))
	else
		COMPREPLY+=($(compgen -f -- "$cur"))
	fi
	compopt -o filenames 2>/dev/null
}

# _psm_command I: complete words[I..] as a command line of its own.
_psm_command()
{
	if declare -F _command_offset >/dev/null; then
		# words[] joins what COMP_WORDS splits at '=': find words[I] there.
		local j k=0 joined
		for ((j = 0; j < $1; j++)); do
			joined=${COMP_WORDS[k++]}
			while [[ $joined != "${words[j]}" ]] && ((k < ${#COMP_WORDS[@]})); do
				joined+=${COMP_WORDS[k++]}
			done
		done
		_command_offset "$k"
		return
	fi
	if ((cword == $1)); then
		local IFS=$'\n'
		COMPREPLY=($(compgen -c -- "$cur" | sort -u))
	else
		_psm_files
	fi
}

# _psm_redact_rules: the rule names of psm-redact, with the rules files
# already on the line (-r), and "all". psm-redact --list-rules reads the
# rules and exits; it reads no stream.
_psm_redact_rules()
{
	local i args=()
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-r | --rules)
			[[ ${words[i + 1]-} == = ]] && ((i++))
			[[ -r ${words[i + 1]-} ]] && args+=(-r "${words[i + 1]}")
			;;
		--rules=*)
			[[ -r ${words[i]#--rules=} ]] && args+=("${words[i]}")
			;;
		esac
	done
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "all
$("${words[0]}" --list-rules "${args[@]}" 2>/dev/null | cut -f1)" -- "$cur"))
}

# _psm_options_or_files OPTS: an option when the word starts with '-', else a file.
_psm_options_or_files()
{
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$1" -- "$cur"))
	else
		_psm_files
	fi
}

_psm()
{
	local cur prev words cword split=false
	if declare -F _init_completion >/dev/null; then
		_init_completion -s || return
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		# --opt=value: bash splits it at the '='.
		if [[ $cur == = && $prev == --* ]]; then
			cur=
			split=true
		elif [[ $prev == = ]] && ((cword >= 2)) && [[ ${words[cword - 2]} == --* ]]; then
			prev=${words[cword - 2]}
			split=true
		fi
	fi

	local cmd=${words[0]##*/} opts i
	case $cmd in
	psm-record)
		opts='-o --output -c --command -q --quiet --escrow --prompt --no-input --no-pty --fail-open --max-time
		    --grant --ca --revoked -h --help -V --version'
		# Options end at "--" or at the first operand: the command.
		for ((i = 1; i < cword; i++)); do
			case ${words[i]} in
			--)
				_psm_command $((i + 1))
				return
				;;
			-c | --command)
				return	# a shell command line: nothing to offer
				;;
			-o | --output | --max-time | --escrow | --prompt | --grant | --ca | --revoked)
				# the value; "--output = FILE" when bash split at the '='
				[[ ${words[i + 1]-} == = ]] && ((i++))
				((i++))
				;;
			-*) ;;
			*)
				_psm_command "$i"
				return
				;;
			esac
		done
		case $prev in
		-o | --output | --escrow | --grant | --revoked)
			_psm_files
			return
			;;
		--ca)
			_psm_files pub	# the grant CA's public key
			return
			;;
		--max-time | -c | --command | --prompt)
			return	# a duration: 90s, 15m, 2h, 1d; a command line; a regex
			;;
		esac
		$split && return
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		else
			_psm_command "$cword"
		fi
		;;
	psm-replay)
		opts='-s --speed -w --max-wait -S --session -l --list -f --follow
		    -r --raw -i --input -e --stderr --unsafe --escrow-key --no-sandbox
		    -h --help -V --version'
		case $prev in
		-s | --speed | -w | --max-wait | -S | --session)
			return	# a number, a number of seconds, a session id
			;;
		--escrow-key)
			_psm_files	# a secret key file
			return
			;;
		esac
		$split || _psm_options_or_files "$opts"
		;;
	psm-keygen)
		opts='-o --output -n --id --no-passphrase -h --help -V --version'
		case $prev in
		-o | --output)
			_psm_files
			return
			;;
		-n | --id)
			return	# a name of your choice
			;;
		esac
		$split && return
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		;;
	psm-seal)
		case $prev in
		-k | --key | -a | --append)
			_psm_files
			return
			;;
		-n | --every | -t | --interval)
			return	# a number of events, a duration
			;;
		esac
		$split || _psm_options_or_files '-k --key -n --every -t --interval -a --append
		    --no-sandbox -h --help -V --version'
		;;
	psm-redact)
		case $prev in
		-r | --rules | --report)
			_psm_files
			return
			;;
		--enable | --disable)
			_psm_redact_rules
			return
			;;
		--prompt | --hold-time)
			return	# a regex; a duration: 500ms, 2s, 1m
			;;
		esac
		$split || _psm_options_or_files '-r --rules --enable --disable --prompt --hold-time
		    --report --list-rules -v --verbose --no-sandbox -h --help -V --version'
		;;
	psm-ship)
		case $prev in
		-t | --to)
			COMPREPLY=($(compgen -W 'file: syslog+tcp:// syslog+tls:// relp:// postgresql://' \
			    -- "$cur"))
			[[ $cur == file:* ]] && COMPREPLY=($(compgen -P file: -f -- "${cur#file:}"))
			compopt -o nospace 2>/dev/null
			return
			;;
		-s | --state)
			COMPREPLY=($(compgen -d -- "$cur"))
			return
			;;
		--ca | --cert | --key | --password-file)
			_psm_files
			return
			;;
		--retry-for | --timeout | --batch | --max-message | --server-name)
			return	# a duration (500ms, 30s, 1m), a number, a host name
			;;
		esac
		$split || _psm_options_or_files '-t --to -s --state -f --follow --retry-for --timeout
		    --batch --max-message --ca --cert --key --server-name --password-file -v --verbose
		    --no-sandbox -h --help -V --version'
		;;
	psm-grant)
		# The subcommand first; then its own options.
		if ((cword == 1)); then
			COMPREPLY=($(compgen -W 'request approve issue check revoke ssh-ca -h --help -V --version' -- "$cur"))
			return
		fi
		case $prev in
		-k | --key | --policy | --approvers | --ssh-pubkey | --ssh-ca | --ca | --revoked | --list | --krl)
			_psm_files
			return
			;;
		-r | --role | -t | --target | --reason | --ttl | --ticket | --command | --expires-in | \
		--ssh-force-command | --ssh-source-address)
			return	# a name, a host, text, a duration (15m, 2h), a command line, addresses
			;;
		esac
		case ${words[1]} in
		request) opts='-r --role -t --target --reason --ttl --ticket --command --expires-in' ;;
		approve) opts='-k --key --deny --reason' ;;
		issue) opts='-k --key --policy --approvers --explain --ssh-pubkey --ssh-ca
		    --ssh-force-command --ssh-source-address' ;;
		check) opts='--ca --revoked' ;;
		revoke) opts='-k --key --list --reason --krl --ssh-ca' ;;
		*) opts= ;;
		esac
		$split || _psm_options_or_files "$opts -h --help"
		;;
	psm-verify)
		case $prev in
		-p | --pubkey)
			_psm_files
			return
			;;
		--ca)
			_psm_files pub	# the grant CA's public key
			return
			;;
		esac
		$split || _psm_options_or_files '-p --pubkey --ca -j --json --no-sandbox -h --help -V --version'
		;;
	esac
} &&
	complete -F _psm psm-record psm-replay psm-keygen psm-seal psm-verify psm-redact psm-ship psm-grant

# ex: filetype=sh
