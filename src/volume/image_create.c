/* SPDX-License-Identifier: MIT */
/*
 * image_create.c - `image create` (image.h): plaintext ext4 from image_mkfs.c, then the image
 * laid out per docs/dm-integrity.md, Creating images: LUKS2 metadata (luks2_write.h) at 0, the
 * dm-integrity superblock and seq-0 journal (dmi.h) at 16 MiB, and every data block written through
 * the `luks` layer (luks.h) so each sector has its valid tag. The header is re-read and validated
 * with the same code a mount uses (luks2_hdr_load) and the passphrase is checked to unlock the very
 * key we chose before any data is written.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image_internal.h"
#include "sealmount/dmi.h"
#include "sealmount/log.h"
#include "sealmount/luks.h"

#define MIB (1024u * 1024)
#define CHUNK (1u * MIB)
#define DMI_START_SECTOR (LUKS2_WRITE_DATA_OFFSET / 512)

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t tag_size(enum luks2_integrity i)
{
	return i == LUKS2_INTEGRITY_HMAC_SHA256 ? 32 : i == LUKS2_INTEGRITY_AEAD ? 28 : 0;
}

/* dm-integrity's provided_data_sectors for an image of size bytes; 0 when it cannot hold one. */
static uint64_t provided_bytes(const struct luks2_write_params *p, uint64_t size)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;

	if (dmi_format_superblock(size / 512, DMI_START_SECTOR, tag_size(p->integrity),
				  p->sector_size, false, sb, &g) < 0)
		return 0;
	return g.provided_data_sectors * 512;
}

int image_size_for(const struct luks2_write_params *p, uint64_t fs_size, uint64_t *ret)
{
	uint64_t size, tags, limit;

	if (fs_size == 0 || fs_size % 4096 || fs_size > IMAGE_FS_SIZE_MAX ||
	    !luks2_write_cipher(p->integrity) || (p->sector_size != 512 && p->sector_size != 4096))
		return -EINVAL;
	if (p->integrity == LUKS2_INTEGRITY_NONE) {
		*ret = LUKS2_WRITE_DATA_OFFSET + fs_size;
		return 0;
	}
	/* A lower bound: the superblock, at least the tags of every block, and the data.
	 * docs/dm-integrity.md, Creating images step 9: provided is not monotonic in the size, so
	 * scan upward from there. */
	tags = fs_size / p->sector_size * tag_size(p->integrity);
	size = round_up(LUKS2_WRITE_DATA_OFFSET + DMI_SB_SIZE + fs_size + tags, 4096);
	limit = size + fs_size / 4 + 256ull * MIB; /* journal (<= 64 MiB) and tag padding */
	for (; size <= limit; size += 4096)
		if (provided_bytes(p, size) >= fs_size) {
			*ret = size;
			return 0;
		}
	return -EFBIG;
}

/* ---- progress ---- */

struct progress {
	bool on;
	unsigned last_pct;
	double start;
};

static void progress_show(struct progress *pr, uint64_t done, uint64_t total)
{
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
	double el = now_s() - pr->start;

	if (!pr->on || (pct == pr->last_pct && done != total))
		return;
	pr->last_pct = pct;
	fprintf(stderr, "\rencrypting: %3u%% (%" PRIu64 "/%" PRIu64 " MiB, %.1f MiB/s)", pct,
		done / MIB, total / MIB, el > 0 ? (double)done / MIB / el : 0.0);
	if (done == total)
		fputc('\n', stderr);
}

/* ---- writing ---- */

static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* One CHUNK (or the tail) at off: plaintext below fs_size, zeros above. */
static int copy_chunk(struct bdev *dev, int plain_fd, uint64_t fs_size, uint8_t *buf, size_t n,
		      uint64_t off)
{
	int r;

	if (off >= fs_size)
		memset(buf, 0, n);
	else if ((r = pread_full(plain_fd, buf, n, off)) < 0)
		return log_debug_errno(r, "image: reading the plaintext: %m");
	r = bdev_write(dev, buf, n, off);
	if (r < 0)
		return log_debug_errno(r, "image: writing at %" PRIu64 ": %m", off);
	return 0;
}

