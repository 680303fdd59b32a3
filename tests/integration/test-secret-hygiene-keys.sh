#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-secret-hygiene-keys.sh - the keys OpenSSL holds are in locked memory on every path, the
# kernel engine's included (docs/threat-model.md, Locked memory): the ephemeral RSA key that the
# MAA token binds (alive from attest to the end of the process), the passphrase, and what is left
# of a released RSA-HSM key after its PKCS#8 was parsed.
#
# Each process is held inside an HTTP request - a loopback server answers it with an endless
# header, slowly enough to hold and fast enough for every low-speed limit (hold_server,
# functions.sh): no breakpoint, no timing - and its memory is read (scan_memory): a prime factor
# of the ephemeral key's modulus (which the MAA stand-in records from the runtime data) must be
# found, and only in locked mappings; the passphrase only in locked mappings; the released RSA
# key's d, p, q (big- and little-endian) and PKCS#8 nowhere unlocked.
#   - `key release`, held in its IMDS token request: attested, before the release;
#   - `mount --engine kernel --url`, held in its first storage request: after the release (the
#     ephemeral key used for the unwrap, the released RSA key parsed, the passphrase derived) -
#     the kernel engine's path up to the volume step, and the state a kernel-engine mount keeps;
#   - the control: a process that holds the same kind of key in unlocked memory is caught.
# Needs root (/proc/PID/mem of another process) and OpenSSL's command line.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (/proc/PID/mem)" >&2; exit 77; }
requires node python3 openssl xxd base64

W=$TEST_TMP
step() { echo "--- $*"; }
release_standins "$W" --runtime-keys-out "$W/runtime-n"

step "an RSA-HSM key whose private numbers we know, an image sealed with its passphrase"
openssl genrsa -out "$W/rsa.pem" 2048 2>/dev/null
"$SEALMOUNT" key import "${REL[@]}" --kid hygkeys --kty RSA-HSM --key-file "$W/rsa.pem" \
	--salt 00112233 --hostdata "$HOSTDATA" --passphrase-out "$W/pass" >/dev/null 2>"$W/import.log" ||
	fail "key import: $(cat "$W/import.log")"
# d, p, q as OpenSSL prints them (hex, big-endian), raw both ways round, and the PKCS#8 DER.
openssl rsa -in "$W/rsa.pem" -noout -text 2>/dev/null >"$W/rsa.txt"
parts=()
for field in privateExponent prime1 prime2; do
	awk -v f="$field:" '$1 == f { on = 1; next } on && /^ +[0-9a-f][0-9a-f]:/ { print; next }
		{ on = 0 }' "$W/rsa.txt" | tr -dc '0-9a-f' | sed 's/^00//' | xxd -r -p >"$W/rsa.$field"
	[ "$(stat -c %s "$W/rsa.$field")" -ge 128 ] || fail "cannot read $field from the key"
	python3 -c 'import sys; open(sys.argv[2], "wb").write(open(sys.argv[1], "rb").read()[::-1])' \
		"$W/rsa.$field" "$W/rsa.$field.le"
	parts+=("lockedif:$W/rsa.$field" "lockedif:$W/rsa.$field.le")
done
openssl pkcs8 -topk8 -nocrypt -in "$W/rsa.pem" -outform DER -out "$W/rsa.p8" 2>/dev/null
parts+=("lockedif:$W/rsa.p8")
mkdir "$W/src"
echo "hygiene" >"$W/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/pass" -o "$W/img" --size 16M \
	--pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create failed"

