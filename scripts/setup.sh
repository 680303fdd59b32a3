#!/usr/bin/env bash
# Install everything sealmount needs to build and test on a fresh Debian 12 machine.
# Idempotent: packages already present are not reinstalled; npm ci runs only when the lockfile
# changed since the last run.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

APT_PACKAGES=(
	# build
	build-essential meson ninja-build pkg-config git ca-certificates
	# libraries
	libfuse3-dev libssl-dev libcurl4-openssl-dev libcryptsetup-dev libjansson-dev
	libargon2-dev libext2fs-dev check
	# the kernel's NBD client is configured over generic netlink (src/nbd/nbd_netlink.c)
	libnl-genl-3-dev
	# kernel engine (dm table read-back) and rootless user-engine fallback
	libdevmapper-dev fuse2fs
	# runtime tools used by tests
	fuse3 e2fsprogs util-linux cryptsetup-bin curl openssl xxd procps psmisc jq
	# benchmark baselines (scripts/bench-blob.sh, bench-nbd.sh): fio, nbdkit's curl plugin,
	# nbdcopy; real NBD clients for tests/integration/test-nbd.sh: nbdinfo, nbdcopy,
	# python3-libnbd (nbdsh), qemu-img/qemu-io; nginx as a plain HTTP range source
	# (tests/integration/test-blob-http.sh, the benchmark); perf
	fio nbdkit libnbd-bin python3-libnbd qemu-utils nginx-light linux-perf
	# scripts/bench-engine.sh: CPU time of one decrypt
	time
	# lint and sanitizers
	cppcheck clang clang-format libclang-rt-14-dev valgrind
	# Node.js for Azurite and the local Azure stand-ins (Debian's nodejs 18 suffices)
	nodejs npm
	# the sidecar image (scripts/build-container.sh, tests/container): podman with the runc
	# runtime, the base image made with debootstrap (no registry is needed)
	podman runc debootstrap
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
	case "$p" in
	nodejs | npm)
		# A newer Node.js from elsewhere (e.g. /usr/bin/node from NodeSource) is fine too.
		command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install packages (run as root or with sudo)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The VM rig for the kernel path (qemu, Debian's stock kernel, busybox): tests/vm/setup-vm.sh.
"$top/tests/vm/setup-vm.sh"

# Node packages for the stand-ins (Azurite and friends), from the committed lockfile.
emu="$top/tests/emulators"
if [ -f "$emu/package-lock.json" ]; then
	stamp="$emu/node_modules/.sealmount-lock.sha256"
	want=$(sha256sum "$emu/package-lock.json" | cut -d' ' -f1)
	if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
		echo "setup: npm ci in tests/emulators"
		(cd "$emu" && npm ci --no-audit --no-fund --loglevel=error)
		echo "$want" >"$stamp"
	fi
fi
echo "setup: done"
