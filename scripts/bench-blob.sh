#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench-blob.sh - the blob ▸ cache ▸ FUSE stack against a server that is not the bottleneck and
# against Azurite, side by side with curl of the same bytes (the limit), in one run. Prints a
# table; a benchmark, not a test (numbers depend on the machine: compare within one run).
#
#   scripts/bench-blob.sh [-s SIZE] [-l LATENCY_MS] [-c CACHE_MB] [-j JOBS] [-n READS_PER_JOB]
#                         [-t THROTTLED_SIZE] [-e ENGINE_SIZE] [-x SECTIONS]
#
# Sections (-x, default "nginx azurite throttle engine"):
#   nginx     a real nginx (nginx-light, generated configuration on loopback, the blob as a plain
#             file) behind tests/helpers/latency_proxy (per-request latency; its own ceiling is a
#             row: curl through it at 0 ms against curl straight to nginx). Rows: curl of the
#             whole file (the limit), curl of ranged GETs (4 MiB front to back 8 at a time, and
#             JOBS-way random 4 KiB: what any ranged reader gets), sealmount's FUSE file, nbdkit's
#             curl plugin without and with its cache filter.
#   azurite   the same rows against Azurite (a page blob) behind tests/emulators/faultproxy.mjs.
#   throttle  eight `blob attach` readers of one THROTTLED_SIZE image at once through the fault
#             proxy enforcing Azure's per-blob targets (500 requests/s; a page blob also 60 MiB/s;
#             a block blob requests only) in front of nginx: aggregate MiB/s, errors that reached a
#             reader, 503s, requests per second arriving after the first 5 s (max and mean),
#             requests per GiB.
#   engine    the whole stack: `sealmount mount --engine user --url` of an hmac-sha256 image
#             served by nginx (through the latency proxy), a plaintext sequential read of one
#             ENGINE_SIZE file in it, against min(curl of the image, openssl's decrypt + verify
#             limit 1/(1/XTS + 1/HMAC) at 4 KiB). Needs root and loop devices.
#
# Columns: seq MiB/s; seq/limit (the limit: curl of the whole file in the same section and
# latency; for the engine row min(curl, openssl)); CPU s/GiB of the client process for the
# sequential read (curl; sealmount; nbdkit) and its ratio to curl's; random IOPS and p99 (JOBS
# jobs x READS 4 KiB reads: fio, psync on the FUSE file, the nbd engine for nbdkit); read
# amplification (bytes the server sent / bytes read: sequential/random); peak RSS of the
# sealmount process (sequential/random); and where sealmount's CPU goes (perf cpu-clock samples
# with DWARF call stacks in a separate 0 ms pass, each sample charged to the first of
# crypto/HTTP/FUSE/cache that its stack names, leaf first).
#
# SIZE, THROTTLED_SIZE, ENGINE_SIZE are MiB or with a suffix (64M, 1G); defaults 1G, 128M, 512M.
# Needs: a built sealmount and latency_proxy (SEALMOUNT=path, default build/src/cli/sealmount),
# node with tests/emulators installed (npm ci), nginx, python3, curl, fio, /dev/fuse; optional
# perf, nbdkit with its curl plugin and libnbd-bin (nbdcopy). Missing tools give n/a rows.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=1024 LAT=10 CACHE=64 JOBS=16 READS=200 THR_MIB=128 ENG_MIB=512
SECTIONS="nginx azurite throttle engine"
mib() { case $1 in *[gG]) echo $((${1%?} * 1024)) ;; *[mM]) echo "${1%?}" ;; *) echo "$1" ;; esac; }
while getopts "s:l:c:j:n:t:e:x:" o; do
	case $o in
	s) SIZE_MIB=$(mib "$OPTARG") ;; l) LAT=$OPTARG ;; c) CACHE=$OPTARG ;; j) JOBS=$OPTARG ;;
	n) READS=$OPTARG ;; t) THR_MIB=$(mib "$OPTARG") ;; e) ENG_MIB=$(mib "$OPTARG") ;;
	x) SECTIONS=$OPTARG ;; *) exit 2 ;;
	esac
