/* SPDX-License-Identifier: MIT */
/* Target: hsm_response_validate() (src/skr/hsm_response.c), hsm_policy_explain() and
 * hsm_policy_from_bundle() (src/skr/hsm_policy.c) and imds_token_parse() (src/skr/imds.c) on
 * arbitrary bytes. The release JWS signature is checked before validation in production; here
 * the payload is fed in directly so the fuzzer reaches the validators (docs/conventions.md, Tests). The first
 * byte picks the target. */
#include <stdint.h>
#include <stdlib.h>

#include "sealmount/hsm.h"
#include "sealmount/imds.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void payload(const uint8_t *data, size_t size)
{
	json_t *p = NULL;
	struct hsm_released rel;

	if (jsonx_load_object(data, size, HSM_RESPONSE_MAX, &p) < 0)
		return;
	if (hsm_response_validate(p, UNWRAP_ENC_RSA_AES_KEY_WRAP_256, &rel) == 0)
		hsm_released_done(&rel);
	json_decref(p);
}

static void policy(const uint8_t *data, size_t size)
{
	json_t *p = NULL, *bundle = NULL, *decoded = NULL;
	json_t *claims = json_pack("{s:s, s:s, s:b, s:i}", "iss", "https://maa.example",
				   "x-ms-sevsnpvm-hostdata", "aa", "x-ms-sevsnpvm-is-debuggable", 0,
				   "x-ms-sevsnpvm-vmpl", 0);
	struct buf out;

	buf_init(&out, 64 * 1024);
	if (claims && jsonx_load_object(data, size, HSM_RESPONSE_MAX, &p) == 0) {
		(void)!hsm_policy_explain(p, claims, &out);
		if (hsm_policy_from_bundle(p, &decoded) == 0)
			(void)!hsm_policy_explain(decoded, claims, &out);
	}
	buf_done(&out);
	json_decref(p);
	json_decref(bundle);
	json_decref(decoded);
	json_decref(claims);
}

static void imds(const uint8_t *data, size_t size)
{
	struct secret *t = NULL;
	int64_t exp;

	if (imds_token_parse(data, size, 1700000000, &t, &exp) == 0)
		secret_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_LVL_ERROR);
	secret_set_allow_unlocked(true);
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		payload(data + 1, size - 1);
		break;
	case 1:
		policy(data + 1, size - 1);
		break;
	default:
		imds(data + 1, size - 1);
	}
	return 0;
}
