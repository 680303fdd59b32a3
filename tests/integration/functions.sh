# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# functions.sh - helpers shared by tests/integration/test-*.sh (bash). Source it first:
#
#   . "$(dirname "$0")/functions.sh"
#
#   requires CMD...          exit 77 (meson: SKIP) unless every CMD is on PATH
#   requires_shared          exit 77 unless the reference captures of ../shared are there
#                            ($SEALMOUNT_SHARED_TESTDATA, set by meson); their directory in $SHARED
#   step TEXT                print "--- TEXT (N.N s)", the seconds since the script started
#   cleanup_fn CMD [ARGS]    run CMD ARGS when the script exits, last registered first
#   emu_start NAME VAR [ARGS]  start tests/emulators/launch.mjs NAME on 127.0.0.1, wait (30 s at
#                            most, $EMU_START_TIMEOUT if set) for its port, export it as $VAR;
#                            stopped on exit
#   emu_launch NAME VAR [ARGS]; emu_wait VAR   the same in two halves, to start several at once
#   emu_log VAR              the path of the stand-in's log (its stderr: request lines of the
#                            IMDS and Managed HSM stand-ins, "[imds] ...", "[hsm] ...")
#   fail MSG                 print MSG and exit 1
#   expect_eq ACTUAL EXPECTED [WHAT]
#   tmpdir                   a per-script scratch directory ($TEST_TMP), removed on exit
#
# Environment from tests/integration/meson.build: SEALMOUNT, HTTP_PROBE, EMULATORS, BUILD_DIR,
# SEALMOUNT_SHARED_TESTDATA. tests/vm/*.sh and tests/container/*.sh source it too.

set -euo pipefail

: "${EMULATORS:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../emulators" && pwd)}"
# Debian 12's Node.js 18 lacks global WebCrypto and prefers ::1 for localhost: preload a shim.
export NODE_OPTIONS="--require=$EMULATORS/node18-preload.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"

_cleanups=()
_exit_rc=0

cleanup_fn()
{
	_cleanups+=("$(printf '%q ' "$@")")
}

_run_cleanups()
{
	_exit_rc=$? # first: any command, even "local", resets $?
	local i

	set +e
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}"
	done
	exit "$_exit_rc"
}
trap _run_cleanups EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

requires()
{
	local c

	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c not found" >&2
			exit 77
		fi
	done
}

requires_shared()
{
	SHARED=${SEALMOUNT_SHARED_TESTDATA:-}
	if [ -z "$SHARED" ] || [ ! -d "$SHARED" ]; then
		echo "SKIP: shared testdata absent (SEALMOUNT_SHARED_TESTDATA='$SHARED')" >&2
		exit 77
	fi
}

_step_t0=${EPOCHREALTIME/[.,]/}

step()
{
	local us=$((${EPOCHREALTIME/[.,]/} - _step_t0))

	printf -- '--- %s (%d.%d s)\n' "$*" $((us / 1000000)) $((us / 100000 % 10))
}

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

