/* SPDX-License-Identifier: MIT */
/*
 * attest.h - the attestation step of the pipeline as one call: get SNP evidence whose
 * REPORT_DATA binds the runtime data (by default a fresh ephemeral RSA key as a JWK set), send it
 * with its VCEK chain (and the UVM endorsement on real hardware) to MAA, and validate the token
 * MAA returns (signature by a key from the endpoint's /certs, issuer, validity, report data,
 * runtime key, nonce).
 *
 * Used by `sealmount attest`, `sealmount key release|import` and the pipeline (pipeline.h). On
 * failure it writes what failed and what to check (x-ms-request-id, TCB values, device errors)
 * into p->diag (diag.h) and returns -errno; it logs at debug level only.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/diag.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/maa.h"
#include "sealmount/snp.h"

struct attest_params {
	struct http_client *http;
	const char *maa; /* MAA endpoint: host name or https://HOST (http only to loopback) */
	enum maa_api_version api;
	const char *snp; /* "device", "device:PATH" or "sim:DIR" */
	const void *runtime_data; /* NULL: a fresh ephemeral RSA key's JWK set is bound */
	size_t runtime_len;
	bool runtime_binary; /* send runtime_data as Binary rather than JSON */
	bool nonce; /* send a random nonce and require the token to echo it */
	struct diag *diag; /* what failed (may be NULL) */
};

struct attest_result {
	struct maa_runtime_key *key; /* the ephemeral key (NULL when runtime_data was given) */
	char *token; /* the validated MAA token */
	json_t *claims; /* its claims */
	uint8_t report[SNP_REPORT_SIZE]; /* the raw report that was sent (no secret) */
	bool simulated; /* the report came from the simulated SNP source */
};

/* Run the whole step. On 0 the caller owns *ret and frees it with attest_result_done(). */
_must_check_ int attest_run(const struct attest_params *p, struct attest_result *ret)
	_nonnull_(1, 2);
void attest_result_done(struct attest_result *r) _nonnull_(1);
