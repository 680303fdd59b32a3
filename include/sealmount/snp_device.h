/* SPDX-License-Identifier: MIT */
/*
 * snp_device.h - get an SNP attestation report from the guest firmware through the kernel.
 *
 * Two drivers exist (docs/snp.md, Device and ioctls):
 *   /dev/sev-guest  upstream >= 5.19 / 6.x, ioctl SNP_GET_REPORT (0xC0205300);
 *   /dev/sev        Microsoft's 5.15 kernel of older ACI UVMs, SEV_SNP_GUEST_MSG_REPORT
 *                   (0xC0285301).
 * Probing follows Microsoft's sidecar: /dev/sev first, then /dev/sev-guest.
 *
 * There is no fallback of any kind: without a device this fails with -ENODEV. The simulator
 * (snp_sim.h) is a separate, explicit choice of the caller.
 *
 * The module logs at debug level only; snp_device_strerror() turns a failure into the one clear
 * sentence the caller logs.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"
#include "sealmount/snp.h"

#define SNP_DEVICE_SEV_GUEST "/dev/sev-guest"
#define SNP_DEVICE_SEV_LEGACY "/dev/sev"

enum snp_device_abi {
	SNP_ABI_AUTO, /* by the node's name: ".../sev" legacy, anything else sev-guest */
	SNP_ABI_SEV_GUEST, /* 6.x struct snp_guest_request_ioctl */
	SNP_ABI_SEV_LEGACY, /* 5.15 struct sev_snp_guest_request */
};

/* What the kernel and firmware said, for error messages. Zero when not reported. */
struct snp_device_status {
	char path[64]; /* the node used ("" if none found) */
	uint32_t fw_error; /* firmware error (6.x exitinfo2 low half; 5.x error); 0xff = n/a */
	uint32_t vmm_error; /* hypervisor error (6.x exitinfo2 high half) */
	uint32_t rsp_status; /* MSG_REPORT_RSP.status */
};

/*
 * Ask the firmware for a report with REPORT_DATA = report_data at the given VMPL (ACI uses 0).
 * path NULL probes /dev/sev then /dev/sev-guest. status (optional) is always filled.
 * Returns 0 and the 1184 raw report bytes (not yet verified: parse and verify them), or:
 * -ENODEV no device node; -EACCES/-EPERM no permission to open it; -EOPNOTSUPP the node does not
 * speak this ioctl; -EIO firmware or hypervisor refused (see status); -EBADMSG malformed
 * response; -EINVAL vmpl > 3; other -errno from open/ioctl.
 */
_must_check_ int snp_device_get_report(const char *path, enum snp_device_abi abi,
				       const uint8_t report_data[SNP_REPORT_DATA_SIZE],
				       uint32_t vmpl, uint8_t out[SNP_REPORT_SIZE],
				       struct snp_device_status *status) _nonnull_(3, 5);

/* Firmware status code name, e.g. 0x16 -> "INVALID_PARAM"; "unknown" otherwise. */
const char *snp_fw_error_str(uint32_t code);

/* One sentence describing a failure of snp_device_get_report(), with the likely cause
 * (no SNP guest, missing privilege, firmware code). Writes at most len bytes (NUL-terminated). */
void snp_device_strerror(int err, const struct snp_device_status *st, char *buf, size_t len)
	_nonnull_(3);
