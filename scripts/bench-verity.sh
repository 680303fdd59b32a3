#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-verity.sh - what the seal costs the userspace engine (issue 16 "Benchmark"; prints numbers,
# asserts nothing). For each shape (hmac-sha256 and no integrity, 4096-byte sectors) it creates
# one image, seals a copy, and times, best of RUNS:
#   plain   `image decrypt IMAGE -o -`                       (luks layer over the file)
#   sealed  `image decrypt SEALED --root-hash R -o -`        (luks over the verity layer)
#   check   `image inspect SEALED --root-hash R`             (the whole-tree check alone)
#   seal    `image seal` of a fresh copy                     (building the tree)
# and prints MB/s by CPU time (user + sys) and by wall time, and the seal's cost per GiB of
# plaintext read: (sealed - plain) CPU seconds, against the SHA-256 limit from
# `openssl speed -evp sha256 -bytes 4096` (one hash per 4 KiB, plus ~1/128 for hash blocks).
#
#   scripts/bench-verity.sh [BUILD_DIR] [SIZE_MIB] [RUNS]     defaults: build, 512, 3
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=$(cd "${1:-$top/build}" && pwd)
mib=${2:-512}
runs=${3:-3}
sm=$bdir/src/cli/sealmount
[ -x "$sm" ] || { echo "bench-verity: build $sm first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-verity: needs /usr/bin/time (apt install time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-verity.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir dir
head -c 1M /dev/urandom >dir/file
head -c 32 /dev/urandom >key

sha=$(openssl speed -seconds 2 -bytes 4096 -evp sha256 2>/dev/null | tail -1 |
	awk '{ v = $NF; sub(/k$/, "", v); printf "%.0f\n", v / 1000 }')

# best [--fresh IMG] CMD...: "cpu wall" seconds, the run with the least CPU time of $runs (page
# cache warm); --fresh copies IMG to s.img before each run (not timed).
best()
{
	local i b="" t e u s fresh=""
	if [ "$1" = --fresh ]; then fresh=$2; shift 2; fi
	for ((i = 0; i < runs; i++)); do
		[ -z "$fresh" ] || cp "$fresh" s.img
		/usr/bin/time -o time.out -f '%e %U %S' "$@" >/dev/null 2>err.log ||
			{ cat err.log >&2; exit 1; }
		read -r e u s <<<"$(tail -1 time.out)"
		t=$(awk -v u="$u" -v s="$s" -v e="$e" 'BEGIN { printf "%.3f %.3f", u + s, e }')
		if [ -z "$b" ] || awk -v a="${t%% *}" -v b="${b%% *}" 'BEGIN { exit !(a < b) }'; then
			b=$t
		fi
	done
	echo "$b"
}

# line NAME BYTES CPU WALL
line()
{
	awk -v n="$1" -v b="$2" -v c="$3" -v w="$4" 'BEGIN {
		if (c < 0.001) c = 0.001
		printf "  %-8s %8.2f %8.2f %9.0f %9.0f\n", n, c, w, b / c / 1e6, b / w / 1e6 }'
}

echo "SHA-256 (openssl speed -evp sha256, 4096-byte blocks): $sha MB/s on one core ->" \
	"$(awk -v s="$sha" 'BEGIN { printf "%.2f", 1073741824 / (s * 1e6) * (1 + 1 / 128) }') s/GiB" \
	"for the hashes the seal needs"
echo "$(nproc) CPUs; $mib MiB images; best of $runs runs (CPU = user + sys; the page cache is warm)"
for integ in hmac-sha256 none; do
	"$sm" image create --from-dir dir --key-file key -o "$integ.img" --size "${mib}M" \
		--integrity "$integ" --pbkdf-iterations 1000 >/dev/null 2>create.log ||
		{ cat create.log >&2; exit 1; }
	cp "$integ.img" "$integ.sealed"
	root=$("$sm" image seal "$integ.sealed" 2>/dev/null | sed -n 's/^root-hash: //p')
	data=$(stat -c %s "$integ.img")
	plainbytes=$("$sm" image decrypt "$integ.img" --key-file key -o - 2>/dev/null | wc -c)
	read -r pc pw <<<"$(best "$sm" image decrypt "$integ.img" --key-file key -o -)"
	read -r sc sw <<<"$(best "$sm" image decrypt "$integ.sealed" --key-file key \
		--root-hash "$root" -o -)"
	read -r cc cw <<<"$(best "$sm" image inspect "$integ.sealed" --root-hash "$root")"
	read -r mc mw <<<"$(best --fresh "$integ.img" "$sm" image seal s.img)"
	echo
	echo "$integ: $plainbytes plaintext bytes in a $data-byte image"
	printf '  %-8s %8s %8s %9s %9s\n' "" "cpu s" "wall s" "MB/s cpu" "MB/s wall"
	line plain "$plainbytes" "$pc" "$pw"
	line sealed "$plainbytes" "$sc" "$sw"
	line check "$data" "$cc" "$cw"
	line seal "$data" "$mc" "$mw"
	awk -v b="$plainbytes" -v pc="$pc" -v sc="$sc" -v pw="$pw" -v sw="$sw" 'BEGIN {
		g = b / 1073741824
		printf "  seal cost per GiB read: %.2f s CPU (%+.0f%%), %.2f s wall (%+.0f%%)\n",
			(sc - pc) / g, (sc / pc - 1) * 100, (sw - pw) / g, (sw / pw - 1) * 100 }'
	rm -f "$integ.img" "$integ.sealed" s.img
done
