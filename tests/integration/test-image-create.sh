#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-image-create.sh - `sealmount image create` and `sealmount image upload`:
#   - images from a directory (hmac-sha256 at 4096 and 512, aead, none, argon2id, no-journal)
#     that real cryptsetup reads on a plain file (luksDump shows what was asked for;
#     open --test-passphrase accepts the key and refuses another) and that `image inspect
#     --require-integrity` accepts; --new-key writes a 0600 32-byte key; the image is 0600;
#   - refusals: existing output untouched, missing key file without --new-key, bad options;
#   - upload to Azurite as a page blob and a block blob, read back byte-exact with the official
#     SDK; an existing blob refused without --resume; --resume sends nothing when all is there,
#     and exactly the changed chunk after one 4 MiB chunk differs (page and block); a SAS URL
#     works without a key, no credentials at all is a clear 403.

. "$(dirname "$0")/functions.sh"

export PATH=$PATH:/usr/sbin:/sbin
requires cryptsetup mke2fs node cmp python3
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

W=$TEST_TMP
mkdir -p "$W/src/sub"
echo "hello from image create" >"$W/src/hello.txt"
head -c $((5 * 1024 * 1024 + 3)) /dev/urandom >"$W/src/sub/random.bin"

step "create with --new-key (hmac-sha256, 4096, defaults)"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --new-key -o "$W/a.img"
expect_eq "$(stat -c %a "$W/key")" 600 "key file mode"
expect_eq "$(stat -c %s "$W/key")" 32 "key file size"
expect_eq "$(stat -c %a "$W/a.img")" 600 "image mode"
DUMP=$(cryptsetup luksDump "$W/a.img")
grep -q "integrity: hmac(sha256)" <<<"$DUMP" || fail "luksDump: $DUMP"
grep -q "sector: 4096 \[bytes\]" <<<"$DUMP" || fail "luksDump sector: $DUMP"
grep -q "Iterations: 100000" <<<"$DUMP" || fail "luksDump iterations: $DUMP"
cryptsetup open --test-passphrase --key-file "$W/key" "$W/a.img" || fail "cryptsetup refused the key"
head -c 32 /dev/urandom >"$W/wrong"
if cryptsetup open --test-passphrase --key-file "$W/wrong" "$W/a.img" 2>/dev/null; then
	fail "cryptsetup accepted a wrong key"
fi
"$SEALMOUNT" image inspect --require-integrity "$W/a.img" >/dev/null || fail "inspect refused"

# variant NAME ARGS... / EXPECT-GREP...: create, then grep luksDump for each expectation.
variant()
{
	local name=$1 args=() want=()

	shift
	while [ "$1" != / ]; do args+=("$1"); shift; done
	shift
	want=("$@")
	step "create $name: ${args[*]}"
	"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/$name.img" \
		--size 24M "${args[@]}" 2>"$W/$name.err" || { cat "$W/$name.err" >&2; fail "$name"; }
	DUMP=$(cryptsetup luksDump "$W/$name.img")
	for w in "${want[@]}"; do
		grep -q -- "$w" <<<"$DUMP" || fail "$name: luksDump lacks '$w': $DUMP"
	done
	cryptsetup open --test-passphrase --key-file "$W/key" "$W/$name.img" ||
		fail "$name: cryptsetup refused the key"
}
variant hmac512 --integrity hmac-sha256 --sector-size 512 / "integrity: hmac(sha256)" "sector: 512"
variant aead --integrity aead / "cipher: aes-gcm-random" "integrity: aead" "Key:        256 bits"
variant none --integrity none --size 24mib / "cipher: aes-xts-plain64" "Key:        512 bits"
variant argon --pbkdf argon2id --size 25165824 / "PBKDF:      argon2id" "Memory:     65536"
variant nojournal --no-journal / "Flags:       	no-journal"
if grep -q integrity: <<<"$(cryptsetup luksDump "$W/none.img")"; then
	fail "none: has integrity"
fi
"$SEALMOUNT" image inspect --require-integrity "$W/none.img" >/dev/null 2>&1 &&
	fail "inspect --require-integrity accepted the image without integrity"
expect_eq "$(stat -c %s "$W/none.img")" $(((16 + 24) * 1024 * 1024)) "size without integrity"
grep -q "refuse this image by default (require_integrity); mount it with --no-require-integrity" \
	"$W/none.err" || fail "--integrity none: no warning naming the opt-out: $(cat "$W/none.err")"
grep -q "require_integrity" "$W/hmac512.err" && fail "warning for an image with integrity"

step "--size: the forms it takes, and a message saying them for the rest"
for bad in 1.5G -1 12X "" 1GB 2gb " 1G"; do
	RC=0
	"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/x.img" \
		--size "$bad" 2>"$W/err" || RC=$?
	expect_eq "$RC" 2 "exit code for --size '$bad'"
	grep -qF "give bytes, or a number with K, M, G or T (powers of 1024; 'iB' optional" \
		"$W/err" || fail "--size '$bad': $(cat "$W/err")"
done
for big in 18446744073709551616 16777216T 17179869184GiB; do
	RC=0
	"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/x.img" \
		--size "$big" 2>"$W/err" || RC=$?
	expect_eq "$RC" 2 "exit code for --size $big"
	grep -q "does not fit in 64 bits" "$W/err" || fail "--size $big: $(cat "$W/err")"
done
RC=0
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/x.img" --size 4m \
	2>"$W/err" || RC=$?
expect_eq "$RC" 2 "exit code for --size 4m"
grep -q "too small: at least 8M" "$W/err" || fail "--size 4m: $(cat "$W/err")"
[ ! -e "$W/x.img" ] || fail "an image was written after a usage error"

