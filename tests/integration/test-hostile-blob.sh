#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-blob.sh - `sealmount blob stat` and `sealmount image inspect` of a blob URL served
# by a hostile Blob service (tests/emulators/hostile.mjs in front of Azurite): properties with an
# overflowing Content-Length or no ETag, an 8 KiB x-ms-error-code full of control bytes with a
# 900 KiB entity-bomb XML body (never parsed), huge/countless headers, non-HTTP bytes, redirect
# loops, and ranged reads that are truncated, 2 GB long, endless, bit-flipped under an unchanged
# Content-MD5 or of another range; hostile sizes (2^64-1, 2^63, over the blob type's cap, a page
# blob not in 512-byte pages, a claim larger than what is there). Each ends in a clean error in
# bounded time and memory; the untampered pass-through works, and so does a real block blob whose
# size is not a sector multiple.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/hostile.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node truncate
TESTDATA="$(dirname "$0")/../data"

emu_start azurite AZ_PORT
emu_start hostile HOSTILE_PORT --upstream "http://127.0.0.1:$AZ_PORT"
# A header-only image: the data segment starts at 16 MiB, so the blob must reach past it.
cp "$TESTDATA/luks2-hmac-sha256-4k.hdr" "$TEST_TMP/img"
truncate -s 17M "$TEST_TMP/img"
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page hostile img "$TEST_TMP/img" >/dev/null
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" make-public hostile - >/dev/null
URL="http://127.0.0.1:$HOSTILE_PORT/devstoreaccount1/hostile/img"

stat_() { hostile_mode "$1" && hostile_run "$2" "$1" -- "$SEALMOUNT" blob stat "$URL"; }
# Ranged reads only (GET): the properties (HEAD) pass.
inspect()
{
	hostile_mode "$1&method=GET"
	hostile_run "$2" "$1" -- "$SEALMOUNT" image inspect "$URL"
}

echo "--- controls: the proxy is harmless"
stat_ pass 10
expect_eq "$RC" 0 "blob stat through the proxy: $ERR"
grep -q 'PageBlob' "$TEST_TMP/stdout.out" || fail "no blob type printed"
inspect pass 15
expect_eq "$RC" 0 "image inspect through the proxy: $ERR"

echo "--- hostile properties and errors"
stat_ blob-props-overflow 8
expect_clean_error 'Protocol error' blob-props-overflow
stat_ blob-props-noetag 8
expect_clean_error 'Protocol error' blob-props-noetag
stat_ blob-error-bomb 8
# the code's leading letters only, with the cause the explainer has for it
expect_clean_error 'HTTP 403 AuthenticationFailed\. Likely causes: access denied' blob-error-bomb
! grep -q $'\e' <<<"$ERR" || fail "an escape byte from x-ms-error-code reached the terminal"
for m in huge-header many-headers; do
	stat_ "$m" 8
	expect_clean_error 'Cannot get the properties of .*: File too large' "$m"
done
stat_ garbage 8
expect_clean_error 'Cannot get the properties of .*: Protocol error' garbage
stat_ redirect-loop 8
expect_clean_error 'Cannot get the properties of .*: HTTP 30[0-9] \(a redirect: not followed\)' redirect-loop

echo "--- hostile ranged reads (LUKS2 header fetch)"
# Refetched a few times (BLOB_VERIFY_RETRIES), then refused: never handed to the parser. The
# first read is of the image's end (is it sealed?), then of its header.
for m in blob-range-flip blob-range-shift biglen flood; do
	inspect "$m" 10
	expect_clean_error 'Cannot read (the header of|the end of the image).*: Bad message' "$m"
done
inspect truncated 15
expect_clean_error 'Cannot read (the header of|the end of the image).*: (Input/output error|Bad message)' truncated

echo "--- hostile sizes: refused on the properties, before any read"
# blob-size-TYPE-N: HEAD claims a TYPE of N bytes and every ranged answer agrees (its
# Content-Range total). Over the type's cap (page 8 TiB, block 190.7 TiB, append 195 GiB; a plain
# server 1 PiB), 2^63 and 2^64-1: File too large. A page blob that is not in 512-byte pages:
# Protocol error.
inspect_all() { hostile_mode "$1" && hostile_run "$2" "$1" -- "$SEALMOUNT" image inspect "$URL"; }
for claim in BlockBlob-18446744073709551615 BlockBlob-9223372036854775808 \
	PageBlob-9223372036854775808 PageBlob-8796093022720 BlockBlob-209715200000001 \
	AppendBlob-209715200001 Plain-9223372036854775808 Plain-1125899906842625; do
	stat_ "blob-size-$claim" 8
	expect_clean_error 'Cannot get the properties of .*: File too large' "stat $claim"
	inspect_all "blob-size-$claim" 8
	expect_clean_error 'Cannot open .*: File too large' "inspect $claim"
done
stat_ blob-size-PageBlob-17825892 8
expect_clean_error 'Cannot get the properties of .*: Protocol error' "stat odd page blob"
inspect_all blob-size-PageBlob-17825892 8
expect_clean_error 'Cannot open .*: Protocol error' "inspect odd page blob"
# Within the caps but larger than what is there: the header reads, a read past the real end
# fails cleanly.
for claim in BlockBlob-209715200000000 Plain-1125899906842624; do
	inspect_all "blob-size-$claim" 15
	expect_clean_error 'Cannot read .*: (Input/output error|Bad message|Invalid argument|Protocol error)' "inspect $claim"
done
# 100 bytes more than there are, not a sector multiple: the header checks read nothing past the
# last whole 4 KiB, so this inspects (or fails cleanly), in bounded time either way.
inspect_all blob-size-BlockBlob-17825892 15
[ "$RC" -le 1 ] || fail "inspect of an odd-sized claim: rc $RC"

echo "--- a real block blob whose size is not a sector multiple: used to its last whole sector"
mkdir -p "$TEST_TMP/src"
echo "odd sizes" >"$TEST_TMP/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$TEST_TMP/src" --key-file "$TEST_TMP/key" --new-key \
	-o "$TEST_TMP/odd.img" --size 8M --pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create"
"$SEALMOUNT" image decrypt "$TEST_TMP/odd.img" --key-file "$TEST_TMP/key" -o "$TEST_TMP/want" \
	2>/dev/null || fail "image decrypt of the local image"
truncate -s +100 "$TEST_TMP/odd.img"
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-block hostile odd.img "$TEST_TMP/odd.img" >/dev/null
ODD="http://127.0.0.1:$HOSTILE_PORT/devstoreaccount1/hostile/odd.img"
hostile_mode pass
hostile_run 30 "decrypt odd block blob" -- "$SEALMOUNT" image decrypt "$ODD" \
	--key-file "$TEST_TMP/key" -o "$TEST_TMP/got"
expect_eq "$RC" 0 "image decrypt of a block blob of $(stat -c %s "$TEST_TMP/odd.img") bytes: $ERR"
cmp -s "$TEST_TMP/want" "$TEST_TMP/got" || fail "the odd-sized blob decrypts to other bytes"
echo "hostile Blob: ok"
