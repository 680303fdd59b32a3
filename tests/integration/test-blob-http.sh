#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-http.sh - the blob ▸ cache ▸ FUSE stack with a plain HTTP range server as the source:
# a real nginx on loopback serving a file (docs/http-source.md). Reads are byte-exact at random
# offsets and lengths, a sequential read fetches each byte once with standard Range requests and
# no x-ms-* header; read-write, --verify-md5 and credentials are refused for such a source; a
# server that ignores Range is refused at open; a file replaced under the mount fails reads
# (ESTALE) instead of mixing versions; a path-style URL on loopback that is not Blob is a plain
# source too; transient faults (503 storms, resets, truncated bodies) are invisible to readers.

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nginx.sh"

requires node python3 mountpoint fusermount3 cmp curl nginx
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

step() { echo "--- $*"; }
nginx_start NG_PORT
WWW=$(nginx_www)
mkdir -p "$WWW/images" "$WWW/norange" "$WWW/devstoreaccount1/imgs"
head -c $((20 * 1024 * 1024 + 4567)) /dev/urandom >"$TEST_TMP/ref"
cp "$TEST_TMP/ref" "$WWW/images/disk.img"
cp "$TEST_TMP/ref" "$WWW/norange/disk.img"
cp "$TEST_TMP/ref" "$WWW/devstoreaccount1/imgs/disk.img"
BASE="http://127.0.0.1:$NG_PORT"
KEY="$TEST_TMP/key"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
MNT="$TEST_TMP/mnt"
mkdir -p "$MNT"

ATTACH_PID=
attach()
{
	local i

	"$SEALMOUNT" blob attach "$1" "$MNT" "${@:2}" >"$TEST_TMP/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn detach_quiet "$ATTACH_PID"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$ATTACH_PID" 2>/dev/null || { cat "$TEST_TMP/attach.log" >&2; fail "attach exited"; }
		sleep 0.1
	done
	fail "attach of $1 did not mount"
}

detach()
{
	local rc=0

	kill -TERM "$ATTACH_PID"
	wait "$ATTACH_PID" || rc=$?
	expect_eq "$rc" 0 "exit code of attach after SIGTERM"
	mountpoint -q "$MNT" && fail "$MNT still mounted after detach"
	return 0
}

detach_quiet()
{
	kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	return 0
}

# refuse WHAT PATTERN ARGS...: `blob attach ARGS` exits 1 with PATTERN in its message.
refuse()
{
	local what=$1 pattern=$2 rc=0

	shift 2
	"$SEALMOUNT" blob attach "$@" "$MNT" >"$TEST_TMP/err" 2>&1 || rc=$?
	expect_eq "$rc" 1 "$what: exit code"
	grep -q -- "$pattern" "$TEST_TMP/err" || fail "$what: $(cat "$TEST_TMP/err")"
	mountpoint -q "$MNT" && fail "$what: mounted anyway"
	return 0
}

random_reads()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys
path, ref, count = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
assert os.fstat(fd).st_size == len(ref), (os.fstat(fd).st_size, len(ref))
rnd = random.Random(5)
for i in range(count):
    off = rnd.randrange(len(ref))
    n = rnd.choice([1, 511, 4096, 4097, 65536, 300001, rnd.randrange(1, 2 << 20)])
    if os.pread(fd, n, off) != ref[off:off + n]:
        sys.exit(f"mismatch at offset {off} length {n}")
EOF
}

step "stat: size and validators from standard headers"
OUT=$("$SEALMOUNT" blob stat "$BASE/images/disk.img")
grep -qx "size: $((20 * 1024 * 1024 + 4567))" <<<"$OUT" || fail "stat size: $OUT"
grep -q '^etag: "' <<<"$OUT" || fail "stat etag: $OUT"

step "read-only attach: whole file and random reads byte-exact"
attach "$BASE/images/disk.img" --cache-mb 8
cmp "$MNT/data" "$TEST_TMP/ref" || fail "nginx source differs"
random_reads "$MNT/data" "$TEST_TMP/ref" 300 || fail "random reads"
detach

