#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-nbd.sh - the kernel's NBD client on the in-process server (src/nbd, issue #17), on
# Debian's stock kernel: tests/helpers/nbd_attach connects a local file stack to /dev/nbdN over
# socketpairs with generic netlink (no helper process, no TCP), and then:
#   - read-only: the device has the file's size, reads byte-exact (whole and at random offsets),
#     is read-only to the kernel, and /sys/block/nbdN/pid names the attaching process;
#   - read-write through a write-back cache: writes with fsync (NBD_CMD_FLUSH) and O_DIRECT|
#     O_DSYNC writes (FUA) are in the backing file while still attached, and all of them after
#     detach;
#   - four connections (multi-conn) serve the same bytes;
#   - a stopped server (SIGSTOP) makes I/O fail with EIO within the request timeout, a killed
#     one at once - never a hang - and a killed one's device is released by --disconnect;
#   - dm-crypt + dm-integrity on /dev/nbdN: cryptsetup formats a LUKS2 image with hmac-sha256
#     integrity through it, ext4 on top takes a file; attached again read-only the file reads
#     back; flipped ciphertext bytes in the backing file read as EILSEQ/EIO, never as data;
#   - the device takes requests larger than the kernel's 128 KiB default;
#   - after every detach: /sys/block/nbdN/pid gone or empty, capacity 0, no process left and
#     nobody holding the device.
#
# On the host this re-runs itself inside the VM through vm-run.sh (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1200}" -- bash "$here/$(basename "$0")" "$@"
fi
. "$here/../integration/functions.sh"

for c in python3 blockdev cmp dd; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
H=${BUILD_DIR:-}/tests/helpers/nbd_attach
[ -x "$H" ] || { echo "SKIP: $H not built (run through meson)" >&2; exit 77; }
# nbd is in vm-run.sh's MODULES: the family must resolve here.
"$H" --available || fail "the kernel's nbd netlink family does not resolve"
W=$TEST_TMP
SIZE=$((32 << 20))
head -c "$SIZE" /dev/urandom >"$W/ro.img"

