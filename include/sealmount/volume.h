/* SPDX-License-Identifier: MIT */
/*
 * volume.h - the "open" and "publish" boxes of the pipeline (docs/README.md): take a block stack
 * holding a LUKS2 image (blob ▸ cache, or a local file) and a passphrase, validate the header
 * (luks2.h, before any key is used), make the plaintext filesystem available with one of the
 * engines, mount it and publish it the way Microsoft's sidecar does (docs/sidecar-config.md,
 * Publication): mounted at <parent of mount_point>/.filesystem-<index>, then an atomic relative
 * symlink at mount_point, so app containers see the files through the shared emptyDir.
 *
 * Engines:
 *   kernel  the stack is exposed as a block device - a file through FUSE (fusefs.h) in a private
 *           directory put on a loop device, or /dev/nbdN from the in-process NBD server
 *           (nbd.h) - and libcryptsetup activates dm-integrity + dm-crypt from the validated
 *           in-memory header copy used as a detached header (no second read of the header); the
 *           dm tables are read back and checked against what was validated; the kernel mounts
 *           the filesystem.
 *   user    the `luks` layer (luks.h) decrypts and verifies in userspace; its plaintext device is
 *           exposed through FUSE and mounted through a loop device, or - rootless, where no
 *           loop device or mount privilege exists - served file by file with fuse2fs (a child
 *           process, `fuse2fs -f`, stopped by the unmount step).
 *   auto    kernel when device-mapper answers and has the crypt (and, for integrity images,
 *           integrity) targets, else user.
 *
 * Kernel activation flags: dm-integrity without journal (CRYPT_ACTIVATE_NO_JOURNAL) unless
 * integrity_journal is set (a persistent "no-journal" header flag wins); read-only for ro;
 * dm-crypt without its read/write work queues where the kernel supports that. After activation
 * the dm-integrity and dm-crypt tables are read back (libdevmapper) and compared field by field
 * with the validated header: cipher, key size, iv offset, lower device, data offset, tag size,
 * sector size, integrity mode (J or D, never R/B) and options from a small known set.
 *
 * Mounts: read-only MS_RDONLY|MS_NODEV|MS_NOSUID with "noload" for ext3/ext4; read-write
 * MS_NODEV|MS_NOSUID. The FUSE file lives in <work_dir>/<index>/data (mode 0700 directories).
 *
 * Authentication failures: the kernel fails a read of a block whose tag does not verify with
 * EILSEQ (dm-crypt's BLK_STS_PROTECTION, docs/dm-crypt.md, Per-sector processing); through ext4 a
 * file read may surface as EIO instead. The user engine returns -EILSEQ from the luks layer, which
 * reaches a reader as EIO through the loop device and ext4. Callers and tests accept both; never
 * other data.
 *
 * Steps: volume_open() validates, activates and mounts at <parent>/.filesystem-<index>;
 * volume_publish() then makes the symlink at mount_point (the pipeline's "volume" and "publish"
 * steps, pipeline.h).
 *
 * Ownership: volume_open() takes ownership of the stack (also on failure) and copies nothing of
 * the passphrase beyond the call (it is wiped inside libcryptsetup / the luks layer).
 * volume_close() tears down in this order - unmount, unpublish, deactivate dm devices (dm-crypt,
 * dm-integrity, then dm-verity), detach the block device (loop, or NBD: disconnect, then the
 * server's connections end), flush and unmount the FUSE file, free the stack (releasing a blob
 * lease) - and
 * every step runs even when an earlier one failed; the first error is returned. A failure
 * half-way in volume_open() runs the same teardown for what was set up.
 *
 * Errors: luks2.h's (-EBADMSG, -EPERM for policy), -EKEYREJECTED (wrong passphrase),
 * -EROFS (rw over a read-only stack), -EINVAL (mount point not absolute, bad fs_type/name),
 * -EEXIST (mount_point exists and is neither an empty directory nor an earlier link),
 * -ENODEV (the engine is not available: no device-mapper / loop / fuse), -EPROTO (the dm tables
 * read back differ from the header), -EBUSY (mount point in use), mount(2)'s -errno, -ENOMEM.
 * Nothing is logged above debug level: what failed and what to check is written into the
 * caller's struct diag (diag.h; may be NULL), for the coordinator to log once.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/diag.h"
#include "sealmount/luks2.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"
#include "sealmount/verity.h"

enum volume_engine { VOLUME_ENGINE_AUTO = 0, VOLUME_ENGINE_KERNEL, VOLUME_ENGINE_USER };

/* How the stack reaches the kernel as a block device (docs/nbd.md): a FUSE file on a loop
 * device, or the in-process NBD server on /dev/nbdN (the kernel's NBD client over netlink, a
 * socketpair: no helper process, no TCP). auto: nbd where the kernel has it, else fuse. */
