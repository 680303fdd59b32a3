#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# demo.sh - the whole story on one machine, with local stand-ins for Azure and a SIMULATED
# SEV-SNP (nothing here is confidential; it shows the flow):
#
#   1. install what is missing (scripts/setup.sh) and build (meson)
#   2. start Azurite (Blob Storage), MAA, Managed HSM and IMDS stand-ins; a simulated SNP chain
#   3. import a key into the HSM with a release policy bound to the simulated host_data
#   4. create an encrypted LUKS2 + dm-integrity image from scripts/demo-data (no root needed)
#   5. upload it to Azurite as a page blob
#   6. run the sidecar (`sealmount run`): attest, release the key, mount, publish
#   7. show the files an app container would see through the published symlink
#   8. SIGTERM the sidecar and check that nothing is left behind
#
#   scripts/demo.sh [--no-setup] [--engine kernel|user] [--ready-timeout S] [--hook CMD]
#                   [--sim DIR] [--keep [--dir DIR]]
#   scripts/demo.sh --stop [--dir DIR]
#
# --keep: leave the stand-ins (MAA, IMDS, Managed HSM, Azurite) running after the demo, with
# their state in DIR (default /run/sealmount-demo), and print what to try the CLI and a
# hand-written configuration against: the endpoints, CA file, account key, key name, the key
# file, the image URL and a ready-to-use example configuration (DIR/example-config.json). The
# same is in DIR/env (shell variables: `. DIR/env`). --stop stops them and removes DIR (it
# refuses while something is still mounted under DIR).
#
# Needs root (mount, loop devices, /dev/fuse). The kernel engine is used where device-mapper
# works, else the userspace engine. SEALMOUNT=path/to/sealmount skips the build. For tests:
# --hook CMD runs CMD (through bash) while the sidecar serves, before teardown, with
# DEMO_SHARE (the published link), DEMO_ENGINE, DEMO_HEALTH_PORT and DEMO_SIDECAR_LOG set; the
# demo fails when it fails. --ready-timeout: seconds to wait for the sidecar (60). --sim DIR:
# copy a simulated SNP chain made earlier by `sealmount sim init DIR` (two RSA-4096 keys: slow
# under an emulated CPU) instead of making one.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
do_setup=1
engine=
hook=
ready_timeout=60
sim_dir=
keep=0
stop=0
keep_dir=/run/sealmount-demo
while [ $# -gt 0 ]; do
	case "$1" in
	--no-setup) do_setup=0 ;;
	--engine) engine=$2; shift ;;
	--hook) hook=$2; shift ;;
	--ready-timeout) ready_timeout=$2; shift ;;
	--sim) sim_dir=$2; shift ;;
	--keep) keep=1 ;;
	--stop) stop=1 ;;
	--dir) keep_dir=$2; shift ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done