step "refusals"
RC=0
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/a.img" 2>"$W/err" || RC=$?
expect_eq "$RC" 1 "exit code for an existing output"
grep -q "File exists" "$W/err" || fail "message: $(cat "$W/err")"
cryptsetup open --test-passphrase --key-file "$W/key" "$W/a.img" || fail "existing image changed"
RC=0
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/nokey" -o "$W/x.img" 2>"$W/err" || RC=$?
expect_eq "$RC" 1 "exit code for a missing key file"
grep -q -- "--new-key" "$W/err" || fail "message: $(cat "$W/err")"
[ ! -e "$W/x.img" ] || fail "output left behind"
RC=0
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/x.img" \
	--sector-size 1024 2>/dev/null || RC=$?
expect_eq "$RC" 2 "exit code for --sector-size 1024"
RC=0
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/x.img" \
	--size 8M 2>"$W/err" || RC=$?
expect_eq "$RC" 1 "exit code when DIR does not fit"
grep -q "try a larger --size" "$W/err" || fail "message: $(cat "$W/err")"
[ ! -e "$W/x.img" ] || fail "output left behind after mke2fs failed"
ls -A "$W" | grep -q sealmount-plain && fail "plaintext temporary left in the output directory"

step "upload to Azurite"
emu_start azurite AZ_PORT
BASE="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs"
AKEY="$W/akey"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$AKEY"
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }
echo x >"$W/dummy"
tool upload-block imgs dummy "$W/dummy" # creates the container
up() { "$SEALMOUNT" image upload "$@" --account-key-file "$AKEY" 2>&1; }

step "page blob: upload, read back with the SDK"
up "$W/a.img" "$BASE/a-page.img" --page --parallel 4
tool download imgs a-page.img "$W/a-page.back"
cmp "$W/a.img" "$W/a-page.back" || fail "page blob differs"
RC=0
up "$W/a.img" "$BASE/a-page.img" >"$W/err" || RC=$?
expect_eq "$RC" 1 "exit code for an existing blob"
grep -q -- "--resume" "$W/err" || fail "message: $(cat "$W/err")"
OUT=$(up "$W/a.img" "$BASE/a-page.img" --page --resume)
grep -q " 0 chunks sent" <<<"$OUT" || fail "resume of a complete page blob sent data: $OUT"

step "page blob: one chunk changed on the service, --resume repairs exactly it"
head -c 4096 /dev/urandom >"$W/junk"
tool put-page imgs a-page.img $((8 * 1024 * 1024 + 4096)) "$W/junk"
OUT=$(up "$W/a.img" "$BASE/a-page.img" --page --resume --parallel 2)
grep -q " 1 chunks sent" <<<"$OUT" || fail "page resume: $OUT"
tool download imgs a-page.img "$W/a-page.back"
cmp "$W/a.img" "$W/a-page.back" || fail "page blob differs after resume"

step "page blob: all-zero chunks of a fresh blob are skipped"
python3 - "$W/sparse.bin" <<'EOF'
import os, sys
with open(sys.argv[1], 'wb') as f:
    f.write(os.urandom(4096)); f.seek(20 << 20); f.write(os.urandom(512))
EOF
OUT=$(up "$W/sparse.bin" "$BASE/sparse.img" --page)
grep -q " 2 chunks sent" <<<"$OUT" || fail "zero skipping: $OUT"
grep -q " 4 skipped" <<<"$OUT" || fail "zero skipping: $OUT"
tool download imgs sparse.img "$W/sparse.back"
cmp "$W/sparse.bin" "$W/sparse.back" || fail "sparse page blob differs"

step "block blob: upload, read back; resume after one changed block"
up "$W/hmac512.img" "$BASE/b.img" --block --parallel 3
tool download imgs b.img "$W/b.back"
cmp "$W/hmac512.img" "$W/b.back" || fail "block blob differs"
OUT=$(up "$W/hmac512.img" "$BASE/b.img" --block --resume)
grep -q " 0 chunks sent" <<<"$OUT" || fail "block resume of a complete blob: $OUT"
cp "$W/hmac512.img" "$W/changed.img"
head -c 4096 /dev/urandom | dd of="$W/changed.img" bs=4096 seek=$((5 * 256 + 3)) conv=notrunc status=none
up "$W/changed.img" "$BASE/c.img" --block
OUT=$(up "$W/hmac512.img" "$BASE/c.img" --block --resume)
grep -q " 1 chunks sent" <<<"$OUT" || fail "block resume after a change: $OUT"
tool download imgs c.img "$W/c.back"
cmp "$W/hmac512.img" "$W/c.back" || fail "block blob differs after resume"
step "no type given: a block blob (read-only images; --page for read-write)"
up "$W/hmac512.img" "$BASE/default.img" >/dev/null
OUT=$("$SEALMOUNT" blob stat "$BASE/default.img" --account-key-file "$AKEY")
grep -qx "type: BlockBlob" <<<"$OUT" || fail "default upload type: $OUT"

step "SAS in the URL instead of a key (page blob, read back)"
SAS=$(tool sas imgs sas.img rcw)
"$SEALMOUNT" image upload "$W/aead.img" "$BASE/sas.img?$SAS" --page
tool download imgs sas.img "$W/sas.back"
cmp "$W/aead.img" "$W/sas.back" || fail "SAS upload differs"
RC=0
"$SEALMOUNT" image upload "$W/aead.img" "$BASE/nosas.img" 2>"$W/err" || RC=$?
expect_eq "$RC" 1 "exit code without credentials"
grep -q "access denied" "$W/err" || fail "message: $(cat "$W/err")"
echo "OK"
