#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-skr-challenge.sh - the vault's 401 challenge (docs/skr.md, The 401 challenge) against the
# stand-ins (simulated SNP, MAA, IMDS, Managed HSM on https://localhost:PORT - a host that does
# not say whether it is a Key Vault or a Managed HSM):
#   - a Managed HSM there: the first token (for https://vault.azure.net, the guess for such a
#     host) is refused with a challenge naming https://managedhsm.azure.net; sealmount gets a
#     token for that from IMDS and the release succeeds - with resource= and with scope=;
#   - hostile challenges (resource https://evil.example, https://management.azure.com, garbage,
#     a 16 KiB value) are refused: exactly one release request and one token request were made,
#     no token was asked for the challenge's resource, and the error says why;
#   - a vault whose resource is the first guess needs one request (the control).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

step() { echo "--- $*"; }

SIM=$TEST_TMP/sim
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_launch maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_launch imds IMDS_PORT --thim "$SIM/thim.json"
emu_wait MAA_PORT
emu_wait IMDS_PORT
MAA="http://127.0.0.1:$MAA_PORT"
IMDS="http://127.0.0.1:$IMDS_PORT"
IMDS_LOG=$(emu_log IMDS_PORT)
HOSTDATA=$("$SEALMOUNT" attest --maa "$MAA" --snp "sim:$SIM" --claims 2>/dev/null |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))["x-ms-sevsnpvm-hostdata"])')
[ ${#HOSTDATA} -eq 64 ] || fail "no hostdata from the MAA stand-in"

# jwt AUD: a bearer token the HSM stand-in accepts for AUD (it checks aud and exp only), to
# import keys without going through the challenge.
jwt()
{
	node -e 'const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
		console.log(`${b({ alg: "RS256", typ: "JWT" })}.${b({ aud: process.argv[1],
			exp: Math.floor(Date.now() / 1000) + 3600 })}.c2ln`);' "$1"
}

N=0
# hsm_up RESOURCE [HSM OPTIONS]: a fresh HSM stand-in whose tokens must be for RESOURCE, with a
# key "k" imported; sets VAULT, HSM_LOG, CA.
hsm_up()
{
	local resource=$1

	shift
	N=$((N + 1))
	CA=$TEST_TMP/ca$N.pem
	emu_start hsm "HSM$N" --ca-out "$CA" --resource "$resource" "$@"
	local port_var="HSM$N"
	VAULT="https://localhost:${!port_var}"
	HSM_LOG=$(emu_log "HSM$N")
	jwt "$resource" >"$TEST_TMP/bearer$N"
	"$SEALMOUNT" key import --vault "$VAULT" --ca-file "$CA" --bearer-file "$TEST_TMP/bearer$N" \
		--kid k --hostdata "$HOSTDATA" --maa "$MAA" \
		--passphrase-out "$TEST_TMP/want$N" >/dev/null 2>"$TEST_TMP/import.err" ||
		fail "key import: $(cat "$TEST_TMP/import.err")"
	cp "$IMDS_LOG" "$IMDS_LOG.before"
}

# release: `key release` from the current vault with IMDS tokens; RC, ERR.
release()
{
	RC=0
	rm -f "$TEST_TMP/got"
	"$SEALMOUNT" key release --vault "$VAULT" --ca-file "$CA" --imds "$IMDS" --maa "$MAA" \
		--snp "sim:$SIM" --kid k --out "$TEST_TMP/got" >/dev/null 2>"$TEST_TMP/err" || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}

# The token requests since hsm_up (the resource of each, one per line).
tokens() { diff "$IMDS_LOG.before" "$IMDS_LOG" | sed -n 's/^> \[imds\] GET \/metadata\/identity\/oauth2\/token resource=\([^ ]*\) -> .*/\1/p'; }
releases() { grep -c 'POST /keys/k/release' "$HSM_LOG" || true; }

step "a Managed HSM behind a host name without 'managedhsm': the challenge names the resource"
hsm_up https://managedhsm.azure.net
release
expect_eq "$RC" 0 "release exit code ($ERR)"
cmp -s "$TEST_TMP/got" "$TEST_TMP/want$N" || fail "released passphrase differs"
expect_eq "$(tokens | tr '\n' ' ')" "https://vault.azure.net https://managedhsm.azure.net " \
	"token resources asked for"
expect_eq "$(grep 'POST /keys/k/release' "$HSM_LOG" | sed 's/.*-> //' | tr '\n' ' ')" "401 200 " \
	"release answers"

step "the same with the scope= form of the challenge"
hsm_up https://managedhsm.azure.net --challenge-scope
release
expect_eq "$RC" 0 "release exit code ($ERR)"
expect_eq "$(tokens | tr '\n' ' ')" "https://vault.azure.net https://managedhsm.azure.net " \
	"token resources asked for"

step "the control: a vault whose resource is the first guess needs one request"
hsm_up https://vault.azure.net
release
expect_eq "$RC" 0 "release exit code ($ERR)"
expect_eq "$(releases)" 1 "release requests"
expect_eq "$(tokens | tr '\n' ' ')" "https://vault.azure.net " "token resources"

# hostile NAME EXPECTED_TEXT HSM-OPTIONS...: refused with one release and one token request.
hostile()
{
	local name=$1 want=$2

	shift 2
	step "hostile challenge: $name"
	hsm_up https://managedhsm.azure.net "$@"
	release
	expect_eq "$RC" 1 "release exit code ($ERR)"
	grep -qF -- "$want" <<<"$ERR" || fail "$name: stderr lacks '$want': $ERR"
	grep -q "step 'release' failed" <<<"$ERR" || fail "$name: not a release failure: $ERR"
	expect_eq "$(releases)" 1 "$name: release requests"
	expect_eq "$(tokens | tr '\n' ' ')" "https://vault.azure.net " "$name: token resources"
	[ ! -e "$TEST_TMP/got" ] || fail "$name: a key file was written"
}
hostile "resource https://evil.example" \
	"asks for a token for 'https://evil.example', which is not an Azure Key Vault or Managed HSM resource: not retried" \
	--challenge 'Bearer authorization="https://login.microsoftonline.com/t", resource="https://evil.example"'
hostile "resource https://management.azure.com (a token for Azure Resource Manager)" \
	"'https://management.azure.com', which is not an Azure Key Vault" \
	--challenge 'Bearer resource="https://management.azure.com"'
hostile "garbage" "its 401 challenge (WWW-Authenticate) does not parse: not retried" \
	--challenge 'Bearer ,=,"'
hostile "a scope that is not RESOURCE/.default" "does not parse" \
	--challenge 'Bearer scope="https://managedhsm.azure.net/user_impersonation"'
node -e 'process.stdout.write("Bearer resource=\"https://managedhsm.azure.net\", x=\"" + "A".repeat(16384) + "\"")' \
	>"$TEST_TMP/huge"
hostile "a 16 KiB header" "is over 4096 bytes: not retried" --challenge-file "$TEST_TMP/huge"
echo "OK"
