/* SPDX-License-Identifier: MIT */
/*
 * attest.c - SNP evidence -> MAA -> validated token, the pipeline's attestation step. What
 * failed goes into p->diag (diag.h), for the coordinator to log once.
 */
#define _GNU_SOURCE
#include "sealmount/attest.h"

#include <openssl/rand.h>
#include <string.h>
#include <time.h>

#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/snp_source.h"
#include "sealmount/uvmctx.h"

void attest_result_done(struct attest_result *r)
{
	maa_runtime_key_free(r->key);
	free(r->token);
	json_decref(r->claims);
	*r = (struct attest_result){};
}

static int evidence_error(struct diag *d, int r, const struct snp_device_status *st,
			  const uint64_t tcb[2])
{
	char msg[512];

	if (r == -EBADMSG && tcb[0] != tcb[1])
		return diag_set(d, r,
				"SNP reported TCB %016llx does not match the certificate "
				"TCB %016llx, even after refreshing the certificates",
				(unsigned long long)tcb[0], (unsigned long long)tcb[1]);
	if (r == -ENOENT)
		return diag_set(d, r,
				"No VCEK certificates for the report: the UVM security "
				"context has none (host-amd-cert-base64)");
	snp_device_strerror(r, st, msg, sizeof(msg));
	return diag_set(d, r, "Cannot get an SNP report: %s", msg);
}

static int get_evidence(const struct attest_params *p, const uint8_t rd[MAA_REPORT_DATA_SIZE],
			struct snp_evidence *ev, bool *ret_simulated)
{
	_cleanup_(snp_source_freep) struct snp_source *src = NULL;
	struct snp_evidence_config cfg = { .http = p->http };
	struct snp_device_status st = {};
	uint64_t tcb[2] = { 0, 0 };
	int r;

	r = snp_source_open(p->snp, &src);
	if (r < 0)
		return diag_set(p->diag, r, "Cannot open SNP report source '%s': %m", p->snp);
	*ret_simulated = snp_source_is_simulated(src);
	r = snp_evidence_get(src, &cfg, rd, ev, &st, tcb);
	if (r < 0)
		return evidence_error(p->diag, r, &st, tcb);
	return 0;
}

/* The UVM endorsement (reference-info) when running on the device; optional. */
static void load_endorsement(bool simulated, struct uvm_context *ctx)
{
	int r;

	if (simulated)
		return;
	r = uvm_context_load(NULL, ctx);
	if (r < 0)
		log_debug_errno(r, "No UVM security context, sending no endorsements: %m");
}

static int post_error(struct diag *d, struct maa_client *mc, int r)
{
	const char *id = maa_client_last_request_id(mc);
	const char *err = maa_client_last_error(mc);

	if (r != -EPERM && r != -EACCES)
		return diag_set(d, r, "Attestation by %s failed: %m%s%s%s%s%s", maa_client_base(mc),
				err ? " - MAA says: " : "", err ? err : "",
				id ? " (x-ms-request-id " : "", id ? id : "", id ? ")" : "");
	return diag_set(d, r,
			"%s refused the evidence%s%s%s%s%s. Check the endpoint, its "
			"attestation policy, the container policy (host data) and that the "
			"guest is not debuggable",
			maa_client_base(mc), err ? ": " : "", err ? err : "",
			id ? " (x-ms-request-id " : "", id ? id : "", id ? ")" : "");
}

static int post_evidence(struct maa_client *mc, const struct snp_evidence *ev,
			 const struct attest_params *p, const struct uvm_context *ctx,
			 const char *nonce, char **ret_token)
{
	_cleanup_free_ char *chain = NULL;
	int r;

	r = snp_evidence_chain_pem(ev, &chain);
	if (r < 0)
		return diag_set(p->diag, r, "Cannot assemble the VCEK chain: %m");
	r = maa_client_attest(
		mc,
		&(struct maa_evidence){ .report = ev->raw,
					.report_len = sizeof(ev->raw),
					.vcek_chain_pem = chain,
					.vcek_chain_len = strlen(chain),
					.uvm_endorsement = ctx->reference_info,
					.uvm_endorsement_len = ctx->reference_info_len,
					.runtime_data = p->runtime_data,
					.runtime_data_len = p->runtime_len,
					.runtime_data_binary = p->runtime_binary,
					.nonce = nonce },
		ret_token);
	return r < 0 ? post_error(p->diag, mc, r) : 0;
}

