/* SPDX-License-Identifier: MIT */
/*
 * luks2_json.c - the LUKS2 JSON metadata allowlist (docs/luks2.md, JSON metadata; docs/dm-crypt.md,
 * Tables; luks2.h lists the rules).
 *
 * One small validator per object, each refusing unknown members with jsonx_check_keys(), in the
 * spirit of cryptsetup's LUKS2_hdr_validate() but narrower: we accept only what we create and
 * mount. Order matters: config (sizes), then the segment (which fixes the volume key size), then
 * keyslots (which must match it), then the digest (which must bind them together).
 */
#define _GNU_SOURCE
#include <string.h>

#include "luks2_internal.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"

static const char *const top_keys[] = {
	"keyslots", "tokens", "segments", "digests", "config", NULL
};
static const char *const config_keys[] = { "json_size", "keyslots_size", "flags", "requirements",
					   NULL };
/* config.flags that only tune activation (docs/luks2.md, JSON metadata); anything else is
 * refused. */
static const char *const config_flags[] = { "allow-discards",
					    "same-cpu-crypt",
					    "submit-from-crypt-cpus",
					    "no-journal",
					    "no-read-workqueue",
					    "no-write-workqueue",
					    NULL };
static const char *const segment_keys[] = { "type",	 "offset",     "size",
					    "iv_tweak",	 "encryption", "sector_size",
					    "integrity", "flags",      NULL };
static const char *const integrity_keys[] = { "type", "journal_encryption", "journal_integrity",
					      NULL };
static const char *const keyslot_keys[] = { "type", "key_size", "af", "area",
					    "kdf",  "priority", NULL };
static const char *const af_keys[] = { "type", "stripes", "hash", NULL };
static const char *const area_keys[] = { "type", "offset", "size", "encryption", "key_size", NULL };
static const char *const pbkdf2_keys[] = { "type", "hash", "iterations", "salt", NULL };
static const char *const argon2_keys[] = { "type", "time", "memory", "cpus", "salt", NULL };
static const char *const digest_keys[] = { "type",	 "keyslots", "segments", "hash",
					   "iterations", "salt",     "digest",	 NULL };

/* Every member of o must be listed; the first unknown one is named. */
static int only_keys(const json_t *o, const char *const *allowed, const char *rule,
		     struct luks2_verdict *v)
{
	const char *unknown = "?";

	if (jsonx_check_keys(o, allowed, &unknown) < 0)
		return luks2_fail(v, -EBADMSG, rule, "unknown member '%s'", unknown);
	return 0;
}

static int get_str(const json_t *o, const char *key, const char *rule, struct luks2_verdict *v,
		   const char **ret)
{
	if (jsonx_get_string(o, key, ret) < 0)
		return luks2_fail(v, -EBADMSG, rule, "'%s' missing or not a string", key);
	return 0;
}

static int get_obj(const json_t *o, const char *key, const char *rule, struct luks2_verdict *v,
		   json_t **ret)
{
	if (jsonx_get_object(o, key, ret) < 0)
		return luks2_fail(v, -EBADMSG, rule, "'%s' missing or not an object", key);
	return 0;
}

static int expect_str(const json_t *o, const char *key, const char *want, const char *rule,
		      struct luks2_verdict *v)
{
	const char *s;
	int r = get_str(o, key, rule, v, &s);

	if (r < 0)
		return r;
	if (!streq(s, want))
		return luks2_fail(v, -EBADMSG, rule, "%s '%s' (want '%s')", key, s, want);
	return 0;
}

/* An integer member within [min, max]. */
static int get_range(const json_t *o, const char *key, uint64_t min, uint64_t max, const char *rule,
		     struct luks2_verdict *v, uint64_t *ret)
{
	uint64_t x;

