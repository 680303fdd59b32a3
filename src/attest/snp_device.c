/* SPDX-License-Identifier: MIT */
/*
 * snp_device.c - SNP_GET_REPORT through /dev/sev-guest (6.x) or /dev/sev (MS 5.15), docs/snp.md,
 * Device and ioctls.
 *
 * The ioctl structures are declared here rather than taken from <linux/sev-guest.h> because the
 * 5.15 one never reached upstream headers; their sizes and the ioctl numbers are pinned with
 * static_assert against the values in the spec notes.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/buf.h"
#include "sealmount/log.h"
#include "sealmount/snp_device.h"

/* MSG_REPORT_REQ (both drivers), 96 bytes. */
struct msg_report_req {
	uint8_t user_data[64]; /*= snp.md ioctl 0: becomes REPORT_DATA */
	uint32_t vmpl; /*= snp.md ioctl 64 */
	uint8_t rsvd[28]; /*= snp.md ioctl 68: must be zero */
};
static_assert(sizeof(struct msg_report_req) == 96, "MSG_REPORT_REQ is 96 bytes");

/* 6.x: struct snp_guest_request_ioctl, 32 bytes. */
struct sev_guest_ioctl {
	uint8_t msg_version; /*= snp.md ioctl 0: must be non-zero (1) */
	uint8_t pad[7];
	uint64_t req_data; /*= snp.md ioctl 8 */
	uint64_t resp_data; /*= snp.md ioctl 16 */
	uint64_t exitinfo2; /*= snp.md ioctl 24: fw_error low 32 bits, vmm_error high 32 bits */
};
static_assert(sizeof(struct sev_guest_ioctl) == 32, "snp_guest_request_ioctl is 32 bytes");

/* 5.15: struct sev_snp_guest_request, 40 bytes with natural x86-64 padding. */
struct sev_legacy_ioctl {
	uint8_t req_msg_type; /* 5 = MSG_REPORT_REQ */
	uint8_t rsp_msg_type; /* 6 = MSG_REPORT_RSP */
	uint8_t msg_version; /* 1 */
	uint16_t request_len;
	uint64_t request_uaddr;
	uint16_t response_len;
	uint64_t response_uaddr;
	uint32_t error;
};
static_assert(sizeof(struct sev_legacy_ioctl) == 40, "sev_snp_guest_request is 40 bytes");
static_assert(offsetof(struct sev_legacy_ioctl, request_len) == 4, "legacy layout");
static_assert(offsetof(struct sev_legacy_ioctl, response_uaddr) == 24, "legacy layout");

#define IOCTL_SNP_GET_REPORT _IOWR('S', 0x0, struct sev_guest_ioctl)
#define IOCTL_SEV_SNP_GUEST_MSG_REPORT _IOWR('S', 0x1, struct sev_legacy_ioctl)
static_assert(IOCTL_SNP_GET_REPORT == 0xC0205300u, "docs/snp.md, Device and ioctls");
static_assert(IOCTL_SEV_SNP_GUEST_MSG_REPORT == 0xC0285301u, "docs/snp.md, Device and ioctls");

#define RESP_6X_SIZE 4000 /* struct snp_report_resp */
#define RESP_LEGACY_SIZE 1280 /* MSG_REPORT_RSP as the 5.15 driver wants it */
#define RSP_REPORT_OFFSET 0x20 /* report inside MSG_REPORT_RSP */

static int ioctl_6x(int fd, const struct msg_report_req *req, uint8_t *resp,
		    struct snp_device_status *st)
{
	struct sev_guest_ioctl io = {
		.msg_version = 1,
		.req_data = (uintptr_t)req,
		.resp_data = (uintptr_t)resp,
		.exitinfo2 = 0,
	};
	int r;

	do
		r = ioctl(fd, IOCTL_SNP_GET_REPORT, &io);
	while (r < 0 && errno == EINTR);
	st->fw_error = (uint32_t)io.exitinfo2;
	st->vmm_error = (uint32_t)(io.exitinfo2 >> 32);
	return r < 0 ? -errno : 0;
}

static int ioctl_legacy(int fd, const struct msg_report_req *req, uint8_t *resp,
			struct snp_device_status *st)
{
	struct sev_legacy_ioctl io = {
		.req_msg_type = 5,
		.rsp_msg_type = 6,
		.msg_version = 1,
		.request_len = sizeof(*req),
		.request_uaddr = (uintptr_t)req,
		.response_len = RESP_LEGACY_SIZE,
		.response_uaddr = (uintptr_t)resp,
	};
	int r;

	do
		r = ioctl(fd, IOCTL_SEV_SNP_GUEST_MSG_REPORT, &io);
	while (r < 0 && errno == EINTR);
	st->fw_error = io.error;
	return r < 0 ? -errno : 0;
}

/* MSG_REPORT_RSP: status u32, report_size u32, 24 reserved, report (docs/snp.md, Device and
 * ioctls). */
static int parse_response(const uint8_t *resp, size_t len, uint8_t out[SNP_REPORT_SIZE],
			  struct snp_device_status *st)
{
	struct reader r = reader_init(resp, len);
	uint32_t status, size;
	int e;

	e = reader_u32le(&r, &status);
	if (e >= 0)
		e = reader_u32le(&r, &size);
	if (e >= 0)
		e = reader_seek(&r, RSP_REPORT_OFFSET);
	if (e < 0)
		return e;
	st->rsp_status = status;
	if (status != 0)
		return log_debug_errno(-EIO, "MSG_REPORT_RSP status 0x%x (%s)", status,
				       snp_fw_error_str(status));
	if (size != SNP_REPORT_SIZE)
		return log_debug_errno(-EBADMSG, "MSG_REPORT_RSP report_size %u, expected %u", size,
				       SNP_REPORT_SIZE);
	return reader_copy(&r, out, SNP_REPORT_SIZE);
}

