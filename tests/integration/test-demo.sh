#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-demo.sh - scripts/demo.sh, the README's first command, runs to the end: stand-ins, key
# import, image create + upload, `sealmount run`, the files through the published symlink,
# SIGTERM teardown with nothing left behind. Uses this build (no setup, no rebuild).
#
# With --keep (as this test runs it): the stand-ins stay up and the printed environment works -
# a follow-up `sealmount mount` through them (attest, release, mount), and `sealmount run` with
# the printed example configuration (sealmount.key_file, simulated SNP). Then --stop leaves no
# stand-in process running and removes the directory.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] || [ ! -e /dev/loop-control ]; then
	echo "SKIP: the demo needs root, /dev/fuse and loop devices" >&2
	exit 77
fi
requires node curl setsid

top=$(cd "$(dirname "$0")/../.." && pwd)
K=$TEST_TMP/kept
# stop_kept: at exit, whatever happened (a no-op once --stop ran).
cleanup_fn "$top/scripts/demo.sh" --stop --dir "$K"

step "demo.sh --keep"
rc=0
SEALMOUNT=$SEALMOUNT "$top/scripts/demo.sh" --no-setup --keep --dir "$K" >"$TEST_TMP/demo.log" 2>&1 || rc=$?
cat "$TEST_TMP/demo.log"
expect_eq "$rc" 0 "demo.sh exit code"
grep -q "Hello from inside the encrypted image!" "$TEST_TMP/demo.log" ||
	fail "the demo did not show the decrypted file"
grep -q "is empty again; no mounts left" "$TEST_TMP/demo.log" || fail "the demo did not tear down"
grep -q "sig=[^<]" "$TEST_TMP/demo.log" && fail "a SAS signature was printed"
grep -qE "curl http://127\.0\.0\.1:[1-9][0-9]*/healthz" "$TEST_TMP/demo.log" ||
	fail "no health URL with its port (from the sidecar's log line)"
grep -qE "^ +ok$" "$TEST_TMP/demo.log" || fail "/healthz did not answer ok"
for v in MAA= VAULT= IMDS= AZURITE= CA_FILE= KEY_NAME=demo-key KEY_FILE= ACCOUNT_KEY_FILE= \
	EXAMPLE_CONFIG= "scripts/demo.sh --stop --dir $K"; do
	grep -qF -- "$v" "$TEST_TMP/demo.log" || fail "the environment printed lacks '$v'"
done
[ -s "$K/env" ] || fail "no $K/env"
# shellcheck disable=SC1091 # written by the demo
. "$K/env"
pgids=$(cat "$K"/emu-*/pid)
[ -n "$pgids" ] || fail "no stand-in process recorded"
for p in $pgids; do
	kill -0 -- "-$p" 2>/dev/null || fail "stand-in process group $p is not running after --keep"
done

step "the kept environment: sealmount mount through the stand-ins"
mkdir -p "$TEST_TMP/try"
start_until_ready "$TEST_TMP/try-ready" "$TEST_TMP/mount.log" "$SEALMOUNT" mount \
	--url "$IMAGE_URL" --account-key-file "$ACCOUNT_KEY_FILE" --vault "$VAULT" \
	--kid "$KEY_NAME" --maa "$MAA" --snp "sim:$SIM" --imds "$IMDS" --ca-file "$CA_FILE" \
	--ready-file "$TEST_TMP/try-ready" "$TEST_TMP/try/cli"
grep -q "Hello from inside the encrypted image!" "$TEST_TMP"/try/cli/*.txt ||
	fail "the mount does not show the demo's file"
"$SEALMOUNT" umount "$TEST_TMP/try/cli" || fail "umount failed"
wait "$BG_PID" || fail "sealmount mount exited with $?: $(cat "$TEST_TMP/mount.log")"

step "the kept environment: sealmount run with the example configuration (key_file)"
grep -q '"key_file"' "$EXAMPLE_CONFIG" || fail "the example configuration has no key_file"
run_dir=$(node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	console.log(c.azure_filesystems[0].mount_point + "\n" + c.sealmount.readiness_file)' "$EXAMPLE_CONFIG")
mp=$(sed -n 1p <<<"$run_dir")
ready=$(sed -n 2p <<<"$run_dir")
"$SEALMOUNT" run --config "$EXAMPLE_CONFIG" --check-config || fail "--check-config refused the example"
start_until_ready "$ready" "$TEST_TMP/run.log" "$SEALMOUNT" run --config "$EXAMPLE_CONFIG"
grep -q "Hello from inside the encrypted image!" "$mp"/*.txt ||
	fail "the sidecar does not show the demo's file: $(cat "$TEST_TMP/run.log")"
grep -q "passphrase from $KEY_FILE" "$TEST_TMP/run.log" || fail "not from the key file: $(cat "$TEST_TMP/run.log")"
kill -TERM "$BG_PID"
wait "$BG_PID" || fail "the sidecar exited with $?"
[ ! -e "$mp" ] || fail "the sidecar left $mp"

step "demo.sh --stop: nothing left running"
"$top/scripts/demo.sh" --stop --dir "$K" >"$TEST_TMP/stop.log" 2>&1 || fail "--stop: $(cat "$TEST_TMP/stop.log")"
cat "$TEST_TMP/stop.log"
for p in $pgids; do
	! kill -0 -- "-$p" 2>/dev/null || fail "process group $p still runs after --stop: $(ps -o pid,args -g "$p")"
done
[ ! -e "$K" ] || fail "--stop left $K"
echo PASS
