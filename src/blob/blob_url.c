/* SPDX-License-Identifier: MIT */
/*
 * blob_url.c - source URLs: which kind of source a URL names (an Azure Blob host, Azurite's path
 * style, or any HTTP(S) range server), split into the parts requests are built from. The http
 * module parses the whole URL again with libcurl's parser and applies its policy (http.h).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob_internal.h"
#include "sealmount/log.h"

#define URL_MAX 8192

static const char *const azure_suffixes[] = { BLOB_AZURE_SUFFIXES };

bool blob_host_is_azure(const char *host, size_t n)
{
	const char *colon = memchr(host, ':', n);

	if (colon)
		n = (size_t)(colon - host);
	for (size_t i = 0; i < ELEMENTSOF(azure_suffixes); i++) {
		size_t sl = strlen(azure_suffixes[i]);

		/* ACCOUNT.suffix: at least one character of account in front */
		if (n > sl && strncasecmp(host + n - sl, azure_suffixes[i], sl) == 0)
			return true;
	}
	return false;
}

static bool is_path_style_host(const char *host, size_t n)
{
	size_t i = 0;

	if (n > 0 && host[0] == '[')
		return true; /* IPv6 literal */
	if ((n >= 9 && strncasecmp(host, "localhost", 9) == 0) && (n == 9 || host[9] == ':'))
		return true;
	while (i < n && (isdigit((unsigned char)host[i]) || host[i] == '.'))
		i++;
	return i > 0 && (i == n || host[i] == ':'); /* IPv4 literal */
}

static bool path_chars_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    strchr("\"<>\\^`{|}", *p))
			return false;
	return true;
}

/* Number of non-empty '/'-separated segments. */
static unsigned count_segments(const char *p)
{
	unsigned n = 0;
	char prev = '/';

	for (; *p; prev = *p++)
		if (*p != '/' && prev == '/')
			n++;
	return n;
}

static int url_split(const char *url, struct blob_url *u, const char **ret_host, size_t *ret_hlen)
{
	const char *host, *path, *q;

	if (strncmp(url, "https://", 8) == 0) {
		host = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		host = url + 7;
		u->plain = true;
	} else {
		return -EINVAL;
	}
	path = host + strcspn(host, "/?#");
	if (*path != '/' || strchr(url, '#') || memchr(host, '@', (size_t)(path - host)))
		return -EINVAL;
	q = strchr(path, '?');
	u->base = strndup(url, (size_t)(path - url));
	u->path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
	u->query = q && q[1] ? strdup(q + 1) : NULL;
	if (!u->base || !u->path || (q && q[1] && !u->query))
		return -ENOMEM;
	*ret_host = host;
	*ret_hlen = (size_t)(path - host);
	return 0;
}

/* Kind and account of a split URL. */
static int classify(struct blob_url *u, const char *host, size_t hlen)
{
	unsigned segs = count_segments(u->path);

	if (blob_host_is_azure(host, hlen)) {
		if (segs < 2 || strstr(u->path, "//"))
			return -EINVAL; /* a container and a blob name */
		u->kind = BLOB_URL_AZURE;
		u->account = strndup(host, strcspn(host, ".:"));
	} else if (is_path_style_host(host, hlen) && segs >= 3 && !strstr(u->path, "//")) {
		u->kind = BLOB_URL_PATH_STYLE;
		u->account = strndup(u->path + 1, strcspn(u->path + 1, "/"));
	} else {
		u->kind = BLOB_URL_HTTP;
		return 0;
	}
	return u->account ? 0 : -ENOMEM;
}

int blob_url_parse(const char *url, struct blob_url *ret)
{
	struct blob_url u = { 0 };
	const char *host;
	size_t hlen;
	int r;

	if (strlen(url) > URL_MAX)
		return -EINVAL;
	r = url_split(url, &u, &host, &hlen);
	if (r == 0 && (!path_chars_ok(u.path) || hlen == 0))
		r = -EINVAL;
	r = r ?: classify(&u, host, hlen);
	if (r < 0) {
		blob_url_done(&u);
		return log_debug_errno(r,
				       "blob: '%.*s' is not a source URL (https://HOST/PATH, "
				       "https://ACCOUNT.blob.core.windows.net/C/B or "
				       "http://127.0.0.1:PORT/ACCOUNT/C/B)",
				       (int)strcspn(url, "?"), url);
	}
	*ret = u;
	return 0;
}

void blob_url_done(struct blob_url *u)
{
	free(u->base);
	free(u->account);
	free(u->path);
	if (u->query)
		wipe(u->query, strlen(u->query)); /* a SAS or signature is a credential */
	free(u->query);
	*u = (struct blob_url){ 0 };
}
