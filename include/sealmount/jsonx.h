/* SPDX-License-Identifier: MIT */
/*
 * jsonx.h - strict JSON loading and typed getters over jansson.
 *
 * jsonx_load() rejects duplicate keys, input over max_size bytes, nesting deeper than
 * JSONX_MAX_DEPTH, trailing garbage and embedded NULs. Errors are translated here, once:
 * -EBADMSG for malformed input, -EFBIG for oversized, -ENOMEM. The jansson error text goes to the
 * debug log only.
 *
 * Getters return 0, -ENOENT (key missing), or -EBADMSG (wrong type / out of range). Returned
 * strings and objects are borrowed from the parent and live as long as it does.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/diag.h"
#include "sealmount/macros.h"

#define JSONX_MAX_DEPTH 32

_must_check_ int jsonx_load(const void *data, size_t len, size_t max_size, json_t **ret)
	_nonnull_(4);
/* Like jsonx_load but the top level must be an object. */
_must_check_ int jsonx_load_object(const void *data, size_t len, size_t max_size, json_t **ret)
	_nonnull_(4);
/* The same, saying in d where the document is wrong ("line L, column C: what jansson says",
 * duplicate keys and nesting included), for documents a person wrote (configuration files). */
_must_check_ int jsonx_load_object_diag(const void *data, size_t len, size_t max_size, json_t **ret,
					struct diag *d) _nonnull_(4);

_must_check_ int jsonx_get_string(const json_t *obj, const char *key, const char **ret)
	_nonnull_(2, 3);
_must_check_ int jsonx_get_bool(const json_t *obj, const char *key, bool *ret) _nonnull_(2, 3);
/* Integer >= 0 (JSON integer, no fraction). */
_must_check_ int jsonx_get_u64(const json_t *obj, const char *key, uint64_t *ret) _nonnull_(2, 3);
_must_check_ int jsonx_get_int(const json_t *obj, const char *key, int64_t *ret) _nonnull_(2, 3);
_must_check_ int jsonx_get_object(const json_t *obj, const char *key, json_t **ret) _nonnull_(2, 3);
_must_check_ int jsonx_get_array(const json_t *obj, const char *key, json_t **ret) _nonnull_(2, 3);

/* Optional variants: a missing key (or JSON null) leaves *ret untouched and returns 0. */
_must_check_ int jsonx_opt_string(const json_t *obj, const char *key, const char **ret)
	_nonnull_(2, 3);
_must_check_ int jsonx_opt_bool(const json_t *obj, const char *key, bool *ret) _nonnull_(2, 3);
_must_check_ int jsonx_opt_u64(const json_t *obj, const char *key, uint64_t *ret) _nonnull_(2, 3);
_must_check_ int jsonx_opt_object(const json_t *obj, const char *key, json_t **ret) _nonnull_(2, 3);

/* Every key of obj must be in the NULL-terminated list allowed; else -EBADMSG and, if
 * ret_unknown is set, the first unknown key (borrowed). */
_must_check_ int jsonx_check_keys(const json_t *obj, const char *const *allowed,
				  const char **ret_unknown) _nonnull_(2);

/* Make jansson wipe every block it frees (documents may carry bearer tokens and SAS URLs).
 * Call once from main() before any JSON is parsed. */
void jsonx_use_wiping_allocator(void);

/* Compact serialisation with sorted keys (JSON_COMPACT|JSON_SORT_KEYS), malloc'd. */
_must_check_ int jsonx_dump_sorted(const json_t *v, char **ret) _nonnull_(1, 2);

/* jansson provides json_decrefp() itself. */
#define _cleanup_json_ _cleanup_(json_decrefp)
