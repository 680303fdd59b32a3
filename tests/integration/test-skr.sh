#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-skr.sh - Secure Key Release end to end against the local stand-ins: simulated SNP
# (`sealmount sim init`) -> MAA stand-in -> IMDS stand-in (bearer token) -> Managed HSM stand-in
# (tests/emulators/hsm.mjs, https and a JWS x5c chain from its own test CA). `key import` puts
# oct-HSM and RSA-HSM keys with a release policy in; `key release` must yield the same
# passphrase with every enc. Negative cases: policy mismatch (403 explained claim by claim),
# unknown key (404), bad/expired bearer (401), untrusted TLS; IMDS down then up, IMDS's
# transient 500 "invalid token" and HSM 503s are retried.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

# run ARGS...: run sealmount; sets OUT, ERR, RC.
run()
{
	RC=0
	OUT=$("$SEALMOUNT" "$@" 2>"$TEST_TMP/err") || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}

expect_ok()
{
	expect_eq "$RC" 0 "exit code ($ERR)"
}

expect_failed()
{
	expect_eq "$RC" "$1" "exit code ($ERR)"
	grep -qF -- "$2" <<<"$ERR" || fail "stderr lacks '$2': $ERR"
}

free_port()
{
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
		() => { console.log(s.address().port); s.close(); });'
}

# jwt AUD EXP_OFFSET: an unsigned-looking bearer token the HSM stand-in accepts (aud, exp).
jwt()
{
	node -e 'const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
		const now = Math.floor(Date.now() / 1000);
		console.log(`${b({ alg: "RS256", typ: "JWT" })}.${b({ aud: process.argv[1],
			exp: now + Number(process.argv[2]) })}.c2ln`);' "$1" "$2"
}

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
step "simulated SNP chain, MAA, IMDS and Managed HSM stand-ins"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT --client-id test-client-1 --thim "$SIM/thim.json"
# A vault that is not *.managedhsm.*: tokens are for https://vault.azure.net (as for Key Vault).
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
MAA="http://127.0.0.1:$MAA_PORT"
IMDS="http://127.0.0.1:$IMDS_PORT"
VAULT="https://localhost:$HSM_PORT"
COMMON=(--vault "$VAULT" --maa "$MAA" --imds "$IMDS" --ca-file "$CA")

step "IMDS's THIM endpoint serves the certificates it was given, and they verify a report"
thim_get()
{
	node -e 'fetch(process.argv[1], { headers: process.argv[2] ? { Metadata: "true" } : {} })
		.then(async (r) => { console.log(r.status); process.stderr.write(await r.text()); })' \
		"$IMDS/metadata/THIM/amd/certification" "$1" 2>"$TEST_TMP/thim.json"
}
expect_eq "$(thim_get yes)" 200 "THIM status"
cmp -s "$SIM/thim.json" "$TEST_TMP/thim.json" || fail "THIM JSON differs from the file served"
"$SEALMOUNT" sim report "$SIM" --out "$TEST_TMP/report.bin" 2>/dev/null
run report verify "$TEST_TMP/report.bin" --certs "$TEST_TMP/thim.json" --trust-root "$SIM/ark.pem"
expect_ok
expect_eq "$(thim_get '')" 400 "THIM without the Metadata header"

step "policy hostdata: SHA-256 of the base64-decoded or raw policy"
printf 'package policy\napi_version := "0.10.0"\n' >"$TEST_TMP/policy.rego"
base64 -w0 "$TEST_TMP/policy.rego" >"$TEST_TMP/policy.b64"
want=$(sha256sum "$TEST_TMP/policy.rego" | cut -c1-64)
run policy hostdata "$TEST_TMP/policy.b64"
expect_ok
expect_eq "$OUT" "$want" "hostdata of the base64 policy"
run policy hostdata "$TEST_TMP/policy.rego"
expect_eq "$OUT" "$want" "hostdata of the raw policy"
run policy hostdata
expect_eq "$RC" 2 "policy hostdata without FILE"

run attest --maa "$MAA" --snp "sim:$SIM" --claims
expect_ok
HOSTDATA=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
	["x-ms-sevsnpvm-hostdata"])' <<<"$OUT")

