/* SPDX-License-Identifier: MIT */
/*
 * test_luks_dev.c - luks_unlock() and the `luks` block layer.
 *
 * Unlock: images made by the host's real `cryptsetup luksFormat` on a plain file (no
 * device-mapper needed without --integrity), PBKDF2 and argon2id keyslots; the volume key must
 * equal what `cryptsetup luksDump --dump-volume-key` prints, a wrong passphrase is -EPERM.
 * Data: write/read round trips through the layer, and the bytes on the lower device checked
 * with one-shot OpenSSL calls at the locations of docs/dm-crypt.md, "Sectors without integrity" and
 * "Per-sector processing"; docs/dm-integrity.md, Layout (the kernel-exact check is
 * tests/vm/test-vm-engine.sh); a flipped ciphertext or tag byte fails exactly that block with
 * -EILSEQ.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealmount/dmi.h"
#include "sealmount/luks.h"
#include "unit.h"

extern char **environ;

#define MiB (1024ull * 1024)

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_luks_dev.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char p[128];

	for (const char *const *n = (const char *const[]){ "img", "key", "bad", "vk", NULL }; *n;
	     n++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *n);
		unlink(p);
	}
	rmdir(dir);
}

static void path(char *buf, const char *name)
{
	snprintf(buf, 128, "%s/%s", dir, name);
}

/* Run argv with stdout to out_path (or /dev/null); returns the exit status. */
static int run(const char *const argv[], const char *out_path)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ck_assert_int_eq(posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *p, const void *data, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* luksFormat a 20 MiB file with a random 32-byte key file; pass holds the key on return. */
static void cryptsetup_format(bool argon, uint8_t pass[32])
{
	char img[128], key[128];
	const char *pbkdf2[] = { "cryptsetup", "luksFormat",
				 "-q",	       "--type",
				 "luks2",      "--pbkdf",
				 "pbkdf2",     "--pbkdf-force-iterations",
				 "1000",       "--sector-size",
				 "4096",       "--key-file",
				 key,	       img,
				 NULL };
	const char *argon2[] = { "cryptsetup", "luksFormat",
				 "-q",	       "--type",
				 "luks2",      "--pbkdf",
				 "argon2id",   "--pbkdf-memory",
				 "32768",      "--pbkdf-force-iterations",
				 "4",	       "--pbkdf-parallel",
				 "1",	       "--sector-size",
				 "512",	       "--key-file",
				 key,	       img,
				 NULL };
	int fd;

	path(img, "img");
	path(key, "key");
	ck_assert_int_eq(RAND_bytes(pass, 32), 1);
	/* PBKDF2's HMAC pads its key with zeros, so a passphrase ending in 0x00 equals the one
	 * without that byte: the "one byte shorter" case below would unlock (1 run in 256). */
	pass[31] |= 1;
	write_file(key, pass, 32);
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 20 * MiB), 0);
	close(fd);
	ck_assert_int_eq(run(argon ? argon2 : pbkdf2, NULL), 0);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The volume key as cryptsetup prints it ("MK dump:" then hex bytes over a few lines). */
