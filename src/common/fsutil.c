/* SPDX-License-Identifier: MIT */
/* fsutil.c - private directories, the bounded file reader, the atomic writer (fsutil.h). */
#define _GNU_SOURCE
#include "sealmount/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/buf.h"
#include "sealmount/codec.h"

#define READ_CHUNK 4096u

int fs_mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -ENOTDIR;
	if ((st.st_mode & 0077) && chmod(path, 0700) < 0)
		return -errno;
	return 0;
}

/* ---- reading ---- */

/* Read fd to the end into s (grown, wiped on the way, as secret memory), at most max bytes. */
static int read_into_secret(int fd, size_t max, struct secret **ret, size_t *ret_len)
{
	_cleanup_(secret_freep) struct secret *s = NULL;
	struct stat st;
	size_t len = 0, cap;
	ssize_t n;
	int r;

	/* A regular file's size is known: one allocation (plus one byte to see growth). */
	cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
			      (uint64_t)st.st_size < max ?
		      (size_t)st.st_size + 1 :
		      (max < READ_CHUNK ? max + 1 : READ_CHUNK);
	r = secret_new(cap + 1, &s); /* + the terminating zero */
	if (r < 0)
		return r;
	for (;;) {
		if (len == cap) {
			struct secret *bigger;

			if (cap > max)
				return -EFBIG;
			cap = cap > (max + 1) / 2 ? max + 1 : 2 * cap;
			r = secret_new(cap + 1, &bigger);
			if (r < 0)
				return r;
			memcpy(bigger->data, s->data, len);
			secret_free(s);
			s = bigger;
		}
		n = read(fd, s->data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max)
		return -EFBIG;
	*ret = TAKE_PTR(s);
	*ret_len = len;
	return 0;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Apply the text flags to [*start, *end) in place. */
static int shape(const uint8_t *p, size_t *start, size_t *end, unsigned flags)
{
	if (flags & FS_READ_TRIM) {
		while (*end > *start && is_space(p[*end - 1]))
			(*end)--;
		while (*start < *end && is_space(p[*start]))
			(*start)++;
	}
	if ((flags & FS_READ_ONE_LINE) &&
	    (memchr(p + *start, '\n', *end - *start) || memchr(p + *start, '\r', *end - *start) ||
	     memchr(p + *start, '\0', *end - *start)))
		return -EBADMSG;
	if ((flags & FS_READ_NONEMPTY) && *end == *start)
		return -ENODATA;
	return 0;
}

/* out = the flags' view of raw[start, end): a copy, or the base64-decoded bytes. */
static int secret_result(const struct secret *raw, size_t start, size_t end, unsigned flags,
			 struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *out = NULL;
	const char *text = (const char *)raw->data + start;
	size_t n = (flags & FS_READ_BASE64) ? b64_decoded_len(text, end - start) : end - start;
	int r;

	if (n == 0) /* a secret is never empty; base64 text too short to hold a byte is bad */
		return end > start ? -EBADMSG : -ENODATA;
	r = secret_new(n + 1, &out); /* + a zero byte after the content */
	if (r < 0)
		return r;
	if (flags & FS_READ_BASE64)
		r = b64_decode_fixed(B64_STD, text, end - start, out->data, n);
	else
		memcpy(out->data, text, n);
	if (r < 0)
		return -EBADMSG;
	r = secret_truncate(out, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int fs_read_secret(const char *path, size_t max, unsigned flags, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *raw = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0, start = 0, end;
	int r;

	if (fd < 0)
		return -errno;
	r = read_into_secret(fd, max, &raw, &len);
	if (r < 0 || !raw)
		return r < 0 ? r : -EIO;
	end = len;
	r = shape(raw->data, &start, &end, flags);
	if (r < 0)
		return r;
	return secret_result(raw, start, end, flags, ret);
}

int fs_read_file(const char *path, size_t max, unsigned flags, uint8_t **ret, size_t *ret_len)
{
	_cleanup_(buf_done) struct buf b = { 0 };
	_cleanup_free_ uint8_t *dec = NULL;
	size_t start = 0, end, n;
	int r;

	buf_init(&b, max);
	r = buf_append_file(&b, path);
	if (r < 0)
		return r;
	end = b.len;
	r = shape(b.data ? b.data : (const uint8_t *)"", &start, &end, flags);
	if (r < 0)
		return r;
	if (flags & FS_READ_BASE64) {
		r = b64_decode(B64_STD, (const char *)b.data + start, end - start, &dec, &n);
		if (r < 0)
			return r == -ENOMEM ? r : -EBADMSG;
		if (n == 0 && (flags & FS_READ_NONEMPTY))
			return -ENODATA;
		*ret = TAKE_PTR(dec);
		*ret_len = n;
		return 0;
	}
	dec = malloc(end - start + 1);
	if (!dec)
		return -ENOMEM;
	memcpy(dec, b.data ? b.data + start : (const uint8_t *)"", end - start);
	dec[end - start] = '\0';
	*ret = TAKE_PTR(dec);
	*ret_len = end - start;
	return 0;
}

/* ---- the atomic writer ---- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	_cleanup_free_ char *d = !slash	       ? strdup(".") :
				 slash == path ? strdup("/") :
						 strndup(path, (size_t)(slash - path));
	_cleanup_close_ int dfd = -1, fd = -1;
	char tmp[96];
	uint64_t rnd;
	int r;

	if (!d)
		return -ENOMEM;
	if (!*base || streq(base, ".") || streq(base, ".."))
		return -EINVAL;
	dfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	(void)snprintf(tmp, sizeof(tmp), ".%.60s.%016llx", base, (unsigned long long)rnd);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(dfd, tmp, 0);
	return r;
}
