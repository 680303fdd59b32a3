#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-maa.sh - `sealmount attest` against a hostile MAA (tests/emulators/hostile.mjs in
# front of the MAA stand-in): broken HTTP (2 GB Content-Length, endless body, truncation, huge and
# countless headers, interim-response floods, redirects, non-HTTP bytes), hostile JSON (100000
# levels deep, empty, not JSON) and forged tokens (alg none, HS256 keyed with the public key,
# jku/jwk/x5u pointing at the attacker's key, 40000-deep claims). Slow servers:
# test-hostile-slow.sh. Each must end in a clean error (exit 1, a message naming the cause) within
# its time bound and in bounded memory; the untampered pass-through must succeed.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/hostile.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

SIM="$TEST_TMP/sim"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
# The proxy first: the MAA stand-in must name the proxy's address as its issuer.
emu_start hostile HOSTILE_PORT
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm \
	--issuer "http://127.0.0.1:$HOSTILE_PORT"
curl -sSf -o /dev/null \
	"http://127.0.0.1:$HOSTILE_PORT/__hostile/upstream?u=http://127.0.0.1:$MAA_PORT"

attest()
{
	hostile_mode "$1"
	hostile_run "$2" "$1" -- "$SEALMOUNT" attest --maa "http://127.0.0.1:$HOSTILE_PORT" \
		--snp "sim:$SIM" --claims
}

echo "--- control: the proxy itself is harmless"
attest pass 10
expect_eq "$RC" 0 "attest through the pass-through proxy: $ERR"
grep -q '"x-ms-sevsnpvm-hostdata"' "$TEST_TMP/stdout.out" || fail "no claims printed"

echo "--- broken HTTP"
attest biglen 8
expect_clean_error 'Attestation by .* failed: File too large' biglen
attest flood 10
expect_clean_error 'failed: File too large' flood
attest truncated 10
expect_clean_error 'failed: Input/output error' truncated
attest huge-header 10
expect_clean_error 'failed: File too large' huge-header
attest many-headers 8
expect_clean_error 'failed: File too large' many-headers
attest interim-flood 10
expect_clean_error 'failed: File too large' interim-flood
attest redirect-loop 8
expect_clean_error 'failed: Protocol error' redirect-loop
[ "$(curl -s "http://127.0.0.1:$HOSTILE_PORT/__hostile/count")" -le 2 ] ||
	fail "a redirect was followed"
attest redirect-evil 8
expect_clean_error 'failed: Protocol error' redirect-evil
attest garbage 10
expect_clean_error 'failed: Protocol error' garbage
attest bad-status 10
expect_clean_error 'failed: Protocol error' bad-status
attest folded 10
expect_clean_error 'failed: Protocol error' folded

echo "--- hostile JSON"
attest nested 8
expect_clean_error 'failed: Bad message' nested
attest nested-obj 8
expect_clean_error 'failed: (Bad message|File too large)' nested-obj
attest empty 8
expect_clean_error 'failed: Bad message' empty
attest not-json 8
expect_clean_error 'failed: Bad message' not-json

echo "--- forged tokens: never trusted, whatever the header says"
for m in maa-alg-none maa-hs256 maa-jku maa-jwk maa-x5u; do
	attest "$m" 8
	expect_clean_error "MAA token refused, check 'signature' failed" "$m"
done
attest maa-deep-claims 8
expect_clean_error "MAA token refused|failed: (Bad message|File too large)" maa-deep-claims

echo "hostile MAA: ok"
