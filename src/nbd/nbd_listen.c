/* SPDX-License-Identifier: MIT */
/*
 * nbd_listen.c - the NBD server on a Unix socket: created 0600 without a window in which it is
 * reachable with wider permissions, one thread accepting clients, removed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd_internal.h"
#include "sealmount/log.h"

#define LISTEN_BACKLOG 16

static int sockaddr_for(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* A listening socket at tmp (inside a fresh 0700 directory), mode 0600. */
static int bind_listen(const char *tmp, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	int r;

	r = sockaddr_for(tmp, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(tmp, 0600) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * Bind in a private directory next to path, then hard-link the socket into place: link()
 * never replaces an existing file (a stale socket stays, -EEXIST), and the socket has its
 * final mode before anyone can reach it.
 */
static int bind_private(const char *path, int *ret_fd, struct stat *ret_st)
{
	_cleanup_free_ char *copy = strdup(path), *dir = NULL, *tmp = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (!copy)
		return -ENOMEM;
	if (asprintf(&dir, "%s/.nbd-XXXXXX", dirname(copy)) < 0) {
		dir = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(dir))
		return -errno;
	if (asprintf(&tmp, "%s/s", dir) < 0) {
		tmp = NULL;
		(void)rmdir(dir);
		return -ENOMEM;
	}
	r = bind_listen(tmp, &fd);
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	if (r == 0 && lstat(path, ret_st) < 0)
		r = -errno;
	(void)unlink(tmp);
	(void)rmdir(dir);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Wait for a client or for the stop byte. 1 with a client in *ret_fd, 0 on stop. */
static int accept_one(struct nbd_server *srv, int *ret_fd)
{
	struct pollfd p[2] = { { .fd = srv->listen_fd, .events = POLLIN },
			       { .fd = srv->wake[0], .events = POLLIN } };
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return 0;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			*ret_fd = fd;
			return 1;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			(void)poll(NULL, 0, 100); /* out of resources: do not spin */
		else if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			return -errno;
	}
}

static void *listener_thread(void *arg)
{
	struct nbd_server *srv = arg;
	int fd = -1, r;

	while ((r = accept_one(srv, &fd)) > 0) {
		nbd_server_reap(srv, false);
		if (nbd_server_active(srv) >= srv->max_connections) {
			log_debug("nbd: %u clients already, refusing one more",
				  srv->max_connections);
			(void)close(fd);
			continue;
		}
		r = nbd_server_start(srv, fd, true);
		if (r < 0)
			log_debug_errno(r, "nbd: cannot serve a client: %m");
	}
	if (r < 0)
		log_debug_errno(r, "nbd: listener failed: %m");
	return NULL;
}

int nbd_server_listen_unix(struct nbd_server *srv, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int r;

	r = sockaddr_for(path, &sa);
	if (r < 0)
		return r;
	LOCK_GUARD(&srv->lock);
	if (srv->stopped)
		return -ESHUTDOWN;
	if (srv->listen_fd >= 0)
		return -EBUSY;
	if (srv->wake[0] < 0 && pipe2(srv->wake, O_CLOEXEC) < 0) {
		srv->wake[0] = srv->wake[1] = -1;
		return -errno;
	}
	srv->socket_path = strdup(path);
	if (!srv->socket_path)
		return -ENOMEM;
	r = bind_private(path, &srv->listen_fd, &st);
	if (r < 0) {
		free(TAKE_PTR(srv->socket_path));
		return r;
	}
	srv->socket_dev = st.st_dev;
	srv->socket_ino = st.st_ino;
	r = -pthread_create(&srv->listener, NULL, listener_thread, srv);
	if (r < 0)
		return r; /* nbd_server_free() removes the socket */
	srv->listening = true;
	log_debug("nbd: listening on %s", path);
	return 0;
}

void nbd_listen_done(struct nbd_server *srv)
{
	struct stat st;

	if (srv->listen_fd >= 0)
		(void)close(srv->listen_fd);
	srv->listen_fd = -1;
	/* Remove the path only if it is still the socket we made. */
	if (srv->socket_path && lstat(srv->socket_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == srv->socket_dev && st.st_ino == srv->socket_ino)
		(void)unlink(srv->socket_path);
	free(srv->socket_path);
	srv->socket_path = NULL;
	for (int i = 0; i < 2; i++)
		if (srv->wake[i] >= 0)
			(void)close(srv->wake[i]);
	srv->wake[0] = srv->wake[1] = -1;
}
