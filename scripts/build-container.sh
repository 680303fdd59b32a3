#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# build-container.sh - build the sidecar image on this machine (docs/README.md, Container images):
# no registry is reachable, so the debian:bookworm base is made with debootstrap and imported into
# podman, then container/Containerfile is built on it.
#
#   scripts/build-container.sh [--tag NAME] [--rootfs DIR]
#
# Writes $WORK/env.sh (a file to source; WORK is $SEALMOUNT_CONTAINER_WORK, default
# /var/tmp/sealmount-container) with the podman settings these machines need: the runc runtime
# with cgroupfs, and a containers.conf with default_ulimits = [] (podman's defaults try to raise
# limits, which these machines refuse). debootstrap uses the mirror this machine's apt uses
# (scripts/apt-mirror.sh). Needs root, podman, runc, debootstrap (scripts/setup.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=localhost/sealmount:latest
BASE=localhost/sealmount-bookworm-base:latest
WORK=${SEALMOUNT_CONTAINER_WORK:-/var/tmp/sealmount-container}
ROOTFS=

while [ $# -gt 0 ]; do
	case "$1" in
	--tag) TAG=$2; shift 2 ;;
	--rootfs) ROOTFS=$2; shift 2 ;;
	*) echo "usage: $0 [--tag NAME] [--rootfs DIR]" >&2; exit 2 ;;
	esac
done

say() { echo "==> $*"; }

for c in podman runc debootstrap; do
	command -v "$c" >/dev/null 2>&1 || { echo "$c is missing: apt-get install -y podman runc debootstrap" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "build-container.sh needs root (debootstrap, podman import)" >&2; exit 1; }

mkdir -p "$WORK"
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = []
CONF
export CONTAINERS_CONF="$WORK/containers.conf"
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
printf 'export CONTAINERS_CONF=%q\nPODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)\n' \
	"$CONTAINERS_CONF" >"$WORK/env.sh"

if ! "${PODMAN[@]}" image exists "$BASE"; then
	if [ -z "$ROOTFS" ]; then
		ROOTFS="$WORK/rootfs"
		if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
			# The mirror (and proxy) this machine's apt uses: whatever works here.
			mirror=$("$ROOT/scripts/apt-mirror.sh" bookworm)
			proxy=$("$ROOT/scripts/apt-mirror.sh" --proxy)
			[ -z "$proxy" ] || export http_proxy=${http_proxy:-$proxy}
			say "debootstrap --variant=minbase bookworm $ROOTFS $mirror (about 30 s)"
			rm -rf "$ROOTFS"
			debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
				{ tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
		fi
	fi
	# Package registries may be reached through an extra CA here: let the build trust it.
	if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
		mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
		cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
	fi
	say "podman import $ROOTFS as $BASE"
	tar -C "$ROOTFS" -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null
fi

say "podman build -t $TAG (base $BASE)"
"${PODMAN[@]}" build --network host --build-arg "BASE=$BASE" -f "$ROOT/container/Containerfile" \
	-t "$TAG" "$ROOT"
# Every build leaves the previous image and build stage untagged: drop those older than a day
# (the recent ones are the layer cache of the next build).
"${PODMAN[@]}" image prune -f --filter until=24h >/dev/null || true
say "built $TAG ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG") bytes); settings in $WORK/env.sh"
