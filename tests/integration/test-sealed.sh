#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-sealed.sh - sealed images through the pipeline's seal step (docs/verity.md), with
# `sealmount mount --engine user`, or with SEALED_ENGINE=kernel the kernel engine's dm-verity under
# dm-crypt (tests/vm/test-vm-sealed.sh runs it so in the VM):
#   - an image sealed at creation mounts with its root hash pinned and serves its files;
#   - a wrong root hash, an older image made with the same key, and an image that is not sealed
#     are refused in step 'seal' before any key is used;
#   - one flipped byte in a file's data: reading it fails (EIO), never other data, and the
#     failure is counted;
#   - a Microsoft-style image (no dm-integrity) that is sealed mounts without
#     --no-require-integrity: the seal authenticates it;
#   - publisher-signed seals: the right key at or above the minimum version mounts, an older
#     version (ESTALE) or another key (EKEYREJECTED) is refused;
#   - a sealed image without anything pinned is read through its data area, with a warning.
# Needs root, /dev/fuse and a loop device (exit 77 otherwise).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount)" >&2; exit 77; }
[ -e /dev/loop-control ] && [ -e /dev/fuse ] || { echo "SKIP: no loop or fuse" >&2; exit 77; }
requires openssl losetup

W=$TEST_TMP
SHARE=$W/share
MP=$SHARE/data
mkdir -p "$SHARE" "$W/v1" "$W/v2"
echo "version one" >"$W/v1/hello.txt"
echo "version two" >"$W/v2/hello.txt"
head -c 3M /dev/urandom >"$W/v2/big"
SHA=$(sha256sum <"$W/v2/big")
head -c 32 /dev/urandom >"$W/key"

