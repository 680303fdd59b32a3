/* SPDX-License-Identifier: MIT */
/* test_snp_device.c - the SNP guest device path (snp_device.h) without SNP hardware: missing
 * device, wrong kind of node, and the error texts. (The real ioctls run in the VM rig.) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/snp_device.h"
#include "unit.h"

static const uint8_t rdata[SNP_REPORT_DATA_SIZE] = { 1 };

START_TEST(snp_device_missing_is_enodev)
{
	struct snp_device_status st;
	uint8_t out[SNP_REPORT_SIZE];
	char msg[256];

	ck_assert_int_eq(
		snp_device_get_report("/nonexistent/sev-guest", SNP_ABI_AUTO, rdata, 0, out, &st),
		-ENODEV);
	ck_assert_str_eq(st.path, "/nonexistent/sev-guest");
	snp_device_strerror(-ENODEV, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "no SEV-SNP guest device"));
	/* Probing on this machine: either no device (-ENODEV) or a real one. */
	if (access(SNP_DEVICE_SEV_GUEST, F_OK) != 0 && access(SNP_DEVICE_SEV_LEGACY, F_OK) != 0) {
		ck_assert_int_eq(snp_device_get_report(NULL, SNP_ABI_AUTO, rdata, 0, out, &st),
				 -ENODEV);
		ck_assert_str_eq(st.path, "");
	}
}
END_TEST

START_TEST(snp_device_wrong_node_is_eopnotsupp)
{
	static const enum snp_device_abi abis[] = { SNP_ABI_SEV_GUEST, SNP_ABI_SEV_LEGACY };
	char path[] = "/tmp/sealmount-not-sev-XXXXXX";
	struct snp_device_status st;
	uint8_t out[SNP_REPORT_SIZE];
	char msg[256];
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	for (size_t i = 0; i < ELEMENTSOF(abis); i++)
		ck_assert_int_eq(snp_device_get_report(path, abis[i], rdata, 0, out, &st),
				 -EOPNOTSUPP);
	snp_device_strerror(-EOPNOTSUPP, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, path));
	ck_assert_int_eq(snp_device_get_report(path, SNP_ABI_AUTO, rdata, 4, out, &st), -EINVAL);
	unlink(path);
}
END_TEST

START_TEST(snp_device_error_texts)
{
	struct snp_device_status st = { .path = "/dev/sev-guest", .fw_error = 0x16 };
	char msg[256];

	ck_assert_str_eq(snp_fw_error_str(0), "SUCCESS");
	ck_assert_str_eq(snp_fw_error_str(0x16), "INVALID_PARAM");
	ck_assert_str_eq(snp_fw_error_str(0x27), "INVALID_KEY_SELECTION");
	ck_assert_str_eq(snp_fw_error_str(0xff), "not a firmware error");
	ck_assert_str_eq(snp_fw_error_str(0x1234), "unknown");
	snp_device_strerror(-EIO, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "0x16 (INVALID_PARAM)"));
	st.fw_error = 0xff;
	st.vmm_error = 2;
	snp_device_strerror(-EIO, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "busy"));
	st.rsp_status = 0x27;
	snp_device_strerror(-EIO, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "INVALID_KEY_SELECTION"));
	snp_device_strerror(-EACCES, &st, msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "permission denied"));
	snp_device_strerror(-ENOMEM, NULL, msg, 8);
	ck_assert_uint_eq(strlen(msg), 7);
}
END_TEST

static Suite *snp_device_suite(void)
{
	Suite *s = suite_create("snp_device");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, snp_device_missing_is_enodev);
	tcase_add_test(tc, snp_device_wrong_node_is_eopnotsupp);
	tcase_add_test(tc, snp_device_error_texts);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(snp_device_suite)
