/* SPDX-License-Identifier: MIT */
/*
 * cmd_mount.c - `sealmount mount`: open the image (a local file, or a blob through the cache),
 * get the passphrase (a key file, or attest + Secure Key Release with the options of
 * `sealmount key release`), then volume_open() validates the header, activates, mounts and
 * publishes. It stays in the foreground serving the FUSE file until SIGTERM/SIGINT/SIGHUP or
 * `sealmount umount MOUNTPOINT`, then tears everything down (volume_close()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "key_util.h"
#include "mount_state.h"
#include "sealmount/blob.h"
#include "sealmount/buf.h"
#include "sealmount/cache.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/volume.h"

#define KEY_FILE_MAX 8192
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
	OPT_READY_FILE,
	OPT_ACCOUNT_KEY,
	OPT_INDEX,
	OPT_FS_TYPE,
	OPT_WORK_DIR,
	OPT_JOURNAL,
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
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "account-key-file", required_argument, NULL, OPT_ACCOUNT_KEY },
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "fs-type", required_argument, NULL, OPT_FS_TYPE },
	{ "work-dir", required_argument, NULL, OPT_WORK_DIR },
	{ "integrity-journal", no_argument, NULL, OPT_JOURNAL },
};

struct mount_args {
	const char *image, *url, *key_file, *ready_file, *account_key_file;
	char *mount_point; /* absolute */
	char work_dir[PATH_MAX]; /* the per-user default of --work-dir when not root */
	uint64_t cache_mb;
	struct volume_options vo;
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

static int parse_mount_opt(struct mount_args *a, int c, char **argv)
{
	uint64_t v;

	switch (c) {
	case OPT_IMAGE:
		a->image = optarg;
		return 0;
	case OPT_URL:
		a->url = optarg;
		return 0;
	case OPT_KEY_FILE:
		a->key_file = optarg;
		return 0;
	case OPT_ENGINE:
		return parse_engine(optarg, &a->vo.engine) < 0 ?
			       cli_usage_error("mount", "--engine takes kernel, user or auto") :
			       0;
	case OPT_RW:
		a->vo.rw = true;
		return 0;
	case OPT_CACHE_MB:
		if (cli_parse_uint(optarg, CACHE_MB_MAX, &v) < 0 || v == 0)
			return cli_usage_error("mount", "invalid --cache-mb '%s'", optarg);
		a->cache_mb = v;
		return 0;
	case OPT_REQ_INTEGRITY:
	case OPT_NO_REQ_INTEGRITY:
		a->vo.policy.require_integrity = c == OPT_REQ_INTEGRITY;
		return 0;
	case OPT_PIN_SHA256:
		if (strlen(optarg) != 64 ||
		    hex_decode_fixed(optarg, 64, a->vo.policy.pin_sha256, 32) < 0)
			return cli_usage_error("mount", "--pin-sha256 needs 64 hex digits");
		a->vo.policy.pin_sha256_set = true;
		return 0;
	case OPT_READY_FILE:
		a->ready_file = optarg;
		return 0;
	case OPT_ACCOUNT_KEY:
		a->account_key_file = optarg;
		return 0;
	case OPT_INDEX:
		if (cli_parse_uint(optarg, 9999, &v) < 0)
			return cli_usage_error("mount", "invalid --index '%s'", optarg);
		a->vo.index = (unsigned)v;
		return 0;
	case OPT_FS_TYPE:
		a->vo.fs_type = optarg;
		return 0;
	case OPT_WORK_DIR:
		a->vo.work_dir = optarg;
		return 0;
	case OPT_JOURNAL:
		a->vo.integrity_journal = true;
		return 0;
	}
	a->release = true;
	return key_parse_option(&a->key, c, argv);
}

static int check_args(struct mount_args *a, int argc, char **argv)
{
	int r;

	if (optind + 1 != argc)
		return cli_usage_error("mount", "expected exactly one MOUNTPOINT");
	if (!a->image == !a->url)
		return cli_usage_error("mount", "give exactly one of --image and --url");
	if (!a->key_file == !a->release)
		return cli_usage_error("mount", "give --key-file or the key release options "
						"(--vault, --kid, --maa, ...), not both");
	if (a->release) {
		r = key_check_required(&a->key);
		if (r != 0)
			return r;
	}
	r = mount_state_abspath(argv[optind], &a->mount_point);
	if (r < 0)
		return cli_usage_error("mount", "invalid MOUNTPOINT '%s': %s", argv[optind],
				       strerror(-r));
	a->vo.mount_point = a->mount_point;
	/* Not root: /run/sealmount is not ours to write; use the per-user directory that also
	 * holds the state files for `sealmount umount`. */
	if (!a->vo.work_dir && geteuid() != 0) {
		r = mount_state_base(a->work_dir, sizeof(a->work_dir));
		if (r < 0)
			return cli_usage_error("mount", "no usable work directory: %s",
					       strerror(-r));
		a->vo.work_dir = a->work_dir;
	}
	return 0;
}