	if (jsonx_get_u64(o, key, &x) < 0)
		return luks2_fail(v, -EBADMSG, rule, "'%s' missing or not an integer", key);
	if (x < min || x > max)
		return luks2_fail(v, -EBADMSG, rule, "%s %llu outside %llu..%llu", key,
				  (unsigned long long)x, (unsigned long long)min,
				  (unsigned long long)max);
	*ret = x;
	return 0;
}

/* A 64-bit number stored as a decimal string (docs/luks2.md, JSON metadata). */
static int get_numstr(const json_t *o, const char *key, const char *rule, struct luks2_verdict *v,
		      uint64_t *ret)
{
	const char *s;
	int r = get_str(o, key, rule, v, &s);

	if (r < 0)
		return r;
	if (luks2_parse_u64(s, ret) < 0)
		return luks2_fail(v, -EBADMSG, rule, "%s '%.40s' is not a decimal string", key, s);
	return 0;
}

static int get_b64(const json_t *o, const char *key, void *out, size_t n, const char *rule,
		   struct luks2_verdict *v)
{
	const char *s;
	int r = get_str(o, key, rule, v, &s);

	if (r < 0)
		return r;
	if (b64_decode_fixed(B64_STD, s, strlen(s), out, n) < 0)
		return luks2_fail(v, -EBADMSG, rule, "%s is not base64 of %zu bytes", key, n);
	return 0;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (streq(s, *list))
			return true;
	return false;
}

static int validate_config(const json_t *c, struct luks2_hdr *h, struct luks2_verdict *v)
{
	json_t *flags = NULL, *f;
	uint64_t json_size;
	size_t i;
	int r;

	if ((r = only_keys(c, config_keys, "config.unknown-field", v)) < 0)
		return r;
	if (json_object_get(c, "requirements"))
		return luks2_fail(v, -EBADMSG, "config.requirements",
				  "requirements present (reencryption or other mandatory feature)");
	if ((r = get_numstr(c, "json_size", "config.json_size", v, &json_size)) < 0)
		return r;
	if (json_size != h->hdr_size - LUKS2_BIN_HDR_SIZE)
		return luks2_fail(v, -EBADMSG, "config.json_size", "json_size %llu, hdr_size %llu",
				  (unsigned long long)json_size, (unsigned long long)h->hdr_size);
	if ((r = get_numstr(c, "keyslots_size", "config.keyslots_size", v, &h->keyslots_size)) < 0)
		return r;
	if (h->keyslots_size % 4096 != 0 || h->keyslots_size > LUKS2_KEYSLOTS_SIZE_MAX)
		return luks2_fail(v, -EBADMSG, "config.keyslots_size", "keyslots_size %llu",
				  (unsigned long long)h->keyslots_size);
	flags = json_object_get(c, "flags");
	if (flags && !json_is_array(flags))
		return luks2_fail(v, -EBADMSG, "config.flags", "flags is not an array");
	json_array_foreach (flags, i, f) {
		const char *s = json_string_value(f);

		if (!s || !in_list(s, config_flags))
			return luks2_fail(v, -EBADMSG, "config.flags",
					  "flag %zu '%.32s' not allowed", i,
					  s ? s : "(not a string)");
		if (streq(s, "no-journal"))
			h->no_journal = true;
	}
	return 0;
}

/* The only member of a one-entry object: its id and value. */
static int only_entry(const json_t *o, const char *what, const char *rule, unsigned max,
		      struct luks2_verdict *v, unsigned *ret_id, json_t **ret)
{
	const char *key;
	json_t *val;

	if (json_object_size(o) != 1)
		return luks2_fail(v, -EBADMSG, rule, "%zu %s (want exactly 1)", json_object_size(o),
				  what);
	json_object_foreach ((json_t *)o, key, val) {
		if (luks2_parse_id(key, max, ret_id) < 0 || !json_is_object(val))
			return luks2_fail(v, -EBADMSG, rule, "%s id '%.16s' malformed", what, key);
		*ret = val;
	}
	return 0;
}

