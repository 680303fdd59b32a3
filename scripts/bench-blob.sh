#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-blob.sh - the blob ▸ cache ▸ FUSE stack against Azurite, side by side with curl of the
# same blob (the limit), with what the server gives any ranged reader (curl --parallel of
# ranged GETs: 4 MiB with MD5 front to back, 4 KiB at random), and with the peer a user would
# pick for block access to a remote blob: nbdkit's curl plugin (without and with its cache
# filter), read on this host through libnbd (nbdcopy; fio's nbd engine) since the host kernel
# has no nbd module. At 0 ms and with injected per-request latency (tests/emulators/
# faultproxy.mjs; the host has no netem). Prints a table; a benchmark, not a test (numbers depend
# on the machine; Azurite itself is the limit on small hosts).
#
#   scripts/bench-blob.sh [-s SIZE] [-l LATENCY_MS] [-c CACHE_MB] [-j JOBS] [-n READS_PER_JOB]
#
# SIZE is MiB, or with a suffix: 64M, 1G (default 1G). Random reads: JOBS (16) jobs of
# READS_PER_JOB (200) 4 KiB reads each, with fio (psync on the FUSE file, the nbd engine for
# nbdkit), or Python threads on the FUSE file when fio is missing. Amplification is bytes the
# proxy fetched from Azurite per byte read.
#
# Needs: a built sealmount (SEALMOUNT=path, default build/src/cli/sealmount), node with
# tests/emulators installed (npm ci), python3, curl, /dev/fuse; optional fio, nbdkit (Debian's,
# with its curl plugin and cache filter) and libnbd-bin (nbdcopy). Rows for missing tools are
# shown as n/a.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=1024 LAT=10 CACHE=64 JOBS=16 READS=200
while getopts "s:l:c:j:n:" o; do
	case $o in
	s) SIZE_MIB=$OPTARG ;; l) LAT=$OPTARG ;; c) CACHE=$OPTARG ;; j) JOBS=$OPTARG ;;
	n) READS=$OPTARG ;; *) exit 2 ;;
	esac
