#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-mount.sh - `sealmount mount --engine kernel` end to end on a stock kernel with real
# dm-crypt + dm-integrity (issue #6). In the VM: images made by real `cryptsetup luksFormat`
# (--integrity hmac-sha256 with 4096- and 512-byte sectors, and Microsoft-style without
# integrity, docs/luks2.md, Microsoft-style images), ext4 and files written by the kernel; then:
#   - read-only and read-write mounts with --key-file: files read back, writes refused (ro) or
#     kept across umount + mount (rw); the published link is relative (.filesystem-<i>);
#   - the same image as a blob in Azurite (--url), started inside the VM;
#   - a wrong passphrase is refused; hostile headers (cipher_null in keyslot or segment, an
#     extra keyslot or segment, copies that disagree) are refused before activation;
#   - one flipped ciphertext byte: reading the file fails with EIO or EILSEQ, never other data;
#   - after `sealmount umount`, after SIGTERM and after every refusal: no dm device, no loop
#     device, no FUSE mount, no .filesystem-* mount, directory or link left.
#
# On the host this re-runs itself inside the VM through vm-run.sh (meson suite 'vm').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" "$@"
fi
. "$here/../integration/functions.sh"

for c in cryptsetup mkfs.ext4 dmsetup losetup python3 node curl; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
[ -n "${SEALMOUNT:-}" ] || { echo "SKIP: SEALMOUNT not set (run through meson)" >&2; exit 77; }
MUTATE=$here/../helpers/luks2_mutate.py
W=$TEST_TMP
PUB=$W/pub # the shared "emptyDir"
MP=$PUB/share
mkdir -p "$PUB"
head -c 32 /dev/urandom >"$W/key"
head -c 32 /dev/urandom >"$W/wrong"

# make NAME FORMAT-ARGS...: a 40 MiB image with ext4 and two files, written by the kernel.
make_image()
{
	local name=$1 img=$W/$1.img

	shift
	step "$name: luksFormat $*"
	truncate -s 40M "$img"
	cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$W/key" "$@" "$img"
	cryptsetup open --key-file "$W/key" "$img" "mk-$name"
	mkfs.ext4 -q "/dev/mapper/mk-$name"
	mkdir -p "$W/mk"
	mount "/dev/mapper/mk-$name" "$W/mk"
	echo "hello from $name" >"$W/mk/hello.txt"
	head -c 12M /dev/urandom >"$W/mk/big"
	sha256sum <"$W/mk/big" >"$W/$name.big.sha"
	umount "$W/mk"
	cryptsetup close "mk-$name"
}

MOUNT_PID=
# start ARGS...: `sealmount mount ... $MP` in the background; wait for the ready file.
start()
{
	local i

	rm -f "$W/ready"
	"$SEALMOUNT" mount --engine kernel --ready-file "$W/ready" "$@" "$MP" >"$W/mount.log" 2>&1 &
	MOUNT_PID=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$W/ready" ] && return 0
		if ! kill -0 "$MOUNT_PID" 2>/dev/null; then
			cat "$W/mount.log" >&2
			fail "sealmount mount $* exited before it was ready"
		fi
		sleep 0.1
	done
	cat "$W/mount.log" >&2
	fail "sealmount mount $* not ready after 60 s"
}

# refuse WHAT PATTERN ARGS...: the mount must fail (exit 1) with PATTERN in its log.
refuse()
{
	local what=$1 pattern=$2 rc=0

	shift 2
	"$SEALMOUNT" mount --engine kernel "$@" "$MP" >"$W/refuse.log" 2>&1 || rc=$?
	[ "$rc" = 1 ] || { cat "$W/refuse.log" >&2; fail "$what: exit $rc, expected 1"; }
	grep -q -- "$pattern" "$W/refuse.log" ||
		{ cat "$W/refuse.log" >&2; fail "$what: no '$pattern' in the log"; }
	echo "$what: refused: $(grep -m1 -- "$pattern" "$W/refuse.log")"
	check_clean "$what"
}

