#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-sidecar-freshness.sh - freshness within a session through the whole sidecar
# (docs/freshness.md): `sealmount run` mounts a read-write image (user engine, hmac-sha256
# integrity, a 4 MiB cache) whose blob sits behind tests/emulators/faultproxy.mjs in front of
# Azurite. The proxy records every range as first read; the app writes a file and fsyncs; the
# cache evicts the chunks; the kernel's page caches are dropped for the two files involved. Then:
# without a replay the file reads back as written and /status shows no integrity error; with the
# proxy replaying the older versions (authentic dm-integrity sectors: same key, same position),
# the read fails with EIO and /status and /metrics count integrity errors and stale chunks.
# (The proxy replays only what it saw, so a replay can also pair an older data chunk with a
# current tag chunk, which dm-integrity refuses by itself: the EIO alone would not prove the
# freshness check; the stale count does. Without the check this test fails on it; the bytes-level
# case is tests/integration/test-blob-freshness.sh.)

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || [ ! -e /dev/loop-control ]; then
	echo "SKIP: the sidecar run needs root, /dev/fuse and loop devices" >&2
	exit 77
fi
requires node curl python3

step() { echo "--- $*"; }
run()
{
	RC=0
	OUT=$("$SEALMOUNT" "$@" 2>"$TEST_TMP/err") || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}
free_port()
{
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
		() => { console.log(s.address().port); s.close(); });'
}
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
step "stand-ins: simulated SNP, MAA, IMDS, Managed HSM, Azurite, the fault proxy"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT --thim "$SIM/thim.json"
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
emu_start azurite AZ_PORT
MAA="http://127.0.0.1:$MAA_PORT"
IMDS="http://127.0.0.1:$IMDS_PORT"
VAULT="https://localhost:$HSM_PORT"
rm -f "$TEST_TMP/px.port"
node "$EMULATORS/faultproxy.mjs" --target "$AZ_PORT" --port-file "$TEST_TMP/px.port" \
	2>>"$TEST_TMP/px.log" &
PX_PID=$!
px_kill() { kill "$PX_PID" 2>/dev/null; return 0; }
cleanup_fn px_kill
for ((i = 0; i < 100; i++)); do
	[ -s "$TEST_TMP/px.port" ] && break
	sleep 0.1
done
PX_PORT=$(cat "$TEST_TMP/px.port")
px() { expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PX_PORT/__faultproxy/$1")" 204 "proxy $1"; }
px_stats() { curl -s "http://127.0.0.1:$PX_PORT/__faultproxy/stats"; }

run attest --maa "$MAA" --snp "sim:$SIM" --claims
expect_eq "$RC" 0 "attest ($ERR)"
HOSTDATA=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
	["x-ms-sevsnpvm-hostdata"])' <<<"$OUT")
run key import --vault "$VAULT" --maa "$MAA" --imds "$IMDS" --ca-file "$CA" --kid fresh-rw \
	--hostdata "$HOSTDATA" --passphrase-out "$TEST_TMP/rw.key"
expect_eq "$RC" 0 "key import ($ERR)"

step "a read-write image with 24 MiB of existing data, uploaded as a page blob"
mkdir -p "$TEST_TMP/src"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$TEST_TMP/src/big.bin"
run image create --from-dir "$TEST_TMP/src" --size 64M --integrity hmac-sha256 \
	--key-file "$TEST_TMP/rw.key" -o "$TEST_TMP/rw.img"
expect_eq "$RC" 0 "image create ($ERR)"
tool upload-page imgs rw.img "$TEST_TMP/rw.img" >/dev/null
RW_URL="http://127.0.0.1:$PX_PORT/devstoreaccount1/imgs/rw.img?$(tool sas imgs rw.img rw)"

