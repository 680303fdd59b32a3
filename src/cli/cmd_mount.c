/* SPDX-License-Identifier: MIT */
/*
 * cmd_mount.c - `sealmount mount`: the command line as the pipeline's spec (pipeline.h), then
 * the pipeline's steps in the order the sidecar calls them (src/sidecar/mount.c): attest,
 * token, release (or the key file), open, volume, publish. It stays in the foreground serving
 * the mount until SIGTERM/SIGINT/SIGHUP or `sealmount umount MOUNTPOINT`, then tears down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "key_util.h"
#include "mount_state.h"
#include "sealmount/codec.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"

#define CACHE_MB_MAX (1u << 20)

enum {
	OPT_IMAGE = 0x100,
	OPT_URL,
	OPT_KEY_FILE,
	OPT_ENGINE,
	OPT_RW,
	OPT_CACHE_MB,
	OPT_REQ_INTEGRITY,
	OPT_NO_REQ_INTEGRITY,
	OPT_PIN_SHA256,
	OPT_PIN_UUID,
	OPT_READY_FILE,
	OPT_ACCOUNT_KEY,
	OPT_TOKEN_FILE,
	OPT_URL_PRIVATE,
	OPT_DISK_CACHE,
	OPT_DISK_CACHE_MB,
	OPT_INDEX,
	OPT_FS_TYPE,
	OPT_WORK_DIR,
	OPT_JOURNAL,
	OPT_ROOT_HASH,
	OPT_PUBLISHER_KEY,
	OPT_MIN_VERSION,
	OPT_BLOCK,
};

static const struct option mount_options[] = {
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "url", required_argument, NULL, OPT_URL },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "rw", no_argument, NULL, OPT_RW },
	{ "cache-mb", required_argument, NULL, OPT_CACHE_MB },
	{ "require-integrity", no_argument, NULL, OPT_REQ_INTEGRITY },
	{ "no-require-integrity", no_argument, NULL, OPT_NO_REQ_INTEGRITY },
	{ "pin-sha256", required_argument, NULL, OPT_PIN_SHA256 },
	{ "pin-uuid", required_argument, NULL, OPT_PIN_UUID },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "account-key-file", required_argument, NULL, OPT_ACCOUNT_KEY },
	{ "bearer-token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "url-private", no_argument, NULL, OPT_URL_PRIVATE },
	{ "disk-cache", required_argument, NULL, OPT_DISK_CACHE },
	{ "disk-cache-mb", required_argument, NULL, OPT_DISK_CACHE_MB },
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "fs-type", required_argument, NULL, OPT_FS_TYPE },
	{ "work-dir", required_argument, NULL, OPT_WORK_DIR },
	{ "integrity-journal", no_argument, NULL, OPT_JOURNAL },
	{ "root-hash", required_argument, NULL, OPT_ROOT_HASH },
	{ "publisher-key", required_argument, NULL, OPT_PUBLISHER_KEY },
	{ "min-version", required_argument, NULL, OPT_MIN_VERSION },
	{ "block", required_argument, NULL, OPT_BLOCK },
};

struct mount_args {
	struct pl_spec spec; /* what both front-ends fill */
	const char *ready_file;
	char *mount_point; /* absolute */
	char work_dir[PATH_MAX]; /* the per-user default of --work-dir when not root */
	char state_dir[PATH_MAX]; /* the crash records (mount_state.h) */
	bool index_given;
	struct key_args key;
	bool release; /* key-release options were given */
};

/* mount's options followed by those of `key release` (but --out) and --help. */
static struct option all_options[ELEMENTSOF(mount_options) + 32];

static void build_options(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(mount_options); i++)
		all_options[n++] = mount_options[i];
	for (const struct option *o = key_long_options; o->name && n + 1 < ELEMENTSOF(all_options);
	     o++)
		if (o->val == 'h' || key_is_release_option(o->val))
			all_options[n++] = *o;
	all_options[n] = (struct option){ 0 };
}

static int parse_engine(const char *s, enum volume_engine *ret)
{
	for (int e = VOLUME_ENGINE_AUTO; e <= VOLUME_ENGINE_USER; e++)
		if (streq(s, volume_engine_name((enum volume_engine)e))) {
			*ret = (enum volume_engine)e;
			return 0;
		}
	return -EINVAL;
}

