/* SPDX-License-Identifier: MIT */
/*
 * volume.c - validate, activate, mount, publish; and the teardown that undoes it in order
 * (volume.h). Each step is a small module (activate.c, loopdev.c, publish.c, fusefs.c); what
 * failed is written into the caller's struct diag (diag.h), never logged above debug here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "sealmount/diag.h"
#include "sealmount/fsutil.h"
#include "sealmount/fusefs.h"
#include "sealmount/log.h"
#include "sealmount/luks.h"
#include "sealmount/nbd.h"
#include "sealmount/verity_dm.h"
#include "volume_internal.h"

#define VOLUME_WORK_DIR "/run/sealmount"
#define VOLUME_NAME "sealmount"

struct volume {
	struct bdev *stack; /* the image (blob > cache, or a file): owned, freed last */
	/* What the header is read from and the luks layer sits on: a borrowed view of stack,
	 * through the verity layer for a sealed image. Owned until the luks layer takes it. */
	struct bdev *base;
	struct bdev *verity; /* borrowed: the verity layer inside base (stats), or NULL */
	const struct volume_seal *seal; /* borrowed during volume_open only */
	struct verity_dm *vdm; /* kernel engine, sealed image: dm-verity under dm-crypt */
	struct bdev *plain; /* user engine: the luks layer over base (owns it) */
	struct bdev *guard; /* user engine: vol_guard_new() over plain, what FUSE serves */
	struct bdev *exposed; /* what the FUSE file serves: stack (kernel) or guard (user) */
	struct luks2_hdr *hdr;
	enum volume_engine engine;
	bool rw;
	char *fs_type;
	char *fuse_dir; /* <work_dir>/<index>: the FUSE mount with the file "data" */
	char *data_path;
	struct fusefs *fs;
	pthread_t fuse_thread;
	bool fuse_running;
	int fuse_result;
	struct vol_loop loop;
	enum volume_block block; /* FUSE + loop, or NBD */
	struct nbd_server *nbd;
	struct nbd_kernel *nbdk; /* /dev/nbdN */
	const char *block_dev; /* the stack as a block device: loop.path or /dev/nbdN */
	struct vol_dm *dm;
	const char *mount_dev; /* what is mounted: /dev/mapper/NAME or /dev/loopN */
	pid_t fuse2fs; /* user engine without loop/mount privilege: the fuse2fs server */
	struct vol_paths paths;
	bool mounted;
	bool published;
	char name[96];
	struct diag *diag; /* where the call in progress (open, publish, close) reports */
};

const char *volume_block_name(enum volume_block b)
{
	switch (b) {
	case VOLUME_BLOCK_AUTO:
		return "auto";
	case VOLUME_BLOCK_FUSE:
		return "fuse";
	case VOLUME_BLOCK_NBD:
		return "nbd";
	}
	return "?";
}

const char *volume_engine_name(enum volume_engine e)
{
	switch (e) {
	case VOLUME_ENGINE_AUTO:
		return "auto";
	case VOLUME_ENGINE_KERNEL:
		return "kernel";
	case VOLUME_ENGINE_USER:
		return "user";
	}
	return "?";
}

/* ---- teardown ---- */

int vol_run_steps(const struct vol_step *steps, size_t n, void *ctx, struct diag *d)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		int r = steps[i].fn(ctx);

		if (r < 0) {
			char what[160];

			(void)snprintf(what, sizeof(what), "teardown step '%s' failed",
				       steps[i].name);
			if (first == 0)
				diag_set(d, r, "%s: %m", what);
			else
				diag_append(d, "%s: %s (continuing)", what, strerror(-r));
			if (first == 0)
				first = r;
		}
	}
	return first;
}

static int step_unmount(void *ctx)
{
	struct volume *v = ctx;
	int r;

	if (!v->mounted)
		return 0;
	r = v->fuse2fs > 0 ? vol_fuse2fs_stop(&v->paths, v->fuse2fs, v->guard) :
			     vol_umount(&v->paths);
	if (r < 0)
		return r;
	v->mounted = false;
	(void)vol_fs_dir_remove(&v->paths);
	return 0;
}

static int step_unpublish(void *ctx)
{
	struct volume *v = ctx;

	if (!v->paths.mount_point)
		return 0;
	v->published = false;
	return vol_unpublish_link(&v->paths);
}