step "the scan catches a key in unlocked memory (control)"
# A python process holding the known RSA key's primes as little-endian words (as a BIGNUM) and
# the passphrase, none of it locked.
python3 -c 'import sys, time
p = open(sys.argv[1], "rb").read()[::-1] + bytes(8)
k = [bytearray(p), bytearray(open(sys.argv[2], "rb").read())]
print(flush=True); time.sleep(120)' "$W/rsa.prime1" "$W/pass" >"$W/holder.out" &
HOLDER=$!
cleanup_fn kill "$HOLDER"
for ((i = 0; i < 50; i++)); do [ -s "$W/holder.out" ] && break; sleep 0.1; done
python3 -c 'import re, sys; t = open(sys.argv[1]).read()
m = re.search(r"modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)", t)
print(re.sub(r"[^0-9a-f]", "", m.group(1)).lstrip("0"))' "$W/rsa.txt" >"$W/rsa.n"
if scan_memory "$HOLDER" "factor:$W/rsa.n" "locked:$W/pass" >"$W/holder.scan"; then
	fail "the scan missed keys in unlocked memory: $(cat "$W/holder.scan")"
fi
grep -q 'a prime factor at .* in unlocked' "$W/holder.scan" || fail "control: $(cat "$W/holder.scan")"
grep -q 'pass: raw bytes in unlocked' "$W/holder.scan" || fail "control: $(cat "$W/holder.scan")"
kill "$HOLDER"

# held_scan NAME HOLD_DIR CMD...: run CMD until its request reaches the hold server in
# HOLD_DIR (hold_server), scan its memory there, then end the request (CMD then fails).
held_scan()
{
	local name=$1 hold=$2 pid before i

	shift 2
	before=$(cat "$W/runtime-n" 2>/dev/null | wc -l)
	"$@" >"$W/$name.log" 2>&1 &
	pid=$!
	cleanup_fn stop_bg "$pid"
	for ((i = 0; i < 600; i++)); do
		[ -s "$hold/requests" ] && break
		kill -0 "$pid" 2>/dev/null || fail "$name exited before it was held: $(tail -5 "$W/$name.log")"
		sleep 0.1
	done
	[ -s "$hold/requests" ] || fail "$name: not held after 60 s: $(tail -5 "$W/$name.log")"
	expect_eq "$(wc -l <"$W/runtime-n")" $((before + 1)) "$name: attestations with a runtime key"
	tail -1 "$W/runtime-n" >"$W/$name.n"
	echo "  $name held (pid $pid) in: $(head -1 "$hold/requests")"
	scan_memory "$pid" "factor:$W/$name.n" "${SPECS[@]}" >"$W/$name.scan" || {
		cat "$W/$name.scan"
		fail "$name: a key in unlocked memory"
	}
	cat "$W/$name.scan"
	touch "$hold/go"
	wait "$pid" || true
}

step "key release, held in its token request (attested: the ephemeral key exists)"
hold_server TOKEN_HOLD "$W/hold-token"
SPECS=()
held_scan release "$W/hold-token" "$SEALMOUNT" --log-level debug key release --vault "$VAULT" \
	--maa "$MAA" --ca-file "$HSM_CA" --imds "http://127.0.0.1:$TOKEN_HOLD" --kid hygkeys \
	--salt 00112233 --snp "sim:$SIM" --out "$W/released.pass"
grep -q '^GET /metadata/identity/oauth2/token' "$W/hold-token/requests" ||
	fail "not held in the token request: $(cat "$W/hold-token/requests")"

step "mount --engine kernel, held in its first storage request (after the release)"
hold_server BLOB_HOLD "$W/hold-blob"
SPECS=("locked:$W/pass" "${parts[@]}")
mkdir "$W/pub"
held_scan mount "$W/hold-blob" "$SEALMOUNT" --log-level debug mount --engine kernel \
	--url "http://127.0.0.1:$BLOB_HOLD/devstoreaccount1/imgs/img" "${REL[@]}" --kid hygkeys \
	--salt 00112233 --snp "sim:$SIM" --work-dir "$W/mwork" "$W/pub/share"
grep -q 'released key' "$W/mount.log" || fail "mount was not held after the release: $(tail -3 "$W/mount.log")"
echo "secret hygiene (keys): ok"
