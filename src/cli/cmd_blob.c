/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob.c - `sealmount blob stat URL` and `sealmount blob attach URL DIR`: the block stack
 * (blob [▸ diskcache] or file ▸ cache) exposed as DIR/data through FUSE, without any crypto.
 * A file:///path URL uses a local file instead of a blob (tests, local images).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_blob.h"
#include "sealmount/blob.h"
#include "sealmount/cache.h"
#include "sealmount/diskcache.h"
#include "sealmount/fusefs.h"
#include "sealmount/log.h"

#define FILE_PREFIX "file://"
#define DISK_CACHE_DEFAULT_MB 1024u

/* printf arguments for a URL without its query: a SAS there is a credential, never logged. */
#define URL_FMT "%.*s%s"
#define URL_ARG(u) (int)strcspn((u), "?"), (u), strchr((u), '?') ? "?<SAS redacted>" : ""

static bool is_file_url(const char *url)
{
	return strncmp(url, FILE_PREFIX, strlen(FILE_PREFIX)) == 0;
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
	case -EOPNOTSUPP:
		return " (--verify-md5 needs an Azure Blob source)";
	default:
		return "";
	}
}

/* Put a disk cache of the blob's (encrypted) bytes under the memory cache: read-only. */
static int add_disk_cache(const struct blob_args *a, struct bdev **lower)
{
	char etag[DISKCACHE_ETAG_MAX];
	_cleanup_free_ char *key = strndup(a->url, strcspn(a->url, "?"));
	struct diskcache_options o = { .dir = a->disk_cache_dir,
				       .key = key,
				       .etag = etag,
				       .max_bytes = a->disk_cache_mb << 20 };
	int r;

	if (!key)
		return log_error_errno(-ENOMEM, "Out of memory");
	r = blob_get_etag(*lower, etag, sizeof(etag));
	if (r < 0)
		return log_error_errno(r, "Cannot get the blob's ETag for the disk cache: %m");
	if (mkdir(a->disk_cache_dir, 0700) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "Cannot create %s: %m", a->disk_cache_dir);
	r = diskcache_new(*lower, &o, lower);
	if (r < 0) {
		*lower = NULL; /* freed by diskcache_new */
		return log_error_errno(r, "Cannot use the disk cache in %s: %m%s",
				       a->disk_cache_dir,
				       r == -EBUSY ? " (another attach is using it)" : "");
	}
	return 0;
}

/* *ret is the top of the lower stack; *ret_blob the blob device in it (for statistics). */
static int open_lower(const struct blob_args *a, struct blob_auth_ctx *auth, struct bdev **ret,
		      struct bdev **ret_blob)
{
	struct blob_options o;
	int r;

	if (is_file_url(a->url)) {
		r = bdev_file_open(a->url + strlen(FILE_PREFIX), a->rw, ret);
		if (r < 0)
			return log_error_errno(r, "Cannot open %s: %m", a->url);
		return 0;
	}
	r = blob_auth_setup(a, &o, auth);
	if (r < 0)
		return r;
	o.verify_md5 = a->verify_md5;
	r = blob_open(&o, ret);
	if (r < 0) {
		log_error_errno(r, "Cannot open blob " URL_FMT ": %m%s", URL_ARG(a->url),
				open_hint(r));
		blob_auth_explain(auth);
		return r;
	}
	*ret_blob = *ret;
	return a->disk_cache_dir ? add_disk_cache(a, ret) : 0;
}

