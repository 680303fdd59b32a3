/* SPDX-License-Identifier: MIT */
/*
 * key_util.c - attestation, bearer tokens and secret files for `sealmount key`.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "key_util.h"
#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/log.h"
#include "sealmount/snp_source.h"
#include "sealmount/uvmctx.h"

#define BEARER_FILE_MAX (IMDS_TOKEN_MAX + 2)

void key_attested_done(struct key_attested *a)
{
	maa_runtime_key_free(a->key);
	free(a->token);
	json_decref(a->claims);
	*a = (struct key_attested){};
}

static int evidence(struct http_client *http, const char *snp, const uint8_t *rd,
		    struct snp_evidence *ev, bool *ret_simulated)
{
	_cleanup_(snp_source_freep) struct snp_source *src = NULL;
	struct snp_device_status st = {};
	uint64_t tcb[2] = { 0, 0 };
	char msg[512];
	int r;

	r = snp_source_open(snp, &src);
	if (r < 0)
		return log_error_errno(r, "Cannot open SNP report source '%s': %m", snp);
	*ret_simulated = snp_source_is_simulated(src);
	r = snp_evidence_get(src, &(struct snp_evidence_config){ .http = http }, rd, ev, &st, tcb);
	if (r == -EBADMSG && tcb[0] != tcb[1])
		return log_error_errno(r,
				       "SNP reported TCB %016llx does not match the certificate "
				       "TCB %016llx",
				       (unsigned long long)tcb[0], (unsigned long long)tcb[1]);
	if (r < 0) {
		snp_device_strerror(r, &st, msg, sizeof(msg));
		return log_error_errno(r, "Cannot get an SNP report: %s", msg);
	}
	return 0;
}

static int post(struct maa_client *mc, const struct snp_evidence *ev, const struct uvm_context *ctx,
		const struct maa_runtime_key *key, char **ret)
{
	_cleanup_free_ char *chain = NULL;
	const char *jwks, *err, *id;
	size_t jl;
	int r;

	r = snp_evidence_chain_pem(ev, &chain);
	if (r < 0)
		return log_error_errno(r, "Cannot assemble the VCEK chain: %m");
	jwks = maa_runtime_key_jwks(key, &jl);
	r = maa_client_attest(
		mc,
		&(struct maa_evidence){ .report = ev->raw,
					.report_len = sizeof(ev->raw),
					.vcek_chain_pem = chain,
					.vcek_chain_len = strlen(chain),
					.uvm_endorsement = ctx->reference_info,
					.uvm_endorsement_len = ctx->reference_info_len,
					.runtime_data = jwks,
					.runtime_data_len = jl },
		ret);
	if (r >= 0)
		return 0;
	err = maa_client_last_error(mc);
	id = maa_client_last_request_id(mc);
	return log_error_errno(r, "Attestation by %s failed: %m%s%s%s%s%s", maa_client_base(mc),
			       err ? " - MAA says: " : "", err ? err : "",
			       id ? " (x-ms-request-id " : "", id ? id : "", id ? ")" : "");
}

static int validate(struct maa_client *mc, const uint8_t *rd, struct key_attested *a)
{
	_cleanup_(jwk_set_freep) struct jwk_set *signers = NULL;
	const char *failed = "?";
	int r;

	r = maa_client_get_signers(mc, &signers);
	if (r < 0)
		return log_error_errno(r, "Cannot get MAA's signing keys from %s/certs: %m",
				       maa_client_base(mc));
	r = maa_token_validate(a->token, strlen(a->token), signers,
			       &(struct maa_expect){ .issuer = maa_client_base(mc),
						     .report_data = rd,
						     .runtime_key = maa_runtime_key_pkey(a->key),
						     .now = time(NULL),
						     .skew = MAA_TOKEN_SKEW_S },
			       &a->claims, &failed);
	if (r < 0)
		return log_error_errno(r, "MAA token refused, check '%s' failed: %m", failed);
	return 0;
}

int key_attest(struct http_client *http, const char *maa, const char *snp, struct key_attested *ret)
{
	_cleanup_(maa_client_freep) struct maa_client *mc = NULL;
	_cleanup_(snp_evidence_done) struct snp_evidence ev = {};
	_cleanup_(uvm_context_done) struct uvm_context ctx = {};
	_cleanup_(key_attested_done) struct key_attested a = {};
	uint8_t rd[MAA_REPORT_DATA_SIZE];
	const char *jwks;
	bool simulated = false;
	size_t jl;
	int r;

	r = maa_client_new(http, maa, MAA_API_2022_08_01, &mc);
	if (r < 0)
		return log_error_errno(r, "Invalid MAA endpoint '%s': %m", maa);
	r = maa_runtime_key_generate(MAA_RUNTIME_KEY_BITS, &a.key);
	if (r < 0)
		return log_error_errno(r, "Cannot generate the ephemeral RSA key: %m");
	jwks = maa_runtime_key_jwks(a.key, &jl);
	maa_report_data(jwks, jl, rd);
	r = evidence(http, snp, rd, &ev, &simulated);
	if (r < 0)
		return r;
	if (!simulated && uvm_context_load(NULL, &ctx) < 0)
		log_debug("No UVM security context, sending no endorsements");
	r = post(mc, &ev, &ctx, a.key, &a.token);
	if (r < 0)
		return r;
	r = validate(mc, rd, &a);
	if (r < 0)
		return r;
	*ret = a;
	a = (struct key_attested){};
	return 0;
}

#define READ_RESERVE (64u * 1024)

int key_read_file(const char *path, size_t max, struct buf *b)
{
	static const uint8_t zeros[READ_RESERVE];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t chunk[4096];
	ssize_t n;
	int r;

	buf_init(b, max);
	if (fd < 0)
		return -errno;
	/* Allocate the room for small (secret) files at once: buf grows with realloc(), which
	 * would leave unwiped copies behind. */
	r = buf_append(b, zeros, max < READ_RESERVE ? max : READ_RESERVE);
	if (r < 0)
		return r;
	b->len = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		r = buf_append(b, chunk, (size_t)n);
		wipe(chunk, sizeof(chunk));
		if (r < 0)
			return r;
	}
	return 0;
}

