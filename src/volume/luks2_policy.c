/* SPDX-License-Identifier: MIT */
/*
 * luks2_policy.c - the segment cipher allowlist, policy defaults and small strict parsers.
 *
 * The allowlist holds exactly the shapes both engines mount and the VM tests cover
 * (docs/dm-crypt.md, Tables): aes-xts-plain64 without integrity (Microsoft-style images,
 * docs/luks2.md, Microsoft-style images; AES-128 or AES-256), aes-xts-plain64 + hmac(sha256) and
 * aes-gcm-random + aead. Anything else, cipher_null above all, is refused. Adding a shape is one
 * row here plus engine support.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "luks2_internal.h"
#include "sealmount/log.h"

static const struct luks2_cipher_rule cipher_rules[] = {
	/* cryptsetup's default: 512-bit XTS key (docs/luks2.md, cryptsetup defaults); --key-size
	 * 256 gives AES-128-XTS. */
	{ "aes-xts-plain64", NULL, LUKS2_INTEGRITY_NONE, 64, 0 },
	{ "aes-xts-plain64", NULL, LUKS2_INTEGRITY_NONE, 32, 0 },
	/* vk = XTS key (64) || HMAC key (32); tag = HMAC-SHA256, no stored IV (docs/dm-crypt.md,
	 * Tables). */
	{ "aes-xts-plain64", "hmac(sha256)", LUKS2_INTEGRITY_HMAC_SHA256, 96, 32 },
	/* vk = AES-256 key; tag = 16-byte GCM tag + 12-byte random IV (docs/dm-crypt.md,
	 * Tables). */
	{ "aes-gcm-random", "aead", LUKS2_INTEGRITY_AEAD, 32, 28 },
};

void luks2_policy_init(struct luks2_policy *p)
{
	*p = (struct luks2_policy){ .require_integrity = true };
}

const char *luks2_kdf_name(enum luks2_kdf_type t)
{
	switch (t) {
	case LUKS2_KDF_PBKDF2:
		return "pbkdf2";
	case LUKS2_KDF_ARGON2I:
		return "argon2i";
	case LUKS2_KDF_ARGON2ID:
		return "argon2id";
	}
	return "?";
}

int luks2_fail(struct luks2_verdict *v, int err, const char *rule, const char *fmt, ...)
{
	va_list ap;

	v->rule = rule;
	va_start(ap, fmt);
	(void)vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	log_debug("LUKS2 header refused by rule %s: %s", rule, v->detail);
	return err;
}

const struct luks2_cipher_rule *luks2_cipher_lookup(const char *cipher, const char *integrity,
						    uint32_t key_size)
{
	for (size_t i = 0; i < ELEMENTSOF(cipher_rules); i++) {
		const struct luks2_cipher_rule *c = &cipher_rules[i];

		if (!streq(c->cipher, cipher) || (key_size && key_size != c->key_size))
			continue;
		if (c->integrity ? streq(c->integrity, integrity) : !integrity)
			return c;
	}
	return NULL;
}

bool luks2_is_null_cipher(const char *s)
{
	return strstr(s, "null") != NULL || strstr(s, "NULL") != NULL;
}

int luks2_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		if (MUL_OVERFLOW(v, 10, &v) || ADD_OVERFLOW(v, (uint64_t)(s[i] - '0'), &v))
			return -EBADMSG;
	}
	*ret = v;
	return 0;
}

int luks2_parse_id(const char *s, unsigned max, unsigned *ret)
{
	uint64_t v;
	int r = luks2_parse_u64(s, &v);

	if (r < 0)
		return r;
	if (v >= max)
		return -EBADMSG;
	*ret = (unsigned)v;
	return 0;
}
