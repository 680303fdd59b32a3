/* SPDX-License-Identifier: MIT */
/*
 * hsm_challenge.c - the vault's 401 challenge (docs/skr.md, The 401 challenge): a strict parser
 * for `WWW-Authenticate: Bearer authorization="...", resource="..."` (or `scope="R/.default"`)
 * and the allowlist of Azure Key Vault / Managed HSM token resources it may name.
 *
 * Grammar (RFC 9110 section 11.6.1, 11.2): challenge = auth-scheme [ 1*SP #auth-param ],
 * auth-param = token BWS "=" BWS ( token / quoted-string ). The first challenge must be Bearer;
 * any later challenge (another scheme after a comma) ends it. Parameter names are compared
 * case-insensitively, unknown ones are ignored (as the RFC asks), a repeated one is refused.
 * Only printable ASCII, spaces and tabs are allowed anywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sealmount/hsm.h"
#include "sealmount/log.h"

/* Sources: docs/skr.md, The 401 challenge (Azure CLI's cloud definitions). */
static const char *const resources[] = {
	HSM_RESOURCE_VAULT,
	HSM_RESOURCE_MHSM,
	"https://vault.azure.cn",
	"https://managedhsm.azure.cn",
	"https://vault.usgovcloudapi.net",
	"https://managedhsm.usgovcloudapi.net",
};

const char *hsm_resource_allowed(const char *resource)
{
	size_t n = strlen(resource);

	if (n > 0 && resource[n - 1] == '/')
		n--; /* "https://vault.azure.net/" is the same resource */
	for (size_t i = 0; i < ELEMENTSOF(resources); i++)
		if (strlen(resources[i]) == n && strncasecmp(resources[i], resource, n) == 0)
			return resources[i];
	return NULL;
}

struct cursor {
	const char *p, *end;
};

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static size_t token(struct cursor *c)
{
	const char *s = c->p;

	while (c->p < c->end && is_tchar(*c->p))
		c->p++;
	return (size_t)(c->p - s);
}

/* A token or a quoted-string (quoted-pair unescaped) into out (cap bytes with the NUL). */
static int param_value(struct cursor *c, char *out, size_t cap)
{
	size_t n = 0;

	if (c->p == c->end)
		return -EBADMSG; /* "name=" and nothing */
	if (*c->p != '"') {
		const char *s = c->p;
		size_t len = token(c);

		if (len == 0 || len >= cap)
			return -EBADMSG;
		memcpy(out, s, len);
		out[len] = 0;
		return 0;
	}
	for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
		if (*c->p == '\\' && ++c->p == c->end)
			return -EBADMSG;
		if (n + 1 >= cap)
			return -EBADMSG;
		out[n++] = *c->p;
	}
	if (c->p == c->end)
		return -EBADMSG; /* unterminated */
	c->p++;
	out[n] = 0;
	return 0;
}

enum { P_RESOURCE, P_SCOPE, P_AUTHORIZATION, P_AUTHORIZATION_URI, P__KNOWN };
static const char *const known[P__KNOWN] = { "resource", "scope", "authorization",
					     "authorization_uri" };

static int known_index(const char *name, size_t len)
{
	for (int i = 0; i < P__KNOWN; i++)
		if (strlen(known[i]) == len && strncasecmp(known[i], name, len) == 0)
			return i;
	return -1;
}

/* Every byte printable ASCII, space or tab. */
static bool is_clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((s[i] < 0x20 && s[i] != '\t') || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The auth-params after "Bearer ", into vals[] (known names only). */
static int parse_params(struct cursor *c, char vals[P__KNOWN][HSM_CHALLENGE_VALUE_MAX],
			bool seen[P__KNOWN])
{
	char ignored[HSM_CHALLENGE_VALUE_MAX] = "";

	for (;;) {
		const char *name = c->p;
		size_t nlen = token(c);
		int k, r;

		if (nlen == 0)
			return -EBADMSG;
		skip_ows(c);
		if (c->p == c->end || *c->p != '=')
			return 1; /* a bare token: the next challenge's scheme */
		c->p++;
		skip_ows(c);
		k = known_index(name, nlen);
		if (k >= 0 && seen[k])
			return -EBADMSG; /* repeated */
		r = param_value(c, k >= 0 ? vals[k] : ignored, HSM_CHALLENGE_VALUE_MAX);
		if (r < 0)
			return r;
		if (k >= 0)
			seen[k] = true;
		skip_ows(c);
		if (c->p == c->end)
			return 0;
		if (*c->p != ',')
			return -EBADMSG;
		while (c->p < c->end && (*c->p == ',' || *c->p == ' ' || *c->p == '\t'))
			c->p++; /* #rule: empty list elements are allowed */
		if (c->p == c->end)
			return 0;
	}
}

/* resource from scope: "R/.default" only. */
static int scope_resource(const char *scope, char *out, size_t cap)
{
	static const char suffix[] = "/.default";
	size_t n = strlen(scope), s = sizeof(suffix) - 1;

	if (n <= s || strcmp(scope + n - s, suffix) != 0 || n - s >= cap)
		return -EBADMSG;
	memcpy(out, scope, n - s);
	out[n - s] = 0;
	return 0;
}

int hsm_challenge_parse(const char *value, size_t len, struct hsm_challenge *ret)
{
	char vals[P__KNOWN][HSM_CHALLENGE_VALUE_MAX] = { { 0 } };
	bool seen[P__KNOWN] = { false };
	struct cursor c = { value, value + len };
	char from_scope[HSM_CHALLENGE_VALUE_MAX] = "";
	const char *scheme;
	int r;

	if (len > HSM_CHALLENGE_MAX)
		return log_debug_errno(-EFBIG, "401 challenge of %zu bytes", len);
	if (!is_clean(value, len))
		return log_debug_errno(-EBADMSG, "401 challenge with control or non-ASCII bytes");
	skip_ows(&c);
	scheme = c.p;
	if (token(&c) != 6 || strncasecmp(scheme, "Bearer", 6) != 0 || c.p == c.end || *c.p != ' ')
		return log_debug_errno(-EBADMSG, "401 challenge is not a Bearer challenge");
	skip_ows(&c);
	r = parse_params(&c, vals, seen);
	if (r < 0)
		return log_debug_errno(r, "401 challenge does not parse");
	if (seen[P_SCOPE] && scope_resource(vals[P_SCOPE], from_scope, sizeof(from_scope)) < 0)
		return log_debug_errno(-EBADMSG, "401 challenge scope is not RESOURCE/.default");
	if ((!seen[P_RESOURCE] && !seen[P_SCOPE]) || (seen[P_RESOURCE] && !vals[P_RESOURCE][0]))
		return log_debug_errno(-EBADMSG, "401 challenge names no resource or scope");
	if (seen[P_RESOURCE] && seen[P_SCOPE] && strcasecmp(vals[P_RESOURCE], from_scope) != 0)
		return log_debug_errno(-EBADMSG, "401 challenge: resource and scope disagree");
	*ret = (struct hsm_challenge){ 0 };
	memcpy(ret->resource, seen[P_RESOURCE] ? vals[P_RESOURCE] : from_scope,
	       HSM_CHALLENGE_VALUE_MAX);
	memcpy(ret->authorization,
	       seen[P_AUTHORIZATION] ? vals[P_AUTHORIZATION] : vals[P_AUTHORIZATION_URI],
	       HSM_CHALLENGE_VALUE_MAX);
	return 0;
}
