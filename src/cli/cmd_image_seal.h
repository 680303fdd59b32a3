/* SPDX-License-Identifier: MIT */
/*
 * cmd_image_seal.h - sealed images in the CLI (verity.h, verity_sig.h, docs/verity.md):
 * `image seal` and `image sign` (cmd_image_seal.c), and the small seam `image inspect` and
 * `image decrypt` use to read a sealed image: its options (--root-hash, --publisher-key,
 * --min-version) and one call that puts the right view over the image's lower device.
 * Functions here log their errors once (they are CLI code).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/verity.h"
#include "sealmount/verity_sig.h"

/* `image seal` / `image sign` are cmd_image_seal and cmd_image_sign (cli.h). */

/* getopt_long entries for the seal options; codes IMAGE_VERITY_OPT_* (not ASCII letters). */
enum {
	IMAGE_VERITY_OPT_ROOT = 0x100,
	IMAGE_VERITY_OPT_KEY,
	IMAGE_VERITY_OPT_MIN,
};
/* clang-format off */
#define IMAGE_VERITY_OPTIONS							\
	{ "root-hash", required_argument, NULL, IMAGE_VERITY_OPT_ROOT },		\
	{ "publisher-key", required_argument, NULL, IMAGE_VERITY_OPT_KEY },		\
	{ "min-version", required_argument, NULL, IMAGE_VERITY_OPT_MIN }
/* clang-format on */

struct image_verity_args {
	const char *root_hex; /* --root-hash */
	const char *publisher_key; /* --publisher-key FILE (PEM or JWK) */
	uint64_t min_version; /* --min-version (default 0) */
};

/* Handle one getopt code: 0 = consumed, 1 = not a seal option, CLI_EXIT_USAGE on a bad value. */
int image_verity_opt(int c, const char *arg, const char *cmd, struct image_verity_args *a);

struct image_verity {
	const char *image; /* as given to image_verity_prepare() */
	bool sealed;
	struct verity_image img;
	bool root_known; /* given, or from a verified signature */
	uint8_t root[VERITY_DIGEST_SIZE];
	bool checked; /* the whole tree verified */
	bool has_sig; /* a signature block parsed */
	bool sig_verified;
	struct verity_sig sig;
	struct bdev *layer; /* the verity layer when opened: owned here (image_verity_done) */
};

/*
 * Put the view of a sealed image over *dev (replaced; owned as before): with a root hash (given,
 * or signed by --publisher-key at >= --min-version) the `verity` layer, checked whole first when
 * full_check; without one an UNVERIFIED view of the data area, with a warning when warn. An image
 * that is not sealed keeps *dev (seal options then fail: nothing to check). Logs; -errno.
 * The verity layer itself stays in ret (so its counters outlive whatever owns *dev, e.g. the luks
 * layer): *dev is a borrowing view of it. Release ret with image_verity_done() - after the last
 * read through *dev.
 */
int image_verity_prepare(struct bdev **dev, const char *image, const struct image_verity_args *a,
			 bool full_check, bool warn, struct image_verity *ret);
void image_verity_done(struct image_verity *v);
/* inspect's text lines and its "verity" JSON member (nothing for an image that is not sealed). */
void image_verity_print(const struct image_verity *v);
int image_verity_json(const struct image_verity *v, json_t *o);
/* After a failed read through the layer: log which block failed; true when it did. */
bool image_verity_explain(const struct image_verity *v);