static size_t cryptsetup_vk(uint8_t *vk, size_t max)
{
	char img[128], key[128], out[128];
	const char *argv[] = { "cryptsetup", "luksDump",   "--dump-volume-key",
			       "-q",	     "--key-file", key,
			       img,	     NULL };
	size_t len, n = 0;
	_cleanup_free_ char *text = NULL;
	char *p;

	path(img, "img");
	path(key, "key");
	path(out, "vk");
	ck_assert_int_eq(run(argv, out), 0);
	text = (char *)unit_read_file(out, &len);
	p = strstr(text, "MK dump:");
	ck_assert_ptr_nonnull(p);
	for (p += 8; *p && n < max; p++) {
		if (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
			vk[n++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
			p++;
		} else if (*p != ' ' && *p != '\t' && *p != '\n') {
			break;
		}
	}
	return n;
}

static struct luks2_hdr *load(struct bdev *dev)
{
	struct luks2_policy pol;
	struct luks2_hdr *h = NULL;

	luks2_policy_init(&pol);
	pol.require_integrity = false;
	ck_assert_int_eq(luks2_hdr_load(dev, &pol, &h, NULL), 0);
	return h;
}

START_TEST(luks_unlock_matches_cryptsetup)
{
	uint8_t pass[32], want[128];
	char img[128];
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *p = NULL;
	_cleanup_(secret_freep) struct secret *vk = NULL;
	size_t n;

	cryptsetup_format(_i == 1, pass);
	n = cryptsetup_vk(want, sizeof(want));
	ck_assert_uint_eq(n, 64);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, false, &dev), 0);
	h = load(dev);
	ck_assert_int_eq(h->keyslots[0].kdf.type, _i == 1 ? LUKS2_KDF_ARGON2ID : LUKS2_KDF_PBKDF2);
	ck_assert_int_eq(secret_new_copy(pass, 32, &p), 0);
	ck_assert_int_eq(luks_unlock(dev, h, p, &vk), 0);
	ck_assert_uint_eq(vk->len, 64);
	ck_assert_mem_eq(vk->data, want, 64);
	secret_free(vk);
	vk = NULL;
	/* the same from the detached copy in h->raw */
	ck_assert_int_eq(luks2_hdr_load_keyslots(h, dev), 0);
	ck_assert_int_eq(luks_unlock(dev, h, p, &vk), 0);
	ck_assert_mem_eq(vk->data, want, 64);
	secret_free(vk);
	vk = NULL;
	/* wrong passphrase: one bit, and one byte shorter */
	p->data[7] ^= 0x10;
	ck_assert_int_eq(luks_unlock(dev, h, p, &vk), -EPERM);
	ck_assert_ptr_null(vk);
	p->data[7] ^= 0x10;
	p->len = 31;
	ck_assert_int_eq(luks_unlock(dev, h, p, &vk), -EPERM);
	p->len = 32;
}
END_TEST

/* A tampered keyslot area yields a key that fails the digest: -EPERM, never a wrong key. */
START_TEST(luks_unlock_tampered_area_is_eperm)
{
	uint8_t pass[32], x = 0x5a;
	char img[128];
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *p = NULL;
	struct secret *vk = NULL;

	cryptsetup_format(false, pass);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, true, &dev), 0);
	h = load(dev);
	ck_assert_int_eq(bdev_write(dev, &x, 1, h->keyslots[0].area_offset + 100000), 0);
	ck_assert_int_eq(secret_new_copy(pass, 32, &p), 0);
	ck_assert_int_eq(luks_unlock(dev, h, p, &vk), -EPERM);
}
END_TEST

static void xts_sector(const uint8_t *key, uint64_t iv_sector, const uint8_t *in, uint8_t *out,
		       size_t len, int enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	int l;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(iv_sector >> (8 * i));
	ck_assert_int_eq(EVP_CipherInit_ex(c, EVP_aes_256_xts(), NULL, key, iv, enc), 1);
	ck_assert_int_eq(EVP_CipherUpdate(c, out, &l, in, (int)len), 1);
	EVP_CIPHER_CTX_free(c);
}

/* No integrity (docs/dm-crypt.md, Sectors without integrity): sector k of the segment is XTS(vk, IV
 * = k * 8) of plaintext block k. */
