/* SPDX-License-Identifier: MIT */
/*
 * maa.h - Microsoft Azure Attestation (MAA) client for SEV-SNP: the ephemeral runtime key that
 * is bound into REPORT_DATA, the attest request, and validation of the token MAA returns.
 *
 * Protocol (docs/maa.md):
 *   POST {endpoint}/attest/SevSnpVm?api-version=2022-08-01   (2020-10-01 selectable)
 *   {"report": b64url(JSON{"SnpReport","VcekCertChain"[,"Endorsements"]}),
 *    "runtimeData": {"data": b64url(runtime data), "dataType": "JSON"|"Binary"} [,"nonce"]}
 *   -> 200 {"token": "<JWT>"}, or an error {"error":{"code","message"}}.
 * REPORT_DATA = SHA-256(runtime data bytes) || 32 zero bytes. The runtime data is our JWK set,
 * byte-for-byte what Microsoft's sidecar produces (compact, sorted keys, RFC 7638 kid,
 * key_ops ["encrypt"]), so the Managed HSM wraps the released key to our ephemeral key.
 *
 * Trust: the token is accepted only when it is RS256-signed by a key from the configured
 * endpoint's /certs (fetched over TLS); jku, jwk and x5c token headers are never used.
 *
 * Endpoints are a host name (https implied) or a full URL without path, query or fragment;
 * plain http is only allowed to loopback (http.h enforces it).
 */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/http.h"
#include "sealmount/jwk.h"
#include "sealmount/macros.h"

#define MAA_RESPONSE_MAX (256u * 1024) /* attest response and /certs */
#define MAA_RUNTIME_DATA_MAX (64u * 1024)
#define MAA_RUNTIME_KEY_BITS 2048
#define MAA_TOKEN_SKEW_S 60
#define MAA_REPORT_DATA_SIZE 64

enum maa_api_version {
	MAA_API_2022_08_01 = 0, /* default */
	MAA_API_2020_10_01,
};

/* "2022-08-01" or "2020-10-01". -EINVAL. */
_must_check_ int maa_api_version_parse(const char *s, enum maa_api_version *ret) _nonnull_(1, 2);

/* ---- runtime key ---- */

struct maa_runtime_key;

/* Generate an ephemeral RSA key (bits 2048..4096; 0 = MAA_RUNTIME_KEY_BITS). The private key
 * stays inside OpenSSL. -EINVAL, -ENOMEM. */
_must_check_ int maa_runtime_key_generate(unsigned bits, struct maa_runtime_key **ret) _nonnull_(2);
/* Wrap an existing RSA key (a reference is taken; tests and the golden vector). -EINVAL. */
_must_check_ int maa_runtime_key_from_pkey(EVP_PKEY *pkey, struct maa_runtime_key **ret)
	_nonnull_(1, 2);
void maa_runtime_key_free(struct maa_runtime_key *k);
DEFINE_CLEANUP_FUNC(struct maa_runtime_key, maa_runtime_key_free)
/* The runtime data: the JWK-set bytes (not NUL-counted; NUL-terminated). Borrowed. */
const char *maa_runtime_key_jwks(const struct maa_runtime_key *k, size_t *ret_len) _nonnull_(1, 2);
/* The key pair (borrowed; for unwrapping the released key later). */
EVP_PKEY *maa_runtime_key_pkey(const struct maa_runtime_key *k) _nonnull_(1);

/* REPORT_DATA for runtime data: SHA-256(data) || 32 zero bytes. */
void maa_report_data(const void *data, size_t len, uint8_t ret[MAA_REPORT_DATA_SIZE]) _nonnull_(3);

/* ---- request / response ---- */

/* Normalise an endpoint to "scheme://host[:port]" (the token's expected iss). Caller frees.
 * -EINVAL. */
_must_check_ int maa_endpoint_base(const char *endpoint, char **ret) _nonnull_(1, 2);