static const char *probe(void)
{
	static const char *const nodes[] = { SNP_DEVICE_SEV_LEGACY, SNP_DEVICE_SEV_GUEST };
	struct stat s;

	for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
		if (stat(nodes[i], &s) == 0)
			return nodes[i];
	return NULL;
}

static bool is_legacy(const char *path, enum snp_device_abi abi)
{
	const char *base = strrchr(path, '/');

	if (abi != SNP_ABI_AUTO)
		return abi == SNP_ABI_SEV_LEGACY;
	return strcmp(base ? base + 1 : path, "sev") == 0;
}

int snp_device_get_report(const char *path, enum snp_device_abi abi,
			  const uint8_t report_data[SNP_REPORT_DATA_SIZE], uint32_t vmpl,
			  uint8_t out[SNP_REPORT_SIZE], struct snp_device_status *status)
{
	struct snp_device_status st = { .fw_error = 0 };
	struct msg_report_req req = { .vmpl = vmpl };
	uint8_t resp[RESP_6X_SIZE];
	_cleanup_close_ int fd = -1;
	bool legacy;
	int e;

	if (vmpl > 3)
		return -EINVAL;
	memcpy(req.user_data, report_data, sizeof(req.user_data));
	if (!path)
		path = probe();
	if (status)
		*status = st;
	if (!path)
		return log_debug_errno(-ENODEV, "no %s or %s", SNP_DEVICE_SEV_LEGACY,
				       SNP_DEVICE_SEV_GUEST);
	snprintf(st.path, sizeof(st.path), "%s", path);
	legacy = is_legacy(path, abi);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		e = errno == ENOENT ? -ENODEV : -errno;
	else {
		memset(resp, 0, sizeof(resp));
		e = legacy ? ioctl_legacy(fd, &req, resp, &st) : ioctl_6x(fd, &req, resp, &st);
		if (e == -ENOTTY)
			e = -EOPNOTSUPP;
		if (e >= 0)
			e = parse_response(resp, legacy ? RESP_LEGACY_SIZE : RESP_6X_SIZE, out,
					   &st);
	}
	if (status)
		*status = st;
	if (e < 0)
		return log_debug_errno(e, "%s: SNP report request failed (fw 0x%x vmm 0x%x): %m",
				       path, st.fw_error, st.vmm_error);
	return 0;
}

/* SEV firmware status codes (AMD SEV-SNP ABI "Status Codes"; linux/psp-sev.h sev_ret_code). */
const char *snp_fw_error_str(uint32_t code)
{
	static const char *const names[] = {
		"SUCCESS",
		"INVALID_PLATFORM_STATE",
		"INVALID_GUEST_STATE",
		"INVALID_CONFIG",
		"INVALID_LENGTH",
		"ALREADY_OWNED",
		"INVALID_CERTIFICATE",
		"POLICY_FAILURE",
		"INACTIVE",
		"INVALID_ADDRESS",
		"BAD_SIGNATURE",
		"BAD_MEASUREMENT",
		"ASID_OWNED",
		"INVALID_ASID",
		"WBINVD_REQUIRED",
		"DF_FLUSH_REQUIRED",
		"INVALID_GUEST",
		"INVALID_COMMAND",
		"ACTIVE",
		"HWERROR_PLATFORM",
		"HWERROR_UNSAFE",
		"UNSUPPORTED",
		"INVALID_PARAM",
		"RESOURCE_LIMIT",
		"SECURE_DATA_INVALID",
	};

	if (code < ELEMENTSOF(names))
		return names[code];
	if (code == 0x27)
		return "INVALID_KEY_SELECTION";
	if (code == 0xff)
		return "not a firmware error";
	return "unknown";
}

void snp_device_strerror(int err, const struct snp_device_status *st, char *buf, size_t len)
{
	const char *path = st && st->path[0] ? st->path : "the SEV-SNP guest device";

	switch (err) {
	case -ENODEV:
		snprintf(buf, len,
			 "no SEV-SNP guest device (%s or %s): this is not an SEV-SNP confidential "
			 "VM/container group (for tests, choose the simulator explicitly)",
			 SNP_DEVICE_SEV_GUEST, SNP_DEVICE_SEV_LEGACY);
		return;
	case -EACCES:
	case -EPERM:
		snprintf(buf, len,
			 "permission denied opening %s (the container needs the device "
			 "and, on ACI, a confidential SKU)",
			 path);
		return;
	case -EOPNOTSUPP:
		snprintf(buf, len, "%s does not support the SNP report ioctl (wrong driver/ABI?)",
			 path);
		return;
	case -EIO:
		if (st && st->rsp_status)
			snprintf(buf, len,
				 "the SNP firmware rejected the report request: status "
				 "0x%x (%s)",
				 st->rsp_status, snp_fw_error_str(st->rsp_status));
		else
			snprintf(buf, len,
				 "the SNP report request failed on %s: firmware error "
				 "0x%x (%s), hypervisor error %u%s",
				 path, st ? st->fw_error : 0,
				 snp_fw_error_str(st ? st->fw_error : 0xff), st ? st->vmm_error : 0,
				 st && st->vmm_error == 2 ? " (busy, retry later)" : "");
		return;
	case -EBADMSG:
		snprintf(buf, len, "%s returned a malformed report response", path);
		return;
	default:
		snprintf(buf, len, "SNP report request on %s failed: %s", path, strerror(-err));
	}
}