static const char *validate_hint(const char *failed)
{
	if (streq(failed, "signature"))
		return "the token is not signed by a key the endpoint publishes at /certs";
	if (streq(failed, "validity period"))
		return "check this machine's clock";
	if (streq(failed, "issuer"))
		return "the token names another issuer than the configured endpoint";
	return "the token does not describe this report and key";
}

static int validate(struct diag *d, struct maa_client *mc, const uint8_t *rd, const char *nonce,
		    struct attest_result *a)
{
	_cleanup_(jwk_set_freep) struct jwk_set *signers = NULL;
	const char *failed = "?";
	int r;

	r = maa_client_get_signers(mc, &signers);
	if (r < 0)
		return diag_set(d, r, "Cannot get MAA's signing keys from %s/certs: %m",
				maa_client_base(mc));
	r = maa_token_validate(
		a->token, strlen(a->token), signers,
		&(struct maa_expect){ .issuer = maa_client_base(mc),
				      .report_data = rd,
				      .runtime_key = a->key ? maa_runtime_key_pkey(a->key) : NULL,
				      .nonce = nonce,
				      .now = time(NULL),
				      .skew = MAA_TOKEN_SKEW_S },
		&a->claims, &failed);
	if (r < 0)
		return diag_set(d, r, "MAA token refused, check '%s' failed (%s): %m", failed,
				validate_hint(failed));
	return 0;
}

/* Bind either the caller's runtime data or a fresh key's JWK set; fills q from p. */
static int runtime_bind(const struct attest_params *p, struct attest_params *q,
			struct attest_result *a)
{
	int r;

	*q = *p;
	if (p->runtime_data)
		return 0;
	r = maa_runtime_key_generate(MAA_RUNTIME_KEY_BITS, &a->key);
	if (r < 0)
		return diag_set(p->diag, r, "Cannot generate the ephemeral RSA key: %m");
	q->runtime_data = maa_runtime_key_jwks(a->key, &q->runtime_len);
	q->runtime_binary = false;
	return 0;
}

static int make_nonce(struct diag *d, bool want, char out[33])
{
	uint8_t raw[16];

	out[0] = 0;
	if (!want)
		return 0;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return diag_set(d, -EIO, "No randomness for the attestation nonce");
	hex_encode(raw, sizeof(raw), out);
	return 0;
}

int attest_run(const struct attest_params *p, struct attest_result *ret)
{
	_cleanup_(maa_client_freep) struct maa_client *mc = NULL;
	_cleanup_(snp_evidence_done) struct snp_evidence ev = {};
	_cleanup_(uvm_context_done) struct uvm_context ctx = {};
	_cleanup_(attest_result_done) struct attest_result a = {};
	struct attest_params q;
	uint8_t rd[MAA_REPORT_DATA_SIZE];
	char nonce[33];
	int r;

	r = maa_client_new(p->http, p->maa, p->api, &mc);
	if (r < 0)
		return diag_set(p->diag, r,
				"Invalid MAA endpoint '%s' (a host name, or https://HOST; "
				"plain http only to loopback): %m",
				p->maa);
	r = runtime_bind(p, &q, &a);
	if (r < 0)
		return r;
	maa_report_data(q.runtime_data, q.runtime_len, rd);
	r = get_evidence(&q, rd, &ev, &a.simulated);
	if (r < 0)
		return r;
	memcpy(a.report, ev.raw, sizeof(a.report));
	load_endorsement(a.simulated, &ctx);
	r = make_nonce(p->diag, q.nonce, nonce);
	if (r < 0)
		return r;
	r = post_evidence(mc, &ev, &q, &ctx, q.nonce ? nonce : NULL, &a.token);
	if (r < 0)
		return r;
	r = validate(p->diag, mc, rd, q.nonce ? nonce : NULL, &a);
	if (r < 0)
		return r;
	*ret = a;
	a = (struct attest_result){};
	return 0;
}
