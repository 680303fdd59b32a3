#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-engine.sh - decrypt + verify throughput of the userspace engine on one core, against the
# OpenSSL limit for the same primitives (issue 7 "Benchmark"; not a timed test).
#
#   scripts/bench-engine.sh [BUILD_DIR] [SIZE_MIB]     defaults: build-engine, 256
#
# For each shape it builds an image (hmac/aead: `sealmount image create` with PBKDF2 at 1000
# iterations so unlocking is negligible; none: `cryptsetup luksFormat` on a file), times
# `sealmount image decrypt IMAGE -o - >/dev/null`, and prints MB/s by user CPU time (the
# engine's own work, robust on a shared machine), by user + sys (adds the file reads) and by
# wall time, and the ratios to the limit: 1 / (1/XTS + 1/HMAC) for hmac(sha256), GCM for aead, XTS for none, all from
# `openssl speed -evp ... -bytes 4096`. Target: >= 0.7.
#
#   scripts/bench-engine.sh --vm [BUILD_DIR] [SIZE_MIB]            defaults: build-engine, 64
#
# VM mode (tests/vm/vm-run.sh, real dm-crypt + dm-integrity): one hmac-sha256 image with 4096-byte
# sectors, read sequentially through the userspace engine (`image decrypt` to /dev/null) and
# through the kernel (`cryptsetup open`, dd of /dev/mapper/... with O_DIRECT); prints MB/s by
# wall time and the ratio user/kernel. qemu TCG emulates the CPU (AES-NI too): indicative only.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = --vm ]; then
	shift
	bdir=$(cd "${1:-$top/build-engine}" && pwd)
	exec "$top/tests/vm/vm-run.sh" --timeout 1500 -- \
		bash "$top/scripts/bench-engine.sh" --in-vm "$bdir" "${2:-64}"
fi
if [ "${1:-}" = --in-vm ]; then
	bdir=$2 mib=$3
	sm=$bdir/src/cli/sealmount
	cd "$(mktemp -d /tmp/bench-vm.XXXXXX)" # /tmp is a tmpfs in the VM; 9p has no O_DIRECT
	mkdir dir
	head -c 1M /dev/urandom >dir/file
	head -c 32 /dev/urandom >key
	"$sm" image create --from-dir dir --key-file key -o img --size "${mib}M" \
		--integrity hmac-sha256 --pbkdf-iterations 1000 >/dev/null 2>create.log ||
		{ cat create.log >&2; exit 1; }
	# wall seconds of "$@" (stdout discarded)
	wall()
	{
		local t0

		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(date +%s%N)
		"$@" >/dev/null 2>>err.log || { cat err.log >&2; exit 1; }
		awk -v d=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.3f", d / 1e9 }'
	}
	tu=$(wall "$sm" image decrypt img --key-file key -o -)
	cryptsetup open --readonly --key-file key img bench
	bytes=$(blockdev --getsize64 /dev/mapper/bench)
	tk=$(wall dd if=/dev/mapper/bench of=/dev/null bs=1M iflag=direct status=none)
	cryptsetup close bench
	echo "VM ($(nproc) vCPU, qemu TCG): sequential read of a ${mib} MiB hmac-sha256 4k image" \
		"($bytes plaintext bytes)"
	awk -v b="$bytes" -v u="$tu" -v k="$tk" 'BEGIN {
		printf "%-22s %9s %8s\n", "engine", "seconds", "MB/s"
		printf "%-22s %9.2f %8.1f\n", "user (image decrypt)", u, b / u / 1e6
		printf "%-22s %9.2f %8.1f\n", "kernel (dm, dd)", k, b / k / 1e6
		printf "ratio user/kernel throughput: %.2f\n", k / u }'
	exit 0
fi
bdir=$(cd "${1:-$top/build-engine}" && pwd)
mib=${2:-256}
sm=$bdir/src/cli/sealmount
[ -x "$sm" ] || { echo "bench-engine: build $sm first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-engine.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# openssl speed at 4096-byte blocks, in MB/s (it prints 1000s of bytes per second).
speed()
{
	openssl speed -seconds 2 -bytes 4096 "$@" 2>/dev/null | tail -1 |
		awk '{ v = $NF; sub(/k$/, "", v); printf "%.0f\n", v / 1000 }'
}
xts=$(speed -evp aes-256-xts)
hmac=$(speed -hmac sha256)
gcm=$(speed -evp aes-256-gcm)
lim_hmac=$(awk -v a="$xts" -v b="$hmac" 'BEGIN { printf "%.0f", 1 / (1 / a + 1 / b) }')

mkdir -p dir
head -c 1M /dev/urandom >dir/file
head -c 32 /dev/urandom >key

# run NAME IMAGE LIMIT
run()
{
	local name=$1 img=$2 lim=$3 t e u s cpu bytes
	/usr/bin/time -o time.out -f '%e %U %S' "$sm" image decrypt "$img" --key-file key -o - \
		2>/dev/null >/dev/null
	t=$(tail -1 time.out)
	read -r e u s <<<"$t"
	bytes=$((mib * 1048576))
	awk -v n="$name" -v b="$bytes" -v u="$u" -v s="$s" -v e="$e" -v l="$lim" 'BEGIN {
		if (u < 0.01) u = 0.01
		mu = b / u / 1e6; mc = b / (u + s) / 1e6; mw = b / e / 1e6
		printf "%-14s %8.0f %8.0f %8.0f %7.0f %6.2f %6.2f %6.2f\n", n, mu, mc, mw, l,
			mu / l, mc / l, mw / l }'
}

echo "openssl speed (MB/s, 4096-byte blocks): aes-256-xts $xts, hmac(sha256) $hmac," \
	"aes-256-gcm $gcm; hmac limit 1/(1/xts+1/hmac) = $lim_hmac"
echo "MB/s by user CPU time (the crypto), by user+sys (adds the kernel's file reads) and by wall"
echo "time (the machine may be shared); x = ratio to the limit."
printf '%-14s %8s %8s %8s %7s %6s %6s %6s\n' shape user cpu wall limit "x user" "x cpu" \
	"x wall"
for integ in hmac-sha256 aead; do
	"$sm" image create --from-dir dir --key-file key -o "$integ.img" --size "${mib}M" \
		--integrity "$integ" --pbkdf-iterations 1000 >/dev/null 2>"$integ.log" ||
		{ echo "$integ: image create failed (skipped): $(tail -1 "$integ.log")"; continue; }
	run "$integ-4k" "$integ.img" "$([ "$integ" = aead ] && echo "$gcm" || echo "$lim_hmac")"
	rm -f "$integ.img"
done
truncate -s $((mib + 16))M none.img
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--sector-size 4096 --key-file key none.img
run none-4k none.img "$xts"
