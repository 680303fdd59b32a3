#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-sidecar.sh - `sealmount run`, the sidecar.
#
# Part 1 (no privileges): Microsoft's example configurations (examples/encfs/encfs-sidecar-args.json
# and the two-filesystem form, filled in) are accepted from EncfsSideCarArgs in both base64
# alphabets and from --config, and mean the same (--check-config --dump); LogFile/LogLevel come
# from the environment; configuration errors name the field.
#
# Part 2 (root, /dev/fuse, a loop device): two filesystems against the stand-ins - simulated SNP,
# MAA, Managed HSM (keys imported with a release policy bound to the simulated host_data), IMDS,
# Azurite holding images made by `sealmount image create` (one read-only block blob behind a
# read SAS, one read-write page blob). Checks the published files, the health endpoint
# (/healthz, /status, /metrics over curl), a write that survives a restart, SIGTERM teardown
# with nothing left behind, a failing release (step named, causes given, the other filesystem
# torn down, exit 1) and on_error "stay".

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

# run ARGS...: run sealmount; sets OUT, ERR, RC.
run()
{
	RC=0
	OUT=$("$SEALMOUNT" "$@" 2>"$TEST_TMP/err") || RC=$?
	ERR=$(cat "$TEST_TMP/err")
}

# config_error JSON FIELD: --check-config refuses JSON, naming FIELD.
config_error()
{
	printf '%s' "$1" >"$TEST_TMP/bad.json"
	run run --config "$TEST_TMP/bad.json" --check-config
	expect_eq "$RC" 1 "exit code for a config with a bad $2"
	grep -qF -- "$2" <<<"$ERR" || fail "the error does not name '$2': $ERR"
}

MS_ONE='{
   "azure_filesystems": [
      {
         "mount_point": "/mnt/remote/share",
         "azure_url": "https://myaccount.blob.core.windows.net/private-container/encfs.img",
         "azure_url_private": true,
         "read_write": true,
         "key": {
            "kid": "encfs-key",
            "kty": "RSA-HSM",
            "authority": {
               "endpoint": "sharedneu.neu.attest.azure.net"
            },
            "akv": {
               "endpoint": "myhsm.managedhsm.azure.net"
            }
         },
         "key_derivation": {
            "salt": "00aabbcc",
            "label": "Symmetric Encryption Key"
         }
      }
   ]
}'

step "Microsoft's encfs-sidecar-args.json: std base64, URL-safe base64 and --config agree"
# Its /mnt/remote (the shared emptyDir, which --check-config checks) is made here.
M=$TEST_TMP/mnt/remote
mkdir -p "$M"
printf '%s' "${MS_ONE//\/mnt\/remote/$M}" >"$TEST_TMP/ms.json"
EncfsSideCarArgs=$(base64 -w0 "$TEST_TMP/ms.json") run run --check-config --dump
expect_eq "$RC" 0 "exit code ($ERR)"
printf '%s\n' "$OUT" >"$TEST_TMP/dump.std"
EncfsSideCarArgs=$(base64 -w0 "$TEST_TMP/ms.json" | tr '+/' '-_' | tr -d '=') \
	run run --check-config --dump
expect_eq "$RC" 0 "exit code with URL-safe base64 ($ERR)"
printf '%s\n' "$OUT" >"$TEST_TMP/dump.url"
run run --config "$TEST_TMP/ms.json" --check-config --dump
expect_eq "$RC" 0 "exit code with --config ($ERR)"
printf '%s\n' "$OUT" >"$TEST_TMP/dump.file"
cmp -s "$TEST_TMP/dump.std" "$TEST_TMP/dump.url" || fail "URL-safe base64 means something else"
cmp -s "$TEST_TMP/dump.std" "$TEST_TMP/dump.file" || fail "--config means something else"
for want in "fs[0].mount_point = $M/share" \
	"fs[0].azure_url = https://myaccount.blob.core.windows.net/private-container/encfs.img" \
	"fs[0].azure_url_private = true" "fs[0].read_write = true" "fs[0].key.kid = encfs-key" \
	"fs[0].key.kty = RSA-HSM" "fs[0].key.authority.endpoint = sharedneu.neu.attest.azure.net" \
	"fs[0].key.akv.endpoint = myhsm.managedhsm.azure.net" "fs[0].key_derivation.salt = 00aabbcc" \
	"fs[0].key_derivation.label = Symmetric Encryption Key" "log_level = info" \
	"snp = device" "on_error = exit" "filesystems = 1"; do
	grep -qxF -- "$want" "$TEST_TMP/dump.std" || fail "dump lacks '$want': $(cat "$TEST_TMP/dump.std")"