static int step_deactivate(void *ctx)
{
	struct volume *v = ctx;
	int r = vol_dm_deactivate(TAKE_PTR(v->dm));
	int r2 = verity_dm_deactivate(TAKE_PTR(v->vdm)); /* it is below dm-crypt */

	return r < 0 ? r : r2;
}

/* The loop device, or the NBD device: NBD_CMD_DISCONNECT, then the server's connections end. */
static int step_detach_device(void *ctx)
{
	struct volume *v = ctx;
	int r = vol_loop_detach(&v->loop);
	int r2 = nbd_kernel_detach(TAKE_PTR(v->nbdk), v->diag);

	nbd_server_free(TAKE_PTR(v->nbd));
	v->block_dev = NULL;
	return r < 0 ? r : r2;
}

static int step_fuse(void *ctx)
{
	struct volume *v = ctx;
	int r = 0, r2;

	if (v->rw && v->exposed) {
		r = bdev_flush(v->exposed);
		if (r < 0)
			diag_set(v->diag, r, "Cannot write the image back: %m");
	}
	if (v->fuse_running) {
		/* The loop sees ENODEV and fusefs_run() returns. */
		r2 = vol_fuse_unmount(v->fuse_dir);
		if (r2 < 0) {
			r = r ?: r2;
			(void)umount2(v->fuse_dir, MNT_DETACH);
		}
		(void)pthread_join(v->fuse_thread, NULL);
		v->fuse_running = false;
	}
	fusefs_free(TAKE_PTR(v->fs));
	if (v->fuse_dir)
		(void)rmdir(v->fuse_dir);
	return r;
}

static int step_stack(void *ctx)
{
	struct volume *v = ctx;

	/* The guard borrows the luks layer, which owns base (a view of stack). */
	bdev_free(TAKE_PTR(v->guard));
	bdev_free(TAKE_PTR(v->plain));
	bdev_free(TAKE_PTR(v->base));
	bdev_free(TAKE_PTR(v->stack));
	v->exposed = v->verity = NULL;
	return 0;
}

/* The order is the one volume.h documents (tests read this very table). */
const struct vol_step vol_teardown[] = {
	{ "unmount", step_unmount },	      { "unpublish", step_unpublish },
	{ "deactivate-dm", step_deactivate }, { "detach-device", step_detach_device },
	{ "unmount-fuse", step_fuse },	      { "release-stack", step_stack },
};
const size_t vol_teardown_len = ELEMENTSOF(vol_teardown);

int volume_close(struct volume *v, struct diag *d)
{
	int r;

	if (!v)
		return 0;
	v->diag = d;
	r = vol_run_steps(vol_teardown, vol_teardown_len, v, d);
	luks2_hdr_free(v->hdr);
	vol_paths_done(&v->paths);
	free(v->fs_type);
	free(v->fuse_dir);
	free(v->data_path);
	free(v);
	return r;
}
/* For the cleanup attribute in volume_open(): its failure already holds what went wrong. */
static void volume_closep(struct volume **v)
{
	if (*v)
		(void)volume_close(*v, (*v)->diag);
}

/* ---- open ---- */

static void *fuse_main_thread(void *arg)
{
	struct volume *v = arg;
	sigset_t all;

	/* Signals are for the coordinating thread. */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, NULL);
	v->fuse_result = fusefs_run(v->fs);
	return NULL;
}

