/* SPDX-License-Identifier: MIT */
/*
 * hsm_policy.c - release policies (docs/skr.md, Release policy): building one for import, and
 * evaluating one against a token's claims to tell the user which condition failed after a 403.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

#define POLICY_MAX (64u * 1024)
#define POLICY_DEPTH_MAX 8

int hsm_policy_build(const char *authority, const struct hsm_claim *claims, size_t n, json_t **ret)
{
	_cleanup_json_ json_t *all = json_array(), *p = NULL;

	if (!all)
		return -ENOMEM;
	if (!*authority || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!claims[i].claim || !*claims[i].claim || !claims[i].equals)
			return -EINVAL;
		if (json_array_append_new(all, json_pack("{s:s, s:s}", "claim", claims[i].claim,
							 "equals", claims[i].equals)) < 0)
			return -ENOMEM;
	}
	p = json_pack("{s:s, s:[{s:s, s:O}]}", "version", "1.0.0", "anyOf", "authority", authority,
		      "allOf", all);
	if (!p)
		return -ENOMEM;
	*ret = TAKE_PTR(p);
	return 0;
}

int hsm_policy_from_bundle(const json_t *bundle, json_t **ret)
{
	_cleanup_free_ uint8_t *raw = NULL;
	json_t *rp;
	const char *data;
	size_t len;
	int r;

	r = jsonx_get_object(bundle, "release_policy", &rp);
	if (r == -ENOENT)
		return r;
	if (r < 0 || jsonx_get_string(rp, "data", &data) < 0)
		return -EBADMSG;
	if (strlen(data) > 2 * POLICY_MAX)
		return -EBADMSG;
	r = b64_decode_any(data, strlen(data), &raw, &len);
	if (r < 0)
		return -EBADMSG;
	return jsonx_load_object(raw, len, POLICY_MAX, ret);
}

/* The claim as the service compares it: a string, or the JSON text of a number or boolean. */
static const char *claim_text(const json_t *claims, const char *name, char *tmp, size_t n)
{
	json_t *v = json_object_get(claims, name);

	if (!v)
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_true(v))
		return "true";
	if (json_is_false(v))
		return "false";
	if (json_is_integer(v)) {
		snprintf(tmp, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return tmp;
	}
	return "(not a scalar)";
}

static bool value_matches(const char *have, const char *want)
{
	if (!strcasecmp(want, "true") || !strcasecmp(want, "false"))
		return !strcasecmp(have, want);
	return streq(have, want);
}

static const char *want_text(const json_t *v, char *tmp, size_t n)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	if (json_is_integer(v)) {
		snprintf(tmp, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return tmp;
	}
	return NULL;
}

static int explain_cond(const json_t *cond, const json_t *claims, unsigned depth, struct buf *out);

static int explain_list(const json_t *list, bool any, const json_t *claims, unsigned depth,
			struct buf *out)
{
	size_t i;
	json_t *c;
	int r, ok = any ? 0 : 1;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return log_debug_errno(-EBADMSG, "Policy: empty or non-array anyOf/allOf");
	json_array_foreach (list, i, c) {
		r = explain_cond(c, claims, depth + 1, out);
		if (r < 0)
			return r;
		ok = any ? (ok || r) : (ok && r);
	}
	return ok;
}

static int explain_claim(const json_t *cond, const json_t *claims, struct buf *out)
{
	const char *name = NULL, *op = "equals", *have, *want;
	char t1[32], t2[32];
	json_t *v;
	bool neg, ok;

	if (jsonx_get_string(cond, "claim", &name) < 0)
		return log_debug_errno(-EBADMSG, "Policy: condition without claim");
	if ((v = json_object_get(cond, "condition"))) { /* the 7.4 example's form */
		op = json_string_value(v);
		v = json_object_get(cond, "value");
	} else if ((v = json_object_get(cond, "notEquals"))) {
		op = "notEquals";
	} else if ((v = json_object_get(cond, "exists"))) {
		op = "exists";
	} else {
		v = json_object_get(cond, "equals");
	}
	have = claim_text(claims, name, t1, sizeof(t1));
	if (streq(op, "exists")) {
		ok = have != NULL;
		return buf_printf(out, "  %s claim %s: must exist, token %s\n",
				  ok ? "ok  " : "FAIL", name, have ? "has it" : "lacks it") < 0 ?
			       -ENOMEM :
			       ok;
	}
	want = v ? want_text(v, t2, sizeof(t2)) : NULL;
	if (!op || !want || (!streq(op, "equals") && !streq(op, "notEquals")))
		return buf_printf(out, "  FAIL claim %s: operator not understood here\n", name) <
				       0 ?
			       -ENOMEM :
			       0;
	neg = streq(op, "notEquals");
	ok = have && value_matches(have, want) != neg;
	if (buf_printf(out, "  %s claim %s: policy %s '%s', token has %s%s%s\n",
		       ok ? "ok  " : "FAIL", name, neg ? "forbids" : "wants", want,
		       have ? "'" : "no such claim", have ? have : "", have ? "'" : "") < 0)
		return -ENOMEM;
	return ok;
}

static int explain_cond(const json_t *cond, const json_t *claims, unsigned depth, struct buf *out)
{
	json_t *l;

	if (!json_is_object(cond) || depth > POLICY_DEPTH_MAX)
		return log_debug_errno(-EBADMSG, "Policy: condition is not an object");
	if ((l = json_object_get(cond, "anyOf")))
		return explain_list(l, true, claims, depth, out);
	if ((l = json_object_get(cond, "allOf")))
		return explain_list(l, false, claims, depth, out);
	return explain_claim(cond, claims, out);
}

static bool same_authority(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static int explain_authority(const json_t *auth, const json_t *claims, struct buf *out)
{
	const char *name = NULL, *iss = NULL;
	json_t *l;
	bool match;
	int r;

	if (jsonx_get_string(auth, "authority", &name) < 0)
		return log_debug_errno(-EBADMSG, "Policy: anyOf entry without authority");
	if (jsonx_get_string(claims, "iss", &iss) < 0)
		iss = NULL;
	match = iss && same_authority(name, iss);
	if (buf_printf(out, "authority %s: %s\n", name,
		       match ? "matches the token's issuer" : "is NOT the token's issuer") < 0)
		return -ENOMEM;
	l = json_object_get(auth, "allOf");
	r = l ? explain_list(l, false, claims, 1, out) :
		explain_list(json_object_get(auth, "anyOf"), true, claims, 1, out);
	if (r < 0)
		return r;
	return match && r;
}

int hsm_policy_explain(const json_t *policy, const json_t *claims, struct buf *out)
{
	json_t *list, *a;
	size_t i;
	int r, ok = 0;

	list = json_object_get(policy, "anyOf");
	if (!json_is_array(list) || json_array_size(list) == 0)
		return log_debug_errno(-EBADMSG, "Policy has no anyOf list of authorities");
	json_array_foreach (list, i, a) {
		if (!json_is_object(a))
			return -EBADMSG;
		r = explain_authority(a, claims, out);
		if (r < 0)
			return r;
		ok = ok || r;
	}
	return ok;
}
