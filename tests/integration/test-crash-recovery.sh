#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-crash-recovery.sh - after `kill -9` of a `sealmount mount` (user engine: ext4 on a loop
# device on the FUSE plaintext file), what it left is found from its crash record and cleaned
# up exactly (pipeline.h, volume_recover):
#   - `sealmount list` shows the mount, its owner alive, then DEAD after the kill (--json too);
#   - `sealmount umount` of a dead owner's mount finishes in seconds with progress lines and
#     leaves no mount, loop device, FUSE mount, link or record;
#   - a new `sealmount mount` of a mount point whose owner crashed cleans up first and mounts;
#   - --index defaults to a free one: two mounts get different ones, none another mount holds
#     (the lowest free one: test_pipeline.c; other tests' mounts may hold any index here);
#   - a second mount of a mount point that is mounted is refused, naming the owner.
# CRASH_ENGINE=kernel (tests/vm/test-vm-crash-recovery.sh, in the VM) runs it against the kernel
# engine: dm-crypt + dm-integrity on /dev/nbdN (the in-process server dies with the process).
# Needs root, /dev/fuse and a loop device (exit 77 otherwise).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount)" >&2; exit 77; }
[ -e /dev/loop-control ] && [ -e /dev/fuse ] || { echo "SKIP: no loop or fuse" >&2; exit 77; }
requires losetup python3

W=$TEST_TMP
SHARE=$W/share
mkdir -p "$SHARE" "$W/src"
echo "survives a crash" >"$W/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --new-key -o "$W/img" \
	--size 16M --pbkdf-iterations 1000 --no-journal >/dev/null 2>&1 || fail "image create"
cp "$W/img" "$W/img2"
# The records live in XDG_RUNTIME_DIR for non-root users; root's are in /run/sealmount, shared
# with every other test: look only at ours.
mine() { grep -F "$SHARE/" || true; }

# start NAME IMAGE [ARGS]: mount IMAGE at $SHARE/NAME, wait until published
start()
{
	local name=$1 img=$2

	shift 2
	start_until_ready "$W/$name.ready" "$W/$name.log" "$SEALMOUNT" --log-level debug mount \
		--engine "${CRASH_ENGINE:-user}" \
		--image "$img" --key-file "$W/key" --work-dir "$W/run" \
		--ready-file "$W/$name.ready" "$@" "$SHARE/$name"
}

nothing_left()
{
	! grep -qF " $SHARE/" /proc/mounts || fail "$1: a mount is left: $(grep -F "$SHARE" /proc/mounts)"
	! grep -qF " $W/run/" /proc/mounts || fail "$1: a FUSE mount is left"
	! losetup -a | grep -qF "$W/" || fail "$1: a loop device is left: $(losetup -a)"
	[ -z "$(ls -A "$SHARE")" ] || fail "$1: left in the share: $(ls -A "$SHARE")"
	[ -z "$("$SEALMOUNT" list | mine)" ] || fail "$1: a record is left: $("$SEALMOUNT" list)"
	if command -v dmsetup >/dev/null && dmsetup ls 2>/dev/null | grep -q '^sealmount-'; then
		fail "$1: a dm device is left: $(dmsetup ls)"
	fi
	! grep -qs . /sys/block/nbd*/pid || fail "$1: an NBD device is still configured"
}

