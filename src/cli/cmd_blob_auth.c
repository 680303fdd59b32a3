/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob_auth.c - storage credentials for `sealmount blob`: SharedKey from a key file, a
 * bearer token from a file someone else keeps fresh, or a managed-identity token from IMDS
 * (the resource as the MS sidecar asks for it, refreshed before expiry by the IMDS cache).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_blob.h"
#include "sealmount/log.h"

#define TOKEN_FILE_MAX (16u * 1024)

/* blob_token_fn over a file that someone else keeps fresh: read at every request. */
static int file_token(void *userdata, char **ret)
{
	const char *path = userdata;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char buf[TOKEN_FILE_MAX + 1];
	ssize_t n;
	size_t len;

	if (fd < 0)
		return log_debug_errno(-errno, "Cannot open the token file %s: %m", path);
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || n > (ssize_t)TOKEN_FILE_MAX)
		return n < 0 ? -errno : -EFBIG;
	len = (size_t)n;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	*ret = len > 0 && !memchr(buf, '\n', len) ? strndup(buf, len) : NULL;
	wipe(buf, sizeof(buf));
	if (len == 0)
		return -EBADMSG;
	return *ret ? 0 : -ENOMEM;
}

static int imds_setup(const struct blob_args *a, struct blob_options *o, struct blob_auth_ctx *c)
{
	struct imds_options io = { .endpoint = a->imds_endpoint, .client_id = a->client_id };
	int r;

	r = imds_blob_resource(a->url, &c->resource);
	if (r < 0)
		return log_error_errno(r, "Cannot derive the storage resource from the URL: %m");
	r = http_client_new(&(struct http_options){ 0 }, &c->imds_http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP for IMDS: %m");
	r = imds_client_new(c->imds_http, &io, &c->imds);
	if (r < 0)
		return log_error_errno(r, "Invalid IMDS endpoint '%s' or client id: %m",
				       a->imds_endpoint ? a->imds_endpoint : IMDS_DEFAULT_ENDPOINT);
	c->src = (struct imds_blob_source){ .imds = c->imds, .resource = c->resource };
	o->auth = BLOB_AUTH_BEARER;
	o->token_fn = imds_blob_token;
	o->token_userdata = &c->src;
	log_debug("Storage tokens from IMDS for resource %s", c->resource);
	return 0;
}

int blob_auth_setup(const struct blob_args *a, struct blob_options *o, struct blob_auth_ctx *c)
{
	int r;

	*c = (struct blob_auth_ctx){ 0 };
	*o = (struct blob_options){ .url = a->url, .rw = a->rw, .ca_file = a->ca_file };
	if (a->imds)
		return imds_setup(a, o, c);
	if (a->token_file) {
		o->auth = BLOB_AUTH_BEARER;
		o->token_fn = file_token;
		o->token_userdata = (void *)a->token_file;
		return 0;
	}
	if (!a->key_file)
		return 0;
	r = blob_account_key_load(a->key_file, &c->key);
	if (r < 0)
		return log_error_errno(r, "Cannot read the account key from %s: %m", a->key_file);
	o->auth = BLOB_AUTH_SHARED_KEY;
	o->account_key = c->key;
	return 0;
}

void blob_auth_done(struct blob_auth_ctx *c)
{
	imds_client_free(c->imds);
	http_client_free(c->imds_http);
	free(c->resource);
	secret_free(c->key);
	*c = (struct blob_auth_ctx){ 0 };
}

void blob_auth_explain(struct blob_auth_ctx *c)
{
	_cleanup_free_ char *why = NULL;

	if (!c->imds)
		return;
	why = imds_client_last_error(c->imds);
	log_error("Storage tokens come from the managed identity (resource %s)%s%s; check that "
		  "the identity exists (--client-id for a user-assigned one) and has a Storage "
		  "Blob Data role",
		  c->resource, why ? ": the token service says: " : "", why ? why : "");
}
