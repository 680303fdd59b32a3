#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-secret-hygiene.sh - after a full attest -> release run at debug log level (JSON and text),
# neither the released passphrase (raw, hex, base64, base64url), nor the vault bearer token, nor
# the MAA token's signature appears in any log line or in any file the run wrote besides the
# --out file it was asked for (mode 0600). Stand-ins: simulated SNP, MAA, IMDS, Managed HSM.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node xxd base64

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
COMMON=(--vault "https://localhost:$HSM_PORT" --maa "http://127.0.0.1:$MAA_PORT"
	--imds "http://127.0.0.1:$IMDS_PORT" --ca-file "$CA")

hostdata=$("$SEALMOUNT" attest --maa "http://127.0.0.1:$MAA_PORT" --snp "sim:$SIM" --claims \
	2>/dev/null | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
		["x-ms-sevsnpvm-hostdata"])')
[ ${#hostdata} -eq 64 ] || fail "no hostdata from the MAA stand-in"

# forms FILE: every text form of the secret bytes in FILE, one per line.
forms()
{
	local b64
	xxd -p -c 256 "$1"
	xxd -p -c 256 "$1" | tr a-f A-F
	b64=$(base64 -w0 "$1")
	echo "$b64"
	echo "${b64%%=*}"
	echo "$b64" | tr '+/' '-_' | tr -d '='
}

# assert_absent SECRET_FILE WHERE...: no form of the secret (nor its raw bytes) in WHERE.
assert_absent()
{
	local secret=$1 f form
	shift
	for f in "$@"; do
		[ -f "$f" ] || continue
		while read -r form; do
			[ -n "$form" ] || continue
			! grep -qF -- "$form" "$f" || fail "secret ($form) found in $f"
		done < <(forms "$secret")
		node -e 'const fs = require("fs");
			process.exit(fs.readFileSync(process.argv[2]).indexOf(fs.readFileSync(process.argv[1])) < 0 ? 0 : 1)' \
			"$secret" "$f" || fail "raw secret bytes found in $f"
	done
}

for kty in oct-HSM RSA-HSM; do
	echo "--- $kty: import, then release at debug level"
	kid=hyg-${kty%%-*}
	"$SEALMOUNT" key import "${COMMON[@]}" --kid "$kid" --kty "$kty" --hostdata "$hostdata" \
		--salt 00112233 --passphrase-out "$TEST_TMP/$kid.imp" >/dev/null 2>"$TEST_TMP/import.log" ||
		fail "import: $(cat "$TEST_TMP/import.log")"
	work="$TEST_TMP/work-$kid"
	mkdir "$work"
	for fmt in text json; do
		json=()
		[ $fmt = json ] && json=(--log-json)
		(cd "$work" && "$SEALMOUNT" --log-level debug "${json[@]}" key release "${COMMON[@]}" \
			--kid "$kid" --snp "sim:$SIM" --salt 00112233 --out "$work/key.$fmt" \
			>"$TEST_TMP/$kid.$fmt.out" 2>"$TEST_TMP/$kid.$fmt.log") ||
			fail "release: $(tail -5 "$TEST_TMP/$kid.$fmt.log")"
		cmp -s "$work/key.$fmt" "$TEST_TMP/$kid.imp" || fail "released key differs"
		expect_eq "$(stat -c %a "$work/key.$fmt")" 600 "mode of the key file"
		grep -q 'debug' "$TEST_TMP/$kid.$fmt.log" || fail "no debug lines were logged"
		assert_absent "$TEST_TMP/$kid.imp" "$TEST_TMP/$kid.$fmt.log" "$TEST_TMP/$kid.$fmt.out"
	done
	# The run wrote nothing but the two key files into its working directory.
	expect_eq "$(find "$work" -type f | sort | tr '\n' ' ')" "$work/key.json $work/key.text " \
		"files written"
	# Tokens: the IMDS bearer and MAA token signatures never reach the log.
	for log in "$TEST_TMP/$kid".*.log; do
		! grep -qE 'eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}' "$log" ||
			fail "a whole JWT (with its signature) is in $log"
	done
done
echo "secret hygiene: ok"