expect_eq()
{
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sealmount-test.XXXXXX")
cleanup_fn rm -rf "$TEST_TMP"

# Stop a launcher politely, then firmly; show its log when the test failed.
_emu_stop()
{
	local pid=$1 name=$2 log=$3 i

	if kill -TERM "$pid" 2>/dev/null; then
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	if [ "$_exit_rc" -ne 0 ] && [ -s "$log" ]; then
		echo "--- $name log ---" >&2
		cat "$log" >&2
	fi
}

declare -A _emu_dirs=()

emu_launch()
{
	local name=$1 var=$2 dir pid

	shift 2
	requires node
	if [ ! -d "$EMULATORS/node_modules" ]; then
		fail "$EMULATORS/node_modules is missing: run 'npm ci' in tests/emulators" \
			"(scripts/setup.sh does this)"
	fi
	dir=$(mktemp -d "$TEST_TMP/emu-$name.XXXXXX")
	node "$EMULATORS/launch.mjs" "$name" --port-file "$dir/port" --dir "$dir/data" "$@" \
		>"$dir/log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pid"
	_emu_dirs[$var]=$dir
	cleanup_fn _emu_stop "$pid" "$name" "$dir/log"
}

emu_wait()
{
	local var=$1 dir=${_emu_dirs[$1]} pid i
	local limit=$((${EMU_START_TIMEOUT:-30} * 10))

	pid=$(cat "$dir/pid")
	for ((i = 0; i < limit; i++)); do
		[ -s "$dir/port" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$dir/log" >&2
			fail "emulator for $var exited during startup"
		fi
		sleep 0.1
	done
	if [ ! -s "$dir/port" ]; then
		cat "$dir/log" >&2
		fail "emulator for $var not ready after $((limit / 10)) s"
	fi
	printf -v "$var" '%s' "$(cat "$dir/port")"
	export "${var?}"
}

emu_start()
{
	emu_launch "$@"
	emu_wait "$2"
}

emu_log()
{
	echo "${_emu_dirs[$1]}/log"
}

# ---- key release stand-ins and secret hygiene (test-secret-hygiene*.sh, test-mount-user.sh) ----
#
#   release_standins DIR [MAA_OPTION...]   simulated SNP in DIR/sim and the MAA (with the
#                            options), IMDS (with THIM) and Managed HSM stand-ins; sets
#                            SIM, MAA, IMDS, VAULT, HSM_CA, HOSTDATA and the array REL (--vault
#                            --maa --imds --ca-file)
#   secret_forms FILE        every text form of FILE's bytes (hex, HEX, base64 with and without
#                            padding, base64url), one per line
#   assert_absent SECRET FILE...   no form of SECRET's bytes (nor the raw bytes) in any FILE
#   scan_memory PID SPEC...  as root: read PID's memory; SPEC is locked:FILE (FILE's raw bytes
#                            must be there, only in mappings with Locked > 0), lockedif:FILE (if
#                            they are there at all, only in locked mappings), absent:FILE (no
#                            form of FILE's bytes anywhere, raw included) or factor:FILE (FILE
#                            holds an RSA modulus in hex: a prime factor of it - the private
#                            key, as OpenSSL keeps it in BIGNUMs (little-endian, 8-byte aligned)
#                            or in DER - must be there, only in locked mappings)
#   hold_server VAR DIR      a loopback HTTP server (its port in $VAR) that answers every
#                            request with a status line and then one endless header, 256 bytes
#                            a second - a client is held in that request, alive, with no
#                            breakpoint and inside every low-speed limit, for minutes (until
#                            its header cap); each request line is appended to DIR/requests;
#                            `touch DIR/go` ends the answers (the clients then fail)

# stop_bg PID: SIGTERM a background process and reap it (registered as a cleanup).
stop_bg()
{
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
}

# dump_threads PID: where each thread of PID waits (name, wchan, kernel stack when readable),
# for a test that gives up on a process.
dump_threads()
{
	local t

	for t in /proc/"$1"/task/*; do
		[ -d "$t" ] || continue
		echo "thread ${t##*/} ($(cat "$t/comm" 2>/dev/null)): waits in $(cat "$t/wchan" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null || true
	done
	if command -v gdb >/dev/null; then
		timeout 60 gdb -p "$1" -batch -nx -ex "thread apply all bt" 2>&1 |
			grep -vE '^\[New LWP|^$' | head -300 || true
	fi
	for t in /sys/block/nbd*; do
		[ "$(cat "$t/pid" 2>/dev/null)" = "$1" ] || continue
		echo "${t##*/}: served by it, in flight (read write): $(cat "$t/inflight")"
		cat /sys/kernel/debug/nbd/"${t##*/}"/tasks 2>/dev/null || true
		(cd /sys/kernel/debug/block/"${t##*/}" 2>/dev/null &&
			grep -H . state requeue_list sched/* hctx*/state hctx*/dispatch hctx*/busy \
				2>/dev/null) || true
		echo "scheduler: $(cat "$t/queue/scheduler")"
	done
}

# start_until_ready READY LOG CMD...: run CMD in the background with its output in LOG (its
# pid in BG_PID, stopped at cleanup) and wait up to 30 s for it to write READY; fail, showing
# LOG, if it exits first or never gets there.
start_until_ready()
{
	local ready=$1 log=$2 i

	shift 2
	rm -f "$ready"
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	cleanup_fn stop_bg "$BG_PID"
	for ((i = 0; i < 300; i++)); do
		[ -s "$ready" ] && return 0
		kill -0 "$BG_PID" 2>/dev/null || { cat "$log" >&2; fail "$* exited"; }
		sleep 0.1
	done
	cat "$log" >&2
	dump_threads "$BG_PID" >&2
	fail "$* not ready after 30 s"
}

# jwt AUD EXP_OFFSET: an unsigned-looking bearer token the HSM stand-in accepts (aud, exp).
jwt()
{
	node -e 'const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
		const now = Math.floor(Date.now() / 1000);
		console.log(`${b({ alg: "RS256", typ: "JWT" })}.${b({ aud: process.argv[1],
			exp: now + Number(process.argv[2]) })}.c2ln`);' "$1" "$2"
}

release_standins()
{
	SIM=$1/sim
	HSM_CA=$1/hsm-ca.pem
	mkdir -p "$SIM"
	"$SEALMOUNT" sim init "$SIM" 2>/dev/null
	emu_launch maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm \
		"${@:2}"
	emu_launch imds IMDS_PORT --thim "$SIM/thim.json"
	emu_launch hsm HSM_PORT --ca-out "$HSM_CA" --resource https://vault.azure.net
	emu_wait MAA_PORT
	emu_wait IMDS_PORT
	emu_wait HSM_PORT
	MAA="http://127.0.0.1:$MAA_PORT"
	IMDS="http://127.0.0.1:$IMDS_PORT"
	VAULT="https://localhost:$HSM_PORT"
	# shellcheck disable=SC2034 # for the caller
	REL=(--vault "$VAULT" --maa "$MAA" --imds "$IMDS" --ca-file "$HSM_CA")
	HOSTDATA=$("$SEALMOUNT" attest --maa "$MAA" --snp "sim:$SIM" --claims 2>/dev/null |
		node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
			["x-ms-sevsnpvm-hostdata"])')
	[ ${#HOSTDATA} -eq 64 ] || fail "no hostdata from the MAA stand-in"
}

secret_forms()
{
	local b64

	xxd -p -c 256 "$1"
	xxd -p -c 256 "$1" | tr a-f A-F
	b64=$(base64 -w0 "$1")
	echo "$b64"
	echo "${b64%%=*}"
	echo "$b64" | tr '+/' '-_' | tr -d '='
}

assert_absent()
{
	local secret=$1 f form

	shift
	for f in "$@"; do
		[ -f "$f" ] || continue
		while read -r form; do
			[ -n "$form" ] || continue
			! grep -qF -- "$form" "$f" || fail "secret ($form) found in $f"
		done < <(secret_forms "$secret")
		node -e 'const fs = require("fs");
			process.exit(fs.readFileSync(process.argv[2]).indexOf(fs.readFileSync(process.argv[1])) < 0 ? 0 : 1)' \
			"$secret" "$f" || fail "raw secret bytes found in $f"
	done
}

scan_memory()
{
	local pid=$1 spec args=()

	shift
	for spec in "$@"; do
		if [ "${spec%%:*}" = factor ]; then
			args+=(factor "${spec#*:}" "")
		else
			args+=("${spec%%:*}" "${spec#*:}" "$(secret_forms "${spec#*:}" | tr '\n' ' ')")
		fi
	done
	python3 - "$pid" "${args[@]}" <<'PY'
import re, sys
pid, specs = sys.argv[1], sys.argv[2:]
secrets, moduli = [], []
for i in range(0, len(specs), 3):
    if specs[i] == "factor":
        moduli.append((specs[i + 1], int(open(specs[i + 1]).read().strip(), 16)))
        continue
    texts = [t.encode() for t in specs[i + 2].split() if len(t) >= 16]
    secrets.append((specs[i], specs[i + 1], open(specs[i + 1], "rb").read(), texts))

ZERO_PAGE = bytes(4096)

def factors(data, base, n):
    """Offsets (base + off) of nontrivial factors of n in data: little-endian BIGNUM words at
    8-byte alignment (odd, top bit set: an RSA prime of half the modulus size) and DER INTEGERs."""
    plen = (n.bit_length() + 15) // 16
    hits = []
    for page in range(0, len(data), 4096):
        if data[page:page + 4096] == ZERO_PAGE:
            continue
        for off in range(page, min(page + 4096, len(data) - plen + 1), 8):
            if data[off] & 1 and data[off + plen - 1] >= 0x80:
                c = int.from_bytes(data[off:off + plen], "little")
                if 1 < c < n and n % c == 0:
                    hits.append(base + off)
    hdr = b"\x02" + (b"\x81" + bytes([plen + 1]) if plen + 1 < 256 else b"\x82" + (plen + 1).to_bytes(2, "big")) + b"\x00"
    at = data.find(hdr)
    while at >= 0:
        c = int.from_bytes(data[at + len(hdr):at + len(hdr) + plen], "big")
        if 1 < c < n and n % c == 0:
            hits.append(base + at)
        at = data.find(hdr, at + 1)
    return hits
locked, rss, maps, cur = {}, {}, [], None
for line in open(f"/proc/{pid}/smaps"):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
    if m:
        f = line.split()
        cur = (int(m[1], 16), int(m[2], 16), m[3], f[5] if len(f) > 5 else "")
        maps.append(cur)
    elif line.startswith("Locked:"):
        locked[cur] = int(line.split()[1])
    elif line.startswith("Rss:"):
        rss[cur] = int(line.split()[1])
CHUNK, OVERLAP, HUGE = 16 << 20, 4096, 1 << 30

def contents(mem, lo, hi):
    """The mapping in overlapping chunks (a secret may straddle a chunk boundary)."""
    for off in range(lo, hi, CHUNK):
        try:
            mem.seek(off)
            yield mem.read(min(hi, off + CHUNK + OVERLAP) - off)
        except OSError:
            return

bad, hits = [], {}
with open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for m in maps:
        lo, hi, perms, name = m
        if "r" not in perms or name in ("[vvar]", "[vsyscall]") or rss.get(m, 0) == 0:
            continue
        # Sanitizer shadow and allocator reservations span terabytes that read as zeros:
        # skipped (the normal build's run covers the heap).
        if hi - lo > HUGE:
            continue
        found = set()
        off = lo
        for data in contents(mem, lo, hi):
            for path, n in moduli:
                for where in factors(data, off, n):
                    key = (path, where)
                    if key in found:
                        continue
                    found.add(key)
                    hits[path] = hits.get(path, 0) + 1
                    if locked.get(m, 0) == 0:
                        bad.append(f"{path}: a prime factor at {where:x} in unlocked {lo:x}-{hi:x} {perms} {name}")
            off += CHUNK
            for kind, path, raw, texts in secrets:
                for t in texts:
                    if t in data and (path, t) not in found:
                        found.add((path, t))
                        bad.append(f"{path}: text form {t[:12].decode()}... in {lo:x}-{hi:x} {perms} {name}")
                if raw in data and (path, None) not in found:
                    found.add((path, None))
                    where = f"{lo:x}-{hi:x} {perms} {name} (Locked {locked.get(m, 0)} kB)"
                    hits[path] = hits.get(path, 0) + 1
                    if kind == "absent":
                        bad.append(f"{path}: raw bytes in {where}")
                    elif locked.get(m, 0) == 0:
                        bad.append(f"{path}: raw bytes in unlocked {where}")
for kind, path, raw, texts in secrets:
    if kind in ("locked", "lockedif"):
        print(f"  memory: {path.rsplit('/', 1)[-1]} in {hits.get(path, 0)} mapping(s)")
        if kind == "locked" and hits.get(path, 0) == 0:
            bad.append(f"{path}: not found in memory at all (is the scan working?)")
for path, n in moduli:
    print(f"  memory: a prime factor of {path.rsplit('/', 1)[-1]} at {hits.get(path, 0)} place(s)")
    if hits.get(path, 0) == 0:
        bad.append(f"{path}: no prime factor found in memory at all (is the scan working?)")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
}

hold_server()
{
	local var=$1 dir=$2 i

	mkdir -p "$dir"
	rm -f "$dir/port" "$dir/go" "$dir/requests"
	python3 - "$dir" <<'PY' &
import os, socket, sys, threading, time
d = sys.argv[1]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(16)
def serve(c):
    try:
        req = c.recv(65536).split(b"\r\n", 1)[0]
        with open(os.path.join(d, "requests"), "ab") as f:
            f.write(req + b"\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Hold: ")
        while not os.path.exists(os.path.join(d, "go")):
            c.sendall(b"a" * 64)  # 256 bytes a second: above any low-speed limit
            time.sleep(0.25)
    except OSError:
        pass
    c.close()
open(os.path.join(d, "port.tmp"), "w").write(str(srv.getsockname()[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	cleanup_fn stop_bg $!
	for ((i = 0; i < 100; i++)); do
		[ -s "$dir/port" ] && break
		sleep 0.1
	done
	[ -s "$dir/port" ] || fail "hold_server did not start"
	printf -v "$var" '%s' "$(cat "$dir/port")"
}