# stop_kept DIR: stop the stand-ins a --keep run left in DIR (each a process group of its
# own), then remove DIR. Refuses while anything is mounted under DIR.
stop_kept()
{
	local d=$1 f pid i

	[ -d "$d" ] || { echo "demo.sh --stop: nothing kept in $d"; return 0; }
	d=$(cd "$d" && pwd)
	if grep -qF " $d/" /proc/mounts; then
		echo "demo.sh --stop: still mounted under $d:" >&2
		grep -F " $d/" /proc/mounts | cut -d' ' -f2 | sed 's/^/    /' >&2
		echo "unmount first (sealmount umount MOUNTPOINT, or SIGTERM the sidecar)" >&2
		return 1
	fi
	for f in "$d"/emu-*/pid; do
		[ -s "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM -- "-$pid" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 -- "-$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
		echo "    stopped $(basename "$(dirname "$f")") (process group $pid)"
	done
	rm -rf "$d"
	echo "    removed $d"
}

if [ "$stop" = 1 ]; then
	stop_kept "$keep_dir"
	exit
fi

n=0
say()
{
	n=$((n + 1))
	printf '\n\033[1m[%d] %s\033[0m\n' "$n" "$*"
}
show()
{
	printf '    $ %s\n' "$*"
}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh needs root: it mounts a filesystem (loop device, FUSE)" >&2
	exit 1
fi

if [ "$do_setup" = 1 ]; then
	say "Install what is missing (scripts/setup.sh)"
	"$top/scripts/setup.sh"
fi
if [ -z "${SEALMOUNT:-}" ]; then
	say "Build (meson, build directory 'build')"
	[ -f "$top/build/build.ninja" ] || meson setup "$top/build" "$top" >/dev/null
	meson compile -C "$top/build" src/cli/sealmount >/dev/null
	SEALMOUNT=$top/build/src/cli/sealmount
fi
export SEALMOUNT
EMULATORS=$top/tests/emulators
export EMULATORS
# emu_start, cleanup_fn and a scratch directory ($TEST_TMP) removed on exit.
. "$top/tests/integration/functions.sh"
W=$TEST_TMP
if [ "$keep" = 1 ]; then
	if [ -e "$keep_dir" ]; then
		echo "demo.sh --keep: $keep_dir exists (stand-ins still running?): run" \
			"'scripts/demo.sh --stop --dir $keep_dir' first" >&2
		exit 1
	fi
	mkdir -p -m 0700 "$keep_dir"
	W=$(cd "$keep_dir" && pwd)
	kept_ok=0
	# A failed --keep run stops what it started.
	stop_unless_ok() { [ "$kept_ok" = 1 ] || stop_kept "$W" >/dev/null; }
	cleanup_fn stop_unless_ok
	# The stand-ins in process groups of their own (setsid), outliving this script.
	emu_launch()
	{
		local name=$1 var=$2 dir=$W/emu-$1

		shift 2
		mkdir -p "$dir"
		setsid node "$EMULATORS/launch.mjs" "$name" --no-parent-watch --port-file "$dir/port" \
			--dir "$dir/data" "$@" >"$dir/log" 2>&1 </dev/null &
		echo $! >"$dir/pid"
		_emu_dirs[$var]=$dir
	}
fi
sm() { "$SEALMOUNT" "$@"; }

say "Start the stand-ins for Azure: simulated SNP, MAA, IMDS, Managed HSM, Azurite"
if [ -n "$sim_dir" ]; then
	cp -r "$sim_dir" "$W/sim"
else
	mkdir "$W/sim"
	sm sim init "$W/sim" 2>/dev/null
fi
emu_launch maa MAA_PORT --trust-root "$W/sim/ark.pem" --compliance-status azure-compliant-uvm
emu_launch imds IMDS_PORT --thim "$W/sim/thim.json"
emu_launch hsm HSM_PORT --ca-out "$W/hsm-ca.pem" --resource https://vault.azure.net
emu_launch azurite AZ_PORT
for v in MAA_PORT IMDS_PORT HSM_PORT AZ_PORT; do
	emu_wait "$v"
done
MAA=http://127.0.0.1:$MAA_PORT
IMDS=http://127.0.0.1:$IMDS_PORT
VAULT=https://localhost:$HSM_PORT
echo "    MAA $MAA, IMDS $IMDS, Managed HSM $VAULT, Azurite http://127.0.0.1:$AZ_PORT"

say "What the simulated SNP guest attests to (x-ms-sevsnpvm-hostdata = hash of its CCE policy)"
HOSTDATA=$(sm attest --maa "$MAA" --snp "sim:$W/sim" --claims 2>/dev/null |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))["x-ms-sevsnpvm-hostdata"])')
echo "    host_data = $HOSTDATA"

say "Import a new key with a release policy bound to that host_data (sealmount key import)"
show "sealmount key import --vault $VAULT --kid demo-key --maa $MAA --hostdata $HOSTDATA ..."
sm key import --vault "$VAULT" --maa "$MAA" --imds "$IMDS" --ca-file "$W/hsm-ca.pem" \
	--kid demo-key --hostdata "$HOSTDATA" --passphrase-out "$W/demo.key" 2>&1 | sed 's/^/    /'

