/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob.c - `sealmount blob stat URL` and `sealmount blob attach URL DIR`: the pipeline's
 * stack (pl_stack_open: blob [▸ diskcache] or file ▸ cache) exposed as DIR/data through FUSE,
 * without any crypto. A file:///path URL uses a local file instead of a blob (tests, images).
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
#include "source_opts.h"
#include "sealmount/blob.h"
#include "sealmount/cache.h"
#include "sealmount/diskcache.h"
#include "sealmount/fusefs.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"

/* printf arguments for a URL without its query: a SAS there is a credential, never logged. */
#define URL_FMT "%.*s%s"
#define URL_ARG(u) (int)strcspn((u), "?"), (u), strchr((u), '?') ? "?<SAS redacted>" : ""

struct blob_args {
	struct source_args s; /* URL, credentials, caches */
	const char *dir;
	const char *nbd_socket; /* --nbd SOCKET: serve over NBD instead of FUSE */
	bool allow_other;
};

static bool is_file_url(const char *url)
{
	return strncmp(url, "file://", 7) == 0;
}

static int do_stat(const struct blob_args *a)
{
	struct pl_auth_ctx *auth = NULL;
	struct blob_options o;
	struct blob_props p;
	struct diag d = { 0 };
	int r;

	if (is_file_url(a->s.src.url))
		return cli_usage_error("blob stat", "stat works on blob URLs only");
	r = pl_blob_options(&a->s.src, NULL, &o, &auth, &d);
	if (r == 0) {
		r = blob_get_properties(&o, &p);
		if (r < 0 && diag_is_set(&d))
			diag_prefix(&d, "Cannot get the properties of " URL_FMT,
				    URL_ARG(a->s.src.url));
		else if (r < 0)
			diag_set(&d, r, "Cannot get the properties of " URL_FMT ": %m",
				 URL_ARG(a->s.src.url));
		if (r < 0)
			pl_auth_explain(auth, &d);
	}
	pl_auth_free(auth);
	if (r < 0) {
		log_error("%s. Likely causes: %s", diag_or_strerror(&d, r),
			  pl_explain_diag(PL_STEP_OPEN, &d, r));
		return CLI_EXIT_FAILURE;
	}
	printf("size: %" PRIu64 "\ntype: %s\netag: %s\nlease-state: %s\nlease-status: %s\n", p.size,
	       blob_type_name(p.type), p.etag, p.lease_state, p.lease_status);
	return CLI_EXIT_OK;
}

static int serve(struct bdev *dev, const struct blob_args *a)
{
	_cleanup_(fusefs_freep) struct fusefs *fs = NULL;
	struct fusefs_options fo = { .rw = a->s.src.rw,
				     .allow_other = a->allow_other,
				     .handle_signals = true };
	int r;

	r = fusefs_new(dev, a->dir, &fo, &fs);
	if (r < 0)
		return log_error_errno(r, "Cannot mount FUSE at %s: %m", a->dir);
	log_info("Attached " URL_FMT " at %s/%s (%s, %" PRIu64
		 " bytes); stop with Ctrl-C or SIGTERM",
		 URL_ARG(a->s.src.url), a->dir, FUSEFS_FILE_NAME,
		 a->s.src.rw ? "read-write" : "read-only", bdev_size(dev));
	r = fusefs_run(fs);
	if (r < 0)
		log_error_errno(r, "FUSE loop failed: %m");
	return r;
}

static void log_stats(struct bdev *cache, struct bdev *disk, struct bdev *blob)
{
	struct diskcache_stats ds;
	struct cache_stats st;
	struct blob_stats bs;

	if (disk && diskcache_get_stats(disk, &ds) == 0)
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
	if (!cache || cache_get_stats(cache, &st) < 0)
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
	_cleanup_(pl_stack_close) struct pl_stack st = { 0 };
	struct diag d = { 0 };
	int r;

	/* Fetches land straight in cache chunks; what is left MiB-sized and short-lived is
	 * libfuse's 1 MiB read buffer per request. A fixed threshold above it keeps those in the
	 * arenas (reused, no page faults per read), while glibc's adaptive one could move larger
	 * blocks (bounce buffers of a layer without readv) there too and overshoot the cache size. */
	if (mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024) != 1)
		log_debug("mallopt(M_MMAP_THRESHOLD) failed; peak memory may be higher");
	r = pl_stack_open(&a->s.src, NULL, &st, &d);
	if (r < 0) {
		log_error("%s. Likely causes: %s", diag_or_strerror(&d, r),
			  pl_explain_diag(PL_STEP_OPEN, &d, r));
		return CLI_EXIT_FAILURE;
	}
	r = a->nbd_socket ? blob_nbd_serve(st.top, a->nbd_socket, a->s.src.rw) : serve(st.top, a);
	if (a->s.src.rw) {
		int r2 = bdev_flush(st.top);

		if (r2 < 0)
			r = log_error_errno(r2, "Final write-back failed, data may be lost: %m");
	}
	log_stats(st.cache, st.disk, st.blob); /* the stack lives until st is closed */
	return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

static const struct cli_command blob_stat_help, blob_attach_help;

