/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - one filesystem's way from configuration to a published mount, as steps that
 * both front-ends call in the same order (docs/README.md "The pipeline"):
 *
 *   attest   SNP report -> MAA token, with a fresh ephemeral key bound into it (attest.h)
 *   token    the vault's bearer token: given, from a file, IMDS or workload identity (skr.h)
 *   release  Secure Key Release -> unwrap -> the LUKS passphrase; or the passphrase from a key
 *            file (then attest and token do nothing)
 *   open     the source (blob, any range server, or a local file) -> disk cache -> cache
 *   seal     a sealed image (docs/verity.md): its dm-verity geometry, the trusted root hash
 *            (pinned, or signed by the publisher at or above the minimum version) checked
 *            against the tree's top and the first block
 *   volume   LUKS2 header validated, engine chosen, activated, mounted at .filesystem-<i>
 *   publish  the relative symlink at the mount point
 *   teardown everything above undone in reverse order (volume.h's order)
 *
 * `sealmount run` (the sidecar, one thread per filesystem) and `sealmount mount` each fill a
 * struct pl_spec - from the configuration file and from the command line - and call
 * pl_attest(), pl_token(), pl_release(), pl_open(), pl_seal(), pl_volume() and pl_publish() in
 * this order,
 * then pl_teardown(). The same stack builder (pl_stack_open()) serves `image inspect|decrypt`
 * and `blob attach`, and the same vault session (pl_vault_open()) `key release|import`.
 *
 * Failures: a step returns 0 or -errno and records what failed in the filesystem's struct
 * pl_failure (the step, the error, a struct diag sentence with the detail from the module that
 * failed). This module logs at debug level only: the coordinator logs pl_failure_message() - the
 * same text in both front-ends - once, at error level. pl_explain() is the one table of likely
 * causes per (step, error); the README's troubleshooting table is generated from it
 * (pl_explain_markdown(), checked by a unit test).
 *
 * Ownership: struct pl_spec is the caller's and must outlive the struct pl_fs made from it (the
 * pipeline keeps pointers to its strings). Everything a step makes is owned by the pl_fs and
 * undone by pl_teardown() (also after a failure half-way) and freed by pl_fs_free(). The
 * passphrase lives in secret memory from release until the volume step (then it is wiped).
 *
 * Threads: a struct pl_fs is used by one thread at a time. struct pl_attest_once may be shared
 * by several filesystems' threads (it serialises its one attestation). The HTTP client given
 * to pl_fs_new() must be thread-safe (http.h's is) and outlive the pl_fs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/blob.h"
#include "sealmount/buf.h"
#include "sealmount/diag.h"
#include "sealmount/http.h"
#include "sealmount/luks2.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"
#include "sealmount/skr.h"
#include "sealmount/snp_source.h"
#include "sealmount/unwrap.h"
#include "sealmount/volume.h"

enum pl_step {
	PL_STEP_ATTEST = 0,
	PL_STEP_TOKEN,
	PL_STEP_RELEASE,
	PL_STEP_OPEN,
	PL_STEP_SEAL,
	PL_STEP_VOLUME,
	PL_STEP_PUBLISH,
	PL_STEP_TEARDOWN,
	PL_STEP__MAX,
};

/* "attest", "token", "release", "open", "seal", "volume", "publish", "teardown". */
const char *pl_step_name(enum pl_step s);

struct pl_failure {
	enum pl_step step;
	int err; /* -errno; 0: nothing failed */
	struct diag diag; /* what failed, from the module that failed */
};

/*
 * The one message for a failure, in both front-ends:
 *   "Filesystem I (MOUNT_POINT): step 'S' failed: DETAIL. Likely causes: CAUSES"
 * into buf (always NUL-terminated, truncated to len).
 */
void pl_failure_message(const struct pl_failure *f, unsigned index, const char *mount_point,
			char *buf, size_t len) _nonnull_(1, 4);

/* The likely causes of error err in step s and what to do, as a static string; never NULL. */
const char *pl_explain(enum pl_step s, int err);
/* The finer cause for the service's error code (struct diag.code, e.g. Blob's
 * "ContainerNotFound") with err in step s, or NULL when the table has none. */
const char *pl_explain_coded(enum pl_step s, int err, const char *code);
/* pl_explain_coded() with d's code (d may be NULL), else pl_explain(). Never NULL. */
const char *pl_explain_diag(enum pl_step s, const struct diag *d, int err);
/* The explainer table as the README's markdown table (| step | error | likely cause |). */
_must_check_ int pl_explain_markdown(struct buf *out) _nonnull_(1);

/* ---- what to mount: the spec both front-ends fill ---- */

enum pl_auth {
	PL_AUTH_URL = 0, /* anonymous, or the SAS in the URL */
	PL_AUTH_SHARED_KEY, /* account_key_file (local development, Azurite) */
	PL_AUTH_TOKEN_FILE, /* a bearer token file kept fresh by someone else */
	PL_AUTH_IMDS, /* managed identity: imds_endpoint, client_id (or workload identity) */
};

struct pl_source {
	const char *url; /* https blob URL, Azurite's loopback URL, file://PATH or a PATH */
	enum pl_auth auth;
	const char *account_key_file;
	const char *token_file;
	const char *imds_endpoint; /* NULL = IMDS_DEFAULT_ENDPOINT */
	const char *client_id; /* user-assigned identity; NULL = the system one */
	const char *federated_token_file, *tenant_id, *authority; /* AKS workload identity */
	const char *ca_file; /* extra TLS roots when the stack makes its own HTTP client */
	bool rw; /* a writable stack (page blob with a lease, or a writable file) */
	bool verify_md5; /* check every range against Azure's MD5 (blob.h) */
	uint64_t cache_mb; /* memory cache; 0 = none (one-shot readers) */
	const char *disk_cache_dir; /* ciphertext cache on local disk (read-only blobs); NULL */
	uint64_t disk_cache_mb; /* its cap; 0 = PL_DISK_CACHE_DEFAULT_MB */
};

#define PL_CACHE_DEFAULT_MB 64u
#define PL_DISK_CACHE_DEFAULT_MB 1024u

struct pl_release {
	const char *vault; /* key.akv.endpoint / --vault */
	const char *kid; /* key name */
	const char *version; /* NULL = current */
	const char *maa; /* key.authority.endpoint / --maa */
	const char *snp; /* "device" (default), "device:PATH", "sim:DIR" */
	enum unwrap_enc enc;
	const char *salt_hex; /* key_derivation.salt for RSA keys; NULL = "" */
	const char *label; /* key_derivation.label; NULL = the default */
	const char *nonce; /* sent with the release; NULL = none */
	const char *bearer; /* the vault token as is (configuration); NULL = bearer_file/IMDS */
	const char *bearer_file; /* ... or read from this file (one line) */
	const char *imds_endpoint, *client_id; /* managed identity */
	const char *federated_token_file, *tenant_id, *authority; /* AKS workload identity */
	const char *ca_file; /* extra trust roots for the release JWS chain */
	/* VCEK chain sources when the security context's is missing or stale (certcache) */
	const struct snp_evidence_config *certs;
};

struct pl_spec {
	unsigned index; /* the I of .filesystem-I and of the device names */
	const char *mount_point; /* absolute; NULL for key-only coordinators (key release) */
	struct pl_source src;
	const char *key_file; /* the passphrase from this file (cryptsetup --key-file semantics);
			       * NULL: attest and release with `release` */
	struct pl_release release;
	bool rw;
	enum volume_engine engine;
	enum volume_block block; /* fuse, nbd or auto (volume.h) */
	const char *fs_type; /* NULL = ext4 */
	struct luks2_policy policy; /* require_integrity, pins */
	bool integrity_journal;
	const char *work_dir; /* private directory for the FUSE files; NULL = volume.h's */
	bool no_fsck; /* volume_options.no_fsck (sealmount.fsck: false, --no-fsck) */
	/* Sealed images (docs/verity.md): the root hash (64 hex) pinned, or the publisher's public
	 * key (PEM or JWK text, or a file) and the lowest version accepted. Neither: a sealed
	 * image is read without checking its seal (with a warning). */
	const char *root_hash;
	const char *publisher_key; /* the key's text */
	const char *publisher_key_file; /* or a file holding it */
	uint64_t min_version;
	/* Where the publish step leaves its crash record (below); NULL: none. */
	const char *state_dir;
};

/* Defaults: policy from luks2_policy_init(), enc RSA_AES_KEY_WRAP_256, snp "device", cache
 * PL_CACHE_DEFAULT_MB, engine auto. */
void pl_spec_init(struct pl_spec *s) _nonnull_(1);

/* ---- the stack builder ---- */

struct pl_auth_ctx;

struct pl_stack {
	struct bdev *top; /* the whole stack; owned until handed on (TAKE_PTR) */
	struct bdev *blob; /* borrowed: the blob layer inside top, NULL for a file */
	struct bdev *disk; /* borrowed: the disk cache, or NULL */
	struct bdev *cache; /* borrowed: the memory cache, or NULL */
	struct pl_auth_ctx *auth; /* what the blob layer calls for credentials: freed last */
};

/*
 * Build the stack for src: a local file (a path or file://PATH) or a blob/range URL (with the
 * credentials src->auth names), then the disk cache and the memory cache when asked for. http
 * (may be NULL: a client of its own with src->ca_file) is borrowed for the stack's lifetime.
 * On failure d says what failed (URL redacted of its SAS, the service's error, the token
 * service's answer). -errno of the layer that failed.
 */
_must_check_ int pl_stack_open(const struct pl_source *src, struct http_client *http,
			       struct pl_stack *ret, struct diag *d) _nonnull_(1, 3);
/* Free top (unless handed on) and then the credentials. Idempotent. */
void pl_stack_close(struct pl_stack *s) _nonnull_(1);

/*
 * src's URL and credentials as blob options, for the commands that talk to a blob without a
 * stack (`blob stat`, `image upload`). *ret_ctx holds what the options point at (the account
 * key, the token provider): free it with pl_auth_free() after the last request. After a failed
 * request, pl_auth_explain() adds what the http module knows about d's error (a TLS
 * certificate problem) and what the token service said (nothing without IMDS) to d.
 */
_must_check_ int pl_blob_options(const struct pl_source *src, struct http_client *http,
				 struct blob_options *o, struct pl_auth_ctx **ret_ctx,
				 struct diag *d) _nonnull_(1, 3, 4);
void pl_auth_free(struct pl_auth_ctx *c);
void pl_auth_explain(struct pl_auth_ctx *c, struct diag *d);

/* ---- a session with the vault (key release and import) ---- */

struct pl_vault {
	struct http_client *http; /* borrowed */
	struct hsm_client *hsm;
	struct skr_auth *auth;
};

/* The vault client for r->vault and its token source (r->bearer, r->bearer_file, IMDS or
 * workload identity). d says what is wrong (endpoint, identity settings, the token file). */
_must_check_ int pl_vault_open(struct http_client *http, const struct pl_release *r,
			       struct pl_vault *ret, struct diag *d) _nonnull_(1, 2, 3);
void pl_vault_close(struct pl_vault *v) _nonnull_(1);

/* ---- one filesystem ---- */

struct pl_fs;
struct pl_attest_once;

/* spec and http are borrowed (see above). -ENOMEM. */
_must_check_ int pl_fs_new(const struct pl_spec *spec, struct http_client *http, struct pl_fs **ret)
	_nonnull_(1, 2, 3);

/* Called at the start of every step (from the thread running it), e.g. to show the step on the
 * health endpoint. NULL: none. */
typedef void (*pl_observer_fn)(void *userdata, enum pl_step step);
void pl_fs_observe(struct pl_fs *fs, pl_observer_fn fn, void *userdata) _nonnull_(1);
/* Tear down what is left (pl_teardown) and free. NULL-safe. */
void pl_fs_free(struct pl_fs *fs);
DEFINE_CLEANUP_FUNC(struct pl_fs, pl_fs_free)

/* One attestation shared by several filesystems with the same MAA endpoint and SNP source: the
 * first pl_attest() that needs it runs it, the others wait for it and share its result - or its
 * failure. -ENOMEM. */
_must_check_ int pl_attest_once_new(struct pl_attest_once **ret) _nonnull_(1);
void pl_attest_once_free(struct pl_attest_once *o);
DEFINE_CLEANUP_FUNC(struct pl_attest_once, pl_attest_once_free)

/* The steps, in order. Each returns 0 or -errno (the failure in pl_fs_failure()). With a key
 * file, attest and token do nothing. once may be NULL (attest for this filesystem only). */
_must_check_ int pl_attest(struct pl_fs *fs, struct pl_attest_once *once) _nonnull_(1);
_must_check_ int pl_token(struct pl_fs *fs) _nonnull_(1);
_must_check_ int pl_release(struct pl_fs *fs) _nonnull_(1);
_must_check_ int pl_open(struct pl_fs *fs) _nonnull_(1);
_must_check_ int pl_seal(struct pl_fs *fs) _nonnull_(1);
_must_check_ int pl_volume(struct pl_fs *fs) _nonnull_(1);
_must_check_ int pl_publish(struct pl_fs *fs) _nonnull_(1);
/* Undo every step that was done, in reverse order; flushes read-write volumes first. 0 or the
 * first error (recorded as step "teardown"). Idempotent. */
int pl_teardown(struct pl_fs *fs) _nonnull_(1);

/* The failure of the last step that failed (err 0 when none). */
const struct pl_failure *pl_fs_failure(const struct pl_fs *fs) _nonnull_(1);

/* What the last completed step did, for the coordinator's info line ("released key K (oct-HSM,
 * RSA_AES_KEY_WRAP_256)", "mounted /dev/mapper/sealmount-0 (kernel engine, read-only) at
 * /x/.filesystem-0", ...); "" when there is nothing to say. Valid until the next step. */
const char *pl_fs_done_text(const struct pl_fs *fs) _nonnull_(1);
/* A warning the coordinator should log once (a simulated SNP, an image without integrity), or
 * NULL. Each warning is returned once; the text stays valid until the next step. */
const char *pl_fs_take_warning(struct pl_fs *fs) _nonnull_(1);

/* After the volume step: the volume (status, counters) and the layers of its stack (borrowed,
 * valid until pl_teardown). NULL before. */
struct volume *pl_fs_volume(const struct pl_fs *fs) _nonnull_(1);
struct bdev *pl_fs_blob(const struct pl_fs *fs) _nonnull_(1);
struct bdev *pl_fs_cache(const struct pl_fs *fs) _nonnull_(1);

/* ---- crash records ---- */

/*
 * Once published, a filesystem leaves a record of what it holds in spec->state_dir
 * (<sha256 of the mount point>.json, 0600, written atomically: the owner's pid and start time,
 * the mount point, index and source without its query, and volume_record()'s identities);
 * teardown removes it. If the owner dies without tearing down, another process finds the record
 * and cleans up exactly what it names (pl_record_recover -> volume_recover). A record is never
 * trusted beyond that: each thing is checked to still be the recorded one.
 */
struct pl_record {
	char *path; /* the record file */
	json_t *json; /* owns what the pointers below point into */
	pid_t pid;
	bool alive; /* that very process (pid and start time) is still running */
	const char *mount_point, *source, *engine, *block;
	unsigned index;
	const json_t *volume;
};
/* The record for mount_point: -ENOENT when there is none, -EBADMSG when it is unreadable. */
_must_check_ int pl_record_find(const char *dir, const char *mount_point, struct pl_record *ret)
	_nonnull_(1, 2, 3);
/* Every readable record in dir (none when dir does not exist); pl_records_free(). */
_must_check_ int pl_records_list(const char *dir, struct pl_record **ret, size_t *ret_n)
	_nonnull_(1, 2, 3);
/* The lowest index no record in dir holds, alive or dead (a dead owner's index stays taken
 * until its leftovers are cleaned up: its dm and loop names carry it). */
_must_check_ int pl_records_first_free_index(const char *dir, unsigned *ret) _nonnull_(1, 2);
void pl_record_done(struct pl_record *r) _nonnull_(1);
void pl_records_free(struct pl_record *list, size_t n);
/* A dead owner's leftovers, undone from its record (volume_recover), then the record removed.
 * -EBUSY (with nothing done) when the owner is alive. */
_must_check_ int pl_record_recover(struct pl_record *rec, void (*progress)(void *, const char *),
				   void *userdata, struct diag *d) _nonnull_(1);
/* /proc/PID/stat's start time (0: no such process). */
uint64_t pl_process_start_time(pid_t pid);

/* After release: hand the passphrase to the caller (`key release --out`); NULL when there is
 * none. The caller frees it (secret_free). */
struct secret *pl_fs_take_passphrase(struct pl_fs *fs) _nonnull_(1);