START_TEST(luks_dev_plain_round_trip)
{
	uint8_t pass[32], ct[4096], pt[4096];
	char img[128];
	_cleanup_(bdev_freep) struct bdev *lower = NULL;
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *p = NULL;
	_cleanup_(secret_freep) struct secret *vk = NULL;
	_cleanup_free_ uint8_t *data = malloc(MiB), *back = malloc(MiB);
	struct luks_options o = { .rw = true };
	struct bdev *raw = NULL;
	struct luks_stats st;

	cryptsetup_format(false, pass);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, true, &lower), 0);
	h = load(lower);
	ck_assert_int_eq(secret_new_copy(pass, 32, &p), 0);
	ck_assert_int_eq(luks_unlock(lower, h, p, &vk), 0);
	ck_assert_int_eq(luks_open(TAKE_PTR(lower), h, vk, &o, &dev), 0);
	ck_assert_uint_eq(bdev_size(dev), 20 * MiB - h->segment.offset);
	ck_assert_int_eq(RAND_bytes(data, (int)MiB), 1);
	ck_assert_int_eq(bdev_write(dev, data, MiB, 3 * MiB), 0);
	ck_assert_int_eq(bdev_write(dev, data + 100, 333, 777), 0); /* sub-sector RMW */
	ck_assert_int_eq(bdev_read(dev, back, MiB, 3 * MiB), 0);
	ck_assert_mem_eq(back, data, MiB);
	ck_assert_int_eq(bdev_read(dev, back, 333, 777), 0);
	ck_assert_mem_eq(back, data + 100, 333);
	ck_assert_int_eq(bdev_flush(dev), 0);
	/* independent check of block k = 3 MiB / 4096 + 5 on the raw file */
	ck_assert_int_eq(bdev_file_open(img, false, &raw), 0);
	ck_assert_int_eq(bdev_read(raw, ct, 4096, h->segment.offset + 3 * MiB + 5 * 4096), 0);
	xts_sector(vk->data, (3 * MiB + 5 * 4096) / 512, ct, pt, 4096, 0);
	ck_assert_mem_eq(pt, data + 5 * 4096, 4096);
	bdev_free(raw);
	ck_assert_int_eq(luks_get_stats(dev, &st), 0);
	ck_assert_uint_ge(st.sectors_written, MiB / 512);
	ck_assert_uint_eq(st.integrity_errors, 0);
	ck_assert_int_eq(luks_get_stats(h ? dev : dev, &st), 0);
}
END_TEST

/* A device whose size is not a sector multiple (a block blob may have any size) is used to its
 * last whole sector, as the kernel's loop device and luks2_json.c's "dynamic" size do. */
START_TEST(luks_dev_odd_device_size)
{
	static const uint64_t extra[] = { 100, 4096 + 100, 511 };
	uint8_t pass[32];
	char img[128];

	cryptsetup_format(false, pass);
	path(img, "img");
	for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
		_cleanup_(bdev_freep) struct bdev *lower = NULL;
		_cleanup_(bdev_freep) struct bdev *dev = NULL;
		_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
		_cleanup_(secret_freep) struct secret *p = NULL;
		_cleanup_(secret_freep) struct secret *vk = NULL;
		struct luks_options o = { 0 };
		uint64_t size = 20 * MiB + extra[i], want;
		uint8_t b[512];

		ck_assert_int_eq(truncate(img, (off_t)size), 0);
		ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
		h = load(lower);
		want = (size - h->segment.offset) / h->segment.sector_size * h->segment.sector_size;
		ck_assert_int_eq(secret_new_copy(pass, 32, &p), 0);
		ck_assert_int_eq(luks_unlock(lower, h, p, &vk), 0);
		ck_assert_int_eq(luks_open(TAKE_PTR(lower), h, vk, &o, &dev), 0);
		ck_assert_uint_eq(bdev_size(dev), want);
		ck_assert_int_eq(bdev_read(dev, b, sizeof(b), want - sizeof(b)), 0);
		ck_assert_int_eq(bdev_read(dev, b, 1, want), -EINVAL);
	}
}
END_TEST

/* Integrity shapes: the real cryptsetup headers from tests/data on a 40 MiB file whose
 * dm-integrity area is formatted by dmi_format_superblock() + dmi_journal_format(). */
struct shape {
	const char *hdr;
	enum luks2_integrity kind;
	uint32_t ss, vk_len;
};

static const struct shape shapes[] = {
	{ "luks2-hmac-sha256-4k.hdr", LUKS2_INTEGRITY_HMAC_SHA256, 4096, 96 },
	{ "luks2-hmac-sha256-512.hdr", LUKS2_INTEGRITY_HMAC_SHA256, 512, 96 },
	{ "luks2-aead.hdr", LUKS2_INTEGRITY_AEAD, 4096, 32 },
};