static bool is_simple_name(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* The stack as /dev/nbdN: the in-process server, attached to the kernel's NBD client. */
static int expose_nbd(struct volume *v, const struct volume_options *o)
{
	int r;

	r = nbd_server_new(
		v->exposed,
		&(struct nbd_server_options){ .writable = v->rw, .description = v->name }, &v->nbd);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot set up the NBD server: %m");
	r = nbd_kernel_attach(v->nbd,
			      &(struct nbd_kernel_options){
				      .index = -1,
				      .connections = 2,
				      .timeout_s = o->nbd_timeout_s ? o->nbd_timeout_s : 120,
				      .backend = v->name },
			      &v->nbdk, v->diag);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot attach the image to an NBD device: %m");
	v->block_dev = nbd_kernel_device(v->nbdk);
	return 0;
}

static int expose_fuse(struct volume *v, const struct volume_options *o, unsigned index)
{
	const char *base = o->work_dir ? o->work_dir : VOLUME_WORK_DIR;
	struct fusefs_options fo = { .rw = v->rw, .fsname = v->name };
	int r;

	r = fs_mkdir_private(base);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot create the work directory %s: %m", base);
	if (asprintf(&v->fuse_dir, "%s/%u", base, index) < 0) {
		v->fuse_dir = NULL;
		return diag_set(v->diag, -ENOMEM, "Out of memory");
	}
	if (asprintf(&v->data_path, "%s/%s", v->fuse_dir, FUSEFS_FILE_NAME) < 0) {
		v->data_path = NULL;
		return diag_set(v->diag, -ENOMEM, "Out of memory");
	}
	r = fs_mkdir_private(v->fuse_dir);
	if (r == 0 && vol_is_mount_point(v->fuse_dir))
		r = -EBUSY;
	if (r < 0)
		return diag_set(v->diag, r,
				"Cannot use %s for the image file: %m (another mount "
				"with index %u?)",
				v->fuse_dir, index);
	r = fusefs_new(v->exposed, v->fuse_dir, &fo, &v->fs);
	if (r < 0)
		return diag_set(v->diag, r,
				"Cannot expose the image through FUSE at %s: %m "
				"(is /dev/fuse available?)",
				v->fuse_dir);
	r = -pthread_create(&v->fuse_thread, NULL, fuse_main_thread, v);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot start the FUSE thread: %m");
	v->fuse_running = true;
	return 0;
}

/* The stack reaches the kernel through FUSE (+ a loop device later) or NBD (block.h above). */
static int expose_stack(struct volume *v, const struct volume_options *o, unsigned index)
{
	bool nbd_here = nbd_kernel_available();

	if (o->block == VOLUME_BLOCK_NBD && !nbd_here)
		return diag_set(v->diag, -ENODEV,
				"The nbd block layer needs the kernel's NBD client (module nbd, "
				"root); use block fuse or auto");
	v->block = o->block == VOLUME_BLOCK_NBD || (o->block == VOLUME_BLOCK_AUTO && nbd_here) ?
			   VOLUME_BLOCK_NBD :
			   VOLUME_BLOCK_FUSE;
	log_debug("volume: %s block layer", volume_block_name(v->block));
	return v->block == VOLUME_BLOCK_NBD ? expose_nbd(v, o) : expose_fuse(v, o, index);
}

/* The stack as a block device: NBD has it already, FUSE needs a loop device on its file. */
static int block_device(struct volume *v)
{
	int r;

	if (v->block == VOLUME_BLOCK_NBD)
		return 0;
	r = vol_loop_attach(v->data_path, v->rw, &v->loop);
	if (r < 0)
		return r;
	v->block_dev = v->loop.path;
	return 0;
}

/* v->base: a view of the stack - through the verity layer for a sealed image, checked against
 * the trusted root hash from the first block (the LUKS2 header) on. */
static int make_base(struct volume *v)
{
	struct bdev *view = NULL;
	int r;

	r = bdev_borrow_new(v->stack, &view);
	if (r < 0)
		return diag_set(v->diag, r, "Out of memory");
	if (!v->seal) {
		v->base = view;
		return 0;
	}
	r = verity_open(view, v->seal->img, v->seal->root, NULL, &v->base, v->diag);
	if (r < 0)
		return diag_set(v->diag, r,
				"The image does not match its pinned root hash: %m (another or an "
				"older image, or tampered)");
	v->verity = v->base;
	return 0;
}

static int load_header(struct volume *v, const struct volume_options *o)
{
	struct luks2_verdict verdict = { 0 };
	struct luks2_policy policy = o->policy;
	int r;

	/* A seal authenticates every byte, as dm-integrity would. */
	if (v->seal)
		policy.require_integrity = false;
	r = luks2_hdr_load(v->base, &policy, &v->hdr, &verdict);
	if (r == -EBADMSG || r == -EPERM)
		return diag_set(v->diag, r, "LUKS2 header refused by rule %s: %s", verdict.rule,
				verdict.detail);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot read the LUKS2 header: %m");
	r = luks2_hdr_load_keyslots(v->hdr, v->base);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot read the LUKS2 keyslots area: %m");
	return 0;
}

static int choose_engine(struct volume *v, enum volume_engine want)
{
	bool need_integrity = v->hdr->segment.integrity != LUKS2_INTEGRITY_NONE;
	bool dm = want != VOLUME_ENGINE_USER && vol_dm_usable(need_integrity);

	if (want == VOLUME_ENGINE_KERNEL && !dm)
		return diag_set(v->diag, -ENODEV,
				"The kernel engine needs device-mapper with the crypt%s "
				"target (/dev/mapper/control, modules dm-crypt%s); "
				"--engine user works without",
				need_integrity ? " and integrity" : "",
				need_integrity ? ", dm-integrity" : "");
	v->engine = dm ? VOLUME_ENGINE_KERNEL : VOLUME_ENGINE_USER;
	log_debug("volume: %s engine", volume_engine_name(v->engine));
	return 0;
}

static int passphrase_error(struct volume *v, int r)
{
	if (r == -EKEYREJECTED)
		return diag_set(v->diag, r,
				"Wrong passphrase: no keyslot of the image opens with "
				"the key given (check the key file / released key)");
	return r;
}

/* User engine, before the FUSE file exists: the luks layer (over base) becomes what FUSE
 * serves. */
static int unlock_user(struct volume *v, const struct secret *pass)
{
	int r;

	v->exposed = NULL;
	r = vol_user_open(TAKE_PTR(v->base), v->hdr, pass, v->rw, &v->plain);
	if (r == -EKEYREJECTED)
		return passphrase_error(v, r);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot open the image with the userspace engine: %m%s",
				r == -ENOMEM || r == -EPERM || r == -EAGAIN ?
					" (locking the key schedules in memory needs root or "
					"CAP_IPC_LOCK)" :
					"");
	r = vol_guard_new(v->plain, &v->guard);
	if (r < 0)
		return diag_set(v->diag, r, "Out of memory");
	v->exposed = v->guard;
	return 0;
}

