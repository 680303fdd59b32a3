/* SPDX-License-Identifier: MIT */
/*
 * luks2_hdr.c - LUKS2 binary header copies (docs/luks2.md, Binary header): read both, check each
 * field and checksum, make sure they agree, then hand the JSON area to luks2_json.c.
 *
 * Layout (4096 bytes, big-endian; s2n-style citations: "luks2.md off N"):
 *   0 magic[6] | 6 version u16 | 8 hdr_size u64 | 16 seqid u64 | 24 label[48] | 72 csum_alg[32]
 *   104 salt[64] | 168 uuid[40] | 208 subsystem[48] | 256 hdr_offset u64 | 264 pad[184]
 *   448 csum[64] | 512 pad[3584]
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "luks2_internal.h"
#include "sealmount/buf.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

#define CSUM_OFF 448
#define CSUM_LEN 64

static const uint8_t magic_primary[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
static const uint8_t magic_secondary[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

/* docs/luks2.md, Binary header: the legal hdr_size values, which are also the offsets a secondary
 * copy may sit at. */
static const uint64_t legal_offsets[] = { 0x4000,  0x8000,   0x10000,  0x20000, 0x40000,
					  0x80000, 0x100000, 0x200000, 0x400000 };

struct bin_hdr {
	uint8_t magic[6];
	uint16_t version;
	uint64_t hdr_size;
	uint64_t seqid;
	char label[48];
	char csum_alg[32];
	uint8_t salt[64];
	char uuid[40];
	char subsystem[48];
	uint64_t hdr_offset;
	uint8_t csum[CSUM_LEN];
	bool pad_ok;
};

