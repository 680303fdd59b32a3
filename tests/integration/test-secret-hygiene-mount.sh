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
# HYGIENE_ENGINE=kernel (tests/vm/test-vm-secret-hygiene.sh, in the VM) runs both with the
# kernel engine: libcryptsetup and dm-crypt/dm-integrity instead of the userspace engine.

. "$(dirname "$0")/functions.sh"

[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop device, mount, /proc/PID/mem)" >&2; exit 77; }
if [ ! -e /dev/loop-control ] || [ ! -c /dev/fuse ]; then
	echo "SKIP: no loop or fuse" >&2
	exit 77
fi
requires node xxd base64 python3 cryptsetup mkfs.ext4 losetup setpriv fusermount3

W=$TEST_TMP
ENGINE=${HYGIENE_ENGINE:-user}
# The userspace engine holds the volume key (locked); with the kernel engine libcryptsetup hands
# it to dm-crypt, and any copy left in the process must be in locked memory.
VK=$([ "$ENGINE" = kernel ] && echo lockedif || echo locked)
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
	parts+=("$VK:$W/vk.$o")
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
	scan_memory "$pid" "$VK:$W/vk" "absent:$W/pass" "${parts[@]}" ||
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

# tenths of a second to wait for a mount: the VM (TCG) is many times slower
WAIT_TENTHS=$([ "$ENGINE" = kernel ] && echo 3000 || echo 600)
step "sealmount mount --engine $ENGINE: attest + release inside mount, debug log"
STATE=/run/sealmount/mounts/$(printf '%s' "$W/pub/share" | sha256sum | cut -d" " -f1).json
mkdir -p "$W/pub"
"${noptrace[@]}" "$SEALMOUNT" --log-level debug mount --engine "$ENGINE" --work-dir "$W/mwork" \
	--index 3 --ready-file "$W/mready" --image "$W/img" "${REL[@]}" --kid hygmount \
	--snp "sim:$SIM" "$W/pub/share" >"$W/mount.log" 2>&1 &
