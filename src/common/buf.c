/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){ .max = max };
}

void buf_done(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void buf_done_wipe(struct buf *b)
{
	if (b->data)
		wipe(b->data, b->alloc);
	buf_done(b);
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, na;
	uint8_t *p;

	if (ADD_OVERFLOW(b->len, extra, &need) || need > b->max) {
		buf_done(b);
		return -EFBIG;
	}
	/* +1 keeps room for the trailing NUL. */
	if (need + 1 <= b->alloc)
		return 0;
	na = b->alloc ? b->alloc : 256;
	while (na < need + 1)
		na = na > SIZE_MAX / 2 ? need + 1 : na * 2;
	if (b->max < SIZE_MAX && na > b->max + 1)
		na = b->max + 1;
	p = realloc(b->data, na);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->alloc = na;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_append_file(struct buf *b, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	uint8_t chunk[4096];
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	while (r == 0 && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 ? -errno : buf_append(b, chunk, (size_t)n);
	}
	wipe(chunk, sizeof(chunk));
	return r;
}

uint8_t *buf_steal(struct buf *b, size_t *ret_len)
{
	uint8_t *p = b->data;

	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = b->alloc = 0;
	return p;
}

static int need(const struct reader *r, size_t n)
{
	return r->len - r->off >= n ? 0 : -EBADMSG;
}

int reader_bytes(struct reader *r, size_t n, const uint8_t **ret)
{
	if (need(r, n) < 0)
		return -EBADMSG;
	*ret = r->p + r->off;
	r->off += n;
	return 0;
}

int reader_copy(struct reader *r, void *out, size_t n)
{
	const uint8_t *p;
	int e = reader_bytes(r, n, &p);

	if (e < 0)
		return e;
	if (n)
		memcpy(out, p, n);
	return 0;
}

int reader_skip(struct reader *r, size_t n)
{
	const uint8_t *p;

	return reader_bytes(r, n, &p);
}

int reader_seek(struct reader *r, size_t off)
{
	if (off > r->len)
		return -EBADMSG;
	r->off = off;
	return 0;
}

int reader_slice(struct reader *r, size_t n, struct reader *ret)
{
	const uint8_t *p;
	int e = reader_bytes(r, n, &p);

	if (e < 0)
		return e;
	*ret = reader_init(p, n);
	return 0;
}

int reader_u8(struct reader *r, uint8_t *ret)
{
	return reader_copy(r, ret, 1);
}

#define READER_INT(name, type, n, expr)                                                            \
	int name(struct reader *r, type *ret)                                                      \
	{                                                                                          \
		const uint8_t *p;                                                                  \
		int e = reader_bytes(r, n, &p);                                                    \
		if (e < 0)                                                                         \
			return e;                                                                  \
		*ret = (type)(expr);                                                               \
		return 0;                                                                          \
	}

READER_INT(reader_u16le, uint16_t, 2, p[0] | p[1] << 8)
READER_INT(reader_u32le, uint32_t, 4, get_u32le(p))
READER_INT(reader_u64le, uint64_t, 8, get_u64le(p))
READER_INT(reader_u16be, uint16_t, 2, p[0] << 8 | p[1])
READER_INT(reader_u32be, uint32_t, 4, get_u32be(p))
READER_INT(reader_u64be, uint64_t, 8, get_u64be(p))
