/* SPDX-License-Identifier: MIT */
/*
 * cmd_image_decrypt.c - `sealmount image decrypt IMAGE --key-file FILE -o OUT`: the debug view
 * of the userspace engine. Validate the header (luks2.h), unlock with the key file's bytes as
 * the passphrase (luks.h), and write the whole plaintext device, every tag verified, to a new
 * file (or stdout with -o -). A tag mismatch stops it with exit 1 naming the sector; what was
 * written before that stays in OUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_image_seal.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/luks.h"
#include "sealmount/luks2.h"
#include "sealmount/pipeline.h"
#include "sealmount/secret.h"

#define DECRYPT_CHUNK (4u << 20)
#define PASSPHRASE_MAX (8u << 20) /* cryptsetup's default key file limit */

struct decrypt_args {
	const char *image, *key_file, *account_key_file, *out;
	bool require_integrity;
	struct image_verity_args verity;
};

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int copy_out(struct bdev *dev, int fd, const char *out, const struct image_verity *vs)
{
	_cleanup_free_ uint8_t *buf = malloc(DECRYPT_CHUNK);
	uint64_t size = bdev_size(dev);
	struct luks_stats st;
	int r;

	if (!buf)
		return log_error_errno(-ENOMEM, "Out of memory");
	for (uint64_t off = 0; off < size; off += DECRYPT_CHUNK) {
		size_t n = size - off < DECRYPT_CHUNK ? (size_t)(size - off) : DECRYPT_CHUNK;

		r = bdev_read(dev, buf, n, off);
		if (r == -EIO && image_verity_explain(vs))
			return r;
		if (r == -EILSEQ && luks_get_stats(dev, &st) == 0)
			return log_error_errno(
				r,
				"Integrity error at sector %" PRIu64 " (plaintext "
				"byte %" PRIu64 "): the image was modified or damaged "
				"there; %s holds the %" PRIu64 " bytes before this chunk",
				st.last_bad_sector, st.last_bad_sector * 512, out, off);
		if (r < 0)
			return log_error_errno(
				r, "Reading the image at byte %" PRIu64 " failed: %m", off);
		r = write_all(fd, buf, n);
		if (r < 0)
			return log_error_errno(r, "Cannot write %s: %m", out);
	}
	return 0;
}

static int open_out(const char *out)
{
	int fd;

	if (streq(out, "-"))
		return dup(STDOUT_FILENO);
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s (it must not exist): %m", out);
	return fd;
}

static int decrypt(const struct decrypt_args *a)
{
	/* Freed in reverse: the luks layer (dev), then the verity layer (vs) and the source it
	 * owns, then the source's credentials (st). */
	_cleanup_(pl_stack_close) struct pl_stack st = { 0 };
	_cleanup_(image_verity_done) struct image_verity vs = { 0 };
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *pass = NULL;
	_cleanup_(secret_freep) struct secret *vk = NULL;
	_cleanup_close_ int fd = -1;
	struct luks2_policy pol;
	struct luks2_verdict v = { 0 };
	struct luks_options o = { .rw = false };
	int r;

	luks2_policy_init(&pol);
	pol.require_integrity = a->require_integrity;
	if (image_open_source(a->image, a->account_key_file, &st) < 0)
		return CLI_EXIT_FAILURE;
	/* A sealed image is read through the verity layer (or, without a root hash, warned). */
	if (image_verity_prepare(&st.top, a->image, &a->verity, false, true, &vs) < 0)
		return CLI_EXIT_FAILURE;
	r = luks2_hdr_load(st.top, &pol, &h, &v);
	if (r < 0 && !image_verity_explain(&vs)) {
		log_error_errno(r, "%s: header refused: %s %s (%m)", a->image, v.rule ? v.rule : "",
				v.detail);
	}
	if (r < 0)
		return CLI_EXIT_FAILURE;
	r = fs_read_secret(a->key_file, PASSPHRASE_MAX, 0, &pass);
	if (r < 0) {
		log_error_errno(r, "Cannot read the key file %s: %m", a->key_file);
		return CLI_EXIT_FAILURE;
	}
	r = luks_unlock(st.top, h, pass, &vk);
	if (r < 0) {
		if (r == -EPERM)
			log_error("No keyslot of %s opens with the key file %s", a->image,
				  a->key_file);
		else if (!image_verity_explain(&vs))
			log_error_errno(r, "Unlocking %s failed: %m", a->image);
		return CLI_EXIT_FAILURE;
	}
	r = luks_open(TAKE_PTR(st.top), h, vk, &o, &dev);
	if (r < 0) {
		if (!image_verity_explain(&vs))
			log_error_errno(r, "Cannot open the encrypted device of %s: %m", a->image);
		return CLI_EXIT_FAILURE;
	}
	fd = open_out(a->out);
	if (fd < 0)
		return CLI_EXIT_FAILURE;
	if (copy_out(dev, fd, a->out, &vs) < 0)
		return CLI_EXIT_FAILURE;
	if (close(TAKE_FD(fd)) < 0) {
		log_error_errno(-errno, "Cannot write %s: %m", a->out);
		return CLI_EXIT_FAILURE;
	}
	log_info("%s: %" PRIu64 " plaintext bytes written to %s", a->image, bdev_size(dev), a->out);
	return CLI_EXIT_OK;
}

static int parse(int argc, char **argv, struct decrypt_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "require-integrity", no_argument, NULL, 'i' },
		{ "account-key-file", required_argument, NULL, 'a' },
		IMAGE_VERITY_OPTIONS,
		{},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			(void)cli_help(&cmd_image_decrypt);
			return -1;
		case 'k':
			a->key_file = optarg;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'i':
			a->require_integrity = true;
			break;
		case 'a':
			a->account_key_file = optarg;
			break;
		default:
			r = image_verity_opt(c, optarg, "image decrypt", &a->verity);
			if (r == 0)
				break;
			return r > 1 ? r : cli_bad_option("image decrypt", c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("image decrypt", "expected exactly one IMAGE");
	if (!a->key_file || !a->out)
		return cli_usage_error("image decrypt", "--key-file FILE and -o OUT are required");
	a->image = argv[optind];
	return 0;
}

static int decrypt_main(int argc, char **argv)
{
	struct decrypt_args a = { 0 };
	int r = parse(argc, argv, &a);

	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	return decrypt(&a);
}

const struct cli_command cmd_image_decrypt = {
	.name = "decrypt",
	.summary = "Write the verified plaintext of an image",
	.usage =
		"Usage: sealmount image decrypt IMAGE --key-file FILE -o OUT [--require-integrity]\n"
		"                               [--account-key-file F] [--root-hash HEX |\n"
		"                               --publisher-key KEY [--min-version N]]\n"
		"\n"
		"Unlock IMAGE (file or blob URL) with the key FILE's bytes as the passphrase and\n"
		"write its whole plaintext device, every dm-integrity tag verified, to the new file\n"
		"OUT (- for stdout). A tag mismatch stops it with exit 1 naming the sector. A sealed\n"
		"IMAGE is read through its dm-verity tree when a root hash is given (or signed): a\n"
		"block that does not verify stops it with exit 1 naming the block.\n",
	.run = decrypt_main,
};
