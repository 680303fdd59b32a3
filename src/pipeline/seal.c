/* SPDX-License-Identifier: MIT */
/*
 * seal.c - the pipeline's seal step (pipeline.h, docs/verity.md): is the image sealed, which
 * root hash is trusted (pinned in the spec, or signed by the publisher at or above the minimum
 * version), and does the image's tree lead to it - checked here, at its top hash block and the
 * first data block (the LUKS2 header), so that another, an older or a tampered image fails in
 * this step. The volume step then reads every block through the tree (volume.h's seal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "pipeline_internal.h"
#include "sealmount/codec.h"
#include "sealmount/verity_sig.h"

static bool is_pinned(const struct pl_spec *s)
{
	return s->root_hash || s->publisher_key || s->publisher_key_file;
}

/* The root hash the publisher signed, for a signed image. */
static int signed_root(struct pl_fs *fs, struct diag *d)
{
	const struct pl_spec *s = fs->spec;
	_cleanup_(verity_pubkey_freep) struct verity_pubkey *k = NULL;
	uint64_t version = 0;
	int r;

	r = s->publisher_key_file ?
		    verity_pubkey_load(s->publisher_key_file, &k, d) :
		    verity_pubkey_parse(s->publisher_key, strlen(s->publisher_key), &k, d);
	if (r < 0)
		return diag_set(d, r, "The publisher key is not usable: %m");
	r = verity_signed_root(fs->stack.top, &fs->seal_img, k, s->min_version, fs->seal_root,
			       &version, d);
	if (r == -ENOKEY)
		return diag_set(d, r,
				"The image is sealed but not signed, and a publisher key is "
				"pinned: sign it (`image sign`) or pin its root hash");
	if (r < 0)
		return r;
	pl_done(fs, "seal signed by the publisher, version %llu (at least %llu wanted)",
		(unsigned long long)version, (unsigned long long)s->min_version);
	return 0;
}

/* The tree's top block and the first data block against the trusted root, on a view of the
 * stack (the volume step opens its own layer). */
static int check_root(struct pl_fs *fs, struct diag *d)
{
	struct bdev *view = NULL, *layer = NULL;
	int r;

	r = bdev_borrow_new(fs->stack.top, &view);
	if (r < 0)
		return diag_set(d, r, "Out of memory");
	r = verity_open(view, &fs->seal_img, fs->seal_root, NULL, &layer, d);
	bdev_free(layer);
	if (r < 0)
		diag_prefix(d,
			    "The image does not lead to the trusted root hash (another, an older "
			    "or a tampered image)");
	return r;
}

/* A sealed image without a pinned root: its data area, read without the check. */
static int unchecked(struct pl_fs *fs, struct diag *d)
{
	struct bdev *data = NULL;
	int r;

	r = verity_open_unverified(TAKE_PTR(fs->stack.top), &fs->seal_img, &data);
	if (r < 0)
		return diag_set(d, r, "Cannot open the data area of the sealed image: %m");
	fs->stack.top = data; /* the blob and cache layers are still inside */
	pl_warn(fs, PL_WARN_SEAL_UNCHECKED,
		"the image is sealed, but no root hash or publisher key is pinned: its seal is not "
		"checked (sealmount.root_hash, --root-hash)");
	pl_done(fs, "sealed image, seal not checked");
	return 0;
}

int pl_seal(struct pl_fs *fs)
{
	const struct pl_spec *s = fs->spec;
	struct diag d = { 0 };
	char hex[2 * VERITY_DIGEST_SIZE + 1], how[sizeof(fs->done_text)];
	int r;

	pl_begin(fs, PL_STEP_SEAL);
	if (!fs->stack.top)
		return pl_fail(fs, PL_STEP_SEAL, -EINVAL,
			       &(struct diag){ .text = "seal before the open step" });
	r = verity_locate(fs->stack.top, &fs->seal_img, &d);
	if (r == -ENODATA && !is_pinned(s))
		return 0; /* not sealed, nothing pinned: nothing to do */
	if (r == -ENODATA)
		r = diag_set(&d, -EBADMSG,
			     "The image is not sealed, but a %s is pinned: a wrong image, or one "
			     "not sealed yet (`image seal`)",
			     s->root_hash ? "root hash" : "publisher key");
	if (r < 0)
		return pl_fail(fs, PL_STEP_SEAL, r, &d);
	if (!is_pinned(s))
		return unchecked(fs, &d) < 0 ? pl_fail(fs, PL_STEP_SEAL, d.err, &d) : 0;
	if (s->root_hash) {
		r = verity_root_parse(s->root_hash, fs->seal_root);
		if (r < 0)
			r = diag_set(&d, r, "The pinned root hash is not 64 hex digits");
		else
			pl_done(fs, "seal pinned by its root hash");
	} else {
		r = signed_root(fs, &d);
	}
	r = r ?: check_root(fs, &d);
	if (r < 0)
		return pl_fail(fs, PL_STEP_SEAL, r, &d);
	fs->sealed = true;
	hex_encode(fs->seal_root, 4, hex);
	memcpy(how, fs->done_text, sizeof(how));
	pl_done(fs, "%s; the tree leads to root %s... (%llu data blocks)", how, hex,
		(unsigned long long)fs->seal_img.g.data_blocks);
	return 0;
}
