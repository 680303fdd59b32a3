#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-nbd.sh - the blob stack as an NBD export (`sealmount blob attach --nbd`) side by side, in
# one run and against the same page blob in Azurite, with nbdkit's curl plugin (plain and with
# its cache filter: the peer a user would pick for block access to a remote blob) and with
# sealmount's own FUSE file (`blob attach URL DIR`). Sequential: nbdcopy of the whole export
# (its defaults: several connections where multi-conn is offered, 64 requests in flight) and fio
# reading 1 MiB blocks one at a time; random: fio, JOBS jobs of READS 4 KiB reads each (the nbd
# engine for NBD exports, psync on the FUSE file). Every measurement starts a fresh server, so
# every cache is cold; the methods take turns for ROUNDS rounds and each cell is the median, so
# a busy neighbour on these shared 2-core hosts skews every method alike. Prints a table with
# ratios; a benchmark, not a test (Azurite itself is the limit here - see bench-blob.sh).
#
#   scripts/bench-nbd.sh [-s SIZE] [-c CACHE_MB] [-j JOBS] [-n READS_PER_JOB] [-l LATENCY_MS]
#                        [-r ROUNDS]
#
# SIZE is MiB or with a suffix (256M default, 1G); -l puts tests/emulators/faultproxy.mjs with
# that much per-request latency in front of Azurite (default: none).
#
# Needs: a built sealmount (SEALMOUNT=path, default build/src/cli/sealmount), node with
# tests/emulators installed (npm ci), python3, fio (with its nbd engine), nbdkit (Debian's, with
# the curl plugin and the cache filter), nbdcopy (libnbd-bin), /dev/fuse. Missing tools give
# n/a rows.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=256 CACHE=64 JOBS=16 READS=200 LAT= ROUNDS=3
while getopts "s:c:j:n:l:r:" o; do
	case $o in
	s) SIZE_MIB=$OPTARG ;; c) CACHE=$OPTARG ;; j) JOBS=$OPTARG ;; n) READS=$OPTARG ;;
	l) LAT=$OPTARG ;; r) ROUNDS=$OPTARG ;; *) exit 2 ;;
	esac
done
case $SIZE_MIB in
*[gG]) SIZE_MIB=$((${SIZE_MIB%?} * 1024)) ;;
*[mM]) SIZE_MIB=${SIZE_MIB%?} ;;
esac
[[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || { echo "bench-nbd: bad size" >&2; exit 2; }
: "${SEALMOUNT:=$top/build/src/cli/sealmount}"
export EMULATORS="$top/tests/emulators" SEALMOUNT
. "$top/tests/integration/functions.sh"
requires node python3 mountpoint curl
set +e

emu_start azurite AZ_PORT
KEY="$TEST_TMP/key" MNT="$TEST_TMP/mnt" SOCK="$TEST_TMP/nbd.sock"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
mkdir -p "$MNT"
echo "preparing a ${SIZE_MIB} MiB page blob..." >&2
head -c $((SIZE_MIB << 20)) /dev/urandom >"$TEST_TMP/ref"
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs bench.img "$TEST_TMP/ref" || exit 1
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" make-public imgs - || exit 1
rm -f "$TEST_TMP/ref"
PORT=$AZ_PORT
if [ -n "$LAT" ]; then
	node "$EMULATORS/faultproxy.mjs" --target "$AZ_PORT" --port-file "$TEST_TMP/px.port" \
		--latency-ms "$LAT" &
	cleanup_fn kill "$!"
	while [ ! -s "$TEST_TMP/px.port" ]; do sleep 0.1; done
	PORT=$(cat "$TEST_TMP/px.port")
fi
URL="http://127.0.0.1:$PORT/devstoreaccount1/imgs/bench.img"

now() { date +%s.%N; }
mibs() { python3 -c "print(f'{$SIZE_MIB / ($2 - $1):.0f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')" 2>/dev/null || echo n/a; }

SRV_PID=
stop_srv()
{
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	mountpoint -q "$MNT" && fusermount3 -u "$MNT"
	SRV_PID=
	return 0
}
cleanup_fn stop_srv

# start KIND: a fresh server of KIND (sealmount-nbd, nbdkit, nbdkit-cache, fuse); sets TARGET
# (an NBD URI, or the FUSE file). Returns 1 when it does not come up.
start()
{
	local i

	stop_srv
	rm -f "$SOCK"
	case $1 in
	sealmount-nbd)
		"$SEALMOUNT" blob attach "$URL" --nbd "$SOCK" --account-key-file "$KEY" \
			--cache-mb "$CACHE" >/dev/null 2>"$TEST_TMP/srv.log" &
		;;
	nbdkit | nbdkit-cache)
		local f=()
		[ "$1" = nbdkit-cache ] && f=(--filter=cache cache-on-read=true "cache-max-size=${CACHE}M")
		nbdkit -f -U "$SOCK" -t "$JOBS" "${f[@]:0:1}" curl url="$URL" "${f[@]:1}" \
			2>"$TEST_TMP/srv.log" &
		;;
	fuse)
		"$SEALMOUNT" blob attach "$URL" "$MNT" --account-key-file "$KEY" \
			--cache-mb "$CACHE" >/dev/null 2>"$TEST_TMP/srv.log" &
		;;
	esac
	SRV_PID=$!
	for ((i = 0; i < 300; i++)); do
		if [ "$1" = fuse ]; then
			mountpoint -q "$MNT" && { TARGET=$MNT/data; return 0; }
		elif [ -S "$SOCK" ]; then
			TARGET="nbd+unix:///?socket=$SOCK"
			return 0
		fi
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$TEST_TMP/srv.log" >&2
	return 1
}

