#!/usr/bin/env bash
# Prove the README's commands on a fresh Debian 12: debootstrap a minimal bookworm, put
# `git archive HEAD` of this repository (and ../shared when present) in it and run
# scripts/test.sh (or the given command) inside with chroot and a cleared environment.
#
#   scripts/fresh-check.sh [WORKDIR] [-- COMMAND...]   (as root; WORKDIR default /tmp/sealmount-fresh)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-/tmp/sealmount-fresh}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
cmd=("$@")
[ ${#cmd[@]} -gt 0 ] || cmd=(scripts/test.sh)

[ "$(id -u)" -eq 0 ] || { echo "fresh-check: run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null

root=$work/root
if [ ! -x "$root/usr/bin/apt-get" ]; then
	rm -rf "$root"
	# The mirror (and proxy) this machine's apt uses: whatever works here.
	mirror=$("$top/scripts/apt-mirror.sh" bookworm)
	proxy=$("$top/scripts/apt-mirror.sh" --proxy)
	[ -z "$proxy" ] || export http_proxy=${http_proxy:-$proxy}
	debootstrap --variant=minbase --include=ca-certificates,git bookworm "$root" "$mirror" \
		>"$work.debootstrap.log" 2>&1 || { tail -20 "$work.debootstrap.log"; exit 1; }
fi
# These machines reach the package registries through an extra CA.
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
chroot "$root" update-ca-certificates >/dev/null 2>&1
# debootstrap leaves no /etc/hosts; every real Debian machine has one naming localhost.
[ -s "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

mnts=()
umount_all() { for ((i = ${#mnts[@]} - 1; i >= 0; i--)); do umount -l "${mnts[i]}" 2>/dev/null || true; done; }
trap umount_all EXIT
for m in dev proc sys tmp; do mkdir -p "$root/$m"; done
mount --bind /dev "$root/dev" && mnts+=("$root/dev")
mount -t proc proc "$root/proc" && mnts+=("$root/proc")
mount -t sysfs sys "$root/sys" && mnts+=("$root/sys")
mount -t tmpfs tmp "$root/tmp" && mnts+=("$root/tmp")

rm -rf "$root/work" && mkdir -p "$root/work/main"
git -C "$top" archive HEAD | tar -x -C "$root/work/main"
[ -d "$top/../shared" ] && cp -a "$top/../shared" "$root/work/shared"

ca=/etc/ssl/certs/ca-certificates.crt
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=true \
	SSL_CERT_FILE=$ca NODE_EXTRA_CA_CERTS=$ca CURL_CA_BUNDLE=$ca \
	bash -c 'cd /work/main && "$@"' fresh "${cmd[@]}"
