/* SPDX-License-Identifier: MIT */
/*
 * imds_blob.c - managed-identity bearer tokens for Blob Storage: the resource for a blob URL
 * and a blob_token_fn over the IMDS client's cache.
 *
 * Kept free of the blob library (which is built after this one): the URL is only split here;
 * blob_open() validates it fully.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/imds.h"
#include "sealmount/log.h"

#define HOST_MAX 255
#define ACCOUNT_MIN 3
#define ACCOUNT_MAX 24

/* An IP literal or localhost: the emulator's path-style URL (as blob.c decides). */
static bool is_path_style(const char *host, size_t n)
{
	size_t i = 0;

	if (host[0] == '[')
		return true;
	if (n >= 9 && strncasecmp(host, "localhost", 9) == 0 && (n == 9 || host[9] == ':'))
		return true;
	while (i < n && (isdigit((unsigned char)host[i]) || host[i] == '.'))
		i++;
	return i > 0 && (i == n || host[i] == ':');
}

static bool host_chars_ok(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr(".-:", h[i]))
			return false;
	return true;
}

int imds_blob_resource(const char *blob_url, char **ret)
{
	const char *host, *path;
	size_t hlen, alen;

	if (strncmp(blob_url, "https://", 8) == 0)
		host = blob_url + 8;
	else if (strncmp(blob_url, "http://", 7) == 0)
		host = blob_url + 7;
	else
		return -EINVAL;
	hlen = strcspn(host, "/?#");
	path = host + hlen;
	if (hlen == 0 || hlen > HOST_MAX || *path != '/' || memchr(host, '@', hlen))
		return -EINVAL;
	if (!is_path_style(host, hlen)) {
		if (!host_chars_ok(host, hlen))
			return -EINVAL;
		return asprintf(ret, "https://%.*s", (int)hlen, host) < 0 ? -ENOMEM : 0;
	}
	/* Path style: /ACCOUNT/CONTAINER/BLOB; storage account names are [a-z0-9]{3,24}. */
	alen = strcspn(path + 1, "/?#");
	if (alen < ACCOUNT_MIN || alen > ACCOUNT_MAX)
		return -EINVAL;
	for (size_t i = 0; i < alen; i++)
		if (!islower((unsigned char)path[1 + i]) && !isdigit((unsigned char)path[1 + i]))
			return -EINVAL;
	return asprintf(ret, "https://%.*s.blob.core.windows.net", (int)alen, path + 1) < 0 ?
		       -ENOMEM :
		       0;
}

int imds_blob_token(void *userdata, char **ret_token)
{
	const struct imds_blob_source *src = userdata;
	_cleanup_(secret_freep) struct secret *tok = NULL;
	int r;

	if (!src || !src->imds || !src->resource)
		return -EINVAL;
	r = imds_get_token(src->imds, src->resource, &tok);
	if (r < 0)
		return log_debug_errno(r, "No IMDS token for %s: %m", src->resource);
	/* The token is NUL-terminated in secret memory; blob.h wants a plain heap string that
	 * the caller wipes. */
	*ret_token = strndup((const char *)tok->data, tok->len);
	return *ret_token ? 0 : -ENOMEM;
}
