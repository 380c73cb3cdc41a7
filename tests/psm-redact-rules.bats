#!/usr/bin/env bats
# psm-redact's built-in rules (share/psm/redact.rules): what each one masks,
# the near misses it leaves alone, and ordinary terminal output (the files
# of fixtures/redact) that none of the rules that are on by default touches.
load helpers

SID=9143c952-6c1d-4b7e-a0f3-2d6e8b1c4f05
START='{"sid":"'$SID'","seq":0,"t":0,"type":"start","version":1,"time":"2026-01-01T00:00:00.000000Z","user":"alice","uid":1000,"gid":1000,"loginuid":1000,"host":"db1","tty":"/dev/pts/3","term":"xterm","cols":80,"rows":24,"cwd":"/home/alice","argv":["-bash"],"mode":"pty","input":true,"pid":4242,"psm":"0.1.0"}'
RULES=$BATS_TEST_DIRNAME/../share/psm/redact.rules
CORPUS=$FIXTURES/redact

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# stream DATA...: a stream of one session: its start event, then an out
# event for each DATA, its bytes as a JSON string (written by jq).
stream() {
	local seq=0 d
	printf '%s\n' "$START"
	for d in "$@"; do
		seq=$(( seq + 1 ))
		jq -cn --arg sid "$SID" --argjson seq "$seq" --arg d "$d" \
			'{sid: $sid, seq: $seq, t: ($seq * 1000), type: "out", data: $d}'
	done
}

# redact [OPTION...]: psm-redact OPTIONS s.jsonl > r.jsonl, which must exit 0;
# the output bytes of r.jsonl (psm-replay --raw) in got.
redact() {
	psm-redact "$@" s.jsonl > r.jsonl 2> err || fail "psm-redact exited $?: $(cat err)"
	psm-replay --raw r.jsonl > got || fail "psm-replay cannot read psm-redact's output"
}

# expect TEXT: the output bytes of r.jsonl are TEXT.
expect() {
	printf '%s' "$1" > want
	expect_want
}

# expect_want: the output bytes of r.jsonl are those of the file want.
expect_want() {
	cmp -s got want ||
		fail "$(printf 'output:   %q\nexpected: %q' "$(head -c 300 got)" "$(head -c 300 want)")"
}

# breaks TEXT: the line breaks of TEXT (CR and LF), what a masked span keeps.
breaks() {
	printf '%s' "$1" | tr -cd '\r\n'
}

# masks RULE BEFORE SECRET AFTER [OPTION...]: the output BEFORE SECRET AFTER
# (one out event) comes back as BEFORE[redacted:RULE]AFTER, and the event
# says that RULE masked the secret's bytes.
masks() {
	local rule=$1 before=$2 secret=$3 after=$4 n
	shift 4
	stream "$before$secret$after" > s.jsonl
	redact "$@"
	expect "$before[redacted:$rule]$after"
	n=$(jq -r --arg r "$rule" 'select(.type == "out") | .redacted[$r] // empty' r.jsonl)
	[ "$n" = "${#secret}" ] || fail "\"redacted\" counts '$n' bytes for $rule, not ${#secret}"
}

# unchanged TEXT... [-- OPTION...]: a stream with an out event of each TEXT
# comes out of psm-redact byte for byte.
unchanged() {
	local texts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		texts+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	stream "${texts[@]}" > s.jsonl
	psm-redact "$@" s.jsonl > r.jsonl 2> err || fail "psm-redact exited $?: $(cat err)"
	cmp -s s.jsonl r.jsonl || fail "$(printf 'changed:\n%s\n' "$(diff s.jsonl r.jsonl)")"
}

# corpus_stream FILE N [crlf]: FILE as out events of N characters each
# (line ends made CR LF, as a terminal writes them, with crlf).
corpus_stream() {
	printf '%s\n' "$START"
	jq -Rsc --arg sid "$SID" --argjson n "$2" --arg crlf "${3:-}" '
		(if $crlf == "" then . else gsub("\n"; "\r\n") end) as $s |
		range(0; $s | length; $n) as $i | ($i / $n | floor) + 1 |
		{sid: $sid, seq: ., t: (. * 1000), type: "out", data: $s[$i:$i + $n]}' "$1"
}

# Test secrets are put together at run time (prefix '' body), so that a
# secret scanner reading this file does not take them for leaks.

