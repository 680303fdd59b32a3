# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# hostile.sh - shared by tests/integration/test-hostile-*.sh (source after functions.sh).
#
#   hostile_mode MODE[&method=M] [PORT]  switch the hostile server (PORT, default $HOSTILE_PORT)
#                                  to MODE (for method M only)
#   hostile_run MAX_S WHAT -- CMD...   run CMD (the sealmount CLI) under /usr/bin/time and a
#                                  hard 90 s timeout, output in $HOSTILE_OUT (default
#                                  $TEST_TMP)/stdout.out; sets RC, ERR (stderr), SECS (elapsed) and
#                                  RSS_KB (peak resident set). Fails on a signal, a hang
#                                  (timeout), more than MAX_S seconds or more than
#                                  HOSTILE_RSS_KB (default 96 MiB) of memory.
#   expect_clean_error REGEX WHAT  RC was 1 and stderr matches REGEX (grep -E), with no
#                                  sanitizer report or core dump mention.

requires curl /usr/bin/time timeout

: "${HOSTILE_RSS_KB:=98304}"

hostile_mode()
{
	local got
	got=$(curl -sS --max-time 5 "http://127.0.0.1:${2:-$HOSTILE_PORT}/__hostile/mode?m=$1") ||
		fail "cannot set hostile mode $1"
	expect_eq "$got" "${1%%&*}" "hostile mode"
}

hostile_run()
{
	local max=$1 what=$2 out=${HOSTILE_OUT:-$TEST_TMP}
	local tf="$out/time.out" ef="$out/stderr.out"
	shift 3 # MAX_S WHAT --
	RC=0
	/usr/bin/time -f '%e %M' -o "$tf" timeout -s KILL 90 "$@" >"$out/stdout.out" 2>"$ef" ||
		RC=$?
	ERR=$(cat "$ef")
	read -r SECS RSS_KB <"$tf" 2>/dev/null || { SECS=999 RSS_KB=0; }
	# /usr/bin/time prints "Command terminated by signal N" on the first line when killed.
	if grep -q '^Command' "$tf"; then
		SECS=$(tail -1 "$tf" | cut -d' ' -f1)
		RSS_KB=$(tail -1 "$tf" | cut -d' ' -f2)
	fi
	printf '  %-28s rc=%s %6.2fs %6s KiB  %s\n' "$what" "$RC" "$SECS" "$RSS_KB" \
		"$(tail -1 "$ef" | cut -c1-${HOSTILE_MSG_COLS:-110})"
	[ "$RC" -lt 124 ] || fail "$what: killed or hung (rc $RC): $ERR"
	awk -v s="$SECS" -v m="$max" 'BEGIN { exit !(s <= m) }' ||
		fail "$what: took ${SECS}s (bound ${max}s)"
	[ "$RSS_KB" -le "$HOSTILE_RSS_KB" ] || fail "$what: peak RSS ${RSS_KB} KiB"
}

expect_clean_error()
{
	expect_eq "$RC" 1 "$2: exit status"
	grep -qE -- "$1" <<<"$ERR" || fail "$2: error does not match /$1/: $ERR"
	! grep -qiE 'AddressSanitizer|runtime error:|LeakSanitizer|core dumped' <<<"$ERR" ||
		fail "$2: sanitizer report: $ERR"
}
