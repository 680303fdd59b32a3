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
#include "sealmount/attest.h"
#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/log.h"

#define BEARER_FILE_MAX (IMDS_TOKEN_MAX + 2)

void key_attested_done(struct key_attested *a)
{
	maa_runtime_key_free(a->key);
	free(a->token);
	json_decref(a->claims);
	*a = (struct key_attested){};
}

int key_attest(struct http_client *http, const char *maa, const char *snp, struct key_attested *ret)
{
	_cleanup_(attest_result_done) struct attest_result res = {};
	int r;

	r = attest_run(
		&(struct attest_params){
			.http = http, .maa = maa, .api = MAA_API_2022_08_01, .snp = snp },
		&res);
	if (r < 0)
		return r;
	ret->key = TAKE_PTR(res.key);
	ret->token = TAKE_PTR(res.token);
	ret->claims = TAKE_PTR(res.claims);
	return 0;
}

int key_session_open(const struct key_args *a, struct key_session *ret)
{
	_cleanup_(key_session_close) struct key_session s = {};
	int r;

	r = http_client_new(&(struct http_options){ .ca_file = a->ca_file, .max_retries = 4 },
			    &s.http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP: %m");
	r = hsm_client_new(s.http, a->vault, &(struct hsm_client_options){ .ca_file = a->ca_file },
			   &s.hsm);
	if (r < 0)
		return log_error_errno(r,
				       "Invalid vault endpoint '%s' (a host name or https://HOST"
				       "[:PORT]; http only to loopback) or --ca-file: %m",
				       a->vault);
	r = key_auth_new(s.http,
			 &(struct key_auth_args){ .vault = a->vault,
						  .bearer_file = a->bearer_file,
						  .imds = a->imds,
						  .client_id = a->client_id,
						  .federated_token_file = a->federated_token_file,
						  .tenant_id = a->tenant_id,
						  .authority = a->authority },
			 &s.auth);
	if (r < 0)
		return r;
	*ret = s;
	s = (struct key_session){};
	return 0;
}

void key_session_close(struct key_session *s)
{
	/* The vault client and the token source use the HTTP client: free them first. */
	skr_auth_free(s->auth);
	hsm_client_free(s->hsm);
	http_client_free(s->http);
	*s = (struct key_session){};
}

#define READ_RESERVE (64u * 1024)

int key_read_file(const char *path, size_t max, struct buf *b)
{
	static const uint8_t zeros[READ_RESERVE];
	int r;

	buf_init(b, max);
	/* Allocate the room for small (secret) files at once: buf grows with realloc(), which
	 * would leave unwiped copies behind. */
	r = buf_append(b, zeros, max < READ_RESERVE ? max : READ_RESERVE);
	if (r < 0)
		return r;
	b->len = 0;
	return buf_append_file(b, path);
}

int key_read_passphrase(const char *path, size_t max, struct secret **ret)
{
	struct buf b;
	int r;

	r = key_read_file(path, max, &b);
	if (r >= 0)
		r = b.len ? secret_new_copy(b.data, b.len, ret) : -ENODATA;
	buf_done_wipe(&b);
	return r;
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
