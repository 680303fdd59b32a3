/* SPDX-License-Identifier: MIT */
/*
 * nbd_opt.c - option haggling of the fixed newstyle handshake (docs/nbd.md "Options"): one
 * pure function per option, each validating the client's bytes completely before it answers.
 * The caller reads the option (nbd_conn.c) and sends what lands in `out`.
 */
#include <errno.h>
#include <string.h>

#include "sealmount/nbd_proto.h"

#define BASE_ALLOCATION "base:allocation"

static int reply_ack(struct buf *out, uint32_t opt)
{
	return nbd_opt_reply(out, opt, NBD_REP_ACK, NULL, 0);
}

/* An error reply with a message for a human (doc/proto.md: error replies may carry one). */
static int reply_error(struct buf *out, uint32_t opt, uint32_t type, const char *msg)
{
	return nbd_opt_reply(out, opt, type, msg, strlen(msg));
}

/* A protocol string: at most NBD_NAME_MAX bytes and no NUL. */
static bool is_valid_string(const uint8_t *p, size_t len)
{
	return len <= NBD_NAME_MAX && (len == 0 || !memchr(p, 0, len));
}

static bool is_our_export(const struct nbd_export *e, const uint8_t *name, size_t len)
{
	return is_valid_string(name, len) && len == strlen(e->name) &&
	       (len == 0 || memcmp(name, e->name, len) == 0);
}

/* NBD_OPT_EXPORT_NAME: the old way into transmission. It has no error reply: an unknown export
 * ends the session. */
static int opt_export_name(const struct nbd_export *e, struct nbd_negotiation *n,
			   const uint8_t *data, size_t len, struct buf *out,
			   enum nbd_opt_action *act)
{
	static const uint8_t zeroes[124];
	uint8_t reply[10];
	int r;

	if (!is_our_export(e, data, len)) {
		*act = NBD_OPT_CLOSE;
		return 0;
	}
	put_u64be(reply, e->size);
	put_u16be(reply + 8, nbd_transmission_flags(e, n));
	r = buf_append(out, reply, sizeof(reply));
	if (r == 0 && !n->no_zeroes)
		r = buf_append(out, zeroes, sizeof(zeroes));
	*act = NBD_OPT_TRANSMIT;
	return r;
}

static int opt_list(const struct nbd_export *e, size_t len, struct buf *out)
{
	size_t nlen = strlen(e->name);
	uint8_t p[4 + NBD_NAME_MAX];
	int r;

	if (len != 0)
		return reply_error(out, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "LIST takes no data");
	if (nlen > NBD_NAME_MAX)
		return -EINVAL; /* nbd_server_new() refuses such names */
	put_u32be(p, (uint32_t)nlen);
	memcpy(p + 4, e->name, nlen);
	r = nbd_opt_reply(out, NBD_OPT_LIST, NBD_REP_SERVER, p, 4 + nlen);
	return r < 0 ? r : reply_ack(out, NBD_OPT_LIST);
}

/* One NBD_REP_INFO: the 16-bit type, then len bytes (len <= NBD_NAME_MAX). */
static int info_reply(struct buf *out, uint32_t opt, uint16_t type, const void *p, size_t len)
{
	uint8_t b[2 + NBD_NAME_MAX];

	if (len > NBD_NAME_MAX)
		return -EINVAL;
	put_u16be(b, type);
	if (len)
		memcpy(b + 2, p, len);
	return nbd_opt_reply(out, opt, NBD_REP_INFO, b, 2 + len);
}

/* NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE always; the name and description when asked. */
static int info_replies(const struct nbd_export *e, const struct nbd_negotiation *n, uint32_t opt,
			bool want_name, bool want_description, struct buf *out)
{
	uint8_t p[12];
	int r;

	put_u64be(p, e->size);
	put_u16be(p + 8, nbd_transmission_flags(e, n));
	r = info_reply(out, opt, NBD_INFO_EXPORT, p, 10);
	if (r < 0)
		return r;
	put_u32be(p, e->min_block);
	put_u32be(p + 4, e->pref_block);
	put_u32be(p + 8, e->max_payload);
	r = info_reply(out, opt, NBD_INFO_BLOCK_SIZE, p, 12);
	if (r == 0 && want_name)
		r = info_reply(out, opt, NBD_INFO_NAME, e->name, strlen(e->name));
	if (r == 0 && want_description && e->description)
		r = info_reply(out, opt, NBD_INFO_DESCRIPTION, e->description,
			       strlen(e->description));
	return r < 0 ? r : reply_ack(out, opt);
}

/* NBD_OPT_INFO and NBD_OPT_GO: name length, name, number of requests, requests (16 bits each);
 * the data must be exactly that long. */
