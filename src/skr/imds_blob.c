/* SPDX-License-Identifier: MIT */
/*
 * imds_blob.c - managed-identity bearer tokens for Blob Storage: a blob_token_fn over the IMDS
 * client's cache (the resource comes from blob_token_resource(), the one URL parser).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/imds.h"
#include "sealmount/log.h"

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
