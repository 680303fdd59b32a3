/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob_nbd.c - `sealmount blob attach URL --nbd SOCKET [--rw]`: the blob stack that attach
 * builds, served by the in-process NBD server on a Unix socket (mode 0600, removed on exit)
 * instead of FUSE; any NBD client (nbdinfo, nbdcopy, qemu, nbdfuse, fio) can use it through
 * the URI printed on stdout. SIGINT/SIGTERM stop it: connections finish what is in flight,
 * then attach writes back (--rw) and releases the lease as it does after FUSE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sealmount/buf.h"
#include "sealmount/log.h"
#include "sealmount/nbd.h"

#define URI_MAX 8192

static int stop_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;

	(void)!write(stop_pipe[1], "x", 1); /* async-signal-safe; a full pipe means stopping */
	errno = saved;
}

/* Signals may arrive on any thread (the cache's workers run already): a handler that writes to
 * a pipe works wherever it lands. */
static int catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

static void release_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	for (int i = 0; i < 2; i++)
		if (stop_pipe[i] >= 0)
			(void)close(stop_pipe[i]);
	stop_pipe[0] = stop_pipe[1] = -1;
}

static void wait_for_stop(void)
{
	char c;
	int fl = fcntl(stop_pipe[0], F_GETFL);

	/* Blocking reads on the read end; the write end stays non-blocking for the handler. */
	if (fl >= 0)
		(void)fcntl(stop_pipe[0], F_SETFL, fl & ~O_NONBLOCK);
	while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
}

/* nbd+unix:///?socket=ABSOLUTE_PATH, the path percent-encoded where a URI needs it. */
static int socket_uri(const char *path, struct buf *out)
{
	static const char keep[] = "-._~/";
	_cleanup_free_ char *cwd = path[0] == '/' ? NULL : getcwd(NULL, 0);
	int r;

	if (path[0] != '/' && !cwd)
		return -errno;
	r = buf_append_str(out, "nbd+unix:///?socket=");
	for (const char *s = cwd ? cwd : ""; r == 0 && s; s = s == cwd ? "/" : NULL)
		r = s[0] ? buf_append_str(out, s) : 0;
	for (const unsigned char *p = (const unsigned char *)path; r == 0 && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(keep, *p))
			r = buf_append(out, p, 1);
		else
			r = buf_printf(out, "%%%02X", *p);
	}
	return r;
}

static void log_nbd_stats(const struct nbd_server *srv)
{
	struct nbd_server_stats st;

	nbd_server_get_stats(srv, &st);
	log_info("NBD: %" PRIu64 " connections, %" PRIu64 " requests (%" PRIu64 " reads, %" PRIu64
		 " bytes; %" PRIu64 " writes, %" PRIu64 " bytes; %" PRIu64 " flushes), %" PRIu64
		 " errors, %" PRIu64 " protocol errors",
		 st.connections, st.requests, st.reads, st.bytes_read, st.writes, st.bytes_written,
		 st.flushes, st.errors, st.protocol_errors);
}

static int listen_and_announce(struct nbd_server *srv, const char *socket, bool rw)
{
	_cleanup_(buf_done) struct buf uri;
	int r;

	buf_init(&uri, URI_MAX);
	r = nbd_server_listen_unix(srv, socket);
	if (r < 0)
		return log_error_errno(r, "Cannot listen on %s: %m%s", socket,
				       r == -EEXIST ? " (it exists: remove a stale socket first)" :
				       r == -ENAMETOOLONG ? " (Unix socket paths are short)" :
							    "");
	r = socket_uri(socket, &uri);
	if (r < 0)
		return log_error_errno(r, "Cannot build the export's URI: %m");
	printf("%s\n", (const char *)uri.data);
	if (fflush(stdout) != 0)
		return log_error_errno(-EIO, "Cannot print the export's URI");
	log_info("Serving the blob as an NBD export at %s (%s, %" PRIu64
		 " bytes); stop with Ctrl-C or SIGTERM",
		 socket, rw ? "read-write" : "read-only", nbd_server_size(srv));
	return 0;
}

int blob_nbd_serve(struct bdev *dev, const char *socket, bool rw)
{
	_cleanup_(nbd_server_freep) struct nbd_server *srv = NULL;
	struct nbd_server_options o = { .writable = rw, .description = "sealmount blob" };
	int r;

	r = nbd_server_new(dev, &o, &srv);
	if (r < 0)
		return log_error_errno(r, "Cannot set up the NBD server: %m");
	r = catch_signals();
	if (r < 0) {
		release_signals();
		return log_error_errno(r, "Cannot catch SIGINT/SIGTERM: %m");
	}
	r = listen_and_announce(srv, socket, rw);
	if (r == 0) {
		wait_for_stop();
		log_info("Stopping the NBD server");
	}
	nbd_server_stop(srv);
	nbd_server_wait(srv); /* requests in flight are answered first */
	release_signals();
	log_nbd_stats(srv);
	return r;
}