done

step "two filesystems, identity, certcache, a bearer token and a SAS: secrets are redacted"
cat >"$TEST_TMP/ms2.json" <<'EOF'
{"azure_info": {"identity": {"client_id": "11111111-2222-3333-4444-555555555555"},
  "certcache": {"endpoint_type": "LocalTHIM", "endpoint": "169.254.169.254/metadata/THIM/amd/certification"}},
 "azure_filesystems": [
  {"mount_point": "/mnt/remote/share", "azure_url": "https://a.blob.core.windows.net/c/rw.img",
   "azure_url_private": true, "read_write": true,
   "key": {"kid": "k1", "kty": "oct-HSM", "authority": {"endpoint": "sharedeus.eus.attest.azure.net"},
           "akv": {"endpoint": "hsm1.managedhsm.azure.net", "bearer_token": "eyJTOPSECRETTOKEN"}}},
  {"mount_point": "/mnt/remote/public", "azure_url": "https://a.blob.core.windows.net/c/ro.img?sv=2020-10-02&sig=TOPSECRETSIG",
   "key": {"kid": "k2", "authority": {"endpoint": "sharedeus.eus.attest.azure.net"},
           "akv": {"endpoint": "kv.vault.azure.net"}}}]}
EOF
sed -i "s|/mnt/remote|$M|g" "$TEST_TMP/ms2.json"
LogLevel=debug LogFile="$TEST_TMP/side.log" run run --config "$TEST_TMP/ms2.json" --check-config --dump
expect_eq "$RC" 0 "exit code ($ERR)"
for want in "filesystems = 2" "identity.client_id = 11111111-2222-3333-4444-555555555555" \
	"certcache.endpoint_type = LocalTHIM" "fs[1].read_write = false" \
	"fs[1].azure_url_private = false" "fs[0].key.akv.bearer_token = <redacted>" \
	"fs[1].azure_url = https://a.blob.core.windows.net/c/ro.img?<redacted>" \
	"fs[1].key_derivation.label = Symmetric Encryption Key" "log_level = debug" \
	"log_file = $TEST_TMP/side.log"; do
	grep -qxF -- "$want" <<<"$OUT" || fail "dump lacks '$want': $OUT"
done
grep -q TOPSECRET <<<"$OUT$ERR" && fail "a secret reached the output"

step "configuration errors name the field; --check-config touches nothing"
config_error '{"azure_filesystems": [{"mount_point": "/mnt/remote/x", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {}}}]}' \
	"azure_filesystems[0].key.akv.endpoint"
config_error '{"azure_filesystems": [{"mount_point": "/mnt/remote/x", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}}, "raed_write": true}]}' \
	"azure_filesystems[0].raed_write"
config_error '{"azure_filesystems": [{"mount_point": "relative", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}}}]}' \
	"azure_filesystems[0].mount_point"
config_error '{"azure_filesystems": [{"mount_point": "/m/x", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}}, "sealmount": {"engine": "turbo"}}]}' \
	"azure_filesystems[0].sealmount.engine"
config_error '{"azure_filesystems": [{"mount_point": "/m/x", "azure_url": "https://a.blob.core.windows.net/c/b", "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}}}], "sealmount": {"health_address": "0.0.0.0:8080"}}' \
	"sealmount.health_address"
