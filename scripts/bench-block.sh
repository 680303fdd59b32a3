#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-block.sh - the two block layers side by side (issue #17, "Benchmark"): in the qemu VM
# (Debian's kernel: dm-crypt, dm-integrity, nbd), one hmac-sha256 image with a file of random
# bytes, mounted by `sealmount mount` four ways - kernel engine (dm-crypt + dm-integrity) and
# user engine, each on FUSE + loop and on NBD (`--block fuse|nbd`) - and read through the
# mounted ext4: sequentially (dd, 1 MiB blocks, O_DIRECT) and at random (fio, 4 KiB O_DIRECT
# reads, JOBS jobs). Every measurement is a fresh mount (cold caches); the four ways take turns
# for ROUNDS rounds and each cell is the median. Prints a table and the nbd/fuse ratios.
# qemu TCG emulates the CPU (AES and SHA too), so only the ratios mean anything. A benchmark,
# not a test.
#
#   scripts/bench-block.sh [BUILD_DIR] [-s FILE_MIB] [-j JOBS] [-n READS_PER_JOB] [-r ROUNDS]
#
# Defaults: build, 48 MiB, 4 jobs, 400 reads each, 3 rounds. Needs the VM rig
# (tests/vm/setup-vm.sh: qemu and Debian's kernel) and fio.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "${1:-}" != --in-vm ]; then
	bdir=build
	if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
		bdir=$1
		shift
	fi
	bdir=$(cd "$bdir" && pwd)
	[ -x "$bdir/src/cli/sealmount" ] || { echo "bench-block: build $bdir first" >&2; exit 1; }
	exec "$top/tests/vm/vm-run.sh" --timeout 3000 -- \
		bash "$top/scripts/bench-block.sh" --in-vm "$bdir" "$@"
fi
shift
bdir=$1
shift
MIB=48 JOBS=4 READS=400 ROUNDS=3
while getopts "s:j:n:r:" o; do
	case $o in
	s) MIB=$OPTARG ;; j) JOBS=$OPTARG ;; n) READS=$OPTARG ;; r) ROUNDS=$OPTARG ;;
	*) exit 2 ;;
	esac
done
sm=$bdir/src/cli/sealmount
command -v fio >/dev/null || { echo "bench-block: fio is missing" >&2; exit 1; }
cd "$(mktemp -d /tmp/bench-block.XXXXXX)" # /tmp is a tmpfs in the VM
mkdir src mnt
head -c "${MIB}M" /dev/urandom >src/data
head -c 32 /dev/urandom >key
"$sm" image create --from-dir src --key-file key -o img --size "$((MIB + 16))M" \
	--integrity hmac-sha256 --pbkdf-iterations 1000 --no-journal >/dev/null 2>create.log ||
	{ cat create.log >&2; exit 1; }

# up ENGINE BLOCK: mount the image at mnt/fs; down: stop it and wait
up()
{
	rm -f ready
	"$sm" mount --engine "$1" --block "$2" --image img --key-file key --work-dir "$PWD/run" \
		--ready-file "$PWD/ready" "$PWD/mnt/fs" >mount.log 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ -s ready ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	cat mount.log >&2
	exit 1
}
down()
{
	kill -TERM "$PID"
	wait "$PID" || { cat mount.log >&2; exit 1; }
}
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# queues ENGINE BLOCK: the request limits of the devices under the filesystem (round 1, stderr)
queues()
{
	local d

	up "$1" "$2"
	for d in /sys/block/loop* /sys/block/nbd* /sys/block/dm-*; do
		[ "$(cat "$d/size" 2>/dev/null || echo 0)" != 0 ] || continue
		echo "  $1/$2: ${d##*/}: read_ahead_kb $(cat "$d/queue/read_ahead_kb")" \
			"max_sectors_kb $(cat "$d/queue/max_sectors_kb")" \
			"logical_block_size $(cat "$d/queue/logical_block_size")" >&2
	done
	down
}

# seq ENGINE BLOCK -> MiB/s
seq_read()
{
	local t0 t1

	up "$1" "$2"
	drop
	t0=$(date +%s%N)
	dd if=mnt/fs/data of=/dev/null bs=1M iflag=direct status=none
	t1=$(date +%s%N)
	down
	awk -v m="$MIB" -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", m / (d / 1e9) }'
}
# rand ENGINE BLOCK -> IOPS
rand_read()
{
	local iops

	up "$1" "$2"
	drop
	iops=$(fio --name=r --filename=mnt/fs/data --readonly --rw=randread --bs=4k --direct=1 \
		--ioengine=psync --numjobs="$JOBS" --number_ios="$READS" --size="${MIB}M" \
		--group_reporting --output-format=json 2>fio.err |
		python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["read"]["iops"]))') ||
		{ cat fio.err >&2; exit 1; }
	down
	echo "$iops"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A S R
ways=("kernel fuse" "kernel nbd" "user fuse" "user nbd")
for w in "${ways[@]}"; do
	# shellcheck disable=SC2086 # two words
	queues $w
done
for ((round = 1; round <= ROUNDS; round++)); do
	for w in "${ways[@]}"; do
		# shellcheck disable=SC2086 # two words
		S[$w]+=" $(seq_read $w)"
		# shellcheck disable=SC2086
		R[$w]+=" $(rand_read $w)"
	done
	echo "round $round done" >&2
done
echo "VM ($(nproc) vCPU, qemu TCG): a ${MIB} MiB file in an hmac-sha256 4k image, ext4, median of $ROUNDS"
printf '| %-6s | %-5s | %14s | %9s | %22s | %9s |\n' engine block "seq MiB/s (1M)" "nbd/fuse" \
	"rand IOPS ($JOBS x 4 KiB)" "nbd/fuse"
echo "|---|---|---|---|---|---|"
for w in "${ways[@]}"; do
	e=${w% *} b=${w#* }
	s=$(median <<<"${S[$w]}") r=$(median <<<"${R[$w]}")
	sf=$(median <<<"${S[$e fuse]}") rf=$(median <<<"${R[$e fuse]}")
	awk -v e="$e" -v b="$b" -v s="$s" -v r="$r" -v sf="$sf" -v rf="$rf" 'BEGIN {
		printf "| %-6s | %-5s | %14s | %9.2f | %22s | %9.2f |\n", e, b, s, s / sf, r, r / rf }'
done
