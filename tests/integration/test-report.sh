#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-report.sh - `sealmount report show|verify` and `sealmount sim init|report`: the real ACI
# capture from ../shared/testdata/ms-reference (skipped when absent) verifies against the built-in
# AMD roots; simulated reports verify only with --trust-root; every failing check is named.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires python3

REF="$(cd "$(dirname "$0")/../.." && pwd)/../shared/testdata/ms-reference"

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

# flip FILE OFFSET OUT: a copy of FILE with one byte inverted.
flip()
{
	python3 - "$1" "$2" "$3" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[int(sys.argv[2], 0)] ^= 0xff
open(sys.argv[3], "wb").write(d)
PY
}

if [ -d "$REF" ]; then
	echo "--- real ACI capture"
	run report show --json "$REF/snp_report.bin"
	expect_eq "$RC" 0 "report show"
	expect_eq "$(json_field version)" 2 "version"
	expect_eq "$(json_field vmpl)" 0 "vmpl"
	expect_eq "$(json_field reported_tcb)" 7308000000000003 "reported_tcb"
	expect_eq "$(json_field host_data)" \
		cadd74f71ebb8fbf9782baab649612520f3c416bc5ce9ac768808ddc8d9b031c "host_data"
	run report verify "$REF/snp_report.bin" --certs "$REF/uvm_host_amd_certificate.json"
	expect_eq "$RC" 0 "verify with THIM JSON: $ERR"
	run report verify "$REF/snp_report.bin" --certs "$REF/uvm_host_amd_certificate.pem"
	expect_eq "$RC" 0 "verify with PEM: $ERR"
	flip "$REF/snp_report.bin" 0x90 "$TEST_TMP/tampered.bin"
	run report verify "$TEST_TMP/tampered.bin" --certs "$REF/uvm_host_amd_certificate.json"
	expect_eq "$RC" 1 "tampered report"
	expect_eq "$OUT" "FAILED: report signature" "tampered report"
else
	echo "--- real ACI capture: SKIP ($REF absent)"
fi

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
if [ -d "$REF" ]; then
	run report verify "$TEST_TMP/sim.bin" --certs "$REF/uvm_host_amd_certificate.json" \
		--trust-root "$SIM/ark.pem"
	expect_eq "$OUT" "FAILED: report signature" "wrong VCEK"
fi
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
