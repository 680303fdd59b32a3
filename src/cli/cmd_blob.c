/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob.c - `sealmount blob stat URL` and `sealmount blob attach URL DIR`: the block stack
 * (blob or file ▸ cache) exposed as DIR/data through FUSE, without any crypto.
 * A file:///path URL uses a local file instead of a blob (tests, local images).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sealmount/blob.h"
#include "sealmount/cache.h"
#include "sealmount/fusefs.h"
#include "sealmount/log.h"

#define FILE_PREFIX "file://"

struct blob_args {
	const char *url;
	const char *dir;
	const char *key_file;
	const char *token_file;
	const char *ca_file;
	uint64_t cache_mb;
	bool rw;
	bool allow_other;
};

/* printf arguments for a URL without its query: a SAS there is a credential, never logged. */
#define URL_FMT "%.*s%s"
#define URL_ARG(u) (int)strcspn((u), "?"), (u), strchr((u), '?') ? "?<SAS redacted>" : ""

static bool is_file_url(const char *url)
{
	return strncmp(url, FILE_PREFIX, strlen(FILE_PREFIX)) == 0;
}

#define TOKEN_FILE_MAX (16u * 1024)

/* blob_token_fn over a file that someone else keeps fresh: read at every request. */
static int file_token(void *userdata, char **ret)
{
	const char *path = userdata;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char buf[TOKEN_FILE_MAX + 1];
	ssize_t n;
	size_t len;

	if (fd < 0)
		return log_debug_errno(-errno, "Cannot open the token file %s: %m", path);
	n = read(fd, buf, sizeof(buf));
	if (n < 0 || n > (ssize_t)TOKEN_FILE_MAX)
		return n < 0 ? -errno : -EFBIG;
	len = (size_t)n;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	*ret = len > 0 && !memchr(buf, '\n', len) ? strndup(buf, len) : NULL;
	wipe(buf, sizeof(buf));
	if (len == 0)
		return -EBADMSG;
	return *ret ? 0 : -ENOMEM;
}

/* Fill o for args; *key receives the account key (caller frees). */
static int blob_opts(const struct blob_args *a, struct blob_options *o, struct secret **key)
{
	int r;

	*o = (struct blob_options){ .url = a->url, .rw = a->rw, .ca_file = a->ca_file };
	if (a->token_file) {
		o->auth = BLOB_AUTH_BEARER;
		o->token_fn = file_token;
		o->token_userdata = (void *)a->token_file;
		return 0;
	}
	if (!a->key_file)
		return 0;
	r = blob_account_key_load(a->key_file, key);
	if (r < 0)
		return log_error_errno(r, "Cannot read the account key from %s: %m", a->key_file);
	o->auth = BLOB_AUTH_SHARED_KEY;
	o->account_key = *key;
	return 0;
}

static const char *open_hint(int r)
{
	switch (r) {
	case -EACCES:
		return " (access denied: check the SAS, account key or role assignment)";
	case -ENOENT:
		return " (no such blob or container)";
	case -EBUSY:
		return " (another writer holds the blob's lease; it is open read-write elsewhere)";
	case -EMEDIUMTYPE:
		return " (read-write needs a page blob)";
	case -ESTALE:
		return " (the blob changed while being read)";
	default:
		return "";
	}
}

static int open_lower(const struct blob_args *a, struct bdev **ret)
{
	_cleanup_(secret_freep) struct secret *key = NULL;
	struct blob_options o;
	int r;

	if (is_file_url(a->url)) {
		r = bdev_file_open(a->url + strlen(FILE_PREFIX), a->rw, ret);
		if (r < 0)
			return log_error_errno(r, "Cannot open %s: %m", a->url);
		return 0;
	}
	r = blob_opts(a, &o, &key);
	if (r < 0)
		return r;
	r = blob_open(&o, ret);
	if (r < 0)
		return log_error_errno(r, "Cannot open blob " URL_FMT ": %m%s", URL_ARG(a->url),
				       open_hint(r));
	return 0;
}

