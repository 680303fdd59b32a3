#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-rootless.sh - the whole workflow without root, as uid/gid 65534 (setpriv, no groups):
#   - `image create --from-dir` (files, a subdirectory, a symlink) with --new-key, `image
#     inspect --require-integrity`, `image decrypt` to an ext4 image that debugfs reads back;
#   - `mount --engine user` with no loop device or kernel mount of ext4: the FUSE plaintext file
#     served by fuse2fs, published as the relative link; the default work directory is the
#     user's ($XDG_RUNTIME_DIR/sealmount, 0700) and holds the state file that `umount` finds;
#     read-only refuses writes; --rw writes survive a remount and leave a valid image (every tag
#     checks in `image decrypt`, e2fsck -fn passes);
#   - a work directory owned by someone else is refused;
#   - one flipped ciphertext byte fails the read through fuse2fs, never returns other data: the
#     guard stops fuse2fs (1.47.0 turns errnos into byte counts), the mount fails closed, and
#     what was read before the error is a correct prefix;
#   - after every umount/SIGTERM: no FUSE mount, no fuse2fs or sealmount process, no link, no
#     state file.
# Needs root to switch to uid 65534, a /dev/fuse usable by it and a setuid fusermount3 (exit 77
# otherwise). Nothing is assumed about where the clone and the build live (e.g. /root, mode 0700):
# uid 65534 runs its own copy of the binary (and of the sanitizer suppressions) in the scratch
# directory.

. "$(dirname "$0")/functions.sh"

export PATH=$PATH:/usr/sbin:/sbin
requires setpriv fuse2fs fusermount3 debugfs e2fsck sha256sum od
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to switch to uid 65534" >&2; exit 77; }
[ -u "$(command -v fusermount3)" ] || { echo "SKIP: fusermount3 is not setuid" >&2; exit 77; }

W=$TEST_TMP
if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$(dirname "$W")"; then
	# TMPDIR is private: uid 65534 gets a scratch directory in /tmp instead.
	W=$(mktemp -d /tmp/sealmount-rootless.XXXXXX)
	cleanup_fn rm -rf "$W"
fi
chown 65534:65534 "$W"
XDG=$W/xdg # the user's runtime directory: the default work directory is $XDG/sealmount
# setpriv and env exec: "${AS_USER[@]}" CMD & makes $! the pid of CMD itself.
AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_RUNTIME_DIR="$XDG" HOME="$W")
as_user() { "${AS_USER[@]}" "$@"; }

