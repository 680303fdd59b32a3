/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/jsonx.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/secret.h"

/* jansson accepts 2048 levels; we cap far lower before handing it the bytes. */
static int check_depth(const uint8_t *p, size_t len)
{
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = false;
			continue;
		}
		if (p[i] == '"') {
			in_str = true;
		} else if (p[i] == '{' || p[i] == '[') {
			if (++depth > JSONX_MAX_DEPTH)
				return -EBADMSG;
		} else if ((p[i] == '}' || p[i] == ']') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int jsonx_load(const void *data, size_t len, size_t max_size, json_t **ret)
{
	json_error_t err;
	json_t *v;

	if (!data && len)
		return -EINVAL;
	if (len > max_size)
		return log_debug_errno(-EFBIG, "JSON document of %zu bytes exceeds cap of %zu", len,
				       max_size);
	if (check_depth(data, len) < 0)
		return log_debug_errno(-EBADMSG, "JSON nesting deeper than %d", JSONX_MAX_DEPTH);
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!v)
		return log_debug_errno(-EBADMSG, "JSON parse error at line %d col %d: %s", err.line,
				       err.column, err.text);
	*ret = v;
	return 0;
}

int jsonx_load_object_diag(const void *data, size_t len, size_t max_size, json_t **ret,
			   struct diag *d)
{
	json_error_t err;
	json_t *v;

	if (!data && len)
		return -EINVAL;
	if (len > max_size)
		return diag_set(d, -EFBIG, "larger than %zu bytes", max_size);
	if (check_depth(data, len) < 0)
		return diag_set(d, -EBADMSG, "nested deeper than %d levels", JSONX_MAX_DEPTH);
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!v)
		return diag_set(d, -EBADMSG, "line %d, column %d: %s", err.line, err.column,
				err.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return diag_set(d, -EBADMSG, "the document is not a JSON object");
	}
	*ret = v;
	return 0;
}

int jsonx_load_object(const void *data, size_t len, size_t max_size, json_t **ret)
{
	json_t *v;
	int r = jsonx_load(data, len, max_size, &v);

	if (r < 0)
		return r;
	if (!json_is_object(v)) {
		json_decref(v);
		return log_debug_errno(-EBADMSG, "JSON document is not an object");
	}
	*ret = v;
	return 0;
}

static int lookup(const json_t *obj, const char *key, json_t **ret)
{
	json_t *v;

	if (!obj || !json_is_object(obj))
		return -EBADMSG;
	v = json_object_get(obj, key);
	if (!v)
		return -ENOENT;
	*ret = v;
	return 0;
}

int jsonx_get_string(const json_t *obj, const char *key, const char **ret)
{
	json_t *v;
	int r = lookup(obj, key, &v);

	if (r < 0)
		return r;
	if (!json_is_string(v))
		return -EBADMSG;
	/* Embedded NULs were refused at load time (no JSON_ALLOW_NUL). */
	*ret = json_string_value(v);
	return 0;
}

int jsonx_get_bool(const json_t *obj, const char *key, bool *ret)
{
	json_t *v;
	int r = lookup(obj, key, &v);

	if (r < 0)
		return r;
	if (!json_is_boolean(v))
		return -EBADMSG;
	*ret = json_is_true(v);
	return 0;
}

int jsonx_get_int(const json_t *obj, const char *key, int64_t *ret)
{
	json_t *v;
	int r = lookup(obj, key, &v);

	if (r < 0)
		return r;
	if (!json_is_integer(v))
		return -EBADMSG;
	*ret = json_integer_value(v);
	return 0;
}

int jsonx_get_u64(const json_t *obj, const char *key, uint64_t *ret)
{
	int64_t i;
	int r = jsonx_get_int(obj, key, &i);

	if (r < 0)
		return r;
	if (i < 0)
		return -EBADMSG;
	*ret = (uint64_t)i;
	return 0;
}

int jsonx_get_object(const json_t *obj, const char *key, json_t **ret)
{
	json_t *v;
	int r = lookup(obj, key, &v);

	if (r < 0)
		return r;
	if (!json_is_object(v))
		return -EBADMSG;
	*ret = v;
	return 0;
}

int jsonx_get_array(const json_t *obj, const char *key, json_t **ret)
{
	json_t *v;
	int r = lookup(obj, key, &v);

	if (r < 0)
		return r;
	if (!json_is_array(v))
		return -EBADMSG;
	*ret = v;
	return 0;
}

static bool absent(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return !v || json_is_null(v);
}

int jsonx_opt_string(const json_t *obj, const char *key, const char **ret)
{
	return absent(obj, key) ? 0 : jsonx_get_string(obj, key, ret);
}

int jsonx_opt_bool(const json_t *obj, const char *key, bool *ret)
{
	return absent(obj, key) ? 0 : jsonx_get_bool(obj, key, ret);
}

int jsonx_opt_u64(const json_t *obj, const char *key, uint64_t *ret)
{
	return absent(obj, key) ? 0 : jsonx_get_u64(obj, key, ret);
}

int jsonx_opt_object(const json_t *obj, const char *key, json_t **ret)
{
	return absent(obj, key) ? 0 : jsonx_get_object(obj, key, ret);
}

int jsonx_check_keys(const json_t *obj, const char *const *allowed, const char **ret_unknown)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return -EBADMSG;
	json_object_foreach ((json_t *)obj, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok) {
			if (ret_unknown)
				*ret_unknown = key;
			return -EBADMSG;
		}
	}
	return 0;
}

int jsonx_dump_sorted(const json_t *v, char **ret)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static void wiping_free(void *p)
{
	if (p)
		wipe(p, malloc_usable_size(p));
	free(p);
}

void jsonx_use_wiping_allocator(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}
