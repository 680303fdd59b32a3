#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-demo.sh - scripts/demo.sh, the README's first command, runs to the end: stand-ins, key
# import, image create + upload, `sealmount run`, the files through the published symlink,
# SIGTERM teardown with nothing left behind. Uses this build (no setup, no rebuild).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || [ ! -e /dev/loop-control ]; then
	echo "SKIP: the demo needs root, /dev/fuse and loop devices" >&2
	exit 77
fi
requires node curl

top=$(cd "$(dirname "$0")/../.." && pwd)
rc=0
SEALMOUNT=$SEALMOUNT "$top/scripts/demo.sh" --no-setup >"$TEST_TMP/demo.log" 2>&1 || rc=$?
cat "$TEST_TMP/demo.log"
expect_eq "$rc" 0 "demo.sh exit code"
grep -q "Hello from inside the encrypted image!" "$TEST_TMP/demo.log" ||
	fail "the demo did not show the decrypted file"
grep -q "is empty again; no mounts left" "$TEST_TMP/demo.log" || fail "the demo did not tear down"
grep -q "sig=[^<]" "$TEST_TMP/demo.log" && fail "a SAS signature was printed"
echo PASS