config_error '{"azure_filesystems": []}' "azure_filesystems"
EncfsSideCarArgs='not base64!' run run --check-config
expect_eq "$RC" 1 "exit code for EncfsSideCarArgs that is not base64"
grep -q "EncfsSideCarArgs" <<<"$ERR" || fail "the error does not name EncfsSideCarArgs: $ERR"
EncfsSideCarArgs=$(base64 -w0 "$TEST_TMP/ms.json") LogLevel=loud run run --check-config
expect_eq "$RC" 1 "exit code for a bad LogLevel"
grep -q "LogLevel" <<<"$ERR" || fail "the error does not name LogLevel: $ERR"
env -u EncfsSideCarArgs "$SEALMOUNT" run --check-config 2>"$TEST_TMP/err" && fail "no config accepted"
grep -q "EncfsSideCarArgs" "$TEST_TMP/err" || fail "no hint about EncfsSideCarArgs"
[ ! -e "$M/share" ] || fail "--check-config created the mount point"

step "--check-config: each mount_point's parent must be a directory, the mount_point must not exist"
# mp_config MOUNT_POINT [TOP_EXT [FS_EXT [KEY]]]: one filesystem at MOUNT_POINT (KEY "" leaves
# the key object out).
MP_KEY='"key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.example"}},'
mp_config()
{
	printf '{"azure_filesystems": [{"mount_point": "%s", "azure_url": "https://a.blob.core.windows.net/c/b", %s "sealmount": {%s}}], "sealmount": {%s}}' \
		"$1" "${4-$MP_KEY}" "${3:-}" "${2:-}" >"$TEST_TMP/mp.json"
	run run --config "$TEST_TMP/mp.json" --check-config
}
mkdir -p "$M/existing-dir"
touch "$M/existing-file"
ln -s /etc "$M/foreign-link"
ln -s .filesystem-0 "$M/leftover"
mp_config "$M/existing-dir"
expect_eq "$RC" 1 "exit code for an existing directory as mount_point"
grep -qF "azure_filesystems[0].mount_point $M/existing-dir already exists (a directory): the sidecar publishes a symlink there and would replace it" <<<"$ERR" ||
	fail "existing directory: $ERR"
[ -d "$M/existing-dir" ] || fail "--check-config touched the directory"
mp_config "$M/existing-file"
expect_eq "$RC" 1 "exit code for an existing file as mount_point"
grep -qF "already exists (a file)" <<<"$ERR" || fail "existing file: $ERR"
mp_config "$M/foreign-link"
expect_eq "$RC" 1 "exit code for a foreign symlink as mount_point"
grep -qF "already exists (a symlink not made by sealmount)" <<<"$ERR" || fail "foreign link: $ERR"
mp_config "$TEST_TMP/no-such-dir/share"
expect_eq "$RC" 1 "exit code for a missing parent"
grep -qF "azure_filesystems[0].mount_point $TEST_TMP/no-such-dir/share: its parent $TEST_TMP/no-such-dir is not a directory (No such file or directory)" <<<"$ERR" ||
	fail "missing parent: $ERR"
mp_config "$M/existing-file/share"
expect_eq "$RC" 1 "exit code for a parent that is a file"
grep -qF "is not a directory (Not a directory)" <<<"$ERR" || fail "parent is a file: $ERR"
mp_config "$M/leftover"
expect_eq "$RC" 0 "a leftover link of ours (cleaned up at start) is accepted ($ERR)"
mp_config "$M/new"
expect_eq "$RC" 0 "a mount_point that does not exist ($ERR)"

step "--check-config: sealmount.key_file only with the simulated SNP or allow_key_file"
mp_config "$M/new" "" '"key_file": "/k/pass"' ""
expect_eq "$RC" 1 "exit code for key_file in a production config"
grep -qF "azure_filesystems[0].sealmount.key_file: refused: a key file bypasses attestation and Secure Key Release, for local tests only; it needs the simulated SNP (sealmount.snp \"sim:DIR\") or sealmount.allow_key_file: true" <<<"$ERR" ||
	fail "key_file refusal: $ERR"