/* User engine, once the FUSE file exists: a loop device to mount, else fuse2fs. */
static int attach_user(struct volume *v)
{
	int r;

	r = block_device(v);
	if (r == -ENODEV || r == -EACCES || r == -EPERM) {
		log_debug("No loop device (%s): serving the filesystem with fuse2fs", strerror(-r));
		return 0;
	}
	if (r < 0)
		return diag_set(v->diag, r, "Cannot attach %s to a loop device: %m", v->data_path);
	v->mount_dev = v->block_dev;
	return 0;
}

/* Kernel engine, sealed image: dm-verity over the loop device (the whole sealed image), the
 * verified data area for dm-crypt to sit on. */
static int activate_verity(struct volume *v)
{
	char name[sizeof(v->name) + 8];
	int r;

	(void)snprintf(name, sizeof(name), "%s_verity", v->name);
	r = verity_dm_activate(&(struct verity_dm_args){ .name = name,
							 .device = v->block_dev,
							 .img = v->seal->img,
							 .root_hash = v->seal->root },
			       &v->vdm, v->diag);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot activate dm-verity for %s: %m", v->block_dev);
	return 0;
}

static int activate_kernel(struct volume *v, const struct secret *pass,
			   const struct volume_options *o)
{
	struct vol_activate_args a = { .readonly = !v->rw, .journal = o->integrity_journal };
	char why[160] = "";
	int r;

	r = block_device(v);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot attach %s to a loop device: %m", v->data_path);
	a.name = v->name;
	a.data_device = v->block_dev;
	if (v->seal) {
		r = activate_verity(v);
		if (r < 0)
			return r;
		a.data_device = verity_dm_device(v->vdm);
	}
	r = vol_dm_activate(v->hdr, pass, &a, &v->dm, why, sizeof(why));
	if (r == -EKEYREJECTED)
		return passphrase_error(v, r);
	if (r == -EPROTO)
		return diag_set(v->diag, r,
				"The device-mapper tables differ from the validated "
				"header (%s): deactivated",
				why);
	if (r == -EEXIST)
		return diag_set(v->diag, r, "A device-mapper device named %s already exists",
				v->name);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot activate dm-crypt%s for %s: %m",
				v->hdr->segment.integrity ? "/dm-integrity" : "", v->block_dev);
	v->mount_dev = vol_dm_device(v->dm);
	return 0;
}

