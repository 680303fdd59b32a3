/* SPDX-License-Identifier: MIT */
/*
 * nbd_proto.c - the NBD transmission phase as pure functions: request headers parsed and
 * checked, replies encoded (docs/nbd.md "Transmission"). The option phase is nbd_opt.c.
 */
#include <errno.h>
#include <string.h>

#include "sealmount/nbd_proto.h"

void nbd_greeting(uint8_t out[NBD_GREETING_SIZE])
{
	put_u64be(out, NBD_MAGIC_INIT);
	put_u64be(out + 8, NBD_MAGIC_OPT);
	put_u16be(out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

int nbd_client_flags_parse(const uint8_t in[4], struct nbd_negotiation *n)
{
	uint32_t f = get_u32be(in);

	/* Only the two flags we offered; a client that does not speak fixed newstyle cannot
	 * be told about errors, so it is not served at all. */
	if (f & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
		return -EPROTO;
	if (!(f & NBD_FLAG_C_FIXED_NEWSTYLE))
		return -EPROTO;
	n->no_zeroes = f & NBD_FLAG_C_NO_ZEROES;
	return 0;
}

int nbd_opt_header_parse(const uint8_t in[NBD_OPT_HEADER_SIZE], uint32_t *ret_opt,
			 uint32_t *ret_len)
{
	if (get_u64be(in) != NBD_MAGIC_OPT)
		return -EBADMSG;
	*ret_opt = get_u32be(in + 8);
	*ret_len = get_u32be(in + 12);
	return 0;
}

int nbd_opt_reply(struct buf *out, uint32_t opt, uint32_t type, const void *payload, size_t len)
{
	uint8_t h[20];
	int r;

	if (len > UINT32_MAX)
		return -EFBIG;
	put_u64be(h, NBD_MAGIC_OPT_REPLY);
	put_u32be(h + 8, opt);
	put_u32be(h + 12, type);
	put_u32be(h + 16, (uint32_t)len);
	r = buf_append(out, h, sizeof(h));
	if (r < 0 || len == 0)
		return r;
	return buf_append(out, payload, len);
}

uint16_t nbd_transmission_flags(const struct nbd_export *e, const struct nbd_negotiation *n)
{
	return e->flags | NBD_FLAG_HAS_FLAGS | (n->structured ? NBD_FLAG_SEND_DF : 0);
}

int nbd_request_parse(const uint8_t in[NBD_REQUEST_SIZE], struct nbd_request *ret)
{
	if (get_u32be(in) != NBD_MAGIC_REQUEST)
		return -EBADMSG;
	*ret = (struct nbd_request){ .flags = (uint16_t)(get_u32be(in + 4) >> 16),
				     .type = (uint16_t)get_u32be(in + 4),
				     .handle = get_u64be(in + 8),
				     .offset = get_u64be(in + 16),
				     .length = get_u32be(in + 24) };
	return 0;
}

/* The command flags a request of this type may carry on this session; false for a command we
 * do not serve (unknown, or one we did not advertise: TRIM, WRITE_ZEROES, CACHE, ...). */
static bool allowed_flags(const struct nbd_session *s, uint16_t type, uint16_t *ret)
{
	uint16_t fua = s->flags & NBD_FLAG_SEND_FUA ? NBD_CMD_FLAG_FUA : 0;

	switch (type) {
	case NBD_CMD_READ:
		*ret = fua | (s->structured ? NBD_CMD_FLAG_DF : 0);
		return true;
	case NBD_CMD_WRITE:
		*ret = fua;
		return true;
	case NBD_CMD_FLUSH:
		*ret = fua;
		return (s->flags & NBD_FLAG_SEND_FLUSH) != 0;
	case NBD_CMD_BLOCK_STATUS:
		*ret = fua | NBD_CMD_FLAG_REQ_ONE;
		return s->structured && s->meta;
	default:
		return false;
	}
}

/* Range checks of a command that addresses bytes: 0 or the NBD error. */
static uint32_t check_range(const struct nbd_session *s, const struct nbd_request *rq)
{
	uint64_t end;

	if (rq->length == 0)
		return NBD_EINVAL;
	if (rq->type == NBD_CMD_WRITE && (s->flags & NBD_FLAG_READ_ONLY))
		return NBD_EPERM;
	if (rq->type == NBD_CMD_READ && rq->length > s->max_payload)
		return NBD_EINVAL;
	if (ADD_OVERFLOW(rq->offset, (uint64_t)rq->length, &end) || end > s->size)
		return rq->type == NBD_CMD_WRITE ? NBD_ENOSPC : NBD_EINVAL;
	if (rq->type == NBD_CMD_WRITE && ((rq->offset | rq->length) & (s->write_align - 1)))
		return NBD_EINVAL;
	return 0;
}

enum nbd_verdict nbd_request_check(const struct nbd_session *s, const struct nbd_request *rq,
				   uint32_t *ret_error)
{
	uint16_t allowed = 0;

	*ret_error = 0;
	if (rq->type == NBD_CMD_DISC)
		return NBD_VERDICT_DISC;
	/* A write's payload follows the header whatever we think of it: above the cap it is
	 * not read at all and the connection goes (doc/proto.md "Size constraints"). */
	if (rq->type == NBD_CMD_WRITE && rq->length > s->max_payload)
		return NBD_VERDICT_DROP;
	if (!allowed_flags(s, rq->type, &allowed) || (rq->flags & ~allowed))
		*ret_error = NBD_EINVAL;
	else if (rq->type == NBD_CMD_FLUSH)
		*ret_error = rq->offset || rq->length ? NBD_EINVAL : 0;
	else
		*ret_error = check_range(s, rq);
	return *ret_error ? NBD_VERDICT_ERROR : NBD_VERDICT_OK;
}

void nbd_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t handle)
{
	put_u32be(out, NBD_MAGIC_SIMPLE_REPLY);
	put_u32be(out + 4, error);
	put_u64be(out + 8, handle);
}

void nbd_chunk_header(uint8_t out[NBD_CHUNK_HEADER_SIZE], uint16_t flags, uint16_t type,
		      uint64_t handle, uint32_t length)
{
	put_u32be(out, NBD_MAGIC_STRUCTURED_REPLY);
	put_u16be(out + 4, flags);
	put_u16be(out + 6, type);
	put_u64be(out + 8, handle);
	put_u32be(out + 16, length);
}

size_t nbd_error_chunk(uint8_t *out, size_t cap, uint64_t handle, uint32_t error, const char *msg)
{
	size_t n = strlen(msg);

	if (n > cap - NBD_CHUNK_HEADER_SIZE - 6)
		n = cap - NBD_CHUNK_HEADER_SIZE - 6;
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	nbd_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, handle, (uint32_t)(6 + n));
	put_u32be(out + NBD_CHUNK_HEADER_SIZE, error);
	put_u16be(out + NBD_CHUNK_HEADER_SIZE + 4, (uint16_t)n);
	memcpy(out + NBD_CHUNK_HEADER_SIZE + 6, msg, n);
	return NBD_CHUNK_HEADER_SIZE + 6 + n;
}

void nbd_block_status_reply(uint8_t out[NBD_BLOCK_STATUS_REPLY_SIZE], uint64_t handle,
			    uint32_t length)
{
	nbd_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, handle, 12);
	put_u32be(out + NBD_CHUNK_HEADER_SIZE, NBD_META_CONTEXT_ID);
	put_u32be(out + NBD_CHUNK_HEADER_SIZE + 4, length);
	put_u32be(out + NBD_CHUNK_HEADER_SIZE + 8, 0);
}

uint32_t nbd_block_status_length(const struct nbd_session *s, const struct nbd_request *rq)
{
	uint64_t left = s->size - rq->offset; /* checked: offset + length <= size */

	return rq->length < left ? rq->length : (uint32_t)left;
}

uint32_t nbd_error_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM:
	case EROFS:
	case EACCES:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

const char *nbd_cmd_name(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return "READ";
	case NBD_CMD_WRITE:
		return "WRITE";
	case NBD_CMD_DISC:
		return "DISC";
	case NBD_CMD_FLUSH:
		return "FLUSH";
	case NBD_CMD_BLOCK_STATUS:
		return "BLOCK_STATUS";
	default:
		return "unknown";
	}
}
