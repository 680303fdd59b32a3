#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-oauth.sh - Entra ID bearer auth over https to Azurite in OAuth mode (--oauth basic:
# it checks iss/aud/nbf/exp, not the signature), with a test CA: a token provider reading a
# file (stat, read-only and read-write attach, clear failures for a wrong audience, an expired
# token and an untrusted certificate), then managed-identity tokens from the IMDS stand-in
# (system- and user-assigned identity, an unknown one refused, refresh under a long mount).

. "$(dirname "$0")/functions.sh"

requires node python3 openssl mountpoint fusermount3 cmp
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

T="$TEST_TMP"

step "test CA and a server certificate for 127.0.0.1"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 1 \
	-subj /CN=sealmount-test-ca -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 \
	2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
	>"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-out "$T/srv.pem" -days 1 -extfile "$T/srv.ext" 2>/dev/null

emu_start azurite AZ_PORT --cert "$T/srv.pem" --key "$T/srv.key" --oauth basic
export NODE_EXTRA_CA_CERTS="$T/ca.pem" BLOB_TOOL_HTTPS=1
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }
BASE="https://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs"

# token AUD EXP_OFFSET_S: an unsigned-but-well-formed Entra ID access token.
token()
{
	python3 - "$1" "$2" <<'EOF'
import base64, json, sys, time
b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b'=').decode()
now = int(time.time())
claims = {"aud": sys.argv[1], "iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
          "iat": now - 60, "nbf": now - 60, "exp": now + int(sys.argv[2]),
          "oid": "00000000-0000-0000-0000-000000000001", "tid": "ab1f708d-50f6-404c-a006-d71b2ac7a606"}
print(b64({"alg": "RS256", "typ": "JWT", "kid": "test"}) + "." + b64(claims) + ".c2ln")
EOF
}
token https://storage.azure.com 3600 >"$T/token"
AUTH=(--bearer-token-file "$T/token" --ca-file "$T/ca.pem")

head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/ref"
tool upload-page imgs page.img "$T/ref"

step "stat with a bearer token"
OUT=$("$SEALMOUNT" blob stat "$BASE/page.img" "${AUTH[@]}")
grep -qx "type: PageBlob" <<<"$OUT" || fail "stat: $OUT"

MNT="$T/mnt"
mkdir -p "$MNT"
ATTACH_PID=
attach()
{
	local i

	"$SEALMOUNT" blob attach "$BASE/page.img" "$MNT" "${AUTH[@]}" "$@" >"$T/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn detach_quiet "$ATTACH_PID"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$ATTACH_PID" 2>/dev/null || { cat "$T/attach.log" >&2; fail "attach exited"; }
		sleep 0.1
	done
	fail "attach did not mount"
}
detach()
{
	local rc=0

	kill -TERM "$ATTACH_PID"
	wait "$ATTACH_PID" || rc=$?
	expect_eq "$rc" 0 "exit code of attach"
}
detach_quiet()
{
	kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	return 0
}

step "read-only attach over https with a bearer token"
attach
cmp "$MNT/data" "$T/ref" || fail "bytes differ"
detach

step "read-write attach: lease and Put Page with a bearer token; the token file is re-read"
attach --rw
token https://storage.azure.com 3600 >"$T/token.new" # rotated under the mount
mv "$T/token.new" "$T/token"
python3 - "$MNT/data" "$T/ref" <<'EOF'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR)
ref = bytearray(open(sys.argv[2], 'rb').read())
rnd = random.Random(4)
for i in range(30):
    n = rnd.choice([512, 4096, 100000]); off = rnd.randrange(len(ref) - n)
    data = rnd.randbytes(n); os.pwrite(fd, data, off); ref[off:off + n] = data
os.fsync(fd)
open(sys.argv[2], 'wb').write(ref)
EOF
detach
tool download imgs page.img "$T/after"
cmp "$T/after" "$T/ref" || fail "writes with a bearer token did not persist"