static struct luks2_hdr *integrity_image(const struct shape *s, struct dmi_geometry *g)
{
	char img[128], src[512];
	size_t len;
	_cleanup_free_ uint8_t *hdr = NULL;
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	struct luks2_hdr *h;
	uint8_t sb[DMI_SB_SIZE];

	snprintf(src, sizeof(src), "%s/%s", unit_testdata(), s->hdr);
	hdr = unit_read_file(src, &len);
	path(img, "img");
	write_file(img, hdr, len);
	ck_assert_int_eq(truncate(img, 40 * MiB), 0);
	ck_assert_int_eq(bdev_file_open(img, true, &dev), 0);
	h = load(dev);
	ck_assert_int_eq(h->segment.integrity, s->kind);
	ck_assert_int_eq(dmi_format_superblock(40 * MiB / 512, h->segment.offset / 512,
					       h->segment.tag_size, s->ss, false, sb, g),
			 0);
	ck_assert_int_eq(bdev_write(dev, sb, sizeof(sb), h->segment.offset), 0);
	ck_assert_int_eq(dmi_journal_format(dev, g), 0);
	return h;
}

/* The block at logical byte L checked with one-shot OpenSSL at its location (docs/dm-integrity.md,
 * Layout). */
static void check_block(const struct shape *s, const struct dmi_geometry *g, const uint8_t *vk,
			uint64_t L, const uint8_t *want)
{
	char img[128];
	uint8_t ct[4096], pt[4096], tag[32], mac[32], aad[24] = { 0 };
	uint64_t S = L / 512, data, toff;
	_cleanup_(bdev_freep) struct bdev *raw = NULL;
	unsigned int ml;

	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, false, &raw), 0);
	dmi_map(g, S, &data, &toff);
	ck_assert_int_eq(bdev_read(raw, ct, s->ss, data), 0);
	ck_assert_int_eq(bdev_read(raw, tag, g->tag_size, toff), 0);
	for (int i = 0; i < 8; i++)
		aad[i] = aad[8 + i] = (uint8_t)(S >> (8 * i));
	if (s->kind == LUKS2_INTEGRITY_HMAC_SHA256) {
		uint8_t in[24 + 4096];

		memcpy(in, aad, 24);
		memcpy(in + 24, ct, s->ss);
		HMAC(EVP_sha256(), vk + 64, 32, in, 24 + s->ss, mac, &ml);
		ck_assert_mem_eq(mac, tag, 32);
		xts_sector(vk, S, ct, pt, s->ss, 0);
	} else {
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int l;

		memcpy(aad + 8, tag + 16, 12);
		ck_assert_int_eq(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, vk, tag + 16), 1);
		ck_assert_int_eq(EVP_DecryptUpdate(c, NULL, &l, aad, 20), 1);
		ck_assert_int_eq(EVP_DecryptUpdate(c, pt, &l, ct, (int)s->ss), 1);
		ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag), 1);
		ck_assert_int_eq(EVP_DecryptFinal_ex(c, pt + s->ss, &l), 1);
		EVP_CIPHER_CTX_free(c);
	}
	ck_assert_mem_eq(pt, want, s->ss);
}

