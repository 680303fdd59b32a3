/* SPDX-License-Identifier: MIT */
/*
 * cmd_image_create.c - `sealmount image create` (image.h: an encrypted ext4 image from a
 * directory, rootless) and `sealmount image upload` (blob.h: the image as a page or block
 * blob, parallel and resumable). Dispatched from cmd_image.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "source_opts.h"
#include "key_util.h"
#include "sealmount/blob.h"
#include "sealmount/codec.h"
#include "sealmount/image.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"
#include "sealmount/units.h"
#include "sealmount/verity.h"

#define NEW_KEY_SIZE 32u
#define MIB (1024u * 1024)

struct create_args {
	struct image_create_options o;
	const char *key_file;
	bool new_key;
	bool verity;
};

/* The passphrase: the whole key file (cryptsetup --key-file semantics). With --new-key, a file
 * that does not exist yet is created with 32 random bytes, mode 0600. */
static int load_key(const struct create_args *a, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *s = NULL;
	int r;

	if (a->new_key && access(a->key_file, F_OK) < 0 && errno == ENOENT) {
		r = secret_new(NEW_KEY_SIZE, &s);
		if (r < 0)
			return log_error_errno(r, "Cannot allocate secret memory: %m");
		if (getrandom(s->data, s->len, 0) != (ssize_t)s->len)
			return log_error_errno(-EIO, "No randomness for the new key");
		r = key_write_secret_file(a->key_file, s);
		if (r < 0)
			return r;
		log_info("Wrote a new random %u-byte key to %s", NEW_KEY_SIZE, a->key_file);
		*ret = TAKE_PTR(s);
		return 0;
	}
	r = fs_read_secret(a->key_file, LUKS2_WRITE_PASS_MAX, 0, ret);
	if (r == -ENODATA)
		return log_error_errno(r, "The key file %s is empty", a->key_file);
	if (r < 0)
		return log_error_errno(r, "Cannot read the key file %s%s: %m", a->key_file,
				       r == -ENOENT ? " (add --new-key to create it)" : "");
	return 0;
}

static int parse_integrity(const char *s, enum luks2_integrity *ret)
{
	if (streq(s, "hmac-sha256") || streq(s, "hmac(sha256)"))
		*ret = LUKS2_INTEGRITY_HMAC_SHA256;
	else if (streq(s, "aead"))
		*ret = LUKS2_INTEGRITY_AEAD;
	else if (streq(s, "none"))
		*ret = LUKS2_INTEGRITY_NONE;
	else
		return -EINVAL;
	return 0;
}

/* --size: units.h's forms, at least IMAGE_FS_SIZE_MIN; 0 or a usage exit code. */
static int parse_fs_size(const char *arg, uint64_t *ret)
{
	int r = units_parse_size(arg, ret);

	if (r == -ERANGE)
		return cli_usage_error("image create", "--size '%s' does not fit in 64 bits", arg);
	if (r < 0)
		return cli_usage_error("image create", "--size '%s' is not a size: give %s", arg,
				       UNITS_SIZE_FORMATS);
	if (*ret < IMAGE_FS_SIZE_MIN)
		return cli_usage_error("image create", "--size '%s' is too small: at least 8M",
				       arg);
	return 0;
}

static int parse_create_opt(int c, struct create_args *a)
{
	struct luks2_write_params *p = &a->o.luks;
	uint64_t v;

	switch (c) {
	case 'd':
		a->o.from_dir = optarg;
		return 0;
	case 'o':
		a->o.output = optarg;
		return 0;
	case 'K':
		a->key_file = optarg;
		return 0;
	case 'n':
		a->new_key = true;
		return 0;
	case 'J':
		p->no_journal = true;
		return 0;
	case 'v':
		a->verity = true;
		return 0;
	case 's':
		return parse_fs_size(optarg, &a->o.fs_size);
	case 'i':
		if (parse_integrity(optarg, &p->integrity) < 0)
			return cli_usage_error("image create",
					       "--integrity is hmac-sha256, aead or none");
		return 0;
	case 'S':
		if (cli_parse_uint(optarg, 4096, &v) < 0 || (v != 512 && v != 4096))
			return cli_usage_error("image create", "--sector-size is 512 or 4096");
		p->sector_size = (uint32_t)v;
		return 0;
	case 'p':
		if (!streq(optarg, "pbkdf2") && !streq(optarg, "argon2id"))
			return cli_usage_error("image create", "--pbkdf is pbkdf2 or argon2id");
		p->kdf = streq(optarg, "pbkdf2") ? LUKS2_KDF_PBKDF2 : LUKS2_KDF_ARGON2ID;
		return 0;
	case 'I':
		if (cli_parse_uint(optarg, LUKS2_PBKDF2_MAX_ITER, &v) < 0 ||
		    v < LUKS2_PBKDF2_MIN_ITER)
			return cli_usage_error("image create", "--pbkdf-iterations is %u..%u",
					       LUKS2_PBKDF2_MIN_ITER, LUKS2_PBKDF2_MAX_ITER);
		p->pbkdf2_iterations = (uint32_t)v;
		return 0;
	}
	return -1;
}

