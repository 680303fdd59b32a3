#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-throttle.sh - many readers of one blob against Azure's per-blob scalability targets
# (docs/http-source.md "Throttling"): the fault proxy throttles like the service (503 ServerBusy
# + Retry-After above a per-blob request rate and, for a page blob, a byte rate), scaled down by
# 5 for requests so the test stays short (RPS requests/s; MIBPS MiB/s as for a page blob), in
# front of a real nginx (fast: the limits, not the server, bind). Eight `blob attach` processes
# read the same image at once, as a booting filesystem would: random 4 KiB reads from four
# threads each in its first 4 MiB (metadata), then the whole image front to back. Shown: every
# reader finishes with the right bytes and no error reaching it; after the first seconds the
# requests arriving per second (503s included) stay under the request target; and the clients
# adapt instead of hammering - fewer requests per GiB than the same workload unthrottled, the
# stream's read-ahead in requests over 4 MiB (none unthrottled).

. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/nginx.sh"

requires node python3 mountpoint fusermount3 cmp curl nginx
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }

READERS=8 RPS=100 MIBPS=60 SETTLE_S=3 IMG_MIB=32
step() { echo "--- $*"; }
nginx_start NG_PORT
head -c $((IMG_MIB * 1024 * 1024)) /dev/urandom >"$TEST_TMP/ref"
cp "$TEST_TMP/ref" "$(nginx_www)/shared.img"

PX_PID=
proxy()
{
	local i

	[ -n "$PX_PID" ] && { kill "$PX_PID" 2>/dev/null; wait "$PX_PID" 2>/dev/null || true; }
	rm -f "$TEST_TMP/px.port"
	node "$EMULATORS/faultproxy.mjs" --target "$NG_PORT" --port-file "$TEST_TMP/px.port" "$@" \
		2>>"$TEST_TMP/px.log" &
	PX_PID=$!
	cleanup_fn kill "$PX_PID"
	for ((i = 0; i < 100; i++)); do
		[ -s "$TEST_TMP/px.port" ] && break
		sleep 0.1
	done
	PX_PORT=$(cat "$TEST_TMP/px.port")
}

detach_quiet()
{
	kill -TERM "$1" 2>/dev/null && wait "$1" 2>/dev/null
	mountpoint -q "$2" && fusermount3 -u "$2"
	return 0
}

