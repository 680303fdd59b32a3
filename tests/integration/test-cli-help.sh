#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-cli-help.sh - what `--help` says, and everything that must agree with it:
#   - one help per subcommand: `image create --help`, `key import --help`, ... print that
#     subcommand's usage only (scripts/cli_help.py check, over every group);
#   - value formats are documented (sizes, hex, durations);
#   - the default log level: --help, README, `run --check-config --dump` and the behaviour agree;
#   - the man page (generated from --help at build time) and the bash completion (contrib/) hold
#     every command, subcommand and option of --help - and the check does fail on a gap;
#   - meson installs both.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires python3 bash
top=$(cd "$(dirname "$0")/../.." && pwd)
MAN=${SEALMOUNT_MAN:-$BUILD_DIR/contrib/sealmount.1}
COMP=$top/contrib/bash-completion/sealmount
[ -s "$MAN" ] || fail "no man page at $MAN (built by contrib/meson.build)"
check() { python3 "$top/scripts/cli_help.py" check "$SEALMOUNT" "$@"; }

step "one help per subcommand; man page and completion complete"
check "$COMP" "$MAN" >"$TEST_TMP/check.out" || fail "drift: $(cat "$TEST_TMP/check.out")"
cat "$TEST_TMP/check.out"
grep -qE "checked [2-9][0-9] commands and subcommands, [1-9][0-9]+ options" "$TEST_TMP/check.out" ||
	fail "the check found too little to be meaningful"
for pair in "image create:image inspect" "key import:key release" "key release:key import" \
	"sim init:sim report" "report verify:report show"; do
	sub=${pair%%:*} other=${pair#*:}
	out=$("$SEALMOUNT" $sub --help) || fail "$sub --help exited $?"
	head -1 <<<"$out" | grep -q "^Usage: sealmount $sub" || fail "$sub --help: $(head -1 <<<"$out")"
	grep -q "sealmount $other" <<<"$out" && fail "$sub --help also shows $other"
done
out=$("$SEALMOUNT" key --help)
grep -q "sealmount key release" <<<"$out" && grep -q "sealmount key import" <<<"$out" ||
	fail "key --help does not list its subcommands: $out"

step "the check fails on a gap (an option left out of the completion, a section of the man page)"
sed 's/ --pbkdf-iterations//' "$COMP" >"$TEST_TMP/comp"
check "$TEST_TMP/comp" "$MAN" >"$TEST_TMP/out" && fail "a missing option passed the check"
grep -qF 'completion: `sealmount image create -<TAB>` does not offer --pbkdf-iterations' \
	"$TEST_TMP/out" || fail "gap not named: $(cat "$TEST_TMP/out")"
sed 's/"key release") echo/"key relase") echo/' "$COMP" >"$TEST_TMP/comp"
check "$TEST_TMP/comp" "$MAN" >"$TEST_TMP/out" && fail "a subcommand without options passed"
python3 - "$MAN" "$TEST_TMP/man" <<'PY'
import re, sys
page = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"\.SS sealmount umount\n.*?(?=\.SS )", "", page, flags=re.S))
PY
check "$COMP" "$TEST_TMP/man" >"$TEST_TMP/out" && fail "a missing man page section passed"
grep -qF 'man page: no section for `sealmount umount`' "$TEST_TMP/out" ||
	fail "missing section not named: $(cat "$TEST_TMP/out")"

step "value formats are documented"
"$SEALMOUNT" image create --help | grep -q "bytes, or a number with K, M, G or T" ||
	fail "image create --help: no size format"
"$SEALMOUNT" key release --help | grep -q "32 hex digits" || fail "key release --help: no hex format"
"$SEALMOUNT" sim report --help | grep -q "128 hex digits" || fail "sim report --help: no hex format"
"$SEALMOUNT" umount --help | grep -qi "seconds" || fail "umount --help: no duration unit"

step "one default log level: --help, README, the sidecar's configuration and the behaviour"
def=$("$SEALMOUNT" --help | sed -n 's/.*--log-level LEVEL .*(default \([a-z]*\);.*/\1/p')
expect_eq "$def" info "the default in --help"
grep -qF '`LEVEL`: `error`, `warn`, `info`
(default) or `debug`' "$top/README.md" || fail "the README's CLI reference does not say info"
grep -qF '`LogLevel` (`trace`, `debug`, `info`
(default, as for every command)' "$top/README.md" || fail "the README's LogLevel default is not info"
mkdir -p "$TEST_TMP/remote"
printf '{"azure_filesystems": [{"mount_point": "%s/remote/share", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}}}]}' \
	"$TEST_TMP" >"$TEST_TMP/c.json"
env -u LogLevel "$SEALMOUNT" run --config "$TEST_TMP/c.json" --check-config --dump \
	>"$TEST_TMP/dump" 2>"$TEST_TMP/err" || fail "check-config: $(cat "$TEST_TMP/err")"
grep -qx "log_level = $def" "$TEST_TMP/dump" || fail "dump: $(grep log_level "$TEST_TMP/dump")"
grep -q "\[info\]: Configuration is valid" "$TEST_TMP/err" || fail "no info line by default"
env -u LogLevel "$SEALMOUNT" --log-level warn run --config "$TEST_TMP/c.json" --check-config \
	2>"$TEST_TMP/err" || fail "check-config with --log-level warn"
[ ! -s "$TEST_TMP/err" ] || fail "--log-level warn still printed: $(cat "$TEST_TMP/err")"

step "meson installs the man page and the completion"
DEST=$TEST_TMP/dest
meson install -C "$BUILD_DIR" --no-rebuild --destdir "$DEST" >"$TEST_TMP/install.log" 2>&1 ||
	fail "meson install: $(tail -5 "$TEST_TMP/install.log")"
find "$DEST" -path '*/man1/sealmount.1' | grep -q . || fail "the man page was not installed"
find "$DEST" -path '*/bash-completion/completions/sealmount' | grep -q . ||
	fail "the completion was not installed"
echo PASS
