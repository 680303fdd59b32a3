#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-secret-hygiene-mount.sh - secret hygiene of the long-running processes that hold a volume
# open: `sealmount mount --engine user` attesting (simulated SNP) and releasing its key from the
# stand-ins (MAA, IMDS, Managed HSM), and `sealmount run` with a config (image in Azurite). Both
# at debug log level. While they run and after they end: neither the passphrase (raw, hex,
# base64) nor the volume key (hex, base64; from cryptsetup luksDump --dump-volume-key) is in the
# log (stderr, LogFile), /proc/PID/environ, cmdline, or any file the process wrote (state file,
# readiness file, work dir); the process is non-dumpable, RLIMIT_CORE is 0, VmLck > 0; its
# memory holds the volume key only in locked mappings and the passphrase (in any form) nowhere
# once the volume is open. Needs root, /dev/fuse and a loop device (exit 77 otherwise).

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount, /proc/PID/mem)" >&2; exit 77; }
if [ ! -e /dev/loop-control ] || [ ! -c /dev/fuse ]; then
	echo "SKIP: no loop or fuse" >&2
	exit 77
fi
requires node xxd base64 python3 cryptsetup mkfs.ext4 losetup setpriv fusermount3

W=$TEST_TMP
release_standins "$W"
emu_launch azurite AZ_PORT

step "a key released from the stand-ins, an image sealed with it, its volume key"
"$SEALMOUNT" key import "${REL[@]}" --kid hygmount --hostdata "$HOSTDATA" \
	--passphrase-out "$W/import.pass" >/dev/null 2>&1 || fail "key import failed"
# The passphrase the way mount sees it: a separate release of the same key.
"$SEALMOUNT" key release "${REL[@]}" --kid hygmount --snp "sim:$SIM" --out "$W/pass" \
	>/dev/null 2>"$W/release.log" || fail "key release: $(cat "$W/release.log")"
cmp -s "$W/pass" "$W/import.pass" || fail "released passphrase differs from the imported one"
mkdir "$W/src"
echo "hygiene" >"$W/src/hello.txt"
"$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/pass" -o "$W/img" --size 16M \
	--pbkdf-iterations 1000 >/dev/null 2>&1 || fail "image create failed"
cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$W/pass" "$W/img" \
	>"$W/dump.txt" 2>&1 || fail "luksDump: $(cat "$W/dump.txt")"
# "MK dump:" and its continuation lines: hex bytes separated by blanks
awk '/^MK dump:/ { on = 1; sub(/^MK dump:/, ""); print; next }
	on && /^[[:space:]]+[0-9a-f][0-9a-f]( |$)/ { print; next } { on = 0 }' "$W/dump.txt" |
	tr -dc '0-9a-f' | xxd -r -p >"$W/vk"
vklen=$(stat -c %s "$W/vk")
grep -q "^MK bits:[[:space:]]*$((vklen * 8))\$" "$W/dump.txt" ||
	fail "volume key not parsed ($vklen bytes): $(grep -A8 '^MK' "$W/dump.txt")"
# Each 32-byte part of the volume key (an AES-XTS half, the HMAC key) too: OpenSSL's cipher and
# MAC contexts (the AES key schedule starts with the raw key) live in memory OpenSSL allocates,
# which the userspace engine covers by locking the whole process (process_lock_memory()).
parts=()
for ((o = 0; o + 32 <= vklen; o += 32)); do
	dd if="$W/vk" of="$W/vk.$o" bs=1 skip=$o count=32 status=none
	parts+=("locked:$W/vk.$o")
done
echo "  passphrase $(stat -c %s "$W/pass") bytes, volume key $vklen bytes"

noptrace=(setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace --)
"${noptrace[@]}" sleep 120 &
CONTROL=$!
cleanup_fn kill "$CONTROL"
memopen() { "${noptrace[@]}" dd if="/proc/$1/mem" of=/dev/null bs=1 count=0 status=none 2>&1; }
# Until setpriv has exec'd sleep, the control still has CAP_SYS_PTRACE (not probe-able).
for ((i = 0; i < 50; i++)); do [ "$(cat "/proc/$CONTROL/comm")" = sleep ] && break; sleep 0.1; done
memopen "$CONTROL" || fail "control: a dumpable process's memory cannot be opened"
# The memory scan can fail: a process holding both secrets in unlocked memory is caught.
python3 -c 'import sys, time; k = [open(f, "rb").read() for f in sys.argv[1:]]; print(flush=True)
time.sleep(120)' "$W/vk" "$W/pass" >"$W/holder.out" &
HOLDER=$!
cleanup_fn kill "$HOLDER"
for ((i = 0; i < 50; i++)); do [ -s "$W/holder.out" ] && break; sleep 0.1; done
if scan_memory "$HOLDER" "locked:$W/vk" "absent:$W/pass" >"$W/holder.scan"; then
	fail "memory scan missed unlocked secrets: $(cat "$W/holder.scan")"
fi
if ! grep -q 'vk: raw bytes in unlocked' "$W/holder.scan" ||
	! grep -q 'pass: raw bytes in' "$W/holder.scan"; then
	fail "memory scan control: $(cat "$W/holder.scan")"
fi
kill "$HOLDER"

