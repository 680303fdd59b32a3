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

# ---- key release stand-ins and secret hygiene (test-secret-hygiene*.sh, test-mount-user.sh) ----
#
#   release_standins DIR     simulated SNP in DIR/sim and the MAA, IMDS (with THIM) and Managed
#                            HSM stand-ins; sets SIM, MAA, IMDS, VAULT, HSM_CA, HOSTDATA and the
#                            array REL (--vault --maa --imds --ca-file)
#   secret_forms FILE        every text form of FILE's bytes (hex, HEX, base64 with and without
#                            padding, base64url), one per line
#   assert_absent SECRET FILE...   no form of SECRET's bytes (nor the raw bytes) in any FILE
#   scan_memory PID SPEC...  as root: read PID's memory; SPEC is locked:FILE (FILE's raw bytes
#                            must be there, only in mappings with Locked > 0) or absent:FILE (no
#                            form of FILE's bytes anywhere, raw included)

# stop_bg PID: SIGTERM a background process and reap it (registered as a cleanup).
stop_bg()
{
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null || true
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
	fail "$* not ready after 30 s"
}

release_standins()
{
	SIM=$1/sim
	HSM_CA=$1/hsm-ca.pem
	mkdir -p "$SIM"
	"$SEALMOUNT" sim init "$SIM" 2>/dev/null
	emu_launch maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
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
		args+=("${spec%%:*}" "${spec#*:}" "$(secret_forms "${spec#*:}" | tr '\n' ' ')")
	done
	python3 - "$pid" "${args[@]}" <<'PY'
import re, sys
pid, specs = sys.argv[1], sys.argv[2:]
secrets = []
for i in range(0, len(specs), 3):
    texts = [t.encode() for t in specs[i + 2].split() if len(t) >= 16]
    secrets.append((specs[i], specs[i + 1], open(specs[i + 1], "rb").read(), texts))
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
        for data in contents(mem, lo, hi):
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
    if kind == "locked":
        print(f"  memory: {path.rsplit('/', 1)[-1]} in {hits.get(path, 0)} mapping(s)")
        if hits.get(path, 0) == 0:
            bad.append(f"{path}: not found in memory at all (is the scan working?)")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
}