static bool is_legal_hdr_size(uint64_t s)
{
	for (size_t i = 0; i < ELEMENTSOF(legal_offsets); i++)
		if (legal_offsets[i] == s)
			return true;
	return false;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* A NUL-terminated text field: printable ASCII, then NULs to the end of the field. */
static bool is_text_field(const char *f, size_t n)
{
	size_t len = strnlen(f, n);

	if (len == n)
		return false;
	for (size_t i = 0; i < len; i++)
		if (f[i] < 0x20 || f[i] > 0x7e)
			return false;
	return is_zero((const uint8_t *)f + len, n - len);
}

/* 8-4-4-4-12 hex digits, as uuid_unparse writes and cryptsetup's --uuid accepts. */
static bool is_uuid(const char *s)
{
	if (strlen(s) != LUKS2_UUID_LEN)
		return false;
	for (size_t i = 0; i < LUKS2_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Reads every field; a non-zero padding byte only clears pad_ok, so that the magic and version
 * are judged first and a wiped or foreign copy is named as such. */
static int read_fields(struct reader *rd, struct bin_hdr *b)
{
	const uint8_t *pad1, *pad2;
	int r;

	if ((r = reader_copy(rd, b->magic, sizeof(b->magic))) < 0 || /* luks2.md off 0 */
	    (r = reader_u16be(rd, &b->version)) < 0 || /* luks2.md off 6 */
	    (r = reader_u64be(rd, &b->hdr_size)) < 0 || /* luks2.md off 8 */
	    (r = reader_u64be(rd, &b->seqid)) < 0 || /* luks2.md off 16 */
	    (r = reader_copy(rd, b->label, sizeof(b->label))) < 0 || /* luks2.md off 24 */
	    (r = reader_copy(rd, b->csum_alg, sizeof(b->csum_alg))) < 0 || /* luks2.md off 72 */
	    (r = reader_copy(rd, b->salt, sizeof(b->salt))) < 0 || /* luks2.md off 104 */
	    (r = reader_copy(rd, b->uuid, sizeof(b->uuid))) < 0 || /* luks2.md off 168 */
	    (r = reader_copy(rd, b->subsystem, sizeof(b->subsystem))) < 0 || /* luks2.md off 208 */
	    (r = reader_u64be(rd, &b->hdr_offset)) < 0 || /* luks2.md off 256 */
	    (r = reader_bytes(rd, CSUM_OFF - 264, &pad1)) < 0 || /* luks2.md off 264 */
	    (r = reader_copy(rd, b->csum, sizeof(b->csum))) < 0 || /* luks2.md off 448 */
	    (r = reader_bytes(rd, LUKS2_BIN_HDR_SIZE - 512, &pad2)) < 0) /* luks2.md off 512 */
		return r;
	b->pad_ok = is_zero(pad1, CSUM_OFF - 264) && is_zero(pad2, LUKS2_BIN_HDR_SIZE - 512);
	return 0;
}

/* Parse and check the binary header of the copy at off (one that data holds entirely). */
static int parse_bin(const uint8_t *data, size_t len, uint64_t off, struct bin_hdr *b,
		     struct luks2_verdict *v)
{
	const uint8_t *want = off == 0 ? magic_primary : magic_secondary;
	const char *which = off == 0 ? "primary" : "secondary";
	struct reader rd = reader_init(data, len);

	if (reader_seek(&rd, off) < 0 || reader_left(&rd) < LUKS2_BIN_HDR_SIZE)
		return luks2_fail(v, -EBADMSG, "hdr.truncated", "%s header truncated", which);
	if (read_fields(&rd, b) < 0)
		return luks2_fail(v, -EBADMSG, "hdr.truncated", "%s header truncated", which);
	if (memcmp(b->magic, want, sizeof(b->magic)) != 0)
		return off == 0 ?
			       luks2_fail(v, -EBADMSG, "hdr.magic",
					  "not a LUKS2 image (no LUKS header at its start: "
					  "another file, a plain filesystem, or still encrypted "
					  "differently)") :
			       luks2_fail(v, -EBADMSG, "hdr.magic", "%s header magic wrong", which);
	if (b->version == 1 && off == 0)
		return luks2_fail(v, -EBADMSG, "hdr.version",
				  "a LUKS1 image: only LUKS2 is supported (convert it with "
				  "`cryptsetup convert --type luks2`, or re-create it)");
	if (b->version != 2)
		return luks2_fail(v, -EBADMSG, "hdr.version", "%s version %u", which, b->version);
	if (!b->pad_ok)
		return luks2_fail(v, -EBADMSG, "hdr.padding", "%s header padding not zero", which);
	if (!is_legal_hdr_size(b->hdr_size))
		return luks2_fail(v, -EBADMSG, "hdr.hdr_size", "%s hdr_size %llu not legal", which,
				  (unsigned long long)b->hdr_size);
	if (b->hdr_offset != off)
		return luks2_fail(v, -EBADMSG, "hdr.hdr_offset",
				  "%s hdr_offset %llu at offset %llu", which,
				  (unsigned long long)b->hdr_offset, (unsigned long long)off);
	if (!is_text_field(b->label, sizeof(b->label)) ||
	    !is_text_field(b->subsystem, sizeof(b->subsystem)) ||
	    !is_text_field(b->csum_alg, sizeof(b->csum_alg)) ||
	    !is_text_field(b->uuid, sizeof(b->uuid)))
		return luks2_fail(v, -EBADMSG, "hdr.text", "%s text field malformed", which);
	if (!streq(b->csum_alg, "sha256"))
		return luks2_fail(v, -EBADMSG, "hdr.csum_alg", "%s csum_alg '%s'", which,
				  b->csum_alg);
	if (!is_uuid(b->uuid))
		return luks2_fail(v, -EBADMSG, "hdr.uuid", "%s uuid '%s' not canonical", which,
				  b->uuid);
	return 0;
}

/* docs/luks2.md, Checksum: SHA-256(binary header with csum zeroed || JSON area), zero-filled after
 * 32. */
static int check_csum(const uint8_t *copy, size_t hdr_size, const struct bin_hdr *b,
		      struct luks2_verdict *v)
{
	uint8_t bin[LUKS2_BIN_HDR_SIZE], md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (!ctx)
		return -ENOMEM;
	memcpy(bin, copy, sizeof(bin));
	memset(bin + CSUM_OFF, 0, CSUM_LEN);
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, bin, sizeof(bin)) == 1 &&
	     EVP_DigestUpdate(ctx, copy + LUKS2_BIN_HDR_SIZE, hdr_size - LUKS2_BIN_HDR_SIZE) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == sizeof(md);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return log_debug_errno(-EIO, "SHA-256 failed in OpenSSL");
	if (CRYPTO_memcmp(md, b->csum, sizeof(md)) != 0 || !is_zero(b->csum + 32, CSUM_LEN - 32))
		return luks2_fail(v, -EBADMSG, "hdr.checksum", "%s checksum mismatch",
				  b->hdr_offset == 0 ? "primary" : "secondary");
	return 0;
}

/* The copies may differ only in magic, hdr_offset, salt and csum; JSON areas byte-identical. */
static int compare_copies(const uint8_t *data, const struct bin_hdr *p, const struct bin_hdr *s,
			  struct luks2_verdict *v)
{
	size_t area = p->hdr_size - LUKS2_BIN_HDR_SIZE;

	if (p->version != s->version || p->hdr_size != s->hdr_size || p->seqid != s->seqid)
		return luks2_fail(v, -EBADMSG, "hdr.copies-disagree",
				  "version/hdr_size/seqid differ (seqid %llu vs %llu)",
				  (unsigned long long)p->seqid, (unsigned long long)s->seqid);
	if (memcmp(p->label, s->label, sizeof(p->label)) != 0 ||
	    memcmp(p->csum_alg, s->csum_alg, sizeof(p->csum_alg)) != 0 ||
	    memcmp(p->uuid, s->uuid, sizeof(p->uuid)) != 0 ||
	    memcmp(p->subsystem, s->subsystem, sizeof(p->subsystem)) != 0)
		return luks2_fail(v, -EBADMSG, "hdr.copies-disagree",
				  "label/uuid/subsystem differ");
	if (memcmp(data + LUKS2_BIN_HDR_SIZE, data + p->hdr_size + LUKS2_BIN_HDR_SIZE, area) != 0)
		return luks2_fail(v, -EBADMSG, "hdr.copies-disagree", "JSON areas differ");
	return 0;
}

/* docs/luks2.md, Binary header: the JSON is a NUL-terminated string and the rest of the area is
 * zeros. */
static int load_json(const uint8_t *area, size_t area_len, json_t **ret, struct luks2_verdict *v)
{
	size_t n = strnlen((const char *)area, area_len);
	int r;

	if (n == area_len || !is_zero(area + n, area_len - n))
		return luks2_fail(v, -EBADMSG, "json.area",
				  "JSON area not NUL-terminated/zero-padded");
	r = jsonx_load_object(area, n, area_len, ret);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return luks2_fail(v, -EBADMSG, "json.syntax", "JSON area is not one strict object");
	return 0;
}

static int check_policy(const struct luks2_hdr *h, const struct luks2_policy *p,
			struct luks2_verdict *v)
{
	if (p->require_integrity && h->segment.integrity == LUKS2_INTEGRITY_NONE)
		return luks2_fail(v, -EPERM, "policy.require-integrity",
				  "segment has no integrity protection");
	if (p->pin_uuid_set && strcasecmp(p->pin_uuid, h->uuid) != 0)
		return luks2_fail(v, -EPERM, "policy.pin-uuid", "uuid %s is not the pinned %s",
				  h->uuid, p->pin_uuid);
	if (p->pin_sha256_set && CRYPTO_memcmp(p->pin_sha256, h->sha256, sizeof(h->sha256)) != 0)
		return luks2_fail(v, -EPERM, "policy.pin-sha256",
				  "header digest is not the pinned one");
	return 0;
}

static int fill_hdr(const uint8_t *data, const struct bin_hdr *b, uint64_t device_size,
		    struct luks2_hdr **ret)
{
	size_t raw_len = 2 * b->hdr_size;
	uint8_t md[32];
	struct luks2_hdr *h;
	uint8_t *raw;

	if (EVP_Digest(data, raw_len, md, NULL, EVP_sha256(), NULL) != 1)
		return log_debug_errno(-EIO, "SHA-256 failed in OpenSSL");
	raw = malloc(raw_len);
	if (!raw)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h) {
		free(raw);
		return -ENOMEM;
	}
	memcpy(raw, data, raw_len);
	*h = (struct luks2_hdr){ .hdr_size = b->hdr_size,
				 .seqid = b->seqid,
				 .device_size = device_size,
				 .raw = raw,
				 .raw_len = raw_len };
	memcpy(h->sha256, md, sizeof(md));
	memcpy(h->uuid, b->uuid, sizeof(h->uuid)); /* is_uuid(): 36 chars + NUL */
	memcpy(h->label, b->label, sizeof(h->label));
	memcpy(h->subsystem, b->subsystem, sizeof(h->subsystem));
	*ret = h;
	return 0;
}

int luks2_hdr_parse(const uint8_t *data, size_t len, uint64_t device_size,
		    const struct luks2_policy *policy, struct luks2_hdr **ret,
		    struct luks2_verdict *verdict)
{
	struct luks2_verdict dummy = { 0 };
	struct luks2_verdict *v = verdict ? verdict : &dummy;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_json_ json_t *root = NULL;
	struct bin_hdr p, s;
	int r;

	*v = (struct luks2_verdict){ .rule = "" };
	r = parse_bin(data, len, 0, &p, v);
	if (r < 0)
		return r;
	if (len / 2 < p.hdr_size || device_size / 2 < p.hdr_size)
		return luks2_fail(v, -EBADMSG, "hdr.truncated", "device too small for both copies");
	r = parse_bin(data, len, p.hdr_size, &s, v);
	if (r < 0)
		return r;
	if ((r = check_csum(data, p.hdr_size, &p, v)) < 0 ||
	    (r = check_csum(data + p.hdr_size, p.hdr_size, &s, v)) < 0 ||
	    (r = compare_copies(data, &p, &s, v)) < 0)
		return r;
	r = load_json(data + LUKS2_BIN_HDR_SIZE, p.hdr_size - LUKS2_BIN_HDR_SIZE, &root, v);
	if (r < 0)
		return r;
	r = fill_hdr(data, &p, device_size, &h);
	if (r < 0)
		return r;
	r = luks2_json_validate(root, policy, h, v);
	if (r < 0)
		return r;
	r = check_policy(h, policy, v);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(h);
	return 0;
}

/* A header magic at another standard offset would let cryptsetup's recovery scan pick a copy we
 * never validated if ours ever looked damaged; such a device is ambiguous, so refuse it. */
static int scan_stray(struct bdev *dev, const struct luks2_hdr *h, struct luks2_verdict *v)
{
	uint64_t limit = h->segment.offset;

	for (size_t i = 0; i < ELEMENTSOF(legal_offsets); i++) {
		uint64_t off = legal_offsets[i];
		uint8_t m[6];
		int r;

		if (off <= h->hdr_size)
			continue; /* inside the validated primary, or the secondary itself */
		if (off + sizeof(m) > limit)
			break;
		if (off + sizeof(m) <= h->raw_len)
			memcpy(m, h->raw + off, sizeof(m));
		else if ((r = bdev_read(dev, m, sizeof(m), off)) < 0)
			return r;
		if (memcmp(m, magic_primary, 6) == 0 || memcmp(m, magic_secondary, 6) == 0)
			return luks2_fail(v, -EBADMSG, "hdr.stray-copy",
					  "another header magic at offset %llu",
					  (unsigned long long)off);
	}
	return 0;
}

int luks2_hdr_load_keyslots(struct luks2_hdr *h, struct bdev *dev)
{
	size_t copies = 2 * h->hdr_size, total = copies + h->keyslots_size;
	uint8_t *raw;
	int r;

	if (h->raw_len != copies)
		return -EINVAL;
	raw = realloc(h->raw, total);
	if (!raw)
		return -ENOMEM;
	h->raw = raw;
	memset(raw + copies, 0, total - copies);
	for (unsigned i = 0; i < h->n_keyslots; i++) {
		const struct luks2_keyslot *k = &h->keyslots[i];

		/* validate_area() put every area inside [copies, total). */
		r = bdev_read(dev, raw + k->area_offset, k->area_size, k->area_offset);
		if (r < 0)
			return r;
	}
	h->raw_len = total;
	return 0;
}

void luks2_hdr_free(struct luks2_hdr *h)
{
	if (!h)
		return;
	free(h->raw);
	free(h);
}

int luks2_hdr_load(struct bdev *dev, const struct luks2_policy *policy, struct luks2_hdr **ret,
		   struct luks2_verdict *verdict)
{
	struct luks2_verdict dummy = { 0 };
	struct luks2_verdict *v = verdict ? verdict : &dummy;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_free_ uint8_t *data = NULL;
	uint64_t size = bdev_size(dev), hdr_size;
	uint8_t bin[LUKS2_BIN_HDR_SIZE];
	int r;

	*v = (struct luks2_verdict){ .rule = "" };
	if (size < LUKS2_BIN_HDR_SIZE)
		return luks2_fail(v, -EBADMSG, "hdr.truncated",
				  "device of %llu bytes: not a LUKS2 image (too small)",
				  (unsigned long long)size);
	r = bdev_read(dev, bin, sizeof(bin), 0);
	if (r < 0)
		return r;
	/* Only to size the read; luks2_hdr_parse() checks every field of the copy again. */
	hdr_size = get_u64be(bin + 8);
	if (memcmp(bin, magic_primary, 6) != 0 || !is_legal_hdr_size(hdr_size))
		return luks2_hdr_parse(bin, sizeof(bin), size, policy, ret, v);
	if (size / 2 < hdr_size)
		return luks2_fail(v, -EBADMSG, "hdr.truncated", "device too small for both copies");
	data = malloc(2 * hdr_size);
	if (!data)
		return -ENOMEM;
	r = bdev_read(dev, data, 2 * hdr_size, 0);
	if (r < 0)
		return r;
	r = luks2_hdr_parse(data, 2 * hdr_size, size, policy, &h, v);
	if (r < 0)
		return r;
	r = scan_stray(dev, h, v);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(h);
	return 0;
}
