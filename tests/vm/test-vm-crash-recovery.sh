#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-crash-recovery.sh - tests/integration/test-crash-recovery.sh against the kernel engine
# in the VM: after kill -9, the dm-crypt/dm-integrity devices and the NBD device (its server died
# with the process) are cleaned up from the crash record, with the mount and the link.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" "$@"
fi
for c in dmsetup losetup python3; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
CRASH_ENGINE=kernel exec bash "$here/../integration/test-crash-recovery.sh"