# release KID OUT [ARGS...]
release()
{
	run key release "${COMMON[@]}" --kid "$1" --snp "sim:$SIM" --out "$2" "${@:3}"
}

step "oct-HSM: import, then release with each enc gives the imported key"
run key import "${COMMON[@]}" --kid oct1 --hostdata "$HOSTDATA" --passphrase-out "$TEST_TMP/oct1.imp"
expect_ok
grep -q "Imported $VAULT/keys/oct1/" <<<"$OUT" || fail "no kid printed: $OUT"
for enc in RSA_AES_KEY_WRAP_256 RSA_AES_KEY_WRAP_384 CKM_RSA_AES_KEY_WRAP; do
	release oct1 "$TEST_TMP/oct1.$enc" --enc "$enc"
	expect_ok
	cmp -s "$TEST_TMP/oct1.imp" "$TEST_TMP/oct1.$enc" || fail "oct passphrase differs ($enc)"
done
expect_eq "$(stat -c %a "$TEST_TMP/oct1.RSA_AES_KEY_WRAP_256")" 600 "passphrase file mode"
expect_eq "$(stat -c %s "$TEST_TMP/oct1.RSA_AES_KEY_WRAP_256")" 32 "passphrase size"
release oct1 "$TEST_TMP/oct1.RSA_AES_KEY_WRAP_256"
expect_failed 1 "already exists: nothing was released"

step "oct-HSM from a hex key file, from --policy-file, with a nonce and an explicit version"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TEST_TMP/oct2.hex"
echo >>"$TEST_TMP/oct2.hex"
run key import "${COMMON[@]}" --kid oct2 --hostdata "$HOSTDATA" --key-file "$TEST_TMP/oct2.hex"
expect_ok
version=$(grep -o "keys/oct2/[0-9a-f]*" <<<"$OUT" | cut -d/ -f3)
release oct2 "$TEST_TMP/oct2.out" --version "$version" --nonce n-123
expect_ok
expect_eq "$(od -An -tx1 "$TEST_TMP/oct2.out" | tr -d ' \n')" "$(tr -d '\n' <"$TEST_TMP/oct2.hex")" \
	"released key"
run key import "${COMMON[@]}" --kid oct3 --policy-file "$TEST_TMP/policy.b64"
expect_ok
grep -q "\"equals\": \"$want\"" <<<"$OUT" || fail "policy-file hostdata not in the policy: $OUT"

step "RSA-HSM: HKDF(d, salt, label) with each enc; a generated salt is printed"
run key import "${COMMON[@]}" --kid rsa1 --kty RSA-HSM --hostdata "$HOSTDATA" --salt 00112233 \
	--label "my label" --passphrase-out "$TEST_TMP/rsa1.imp"
expect_ok
for enc in RSA_AES_KEY_WRAP_256 RSA_AES_KEY_WRAP_384 CKM_RSA_AES_KEY_WRAP; do
	release rsa1 "$TEST_TMP/rsa1.$enc" --enc "$enc" --salt 00112233 --label "my label"
	expect_ok
	cmp -s "$TEST_TMP/rsa1.imp" "$TEST_TMP/rsa1.$enc" || fail "RSA passphrase differs ($enc)"
done
release rsa1 "$TEST_TMP/rsa1.nosalt"
expect_ok
cmp -s "$TEST_TMP/rsa1.imp" "$TEST_TMP/rsa1.nosalt" && fail "salt and label had no effect"
run key import "${COMMON[@]}" --kid rsa2 --kty RSA-HSM --hostdata "$HOSTDATA" \
	--passphrase-out "$TEST_TMP/rsa2.imp"
expect_ok
salt=$(sed -n 's/^Generated key_derivation salt: \([0-9a-f]\{64\}\)$/\1/p' <<<"$OUT")
[ -n "$salt" ] || fail "no generated salt printed: $OUT"
grep -q -- "--salt $salt" <<<"$ERR" || fail "the generated salt is not pointed out: $ERR"
release rsa2 "$TEST_TMP/rsa2.out" --salt "$salt"
expect_ok
cmp -s "$TEST_TMP/rsa2.imp" "$TEST_TMP/rsa2.out" || fail "RSA passphrase with generated salt"

