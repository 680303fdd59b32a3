#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-diskcache.sh - `blob attach --disk-cache` against Azurite: bytes exact through the
# blob ▸ diskcache ▸ cache ▸ FUSE stack, a second attach served from disk (no blob bytes read),
# the size cap kept, a changed blob (new ETag) emptying the cache, a corrupted cache file
# detected and refetched, a cache in use refused, and --rw refused.

. "$(dirname "$0")/functions.sh"

requires node python3 mountpoint fusermount3 cmp
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

T="$TEST_TMP"
emu_start azurite AZ_PORT
URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/page.img"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$T/key"
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }
head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/ref"
tool upload-page imgs page.img "$T/ref"

MNT="$T/mnt" DC="$T/dc"
mkdir -p "$MNT"
ATTACH_PID=
attach()
{
	local i

	"$SEALMOUNT" blob attach "$URL" "$MNT" --account-key-file "$T/key" --cache-mb 1 \
		--disk-cache "$DC" "$@" >"$T/attach.log" 2>&1 &
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
	grep "Disk cache:" "$T/attach.log" || fail "no disk cache statistics: $(cat "$T/attach.log")"
}
detach_quiet()
{
	kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	return 0
}
# stat NAME: a number from the "Disk cache:" or "Blob:" log line
dstat() { sed -n "s/.*Disk cache:.* \([0-9]*\) $1.*/\1/p" "$T/attach.log"; }
blob_bytes_read() { sed -n 's/.*Blob:.* \([0-9]*\) bytes read.*/\1/p' "$T/attach.log"; }

step "first attach fills the disk cache; bytes exact"
attach --disk-cache-mb 8
cmp "$MNT/data" "$T/ref" || fail "bytes differ"
detach
[ "$(stat -c %a "$DC")" = 700 ] || fail "cache directory mode $(stat -c %a "$DC")"

step "second attach is served from the disk cache"
attach --disk-cache-mb 8
cmp "$MNT/data" "$T/ref" || fail "bytes differ from the disk cache"
detach
expect_eq "$(blob_bytes_read)" 0 "blob bytes read with a warm disk cache"
[ "$(dstat 'bytes cached')" -eq $((6 << 20)) ] || fail "not everything cached"

step "a second attach using the same cache is refused"
attach --disk-cache-mb 8
RC=0
"$SEALMOUNT" blob attach "$URL" "$T/mnt2" --account-key-file "$T/key" --disk-cache "$DC" \
	--disk-cache-mb 8 2>"$T/err" || RC=$?
expect_eq "$RC" 1 "exit code of a second attach on the same cache"
grep -q "another attach or mount is using it" "$T/err" || fail "busy message: $(cat "$T/err")"
detach

step "a corrupted cache file is detected and refetched"
DATA=$(ls "$DC"/sealmount-*.data)
python3 - "$DATA" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for off in range(1000, os.fstat(fd).st_size, 1 << 20):
    b = os.pread(fd, 1, off); os.pwrite(fd, bytes([b[0] ^ 1]), off)
EOF
attach --disk-cache-mb 8
cmp "$MNT/data" "$T/ref" || fail "corrupted cache bytes came through"
detach
[ "$(dstat corrupt)" -ge 6 ] || fail "corruption not counted"

step "the blob changes (new ETag): the cache starts afresh"
head -c 65536 /dev/urandom >"$T/patch"
tool put-page imgs page.img 1048576 "$T/patch"
python3 - "$T/ref" "$T/patch" <<'EOF'
import sys
ref = bytearray(open(sys.argv[1], 'rb').read()); p = open(sys.argv[2], 'rb').read()
ref[1048576:1048576 + len(p)] = p; open(sys.argv[1], 'wb').write(ref)
EOF
attach --disk-cache-mb 8
cmp "$MNT/data" "$T/ref" || fail "stale bytes from the disk cache after the blob changed"
detach
grep -q "emptied at start" "$T/attach.log" || fail "cache not emptied on a new ETag"

step "the size cap is kept"
attach --disk-cache-mb 2
cmp "$MNT/data" "$T/ref" || fail "bytes differ with a small disk cache"
detach
SIZE=$(stat -c %s "$DATA")
USED=$(($(stat -c %b "$DATA") * $(stat -c %B "$DATA")))
[ "$SIZE" -le $((2 << 20)) ] && [ "$USED" -le $((2 << 20)) ] ||
	fail "data file $SIZE bytes ($USED allocated) over the 2 MiB cap"
[ "$(dstat evictions)" -gt 0 ] || fail "no evictions with a cap below the blob size"

step "--rw with --disk-cache is a usage error"
RC=0
"$SEALMOUNT" blob attach "$URL" "$MNT" --rw --disk-cache "$DC" 2>"$T/err" || RC=$?
expect_eq "$RC" 2 "exit code of --rw --disk-cache"

echo "PASS"