# user_copy VAR: the sanitizer options in VAR with a suppressions file copied into $W/bin.
user_copy()
{
	local p parts out=()

	IFS=: read -ra parts <<<"${!1:-}"
	for p in "${parts[@]}"; do
		if [[ "$p" == suppressions=* ]]; then
			cp "${p#suppressions=}" "$W/bin/$1.supp"
			p=suppressions=$W/bin/$1.supp
		fi
		out+=("$p")
	done
	[ ${#out[@]} -eq 0 ] || export "$1=$(IFS=:; echo "${out[*]}")"
}
mkdir -m 0755 "$W/bin"
install -m 0755 "$SEALMOUNT" "$W/bin/sealmount"
SEALMOUNT=$W/bin/sealmount
for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do user_copy "$v"; done
as_user "$SEALMOUNT" version >/dev/null || fail "uid 65534 cannot run $SEALMOUNT"
as_user test -r /dev/fuse -a -w /dev/fuse || { echo "SKIP: /dev/fuse not usable" >&2; exit 77; }
as_user mkdir -m 0700 "$XDG" "$W/src" "$W/src/sub" "$W/pub"
PUB=$W/pub
MP=$PUB/share
as_user sh -c 'echo "hello rootless" >"$1/hello.txt"' - "$W/src"
as_user sh -c 'head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$1"' - "$W/src/sub/big"
as_user ln -s sub/big "$W/src/link"
as_user touch "$W/src/sub/gone"
SHA=$(sha256sum <"$W/src/sub/big")

step "image create / inspect / decrypt as uid 65534"
as_user "$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --new-key \
	-o "$W/img" --size 24M --pbkdf-iterations 1000 --no-journal >/dev/null
expect_eq "$(stat -c '%u %a' "$W/img")" "65534 600" "image owner and mode"
as_user "$SEALMOUNT" image inspect --require-integrity "$W/img" >/dev/null || fail "inspect"
as_user "$SEALMOUNT" image decrypt "$W/img" --key-file "$W/key" -o "$W/out" >/dev/null
e2fsck -fn "$W/out" >/dev/null || fail "decrypted image: e2fsck -fn"
expect_eq "$(debugfs -R 'cat /hello.txt' "$W/out" 2>/dev/null)" "hello rootless" "debugfs hello"
expect_eq "$(debugfs -R 'cat /sub/big' "$W/out" 2>/dev/null | sha256sum)" "$SHA" "debugfs big"
debugfs -R 'stat /link' "$W/out" 2>/dev/null | grep -q 'Fast link dest: "sub/big"' ||
	fail "debugfs: /link is not the symlink sub/big"

check_clean()
{
	local what=$1

	! grep -q " $W/" /proc/mounts || fail "$what: mount left: $(grep " $W/" /proc/mounts)"
	! pgrep -f "fuse2fs .*$W" >/dev/null || fail "$what: fuse2fs left running"
	[ -z "$(ls -A "$PUB")" ] || fail "$what: left in $PUB: $(ls -A "$PUB")"
	[ ! -e "$XDG/sealmount/0" ] || fail "$what: FUSE directory left"
	[ -z "$(ls -A "$XDG/sealmount/mounts" 2>/dev/null)" ] || fail "$what: state file left"
}

MOUNT_PID=
start()
{
	start_until_ready "$W/ready" "$W/mount.log" "${AS_USER[@]}" "$SEALMOUNT" mount \
		--engine user --image "$W/img" --key-file "$W/key" --ready-file "$W/ready" "$@" "$MP"
	MOUNT_PID=$BG_PID
}
stop()
{
	as_user "$SEALMOUNT" umount "$MP" || fail "umount"
	wait "$MOUNT_PID" || { cat "$W/mount.log" >&2; fail "mount exited $?"; }
	check_clean "$1"
}

step "mount read-only (fuse2fs on the FUSE plaintext file)"
start
grep -q 'served by fuse2fs' "$W/mount.log" || fail "no fuse2fs: $(cat "$W/mount.log")"
expect_eq "$(readlink "$MP")" ".filesystem-0" "link"
grep -q " $PUB/.filesystem-0 fuse.ext4 " /proc/mounts || fail "not a fuse2fs mount"
ls "$XDG/sealmount/mounts/"*.json >/dev/null 2>&1 || fail "no state file in $XDG/sealmount"
expect_eq "$(stat -c %a "$XDG/sealmount")" 700 "work directory mode"
expect_eq "$(as_user cat "$MP/hello.txt")" "hello rootless" "hello.txt"
expect_eq "$(as_user cat "$MP/sub/big" | sha256sum)" "$SHA" "sub/big"
expect_eq "$(as_user cat "$MP/link" | sha256sum)" "$SHA" "link -> sub/big"
if as_user sh -c 'echo x >"$1/new"' - "$MP" 2>"$W/err"; then fail "ro mount took a write"; fi
grep -q 'Read-only file system' "$W/err" || fail "ro write: $(cat "$W/err")"
stop "after ro umount"

step "mount --rw: write, SIGTERM, remount read-only"
start --rw
# mke2fs -d leaves / owned by root (no -E root_owner): write in sub/, which is ours.
as_user sh -c 'echo written >"$1/new.txt" && mkdir "$1/d" && rm "$1/gone"' - "$MP/sub" ||
	fail "write through fuse2fs"
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID" || { cat "$W/mount.log" >&2; fail "mount exited $? on SIGTERM"; }
check_clean "after rw SIGTERM"
start
expect_eq "$(as_user cat "$MP/sub/new.txt")" "written" "new.txt after remount"
as_user test -d "$MP/sub/d" -a ! -e "$MP/sub/gone" || fail "rw changes lost"
expect_eq "$(as_user cat "$MP/sub/big" | sha256sum)" "$SHA" "sub/big after rw"
stop "after remount"
as_user "$SEALMOUNT" image decrypt "$W/img" --key-file "$W/key" -o "$W/out2" >/dev/null ||
	fail "image decrypt after rw (a bad tag?)"
e2fsck -fn "$W/out2" >/dev/null || fail "e2fsck -fn after rw"

step "a work directory owned by someone else is refused"
mkdir -m 0700 "$W/rootdir"
rc=0
as_user "$SEALMOUNT" mount --engine user --image "$W/img" --key-file "$W/key" \
	--work-dir "$W/rootdir" "$MP" >"$W/refuse.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "foreign work directory"
grep -q "Cannot create the work directory" "$W/refuse.log" || fail "$(cat "$W/refuse.log")"
check_clean "after refusal"

step "tamper: one ciphertext byte in sub/big fails the read closed, never other data"
# Filesystem block -> image offset in dm-integrity's first area (docs/dm-integrity.md, Layout; tags
# of 32 bytes for 4 KiB sectors: 16 MiB LUKS2 header, 8 superblock sectors + journal_sections * 264,
# 256 sectors of tags, then 4096 data blocks).
N=300 # the file block to hit
b=$(debugfs -R "bmap /sub/big $N" "$W/out2" 2>/dev/null)
[[ "$b" =~ ^[0-9]+$ ]] && [ "$b" -lt 4096 ] || fail "bmap: '$b' (not in the first area)"
js=$(od -An -tu4 -j $((16777216 + 12)) -N4 "$W/img" | tr -d ' ')
TAMPER=$(((32768 + 8 + js * 264 + 256) * 512 + b * 4096 + 100))
printf '\x5a' | dd of="$W/img" bs=1 seek="$TAMPER" conv=notrunc status=none
rc=0
as_user "$SEALMOUNT" image decrypt "$W/img" --key-file "$W/key" -o "$W/out3" >"$W/dec.log" \
	2>&1 || rc=$?
expect_eq "$rc" 1 "decrypt of the tampered image"
grep -q "Integrity error at sector $((b * 8)) (plaintext byte $((b * 4096)))" "$W/dec.log" ||
	fail "decrypt did not name sector $((b * 8)): $(cat "$W/dec.log")"
start
# fuse2fs 1.47.0 would hand the errno to the reader as a byte count (other data): the guard
# kills it on the first error, so the reader gets ENOTCONN/ECONNABORTED (EIO is accepted too),
# and what it got before is a correct prefix that stops before the flipped block.
if as_user cat "$MP/sub/big" >"$W/got" 2>"$W/err"; then fail "tampered file read without error"; fi
grep -Eq 'Input/output error|Transport endpoint is not connected|Software caused connection abort' \
	"$W/err" || fail "tampered read: $(cat "$W/err")"
echo "tampered read failed: $(cat "$W/err")"
got=$(stat -c %s "$W/got")
[ "$got" -le $((N * 4096)) ] || fail "read $got bytes, past the flipped block $N"
cmp -n "$got" "$W/got" "$W/src/sub/big" || fail "the bytes read before the error differ"
grep -q 'fuse2fs stopped, the mount fails closed' "$W/mount.log" || fail "no guard in the log"
if as_user cat "$MP/hello.txt" >/dev/null 2>&1; then fail "the mount still serves after the error"; fi
stop "after tamper"
echo "OK"
