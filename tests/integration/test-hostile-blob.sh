#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-hostile-blob.sh - `sealmount blob stat` and `sealmount image inspect` of a blob URL served
# by a hostile Blob service (tests/emulators/hostile.mjs in front of Azurite): properties with an
# overflowing Content-Length or no ETag, an 8 KiB x-ms-error-code full of control bytes with a
# 900 KiB entity-bomb XML body (never parsed), huge/countless headers, non-HTTP bytes, redirect
# loops, and ranged reads that are truncated, 2 GB long, endless, bit-flipped under an unchanged
# Content-MD5 or of another range. Each ends in a clean error in bounded time and memory; the
# untampered pass-through works.

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
expect_clean_error 'Permission denied' blob-error-bomb
! grep -q $'\e' <<<"$ERR" || fail "an escape byte from x-ms-error-code reached the terminal"
for m in huge-header many-headers; do
	stat_ "$m" 8
	expect_clean_error 'Cannot get the properties of .*: File too large' "$m"
done
stat_ garbage 8
expect_clean_error 'Cannot get the properties of .*: Protocol error' garbage
stat_ redirect-loop 8
expect_clean_error 'Cannot get the properties of .*: Protocol error' redirect-loop

echo "--- hostile ranged reads (LUKS2 header fetch)"
# Refetched a few times (BLOB_VERIFY_RETRIES), then refused: never handed to the parser. The
# first read is of the image's end (is it sealed?), then of its header.
for m in blob-range-flip blob-range-shift biglen flood; do
	inspect "$m" 10
	expect_clean_error 'Cannot read (the header of|the end of the image).*: Bad message' "$m"
done
inspect truncated 15
expect_clean_error 'Cannot read (the header of|the end of the image).*: (Input/output error|Bad message)' truncated
echo "hostile Blob: ok"
