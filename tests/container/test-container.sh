#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-container.sh - the sidecar image (container/Containerfile) works: build it on this machine
# (scripts/build-container.sh: debootstrap base + podman), then inside it: `sealmount version`,
# `run --check-config` (0 for Microsoft's example, 1 naming the field for a bad one), and a full
# run - privileged, against the stand-ins on the host's loopback - that publishes the image's
# files in the container's /mnt/remote and exits 0 on `podman stop` (SIGTERM) with nothing left.
#
#   meson test -C build --suite container       (scripts/test.sh runs it, once, on the normal build)
#   SEALMOUNT=build/src/cli/sealmount tests/container/test-container.sh
#
# Needs root, podman, runc, debootstrap (scripts/setup.sh); the podman settings these machines
# need (runc with cgroupfs, a containers.conf with default_ulimits = []) are written by
# build-container.sh, not by hand. The first run debootstraps the base (about a minute); every
# run rebuilds the image from this tree. Exit 77 = skipped.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
: "${SEALMOUNT:=$top/build/src/cli/sealmount}"
export SEALMOUNT
. "$top/tests/integration/functions.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root" >&2
	exit 77
fi
requires podman runc debootstrap node
[ -x "$SEALMOUNT" ] || fail "no sealmount binary at $SEALMOUNT (build first)"
IMG=localhost/sealmount-test:latest

step "build the image"
"$top/scripts/build-container.sh" --tag "$IMG" >"$TEST_TMP/build.log" 2>&1 ||
	{ tail -30 "$TEST_TMP/build.log" >&2; fail "build-container.sh failed"; }
. "${SEALMOUNT_CONTAINER_WORK:-/var/tmp/sealmount-container}/env.sh"

step "sealmount version inside the image"
"${PODMAN[@]}" run --rm "$IMG" sealmount version >"$TEST_TMP/version" ||
	fail "sealmount version failed in the container"
grep -q '^sealmount ' "$TEST_TMP/version" || fail "unexpected version output: $(cat "$TEST_TMP/version")"

step "run --check-config through the entrypoint"
cat >"$TEST_TMP/ms.json" <<'JSON'
{"azure_filesystems": [{"mount_point": "/mnt/remote/share",
  "azure_url": "https://acct.blob.core.windows.net/c/encfs.img", "azure_url_private": true,
  "key": {"kid": "encfs-key", "kty": "RSA-HSM", "authority": {"endpoint": "sharedneu.neu.attest.azure.net"},
          "akv": {"endpoint": "myhsm.managedhsm.azure.net"}}}]}
JSON
"${PODMAN[@]}" run --rm -e EncfsSideCarArgs="$(base64 -w0 "$TEST_TMP/ms.json")" "$IMG" \
	--check-config || fail "check-config refused Microsoft's example in the container"
sed 's/"kid": "encfs-key", //' "$TEST_TMP/ms.json" >"$TEST_TMP/bad.json"
rc=0
"${PODMAN[@]}" run --rm -e EncfsSideCarArgs="$(base64 -w0 "$TEST_TMP/bad.json")" "$IMG" \
	--check-config 2>"$TEST_TMP/err" || rc=$?
expect_eq "$rc" 1 "exit code for a bad config"
grep -q "azure_filesystems\[0\].key.kid" "$TEST_TMP/err" || fail "field not named: $(cat "$TEST_TMP/err")"

step "a full run in a privileged container against the stand-ins"
SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT --thim "$SIM/thim.json"
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
emu_start azurite AZ_PORT
MAA="http://127.0.0.1:$MAA_PORT"
VAULT="https://localhost:$HSM_PORT"
HOSTDATA=$("$SEALMOUNT" attest --maa "$MAA" --snp "sim:$SIM" --claims 2>/dev/null |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))["x-ms-sevsnpvm-hostdata"])')
"$SEALMOUNT" key import --vault "$VAULT" --maa "$MAA" --imds "http://127.0.0.1:$IMDS_PORT" \
	--ca-file "$CA" --kid ctr-key --hostdata "$HOSTDATA" --passphrase-out "$TEST_TMP/k" 2>/dev/null
mkdir "$TEST_TMP/src"
echo "hello from inside the container" >"$TEST_TMP/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$TEST_TMP/src" --size 32M --integrity hmac-sha256 \
	--key-file "$TEST_TMP/k" -o "$TEST_TMP/img" 2>/dev/null
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-block imgs ctr.img "$TEST_TMP/img" >/dev/null
SAS=$(node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" sas imgs ctr.img r)
cat >"$TEST_TMP/run.json" <<JSON
{"azure_filesystems": [{"mount_point": "/mnt/remote/share",
  "azure_url": "http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/ctr.img?$SAS",
  "key": {"kid": "ctr-key", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
          "akv": {"endpoint": "$VAULT", "bearer_token": "$(node -e 'const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
console.log(`${b({alg:"RS256"})}.${b({aud:"https://vault.azure.net",exp:Math.floor(Date.now()/1000)+3600})}.c2ln`)')"}},
  "sealmount": {"engine": "user"}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$CA", "readiness_file": "/run/sealmount-ready"}}
JSON
NAME=sealmount-test-$$
mkdir "$TEST_TMP/remote" # the group's shared emptyDir
"${PODMAN[@]}" run -d --name "$NAME" --privileged --network host -v "$TEST_TMP:$TEST_TMP:ro" \
	-v "$TEST_TMP/remote:/mnt/remote" \
	-e EncfsSideCarArgs="$(base64 -w0 "$TEST_TMP/run.json")" -e LogLevel=info "$IMG" >/dev/null
cleanup_fn "${PODMAN[@]}" rm -f "$NAME"
for ((i = 0; i < 600; i++)); do
	[ "$("${PODMAN[@]}" exec "$NAME" cat /run/sealmount-ready 2>/dev/null)" = 1 ] && break
	[ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$NAME")" = true ] || break
	sleep 0.2
done
"${PODMAN[@]}" logs "$NAME" >"$TEST_TMP/ctr.log" 2>&1
expect_eq "$("${PODMAN[@]}" exec "$NAME" cat /mnt/remote/share/hello.txt 2>/dev/null)" \
	"hello from inside the container" "hello.txt in the container ($(cat "$TEST_TMP/ctr.log"))"
step "podman stop (SIGTERM): exit 0, nothing mounted"
"${PODMAN[@]}" stop -t 30 "$NAME" >/dev/null
expect_eq "$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$NAME")" 0 "exit code after SIGTERM"
"${PODMAN[@]}" logs "$NAME" 2>&1 | grep -q "unmounted" || fail "no unmount in the log"
# Mounts of this test only: other sealmount runs on the host may have their own.
! grep -q " $TEST_TMP/" /proc/mounts || fail "a mount is left on the host: $(grep " $TEST_TMP/" /proc/mounts)"
[ -z "$(ls -A "$TEST_TMP/remote")" ] || fail "left in the shared volume: $(ls -A "$TEST_TMP/remote")"
echo PASS
