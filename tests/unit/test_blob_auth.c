/* SPDX-License-Identifier: MIT */
/*
 * SharedKey signing and blob URL parsing.
 *
 * The expected Authorization values were produced independently by the official Azure SDK
 * (@azure/storage-blob 12.32.0 / @azure/storage-common, storageSharedKeyCredentialPolicy) for
 * the same requests, with Azurite's well-known devstoreaccount1 key:
 *
 *   const pol = storageSharedKeyCredentialPolicy({ accountName: "devstoreaccount1",
 *                                                  accountKey: Buffer.from(KEY, "base64") });
 *   const req = createPipelineRequest({ url, method, headers: createHttpHeaders(h), body });
 *   await pol.sendRequest(req, async (r) => { print(r.headers.get("authorization")) ... });
 *
 * (the SDK sets x-ms-date itself; its value is copied below).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/blob.h"
#include "sealmount/codec.h"
#include "unit.h"

#define AZURITE_KEY                                                                                \
	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define SDK_DATE "x-ms-date: Fri, 27 Nov 2026 23:41:07 GMT"

static struct secret *azurite_key(void)
{
	struct secret *s = NULL;

	ck_assert_int_eq(secret_new(64, &s), 0);
	ck_assert_int_eq(b64_decode_fixed(B64_STD, AZURITE_KEY, strlen(AZURITE_KEY), s->data, 64),
			 0);
	return s;
}

static void check_auth(const char *verb, const char *const *hdrs, const char *path,
		       const char *query, const char *want)
{
	_cleanup_(secret_freep) struct secret *key = azurite_key();
	_cleanup_free_ char *sts = NULL, *auth = NULL;

	ck_assert_int_eq(
		blob_sharedkey_string_to_sign(verb, hdrs, "devstoreaccount1", path, query, &sts),
		0);
	ck_assert_int_eq(blob_sharedkey_authorization(key, "devstoreaccount1", sts, &auth), 0);
	ck_assert_str_eq(auth, want);
}

START_TEST(sharedkey_matches_sdk_ranged_get)
{
	const char *hdrs[] = { "x-ms-version: 2021-12-02",	SDK_DATE,
			       "x-ms-range: bytes=0-65535",	"x-ms-range-get-content-md5: true",
			       "If-Match: \"0x8DC0FFEE12345\"", NULL };

	check_auth("GET", hdrs, "/devstoreaccount1/c/b.img", NULL,
		   "SharedKey devstoreaccount1:/5k2rHRRQSFBJQi7HM8mMKHiWHMs5piM5uzBrk+ezGI=");
}
END_TEST

START_TEST(sharedkey_matches_sdk_put_page)
{
	const char *hdrs[] = { "x-ms-version: 2021-12-02",
			       SDK_DATE,
			       "x-ms-range: bytes=512-1023",
			       "x-ms-page-write: update",
			       "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==",
			       "x-ms-lease-id: a8f1e1b0-3c6a-4d2e-9f00-0123456789ab",
			       "Content-Length: 512",
			       NULL };

	check_auth("PUT", hdrs, "/devstoreaccount1/c/b.img", "comp=page",
		   "SharedKey devstoreaccount1:PWqA5Hp+DAFGHAu7tOcSP74qHBBCHHo41gRjnjMMPwY=");
}
END_TEST

START_TEST(sharedkey_matches_sdk_head_host_style)
{
	const char *hdrs[] = { "x-ms-version: 2021-12-02", SDK_DATE, NULL };

	check_auth("HEAD", hdrs, "/cont/dir/disk.img", NULL,
		   "SharedKey devstoreaccount1:6aY2LPnKZNcEBKfWx7+NrIbdf0ctAXE7tVSmuUtS1Ak=");
}
END_TEST

START_TEST(sharedkey_string_to_sign_layout)
{
	const char *hdrs[] = { "X-MS-Version:  2021-12-02 ",
			       "x-ms-meta-a: one   two",
			       "Content-Length: 0",
			       "Date: ignored-with-x-ms-date",
			       SDK_DATE,
			       "x-ms-meta-a: three",
			       NULL };
	_cleanup_free_ char *sts = NULL;

	ck_assert_int_eq(blob_sharedkey_string_to_sign("PUT", hdrs, "acct", "/c",
						       "restype=container&COMP=list&comp=b%20c",
						       &sts),
			 0);
	ck_assert_str_eq(sts, "PUT\n\n\n\n\n\n\n\n\n\n\n\n"
			      "x-ms-date:Fri, 27 Nov 2026 23:41:07 GMT\n"
			      "x-ms-meta-a:one two,three\n"
			      "x-ms-version:2021-12-02\n"
			      "/acct/c\ncomp:b c,list\nrestype:container");
}
END_TEST

START_TEST(sharedkey_rejects_bad_headers)
{
	const char *bad[] = { "no colon here", NULL };
	const char *empty[] = { ": value", NULL };
	char *sts = NULL;

	ck_assert_int_eq(blob_sharedkey_string_to_sign("GET", bad, "a", "/c/b", NULL, &sts),
			 -EINVAL);
	ck_assert_int_eq(blob_sharedkey_string_to_sign("GET", empty, "a", "/c/b", NULL, &sts),
			 -EINVAL);
	ck_assert_ptr_null(sts);
}
END_TEST

START_TEST(blob_url_parses_both_styles)
{
	struct blob_url u;

	ck_assert_int_eq(
		blob_url_parse("https://acct.blob.core.windows.net/c/dir/b.img?sv=1&sig=x", &u), 0);
	ck_assert_str_eq(u.base, "https://acct.blob.core.windows.net");
	ck_assert_str_eq(u.account, "acct");
	ck_assert_str_eq(u.path, "/c/dir/b.img");
	ck_assert_str_eq(u.query, "sv=1&sig=x");
	blob_url_done(&u);
	ck_assert_int_eq(blob_url_parse("http://127.0.0.1:10000/devstoreaccount1/c/b", &u), 0);
	ck_assert_str_eq(u.base, "http://127.0.0.1:10000");
	ck_assert_str_eq(u.account, "devstoreaccount1");
	ck_assert_str_eq(u.path, "/devstoreaccount1/c/b");
	ck_assert_ptr_null(u.query);
	blob_url_done(&u);
	ck_assert_int_eq(blob_url_parse("http://localhost:10000/acc/c/b%20x", &u), 0);
	ck_assert_str_eq(u.account, "acc");
	blob_url_done(&u);
}
END_TEST

START_TEST(blob_url_rejects_malformed)
{
	static const char *const bad[] = {
		"ftp://acct.blob.core.windows.net/c/b",
		"https://acct.blob.core.windows.net/c", /* no blob name */
		"https://acct.blob.core.windows.net/c/b#frag",
		"https://user:pw@acct.blob.core.windows.net/c/b",
		"https://acct.blob.core.windows.net/c/b c",
		"https://acct.blob.core.windows.net//b",
		"https:///c/b",
		"acct.blob.core.windows.net/c/b",
		"",
	};
	struct blob_url u;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(blob_url_parse(bad[i], &u) == -EINVAL, "accepted %s", bad[i]);
}
END_TEST

