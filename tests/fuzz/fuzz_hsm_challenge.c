/* SPDX-License-Identifier: MIT */
/* Target: hsm_challenge_parse() and hsm_resource_allowed() (src/skr/hsm_challenge.c): the vault's
 * 401 WWW-Authenticate value, chosen by whoever answers at the vault endpoint (docs/skr.md, The
 * 401 challenge). The input is the header value as is (not NUL-terminated).
 * Seed corpus: tests/fuzz/corpus-hsm-challenge/ (Key Vault's and Managed HSM's challenges, the
 * scope form, and the hostile ones of tests/integration/test-skr-challenge.sh).
 * Build: clang -fsanitize=fuzzer,address,undefined with skr_lib + common_lib. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/hsm.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_challenge ch;
	const char *res;

	log_set_level(LOG_LVL_ERROR);
	if (hsm_challenge_parse((const char *)data, size, &ch) != 0)
		return 0;
	/* What a parse promises: bounded, NUL-terminated values, a resource always. */
	if (!memchr(ch.resource, 0, sizeof(ch.resource)) ||
	    !memchr(ch.authorization, 0, sizeof(ch.authorization)) || !ch.resource[0] ||
	    size > HSM_CHALLENGE_MAX)
		__builtin_trap();
	res = hsm_resource_allowed(ch.resource);
	if (res && strncmp(res, "https://", 8) != 0)
		__builtin_trap();
	return 0;
}