static void flip(uint64_t off)
{
	char img[128];
	uint8_t b;
	int fd;

	path(img, "img");
	fd = open(img, O_RDWR);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x04;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

START_TEST(luks_dev_integrity_round_trip_and_tamper)
{
	const struct shape *s = &shapes[_i];
	struct dmi_geometry g;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = integrity_image(s, &g);
	_cleanup_(secret_freep) struct secret *vk = NULL;
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	struct bdev *lower = NULL;
	struct luks_options o = { .rw = true };
	uint64_t size, L, data, tag;
	_cleanup_free_ uint8_t *all = NULL, *back = NULL;
	struct luks_stats st;
	char img[128];

	ck_assert_int_eq(secret_new(s->vk_len, &vk), 0);
	ck_assert_int_eq(RAND_bytes(vk->data, (int)vk->len), 1);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, true, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &o, &dev), 0);
	size = bdev_size(dev);
	ck_assert_uint_eq(size, g.provided_data_sectors * 512);
	all = malloc(size);
	back = malloc(size);
	ck_assert_int_eq(RAND_bytes(all, (int)size), 1);
	ck_assert_int_eq(bdev_write(dev, all, size, 0), 0);
	ck_assert_int_eq(bdev_write(dev, all + 5, 1000, 70001), 0); /* RMW across blocks */
	memmove(all + 70001, all + 5, 1000);
	ck_assert_int_eq(bdev_read(dev, back, size, 0), 0);
	ck_assert_mem_eq(back, all, size);
	ck_assert_int_eq(bdev_flush(dev), 0);
	/* a block in area 1 (past 32768 sectors) and block 1000 checked independently */
	L = (uint64_t)s->ss * 1000;
	check_block(s, &g, vk->data, L, all + L);
	L = (32768 + 96) * 512ull;
	check_block(s, &g, vk->data, L, all + L);

	/* one ciphertext byte of block at L: that block fails, its neighbours read */
	dmi_map(&g, L / 512, &data, &tag);
	flip(data + 17);
	ck_assert_int_eq(bdev_read(dev, back, s->ss, L), -EILSEQ);
	for (uint32_t i = 0; i < s->ss; i++)
		ck_assert_uint_eq(back[i], 0); /* nothing handed out */
	ck_assert_int_eq(bdev_read(dev, back, s->ss, L - s->ss), 0);
	ck_assert_int_eq(bdev_read(dev, back, s->ss, L + s->ss), 0);
	ck_assert_int_eq(bdev_read(dev, back, 100, L + 10), -EILSEQ);
	ck_assert_int_eq(luks_get_stats(dev, &st), 0);
	ck_assert_uint_eq(st.integrity_errors, 2);
	ck_assert_uint_eq(st.last_bad_sector, L / 512);
	flip(data + 17);
	ck_assert_int_eq(bdev_read(dev, back, s->ss, L), 0);
	ck_assert_mem_eq(back, all + L, s->ss);
	/* one tag byte of the next block */
	dmi_map(&g, L / 512 + s->ss / 512, &data, &tag);
	flip(tag + g.tag_size - 1);
	ck_assert_int_eq(bdev_read(dev, back, 2 * s->ss, L), -EILSEQ);
	ck_assert_int_eq(luks_get_stats(dev, &st), 0);
	ck_assert_uint_eq(st.last_bad_sector, L / 512 + s->ss / 512);
	/* a sub-sector write over a bad block fails too (read-modify-write verifies) */
	ck_assert_int_eq(bdev_write(dev, all, 10, L + s->ss), -EILSEQ);
	/* a full-block write replaces it */
	ck_assert_int_eq(bdev_write(dev, all, s->ss, L + s->ss), 0);
	ck_assert_int_eq(bdev_read(dev, back, s->ss, L + s->ss), 0);
	ck_assert_mem_eq(back, all, s->ss);
}
END_TEST

/* Read-only over a read-only lower, journal replay overlaid; rw refused on a read-only lower;
 * a superblock for another device size refused. */
START_TEST(luks_dev_integrity_open_checks)
{
	const struct shape *s = &shapes[0];
	struct dmi_geometry g;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = integrity_image(s, &g);
	_cleanup_(secret_freep) struct secret *vk = NULL;
	struct bdev *lower = NULL, *dev = NULL;
	struct luks_options ro = { .rw = false }, rw = { .rw = true };
	uint8_t sb[DMI_SB_SIZE];
	char img[128];

	ck_assert_int_eq(secret_new(s->vk_len, &vk), 0);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &rw, &dev), -EROFS);
	ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &ro, &dev), 0);
	ck_assert_int_eq(bdev_write(dev, sb, 512, 0), -EROFS);
	bdev_free(dev);
	ck_assert_int_eq(truncate(img, 41 * MiB), 0);
	ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &ro, &dev), -EBADMSG);
	ck_assert_int_eq(truncate(img, 40 * MiB), 0);
	ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
	ck_assert_int_eq(luks_get_stats(lower, &(struct luks_stats){ 0 }), -EINVAL);
	bdev_free(lower);
	(void)sb;
}
END_TEST