/* Write the plaintext (fs_size bytes from plain_fd) and zeros to the end of the device. */
static int copy_data(struct bdev *dev, int plain_fd, uint64_t fs_size,
		     const struct image_create_options *o)
{
	_cleanup_free_ uint8_t *buf = malloc(CHUNK);
	uint64_t total = bdev_size(dev), off = 0;
	struct progress pr = { .on = o->progress && isatty(STDERR_FILENO),
			       .last_pct = 101,
			       .start = now_s() };
	int r = buf ? 0 : -ENOMEM;

	while (r == 0 && off < total) {
		size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;

		r = o->cancel && *o->cancel ? -ECANCELED :
					      copy_chunk(dev, plain_fd, fs_size, buf, n, off);
		off += n;
		if (r == 0)
			progress_show(&pr, off, total);
	}
	if (r < 0 && pr.on && pr.last_pct <= 100)
		fputc('\n', stderr); /* end the progress line before the error */
	return r;
}

/* Metadata, superblock and journal straight to the file (docs/dm-integrity.md, Creating images
 * steps 1-6). */
static int write_metadata(struct bdev *file, const struct image_create_options *o,
			  const struct secret *pass, const struct secret *vk)
{
	_cleanup_free_ uint8_t *hdr = NULL;
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	int r;

	r = luks2_write_header(&o->luks, pass, vk, &hdr);
	if (r < 0)
		return log_debug_errno(r, "image: building the LUKS2 header: %m");
	r = bdev_write(file, hdr, LUKS2_WRITE_DATA_OFFSET, 0);
	if (r < 0 || o->luks.integrity == LUKS2_INTEGRITY_NONE)
		return r;
	r = dmi_format_superblock(bdev_size(file) / 512, DMI_START_SECTOR,
				  tag_size(o->luks.integrity), o->luks.sector_size, false, sb, &g);
	r = r ?: bdev_write(file, sb, sizeof(sb), LUKS2_WRITE_DATA_OFFSET);
	r = r ?: dmi_journal_format(file, &g);
	return r;
}

/* Validate the header as a mount would, and check that the passphrase unlocks vk. */
static int open_data(struct bdev *file, const struct image_create_options *o,
		     const struct secret *pass, const struct secret *vk, struct bdev **ret)
{
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *vk2 = NULL;
	struct luks2_policy pol;
	struct luks2_verdict v;
	int r;

	luks2_policy_init(&pol);
	pol.require_integrity = o->luks.integrity != LUKS2_INTEGRITY_NONE;
	r = luks2_hdr_load(file, &pol, &h, &v);
	if (r < 0) {
		bdev_free(file);
		return log_debug_errno(r, "image: our own header is refused (%s: %s)",
				       v.rule ? v.rule : "?", v.detail);
	}
	r = luks_unlock(file, h, pass, &vk2);
	if (r == 0 && !secret_equal(vk, vk2))
		r = -EBADMSG;
	if (r < 0) {
		bdev_free(file);
		return log_debug_errno(r, "image: the new keyslot does not unlock: %m");
	}
	return luks_open(file, h, vk, &(struct luks_options){ .rw = true }, ret);
}

static int write_image(const struct image_create_options *o, const struct secret *pass,
		       int plain_fd, uint64_t fs_size, struct image_create_result *res)
{
	_cleanup_(secret_freep) struct secret *vk = NULL;
	_cleanup_(bdev_freep) struct bdev *file = NULL, *dev = NULL;
	int r;

	r = luks2_write_vk_new(&o->luks, &vk);
	r = r ?: bdev_file_open(o->output, true, &file);
	r = r ?: write_metadata(file, o, pass, vk);
	if (r < 0)
		return r;
	r = open_data(TAKE_PTR(file), o, pass, vk, &dev);
	if (r < 0)
		return r;
	res->data_size = bdev_size(dev);
	if (res->data_size < fs_size)
		return log_debug_errno(-EFBIG, "image: data area %" PRIu64 " < %" PRIu64,
				       res->data_size, fs_size);
	r = copy_data(dev, plain_fd, fs_size, o);
	r = r ?: bdev_flush(dev);
	return r;
}