static int parse(int argc, char **argv, struct mount_args *a)
{
	int c, r;

	build_options();
	luks2_policy_init(&a->vo.policy);
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

static int open_stack(const struct mount_args *a, struct bdev **ret)
{
	_cleanup_(secret_freep) struct secret *key = NULL;
	struct blob_options o = { .url = a->url, .rw = a->vo.rw, .ca_file = a->key.ca_file };
	struct cache_options co = { .mem_max = a->cache_mb * 1024 * 1024 };
	struct bdev *blob = NULL;
	int r;

	if (a->image) {
		r = bdev_file_open(a->image, a->vo.rw, ret);
		return r < 0 ? log_error_errno(r, "Cannot open image %s: %m", a->image) : 0;
	}
	if (a->account_key_file) {
		r = blob_account_key_load(a->account_key_file, &key);
		if (r < 0)
			return log_error_errno(r, "Cannot read the account key from %s: %m",
					       a->account_key_file);
		o.auth = BLOB_AUTH_SHARED_KEY;
		o.account_key = key;
	}
	r = blob_open(&o, &blob);
	if (r == -EMEDIUMTYPE)
		return log_error_errno(r, "--rw needs a page blob: %s is not one", a->url);
	if (r == -EBUSY)
		return log_error_errno(r, "%s is leased by another writer", a->url);
	if (r < 0)
		return log_error_errno(r, "Cannot open blob %s: %m", a->url);
	r = cache_new(blob, &co, ret);
	return r < 0 ? log_error_errno(r, "Cannot set up the cache: %m") : 0;
}

static int read_key_file(const char *path, struct secret **ret)
{
	int r = key_read_passphrase(path, KEY_FILE_MAX, ret);

	return r < 0 ? log_error_errno(r, "Cannot use the key file %s: %m", path) : 0;
}

static int write_ready(const char *path)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, "1\n", 2) != 2)
		return log_error_errno(-errno ?: -EIO, "Cannot write the ready file %s: %m", path);
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

static int serve(struct mount_args *a, const sigset_t *set)
{
	_cleanup_(secret_freep) struct secret *pass = NULL;
	struct bdev *stack = NULL;
	struct volume *v = NULL;
	int r;

	r = open_stack(a, &stack);
	if (r < 0)
		return r;
	r = a->release ? key_release_passphrase(&a->key, &pass) : read_key_file(a->key_file, &pass);
	if (r < 0) {
		bdev_free(stack);
		return r;
	}
	r = volume_open(stack, pass, &a->vo, &v);
	secret_free(TAKE_PTR(pass));
	if (r < 0)
		return r;
	r = mount_state_write(a->mount_point);
	if (r < 0)
		log_warn_errno(r, "Cannot record the mount for `sealmount umount`: %m");
	if (a->ready_file)
		r = write_ready(a->ready_file);
	if (r >= 0)
		(void)wait_for_stop(set);
	if (a->ready_file)
		(void)unlink(a->ready_file);
	r = volume_close(v);
	mount_state_remove(a->mount_point);
	if (r < 0)
		log_error_errno(r, "Teardown of %s was incomplete: %m", a->mount_point);
	return r;
}

static int run(int argc, char **argv)
{
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
	if (r == -1)
		r = cli_help(&cmd_mount);
	else if (r == 0)
		r = serve(&a, &set) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
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
		"           [--engine kernel|user|auto] [--rw] [--cache-mb N]\n"
		"           [--require-integrity | --no-require-integrity] [--pin-sha256 HEX]\n"
		"           [--ready-file F] [--index I] [--fs-type T] [--work-dir DIR]\n"
		"           [--integrity-journal] [--account-key-file F] MOUNTPOINT\n"
		"\n"
		"Validate the image's LUKS2 header, activate it (kernel engine: dm-integrity +\n"
		"dm-crypt from the validated header copy; the tables are read back and checked),\n"
		"mount it at PARENT/.filesystem-I and publish MOUNTPOINT as a relative symlink to\n"
		"it (as Microsoft's encfs sidecar does). Read-only unless --rw (ext4: ro,noload).\n"
		"Stays in the foreground until SIGTERM/SIGINT or `sealmount umount MOUNTPOINT`,\n"
		"then unmounts, removes the link, deactivates, detaches and writes the image back.\n"
		"Without root, --engine user serves the files with fuse2fs (no loop, no mount).\n"
		"\n"
		"  --key-file FILE       the LUKS passphrase: the file's bytes as they are\n"
		"  key release options   as `sealmount key release` (without --out): the\n"
		"                        passphrase never touches a file\n"
		"  --require-integrity   refuse images without dm-integrity (the default);\n"
		"  --no-require-integrity  also accept Microsoft-style images (with a warning)\n"
		"  --pin-sha256 HEX      refuse any other header digest (`image inspect` shows it)\n"
		"  --cache-mb N          block cache for --url (default 64)\n"
		"  --ready-file F        write \"1\" to F once MOUNTPOINT is published\n"
		"  --index I             the I in .filesystem-I and the device name (default 0)\n"
		"  --work-dir DIR        private 0700 directory for the FUSE image file\n"
		"                        (DIR/I/data); default /run/sealmount for root, else\n"
		"                        $XDG_RUNTIME_DIR/sealmount or /tmp/sealmount-UID\n"
		"  --integrity-journal   dm-integrity with its journal (default: no journal)\n",
	.run = run,
};
