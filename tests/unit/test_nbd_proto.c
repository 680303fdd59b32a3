/* SPDX-License-Identifier: MIT */
/*
 * The NBD wire format as pure functions (nbd_proto.c, nbd_opt.c): greeting and client flags,
 * every option we answer (and the malformed, unknown, oversized and repeated ones), request
 * parsing and the complete request check (commands, flags, zero lengths, bounds with overflow,
 * payload cap, read-only, alignment), and the reply encoders.
 */
#include <errno.h>
#include <string.h>

#include "sealmount/nbd_proto.h"
#include "unit.h"

static const struct nbd_export EXP = {
	.name = "disk",
	.description = "a test export",
	.size = 1 << 20,
	.flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		 NBD_FLAG_CAN_MULTI_CONN,
	.min_block = 512,
	.pref_block = 4096,
	.max_payload = 1 << 16,
};

/* One option reply out of b at *off: its type and payload. */
struct rep {
	uint32_t opt, type, len;
	const uint8_t *p;
};

static struct rep next_reply(const struct buf *b, size_t *off)
{
	struct rep r;

	ck_assert_uint_ge(b->len - *off, 20);
	ck_assert(get_u64be(b->data + *off) == NBD_MAGIC_OPT_REPLY);
	r.opt = get_u32be(b->data + *off + 8);
	r.type = get_u32be(b->data + *off + 12);
	r.len = get_u32be(b->data + *off + 16);
	ck_assert_uint_ge(b->len - *off - 20, r.len);
	r.p = b->data + *off + 20;
	*off += 20 + r.len;
	return r;
}

/* Run one option; returns the action, the replies in *out (caller's buf). */
static enum nbd_opt_action opt(struct nbd_negotiation *n, uint32_t o, const void *data, size_t len,
			       struct buf *out)
{
	enum nbd_opt_action act;

	buf_done(out);
	buf_init(out, 1 << 20);
	ck_assert_int_eq(nbd_opt_handle(&EXP, n, o, data, len, out, &act), 0);
	return act;
}

/* The type of the only reply in out. */
static uint32_t only_reply(const struct buf *out, uint32_t o)
{
	size_t off = 0;
	struct rep r = next_reply(out, &off);

	ck_assert_uint_eq(r.opt, o);
	ck_assert_uint_eq(off, out->len);
	return r.type;
}

/* INFO/GO data: name, then the info requests. */
static size_t go_data(uint8_t *b, const char *name, const uint16_t *req, uint16_t n)
{
	size_t len = strlen(name);

	put_u32be(b, (uint32_t)len);
	memcpy(b + 4, name, len);
	put_u16be(b + 4 + len, n);
	for (uint16_t i = 0; i < n; i++)
		put_u16be(b + 6 + len + 2 * i, req[i]);
	return 6 + len + 2u * n;
}