static int validate_integrity(const json_t *seg, const char **ret_type, struct luks2_verdict *v)
{
	json_t *in = json_object_get(seg, "integrity");
	int r;

	*ret_type = NULL;
	if (!in)
		return 0;
	if (!json_is_object(in))
		return luks2_fail(v, -EBADMSG, "segment.integrity", "integrity is not an object");
	if ((r = only_keys(in, integrity_keys, "segment.integrity.unknown-field", v)) < 0 ||
	    (r = get_str(in, "type", "segment.integrity", v, ret_type)) < 0 ||
	    (r = expect_str(in, "journal_encryption", "none", "segment.integrity.journal", v)) <
		    0 ||
	    (r = expect_str(in, "journal_integrity", "none", "segment.integrity.journal", v)) < 0)
		return r;
	if (luks2_is_null_cipher(*ret_type))
		return luks2_fail(v, -EBADMSG, "segment.cipher_null", "integrity '%s'", *ret_type);
	return 0;
}

static int segment_cipher(const json_t *seg, struct luks2_segment *s, struct luks2_verdict *v)
{
	const struct luks2_cipher_rule *rule;
	const char *enc, *integ;
	int r;

	if ((r = get_str(seg, "encryption", "segment.encryption", v, &enc)) < 0)
		return r;
	if (luks2_is_null_cipher(enc))
		return luks2_fail(v, -EBADMSG, "segment.cipher_null", "encryption '%s'", enc);
	if ((r = validate_integrity(seg, &integ, v)) < 0)
		return r;
	rule = luks2_cipher_lookup(enc, integ, 0);
	if (!rule)
		return luks2_fail(v, -EBADMSG, "segment.encryption",
				  "'%.40s' with integrity '%.20s' is not allowed", enc,
				  integ ? integ : "none");
	s->cipher = rule->cipher;
	s->integrity_name = rule->integrity;
	s->integrity = rule->kind;
	s->tag_size = rule->tag_size;
	return 0;
}

/* offset/size/sector_size: aligned, behind the keyslots area, inside the device. */
static int segment_geometry(const json_t *seg, const struct luks2_hdr *h, struct luks2_segment *s,
			    struct luks2_verdict *v)
{
	uint64_t sector, end, meta_end = 2 * h->hdr_size + h->keyslots_size;
	const char *size;
	int r;

	if ((r = get_range(seg, "sector_size", 512, 4096, "segment.sector_size", v, &sector)) < 0)
		return r;
	if (sector != 512 && sector != 4096)
		return luks2_fail(v, -EBADMSG, "segment.sector_size", "sector_size %llu",
				  (unsigned long long)sector);
	s->sector_size = (uint32_t)sector;
	if ((r = get_numstr(seg, "offset", "segment.offset", v, &s->offset)) < 0)
		return r;
	if (s->offset % sector != 0 || s->offset < meta_end || s->offset >= h->device_size)
		return luks2_fail(v, -EBADMSG, "segment.offset",
				  "offset %llu (metadata ends at %llu, device %llu bytes)",
				  (unsigned long long)s->offset, (unsigned long long)meta_end,
				  (unsigned long long)h->device_size);
	if ((r = get_str(seg, "size", "segment.size", v, &size)) < 0)
		return r;
	s->dynamic = streq(size, "dynamic");
	if (s->dynamic)
		s->size = (h->device_size - s->offset) / sector * sector;
	else if (luks2_parse_u64(size, &s->size) < 0)
		return luks2_fail(v, -EBADMSG, "segment.size", "size '%.40s'", size);
	if (s->size == 0 || s->size % sector != 0 || ADD_OVERFLOW(s->offset, s->size, &end) ||
	    end > h->device_size)
		return luks2_fail(v, -EBADMSG, "segment.size",
				  "size %llu at offset %llu does not fit the device (%llu bytes)",
				  (unsigned long long)s->size, (unsigned long long)s->offset,
				  (unsigned long long)h->device_size);
	return 0;
}

