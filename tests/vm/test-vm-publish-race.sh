#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-publish-race.sh - tests/integration/test-publish-race.sh against the kernel engine
# (dm-integrity + dm-crypt, mounted by the kernel) in the VM: an app container exchanging
# .filesystem-0 with a decoy while the sidecar publishes can neither redirect the mount nor
# keep teardown from cleaning up (docs/threat-model.md).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" "$@"
fi
for c in dmsetup losetup python3; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
# The other VM tests mount through the NBD block layer (auto picks it in the VM): this one keeps
# FUSE + loop covered.
RACE_ENGINE=kernel RACE_BLOCK=fuse RACE_ROUNDS=${RACE_ROUNDS:-6} exec bash "$here/../integration/test-publish-race.sh"
