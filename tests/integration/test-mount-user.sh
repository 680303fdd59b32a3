#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-mount-user.sh - `sealmount mount --engine user` on the host (FUSE + loop + ext4, no
# device-mapper): an image made by `sealmount image create` (hmac-sha256, 4096-byte sectors) is
# mounted read-only and read-write through the userspace engine (FUSE plaintext file -> loop ->
# ext4), published as a relative link; writes survive umount + mount; --engine auto picks the
# user engine where dm is missing and --engine kernel is refused; a wrong passphrase is
# refused; one flipped ciphertext byte makes reading the file fail (EIO/EILSEQ), never other
# data; nothing (loop, FUSE mount, .filesystem-*, link, state file) is left after umount,
# SIGTERM or a refusal; and end to end with attestation + key release against the stand-ins
# (simulated SNP, MAA, IMDS, Managed HSM): the released key opens the image inside `mount`.
# Needs root and a loop device (exit 77 otherwise).

. "$(dirname "$0")/functions.sh"

requires mkfs.ext4 losetup sha256sum
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount)" >&2; exit 77; }
[ -e /dev/loop-control ] && [ -e /dev/fuse ] || { echo "SKIP: no loop or fuse" >&2; exit 77; }

W=$TEST_TMP
PUB=$W/pub
MP=$PUB/share
WORK=$W/run # private FUSE directory (instead of /run/sealmount)
mkdir -p "$PUB" "$W/src"
echo "hello user engine" >"$W/src/hello.txt"
head -c 6M /dev/urandom >"$W/src/big"
SHA=$(sha256sum <"$W/src/big")
head -c 32 /dev/urandom >"$W/wrong"

step "image create (hmac-sha256, 4096)"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --new-key -o "$W/img" \
	--size 48M --pbkdf-iterations 1000 --no-journal >/dev/null

check_clean()
{
	local what=$1

	# Only what this test made: other tests may hold loop devices and mounts at the same time.
	! losetup -a | grep -qF "$W/" || fail "$what: loop left: $(losetup -a)"
	! grep -q " $WORK/" /proc/mounts || fail "$what: FUSE mount left"
	! grep -qF " $PUB/.filesystem-" /proc/mounts || fail "$what: .filesystem mount left"
	[ -z "$(ls -A "$PUB")" ] || fail "$what: left in $PUB: $(ls -A "$PUB")"
}

MOUNT_PID=
start()
{
	start_until_ready "$W/ready" "$W/mount.log" "$SEALMOUNT" mount --work-dir "$WORK" --index 5 \
		--ready-file "$W/ready" "$@" "$MP"
	MOUNT_PID=$BG_PID
}

refuse()
{
	local what=$1 pattern=$2 rc=0

	shift 2
	"$SEALMOUNT" mount --work-dir "$WORK" --index 5 "$@" "$MP" >"$W/refuse.log" 2>&1 || rc=$?
	[ "$rc" = 1 ] || { cat "$W/refuse.log" >&2; fail "$what: exit $rc, expected 1"; }
	grep -q -- "$pattern" "$W/refuse.log" ||
		{ cat "$W/refuse.log" >&2; fail "$what: no '$pattern' in the log"; }
	check_clean "$what"
}

step "read-only mount (--engine auto picks the user engine without dm)"
if ! [ -e /dev/mapper/control ] || ! dmsetup targets >/dev/null 2>&1; then
	refuse "kernel engine without dm" "needs device-mapper" --engine kernel --image "$W/img" \
		--key-file "$W/key"
	start --engine auto --image "$W/img" --key-file "$W/key"
	grep -q 'user engine' "$W/mount.log" || fail "auto did not pick the user engine"
else
	start --engine user --image "$W/img" --key-file "$W/key"
fi
expect_eq "$(readlink "$MP")" ".filesystem-5" "link"
expect_eq "$(cat "$MP/hello.txt")" "hello user engine" "hello.txt"
expect_eq "$(sha256sum <"$MP/big")" "$SHA" "big"
# Where the middle of big lives in the image: its filesystem block (filefrag), mapped through
# dm-integrity's layout for area 0 (docs/dm-integrity.md, Layout, T = 32, 4 KiB blocks: 16 MiB LUKS2
# header, 8 superblock sectors + journal_sections * 264, 256 sectors of tags, then data).
b0=$(filefrag -v -b4096 "$MP/big" | awk '$1 == "0:" { sub(/\.\.$/, "", $4); print $4 }')
[ -n "$b0" ] || fail "filefrag: no extent for big"
js=$(od -An -tu4 -j $((16777216 + 12)) -N4 "$W/img" | tr -d ' ')
TAMPER=$(((32768 + 8 + js * 264 + 256) * 512 + (b0 + 768) * 4096 + 100))
if echo x 2>"$W/err" >"$MP/new"; then fail "write to a read-only mount succeeded"; fi
grep -q 'Read-only file system' "$W/err" || fail "ro write: $(cat "$W/err")"
"$SEALMOUNT" umount "$MP"
wait "$MOUNT_PID" || fail "mount exited $?"
check_clean "after umount"

