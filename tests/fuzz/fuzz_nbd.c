/* SPDX-License-Identifier: MIT */
/* Target: everything an NBD client sends to the server, through the same pure functions the
 * server's connection loop calls (src/nbd/nbd_proto.c, nbd_opt.c): client flags, options
 * (nbd_opt_header_parse, nbd_opt_handle), then request headers (nbd_request_parse,
 * nbd_request_check), with a write's payload skipped as the server reads it. The replies we
 * produce are checked for well-formedness, and every request let through is checked against the
 * export's bounds and caps: a violation aborts.
 *
 * Input: [1 byte: export shape][client bytes as on the wire...]. The shape byte picks the export
 * name ("" or "disk"), read-only or writable, the size (small, odd, or near 2^64), the write
 * alignment (1, 512, 4096) and whether the session starts in transmission as the kernel's
 * client does (no handshake). Seed corpus: tests/fuzz/corpus-nbd/ (sessions of nbdinfo, nbdcopy,
 * qemu-img and qemu-io recorded against `sealmount blob attach --nbd`, and hand-made ones).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/nbd_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static const uint64_t sizes[] = { 1u << 20, (1u << 20) + 123, UINT64_MAX - 4095, 4096 };
static const uint32_t aligns[] = { 1, 512, 4096, 1 };

/* Every option reply in out is a whole reply for option o. */
static void check_replies(const struct buf *out, uint32_t o, enum nbd_opt_action act)
{
	size_t off = 0;

	if (o == NBD_OPT_EXPORT_NAME) {
		CHECK(out->len == 0 || out->len == 10 || out->len == 134);
		return;
	}
	while (off < out->len) {
		CHECK(out->len - off >= 20);
		CHECK(get_u64be(out->data + off) == NBD_MAGIC_OPT_REPLY);
		CHECK(get_u32be(out->data + off + 8) == o);
		CHECK(get_u32be(out->data + off + 16) <= out->len - off - 20);
		off += 20 + get_u32be(out->data + off + 16);
	}
	CHECK(act != NBD_OPT_TRANSMIT || out->len > 0);
}

/* Options until transmission; false when the session ends first. */
static bool negotiate(struct reader *rd, const struct nbd_export *e, struct nbd_negotiation *n)
{
	enum nbd_opt_action act = NBD_OPT_NEXT;
	const uint8_t *p, *opt_data;
	struct buf out;
	uint32_t o, len;
	bool ok = false;

	if (reader_bytes(rd, 4, &p) < 0 || nbd_client_flags_parse(p, n) < 0)
		return false;
	buf_init(&out, 1 << 16);
	while (act == NBD_OPT_NEXT) {
		buf_done(&out);
		if (reader_bytes(rd, NBD_OPT_HEADER_SIZE, &p) < 0 ||
		    nbd_opt_header_parse(p, &o, &len) < 0 || len > NBD_OPT_DATA_MAX ||
		    reader_bytes(rd, len, &opt_data) < 0)
			break;
		if (nbd_opt_handle(e, n, o, len ? opt_data : NULL, len, &out, &act) < 0)
			break;
		check_replies(&out, o, act);
		ok = act == NBD_OPT_TRANSMIT;
	}
	buf_done(&out);
	return ok;
}

/* A request the check let through stays inside the export and the caps. */
static void check_accepted(const struct nbd_session *s, const struct nbd_request *rq)
{
	uint64_t end;

	if (rq->type == NBD_CMD_FLUSH) {
		CHECK(rq->offset == 0 && rq->length == 0);
		return;
	}
	CHECK(rq->type == NBD_CMD_READ || rq->type == NBD_CMD_WRITE ||
	      rq->type == NBD_CMD_BLOCK_STATUS);
	CHECK(rq->length > 0);
	CHECK(!__builtin_add_overflow(rq->offset, (uint64_t)rq->length, &end) && end <= s->size);
	if (rq->type != NBD_CMD_BLOCK_STATUS)
		CHECK(rq->length <= s->max_payload);
	if (rq->type == NBD_CMD_WRITE) {
		CHECK(!(s->flags & NBD_FLAG_READ_ONLY));
		CHECK(((rq->offset | rq->length) & (s->write_align - 1)) == 0);
	}
	if (rq->type == NBD_CMD_BLOCK_STATUS) {
		uint32_t n = nbd_block_status_length(s, rq);

		CHECK(s->structured && s->meta && n > 0 && n <= rq->length);
	}
}

static void transmit(struct reader *rd, const struct nbd_session *s)
{
	struct nbd_request rq;
	const uint8_t *p;
	uint32_t err;
	uint8_t chunk[64];

	while (reader_bytes(rd, NBD_REQUEST_SIZE, &p) == 0 && nbd_request_parse(p, &rq) == 0) {
		switch (nbd_request_check(s, &rq, &err)) {
		case NBD_VERDICT_DISC:
		case NBD_VERDICT_DROP:
			return;
		case NBD_VERDICT_ERROR:
			CHECK(err == NBD_EINVAL || err == NBD_EPERM || err == NBD_ENOSPC);
			CHECK(nbd_error_chunk(chunk, sizeof(chunk), rq.handle, err, "x") <=
			      sizeof(chunk));
			break;
		case NBD_VERDICT_OK:
			check_accepted(s, &rq);
			break;
		}
		if (rq.type == NBD_CMD_WRITE) {
			CHECK(rq.length <= s->max_payload);
			if (reader_skip(rd, rq.length) < 0)
				return;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader rd = reader_init(data, size);
	struct nbd_negotiation n = { 0 };
	struct nbd_export e;
	struct nbd_session s;
	uint8_t shape;
	bool writable;

	log_set_level(LOG_LVL_ERROR);
	if (reader_u8(&rd, &shape) < 0)
		return 0;
	writable = shape & 2;
	e = (struct nbd_export){
		.name = shape & 1 ? "disk" : "",
		.description = shape & 64 ? "fuzz" : NULL,
		.size = sizes[(shape >> 2) & 3],
		.flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN |
			 (writable ? NBD_FLAG_SEND_FUA : NBD_FLAG_READ_ONLY),
		.min_block = 512,
		.pref_block = 4096,
		.max_payload = shape & 128 ? 65536 : NBD_PAYLOAD_MAX,
	};
	s = (struct nbd_session){ .size = e.size,
				  .flags = e.flags,
				  .max_payload = e.max_payload,
				  .write_align = aligns[(shape >> 4) & 3] };
	if (!(shape & 32)) { /* the handshake first; else the kernel's client */
		if (!negotiate(&rd, &e, &n))
			return 0;
		s.flags = nbd_transmission_flags(&e, &n);
		s.structured = n.structured;
		s.meta = n.meta;
	}
	transmit(&rd, &s);
	return 0;
}
