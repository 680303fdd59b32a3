/* SPDX-License-Identifier: MIT */
/*
 * Tests for the Blob Storage side of the IMDS client: the token adapter's argument checks (the
 * resource asked for a blob URL is tested with the blob layer, test_blob_auth.c). Fetching and refreshing through
 * the adapter is tested against the IMDS stand-in and Azurite (test-blob-oauth.sh).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/imds.h"
#include "unit.h"

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

	tcase_add_test(tc, imds_blob_token_needs_a_source);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(imds_blob_suite)