static int do_stat(const struct blob_args *a)
{
	_cleanup_(secret_freep) struct secret *key = NULL;
	struct blob_options o;
	struct blob_props p;
	int r;

	if (is_file_url(a->url))
		return cli_usage_error("blob stat", "stat works on blob URLs only");
	r = blob_opts(a, &o, &key);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	r = blob_get_properties(&o, &p);
	if (r < 0) {
		log_error_errno(r, "Cannot get the properties of " URL_FMT ": %m%s",
				URL_ARG(a->url), open_hint(r));
		return CLI_EXIT_FAILURE;
	}
	printf("size: %" PRIu64 "\ntype: %s\netag: %s\nlease-state: %s\nlease-status: %s\n", p.size,
	       blob_type_name(p.type), p.etag, p.lease_state, p.lease_status);
	return CLI_EXIT_OK;
}

static int serve(struct bdev *dev, const struct blob_args *a)
{
	_cleanup_(fusefs_freep) struct fusefs *fs = NULL;
	struct fusefs_options fo = { .rw = a->rw,
				     .allow_other = a->allow_other,
				     .handle_signals = true };
	int r;

	r = fusefs_new(dev, a->dir, &fo, &fs);
	if (r < 0)
		return log_error_errno(r, "Cannot mount FUSE at %s: %m", a->dir);
	log_info("Attached " URL_FMT " at %s/%s (%s, %" PRIu64
		 " bytes); stop with Ctrl-C or SIGTERM",
		 URL_ARG(a->url), a->dir, FUSEFS_FILE_NAME, a->rw ? "read-write" : "read-only",
		 bdev_size(dev));
	r = fusefs_run(fs);
	if (r < 0)
		log_error_errno(r, "FUSE loop failed: %m");
	return r;
}

