/* SPDX-License-Identifier: MIT */
/*
 * luks2_internal.h - shared between luks2_hdr.c (binary copies), luks2_json.c (JSON allowlist)
 * and luks2_policy.c (cipher table, small helpers). Not installed; see luks2.h.
 */
#pragma once

#include <jansson.h>

#include "sealmount/luks2.h"

/* One row of the segment allowlist (luks2_policy.c). */
struct luks2_cipher_rule {
	const char *cipher;
	const char *integrity; /* LUKS2 integrity.type, NULL = no integrity object */
	enum luks2_integrity kind;
	uint32_t key_size; /* the volume key: cipher key + MAC key */
	uint32_t tag_size;
};

/* Record the failed rule in v (rule is a static string), log it at debug level, return err. */
int luks2_fail(struct luks2_verdict *v, int err, const char *rule, const char *fmt, ...)
	_printf_(4, 5) _nonnull_(1, 3, 4);

/* The allowlist row for this pair and volume key size (0 = any), or NULL. integrity may be
 * NULL. */
const struct luks2_cipher_rule *luks2_cipher_lookup(const char *cipher, const char *integrity,
						    uint32_t key_size) _nonnull_(1);
/* True for cipher_null and anything that names a "null" cipher: refused with its own rule so
 * the CVE-2025-59054/58356 pattern is named in the message. */
bool luks2_is_null_cipher(const char *s) _nonnull_(1);

/* Strict unsigned decimal as LUKS2 stores 64-bit numbers: digits only, no sign, no leading
 * zero except "0", no overflow. -EBADMSG. */
_must_check_ int luks2_parse_u64(const char *s, uint64_t *ret) _nonnull_(1, 2);
/* An object name "0".."max-1" in the same strict form. -EBADMSG. */
_must_check_ int luks2_parse_id(const char *s, unsigned max, unsigned *ret) _nonnull_(1, 3);

/* Validate the JSON document of a header whose binary fields (hdr_size, device_size) are
 * already in h, and fill the rest of h. -EBADMSG with v set. */
_must_check_ int luks2_json_validate(const json_t *root, const struct luks2_policy *p,
				     struct luks2_hdr *h, struct luks2_verdict *v)
	_nonnull_(1, 2, 3, 4);

/* The policy's unlock budget over a validated header (luks2_budget.c): -EPERM with v naming
 * "kdf.budget.memory" or "kdf.budget.time". */
_must_check_ int luks2_budget_check(const struct luks2_hdr *h, const struct luks2_policy *p,
				    struct luks2_verdict *v) _nonnull_(1, 2, 3);