SHARE="$TEST_TMP/remote"
WORK="$TEST_TMP/work"
mkdir "$SHARE"
HEALTH_PORT=$(free_port)
H="http://127.0.0.1:$HEALTH_PORT"
READY="$TEST_TMP/ready"
cat >"$TEST_TMP/run.json" <<EOF
{"azure_filesystems": [
  {"mount_point": "$SHARE/share", "azure_url": "$RW_URL", "read_write": true,
   "key": {"kid": "fresh-rw", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "user", "cache_mb": 4}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$CA", "imds_endpoint": "$IMDS",
   "health_address": "127.0.0.1:$HEALTH_PORT", "readiness_file": "$READY", "work_dir": "$WORK"}}
EOF
SIDECAR_PID=
stop_sidecar()
{
	[ -n "$SIDECAR_PID" ] && kill -TERM "$SIDECAR_PID" 2>/dev/null
	wait "$SIDECAR_PID" 2>/dev/null
	SIDECAR_PID=
}
cleanup_fn stop_sidecar

step "run, recording every range as first read"
px record
EncfsSideCarArgs=$(base64 -w0 "$TEST_TMP/run.json") LogLevel=info "$SEALMOUNT" run \
	>"$TEST_TMP/run.log" 2>&1 &
SIDECAR_PID=$!
for ((i = 0; i < 1200; i++)); do
	[ "$(cat "$READY" 2>/dev/null)" = 1 ] && break
	kill -0 "$SIDECAR_PID" 2>/dev/null || break
	sleep 0.1
done
[ "$(cat "$READY" 2>/dev/null)" = 1 ] || { cat "$TEST_TMP/run.log" >&2; fail "the sidecar did not become ready"; }

# drop FILE...: write back and drop the kernel's page cache of each file (the app's file on ext4
# and the FUSE file under it), so that the next read goes down to the sidecar's cache.
drop()
{
	python3 - "$@" <<'EOF'
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
EOF
}
# status_num EXPR: a number from /status (EXPR over the first filesystem, f).
status_num() { curl -sf "$H/status" | node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
	const f = s.filesystems[0]; console.log(eval(process.argv[1]));' "$1"; }

step "the app reads the existing data (recorded), writes 2 MiB and fsyncs"
cmp "$SHARE/share/big.bin" "$TEST_TMP/src/big.bin" || fail "big.bin"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$TEST_TMP/new.bin"
cp "$TEST_TMP/new.bin" "$SHARE/share/new.bin"
sync -f "$SHARE/share/new.bin"
drop "$SHARE/share/new.bin" "$SHARE/share/big.bin" "$WORK/0/data"
cmp "$SHARE/share/big.bin" "$TEST_TMP/src/big.bin" || fail "big.bin (evicting)"

step "without a replay: the new file reads back as written, no integrity error"
drop "$SHARE/share/new.bin" "$SHARE/share/big.bin" "$WORK/0/data"
cmp "$SHARE/share/new.bin" "$TEST_TMP/new.bin" || fail "new.bin without a replay"
expect_eq "$(status_num f.integrity_errors)" 0 "integrity_errors without a replay"
expect_eq "$(status_num f.cache.stale)" 0 "cache.stale without a replay"
cmp "$SHARE/share/big.bin" "$TEST_TMP/src/big.bin" || fail "big.bin (evicting again)"

step "the proxy replays the first versions: EIO, never the older bytes, counted"
# (dropped first: the fsyncs may write - ext4's lazy inode table init, the journal - and a write
# that needs a read-modify-write of a replayed chunk would fail there instead)
drop "$SHARE/share/new.bin" "$SHARE/share/big.bin" "$WORK/0/data"
px replay
python3 - "$SHARE/share/new.bin" "$TEST_TMP/new.bin" <<'EOF' || fail "reading new.bin under replay"
import errno, sys
try:
    got = open(sys.argv[1], 'rb').read()
except OSError as e:
    if e.errno != errno.EIO:
        sys.exit(f"failed with {e}, not EIO")
    print(f"    new.bin: {e.strerror}")
    sys.exit(0)
sys.exit("new.bin read without an error" + (" (other bytes!)" if got != open(sys.argv[2], 'rb').read() else ""))
EOF
echo "    proxy: $(px_stats)"
grep -q '"replayed_changed":[1-9]' <<<"$(px_stats)" || fail "the proxy served no older bytes"
n=$(status_num f.integrity_errors)
s=$(status_num f.cache.stale)
echo "    /status: integrity_errors $n, cache.stale $s"
[ "$s" -ge 1 ] && [ "$n" -ge "$s" ] || fail "/status does not count the stale chunks"
curl -sf "$H/metrics" | grep -qE '^sealmount_integrity_errors_total\{index="0",[^}]*\} [1-9]' ||
	fail "/metrics: integrity errors"
curl -sf "$H/metrics" | grep -qE '^sealmount_cache_stale_total\{index="0",[^}]*\} [1-9]' ||
	fail "/metrics: stale"
grep -q "came back different" "$TEST_TMP/run.log" || fail "no stale chunk in the log"
px clean
stop_sidecar

echo "PASS"