step "wrong audience, expired token, untrusted CA: clear failures"
token https://vault.azure.net 3600 >"$T/token"
RC=0
"$SEALMOUNT" blob stat "$BASE/page.img" "${AUTH[@]}" 2>"$T/err" || RC=$?
expect_eq "$RC" 1 "exit code with a wrong audience"
grep -q "access denied" "$T/err" || fail "wrong audience message: $(cat "$T/err")"
token https://storage.azure.com -120 >"$T/token"
RC=0
"$SEALMOUNT" blob stat "$BASE/page.img" "${AUTH[@]}" 2>"$T/err" || RC=$?
expect_eq "$RC" 1 "exit code with an expired token"
grep -q "access denied" "$T/err" || fail "expired token message: $(cat "$T/err")"
token https://storage.azure.com 3600 >"$T/token"
RC=0
"$SEALMOUNT" blob stat "$BASE/page.img" --bearer-token-file "$T/token" 2>"$T/err" || RC=$?
expect_eq "$RC" 1 "exit code without the test CA"

step "managed identity: tokens from the IMDS stand-in (resource https://ACCOUNT.blob.core.windows.net)"
CID=0b4f7e2a-1111-4222-8333-944455556666
# Short-lived tokens, so the mount below outlives several of them.
emu_start imds IMDS_PORT --lifetime https://devstoreaccount1.blob.core.windows.net=8 \
	--client-id "$CID"
IMDS_LOG=$(ls "$TEST_TMP"/emu-imds.*/log)
token_requests() { grep -c 'oauth2/token -> 200' "$IMDS_LOG" || true; }
AUTH=(--imds "http://127.0.0.1:$IMDS_PORT" --ca-file "$T/ca.pem")
OUT=$("$SEALMOUNT" blob stat "$BASE/page.img" "${AUTH[@]}")
grep -qx "type: PageBlob" <<<"$OUT" || fail "stat with an IMDS token: $OUT"
OUT=$("$SEALMOUNT" blob stat "$BASE/page.img" --imds="http://127.0.0.1:$IMDS_PORT" \
	--client-id "$CID" --ca-file "$T/ca.pem")
grep -qx "type: PageBlob" <<<"$OUT" || fail "stat with a user-assigned identity: $OUT"
RC=0
"$SEALMOUNT" blob stat "$BASE/page.img" "${AUTH[@]}" --client-id 9999aaaa-0000-4000-8000-000000000000 \
	2>"$T/err" || RC=$?
expect_eq "$RC" 1 "exit code with an unknown client id"
grep -q "Identity not found" "$T/err" || fail "unknown identity message: $(cat "$T/err")"

step "managed identity: a mount outlives its first token (refreshed before expiry)"
BEFORE=$(token_requests)
attach --cache-mb 1
cmp "$MNT/data" "$T/ref" || fail "bytes differ with an IMDS token"
sleep 9 # the first token has expired at Azurite by now
# drop the kernel's cached pages of the file so that the reads reach the blob again
python3 -c 'import os, sys; os.posix_fadvise(os.open(sys.argv[1], os.O_RDONLY), 0, 0, os.POSIX_FADV_DONTNEED)' \
	"$MNT/data"
cmp "$MNT/data" "$T/ref" || fail "reads failed after the first token expired"
detach
AFTER=$(token_requests)
echo "    IMDS tokens served during the mount: $((AFTER - BEFORE))"
[ $((AFTER - BEFORE)) -ge 2 ] || fail "expected a refreshed token, IMDS served $((AFTER - BEFORE))"

step "managed identity: read-write (lease and Put Page) with IMDS tokens"
attach --rw
python3 - "$MNT/data" "$T/ref" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
ref = bytearray(open(sys.argv[2], 'rb').read())
data = os.urandom(8192); os.pwrite(fd, data, 12288); ref[12288:12288 + 8192] = data
os.fsync(fd)
open(sys.argv[2], 'wb').write(ref)
EOF
detach
tool download imgs page.img "$T/after"
cmp "$T/after" "$T/ref" || fail "writes with an IMDS token did not persist"

echo "PASS"