/* Block L's ciphertext and tag as they are on the image. */
static void capture(const struct dmi_geometry *g, uint64_t L, uint8_t *ct, uint8_t *tag)
{
	char img[128];
	_cleanup_(bdev_freep) struct bdev *raw = NULL;
	uint64_t data, toff;

	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, false, &raw), 0);
	dmi_map(g, L / 512, &data, &toff);
	ck_assert_int_eq(bdev_read(raw, ct, 4096, data), 0);
	ck_assert_int_eq(bdev_read(raw, tag, g->tag_size, toff), 0);
}

/* A committed journal entry for block L holding ct/tag: section 0 re-written with commit seq 1
 * (with section 1 at seq 0 that is the consistent run of docs/dm-integrity.md, Journal replay),
 * entry 3. */
static void journal_put(const struct dmi_geometry *g, uint64_t L, const uint8_t *ct,
			const uint8_t *tag)
{
	char img[128];
	_cleanup_(bdev_freep) struct bdev *raw = NULL;
	_cleanup_free_ uint8_t *sec = malloc((size_t)g->journal_section_sectors * 512);
	uint8_t *e = sec + 3 * 512; /* entry 3: metadata sector 3, slot 0 */

	dmi_journal_init_section(g, 0, 1, sec);
	for (int i = 0; i < 8; i++)
		e[i] = (uint8_t)((L / 512) >> (8 * i));
	memcpy(e + 8 + 64, tag, g->tag_size);
	for (uint32_t s = 0; s < 8; s++) {
		memcpy(sec + (8 + 3 * 8 + s) * 512, ct + s * 512, 504);
		memcpy(e + 8 + 8 * s, ct + s * 512 + 504, 8);
	}
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, true, &raw), 0);
	ck_assert_int_eq(bdev_write(raw, sec, (size_t)g->journal_section_sectors * 512,
				    dmi_journal_offset(g)),
			 0);
}

static void rw_block(const struct luks2_hdr *h, const struct secret *vk, bool rw, uint64_t L,
		     uint8_t *buf, bool write)
{
	struct luks_options o = { .rw = rw };
	struct bdev *lower = NULL, *dev = NULL;
	char img[128];

	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, rw, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &o, &dev), 0);
	if (write)
		ck_assert_int_eq(bdev_write(dev, buf, 4096, L), 0);
	else
		ck_assert_int_eq(bdev_read(dev, buf, 4096, L), 0);
	bdev_free(dev);
}

/* A committed journal entry supersedes the block in place (docs/dm-integrity.md, "Journal replay"
 * and "Modes"): overlaid when read-only (the image unchanged), written in place and the journal
 * re-formatted read-write. */
START_TEST(luks_dev_journal_replay)
{
	const struct shape *s = &shapes[0];
	struct dmi_geometry g;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = integrity_image(s, &g);
	_cleanup_(secret_freep) struct secret *vk = NULL;
	uint8_t a[4096], b[4096], back[4096], ct[4096], tag[64], ct2[4096], tag2[64];
	uint64_t L = 4096 * 77;
	struct bdev *lower = NULL;
	struct dmi_journal j;
	char img[128];

	ck_assert_int_eq(secret_new(s->vk_len, &vk), 0);
	ck_assert_int_eq(RAND_bytes(vk->data, (int)vk->len), 1);
	ck_assert_int_eq(RAND_bytes(a, sizeof(a)), 1);
	ck_assert_int_eq(RAND_bytes(b, sizeof(b)), 1);
	rw_block(h, vk, true, L + 4096, b, true);
	rw_block(h, vk, true, L, a, true);
	capture(&g, L, ct, tag);
	rw_block(h, vk, true, L, b, true); /* in place: B; the journal will say A */
	journal_put(&g, L, ct, tag);

	rw_block(h, vk, false, L, back, false);
	ck_assert_mem_eq(back, a, 4096);
	rw_block(h, vk, false, L + 4096, back, false); /* the neighbour: in place */
	capture(&g, L, ct2, tag2);
	ck_assert_int_ne(memcmp(ct, ct2, 4096), 0); /* read-only left B in place */

	rw_block(h, vk, true, L + 4096, back, false); /* a read-write open replays */
	capture(&g, L, ct2, tag2);
	ck_assert_mem_eq(ct, ct2, 4096);
	ck_assert_mem_eq(tag, tag2, g.tag_size);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, false, &lower), 0);
	ck_assert_int_eq(dmi_journal_scan(lower, &g, &j), 0);
	ck_assert_uint_eq(j.n, 0);
	bdev_free(lower);
	rw_block(h, vk, false, L, back, false);
	ck_assert_mem_eq(back, a, 4096);
}
END_TEST

