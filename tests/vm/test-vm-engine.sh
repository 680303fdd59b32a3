#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-engine.sh - the userspace engine is bit-exact with the kernel (issue 7; docs/luks2.md,
# docs/dm-crypt.md, docs/dm-integrity.md). In the VM, for images made by real cryptsetup -
# hmac(sha256) at 4096 and 512-byte sectors, aes-gcm-random + aead with an argon2id keyslot, and no
# integrity - holding an ext4 filesystem and data written by the kernel:
#   - `sealmount image decrypt` output equals the kernel's /dev/mapper bytes (cmp);
#   - bytes written through the engine (tests/helpers/engine_rw, unaligned: read-modify-write)
#     are read back by the kernel, every tag accepted;
#   - one flipped ciphertext byte: the kernel read fails (EILSEQ/EIO) and decrypt exits 1,
#     naming the sector the kernel names;
#   - journal replay (docs/dm-integrity.md, Journal replay): a copy of a J-mode image taken while
#     active, with committed writes only in the journal, decrypts to what the kernel reads after its
#     own replay (the engine overlays read-only), and an engine read-write open (replay in place,
#     journal re-formatted) leaves an image the kernel reads identically.
# The 4096-byte dm-integrity superblock of the hmac-4k image (40 MiB file) is left in
# $VM_EXPORT_DIR as dmi-sb-hmac-sha256-4k-40M.bin (tests/data, used by test_dmi.c).
#
# On the host this re-runs itself inside the VM through vm-run.sh (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1500}" -- bash "$here/$(basename "$0")" "$@"
fi

. "$here/../integration/functions.sh"
for c in cryptsetup mkfs.ext4 dmsetup cmp; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
[ -n "${SEALMOUNT:-}" ] || { echo "SKIP: SEALMOUNT not set" >&2; exit 77; }
engine_rw=${BUILD_DIR:-}/tests/helpers/engine_rw
[ -x "$engine_rw" ] || { echo "SKIP: $engine_rw not built" >&2; exit 77; }
export_dir=$VM_JOB/export
mkdir -p "$export_dir"
cd /tmp
head -c 32 /dev/urandom >key

# kernel_read NAME IMG OUT: the kernel's plaintext of IMG (read-only activation).
kernel_read()
{
	cryptsetup open --readonly --key-file key "$2" "$1"
	dd if="/dev/mapper/$1" of="$3" bs=1M iflag=direct status=none
	cryptsetup close "$1"
}

# check NAME INTEGRITY(yes|no) FORMAT-ARGS...
check()
{
	local name=$1 integ=$2 img=/tmp/$1.img mnt=/tmp/mnt-$1 size off ksec esec
	shift 2
	step "$name: luksFormat $*"
	truncate -s 40M "$img"
	cryptsetup luksFormat -q --type luks2 --key-file key "$@" "$img"
	if [ "$name" = hmac-sha256-4k ]; then
		dd if="$img" of="$export_dir/dmi-sb-hmac-sha256-4k-40M.bin" bs=4096 skip=4096 \
			count=1 status=none
	fi
	step "$name: kernel writes a filesystem and data (journal mode)"
	cryptsetup open --key-file key "$img" "$name"
	mkfs.ext4 -q "/dev/mapper/$name"
	mkdir -p "$mnt"
	mount "/dev/mapper/$name" "$mnt"
	head -c 3M /dev/urandom >"$mnt/data"
	umount "$mnt"
	cryptsetup close "$name"

	step "$name: engine decrypt == kernel plaintext"
	kernel_read "$name" "$img" "/tmp/$name.kernel"
	rm -f "/tmp/$name.engine"
	"$SEALMOUNT" image decrypt "$img" --key-file key -o "/tmp/$name.engine" ||
		fail "$name: decrypt failed"
	cmp "/tmp/$name.kernel" "/tmp/$name.engine" || fail "$name: engine != kernel"
	size=$(stat -c %s "/tmp/$name.kernel")
	echo "$name: $size plaintext bytes identical"

	step "$name: engine writes (unaligned), kernel reads"
	head -c 1000000 /dev/urandom >"/tmp/$name.patch"
	off=$((size / 2 + 1234))
	"$engine_rw" "$img" key "$off" "/tmp/$name.patch" || fail "$name: engine write failed"
	kernel_read "$name" "$img" "/tmp/$name.kernel2"
	cmp -n 1000000 -i "$off:0" "/tmp/$name.kernel2" "/tmp/$name.patch" ||
		fail "$name: kernel does not read the engine's bytes"
	cmp -n "$off" "/tmp/$name.kernel2" "/tmp/$name.kernel" ||
		fail "$name: bytes before the engine write changed"
	rm -f "/tmp/$name.engine"
	"$SEALMOUNT" image decrypt "$img" --key-file key -o "/tmp/$name.engine" ||
		fail "$name: decrypt after engine write failed"
	cmp "/tmp/$name.kernel2" "/tmp/$name.engine" || fail "$name: engine != kernel after write"

	if [ "$integ" = yes ]; then
		step "$name: one flipped byte fails in both"
		printf '\x5a' | dd of="$img" bs=1 seek=$((30 * 1048576 + 777)) conv=notrunc status=none
		dmesg -C 2>/dev/null || true
		cryptsetup open --readonly --key-file key "$img" "$name"
		if dd if="/dev/mapper/$name" of=/dev/null bs=1M iflag=direct status=none \
			2>"/tmp/$name.dd"; then
			fail "$name: kernel read the tampered device without error"
		fi
		grep -Eq 'Invalid or incomplete multibyte|Input/output error' "/tmp/$name.dd" ||
			fail "$name: kernel: $(cat "/tmp/$name.dd")"
		cryptsetup close "$name"
		ksec=$(dmesg 2>/dev/null | grep -o 'INTEGRITY AEAD ERROR, sector [0-9]*' |
			head -1 | grep -o '[0-9]*$' || true)
		rm -f "/tmp/$name.engine"
		if "$SEALMOUNT" image decrypt "$img" --key-file key -o "/tmp/$name.engine" \
			2>"/tmp/$name.err"; then
			fail "$name: decrypt of the tampered image succeeded"
		fi
		esec=$(grep -o 'Integrity error at sector [0-9]*' "/tmp/$name.err" | grep -o '[0-9]*$') ||
			fail "$name: decrypt did not name the sector: $(cat "/tmp/$name.err")"
		echo "$name: kernel sector ${ksec:-?}, engine sector $esec"
		[ -z "$ksec" ] || [ "$ksec" = "$esec" ] || fail "$name: sectors differ"
	fi
	rm -f "$img" /tmp/"$name".*
}

