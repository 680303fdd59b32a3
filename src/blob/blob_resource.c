/* SPDX-License-Identifier: MIT */
/* blob_resource.c - the token audience for a blob URL (blob.h), from the one URL parser. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/blob.h"

#define ACCOUNT_MIN 3
#define ACCOUNT_MAX 24

static bool is_account_name(const char *a)
{
	size_t n = strlen(a);

	if (n < ACCOUNT_MIN || n > ACCOUNT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)a[i]) && !isdigit((unsigned char)a[i]))
			return false;
	return true;
}

/* A DNS name with an optional port: it goes into a token request as is. */
static bool is_host_name(const char *h)
{
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-:", *h))
			return false;
	return true;
}

int blob_token_resource(const char *url, char **ret)
{
	_cleanup_(blob_url_done) struct blob_url u = { 0 };
	const char *host;
	int r;

	r = blob_url_parse(url, &u);
	if (r < 0)
		return r;
	if (u.kind == BLOB_URL_HTTP)
		return -EINVAL; /* a plain range source gets no credentials (blob.h) */
	if (u.kind == BLOB_URL_PATH_STYLE)
		return !is_account_name(u.account)					? -EINVAL :
		       asprintf(ret, "https://%s.blob.core.windows.net", u.account) < 0 ? -ENOMEM :
											  0;
	host = strstr(u.base, "://");
	if (!host || !host[3] || !is_host_name(host + 3))
		return -EINVAL;
	return asprintf(ret, "https://%s", host + 3) < 0 ? -ENOMEM : 0;
}