check_clean()
{
	local what=$1

	if dmsetup ls 2>/dev/null | grep -qv 'No devices'; then
		fail "$what: dm devices left: $(dmsetup ls)"
	fi
	[ -z "$(losetup -a)" ] || fail "$what: loop devices left: $(losetup -a)"
	! awk '$3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts ||
		fail "$what: FUSE mount left: $(grep fuse /proc/mounts)"
	! grep -q '\.filesystem-' /proc/mounts || fail "$what: .filesystem mount left"
	[ -z "$(ls -A "$PUB")" ] || fail "$what: left in $PUB: $(ls -A "$PUB")"
}

stop_umount()
{
	"$SEALMOUNT" umount "$MP" || fail "sealmount umount failed"
	wait "$MOUNT_PID" || { cat "$W/mount.log" >&2; fail "sealmount mount exited $?"; }
	check_clean "after umount"
}

stop_sigterm()
{
	kill -TERM "$MOUNT_PID"
	wait "$MOUNT_PID" || { cat "$W/mount.log" >&2; fail "sealmount mount exited $? on SIGTERM"; }
	check_clean "after SIGTERM"
}

# ro_checks NAME: the published tree holds the kernel-written files and refuses writes.
ro_checks()
{
	local name=$1

	expect_eq "$(readlink "$MP")" ".filesystem-0" "link target"
	expect_eq "$(cat "$MP/hello.txt")" "hello from $name" "hello.txt"
	expect_eq "$(sha256sum <"$MP/big")" "$(cat "$W/$name.big.sha")" "big file"
	if echo x 2>"$W/w.err" >"$MP/new"; then
		fail "$name: write to a read-only mount succeeded"
	fi
	grep -q 'Read-only file system' "$W/w.err" || fail "$name: $(cat "$W/w.err")"
	grep " $PUB/.filesystem-0 " /proc/mounts | grep -q 'ro,nosuid,nodev' ||
		fail "$name: mount options: $(grep filesystem /proc/mounts)"
}

# Azurite straight from its package, started first: under TCG it needs minutes to come up,
# longer than launch.mjs waits.
AZ_PORT=10000
AZ_PID=
azurite_start()
{
	mkdir -p "$W/azurite"
	node "$EMULATORS/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" \
		--location "$W/azurite" --skipApiVersionCheck --disableTelemetry --silent \
		>"$W/azurite.log" 2>&1 &
	AZ_PID=$!
	cleanup_fn kill "$AZ_PID"
}
azurite_wait()
{
	local deadline=$((SECONDS + 600))

	while ! curl -s -m 5 -o /dev/null "http://127.0.0.1:$AZ_PORT/"; do
		kill -0 "$AZ_PID" 2>/dev/null || fail "Azurite exited: $(cat "$W/azurite.log")"
		[ "$SECONDS" -lt "$deadline" ] || fail "Azurite not up after 600 s"
		sleep 1
	done
	echo "Azurite up after $SECONDS s of the test"
}

step "VM up: $(uname -r)"
check_clean "start"
azurite_start

make_image hmac4k --integrity hmac-sha256 --sector-size 4096
step "hmac4k: read-only mount, umount"
start --image "$W/hmac4k.img" --key-file "$W/key"
dmsetup table sealmount-0_dif | grep -q ' 32 D ' || fail "integrity not in D mode: $(dmsetup table)"
ro_checks hmac4k
stop_umount

step "hmac4k: read-write mount: write, umount, mount again, data still there"
start --image "$W/hmac4k.img" --key-file "$W/key" --rw
expect_eq "$(cat "$MP/hello.txt")" "hello from hmac4k" "hello.txt (rw)"
echo "written through sealmount" >"$MP/new.txt"
head -c 2M /dev/urandom >"$MP/new.bin"
sha_new=$(sha256sum <"$MP/new.bin")
stop_sigterm
start --image "$W/hmac4k.img" --key-file "$W/key"
expect_eq "$(cat "$MP/new.txt")" "written through sealmount" "new.txt after remount"
expect_eq "$(sha256sum <"$MP/new.bin")" "$sha_new" "new.bin after remount"
stop_umount
"$SEALMOUNT" umount "$MP" 2>"$W/um.err" && fail "umount with nothing mounted succeeded"
grep -q 'Nothing is mounted' "$W/um.err" || fail "umount: $(cat "$W/um.err")"