static int parse(int argc, char **argv, const char *sub, struct blob_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "rw", no_argument, NULL, 'w' },
		{ "cache-mb", required_argument, NULL, 'c' },
		{ "allow-other", no_argument, NULL, 'o' },
		{ "disk-cache", required_argument, NULL, 'D' },
		{ "disk-cache-mb", required_argument, NULL, 'M' },
		{ "verify-md5", no_argument, NULL, 'V' },
		{ "nbd", required_argument, NULL, 'N' },
		SOURCE_LONG_OPTIONS,
		{},
	};
	struct pl_source *src = &a->s.src;
	int c;

	*a = (struct blob_args){ .s.src.cache_mb = PL_CACHE_DEFAULT_MB };
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cli_print_usage(streq(sub, "blob attach") ? &blob_attach_help :
								    &blob_stat_help,
					stdout);
			return 1;
		case 'w':
			src->rw = true;
			break;
		case 'c':
			if (cli_parse_uint(optarg, 1024 * 1024, &src->cache_mb) < 0 ||
			    src->cache_mb < 1)
				return cli_usage_error(sub, "invalid --cache-mb '%s'", optarg);
			break;
		case 'o':
			a->allow_other = true;
			break;
		case 'D':
			src->disk_cache_dir = optarg;
			break;
		case 'V':
			src->verify_md5 = true;
			break;
		case 'M':
			if (cli_parse_uint(optarg, 1024 * 1024 * 1024, &src->disk_cache_mb) < 0 ||
			    src->disk_cache_mb < 1)
				return cli_usage_error(sub, "invalid --disk-cache-mb '%s'", optarg);
			break;
		case 'N':
			a->nbd_socket = optarg;
			break;
		default:
			if (source_parse_option(&a->s, c, argc, argv) == 0)
				break;
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
	const struct pl_source *src = &a.s.src;
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
	if (a.nbd_socket && !attach)
		return cli_usage_error("blob stat", "--nbd works with attach only");
	if (argc - 1 - optind != (attach && !a.nbd_socket ? 2 : 1))
		return cli_usage_error("blob", "%s takes %s", sub,
				       !attach	    ? "URL" :
				       a.nbd_socket ? "URL (with --nbd)" :
						      "URL DIR");
	a.s.src.url = argv[1 + optind];
	a.dir = attach && !a.nbd_socket ? argv[2 + optind] : NULL;
	if (!attach && src->rw)
		return cli_usage_error("blob stat", "--rw makes no sense here");
	r = source_check(sub, &a.s);
	if (r != 0)
		return r;
	if (src->disk_cache_mb && !src->disk_cache_dir)
		return cli_usage_error(sub, "--disk-cache-mb needs --disk-cache DIR");
	if (src->disk_cache_dir && (!attach || src->rw || is_file_url(src->url)))
		return cli_usage_error(sub,
				       "--disk-cache works with read-only attach of a blob only");
	return attach ? do_attach(&a) : do_stat(&a);
}

#define BLOB_URL_HELP                                                                              \
	"URL is https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB[?SAS], the emulator's\n"      \
	"http://127.0.0.1:10000/ACCOUNT/CONTAINER/BLOB, any https URL of a server that\n"          \
	"answers HEAD and byte ranges (read-only), or file:///PATH for a local file.\n"            \
	"Without AUTH options the blob is read anonymously or with the SAS in the URL\n"           \
	"(a URL on the command line is visible to other local users: prefer SAS-less URLs\n"       \
	"with a token or key file on shared machines).\n"

static const struct cli_command blob_stat_help = {
	.name = "stat",
	.summary = "Print a blob's properties",
	.usage = "Usage: sealmount blob stat URL [AUTH]\n"
		 "\n"
		 "Print size, blob type, ETag and lease state.\n"
		 "\n" BLOB_URL_HELP "\n"
		 "Options:\n"
		 "  -h, --help             show this help\n"
		 "AUTH:\n" SOURCE_HELP,
	.run = run,
};

static const struct cli_command blob_attach_help = {
	.name = "attach",
	.summary = "Expose a blob (or file) as DIR/data via FUSE, or over NBD",
	.usage =
		"Usage: sealmount blob attach URL DIR [--rw] [--cache-mb N] [--allow-other]\n"
		"                             [--disk-cache DIR [--disk-cache-mb N]] [--verify-md5]\n"
		"                             [AUTH]\n"
		"       sealmount blob attach URL --nbd SOCKET [--rw] [--cache-mb N] [...]\n"
		"\n"
		"Expose the blob through a block cache as DIR/data until interrupted\n"
		"(SIGINT/SIGTERM), then write back, release the lease and unmount.\n"
		"With --nbd, the same stack is an NBD export on the Unix socket SOCKET (created\n"
		"0600, removed on exit) instead; its URI (nbd+unix:///?socket=...) goes to stdout.\n"
		"\n" BLOB_URL_HELP "\n"
		"Options:\n"
		"  --rw                   read-write (page blobs only; takes the blob's lease)\n"
		"  --cache-mb N           cache memory in MiB, 1..1048576 (default 64)\n"
		"  --disk-cache DIR       keep fetched (encrypted) blob bytes in DIR across runs;\n"
		"                         read-only attach only; emptied when the blob's ETag changes\n"
		"  --disk-cache-mb N      disk cache size cap in MiB (default 1024)\n"
		"  --verify-md5           check every range against the MD5 Azure computes for it\n"
		"                         (Azure sources; always on for plain-http ones)\n"
		"  --nbd SOCKET           serve over NBD on a new Unix socket instead of FUSE\n"
		"  --allow-other          let other users access the mount\n"
		"  -h, --help             show this help\n"
		"AUTH:\n" SOURCE_HELP,
	.run = run,
};

const struct cli_command cmd_blob = {
	.name = "blob",
	.summary = "Show a blob's properties, or expose a blob (or file) as DIR/data via FUSE",
	.usage = "Usage: sealmount blob stat URL [AUTH]\n"
		 "       sealmount blob attach URL (DIR | --nbd SOCKET) [OPTIONS] [AUTH]\n"
		 "\n"
		 "Subcommands (`sealmount blob SUBCOMMAND --help` for each):\n"
		 "  stat                   print a blob's size, type, ETag and lease state\n"
		 "  attach                 expose a blob through a block cache as DIR/data (FUSE)\n"
		 "                         or as an NBD export\n",
	.run = run,
};