echo "--- two mounts: free indexes, listed alive"
# held: the mounts (index mount point pid) listed now. Other tests come and go, and may name an
# index with --index (several hold 0 at once then): ours must avoid what was held throughout.
held() { "$SEALMOUNT" list --json | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    print(m["index"], m["mount_point"], m["pid"])' | sort; }
held >"$W/held.before"
start a "$W/img"
PID_A=$BG_PID
held >"$W/held.after"
start b "$W/img2"
IA=$(readlink "$SHARE/a") IB=$(readlink "$SHARE/b")
IA=${IA#.filesystem-} IB=${IB#.filesystem-}
[[ $IA =~ ^[0-9]+$ && $IB =~ ^[0-9]+$ && $IA != "$IB" ]] || fail "indexes: '$IA' '$IB'"
comm -12 "$W/held.before" "$W/held.after" | grep -v " $SHARE/" >"$W/held.throughout" || true
! cut -d' ' -f1 "$W/held.throughout" | grep -qx "$IA" ||
	fail "mount a got index $IA, which another mount held: $(cat "$W/held.throughout")"
"$SEALMOUNT" list | mine | grep -q "alive .*$SHARE/a" || fail "list: $("$SEALMOUNT" list)"
"$SEALMOUNT" list --json | python3 -c '
import json, sys
mine = [m for m in json.load(sys.stdin) if m["mount_point"].startswith(sys.argv[1])]
assert len(mine) == 2 and all(m["alive"] and m["engine"] == sys.argv[2] for m in mine), mine
' "$SHARE/" "${CRASH_ENGINE:-user}" || fail "list --json"
rc=0
"$SEALMOUNT" mount --engine user --image "$W/img" --key-file "$W/key" --work-dir "$W/run" \
	"$SHARE/a" >"$W/dup.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "a second mount of a mounted mount point"
grep -q "mounted already, by process $PID_A" "$W/dup.log" || fail "dup: $(cat "$W/dup.log")"

echo "--- kill -9: the mount is left behind, listed DEAD"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null || true
grep -qF " $SHARE/.filesystem-$IA " /proc/mounts || fail "kill -9 left nothing to clean up?"
"$SEALMOUNT" list | mine | grep -q "DEAD .*$SHARE/a" || fail "list after kill: $("$SEALMOUNT" list)"

echo "--- umount of a dead owner's mount: cleaned up from the record, in seconds"
start_s=$SECONDS
timeout 60 "$SEALMOUNT" umount "$SHARE/a" >"$W/um.log" 2>&1 || fail "umount: $(cat "$W/um.log")"
((SECONDS - start_s <= 20)) || fail "umount of a dead owner took $((SECONDS - start_s)) s"
grep -q "is gone" "$W/um.log" || fail "umount did not say the owner is gone: $(cat "$W/um.log")"
grep -q "unmounting the filesystem" "$W/um.log" || fail "no progress: $(cat "$W/um.log")"
! grep -qF " $SHARE/.filesystem-$IA " /proc/mounts || fail "the filesystem is still mounted"
[ ! -L "$SHARE/a" ] || fail "the link of the dead mount is left"
! losetup -a | grep -qF "$W/run/$IA/" || fail "its loop device is left: $(losetup -a)"
if command -v dmsetup >/dev/null && dmsetup ls 2>/dev/null | grep -q "^sealmount-$IA\b"; then
	fail "its dm devices are left: $(dmsetup ls)"
fi
! grep -qF " $W/run/$IA " /proc/mounts || fail "its FUSE mount is left"
expect_eq "$(readlink "$SHARE/b")" ".filesystem-$IB" "the other mount is untouched"
expect_eq "$(cat "$SHARE/b/hello.txt")" "survives a crash" "the other mount still serves"

echo "--- kill -9, then mount again: cleaned up first, mounted"
kill -KILL "$BG_PID"
wait "$BG_PID" 2>/dev/null || true
start b "$W/img2" --index "$IB"
grep -q "is gone" "$W/b.log" || fail "no clean-up before the new mount: $(cat "$W/b.log")"
expect_eq "$(cat "$SHARE/b/hello.txt")" "survives a crash" "the remounted file"
"$SEALMOUNT" umount "$SHARE/b" >/dev/null 2>&1 || fail "umount b"
wait "$BG_PID" || fail "the mount exited $? after umount"
nothing_left "at the end"
rc=0
"$SEALMOUNT" umount "$SHARE/b" >"$W/none.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "umount of nothing"
grep -q "Nothing is mounted" "$W/none.log" || fail "umount of nothing: $(cat "$W/none.log")"