START_TEST(nbd_greeting_and_client_flags)
{
	struct nbd_negotiation n = { 0 };
	uint8_t g[NBD_GREETING_SIZE], f[4];

	nbd_greeting(g);
	ck_assert(memcmp(g, "NBDMAGICIHAVEOPT\0\3", 18) == 0);
	put_u32be(f, NBD_FLAG_C_FIXED_NEWSTYLE);
	ck_assert_int_eq(nbd_client_flags_parse(f, &n), 0);
	ck_assert(!n.no_zeroes);
	put_u32be(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	ck_assert_int_eq(nbd_client_flags_parse(f, &n), 0);
	ck_assert(n.no_zeroes);
	put_u32be(f, NBD_FLAG_C_FIXED_NEWSTYLE | 4); /* a flag we never offered */
	ck_assert_int_eq(nbd_client_flags_parse(f, &n), -EPROTO);
	put_u32be(f, 0); /* plain newstyle: no way to send errors */
	ck_assert_int_eq(nbd_client_flags_parse(f, &n), -EPROTO);
	put_u32be(f, 0x80000001u);
	ck_assert_int_eq(nbd_client_flags_parse(f, &n), -EPROTO);
}
END_TEST

START_TEST(nbd_opt_header_magic)
{
	uint8_t h[16];
	uint32_t o, len;

	put_u64be(h, NBD_MAGIC_OPT);
	put_u32be(h + 8, NBD_OPT_GO);
	put_u32be(h + 12, 0xfffffffe);
	ck_assert_int_eq(nbd_opt_header_parse(h, &o, &len), 0);
	ck_assert_uint_eq(o, NBD_OPT_GO);
	ck_assert_uint_eq(len, 0xfffffffe);
	h[0] ^= 1;
	ck_assert_int_eq(nbd_opt_header_parse(h, &o, &len), -EBADMSG);
}
END_TEST

START_TEST(nbd_opt_go_replies_and_transmits)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	uint16_t req[] = { NBD_INFO_NAME, NBD_INFO_DESCRIPTION, NBD_INFO_BLOCK_SIZE, 77 };
	uint8_t d[64];
	size_t len = go_data(d, "disk", req, 4), off = 0;
	bool seen[4] = { false };
	struct rep r;

	ck_assert_int_eq(opt(&n, NBD_OPT_STRUCTURED_REPLY, NULL, 0, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_STRUCTURED_REPLY), NBD_REP_ACK);
	ck_assert(n.structured);
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_TRANSMIT);
	for (r = next_reply(&out, &off); r.type == NBD_REP_INFO; r = next_reply(&out, &off)) {
		uint16_t type = (uint16_t)(r.p[0] << 8 | r.p[1]);

		ck_assert_uint_lt(type, 4);
		seen[type] = true;
		if (type == NBD_INFO_EXPORT) {
			ck_assert_uint_eq(r.len, 12);
			ck_assert(get_u64be(r.p + 2) == EXP.size);
			/* structured: DF on top of the export's flags */
			ck_assert_uint_eq(r.p[10] << 8 | r.p[11], EXP.flags | NBD_FLAG_SEND_DF);
		} else if (type == NBD_INFO_BLOCK_SIZE) {
			ck_assert_uint_eq(r.len, 14);
			ck_assert_uint_eq(get_u32be(r.p + 2), 512);
			ck_assert_uint_eq(get_u32be(r.p + 6), 4096);
			ck_assert_uint_eq(get_u32be(r.p + 10), 1 << 16);
		} else if (type == NBD_INFO_NAME) {
			ck_assert(r.len == 6 && memcmp(r.p + 2, "disk", 4) == 0);
		} else {
			ck_assert(r.len == 2 + strlen(EXP.description));
		}
	}
	ck_assert_uint_eq(r.type, NBD_REP_ACK);
	ck_assert_uint_eq(off, out.len);
	ck_assert(seen[0] && seen[1] && seen[2] && seen[3]);
}
END_TEST

START_TEST(nbd_opt_info_stays_in_negotiation)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	uint8_t d[64];
	size_t len = go_data(d, "disk", NULL, 0), off = 0;
	struct rep r;

	ck_assert_int_eq(opt(&n, NBD_OPT_INFO, d, len, &out), NBD_OPT_NEXT);
	r = next_reply(&out, &off);
	ck_assert_uint_eq(r.type, NBD_REP_INFO);
	/* without structured replies: no DF */
	ck_assert_uint_eq(r.p[10] << 8 | r.p[11], EXP.flags);
}
END_TEST

START_TEST(nbd_opt_go_refuses_malformed_and_unknown)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	uint16_t req[] = { NBD_INFO_BLOCK_SIZE };
	uint8_t d[8192];
	size_t len;

	len = go_data(d, "other", NULL, 0);
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_UNKNOWN);
	len = go_data(d, "", NULL, 0); /* the default export is not ours: ours is named */
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_UNKNOWN);
	len = go_data(d, "disk", req, 1);
	/* truncated: every length short of the whole */
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, cut, &out), NBD_OPT_NEXT);
		ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_INVALID);
	}
	d[len] = 0; /* one byte too many */
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len + 1, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_INVALID);
	put_u32be(d, 0xffffffff); /* name length beyond the data */
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_INVALID);
	len = go_data(d, "disk", req, 1);
	put_u16be(d + 8, 2); /* more requests claimed than sent */
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_INVALID);
	memcpy(d + 4, "di\0k", 4); /* a NUL in the name */
	put_u16be(d + 8, 1);
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_UNKNOWN);
	memset(d + 4, 'a', 4097); /* longer than any protocol string */
	put_u32be(d, 4097);
	put_u16be(d + 4 + 4097, 0);
	ck_assert_int_eq(opt(&n, NBD_OPT_GO, d, 4 + 4097 + 2, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_GO), NBD_REP_ERR_UNKNOWN);
}
END_TEST