done
case $SIZE_MIB in
*[gG]) SIZE_MIB=$((${SIZE_MIB%?} * 1024)) ;;
*[mM]) SIZE_MIB=${SIZE_MIB%?} ;;
esac
[[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || { echo "bench-blob: bad size" >&2; exit 2; }
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
	cleanup_fn quiet_kill "$PX_PID"
	while [ ! -s "$TEST_TMP/px.port" ]; do sleep 0.1; done
	PX_PORT=$(cat "$TEST_TMP/px.port")
}

now() { date +%s.%N; }
# cpu_of PID: user + system CPU seconds of a running process so far.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
sub() { python3 -c "print(f'{$1 - $2:.2f}')"; }

# ranges_cfg SIZE COUNT random|seq MD5: a curl config of COUNT ranged GETs of SIZE bytes of $URL
# (random aligned offsets, or the blob front to back), for curl --parallel.
ranges_cfg()
{
	python3 - "$URL" "$1" "$2" "$3" "$4" "$((SIZE_MIB << 20))" <<'PY'
import random, sys
url, sz, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
md5, size = sys.argv[5] == "1", int(sys.argv[6])
rnd = random.Random(1)
for i in range(n):
    off = rnd.randrange(size // sz) * sz if mode == "random" else i * sz
    if i:
        print("next")
    print(f'url = "{url}"\noutput = "/dev/null"\nheader = "x-ms-version: 2021-08-06"')
    print(f'header = "x-ms-range: bytes={off}-{min(off + sz, size) - 1}"')
    if md5:
        print('header = "x-ms-range-get-content-md5: true"')
PY
}
# curl_ranges PARALLEL CFG: run a config from ranges_cfg; prints the wall time in seconds.
curl_ranges()
{
	local t0 t1

	t0=$(now)
	curl -sS --no-progress-meter --fail --parallel --parallel-max "$1" -K "$2" || return 1
	t1=$(now)
	sub "$t1" "$t0"
}
quiet_kill() { kill "$1" 2>/dev/null || true; }
mibs() { python3 -c "print(f'{$SIZE_MIB / ($2 - $1):.0f}')"; }

px_bytes()
{
	curl -s "http://127.0.0.1:$PX_PORT/__faultproxy/stats" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes"])'
}
ratio() { python3 -c "print(f'{$1 / $2:.${3:-2}f}')" 2>/dev/null || echo n/a; }

ATTACH_PID=
attach()
{
	"$SEALMOUNT" blob attach "$1" "$MNT" --account-key-file "$KEY" --cache-mb "$CACHE" \
		>"$TEST_TMP/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn quiet_kill "$ATTACH_PID"
	while ! mountpoint -q "$MNT"; do sleep 0.05; done
}
detach()
{
	RSS=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$ATTACH_PID/status")
	kill -TERM "$ATTACH_PID"
	wait "$ATTACH_PID"
}

# nbd_start URL [cache]: nbdkit's curl plugin (with the cache filter) on a Unix socket; sets
# NBD_URI for libnbd. Returns 1 if nbdkit did not come up.
NBD_PID= NBD_SOCK="$TEST_TMP/nbd.sock"
nbd_start()
{
	local url=$1 filter=() params=()

	if [ "${2:-}" = cache ]; then
		filter=(--filter=cache)
		params=(cache-on-read=true cache-max-size="${CACHE}M")
	fi
	rm -f "$NBD_SOCK"
	nbdkit -f -U "$NBD_SOCK" -t "$JOBS" "${filter[@]}" curl url="$url" "${params[@]}" \
		2>"$TEST_TMP/nbdkit.log" &
	NBD_PID=$!
	cleanup_fn quiet_kill "$NBD_PID"
	while [ ! -S "$NBD_SOCK" ]; do
		kill -0 "$NBD_PID" 2>/dev/null || { cat "$TEST_TMP/nbdkit.log" >&2; return 1; }
		sleep 0.05
	done
	NBD_URI="nbd+unix:///?socket=$NBD_SOCK"
}
nbd_stop() { kill "$NBD_PID" 2>/dev/null && wait "$NBD_PID" 2>/dev/null; }

# fio_rand ARGS...: JOBS x READS random 4 KiB reads; prints "IOPS P99_MS BYTES_READ".
fio_rand()
{
	fio --name=rand --rw=randread --bs=4k --numjobs="$JOBS" --iodepth=1 --number_ios="$READS" \
		--readonly --group_reporting --output-format=json "$@" 2>/dev/null |
		python3 -c '
import json, sys
out = sys.stdin.read()  # the nbd engine prints "fio: connected to NBD server" first
j = json.loads(out[out.index("{"):])["jobs"][0]["read"]
iops, p99 = j["iops"], j["clat_ns"]["percentile"]["99.000000"] / 1e6
print(f"{iops:.0f} {p99:.1f}", j["io_bytes"])'
}

# py_rand FILE: the same with Python threads (when fio is missing).
py_rand()
{
	python3 - "$1" "$JOBS" "$READS" <<'EOF'
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

HAVE_FIO=$(command -v fio >/dev/null && echo 1)
HAVE_NBD=$(command -v nbdkit >/dev/null && command -v nbdcopy >/dev/null &&
	nbdkit --dump-plugin curl >/dev/null 2>&1 && echo 1)
rows=()
# row LAT METHOD SEQ_MIBS CURL_MIBS "IOPS P99 BYTES_READ" FETCHED RSS CPU
row()
{
	local iops p99 bytes

	read -r iops p99 bytes <<<"$5"
	rows+=("$1|$2|$3|$(ratio "$3" "$4")|$8|${iops:-n/a}|${p99:-n/a}|$([ -n "$bytes" ] &&
		ratio "$6" "$bytes" 1)|$7")
}

for lat in 0 "$LAT"; do
	proxy --latency-ms "$lat"
	URL="http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/bench.img"
	echo "latency $lat ms: curl..." >&2
	TIMEFORMAT='%U %S'
	t0=$(now); cpu=$({ time curl -s -o /dev/null "$URL"; } 2>&1); t1=$(now)
	CURL=$(mibs "$t0" "$t1")
	read -r u s <<<"$cpu"
	rows+=("$lat|curl (the limit)|$CURL|1.00|$(python3 -c "print(f'{$u + $s:.2f}')")|-|-|-|-")

	# What the server gives any ranged reader: the blob in 4 MiB ranges with MD5, 8 at a
	# time (sealmount's read-ahead shape), and JOBS x READS random 4 KiB ranges, JOBS at a time.
	echo "latency $lat ms: curl ranged GETs..." >&2
	ranges_cfg $((4 << 20)) $(((SIZE_MIB + 3) / 4)) seq 1 >"$TEST_TMP/seq.cfg"
	ranges_cfg 4096 $((JOBS * READS)) random 0 >"$TEST_TMP/rand.cfg"
	RSEQ=n/a RIOPS=n/a
	el=$(curl_ranges 8 "$TEST_TMP/seq.cfg") && RSEQ=$(python3 -c "print(f'{$SIZE_MIB / $el:.0f}')")
	el=$(curl_ranges "$JOBS" "$TEST_TMP/rand.cfg") &&
		RIOPS=$(python3 -c "print(f'{$JOBS * $READS / $el:.0f}')")
	rows+=("$lat|curl ranges (limit)|$RSEQ|$(ratio "$RSEQ" "$CURL")|-|$RIOPS|-|1.0x|-")

	echo "latency $lat ms: sealmount FUSE..." >&2
	attach "$URL"
	c0=$(cpu_of "$ATTACH_PID")
	t0=$(now); dd if="$MNT/data" of=/dev/null bs=1M status=none; t1=$(now)
	SEQCPU=$(sub "$(cpu_of "$ATTACH_PID")" "$c0")
	SEQ=$(mibs "$t0" "$t1")
	detach
	SEQRSS=$RSS
	attach "$URL"
	b0=$(px_bytes)
	if [ -n "$HAVE_FIO" ]; then
		RAND=$(fio_rand --ioengine=psync --filename="$MNT/data")
	else
		RAND=$(py_rand "$MNT/data")
	fi
	b1=$(px_bytes)
	detach
	row "$lat" "sealmount FUSE" "$SEQ" "$CURL" "$RAND" $((b1 - b0)) "$SEQRSS/$RSS" "$SEQCPU"

	for variant in plain cache; do
		name="nbdkit curl"
		[ "$variant" = cache ] && name="nbdkit curl+cache"
		if [ -z "$HAVE_NBD" ] || ! nbd_start "$URL" "$variant"; then
			rows+=("$lat|$name|n/a|n/a|n/a|n/a|n/a|n/a|n/a")
			continue
		fi
		echo "latency $lat ms: $name..." >&2
		c0=$(cpu_of "$NBD_PID")
		t0=$(now); nbdcopy "$NBD_URI" null:; t1=$(now)
		SEQCPU=$(sub "$(cpu_of "$NBD_PID")" "$c0")
		SEQ=$(mibs "$t0" "$t1")
		nbd_stop
		RAND=
		if [ -n "$HAVE_FIO" ] && nbd_start "$URL" "$variant"; then
			b0=$(px_bytes)
			RAND=$(fio_rand --ioengine=nbd --uri="$NBD_URI")
			b1=$(px_bytes)
			nbd_stop
		fi
		row "$lat" "$name" "$SEQ" "$CURL" "$RAND" $((b1 - b0)) "-" "$SEQCPU"
	done
done

printf '\n%-8s | %-19s | %-9s | %-8s | %-9s | %-9s | %-8s | %-9s | %s\n' "latency" "method" \
	"seq MiB/s" "seq/curl" "seq CPU s" "rand IOPS" "p99 ms" "rand ampl" "peak RSS MiB (seq/rand)"
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e f g h i <<<"$r"
	printf '%-8s | %-19s | %-9s | %-8s | %-9s | %-9s | %-8s | %-9s | %s\n' "${a} ms" "$b" "$c" \
		"$d" "$e" "$f" "$g" "$h$([[ $h =~ ^[0-9.]+$ ]] && echo x)" "$i"
done
echo
echo "blob ${SIZE_MIB} MiB; sealmount cache ${CACHE} MiB, nbdkit cache filter ${CACHE} MiB" \
	"(cache-on-read); random: ${JOBS} jobs x ${READS} 4 KiB reads with" \
	"$([ -n "$HAVE_FIO" ] && echo "fio (psync on FUSE, nbd engine on nbdkit)" ||
		echo "Python threads (fio missing)"); ampl = bytes fetched from Azurite / bytes read."
echo "curl ranges: the blob as 4 MiB ranged GETs with MD5, 8 at a time, and ${JOBS}-way parallel" \
	"4 KiB ranged GETs: the most the server gives a ranged reader. seq CPU: CPU seconds of the" \
	"client process (curl; sealmount; nbdkit) for the sequential read."
[ -n "$HAVE_NBD" ] || echo "nbdkit rows: n/a (install nbdkit and libnbd-bin)."
