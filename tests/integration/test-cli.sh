#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CLI contract: --help everywhere, --version, exit codes 0/1/2, one clear line for usage errors.
. "$(dirname "$0")/functions.sh"

out=$TEST_TMP/out
err=$TEST_TMP/err

run() { # expected-rc, args...
	local want=$1 rc=0
	shift
	"$SEALMOUNT" "$@" >"$out" 2>"$err" || rc=$?
	expect_eq "$rc" "$want" "exit code of 'sealmount $*'"
}

run 0 --help
grep -q '^Usage: sealmount' "$out" || fail "--help prints no usage"
run 0 --version
grep -qE '^sealmount [0-9]+\.[0-9]+\.[0-9]+$' "$out" || fail "--version: $(cat "$out")"

# Every listed command answers --help with its own usage and exit 0.
cmds=$(awk '/^Commands:/{f=1;next} /^$/{f=0} f{print $1}' <("$SEALMOUNT" --help))
[ -n "$cmds" ] || fail "no commands listed"
for c in $cmds; do
	run 0 "$c" --help
	grep -q "sealmount $c" "$out" || fail "'$c --help' does not show its usage"
done

# Usage errors: exit 2 and exactly one line on stderr.
one_line_usage() {
	run 2 "$@"
	expect_eq "$(wc -l <"$err")" 1 "stderr lines for 'sealmount $*'"
}
run 2
grep -q '^Usage: sealmount' "$err" || fail "no command: usage expected on stderr"
one_line_usage --bogus
one_line_usage --log-level
one_line_usage --log-level loud version
one_line_usage no-such-command
one_line_usage version --bogus
one_line_usage version extra-arg
grep -q "unexpected argument 'extra-arg'" "$err" || fail "unclear message: $(cat "$err")"

run 0 --log-level debug --log-json version
echo "cli: ok"