int key_write_secret_file(const char *path, const struct secret *s)
{
	_cleanup_close_ int fd = -1;
	size_t off = 0;
	ssize_t n;
	int r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s (it must not exist yet): %m",
				       path);
	errno = 0;
	while (off < s->len) {
		n = write(fd, s->data + off, s->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off == s->len && fsync(fd) == 0)
		return 0;
	r = errno ? -errno : -EIO;
	(void)unlink(path); /* no partial passphrase left behind */
	return log_error_errno(r, "Cannot write %s: %m", path);
}

/* The token from a file, used as is (trailing newline removed). */
static int bearer_from_file(const char *path, struct secret **ret)
{
	_cleanup_(buf_done_wipe) struct buf b = {};
	size_t n;
	int r;

	r = key_read_file(path, BEARER_FILE_MAX, &b);
	if (r < 0)
		return log_error_errno(r, "Cannot read the bearer token from %s: %m", path);
	n = b.len;
	while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
		n--;
	if (n == 0 || memchr(b.data, '\n', n) || memchr(b.data, '\0', n))
		return log_error_errno(-EINVAL, "%s does not hold one bearer token", path);
	r = secret_new_copy(b.data, n, ret);
	if (r < 0)
		return log_error_errno(r, "Cannot allocate secret memory: %m");
	return 0;
}

int key_auth_new(struct http_client *http, const struct key_auth_args *args, struct skr_auth **ret)
{
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	int r;

	if (args->bearer_file) {
		r = bearer_from_file(args->bearer_file, &bearer);
		if (r < 0)
			return r;
	}
	r = skr_auth_new(http,
			 &(struct skr_auth_options){
				 .vault = args->vault,
				 .bearer = bearer,
				 .imds = &(struct imds_options){ .endpoint = args->imds,
								 .client_id = args->client_id,
								 .federated_token_file =
									 args->federated_token_file,
								 .tenant_id = args->tenant_id,
								 .authority = args->authority } },
			 ret);
	if (r < 0)
		return log_error_errno(r, "Invalid IMDS endpoint, client id, or workload identity "
					  "settings (--federated-token-file needs --client-id and "
					  "--tenant-id; --authority https): %m");
	return 0;
}

int key_auth_error(int r, struct skr_auth *a)
{
	_cleanup_free_ char *why = skr_auth_last_error(a);

	return log_error_errno(
		r,
		"Cannot get a managed-identity token for %s: %m%s%s. Check that the container "
		"group has a managed identity (and --client-id for a user-assigned one), the "
		"workload identity settings, or give a token with --bearer-file",
		skr_auth_resource(a), why ? " - the token service says: " : "", why ? why : "");
}

void key_vault_error_text(long status, const char *err, const char *request_id, char *buf,
			  size_t len)
{
	snprintf(buf, len, "HTTP %ld%s%s%s%s%s", status, err ? ": " : "", err ? err : "",
		 request_id ? " (x-ms-request-id " : "", request_id ? request_id : "",
		 request_id ? ")" : "");
}

#define POLICY_FILE_MAX (4u * 1024 * 1024)

int key_policy_hostdata(const char *path, uint8_t ret[32])
{
	_cleanup_(buf_done) struct buf b = {};
	_cleanup_free_ uint8_t *dec = NULL;
	size_t start = 0, end, n;
	int r;

	r = key_read_file(path, POLICY_FILE_MAX, &b);
	if (r < 0)
		return log_error_errno(r, "Cannot read the policy %s (at most %u bytes): %m", path,
				       POLICY_FILE_MAX);
	end = b.len;
	while (start < end && strchr(" \t\r\n", b.data[start]))
		start++;
	while (end > start && strchr(" \t\r\n", b.data[end - 1]))
		end--;
	if (end > start &&
	    b64_decode(B64_STD, (const char *)b.data + start, end - start, &dec, &n) == 0) {
		SHA256(dec, n, ret);
		return 0;
	}
	SHA256(b.data, b.len, ret);
	return 0;
}