step "policy mismatch: 403, and each condition shown against the token"
run key import "${COMMON[@]}" --kid other --hostdata "$(printf 'ab%.0s' {1..32})" \
	--claim x-ms-sevsnpvm-vmpl=2
expect_ok
release other "$TEST_TMP/other.out"
expect_failed 1 "Key release refused by $VAULT (HTTP 403"
grep -qF "FAIL claim x-ms-sevsnpvm-hostdata: policy wants 'abab" <<<"$ERR" || fail "no hostdata line: $ERR"
grep -qF "token has '$HOSTDATA'" <<<"$ERR" || fail "no token value: $ERR"
grep -qF "FAIL claim x-ms-sevsnpvm-vmpl: policy wants '2', token has '0'" <<<"$ERR" ||
	fail "no vmpl line: $ERR"
grep -qF "ok   claim x-ms-compliance-status" <<<"$ERR" || fail "no passing line: $ERR"
[ ! -e "$TEST_TMP/other.out" ] || fail "a passphrase file was written after a 403"

step "unknown key: 404; untrusted TLS; usage errors"
release nope "$TEST_TMP/nope.out"
expect_failed 1 "No key 'nope'"
run key release --vault "$VAULT" --maa "$MAA" --imds "$IMDS" --kid oct1 --snp "sim:$SIM" \
	--out "$TEST_TMP/x.out"
expect_failed 1 "TLS trust roots"
run key release "${COMMON[@]}" --kid oct1 --snp "sim:$SIM"
expect_failed 2 "--out FILE is required"
run key import "${COMMON[@]}" --kid oct1 --hostdata "$HOSTDATA" --snp "sim:$SIM"
expect_failed 2 "does not apply"
run key release "${COMMON[@]}" --kid oct1 --enc RSA-OAEP --out "$TEST_TMP/x.out"
expect_failed 2 "unknown --enc"
run key import "${COMMON[@]}" --kid oct1 --hostdata 1234
expect_failed 1 "64 hex digits"

step "bearer token given as is; a wrong audience or an expired one is a 401"
jwt https://vault.azure.net 600 >"$TEST_TMP/bearer"
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" --bearer-file "$TEST_TMP/bearer" \
	--kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/bearer.out"
expect_ok
jwt https://storage.azure.com 600 >"$TEST_TMP/bearer-aud"
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" --bearer-file "$TEST_TMP/bearer-aud" \
	--kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/bearer2.out"
expect_failed 1 "refused the bearer token (HTTP 401: Unauthorized: AKV10022"
jwt https://vault.azure.net -600 >"$TEST_TMP/bearer-old"
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" --bearer-file "$TEST_TMP/bearer-old" \
	--kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/bearer3.out"
expect_failed 1 "HTTP 401"

step "IMDS: unknown client_id refused; client_id honoured"
release oct1 "$TEST_TMP/cid.out" --client-id no-such-id
expect_failed 1 "Identity not found"
release oct1 "$TEST_TMP/cid2.out" --client-id test-client-1
expect_ok

step "AKS workload identity: the federated token is exchanged for a vault token"
jwt api://AzureADTokenExchange 3600 >"$TEST_TMP/federated"
emu_start imds WID_PORT --client-id wid-client --federated-token "$TEST_TMP/federated"
WID=(--federated-token-file "$TEST_TMP/federated" --tenant-id contoso.onmicrosoft.com
	--client-id wid-client --authority "http://127.0.0.1:$WID_PORT")
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" "${WID[@]}" --kid oct1 \
	--snp "sim:$SIM" --out "$TEST_TMP/wid.out"
expect_ok
cmp -s "$TEST_TMP/oct1.imp" "$TEST_TMP/wid.out" || fail "passphrase with workload identity"
jwt api://AzureADTokenExchange 60 >"$TEST_TMP/federated-other"
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" "${WID[@]}" \
	--federated-token-file "$TEST_TMP/federated-other" --kid oct1 --snp "sim:$SIM" \
	--out "$TEST_TMP/wid2.out"