# b64url TEXT: TEXT in base64url without padding.
b64url() {
	printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# gh_token PREFIX BODY: PREFIX, BODY (30 characters) and BODY's CRC32 in six
# base62 digits, as GitHub (and npm) make their tokens.
gh_token() {
	local digits=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz sum= crc i
	crc=$(printf '%s' "$2" | gzip -c | tail -c 8 | od -An -tu4 -N4 --endian=little | tr -d ' ')
	for i in 1 2 3 4 5 6; do
		sum=${digits:crc % 62:1}$sum
		crc=$(( crc / 62 ))
	done
	printf '%s%s%s' "$1" "$2" "$sum"
}

# jwt HEADER PAYLOAD SIGNATURE: a JSON Web Token of the two JSON texts.
jwt() {
	printf '%s.%s.%s' "$(b64url "$1")" "$(b64url "$2")" "$3"
}

# luhn_digit DIGITS: the check digit that, put after DIGITS, makes them pass
# the Luhn check.
luhn_digit() {
	local d=$1 sum=0 i n k=0
	for (( i = ${#d} - 1; i >= 0; i-- )); do
		n=${d:i:1}
		if (( k++ % 2 == 0 )); then
			n=$(( n * 2 ))
			(( n > 9 )) && n=$(( n - 9 ))
		fi
		sum=$(( sum + n ))
	done
	echo $(( (10 - sum % 10) % 10 ))
}

@test "psm-redact: the test streams are streams psm-replay reads, and psm-redact passes them" {
	stream 'hello ' $'world\r\n' > s.jsonl
	redact
	expect $'hello world\r\n'
	cmp s.jsonl r.jsonl
}

@test "psm-redact: --list-rules lists the rules of share/psm/redact.rules in order, on or off as they say" {
	awk '$1 == "rule" { if (name != "") print name "\t" on; name = $2; on = "on" }
	     $1 == "default" { on = $2 }
	     END { print name "\t" on }' "$RULES" > want
	run -0 --separate-stderr psm-redact --list-rules
	printf '%s\n' "$output" | cut -f1,2 | grep -v '^prompt-answer' > got
	diff want got
	# Each has a description.
	[ "$(printf '%s\n' "$output" | awk -F'\t' 'NF != 3 || $3 == ""')" = "" ]
}

@test "psm-redact: every rule of share/psm/redact.rules loads with -r" {
	run -0 --separate-stderr psm-redact -r "$RULES" --list-rules
	[ "$(printf '%s\n' "$output" | wc -l)" -eq "$(( $(grep -c '^rule ' "$RULES") + 1 ))" ]
}

# aws-access-key-id

AWS_ID1=AKIA''UJZDEGXDNCF32EPF
AWS_ID2=ASIA''3DHODZDOCIS2JHTL
AWS_ID3=AKIA''GMXGEDN73U55XTPL

@test "psm-redact: aws-access-key-id: masks the key id of an export" {
	masks aws-access-key-id 'export AWS_ACCESS_KEY_ID=' "$AWS_ID1" $'\r\n'
}

@test "psm-redact: aws-access-key-id: masks a temporary key id in the credentials file" {
	masks aws-access-key-id $'[default]\r\naws_access_key_id = ' "$AWS_ID2" $'\r\nregion = eu-central-1\r\n'
}

@test "psm-redact: aws-access-key-id: masks AccessKeyId in aws sts output" {
	masks aws-access-key-id $'{\r\n    "Credentials": {\r\n        "AccessKeyId": "' "$AWS_ID2" $'",\r\n'
}

@test "psm-redact: aws-access-key-id: masks a key id in coloured output" {
	masks aws-access-key-id $'\e[32m' "$AWS_ID3" $'\e[0m\r\n'
}

@test "psm-redact: aws-access-key-id: leaves a key id one character short alone" {
	unchanged "export AWS_ACCESS_KEY_ID=${AWS_ID1:0:19}"$'\r\n'
}

@test "psm-redact: aws-access-key-id: leaves other prefixes and characters outside base32 alone" {
	unchanged 'AKIB''UJZDEGXDNCF32EPF' 'role id AROA''UJZDEGXDNCF32EPF ' $'AKIA''0189UJZDEGXDNCF3\r\n'
}

@test "psm-redact: aws-access-key-id: leaves a placeholder and a longer word alone" {
	unchanged $'aws_access_key_id = AKIA''XXXXXXXXXXXXXXXX\r\n' $'XAKIA''UJZDEGXDNCF32EPF AKIA''UJZDEGXDNCF32EPFQ\r\n'
}

@test "psm-redact: aws-access-key-id: masks AWS's documented example key id too" {
	masks aws-access-key-id 'aws_access_key_id = ' 'AKIA''IOSFODNN7EXAMPLE' $'\r\n'
}

# aws-secret-access-key

AWS_SECRET1=FkM/R5Kjp1vRt+1f''jORS/6ilI8ihN5KXSc7Tvo/h
AWS_SECRET2=BKqFYY/kv5ZJr3J1''TWDtkwtDDb+xHKas1VOqg6YY
AWS_SECRET3=ZYn9ZhyiA4uoRgna''tmUdjAWtGSU8po+799NksnRH

@test "psm-redact: aws-secret-access-key: masks the secret key of the credentials file" {
	masks aws-secret-access-key $'[default]\r\naws_secret_access_key = ' "$AWS_SECRET1" $'\r\n'
}

@test "psm-redact: aws-secret-access-key: masks the secret key of an export" {
	masks aws-secret-access-key 'export AWS_SECRET_ACCESS_KEY="' "$AWS_SECRET2" $'"\r\n'
}

@test "psm-redact: aws-secret-access-key: masks SecretAccessKey in aws sts output" {
	masks aws-secret-access-key '        "SecretAccessKey": "' "$AWS_SECRET3" $'",\r\n'
}

@test "psm-redact: aws-secret-access-key: masks the key typed at aws configure's prompt and aws configure set's argument" {
	masks aws-secret-access-key 'AWS Secret Access Key [None]: ' "$AWS_SECRET1" $'\r\n'
	masks aws-secret-access-key 'AWS Secret Access Key [****************EKEY]: ' "$AWS_SECRET2" $'\r\n'
	masks aws-secret-access-key '$ aws configure set aws_secret_access_key ' "$AWS_SECRET3" $'\r\n'
}

@test "psm-redact: aws-secret-access-key: leaves AWS's documented example alone" {
	unchanged $'$ aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCY''EXAMPLEKEY\r\n'
}

@test "psm-redact: aws-secret-access-key: leaves a value one character short alone" {
	unchanged "AWS Secret Access Key [None]: ${AWS_SECRET1:0:39}"$'\r\n'
}

@test "psm-redact: aws-secret-access-key: leaves 40 characters without the key's name alone" {
	unchanged "checksum $AWS_SECRET1"$'\r\n' "aws configure set aws_access_key_name $AWS_SECRET2"$'\r\n'
}

@test "psm-redact: aws-secret-access-key: leaves a placeholder of one repeated character alone" {
	unchanged $'$ aws configure set aws_secret_access_key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n'
}

# aws-session-token

AWS_SESSION=IQoJb3JpZ2luX2VjE''9ucAUsdMlHUvTCQCyEZDz/TddJ8HyS5SUkCnD8zRA9a9SkpXz9w3QlY7Zkuvqdt7s8Stqcbnr3yBdGBLEPH1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY4OjE2jBMptUsGr7CmY+uCu3ZR1zTOlUcR64cXQLioDnkHIfxIq2HZt/PlJhx2jIclHkCiHp6bR1IqfEouHgxzNNAL5wIScGebcy8F5n3/YNBDRzrZSgqbjG3uhkWKFLf6xuI5aHUQPFeNBTxaQWk8JzFalHlsZfYcMMDktXP/tKsf2rcDkdfrUnW5gcF+Ha6ili8GjHEAD6/Wj9KfzjsQGMrb9h+ImB+LK777==

@test "psm-redact: aws-session-token: masks the session token of the credentials file" {
	masks aws-session-token 'aws_session_token = ' "$AWS_SESSION" $'\r\n'
}

@test "psm-redact: aws-session-token: masks SessionToken in aws sts output" {
	masks aws-session-token '        "SessionToken": "' "$AWS_SESSION" $'",\r\n'
}

@test "psm-redact: aws-session-token: masks the session token of an export" {
	masks aws-session-token 'export AWS_SESSION_TOKEN=' "$AWS_SESSION" $'\r\n'
}

@test "psm-redact: aws-session-token: leaves a value shorter than 100 characters alone" {
	unchanged "\$ aws configure set aws_session_token ${AWS_SESSION:0:99}"$'\r\n'
}

@test "psm-redact: aws-session-token: leaves a long value after another name alone" {
	unchanged "SessionId $AWS_SESSION"$'\r\n' "\"SessionPolicy\": \"$AWS_SESSION\""$'\r\n'
}

@test "psm-redact: aws-session-token: leaves a low-entropy placeholder alone" {
	unchanged "\$ aws configure set aws_session_token $(printf 'AB%.0s' {1..80})"$'\r\n'
}

# github-token

@test "psm-redact: github-token: masks a classic personal access token" {
	masks github-token '$ echo $GH_CRED'$'\r\n' "$(gh_token ghp_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH)" $'\r\n'
}

@test "psm-redact: github-token: masks an OAuth token printed by gh auth token" {
	masks github-token $'$ gh auth token\r\n' "$(gh_token gho_ q8xiM0OGr4hTxoF54Fzbka8FRCztUj)" $'\r\n$ '
}

@test "psm-redact: github-token: masks server-to-server, user-to-server and refresh tokens" {
	masks github-token 'installation ' "$(gh_token ghs_ Awyuh1vauWv1zh87mTa5Vsqxezy3Le)" ' expires in 1h'
	masks github-token '"user": "' "$(gh_token ghu_ x7BWr2drgd1QsO7jprBGumXxY9B4bZ)" '"'
	masks github-token 'refresh with ' "$(gh_token ghr_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH)" $'\r\n'
}

@test "psm-redact: github-token: leaves a token with a wrong checksum alone" {
	local t
	t=$(gh_token ghp_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH)
	unchanged "token ${t:0:39}$( [ "${t:39}" = x ] && echo y || echo x)"$'\r\n'
}

@test "psm-redact: github-token: leaves a token a character short alone" {
	local t
	t=$(gh_token ghp_ Xh5Jmtf7EbsDe0G9Cryn687neLfjV)
	unchanged "$t"$'\r\n'
}

@test "psm-redact: github-token: leaves other prefixes alone" {
	unchanged "$(gh_token ghx_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH)"$'\r\n' "$(gh_token gh_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH)"$'\r\n'
}

# github-pat

GH_PAT1=github_pat_''WOz648JJnUfd7UACNWiP3s_Fd67JikEAvstqVVPqzPptEJQzhkPkenG5ZFJoC6vWCBiJmpflvJfupxqZKm
GH_PAT2=github_pat_''4bV3AyAVHnyrvWdFrK9xiR_GHOY32nfr5pyzPCB9t2039bicBTW5ZE9LFaez7770H2DCpYgojjHRg80USP

@test "psm-redact: github-pat: masks a fine-grained token" {
	masks github-pat '$ cat ~/.config/forge/cred'$'\r\n' "$GH_PAT1" $'\r\n'
}

@test "psm-redact: github-pat: masks a fine-grained token in a URL's user" {
	masks github-pat 'https://' "$GH_PAT2" '@github.com/acme/app.git'
}

@test "psm-redact: github-pat: masks a fine-grained token in coloured output" {
	masks github-pat $'\e[1;32m' "$GH_PAT1" $'\e[0m'
}

@test "psm-redact: github-pat: leaves a first part one character short alone" {
	unchanged "github_pat_""WOz648JJnUfd7UACNWiP3_Fd67JikEAvstqVVPqzPptEJQzhkPkenG5ZFJoC6vWCBiJmpflvJfupxqZKm"
}

@test "psm-redact: github-pat: leaves a token without its middle underscore alone" {
	unchanged "github_pat_""WOz648JJnUfd7UACNWiP3sFd67JikEAvstqVVPqzPptEJQzhkPkenG5ZFJoC6vWCBiJmpflvJfupxqZKm"
}

@test "psm-redact: github-pat: leaves another prefix and a placeholder alone" {
	unchanged "github_pet_""WOz648JJnUfd7UACNWiP3s_Fd67JikEAvstqVVPqzPptEJQzhkPkenG5ZFJoC6vWCBiJmpflvJfupxqZKm" \
		"github_pat_""$(printf 'x%.0s' {1..22})_$(printf 'x%.0s' {1..59})"
}

# gitlab-token

@test "psm-redact: gitlab-token: masks a personal access token" {
	masks gitlab-token 'PRIVATE-TOKEN header: ' "glpat-""6kfaqDeMqG3omjMyXHCa" $'\r\n'
}

@test "psm-redact: gitlab-token: masks a routable personal access token" {
	masks gitlab-token '$ glab auth status'$'\r\n''  Logged in with ' "glpat-""iA-zNyD7CHLn-xC_1hsYgBds1gh.01lzcuhfk" $'\r\n'
}

@test "psm-redact: gitlab-token: masks deploy, runner and pipeline trigger tokens" {
	masks gitlab-token 'deploy: ' "gldt-""bM6JOF8EFd0Nhcy-1kGD" $'\r\n'
	masks gitlab-token '--token ' "glrt-""QB7xoFcSvTAxRzmaZsV2" ' --url https://gitlab.example.com'
	masks gitlab-token 'trigger ' "glptt-""5e19cbae530282bd36cb9d21f6be6abf0d7c1c1e" $'\r\n'
}

@test "psm-redact: gitlab-token: leaves a token one character short alone" {
	unchanged 'PRIVATE-TOKEN header: glpat-''6kfaqDeMqG3omjMyXHC'$'\r\n'
}

@test "psm-redact: gitlab-token: leaves a placeholder alone" {
	unchanged 'PRIVATE-TOKEN header: glpat-''xxxxxxxxxxxxxxxxxxxx'$'\r\n' 'glpat-''XXXXXXXXXXX-XXXXXXXX'$'\r\n'
}

@test "psm-redact: gitlab-token: leaves another prefix or a longer word alone" {
	unchanged 'glxat-''6kfaqDeMqG3omjMyXHCa'$'\r\n' 'myglpat-''6kfaqDeMqG3omjMyXHCa'$'\r\n'
}

# slack-token

@test "psm-redact: slack-token: masks a bot token" {
	masks slack-token 'SLACK_BOT=' "xoxb-""104319554590-4544091031776-Yq6B0Fi7FlaZ7Vt0SXjMpu3u" $'\r\n'
}

@test "psm-redact: slack-token: masks a user token" {
	masks slack-token '"user": "' "xoxp-""759183623610-788526114913-167723267938-39988b886e7577496a2c8773e130f7eb" '"'
}

@test "psm-redact: slack-token: masks an app-level token and a configuration token" {
	masks slack-token 'app: ' "xapp-""1-CSOHDMMEX6-2794019953055-4168160adb59261ff2d3c425c8d99d19bdd0b6cc60d5d32cbe54014c2b54b955" $'\r\n'
	masks slack-token 'xoxe.' "xoxp-""1-Mi0yLTM0MTQwNDE0MDE3Ni0zNjU5NDY0Njg4MTctNTE4MjA3NTQ5NjA4MC01NDEyOTYyODY5NzUxLThhMTBjZmI1ZWIzMGIw" $'\r\n'
}

@test "psm-redact: slack-token: leaves a token without its numbers alone" {
	unchanged 'SLACK_BOT=xoxb-''your-bot-token-here'$'\r\n' 'xoxb-''Slack_BOT_TOKEN'$'\r\n'
}

@test "psm-redact: slack-token: leaves a token too short alone" {
	unchanged 'SLACK_BOT=xoxb-''12345-abcd234'$'\r\n'
}

@test "psm-redact: slack-token: leaves a placeholder and another prefix alone" {
	unchanged 'SLACK_BOT=xoxb-''123456789012-xxxxxxxxxxxxxxxxxxxxxxxx'$'\r\n' \
		'xoxz-''104319554590-4544091031776-Yq6B0Fi7FlaZ7Vt0SXjMpu3u'$'\r\n'
}

# slack-webhook

@test "psm-redact: slack-webhook: masks a webhook URL's secret path" {
	masks slack-webhook 'https://hooks.slack.com/services/' "T""EGY5MTIC/B4UDYFKOZM4/lKncz8HkywhjpU05mc4J1WRc" $'\r\n'
}

@test "psm-redact: slack-webhook: masks the webhook of a curl command" {
	masks slack-webhook "$ curl -X POST -H 'Content-type: application/json' --data @msg.json https://hooks.slack.com/services/" \
		"T""EGY5MTIC/B4UDYFKOZM4/lKncz8HkywhjpU05mc4J1WRc" $'\r\n'
}

@test "psm-redact: slack-webhook: masks a webhook in JSON and a workflow trigger" {
	masks slack-webhook '{"url":"https://hooks.slack.com/services/' "T""0A1B2C3D4/B5E6F7G8H9/Zm9vYmFyYmF6cXV4eHl6MDEy" '"}'
	masks slack-webhook 'https://hooks.slack.com/triggers/' "T""EGY5MTIC/A4UDYFKOZM4/4168160255/lKncz8HkywhjpU05mc4J1WRc" $'\r\n'
}

@test "psm-redact: slack-webhook: leaves another host alone" {
	unchanged 'https://hooks.slack.example.org/services/T''EGY5MTIC/B4UDYFKOZM4/lKncz8HkywhjpU05mc4J1WRc'$'\r\n'
}

@test "psm-redact: slack-webhook: leaves a secret too short alone" {
	unchanged 'https://hooks.slack.com/services/T''EGY5MTIC/B4UDYFKOZM4/lKncz8Hkywhj'$'\r\n'
}

@test "psm-redact: slack-webhook: leaves the documented placeholder alone" {
	unchanged 'https://hooks.slack.com/services/T''00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'$'\r\n'
}

# stripe-live-key

@test "psm-redact: stripe-live-key: masks a live secret key" {
	masks stripe-live-key 'STRIPE_KEY=' "sk_live_""Q1uhyMDJ2OXtPAtLpByQxCGC" $'\r\n'
}

@test "psm-redact: stripe-live-key: masks a long live secret key" {
	masks stripe-live-key "curl https://api.stripe.com/v1/charges -u " "sk_live_""lbaNFDpCWNX0D1lZEzgeiwBxfZCGGQccOif7UuXUGfdWG5yP8Yib2eNUS0hmi4Fs9Z6YkRYU7oe1wNWqku5Nr50DjqG96EnLqNG" ': '
}

@test "psm-redact: stripe-live-key: masks a live restricted key" {
	masks stripe-live-key '"restricted": "' "rk_live_""Q1uhyMDJ2OXtPAtLpByQxCGC" '"'
}

@test "psm-redact: stripe-live-key: leaves test and publishable keys alone" {
	unchanged 'STRIPE_KEY=sk_test_''Q1uhyMDJ2OXtPAtLpByQxCGC'$'\r\n' 'pk_live_''Q1uhyMDJ2OXtPAtLpByQxCGC'$'\r\n'
}

@test "psm-redact: stripe-live-key: leaves a key too short alone" {
	unchanged 'STRIPE_KEY=sk_live_''Q1uhyMDJ2OXtPAtLpByQxC'$'\r\n'
}

@test "psm-redact: stripe-live-key: leaves a placeholder alone" {
	unchanged 'STRIPE_KEY=sk_live_''000000000000000000000000'$'\r\n'
}

# google-api-key

@test "psm-redact: google-api-key: masks a key in a URL" {
	masks google-api-key 'GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=' "AIza""EOVezxZuJPWvHogU5nGYVHWVsUQk4DwgLGN" $'\r\n'
}

@test "psm-redact: google-api-key: masks a key in JSON" {
	masks google-api-key '  "current_key": "' "AIza""OaeCtL31Ugq_DfcgaTMnTC0MrAU8urbFt5m" $'"\r\n'
}

@test "psm-redact: google-api-key: masks a key printed by gcloud" {
	masks google-api-key $'$ gcloud services api-keys get-key-string projects/1/locations/global/keys/k1\r\nkeyString: ' "AIza""EOVezxZuJPWvHogU5nGYVHWVsUQk4DwgLGN" $'\r\n'
}

@test "psm-redact: google-api-key: leaves a key a character short alone" {
	unchanged 'keyString: AIza''EOVezxZuJPWvHogU5nGYVHWVsUQk4DwgLG'$'\r\n'
}

@test "psm-redact: google-api-key: leaves another prefix alone" {
	unchanged 'AIzb''EOVezxZuJPWvHogU5nGYVHWVsUQk4DwgLGN'$'\r\n' 'aiza''EOVezxZuJPWvHogU5nGYVHWVsUQk4DwgLGN'$'\r\n'
}

@test "psm-redact: google-api-key: leaves a placeholder alone" {
	unchanged 'keyString: AIza''xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'$'\r\n'
}

# openai-key

@test "psm-redact: openai-key: masks a project key" {
	masks openai-key 'export OPENAI="' "sk-""proj-isIZHbhS4-FvafhdZxEuhnbzs0z1wNiMg9aW37k5wCnHDepQHgI3HLBkbvHEzuPyXQEW88ad3DT3BlbkFJNBYjvsedonuSsddfrfifiUziXnFAAoeelK9mqmALOR2HcSGKgVP8Kd0d3mS8gBlKv3azKgaS_m" $'"\r\n'
}

@test "psm-redact: openai-key: masks a service account key" {
	masks openai-key '"key": "' "sk-""svcacct-_x-SHuKBD-vok_nPTmZYl2dVAMH2vWD6qeSPt5Pv74GDqQ7EyIMttFPSuET3BlbkFJu9mq9Ugk9QgmyjjYtUtB" '"'
}

@test "psm-redact: openai-key: masks a key of the older form" {
	masks openai-key 'Authorization header set from ' "sk-""u9mq9Ugk9QgmyjjYtUtBT3BlbkFJrmgO6grn4yDcaz2YBSoG" $'\r\n'
}

@test "psm-redact: openai-key: leaves a key of the older form a character short alone" {
	unchanged 'key sk-''u9mq9Ugk9QgmyjjYtUtBT3BlbkFJrmgO6grn4yDcaz2YBSo'$'\r\n'
}

@test "psm-redact: openai-key: leaves a project key too short alone" {
	unchanged 'key sk-''proj-isIZHbhS4-FvafhdZxEuhnbz'$'\r\n'
}

@test "psm-redact: openai-key: leaves a word that ends in sk- and a placeholder alone" {
	unchanged 'task-''proj-isIZHbhS4-FvafhdZxEuhnbzs0z1wNiMg9aW37k5wCnHDepQHgI3HLBkbvHEzuPyXQEW88ad3D'$'\r\n' \
		"key sk-""proj-$(printf 'x%.0s' {1..60})"$'\r\n'
}

# anthropic-key

@test "psm-redact: anthropic-key: masks an API key" {
	masks anthropic-key '$ echo $ANTHROPIC'$'\r\n' "sk-""ant-api03-L7csGZaF31DDxp63OHm1FZuG296c0xPbX_neGBuzSm6A8cVR06AxYpThGJWZhbj11THnCMZCY7Bvqiy8CsT07Lq8TDIWGAA" $'\r\n'
}

@test "psm-redact: anthropic-key: masks an admin key" {
	masks anthropic-key '"admin": "' "sk-""ant-admin01-2x9aJTFMP9_2kUtMXhkPrSbbAjLGmsDx5StAZvlMz-Bk4opH1Dr8-h97s_F-vauP7-L7V21jxUdcfQm9_seB1qRmUR8AKAA" '"'
}

@test "psm-redact: anthropic-key: masks an OAuth token" {
	masks anthropic-key 'using ' "sk-""ant-oat01-3R2GgLLT-ZQISA-pQyOMqlfZZgZMnafy8hWskBf6wmxe1mbVrNHMx1eOc3g-fp1Z5ibXt80nk8Btb2abplBpq8cJF5xgUskL-6Gg" $'\r\n'
}

@test "psm-redact: anthropic-key: leaves a key too short alone" {
	unchanged 'key sk-''ant-api03-L7csGZaF31DDxp63OHm1FZuG'$'\r\n'
}

@test "psm-redact: anthropic-key: leaves a key without its version alone" {
	unchanged 'key sk-''ant-key-L7csGZaF31DDxp63OHm1FZuG296c0xPbX_neGBuzSm6A8cVR06AxYpThGJWZhbj11THnCMZ'$'\r\n'
}

@test "psm-redact: anthropic-key: leaves a placeholder alone" {
	unchanged "key sk-""ant-api03-$(printf 'x%.0s' {1..93})AA"$'\r\n'
}

# npm-token

@test "psm-redact: npm-token: masks the token npm token create shows" {
	masks npm-token $'$ npm token create\r\n\xe2\x94\x82 token    \xe2\x94\x82 ' "$(gh_token npm_ Tcada4PR0NfyttUMk931FMdux8KUCE)" $' \xe2\x94\x82\r\n'
}

@test "psm-redact: npm-token: masks a token in a registry URL" {
	masks npm-token 'https://' "$(gh_token npm_ Rkj9Zhx9PkOZAEyXYC8rYWKvsrdNPT)" '@registry.example.com/'
}

@test "psm-redact: npm-token: masks a token in coloured output" {
	masks npm-token $'\e[33m' "$(gh_token npm_ Tcada4PR0NfyttUMk931FMdux8KUCE)" $'\e[39m\r\n'
}

@test "psm-redact: npm-token: leaves a token with a wrong checksum alone" {
	local t
	t=$(gh_token npm_ Tcada4PR0NfyttUMk931FMdux8KUCE)
	unchanged "${t:0:34}$( [ "${t:34:1}" = 0 ] && echo 1 || echo 0)${t:35}"$'\r\n'
}

@test "psm-redact: npm-token: leaves a token a character short alone" {
	local t
	t=$(gh_token npm_ Tcada4PR0NfyttUMk931FMdux8KUC)
	unchanged "$t"$'\r\n'
}

@test "psm-redact: npm-token: leaves another prefix alone" {
	unchanged "$(gh_token npx_ Tcada4PR0NfyttUMk931FMdux8KUCE)"$'\r\n' "$(gh_token pnpm_ Tcada4PR0NfyttUMk931FMdux8KUCE)"$'\r\n'
}

# azure-storage-key

AZ_KEY1=QbtN2FWXWD5KaPHI2ufKssJ/Sk+WzDNhY7AGbX6lTiDYHP9zyBylxLUTZtFf/VnV7ktOdSJcmeA+BHJ2m5qGeR''==
AZ_KEY2=zxWkdgeV6+iYplGODlYx5uVECweGThdgH9hmsOazM4n8PVGXpV9Wv4Esb7yeuCjVr5mXcj5RPD9oUsQChx5s4t''==

@test "psm-redact: azure-storage-key: masks the key of a connection string" {
	masks azure-storage-key 'DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=' "$AZ_KEY1" $';EndpointSuffix=core.windows.net\r\n'
}

@test "psm-redact: azure-storage-key: masks the key of az's connection string in JSON" {
	masks azure-storage-key '{"connectionString": "DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net;AccountName=acmelogs;AccountKey=' "$AZ_KEY2" $'"}\r\n'
}

@test "psm-redact: azure-storage-key: masks a lower-case accountkey" {
	masks azure-storage-key 'accountkey=' "$AZ_KEY1" $'\r\n'
}

@test "psm-redact: azure-storage-key: leaves a key too short alone" {
	unchanged 'AccountName=acmelogs;AccountKey=QbtN2FWXWD5KaPHI2ufKssJ/Sk+WzDNhY7AGbX6=;EndpointSuffix=core.windows.net'$'\r\n'
}

@test "psm-redact: azure-storage-key: leaves a reference to a variable alone" {
	unchanged 'AccountName=acmelogs;AccountKey=$STORAGE_KEY;EndpointSuffix=core.windows.net'$'\r\n'
}

@test "psm-redact: azure-storage-key: leaves a placeholder and the account name alone" {
	unchanged "AccountKey=$(printf 'A%.0s' {1..86})=="$'\r\n' "AccountName=${AZ_KEY1:0:60}"$'\r\n'
}

# azure-client-secret

@test "psm-redact: azure-client-secret: masks a secret az printed" {
	masks azure-client-secret $'New client secret, copy it now:\r\n' "aKx8Q~""U3f0BJxrxDwzkl~JwAryNzbi0hSQK~lb09" $'\r\n'
}

@test "psm-redact: azure-client-secret: masks a secret in parentheses" {
	masks azure-client-secret '(use ' "rIF5Q~""xUeuVaT5jpTFPWhLn~5-drcFlCxvnNG" ')'
}

@test "psm-redact: azure-client-secret: masks a secret in a table" {
	masks azure-client-secret $'\xe2\x94\x82 ci-deploy \xe2\x94\x82 ' "dcm7Q~""yHc7E4nSmwfIp7~.JoppZrDDs7YvcX1eY" $' \xe2\x94\x82 2027-06-01 \xe2\x94\x82\r\n'
}

@test "psm-redact: azure-client-secret: leaves a value without Q~ alone" {
	unchanged 'New client credential: aKx8Q-''U3f0BJxrxDwzkl~JwAryNzbi0hSQK~lb09'$'\r\n'
}

@test "psm-redact: azure-client-secret: leaves a value too short alone" {
	unchanged 'New client credential: aKx8Q~''U3f0BJxrxDwzkl~JwAryNzbi0h'$'\r\n'
}

@test "psm-redact: azure-client-secret: leaves a letter for the digit and a placeholder alone" {
	unchanged '(use aKxyQ~''U3f0BJxrxDwzkl~JwAryNzbi0hSQK~lb09)'$'\r\n' "(use aaa1Q~""$(printf 'a%.0s' {1..34}))"$'\r\n'
}

# gcp-service-account

GCP_ID1=1bac7adac1a4b7d0''b352ad6074dce1118813830d
GCP_ID2=71939b53182e4e34''9d98729e7c6be9ff907a76cc

@test "psm-redact: gcp-service-account: masks private_key_id of a key file" {
	masks gcp-service-account $'{\r\n  "type": "service_account",\r\n  "project_id": "acme-prod",\r\n  "private_key_id": "' "$GCP_ID1" $'",\r\n'
}

@test "psm-redact: gcp-service-account: masks private_key_id in one-line JSON" {
	masks gcp-service-account '{"type":"service_account","project_id":"acme-prod","private_key_id":"' "$GCP_ID2" '","client_email":"ci@acme-prod.iam.gserviceaccount.com"}'
}

@test "psm-redact: gcp-service-account: masks private_key_id in jq's colours" {
	masks gcp-service-account $'\e[0m\e[34;1m"private_key_id"\e[0m\e[1;39m:\e[0m \e[0m\e[0;32m"' "$GCP_ID1" $'"\e[0m\e[1;39m,\r\n'
}

@test "psm-redact: gcp-service-account: masks both keys of a whole key file" {
	local key pem
	key=$(printf 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC%s\\n' 'x7Jd0e2' 'kPq9Vw3' 'Zm4Lt8s')
	pem="-----BEGIN PRIVATE KEY-----\\n${key}-----END PRIVATE KEY-----\\n"
	stream $'{\r\n  "type": "service_account",\r\n  "private_key_id": "'"$GCP_ID1"$'",\r\n  "private_key": "'"$pem"$'",\r\n  "client_id": "104250918239140371520"\r\n}\r\n' > s.jsonl
	redact
	expect $'{\r\n  "type": "service_account",\r\n  "private_key_id": "[redacted:gcp-service-account]",\r\n  "private_key": "[redacted:pem-private-key]\\n",\r\n  "client_id": "104250918239140371520"\r\n}\r\n'
}

@test "psm-redact: gcp-service-account: leaves a key id a character short alone" {
	unchanged '  "private_key_id": "'"${GCP_ID1:0:39}"'",'$'\r\n'
}

@test "psm-redact: gcp-service-account: leaves other ids of the key file alone" {
	unchanged '  "client_id": "'"$GCP_ID1"'",'$'\r\n' '  "key_id": "'"$GCP_ID2"'",'$'\r\n'
}

@test "psm-redact: gcp-service-account: leaves a template and a placeholder alone" {
	unchanged '  "private_key_id": "${KEY_ID}",'$'\r\n' '  "private_key_id": "0000000000000000000000000000000000000000",'$'\r\n'
}

# jwt

JWT_SIG=bTuEPP_IKBLhcuiS4hX4TnCt''1RTrzJm8Iq0na0p-Yt1

@test "psm-redact: jwt: masks a token in a header" {
	masks jwt '> X-Id-Assertion: ' "$(jwt '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice","iat":1767225600}' "$JWT_SIG")" $'\r\n'
}

@test "psm-redact: jwt: masks a token in JSON" {
	masks jwt '{"jwt":"' "$(jwt '{"alg":"RS256","kid":"k1"}' '{"iss":"https://login.example.com","aud":"api","exp":1767229200}' "JoW56KTLTYXPa-W4MxMs3WDlQPFPA2bdgG""-MN33X7TfS5biDm0VZty1_Z4RlvUOUjNwoLR1uLAy0xhnTf0baNa")" '"}'
}

@test "psm-redact: jwt: masks a token at the very start of the output" {
	masks jwt '' "$(jwt '{"typ":"JWT","alg":"ES256"}' '{"sub":"bob"}' "$JWT_SIG")" $'\r\n'
}

@test "psm-redact: jwt: masks a token split between two events" {
	local t
	t=$(jwt '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice","iat":1767225600}' "$JWT_SIG")
	stream "cookie session=${t:0:30}" "${t:30}"$'; Path=/\r\n' > s.jsonl
	redact
	expect $'cookie session=[redacted:jwt]; Path=/\r\n'
}

@test "psm-redact: jwt: leaves a token whose header names no alg alone" {
	unchanged "X-Id-Assertion: $(jwt '{"typ":"JWT","notalg":"none"}' '{"sub":"alice"}' "$JWT_SIG")"$'\r\n'
}

@test "psm-redact: jwt: leaves two parts alone" {
	unchanged "X-Id-Assertion: $(b64url '{"alg":"HS256","typ":"JWT"}').$(b64url '{"sub":"alice","iat":1767225600}')"$'\r\n'
}

@test "psm-redact: jwt: leaves a token with a signature too short alone" {
	unchanged "X-Id-Assertion: $(jwt '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice"}' abc)"$'\r\n'
}

# pem-private-key

# pem LABEL LINES: a PEM block with LABEL, LINES lines of base64, CR LF line ends.
pem() {
	local i
	printf -- '-----BEGIN %s-----\r\n' "$1"
	for (( i = 0; i < $2; i++ )); do
		printf 'MIIEpAIBAAKCAQEAx%02dZ3n8Kq0Wd7Lm2Pv5Tz9Rb4Yc6Ns1Gh3Jf8Ue0Vi2Oa7Xk5Ql\r\n' "$i"
	done
	printf -- '-----END %s-----\r\n' "$1"
}

# masks_block BEFORE BLOCK AFTER: BEFORE, the block, AFTER (one out event)
# come back with the block masked: its marker and its line ends.
masks_block() {
	stream "$1$2$3" > s.jsonl
	redact
	{ printf '%s[redacted:pem-private-key]' "$1"; breaks "$2"; printf '%s' "$3"; } > want
	expect_want
}

@test "psm-redact: pem-private-key: masks an RSA key, keeping its lines" {
	masks_block $'$ cat server.key\r\n' "$(pem 'RSA PRIVATE KEY' 25)" '$ '
}

@test "psm-redact: pem-private-key: masks OpenSSH, PKCS#8, EC, DSA and encrypted keys" {
	local label
	for label in 'OPENSSH PRIVATE KEY' 'PRIVATE KEY' 'EC PRIVATE KEY' 'DSA PRIVATE KEY' 'ENCRYPTED PRIVATE KEY'; do
		masks_block $'$ cat k\r\n' "$(pem "$label" 7)" '$ '
	done
}

@test "psm-redact: pem-private-key: masks a PGP private key block" {
	masks_block $'$ gpg --armor --export-secret-keys alice\r\n' "$(pem 'PGP PRIVATE KEY BLOCK' 12)" '$ '
}

@test "psm-redact: pem-private-key: masks a key that comes in many events" {
	local block
	block=$(pem 'OPENSSH PRIVATE KEY' 30)
	stream $'$ cat id_ed25519\r\n' "${block:0:10}" "${block:10:700}" "${block:710:1000}" "${block:1710}" '$ ' > s.jsonl
	redact
	{ printf '$ cat id_ed25519\r\n[redacted:pem-private-key]'; breaks "$block"; printf '$ '; } > want
	expect_want
}

@test "psm-redact: pem-private-key: masks at most 32768 bytes of a key without its END line" {
	local body rest
	body=$(pem 'RSA PRIVATE KEY' 600 | head -n 600)	# 600 lines, no END
	rest=$(printf 'after the key %04d\r\n' {1..10})
	stream "$body" "$rest" > s.jsonl
	redact
	{ printf '[redacted:pem-private-key]'; breaks "${body:0:32768}"; printf '%s' "${body:32768}$rest"; } > want
	expect_want
}

@test "psm-redact: pem-private-key: leaves a certificate alone" {
	unchanged "$(pem CERTIFICATE 20)"
}

@test "psm-redact: pem-private-key: leaves public keys alone" {
	unchanged "$(pem 'PUBLIC KEY' 6)" "$(pem 'RSA PUBLIC KEY' 6)" "$(pem 'PGP PUBLIC KEY BLOCK' 6)"
}

@test "psm-redact: pem-private-key: leaves the words of its header without the dashes alone" {
	unchanged $'$ grep -l "BEGIN PRIVATE KEY" /etc/ssl/private/*\r\n' $'----BEGIN PRIVATE KEY----\r\nMIIEpAIBAAKCAQEAx\r\n'
}

# url-password

@test "psm-redact: url-password: masks the password of a database URL, not its user" {
	masks url-password 'DATABASE_URL=postgres://app:' 'S3cr3t!pw' $'@db1.example.com:5432/app\r\n'
}

@test "psm-redact: url-password: masks a password with no user" {
	masks url-password '$ redis-cli -u redis://:' 'hunter22' $'@cache:6379/0 ping\r\n'
}

@test "psm-redact: url-password: masks the password of a git remote" {
	masks url-password $'origin\thttps://alice:' 'tok3n-4f9a' $'@git.example.com/acme/app.git (fetch)\r\n'
}

@test "psm-redact: url-password: leaves a URL with a user and no password alone" {
	unchanged $'origin\tssh://git@git.example.com:2222/acme/app.git (fetch)\r\n' $'https://alice@git.example.com/\r\n'
}

@test "psm-redact: url-password: leaves ports and IPv6 addresses alone" {
	unchanged $'curl http://localhost:8080/health\r\n' $'http://[::1]:8080/x@y\r\n'
}

@test "psm-redact: url-password: leaves a template and a masked password alone" {
	unchanged $'postgres://app:${PGPASSWORD}@db1/app\r\n' $'postgres://app:****@db1/app\r\n'
}

# card-number

@test "psm-redact: card-number: masks a card number in groups of four" {
	masks card-number 'card: ' '4111 1111 1111 1111' ' exp 12/28'
}

@test "psm-redact: card-number: masks a card number with dashes and one without separators" {
	masks card-number 'pan=' '5555-5555-5555-4444' $'\r\n'
	masks card-number '| ' "601111111111111$(luhn_digit 601111111111111)" $' |\r\n'
	masks card-number 'mc2 ' '2223003122003222' $'\r\n'
}

@test "psm-redact: card-number: masks an Amex number, grouped 4-6-5 and not" {
	masks card-number 'amex ' '3782 822463 10005' $'\r\n'
	masks card-number 'amex ' '378282246310005' $'\r\n'
}

@test "psm-redact: card-number: leaves a number with a wrong check digit alone" {
	unchanged $'card: 4111 1111 1111 1112 exp 12/28\r\n' $'pan=5555555555554445\r\n'
}

@test "psm-redact: card-number: leaves numbers too short, or beginning with another digit, alone" {
	unchanged $'order 411111111111\r\n' "ts $(printf '1767225600%s' "$(luhn_digit 1767225600)") $(printf '7111111111111%s' "$(luhn_digit 7111111111111)")"$'\r\n'
}

@test "psm-redact: card-number: leaves numeric ids that pass the Luhn check alone" {
	unchanged $'channel 4544091031776 joined\r\n' "id $(printf '4000123456789012%s' "$(luhn_digit 4000123456789012)")"$'\r\n' \
		"snowflake $(printf '112233445566778899%s' "$(luhn_digit 112233445566778899)")"$'\r\n'
}

@test "psm-redact: card-number: leaves digits in other groupings alone" {
	unchanged $'4111 11111 1111 111\r\n' $'41 1111 1111 1111 11\r\n' $'91439520-6412-4407-8033-206581124105\r\n'
}

# generic-secret

@test "psm-redact: generic-secret: masks the value of password= and --password=" {
	masks generic-secret 'mysql -u app password=' 'Tr0ub4dor&3' $'\r\n'
	masks generic-secret '$ mysqldump --password=' 'S3cr3t!x9' $' app > dump.sql\r\n'
}

@test "psm-redact: generic-secret: masks the value of a variable whose name ends in PASSWORD, SECRET or TOKEN" {
	masks generic-secret 'DB_PASSWORD=' 'hunter22x' $'\r\n'
	masks generic-secret 'CLIENT_SECRET=' 'q8Zr4kLm2Nx7Pv' $'\r\n'
	masks generic-secret 'export API_TOKEN="' '7f3a9c2e81b4d6f0' $'"\r\n'
}

@test "psm-redact: generic-secret: masks YAML and JSON values" {
	masks generic-secret '  secret: ' 'Zm9vYmFyYmF6cXV4' $'\r\n'
	masks generic-secret '{"api_key": "' 'q8Zr4kLm2Nx7Pv' $'", "user": "alice"}\r\n'
	masks generic-secret 'Pwd=' 'W1nter!2026' $';Server=db1\r\n'
}

@test "psm-redact: generic-secret: masks a value in jq's colours" {
	masks generic-secret $'\e[0m\e[34;1m"password"\e[0m\e[1;39m:\e[0m \e[0m\e[0;32m"' 'hunter22x' $'"\e[0m\e[1;39m\r\n'
}

@test "psm-redact: generic-secret: leaves placeholders alone" {
	unchanged $'password=changeme\r\n' $'DB_PASSWORD=${DB_PASSWORD}\r\n' $'token: <none>\r\n' \
		$'password: ********\r\n' $'api_key = "your-api-key-here"\r\n' $'secret: null\r\n' \
		$'PASSWORD=$(cat /run/secrets/db)\r\n' $'token=xxxxxxxxxxxxxxxx\r\n'
}

@test "psm-redact: generic-secret: leaves values too short or of low entropy alone" {
	unchanged $'password=abc\r\n' $'token=aaaaaaaaaaaa\r\n' $'secret: 1212121212\r\n'
}

@test "psm-redact: generic-secret: leaves paths, messages and words near the keywords alone" {
	unchanged $'PWD=/home/alice/src\r\nOLDPWD=/home/alice\r\n' \
		$'passwd: Authentication token manipulation error\r\npasswd: password updated successfully\r\n' \
		$'pam_unix(passwd:chauthtok): password changed for bob\r\n' \
		$'token: invalid\r\nPassword: incorrect\r\nsecret: expired\r\n' \
		$'PasswordAuthentication no\r\n--token-file=/etc/uploader/token\r\n'
}

# bearer-token

BEARER1=MYmbdzw_Isz0psun''dmjv.73hbPsETJveImiSy5Xc
BEARER2=do4zLW9cCdNppock''7L2lua530DtAMq94

@test "psm-redact: bearer-token: masks the token of curl -v's Authorization header" {
	masks bearer-token '> Authorization: Bearer ' "$BEARER1" $'\r\n> Accept: */*\r\n'
}

@test "psm-redact: bearer-token: masks HTTP/2's lower-case header and a JSON header" {
	masks bearer-token '> authorization: bearer ' "$BEARER2" $'\r\n'
	masks bearer-token '{"headers": {"Authorization": "Bearer ' "$BEARER2" $'"}}\r\n'
}

@test "psm-redact: bearer-token: masks Basic credentials" {
	masks bearer-token "$ curl -H 'Authorization: Basic " "$(printf 'deploy:Tr0ub4dor&3' | base64)" "' https://registry.example.com/v2/"$'\r\n'
}

@test "psm-redact: bearer-token: leaves a variable and a template alone" {
	unchanged $'curl -H "Authorization: Bearer $TOKEN" https://api.example.com\r\n' $'Authorization: Bearer <token>\r\n'
}

@test "psm-redact: bearer-token: leaves placeholders alone" {
	unchanged $'Authorization: Bearer undefined\r\n' $'Authorization: Bearer xxxxxxxxxxxxxxxx\r\n' $'Authorization: Bearer ****************\r\n'
}

@test "psm-redact: bearer-token: leaves a challenge and a short value alone" {
	unchanged $'< WWW-Authenticate: Bearer realm="api", error="invalid_token"\r\n' $'Authorization: Bearer abc\r\n'
}

# Off by default: email, ipv4, ipv6, iban.

@test "psm-redact: email, ipv4, ipv6 and iban do nothing unless enabled" {
	unchanged $'Author: Alice Doe <alice.doe@example.com>\r\n' \
		$'inet 192.168.1.20/24 brd 192.168.1.255 scope global eth0\r\n' \
		$'inet6 2001:db8::8a2e:370:7334/64 scope global\r\n' \
		$'IBAN DE89 3704 0044 0532 0130 00\r\n'
}

@test "psm-redact: email: masks addresses when enabled" {
	masks email 'Author: Alice Doe <' 'alice.doe@example.com' $'>\r\n' --enable email
	masks email 'To: ' 'ops+alerts@mail.example.co.uk' $'\r\n' --enable email
	masks email $'origin\t' 'git@github.com' $':acme/app.git (fetch)\r\n' --enable email
}

@test "psm-redact: email: leaves what is not an address alone, even when enabled" {
	unchanged $'alice@localhost\r\n' $'@example.com\r\n' $'user@ example.com\r\n' -- --enable email
}

@test "psm-redact: ipv4: masks addresses when enabled" {
	masks ipv4 'inet ' '192.168.1.20' $'/24 scope global eth0\r\n' --enable ipv4
	masks ipv4 'Accepted publickey for alice from ' '10.20.0.5' $' port 51234 ssh2\r\n' --enable ipv4
	masks ipv4 'nameserver ' '8.8.8.8' $'\r\n' --enable ipv4
}

@test "psm-redact: ipv4: leaves what is not an address alone, even when enabled" {
	unchanged $'999.1.1.1\r\n' $'10.20.0\r\n' $'256.300.1.1\r\n' -- --enable ipv4
}

@test "psm-redact: ipv6: masks addresses when enabled" {
	masks ipv6 'inet6 ' 'fe80::5054:ff:fe12:3456' $'/64 scope link\r\n' --enable ipv6
	masks ipv6 'inet6 ' '::1' $'/128 scope host\r\n' --enable ipv6
	masks ipv6 'from ' '2001:db8:0:0:8a2e:370:7334:1' $' port 22\r\n' --enable ipv6
}

@test "psm-redact: ipv6: leaves times, MAC addresses and C++ names alone, even when enabled" {
	unchanged $'21:40:07\r\n' $'link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff\r\n' $'std::string std::dec\r\n' -- --enable ipv6
}

@test "psm-redact: iban: masks IBANs with a valid check when enabled" {
	masks iban 'IBAN ' 'DE89 3704 0044 0532 0130 00' $'\r\n' --enable iban
	masks iban 'iban=' 'GB82WEST12345698765432' $'\r\n' --enable iban
	masks iban 'to ' 'FR14 2004 1010 0505 0001 3M02 606' $' (EUR)\r\n' --enable iban
}

@test "psm-redact: iban: leaves a wrong check, lower case and a short one alone, even when enabled" {
	unchanged $'IBAN DE89 3704 0044 0532 0130 01\r\n' $'de89370400440532013000\r\n' $'DE89 3704\r\n' -- --enable iban
}

# Across events.

@test "psm-redact: secrets sent one character an event are masked as when they come whole" {
	local line text
	text=
	for line in "export AWS_ACCESS_KEY_ID=$AWS_ID1" "token $(gh_token ghp_ Xh5Jmtf7EbsDe0G9Cryn687neLfjVH) ok" \
	    'DB_PASSWORD=hunter22x' 'postgres://app:S3cr3t!pw@db1/app' 'card: 4111 1111 1111 1111 exp' \
	    "X-Id-Assertion: $(jwt '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice"}' "$JWT_SIG")"; do
		text+="$line"$'\r\n'
	done
	printf '%s' "$text" > text
	stream "$text" > s.jsonl
	redact
	mv got whole
	corpus_stream text 1 > s.jsonl
	redact
	cmp -s whole got || fail "$(printf 'one event:  %q\nby character: %q' "$(cat whole)" "$(cat got)")"
	grep -c redacted: whole | grep -qx 6 || fail "$(cat whole)"
}

# The corpus: ordinary output that the default rules leave alone.

@test "psm-redact: the corpus comes back byte for byte, in events of any size" {
	local f n
	for f in "$CORPUS"/*.txt; do
		for n in 1000 64 7; do
			corpus_stream "$f" "$n" > s.jsonl
			psm-redact s.jsonl > r.jsonl || fail "psm-redact exited $? on $f"
			cmp -s s.jsonl r.jsonl || fail "$(basename "$f") in events of $n: $(diff s.jsonl r.jsonl | head -n 6)"
		done
	done
}

@test "psm-redact: the corpus comes back byte for byte with CR LF line ends, as one session" {
	local f
	for f in "$CORPUS"/*.txt; do
		corpus_stream "$f" 100 crlf > s.jsonl
		psm-redact s.jsonl > r.jsonl || fail "psm-redact exited $? on $f"
		cmp -s s.jsonl r.jsonl || fail "$(basename "$f"): $(diff s.jsonl r.jsonl | head -n 6)"
	done
}

@test "psm-redact: the corpus has a file of each kind, with LF line ends" {
	local kind
	for kind in ls-l git-log checksums uuids base64 kubectl dmesg ps-aux gcc env docker journalctl df-h ip-addr; do
		[ -s "$CORPUS/$kind.txt" ] || fail "no $kind.txt"
	done
	! grep -lq $'\r' "$CORPUS"/*.txt
}
