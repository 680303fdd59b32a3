/* SPDX-License-Identifier: MIT */
/*
 * luks_dev.c - the `luks` block layer's lifecycle: the cipher setup from a validated header
 * (docs/dm-crypt.md, Tables: the key split), the dm-integrity superblock and journal (dmi.h), the
 * pool of per-call OpenSSL contexts, and stats. Reads and writes are in luks_io.c.
 *
 * Journal policy (dmi.h): committed journal blocks are replayed. Read-only, they are overlaid
 * on reads; read-write, they are written in place and the journal re-formatted before the
 * device is handed out, which is what the kernel's replay leaves behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "luks_internal.h"
#include "sealmount/log.h"

static void ctx_free(struct luks_ctx *c)
{
	if (!c)
		return;
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	EVP_MAC_CTX_free(c->mac);
	free(c->tags);
	free(c->buf);
	free(c);
}

static int ctx_new(struct luks_dev *d, struct luks_ctx **ret)
{
	const uint8_t *key = d->key->data;
	struct luks_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->enc = EVP_CIPHER_CTX_new();
	c->dec = EVP_CIPHER_CTX_new();
	c->tags = malloc((size_t)LUKS_IO_BLOCKS * (d->tag_size ? d->tag_size : 1));
	c->buf = malloc((size_t)LUKS_IO_BLOCKS * d->ss);
	if (d->mac_tmpl)
		c->mac = EVP_MAC_CTX_dup(d->mac_tmpl);
	if (!c->enc || !c->dec || !c->tags || !c->buf || (d->mac_tmpl && !c->mac)) {
		ctx_free(c);
		return -ENOMEM;
	}
	if (EVP_CipherInit_ex(c->enc, d->cipher, NULL, key, NULL, 1) != 1 ||
	    EVP_CipherInit_ex(c->dec, d->cipher, NULL, key, NULL, 0) != 1) {
		ERR_clear_error();
		ctx_free(c);
		return -EIO;
	}
	*ret = c;
	return 0;
}

int luks_ctx_get(struct luks_dev *d, struct luks_ctx **ret)
{
	struct luks_ctx *c;

	pthread_mutex_lock(&d->pool_lock);
	c = d->pool;
	if (c)
		d->pool = c->next;
	pthread_mutex_unlock(&d->pool_lock);
	if (c) {
		*ret = c;
		return 0;
	}
	return ctx_new(d, ret);
}

void luks_ctx_put(struct luks_dev *d, struct luks_ctx *c)
{
	LOCK_GUARD(&d->pool_lock);
	c->next = d->pool;
	d->pool = c;
}

static void luks_close(void *state)
{
	struct luks_dev *d = state;

	while (d->pool) {
		struct luks_ctx *c = d->pool;

		d->pool = c->next;
		ctx_free(c);
	}
	EVP_MAC_CTX_free(d->mac_tmpl);
	EVP_MAC_free(d->mac);
	secret_free(d->key);
	dmi_journal_free(&d->journal);
	bdev_free(d->lower);
	pthread_rwlock_destroy(&d->rw);
	pthread_mutex_destroy(&d->pool_lock);
	free(d);
}

static int luks_flush(void *state)
{
	struct luks_dev *d = state;

	return bdev_flush(d->lower);
}

static const struct bdev_ops luks_ops = {
	.name = "luks",
	.read = luks_dev_read,
	.write = luks_dev_write,
	.flush = luks_flush,
	.close = luks_close,
};

/* The cipher and, for hmac, the keyed MAC template (vk = XTS key || 32-byte MAC key). */
static int setup_crypto(struct luks_dev *d, const struct luks2_hdr *h)
{
	size_t enc_len = d->key->len;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	if (d->kind == LUKS2_INTEGRITY_HMAC_SHA256)
		enc_len -= LUKS_HMAC_LEN;
	if (d->kind == LUKS2_INTEGRITY_AEAD)
		d->cipher = enc_len == 32 ? EVP_aes_256_gcm() : NULL;
	else
		d->cipher = enc_len == 64 ? EVP_aes_256_xts() :
			    enc_len == 32 ? EVP_aes_128_xts() :
					    NULL;
	if (!d->cipher ||
	    !streq(h->segment.cipher,
		   d->kind == LUKS2_INTEGRITY_AEAD ? "aes-gcm-random" : "aes-xts-plain64"))
		return -ENOTSUP;
	if (d->kind != LUKS2_INTEGRITY_HMAC_SHA256)
		return 0;
	d->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	d->mac_tmpl = d->mac ? EVP_MAC_CTX_new(d->mac) : NULL;
	if (!d->mac_tmpl ||
	    EVP_MAC_init(d->mac_tmpl, d->key->data + enc_len, LUKS_HMAC_LEN, params) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/* Write the replayed journal blocks in place and re-format the journal (read-write opens). */
static int apply_journal(struct luks_dev *d)
{
	_cleanup_free_ uint8_t *buf = malloc(d->ss);
	int r;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < d->journal.n; i++) {
		const struct dmi_journal_block *b = &d->journal.blocks[i];
		uint64_t data, tag;

		dmi_map(&d->g, b->sector, &data, &tag);
		r = dmi_journal_read_block(d->lower, &d->g, b, buf);
		if (r >= 0)
			r = luks_lower_write(d->lower, buf, d->ss, data);
		if (r >= 0)
			r = luks_lower_write(d->lower, b->tag, d->tag_size, tag);
		if (r < 0)
			return r;
	}
	r = bdev_flush(d->lower);
	if (r >= 0)
		r = dmi_journal_format(d->lower, &d->g);
	if (r >= 0)
		r = bdev_flush(d->lower);
	if (r >= 0)
		dmi_journal_free(&d->journal);
	return r;
}

static int setup_integrity(struct luks_dev *d, const struct luks2_hdr *h, bool rw)
{
	uint8_t sb[DMI_SB_SIZE];
	uint64_t dev = bdev_size(d->lower);
	int r;

	/* A device of an odd size is used to its last whole sector, as the kernel's loop device
	 * does (and dmi_sb_parse() then checks the geometry against that). */
	if (h->segment.offset % 512)
		return -EBADMSG;
	r = bdev_read(d->lower, sb, sizeof(sb), h->segment.offset);
	if (r < 0)
		return r;
	r = dmi_sb_parse(sb, h->segment.offset / 512, dev / 512, h->segment.tag_size,
			 h->segment.sector_size, &d->g);
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	d->size = d->g.provided_data_sectors * 512;
	r = dmi_journal_scan(d->lower, &d->g, &d->journal);
	if (r < 0)
		return r;
	if (d->journal.n > 0)
		log_info("luks: dm-integrity journal holds %zu committed block(s): replaying",
			 d->journal.n);
	return rw && d->journal.n > 0 ? apply_journal(d) : 0;
}

/* The data segment without integrity: "dynamic" is up to the device's last whole sector (as
 * luks2_json.c computes it); a fixed size must fit, written so that no sum can wrap. */
static int setup_plain_size(struct luks_dev *d, const struct luks2_hdr *h, uint64_t dev)
{
	d->data_offset = h->segment.offset;
	if (d->data_offset >= dev)
		return -EBADMSG;
	d->size = h->segment.dynamic ? (dev - d->data_offset) / d->ss * d->ss : h->segment.size;
	if (d->size == 0 || d->size % d->ss || d->size > dev - d->data_offset)
		return -EBADMSG;
	return 0;
}

static int setup(struct luks_dev *d, const struct luks2_hdr *h, const struct luks_options *o)
{
	int r;

	d->kind = h->segment.integrity;
	d->ss = h->segment.sector_size;
	d->tag_size = h->segment.tag_size;
	d->iv_tweak = 0; /* luks2.h refuses any other iv_tweak */
	if (o->rw && !bdev_is_writable(d->lower))
		return -EROFS;
	r = setup_crypto(d, h);
	if (r < 0)
		return r;
	if (d->kind != LUKS2_INTEGRITY_NONE)
		return setup_integrity(d, h, o->rw);
	return setup_plain_size(d, h, bdev_size(d->lower));
}

/* The cipher and MAC contexts hold the volume key's schedules in memory that OpenSSL allocates,
 * which struct secret cannot cover. Where locking is possible without limit (root or
 * CAP_IPC_LOCK: the sidecar, `mount`), lock the whole process; failing that is fatal unless
 * unlocked memory was allowed. Unprivileged tools (image create/decrypt, rootless mounts) cannot
 * lock everything under a finite RLIMIT_MEMLOCK: they warn once and go on, still non-dumpable. */
static int lock_key_schedules(void)
{
	static bool warned;
	int r = process_lock_memory();

	if (r < 0 && !secret_get_allow_unlocked())
		return log_debug_errno(
			r, "Cannot lock memory for the volume key's cipher schedules: %m");
	if (r == 0 && !__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
		/* log-ok: a one-time security notice; opening goes on */
		log_warn("Not privileged to lock all memory: the userspace engine's cipher key "
			 "schedules may be swapped out (run as root, or with CAP_IPC_LOCK)");
	return 0;
}

int luks_open(struct bdev *lower, const struct luks2_hdr *h, const struct secret *vk,
	      const struct luks_options *o, struct bdev **ret)
{
	struct luks_dev *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		bdev_free(lower);
		return -ENOMEM;
	}
	r = lock_key_schedules();
	if (r < 0) {
		free(d);
		bdev_free(lower);
		return r;
	}
	d->lower = lower;
	pthread_rwlock_init(&d->rw, NULL);
	pthread_mutex_init(&d->pool_lock, NULL);
	r = vk->len == h->segment.key_size ? secret_new_copy(vk->data, vk->len, &d->key) : -EINVAL;
	if (r >= 0)
		r = setup(d, h, o);
	if (r < 0) {
		log_debug("luks: open failed: %s", strerror(-r));
		luks_close(d);
		return r;
	}
	return bdev_new(&luks_ops, d, d->size, 1, o->rw, ret);
}

int luks_get_stats(struct bdev *b, struct luks_stats *ret)
{
	struct luks_dev *d = bdev_state(b, &luks_ops);

	if (!d)
		return -EINVAL;
	*ret = (struct luks_stats){
		.sectors_read = __atomic_load_n(&d->sectors_read, __ATOMIC_RELAXED),
		.sectors_written = __atomic_load_n(&d->sectors_written, __ATOMIC_RELAXED),
		.integrity_errors = __atomic_load_n(&d->integrity_errors, __ATOMIC_RELAXED),
		.last_bad_sector = __atomic_load_n(&d->last_bad_sector, __ATOMIC_RELAXED),
	};
	return 0;
}
