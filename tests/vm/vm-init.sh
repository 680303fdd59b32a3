#!/bin/busybox sh
# shellcheck shell=dash disable=SC2013
# SPDX-License-Identifier: MIT
# vm-init.sh - /init of the VM's initramfs (built by vm-run.sh; @KVER@ is filled in there).
# Loads the modules, puts the host's / (9p, read-only) under an overlay with a tmpfs upper
# layer, mounts the job share, runs $job/cmd.sh in a chroot, writes its exit code to $job/rc
# and powers off.
/bin/busybox mkdir -p /proc /sys /dev /ro /rw /newroot /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

fail()
{
	echo "vm-init: $*"
	echo "SEALMOUNT-VM-EXIT=125"
	poweroff -f
}

for m in $(cat /modules.order); do
	insmod "/lib/modules/@KVER@/$m" 2>/dev/null || echo "vm-init: insmod $m failed"
done

job=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	sealmount.job=*) job=${arg#sealmount.job=} ;;
	esac
done
[ -n "$job" ] || fail "no sealmount.job= on the kernel command line"

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" hostroot /ro || fail "cannot mount the host root"
mount -t tmpfs -o size=75% tmpfs /rw || fail "tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "cannot mount the overlay"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null || true # for diagnostics (nbd tasks)
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
# /tmp is a fresh tmpfs (cryptsetup needs a real local file system for its headers), but the
# job may live under the host's /tmp (a CI clone, say): keep the overlay's view of /tmp at
# /.host-tmp and bring back the top-level entries vm-run.sh lists in $job/host-tmp.
mkdir -p /newroot/.host-tmp
mount -o bind /newroot/tmp /newroot/.host-tmp
mount -t tmpfs -o size=75% tmpfs /newroot/tmp
mkdir -p "/newroot$job"
mount -t 9p -o "$opts" job "/newroot$job" || fail "cannot mount the job share"
if [ -f "/newroot$job/host-tmp" ]; then
	while read -r name; do
		src="/newroot/.host-tmp/$name"
		if [ -L "$src" ]; then
			ln -s "$(readlink "$src")" "/newroot/tmp/$name"
		elif [ -d "$src" ]; then
			mkdir -p "/newroot/tmp/$name"
			mount -o bind "$src" "/newroot/tmp/$name"
		fi
	done <"/newroot$job/host-tmp"
fi
# Loopback only: the stand-ins listen on 127.0.0.1.
chroot /newroot /sbin/ip link set lo up 2>/dev/null || ip link set lo up

echo "vm-init: up after $(cut -d' ' -f1 /proc/uptime) s"
chroot /newroot /bin/bash "$job/cmd.sh" </dev/console >/dev/console 2>&1
rc=$?
echo "$rc" >"/newroot$job/rc"
echo "SEALMOUNT-VM-EXIT=$rc"
sync
umount "/newroot$job" 2>/dev/null
poweroff -f