static int validate_segment(const json_t *segs, struct luks2_hdr *h, struct luks2_verdict *v)
{
	struct luks2_segment *s = &h->segment;
	json_t *seg, *flags;
	uint64_t tweak;
	int r;

	if ((r = only_entry(segs, "segments", "segments.count", 32, v, &s->id, &seg)) < 0 ||
	    (r = only_keys(seg, segment_keys, "segment.unknown-field", v)) < 0 ||
	    (r = expect_str(seg, "type", "crypt", "segment.type", v)) < 0 ||
	    (r = get_numstr(seg, "iv_tweak", "segment.iv_tweak", v, &tweak)) < 0)
		return r;
	if (tweak != 0)
		return luks2_fail(v, -EBADMSG, "segment.iv_tweak", "iv_tweak %llu",
				  (unsigned long long)tweak);
	flags = json_object_get(seg, "flags");
	if (flags && (!json_is_array(flags) || json_array_size(flags) != 0))
		return luks2_fail(v, -EBADMSG, "segment.flags", "segment flags present");
	if ((r = segment_cipher(seg, s, v)) < 0)
		return r;
	return segment_geometry(seg, h, s, v);
}

static int validate_kdf(const json_t *kdf, const struct luks2_policy *p, struct luks2_kdf *k,
			struct luks2_verdict *v)
{
	uint64_t maxmem = LUKS2_ARGON2_MAX_MEMORY_KIB, x;
	const char *type;
	int r;

	if (p->argon2_max_memory_kib && p->argon2_max_memory_kib < maxmem)
		maxmem = p->argon2_max_memory_kib;
	if ((r = get_str(kdf, "type", "keyslot.kdf.type", v, &type)) < 0)
		return r;
	if (streq(type, "pbkdf2")) {
		k->type = LUKS2_KDF_PBKDF2;
		if ((r = only_keys(kdf, pbkdf2_keys, "keyslot.kdf.unknown-field", v)) < 0 ||
		    (r = expect_str(kdf, "hash", "sha256", "keyslot.kdf.hash", v)) < 0 ||
		    (r = get_range(kdf, "iterations", LUKS2_PBKDF2_MIN_ITER, LUKS2_PBKDF2_MAX_ITER,
				   "keyslot.kdf.iterations", v, &x)) < 0)
			return r;
		k->iterations = (uint32_t)x;
	} else if (streq(type, "argon2i") || streq(type, "argon2id")) {
		k->type = streq(type, "argon2i") ? LUKS2_KDF_ARGON2I : LUKS2_KDF_ARGON2ID;
		if ((r = only_keys(kdf, argon2_keys, "keyslot.kdf.unknown-field", v)) < 0 ||
		    (r = get_range(kdf, "time", 1, LUKS2_ARGON2_MAX_TIME, "keyslot.kdf.time", v,
				   &x)) < 0)
			return r;
		k->time = (uint32_t)x;
		if ((r = get_range(kdf, "memory", LUKS2_ARGON2_MIN_MEMORY_KIB, maxmem,
				   "keyslot.kdf.memory", v, &x)) < 0)
			return r;
		k->memory_kib = (uint32_t)x;
		if ((r = get_range(kdf, "cpus", 1, LUKS2_ARGON2_MAX_CPUS, "keyslot.kdf.cpus", v,
				   &x)) < 0)
			return r;
		k->cpus = (uint32_t)x;
	} else {
		return luks2_fail(v, -EBADMSG, "keyslot.kdf.type", "kdf '%.20s' not allowed", type);
	}
	return get_b64(kdf, "salt", k->salt, LUKS2_SALT_SIZE, "keyslot.kdf.salt", v);
}

/* docs/luks2.md, Keyslot unlock step 2: the AF material is key_size * 4000 bytes in whole 512-byte
 * sectors. */
static uint64_t af_size(uint32_t key_size)
{
	return ((uint64_t)key_size * LUKS2_AF_STRIPES + 511) / 512 * 512;
}

