#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-frontends.sh - `sealmount run` (the sidecar) and `sealmount mount` are two front-ends of
# one pipeline (pipeline.h): for the same failure they name the same step and print the same
# message, word for word. Driven through the same failing cases against the stand-ins
# (simulated SNP, MAA, IMDS, Managed HSM, Azurite):
#   - a wrong key: the released key is not the image's         -> step 'volume', key rejected
#   - a release refused: the key's policy wants another host   -> step 'release', HTTP 403
#   - no such blob                                              -> step 'open', 404
#   - a header refused: an image without integrity             -> step 'volume', policy
#   - a sealed image with another root hash pinned             -> step 'seal', root mismatch
# and the success path's step lines agree as well. No privileges needed: every case fails before
# anything is mounted (the success case mounts with fuse2fs or a loop device when it can).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node

W=$TEST_TMP
release_standins "$W"
emu_start azurite AZ_PORT
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

echo "--- keys: two with the right policy, one bound to another host"
for k in fe-good fe-other; do
	"$SEALMOUNT" key import "${REL[@]}" --kid "$k" --hostdata "$HOSTDATA" \
		--passphrase-out "$W/$k.key" >/dev/null 2>&1 || fail "key import $k"
done
"$SEALMOUNT" key import "${REL[@]}" --kid fe-403 --hostdata "$(printf 'ab%.0s' {1..32})" \
	>/dev/null 2>&1 || fail "key import fe-403"

echo "--- images: one with integrity, one without (Microsoft-style)"
mkdir -p "$W/src"
echo "same pipeline" >"$W/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$W/src" --size 16M --key-file "$W/fe-good.key" \
	--pbkdf-iterations 1000 -o "$W/good.img" >/dev/null 2>&1 || fail "image create good"
"$SEALMOUNT" image create --from-dir "$W/src" --size 16M --key-file "$W/fe-good.key" \
	--pbkdf-iterations 1000 --integrity none -o "$W/plain.img" >/dev/null 2>&1 ||
	fail "image create plain"
"$SEALMOUNT" image create --from-dir "$W/src" --size 16M --key-file "$W/fe-good.key" \
	--pbkdf-iterations 1000 --verity -o "$W/sealed.img" >/dev/null 2>&1 || fail "image create sealed"
for i in good plain sealed; do
	tool upload-block imgs "$i.img" "$W/$i.img" >/dev/null || fail "upload $i"
done
url() { echo "http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/$1?$(tool sas imgs "$1" r)"; }

SHARE=$W/share
mkdir "$SHARE"
MP=$SHARE/fs

