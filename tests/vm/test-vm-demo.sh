#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-demo.sh - scripts/demo.sh (the README's first command) on a stock kernel with real
# device-mapper: the whole chain simulated SNP -> MAA -> Managed HSM key release -> Azurite blob
# -> `sealmount run` with the kernel engine (FUSE file + loop + dm-integrity/dm-crypt). Checks:
#   - demo.sh picked the kernel engine by itself, and while the sidecar served there was a dm
#     device and /status said "engine": "kernel";
#   - the published files are scripts/demo-data byte for byte;
#   - after the SIGTERM teardown: no dm device, no loop device, no FUSE mount, no .filesystem-*
#     mount or link.
# Uses this build's binary (no setup, no rebuild). On the host this re-runs itself inside the
# VM through vm-run.sh (meson suite 'vm'); `--check` is the hook demo.sh runs mid-demo.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
if [ -z "${VM_JOB:-}" ]; then
	# The simulated SNP chain (two RSA-4096 keys) takes seconds here, minutes under TCG.
	[ -x "${SEALMOUNT:-}" ] || { echo "SKIP: SEALMOUNT not set (run through meson)" >&2; exit 77; }
	sim=$(mktemp -d "${TMPDIR:-/tmp}/sealmount-vm-demo-sim.XXXXXX")
	trap 'rm -rf "$sim"' EXIT
	mkdir "$sim/sim"
	"$SEALMOUNT" sim init "$sim/sim" >/dev/null 2>"$sim/err" ||
		{ cat "$sim/err" >&2; echo "FAIL: sim init" >&2; exit 1; }
	rc=0
	"$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" \
		--sim "$sim/sim" || rc=$?
	exit "$rc"
fi

fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "${1:-}" = --check ]; then
	# Inside demo.sh, the sidecar serving: DEMO_SHARE, DEMO_ENGINE, DEMO_HEALTH_PORT are set.
	[ "$DEMO_ENGINE" = kernel ] || fail "demo.sh picked engine '$DEMO_ENGINE', not kernel"
	dmsetup ls | grep -q '^sealmount-' || fail "no sealmount dm device: $(dmsetup ls)"
	dmsetup table | tee "$VM_JOB/dm-table" | grep -q ' crypt ' || fail "no dm-crypt target"
	grep -q ' integrity ' "$VM_JOB/dm-table" || fail "no dm-integrity target"
	[ -n "$DEMO_HEALTH_PORT" ] || fail "no health port in the sidecar log"
	health=$(curl -s "http://127.0.0.1:$DEMO_HEALTH_PORT/status")
	grep -q '"engine": *"kernel"' <<<"$health" || fail "health: $health"
	# The block layer auto picks: the kernel's NBD client here (or a loop device on FUSE)
	if grep -q '"block": *"nbd"' <<<"$health"; then
		grep -q '"live_connections": *[1-9]' <<<"$health" || fail "health (nbd): $health"
		grep -qs . /sys/block/nbd*/pid || fail "no NBD device served while mounted"
	else
		[ -n "$(losetup -a)" ] || fail "no loop device while mounted"
	fi
	diff -r -x lost+found "$top/scripts/demo-data" "$DEMO_SHARE/" ||
		fail "the published files differ from scripts/demo-data"
	n_src=$(find "$top/scripts/demo-data" -type f | wc -l)
	[ "$n_src" -gt 0 ] || fail "scripts/demo-data is empty"
	echo "check: kernel engine, $(dmsetup ls | wc -l) dm device(s), $n_src files identical," \
		"block layer $(grep -o '"block": *"[a-z]*"' <<<"$health")"
	touch "$VM_JOB/checked"
	exit 0
fi

for c in cryptsetup dmsetup losetup node curl; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
[ -x "${SEALMOUNT:-}" ] || { echo "SKIP: SEALMOUNT not set (run through meson)" >&2; exit 77; }
echo "--- VM up: $(uname -r) ($(cut -d' ' -f1 /proc/uptime) s)"
rm -f "$VM_JOB/checked"

# Node under TCG takes tens of seconds to start each stand-in: give them and the sidecar time.
rc=0
[ "${1:-}" = --sim ] || fail "usage: test-vm-demo.sh (--sim DIR in the VM)"
EMU_START_TIMEOUT=600 "$top/scripts/demo.sh" --no-setup --ready-timeout 600 --sim "$2" \
	--hook "bash $(printf %q "$here/test-vm-demo.sh") --check" || rc=$?
echo "--- demo.sh exit $rc ($(cut -d' ' -f1 /proc/uptime) s)"
[ "$rc" = 0 ] || fail "demo.sh exited $rc"
[ -e "$VM_JOB/checked" ] || fail "the mid-demo check did not run"

if dmsetup ls 2>/dev/null | grep -qv 'No devices'; then
	fail "dm devices left: $(dmsetup ls)"
fi
[ -z "$(losetup -a)" ] || fail "loop devices left: $(losetup -a)"
! grep -qs . /sys/block/nbd*/pid || fail "an NBD device is still served: $(grep -s . /sys/block/nbd*/pid)"
! awk '$3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts ||
	fail "FUSE mount left: $(grep fuse /proc/mounts)"
! grep -q '\.filesystem-' /proc/mounts || fail ".filesystem mount left"
left=$(find /tmp -maxdepth 6 -name '.filesystem-*' 2>/dev/null | head -5)
[ -z "$left" ] || fail ".filesystem-* left: $left"
echo "--- OK: nothing left after teardown"