step "refusals before activation"
refuse "wrong passphrase" "Wrong passphrase" --image "$W/hmac4k.img" --key-file "$W/wrong"
head -c 32768 "$W/hmac4k.img" >"$W/hmac4k.hdr"
for m in keyslot-cipher-null segment-cipher-null extra-keyslot extra-segment copies-disagree \
	integrity-null; do
	python3 "$MUTATE" "$W/hmac4k.hdr" "$W/evil.hdr" "$m" >/dev/null
	cp "$W/hmac4k.img" "$W/evil.img"
	dd if="$W/evil.hdr" of="$W/evil.img" conv=notrunc status=none
	refuse "header $m" "refused by rule" --image "$W/evil.img" --key-file "$W/key"
	rm -f "$W/evil.img"
done

make_image hmac512 --integrity hmac-sha256 --sector-size 512
step "hmac512: read-only mount"
start --image "$W/hmac512.img" --key-file "$W/key"
dmsetup table sealmount-0 | grep -q 'integrity:32:aead' || fail "no integrity: $(dmsetup table)"
ro_checks hmac512
stop_sigterm
rm -f "$W/hmac512.img"

make_image ms --sector-size 4096 --cipher aes-xts-plain64
step "Microsoft-style image: refused by default, mounted with --no-require-integrity"
refuse "ms without integrity" "refused by rule" --image "$W/ms.img" --key-file "$W/key"
start --image "$W/ms.img" --key-file "$W/key" --no-require-integrity --rw
expect_eq "$(cat "$MP/hello.txt")" "hello from ms" "hello.txt (ms)"
[ "$(dmsetup ls | wc -l)" = 1 ] || fail "ms: expected one dm device: $(dmsetup ls)"
echo ms-write >"$MP/ms.txt"
stop_umount
start --image "$W/ms.img" --key-file "$W/key" --no-require-integrity
expect_eq "$(cat "$MP/ms.txt")" "ms-write" "ms.txt after remount"
ro_checks ms
stop_umount

step "hmac4k as a blob in Azurite (--url)"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$W/acct"
azurite_wait
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs hmac4k.img "$W/hmac4k.img"
URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/hmac4k.img"
start --url "$URL" --account-key-file "$W/acct" --key-file "$W/key" --cache-mb 16
ro_checks hmac4k
stop_umount
start --url "$URL" --account-key-file "$W/acct" --key-file "$W/key" --rw
echo "written to the blob" >"$MP/blob.txt"
stop_umount
start --url "$URL" --account-key-file "$W/acct" --key-file "$W/key"
expect_eq "$(cat "$MP/blob.txt")" "written to the blob" "blob.txt after remount"
expect_eq "$(cat "$MP/new.txt")" "written through sealmount" "new.txt in the blob"
stop_sigterm

step "hmac4k: one flipped ciphertext byte per 3 MiB of the data area"
for ((off = 19; off < 40; off += 3)); do
	printf '\x5a' | dd of="$W/hmac4k.img" bs=1 seek=$((off * 1048576 + 777)) conv=notrunc status=none
done
start --image "$W/hmac4k.img" --key-file "$W/key"
if cat "$MP/big" >/dev/null 2>"$W/t.err"; then
	fail "tampered file read without error"
fi
grep -Eq 'Invalid or incomplete multibyte|Input/output error' "$W/t.err" ||
	fail "tampered read: $(cat "$W/t.err")"
echo "tampered read failed: $(cat "$W/t.err")"
stop_umount
rm -f "$W/hmac4k.img"

step "OK"
