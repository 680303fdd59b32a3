#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-verity.sh - the kernel engine's dm-verity (verity_dm.h, docs/verity.md) with Debian's
# stock kernel, through tests/helpers/verity_dm on a read-only loop device holding the whole
# sealed image:
#   - an image made by `sealmount image create --verity` activates (table read back and
#     checked) and reads byte-exact (the first D bytes of the file); dm-crypt + dm-integrity on
#     top (`cryptsetup open` of the verity device) mount ext4 and give the files back, and the
#     kernel's plaintext equals `sealmount image decrypt --root-hash`;
#   - a flipped byte in a data block reads as EIO at exactly that block; in the LUKS2 header
#     (block 0) and in the top hash block the activation is refused; in a level-0 hash block
#     the blocks it covers read as EIO;
#   - an older image made with the same key (another root hash) is refused;
#   - an image sealed by `veritysetup format` opens with the root hash veritysetup printed, and
#     veritysetup's own `open` of our image reads the same bytes;
#   - a publisher-signed image opens with the public key at its version and is refused with a
#     higher --min-version.
#
# On the host this re-runs itself inside the VM through vm-run.sh (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1500}" -- bash "$here/$(basename "$0")" "$@"
fi

. "$here/../integration/functions.sh"
for c in cryptsetup veritysetup losetup mkfs.ext4 jq xxd openssl cmp; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
[ -n "${SEALMOUNT:-}" ] || { echo "SKIP: SEALMOUNT not set" >&2; exit 77; }
vdm=${BUILD_DIR:-}/tests/helpers/verity_dm
[ -x "$vdm" ] || { echo "SKIP: $vdm not built" >&2; exit 77; }
dmsetup targets | grep -qw verity || fail "no dm-verity target in the VM kernel"
cd /tmp # a tmpfs in the VM
mkdir -p src mnt
echo "hello sealed kernel" >src/hello.txt
head -c $((2 * 1024 * 1024)) /dev/urandom >src/random.bin
head -c 32 /dev/urandom >key