static int validate_area(const json_t *area, const struct luks2_hdr *h, struct luks2_keyslot *k,
			 struct luks2_verdict *v)
{
	uint64_t start = 2 * h->hdr_size, end = start + h->keyslots_size, x, last;
	const char *enc;
	int r;

	if ((r = only_keys(area, area_keys, "keyslot.area.unknown-field", v)) < 0 ||
	    (r = expect_str(area, "type", "raw", "keyslot.area.type", v)) < 0 ||
	    (r = get_str(area, "encryption", "keyslot.area.encryption", v, &enc)) < 0)
		return r;
	if (luks2_is_null_cipher(enc))
		return luks2_fail(v, -EBADMSG, "keyslot.cipher_null", "keyslot %u area '%s'", k->id,
				  enc);
	if (!streq(enc, "aes-xts-plain64"))
		return luks2_fail(v, -EBADMSG, "keyslot.area.encryption", "keyslot %u area '%.40s'",
				  k->id, enc);
	if ((r = get_range(area, "key_size", 32, 64, "keyslot.area.key_size", v, &x)) < 0)
		return r;
	if (x != 32 && x != 64)
		return luks2_fail(v, -EBADMSG, "keyslot.area.key_size", "area key_size %llu",
				  (unsigned long long)x);
	k->area_key_size = (uint32_t)x;
	if ((r = get_numstr(area, "offset", "keyslot.area.offset", v, &k->area_offset)) < 0 ||
	    (r = get_numstr(area, "size", "keyslot.area.size", v, &k->area_size)) < 0)
		return r;
	if (k->area_size % 4096 != 0 || k->area_size < af_size(k->key_size))
		return luks2_fail(v, -EBADMSG, "keyslot.area.size",
				  "keyslot %u area of %llu bytes cannot hold %u-byte key material",
				  k->id, (unsigned long long)k->area_size, k->key_size);
	if (k->area_offset % 4096 != 0 || k->area_offset < start ||
	    ADD_OVERFLOW(k->area_offset, k->area_size, &last) || last > end)
		return luks2_fail(v, -EBADMSG, "keyslot.area.offset",
				  "keyslot %u area %llu+%llu outside the keyslots area %llu..%llu",
				  k->id, (unsigned long long)k->area_offset,
				  (unsigned long long)k->area_size, (unsigned long long)start,
				  (unsigned long long)end);
	return 0;
}

static int validate_af(const json_t *ks, struct luks2_verdict *v)
{
	json_t *af;
	uint64_t stripes;
	int r;

	if ((r = get_obj(ks, "af", "keyslot.af", v, &af)) < 0 ||
	    (r = only_keys(af, af_keys, "keyslot.af.unknown-field", v)) < 0 ||
	    (r = expect_str(af, "type", "luks1", "keyslot.af.type", v)) < 0 ||
	    (r = expect_str(af, "hash", "sha256", "keyslot.af.hash", v)) < 0)
		return r;
	return get_range(af, "stripes", LUKS2_AF_STRIPES, LUKS2_AF_STRIPES, "keyslot.af.stripes", v,
			 &stripes);
}

static int validate_keyslot(const json_t *ks, const struct luks2_hdr *h,
			    const struct luks2_policy *p, struct luks2_keyslot *k,
			    struct luks2_verdict *v)
{
	json_t *area, *kdf;
	const char *type;
	uint64_t x = 1;
	int r;