static int parse_create(int argc, char **argv, struct create_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "from-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "integrity", required_argument, NULL, 'i' },
		{ "sector-size", required_argument, NULL, 'S' },
		{ "pbkdf", required_argument, NULL, 'p' },
		{ "pbkdf-iterations", required_argument, NULL, 'I' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "new-key", no_argument, NULL, 'n' },
		{ "no-journal", no_argument, NULL, 'J' },
		{ "verity", no_argument, NULL, 'v' },
		{},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		if (c == 'h') {
			(void)cli_help(&cmd_image_create);
			return -1;
		}
		r = parse_create_opt(c, a);
		if (r < 0)
			return cli_bad_option("image create", c, argv);
		if (r > 0)
			return r;
	}
	if (optind != argc)
		return cli_usage_error("image create", "unexpected argument '%s'", argv[optind]);
	if (!a->o.from_dir || !a->o.output || !a->key_file)
		return cli_usage_error("image create",
				       "--from-dir, --key-file and -o IMAGE are required");
	return 0;
}

/* --verity: append the dm-verity hash area (docs/verity.md) and print the root hash; a failure
 * removes the image. */
static int seal_created(const char *path)
{
	uint8_t root[VERITY_DIGEST_SIZE];
	char hex[2 * VERITY_DIGEST_SIZE + 1];
	struct diag d = { 0 };
	int r;

	r = verity_seal_file(path, NULL, root, NULL, &d);
	if (r < 0) {
		(void)unlink(path);
		return log_error_errno(r, "Cannot seal %s (removed): %s", path,
				       diag_or_strerror(&d, r));
	}
	hex_encode(root, sizeof(root), hex);
	printf("root-hash: %s\n", hex);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

/* SIGINT/SIGTERM stop the write and remove the partial image (image.h "cancel"). */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
}

static int create_main(int argc, char **argv)
{
	struct create_args a = { .o.progress = true, .o.cancel = &interrupted };
	_cleanup_(secret_freep) struct secret *pass = NULL;
	struct image_create_result res;
	struct diag d = { 0 };
	int r;

	a.o.diag = &d;
	luks2_write_params_init(&a.o.luks);
	r = parse_create(argc, argv, &a);
	if (r != 0)
		return r < 0 ? CLI_EXIT_OK : r;
	if (load_key(&a, &pass) < 0)
		return CLI_EXIT_FAILURE;
	if (a.o.luks.integrity == LUKS2_INTEGRITY_NONE)
		log_warn(
			"--integrity none: `sealmount mount` and the sidecar refuse this image by "
			"default (require_integrity); mount it with --no-require-integrity, or set "
			"\"require_integrity\": false in the filesystem's \"sealmount\" object");
	catch_signals();
	r = image_create(&a.o, pass, &res);
	if (r < 0) {
		log_error("Cannot create the image: %s", diag_or_strerror(&d, r));
		return CLI_EXIT_FAILURE;
	}
	log_info("Created %s: %" PRIu64 " MiB ext4 in a %" PRIu64 "-byte image (%s, %u-byte "
		 "sectors); mkfs %.1f s, encrypt %.1f s",
		 a.o.output, res.fs_size / MIB, res.image_size,
		 a.o.luks.integrity == LUKS2_INTEGRITY_NONE ? "no integrity" :
		 a.o.luks.integrity == LUKS2_INTEGRITY_AEAD ? "aes-gcm-random + aead" :
							      "aes-xts-plain64 + hmac(sha256)",
		 a.o.luks.sector_size, res.seconds_mkfs, res.seconds_write);
	if (a.verity && seal_created(a.o.output) < 0)
		return CLI_EXIT_FAILURE;
	return CLI_EXIT_OK;
}

/* ---- upload ---- */

struct upload_args {
	const char *image;
	struct source_args blob; /* url and credentials, as `blob stat|attach` take them */
	enum blob_type type;
	unsigned parallel;
	bool resume;
	bool overwrite;
};

struct upload_progress {
	pthread_mutex_t lock;
	unsigned last_pct;
};