# check_running PID NAME LOG...: the checks on a process that holds the open volume.
check_running()
{
	local pid=$1 name=$2 vmlck

	shift 2
	vmlck=$(awk '/^VmLck:/ { print $2 }' "/proc/$pid/status")
	[ "${vmlck:-0}" -gt 0 ] || fail "$name: no locked memory (VmLck ${vmlck:-?} kB)"
	grep -qE '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
		fail "$name: RLIMIT_CORE is not 0: $(grep 'core file' "/proc/$pid/limits")"
	! memopen "$pid" >/dev/null || fail "$name: the process is dumpable (/proc/$pid/mem opened)"
	tr '\0' '\n' <"/proc/$pid/environ" >"$W/$name.environ"
	tr '\0' '\n' <"/proc/$pid/cmdline" >"$W/$name.cmdline"
	for f in "$W/$name.environ" "$W/$name.cmdline" "$@"; do
		assert_absent "$W/pass" "$f"
		assert_absent "$W/vk" "$f"
	done
	scan_memory "$pid" "locked:$W/vk" "absent:$W/pass" "${parts[@]}" ||
		fail "$name: secret found in memory"
}

# written_files DIR...: the regular files in DIR (not those under a mount inside it).
written_files()
{
	local d

	for d in "$@"; do
		[ -e "$d" ] || continue
		find "$d" -xdev -type f | while read -r f; do
			mountpoint -q "$f" || echo "$f" # not the FUSE plaintext file
		done
	done
	return 0
}

step "sealmount mount --engine user: attest + release inside mount, debug log"
STATE=/run/sealmount/mounts/$(printf '%s' "$W/pub/share" | sha256sum | cut -d" " -f1).json
mkdir -p "$W/pub"
"${noptrace[@]}" "$SEALMOUNT" --log-level debug mount --engine user --work-dir "$W/mwork" \
	--index 3 --ready-file "$W/mready" --image "$W/img" "${REL[@]}" --kid hygmount \
	--snp "sim:$SIM" "$W/pub/share" >"$W/mount.log" 2>&1 &
MPID=$!
stop_mount()
{
	kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	return 0
}
cleanup_fn stop_mount
for ((i = 0; i < 300; i++)); do
	[ -s "$W/mready" ] && break
	kill -0 "$MPID" 2>/dev/null || fail "mount exited: $(cat "$W/mount.log")"
	sleep 0.1
done
[ -s "$W/mready" ] || fail "mount not ready: $(tail -5 "$W/mount.log")"
expect_eq "$(cat "$W/pub/share/hello.txt")" "hygiene" "hello.txt" # the key is in use
grep -q 'released key' "$W/mount.log" || fail "no release logged"
grep -q 'debug' "$W/mount.log" || fail "mount logged no debug lines"
[ -f "$STATE" ] || fail "no state file $STATE"
mapfile -t mfiles < <(written_files "$W/mwork" "$W/pub")
echo "  files written: $STATE $W/mready ${mfiles[*]}"
check_running "$MPID" mount "$W/mount.log" "$STATE" "$W/mready" "${mfiles[@]}"
"$SEALMOUNT" umount "$W/pub/share"
wait "$MPID" || fail "mount exited $? after umount"
assert_absent "$W/pass" "$W/mount.log"
assert_absent "$W/vk" "$W/mount.log"

step "sealmount run with a config: LogLevel=debug, LogFile"
emu_wait AZ_PORT
node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs hyg.img "$W/img" >/dev/null
SAS=$(node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" sas imgs hyg.img r)
mkdir "$W/remote"
cat >"$W/run.json" <<EOF
{"azure_filesystems": [
  {"mount_point": "$W/remote/share",
   "azure_url": "http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/hyg.img?$SAS",
   "key": {"kid": "hygmount", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "user"}}],
 "sealmount": {"snp": "sim:$SIM", "ca_file": "$HSM_CA", "imds_endpoint": "$IMDS",
   "readiness_file": "$W/rready", "work_dir": "$W/rwork"}}
EOF
EncfsSideCarArgs=$(base64 -w0 "$W/run.json") LogLevel=debug LogFile="$W/run.logfile" \
	"${noptrace[@]}" "$SEALMOUNT" run >"$W/run.log" 2>&1 &
RPID=$!
stop_run()
{
	kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	return 0
}
cleanup_fn stop_run
for ((i = 0; i < 600; i++)); do
	[ "$(cat "$W/rready" 2>/dev/null)" = 1 ] && break
	kill -0 "$RPID" 2>/dev/null || fail "run exited: $(tail -5 "$W/run.log" "$W/run.logfile")"
	sleep 0.1
done
[ "$(cat "$W/rready" 2>/dev/null)" = 1 ] || fail "run not ready: $(tail -5 "$W/run.log")"
expect_eq "$(cat "$W/remote/share/hello.txt")" "hygiene" "hello.txt via run"
grep -q 'debug' "$W/run.logfile" || fail "run logged no debug lines to the LogFile"
mapfile -t rfiles < <(written_files "$W/rwork" "$W/remote")
echo "  files written: $W/rready ${rfiles[*]}"
check_running "$RPID" run "$W/run.log" "$W/run.logfile" "$W/rready" "${rfiles[@]}"
kill -TERM "$RPID"
rc=0
wait "$RPID" || rc=$?
expect_eq "$rc" 0 "run exit status after SIGTERM"
for f in "$W/run.log" "$W/run.logfile"; do
	assert_absent "$W/pass" "$f"
	assert_absent "$W/vk" "$f"
done
echo "secret hygiene (mount, run): ok"
