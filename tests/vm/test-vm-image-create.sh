#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-image-create.sh - images written in userspace by `sealmount image create` (no root,
# no dm) are accepted by the real kernel: on the host, images are made from one directory with
# hmac-sha256 at 4096- and 512-byte sectors, aead (aes-gcm-random) and no integrity; in the VM
# each is opened with `cryptsetup open` (J mode, and D mode via the persistent no-journal flag),
# read completely (every sector must authenticate), compared with the plaintext that
# `sealmount image decrypt` gives (when that command exists), checked with `e2fsck -fn`, its
# files compared with the directory, then mounted read-write, written, closed, reopened and
# read back.
#
# On the host this prepares the images and re-runs itself inside the VM through vm-run.sh
# (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../integration/functions.sh"

CONFIGS=("hmac4k hmac-sha256 4096" "hmac512 hmac-sha256 512" "aead aead 4096" "none none 4096")

host_prepare()
{
	local dir=$1 name integ sector cfg
	export PATH=$PATH:/usr/sbin:/sbin

	mkdir -p "$dir/src/sub"
	echo "hello from sealmount image create" >"$dir/src/hello.txt"
	head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$dir/src/sub/random.bin"
	ln -s hello.txt "$dir/src/link"
	for cfg in "${CONFIGS[@]}"; do
		read -r name integ sector <<<"$cfg"
		step "host: image create $name"
		"$SEALMOUNT" image create --from-dir "$dir/src" --size 48M --integrity "$integ" \
			--sector-size "$sector" --key-file "$dir/key" --new-key -o "$dir/$name.img"
		if "$SEALMOUNT" image decrypt --help >/dev/null 2>&1; then
			"$SEALMOUNT" image decrypt "$dir/$name.img" --key-file "$dir/key" \
				-o "$dir/$name.plain" || fail "$name: image decrypt failed"
		fi
	done
}

if [ -z "${VM_JOB:-}" ]; then
	[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
	command -v mke2fs >/dev/null || [ -x /usr/sbin/mke2fs ] || { echo "SKIP: no mke2fs" >&2; exit 77; }
	work=$TEST_TMP # removed on exit
	host_prepare "$work"
	rc=0
	"$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1500}" -- bash "$here/$(basename "$0")" "$work" || rc=$?
	exit "$rc"
fi

# ---- inside the VM ----
src_dir=$1
for c in cryptsetup e2fsck dmsetup; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
cd /tmp
cp "$src_dir/key" /tmp/key

# check_files MNT: the directory's files are in the filesystem.
check_files()
{
	cmp "$1/hello.txt" "$src_dir/src/hello.txt" || fail "hello.txt differs"
	cmp "$1/sub/random.bin" "$src_dir/src/sub/random.bin" || fail "random.bin differs"
	[ "$(readlink "$1/link")" = hello.txt ] || fail "symlink lost"
}

check()
{
	local name=$1 img=/tmp/$1.img mnt=/tmp/mnt-$1 sum sum2 size

	step "$name: copy to the VM's /tmp, luksDump"
	cp "$src_dir/$name.img" "$img"
	cryptsetup luksDump "$img" >/dev/null || fail "$name: luksDump"
	step "$name: cryptsetup open (default mode), read every sector"
	cryptsetup open --readonly --key-file key "$img" "$name"
	dd if="/dev/mapper/$name" of=/dev/null bs=1M iflag=direct status=none ||
		fail "$name: a sector of the fresh image does not read"
	size=$(blockdev --getsize64 "/dev/mapper/$name")
	[ "$size" -ge $((48 * 1024 * 1024)) ] || fail "$name: mapped size $size < 48 MiB"
	if [ -f "$src_dir/$name.plain" ]; then
		cmp "/dev/mapper/$name" "$src_dir/$name.plain" ||
			fail "$name: kernel plaintext differs from sealmount image decrypt"
		echo "$name: /dev/mapper/$name == sealmount image decrypt output"
	fi
	e2fsck -fn "/dev/mapper/$name" >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; fail "$name: e2fsck"; }
	mkdir -p "$mnt"
	mount -o ro,noload "/dev/mapper/$name" "$mnt"
	check_files "$mnt"
	umount "$mnt"
	cryptsetup close "$name"
	step "$name: open as the sidecar does (no-journal, persistent), mount rw, write"
	cryptsetup open --key-file key --integrity-no-journal --persistent "$img" "$name"
	mount "/dev/mapper/$name" "$mnt"
	head -c 2M /dev/urandom >"$mnt/new.bin"
	sum=$(sha256sum <"$mnt/new.bin")
	umount "$mnt"
	cryptsetup close "$name"
	step "$name: reopen, read back, e2fsck"
	cryptsetup open --readonly --key-file key "$img" "$name"
	e2fsck -fn "/dev/mapper/$name" >/tmp/fsck.log 2>&1 || { cat /tmp/fsck.log; fail "$name: e2fsck after write"; }
	dd if="/dev/mapper/$name" of=/dev/null bs=1M iflag=direct status=none ||
		fail "$name: unreadable sector after write"
	mount -o ro,noload "/dev/mapper/$name" "$mnt"
	sum2=$(sha256sum <"$mnt/new.bin")
	[ "$sum" = "$sum2" ] || fail "$name: written data changed across reopen"
	check_files "$mnt"
	umount "$mnt"
	cryptsetup close "$name"
	if [ -n "${SEALMOUNT:-}" ] && [ "$name" != none ]; then
		"$SEALMOUNT" image inspect --require-integrity "$img" | grep -q 'no-journal' ||
			fail "$name: no-journal flag not seen after --persistent"
	fi
	rm -f "$img"
}

step "VM up: $(uname -r)"
for cfg in "${CONFIGS[@]}"; do
	read -r name _ <<<"$cfg"
	check "$name"
done
if dmsetup ls 2>/dev/null | grep -qv 'No devices'; then
	fail "dm devices left: $(dmsetup ls)"
fi
step "OK"