static int do_stat(const struct blob_args *a)
{
	_cleanup_(blob_auth_done) struct blob_auth_ctx auth = { 0 };
	struct blob_options o;
	struct blob_props p;
	int r;

	if (is_file_url(a->url))
		return cli_usage_error("blob stat", "stat works on blob URLs only");
	r = blob_auth_setup(a, &o, &auth);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	r = blob_get_properties(&o, &p);
	if (r < 0) {
		log_error_errno(r, "Cannot get the properties of " URL_FMT ": %m%s",
				URL_ARG(a->url), open_hint(r));
		blob_auth_explain(&auth);
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

static void log_stats(struct bdev *cache, struct bdev *lower, struct bdev *blob)
{
	struct diskcache_stats ds;
	struct cache_stats st;
	struct blob_stats bs;

	if (diskcache_get_stats(lower, &ds) == 0)
		log_info("Disk cache: %" PRIu64 " hits, %" PRIu64 " misses (%" PRIu64
			 " bytes fetched), %" PRIu64 " evictions, %" PRIu64 " corrupt, %" PRIu64
			 " write errors, %" PRIu64 " bytes cached%s",
			 ds.hits, ds.misses, ds.bytes_fetched, ds.evictions, ds.corrupt,
			 ds.write_errors, ds.cached_bytes, ds.reset ? " (emptied at start)" : "");

	if (blob && blob_get_stats(blob, &bs) == 0)
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
	if (st.stale > 0)
		log_warn("Cache: %" PRIu64
			 " stale fetches refused: chunks came back different from "
			 "what this session fetched or wrote there (an older version served by the "
			 "storage?)",
			 st.stale);
}

static int do_attach(const struct blob_args *a)
{
	/* Declared first so that it is released last, after the stack that calls into it. */
	_cleanup_(blob_auth_done) struct blob_auth_ctx auth = { 0 };
	_cleanup_(bdev_freep) struct bdev *cache = NULL;
	struct cache_options co = { .mem_max = a->cache_mb * 1024 * 1024 };
	struct bdev *lower = NULL, *blob = NULL;
	int r;

	/* Fetches land straight in cache chunks; what is left MiB-sized and short-lived is
	 * libfuse's 1 MiB read buffer per request. A fixed threshold above it keeps those in the
	 * arenas (reused, no page faults per read), while glibc's adaptive one could move larger
	 * blocks (bounce buffers of a layer without readv) there too and overshoot the cache size. */
	if (mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024) != 1)
		log_debug("mallopt(M_MMAP_THRESHOLD) failed; peak memory may be higher");
	r = open_lower(a, &auth, &lower, &blob);
	if (r < 0) {
		bdev_free(lower);
		return CLI_EXIT_FAILURE;
	}
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
	log_stats(cache, lower, blob); /* the lower stack lives as long as the cache */
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
		{ "imds", optional_argument, NULL, 'I' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "disk-cache", required_argument, NULL, 'D' },
		{ "disk-cache-mb", required_argument, NULL, 'M' },
		{ "verify-md5", no_argument, NULL, 'V' },
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
		case 'I':
			a->imds = true;
			/* "--imds URL" as well as "--imds=URL" and a bare "--imds" */
			if (!optarg && optind < argc && strncmp(argv[optind], "http", 4) == 0)
				optarg = argv[optind++];
			a->imds_endpoint = optarg;
			break;
		case 'i':
			a->client_id = optarg;
			break;
		case 'D':
			a->disk_cache_dir = optarg;
			break;
		case 'V':
			a->verify_md5 = true;
			break;
		case 'M':
			if (cli_parse_uint(optarg, 1024 * 1024 * 1024, &a->disk_cache_mb) < 0 ||
			    a->disk_cache_mb < 1)
				return cli_usage_error(sub, "invalid --disk-cache-mb '%s'", optarg);
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
	if (!!a.key_file + !!a.token_file + a.imds > 1)
		return cli_usage_error(sub, "use one of --account-key-file, --bearer-token-file, "
					    "--imds");
	if (a.client_id && !a.imds)
		return cli_usage_error(sub, "--client-id needs --imds");
	if (a.disk_cache_mb && !a.disk_cache_dir)
		return cli_usage_error(sub, "--disk-cache-mb needs --disk-cache DIR");
	if (a.disk_cache_dir && (!attach || a.rw || is_file_url(a.url)))
		return cli_usage_error(sub,
				       "--disk-cache works with read-only attach of a blob only");
	if (a.disk_cache_dir && !a.disk_cache_mb)
		a.disk_cache_mb = DISK_CACHE_DEFAULT_MB;
	return attach ? do_attach(&a) : do_stat(&a);
}

const struct cli_command cmd_blob = {
	.name = "blob",
	.summary = "Show a blob's properties, or expose a blob (or file) as DIR/data via FUSE",
	.usage =
		"Usage: sealmount blob stat URL [AUTH]\n"
		"       sealmount blob attach URL DIR [--rw] [--cache-mb N] [--allow-other]\n"
		"                             [--disk-cache DIR [--disk-cache-mb N]] [--verify-md5]\n"
		"                             [AUTH]\n"
		"\n"
		"URL is https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB[?SAS], the emulator's\n"
		"http://127.0.0.1:10000/ACCOUNT/CONTAINER/BLOB, any https URL of a server that\n"
		"answers HEAD and byte ranges (read-only), or file:///PATH for a local file.\n"
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
		"  --disk-cache DIR       keep fetched (encrypted) blob bytes in DIR across runs;\n"
		"                         read-only attach only; emptied when the blob's ETag changes\n"
		"  --disk-cache-mb N      disk cache size cap in MiB (default 1024)\n"
		"  --verify-md5           check every range against the MD5 Azure computes for it\n"
		"                         (Azure sources; always on for plain-http ones)\n"
		"  --allow-other          let other users access the mount\n"
		"  -h, --help             show this help\n"
		"AUTH:\n"
		"  --account-key-file F   SharedKey with the base64 account key in file F\n"
		"  --bearer-token-file F  Entra ID bearer token read from F at every request\n"
		"                         (kept fresh by someone else)\n"
		"  --imds[=ENDPOINT]      managed-identity token from IMDS (default\n"
		"                         http://169.254.169.254) for resource https://<URL host>,\n"
		"                         refreshed before it expires\n"
		"  --client-id ID         user-assigned identity for --imds\n"
		"  --ca-file F            extra CA bundle for https (private or test CAs)\n",
	.run = run,
};
