#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-attest.sh - `sealmount attest` end to end: simulated SNP reports (a test ARK/ASK/VCEK
# chain) sent to the local MAA stand-in (tests/emulators/maa.mjs), and the token validated by
# the C client. First, the stand-in is driven by Microsoft's own SDK (maa-sdk.test.mjs, which
# also attests the real ACI capture). Negative cases: flipped report bytes, an untrusted ARK, a
# VCEK that did not sign the report, a token whose issuer is not the configured endpoint,
# endpoints the http policy refuses, no device.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

# attest ARGS...: run sealmount attest; sets OUT (stdout), ERR (stderr text) and RC.
attest()
{
	RC=0
	OUT=$("$SEALMOUNT" attest "$@" 2>"$TEST_TMP/err") || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}

expect_refused()
{
	expect_eq "$RC" 1 "exit code"
	grep -q -- "$1" <<<"$ERR" || fail "stderr lacks '$1': $ERR"
}

# claim NAME: the value of a top-level claim in OUT (printed with --claims).
claim()
{
	node -e 'const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
		 process.stdout.write(JSON.stringify(c[process.argv[1]]));' "$1" <<<"$OUT"
}

requires node
step "the stand-in speaks MAA's protocol to Microsoft's @azure/attestation client"
node --test "$EMULATORS/test/maa-sdk.test.mjs" >"$TEST_TMP/sdk.log" 2>&1 ||
	{ cat "$TEST_TMP/sdk.log" >&2; fail "maa-sdk.test.mjs failed"; }

SIM="$TEST_TMP/sim"
OTHER="$TEST_TMP/other"
mkdir "$SIM" "$OTHER"
step "create two simulated SNP chains"
for d in "$SIM" "$OTHER"; do
	"$SEALMOUNT" sim init "$d" 2>"$TEST_TMP/sim.err" ||
		{ cat "$TEST_TMP/sim.err" >&2; fail "sealmount sim init $d failed"; }
done

emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --trust-root "$OTHER/ark.pem"
MAA="http://127.0.0.1:$MAA_PORT"