START_TEST(nbd_opt_export_name)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };

	ck_assert_int_eq(opt(&n, NBD_OPT_EXPORT_NAME, "nope", 4, &out), NBD_OPT_CLOSE);
	ck_assert_uint_eq(out.len, 0); /* no error reply exists for it: the session ends */
	ck_assert_int_eq(opt(&n, NBD_OPT_EXPORT_NAME, "disk", 4, &out), NBD_OPT_TRANSMIT);
	ck_assert_uint_eq(out.len, 8 + 2 + 124);
	ck_assert(get_u64be(out.data) == EXP.size);
	n.no_zeroes = true;
	ck_assert_int_eq(opt(&n, NBD_OPT_EXPORT_NAME, "disk", 4, &out), NBD_OPT_TRANSMIT);
	ck_assert_uint_eq(out.len, 10);
}
END_TEST

START_TEST(nbd_opt_list_abort_tls_unknown)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	size_t off = 0;
	struct rep r;

	ck_assert_int_eq(opt(&n, NBD_OPT_LIST, NULL, 0, &out), NBD_OPT_NEXT);
	r = next_reply(&out, &off);
	ck_assert_uint_eq(r.type, NBD_REP_SERVER);
	ck_assert(r.len == 8 && get_u32be(r.p) == 4 && memcmp(r.p + 4, "disk", 4) == 0);
	ck_assert_uint_eq(next_reply(&out, &off).type, NBD_REP_ACK);
	ck_assert_int_eq(opt(&n, NBD_OPT_LIST, "x", 1, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_LIST), NBD_REP_ERR_INVALID);
	ck_assert_int_eq(opt(&n, NBD_OPT_STARTTLS, NULL, 0, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_STARTTLS), NBD_REP_ERR_POLICY);
	ck_assert_int_eq(opt(&n, NBD_OPT_STRUCTURED_REPLY, "x", 1, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_STRUCTURED_REPLY), NBD_REP_ERR_INVALID);
	ck_assert(!n.structured);
	for (uint32_t o = 11; o < 40; o++) {
		ck_assert_int_eq(opt(&n, o, "abc", 3, &out), NBD_OPT_NEXT);
		ck_assert_uint_eq(only_reply(&out, o), NBD_REP_ERR_UNSUP);
	}
	ck_assert_int_eq(opt(&n, NBD_OPT_ABORT, "ignored", 7, &out), NBD_OPT_CLOSE);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_ABORT), NBD_REP_ACK);
}
END_TEST

START_TEST(nbd_opt_caps)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	static uint8_t big[NBD_OPT_DATA_MAX + 1];
	enum nbd_opt_action act;

	buf_init(&out, 1 << 20);
	ck_assert_int_eq(nbd_opt_handle(&EXP, &n, NBD_OPT_GO, big, sizeof(big), &out, &act),
			 -EINVAL);
	for (unsigned i = 0; i < NBD_OPT_COUNT_MAX; i++)
		ck_assert_int_eq(opt(&n, NBD_OPT_LIST, NULL, 0, &out), NBD_OPT_NEXT);
	/* endless haggling ends the session, without a reply */
	ck_assert_int_eq(opt(&n, NBD_OPT_LIST, NULL, 0, &out), NBD_OPT_CLOSE);
	ck_assert_uint_eq(out.len, 0);
}
END_TEST

/* LIST/SET_META_CONTEXT data: export name, queries. */
static size_t meta_data(uint8_t *b, const char *name, const char *const *q, unsigned n)
{
	size_t off = 0, len;

	put_u32be(b, (uint32_t)strlen(name));
	memcpy(b + 4, name, strlen(name));
	off = 4 + strlen(name);
	put_u32be(b + off, n);
	off += 4;
	for (unsigned i = 0; i < n; i++) {
		len = strlen(q[i]);
		put_u32be(b + off, (uint32_t)len);
		memcpy(b + off + 4, q[i], len);
		off += 4 + len;
	}
	return off;
}