root_of() { sed -n 's/^root-hash: \([0-9a-f]\{64\}\)$/\1/p' "$1"; }
flip()
{
	local b

	b=$(xxd -s "$2" -l 1 -p "$1")
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "$(printf '\\x%02x' $((0x$b ^ 1)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
LOOPS=()
cleanup()
{
	local l

	umount mnt 2>/dev/null || true
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
}
trap cleanup EXIT
attach() # IMG -> prints the loop device
{
	local l

	l=$(losetup -r -f --show "$1")
	LOOPS+=("$l")
	echo "$l"
}
# copy_rc IMG TRUST... : the helper's exit code copying IMG's verity device to out.bin
copy_rc()
{
	local img=$1 l rc=0

	shift
	l=$(attach "$img")
	"$vdm" copy "$l" smv-test "$@" out.bin >copy.log 2>&1 || rc=$?
	losetup -d "$l"
	cat copy.log
	return "$rc"
}

step "image create --verity, activate, read byte-exact"
"$SEALMOUNT" image create --from-dir src --key-file key -o a.img --size 24M \
	--pbkdf-iterations 1000 --verity >a.out 2>/dev/null
ROOT=$(root_of a.out)
D=$("$SEALMOUNT" image inspect a.img --json 2>/dev/null | jq -r .verity.hash_offset)
copy_rc a.img --root-hash "$ROOT" || fail "activation or read failed"
grep -q "corrupted: no" copy.log || fail "status not V"
head -c "$D" a.img | cmp - out.bin || fail "dm-verity bytes differ from the image"

step "dm-crypt + dm-integrity on dm-verity: mount and read the files"
L=$(attach a.img)
cat >stack.sh <<'EOF'
set -e
cryptsetup open --readonly --key-file key "$VERITY_DEV" smv-crypt
trap 'cryptsetup close smv-crypt' EXIT
dd if=/dev/mapper/smv-crypt of=kernel.plain bs=1M iflag=direct status=none
mount -o ro,noload /dev/mapper/smv-crypt mnt
trap 'umount mnt; cryptsetup close smv-crypt' EXIT
cmp mnt/hello.txt src/hello.txt
cmp mnt/random.bin src/random.bin
EOF
"$vdm" run "$L" smv-test --root-hash "$ROOT" -- bash stack.sh || fail "the stack over dm-verity"
losetup -d "$L"
"$SEALMOUNT" image decrypt a.img --key-file key --root-hash "$ROOT" -o user.plain 2>/dev/null
cmp kernel.plain user.plain || fail "kernel and user engine plaintext differ"

step "a flipped data byte reads as EIO at that block"
BLK=$(((D / 4096) * 3 / 4))
cp a.img t.img
flip t.img $((BLK * 4096 + 1000))
RC=0
copy_rc t.img --root-hash "$ROOT" || RC=$?
[ "$RC" = 3 ] || fail "data: exit $RC, expected 3 (EIO)"
grep -q "EIO at byte $((BLK * 4096))$" copy.log || fail "data: wrong block: $(cat copy.log)"
grep -q "corrupted: yes" copy.log || fail "data: status not C"
"$SEALMOUNT" image decrypt t.img --key-file key --root-hash "$ROOT" -o - 2>err.log >/dev/null &&
	fail "user engine read the tampered image"
grep -q "data block $BLK " err.log || fail "user engine: $(cat err.log)"

step "a flipped LUKS2 header byte, and the top hash block: activation refused"
cp a.img t.img
flip t.img 300
RC=0
copy_rc t.img --root-hash "$ROOT" || RC=$?
[ "$RC" = 2 ] || fail "header: exit $RC, expected 2 (refused)"
grep -q "block 0" copy.log || fail "header: $(cat copy.log)"
cp a.img t.img
flip t.img $((D + 4096 + 10))
RC=0
copy_rc t.img --root-hash "$ROOT" || RC=$?
[ "$RC" = 2 ] || fail "top hash block: exit $RC, expected 2"

step "a flipped level-0 hash byte: its blocks read as EIO"
cp a.img t.img
flip t.img $((D + 4096 + 4096 + 4096 + 64)) # level 0, block 1: data blocks 128..255
RC=0
copy_rc t.img --root-hash "$ROOT" || RC=$?
[ "$RC" = 3 ] || fail "hash: exit $RC, expected 3"
grep -q "EIO at byte $((128 * 4096))$" copy.log || fail "hash: $(cat copy.log)"

step "an older image with the same key is refused"
echo "older" >src/hello.txt
"$SEALMOUNT" image create --from-dir src --key-file key -o old.img --size 24M \
	--pbkdf-iterations 1000 --verity >old.out 2>/dev/null
RC=0
copy_rc old.img --root-hash "$ROOT" || RC=$?
[ "$RC" = 2 ] || fail "older image: exit $RC, expected 2"
copy_rc old.img --root-hash "$(root_of old.out)" || fail "older image with its own root"

step "veritysetup's seal opens; veritysetup open reads ours the same"
"$SEALMOUNT" image create --from-dir src --key-file key -o u.img --size 24M \
	--pbkdf-iterations 1000 2>/dev/null
cp u.img u-orig.img
UD=$(stat -c %s u.img)
VROOT=$(veritysetup format --hash-offset="$UD" u.img u.img | awk '/^Root hash:/ { print $3 }')
copy_rc u.img --root-hash "$VROOT" || fail "veritysetup's seal refused"
cmp u-orig.img out.bin || fail "veritysetup-sealed image reads differently"
L=$(attach a.img)
veritysetup open --hash-offset="$D" "$L" smv-vs "$L" "$ROOT"
dd if=/dev/mapper/smv-vs of=vs.bin bs=1M iflag=direct status=none
veritysetup close smv-vs
losetup -d "$L"
head -c "$D" a.img | cmp - vs.bin || fail "veritysetup open of our image reads differently"

step "publisher-signed image: the key at its version opens it, a higher minimum does not"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out priv.pem 2>/dev/null
openssl pkey -in priv.pem -pubout -out pub.pem
cp a.img s.img
"$SEALMOUNT" image sign s.img --key priv.pem --version 3 >/dev/null 2>&1
copy_rc s.img --publisher-key pub.pem --min-version 3 || fail "signed image refused"
head -c "$D" a.img | cmp - out.bin || fail "signed image reads differently"
RC=0
copy_rc s.img --publisher-key pub.pem --min-version 4 || RC=$?
[ "$RC" = 2 ] || fail "min version 4: exit $RC, expected 2"
grep -q "below the minimum" copy.log || fail "min version: $(cat copy.log)"
if dmsetup ls | grep smv- >/dev/null; then fail "dm devices left: $(dmsetup ls)"; fi
echo "test-vm-verity: all passed"
