#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-fsck.sh - images without integrity are checked with `e2fsck -n` before the kernel mounts
# them (docs/threat-model.md, Images without integrity):
#   - a clean Microsoft-style image (no integrity, --no-require-integrity) mounts, e2fsck -n
#     having found it clean;
#   - the same image with 16 bytes of its ciphertext flipped where its root directory lives -
#     what whoever controls the storage can do to an image without integrity - is refused in the
#     volume step with what e2fsck said, nothing mounted or published; without the check
#     (--no-fsck) the kernel mounts it (the check is what stopped it);
#   - an integrity image is not checked (its sectors are authenticated instead).
# Needs root, /dev/fuse and a loop device (the kernel mounts the user engine's plaintext).
#

. "$(dirname "$0")/functions.sh"

export PATH=$PATH:/usr/sbin:/sbin
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount)" >&2; exit 77; }
if [ ! -e /dev/loop-control ] || [ ! -c /dev/fuse ]; then
	echo "SKIP: no loop or fuse" >&2
	exit 77
fi
requires e2fsck debugfs python3

W=$TEST_TMP
step() { echo "--- $*"; }
mkdir "$W/src" "$W/pub"
echo "checked" >"$W/src/hello.txt"
head -c 32 /dev/urandom >"$W/key"

step "an image without integrity"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/plain.img" --size 16M \
	--integrity none --pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create"
"$SEALMOUNT" image inspect --json "$W/plain.img" >"$W/inspect.json" 2>/dev/null
OFFSET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data_offset"])' "$W/inspect.json")
"$SEALMOUNT" image decrypt "$W/plain.img" --key-file "$W/key" -o "$W/plain.ext4" 2>/dev/null
# The root directory's first block, in the plaintext (4 KiB blocks).
ROOTBLK=$(debugfs -R 'stat /' "$W/plain.ext4" 2>/dev/null | sed -n 's/^(0):\([0-9]*\).*/\1/p' | head -1)
[ -n "$ROOTBLK" ] || fail "cannot find the root directory's block"
echo "  data at $OFFSET, root directory in block $ROOTBLK"

# mount_img IMG LOG [OPTIONS]: `sealmount mount --engine user` in the background until ready or
# exited; RC = 0 when it serves, else its exit code.
mount_img()
{
	local img=$1 log=$2 i

	shift 2
	rm -f "$W/ready"
	"$SEALMOUNT" --log-level debug mount --engine user --no-require-integrity --image "$img" \
		--key-file "$W/key" --work-dir "$W/work" --ready-file "$W/ready" "$@" "$W/pub/share" \
		>"$log" 2>&1 &
	MPID=$!
	RC=
	for ((i = 0; i < 300; i++)); do
		[ -s "$W/ready" ] && { RC=0; return 0; }
		if ! kill -0 "$MPID" 2>/dev/null; then
			RC=0
			wait "$MPID" || RC=$?
			[ "$RC" -ne 0 ] || RC=exited
			return 0
		fi
		sleep 0.1
	done
	fail "mount neither ready nor gone: $(tail -3 "$log")"
}
unmount_img()
{
	"$SEALMOUNT" umount "$W/pub/share" || fail "umount"
	wait "$MPID" || fail "mount exited $? after umount"
}
cleanup_fn stop_bg_mount
stop_bg_mount() { [ -z "${MPID:-}" ] || kill -TERM "$MPID" 2>/dev/null; wait "${MPID:-}" 2>/dev/null; return 0; }

step "the clean image mounts; e2fsck -n found it clean"
mount_img "$W/plain.img" "$W/clean.log"
expect_eq "$RC" 0 "mount of the clean image ($(tail -3 "$W/clean.log"))"
expect_eq "$(cat "$W/pub/share/hello.txt")" "checked" "hello.txt"
grep -q 'fsck: e2fsck -n .*: clean' "$W/clean.log" || fail "no e2fsck run logged: $(cat "$W/clean.log")"
unmount_img

step "16 bytes of ciphertext flipped where the root directory is: refused before mounting"
cp "$W/plain.img" "$W/evil.img"
python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(16)
    f.seek(int(sys.argv[2]))
    f.write(bytes(x ^ 0x55 for x in b))' "$W/evil.img" $((OFFSET + ROOTBLK * 4096))
mount_img "$W/evil.img" "$W/evil.log"
expect_eq "$RC" 1 "mount of the damaged image ($(tail -3 "$W/evil.log"))"
grep -q "step 'volume' failed: e2fsck -n found errors in the filesystem of this image without integrity" \
	"$W/evil.log" || fail "not refused by the check: $(grep error "$W/evil.log")"
grep -q 'sealmount.fsck: false, --no-fsck' "$W/evil.log" || fail "no hint: $(grep error "$W/evil.log")"
[ ! -e "$W/pub/share" ] || fail "something was published"
! grep -q " $W/" /proc/mounts || fail "something is mounted: $(grep " $W/" /proc/mounts)"

step "--no-fsck: the kernel mounts the damaged image (what the check prevents)"
mount_img "$W/evil.img" "$W/nofsck.log" --no-fsck
expect_eq "$RC" 0 "mount with --no-fsck ($(tail -3 "$W/nofsck.log"))"
! grep -q 'e2fsck' "$W/nofsck.log" || fail "e2fsck ran with --no-fsck"
unmount_img

step "an integrity image is not checked"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" -o "$W/int.img" --size 16M \
	--pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create"
mount_img "$W/int.img" "$W/int.log"
expect_eq "$RC" 0 "mount of the integrity image ($(tail -3 "$W/int.log"))"
! grep -q 'e2fsck' "$W/int.log" || fail "e2fsck ran for an integrity image"
unmount_img
echo "fsck: ok"
