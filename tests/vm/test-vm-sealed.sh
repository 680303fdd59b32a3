#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-vm-sealed.sh - tests/integration/test-sealed.sh against the kernel engine in the VM:
# sealed images mounted with dm-verity under dm-crypt (+ dm-integrity), the pipeline's seal
# step refusing wrong, older and unsigned images, a flipped byte reading as EIO.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${VM_JOB:-}" ]; then
	exec "$here/vm-run.sh" --timeout "${VM_TIMEOUT:-1700}" -- bash "$here/$(basename "$0")" "$@"
fi
for c in dmsetup losetup openssl filefrag; do
	command -v "$c" >/dev/null || { echo "SKIP: $c missing in the VM" >&2; exit 77; }
done
SEALED_ENGINE=kernel exec bash "$here/../integration/test-sealed.sh"
