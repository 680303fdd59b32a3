/* SPDX-License-Identifier: MIT */
/* test_uvmctx.c - reading ACI's UVM security context (uvmctx.h): the real security-context files
 * from ms-reference, directory discovery, legacy environment variables, malformed input. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/codec.h"
#include "sealmount/uvmctx.h"
#include "unit.h"

static void write_text(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void rm_text(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

START_TEST(uvm_context_load_real_security_context)
{
	const char *base = unit_shared_testdata();
	struct uvm_context c;
	char dir[512], hex[65];

	ck_assert_ptr_nonnull(base);
	unsetenv("UVM_SECURITY_POLICY");
	snprintf(dir, sizeof(dir), "%s/security-context", base);
	ck_assert_int_eq(uvm_context_load(dir, &c), 0);
	ck_assert_ptr_nonnull(c.security_policy);
	hex_encode(c.host_data, 32, hex);
	ck_assert_int_eq(strncmp(hex, "4f4448c6", 8), 0);
	ck_assert_str_eq(hex + 58, "777d10");
	ck_assert(c.has_thim);
	ck_assert_uint_eq(c.thim.tcbm, UINT64_C(0x7308000000000003));
	ck_assert_ptr_nonnull(c.reference_info);
	ck_assert_uint_gt(c.reference_info_len, 100);
	ck_assert_str_eq(c.dir, dir);
	uvm_context_done(&c);
}
END_TEST

START_TEST(uvm_context_find_dir_order)
{
	char root[] = "/tmp/sealmount-uvmroot-XXXXXX", sub[600];
	char *found;

	ck_assert_ptr_nonnull(mkdtemp(root));
	unsetenv("UVM_SECURITY_CONTEXT_DIR");
	ck_assert_int_eq(uvm_context_find_dir(root, &found), -ENOENT);
	write_text(root, "security-context-file", "not a dir");
	ck_assert_int_eq(uvm_context_find_dir(root, &found), -ENOENT);
	snprintf(sub, sizeof(sub), "%s/security-context-1234", root);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(uvm_context_find_dir(root, &found), 0);
	ck_assert_str_eq(found, sub);
	free(found);
	/* The environment variable wins. */
	setenv("UVM_SECURITY_CONTEXT_DIR", "/elsewhere", 1);
	ck_assert_int_eq(uvm_context_find_dir(root, &found), 0);
	ck_assert_str_eq(found, "/elsewhere");
	free(found);
	unsetenv("UVM_SECURITY_CONTEXT_DIR");
	rmdir(sub);
	rm_text(root, "security-context-file");
	rmdir(root);
}
END_TEST

START_TEST(uvm_context_legacy_env_and_errors)
{
	char dir[] = "/tmp/sealmount-uvmctx-XXXXXX";
	struct uvm_context c;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	unsetenv("UVM_SECURITY_POLICY");
	unsetenv("UVM_HOST_AMD_CERTIFICATE");
	unsetenv("UVM_REFERENCE_INFO");
	ck_assert_int_eq(uvm_context_load(dir, &c), -ENOENT);
	/* Legacy variable, with a trailing newline tolerated. */
	setenv("UVM_SECURITY_POLICY", "cGFja2FnZSBwb2xpY3kK\n", 1);
	ck_assert_int_eq(uvm_context_load(dir, &c), 0);
	ck_assert_uint_eq(c.security_policy_len, 15);
	ck_assert_mem_eq(c.security_policy, "package policy\n", 15);
	ck_assert(!c.has_thim);
	uvm_context_done(&c);
	/* The file wins over the variable. */
	write_text(dir, "security-policy-base64", "b3RoZXI=\n");
	ck_assert_int_eq(uvm_context_load(dir, &c), 0);
	ck_assert_mem_eq(c.security_policy, "other", 5);
	uvm_context_done(&c);
	/* Malformed base64 and a malformed THIM document fail. */
	write_text(dir, "security-policy-base64", "b3R*ZXI=");
	ck_assert_int_eq(uvm_context_load(dir, &c), -EBADMSG);
	write_text(dir, "security-policy-base64", "b3RoZXI=");
	write_text(dir, "host-amd-cert-base64", "eyJ2Y2VrQ2VydCI6MX0="); /* {"vcekCert":1} */
	ck_assert_int_eq(uvm_context_load(dir, &c), -EBADMSG);
	unsetenv("UVM_SECURITY_POLICY");
	rm_text(dir, "security-policy-base64");
	rm_text(dir, "host-amd-cert-base64");
	rmdir(dir);
}
END_TEST

static Suite *uvmctx_suite(void)
{
	Suite *s = suite_create("uvmctx");
	TCase *tc = tcase_create("core");
	TCase *real = unit_tcase_shared("real capture");

	tcase_add_test(real, uvm_context_load_real_security_context);
	tcase_add_test(tc, uvm_context_find_dir_order);
	tcase_add_test(tc, uvm_context_legacy_env_and_errors);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, real);
	return s;
}

UNIT_MAIN(uvmctx_suite)
