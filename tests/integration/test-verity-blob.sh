#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-verity-blob.sh - a sealed image in Azure Blob Storage (Azurite): `image upload` sends the
# whole sealed file (image, hash area and signature block: the blob reads back byte-exact, as a
# page blob and as a block blob), and the seal is checked over the blob: `image inspect URL
# --root-hash` verifies every block through ranged reads, `image decrypt URL --root-hash`
# gives the same plaintext as the local file, `--publisher-key` works over the blob too, and a
# blob with one changed page is refused naming the block.

. "$(dirname "$0")/functions.sh"

export PATH=$PATH:/usr/sbin:/sbin
requires node mke2fs openssl cmp xxd
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

W=$TEST_TMP
mkdir -p "$W/src"
echo "sealed in a blob" >"$W/src/hello.txt"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$W/src/random.bin"
head -c 32 /dev/urandom >"$W/key"
root_of() { sed -n 's/^root-hash: \([0-9a-f]\{64\}\)$/\1/p' "$1"; }

step "create, seal and sign"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/a.img" --size 16M \
	--pbkdf-iterations 1000 --verity >"$W/a.out" 2>/dev/null
ROOT=$(root_of "$W/a.out")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/priv.pem" 2>/dev/null
openssl pkey -in "$W/priv.pem" -pubout -out "$W/pub.pem"
"$SEALMOUNT" image sign "$W/a.img" --key "$W/priv.pem" --version 5 >/dev/null 2>&1
"$SEALMOUNT" image decrypt "$W/a.img" --key-file "$W/key" --root-hash "$ROOT" -o "$W/a.plain" \
	2>/dev/null

step "upload to Azurite: the whole sealed file, page and block blob"
emu_start azurite AZ_PORT
BASE="http://127.0.0.1:$AZ_PORT/devstoreaccount1/sealed"
AKEY="$W/akey"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$AKEY"
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }
echo x >"$W/dummy"
tool upload-block sealed dummy "$W/dummy" # creates the container
"$SEALMOUNT" image upload "$W/a.img" "$BASE/a.img" --page --account-key-file "$AKEY" 2>/dev/null
"$SEALMOUNT" image upload "$W/a.img" "$BASE/b.img" --block --account-key-file "$AKEY" 2>/dev/null
for b in a b; do
	tool download sealed $b.img "$W/$b.back"
	cmp "$W/a.img" "$W/$b.back" || fail "$b.img: the blob differs from the sealed file"
done

step "the seal checked over the blob"
K=(--account-key-file "$AKEY")
for b in a b; do
	"$SEALMOUNT" image inspect "$BASE/$b.img" "${K[@]}" --root-hash "$ROOT" >/dev/null ||
		fail "$b.img: inspect --root-hash over the blob failed"
	"$SEALMOUNT" image decrypt "$BASE/$b.img" "${K[@]}" --key-file "$W/key" --root-hash "$ROOT" \
		-o "$W/$b.blob.plain" 2>/dev/null || fail "$b.img: decrypt over the blob failed"
	cmp "$W/a.plain" "$W/$b.blob.plain" || fail "$b.img: plaintext over the blob differs"
done
"$SEALMOUNT" image inspect "$BASE/a.img" "${K[@]}" --publisher-key "$W/pub.pem" \
	--min-version 5 >/dev/null || fail "signature over the blob refused"

step "a changed page in the blob is refused, naming the block"
BLK=$((20 * 256)) # 20 MiB into the image
dd if="$W/a.img" of="$W/page" bs=4096 skip=$BLK count=1 status=none
printf 'X' | dd of="$W/page" bs=1 seek=77 conv=notrunc status=none
tool put-page sealed a.img $((BLK * 4096)) "$W/page"
RC=0
"$SEALMOUNT" image inspect "$BASE/a.img" "${K[@]}" --root-hash "$ROOT" >/dev/null 2>"$W/err" ||
	RC=$?
expect_eq "$RC" 1 "exit code for a changed page"
grep -q "data block $BLK " "$W/err" || fail "message: $(cat "$W/err")"
echo "test-verity-blob: all passed"