# the failure message without its timestamp, the lines after it that belong to it (the release
# policy against the token), request ids normalised
failure_line()
{
	awk -v mp=" ($MP): step '" '
		index($0, mp) && match($0, /Filesystem [0-9]+ \(/) { on = 1; print substr($0, RSTART); next }
		on && /^[0-9]{4}-[0-9]{2}-[0-9]{2}T/ { on = 0 }
		on { print }' "$1" | sed -E 's/x-ms-request-id [0-9a-f-]+/x-ms-request-id ID/g;
			1s/^Filesystem [0-9]+ /Filesystem I /'
}

# via_mount URL KID LOG: sealmount mount (--root-hash $ROOT when set); exit code in RC. --index 0
# as `run` numbers its only filesystem: mount's default is the first index free on this machine.
via_mount()
{
	RC=0
	timeout 120 "$SEALMOUNT" mount --engine user --index 0 --url "$1" "${REL[@]}" --kid "$2" \
		--snp "sim:$SIM" --work-dir "$W/work" ${ROOT:+--root-hash "$ROOT"} "$MP" >"$3" 2>&1 ||
		RC=$?
}

# via_run URL KID LOG: sealmount run with the same filesystem in its configuration
via_run()
{
	cat >"$W/run.json" <<JSON
{"azure_filesystems": [
  {"mount_point": "$MP", "azure_url": "$1",
   "key": {"kid": "$2", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "user"${ROOT:+, \"root_hash\": \"$ROOT\"}}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$HSM_CA", "imds_endpoint": "$IMDS",
   "work_dir": "$W/work"}}
JSON
	RC=0
	timeout 120 "$SEALMOUNT" run --config "$W/run.json" >"$3" 2>&1 || RC=$?
}

# same_failure NAME URL KID STEP PATTERN
same_failure()
{
	local name=$1 m r

	echo "--- $name: the same step and message from both front-ends"
	via_mount "$2" "$3" "$W/$name.mount.log"
	expect_eq "$RC" 1 "mount exit code ($name): $(tail -3 "$W/$name.mount.log")"
	via_run "$2" "$3" "$W/$name.run.log"
	expect_eq "$RC" 1 "run exit code ($name): $(tail -3 "$W/$name.run.log")"
	m=$(failure_line "$W/$name.mount.log")
	r=$(failure_line "$W/$name.run.log")
	[ -n "$m" ] || fail "$name: mount printed no failure line: $(cat "$W/$name.mount.log")"
	expect_eq "$r" "$m" "$name: the sidecar's failure line"
	grep -q "step '$4' failed" <<<"$m" || fail "$name: not step '$4': $m"
	grep -qE -- "$5" <<<"$m" || fail "$name: no '$5' in: $m"
	grep -q "Likely causes: " <<<"$m" || fail "$name: no likely causes: $m"
	[ -z "$(ls -A "$SHARE")" ] || fail "$name: left in $SHARE: $(ls -A "$SHARE")"
	echo "$m"
}

same_failure wrong-key "$(url good.img)" fe-other volume 'Wrong passphrase|Required key'
same_failure release-403 "$(url good.img)" fe-403 release 'HTTP 403'
same_failure blob-404 "$(url missing.img)" fe-good open 'HTTP 404 BlobNotFound'
same_failure header-refused "$(url plain.img)" fe-good volume 'refused by rule policy'
ROOT=$(printf '%064d' 7) same_failure seal-mismatch "$(url sealed.img)" fe-good seal \
	'does not lead to the trusted root hash'

echo "--- stale certificates in the security context: the sidecar fetches THIM's from IMDS"
# The simulated SNP's own THIM names another TCB (a host whose firmware moved on); IMDS's THIM
# (the stand-in serves the real one) matches the report. A release that worked ends at 'volume'.
cp -r "$SIM" "$W/sim-stale"
python3 - "$W/sim-stale/thim.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tcbm"] = "%016x" % (int(d["tcbm"], 16) ^ 0x0100000000000000)
json.dump(d, open(sys.argv[1], "w"))
PY
SIM_SAVED=$SIM SIM=$W/sim-stale
via_run "$(url good.img)" fe-other "$W/stale.log"
SIM=$SIM_SAVED
expect_eq "$RC" 1 "run with stale certificates: $(tail -3 "$W/stale.log")"
grep -q "step 'volume' failed" "$W/stale.log" ||
	fail "stale certificates were not refreshed: $(cat "$W/stale.log")"
grep -qs "GET /metadata/THIM/amd/certification -> 200" "${_emu_dirs[IMDS_PORT]}/log" ||
	fail "the THIM endpoint was not asked: $(cat "${_emu_dirs[IMDS_PORT]}/log")"

echo "--- AKS workload identity (AZURE_* variables): the sidecar's vault token from Entra ID"
# IMDS is a dead port: the vault token can only come from the federated token exchange. The key
# is the wrong one, so a release that worked ends at step 'volume'.
jwt api://AzureADTokenExchange 3600 >"$W/federated"
emu_start imds WID_PORT --client-id wid-client --federated-token "$W/federated"
wid_run()
{
	IMDS=http://127.0.0.1:1 AZURE_CLIENT_ID=wid-client AZURE_TENANT_ID=contoso.onmicrosoft.com \
		AZURE_FEDERATED_TOKEN_FILE=$1 AZURE_AUTHORITY_HOST=http://127.0.0.1:$WID_PORT/ \
		via_run "$(url good.img)" fe-other "$2"
}
wid_run "$W/federated" "$W/wid.log"
expect_eq "$RC" 1 "run with workload identity: $(tail -3 "$W/wid.log")"
grep -q "Using AKS workload identity (client wid-client" "$W/wid.log" || fail "wid: $(cat "$W/wid.log")"
grep -q "step 'volume' failed" "$W/wid.log" || fail "wid: the release failed: $(cat "$W/wid.log")"
jwt api://AzureADTokenExchange 3600 >"$W/federated-other"
wid_run "$W/federated-other" "$W/wid-other.log"
grep -q "step 'token' failed.*AADSTS700213.*AKS workload identity" "$W/wid-other.log" ||
	fail "wid, another federated token: $(cat "$W/wid-other.log")"

# steps LOG: the info lines' first words after "Filesystem I:", one per step that ran (mount
# takes the first index free on this machine, the sidecar 0)
steps() { grep -oE "\[info\]: Filesystem [0-9]+: [a-z][a-z]*" "$1" | cut -d' ' -f4 | tr '\n' ' '; }

# serve_once NAME FRONTEND: a good mount through via_FRONTEND; read a file, stop it; sets STEPS
serve_once()
{
	local pid i

	"via_$2" "$(url good.img)" fe-good "$W/$1.log" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		[ -L "$MP" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -L "$MP" ]; then
		wait "$pid" || true
		grep -q "step 'volume' failed: .*\(privilege\|fuse\|loop\)" "$W/$1.log" ||
			fail "good $2: $(cat "$W/$1.log")"
		return 1
	fi
	expect_eq "$(cat "$MP/hello.txt")" "same pipeline" "hello.txt through $2"
	pkill -TERM -P "$pid" # timeout(1), which passes it on to sealmount
	wait "$pid" || true
	[ -z "$(ls -A "$SHARE")" ] || fail "$2: left in $SHARE: $(ls -A "$SHARE")"
	STEPS=$(steps "$W/$1.log")
}

echo "--- the steps of a good mount are the same in both front-ends"
if serve_once ok-mount mount; then
	expect_eq "$STEPS" "attested vault released opened mounted published " "mount's steps"
	serve_once ok-run run || fail "the sidecar could not mount where mount could"
	expect_eq "$STEPS" "attested vault released opened mounted published " "the sidecar's steps"
else
	echo "(no mount possible here: the success path is covered by test-mount-user)"
fi

echo "--- a sidecar killed with SIGKILL: the next one cleans up what it left, then mounts"
if [ -n "${STEPS:-}" ]; then
	via_run_bg() # like via_run, without timeout(1): the pid is the sidecar's
	{
		"$SEALMOUNT" run --config "$W/run.json" >"$1" 2>&1 &
		SC_PID=$!
		for ((i = 0; i < 600; i++)); do
			grep -q "Ready: " "$1" && return 0
			kill -0 "$SC_PID" 2>/dev/null || return 1
			sleep 0.1
		done
		return 1
	}
	# run.json still holds the good filesystem from serve_once
	via_run_bg "$W/crash1.log" || fail "sidecar: $(cat "$W/crash1.log")"
	kill -KILL "$SC_PID"
	wait "$SC_PID" 2>/dev/null || true
	[ -L "$MP" ] || fail "SIGKILL left no link behind (nothing to test)"
	via_run_bg "$W/crash2.log" || fail "the restarted sidecar: $(cat "$W/crash2.log")"
	grep -q "is gone (a crash?): cleaning up what it left" "$W/crash2.log" ||
		fail "no clean-up by the restarted sidecar: $(cat "$W/crash2.log")"
	expect_eq "$(cat "$MP/hello.txt")" "same pipeline" "hello.txt after the restart"
	kill -TERM "$SC_PID"
	wait "$SC_PID" || fail "the restarted sidecar exited $? on SIGTERM"
	[ -z "$(ls -A "$SHARE")" ] || fail "left in $SHARE: $(ls -A "$SHARE")"
	! grep -qF " $SHARE/" /proc/mounts || fail "a mount is left after the restart"
fi