# readers NAME: READERS attaches of the image through the proxy, each read by a workload of
# random 4 KiB reads in the first 4 MiB (4 threads x 30) and then the whole image; waits for
# all, checks each.
readers()
{
	local name=$1 i pids=() wl=() rc

	for ((i = 0; i < READERS; i++)); do
		mkdir -p "$TEST_TMP/m$i"
		"$SEALMOUNT" blob attach "http://127.0.0.1:$PX_PORT/shared.img" "$TEST_TMP/m$i" \
			>"$TEST_TMP/$name.$i.log" 2>&1 &
		pids+=($!)
		cleanup_fn detach_quiet "$!" "$TEST_TMP/m$i"
	done
	for ((i = 0; i < READERS; i++)); do
		for ((t = 0; t < 200; t++)); do
			mountpoint -q "$TEST_TMP/m$i" && break
			kill -0 "${pids[i]}" 2>/dev/null || { cat "$TEST_TMP/$name.$i.log" >&2; fail "attach $i exited"; }
			sleep 0.1
		done
	done
	for ((i = 0; i < READERS; i++)); do
		python3 - "$TEST_TMP/m$i/data" "$TEST_TMP/ref" "$i" <<'EOF' &
import os, random, sys, threading
path, ref, seed = sys.argv[1], open(sys.argv[2], 'rb').read(), int(sys.argv[3])
bad = []
def job(k):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    rnd = random.Random(seed * 10 + k)
    for _ in range(30):
        off = rnd.randrange(1024) * 4096
        if os.pread(fd, 4096, off) != ref[off:off + 4096]:
            bad.append(off)
    os.close(fd)
ts = [threading.Thread(target=job, args=(k,)) for k in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
if bad:
    sys.exit(f"random reads differ at {bad[:3]}")
with open(path, 'rb') as f:
    if f.read() != ref:
        sys.exit("the whole blob differs")
EOF
		wl+=($!)
	done
	for ((i = 0; i < READERS; i++)); do
		rc=0
		wait "${wl[i]}" || rc=$?
		expect_eq "$rc" 0 "$name: reader $i's workload"
	done
	for ((i = 0; i < READERS; i++)); do
		kill -TERM "${pids[i]}"
		rc=0
		wait "${pids[i]}" || rc=$?
		expect_eq "$rc" 0 "$name: attach $i exit code"
		! grep -q "Read of .* failed" "$TEST_TMP/$name.$i.log" ||
			fail "$name: reader $i saw an error: $(grep -m1 "Read of" "$TEST_TMP/$name.$i.log")"
	done
	curl -s "http://127.0.0.1:$PX_PORT/__faultproxy/stats" >"$TEST_TMP/$name.json"
}

# summary NAME: "busy gets gets_per_gib over_4m max_rate mean_rate" from the proxy's counters:
# 503s, served GETs, GETs per GiB served, GETs over 4 MiB, and the requests arriving per second
# (503s included) after the first SETTLE_S seconds, the last partial second left out.
summary()
{
	python3 - "$TEST_TMP/$1.json" "$SETTLE_S" <<'EOF'
import json, sys
s, settle = json.load(open(sys.argv[1])), int(sys.argv[2])
tl = [t for t in s["timeline"] if t["t"] >= 2]  # the attaches' HEAD and probe come first
busy, sz = s.get("throttled", 0), s.get("sizes", {})
gets = sum(sz.values())
first = next(t["t"] for t in tl if t["requests"])
steady = [t["requests"] for t in tl if t["t"] >= first + settle][:-1] or [0]
per_gib = gets * (1 << 30) // max(s["bytes"], 1)
print(busy, gets, per_gib, sz.get("gt4m", 0), max(steady), sum(steady) // len(steady))
EOF
}

step "unthrottled: the same workload (the baseline)"
proxy --throttle-rps 1000000
readers free
read -r _ FREE_GETS FREE_PER_GIB FREE_BIG _ _ <<<"$(summary free)"
echo "    $FREE_GETS GETs, $FREE_PER_GIB per GiB, $FREE_BIG over 4 MiB"

step "throttled to $RPS requests/s and $MIBPS MiB/s per blob: $READERS readers at once"
T0=$(date +%s)
proxy --throttle-rps "$RPS" --throttle-mibps "$MIBPS"
readers busy
read -r BUSY GETS PER_GIB BIG MAXRATE MEANRATE <<<"$(summary busy)"
echo "    $(($(date +%s) - T0)) s; $BUSY answered 503; $GETS GETs, $PER_GIB per GiB, $BIG over" \
	"4 MiB; after ${SETTLE_S} s: at most $MAXRATE requests/s arrived, $MEANRATE on average" \
	"(target $RPS)"
[ "$BUSY" -gt 0 ] || fail "the proxy never throttled: the test did not reach the targets"
# The service admits at most RPS in any second; what arrives above that are the clients' probes
# (answered 503), which AIMD keeps rare: a tenth over the target at most, under it on average.
[ "$MAXRATE" -le "$((RPS * 11 / 10))" ] ||
	fail "requests kept arriving above the target: $MAXRATE/s"
[ "$MEANRATE" -le "$RPS" ] || fail "requests arrived above the target: $MEANRATE/s on average"
[ "$PER_GIB" -lt "$FREE_PER_GIB" ] || fail "no fewer requests per GiB ($PER_GIB vs $FREE_PER_GIB)"
[ "$BIG" -gt 0 ] && [ "$FREE_BIG" -eq 0 ] ||
	fail "read-ahead did not grow under throttling ($BIG vs $FREE_BIG GETs over 4 MiB)"
python3 - "$TEST_TMP/busy.json" <<'EOF'
import json, sys
tl = [t for t in json.load(open(sys.argv[1]))["timeline"] if t["t"] >= 2 and t["requests"]]
print("    per second, arrived/503:", " ".join(f"{t['requests']}/{t['busy']}" for t in tl))
EOF
grep -h "Blob:" "$TEST_TMP"/busy.*.log | sed 's/^.*Blob: /    /' | head -3
echo "PASS"