step "read-write: write, SIGTERM, mount again"
start --engine user --rw --image "$W/img" --key-file "$W/key"
echo "written" >"$MP/new.txt"
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID" || fail "mount exited $? on SIGTERM"
check_clean "after SIGTERM"
start --engine user --image "$W/img" --key-file "$W/key"
expect_eq "$(cat "$MP/new.txt")" "written" "new.txt after remount"
"$SEALMOUNT" umount "$MP"
wait "$MOUNT_PID" || true

step "refusals"
refuse "wrong passphrase" "Wrong passphrase" --engine user --image "$W/img" --key-file "$W/wrong"
{ cat "$W/key"; echo; } >"$W/key-nl" # the key as `echo` would write it
refuse "key file with a newline" "ends with a newline" --engine user --image "$W/img" \
	--key-file "$W/key-nl"
refuse "not a LUKS2 image" "$W/src/hello.txt: .*not a LUKS2 image" --engine user \
	--image "$W/src/hello.txt" --key-file "$W/key"

step "tamper: flip one ciphertext byte in the middle of big (image offset $TAMPER)"
[ "$TAMPER" -lt $((32 * 1048576)) ] || fail "big is not in the first data area"
printf '\x5a' | dd of="$W/img" bs=1 seek="$TAMPER" conv=notrunc status=none
start --engine user --image "$W/img" --key-file "$W/key"
if cat "$MP/big" >/dev/null 2>"$W/err"; then fail "tampered file read without error"; fi
grep -Eq 'Input/output error|Invalid or incomplete multibyte' "$W/err" ||
	fail "tampered read: $(cat "$W/err")"
echo "tampered read failed: $(cat "$W/err")"
"$SEALMOUNT" umount "$MP"
wait "$MOUNT_PID" || true
check_clean "after tamper"

step "end to end: simulated SNP -> MAA -> IMDS -> HSM stand-ins, key release inside mount"
SIM=$W/sim
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT --client-id test-client-1 --thim "$SIM/thim.json"
emu_start hsm HSM_PORT --ca-out "$W/hsm-ca.pem" --resource https://vault.azure.net
MAA="http://127.0.0.1:$MAA_PORT"
REL=(--vault "https://localhost:$HSM_PORT" --maa "$MAA" --imds "http://127.0.0.1:$IMDS_PORT"
	--ca-file "$W/hsm-ca.pem")
HOSTDATA=$("$SEALMOUNT" attest --maa "$MAA" --snp "sim:$SIM" --claims 2>/dev/null |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
		["x-ms-sevsnpvm-hostdata"])')
"$SEALMOUNT" key import "${REL[@]}" --kid mountkey --hostdata "$HOSTDATA" \
	--passphrase-out "$W/released.key" >/dev/null 2>&1 || fail "key import failed"
rm -rf "$W/src/big"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/released.key" -o "$W/rel.img" \
	--size 16M --pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create failed"
start --engine user --image "$W/rel.img" "${REL[@]}" --kid mountkey --snp "sim:$SIM"
grep -q 'released key' "$W/mount.log" || fail "no release logged"
expect_eq "$(cat "$MP/hello.txt")" "hello user engine" "hello.txt via key release"
"$SEALMOUNT" umount "$MP"
wait "$MOUNT_PID" || true
check_clean "after release mount"
# Another key in the vault does not open the image.
"$SEALMOUNT" key import "${REL[@]}" --kid otherkey --hostdata "$HOSTDATA" >/dev/null 2>&1 ||
	fail "key import (other) failed"
refuse "released key of another image" "Wrong passphrase" --engine user --image "$W/rel.img" \
	"${REL[@]}" --kid otherkey --snp "sim:$SIM"
# Both a key file and release options: usage error (exit 2).
rc=0
"$SEALMOUNT" mount --image "$W/rel.img" --key-file "$W/key" "${REL[@]}" --kid x "$MP" \
	2>/dev/null || rc=$?
expect_eq "$rc" 2 "key file + release options"
echo "OK"
