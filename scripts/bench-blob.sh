#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-blob.sh - the blob ▸ cache ▸ FUSE stack against Azurite, side by side with curl of the
# same blob, at 0 ms and with injected per-request latency (tests/emulators/faultproxy.mjs).
# Prints a table; a benchmark, not a test (numbers depend on the machine; Azurite itself is the
# limit on small hosts).
#
#   scripts/bench-blob.sh [-s SIZE_MIB] [-l LATENCY_MS] [-c CACHE_MB] [-j JOBS] [-n READS_PER_JOB]
#
# Needs: a built sealmount (SEALMOUNT=path, default build/src/cli/sealmount), node with
# tests/emulators installed (npm ci), python3, curl, /dev/fuse. nbdkit/fio rows are shown as
# n/a when those tools are missing.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=1024 LAT=10 CACHE=64 JOBS=16 READS=200
while getopts "s:l:c:j:n:" o; do
	case $o in
	s) SIZE_MIB=$OPTARG ;; l) LAT=$OPTARG ;; c) CACHE=$OPTARG ;; j) JOBS=$OPTARG ;;
	n) READS=$OPTARG ;; *) exit 2 ;;
	esac
done
: "${SEALMOUNT:=$top/build/src/cli/sealmount}"
export EMULATORS="$top/tests/emulators" SEALMOUNT
. "$top/tests/integration/functions.sh"
requires node python3 curl mountpoint
set +e

emu_start azurite AZ_PORT
KEY="$TEST_TMP/key" MNT="$TEST_TMP/mnt"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
mkdir -p "$MNT"
echo "preparing a ${SIZE_MIB} MiB page blob..." >&2
head -c $((SIZE_MIB << 20)) /dev/urandom >"$TEST_TMP/ref"
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs bench.img "$TEST_TMP/ref" || exit 1
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" make-public imgs - || exit 1
rm -f "$TEST_TMP/ref"

PX_PID=
proxy()
{
	[ -n "$PX_PID" ] && kill "$PX_PID" 2>/dev/null && wait "$PX_PID" 2>/dev/null
	rm -f "$TEST_TMP/px.port"
	node "$EMULATORS/faultproxy.mjs" --target "$AZ_PORT" --port-file "$TEST_TMP/px.port" "$@" &
	PX_PID=$!
	cleanup_fn kill "$PX_PID"
	while [ ! -s "$TEST_TMP/px.port" ]; do sleep 0.1; done
	PX_PORT=$(cat "$TEST_TMP/px.port")
}

now() { date +%s.%N; }
mibs() { python3 -c "print(f'{$SIZE_MIB / ($2 - $1):.0f}')"; }

ATTACH_PID=
attach()
{
	"$SEALMOUNT" blob attach "$1" "$MNT" --account-key-file "$KEY" --cache-mb "$CACHE" \
		>"$TEST_TMP/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn kill "$ATTACH_PID"
	while ! mountpoint -q "$MNT"; do sleep 0.05; done
}
detach()
{
	RSS=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$ATTACH_PID/status")
	kill -TERM "$ATTACH_PID"
	wait "$ATTACH_PID"
	FETCHED=$(sed -n 's/.*fetches (\([0-9]*\) bytes.*/\1/p' "$TEST_TMP/attach.log")
}

random_reads()
{
	python3 - "$MNT/data" "$JOBS" "$READS" <<'EOF'
import os, random, sys, threading, time
path, jobs, reads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = os.stat(path).st_size
lat = []
def job(seed):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no kernel read-ahead
    rnd = random.Random(seed)
    for _ in range(reads):
        off = rnd.randrange(size // 4096) * 4096
        t = time.perf_counter(); os.pread(fd, 4096, off); lat.append(time.perf_counter() - t)
    os.close(fd)
t0 = time.perf_counter()
ts = [threading.Thread(target=job, args=(i,)) for i in range(jobs)]
[t.start() for t in ts]; [t.join() for t in ts]
el = time.perf_counter() - t0
lat.sort()
print(f"{len(lat) / el:.0f} {lat[int(len(lat) * 0.99)] * 1000:.1f} {len(lat) * 4096}")
EOF
}

rows=()
for lat in 0 "$LAT"; do
	proxy --latency-ms "$lat"
	URL="http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/bench.img"
	t0=$(now); curl -s -o /dev/null "$URL"; t1=$(now)
	CURL=$(mibs "$t0" "$t1")
	attach "$URL"
	t0=$(now); dd if="$MNT/data" of=/dev/null bs=1M status=none; t1=$(now)
	SEQ=$(mibs "$t0" "$t1")
	detach
	SEQRSS=$RSS
	attach "$URL"
	read -r IOPS P99 BYTES < <(random_reads)
	detach
	AMP=$(python3 -c "print(f'{$FETCHED / $BYTES:.1f}')")
	rows+=("$lat|$CURL|$SEQ|$(python3 -c "print(f'{$SEQ / $CURL:.2f}')")|$IOPS|$P99|$AMP|$SEQRSS/$RSS")
done

command -v nbdkit >/dev/null || NBD="n/a (nbdkit not installed)"
printf '\n%-8s | %-10s | %-12s | %-9s | %-10s | %-8s | %-10s | %s\n' "latency" "curl MiB/s" \
	"seq MiB/s" "seq/curl" "rand IOPS" "p99 ms" "rand ampl" "peak RSS MiB (seq/rand)"
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e f g h <<<"$r"
	printf '%-8s | %-10s | %-12s | %-9s | %-10s | %-8s | %-10s | %s\n' "${a} ms" "$b" "$c" "$d" \
		"$e" "$f" "${g}x" "$h"
done
echo
echo "blob ${SIZE_MIB} MiB, cache ${CACHE} MiB, random: ${JOBS} jobs x ${READS} 4 KiB reads."
echo "nbdkit curl plugin: ${NBD:-run separately}; fio: $(command -v fio >/dev/null && echo present || echo 'n/a (python threads used)')."