	if ((r = only_keys(ks, keyslot_keys, "keyslot.unknown-field", v)) < 0 ||
	    (r = get_str(ks, "type", "keyslot.type", v, &type)) < 0)
		return r;
	if (streq(type, "reencrypt"))
		return luks2_fail(v, -EBADMSG, "keyslot.reencrypt",
				  "keyslot %u is a reencryption "
				  "keyslot",
				  k->id);
	if (!streq(type, "luks2"))
		return luks2_fail(v, -EBADMSG, "keyslot.type", "keyslot %u type '%.20s'", k->id,
				  type);
	if ((r = get_range(ks, "key_size", 16, LUKS2_VK_MAX, "keyslot.key_size", v, &x)) < 0)
		return r;
	k->key_size = (uint32_t)x;
	x = 1;
	if (json_object_get(ks, "priority") &&
	    (r = get_range(ks, "priority", 0, 2, "keyslot.priority", v, &x)) < 0)
		return r;
	k->priority = (int)x;
	if ((r = validate_af(ks, v)) < 0 ||
	    (r = get_obj(ks, "area", "keyslot.area", v, &area)) < 0 ||
	    (r = validate_area(area, h, k, v)) < 0 ||
	    (r = get_obj(ks, "kdf", "keyslot.kdf", v, &kdf)) < 0)
		return r;
	return validate_kdf(kdf, p, &k->kdf, v);
}

static bool areas_overlap(const struct luks2_keyslot *a, const struct luks2_keyslot *b)
{
	return a->area_offset < b->area_offset + b->area_size &&
	       b->area_offset < a->area_offset + a->area_size;
}

/* Every keyslot must unlock the one segment: same key size, one the allowlist has for it. */
static int keyslots_consistent(struct luks2_hdr *h, struct luks2_verdict *v)
{
	struct luks2_segment *s = &h->segment;
	uint32_t ks = h->keyslots[0].key_size;

	for (unsigned i = 0; i < h->n_keyslots; i++) {
		if (h->keyslots[i].key_size != ks ||
		    !luks2_cipher_lookup(s->cipher, s->integrity_name, ks))
			return luks2_fail(v, -EBADMSG, "keyslot.key_size",
					  "keyslot %u key_size %u does not fit segment %s/%s",
					  h->keyslots[i].id, h->keyslots[i].key_size, s->cipher,
					  s->integrity_name ? s->integrity_name : "none");
		for (unsigned j = 0; j < i; j++)
			if (areas_overlap(&h->keyslots[i], &h->keyslots[j]))
				return luks2_fail(v, -EBADMSG, "keyslot.area.overlap",
						  "keyslots %u and %u overlap", h->keyslots[j].id,
						  h->keyslots[i].id);
	}
	s->key_size = ks;
	return 0;
}

static int validate_keyslots(const json_t *kss, const struct luks2_policy *p, struct luks2_hdr *h,
			     struct luks2_verdict *v)
{
	struct luks2_keyslot by_id[LUKS2_KEYSLOTS_MAX];
	bool seen[LUKS2_KEYSLOTS_MAX] = { false };
	const char *key;
	json_t *ks;
	int r;

	if (json_object_size(kss) == 0 || json_object_size(kss) > LUKS2_KEYSLOTS_MAX)
		return luks2_fail(v, -EBADMSG, "keyslots.count", "%zu keyslots",
				  json_object_size(kss));
	json_object_foreach ((json_t *)kss, key, ks) {
		unsigned id;

		if (luks2_parse_id(key, LUKS2_KEYSLOTS_MAX, &id) < 0 || !json_is_object(ks))
			return luks2_fail(v, -EBADMSG, "keyslots.id", "keyslot id '%.16s'", key);
		by_id[id] = (struct luks2_keyslot){ .id = id };
		seen[id] = true; /* ids are unique: jsonx rejects duplicate keys */
		if ((r = validate_keyslot(ks, h, p, &by_id[id], v)) < 0)
			return r;
	}
	for (unsigned i = 0; i < LUKS2_KEYSLOTS_MAX; i++)
		if (seen[i])
			h->keyslots[h->n_keyslots++] = by_id[i];
	return keyslots_consistent(h, v);
}