static int opt_info(const struct nbd_export *e, struct nbd_negotiation *n, uint32_t opt,
		    const uint8_t *data, size_t len, struct buf *out, enum nbd_opt_action *act)
{
	struct reader rd = reader_init(data, len);
	bool want_name = false, want_description = false;
	const uint8_t *name = NULL;
	uint32_t nlen;
	uint16_t nreq, type;
	int r;

	if (reader_u32be(&rd, &nlen) < 0 || reader_bytes(&rd, nlen, &name) < 0 ||
	    reader_u16be(&rd, &nreq) < 0 || reader_left(&rd) != 2u * nreq)
		return reply_error(out, opt, NBD_REP_ERR_INVALID, "malformed INFO/GO request");
	while (reader_left(&rd) > 0) {
		r = reader_u16be(&rd, &type);
		if (r < 0)
			return r; /* cannot happen: the length was checked above */
		want_name |= type == NBD_INFO_NAME;
		want_description |= type == NBD_INFO_DESCRIPTION;
	}
	if (!is_our_export(e, name, nlen))
		return reply_error(out, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	r = info_replies(e, n, opt, want_name, want_description, out);
	if (r == 0 && opt == NBD_OPT_GO)
		*act = NBD_OPT_TRANSMIT;
	return r;
}

static int opt_structured_reply(struct nbd_negotiation *n, size_t len, struct buf *out)
{
	if (len != 0)
		return reply_error(out, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
				   "STRUCTURED_REPLY takes no data");
	n->structured = true;
	return reply_ack(out, NBD_OPT_STRUCTURED_REPLY);
}

/* The export name and queries of a LIST/SET_META_CONTEXT request, validated. */
struct meta_request {
	const uint8_t *name;
	uint32_t name_len;
	uint32_t count;
	struct reader queries; /* count times: 32-bit length, query */
};

static bool meta_parse(const uint8_t *data, size_t len, struct meta_request *m)
{
	struct reader rd = reader_init(data, len), q;
	const uint8_t *s;
	uint32_t qlen;

	if (reader_u32be(&rd, &m->name_len) < 0 || reader_bytes(&rd, m->name_len, &m->name) < 0 ||
	    reader_u32be(&rd, &m->count) < 0)
		return false;
	m->queries = rd;
	q = rd;
	for (uint32_t i = 0; i < m->count; i++) {
		if (reader_u32be(&q, &qlen) < 0 || reader_bytes(&q, qlen, &s) < 0 ||
		    !is_valid_string(s, qlen) || !memchr(s, ':', qlen))
			return false;
	}
	return reader_left(&q) == 0;
}

/* Whether a query names base:allocation ("base:" lists every context of the namespace). */
static bool query_selects(const uint8_t *s, uint32_t len, bool list)
{
	size_t full = strlen(BASE_ALLOCATION);

	return (len == full && memcmp(s, BASE_ALLOCATION, full) == 0) ||
	       (list && len == 5 && memcmp(s, "base:", 5) == 0);
}

static int meta_context_reply(struct buf *out, uint32_t opt, uint32_t id)
{
	uint8_t p[4 + sizeof(BASE_ALLOCATION) - 1];

	put_u32be(p, id);
	memcpy(p + 4, BASE_ALLOCATION, sizeof(p) - 4);
	return nbd_opt_reply(out, opt, NBD_REP_META_CONTEXT, p, sizeof(p));
}

/* NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: we know one context,
 * base:allocation (every extent reported as allocated data). */
static int opt_meta(const struct nbd_export *e, struct nbd_negotiation *n, uint32_t opt,
		    const uint8_t *data, size_t len, struct buf *out)
{
	bool list = opt == NBD_OPT_LIST_META_CONTEXT, found;
	struct meta_request m;
	const uint8_t *s;
	uint32_t qlen;
	int r;

	if (!list)
		n->meta = false; /* SET replaces the selection, even when it fails */
	if (!n->structured)
		return reply_error(out, opt, NBD_REP_ERR_INVALID, "needs structured replies first");
	if (!meta_parse(data, len, &m))
		return reply_error(out, opt, NBD_REP_ERR_INVALID, "malformed meta context request");
	if (!is_our_export(e, m.name, m.name_len))
		return reply_error(out, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	found = list && m.count == 0; /* no query: list everything */
	for (uint32_t i = 0; i < m.count; i++) {
		if (reader_u32be(&m.queries, &qlen) < 0 || reader_bytes(&m.queries, qlen, &s) < 0)
			return -EBADMSG; /* cannot happen: meta_parse() walked the same bytes */
		found |= query_selects(s, qlen, list);
	}
	if (found) {
		r = meta_context_reply(out, opt, list ? 0 : NBD_META_CONTEXT_ID);
		if (r < 0)
			return r;
		if (!list)
			n->meta = true;
	}
	return reply_ack(out, opt);
}

int nbd_opt_handle(const struct nbd_export *e, struct nbd_negotiation *n, uint32_t opt,
		   const uint8_t *data, size_t len, struct buf *out,
		   enum nbd_opt_action *ret_action)
{
	*ret_action = NBD_OPT_NEXT;
	if (len > NBD_OPT_DATA_MAX || (len > 0 && !data))
		return -EINVAL; /* the caller answers oversized options itself */
	if (++n->options > NBD_OPT_COUNT_MAX) {
		*ret_action = NBD_OPT_CLOSE; /* endless haggling: a denial of service */
		return 0;
	}
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		return opt_export_name(e, n, data, len, out, ret_action);
	case NBD_OPT_ABORT:
		*ret_action = NBD_OPT_CLOSE;
		return reply_ack(out, opt); /* data, if any, is ignored as the protocol asks */
	case NBD_OPT_LIST:
		return opt_list(e, len, out);
	case NBD_OPT_STARTTLS:
		return reply_error(out, opt, len ? NBD_REP_ERR_INVALID : NBD_REP_ERR_POLICY,
				   "TLS is not offered on a local socket");
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info(e, n, opt, data, len, out, ret_action);
	case NBD_OPT_STRUCTURED_REPLY:
		return opt_structured_reply(n, len, out);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return opt_meta(e, n, opt, data, len, out);
	default:
		return reply_error(out, opt, NBD_REP_ERR_UNSUP, "option not supported");
	}
}