done
for v in "$SIZE_MIB" "$THR_MIB" "$ENG_MIB"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-blob: bad size $v" >&2; exit 2; }
done
: "${SEALMOUNT:=$top/build/src/cli/sealmount}"
LPROXY=$(dirname "$SEALMOUNT")/../../tests/helpers/latency_proxy
export EMULATORS="$top/tests/emulators" SEALMOUNT
. "$top/tests/integration/functions.sh"
. "$top/tests/integration/nginx.sh"
requires node python3 curl mountpoint nginx fio
[ -x "$LPROXY" ] || fail "build $LPROXY first (ninja -C build)"
set +e
B=$TEST_TMP
MNT="$B/mnt"
mkdir -p "$MNT"
HAVE_PERF=$(perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1 && echo 1)
HAVE_NBD=$(command -v nbdkit >/dev/null && command -v nbdcopy >/dev/null &&
	nbdkit --dump-plugin curl >/dev/null 2>&1 && echo 1)
rows=()
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# ---- small helpers ---------------------------------------------------------------------------
now() { date +%s.%N; }
py() { python3 -c "print($1)"; }
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }
rss_of() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }
quiet_kill() { kill "$1" 2>/dev/null || true; }
ratio() { python3 -c "print(f'{$1 / $2:.${3:-2}f}')" 2>/dev/null || echo n/a; }
ngx_bytes() { awk '{s += $5} END {printf "%d", s}' "$B/nginx/access.log"; }
say() { echo "$*" >&2; }

# row LAT SOURCE METHOD SEQ LIMIT CPU_S_PER_GIB CURL_CPU "IOPS P99" AMPL RSS SPLIT
row() { rows+=("$(printf '%s|' "$@")"); }

# timed_curl URL: "MIB/S CPU_S_PER_GIB" for the whole file (curl's own user + sys time).
timed_curl()
{
	local t0 t1 cpu u s

	TIMEFORMAT='%U %S'
	t0=$(now)
	cpu=$({ time curl -s -o /dev/null "$1"; } 2>&1)
	t1=$(now)
	read -r u s <<<"$cpu"
	echo "$(py "f'{$SIZE_MIB / ($t1 - $t0):.0f}'") $(py "f'{($u + $s) * 1024 / $SIZE_MIB:.2f}'")"
}