static int parse_source_opt(struct pl_source *src, int c)
{
	uint64_t v;

	switch (c) {
	case OPT_IMAGE:
	case OPT_URL:
		if (src->url)
			return cli_usage_error("mount", "give exactly one of --image and --url");
		src->url = optarg;
		return 0;
	case OPT_CACHE_MB:
		if (cli_parse_uint(optarg, CACHE_MB_MAX, &v) < 0 || v == 0)
			return cli_usage_error("mount", "invalid --cache-mb '%s'", optarg);
		src->cache_mb = v;
		return 0;
	case OPT_ACCOUNT_KEY:
		src->auth = PL_AUTH_SHARED_KEY;
		src->account_key_file = optarg;
		return 0;
	case OPT_TOKEN_FILE:
		src->auth = PL_AUTH_TOKEN_FILE;
		src->token_file = optarg;
		return 0;
	case OPT_URL_PRIVATE:
		src->auth = PL_AUTH_IMDS;
		return 0;
	case OPT_DISK_CACHE:
		src->disk_cache_dir = optarg;
		return 0;
	case OPT_DISK_CACHE_MB:
		if (cli_parse_uint(optarg, 1u << 30, &v) < 0 || v == 0)
			return cli_usage_error("mount", "invalid --disk-cache-mb '%s'", optarg);
		src->disk_cache_mb = v;
		return 0;
	}
	return 1; /* not a source option */
}

static int parse_volume_opt(struct mount_args *a, int c)
{
	struct pl_spec *s = &a->spec;
	uint64_t v;

	switch (c) {
	case OPT_ENGINE:
		return parse_engine(optarg, &s->engine) < 0 ?
			       cli_usage_error("mount", "--engine takes kernel, user or auto") :
			       0;
	case OPT_RW:
		s->rw = true;
		return 0;
	case OPT_REQ_INTEGRITY:
	case OPT_NO_REQ_INTEGRITY:
		s->policy.require_integrity = c == OPT_REQ_INTEGRITY;
		return 0;
	case OPT_PIN_SHA256:
		if (strlen(optarg) != 64 ||
		    hex_decode_fixed(optarg, 64, s->policy.pin_sha256, 32) < 0)
			return cli_usage_error("mount", "--pin-sha256 needs 64 hex digits");
		s->policy.pin_sha256_set = true;
		return 0;
	case OPT_PIN_UUID:
		if (strlen(optarg) != LUKS2_UUID_LEN)
			return cli_usage_error("mount", "invalid --pin-uuid '%s'", optarg);
		memcpy(s->policy.pin_uuid, optarg, LUKS2_UUID_LEN + 1);
		s->policy.pin_uuid_set = true;
		return 0;
	case OPT_INDEX:
		if (cli_parse_uint(optarg, 9999, &v) < 0)
			return cli_usage_error("mount", "invalid --index '%s'", optarg);
		s->index = (unsigned)v;
		a->index_given = true;
		return 0;
	case OPT_FS_TYPE:
		s->fs_type = optarg;
		return 0;
	case OPT_WORK_DIR:
		s->work_dir = optarg;
		return 0;
	case OPT_JOURNAL:
		s->integrity_journal = true;
		return 0;
	case OPT_ROOT_HASH:
		if (strlen(optarg) != 64 || strspn(optarg, "0123456789abcdefABCDEF") != 64)
			return cli_usage_error("mount", "--root-hash needs 64 hex digits");
		s->root_hash = optarg;
		return 0;
	case OPT_BLOCK:
		for (int b = VOLUME_BLOCK_AUTO; b <= VOLUME_BLOCK_NBD; b++)
			if (streq(optarg, volume_block_name((enum volume_block)b))) {
				s->block = (enum volume_block)b;
				return 0;
			}
		return cli_usage_error("mount", "--block takes fuse, nbd or auto");
	case OPT_PUBLISHER_KEY:
		s->publisher_key_file = optarg;
		return 0;
	case OPT_MIN_VERSION:
		if (cli_parse_uint(optarg, UINT64_MAX, &v) < 0)
			return cli_usage_error("mount", "invalid --min-version '%s'", optarg);
		s->min_version = v;
		return 0;
	}
	return 1;
}