mp_config "$M/new" '"snp": "device"' '"key_file": "/k/pass"' ""
expect_eq "$RC" 1 "exit code for key_file with the SNP device"
mp_config "$M/new" '"snp": "sim:/tmp/sim"' '"key_file": "/k/pass"' ""
expect_eq "$RC" 0 "key_file with the simulated SNP, no key object ($ERR)"
mp_config "$M/new" '"allow_key_file": true' '"key_file": "/k/pass"' ""
expect_eq "$RC" 0 "key_file with allow_key_file ($ERR)"
mp_config "$M/new" '"snp": "sim:/tmp/sim"' '"key_file": "pass"' ""
expect_eq "$RC" 1 "exit code for a relative key_file"
grep -qF "key_file: 'pass' must be an absolute path" <<<"$ERR" || fail "relative key_file: $ERR"

# ---- part 2: a real run ----
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || [ ! -e /dev/loop-control ]; then
	echo "SKIP: the sidecar run needs root, /dev/fuse and loop devices" >&2
	exit 77
fi
requires node curl

free_port()
{
	node -e 'const s = require("net").createServer().listen(0, "127.0.0.1",
		() => { console.log(s.address().port); s.close(); });'
}
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
step "stand-ins: simulated SNP, MAA, IMDS, Managed HSM, Azurite"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT --thim "$SIM/thim.json"
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
emu_start azurite AZ_PORT
MAA="http://127.0.0.1:$MAA_PORT"
IMDS="http://127.0.0.1:$IMDS_PORT"
VAULT="https://localhost:$HSM_PORT"
COMMON=(--vault "$VAULT" --maa "$MAA" --imds "$IMDS" --ca-file "$CA")

run attest --maa "$MAA" --snp "sim:$SIM" --claims
expect_eq "$RC" 0 "attest ($ERR)"
HOSTDATA=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
	["x-ms-sevsnpvm-hostdata"])' <<<"$OUT")

step "keys imported with a release policy bound to the simulated host_data"
for k in ro rw; do
	run key import "${COMMON[@]}" --kid "side-$k" --hostdata "$HOSTDATA" \
		--passphrase-out "$TEST_TMP/$k.key"
	expect_eq "$RC" 0 "key import side-$k ($ERR)"
done

step "images from directories (sealmount image create), uploaded to Azurite"
mkdir -p "$TEST_TMP/src-ro/sub" "$TEST_TMP/src-rw"
echo "hello from the read-only image" >"$TEST_TMP/src-ro/hello.txt"
head -c 300000 /dev/urandom >"$TEST_TMP/src-ro/sub/random.bin"
echo "first version" >"$TEST_TMP/src-rw/notes.txt"
for k in ro rw; do
	run image create --from-dir "$TEST_TMP/src-$k" --size 64M --integrity hmac-sha256 \
		--key-file "$TEST_TMP/$k.key" -o "$TEST_TMP/$k.img"
	expect_eq "$RC" 0 "image create $k ($ERR)"
done
tool upload-block imgs ro.img "$TEST_TMP/ro.img" >/dev/null
tool upload-page imgs rw.img "$TEST_TMP/rw.img" >/dev/null
RO_URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/ro.img?$(tool sas imgs ro.img r)"
RW_URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/rw.img?$(tool sas imgs rw.img rw)"