# ranges_cfg URL SIZE COUNT random|seq MD5 TOTAL: curl --parallel configuration of ranged GETs.
ranges_cfg()
{
	python3 - "$@" <<'PY'
import random, sys
url, sz, n, mode, md5, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    sys.argv[5] == "1", int(sys.argv[6])
rnd = random.Random(1)
for i in range(n):
    off = rnd.randrange(size // sz) * sz if mode == "random" else i * sz
    if i:
        print("next")
    print(f'url = "{url}"\noutput = "/dev/null"')
    print(f'header = "Range: bytes={off}-{min(off + sz, size) - 1}"')
    if md5:
        print('header = "x-ms-version: 2021-08-06"\nheader = "x-ms-range-get-content-md5: true"')
PY
}

# curl_ranges URL MD5 TOTAL_MIB: "SEQ_MIBS RAND_IOPS" of what the server gives a ranged reader.
curl_ranges()
{
	local t0 t1 seq=n/a rnd=n/a

	ranges_cfg "$1" $((4 << 20)) $((($3 + 3) / 4)) seq "$2" $(($3 << 20)) >"$B/seq.cfg"
	ranges_cfg "$1" 4096 $((JOBS * READS)) random 0 $(($3 << 20)) >"$B/rand.cfg"
	t0=$(now)
	curl -sS --no-progress-meter --fail --parallel --parallel-max 8 -K "$B/seq.cfg" && t1=$(now) &&
		seq=$(py "f'{$3 / ($t1 - $t0):.0f}'")
	t0=$(now)
	curl -sS --no-progress-meter --fail --parallel --parallel-max "$JOBS" -K "$B/rand.cfg" && t1=$(now) &&
		rnd=$(py "f'{$JOBS * $READS / ($t1 - $t0):.0f}'")
	echo "$seq $rnd"
}

# fio_rand ARGS...: "IOPS P99_MS BYTES_READ" of JOBS x READS random 4 KiB reads.
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

# perf_split PID CMD...: run CMD while sampling PID; prints "crypto x% http y% fuse z% cache w%".
perf_split()
{
	local pid=$1 pp

	shift
	if [ -z "$HAVE_PERF" ]; then
		"$@"
		echo "n/a"
		return
	fi
	perf record -q -e cpu-clock -F 499 --call-graph dwarf,8192 -p "$pid" -o "$B/perf.data" \
		2>/dev/null &
	pp=$!
	sleep 0.5
	"$@"
	kill -INT "$pp"
	wait "$pp"
	perf script -i "$B/perf.data" -F ip,sym 2>/dev/null | python3 -c '
import re, sys
cats = [("crypto", r"^(luks_|dmi_|EVP_|aesni|aes_|_aesni|sha256|sha512|HMAC|hmac_|ossl_|md5|MD5|blob_md5|gcm_|CRYPTO_)"),
        ("http", r"^(http_|curl_|Curl_|sink_add|write_cb|header_cb|tcp_|sock_|__sys_recv|__libc_recv|recv|__poll|do_sys_poll|inet_|ip_|skb_|__skb|net_rx|__napi)"),
        ("fuse", r"^(fuse_|fs_read|fs_write|reply_read|fusefs_)"),
        ("cache", r"^(cache_|pool_|fetch_run|prefetch_fn|demand_fn|claim_|read_hit|lower_readv|bdev_|pin_at|diskcache_|dc_)")]
counts, total, frames = {}, 0, []
def flush():
    global total
    if not frames:
        return
    total += 1
    for f in frames:
        c = next((n for n, rx in cats if re.match(rx, f)), None)
        if c:
            counts[c] = counts.get(c, 0) + 1
            return
    counts["other"] = counts.get("other", 0) + 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames = []
        continue
    parts = line.split()
    frames.append(parts[1] if len(parts) > 1 else "?")
flush()
print(" ".join(f"{c} {100 * counts.get(c, 0) // max(total, 1)}%" for c in ("http", "fuse", "cache", "crypto", "other")))'
}

# ---- servers ---------------------------------------------------------------------------------
LP_PID=
lp_start() # LATENCY_MS: the latency proxy in front of nginx; sets LP_PORT
{
	[ -n "$LP_PID" ] && { kill "$LP_PID" 2>/dev/null; wait "$LP_PID" 2>/dev/null; }
	rm -f "$B/lp.port"
	"$LPROXY" --target "$NG_PORT" --delay-ms "$1" --port-file "$B/lp.port" &
	LP_PID=$!
	cleanup_fn quiet_kill "$LP_PID"
	while [ ! -s "$B/lp.port" ]; do sleep 0.05; done
	LP_PORT=$(cat "$B/lp.port")
}

PX_PID=
px_start() # TARGET_PORT ARGS...: the node fault proxy; sets PX_PORT
{
	local target=$1

	shift
	[ -n "$PX_PID" ] && { kill "$PX_PID" 2>/dev/null; wait "$PX_PID" 2>/dev/null; }
	rm -f "$B/px.port"
	node "$EMULATORS/faultproxy.mjs" --target "$target" --port-file "$B/px.port" "$@" &
	PX_PID=$!
	cleanup_fn quiet_kill "$PX_PID"
	while [ ! -s "$B/px.port" ]; do sleep 0.1; done
	PX_PORT=$(cat "$B/px.port")
}
px_stats() { curl -s "http://127.0.0.1:$PX_PORT/__faultproxy/stats"; }
px_bytes() { px_stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes"])'; }

ATTACH_PID=
attach() # URL [ARGS...]
{
	"$SEALMOUNT" blob attach "$1" "$MNT" --cache-mb "$CACHE" "${@:2}" >"$B/attach.log" 2>&1 &
	ATTACH_PID=$!
	cleanup_fn quiet_kill "$ATTACH_PID"
	while ! mountpoint -q "$MNT"; do
		kill -0 "$ATTACH_PID" 2>/dev/null || { cat "$B/attach.log" >&2; return 1; }
		sleep 0.05
	done
}
detach() { RSS=$(rss_of "$ATTACH_PID"); kill -TERM "$ATTACH_PID"; wait "$ATTACH_PID"; }

NBD_PID=""
NBD_SOCK="$B/nbd.sock"
nbd_start() # URL [cache]
{
	local filter=() params=()

	if [ "${2:-}" = cache ]; then
		filter=(--filter=cache)
		params=(cache-on-read=true cache-max-size="${CACHE}M")
	fi
	rm -f "$NBD_SOCK"
	nbdkit -f -U "$NBD_SOCK" -t "$JOBS" "${filter[@]}" curl url="$1" "${params[@]}" \
		2>"$B/nbdkit.log" &
	NBD_PID=$!
	cleanup_fn quiet_kill "$NBD_PID"
	while [ ! -S "$NBD_SOCK" ]; do
		kill -0 "$NBD_PID" 2>/dev/null || { cat "$B/nbdkit.log" >&2; return 1; }
		sleep 0.05
	done
	NBD_URI="nbd+unix:///?socket=$NBD_SOCK"
}
nbd_stop() { kill "$NBD_PID" 2>/dev/null && wait "$NBD_PID" 2>/dev/null; }

# ---- one source at one latency -----------------------------------------------------------------
# stack_rows LAT SOURCE URL COUNTER CURL_MIBS CURL_CPU: sealmount and nbdkit rows. COUNTER names a
# function printing the bytes the server has sent so far.
stack_rows()
{
	local lat=$1 src=$2 url=$3 counter=$4 curl=$5 ccpu=$6 c0 t0 t1 b0 b1 b2 seq cpu rand
	local seq_rss sb variant name

	say "$src, $lat ms: sealmount FUSE"
	attach "$url" || { row "$lat" "$src" "sealmount FUSE" n/a; return; }
	b0=$($counter)
	c0=$(cpu_of "$ATTACH_PID")
	t0=$(now)
	dd if="$MNT/data" of=/dev/null bs=1M status=none
	t1=$(now)
	cpu=$(py "f'{($(cpu_of "$ATTACH_PID") - $c0) * 1024 / $SIZE_MIB:.2f}'")
	seq=$(py "f'{$SIZE_MIB / ($t1 - $t0):.0f}'")
	b1=$($counter)
	detach
	seq_rss=$RSS
	attach "$url" || return
	b1=$($counter)
	rand=$(fio_rand --ioengine=psync --filename="$MNT/data")
	b2=$($counter)
	detach
	sb=$(ratio $((b1 - b0)) $((SIZE_MIB << 20)) 1)
	row "$lat" "$src" "sealmount FUSE" "$seq" "$curl" "$cpu" "$ccpu" "$rand" \
		"${sb}x/$(ratio $((b2 - b1)) "$(cut -d' ' -f3 <<<"$rand")" 1)x" "$seq_rss/$RSS" ""

	for variant in plain cache; do
		name="nbdkit curl"
		[ "$variant" = cache ] && name="nbdkit curl+cache"
		if [ -z "$HAVE_NBD" ] || ! nbd_start "$url" "$variant"; then
			row "$lat" "$src" "$name" n/a
			continue
		fi
		say "$src, $lat ms: $name"
		c0=$(cpu_of "$NBD_PID")
		t0=$(now)
		nbdcopy "$NBD_URI" null:
		t1=$(now)
		cpu=$(py "f'{($(cpu_of "$NBD_PID") - $c0) * 1024 / $SIZE_MIB:.2f}'")
		seq=$(py "f'{$SIZE_MIB / ($t1 - $t0):.0f}'")
		nbd_stop
		rand=
		if nbd_start "$url" "$variant"; then
			b1=$($counter)
			rand=$(fio_rand --ioengine=nbd --uri="$NBD_URI")
			b2=$($counter)
			nbd_stop
		fi
		row "$lat" "$src" "$name" "$seq" "$curl" "$cpu" "$ccpu" "$rand" \
			"-/$(ratio $((b2 - b1)) "$(cut -d' ' -f3 <<<"$rand")" 1)x" "-" ""
	done
}

# ---- sections --------------------------------------------------------------------------------
section_nginx()
{
	local lat r curl ccpu direct split

	for lat in 0 "$LAT"; do
		lp_start "$lat"
		URL="http://127.0.0.1:$LP_PORT/bench.img"
		say "nginx, $lat ms: curl"
		if [ "$lat" = 0 ]; then
			read -r direct _ <<<"$(timed_curl "http://127.0.0.1:$NG_PORT/bench.img")"
			read -r curl ccpu <<<"$(timed_curl "$URL")"
			row "-" "nginx" "latency proxy ceiling" "$curl" "$direct" - - - - - "curl through it / straight"
		fi
		read -r curl ccpu <<<"$(timed_curl "$URL")"
		row "$lat" "nginx" "curl (the limit)" "$curl" "$curl" "$ccpu" "$ccpu" - - - ""
		read -r -a r <<<"$(curl_ranges "$URL" 0 "$SIZE_MIB")"
		row "$lat" "nginx" "curl ranges" "${r[0]}" "$curl" - - "${r[1]} -" "1.0x/1.0x" - ""
		stack_rows "$lat" nginx "$URL" ngx_bytes "$curl" "$ccpu"
	done
	# Where sealmount's CPU goes, from a separate sampled pass (the sampling costs CPU itself).
	lp_start 0
	if attach "http://127.0.0.1:$LP_PORT/bench.img"; then
		say "nginx, 0 ms: sealmount under perf"
		split=$(perf_split "$ATTACH_PID" dd if="$MNT/data" of=/dev/null bs=1M status=none)
		detach
		row "0" "nginx" "sealmount CPU split" - - - - - - - "$split"
	fi
}

section_azurite()
{
	local lat r curl ccpu

	emu_start azurite AZ_PORT
	say "preparing a ${SIZE_MIB} MiB page blob on Azurite..."
	node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs bench.img "$(nginx_www)/bench.img" >&2 ||
		return
	node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" make-public imgs - >&2
	for lat in 0 "$LAT"; do
		px_start "$AZ_PORT" --latency-ms "$lat"
		URL="http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/bench.img"
		say "Azurite, $lat ms: curl"
		read -r curl ccpu <<<"$(timed_curl "$URL")"
		row "$lat" "Azurite" "curl (the limit)" "$curl" "$curl" "$ccpu" "$ccpu" - - - ""
		read -r -a r <<<"$(curl_ranges "$URL" 1 "$SIZE_MIB")"
		row "$lat" "Azurite" "curl ranges+MD5" "${r[0]}" "$curl" - - "${r[1]} -" "1.0x/1.0x" - ""
		stack_rows "$lat" Azurite "$URL" px_bytes "$curl" "$ccpu"
	done
}

# throttled KIND ARGS...: eight readers of the throttled image at once.
throttled()
{
	local kind=$1 i t0 t1 pids=() dds=() errs=0 stats

	shift
	px_start "$NG_PORT" "$@"
	for ((i = 0; i < 8; i++)); do
		mkdir -p "$B/t$i"
		"$SEALMOUNT" blob attach "http://127.0.0.1:$PX_PORT/thr.img" "$B/t$i" \
			--cache-mb "$CACHE" >"$B/t$i.log" 2>&1 &
		pids+=($!)
		cleanup_fn quiet_kill "$!"
	done
	for ((i = 0; i < 8; i++)); do
		while ! mountpoint -q "$B/t$i"; do sleep 0.05; done
	done
	say "throttled ($kind): 8 readers"
	t0=$(now)
	for ((i = 0; i < 8; i++)); do
		# Metadata first (4 jobs of random 4 KiB reads in the first 16 MiB), then all of it.
		{
			fio --name=meta --rw=randread --bs=4k --numjobs=4 --iodepth=1 --number_ios=100 \
				--size=16m --readonly --filename="$B/t$i/data" >/dev/null 2>&1 &&
				dd if="$B/t$i/data" of=/dev/null bs=1M status=none
		} &
		dds+=($!)
	done
	for ((i = 0; i < 8; i++)); do wait "${dds[i]}" || errs=$((errs + 1)); done
	t1=$(now)
	for ((i = 0; i < 8; i++)); do
		kill -TERM "${pids[i]}"
		wait "${pids[i]}"
		grep -q "Read of .* failed" "$B/t$i.log" && errs=$((errs + 1))
	done
	stats=$(px_stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
tl = [t for t in s["timeline"] if t["requests"]]
first = tl[0]["t"] + 5 if tl else 0
steady = [t["requests"] for t in s["timeline"] if t["t"] >= first][:-1] or [0]
gets = sum(s.get("sizes", {}).values())
print(s.get("throttled", 0), max(steady), sum(steady) // len(steady), gets * (1 << 30) // max(s["bytes"], 1))')
	read -r busy maxr meanr pergib <<<"$stats"
	row "-" "nginx, 8 readers" "throttled: $kind" "$(py "f'{8 * $THR_MIB / ($t1 - $t0):.0f}'")" \
		- - - - - - "errors $errs, 503s $busy, req/s after 5 s max $maxr mean $meanr, $pergib req/GiB"
}

section_throttle()
{
	head -c $((THR_MIB << 20)) "$(nginx_www)/bench.img" >"$(nginx_www)/thr.img"
	throttled "page blob 500/s 60 MiB/s" --throttle-rps 500 --throttle-mibps 60
	throttled "block blob 500/s" --throttle-rps 500
}

section_engine()
{
	local xts hmac lim curl lat t0 t1 c0 cpu seq split pid

	if [ "$(id -u)" != 0 ] || ! losetup -f >/dev/null 2>&1; then
		row "-" "nginx" "user engine" n/a
		return
	fi
	say "engine: an hmac-sha256 image with one ${ENG_MIB} MiB file"
	mkdir -p "$B/eng" "$B/pub"
	head -c $((ENG_MIB << 20)) /dev/urandom >"$B/eng/big"
	head -c 32 /dev/urandom >"$B/key"
	"$SEALMOUNT" image create --from-dir "$B/eng" --key-file "$B/key" -o "$(nginx_www)/eng.img" \
		--size "$((ENG_MIB + ENG_MIB / 8 + 32))M" --integrity hmac-sha256 --pbkdf-iterations 1000 \
		>/dev/null 2>"$B/create.log" || { cat "$B/create.log" >&2; return; }
	rm -f "$B/eng/big"
	xts=$(openssl speed -seconds 2 -bytes 4096 -evp aes-256-xts 2>/dev/null | tail -1 | awk '{v = $NF; sub(/k$/, "", v); print v / 1000}')
	hmac=$(openssl speed -seconds 2 -bytes 4096 -hmac sha256 2>/dev/null | tail -1 | awk '{v = $NF; sub(/k$/, "", v); print v / 1000}')
	lim=$(py "f'{1e6 / (1 / $xts + 1 / $hmac) / 1048576:.0f}'") # MiB/s of plaintext
	for lat in 0 "$LAT"; do
		lp_start "$lat"
		read -r curl _ <<<"$(SIZE_MIB=$(($(stat -c %s "$(nginx_www)/eng.img") >> 20)) timed_curl "http://127.0.0.1:$LP_PORT/eng.img")"
		say "engine, $lat ms: mount --engine user"
		start_until_ready "$B/ready" "$B/mount.log" "$SEALMOUNT" mount --engine user \
			--url "http://127.0.0.1:$LP_PORT/eng.img" --key-file "$B/key" --cache-mb "$CACHE" \
			--work-dir "$B/work" --ready-file "$B/ready" "$B/pub/share"
		pid=$BG_PID
		sync
		echo 3 >/proc/sys/vm/drop_caches
		c0=$(cpu_of "$pid")
		t0=$(now)
		dd if="$B/pub/share/big" of=/dev/null bs=1M status=none
		t1=$(now)
		cpu=$(py "f'{($(cpu_of "$pid") - $c0) * 1024 / $ENG_MIB:.2f}'")
		seq=$(py "f'{$ENG_MIB / ($t1 - $t0):.0f}'")
		split=
		if [ "$lat" = 0 ]; then
			echo 3 >/proc/sys/vm/drop_caches
			split=$(perf_split "$pid" dd if="$B/pub/share/big" of=/dev/null bs=1M status=none)
		fi
		"$SEALMOUNT" umount "$B/pub/share"
		wait "$pid"
		row "$lat" "nginx" "user engine, plaintext" "$seq" "$(py "min($curl, $lim)")" "$cpu" - - - \
			- "limit: min(curl $curl, openssl $lim MiB/s) ${split}"
	done
}

# ---- run -------------------------------------------------------------------------------------
nginx_start NG_PORT 2
say "preparing a ${SIZE_MIB} MiB file for nginx..."
head -c $((SIZE_MIB << 20)) /dev/urandom >"$(nginx_www)/bench.img"
for s in $SECTIONS; do
	"section_$s"
done

printf '\n%-7s | %-16s | %-26s | %9s | %9s | %9s | %8s | %9s | %7s | %11s | %9s | %s\n' latency \
	source method "seq MiB/s" "seq/limit" "CPU s/GiB" "CPU/curl" "rand IOPS" "p99 ms" "ampl s/r" \
	"RSS s/r" "notes"
for r in "${rows[@]}"; do
	IFS='|' read -r lat src m seq lim cpu ccpu rand ampl rss notes <<<"$r"
	read -r iops p99 _ <<<"${rand:-}"
	printf '%-7s | %-16s | %-26s | %9s | %9s | %9s | %8s | %9s | %7s | %11s | %9s | %s\n' \
		"$lat" "$src" "$m" "${seq:-n/a}" "$([[ ${seq:-} =~ ^[0-9] && ${lim:-} =~ ^[0-9] ]] &&
			ratio "$seq" "$lim" || echo -)" "${cpu:--}" "$([[ ${cpu:-} =~ ^[0-9] &&
			${ccpu:-} =~ ^[0-9] ]] && ratio "$cpu" "$ccpu" || echo -)" "${iops:--}" "${p99:--}" \
		"${ampl:--}" "${rss:--}" "${notes:-}"
done
echo
echo "size ${SIZE_MIB} MiB (throttled ${THR_MIB} MiB x 8 readers, engine file ${ENG_MIB} MiB);" \
	"cache ${CACHE} MiB; random: ${JOBS} jobs x ${READS} 4 KiB reads; latency ${LAT} ms per request" \
	"(nginx: tests/helpers/latency_proxy; Azurite: the node fault proxy)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
