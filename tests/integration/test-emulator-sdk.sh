#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-emulator-sdk.sh - run every Node test of the stand-ins (tests/emulators/test/*.test.mjs):
# Microsoft's official SDKs (@azure/attestation, @azure/keyvault-keys, ...) driving our MAA,
# Managed HSM and IMDS stand-ins, which proves they speak the real protocols. The tests named
# 'ACI capture: ...' need ../shared's reference data: test-emulator-sdk-capture.sh runs them.

. "$(dirname "$0")/functions.sh"

requires node
[ -d "$EMULATORS/node_modules" ] ||
	fail "$EMULATORS/node_modules is missing: run 'npm ci' in tests/emulators (scripts/setup.sh)"
SEALMOUNT_SDK_CAPTURE=skip node --test "$EMULATORS/test/" ||
	fail "node --test $EMULATORS/test/ failed"
echo "PASS"