static void log_stats(struct bdev *cache, struct bdev *lower)
{
	struct cache_stats st;
	struct blob_stats bs;

	if (blob_get_stats(lower, &bs) == 0)
		log_info("Blob: %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64
			 " verification failures, %" PRIu64 " bytes read, %" PRIu64 " written",
			 bs.requests, bs.retries, bs.verify_failures, bs.bytes_read,
			 bs.bytes_written);
	if (cache_get_stats(cache, &st) < 0)
		return;
	log_info("Cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " fetches (%" PRIu64
		 " bytes, %" PRIu64 " read-ahead, %" PRIu64 " retries), %" PRIu64
		 " writes (%" PRIu64 " bytes, %" PRIu64 " failed)",
		 st.hits, st.misses, st.fetches, st.bytes_fetched, st.prefetches, st.retries,
		 st.writes, st.bytes_written, st.write_errors);
}

static int do_attach(const struct blob_args *a)
{
	_cleanup_(bdev_freep) struct bdev *cache = NULL;
	struct cache_options co = { .mem_max = a->cache_mb * 1024 * 1024 };
	struct bdev *lower = NULL;
	int r;

	/* Fetch and response buffers are MiB-sized and short-lived, on many threads. A fixed mmap
	 * threshold gives them back at once; glibc's adaptive one would keep them in per-thread
	 * arenas and peak RSS would overshoot the cache size by several buffers per thread. */
	if (mallopt(M_MMAP_THRESHOLD, 1024 * 1024) != 1)
		log_debug("mallopt(M_MMAP_THRESHOLD) failed; peak memory may be higher");
	r = open_lower(a, &lower);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	r = cache_new(lower, &co, &cache);
	if (r < 0) {
		log_error_errno(r, "Cannot set up a %" PRIu64 " MiB cache: %m", a->cache_mb);
		return CLI_EXIT_FAILURE;
	}
	r = serve(cache, a);
	if (a->rw) {
		int r2 = bdev_flush(cache);

		if (r2 < 0)
			r = log_error_errno(r2, "Final write-back failed, data may be lost: %m");
	}
	log_stats(cache, lower); /* lower lives as long as the cache */
	return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static int parse(int argc, char **argv, const char *sub, struct blob_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "rw", no_argument, NULL, 'w' },
		{ "cache-mb", required_argument, NULL, 'c' },
		{ "account-key-file", required_argument, NULL, 'k' },
		{ "allow-other", no_argument, NULL, 'o' },
		{ "bearer-token-file", required_argument, NULL, 't' },
		{ "ca-file", required_argument, NULL, 'C' },
		{},
	};
	int c;

	*a = (struct blob_args){ .cache_mb = CACHE_DEFAULT_MEM >> 20 };
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cli_print_usage(&cmd_blob, stdout);
			return 1;
		case 'w':
			a->rw = true;
			break;
		case 'c':
			if (cli_parse_uint(optarg, 1024 * 1024, &a->cache_mb) < 0 ||
			    a->cache_mb < 1)
				return cli_usage_error(sub, "invalid --cache-mb '%s'", optarg);
			break;
		case 'k':
			a->key_file = optarg;
			break;
		case 'o':
			a->allow_other = true;
			break;
		case 't':
			a->token_file = optarg;
			break;
		case 'C':
			a->ca_file = optarg;
			break;
		default:
			return cli_usage_error(sub, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return 0;
}

static int run(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	bool attach = streq(sub, "attach");
	struct blob_args a;
	int r;

	if (streq(sub, "--help") || streq(sub, "-h"))
		return cli_help(&cmd_blob);
	if (!attach && !streq(sub, "stat"))
		return cli_usage_error("blob", "expected 'stat' or 'attach'");
	r = parse(argc - 1, argv + 1, attach ? "blob attach" : "blob stat", &a);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r != 0)
		return r;
	if (argc - 1 - optind != (attach ? 2 : 1))
		return cli_usage_error("blob", "%s takes %s", sub, attach ? "URL DIR" : "URL");
	a.url = argv[1 + optind];
	a.dir = attach ? argv[2 + optind] : NULL;
	if (!attach && a.rw)
		return cli_usage_error("blob stat", "--rw makes no sense here");
	if (a.key_file && a.token_file)
		return cli_usage_error(sub, "use either --account-key-file or --bearer-token-file");
	return attach ? do_attach(&a) : do_stat(&a);
}

const struct cli_command cmd_blob = {
	.name = "blob",
	.summary = "Show a blob's properties, or expose a blob (or file) as DIR/data via FUSE",
	.usage =
		"Usage: sealmount blob stat URL [AUTH]\n"
		"       sealmount blob attach URL DIR [--rw] [--cache-mb N] [--allow-other] [AUTH]\n"
		"\n"
		"URL is https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB[?SAS], the emulator's\n"
		"http://127.0.0.1:10000/ACCOUNT/CONTAINER/BLOB, or file:///PATH for a local file.\n"
		"Without AUTH options the blob is read anonymously or with the SAS in the URL\n"
		"(a URL on the command line is visible to other local users: prefer SAS-less URLs\n"
		"with a token or key file on shared machines).\n"
		"\n"
		"stat prints size, blob type, ETag and lease state.\n"
		"attach exposes the blob through a block cache as DIR/data until interrupted\n"
		"(SIGINT/SIGTERM), then writes back, releases the lease and unmounts.\n"
		"\n"
		"Options:\n"
		"  --rw                   read-write (page blobs only; takes the blob's lease)\n"
		"  --cache-mb N           cache memory in MiB (default 64)\n"
		"  --allow-other          let other users access the mount\n"
		"  -h, --help             show this help\n"
		"AUTH:\n"
		"  --account-key-file F   SharedKey with the base64 account key in file F\n"
		"  --bearer-token-file F  Entra ID bearer token read from F at every request\n"
		"                         (kept fresh by someone else)\n"
		"  --ca-file F            extra CA bundle for https (private or test CAs)\n",
	.run = run,
};