# create NAME DIR [ARGS]: a sealed image; its root hash in ROOT
create()
{
	local out

	out=$("$SEALMOUNT" image create --from-dir "$2" --key-file "$W/key" -o "$W/$1.img" \
		--size 16M --pbkdf-iterations 1000 --no-journal --verity "${@:3}" 2>/dev/null) ||
		fail "image create $1"
	ROOT=$(sed -n 's/^root-hash: //p' <<<"$out")
	[ ${#ROOT} = 64 ] || fail "no root hash for $1: $out"
}
create v1 "$W/v1"
ROOT1=$ROOT
create v2 "$W/v2"
ROOT2=$ROOT
create ms "$W/v1" --integrity none
ROOTMS=$ROOT
"$SEALMOUNT" image create --from-dir "$W/v1" --key-file "$W/key" -o "$W/plain.img" --size 16M \
	--pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create plain"

MOUNT_PID=
# serve IMAGE ARGS...: mount it; 0 once published, 1 when mount exited (its log in $W/m.log)
serve()
{
	local img=$1 i

	shift
	rm -f "$W/ready"
	"$SEALMOUNT" mount --engine "${SEALED_ENGINE:-user}" --image "$W/$img" --key-file "$W/key" --work-dir "$W/run" \
		--ready-file "$W/ready" "$@" "$MP" >"$W/m.log" 2>&1 &
	MOUNT_PID=$!
	for ((i = 0; i < 300; i++)); do
		[ -s "$W/ready" ] && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || { wait "$MOUNT_PID" || true; return 1; }
		sleep 0.1
	done
	fail "mount of $img neither ready nor failed: $(cat "$W/m.log")"
}
unserve()
{
	kill -TERM "$MOUNT_PID"
	wait "$MOUNT_PID" || fail "mount exited $? on SIGTERM: $(tail -3 "$W/m.log")"
	! grep -qF " $SHARE/" /proc/mounts || fail "a mount is left"
	! losetup -a | grep -qF "$W/" || fail "a loop device is left"
	if command -v dmsetup >/dev/null && dmsetup ls 2>/dev/null | grep -q '^sealmount-'; then
		fail "a dm device is left: $(dmsetup ls)"
	fi
}
# refused IMAGE PATTERN ARGS...: the mount fails in step 'seal' with PATTERN
refused()
{
	local img=$1 pattern=$2

	shift 2
	! serve "$img" "$@" || fail "$img was mounted with $*"
	grep -q "step 'seal' failed: .*$pattern" "$W/m.log" ||
		fail "$img: not refused in step 'seal' with '$pattern': $(cat "$W/m.log")"
	! grep -q "Wrong passphrase\|released key\|passphrase from" "$W/m.log" ||
		[ "$(grep -c 'passphrase from' "$W/m.log")" -le 1 ] || fail "a key was used for $img"
}

echo "--- the root hash pinned: the image's files"
serve v2.img --root-hash "$ROOT2" || fail "sealed v2: $(cat "$W/m.log")"
grep -q "(${SEALED_ENGINE:-user} engine" "$W/m.log" || fail "not the ${SEALED_ENGINE:-user} engine"
if [ "${SEALED_ENGINE:-user}" = kernel ]; then
	dmsetup table | grep -q ' verity ' || fail "no dm-verity target: $(dmsetup table)"
fi
grep -q "seal pinned by its root hash; the tree leads to root ${ROOT2:0:8}" "$W/m.log" ||
	fail "no seal line: $(cat "$W/m.log")"
expect_eq "$(cat "$MP/hello.txt")" "version two" "hello.txt"
expect_eq "$(sha256sum <"$MP/big")" "$SHA" "big"
unserve

echo "--- refused in step 'seal': a wrong root, an older image, an image that is not sealed"
refused v2.img "does not lead to the trusted root" --root-hash "$(printf '%064d' 7)"
refused v1.img "does not lead to the trusted root" --root-hash "$ROOT2"
refused plain.img "not sealed" --root-hash "$ROOT2"

echo "--- a sealed Microsoft-style image needs no --no-require-integrity"
serve ms.img --root-hash "$ROOTMS" || fail "sealed ms-style image: $(cat "$W/m.log")"
expect_eq "$(cat "$MP/hello.txt")" "version one" "ms hello.txt"
unserve

echo "--- one flipped byte in big: EIO, never other data"
# Where the middle of big lives in the image (as test-mount-user.sh finds it): its first
# filesystem block, mapped through dm-integrity's layout (docs/dm-integrity.md, Layout).
serve v2.img --root-hash "$ROOT2" || fail "sealed v2 again"
b0=$(filefrag -v -b4096 "$MP/big" | awk '$1 == "0:" { sub(/\.\.$/, "", $4); print $4 }')
unserve
[ -n "$b0" ] || fail "filefrag: no extent for big"
js=$(od -An -tu4 -j $((16777216 + 12)) -N4 "$W/v2.img" | tr -d ' ')
TAMPER=$(((32768 + 8 + js * 264 + 256) * 512 + (b0 + 384) * 4096 + 100))
cp "$W/v2.img" "$W/v2t.img"
printf '\x5a' | dd of="$W/v2t.img" bs=1 seek="$TAMPER" conv=notrunc status=none
"$SEALMOUNT" image inspect --root-hash "$ROOT2" "$W/v2t.img" >"$W/insp" 2>&1 &&
	fail "inspect accepted a tampered image"
grep -q "block" "$W/insp" || fail "inspect does not name the bad block: $(cat "$W/insp")"
serve v2t.img --root-hash "$ROOT2" || fail "tampered v2 (header intact): $(cat "$W/m.log")"
expect_eq "$(cat "$MP/hello.txt")" "version two" "hello.txt of the tampered image"
if cat "$MP/big" >"$W/big.out" 2>"$W/err"; then
	fail "a tampered file read without error"
fi
grep -q "Input/output error" "$W/err" || fail "not EIO: $(cat "$W/err")"
n=$(stat -c %s "$W/big.out")
head -c "$n" "$W/v2/big" >"$W/big.prefix"
cmp "$W/big.out" "$W/big.prefix" >"$W/cmp" 2>&1 ||
	fail "what was read before the error ($n bytes) is not big's prefix: $(cat "$W/cmp")"
unserve

echo "--- publisher-signed seals: version and key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/pub.pem" 2>/dev/null
openssl pkey -in "$W/pub.pem" -pubout -out "$W/pub.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.pem" 2>/dev/null
openssl pkey -in "$W/other.pem" -pubout -out "$W/other.pub"
"$SEALMOUNT" image sign "$W/v1.img" --key "$W/pub.pem" --version 1 >/dev/null 2>&1 || fail "sign v1"
"$SEALMOUNT" image sign "$W/v2.img" --key "$W/pub.pem" --version 2 >/dev/null 2>&1 || fail "sign v2"
serve v2.img --publisher-key "$W/pub.pub" --min-version 2 || fail "signed v2: $(cat "$W/m.log")"
grep -q "seal signed by the publisher, version 2" "$W/m.log" || fail "no signed line"
expect_eq "$(cat "$MP/hello.txt")" "version two" "signed hello.txt"
unserve
refused v1.img "" --publisher-key "$W/pub.pub" --min-version 2
grep -qi "version" "$W/m.log" || fail "older version: $(cat "$W/m.log")"
refused v2.img "" --publisher-key "$W/other.pub"
refused ms.img "no publisher signature" --publisher-key "$W/pub.pub"

echo "--- nothing pinned: the data area, with a warning"
serve v2.img || fail "unpinned sealed image: $(cat "$W/m.log")"
grep -q "seal is not checked" "$W/m.log" || fail "no warning: $(cat "$W/m.log")"
expect_eq "$(cat "$MP/hello.txt")" "version two" "unpinned hello.txt"
unserve