struct maa_evidence {
	const uint8_t *report; /* raw SNP report, SNP_REPORT_SIZE bytes */
	size_t report_len;
	const char *vcek_chain_pem; /* VCEK + ASK + ARK, PEM text */
	size_t vcek_chain_len;
	const uint8_t *uvm_endorsement; /* COSE_Sign1 reference info; NULL = no Endorsements */
	size_t uvm_endorsement_len;
	const void *runtime_data; /* bytes bound by REPORT_DATA */
	size_t runtime_data_len;
	bool runtime_data_binary; /* dataType "Binary" instead of "JSON" */
	const char *nonce; /* optional, echoed by MAA as the nonce claim */
};

/* The JSON body of the attest request (malloc'd, NUL-terminated). -EINVAL (missing or oversized
 * parts; runtime data declared JSON but not a JSON object), -ENOMEM. */
_must_check_ int maa_request_body(const struct maa_evidence *e, char **ret, size_t *ret_len)
	_nonnull_(1, 2, 3);
/* {base}/attest/SevSnpVm?api-version=... (malloc'd). -EINVAL, -ENOMEM. */
_must_check_ int maa_attest_url(const char *base, enum maa_api_version v, char **ret)
	_nonnull_(1, 3);
/* Extract the token from a 200 response body. -EBADMSG (not {"token": non-empty string}). */
_must_check_ int maa_response_parse(const void *body, size_t len, char **ret_token) _nonnull_(3);

/* ---- token validation ---- */

struct maa_expect {
	const char *issuer; /* maa_endpoint_base() of the configured endpoint */
	const uint8_t *report_data; /* MAA_REPORT_DATA_SIZE bytes we put in the report */
	EVP_PKEY *runtime_key; /* if set: x-ms-runtime's first encryption key must be it */
	const char *nonce; /* if set and the token has a nonce claim, they must match */
	int64_t now; /* seconds since the epoch */
	unsigned skew; /* seconds; MAA_TOKEN_SKEW_S */
};

/*
 * Validate a token completely before anything uses it: JWS form, RS256 signature by the key of
 * signers with the token's kid, then one small rule each: iss, exp/nbf/iat, attestation type
 * "sevsnpvm", x-ms-sevsnpvm-reportdata == report_data, x-ms-runtime holds our key, nonce.
 * On 0 the caller owns *ret_claims (may be NULL if not wanted). On failure *ret_failed (if not
 * NULL) names the failed check for the user ("signature", "issuer", "validity period",
 * "report data", "runtime key", ...). Codes as in jws.h (-EBADMSG, -EOPNOTSUPP, -ENOKEY,
 * -EKEYEXPIRED, -EFBIG) and -ENOMEM.
 */
_must_check_ int maa_token_validate(const char *token, size_t len, const struct jwk_set *signers,
				    const struct maa_expect *x, json_t **ret_claims,
				    const char **ret_failed) _nonnull_(1, 3, 4);

/* ---- client ---- */

/* One client per endpoint. Not thread-safe (it remembers the last request id and error). */
struct maa_client;

/* http is borrowed and must outlive the client. -EINVAL (bad endpoint or refused scheme). */
_must_check_ int maa_client_new(struct http_client *http, const char *endpoint,
				enum maa_api_version v, struct maa_client **ret) _nonnull_(1, 2, 4);
void maa_client_free(struct maa_client *c);
DEFINE_CLEANUP_FUNC(struct maa_client, maa_client_free)
/* The normalised endpoint (expected iss). Borrowed. */
const char *maa_client_base(const struct maa_client *c) _nonnull_(1);

/* GET {base}/certs and parse it. Transport codes from http.h; -EPROTO non-200; jwk.h codes. */
_must_check_ int maa_client_get_signers(struct maa_client *c, struct jwk_set **ret) _nonnull_(1, 2);
/* POST the evidence; on 0 the caller owns *ret_token (free). Status mapping: 400 -> -EPERM (MAA
 * refused the evidence), 401/403 -> -EACCES, 408/429/5xx -> -EIO, other non-200 -> -EPROTO. */
_must_check_ int maa_client_attest(struct maa_client *c, const struct maa_evidence *e,
				   char **ret_token) _nonnull_(1, 2, 3);
/* x-ms-request-id of the last response (quote it in support requests), or NULL. Borrowed. */
const char *maa_client_last_request_id(const struct maa_client *c) _nonnull_(1);
/* "code: message" from MAA's last error body, or NULL. Borrowed. */
const char *maa_client_last_error(const struct maa_client *c) _nonnull_(1);
