#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-report.sh - `sealmount report show|verify` and `sealmount sim init|report`: simulated
# reports verify only with --trust-root; every failing check is named. The real ACI capture is
# test-report-capture.sh.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires python3

# run ARGS...: sealmount with stdout in OUT, stderr in ERR, exit code in RC.
run()
{
	RC=0
	OUT=$("$SEALMOUNT" "$@" 2>"$TEST_TMP/err") || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}

# json_field FIELD: a top-level field of the JSON in OUT.
json_field()
{
	python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" <<<"$OUT"
}

echo "--- simulated chain"
SIM="$TEST_TMP/sim"
mkdir "$SIM"
run sim init "$SIM"
expect_eq "$RC" 0 "sim init: $ERR"
grep -q SIMULATED <<<"$ERR" || fail "sim init did not warn loudly: $ERR"
run sim init "$SIM"
expect_eq "$RC" 1 "sim init over an existing chain"
RD=$(printf 'ab%.0s' $(seq 64))
run sim report "$SIM" --out "$TEST_TMP/sim.bin" --report-data "$RD" --vmpl 1 \
	--host-data "$(printf '11%.0s' $(seq 32))"
expect_eq "$RC" 0 "sim report: $ERR"
run report show --json "$TEST_TMP/sim.bin"
expect_eq "$(json_field report_data)" "$RD" "report_data"
expect_eq "$(json_field vmpl)" 1 "vmpl"
run report verify "$TEST_TMP/sim.bin" --certs "$SIM/thim.json" --trust-root "$SIM/ark.pem"
expect_eq "$RC" 0 "sim verify with its root: $ERR"
run report verify "$TEST_TMP/sim.bin" --certs "$SIM/thim.json"
expect_eq "$RC" 1 "sim report without its root"
expect_eq "$OUT" "FAILED: certificate chain" "sim report without its root"
run sim report "$SIM" --out "$TEST_TMP/dbg.bin" --debug
run report verify "$TEST_TMP/dbg.bin" --certs "$SIM/chain.pem" --trust-root "$SIM/ark.pem" \
	--reject-debug
expect_eq "$OUT" "FAILED: debug policy" "debug policy"
head -c 1000 "$TEST_TMP/sim.bin" >"$TEST_TMP/short.bin"
run report verify "$TEST_TMP/short.bin" --certs "$SIM/thim.json"
expect_eq "$RC" 1 "truncated report"
run report verify "$TEST_TMP/sim.bin"
expect_eq "$RC" 2 "missing --certs"
echo "PASS"