static int make_fs(const struct image_create_options *o, uint64_t *size, int *ret_fd)
{
	bool auto_size = o->fs_size == 0;
	int r;

	if (!auto_size)
		return image_mkfs(o->mke2fs, o->from_dir, o->output, *size, false, ret_fd);
	/* The estimate can be short for many tiny files or huge directories: grow and retry. */
	for (int attempt = 0;; attempt++) {
		r = image_mkfs(o->mke2fs, o->from_dir, o->output, *size, attempt < 3, ret_fd);
		if (r != -ENOSPC || attempt == 3)
			return r;
		if (o->cancel && *o->cancel)
			return -ECANCELED;
		log_info("%s does not fit in %" PRIu64 " MiB, retrying with more room", o->from_dir,
			 *size / MIB);
		*size = round_up(*size * 3 / 2, MIB);
	}
}

static int check_options(const struct image_create_options *o)
{
	struct stat st;

	if (stat(o->from_dir, &st) < 0)
		return diag_set(o->diag, -errno, "Cannot use %s: %m", o->from_dir);
	if (!S_ISDIR(st.st_mode))
		return diag_set(o->diag, -ENOTDIR, "%s is not a directory", o->from_dir);
	if (o->fs_size && (o->fs_size < IMAGE_FS_SIZE_MIN || o->fs_size > IMAGE_FS_SIZE_MAX))
		return diag_set(o->diag, -EINVAL, "Filesystem size must be %u MiB .. 16 TiB",
				IMAGE_FS_SIZE_MIN / MIB);
	return 0;
}

static int create_output(const struct image_create_options *o, uint64_t size)
{
	_cleanup_close_ int fd =
		open(o->output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return diag_set(o->diag, -errno, "Cannot create %s: %m", o->output);
	if (ftruncate(fd, (off_t)size) < 0) {
		int r = -errno;

		(void)unlink(o->output);
		return diag_set(o->diag, r, "Cannot size %s to %" PRIu64 " bytes: %m", o->output,
				size);
	}
	return 0;
}

int image_create(const struct image_create_options *o, const struct secret *passphrase,
		 struct image_create_result *result)
{
	struct image_create_result res = { 0 };
	_cleanup_close_ int plain_fd = -1;
	uint64_t fs_size = round_up(o->fs_size, MIB);
	double t0 = now_s();
	int r;

	r = check_options(o);
	if (r < 0)
		return r;
	if (fs_size == 0 && (r = image_auto_fs_size(o->from_dir, &fs_size)) < 0)
		return diag_set(o->diag, r, "Cannot measure %s: %m", o->from_dir);
	r = make_fs(o, &fs_size, &plain_fd);
	if (r < 0)
		return diag_set(o->diag, r,
				"mke2fs could not build an ext4 filesystem of %" PRIu64
				" MiB from %s%s",
				fs_size / MIB, o->from_dir,
				r == -ENOSPC ? " (does it fit? try a larger --size)" : "");
	res.seconds_mkfs = now_s() - t0;
	res.fs_size = fs_size;
	r = image_size_for(&o->luks, fs_size, &res.image_size);
	if (r < 0)
		return diag_set(o->diag, r, "No image size fits %" PRIu64 " bytes: %m", fs_size);
	r = create_output(o, res.image_size);
	if (r < 0)
		return r;
	t0 = now_s();
	r = write_image(o, passphrase, plain_fd, fs_size, &res);
	if (r < 0) {
		(void)unlink(o->output);
		return diag_set(o->diag, r, "Cannot write the image %s (removed): %m", o->output);
	}
	res.seconds_write = now_s() - t0;
	if (result)
		*result = res;
	return 0;
}
