/* SPDX-License-Identifier: MIT */
/*
 * buf.h - a growable byte buffer with a hard cap, and a bounds-checked reader.
 *
 * struct buf is caller-owned (buf_init/buf_done). Appending past the cap frees the contents and
 * fails with -EFBIG, so a hostile peer cannot make us grow without bound. The data is always
 * followed by one NUL byte (not counted in len) so text can be used as a C string.
 *
 * struct reader never owns memory: it is a cursor over bytes someone else holds. Every read
 * checks the remaining length first and fails with -EBADMSG without moving the cursor.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"

struct buf {
	uint8_t *data;
	size_t len;
	size_t alloc;
	size_t max;
};

void buf_init(struct buf *b, size_t max) _nonnull_(1);
/* Frees the contents (wiping them first when wipe is set) and resets len to 0. */
void buf_done(struct buf *b) _nonnull_(1);
void buf_done_wipe(struct buf *b) _nonnull_(1);
/* -EFBIG past the cap (contents freed), -ENOMEM. */
_must_check_ int buf_append(struct buf *b, const void *p, size_t n) _nonnull_(1);
_must_check_ int buf_append_str(struct buf *b, const char *s) _nonnull_(1, 2);
_must_check_ int buf_printf(struct buf *b, const char *fmt, ...) _nonnull_(1, 2) _printf_(2, 3);
/* Append the whole contents of the file at path (EINTR-safe; the stack chunk is wiped, so a
 * secret file leaves no copy behind but b's own). -errno from open/read, -EFBIG past the cap
 * (contents freed), -ENOMEM. */
_must_check_ int buf_append_file(struct buf *b, const char *path) _nonnull_(1, 2);
/* Hand the contents to the caller (free() them); the buffer is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *ret_len) _nonnull_(1);

struct reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline struct reader reader_init(const void *p, size_t len)
{
	return (struct reader){ .p = p, .len = len, .off = 0 };
}
static inline size_t reader_left(const struct reader *r)
{
	return r->len - r->off;
}

/* Each returns 0 or -EBADMSG (too few bytes left; cursor unchanged). */
_must_check_ int reader_u8(struct reader *r, uint8_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u16le(struct reader *r, uint16_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u32le(struct reader *r, uint32_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u64le(struct reader *r, uint64_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u16be(struct reader *r, uint16_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u32be(struct reader *r, uint32_t *ret) _nonnull_(1, 2);
_must_check_ int reader_u64be(struct reader *r, uint64_t *ret) _nonnull_(1, 2);
/* Copy n bytes out. */
_must_check_ int reader_copy(struct reader *r, void *out, size_t n) _nonnull_(1);
/* Point at n bytes in place (no copy). */
_must_check_ int reader_bytes(struct reader *r, size_t n, const uint8_t **ret) _nonnull_(1, 3);
_must_check_ int reader_skip(struct reader *r, size_t n) _nonnull_(1);
/* Move to an absolute offset (<= len). */
_must_check_ int reader_seek(struct reader *r, size_t off) _nonnull_(1);
/* A sub-reader over the next n bytes; the parent moves past them. */
_must_check_ int reader_slice(struct reader *r, size_t n, struct reader *ret) _nonnull_(1, 3);

/* Plain endian helpers for fixed-size encoders. */
static inline void put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}
static inline void put_u64le(uint8_t *p, uint64_t v)
{
	put_u32le(p, (uint32_t)v);
	put_u32le(p + 4, (uint32_t)(v >> 32));
}
static inline void put_u16be(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}
static inline void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}
static inline void put_u64be(uint8_t *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}
static inline uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64le(const uint8_t *p)
{
	return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}
static inline uint32_t get_u32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t get_u64be(const uint8_t *p)
{
	return (uint64_t)get_u32be(p) << 32 | get_u32be(p + 4);
}
