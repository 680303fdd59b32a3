/* SPDX-License-Identifier: MIT */
/*
 * dmtable.c - check the dm-integrity and dm-crypt tables the kernel reports after activation
 * against the validated header (docs/dm-crypt.md, Tables; docs/dm-integrity.md, Formatting), so
 * that nothing between validation and the kernel (libcryptsetup, a header re-read, a bug) can swap
 * in another cipher, drop integrity or move the data. The tables are compared field by field;
 * options outside a small known set are refused (fail closed).
 *
 *   integrity: <dev> <offset> <T> <J|D> <n> [block_size:<ss>] [fix_padding] ...
 *   crypt:     <cipher> <key> <iv_offset> <dev> <offset> [<n> <opt>...]
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/log.h"
#include "volume_internal.h"

#define DM_TOKENS_MAX 40

struct cipher_map {
	const char *luks_cipher;
	enum luks2_integrity integrity;
	const char *dm; /* as cryptsetup 2.6 passes it */
	const char *dm_alt;
};

static const struct cipher_map cipher_map[] = {
	{ "aes-xts-plain64", LUKS2_INTEGRITY_NONE, "aes-xts-plain64", "capi:xts(aes)-plain64" },
	{ "aes-xts-plain64", LUKS2_INTEGRITY_HMAC_SHA256,
	  "capi:authenc(hmac(sha256),xts(aes))-plain64", NULL },
	{ "aes-xts-random", LUKS2_INTEGRITY_HMAC_SHA256,
	  "capi:authenc(hmac(sha256),xts(aes))-random", NULL },
	{ "aes-gcm-random", LUKS2_INTEGRITY_AEAD, "capi:gcm(aes)-random", NULL },
};

int vol_dm_expect_init(const struct luks2_hdr *h, bool journal, bool readonly,
		       struct vol_dm_expect *ret)
{
	const struct luks2_segment *s = &h->segment;
	const struct cipher_map *m = NULL;

	for (size_t i = 0; i < ELEMENTSOF(cipher_map); i++)
		if (streq(cipher_map[i].luks_cipher, s->cipher) &&
		    cipher_map[i].integrity == s->integrity)
			m = &cipher_map[i];
	if (!m || s->offset % 512 || s->size % 512 || (s->integrity && !s->tag_size))
		return -EINVAL;
	*ret = (struct vol_dm_expect){
		.cipher = m->dm,
		.cipher_alt = m->dm_alt,
		.key_size = s->key_size,
		.sector_size = s->sector_size,
		.tag_size = s->integrity ? s->tag_size : 0,
		.offset_sectors = s->offset / 512,
		.crypt_sectors = s->integrity ? 0 : s->size / 512,
		.integrity_mode = journal && !h->no_journal ? 'J' : 'D',
		.readonly = readonly,
	};
	return 0;
}

static int why_set(char *why, size_t len, const char *fmt, ...) _printf_(3, 4);
static int why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		(void)vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

/* Split a copy of params at single spaces. The copy is wiped and freed by tokens_done(). */
struct tokens {
	char *buf;
	size_t buf_len;
	char *v[DM_TOKENS_MAX];
	size_t n;
};

static int tokens_split(const char *params, struct tokens *t)
{
	size_t len = strlen(params);
	char *p;

	*t = (struct tokens){ 0 };
	/* Single spaces between non-empty fields, none at either end. */
	if (len == 0 || params[0] == ' ' || params[len - 1] == ' ' || strstr(params, "  "))
		return -EPROTO;
	t->buf_len = len + 1;
	t->buf = malloc(t->buf_len);
	if (!t->buf)
		return -ENOMEM;
	memcpy(t->buf, params, t->buf_len);
	for (p = t->buf; *p;) {
		if (t->n == DM_TOKENS_MAX)
			return -EPROTO;
		t->v[t->n++] = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
	}
	return 0;
}

static void tokens_done(struct tokens *t)
{
	if (t->buf) {
		wipe(t->buf, t->buf_len);
		free(t->buf);
	}
	*t = (struct tokens){ 0 };
}

/* Strict unsigned decimal (no sign, no leading zeros, no overflow). */
static bool parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || MUL_OVERFLOW(v, 10, &v) ||
		    ADD_OVERFLOW(v, (uint64_t)(*s - '0'), &v))
			return false;
	}
	*ret = v;
	return true;
}

static bool is_u64(const char *s, uint64_t want)
{
	uint64_t v;

	return parse_u64(s, &v) && v == want;
}

/* "name:<u64>" -> true and *ret when s has that prefix and a valid number. */
static bool opt_num(const char *s, const char *name, uint64_t *ret)
{
	size_t n = strlen(name);

	return strncmp(s, name, n) == 0 && s[n] == ':' && parse_u64(s + n + 1, ret);
}

/* dm-integrity options that are harmless defaults (echoed back by the kernel). */
static bool integrity_opt_ok(const char *o)
{
	static const char *const num[] = { "journal_sectors", "interleave_sectors",
					   "buffer_sectors", "journal_watermark", "commit_time" };
	uint64_t v;

	if (streq(o, "fix_padding") || streq(o, "fix_hmac"))
		return true;
	for (size_t i = 0; i < ELEMENTSOF(num); i++)
		if (opt_num(o, num[i], &v))
			return true;
	return false;
}