step "attest with the simulator: token printed and validated"
attest --maa "$MAA" --snp "sim:$SIM"
expect_eq "$RC" 0 "exit code ($ERR)"
[[ $OUT =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "not a compact JWT: $OUT"
grep -q "SIMULATED SNP" <<<"$ERR" || fail "the simulator was not announced loudly: $ERR"

step "--claims: the real claim names, our key in x-ms-runtime"
attest --maa "$MAA" --snp "sim:$SIM" --claims
expect_eq "$RC" 0 "exit code ($ERR)"
expect_eq "$(claim x-ms-attestation-type)" '"sevsnpvm"' "x-ms-attestation-type"
expect_eq "$(claim iss)" "\"$MAA\"" "iss"
expect_eq "$(claim x-ms-sevsnpvm-is-debuggable)" false "x-ms-sevsnpvm-is-debuggable"
expect_eq "$(claim x-ms-sevsnpvm-vmpl)" 0 "x-ms-sevsnpvm-vmpl"
[[ $(claim x-ms-runtime) == *'"key_ops":["encrypt"]'* ]] || fail "x-ms-runtime: $(claim x-ms-runtime)"
[[ $(claim x-ms-sevsnpvm-reportdata) =~ ^\"[0-9a-f]{64}0{64}\"$ ]] || fail "reportdata"

step "--runtime-data: JSON is bound and echoed, binary is bound"
printf '{"hello":"world"}' >"$TEST_TMP/rt.json"
attest --maa "$MAA" --snp "sim:$SIM" --runtime-data "$TEST_TMP/rt.json" --claims
expect_eq "$RC" 0 "exit code ($ERR)"
expect_eq "$(claim x-ms-runtime)" '{"hello":"world"}' "x-ms-runtime"
want=$(printf '{"hello":"world"}' | sha256sum | cut -c1-64)
expect_eq "$(claim x-ms-sevsnpvm-reportdata)" "\"${want}$(printf '0%.0s' {1..64})\"" "reportdata"
printf 'not json \001' >"$TEST_TMP/rt.bin"
attest --maa "$MAA" --snp "sim:$SIM" --runtime-data "$TEST_TMP/rt.bin" --api-version 2020-10-01
expect_eq "$RC" 0 "exit code ($ERR)"

step "the report sent is accepted as is, and refused with any byte of it flipped"
attest --maa "$MAA" --snp "sim:$SIM" --runtime-data "$TEST_TMP/rt.json" \
	--report-out "$TEST_TMP/report.bin"
expect_eq "$RC" 0 "exit code ($ERR)"
# post_report FLIP_OFFSET: POST report.bin (with the byte at FLIP_OFFSET flipped; -1: none) to
# the stand-in, print the HTTP status and error code.
post_report()
{
	node - "$1" "$MAA" "$TEST_TMP/report.bin" "$SIM/chain.pem" "$TEST_TMP/rt.json" <<'JS'
const fs = require('fs');
const [flip, maa, reportFile, chainFile, rtFile] = process.argv.slice(2);
const report = fs.readFileSync(reportFile);
if (Number(flip) >= 0) report[Number(flip)] ^= 0x01;
const blob = { SnpReport: report.toString('base64url'),
	       VcekCertChain: fs.readFileSync(chainFile).toString('base64url') };
const body = { report: Buffer.from(JSON.stringify(blob)).toString('base64url'),
	       runtimeData: { data: fs.readFileSync(rtFile).toString('base64url'), dataType: 'JSON' } };
fetch(`${maa}/attest/SevSnpVm?api-version=2022-08-01`, { method: 'POST', body: JSON.stringify(body),
	headers: { 'Content-Type': 'application/json' } })
	.then(async (r) => console.log(r.status, r.ok ? 'ok' : (await r.json()).error.code));
JS
}
expect_eq "$(post_report -1)" "200 ok" "untouched report"
for off in 0x000 0x008 0x050 0x090 0x0c0 0x1a0 0x29f 0x2a0 0x2e8; do
	expect_eq "$(post_report $((off)))" "400 AttestationFailed" "report with byte $off flipped"
done

step "a stand-in that does not trust the simulator's ARK refuses the evidence"
emu_start maa STRICT_PORT
attest --maa "http://127.0.0.1:$STRICT_PORT" --snp "sim:$SIM"
expect_refused "refused the evidence: AttestationFailed: ASK is not signed by a trusted ARK"
grep -q "x-ms-request-id" <<<"$ERR" || fail "the MAA request id is not reported: $ERR"

step "a VCEK chain that did not sign the report is refused"
SWAP="$TEST_TMP/swap"
cp -r "$SIM" "$SWAP"
cp "$OTHER/thim.json" "$SWAP/" # the certificates offered, not the signing key
attest --maa "$MAA" --snp "sim:$SWAP"
expect_refused "refused the evidence: AttestationFailed"

step "a token whose iss is not the configured endpoint is refused by the client"
emu_start maa ALIAS_PORT --trust-root "$SIM/ark.pem" --issuer-host localhost
attest --maa "http://127.0.0.1:$ALIAS_PORT" --snp "sim:$SIM"
expect_refused "MAA token refused, check 'issuer' failed"

if command -v openssl >/dev/null 2>&1; then
	step "https: the stand-in behind a test CA, trusted with --ca-file only"
	T="$TEST_TMP/tls"
	mkdir "$T"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=sealmount test CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$T/ext.cnf"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/ext.cnf" -out "$T/srv.pem" 2>/dev/null
	emu_start maa TLS_PORT --trust-root "$SIM/ark.pem" --tls-cert "$T/srv.pem" \
		--tls-key "$T/srv.key" --issuer-host localhost
	attest --maa "localhost:$TLS_PORT" --snp "sim:$SIM" --ca-file "$T/ca.pem" --claims
	expect_eq "$RC" 0 "exit code over https ($ERR)"
	expect_eq "$(claim iss)" "\"https://localhost:$TLS_PORT\"" "iss over https"
	attest --maa "https://localhost:$TLS_PORT" --snp "sim:$SIM"
	expect_eq "$RC" 1 "exit code without the test CA"
else
	echo "--- https case skipped: openssl not found"
fi

step "endpoints the http policy refuses; no device"
attest --maa "http://maa.example.com" --snp "sim:$SIM"
expect_refused "Invalid MAA endpoint"
attest --maa "https://maa.example.com/path" --snp "sim:$SIM"
expect_refused "Invalid MAA endpoint"
attest --maa "$MAA" --snp device:/nonexistent/sev-guest
expect_eq "$RC" 1 "exit code without a device"
attest --snp "sim:$SIM"
expect_eq "$RC" 2 "exit code without --maa"

echo "PASS"