START_TEST(nbd_opt_meta_context)
{
	_cleanup_(buf_done) struct buf out = { 0 };
	struct nbd_negotiation n = { 0 };
	const char *set[] = { "x-other:thing", "base:allocation" };
	const char *bad[] = { "no-colon" };
	const char *other[] = { "qemu:dirty-bitmap:x" };
	uint8_t d[256];
	size_t len = meta_data(d, "disk", set, 2), off = 0;
	struct rep r;

	ck_assert_int_eq(opt(&n, NBD_OPT_SET_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_SET_META_CONTEXT), NBD_REP_ERR_INVALID);
	ck_assert(!n.meta); /* needs structured replies first */
	n.structured = true;
	ck_assert_int_eq(opt(&n, NBD_OPT_SET_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	r = next_reply(&out, &off);
	ck_assert_uint_eq(r.type, NBD_REP_META_CONTEXT);
	ck_assert_uint_eq(get_u32be(r.p), NBD_META_CONTEXT_ID);
	ck_assert(r.len == 4 + 15 && memcmp(r.p + 4, "base:allocation", 15) == 0);
	ck_assert_uint_eq(next_reply(&out, &off).type, NBD_REP_ACK);
	ck_assert(n.meta);
	/* a SET that selects nothing replaces the selection */
	len = meta_data(d, "disk", other, 1);
	ck_assert_int_eq(opt(&n, NBD_OPT_SET_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_SET_META_CONTEXT), NBD_REP_ACK);
	ck_assert(!n.meta);
	len = meta_data(d, "disk", bad, 1);
	ck_assert_int_eq(opt(&n, NBD_OPT_LIST_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_LIST_META_CONTEXT), NBD_REP_ERR_INVALID);
	len = meta_data(d, "else", set, 2);
	ck_assert_int_eq(opt(&n, NBD_OPT_SET_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_SET_META_CONTEXT), NBD_REP_ERR_UNKNOWN);
	/* LIST with no query lists what there is, without selecting it */
	len = meta_data(d, "disk", NULL, 0);
	ck_assert_int_eq(opt(&n, NBD_OPT_LIST_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	off = 0;
	ck_assert_uint_eq(next_reply(&out, &off).type, NBD_REP_META_CONTEXT);
	ck_assert_uint_eq(next_reply(&out, &off).type, NBD_REP_ACK);
	ck_assert(!n.meta);
	/* truncations and a query count beyond the data */
	len = meta_data(d, "disk", set, 2);
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(opt(&n, NBD_OPT_LIST_META_CONTEXT, d, cut, &out), NBD_OPT_NEXT);
		ck_assert_uint_eq(only_reply(&out, NBD_OPT_LIST_META_CONTEXT), NBD_REP_ERR_INVALID);
	}
	put_u32be(d + 8, 0x7fffffff);
	ck_assert_int_eq(opt(&n, NBD_OPT_LIST_META_CONTEXT, d, len, &out), NBD_OPT_NEXT);
	ck_assert_uint_eq(only_reply(&out, NBD_OPT_LIST_META_CONTEXT), NBD_REP_ERR_INVALID);
}
END_TEST

static struct nbd_request req(uint16_t flags, uint16_t type, uint64_t off, uint32_t len)
{
	return (struct nbd_request){ .flags = flags, .type = type, .offset = off, .length = len };
}

static uint32_t check(const struct nbd_session *s, struct nbd_request rq, enum nbd_verdict want)
{
	uint32_t err = 12345;

	ck_assert_int_eq(nbd_request_check(s, &rq, &err), want);
	if (want != NBD_VERDICT_ERROR)
		ck_assert_uint_eq(err, 0);
	return err;
}

START_TEST(nbd_request_parse_fields)
{
	uint8_t h[NBD_REQUEST_SIZE];
	struct nbd_request rq;

	put_u32be(h, NBD_MAGIC_REQUEST);
	put_u32be(h + 4, (uint32_t)NBD_CMD_FLAG_FUA << 16 | NBD_CMD_WRITE);
	put_u64be(h + 8, 0x0102030405060708ULL);
	put_u64be(h + 16, 4096);
	put_u32be(h + 24, 512);
	ck_assert_int_eq(nbd_request_parse(h, &rq), 0);
	ck_assert_uint_eq(rq.flags, NBD_CMD_FLAG_FUA);
	ck_assert_uint_eq(rq.type, NBD_CMD_WRITE);
	ck_assert(rq.handle == 0x0102030405060708ULL);
	ck_assert(rq.offset == 4096 && rq.length == 512);
	put_u32be(h, NBD_MAGIC_SIMPLE_REPLY);
	ck_assert_int_eq(nbd_request_parse(h, &rq), -EBADMSG);
}
END_TEST

START_TEST(nbd_request_check_reads)
{
	struct nbd_session s = { .size = 1 << 20,
				 .flags = EXP.flags | NBD_FLAG_READ_ONLY,
				 .max_payload = 1 << 16,
				 .write_align = 512 };

	s.flags &= ~NBD_FLAG_SEND_FUA;
	check(&s, req(0, NBD_CMD_READ, 0, 4096), NBD_VERDICT_OK);
	check(&s, req(0, NBD_CMD_READ, 1, 3), NBD_VERDICT_OK); /* reads take any alignment */
	check(&s, req(0, NBD_CMD_READ, (1 << 20) - 1, 1), NBD_VERDICT_OK);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_READ, 0, 0), NBD_VERDICT_ERROR), NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_READ, 1 << 20, 1), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_READ, UINT64_MAX - 10, 4096), NBD_VERDICT_ERROR),
			  NBD_EINVAL); /* offset + length wraps */
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_READ, 0, (1 << 16) + 1), NBD_VERDICT_ERROR),
			  NBD_EINVAL); /* above the cap */
	/* DF needs structured replies, FUA its transmission flag */
	ck_assert_uint_eq(check(&s, req(NBD_CMD_FLAG_DF, NBD_CMD_READ, 0, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(NBD_CMD_FLAG_FUA, NBD_CMD_READ, 0, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0x8000, NBD_CMD_READ, 0, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	ck_assert_uint_eq(
		check(&s, req(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_READ, 0, 512), NBD_VERDICT_ERROR),
		NBD_EINVAL);
	s.structured = true;
	check(&s, req(NBD_CMD_FLAG_DF, NBD_CMD_READ, 0, 512), NBD_VERDICT_OK);
}
END_TEST

START_TEST(nbd_request_check_writes)
{
	struct nbd_session s = {
		.size = 1 << 20, .flags = EXP.flags, .max_payload = 1 << 16, .write_align = 512
	};

	check(&s, req(0, NBD_CMD_WRITE, 512, 1024), NBD_VERDICT_OK);
	check(&s, req(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 0, 512), NBD_VERDICT_OK);
	check(&s, req(0, NBD_CMD_WRITE, 0, (1 << 16) + 512), NBD_VERDICT_DROP);
	check(&s, req(0, NBD_CMD_WRITE, 0, UINT32_MAX), NBD_VERDICT_DROP);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_WRITE, 1 << 20, 512), NBD_VERDICT_ERROR),
			  NBD_ENOSPC);
	ck_assert_uint_eq(
		check(&s, req(0, NBD_CMD_WRITE, UINT64_MAX - 511, 512), NBD_VERDICT_ERROR),
		NBD_ENOSPC);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_WRITE, 1, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL); /* the stack's write alignment */
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_WRITE, 512, 100), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_WRITE, 0, 0), NBD_VERDICT_ERROR), NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(NBD_CMD_FLAG_DF, NBD_CMD_WRITE, 0, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	s.flags |= NBD_FLAG_READ_ONLY;
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_WRITE, 0, 512), NBD_VERDICT_ERROR), NBD_EPERM);
}
END_TEST

