#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-files.sh - hostile local inputs through the CLI: SNP reports (`report show` /
# `report verify`: empty, truncated, oversized, endless /dev/zero, random), THIM certificate JSON
# (100000 levels deep, 16 MiB, not JSON, garbage PEM, a thousand-certificate chain), the SNP
# device (`attest --snp device:PATH` on things that are not the guest device), LUKS2 headers
# (`image inspect`: empty, truncated, random, endless, a checksummed header whose JSON area is
# 6000 levels deep) and the sidecar configuration (`run --check-config`: 100000 levels deep,
# 16 MiB, binary, endless; 20000 levels and base64 garbage in EncfsSideCarArgs). Each must end
# in a clean error (exit 1) in bounded time and memory.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/hostile.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires python3 head base64 truncate
TESTDATA="$(dirname "$0")/../data"
T="$TEST_TMP"

python3 - "$T" <<'PY'
import os, sys
t = sys.argv[1]
def w(name, data):
    with open(os.path.join(t, name), "wb") as f:
        f.write(data)
deep = lambda n, o="[", c="]": (o * n + c * n).encode()
w("empty", b"")
w("random-1184", os.urandom(1184))
w("random-100", os.urandom(100))
w("oversized", os.urandom(1184) + b"\0" * (4 << 20))
w("nested.json", deep(100000))
w("nested-obj.json", ('{"a":' * 100000 + "1" + "}" * 100000).encode())
w("big.json", b'{"vcekCert":"' + b"A" * (16 << 20) + b'"}')
w("nested-small.json", deep(20000))
w("notjson.json", b"<html>captive portal</html>")
w("badpem.json", b'{"vcekCert":"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n",'
  b'"certificateChain":"garbage","tcbm":"DB18000000000004"}')
cert = b"-----BEGIN CERTIFICATE-----\\n" + b"MIIB" * 300 + b"\\n-----END CERTIFICATE-----\\n"
w("manycerts.json", b'{"vcekCert":"' + cert + b'","certificateChain":"' + cert * 1000 + b'"}')
w("binary", os.urandom(1 << 20))
PY
head -c 20000 "$TESTDATA/luks2-plain-4k.hdr" >"$T/hdr-truncated" # secondary copy cut
head -c 100 "$TESTDATA/luks2-plain-4k.hdr" >"$T/hdr-100"
cp "$TESTDATA/luks2-plain-4k.hdr" "$T/hdr-nested"
python3 - "$T/hdr-nested" <<'PY'
import hashlib, sys
p = sys.argv[1]
img = bytearray(open(p, "rb").read())
size = int.from_bytes(img[8:16], "big")
raw = b"[" * 6000 + b"]" * 6000
for off in (0, size):
    img[off + 4096:off + size] = raw + b"\0" * (size - 4096 - len(raw))
    copy = bytearray(img[off:off + size])
    copy[448:512] = b"\0" * 64
    img[off + 448:off + 512] = hashlib.sha256(copy).digest() + b"\0" * 32
open(p, "wb").write(img)
PY
truncate -s 32M "$T/hdr-nested"

run() { hostile_run "$1" "$2" -- "${@:4}"; }

echo "--- SNP reports"
for f in empty random-100 oversized /dev/zero; do
	p=$f
	[ -e "$p" ] || p="$T/$f"
	run 5 "report show $(basename "$f")" -- "$SEALMOUNT" report show "$p"
	expect_clean_error 'not a valid SNP report' "report show $f"
done
run 5 "report show random" -- "$SEALMOUNT" report show --json "$T/random-1184"
expect_clean_error 'unsupported SNP report' "report show of random bytes"

echo "--- THIM certificate JSON (with a well-formed simulated report)"
mkdir "$T/sim"
"$SEALMOUNT" sim init "$T/sim" 2>/dev/null
"$SEALMOUNT" sim report "$T/sim" --out "$T/report.bin" 2>/dev/null
for f in nested.json nested-obj.json big.json notjson.json badpem.json manycerts.json /dev/zero; do
	p=$f
	[ -e "$p" ] || p="$T/$f"
	run 10 "report verify --certs $(basename "$f")" -- "$SEALMOUNT" report verify \
		"$T/report.bin" --certs "$p"
	expect_eq "$RC" 1 "report verify --certs $f: exit status ($ERR)"
	grep -qE 'certificate|THIM|PEM|JSON|--certs' <<<"$ERR$(cat "$TEST_TMP/stdout.out")" ||
		fail "report verify --certs $f: no reason given: $ERR"
done

echo "--- the SNP device"
for d in "$T/random-1184" /dev/null /dev/zero "$T/nonexistent"; do
	run 5 "attest --snp device:$(basename "$d")" -- "$SEALMOUNT" attest \
		--maa http://127.0.0.1:9 --snp "device:$d"
	expect_clean_error \
		'Cannot get an SNP report: .*(does not support the SNP report ioctl|no SEV-SNP guest)' \
		"attest --snp device:$d"
done

echo "--- LUKS2 headers"
for f in empty hdr-100 random-100 binary hdr-truncated hdr-nested; do
	run 10 "image inspect $f" -- "$SEALMOUNT" image inspect "$T/$f"
	expect_clean_error 'LUKS2 header of .* refused by rule [a-z]|Cannot read the header' \
		"image inspect $f"
done
run 10 "image inspect /dev/zero" -- "$SEALMOUNT" image inspect /dev/zero
expect_clean_error 'Cannot open the image file /dev/zero' "image inspect /dev/zero"

echo "--- sidecar configuration"
for f in nested.json nested-obj.json big.json notjson.json binary empty /dev/zero; do
	p=$f
	[ -e "$p" ] || p="$T/$f"
	run 10 "run --check-config $(basename "$f")" -- "$SEALMOUNT" run --check-config --config "$p"
	expect_clean_error '[Cc]onfiguration' "run --check-config $f"
done
b64=$(base64 -w0 "$T/nested-small.json") # an environment string is at most 128 KiB
EncfsSideCarArgs=$b64 run 10 "EncfsSideCarArgs nested" -- "$SEALMOUNT" run --check-config
expect_clean_error 'Invalid EncfsSideCarArgs' "EncfsSideCarArgs nested"
EncfsSideCarArgs='!!!not base64!!!' run 10 "EncfsSideCarArgs garbage" -- \
	"$SEALMOUNT" run --check-config
expect_clean_error 'Invalid EncfsSideCarArgs' "EncfsSideCarArgs garbage"
echo "hostile files: ok"
