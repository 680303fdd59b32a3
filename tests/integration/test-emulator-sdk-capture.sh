#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-emulator-sdk-capture.sh - the Node SDK tests named 'ACI capture: ...' (see
# test-emulator-sdk.sh): Microsoft's @azure/attestation against our MAA stand-in with the real
# ACI capture from ../shared/testdata/ms-reference. SKIP when that data is absent; every one of
# them must run and pass (none skipped).

. "$(dirname "$0")/functions.sh"

requires node
requires_shared
unset SEALMOUNT_SDK_CAPTURE # run them (test-emulator-sdk.sh sets it to skip them)
[ -d "$EMULATORS/node_modules" ] ||
	fail "$EMULATORS/node_modules is missing: run 'npm ci' in tests/emulators (scripts/setup.sh)"
want=$(grep -c "^test('ACI capture: " "$EMULATORS/test/maa-sdk.test.mjs") || true
[ "$want" -gt 0 ] || fail "no 'ACI capture: ' tests in maa-sdk.test.mjs"
rc=0
node --test --test-reporter=tap --test-name-pattern='^ACI capture: ' \
	"$EMULATORS/test/maa-sdk.test.mjs" >"$TEST_TMP/tap" 2>&1 || rc=$?
cat "$TEST_TMP/tap"
[ "$rc" -eq 0 ] || fail "node --test failed"
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$TEST_TMP/tap")
expect_eq "$passed" "$want" "ACI capture tests passed"
echo "PASS"