static void show_progress(void *userdata, uint64_t done, uint64_t total)
{
	struct upload_progress *p = userdata;
	unsigned pct = total ? (unsigned)(done * 100 / total) : 100;

	LOCK_GUARD(&p->lock);
	if (pct == p->last_pct)
		return;
	p->last_pct = pct;
	fprintf(stderr, "\ruploading: %3u%% (%" PRIu64 "/%" PRIu64 " MiB)", pct, done / MIB,
		total / MIB);
	if (done == total)
		fputc('\n', stderr);
}

/* One option; 0, a usage exit code, or -1 for an unknown option. */
static int parse_upload_opt(int c, int argc, char **argv, struct upload_args *a)
{
	uint64_t v;

	switch (c) {
	case 'P':
	case 'B':
		a->type = c == 'P' ? BLOB_TYPE_PAGE : BLOB_TYPE_BLOCK;
		return 0;
	case 'j':
		if (cli_parse_uint(optarg, 32, &v) < 0 || v == 0)
			return cli_usage_error("image upload", "--parallel is 1..32");
		a->parallel = (unsigned)v;
		return 0;
	case 'r':
		a->resume = true;
		return 0;
	case 'O':
		a->overwrite = true;
		return 0;
	}
	return source_parse_option(&a->blob, c, argc, argv) == 0 ? 0 : -1;
}

static int parse_upload(int argc, char **argv, struct upload_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "page", no_argument, NULL, 'P' },
		{ "block", no_argument, NULL, 'B' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "resume", no_argument, NULL, 'r' },
		{ "overwrite", no_argument, NULL, 'O' },
		SOURCE_LONG_OPTIONS,
		{},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			(void)cli_help(&cmd_image_upload);
			return -1;
		}
		r = parse_upload_opt(c, argc, argv, a);
		if (r < 0)
			return cli_bad_option("image upload", c, argv);
		if (r > 0)
			return r;
	}
	if (optind + 2 != argc)
		return cli_usage_error("image upload", "expected IMAGE URL");
	a->image = argv[optind];
	a->blob.src.url = argv[optind + 1];
	if (a->resume && a->overwrite)
		return cli_usage_error("image upload",
				       "--resume and --overwrite exclude each other");
	return source_check("image upload", &a->blob);
}

static const char *upload_hint(int r)
{
	switch (r) {
	case -EEXIST:
		return " (the blob exists: --overwrite replaces it, --resume completes an upload of "
		       "the same image)";
	case -EBUSY:
		return " (the blob is leased: it is mounted read-write somewhere)";
	default:
		return "";
	}
}

static int do_upload(const struct upload_args *a)
{
	_cleanup_close_ int fd = -1;
	struct pl_auth_ctx *ctx = NULL;
	struct blob_options bo = { 0 };
	struct diag d = { 0 };
	struct upload_progress pr = { .lock = PTHREAD_MUTEX_INITIALIZER, .last_pct = 101 };
	struct blob_upload_stats st = { 0 };
	struct stat sb;
	int r;

	fd = open(a->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0)
		return log_error_errno(-errno, "Cannot open %s: %m", a->image);
	r = pl_blob_options(&a->blob.src, NULL, &bo, &ctx, &d);
	if (r < 0)
		return log_error_errno(r, "%s", diag_or_strerror(&d, r));
	r = blob_upload_file(
		&(struct blob_upload_options){ .blob = &bo,
					       .type = a->type,
					       .parallel = a->parallel,
					       .resume = a->resume,
					       .overwrite = a->overwrite,
					       .create_container = bo.auth == BLOB_AUTH_SHARED_KEY,
					       .progress =
						       isatty(STDERR_FILENO) ? show_progress : NULL,
					       .userdata = &pr },
		fd, (uint64_t)sb.st_size, &st);
	if (r < 0) {
		const char *why = pl_explain_coded(PL_STEP_OPEN, r, d.code);

		if (!why && (r == -EHOSTUNREACH || r == -ECONNREFUSED || r == -EINVAL))
			why = pl_explain(PL_STEP_OPEN, r);
		if (diag_is_set(&d))
			diag_prefix(&d, "Uploading %s to %.*s failed", a->image,
				    (int)strcspn(a->blob.src.url, "?"), a->blob.src.url);
		else
			diag_set(&d, r, "Uploading %s to %.*s failed%s: %m", a->image,
				 (int)strcspn(a->blob.src.url, "?"), a->blob.src.url,
				 upload_hint(r));
		pl_auth_explain(ctx, &d);
		log_error("%s%s%s", d.text, why ? ". Likely causes: " : "", why ? why : "");
	} else {
		if (st.container_created)
			log_info("Created the container (private) for %.*s",
				 (int)strcspn(a->blob.src.url, "?"), a->blob.src.url);
		log_info("Uploaded %s as a %s blob: %" PRIu64 " chunks sent (%" PRIu64
			 " MiB), %" PRIu64 " skipped",
			 a->image, a->type == BLOB_TYPE_PAGE ? "page" : "block", st.chunks_sent,
			 st.bytes_sent / MIB, st.chunks_skipped);
	}
	pl_auth_free(ctx);
	return r;
}