static int parse_mount_opt(struct mount_args *a, int c, char **argv)
{
	int r;

	if (c == OPT_KEY_FILE) {
		a->spec.key_file = optarg;
		return 0;
	}
	if (c == OPT_READY_FILE) {
		a->ready_file = optarg;
		return 0;
	}
	r = parse_source_opt(&a->spec.src, c);
	if (r <= 0)
		return r;
	r = parse_volume_opt(a, c);
	if (r <= 0)
		return r;
	a->release = true;
	return key_parse_option(&a->key, c, argv);
}

static int check_args(struct mount_args *a, int argc, char **argv)
{
	int r;

	if (optind + 1 != argc)
		return cli_usage_error("mount", "expected exactly one MOUNTPOINT");
	if (!a->spec.src.url)
		return cli_usage_error("mount", "give exactly one of --image and --url");
	if (a->spec.root_hash && a->spec.publisher_key_file)
		return cli_usage_error("mount", "give --root-hash or --publisher-key, not both");
	if (a->spec.min_version && !a->spec.publisher_key_file)
		return cli_usage_error("mount", "--min-version needs --publisher-key");
	if ((a->spec.root_hash || a->spec.publisher_key_file) && a->spec.rw)
		return cli_usage_error("mount", "a sealed image is read-only: drop --rw");
	if (!a->spec.key_file == !a->release)
		return cli_usage_error("mount", "give --key-file or the key release options "
						"(--vault, --kid, --maa, ...), not both");
	if (a->release) {
		r = key_check_required(&a->key);
		if (r != 0)
			return r;
		key_args_to_release(&a->key, &a->spec.release);
	}
	/* --url-private: the storage token from the same identity as the vault's */
	a->spec.src.imds_endpoint = a->key.imds;
	a->spec.src.client_id = a->key.client_id;
	a->spec.src.ca_file = a->key.ca_file;
	r = mount_state_abspath(argv[optind], &a->mount_point);
	if (r < 0)
		return cli_usage_error("mount", "invalid MOUNTPOINT '%s': %s", argv[optind],
				       strerror(-r));
	a->spec.mount_point = a->mount_point;
	r = mount_state_dir(a->state_dir, sizeof(a->state_dir));
	if (r < 0)
		return cli_usage_error("mount", "no usable state directory: %s", strerror(-r));
	a->spec.state_dir = a->state_dir;
	/* Not root: /run/sealmount is not ours to write; use the per-user directory that also
	 * holds the state files for `sealmount umount`. */
	if (!a->spec.work_dir && geteuid() != 0) {
		r = mount_state_base(a->work_dir, sizeof(a->work_dir));
		if (r < 0)
			return cli_usage_error("mount", "no usable work directory: %s",
					       strerror(-r));
		a->spec.work_dir = a->work_dir;
	}
	return 0;
}

static int parse(int argc, char **argv, struct mount_args *a)
{
	int c, r;

	build_options();
	pl_spec_init(&a->spec);
	a->key.sub = "mount";
	a->key.snp = "device";
	a->key.enc = UNWRAP_ENC_RSA_AES_KEY_WRAP_256;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", all_options, NULL)) != -1) {
		if (c == 'h')
			return -1;
		if (c == '?' || c == ':')
			return cli_bad_option("mount", c, argv);
		r = parse_mount_opt(a, c, argv);
		if (r != 0)
			return r;
	}
	return check_args(a, argc, argv);
}

/* ---- the coordinator ---- */

/* After a step: its result, what it did (info) and any warning; -EINTR once a stop signal is
 * pending (it is blocked: the steps are not interrupted, we stop between them). */
static int next(const struct mount_args *a, struct pl_fs *fs, const sigset_t *stop, int r)
{
	const char *w;
	sigset_t pending;

	if (r < 0)
		return r;
	if (*pl_fs_done_text(fs))
		log_info("Filesystem %u: %s", a->spec.index, pl_fs_done_text(fs));
	w = pl_fs_take_warning(fs);
	if (w)
		log_warn("Filesystem %u: %s", a->spec.index, w);
	if (sigpending(&pending) == 0)
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(stop, sig) == 1 && sigismember(&pending, sig) == 1)
				return -EINTR;
	return 0;
}

