#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-secret-hygiene.sh - tests/integration/test-secret-hygiene-mount.sh against the kernel
# engine in the VM (issue 15 item 8): `sealmount mount` and `sealmount run` attest, release and
# activate dm-crypt + dm-integrity through libcryptsetup; the passphrase and the volume key stay
# out of logs, environments and files, the processes are non-dumpable with locked memory, and
# their memory holds the volume key only in locked mappings.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" "$@"
fi
command -v dmsetup >/dev/null || { echo "SKIP: dmsetup missing in the VM" >&2; exit 77; }
# bash's process substitution needs /dev/fd, which the VM's minimal /dev lacks
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
EMU_START_TIMEOUT=${EMU_START_TIMEOUT:-600} HYGIENE_ENGINE=kernel exec bash "$here/../integration/test-secret-hygiene-mount.sh"
