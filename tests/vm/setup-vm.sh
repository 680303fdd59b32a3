#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup-vm.sh - install what tests/vm needs: qemu (TCG is enough), Debian's stock kernel with
# its modules (dm-crypt, dm-integrity, 9p, overlay, ...) and a static busybox for the initramfs.
# Idempotent; needs root. vm-run.sh calls it when something is missing.
set -euo pipefail
pkgs=(qemu-system-x86 linux-image-amd64 busybox-static)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "setup-vm: need root to install ${missing[*]}" >&2
	exit 1
fi
echo "setup-vm: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