/* A non-empty array of distinct decimal ids below max, as a bit mask. */
static int id_mask(const json_t *o, const char *key, unsigned max, const char *rule,
		   struct luks2_verdict *v, uint32_t *ret)
{
	json_t *arr = json_object_get(o, key), *e;
	uint32_t mask = 0;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return luks2_fail(v, -EBADMSG, rule, "'%s' missing or empty", key);
	json_array_foreach (arr, i, e) {
		unsigned id;

		if (!json_is_string(e) || luks2_parse_id(json_string_value(e), max, &id) < 0 ||
		    (mask & (UINT32_C(1) << id)))
			return luks2_fail(v, -EBADMSG, rule, "%s[%zu] malformed or repeated", key,
					  i);
		mask |= UINT32_C(1) << id;
	}
	*ret = mask;
	return 0;
}

static int validate_digest(const json_t *digests, struct luks2_hdr *h, struct luks2_verdict *v)
{
	struct luks2_digest *d = &h->digest;
	uint32_t all = 0, segs;
	uint64_t iter;
	json_t *dg;
	int r;

	if ((r = only_entry(digests, "digests", "digests.count", 32, v, &d->id, &dg)) < 0 ||
	    (r = only_keys(dg, digest_keys, "digest.unknown-field", v)) < 0 ||
	    (r = expect_str(dg, "type", "pbkdf2", "digest.type", v)) < 0 ||
	    (r = expect_str(dg, "hash", "sha256", "digest.hash", v)) < 0 ||
	    (r = get_range(dg, "iterations", LUKS2_PBKDF2_MIN_ITER, LUKS2_PBKDF2_MAX_ITER,
			   "digest.iterations", v, &iter)) < 0 ||
	    (r = get_b64(dg, "salt", d->salt, LUKS2_SALT_SIZE, "digest.salt", v)) < 0 ||
	    (r = get_b64(dg, "digest", d->digest, LUKS2_DIGEST_SIZE, "digest.digest", v)) < 0 ||
	    (r = id_mask(dg, "segments", 32, "digest.segments", v, &segs)) < 0 ||
	    (r = id_mask(dg, "keyslots", LUKS2_KEYSLOTS_MAX, "digest.keyslots", v, &d->keyslots)) <
		    0)
		return r;
	d->iterations = (uint32_t)iter;
	if (segs != UINT32_C(1) << h->segment.id) /* segment ids are < 32 (validate_segment) */
		return luks2_fail(v, -EBADMSG, "digest.segments",
				  "digest does not name exactly "
				  "segment %u",
				  h->segment.id);
	for (unsigned i = 0; i < h->n_keyslots; i++)
		all |= UINT32_C(1) << h->keyslots[i].id;
	if (d->keyslots != all)
		return luks2_fail(v, -EBADMSG, "digest.keyslots",
				  "digest covers keyslots 0x%x, header has 0x%x", d->keyslots, all);
	return 0;
}

int luks2_json_validate(const json_t *root, const struct luks2_policy *p, struct luks2_hdr *h,
			struct luks2_verdict *v)
{
	json_t *keyslots, *tokens, *segments, *digests, *config;
	int r;

	if ((r = only_keys(root, top_keys, "json.unknown-field", v)) < 0 ||
	    (r = get_obj(root, "keyslots", "json.keyslots", v, &keyslots)) < 0 ||
	    (r = get_obj(root, "tokens", "json.tokens", v, &tokens)) < 0 ||
	    (r = get_obj(root, "segments", "json.segments", v, &segments)) < 0 ||
	    (r = get_obj(root, "digests", "json.digests", v, &digests)) < 0 ||
	    (r = get_obj(root, "config", "json.config", v, &config)) < 0)
		return r;
	if (json_object_size(tokens) != 0)
		return luks2_fail(v, -EBADMSG, "tokens.present", "%zu token(s) present",
				  json_object_size(tokens));
	if ((r = validate_config(config, h, v)) < 0 || (r = validate_segment(segments, h, v)) < 0 ||
	    (r = validate_keyslots(keyslots, p, h, v)) < 0)
		return r;
	return validate_digest(digests, h, v);
}
