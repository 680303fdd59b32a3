/* SPDX-License-Identifier: MIT */
/*
 * Tests for the Blob Storage side of the IMDS client: the resource asked for a blob URL
 * (docs/imds.md, Storage tokens) and the token adapter's argument checks. Fetching and refreshing
 * through the adapter is tested against the IMDS stand-in and Azurite (test-blob-oauth.sh).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/imds.h"
#include "unit.h"

static void expect_resource(const char *url, const char *want)
{
	char *res = NULL;

	ck_assert_int_eq(imds_blob_resource(url, &res), 0);
	ck_assert_str_eq(res, want);
	free(res);
}

START_TEST(imds_blob_resource_is_the_url_host)
{
	expect_resource("https://acct.blob.core.windows.net/c/b",
			"https://acct.blob.core.windows.net");
	expect_resource("https://acct.blob.core.windows.net/c/dir/b.img?sv=1&sig=x",
			"https://acct.blob.core.windows.net");
	/* private endpoints and other clouds: the host as written */
	expect_resource("https://acct.privatelink.blob.core.windows.net/c/b",
			"https://acct.privatelink.blob.core.windows.net");
	expect_resource("https://acct.blob.core.chinacloudapi.cn/c/b",
			"https://acct.blob.core.chinacloudapi.cn");
}
END_TEST

START_TEST(imds_blob_resource_for_path_style_is_the_account_endpoint)
{
	expect_resource("http://127.0.0.1:10000/devstoreaccount1/imgs/a.img",
			"https://devstoreaccount1.blob.core.windows.net");
	expect_resource("https://localhost:443/acct01/c/b", "https://acct01.blob.core.windows.net");
	expect_resource("http://[::1]:10000/acct01/c/b", "https://acct01.blob.core.windows.net");
}
END_TEST

START_TEST(imds_blob_resource_refuses_bad_urls)
{
	static const char *const bad[] = {
		"ftp://acct.blob.core.windows.net/c/b",
		"acct.blob.core.windows.net/c/b",
		"https:///c/b",
		"https://user@acct.blob.core.windows.net/c/b",
		"https://acct.blob.core.windows.net",
		"https://acct.blob.core.windows.net?x",
		"https://ac%74.blob.core.windows.net/c/b",
		"https://acct.blob.core.windows.net&resource=x/c/b",
		"http://127.0.0.1:10000/DevStore/c/b", /* account names are lower case */
		"http://127.0.0.1:10000/ab/c/b", /* too short */
		"http://127.0.0.1:10000/abcdefghijklmnopqrstuvwxy/c/b", /* too long */
		"http://127.0.0.1:10000/",
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *res = NULL;

		ck_assert_msg(imds_blob_resource(bad[i], &res) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_null(res);
	}
}
END_TEST

START_TEST(imds_blob_token_needs_a_source)
{
	struct imds_blob_source src = { 0 };
	char *tok = NULL;

	ck_assert_int_eq(imds_blob_token(NULL, &tok), -EINVAL);
	ck_assert_int_eq(imds_blob_token(&src, &tok), -EINVAL);
	ck_assert_ptr_null(tok);
}
END_TEST

static Suite *imds_blob_suite(void)
{
	Suite *s = suite_create("imds_blob");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, imds_blob_resource_is_the_url_host);
	tcase_add_test(tc, imds_blob_resource_for_path_style_is_the_account_endpoint);
	tcase_add_test(tc, imds_blob_resource_refuses_bad_urls);
	tcase_add_test(tc, imds_blob_token_needs_a_source);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(imds_blob_suite)