static int wait_for_stop(const sigset_t *set)
{
	siginfo_t si;
	int sig;

	do
		sig = sigwaitinfo(set, &si);
	while (sig < 0 && errno == EINTR);
	log_info("Signal %d: unmounting", sig);
	return 0;
}

/* Before mounting: a record for this mount point from a crashed run is cleaned up first; a live
 * one means it is mounted already. Without --index, the lowest index no record uses. */
static int check_records(struct mount_args *a)
{
	struct pl_record rec = { 0 };
	int r;

	r = pl_record_find(a->state_dir, a->mount_point, &rec);
	if (r < 0 && r != -ENOENT)
		return log_error_errno(r, "Cannot read the record of %s in %s: %m", a->mount_point,
				       a->state_dir);
	if (r == 0 && rec.alive)
		r = log_error_errno(-EBUSY,
				    "%s is mounted already, by process %d (`sealmount umount %s` "
				    "stops it)",
				    a->mount_point, (int)rec.pid, a->mount_point);
	else if (r == 0)
		r = mount_state_recover(&rec);
	pl_record_done(&rec);
	if (r == -ENOENT)
		r = 0;
	if (r < 0 || a->index_given)
		return r;
	r = pl_records_first_free_index(a->state_dir, &a->spec.index);
	return r < 0 ? log_error_errno(r, "Cannot read the records in %s: %m", a->state_dir) : 0;
}

/* Serve until stopped, then tear down. */
static int serve(struct mount_args *a, struct pl_fs *fs, const sigset_t *set)
{
	char msg[4096];
	int r;

	r = a->ready_file ? fs_write_atomic(a->ready_file, "1\n", 2, 0644) : 0;
	if (r < 0)
		log_error_errno(r, "Cannot write the ready file %s: %m", a->ready_file);
	else
		(void)wait_for_stop(set);
	if (a->ready_file)
		(void)unlink(a->ready_file);
	r = pl_teardown(fs);
	if (r < 0) {
		pl_failure_message(pl_fs_failure(fs), a->spec.index, a->mount_point, msg,
				   sizeof(msg));
		log_error("%s", msg);
	}
	return r;
}

/* The pipeline for one filesystem (pipeline.h); the same steps as src/sidecar/mount.c. */
static int mount_and_serve(struct mount_args *a, struct http_client *http, const sigset_t *set)
{
	_cleanup_(pl_fs_freep) struct pl_fs *fs = NULL;
	char msg[4096];
	int r;

	r = check_records(a);
	if (r < 0)
		return r;
	r = pl_fs_new(&a->spec, http, &fs);
	if (r < 0)
		return log_error_errno(r, "Out of memory");
	r = next(a, fs, set, pl_attest(fs, NULL));
	r = r ?: next(a, fs, set, pl_token(fs));
	r = r ?: next(a, fs, set, pl_release(fs));
	r = r ?: next(a, fs, set, pl_open(fs));
	r = r ?: next(a, fs, set, pl_seal(fs));
	r = r ?: next(a, fs, set, pl_volume(fs));
	r = r ?: next(a, fs, set, pl_publish(fs));
	if (r == -EINTR)
		log_info("Stopped by a signal before the mount was published");
	else if (r < 0) {
		pl_failure_message(pl_fs_failure(fs), a->spec.index, a->mount_point, msg,
				   sizeof(msg));
		log_error("%s", msg);
	}
	if (r < 0)
		return r;
	return serve(a, fs, set);
}