MPID=$!
stop_mount()
{
	kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	return 0
}
cleanup_fn stop_mount
for ((i = 0; i < WAIT_TENTHS; i++)); do
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
SIG=$(sed -n 's/.*[?&]\{0,1\}sig=\([^&]*\).*/\1/p' <<<"$SAS")
[ ${#SIG} -ge 16 ] || fail "no SAS signature in '$SAS'"
SIG_DECODED=$(printf '%b' "${SIG//%/\\x}")
# The vault token given in the configuration (key.akv.bearer_token): a JWT for the stand-in
# (it checks aud and exp).
BEARER=$(node -e 'const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
	console.log(`${b({ alg: "RS256", typ: "JWT" })}.${b({ aud: "https://vault.azure.net",
		exp: Math.floor(Date.now() / 1000) + 3600, n: require("crypto").randomUUID() })}.c2ln`);')
# run_config FILE MOUNT_POINT READY WORK_DIR [SIM_DIR CA]: the sidecar's configuration for the
# image in Azurite with its SAS, the vault token given as is.
run_config()
{
	cat >"$1" <<EOF
{"azure_filesystems": [
  {"mount_point": "$2",
   "azure_url": "http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs/hyg.img?$SAS",
   "key": {"kid": "hygmount", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT", "bearer_token": "$BEARER"}},
   "sealmount": {"engine": "$ENGINE"}}],
 "sealmount": {"snp": "sim:${5:-$SIM}", "ca_file": "${6:-$HSM_CA}", "imds_endpoint": "$IMDS",
   "readiness_file": "$3", "work_dir": "$4"}}
EOF
}

# descendants PID: every process below PID.
descendants()
{
	local c

	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# check_environ PID NAME [MIN_CHILDREN]: neither PID's /proc/PID/environ nor any descendant's
# holds EncfsSideCarArgs's value, the SAS signature (as in the URL and decoded) or the vault
# token; EncfsSideCarArgs is not even set any more.
check_environ()
{
	local pid=$1 name=$2 min=${3:-0} p n=0 f

	for p in "$pid" $(descendants "$pid"); do
		f=$W/$name.$p.environ
		tr '\0' '\n' <"/proc/$p/environ" >"$f" 2>/dev/null || continue
		for s in "$ARGS" "$SIG" "$SIG_DECODED" "$BEARER" "$(cut -d. -f2 <<<"$BEARER")"; do
			! grep -qF -- "$s" "$f" ||
				fail "$name: pid $p ($(cat "/proc/$p/comm")): a credential (${s:0:12}...) in its environment"
		done
		! grep -q '^EncfsSideCarArgs=.' "$f" ||
			fail "$name: pid $p ($(cat "/proc/$p/comm")) has EncfsSideCarArgs set"
		[ "$p" = "$pid" ] || n=$((n + 1))
		echo "  environ of $name pid $p ($(cat "/proc/$p/comm")): clean"
	done
	[ "$n" -ge "$min" ] || fail "$name: $n helper processes, expected at least $min"
}

mkdir "$W/remote"
run_config "$W/run.json" "$W/remote/share" "$W/rready" "$W/rwork"
ARGS=$(base64 -w0 "$W/run.json")
EncfsSideCarArgs=$ARGS LogLevel=debug LogFile="$W/run.logfile" \
	"${noptrace[@]}" "$SEALMOUNT" run >"$W/run.log" 2>&1 &
RPID=$!
stop_run()
{
	kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	return 0
}
cleanup_fn stop_run
for ((i = 0; i < WAIT_TENTHS; i++)); do
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
check_environ "$RPID" run
for f in "$W/run.log" "$W/run.logfile"; do
	for s in "$SIG" "$SIG_DECODED" "$BEARER"; do
		! grep -qF -- "$s" "$f" || fail "a credential (${s:0:12}...) in $f"
	done
done
kill -TERM "$RPID"
rc=0
wait "$RPID" || rc=$?
expect_eq "$rc" 0 "run exit status after SIGTERM"
for f in "$W/run.log" "$W/run.logfile"; do
	assert_absent "$W/pass" "$f"
	assert_absent "$W/vk" "$f"
done

step "sealmount run as uid 65534 (rootless): the helpers (fuse2fs) get no credentials either"
if [ -u "$(command -v fusermount3)" ] && command -v fuse2fs >/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups test -w /dev/fuse; then
	NB=$W/nobody
	mkdir -m 0700 "$NB" "$NB/pub" "$NB/work"
	cp -r "$SIM" "$NB/sim"
	cp "$HSM_CA" "$NB/ca.pem"
	chown -R 65534:65534 "$NB"
	chmod 0711 "$W"
	run_config "$NB/run.json" "$NB/pub/share" "$NB/ready" "$NB/work" "$NB/sim" "$NB/ca.pem"
	chown 65534:65534 "$NB/run.json"
	ARGS=$(base64 -w0 "$NB/run.json")
	EncfsSideCarArgs=$ARGS LogLevel=debug setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$SEALMOUNT" run >"$W/nrun.log" 2>&1 &
	NPID=$!
	stop_nrun()
	{
		kill -TERM "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
		return 0
	}
	cleanup_fn stop_nrun
	for ((i = 0; i < WAIT_TENTHS; i++)); do
		[ "$(cat "$NB/ready" 2>/dev/null)" = 1 ] && break
		kill -0 "$NPID" 2>/dev/null || fail "rootless run exited: $(tail -5 "$W/nrun.log")"
		sleep 0.1
	done
	[ "$(cat "$NB/ready" 2>/dev/null)" = 1 ] || fail "rootless run not ready: $(tail -5 "$W/nrun.log")"
	# A FUSE mount serves only its owner (no allow_other): read it as uid 65534.
	expect_eq "$(setpriv --reuid=65534 --regid=65534 --clear-groups cat "$NB/pub/share/hello.txt")" \
		"hygiene" "hello.txt via rootless run"
	grep -q 'served by fuse2fs' "$W/nrun.log" || fail "not served by fuse2fs: $(tail -5 "$W/nrun.log")"
	check_environ "$NPID" nrun 1
	kill -TERM "$NPID"
	rc=0
	wait "$NPID" || rc=$?
	expect_eq "$rc" 0 "rootless run exit status after SIGTERM"
else
	echo "  (skipped: needs a setuid fusermount3, fuse2fs and /dev/fuse usable by uid 65534)"
fi
echo "secret hygiene (mount, run): ok"