PID= DEV= IDX=
quiet_kill() { kill -KILL "$1" 2>/dev/null || true; }
# attach NAME ARGS...: start nbd_attach ARGS... $W/NAME.ready; wait for the device.
attach()
{
	local name=$1 i

	shift
	rm -f "$W/$name.ready"
	"$H" "$@" "$W/$name.ready" 2>"$W/$name.log" &
	PID=$!
	cleanup_fn quiet_kill "$PID"
	for ((i = 0; i < 600; i++)); do
		[ -s "$W/$name.ready" ] && break
		kill -0 "$PID" 2>/dev/null || { cat "$W/$name.log" >&2; fail "nbd_attach $* exited"; }
		sleep 0.1
	done
	[ -s "$W/$name.ready" ] || fail "nbd_attach $* not ready after 60 s"
	DEV=$(cat "$W/$name.ready")
	IDX=${DEV#/dev/nbd}
	[[ $IDX =~ ^[0-9]+$ ]] || fail "odd device name '$DEV'"
	[ -b "$DEV" ] || fail "$DEV is not a block device"
	expect_eq "$(cat "/sys/block/nbd$IDX/pid")" "$PID" "/sys/block/nbd$IDX/pid"
	# requests larger than the kernel's default 128 KiB (nbd_netlink.c, raise_request_size)
	(($(cat "/sys/block/nbd$IDX/queue/max_sectors_kb") > 128)) ||
		fail "nbd$IDX still takes $(cat "/sys/block/nbd$IDX/queue/max_sectors_kb") KiB requests"
	# no I/O scheduler (nbd_netlink.c, no_scheduler; docs/nbd.md: mq-deadline lost reads)
	grep -qF '[none]' "/sys/block/nbd$IDX/queue/scheduler" ||
		fail "nbd$IDX has a scheduler: $(cat "/sys/block/nbd$IDX/queue/scheduler")"
}

# released IDX PID: nothing of the attachment is left.
released()
{
	local idx=$1 pid=$2 holders

	if [ -e "/sys/block/nbd$idx/pid" ] && [ -n "$(cat "/sys/block/nbd$idx/pid" 2>/dev/null)" ]; then
		fail "/sys/block/nbd$idx/pid still says $(cat "/sys/block/nbd$idx/pid")"
	fi
	expect_eq "$(cat "/sys/block/nbd$idx/size")" 0 "capacity of nbd$idx after detach"
	! kill -0 "$pid" 2>/dev/null || fail "nbd_attach ($pid) still running"
	holders=$(find /proc/[0-9]*/fd -lname "/dev/nbd$idx" 2>/dev/null || true)
	[ -z "$holders" ] || fail "/dev/nbd$idx still open: $holders"
}

# detach NAME: SIGTERM, exit 0, everything released.
detach()
{
	local rc=0

	kill -TERM "$PID"
	wait "$PID" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$W/$1.log" >&2; fail "nbd_attach exited $rc after SIGTERM"; }
	[ ! -e "$W/$1.ready" ] || fail "ready file left behind"
	released "$IDX" "$PID"
}

# random_reads DEV REF COUNT: unaligned reads at random offsets, compared with REF.
random_reads()
{
	python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys
dev, ref, n = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
fd = os.open(dev, os.O_RDONLY)
rnd = random.Random(17)
for _ in range(n):
    off = rnd.randrange(len(ref))
    ln = rnd.choice([1, 511, 4096, 4097, 65536, 300001])
    if os.pread(fd, ln, off) != ref[off:off + ln]:
        sys.exit(f"mismatch at {off}+{ln}")
EOF
}

# must_fail_fast LIMIT DEV: a direct read from DEV fails (EIO) within LIMIT seconds.
must_fail_fast()
{
	local limit=$1 dev=$2 t0 t1 rc=0

	t0=$(date +%s)
	timeout 120 dd if="$dev" of=/dev/null bs=4096 count=1 skip=$((RANDOM % 8000)) \
		iflag=direct status=none 2>"$W/dd.err" || rc=$?
	t1=$(date +%s)
	[ "$rc" -ne 0 ] || fail "a read from $dev succeeded without a server"
	[ "$rc" -ne 124 ] || fail "a read from $dev hung (no answer after 120 s)"
	grep -qi "input/output error" "$W/dd.err" || fail "not EIO: $(cat "$W/dd.err")"
	[ $((t1 - t0)) -le "$limit" ] || fail "the read took $((t1 - t0)) s to fail (limit $limit s)"
	echo "  read failed with EIO after $((t1 - t0)) s"
}

step "read-only: size, byte-exact reads, read-only to the kernel"
attach ro "$W/ro.img"
expect_eq "$(blockdev --getsize64 "$DEV")" "$SIZE" "size of $DEV"
expect_eq "$(blockdev --getro "$DEV")" 1 "read-only flag of $DEV"
cmp "$DEV" "$W/ro.img" || fail "$DEV differs from the file"
random_reads "$DEV" "$W/ro.img" 200 || fail "random reads differ"
dd if=/dev/zero of="$DEV" bs=4096 count=1 oflag=direct status=none 2>/dev/null &&
	fail "a write to the read-only $DEV succeeded"
detach ro

step "read-write through a write-back cache: FLUSH and FUA reach the file"
cp "$W/ro.img" "$W/rw.img"
cp "$W/ro.img" "$W/expect.img"
attach rw --rw --cache-mb 8 "$W/rw.img"
head -c 65536 /dev/urandom >"$W/patch1"
head -c 8192 /dev/urandom >"$W/patch2"
dd if="$W/patch1" of="$DEV" bs=4096 seek=100 conv=notrunc,fsync status=none
dd if="$W/patch2" of="$DEV" bs=4096 seek=5000 oflag=direct,dsync status=none
python3 - "$W/expect.img" "$W/patch1" "$W/patch2" <<'EOF'
import sys
f = open(sys.argv[1], 'r+b')
f.seek(100 * 4096); f.write(open(sys.argv[2], 'rb').read())
f.seek(5000 * 4096); f.write(open(sys.argv[3], 'rb').read())
EOF
# still attached: the backing file already has both (the cache wrote back on FLUSH / FUA)
cmp "$W/rw.img" "$W/expect.img" || fail "fsync'd / FUA writes are not in the backing file"
cmp "$DEV" "$W/expect.img" || fail "$DEV does not read back the writes"
detach rw
cmp "$W/rw.img" "$W/expect.img" || fail "backing file differs after detach"
grep -Eq " [1-9][0-9]* writes, [1-9][0-9]* flushes" "$W/rw.log" ||
	fail "no writes/flushes counted: $(cat "$W/rw.log")"

step "four connections"
attach multi --connections 4 "$W/ro.img"
cmp "$DEV" "$W/ro.img" || fail "$DEV (4 connections) differs"
detach multi
grep -q "^nbd_attach: 4 of 4 connections live" "$W/multi.log" || fail "$(cat "$W/multi.log")"
grep -q "^nbd_attach: 4 connections" "$W/multi.log" || fail "not 4 connections: $(cat "$W/multi.log")"

step "a stopped server: EIO within the request timeout (5 s), no hang"
attach stopped --timeout 5 "$W/ro.img"
kill -STOP "$PID"
must_fail_fast 40 "$DEV"
kill -CONT "$PID"
sleep 1
detach stopped
# the kernel gave up on the socket: the server saw its connection end (what health reports)
grep -q "^nbd_attach: 0 of 1 connections live" "$W/stopped.log" ||
	fail "connection still live after the timeout: $(cat "$W/stopped.log")"

step "a killed server: EIO at once; --disconnect releases the device"
attach killed "$W/ro.img"
kill -KILL "$PID"
wait "$PID" 2>/dev/null || true
must_fail_fast 20 "$DEV"
"$H" --disconnect "$IDX" || fail "--disconnect $IDX failed"
released "$IDX" "$PID"

step "dm-crypt + dm-integrity over /dev/nbd: format, ext4, write; read back read-only; tamper"
if command -v cryptsetup >/dev/null && command -v mkfs.ext4 >/dev/null; then
	truncate -s 40M "$W/luks.img"
	head -c 32 /dev/urandom >"$W/key"
	head -c 3M /dev/urandom >"$W/payload"
	attach luksrw --rw --cache-mb 8 "$W/luks.img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--integrity hmac-sha256 --key-file "$W/key" "$DEV"
	cryptsetup open --key-file "$W/key" "$DEV" nbdtest
	mkfs.ext4 -q /dev/mapper/nbdtest
	mkdir -p "$W/mnt"
	mount /dev/mapper/nbdtest "$W/mnt"
	cp "$W/payload" "$W/mnt/payload"
	umount "$W/mnt"
	cryptsetup close nbdtest
	detach luksrw
	attach luksro "$W/luks.img"
	cryptsetup open --readonly --key-file "$W/key" "$DEV" nbdtest
	mount -o ro,noload /dev/mapper/nbdtest "$W/mnt"
	cmp "$W/mnt/payload" "$W/payload" || fail "the file differs after a round trip over nbd"
	umount "$W/mnt"
	cryptsetup close nbdtest
	detach luksro
	# flip one byte in every MiB of the data area: reading it all must end in EIO
	python3 - "$W/luks.img" <<'PY'
import sys
f = open(sys.argv[1], "r+b")
for mib in range(17, 40):
    f.seek((mib << 20) + 777)
    b = f.read(1)
    f.seek((mib << 20) + 777)
    f.write(bytes([b[0] ^ 1]))
PY
	attach luksbad "$W/luks.img"
	cryptsetup open --readonly --key-file "$W/key" "$DEV" nbdtest
	RC=0
	dd if=/dev/mapper/nbdtest of=/dev/null bs=1M iflag=direct status=none 2>"$W/dd.err" || RC=$?
	[ "$RC" -ne 0 ] || fail "tampered sectors were read without an error"
	# dm-integrity's tag mismatch is EILSEQ, EIO on the way up from some paths
	grep -Eqi "input/output error|invalid or incomplete multibyte" "$W/dd.err" ||
		fail "tampering: $(cat "$W/dd.err")"
	cryptsetup close nbdtest
	detach luksbad
else
	echo "  (cryptsetup or mkfs.ext4 missing in the VM: skipped)"
fi

step "the device is free again: attach to the same index"
attach again --index "$IDX" "$W/ro.img"
cmp "$DEV" "$W/ro.img" || fail "re-attached $DEV differs"
detach again
echo "PASS: test-vm-nbd"