expect_failed 1 "AADSTS700213"
run key release --vault "$VAULT" --maa "$MAA" --ca-file "$CA" \
	--federated-token-file "$TEST_TMP/federated" --kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/wid3.out"
expect_failed 1 "needs --client-id"

step "IMDS answering 500 'invalid token' twice, then a token: retried"
emu_start imds FLAKY_PORT --fail-first 2
run key release --vault "$VAULT" --maa "$MAA" --imds "http://127.0.0.1:$FLAKY_PORT" --ca-file "$CA" \
	--kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/flaky.out"
expect_ok

step "IMDS down, then up: retried until it answers"
port=$(free_port)
RC=0
"$SEALMOUNT" key release --vault "$VAULT" --maa "$MAA" --imds "http://127.0.0.1:$port" \
	--ca-file "$CA" --kid oct1 --snp "sim:$SIM" --out "$TEST_TMP/late.out" \
	2>"$TEST_TMP/late.err" &
pid=$!
sleep 3
emu_start imds LATE_PORT --port "$port"
wait "$pid" || RC=$?
expect_eq "$RC" 0 "release with a late IMDS ($(cat "$TEST_TMP/late.err"))"
cmp -s "$TEST_TMP/oct1.imp" "$TEST_TMP/late.out" || fail "passphrase with a late IMDS"

step "Managed HSM answering 503 twice: retried (this one also refuses GET /keys)"
emu_start hsm FLAKY_HSM_PORT --ca-out "$TEST_TMP/ca2.pem" --resource https://vault.azure.net \
	--fail-release 2 --deny-get
V2="https://localhost:$FLAKY_HSM_PORT"
run key import --vault "$V2" --maa "$MAA" --imds "$IMDS" --ca-file "$TEST_TMP/ca2.pem" --kid k \
	--hostdata "$HOSTDATA" --passphrase-out "$TEST_TMP/v2.imp"
expect_ok
run key release --vault "$V2" --maa "$MAA" --imds "$IMDS" --ca-file "$TEST_TMP/ca2.pem" --kid k \
	--snp "sim:$SIM" --out "$TEST_TMP/v2.out"
expect_ok
cmp -s "$TEST_TMP/v2.imp" "$TEST_TMP/v2.out" || fail "passphrase after 503s"

step "403 where the policy cannot be read: the token's usual claims are listed instead"
run key import --vault "$V2" --maa "$MAA" --imds "$IMDS" --ca-file "$TEST_TMP/ca2.pem" --kid k2 \
	--hostdata "$(printf 'cd%.0s' {1..32})"
expect_ok
run key release --vault "$V2" --maa "$MAA" --imds "$IMDS" --ca-file "$TEST_TMP/ca2.pem" --kid k2 \
	--snp "sim:$SIM" --out "$TEST_TMP/v2c.out"
expect_failed 1 "HTTP 403"
grep -qF "not readable with this identity" <<<"$ERR" || fail "no fallback explanation: $ERR"
grep -qF "x-ms-sevsnpvm-hostdata = \"$HOSTDATA\"" <<<"$ERR" || fail "no hostdata claim: $ERR"

# check_jws_refused ARGS...: a stand-in whose TLS is trusted but whose release JWS is not.
check_jws_refused()
{
	local port ca="$TEST_TMP/ca-$1.pem"

	emu_start hsm port --ca-out "$ca" --resource https://vault.azure.net "$@"
	run key import --vault "https://localhost:$port" --maa "$MAA" --imds "$IMDS" --ca-file "$ca" \
		--kid k --hostdata "$HOSTDATA"
	expect_ok
	run key release --vault "https://localhost:$port" --maa "$MAA" --imds "$IMDS" --ca-file "$ca" \
		--kid k --snp "sim:$SIM" --out "$TEST_TMP/jws$1.out"
	expect_failed 1 "does not verify"
	[ ! -e "$TEST_TMP/jws$1.out" ] || fail "a passphrase was written from an unverified answer"
}
step "release JWS signed under an untrusted CA, or for another host: refused"
check_jws_refused --rogue-signer
check_jws_refused --signer-name vault.example.net

echo "PASS"
