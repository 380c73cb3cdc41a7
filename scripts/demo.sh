#!/bin/sh
# make demo: record a scripted session (no terminal needed), list it, play
# it back, mask the secret it printed, seal and verify it, ship it to a
# file store; then a grant asked for, approved twice, issued for seconds,
# used by a session that it ends when it expires; and say where all is.
set -eu
bin=$(cd "${1:-bin}" && pwd)
cd "$(dirname "$0")/.."
mkdir -p demo
out=demo/session.jsonl
rm -f "$out"

echo "== recording a scripted session into $out"
printf '%s\n' 'echo "hello from a recorded session"' 'id -un' 'printf "caf\303\251 \342\234\223\n"' \
	'ls /etc | head -n 3' 'echo "deploy with AWS_ACCESS_KEY_ID=AKIA2E7QXKFJ5MZL3WRT"' 'exit 0' |
	TERM=xterm "$bin/psm-record" -o "$out" -- bash --noprofile --norc >/dev/null
echo
echo "== psm-replay --list $out"
"$bin/psm-replay" --list "$out"
echo
echo "== psm-replay --max-wait 0.5 $out"
"$bin/psm-replay" --max-wait 0.5 "$out"
echo
echo "== the first events of the stream"
head -n 3 "$out"
echo
clean=demo/session.redacted.jsonl
echo "== psm-redact -v $out > $clean"
"$bin/psm-redact" -v "$out" > "$clean"
echo "== the access key it printed, before and after"
"$bin/psm-replay" --raw "$out" | grep -a 'deploy with' | tail -n 1
"$bin/psm-replay" --raw "$clean" | grep -a 'deploy with' | tail -n 1
echo
key=demo/demo-key
sealed=demo/session.sealed.jsonl
[ -e "$key.key" ] || "$bin/psm-keygen" -o "$key" --id demo --no-passphrase
echo "== psm-seal -k $key.key $clean > $sealed"
"$bin/psm-seal" -k "$key.key" "$clean" > "$sealed"
echo "== psm-verify -p $key.pub $sealed"
"$bin/psm-verify" -p "$key.pub" "$sealed"
echo
echo "== the same stream with one byte changed"
sed '3s/hello/jello/' "$sealed" > demo/tampered.jsonl
"$bin/psm-verify" -p "$key.pub" demo/tampered.jsonl || echo "(psm-verify exit status $?)"
echo
store=demo/store.jsonl
echo "== psm-ship --state demo/ship-state --to file:$store -v $sealed (twice: the second has nothing new)"
rm -rf demo/ship-state "$store"
"$bin/psm-ship" --state demo/ship-state --to "file:$store" -v "$sealed"
"$bin/psm-ship" --state demo/ship-state --to "file:$store" -v "$sealed"
"$bin/psm-verify" -p "$key.pub" "$store"
echo
g=demo/grant
rm -rf "$g"
mkdir -p "$g"
echo "== a grant: keys for the grant CA and two approvers, ann (security) and bob (dba)"
for k in ca ann bob; do "$bin/psm-keygen" -o "$g/$k" --id "$k" --no-passphrase; done
printf '%s\n' '# name  groups    public key' 'ann     security  ann.pub' 'bob     dba       bob.pub' > "$g/approvers"
cat "$g/approvers"
echo
echo "== psm-grant request --role dba --target $(hostname) --ttl 8s ... (the policy: share/psm/policies/roles.jq)"
"$bin/psm-grant" request --role dba --target "$(hostname)" --ttl 8s --ticket DEMO-1 \
	--reason 'check the replication lag' > "$g/request.json"
cat "$g/request.json"
echo "== approved by ann, then by bob; issued with --explain"
"$bin/psm-grant" approve -k "$g/ann.key" "$g/request.json" |
	"$bin/psm-grant" approve -k "$g/bob.key" > "$g/approved.json"
"$bin/psm-grant" issue -k "$g/ca.key" --policy share/psm/policies/roles.jq --approvers "$g/approvers" \
	--explain "$g/approved.json" > "$g/grant.json"
"$bin/psm-grant" check --ca "$g/ca.pub" "$g/grant.json"
echo
echo "== psm-record --grant: a session that would take 30 s, ended when the grant expires"
"$bin/psm-record" --grant "$g/grant.json" --ca "$g/ca.pub" -o "$g/session.jsonl" -- \
	sh -c 'echo "working under the grant"; sleep 30' </dev/null || true
tail -n 1 "$g/session.jsonl"
"$bin/psm-seal" -k "$key.key" "$g/session.jsonl" > "$g/session.sealed.jsonl"
echo "== psm-verify --ca: the seal, the grant, and every event inside its window"
"$bin/psm-verify" -p "$key.pub" --ca "$g/ca.pub" "$g/session.sealed.jsonl"
echo
echo "The recording is in $(pwd)/$out, masked in $(pwd)/$clean, sealed in $(pwd)/$sealed,"
echo "shipped to $(pwd)/$store; the grant and its session are in $(pwd)/$g"
