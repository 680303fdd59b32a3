#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-report-capture.sh - `sealmount report show|verify` on the real ACI capture from
# ../shared/testdata/ms-reference (SKIP when it is absent): its fields, the chain up to the
# built-in AMD roots with the certificates as THIM JSON and as PEM, a flipped signed byte named
# as the signature failure, and a simulated report refused by the real VCEK.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires python3
requires_shared
REF=$SHARED

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

step "report show"
run report show --json "$REF/snp_report.bin"
expect_eq "$RC" 0 "report show"
expect_eq "$(json_field version)" 2 "version"
expect_eq "$(json_field vmpl)" 0 "vmpl"
expect_eq "$(json_field reported_tcb)" 7308000000000003 "reported_tcb"
expect_eq "$(json_field host_data)" \
	cadd74f71ebb8fbf9782baab649612520f3c416bc5ce9ac768808ddc8d9b031c "host_data"

step "report verify against the built-in AMD roots"
run report verify "$REF/snp_report.bin" --certs "$REF/uvm_host_amd_certificate.json"
expect_eq "$RC" 0 "verify with THIM JSON: $ERR"
run report verify "$REF/snp_report.bin" --certs "$REF/uvm_host_amd_certificate.pem"
expect_eq "$RC" 0 "verify with PEM: $ERR"

step "a flipped signed byte"
flip "$REF/snp_report.bin" 0x90 "$TEST_TMP/tampered.bin"
run report verify "$TEST_TMP/tampered.bin" --certs "$REF/uvm_host_amd_certificate.json"
expect_eq "$RC" 1 "tampered report"
expect_eq "$OUT" "FAILED: report signature" "tampered report"

step "a simulated report with the real VCEK"
SIM="$TEST_TMP/sim"
mkdir "$SIM"
run sim init "$SIM"
expect_eq "$RC" 0 "sim init: $ERR"
run sim report "$SIM" --out "$TEST_TMP/sim.bin"
expect_eq "$RC" 0 "sim report: $ERR"
run report verify "$TEST_TMP/sim.bin" --certs "$REF/uvm_host_amd_certificate.json" \
	--trust-root "$SIM/ark.pem"
expect_eq "$RC" 1 "wrong VCEK"
expect_eq "$OUT" "FAILED: report signature" "wrong VCEK"
echo "PASS"