static int run(int argc, char **argv)
{
	_cleanup_(http_client_freep) struct http_client *http = NULL;
	struct mount_args a = {};
	sigset_t set;
	int r;

	/* Before any thread exists (blob lease renewal, cache workers, FUSE), so that only this
	 * thread receives the stop signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = parse(argc, argv, &a);
	if (r == -1) {
		r = cli_help(&cmd_mount);
	} else if (r == 0) {
		r = http_client_new(
			&(struct http_options){ .ca_file = a.key.ca_file, .max_retries = 4 },
			&http);
		if (r < 0)
			log_error_errno(r, "Cannot set up HTTP (--ca-file?): %m");
		else
			r = mount_and_serve(&a, http, &set);
		r = r < 0 && r != -EINTR ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
	}
	for (size_t i = 0; i < a.key.n_extra; i++)
		free(a.key.extra_buf[i]);
	free(a.mount_point);
	return r;
}

const struct cli_command cmd_mount = {
	.name = "mount",
	.summary = "Attest, release the key, mount an encrypted image and serve it",
	.usage =
		"Usage: sealmount mount (--image FILE | --url URL)\n"
		"           (--key-file FILE | --vault ENDPOINT --kid NAME --maa ENDPOINT [...])\n"
		"           [--engine kernel|user|auto] [--block fuse|nbd|auto] [--rw]\n"
		"           [--cache-mb N]\n"
		"           [--require-integrity | --no-require-integrity] [--pin-sha256 HEX]\n"
		"           [--pin-uuid UUID] [--ready-file F] [--index I] [--fs-type T]\n"
		"           [--work-dir DIR] [--integrity-journal]\n"
		"           [--account-key-file F | --bearer-token-file F | --url-private]\n"
		"           [--disk-cache DIR [--disk-cache-mb N]]\n"
		"           [--root-hash HEX | --publisher-key KEY [--min-version N]] MOUNTPOINT\n"
		"\n"
		"The same pipeline as the sidecar (`sealmount run`): attest, token, release (or\n"
		"the key file), open, seal, volume, publish. Validate the image's LUKS2 header, activate\n"
		"it (kernel engine: dm-integrity + dm-crypt from the validated header copy; the\n"
		"tables are read back and checked), mount it at PARENT/.filesystem-I and publish\n"
		"MOUNTPOINT as a relative symlink to it (as Microsoft's encfs sidecar does).\n"
		"Read-only unless --rw (ext4: ro,noload). Stays in the foreground until\n"
		"SIGTERM/SIGINT or `sealmount umount MOUNTPOINT`, then unmounts, removes the link,\n"
		"deactivates, detaches and writes the image back. Without root, --engine user\n"
		"serves the files with fuse2fs (no loop, no mount).\n"
		"\n"
		"  --block fuse|nbd|auto how the image reaches the kernel: a FUSE file on a loop\n"
		"                        device, or /dev/nbdN from the in-process NBD server; auto:\n"
		"                        nbd where the kernel has it (docs/nbd.md)\n"
		"  --key-file FILE       the LUKS passphrase: the file's bytes as they are\n"
		"  key release options   as `sealmount key release` (without --out): the\n"
		"                        passphrase never touches a file\n"
		"  --require-integrity   refuse images without dm-integrity (the default);\n"
		"  --no-require-integrity  also accept Microsoft-style images (with a warning)\n"
		"  --pin-sha256 HEX      refuse any other header digest (`image inspect` shows it)\n"
		"  --pin-uuid UUID       refuse any other header UUID\n"
		"  --cache-mb N          block cache in MiB (default 64)\n"
		"  --ready-file F        write \"1\" to F (atomically) once MOUNTPOINT is published\n"
		"  --index I             the I in .filesystem-I and the device names (default: the\n"
		"                        lowest one no other mount of this user uses)\n"
		"  --work-dir DIR        private 0700 directory for the FUSE image file\n"
		"                        (DIR/I/data); default /run/sealmount for root, else\n"
		"                        $XDG_RUNTIME_DIR/sealmount or /tmp/sealmount-UID\n"
		"  --integrity-journal   dm-integrity with its journal (default: no journal)\n"
		"Storage credentials for --url (default: anonymous, or the SAS in the URL):\n"
		"  --account-key-file F  SharedKey with the base64 account key in F\n"
		"  --bearer-token-file F an Entra ID token read from F at every request\n"
		"  --url-private         a managed-identity token (--imds, --client-id), as the\n"
		"                        sidecar's azure_url_private\n"
		"  --disk-cache DIR      keep fetched (encrypted) bytes in DIR (read-only mounts)\n"
		"Sealed images (docs/verity.md; read-only):\n"
		"  --root-hash HEX       the root hash `image seal` printed: every block is checked\n"
		"                        against it (kernel: dm-verity; user: the verity layer)\n"
		"  --publisher-key KEY   or the publisher's public key (PEM or JWK file) and\n"
		"  --min-version N       the lowest signed version accepted (`image sign`)\n",
	.run = run,
};