SHARE="$TEST_TMP/remote"
mkdir "$SHARE"
HEALTH_PORT=$(free_port)
READY="$TEST_TMP/ready"
BEARER=$(jwt https://vault.azure.net 3600)

# write_config FILE RO_KID [EXTRA_TOP]: the two-filesystem configuration.
write_config()
{
	cat >"$1" <<EOF
{"azure_filesystems": [
  {"mount_point": "$SHARE/public", "azure_url": "$RO_URL",
   "key": {"kid": "$2", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT", "bearer_token": "$BEARER"}},
   "sealmount": {"engine": "user", "cache_mb": 16}},
  {"mount_point": "$SHARE/share", "azure_url": "$RW_URL", "read_write": true,
   "key": {"kid": "side-rw", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "user"}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$CA", "imds_endpoint": "$IMDS",
   "health_address": "127.0.0.1:$HEALTH_PORT", "readiness_file": "$READY", "work_dir": "$TEST_TMP/work"$3}}
EOF
}

SIDECAR_PID=
# start_sidecar CONFIG LOG: run the sidecar in the background, as the container would.
start_sidecar()
{
	EncfsSideCarArgs=$(base64 -w0 "$1") LogLevel=info "$SEALMOUNT" run >"$2" 2>&1 &
	SIDECAR_PID=$!
}
stop_sidecar()
{
	[ -n "$SIDECAR_PID" ] && kill -TERM "$SIDECAR_PID" 2>/dev/null
	wait "$SIDECAR_PID" 2>/dev/null
	SIDECAR_PID=
}
cleanup_fn stop_sidecar
# wait_ready SECONDS: until the readiness file says 1 (or the sidecar exits).
wait_ready()
{
	local i

	for ((i = 0; i < $1 * 10; i++)); do
		[ "$(cat "$READY" 2>/dev/null)" = 1 ] && return 0
		kill -0 "$SIDECAR_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# nothing_left: no mount, loop device, FUSE file or symlink of ours remains.
nothing_left()
{
	! grep -qF "$SHARE" /proc/mounts || fail "a mount under $SHARE remains: $(grep -F "$SHARE" /proc/mounts)"
	! grep -qF "$TEST_TMP" /proc/mounts || fail "a mount remains: $(grep -F "$TEST_TMP" /proc/mounts)"
	! losetup -a | grep -qF "$TEST_TMP" || fail "a loop device remains: $(losetup -a)"
	[ -z "$(ls -A "$SHARE")" ] || fail "left behind in $SHARE: $(ls -A "$SHARE")"
	[ ! -e "$READY" ] || fail "the readiness file remains"
	[ ! -e "$TEST_TMP/work" ] || fail "the work directory remains: $(find "$TEST_TMP/work")"
}

step "run: two filesystems in parallel, one attestation"
write_config "$TEST_TMP/run.json" side-ro ""
start_sidecar "$TEST_TMP/run.json" "$TEST_TMP/run.log"
wait_ready 120 || { cat "$TEST_TMP/run.log" >&2; fail "the sidecar did not become ready"; }
expect_eq "$(grep -c ": attested with" "$TEST_TMP/run.log")" 1 "attestations"
grep -q "shares the attestation of filesystem" "$TEST_TMP/run.log" || fail "no shared attestation"
grep -q "SIMULATED SNP" "$TEST_TMP/run.log" || fail "the simulated SNP was not announced"
grep -qF "Health endpoint on http://127.0.0.1:$HEALTH_PORT/status" "$TEST_TMP/run.log" ||
	fail "the health endpoint's URL was not logged: $(grep Health "$TEST_TMP/run.log")"
expect_eq "$(readlink "$SHARE/public")" ".filesystem-0" "symlink of filesystem 0"
expect_eq "$(readlink "$SHARE/share")" ".filesystem-1" "symlink of filesystem 1"
expect_eq "$(cat "$SHARE/public/hello.txt")" "hello from the read-only image" "hello.txt"
cmp "$SHARE/public/sub/random.bin" "$TEST_TMP/src-ro/sub/random.bin" || fail "random.bin differs"
expect_eq "$(cat "$SHARE/share/notes.txt")" "first version" "notes.txt"
echo "written by the app" >"$SHARE/share/new.txt" || fail "cannot write to the rw filesystem"
if echo x >"$SHARE/public/nope.txt" 2>/dev/null; then fail "the read-only filesystem took a write"; fi
grep -q TOPSECRET "$TEST_TMP/run.log" && fail "secret in the log"
grep -qF "$BEARER" "$TEST_TMP/run.log" && fail "the bearer token reached the log"
grep -q "sig=" "$TEST_TMP/run.log" && fail "a SAS signature reached the log"

step "health endpoint: /healthz, /status, /metrics"
H="http://127.0.0.1:$HEALTH_PORT"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/healthz")" 200 "/healthz"
curl -sf "$H/status" >"$TEST_TMP/status.json" || fail "/status"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const ok = s.ready === true && s.filesystems.length === 2 &&
		s.filesystems.every((f) => f.state === "mounted" && f.engine === "user" && f.size > 0 &&
			f.cache.bytes_fetched > 0 && f.blob.requests > 0 && f.integrity_errors === 0 &&
			f.cache.stale === 0) &&
		s.filesystems[0].rw === false && s.filesystems[1].rw === true &&
		s.filesystems[1].mount_point.endsWith("/share");
	if (!ok) { console.error(JSON.stringify(s)); process.exit(1); }' "$TEST_TMP/status.json" ||
	fail "/status content"
curl -sf "$H/metrics" >"$TEST_TMP/metrics.txt" || fail "/metrics"
grep -q '^sealmount_ready 1$' "$TEST_TMP/metrics.txt" || fail "/metrics: sealmount_ready"
grep -qE '^sealmount_cache_fetched_bytes_total\{index="0",mount_point="[^"]+/public"\} [1-9]' \
	"$TEST_TMP/metrics.txt" || fail "/metrics: cache bytes fetched"
grep -qE '^sealmount_blob_requests_total\{index="1",' "$TEST_TMP/metrics.txt" ||
	fail "/metrics: blob requests"
grep -qE '^sealmount_cache_stale_total\{index="1",mount_point="[^"]+/share"\} 0$' \
	"$TEST_TMP/metrics.txt" || fail "/metrics: cache stale"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$H/status")" 405 "POST /status"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/nope")" 404 "/nope"
# a client that connects and says nothing does not block others
exec 7<>/dev/tcp/127.0.0.1/"$HEALTH_PORT"
expect_eq "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$H/healthz")" 200 "/healthz with a idle client"
exec 7>&-

step "SIGTERM: flush, unmount, exit 0 well within 30 s, nothing left behind"
start=$(date +%s)
kill -TERM "$SIDECAR_PID"
rc=0
wait "$SIDECAR_PID" || rc=$?
SIDECAR_PID=
expect_eq "$rc" 0 "exit code after SIGTERM ($(tail -5 "$TEST_TMP/run.log"))"
[ $(($(date +%s) - start)) -lt 20 ] || fail "shutdown took $(($(date +%s) - start)) s"
nothing_left

step "the write reached the blob: it is there after a restart"
start_sidecar "$TEST_TMP/run.json" "$TEST_TMP/run2.log"
wait_ready 120 || { cat "$TEST_TMP/run2.log" >&2; fail "the sidecar did not become ready again"; }
expect_eq "$(cat "$SHARE/share/new.txt")" "written by the app" "new.txt after a restart"
stop_sidecar
nothing_left

step "a failing release: step named with causes, the other filesystem torn down, exit 1"
write_config "$TEST_TMP/bad.json" no-such-key ""
rc=0
EncfsSideCarArgs=$(base64 -w0 "$TEST_TMP/bad.json") timeout 120 "$SEALMOUNT" run \
	>"$TEST_TMP/bad.log" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit code ($(tail -5 "$TEST_TMP/bad.log"))"
grep -q "Filesystem 0 (.*/public): step 'release' failed" "$TEST_TMP/bad.log" ||
	fail "no message naming the step: $(cat "$TEST_TMP/bad.log")"
grep -q "Likely causes: no such key" "$TEST_TMP/bad.log" || fail "no likely causes given"
nothing_left

step "on_error stay: up, unhealthy (503, state failed) until SIGTERM, then exit 0"
write_config "$TEST_TMP/stay.json" no-such-key ', "on_error": "stay"'
start_sidecar "$TEST_TMP/stay.json" "$TEST_TMP/stay.log"
for ((i = 0; i < 600; i++)); do
	[ "$(cat "$READY" 2>/dev/null)" = 0 ] && break
	sleep 0.1
done
expect_eq "$(cat "$READY" 2>/dev/null)" 0 "readiness file with on_error stay"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$H/healthz")" 503 "/healthz after a failure"
curl -sf "$H/status" | grep -q '"state": "failed"' || fail "/status does not show the failure"
kill -0 "$SIDECAR_PID" || fail "the sidecar exited despite on_error stay"
kill -TERM "$SIDECAR_PID"
rc=0
wait "$SIDECAR_PID" || rc=$?
SIDECAR_PID=
expect_eq "$rc" 0 "exit code after SIGTERM with on_error stay"
nothing_left

step "SIGTERM while a step hangs (a blob server that never answers): exit 0 within 30 s"
HANG_PORT=$(free_port)
node -e 'require("net").createServer(() => {}).listen(Number(process.argv[1]), "127.0.0.1")' \
	"$HANG_PORT" &
HANG_PID=$!
cleanup_fn kill "$HANG_PID"
RW_URL_SAVED=$RW_URL
RW_URL="http://127.0.0.1:$HANG_PORT/devstoreaccount1/imgs/rw.img"
write_config "$TEST_TMP/hang.json" side-ro ""
RW_URL=$RW_URL_SAVED
start_sidecar "$TEST_TMP/hang.json" "$TEST_TMP/hang.log"
for ((i = 0; i < 600; i++)); do
	[ -L "$SHARE/public" ] && grep -q "Filesystem 1: released key" "$TEST_TMP/hang.log" && break
	sleep 0.1
done
[ -L "$SHARE/public" ] || { cat "$TEST_TMP/hang.log" >&2; fail "filesystem 0 was not published"; }
sleep 1
start=$(date +%s)
kill -TERM "$SIDECAR_PID"
rc=0
wait "$SIDECAR_PID" || rc=$?
SIDECAR_PID=
expect_eq "$rc" 0 "exit code after SIGTERM during a hung step ($(tail -3 "$TEST_TMP/hang.log"))"
[ $(($(date +%s) - start)) -lt 25 ] || fail "shutdown took $(($(date +%s) - start)) s"
grep -q "exiting without them" "$TEST_TMP/hang.log" || fail "no message about the hung step"
nothing_left

step "azure_url_private: the storage token comes from IMDS (Azurite in OAuth mode, https)"
requires openssl
T="$TEST_TMP/tls"
mkdir "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 1 \
	-subj /CN=sealmount-test-ca -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 \
	2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
	>"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-out "$T/srv.pem" -days 1 -extfile "$T/srv.ext" 2>/dev/null
emu_start azurite AZS_PORT --cert "$T/srv.pem" --key "$T/srv.key" --oauth basic
NODE_EXTRA_CA_CERTS="$T/ca.pem" BLOB_TOOL_HTTPS=1 node "$EMULATORS/blob-tool.mjs" "$AZS_PORT" \
	upload-block imgs ro.img "$TEST_TMP/ro.img" >/dev/null
cat "$CA" "$T/ca.pem" >"$TEST_TMP/both.pem"
cat >"$TEST_TMP/private.json" <<EOF
{"azure_filesystems": [
  {"mount_point": "$SHARE/private", "azure_url": "https://127.0.0.1:$AZS_PORT/devstoreaccount1/imgs/ro.img",
   "azure_url_private": true,
   "key": {"kid": "side-ro", "authority": {"endpoint": "$MAA"}, "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "user"}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$TEST_TMP/both.pem", "imds_endpoint": "$IMDS",
   "readiness_file": "$READY", "work_dir": "$TEST_TMP/work"}}
EOF
start_sidecar "$TEST_TMP/private.json" "$TEST_TMP/private.log"
wait_ready 120 || { cat "$TEST_TMP/private.log" >&2; fail "not ready with a private blob"; }
expect_eq "$(cat "$SHARE/private/hello.txt")" "hello from the read-only image" "hello.txt (private)"
stop_sidecar
nothing_left
echo "PASS"