static int mount_fs(struct volume *v)
{
	int r;

	if (v->mount_dev) {
		r = vol_mount_at(&v->paths, v->mount_dev, v->fs_type, v->rw);
		if (r == 0)
			return 0;
		if (r == -EBUSY)
			return diag_set(v->diag, r,
					"%s was replaced while the filesystem was mounted on it "
					"(another container changing the shared directory?): "
					"unmounted again",
					v->paths.fs_dir);
		if (v->engine == VOLUME_ENGINE_KERNEL || (r != -EPERM && r != -EACCES))
			return diag_set(v->diag, r, "Cannot mount %s (%s) at %s: %m", v->mount_dev,
					v->fs_type, v->paths.fs_dir);
		log_debug("No mount privilege: serving the filesystem with fuse2fs");
		(void)vol_loop_detach(&v->loop);
	}
	if (!streq(v->fs_type, "ext4") && !streq(v->fs_type, "ext3") && !streq(v->fs_type, "ext2"))
		return diag_set(v->diag, -ENOTSUP, "fuse2fs serves only ext2/3/4, not %s",
				v->fs_type);
	r = vol_fuse2fs_start(v->data_path, &v->paths, v->rw, v->guard, &v->fuse2fs);
	if (r < 0)
		return diag_set(v->diag, r,
				"Cannot serve %s with fuse2fs: %m (is the fuse2fs "
				"package installed?)",
				v->data_path);
	v->mount_dev = v->data_path;
	return 0;
}

static int mount_here(struct volume *v)
{
	int r;

	r = vol_fs_dir_prepare(&v->paths);
	if (r < 0)
		return diag_set(v->diag, r, "Cannot use %s as the mount directory: %m",
				v->paths.fs_dir);
	r = mount_fs(v);
	if (r < 0)
		return r;
	v->mounted = true;
	return 0;
}

static int volume_new(struct bdev *stack, const struct volume_options *o, struct diag *d,
		      struct volume **ret)
{
	const char *fs_type = o->fs_type ? o->fs_type : "ext4";
	const char *prefix = o->name ? o->name : VOLUME_NAME;
	struct volume *v;
	int r;

	if (!is_simple_name(fs_type) || !is_simple_name(prefix)) {
		bdev_free(stack);
		return diag_set(d, -EINVAL, "Invalid filesystem type or device name");
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		bdev_free(stack);
		return diag_set(d, -ENOMEM, "Out of memory");
	}
	v->diag = d;
	v->stack = v->exposed = stack;
	v->loop.fd = -1;
	v->rw = o->rw;
	(void)snprintf(v->name, sizeof(v->name), "%s-%u", prefix, o->index);
	v->fs_type = strdup(fs_type);
	r = v->fs_type ? vol_paths_init(o->mount_point, o->index, &v->paths) : -ENOMEM;
	if (r < 0) {
		(void)volume_close(v, NULL);
		return diag_set(d, r, "Invalid mount point '%s': %m (an absolute path)",
				o->mount_point);
	}
	*ret = v;
	return 0;
}

int volume_open(struct bdev *stack, const struct secret *passphrase, const struct volume_options *o,
		struct volume **ret, struct diag *d)
{
	_cleanup_(volume_closep) struct volume *v = NULL;
	int r;

	r = volume_new(stack, o, d, &v);
	if (r < 0)
		return r;
	if (o->rw && !bdev_is_writable(stack))
		return diag_set(d, -EROFS, "A read-write mount needs a writable image");
	if (o->rw && o->seal)
		return diag_set(d, -EROFS,
				"A sealed image is read-only: mount it without read-write");
	v->seal = o->seal;
	r = make_base(v);
	if (r < 0)
		return r;
	r = load_header(v, o);
	if (r < 0)
		return r;
	r = choose_engine(v, o->engine);
	if (r < 0)
		return r;
	if (v->engine == VOLUME_ENGINE_USER) {
		r = unlock_user(v, passphrase);
		if (r < 0)
			return r;
	} else {
		/* The kernel reads the image itself (dm-verity checks a sealed one): the header
		 * copy it was validated from is all we keep. */
		bdev_free(TAKE_PTR(v->base));
		v->verity = NULL;
	}
	r = expose_stack(v, o, o->index);
	if (r < 0)
		return r;
	r = v->engine == VOLUME_ENGINE_KERNEL ? activate_kernel(v, passphrase, o) : attach_user(v);
	if (r < 0)
		return r;
	r = mount_here(v);
	if (r < 0)
		return r;
	log_debug("volume: %s mounted (%s engine, %s) at %s", v->mount_dev,
		  volume_engine_name(v->engine), v->rw ? "read-write" : "read-only",
		  v->paths.fs_dir);
	v->diag = NULL;
	v->seal = NULL; /* the caller's: not kept beyond this call */
	*ret = TAKE_PTR(v);
	return 0;
}