enum volume_block { VOLUME_BLOCK_AUTO = 0, VOLUME_BLOCK_FUSE, VOLUME_BLOCK_NBD };

/* A sealed image (docs/verity.md): the geometry verity_locate() found on the stack and the
 * trusted root hash (pinned, or signed by the publisher). */
struct volume_seal {
	const struct verity_image *img;
	const uint8_t *root; /* VERITY_DIGEST_SIZE bytes */
};

struct volume_options {
	const char *mount_point; /* the published path (a symlink is created here) */
	unsigned index; /* i in <parent>/.filesystem-<i>; unique per process */
	enum volume_engine engine;
	bool rw;
	const char *fs_type; /* NULL = "ext4" */
	struct luks2_policy policy; /* header validation policy */
	bool integrity_journal; /* dm-integrity journal (default off: no-journal, as MS) */
	const char *name; /* dm device name prefix; NULL = "sealmount" */
	const char *work_dir; /* private dir for the FUSE file (<work_dir>/<index>/data);
			       * NULL = /run/sealmount */
	/* The stack is a sealed image to be read only through its dm-verity tree: the user
	 * engine puts the `verity` layer under `luks`, the kernel engine dm-verity under
	 * dm-crypt. The header is read through the tree too. A seal satisfies
	 * policy.require_integrity. Read-only (rw: -EROFS). NULL: not sealed. */
	const struct volume_seal *seal;
	enum volume_block block;
	unsigned nbd_timeout_s; /* an NBD request unanswered this long fails with EIO; 0 = 120 */
};

struct volume;

/* Validate, activate, mount (not yet published). On 0 the caller owns *ret (volume_close). */
_must_check_ int volume_open(struct bdev *stack, const struct secret *passphrase,
			     const struct volume_options *o, struct volume **ret, struct diag *d)
	_nonnull_(1, 2, 3, 4);

/* Publish the mounted volume: the relative symlink mount_point -> .filesystem-<index>, made
 * atomically. -EEXIST when mount_point exists and is not an earlier link of ours. */
_must_check_ int volume_publish(struct volume *v, struct diag *d) _nonnull_(1);

/* Flush and tear everything down (see above). NULL-safe; returns 0 or the first error (every
 * failed step is described in d, which may be NULL). */
int volume_close(struct volume *v, struct diag *d);

struct volume_status {
	enum volume_engine engine; /* the engine actually used */
	bool rw;
	const char *mount_path; /* <parent>/.filesystem-<i> */
	const char *device; /* /dev/mapper/NAME, /dev/loopN or the FUSE file */
	bool fuse2fs; /* served file by file by fuse2fs (rootless), not mounted by the kernel */
	enum volume_block block; /* the block layer actually used: FUSE or NBD */
	unsigned nbd_connections, nbd_live; /* NBD: sockets, and those the kernel still uses */
	uint64_t size; /* plaintext bytes */
	uint64_t integrity_errors; /* user engine: luks_stats; kernel: dm-integrity's counter */
	const struct luks2_hdr *hdr; /* the validated header */
};
/*
 * Crash records (docs/sidecar-config.md, "Recovery"). volume_record(): what v holds in the
 * system - the mount (by mount id), the link, the dm, loop and NBD devices, the FUSE mount,
 * fuse2fs - as JSON for a state file (no secret in it). volume_recover(): undo exactly what such a
 * record names, for a process that died without tearing down: each step checks that the thing
 * is still the recorded one (mount id, link target, loop backing file, NBD backend name) and
 * leaves anything else alone; nothing blocks (unmounts are lazy, busy devices are retried a
 * few times). progress (may be NULL) is told each step. 0, or the first error (all steps run;
 * each failure described in d).
 */
_must_check_ int volume_record(struct volume *v, json_t **ret) _nonnull_(1, 2);
_must_check_ int volume_recover(const json_t *record, void (*progress)(void *, const char *),
				void *userdata, struct diag *d);

/* A snapshot for health reporting; pointers stay valid until volume_close(). */
void volume_get_status(struct volume *v, struct volume_status *ret) _nonnull_(1, 2);

const char *volume_engine_name(enum volume_engine e);
/* "auto", "fuse", "nbd" */
const char *volume_block_name(enum volume_block b);
