#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-dm-integrity.sh - prove the VM rig gives us real dm-crypt + dm-integrity: in the VM,
# `cryptsetup luksFormat --integrity hmac-sha256` (4096- and 512-byte sectors) and
# `--cipher aes-gcm-random --integrity aead`, open, mkfs.ext4, write, read back after a reopen,
# and one flipped byte reads as EIO. sealmount's header validation accepts every image with
# --require-integrity. The headers (first 32 KiB) are left in $VM_EXPORT_DIR when that is set:
# that is how tests/data/luks2-hmac-sha256-*.hdr and luks2-aead.hdr were made.
#
# On the host this re-runs itself inside the VM through vm-run.sh (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-900}" -- bash "$here/$(basename "$0")" "$@"
fi

. "$here/../integration/functions.sh"
for c in cryptsetup mkfs.ext4 dmsetup; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
export_dir=$VM_JOB/export
mkdir -p "$export_dir"
cd /tmp
head -c 32 /dev/urandom >key

# check NAME FORMAT-ARGS...: format, validate, open, mkfs, write, reopen, read, tamper.
check()
{
	local name=$1 img=/tmp/$1.img mnt=/tmp/mnt-$1 sum sum2 off

	shift
	step "$name: luksFormat $*"
	truncate -s 40M "$img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file key "$@" "$img"
	head -c 32768 "$img" >"$export_dir/luks2-$name.hdr"
	if [ -n "${SEALMOUNT:-}" ]; then
		"$SEALMOUNT" image inspect --require-integrity "$img" || fail "$name: inspect refused"
	fi
	step "$name: open, mkfs, write"
	# As Microsoft's sidecar opens: the persistent no-journal flag rewrites the header.
	cryptsetup open --key-file key --integrity-no-journal --persistent "$img" "$name"
	dmsetup table "$name" | grep -q 'integrity:' || fail "$name: no integrity in the table"
	head -c 32768 "$img" >"$export_dir/luks2-$name-nojournal.hdr"
	if [ -n "${SEALMOUNT:-}" ]; then
		"$SEALMOUNT" image inspect --require-integrity "$img" | grep -q 'no-journal' ||
			fail "$name: no-journal flag not seen"
	fi
	mkfs.ext4 -q "/dev/mapper/$name"
	mkdir -p "$mnt"
	mount "/dev/mapper/$name" "$mnt"
	head -c 3M /dev/urandom >"$mnt/data"
	sum=$(sha256sum <"$mnt/data")
	umount "$mnt"
	cryptsetup close "$name"
	step "$name: reopen read-only, read back"
	cryptsetup open --readonly --key-file key "$img" "$name"
	mount -o ro,noload "/dev/mapper/$name" "$mnt"
	sum2=$(sha256sum <"$mnt/data")
	[ "$sum" = "$sum2" ] || fail "$name: data changed across reopen"
	umount "$mnt"
	cryptsetup close "$name"
	step "$name: one flipped byte per MiB of the data area reads as EIO"
	for ((off = 18; off < 40; off += 3)); do
		printf '\x5a' | dd of="$img" bs=1 seek=$((off * 1048576 + 777)) conv=notrunc status=none
	done
	cryptsetup open --readonly --key-file key "$img" "$name"
	if dd if="/dev/mapper/$name" of=/dev/null bs=1M iflag=direct status=none 2>"/tmp/$name.dd"; then
		fail "$name: tampered device read without error"
	fi
	# Kernel 6.1 reports an authentication failure as EILSEQ (BLK_STS_PROTECTION from
	# dm-crypt's -EBADMSG / dm-integrity's -EILSEQ); EIO is accepted too.
	grep -Eq 'Invalid or incomplete multibyte|Input/output error' "/tmp/$name.dd" ||
		fail "$name: $(cat "/tmp/$name.dd")"
	echo "$name: tampered read failed: $(cat "/tmp/$name.dd")"
	cryptsetup close "$name"
	rm -f "$img"
}

step "VM up: $(uname -r)"
check hmac-sha256-4k --integrity hmac-sha256 --sector-size 4096
check hmac-sha256-512 --integrity hmac-sha256 --sector-size 512
check aead --cipher aes-gcm-random --integrity aead --key-size 256 --sector-size 4096
step "Microsoft-style image (generatefs.sh flags), opened as the sidecar does"
img=/tmp/ms.img
truncate -s 40M "$img"
cryptsetup luksFormat -q --type luks2 --key-file key -v --batch-mode --sector-size 4096 \
	--cipher aes-xts-plain64 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$img" >/dev/null
cryptsetup open "$img" ms --key-file key --integrity-no-journal --persistent
mkfs.ext4 -q /dev/mapper/ms
cryptsetup close ms
head -c 32768 "$img" >"$export_dir/luks2-ms-persistent.hdr"
if [ -n "${SEALMOUNT:-}" ]; then
	"$SEALMOUNT" image inspect "$img" || fail "ms: inspect refused"
	if "$SEALMOUNT" image inspect --require-integrity "$img" 2>/dev/null; then
		fail "ms: --require-integrity accepted an image without integrity"
	fi
fi
rm -f "$img"

if dmsetup ls 2>/dev/null | grep -qv 'No devices'; then
	fail "dm devices left: $(dmsetup ls)"
fi
step "OK"