# fio_run ARGS...: prints "MiB/s IOPS P99_MS" of the read side.
fio_run()
{
	fio --name=b --readonly --group_reporting --output-format=json "$@" 2>/dev/null |
		python3 -c '
import json, sys
out = sys.stdin.read()  # the nbd engine prints a line before the JSON
r = json.loads(out[out.index("{"):])["jobs"][0]["read"]
bw, iops = r["bw_bytes"] / 2**20, r["iops"]
p99 = r["clat_ns"]["percentile"]["99.000000"] / 1e6
print(f"{bw:.0f} {iops:.0f} {p99:.1f}")'
}

# measure KIND: "NBDCOPY_MIBS FIO_SEQ_MIBS RAND_IOPS P99_MS", n/a where impossible.
measure()
{
	local kind=$1 t0 t1 copy=n/a seq=n/a iops=n/a p99=n/a engine mbs

	if command -v nbdcopy >/dev/null && start "$kind"; then
		t0=$(now)
		nbdcopy "$TARGET" null: && t1=$(now) && copy=$(mibs "$t0" "$t1")
	fi
	if command -v fio >/dev/null; then
		if [ "$kind" = fuse ]; then
			engine=(--ioengine=psync --filename="$MNT/data")
		else
			engine=(--ioengine=nbd --uri="nbd+unix:///?socket=$SOCK")
		fi
		if start "$kind"; then
			read -r mbs _ _ < <(fio_run "${engine[@]}" --rw=read --bs=1M --numjobs=1 \
				--iodepth=1 --size=$((SIZE_MIB << 20)))
			seq=${mbs:-n/a}
		fi
		if start "$kind"; then
			read -r _ iops p99 < <(fio_run "${engine[@]}" --rw=randread --bs=4k \
				--numjobs="$JOBS" --iodepth=1 --number_ios="$READS" \
				--size=$((SIZE_MIB << 20)))
			iops=${iops:-n/a} p99=${p99:-n/a}
		fi
	fi
	stop_srv
	echo "$copy $seq $iops $p99"
}

# Azurite is still busy persisting the upload for a while: one whole read first, so that the
# first method measured does not pay for it.
curl -s -o /dev/null "$URL" || true
KINDS=(sealmount-nbd nbdkit nbdkit-cache fuse)
declare -A RUNS R
for ((round = 1; round <= ROUNDS; round++)); do
	for kind in "${KINDS[@]}"; do
		echo "round $round/$ROUNDS: $kind (load $(cut -d' ' -f1 /proc/loadavg))..." >&2
		RUNS[$kind]+="$(measure "$kind");"
	done
done
# median of each column over the rounds (n/a when any round had none)
for kind in "${KINDS[@]}"; do
	R[$kind]=$(python3 -c '
import statistics, sys
rows = [r.split() for r in sys.argv[1].split(";") if r.strip()]
out = []
for col in zip(*rows):
    try:
        out.append(f"{statistics.median(float(v) for v in col):g}")
    except ValueError:
        out.append("n/a")
print(" ".join(out))' "${RUNS[$kind]}")
done

read -r NC NS NI _ <<<"${R[sealmount-nbd]}"
read -r KC KS KI _ <<<"${R[nbdkit]}"
read -r FC FS FI _ <<<"${R[fuse]}"
printf '\n%-22s | %-14s | %-13s | %-12s | %-7s | %-22s | %s\n' method "nbdcopy MiB/s" \
	"fio seq MiB/s" "rand IOPS" "p99 ms" "sealmount nbd / this" ""
for kind in "${KINDS[@]}"; do
	read -r c s i p <<<"${R[$kind]}"
	case $kind in
	sealmount-nbd) name="sealmount NBD" ;;
	nbdkit) name="nbdkit curl" ;;
	nbdkit-cache) name="nbdkit curl+cache" ;;
	fuse) name="sealmount FUSE file" ;;
	esac
	rat="-"
	[ "$kind" != sealmount-nbd ] &&
		rat="$(ratio "$NC" "$c") / $(ratio "$NS" "$s") / $(ratio "$NI" "$i")"
	printf '%-22s | %-14s | %-13s | %-12s | %-7s | %s\n' "$name" "$c" "$s" "$i" "$p" "$rat"
done
echo
echo "medians of $ROUNDS rounds; blob ${SIZE_MIB} MiB in Azurite${LAT:+ behind ${LAT} ms of injected latency}; sealmount" \
	"cache ${CACHE} MiB, nbdkit cache filter ${CACHE} MiB (cache-on-read). Ratios: sealmount" \
	"NBD's nbdcopy / fio seq / rand IOPS over the row's (> 1: sealmount NBD is faster)."
echo "nbdcopy: whole export to null: (for the FUSE file, nbdcopy of the file); fio seq: 1 MiB" \
	"reads one at a time (nbd engine; psync on FUSE); rand: ${JOBS} jobs x ${READS} 4 KiB reads."