struct worker {
	struct bdev *dev;
	const uint8_t *data;
	unsigned id, nblocks;
	int err;
};

/* Worker id writes blocks id, id+4, ... (neighbours share 512-byte tag sectors: 16 tags of 32
 * bytes each) in 3-block chunks, reading back what it wrote; readers of other blocks must never
 * see a tag mismatch. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t back[512 * 3];

	for (unsigned b = w->id; b + 8 < w->nblocks && !w->err; b += 4) {
		int r = bdev_write(w->dev, w->data + (size_t)b * 512, 512, (uint64_t)b * 512);

		if (r == 0)
			r = bdev_read(w->dev, back, sizeof(back), (uint64_t)(b + 4) * 512);
		if (r == 0)
			r = bdev_read(w->dev, back, 512, (uint64_t)b * 512);
		if (r == 0 && memcmp(back, w->data + (size_t)b * 512, 512) != 0)
			r = -EIO;
		w->err = r;
	}
	return NULL;
}

START_TEST(luks_dev_threads)
{
	const struct shape *s = &shapes[1]; /* hmac, 512-byte sectors */
	struct dmi_geometry g;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = integrity_image(s, &g);
	_cleanup_(secret_freep) struct secret *vk = NULL;
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	struct bdev *lower = NULL;
	struct luks_options o = { .rw = true };
	unsigned nblocks = 4096;
	_cleanup_free_ uint8_t *data = malloc((size_t)nblocks * 512);
	_cleanup_free_ uint8_t *back = malloc((size_t)nblocks * 512);
	struct worker w[4];
	pthread_t t[4];
	char img[128];

	ck_assert_int_eq(secret_new(s->vk_len, &vk), 0);
	ck_assert_int_eq(RAND_bytes(vk->data, (int)vk->len), 1);
	path(img, "img");
	ck_assert_int_eq(bdev_file_open(img, true, &lower), 0);
	ck_assert_int_eq(luks_open(lower, h, vk, &o, &dev), 0);
	memset(back, 0, (size_t)nblocks * 512);
	ck_assert_int_eq(bdev_write(dev, back, (size_t)nblocks * 512, 0), 0);
	ck_assert_int_eq(RAND_bytes(data, (int)nblocks * 512), 1);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .dev = dev, .data = data, .id = i, .nblocks = nblocks };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(w[i].err, 0);
	}
	ck_assert_int_eq(bdev_read(dev, back, (size_t)(nblocks - 8) * 512, 0), 0);
	ck_assert_mem_eq(back, data, (size_t)(nblocks - 8) * 512);
}
END_TEST

static Suite *luks_dev_suite(void)
{
	Suite *s = suite_create("luks_dev");
	TCase *tc = tcase_create("luks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, luks_unlock_matches_cryptsetup, 0, 2);
	tcase_add_test(tc, luks_unlock_tampered_area_is_eperm);
	tcase_add_test(tc, luks_dev_plain_round_trip);
	tcase_add_test(tc, luks_dev_odd_device_size);
	tcase_add_loop_test(tc, luks_dev_integrity_round_trip_and_tamper, 0,
			    (int)ELEMENTSOF(shapes));
	tcase_add_test(tc, luks_dev_integrity_open_checks);
	tcase_add_test(tc, luks_dev_journal_replay);
	tcase_add_test(tc, luks_dev_threads);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(luks_dev_suite)