# crash NAME: J-mode writes left in the journal of a copy taken while the device is active.
crash()
{
	local name=$1 img=/tmp/$1.img copy=/tmp/$1.crash i
	step "$name: journal replay of a copy taken while active"
	truncate -s 40M "$img"
	cryptsetup luksFormat -q --type luks2 --key-file key --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --integrity hmac-sha256 --sector-size 4096 "$img"
	cryptsetup open --key-file key "$img" "$name"
	dmsetup suspend "$name" && dmsetup resume "$name"
	for i in 1 2 3; do
		head -c 8192 /dev/urandom >"/tmp/$name.w$i"
		dd if="/tmp/$name.w$i" of="/dev/mapper/$name" bs=4096 seek=$((1000 + i % 2)) \
			oflag=direct,sync status=none
	done
	cp "$img" "$copy"
	cryptsetup close "$name"
	cp "$copy" "$copy.rw"
	rm -f "/tmp/$name.engine"
	"$SEALMOUNT" image decrypt "$copy" --key-file key -o "/tmp/$name.engine" 2>"/tmp/$name.err" ||
		fail "$name: decrypt of the crash copy failed: $(cat "/tmp/$name.err")"
	grep -q 'replaying' "/tmp/$name.err" || fail "$name: no journal entries found to replay"
	kernel_read "$name" "$copy" "/tmp/$name.kernel"
	cmp "/tmp/$name.kernel" "/tmp/$name.engine" || fail "$name: engine != kernel after replay"
	cmp -n 8192 -i $((1001 * 4096)):0 "/tmp/$name.kernel" "/tmp/$name.w3" ||
		fail "$name: the last journal write is not what the kernel reads"
	# one byte through the engine opened read-write: replays in place first
	head -c 1 /dev/zero >"/tmp/$name.one"
	"$engine_rw" "$copy.rw" key 0 "/tmp/$name.one" || fail "$name: engine_rw failed"
	dd if=/dev/zero of="/tmp/$name.kernel" bs=1 count=1 conv=notrunc status=none
	kernel_read "$name" "$copy.rw" "/tmp/$name.kernel2"
	cmp "/tmp/$name.kernel" "/tmp/$name.kernel2" ||
		fail "$name: after the engine's read-write replay the kernel reads other bytes"
	echo "$name: journal replay matches the kernel (read-only overlay and read-write)"
	rm -f "$img" "$copy" "$copy.rw" /tmp/"$name".*
}

step "VM up: $(uname -r)"
crash replay
pbkdf2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
check hmac-sha256-4k yes "${pbkdf2[@]}" --integrity hmac-sha256 --sector-size 4096
check hmac-sha256-512 yes "${pbkdf2[@]}" --integrity hmac-sha256 --sector-size 512
check aead-argon2id yes --pbkdf argon2id --pbkdf-memory 32768 --pbkdf-force-iterations 4 \
	--pbkdf-parallel 1 --cipher aes-gcm-random --integrity aead --key-size 256 --sector-size 4096
check plain no "${pbkdf2[@]}" --sector-size 4096
if dmsetup ls 2>/dev/null | grep -qv 'No devices'; then
	fail "dm devices left: $(dmsetup ls)"
fi
step "OK"
