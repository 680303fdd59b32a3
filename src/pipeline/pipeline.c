/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - one filesystem's object, the open, volume and publish steps, the teardown, and
 * the failure message both front-ends print (pipeline.h). The attest, token and release steps
 * are in key.c, the stack builder in stack.c, the likely causes in explain.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_internal.h"
#include "sealmount/http.h"
#include "sealmount/log.h"

static const char *const step_names[PL_STEP__MAX] = {
	[PL_STEP_ATTEST] = "attest",   [PL_STEP_TOKEN] = "token",
	[PL_STEP_RELEASE] = "release", [PL_STEP_OPEN] = "open",
	[PL_STEP_SEAL] = "seal",       [PL_STEP_VOLUME] = "volume",
	[PL_STEP_PUBLISH] = "publish", [PL_STEP_TEARDOWN] = "teardown",
};

const char *pl_step_name(enum pl_step s)
{
	return (unsigned)s < PL_STEP__MAX ? step_names[s] : "?";
}

void pl_spec_init(struct pl_spec *s)
{
	*s = (struct pl_spec){ .src = { .cache_mb = PL_CACHE_DEFAULT_MB },
			       .release = { .enc = UNWRAP_ENC_RSA_AES_KEY_WRAP_256 },
			       .engine = VOLUME_ENGINE_AUTO };
	luks2_policy_init(&s->policy);
}

/* ---- the filesystem object ---- */

int pl_fs_new(const struct pl_spec *spec, struct http_client *http, struct pl_fs **ret)
{
	struct pl_fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return -ENOMEM;
	fs->spec = spec;
	fs->http = http;
	*ret = fs;
	return 0;
}

void pl_fs_observe(struct pl_fs *fs, pl_observer_fn fn, void *userdata)
{
	fs->observer = fn;
	fs->observer_data = userdata;
}

void pl_fs_free(struct pl_fs *fs)
{
	if (!fs)
		return;
	(void)pl_teardown(fs);
	attest_result_done(&fs->own_att);
	free(fs);
}

void pl_http_why(struct diag *d, int err)
{
	const char *why = http_last_error(err);

	if (*why && !strstr(d->text, why))
		diag_append(d, "%s", why);
}

int pl_fail(struct pl_fs *fs, enum pl_step s, int err, const struct diag *d)
{
	fs->fail = (struct pl_failure){ .step = s, .err = err };
	if (d)
		fs->fail.diag = *d;
	pl_http_why(&fs->fail.diag, err);
	log_debug("pipeline: filesystem %u: step %s failed: %s", fs->spec->index, pl_step_name(s),
		  diag_or_strerror(d, err));
	return err;
}

void pl_done(struct pl_fs *fs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vformat(fs->done_text, sizeof(fs->done_text), 0, fmt, ap);
	va_end(ap);
	log_debug("pipeline: filesystem %u: %s", fs->spec->index, fs->done_text);
}

void pl_warn(struct pl_fs *fs, unsigned kind, const char *fmt, ...)
{
	va_list ap;

	if (fs->warned & kind)
		return;
	fs->warned |= kind;
	va_start(ap, fmt);
	log_vformat(fs->warning, sizeof(fs->warning), 0, fmt, ap);
	va_end(ap);
	fs->warning_pending = true;
}

const struct pl_failure *pl_fs_failure(const struct pl_fs *fs)
{
	return &fs->fail;
}

const char *pl_fs_done_text(const struct pl_fs *fs)
{
	return fs->done_text;
}

const char *pl_fs_take_warning(struct pl_fs *fs)
{
	if (!fs->warning_pending)
		return NULL;
	fs->warning_pending = false;
	return fs->warning;
}

struct volume *pl_fs_volume(const struct pl_fs *fs)
{
	return fs->vol;
}

struct bdev *pl_fs_blob(const struct pl_fs *fs)
{
	return fs->vol ? fs->stack.blob : NULL;
}

struct bdev *pl_fs_cache(const struct pl_fs *fs)
{
	return fs->vol ? fs->stack.cache : NULL;
}

struct secret *pl_fs_take_passphrase(struct pl_fs *fs)
{
	return TAKE_PTR(fs->pass);
}

void pl_failure_message(const struct pl_failure *f, unsigned index, const char *mount_point,
			char *buf, size_t len)
{
	char who[320] = "";

	if (mount_point)
		(void)snprintf(who, sizeof(who), "Filesystem %u (%s): ", index, mount_point);
	(void)snprintf(buf, len, "%sstep '%s' failed: %s. Likely causes: %s", who,
		       pl_step_name(f->step), diag_or_strerror(&f->diag, f->err),
		       pl_explain_diag(f->step, &f->diag, f->err));
}

/* ---- open, volume, publish ---- */