step "a sequential read fetches each byte once, standard headers only"
: >"$TEST_TMP/nginx/access.log"
attach "$BASE/images/disk.img"
dd if="$MNT/data" of="$TEST_TMP/seq.out" bs=1M status=none
cmp "$TEST_TMP/seq.out" "$TEST_TMP/ref" || fail "sequential read differs"
detach
STATS=$(grep -o "Blob: .*" "$TEST_TMP/attach.log") || fail "no Blob statistics at detach"
grep -q " 0 retries, 0 verification failures, $((20 * 1024 * 1024 + 4567)) bytes read" \
	<<<"$STATS" || fail "sequential read was not fetched exactly once: $STATS"
grep -q '^GET /images/disk.img 206 "bytes=0-0"' "$TEST_TMP/nginx/access.log" ||
	fail "no one-byte probe at open: $(head -3 "$TEST_TMP/nginx/access.log")"
! grep -v '^HEAD \|^GET /images/disk.img 206 "bytes=' "$TEST_TMP/nginx/access.log" ||
	fail "a request that was not HEAD or a ranged GET answered 206"
! grep -v ' "-"$' "$TEST_TMP/nginx/access.log" || fail "an x-ms-* header went to a plain server"

step "read-write, --verify-md5 and credentials are refused for a plain source"
refuse "rw" "Read-only file system" "$BASE/images/disk.img" --rw
refuse "verify-md5" "needs an Azure Blob source" "$BASE/images/disk.img" --verify-md5
refuse "key" "Invalid argument" "$BASE/images/disk.img" --account-key-file "$KEY"
# A loopback path-style URL gets the emulator's headers (and the key) for its HEAD, and is
# refused once the answer shows it is not Blob; without a key it is a plain source.
refuse "key, path style" "Invalid argument" "$BASE/devstoreaccount1/imgs/disk.img" \
	--account-key-file "$KEY"
attach "$BASE/devstoreaccount1/imgs/disk.img"
random_reads "$MNT/data" "$TEST_TMP/ref" 50 || fail "random reads, path style"
detach

step "a server that ignores Range is refused at open"
refuse "max_ranges 0" "Protocol error" "$BASE/norange/disk.img"

step "a file replaced under a read-only mount fails reads instead of mixing data"
attach "$BASE/images/disk.img" --cache-mb 1
dd if="$MNT/data" of=/dev/null bs=4096 count=1 status=none
head -c $((20 * 1024 * 1024 + 4567)) /dev/urandom >"$WWW/images/disk.img.new"
touch -d '2001-01-01' "$WWW/images/disk.img.new" # a new ETag (nginx: mtime and size)
mv "$WWW/images/disk.img.new" "$WWW/images/disk.img"
if dd if="$MNT/data" of=/dev/null bs=65536 skip=200 count=1 status=none 2>"$TEST_TMP/err"; then
	fail "read after the file changed succeeded"
fi
grep -q "Stale file handle\|changed while being read" "$TEST_TMP/attach.log" ||
	fail "no stale-source error: $(tail -3 "$TEST_TMP/attach.log")"
detach_quiet "$ATTACH_PID"
cp "$TEST_TMP/ref" "$WWW/images/disk.img"

step "transient faults in front of nginx are invisible to readers"
for fault in 503=0.3 500=0.3 reset=0.3 truncate=0.3; do
	rm -f "$TEST_TMP/px.port"
	node "$EMULATORS/faultproxy.mjs" --target "$NG_PORT" --port-file "$TEST_TMP/px.port" \
		--only-ranged --seed 7 "$fault" 2>>"$TEST_TMP/px.log" &
	PX=$!
	cleanup_fn kill "$PX"
	for ((i = 0; i < 100; i++)); do
		[ -s "$TEST_TMP/px.port" ] && break
		sleep 0.1
	done
	attach "http://127.0.0.1:$(cat "$TEST_TMP/px.port")/images/disk.img" --cache-mb 2
	cmp "$MNT/data" "$TEST_TMP/ref" || fail "wrong bytes under $fault"
	random_reads "$MNT/data" "$TEST_TMP/ref" 60 || fail "random reads under $fault"
	grep -q "Read of .* failed" "$TEST_TMP/attach.log" && fail "a reader saw an error ($fault)"
	detach
	STATS=$(curl -s "http://127.0.0.1:$(cat "$TEST_TMP/px.port")/__faultproxy/stats")
	echo "    $fault: $STATS"
	grep -q "\"${fault%=*}\":[1-9]" <<<"$STATS" || fail "no $fault fault was injected"
	kill "$PX"
	wait "$PX" 2>/dev/null || true
done

echo "PASS"
