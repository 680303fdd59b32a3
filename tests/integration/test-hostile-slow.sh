#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-slow.sh - servers that stall: a body trickled one byte a second (`attest`), a
# header trickled one byte a second (`blob stat`) and no answer at all (`attest`). libcurl's
# low-speed limit (http.h defaults: under 64 bytes/s for 10 s) must cut each attempt off; the
# hostile server answers the retry with a 400, so each run ends in a clean error after one cut
# (the worst case, every attempt stalled, is attempts x that). The three run in parallel, each
# against its own tests/emulators/hostile.mjs.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/hostile.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

SIM="$TEST_TMP/sim"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start hostile H1
emu_start hostile H2
emu_start hostile H3

# slow NAME PORT MODE REGEX -- CMD...: in the background; its verdict goes to $TEST_TMP/NAME.rc.
slow()
{
	local name=$1 port=$2 mode=$3 re=$4
	shift 5
	mkdir "$TEST_TMP/$name"
	(
		HOSTILE_OUT="$TEST_TMP/$name"
		hostile_mode "$mode" "$port"
		# At least one low-speed window (10 s), at most one window plus curl's averaging and
		# the retry.
		hostile_run 30 "$name" -- "$@"
		expect_clean_error "$re" "$name"
		awk -v s="$SECS" 'BEGIN { exit !(s >= 9.5) }' ||
			fail "$name ended after ${SECS}s: not by the low-speed limit?"
		[ "$(curl -s "http://127.0.0.1:$port/__hostile/count")" -eq 2 ] ||
			fail "$name: expected exactly one retry after the stall"
	) >"$TEST_TMP/$name.log" 2>&1 &
	pids+=($!)
}
pids=()

slow body-trickle "$H1" trickle-once 'http://127.0.0.1:[0-9]+ refused the evidence' -- \
	"$SEALMOUNT" attest --maa "http://127.0.0.1:$H1" --snp "sim:$SIM"
slow header-trickle "$H2" hdr-trickle-once 'Cannot get the properties of .*: (Invalid argument|HTTP 400)' -- \
	"$SEALMOUNT" blob stat "http://127.0.0.1:$H2/devstoreaccount1/c/b"
slow silence "$H3" silent-once 'http://127.0.0.1:[0-9]+ refused the evidence' -- \
	"$SEALMOUNT" attest --maa "http://127.0.0.1:$H3" --snp "sim:$SIM"
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for name in body-trickle header-trickle silence; do
	cat "$TEST_TMP/$name.log"
	! grep -q '^FAIL' "$TEST_TMP/$name.log" || rc=1
	grep -q "^  $name " "$TEST_TMP/$name.log" || rc=1
done
[ $rc -eq 0 ] || fail "a slow server was not cut off cleanly"
echo "hostile slow servers: ok"
