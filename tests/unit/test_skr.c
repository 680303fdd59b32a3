/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "sealmount/skr.h"
#include "unit.h"

static struct http_client *http(void)
{
	struct http_client *h;

	ck_assert_int_eq(http_client_new(&(struct http_options){}, &h), 0);
	return h;
}

START_TEST(skr_auth_bearer_used_as_is)
{
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_(secret_freep) struct secret *given = NULL, *t1 = NULL, *t2 = NULL;
	struct skr_auth *a = NULL;
	const char *tok = "eyJhbGciOi.eyJhdWQiOi.c2ln";

	ck_assert_int_eq(secret_new_copy(tok, strlen(tok), &given), 0);
	ck_assert_int_eq(skr_auth_new(h,
				      &(struct skr_auth_options){ .vault = "x.managedhsm.azure.net",
								  .bearer = given },
				      &a),
			 0);
	ck_assert_str_eq(skr_auth_resource(a), HSM_RESOURCE_MHSM);
	ck_assert_int_eq(skr_auth_token(a, false, &t1), 0);
	ck_assert_int_eq(skr_auth_token(a, true, &t2), 0); /* nothing to refresh: same token */
	ck_assert_str_eq((char *)t1->data, tok);
	ck_assert_uint_eq(t1->len, strlen(tok));
	ck_assert_str_eq((char *)t2->data, tok);
	ck_assert_ptr_null(skr_auth_last_error(a));
	skr_auth_free(a);
}
END_TEST

START_TEST(skr_auth_rejects_bad_options)
{
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_(secret_freep) struct secret *nl = NULL;
	struct skr_auth *a = NULL;

	ck_assert_int_eq(secret_new_copy("a\nb", 3, &nl), 0);
	ck_assert_int_eq(skr_auth_new(h, &(struct skr_auth_options){ .bearer = nl }, &a), -EINVAL);
	ck_assert_int_eq(
		skr_auth_new(
			h,
			&(struct skr_auth_options){
				.imds = &(struct imds_options){ .endpoint = "http://192.0.2.1" } },
			&a),
		-EINVAL);
	ck_assert_ptr_null(a);
	/* IMDS-backed, default endpoint: the vault decides the resource. */
	ck_assert_int_eq(
		skr_auth_new(h, &(struct skr_auth_options){ .vault = "v.vault.azure.net" }, &a), 0);
	ck_assert_str_eq(skr_auth_resource(a), HSM_RESOURCE_VAULT);
	skr_auth_free(a);
	skr_auth_free(NULL);
}
END_TEST

START_TEST(skr_done_functions_reset)
{
	struct skr_failure f = { .status = 403,
				 .error = strdup("Forbidden: x"),
				 .step = "release" };
	struct skr_result r = { .kid = strdup("k"), .kty = strdup("oct-HSM") };

	skr_failure_done(&f);
	ck_assert_ptr_null(f.error);
	ck_assert_int_eq(f.status, 0);
	skr_failure_done(&f);
	skr_result_done(&r);
	ck_assert_ptr_null(r.kid);
	skr_result_done(&r);
}
END_TEST

/* docs/skr.md, The 401 challenge: which token to retry with, and when not to retry at all. */
START_TEST(skr_auth_follows_challenge)
{
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_(secret_freep) struct secret *given = NULL;
	struct skr_auth *a = NULL, *fixed = NULL;
	char *why = NULL;

	/* A host that does not say what it is: the first guess is Key Vault's resource. */
	ck_assert_int_eq(
		skr_auth_new(h, &(struct skr_auth_options){ .vault = "https://keys.example.com" },
			     &a),
		0);
	ck_assert_str_eq(skr_auth_resource(a), HSM_RESOURCE_VAULT);
	ck_assert_int_eq(skr_auth_follow_challenge(
				 a,
				 "Bearer authorization=\"https://login.microsoftonline.com/t\", "
				 "resource=\"https://managedhsm.azure.net\"",
				 &why),
			 1);
	ck_assert_ptr_null(why);
	ck_assert_str_eq(skr_auth_resource(a), HSM_RESOURCE_MHSM);
	/* The scope form, another cloud. */
	ck_assert_int_eq(
		skr_auth_follow_challenge(
			a, "Bearer scope=\"https://vault.usgovcloudapi.net/.default\"", &why),
		1);
	ck_assert_str_eq(skr_auth_resource(a), "https://vault.usgovcloudapi.net");
	/* No challenge: a fresh token for the same resource. */
	ck_assert_int_eq(skr_auth_follow_challenge(a, NULL, &why), 1);
	ck_assert_str_eq(skr_auth_resource(a), "https://vault.usgovcloudapi.net");
	/* Hostile: another resource, garbage, too long - no retry, the resource unchanged. */
	ck_assert_int_eq(skr_auth_follow_challenge(
				 a, "Bearer resource=\"https://management.azure.com\"", &why),
			 0);
	ck_assert_ptr_nonnull(strstr(why, "'https://management.azure.com', which is not an "
					  "Azure Key Vault or Managed HSM resource"));
	free(why);
	ck_assert_int_eq(skr_auth_follow_challenge(a, "Bearer ,=,\"", &why), 0);
	ck_assert_ptr_nonnull(strstr(why, "does not parse"));
	free(why);
	ck_assert_str_eq(skr_auth_resource(a), "https://vault.usgovcloudapi.net");
	skr_auth_free(a);
	/* A token given as is: there is no other to ask for. */
	ck_assert_int_eq(secret_new_copy("tok", 3, &given), 0);
	ck_assert_int_eq(skr_auth_new(h, &(struct skr_auth_options){ .bearer = given }, &fixed), 0);
	ck_assert_int_eq(skr_auth_follow_challenge(
				 fixed, "Bearer resource=\"https://managedhsm.azure.net\"", &why),
			 0);
	ck_assert_ptr_null(why);
	skr_auth_free(fixed);
}
END_TEST

static Suite *skr_suite(void)
{
	Suite *s = suite_create("skr");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, skr_auth_bearer_used_as_is);
	tcase_add_test(tc, skr_auth_rejects_bad_options);
	tcase_add_test(tc, skr_done_functions_reset);
	tcase_add_test(tc, skr_auth_follows_challenge);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(skr_suite)
