#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-faults.sh - the blob ▸ cache ▸ FUSE stack behind tests/emulators/faultproxy.mjs in
# front of Azurite: 503 storms with Retry-After, 500s, connections reset mid-body, truncated
# bodies, flipped bytes, latency and a bandwidth cap. Transient faults must be invisible to
# readers (no EIO) and wrong bytes must never come out; writes through faults must persist.

. "$(dirname "$0")/functions.sh"

requires node python3 mountpoint fusermount3 cmp
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

emu_start azurite AZ_PORT
KEY="$TEST_TMP/key"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
MNT="$TEST_TMP/mnt"
mkdir -p "$MNT"

tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

# proxy ARGS...: (re)start the fault proxy in front of Azurite; sets PX_PORT.
PX_PID=
proxy()
{
	local i

	[ -n "$PX_PID" ] && { kill "$PX_PID" 2>/dev/null; wait "$PX_PID" 2>/dev/null || true; }
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

# check_reads: whole-file compare (a fresh mount: every byte comes through the stack, the 2-4 MiB
# cache keeps evicting) plus random unaligned reads.
check_reads()
{
	cmp "$MNT/data" "$TEST_TMP/ref" || fail "wrong bytes came out ($1)"
	python3 - "$MNT/data" "$TEST_TMP/ref" <<'EOF' || fail "random reads ($1)"
import os, random, sys
ref = open(sys.argv[2], 'rb').read()
fd = os.open(sys.argv[1], os.O_RDONLY)
rnd = random.Random(3)
for i in range(150):
    off = rnd.randrange(len(ref)); n = rnd.randrange(1, 300000)
    if os.pread(fd, n, off) != ref[off:off + n]:
        sys.exit(f"mismatch at {off}+{n}")
EOF
	grep -q "Read of .* failed" "$TEST_TMP/attach.log" && fail "a reader saw an error ($1)"
	return 0
}

head -c $((12 * 1024 * 1024)) /dev/urandom >"$TEST_TMP/ref"
tool upload-page imgs page.img "$TEST_TMP/ref"

for fault in 503=0.3 500=0.3 reset=0.3 truncate=0.3 flip=0.3; do
	step "reads under $fault"
	proxy --only-ranged --seed 7 "$fault"
	attach "http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/page.img" --cache-mb 2
	check_reads "$fault"
	detach
	echo "    proxy: $(px_stats)"
	grep -q "\"${fault%=*}\":[1-9]" <<<"$(px_stats)" || fail "no $fault fault was injected"
done

step "reads with 20 ms latency and a 20 MB/s cap, all faults mixed"
proxy --only-ranged --seed 9 --latency-ms 20 --bandwidth 20000000 503=0.05 500=0.05 reset=0.05 \
	truncate=0.05 flip=0.05
attach "http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/page.img" --cache-mb 4
check_reads mixed
detach
echo "    proxy: $(px_stats)"

step "read-write through 503s and resets: fsync'd data persists"
proxy --seed 5 503=0.2 reset=0.1
attach "http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/page.img" --cache-mb 4 --rw
python3 - "$MNT/data" "$TEST_TMP/ref" <<'EOF' || fail "writes through faults"
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDWR)
ref = bytearray(open(sys.argv[2], 'rb').read())
rnd = random.Random(21)
for i in range(60):
    n = rnd.choice([512, 4096, 70000, 1 << 20]); off = rnd.randrange(len(ref) - n)
    data = rnd.randbytes(n)
    os.pwrite(fd, data, off); ref[off:off + n] = data
    if i % 10 == 9:
        os.fsync(fd)
os.fsync(fd)
open(sys.argv[2], 'wb').write(ref)
EOF
detach
echo "    proxy: $(px_stats)"
tool download imgs page.img "$TEST_TMP/after"
cmp "$TEST_TMP/after" "$TEST_TMP/ref" || fail "writes through faults did not persist"

echo "PASS"
