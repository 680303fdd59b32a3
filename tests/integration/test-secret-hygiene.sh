#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-secret-hygiene.sh - after a full attest -> release run at debug log level (JSON and text),
# neither the released passphrase (raw, hex, base64, base64url), nor the vault bearer token, nor
# the MAA token's signature appears in any log line or in any file the run wrote besides the
# --out file it was asked for (mode 0600). Stand-ins: simulated SNP, MAA, IMDS, Managed HSM.
# Then a long-running process holding a secret (`blob attach` with a SharedKey account key,
# against Azurite): its memory is locked (VmLck), RLIMIT_CORE is 0, it is non-dumpable (its
# /proc/PID/mem cannot be opened without CAP_SYS_PTRACE), the key is in neither its environ,
# cmdline, log nor any file, and (as root) in memory only inside locked mappings, its base64 file
# text nowhere.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires node xxd base64

SIM="$TEST_TMP/sim"
CA="$TEST_TMP/hsm-ca.pem"
mkdir "$SIM"
"$SEALMOUNT" sim init "$SIM" 2>/dev/null
emu_start maa MAA_PORT --trust-root "$SIM/ark.pem" --compliance-status azure-compliant-uvm
emu_start imds IMDS_PORT
emu_start hsm HSM_PORT --ca-out "$CA" --resource https://vault.azure.net
COMMON=(--vault "https://localhost:$HSM_PORT" --maa "http://127.0.0.1:$MAA_PORT"
	--imds "http://127.0.0.1:$IMDS_PORT" --ca-file "$CA")

hostdata=$("$SEALMOUNT" attest --maa "http://127.0.0.1:$MAA_PORT" --snp "sim:$SIM" --claims \
	2>/dev/null | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))
		["x-ms-sevsnpvm-hostdata"])')
