#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-freshness.sh - freshness within a session (docs/freshness.md): the blob ▸ cache ▸
# FUSE stack (`sealmount blob attach --rw`, a 1 MiB cache so chunks are evicted) behind
# tests/emulators/faultproxy.mjs in front of Azurite. The proxy records the blob as first read,
# the app writes a range and fsyncs, the cache evicts it; then the proxy replays the older
# version of that range (a plausible answer: right length, ETag and a matching Content-MD5).
# The read of the written range must fail with EIO and never return the older bytes, the
# refusal is counted, and everything away from it reads as written. Without the replay,
# everything reads back fine.

. "$(dirname "$0")/functions.sh"

requires node python3 mountpoint fusermount3 cmp curl
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

emu_start azurite AZ_PORT
KEY="$TEST_TMP/key"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
MNT="$TEST_TMP/mnt"
mkdir -p "$MNT"

step() { echo "--- $*"; }
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

PX_PID=
proxy()
{
	local i

	rm -f "$TEST_TMP/px.port"
	node "$EMULATORS/faultproxy.mjs" --target "$AZ_PORT" --port-file "$TEST_TMP/px.port" "$@" \
		2>>"$TEST_TMP/px.log" &
	PX_PID=$!
	cleanup_fn px_kill "$PX_PID"
	for ((i = 0; i < 100; i++)); do
		[ -s "$TEST_TMP/px.port" ] && break
		sleep 0.1
	done
	PX_PORT=$(cat "$TEST_TMP/px.port")
}
px_kill() { kill "$1" 2>/dev/null; return 0; }
px_stats() { curl -s "http://127.0.0.1:$PX_PORT/__faultproxy/stats"; }
px() { expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PX_PORT/__faultproxy/$1")" 204 "proxy $1"; }

ATTACH_PID=
attach()
{
	local i

	"$SEALMOUNT" blob attach "$1" "$MNT" --account-key-file "$KEY" "${@:2}" \
		>"$TEST_TMP/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn detach_quiet "$ATTACH_PID"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$ATTACH_PID" 2>/dev/null || { cat "$TEST_TMP/attach.log" >&2; fail "attach exited"; }
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

# reads FILE REF [STALE_OFF STALE_LEN]: drop the kernel's page cache of FILE, then read it in
# 64 KiB pieces. Without STALE: every piece equals REF. With it: the piece at STALE_OFF fails with
# EIO; pieces more than 4 MiB away from the stale range (the kernel's read-ahead may pull it
# into a request) read as REF; no piece ever returns bytes that differ from REF.
reads()
{
	python3 - "$@" <<'EOF'
import errno, os, sys
path, ref = sys.argv[1], open(sys.argv[2], 'rb').read()
stale = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 3 else None
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
P = 65536
def far(off):
    return stale is None or off + P + (4 << 20) <= stale[0] or off >= stale[0] + stale[1] + (4 << 20)
if stale:
    try:
        got = os.pread(fd, P, stale[0])
        sys.exit(f"the stale range read without an error ({'older' if got != ref[stale[0]:stale[0] + P] else 'current'} bytes)")
    except OSError as e:
        if e.errno != errno.EIO:
            sys.exit(f"the stale range failed with {e} instead of EIO")
bad = 0
for off in range(0, len(ref), P):
    try:
        got = os.pread(fd, P, off)
    except OSError as e:
        if far(off):
            sys.exit(f"read at {off} failed: {e}")
        bad += 1
        continue
    if got != ref[off:off + P]:
        sys.exit(f"wrong bytes at {off}")
print(f"    {len(ref) // P} pieces, {bad} failed near the stale range")
EOF
}

SIZE=$((16 * 1024 * 1024))
W_OFF=$((12 * 1024 * 1024 + 65536)) # the range the app writes: chunks 193-194 of 64 KiB
W_LEN=$((96 * 1024))
head -c "$SIZE" /dev/urandom >"$TEST_TMP/v1"
tool upload-page imgs fresh.img "$TEST_TMP/v1"
proxy
URL="http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/fresh.img"

step "attach read-write with a 1 MiB cache; the proxy records the first version as it is read"
attach "$URL" --cache-mb 1 --rw
px record
reads "$MNT/data" "$TEST_TMP/v1" || fail "first read"

step "the app writes $W_LEN bytes at $W_OFF and fsyncs; reading 16 MiB evicts them"
cp "$TEST_TMP/v1" "$TEST_TMP/v2"
python3 - "$MNT/data" "$TEST_TMP/v2" "$W_OFF" "$W_LEN" <<'EOF' || fail "write"
import os, sys
off, n = int(sys.argv[3]), int(sys.argv[4])
data = os.urandom(n)
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, data, off)
os.fsync(fd)
ref = bytearray(open(sys.argv[2], 'rb').read())
ref[off:off + n] = data
open(sys.argv[2], 'wb').write(ref)
EOF

step "without a replay everything reads as written (through storage: the cache is 1 MiB)"
before=$(node -e 'console.log(JSON.parse(process.argv[1]).bytes)' "$(px_stats)")
reads "$MNT/data" "$TEST_TMP/v2" || fail "reads without a replay"
after=$(node -e 'console.log(JSON.parse(process.argv[1]).bytes)' "$(px_stats)")
[ $((after - before)) -ge $((SIZE / 2)) ] || fail "the reads did not reach storage ($((after - before)) bytes)"
grep -q "stale\|Read of .* failed" "$TEST_TMP/attach.log" && fail "an error without a replay"

step "the proxy replays the first version: the written range fails with EIO, the rest reads"
px replay
reads "$MNT/data" "$TEST_TMP/v2" "$W_OFF" "$W_LEN" || fail "reads under replay"
echo "    proxy: $(px_stats)"
grep -q '"replayed_changed":[1-9]' <<<"$(px_stats)" || fail "the proxy did not serve older bytes"

step "replay stopped: the current version reads again"
px clean
reads "$MNT/data" "$TEST_TMP/v2" || fail "reads after the replay"
detach
grep -q "came back different" "$TEST_TMP/attach.log" || fail "no stale chunk was logged"
grep -q "stale fetches refused" "$TEST_TMP/attach.log" || fail "the stale count is not reported"
n=$(sed -n 's/.*Cache: \([0-9]*\) stale fetches refused.*/\1/p' "$TEST_TMP/attach.log")
[ "${n:-0}" -ge 1 ] || fail "stale count ${n:-none}"
grep -q "Blob: .* 0 verification failures" "$TEST_TMP/attach.log" ||
	fail "the blob layer refused a body (the replay must look genuine): $(grep 'Blob:' "$TEST_TMP/attach.log")"
tool download imgs fresh.img "$TEST_TMP/after"
cmp "$TEST_TMP/after" "$TEST_TMP/v2" || fail "the blob does not hold what was written"
echo "    $n stale fetches refused"

echo "PASS"