START_TEST(nbd_request_check_other_commands)
{
	struct nbd_session s = {
		.size = 1 << 20, .flags = EXP.flags, .max_payload = 1 << 16, .write_align = 1
	};

	check(&s, req(0, NBD_CMD_FLUSH, 0, 0), NBD_VERDICT_OK);
	check(&s, req(NBD_CMD_FLAG_FUA, NBD_CMD_FLUSH, 0, 0), NBD_VERDICT_OK);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_FLUSH, 1, 0), NBD_VERDICT_ERROR), NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_FLUSH, 0, 1), NBD_VERDICT_ERROR), NBD_EINVAL);
	check(&s, req(0xffff, NBD_CMD_DISC, 5, 5), NBD_VERDICT_DISC);
	/* TRIM, CACHE, WRITE_ZEROES (not advertised) and unknown commands */
	for (uint16_t t = 4; t < 64; t++)
		if (t != NBD_CMD_BLOCK_STATUS)
			ck_assert_uint_eq(check(&s, req(0, t, 0, 512), NBD_VERDICT_ERROR),
					  NBD_EINVAL);
	ck_assert_uint_eq(check(&s, req(0, 0xffff, 0, 0), NBD_VERDICT_ERROR), NBD_EINVAL);
	/* block status only after base:allocation was selected */
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_BLOCK_STATUS, 0, 512), NBD_VERDICT_ERROR),
			  NBD_EINVAL);
	s.structured = s.meta = true;
	check(&s, req(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 0, UINT32_MAX - 4096),
	      NBD_VERDICT_ERROR);
	check(&s, req(NBD_CMD_FLAG_REQ_ONE, NBD_CMD_BLOCK_STATUS, 4096, 1 << 19), NBD_VERDICT_OK);
	s.flags &= ~NBD_FLAG_SEND_FLUSH;
	ck_assert_uint_eq(check(&s, req(0, NBD_CMD_FLUSH, 0, 0), NBD_VERDICT_ERROR), NBD_EINVAL);
}
END_TEST

