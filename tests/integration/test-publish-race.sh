#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-publish-race.sh - an app container that shares the emptyDir cannot redirect the mount
# (docs/threat-model.md). While `sealmount mount --engine user` publishes, a hostile process
# keeps exchanging <share>/.filesystem-0 with a decoy - a symlink to a directory outside the
# share (think /etc) or another directory in the share - with renameat2(RENAME_EXCHANGE).
# Over many attempts:
#   - the image is never mounted outside the share, nor anywhere but on the .filesystem-0
#     directory (/proc/self/mountinfo), and the symlink's target directory is never touched;
#   - each attempt either publishes a link that serves the image, or fails cleanly naming the
#     replaced directory;
#   - teardown under the same attack finishes in seconds and leaves no mount, loop device or
#     link behind (unmount by mount id, not by a name the app controls).
# RACE_ENGINE=kernel (tests/vm/test-vm-publish-race.sh, in the VM with real dm) runs the same
# attack against the kernel engine; RACE_ROUNDS sets the number of rounds (default 16), RACE_BLOCK
# the block layer (default auto).
# Needs root, /dev/fuse and a loop device (exit 77 otherwise).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount)" >&2; exit 77; }
[ -e /dev/loop-control ] && [ -e /dev/fuse ] || { echo "SKIP: no loop or fuse" >&2; exit 77; }
requires python3 losetup

SWAP="$(cd "$(dirname "$0")/../helpers" && pwd)/swap_names.py"
W=$TEST_TMP
SHARE=$W/share
MP=$SHARE/data
OUTSIDE=$W/etc # what a symlink decoy points to: must never get a mount
mkdir -p "$SHARE" "$OUTSIDE" "$W/src"
echo "the real image" >"$W/src/hello.txt"
echo "precious" >"$OUTSIDE/passwd"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --new-key -o "$W/img" \
	--size 16M --pbkdf-iterations 1000 --no-journal >/dev/null 2>&1 || fail "image create"

# never_outside WHAT: no mount of ours anywhere but on a name directly in the share
never_outside()
{
	local bad

	bad=$(awk -v s="$SHARE/" -v w="$W/" '$5 ~ "^" w && !(index($5, s) == 1 && $5 !~ "^" s ".*/") \
		&& $5 !~ "/run/" { print $5 }' /proc/self/mountinfo)
	[ -z "$bad" ] || fail "$1: mounted outside the share: $bad"
	expect_eq "$(ls "$OUTSIDE")" "passwd" "$1: the decoy's target"
}

clean()
{
	! grep -qF " $SHARE/" /proc/mounts || fail "$1: a mount is left: $(grep -F " $SHARE/" /proc/mounts)"
	! grep -qF " $OUTSIDE" /proc/mounts || fail "$1: a mount is left at $OUTSIDE"
	! losetup -a | grep -qF "$W/" || fail "$1: a loop device is left: $(losetup -a)"
	if command -v dmsetup >/dev/null && dmsetup ls 2>/dev/null | grep -q '^sealmount-'; then
		fail "$1: a dm device is left: $(dmsetup ls)"
	fi
	[ ! -e "$MP" ] && [ ! -L "$MP" ] || fail "$1: the link is left"
}

ENGINE=${RACE_ENGINE:-user}
ROUNDS=${RACE_ROUNDS:-16}
published=0 refused=0
for i in $(seq 1 "$ROUNDS"); do
	# the decoy: a symlink out of the share on even rounds, a directory in it on odd ones
	rm -rf "${SHARE:?}/.filesystem-0" "$SHARE/.decoy"
	mkdir "$SHARE/.filesystem-0"
	if ((i % 2 == 0)); then ln -s "$OUTSIDE" "$SHARE/.decoy"; else mkdir "$SHARE/.decoy"; fi
	rm -f "$W/swapping"
	python3 "$SWAP" "$SHARE" .filesystem-0 .decoy 60 "$W/swapping" >"$W/swaps" &
	SWAPPER=$!
	for ((t = 0; t < 300; t++)); do [ -e "$W/swapping" ] && break; sleep 0.05; done
	[ -e "$W/swapping" ] || fail "round $i: the swapper did not start"
	rm -f "$W/ready"
	"$SEALMOUNT" mount --engine "$ENGINE" --block "${RACE_BLOCK:-auto}" --image "$W/img" --key-file "$W/key" --work-dir "$W/run" \
		--ready-file "$W/ready" "$MP" >"$W/mount.log" 2>&1 &
	PID=$!
	for ((t = 0; t < 300; t++)); do
		[ -s "$W/ready" ] && break
		kill -0 "$PID" 2>/dev/null || break
		never_outside "round $i (mounting)"
		sleep 0.05
	done
	never_outside "round $i"
	if [ -s "$W/ready" ]; then
		grep -q "($ENGINE engine" "$W/mount.log" || fail "round $i: not the $ENGINE engine"
		expect_eq "$(readlink "$MP")" ".filesystem-0" "round $i: link"
		expect_eq "$(cat "$MP/hello.txt")" "the real image" "round $i: the link serves the image"
		grep -qF " $SHARE/.filesystem-0 " /proc/mounts ||
			fail "round $i: not mounted on .filesystem-0: $(grep -F "$W" /proc/mounts)"
		published=$((published + 1))
		start=$SECONDS
		kill -TERM "$PID"
		wait "$PID" || fail "round $i: mount exited $? on SIGTERM: $(tail -3 "$W/mount.log")"
		((SECONDS - start <= 10)) || fail "round $i: teardown under attack took $((SECONDS - start)) s"
	else
		rc=0
		wait "$PID" || rc=$?
		expect_eq "$rc" 1 "round $i: exit code of a refused mount"
		grep -q "step '\(volume\|publish\)' failed: .*\(was replaced\|Not a directory\|File exists\)" \
			"$W/mount.log" || fail "round $i: not a clean refusal: $(cat "$W/mount.log")"
		refused=$((refused + 1))
	fi
	kill "$SWAPPER" 2>/dev/null
	wait "$SWAPPER" 2>/dev/null || true
	echo "round $i: $(cat "$W/swaps")"
	never_outside "round $i (after)"
	clean "round $i"
done
echo "$ENGINE engine: published $published, refused cleanly $refused of $ROUNDS rounds under attack"
[ "$published" -gt 0 ] || fail "no round published: the attack always wins"