static int upload_main(int argc, char **argv)
{
	/* A block blob by default: a read-only image is read by every container group that mounts
	 * it, and a page blob serves at most 60 MiB/s per blob, a block blob up to the account's
	 * limits. Only a read-write mount (Put Page, leases) needs --page. */
	struct upload_args a = { .type = BLOB_TYPE_BLOCK };
	int r;

	r = parse_upload(argc, argv, &a);
	if (r != 0)
		return r < 0 ? CLI_EXIT_OK : r;
	return do_upload(&a) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_image_create = {
	.name = "create",
	.summary = "Build an encrypted LUKS2 image from a directory, without root",
	.usage =
		"Usage: sealmount image create --from-dir DIR --key-file FILE [--new-key] -o IMAGE\n"
		"                              [--size SIZE] [--integrity hmac-sha256|aead|none]\n"
		"                              [--sector-size 512|4096] [--pbkdf pbkdf2|argon2id]\n"
		"                              [--pbkdf-iterations N] [--no-journal] [--verity]\n"
		"\n"
		"Build an ext4 filesystem holding DIR (mke2fs -d) and write it as a new LUKS2 image\n"
		"(mode 0600), without root or device-mapper. A plaintext copy of the filesystem\n"
		"exists, unlinked, in IMAGE's directory while the image is written.\n"
		"\n"
		"  --from-dir DIR         the files to put in the image\n"
		"  --key-file FILE        the passphrase: the whole FILE, every byte (a trailing\n"
		"                         newline counts)\n"
		"  --new-key              create a missing FILE with 32 random bytes (mode 0600)\n"
		"  -o, --output IMAGE     the image to write (must not exist)\n"
		"  --size SIZE            the ext4 size (default: DIR's size plus room, at least\n"
		"                         8M): bytes, or a number with K, M, G or T (powers of\n"
		"                         1024; 'iB' optional, any case: 16M, 1g, 2GiB)\n"
		"  --integrity MODE       hmac-sha256 (default: aes-xts-plain64 + hmac(sha256)),\n"
		"                         aead (aes-gcm-random) or none (no integrity: refused by\n"
		"                         default when mounted, see --no-require-integrity)\n"
		"  --sector-size N        512 or 4096 (default) bytes\n"
		"  --pbkdf KDF            pbkdf2 (default) or argon2id\n"
		"  --pbkdf-iterations N   PBKDF2 iterations, a decimal number (default 100000)\n"
		"  --no-journal           store the no-journal flag (dm-integrity direct mode)\n"
		"  --verity               seal it: append a dm-verity hash area and print its\n"
		"                         root-hash (as `image seal` does)\n",
	.run = create_main,
};

const struct cli_command cmd_image_upload = {
	.name = "upload",
	.summary = "Upload an image as a page or block blob",
	.usage =
		"Usage: sealmount image upload IMAGE URL [--page|--block] [--parallel N]\n"
		"                              [--resume|--overwrite]\n"
		"                              [--account-key-file F | --bearer-token-file F |\n"
		"                               --imds[=ENDPOINT] [--client-id ID]] [--ca-file F]\n"
		"\n"
		"Upload IMAGE as a block blob (default; Put Block + Put Block List: for read-only\n"
		"mounts, which many readers share at the account's throughput) or, with --page, a\n"
		"page blob (Put Page, zero chunks skipped: needed to mount read-write; Azure serves\n"
		"one page blob at up to 60 MiB/s), N requests at a time (default 4). The blob must not\n"
		"exist unless --resume, which sends only what differs from an earlier upload (page\n"
		"blobs: written chunks are read back and compared; block blobs: block ids carry the\n"
		"MD5 of their content), or --overwrite, which deletes it (and its snapshots) first.\n"
		"Credentials as for `sealmount blob`; a SAS goes in the URL. With\n"
		"--account-key-file a missing container is created automatically (private access);\n"
		"with a SAS or a token it must exist.\n",
	.run = upload_main,
};