START_TEST(nbd_reply_encoders)
{
	struct nbd_session s = { .size = 10000 };
	struct nbd_request rq = req(0, NBD_CMD_BLOCK_STATUS, 8000, 4096);
	uint8_t b[64], bs[NBD_BLOCK_STATUS_REPLY_SIZE];
	char msg[100];
	size_t n;

	nbd_simple_reply(b, NBD_EIO, 0xabcdef);
	ck_assert(get_u32be(b) == NBD_MAGIC_SIMPLE_REPLY && get_u32be(b + 4) == NBD_EIO);
	ck_assert(get_u64be(b + 8) == 0xabcdef);
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = 0;
	n = nbd_error_chunk(b, sizeof(b), 7, NBD_EINVAL, msg); /* truncated to fit */
	ck_assert_uint_eq(n, sizeof(b));
	ck_assert(get_u32be(b) == NBD_MAGIC_STRUCTURED_REPLY);
	ck_assert_uint_eq(b[4] << 8 | b[5], NBD_REPLY_FLAG_DONE);
	ck_assert_uint_eq(b[6] << 8 | b[7], NBD_REPLY_TYPE_ERROR);
	ck_assert_uint_eq(get_u32be(b + 16), sizeof(b) - 20);
	ck_assert_uint_eq(get_u32be(b + 20), NBD_EINVAL);
	ck_assert_uint_eq(b[24] << 8 | b[25], sizeof(b) - 26);
	/* clipped to the export's end */
	ck_assert_uint_eq(nbd_block_status_length(&s, &rq), 2000);
	nbd_block_status_reply(bs, 9, 2000);
	ck_assert_uint_eq(get_u32be(bs + 16), 12);
	ck_assert_uint_eq(get_u32be(bs + 20), NBD_META_CONTEXT_ID);
	ck_assert_uint_eq(get_u32be(bs + 24), 2000);
	ck_assert_uint_eq(get_u32be(bs + 28), 0);
}
END_TEST

START_TEST(nbd_errno_mapping)
{
	ck_assert_uint_eq(nbd_error_from_errno(-EROFS), NBD_EPERM);
	ck_assert_uint_eq(nbd_error_from_errno(-EFBIG), NBD_ENOSPC);
	ck_assert_uint_eq(nbd_error_from_errno(-EDQUOT), NBD_ENOSPC);
	ck_assert_uint_eq(nbd_error_from_errno(-EINVAL), NBD_EINVAL);
	ck_assert_uint_eq(nbd_error_from_errno(-ESTALE), NBD_EIO);
	ck_assert_uint_eq(nbd_error_from_errno(-EBADMSG), NBD_EIO);
	ck_assert_uint_eq(nbd_error_from_errno(-ETIMEDOUT), NBD_EIO);
	ck_assert_uint_eq(nbd_error_from_errno(-ENOMEM), NBD_ENOMEM);
}
END_TEST

static Suite *nbd_proto_suite(void)
{
	Suite *s = suite_create("nbd_proto");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, nbd_greeting_and_client_flags);
	tcase_add_test(tc, nbd_opt_header_magic);
	tcase_add_test(tc, nbd_opt_go_replies_and_transmits);
	tcase_add_test(tc, nbd_opt_info_stays_in_negotiation);
	tcase_add_test(tc, nbd_opt_go_refuses_malformed_and_unknown);
	tcase_add_test(tc, nbd_opt_export_name);
	tcase_add_test(tc, nbd_opt_list_abort_tls_unknown);
	tcase_add_test(tc, nbd_opt_caps);
	tcase_add_test(tc, nbd_opt_meta_context);
	tcase_add_test(tc, nbd_request_parse_fields);
	tcase_add_test(tc, nbd_request_check_reads);
	tcase_add_test(tc, nbd_request_check_writes);
	tcase_add_test(tc, nbd_request_check_other_commands);
	tcase_add_test(tc, nbd_reply_encoders);
	tcase_add_test(tc, nbd_errno_mapping);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(nbd_proto_suite)