[ ${#hostdata} -eq 64 ] || fail "no hostdata from the MAA stand-in"

# secret_forms, assert_absent: functions.sh

for kty in oct-HSM RSA-HSM; do
	echo "--- $kty: import, then release at debug level"
	kid=hyg-${kty%%-*}
	"$SEALMOUNT" key import "${COMMON[@]}" --kid "$kid" --kty "$kty" --hostdata "$hostdata" \
		--salt 00112233 --passphrase-out "$TEST_TMP/$kid.imp" >/dev/null 2>"$TEST_TMP/import.log" ||
		fail "import: $(cat "$TEST_TMP/import.log")"
	work="$TEST_TMP/work-$kid"
	mkdir "$work"
	for fmt in text json; do
		json=()
		[ $fmt = json ] && json=(--log-json)
		(cd "$work" && "$SEALMOUNT" --log-level debug "${json[@]}" key release "${COMMON[@]}" \
			--kid "$kid" --snp "sim:$SIM" --salt 00112233 --out "$work/key.$fmt" \
			>"$TEST_TMP/$kid.$fmt.out" 2>"$TEST_TMP/$kid.$fmt.log") ||
			fail "release: $(tail -5 "$TEST_TMP/$kid.$fmt.log")"
		cmp -s "$work/key.$fmt" "$TEST_TMP/$kid.imp" || fail "released key differs"
		expect_eq "$(stat -c %a "$work/key.$fmt")" 600 "mode of the key file"
		grep -q 'debug' "$TEST_TMP/$kid.$fmt.log" || fail "no debug lines were logged"
		assert_absent "$TEST_TMP/$kid.imp" "$TEST_TMP/$kid.$fmt.log" "$TEST_TMP/$kid.$fmt.out"
	done
	# The run wrote nothing but the two key files into its working directory.
	expect_eq "$(find "$work" -type f | sort | tr '\n' ' ')" "$work/key.json $work/key.text " \
		"files written"
	# Tokens: the IMDS bearer and MAA token signatures never reach the log.
	for log in "$TEST_TMP/$kid".*.log; do
		! grep -qE 'eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}' "$log" ||
			fail "a whole JWT (with its signature) is in $log"
	done
done

# ---- a long-running process that holds a secret: `blob attach` with a SharedKey account key ----
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null || ! command -v setpriv >/dev/null; then
	echo "secret hygiene: ok (long-running part SKIPPED: needs /dev/fuse, fusermount3, setpriv)"
	exit 0
fi
echo "--- blob attach holding a SharedKey account key"
emu_start azurite AZ_PORT
head -c 65536 /dev/urandom >"$TEST_TMP/page.img"
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page hyg page.img "$TEST_TMP/page.img" >/dev/null
ACCOUNT_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
printf '%s\n' "$ACCOUNT_KEY" >"$TEST_TMP/account.key"
chmod 600 "$TEST_TMP/account.key"
base64 -d <<<"$ACCOUNT_KEY" >"$TEST_TMP/account.raw"
mnt="$TEST_TMP/mnt"
awork="$TEST_TMP/work-attach"
mkdir "$mnt" "$awork"
# Non-dumpable is checked through ptrace_may_access (below), which also wants the target's
# capabilities to be a subset of the prober's: as root, attach, the prober and a control process
# all run without CAP_SYS_PTRACE (FUSE mounting needs CAP_SYS_ADMIN, not that).
noptrace=()
[ "$(id -u)" -ne 0 ] || noptrace=(setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace --)
(cd "$awork" && exec "${noptrace[@]}" "$SEALMOUNT" --log-level debug blob attach \
	"http://127.0.0.1:$AZ_PORT/devstoreaccount1/hyg/page.img" "$mnt" \
	--account-key-file "$TEST_TMP/account.key") >"$TEST_TMP/attach.log" 2>&1 &
pid=$!
detach_attach()
{
	kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	mountpoint -q "$mnt" && fusermount3 -u "$mnt"
	return 0
}
cleanup_fn detach_attach
for ((i = 0; i < 100; i++)); do
	mountpoint -q "$mnt" && break
	kill -0 "$pid" 2>/dev/null || fail "attach exited: $(cat "$TEST_TMP/attach.log")"
	sleep 0.1
done
mountpoint -q "$mnt" || fail "attach did not mount"
cmp -s "$mnt/data" "$TEST_TMP/page.img" || fail "attached blob reads back wrong" # key in use

# Locked memory: the key lives in mlock'ed pages.
vmlck=$(awk '/^VmLck:/ { print $2 }' "/proc/$pid/status")
[ "${vmlck:-0}" -gt 0 ] || fail "no locked memory in the attach process (VmLck ${vmlck:-?} kB)"
# No core dumps: RLIMIT_CORE 0 (soft and hard).
grep -qE '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
	fail "RLIMIT_CORE is not 0: $(grep 'core file' "/proc/$pid/limits")"
# Non-dumpable: without CAP_SYS_PTRACE, even the same uid (with the same capabilities) may not
# open /proc/PID/mem (ptrace attach mode) of a non-dumpable process; a dumpable process started
# alike is the control. (/proc/PID/environ is no probe: recent kernels let it be read.)
"${noptrace[@]}" sleep 30 &
control=$!
cleanup_fn kill "$control"
memopen() { "${noptrace[@]}" dd if="/proc/$1/mem" of=/dev/null bs=1 count=0 status=none 2>&1; }
# Until setpriv has exec'd sleep, the control still has CAP_SYS_PTRACE (not probe-able).
for ((i = 0; i < 50; i++)); do [ "$(cat "/proc/$control/comm")" = sleep ] && break; sleep 0.1; done
memopen "$control" || fail "control: a dumpable process's memory cannot be opened"
! memopen "$pid" >/dev/null || fail "the attach process is dumpable (/proc/$pid/mem opened)"
# The key is in neither argv nor the environment, nor in anything the process wrote.
tr '\0' '\n' <"/proc/$pid/environ" >"$TEST_TMP/attach.environ"
tr '\0' '\n' <"/proc/$pid/cmdline" >"$TEST_TMP/attach.cmdline"
assert_absent "$TEST_TMP/account.raw" "$TEST_TMP/attach.environ" "$TEST_TMP/attach.cmdline" \
	"$TEST_TMP/attach.log"
grep -q 'debug' "$TEST_TMP/attach.log" || fail "attach logged no debug lines"
[ -z "$(find "$awork" -type f)" ] || fail "attach wrote files: $(find "$awork" -type f)"

# Memory (root only: /proc/PID/mem): the raw key only in locked mappings, its base64 text (the
# key file's content) nowhere.
if [ "$(id -u)" -eq 0 ]; then
	scan_memory "$pid" "locked:$TEST_TMP/account.raw" || fail "key found in memory"
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
expect_eq "$rc" 0 "attach exit status after SIGTERM"
assert_absent "$TEST_TMP/account.raw" "$TEST_TMP/attach.log"
echo "secret hygiene: ok"