say "Create an encrypted image (LUKS2 + dm-integrity, ext4) from scripts/demo-data"
ls -l "$top/scripts/demo-data" | sed 's/^/    /'
show "sealmount image create --from-dir scripts/demo-data --size 32M --integrity hmac-sha256 --key-file demo.key -o demo.img"
sm image create --from-dir "$top/scripts/demo-data" --size 32M --integrity hmac-sha256 \
	--key-file "$W/demo.key" -o "$W/demo.img" 2>&1 | sed 's/^/    /'
sm image inspect "$W/demo.img" --require-integrity 2>/dev/null | sed 's/^/    /'

say "Upload it to Azurite as a page blob (sealmount image upload)"
# Azurite's well-known development account key (public, documented by Microsoft).
printf '%s' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' \
	>"$W/account.key"
(cd "$EMULATORS" && node -e '
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
const cred = new StorageSharedKeyCredential("devstoreaccount1", require("fs").readFileSync(process.argv[2], "utf8"));
new BlobServiceClient(`http://127.0.0.1:${process.argv[1]}/devstoreaccount1`, cred)
	.getContainerClient("demo").createIfNotExists().then(() => {});' "$AZ_PORT" "$W/account.key")
URL=http://127.0.0.1:$AZ_PORT/devstoreaccount1/demo/demo.img
show "sealmount image upload demo.img $URL --page --account-key-file account.key"
sm image upload "$W/demo.img" "$URL" --page --account-key-file "$W/account.key" 2>&1 | sed 's/^/    /'
SAS=$(node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" sas demo demo.img r)

if [ -z "$engine" ]; then
	engine=user
	if [ -e /dev/mapper/control ] && command -v dmsetup >/dev/null 2>&1 &&
		dmsetup targets 2>/dev/null | grep -q '^crypt'; then
		engine=kernel
	fi
fi

say "Run the sidecar (sealmount run, engine '$engine'), configured as Microsoft's encfs sidecar"
SHARE=$W/mnt/remote
mkdir -p "$SHARE"
cat >"$W/config.json" <<EOF
{"azure_filesystems": [
  {"mount_point": "$SHARE/share", "azure_url": "$URL?$SAS",
   "key": {"kid": "demo-key", "kty": "oct-HSM", "authority": {"endpoint": "$MAA"},
           "akv": {"endpoint": "$VAULT"}},
   "sealmount": {"engine": "$engine"}}],
 "sealmount": {"snp": "sim:$W/sim", "ca_file": "$W/hsm-ca.pem", "imds_endpoint": "$IMDS",
   "health_address": "127.0.0.1:0", "readiness_file": "$W/ready", "work_dir": "$W/work"}}
EOF
sed 's/sig=[^"&]*/sig=<redacted>/; s/^/    /' "$W/config.json"
show "EncfsSideCarArgs=\$(base64 -w0 config.json) LogLevel=info sealmount run"
EncfsSideCarArgs=$(base64 -w0 "$W/config.json") LogLevel=info "$SEALMOUNT" run \
	>"$W/sidecar.log" 2>&1 &
pid=$!
stop_sidecar() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; }
cleanup_fn stop_sidecar
for ((i = 0; i < ready_timeout * 10; i++)); do
	[ "$(cat "$W/ready" 2>/dev/null)" = 1 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
sed 's/^/    /' "$W/sidecar.log"
[ "$(cat "$W/ready" 2>/dev/null)" = 1 ] || { echo "the sidecar did not become ready" >&2; exit 1; }

say "What an app container sees in the shared volume"
show "ls -l $SHARE"
ls -l "$SHARE" | sed 's/^/    /'
show "ls -l $SHARE/share/"
ls -l "$SHARE/share/" | sed 's/^/    /'
for f in "$SHARE"/share/*.txt; do
	show "cat $f"
	sed 's/^/    /' "$f"
done
port=$(sed -n 's|.*Health endpoint on http://[^ ]*:\([0-9][0-9]*\)/status.*|\1|p' "$W/sidecar.log")
[ -n "$port" ] || { echo "no health endpoint in the sidecar log" >&2; exit 1; }
show "curl http://127.0.0.1:$port/healthz"
curl -s "http://127.0.0.1:$port/healthz" | sed 's/^/    /'

if [ -n "$hook" ]; then
	say "Hook: $hook"
	DEMO_SHARE=$SHARE/share DEMO_ENGINE=$engine DEMO_HEALTH_PORT=$port \
		DEMO_SIDECAR_LOG=$W/sidecar.log bash -c "$hook" || { echo "the hook failed" >&2; exit 1; }
fi

say "Stop the sidecar (SIGTERM): flush, unmount, close, nothing left behind"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
tail -n +"$(($(wc -l <"$W/sidecar.log") - 2))" "$W/sidecar.log" | sed 's/^/    /'
[ "$rc" = 0 ] || { echo "the sidecar exited with $rc" >&2; exit 1; }
if grep -qF "$W" /proc/mounts || losetup -a | grep -qF "$W" || [ -n "$(ls -A "$SHARE")" ]; then
	echo "something was left behind under $SHARE" >&2
	exit 1
fi
echo "    $SHARE is empty again; no mounts left."
if [ "$keep" = 0 ]; then
	say "Done: stand-ins stopped, scratch directory removed"
	exit 0
fi

say "Done; the stand-ins keep running (--keep): try the CLI and your own configuration"
mkdir -p "$W/mnt/try"
cat >"$W/example-config.json" <<EOF
{"azure_filesystems": [
  {"mount_point": "$W/mnt/try/share", "azure_url": "$URL?$SAS",
   "sealmount": {"key_file": "$W/demo.key", "engine": "$engine"}}],
 "sealmount": {"snp": "sim:$W/sim", "ca_file": "$W/hsm-ca.pem", "imds_endpoint": "$IMDS",
   "health_address": "127.0.0.1:0", "readiness_file": "$W/try-ready", "work_dir": "$W/try-work"}}
EOF
cat >"$W/env" <<EOF
# scripts/demo.sh --keep: the stand-ins (stop them with scripts/demo.sh --stop --dir $W)
SEALMOUNT_DEMO_DIR=$W
MAA=$MAA
VAULT=$VAULT
IMDS=$IMDS
AZURITE=http://127.0.0.1:$AZ_PORT/devstoreaccount1
CA_FILE=$W/hsm-ca.pem
SIM=$W/sim
KEY_NAME=demo-key
KEY_FILE=$W/demo.key
ACCOUNT_KEY_FILE=$W/account.key
IMAGE_URL=$URL
IMAGE_SAS_URL='$URL?$SAS'
EXAMPLE_CONFIG=$W/example-config.json
EOF
sed "s/^/    /; s/sig=[^&']*/sig=<redacted: see the file>/" "$W/env"
cat <<EOF

    The same in $W/env (. $W/env). Azurite's account is devstoreaccount1; its well-known
    development key is in $W/account.key. Try:

    # the sidecar with the example configuration (key_file instead of the HSM; simulated SNP)
    sealmount run --config $W/example-config.json
    # a mount through the stand-ins: attest (simulated SNP), release demo-key, mount
    sealmount mount --url $URL --account-key-file $W/account.key \\
        --vault $VAULT --kid demo-key --maa $MAA --snp sim:$W/sim \\
        --imds $IMDS --ca-file $W/hsm-ca.pem --engine $engine $W/mnt/try/cli
    sealmount umount $W/mnt/try/cli
    # when done:
    scripts/demo.sh --stop --dir $W
EOF
kept_ok=1