int volume_publish(struct volume *v, struct diag *d)
{
	int r;

	r = vol_publish_link(&v->paths);
	if (r < 0)
		return diag_set(d, r,
				"Cannot publish %s -> %s: %m (it must not exist, or be an earlier "
				"link of ours)",
				v->paths.mount_point, v->paths.link_target);
	v->published = true;
	/* The link is in place: the name it points to must still show our mount. */
	r = vol_mount_check(&v->paths);
	if (r < 0) {
		(void)vol_unpublish_link(&v->paths);
		v->published = false;
		return diag_set(d, r,
				"%s was replaced while %s was published (another container "
				"changing the shared directory?)",
				v->paths.fs_dir, v->paths.mount_point);
	}
	return 0;
}

static uint64_t user_errors(struct volume *v)
{
	struct luks_stats st;
	struct verity_stats vs;
	uint64_t n = v->plain && luks_get_stats(v->plain, &st) == 0 ? st.integrity_errors : 0;

	if (v->verity && verity_get_stats(v->verity, &vs) == 0)
		n += vs.failures;
	return n;
}

static uint64_t kernel_errors(struct volume *v)
{
	return vol_dm_integrity_failures(v->dm) + (v->vdm && verity_dm_corrupted(v->vdm) ? 1 : 0);
}

void volume_get_status(struct volume *v, struct volume_status *ret)
{
	*ret = (struct volume_status){
		.engine = v->engine,
		.rw = v->rw,
		.mount_path = v->paths.fs_dir,
		.device = v->mount_dev,
		.fuse2fs = v->fuse2fs > 0,
		.block = v->block,
		.nbd_connections = v->nbdk ? nbd_kernel_connections(v->nbdk) : 0,
		.nbd_live = v->nbdk ? nbd_kernel_live_connections(v->nbdk) : 0,
		.size = v->dm	 ? vol_dm_size(v->dm) :
			v->plain ? bdev_size(v->plain) :
				   0,
		.integrity_errors = v->dm ? kernel_errors(v) : user_errors(v),
		.hdr = v->hdr,
	};
}

/* The mount id of a directory we own (the FUSE directory); 0 when unknown. */
static uint64_t dir_mnt_id(const char *path)
{
	struct statx sx;

	if (!path || statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0 ||
	    !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return sx.stx_mnt_id;
}

int volume_record(struct volume *v, json_t **ret)
{
	char verity[sizeof(v->name) + 8];
	json_t *o;

	(void)snprintf(verity, sizeof(verity), "%s_verity", v->name);
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s?, s:I, s:s?, s:s?, s:i, s:s, s:s?, s:s?, s:i, "
		      "s:s, s:s}",
		      "parent", v->paths.parent, "fs_dir", v->paths.fs_dir, "link_target",
		      v->paths.link_target, "mount_point", v->paths.mount_point, "mnt_id",
		      (json_int_t)v->paths.mnt_id, "fuse_dir", v->fuse_running ? v->fuse_dir : NULL,
		      "fuse_mnt_id", (json_int_t)(v->fuse_running ? dir_mnt_id(v->fuse_dir) : 0),
		      "data_path", v->data_path, "loop", v->loop.fd >= 0 ? v->loop.path : NULL,
		      "nbd", v->nbdk ? (int)nbd_kernel_index(v->nbdk) : -1, "name", v->name, "dm",
		      v->dm ? v->name : NULL, "verity_dm", v->vdm ? verity : NULL, "fuse2fs",
		      (int)v->fuse2fs, "engine", volume_engine_name(v->engine), "block",
		      volume_block_name(v->block));
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}