static char keyfile[64];

static void write_keyfile(const char *text, size_t len)
{
	int fd;

	snprintf(keyfile, sizeof(keyfile), "/tmp/test_blob_key.XXXXXX");
	fd = mkstemp(keyfile);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void teardown(void)
{
	if (keyfile[0])
		unlink(keyfile);
	keyfile[0] = 0;
}

START_TEST(account_key_load_ok_and_bad)
{
	_cleanup_(secret_freep) struct secret *s = NULL, *ref = azurite_key();
	static char big[5000];
	struct secret *t = NULL;

	write_keyfile("  " AZURITE_KEY "\n\n", strlen(AZURITE_KEY) + 4);
	ck_assert_int_eq(blob_account_key_load(keyfile, &s), 0);
	ck_assert(secret_equal(s, ref));
	teardown();
	write_keyfile("not*base64!\n", 12);
	ck_assert_int_eq(blob_account_key_load(keyfile, &t), -EBADMSG);
	teardown();
	write_keyfile("\n", 1);
	ck_assert_int_eq(blob_account_key_load(keyfile, &t), -ENODATA);
	teardown();
	memset(big, 'A', sizeof(big));
	write_keyfile(big, sizeof(big));
	ck_assert_int_eq(blob_account_key_load(keyfile, &t), -EFBIG);
	ck_assert_int_eq(blob_account_key_load("/nonexistent/key", &t), -ENOENT);
	ck_assert_ptr_null(t);
}
END_TEST

static void expect_resource(const char *url, const char *want)
{
	char *res = NULL;

	ck_assert_int_eq(blob_token_resource(url, &res), 0);
	ck_assert_str_eq(res, want);
	free(res);
}

START_TEST(blob_token_resource_is_the_url_host)
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

START_TEST(blob_token_resource_for_path_style_is_the_account_endpoint)
{
	expect_resource("http://127.0.0.1:10000/devstoreaccount1/imgs/a.img",
			"https://devstoreaccount1.blob.core.windows.net");
	expect_resource("https://localhost:443/acct01/c/b", "https://acct01.blob.core.windows.net");
	expect_resource("http://[::1]:10000/acct01/c/b", "https://acct01.blob.core.windows.net");
}
END_TEST

START_TEST(blob_token_resource_refuses_bad_urls)
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

		ck_assert_msg(blob_token_resource(bad[i], &res) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_null(res);
	}
}
END_TEST

static Suite *blob_auth_suite(void)
{
	Suite *s = suite_create("blob_auth");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, sharedkey_matches_sdk_ranged_get);
	tcase_add_test(tc, sharedkey_matches_sdk_put_page);
	tcase_add_test(tc, sharedkey_matches_sdk_head_host_style);
	tcase_add_test(tc, sharedkey_string_to_sign_layout);
	tcase_add_test(tc, sharedkey_rejects_bad_headers);
	tcase_add_test(tc, blob_url_parses_both_styles);
	tcase_add_test(tc, blob_url_rejects_malformed);
	tcase_add_test(tc, account_key_load_ok_and_bad);
	tcase_add_test(tc, blob_token_resource_is_the_url_host);
	tcase_add_test(tc, blob_token_resource_for_path_style_is_the_account_endpoint);
	tcase_add_test(tc, blob_token_resource_refuses_bad_urls);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(blob_auth_suite)
