#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-skr.sh - `sealmount key release` with a hostile IMDS and a hostile Managed HSM
# (tests/emulators/hostile.mjs in front of the IMDS and HSM stand-ins; MAA and the simulated SNP are
# honest). IMDS: token JSON without a token, an absurd expiry, 100000 levels deep, not JSON, a 2 GB
# Content-Length, endless redirects. HSM: release answers with alg none, HS256 keyed with the
# signer's public key, a self-signed attacker chain, jku/x5u/jwk injection, 100000-deep JSON, a 2 GB
# Content-Length. Each ends in a clean error (exit 1, no key file written) in bounded time and
# memory; the untampered pass-through releases the key.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/hostile.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
emu_start hostile IMDS_H --upstream "http://127.0.0.1:$IMDS_PORT"
emu_start hostile HSM_H --upstream "https://localhost:$HSM_PORT" --upstream-ca "$CA"
MAA=(--maa "http://127.0.0.1:$MAA_PORT" --ca-file "$CA" --kid hostile)

"$SEALMOUNT" attest --maa "http://127.0.0.1:$MAA_PORT" --snp "sim:$SIM" --claims \
	>"$TEST_TMP/claims.json" 2>"$TEST_TMP/attest.log" || fail "attest: $(cat "$TEST_TMP/attest.log")"
hostdata=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
		["x-ms-sevsnpvm-hostdata"])' <"$TEST_TMP/claims.json")
"$SEALMOUNT" key import "${MAA[@]}" --vault "https://localhost:$HSM_PORT" \
	--imds "http://127.0.0.1:$IMDS_PORT" --hostdata "$hostdata" --kty oct-HSM \
	>/dev/null 2>"$TEST_TMP/import.log" || fail "import: $(cat "$TEST_TMP/import.log")"

n=0
# release IMDS_URL VAULT_URL MODE PORT MAX_S: one release with PORT's hostile server in MODE.
release()
{
	n=$((n + 1))
	hostile_mode "$3" "$4"
	hostile_run "$5" "$3" -- "$SEALMOUNT" key release "${MAA[@]}" --snp "sim:$SIM" --imds "$1" \
		--vault "$2" --out "$TEST_TMP/key.$n"
	if [ "$RC" -ne 0 ] && [ -e "$TEST_TMP/key.$n" ]; then fail "$3: a key file was written"; fi
}
imds() { release "http://127.0.0.1:$IMDS_H" "https://localhost:$HSM_PORT" "$1" "$IMDS_H" "$2"; }
hsm() { release "http://127.0.0.1:$IMDS_PORT" "http://localhost:$HSM_H" "$1" "$HSM_H" "$2"; }

echo "--- controls: both proxies are harmless"
imds pass 15
expect_eq "$RC" 0 "release through the IMDS proxy: $ERR"
hsm pass 15
expect_eq "$RC" 0 "release through the HSM proxy: $ERR"
cmp -s "$TEST_TMP/key.1" "$TEST_TMP/key.2" || fail "the two controls released different keys"

echo "--- hostile IMDS"
# Broken HTTP in general is test-hostile-maa.sh's (same http module): here what IMDS sends.
for m in imds-no-token imds-bad-expiry imds-nested not-json; do
	imds "$m" 10
	expect_clean_error 'Cannot get a managed-identity token .*: (Bad message|File too large)' "$m"
done
for m in biglen redirect-loop; do
	imds "$m" 10
	expect_clean_error 'Cannot get a managed-identity token .*: (File too large|Protocol error)' "$m"
done

echo "--- hostile Managed HSM"
for m in hsm-alg-none hsm-hs256 hsm-self-signed hsm-jku; do
	hsm "$m" 10
	expect_clean_error 'The release response from .* does not verify: its JWS must be RS256' "$m"
done
for m in hsm-value-nested; do
	hsm "$m" 10
	expect_clean_error 'The release response from .* does not verify' "$m"
done
for m in biglen truncated; do
	hsm "$m" 10
	expect_clean_error 'Key release from .* failed: (File too large|Input/output error)' "$m"
done
hsm redirect-evil 10
expect_clean_error 'Key release from .* failed \(HTTP 307' redirect-evil
echo "hostile IMDS and HSM: ok"