int pl_open(struct pl_fs *fs)
{
	struct pl_source src = fs->spec->src;
	struct diag d = { 0 };
	int r;

	pl_begin(fs, PL_STEP_OPEN);
	src.rw = fs->spec->rw;
	r = pl_stack_open(&src, fs->http, &fs->stack, &d);
	if (r < 0)
		return pl_fail(fs, PL_STEP_OPEN, r, &d);
	pl_done(fs, "opened the image (%s%s%s, %llu bytes)", fs->stack.blob ? "blob" : "file",
		fs->stack.disk ? " > disk cache" : "", fs->stack.cache ? " > cache" : "",
		(unsigned long long)bdev_size(fs->stack.top));
	return 0;
}

static void volume_options_from(const struct pl_spec *s, struct volume_options *o,
				const struct volume_seal *seal)
{
	*o = (struct volume_options){ .mount_point = s->mount_point,
				      .index = s->index,
				      .engine = s->engine,
				      .block = s->block,
				      .rw = s->rw,
				      .fs_type = s->fs_type,
				      .policy = s->policy,
				      .integrity_journal = s->integrity_journal,
				      .work_dir = s->work_dir,
				      .no_fsck = s->no_fsck,
				      .seal = seal };
}

/* Say which image, and the usual mistake behind a rejected key file. */
static void explain_volume(const struct pl_fs *fs, int r, struct diag *d)
{
	const char *src = fs->spec->src.url;

	if (r == -EBADMSG || r == -EPERM)
		diag_prefix(d, "%.*s", (int)strcspn(src, "?"), src);
	if (r == -EKEYREJECTED && fs->key_file_newline)
		diag_append(d,
			    "the key file %s ends with a newline, and a key file is used byte for "
			    "byte (as cryptsetup --key-file does): if the key was written with "
			    "echo, write it with printf or echo -n",
			    fs->spec->key_file);
}

int pl_volume(struct pl_fs *fs)
{
	struct volume_options vo;
	struct volume_status st;
	struct diag d = { 0 };
	int r;

	pl_begin(fs, PL_STEP_VOLUME);
	if (!fs->pass || !fs->stack.top || !fs->spec->mount_point)
		return pl_fail(fs, PL_STEP_VOLUME, -EINVAL,
			       &(struct diag){ .text = "volume before release and open" });
	volume_options_from(
		fs->spec, &vo,
		fs->sealed ? &(struct volume_seal){ .img = &fs->seal_img, .root = fs->seal_root } :
			     NULL);
	/* volume_open() takes the stack in every case; the passphrase is wiped right after. */
	r = volume_open(TAKE_PTR(fs->stack.top), fs->pass, &vo, &fs->vol, &d);
	secret_free(TAKE_PTR(fs->pass));
	if (r < 0) {
		fs->stack.blob = fs->stack.disk = fs->stack.cache = NULL;
		explain_volume(fs, r, &d);
		return pl_fail(fs, PL_STEP_VOLUME, r, &d);
	}
	volume_get_status(fs->vol, &st);
	if (st.hdr->segment.integrity == LUKS2_INTEGRITY_NONE)
		pl_warn(fs, PL_WARN_NO_INTEGRITY,
			"the image has no integrity protection (a Microsoft-style image, accepted "
			"because require_integrity is off): a modified sector decrypts to garbage "
			"instead of failing");
	pl_done(fs, "%s %s (%s engine, %s block layer, %s) at %s",
		st.fuse2fs ? "served by fuse2fs:" : "mounted", st.device,
		volume_engine_name(st.engine), volume_block_name(st.block),
		st.rw ? "read-write" : "read-only", st.mount_path);
	return 0;
}

int pl_publish(struct pl_fs *fs)
{
	struct diag d = { 0 };
	int r;

	pl_begin(fs, PL_STEP_PUBLISH);
	if (!fs->vol)
		return pl_fail(fs, PL_STEP_PUBLISH, -EINVAL,
			       &(struct diag){ .text = "publish before the volume step" });
	r = volume_publish(fs->vol, &d);
	if (r == 0)
		r = pl_record_write(fs, &d);
	if (r < 0)
		return pl_fail(fs, PL_STEP_PUBLISH, r, &d);
	pl_done(fs, "published %s", fs->spec->mount_point);
	return 0;
}

int pl_teardown(struct pl_fs *fs)
{
	struct diag d = { 0 };
	int r = 0;

	if (fs->vol) {
		pl_begin(fs, PL_STEP_TEARDOWN);
		r = volume_close(TAKE_PTR(fs->vol), &d);
		if (r < 0)
			(void)pl_fail(fs, PL_STEP_TEARDOWN, r, &d);
	}
	if (r == 0)
		pl_record_remove(
			fs); /* a failed teardown keeps it: the leftovers are named there */
	pl_stack_close(&fs->stack);
	pl_vault_close(&fs->vault);
	secret_free(TAKE_PTR(fs->pass));
	return r;
}
