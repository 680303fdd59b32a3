#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vm-run.sh - run one command inside a VM with Debian's stock kernel and real device-mapper
# (docs/README.md, Kernel path tests). The build and CI machines have FUSE and loop but no dm.
#
#   tests/vm/vm-run.sh [--timeout SECONDS] [--mem MB] [--keep] -- COMMAND [ARGS...]
#
# How: qemu -accel tcg -cpu max boots /boot/vmlinuz-<kver> with a busybox initramfs that insmods
# the modules listed below (dependencies from modules.dep), mounts the host's / read-only over 9p
# under an overlay with a tmpfs upper layer, and runs COMMAND with bash in a chroot of that, in
# the caller's working directory. A per-run job directory is shared read-write over a second 9p
# share at $VM_JOB (same path inside and outside): the command may leave files there for the
# host. COMMAND's exit code becomes ours; the console goes to stdout and $VM_JOB/console.log.
# With VM_EXPORT_DIR set, whatever the command leaves in $VM_JOB/export/ is copied there.
# Exit 125 when the VM itself fails (no exit code came back), 77 when qemu or the kernel is
# missing (run tests/vm/setup-vm.sh). Notes:
#   - cryptsetup cannot open a LUKS header on the 9p share (direct I/O): copy images to /tmp
#     (a tmpfs in the VM) first;
#   - there is no network; run Azurite and the stand-ins on the VM's loopback.
# Environment: VM_KERNEL_VERSION (default: the newest *-amd64 in /lib/modules), VM_SMP (2),
# VM_CACHE (where the initramfs is kept), VM_EXPORT_DIR (above).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout_s=600
mem=2048
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout_s=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--) shift; break ;;
	*) echo "vm-run: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: vm-run.sh [--timeout S] [--mem MB] [--keep] -- COMMAND..." >&2; exit 2; }

have_tools()
{
	command -v qemu-system-x86_64 >/dev/null && [ -x /bin/busybox ] &&
		compgen -G '/boot/vmlinuz-*-amd64' >/dev/null
}
if ! have_tools && [ "$(id -u)" -eq 0 ]; then
	"$here/setup-vm.sh" >&2 || true
fi
kver=${VM_KERNEL_VERSION:-$(find /lib/modules -mindepth 1 -maxdepth 1 -name '*-amd64' -printf '%f\n' 2>/dev/null | sort -V | tail -1)}
kernel=/boot/vmlinuz-$kver
if [ -z "$kver" ] || [ ! -r "$kernel" ] || ! command -v qemu-system-x86_64 >/dev/null ||
	[ ! -x /bin/busybox ]; then
	echo "SKIP: qemu-system-x86, linux-image-amd64 or busybox-static missing (tests/vm/setup-vm.sh)" >&2
	exit 77
fi

# Modules to load, in this order (each after its dependencies).
MODULES=(virtio_pci virtio_blk virtio_console 9pnet_virtio 9p overlay loop fuse cuse nbd ext4
	dm-mod dm-crypt dm-integrity dm-verity xts aesni-intel sha256-ssse3 authenc gcm ghash-clmulni-intel
	af_alg algif_skcipher algif_hash algif_aead crc32c-intel)

# Keyed by the module list too: checkouts with different lists share /tmp without clobbering.
cache=${VM_CACHE:-${TMPDIR:-/tmp}/sealmount-vm-$kver-$(echo "${MODULES[*]}" | md5sum | cut -c1-8)}
initrd=$cache/initrd.cpio.gz

# Module file paths (relative to /lib/modules/$kver) of $1 and its dependencies, deps first.
mod_paths()
{
	local dep=/lib/modules/$kver/modules.dep name=${1//_/[-_]} line

	line=$(grep -E "/${name}\.ko(\.xz|\.zst)?:" "$dep" | head -1) || true
	[ -n "$line" ] || return 0 # built in
	local self=${line%%:*} deps=${line#*:} d
	for d in $deps; do
		mod_paths "$(basename "${d%%.ko*}")"
	done
	echo "$self"
}

build_initrd()
{
	local root=$cache/root m p
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/lib/modules/$kver"
	cp /bin/busybox "$root/bin/busybox"
	: >"$root/modules.order"
	for m in "${MODULES[@]}"; do
		for p in $(mod_paths "$m"); do
			grep -qxF "$p" "$root/modules.order" && continue
			mkdir -p "$root/lib/modules/$kver/$(dirname "$p")"
			cp "/lib/modules/$kver/$p" "$root/lib/modules/$kver/$p"
			echo "$p" >>"$root/modules.order"
		done
	done
	sed "s|@KVER@|$kver|" "$here/vm-init.sh" >"$root/init"
	chmod 755 "$root/init"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
}

mkdir -p "$cache"
if [ ! -s "$initrd" ] || [ "$here/vm-init.sh" -nt "$initrd" ] || [ "${BASH_SOURCE[0]}" -nt "$initrd" ]; then
	build_initrd
fi

job=$(mktemp -d "${TMPDIR:-/tmp}/sealmount-vm-job.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$job"' EXIT
{
	printf 'export VM_JOB=%q\n' "$job"
	printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
	printf 'export HOME=/root TMPDIR=/tmp\n'
	# Hand the caller's test environment through (meson's test env, SEALMOUNT and friends).
	for v in SEALMOUNT BUILD_DIR EMULATORS SEALMOUNT_TESTDATA SEALMOUNT_SHARED_TESTDATA; do
		[ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
	printf 'cd %q\n' "$PWD"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$job/cmd.sh"
# Top-level /tmp entries the job needs from the host (its directory, the build, the scripts it
# runs, ../shared): vm-init.sh binds them over the VM's own tmpfs /tmp.
for p in "$PWD" "${BUILD_DIR:-}" "${EMULATORS:-}" "${SEALMOUNT:-}" "${SEALMOUNT_TESTDATA:-}" \
	"${SEALMOUNT_SHARED_TESTDATA:-}" "$@"; do
	case "$p" in
	/tmp/?*) p=${p#/tmp/}; echo "${p%%/*}" ;;
	esac
done | sort -u >"$job/host-tmp"

start=$(date +%s%N)
rc=0
timeout --foreground "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_SMP:-2}" -m "$mem" \
	-nographic -no-reboot -monitor none -nic none \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init sealmount.job=$job" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$job,mount_tag=job,security_model=none,multidevs=remap" \
	</dev/null 2>&1 | tee "$job/console.log" || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
echo "vm-run: VM ran for $((ms / 1000)).$(printf %03d $((ms % 1000))) s" >&2
if [ -n "${VM_EXPORT_DIR:-}" ] && [ -d "$job/export" ]; then
	mkdir -p "$VM_EXPORT_DIR"
	cp -r "$job/export/." "$VM_EXPORT_DIR/"
fi
if [ ! -s "$job/rc" ]; then
	echo "vm-run: no exit code came back from the VM (qemu exit $rc)" >&2
	exit 125
fi
exit "$(cat "$job/rc")"