int vol_dm_check_integrity(const char *params, const struct vol_dm_expect *e, const char *lower,
			   char *why, size_t why_len)
{
	struct tokens t;
	uint64_t n, bs = 512;
	int r = tokens_split(params, &t);

	if (r == -ENOMEM)
		return r;
	if (r < 0 || t.n < 5)
		r = why_set(why, why_len, "integrity: malformed table");
	else if (!streq(t.v[0], lower))
		r = why_set(why, why_len, "integrity: device %s, expected %s", t.v[0], lower);
	else if (!is_u64(t.v[1], e->offset_sectors))
		r = why_set(why, why_len, "integrity: offset %s, expected %" PRIu64, t.v[1],
			    e->offset_sectors);
	else if (!is_u64(t.v[2], e->tag_size))
		r = why_set(why, why_len, "integrity: tag size %s, expected %" PRIu32, t.v[2],
			    e->tag_size);
	else if (strlen(t.v[3]) != 1 || t.v[3][0] != e->integrity_mode)
		r = why_set(why, why_len, "integrity: mode %s, expected %c", t.v[3],
			    e->integrity_mode);
	else if (!parse_u64(t.v[4], &n) || n != t.n - 5)
		r = why_set(why, why_len, "integrity: option count %s", t.v[4]);
	for (size_t i = 5; r == 0 && i < t.n; i++) {
		if (opt_num(t.v[i], "block_size", &bs))
			continue;
		if (!integrity_opt_ok(t.v[i]))
			r = why_set(why, why_len, "integrity: unexpected option %s", t.v[i]);
	}
	if (r == 0 && bs != e->sector_size)
		r = why_set(why, why_len, "integrity: block size %" PRIu64 ", expected %" PRIu32,
			    bs, e->sector_size);
	tokens_done(&t);
	return r;
}

/* The key field: 2 * key_size hex digits, or ":<key_size>:<type>:<description>" (kernel
 * keyring). Nothing of it is copied into messages. */
static bool key_field_ok(const char *k, uint32_t key_size)
{
	size_t n = strlen(k);
	uint64_t v;

	if (k[0] == ':') {
		const char *end = strchr(k + 1, ':');
		char num[12];

		if (!end || (size_t)(end - k - 1) >= sizeof(num))
			return false;
		memcpy(num, k + 1, (size_t)(end - k - 1));
		num[end - k - 1] = '\0';
		return parse_u64(num, &v) && v == key_size && strchr(end + 1, ':');
	}
	if (n != 2 * (size_t)key_size)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)k[i]))
			return false;
	return true;
}

static bool crypt_opt_ok(const char *o)
{
	static const char *const flags[] = { "no_read_workqueue", "no_write_workqueue",
					     "same_cpu_crypt", "submit_from_crypt_cpus",
					     "high_priority" };

	for (size_t i = 0; i < ELEMENTSOF(flags); i++)
		if (streq(o, flags[i]))
			return true;
	return false;
}

/* The optional arguments of a crypt table, from index 5 on. */
static int check_crypt_opts(const struct tokens *t, const struct vol_dm_expect *e, char *why,
			    size_t why_len)
{
	char want_tag[48];
	uint64_t n = 0, ss = 512;
	bool tag_seen = false;

	if (t->n > 5 && (!parse_u64(t->v[5], &n) || n != t->n - 6))
		return why_set(why, why_len, "crypt: option count %s", t->v[5]);
	(void)snprintf(want_tag, sizeof(want_tag), "integrity:%" PRIu32 ":aead", e->tag_size);
	for (size_t i = 6; i < t->n; i++) {
		if (opt_num(t->v[i], "sector_size", &ss))
			continue;
		if (e->tag_size && streq(t->v[i], want_tag)) {
			tag_seen = true;
			continue;
		}
		if (!crypt_opt_ok(t->v[i]))
			return why_set(why, why_len, "crypt: unexpected option %s", t->v[i]);
	}
	if (e->tag_size && !tag_seen)
		return why_set(why, why_len, "crypt: no %s", want_tag);
	if (ss != e->sector_size)
		return why_set(why, why_len, "crypt: sector size %" PRIu64 ", expected %" PRIu32,
			       ss, e->sector_size);
	return 0;
}

int vol_dm_check_crypt(const char *params, const struct vol_dm_expect *e, const char *lower,
		       char *why, size_t why_len)
{
	uint64_t offset = e->tag_size ? 0 : e->offset_sectors;
	struct tokens t;
	int r = tokens_split(params, &t);

	if (r == -ENOMEM)
		return r;
	if (r < 0 || t.n < 5)
		r = why_set(why, why_len, "crypt: malformed table");
	else if (!streq(t.v[0], e->cipher) && !(e->cipher_alt && streq(t.v[0], e->cipher_alt)))
		r = why_set(why, why_len, "crypt: cipher %s, expected %s", t.v[0], e->cipher);
	else if (!key_field_ok(t.v[1], e->key_size))
		r = why_set(why, why_len, "crypt: key is not %" PRIu32 " bytes", e->key_size);
	else if (!is_u64(t.v[2], 0))
		r = why_set(why, why_len, "crypt: iv_offset %s, expected 0", t.v[2]);
	else if (!streq(t.v[3], lower))
		r = why_set(why, why_len, "crypt: device %s, expected %s", t.v[3], lower);
	else if (!is_u64(t.v[4], offset))
		r = why_set(why, why_len, "crypt: offset %s, expected %" PRIu64, t.v[4], offset);
	else
		r = check_crypt_opts(&t, e, why, why_len);
	tokens_done(&t);
	return r;
}
