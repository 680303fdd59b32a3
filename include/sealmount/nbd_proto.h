/* SPDX-License-Identifier: MIT */
/*
 * nbd_proto.h - the NBD wire format as the in-process server speaks it (docs/nbd.md): the fixed
 * newstyle handshake, option haggling and the transmission phase's requests and replies, as
 * pure functions over byte buffers. Nothing here does I/O, allocates outside a caller's
 * struct buf, or keeps global state, so the whole client-facing surface is a fuzz target
 * (tests/fuzz/fuzz_nbd.c) and unit-testable without sockets.
 *
 * Names follow the protocol document (NetworkBlockDevice/nbd doc/proto.md); every multi-byte
 * field on the wire is big-endian. Untrusted input: option data and request headers come from
 * the client and are checked completely before use (lengths against the data actually present
 * and against the caps below, offsets + lengths for overflow, names for NUL bytes and length).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/buf.h"
#include "sealmount/macros.h"

/* Magic numbers (doc/proto.md "Handshake", "Transmission"). */
#define NBD_MAGIC_INIT 0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_MAGIC_OPT 0x49484156454f5054ULL /* "IHAVEOPT" */
#define NBD_MAGIC_OPT_REPLY 0x3e889045565a9ULL
#define NBD_MAGIC_REQUEST 0x25609513u
#define NBD_MAGIC_SIMPLE_REPLY 0x67446698u
#define NBD_MAGIC_STRUCTURED_REPLY 0x668e33efu

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_C_NO_ZEROES (1u << 1)

/* Transmission flags (16 bits). */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)

/* Options. */
#define NBD_OPT_EXPORT_NAME 1u
#define NBD_OPT_ABORT 2u
#define NBD_OPT_LIST 3u
#define NBD_OPT_STARTTLS 5u
#define NBD_OPT_INFO 6u
#define NBD_OPT_GO 7u
#define NBD_OPT_STRUCTURED_REPLY 8u
#define NBD_OPT_LIST_META_CONTEXT 9u
#define NBD_OPT_SET_META_CONTEXT 10u

/* Option replies; errors have bit 31 set. */
#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_ERR_UNSUP 0x80000001u
#define NBD_REP_ERR_POLICY 0x80000002u
#define NBD_REP_ERR_INVALID 0x80000003u
#define NBD_REP_ERR_UNKNOWN 0x80000006u
#define NBD_REP_ERR_TOO_BIG 0x80000009u

/* NBD_REP_INFO types. */
#define NBD_INFO_EXPORT 0u
#define NBD_INFO_NAME 1u
#define NBD_INFO_DESCRIPTION 2u
#define NBD_INFO_BLOCK_SIZE 3u

/* Commands and command flags. */
#define NBD_CMD_READ 0u
#define NBD_CMD_WRITE 1u
#define NBD_CMD_DISC 2u
#define NBD_CMD_FLUSH 3u
#define NBD_CMD_BLOCK_STATUS 7u
#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)

/* Structured reply chunk types and flags. */
#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0u
#define NBD_REPLY_TYPE_OFFSET_DATA 1u
#define NBD_REPLY_TYPE_BLOCK_STATUS 5u
#define NBD_REPLY_TYPE_ERROR 0x8001u

/* Error values on the wire (doc/proto.md "Error values"): a fixed set, not the host's errno. */
#define NBD_EPERM 1u
#define NBD_EIO 5u
#define NBD_ENOMEM 12u
#define NBD_EINVAL 22u
#define NBD_ENOSPC 28u
#define NBD_EOVERFLOW 75u
#define NBD_ESHUTDOWN 108u

/* Wire sizes. */
#define NBD_GREETING_SIZE 18u /* NBDMAGIC, IHAVEOPT, 16-bit handshake flags */
#define NBD_OPT_HEADER_SIZE 16u
#define NBD_REQUEST_SIZE 28u
#define NBD_SIMPLE_REPLY_SIZE 16u
#define NBD_CHUNK_HEADER_SIZE 20u

/* Caps (docs/nbd.md "Limits"). */
#define NBD_NAME_MAX 4096u /* export names and queries: the protocol's string limit */
#define NBD_OPT_DATA_MAX 16384u /* option data; more is answered NBD_REP_ERR_TOO_BIG, then close */
#define NBD_OPT_COUNT_MAX 64u /* options per connection before a hard disconnect */
#define NBD_PAYLOAD_MAX (32u << 20) /* default and largest request payload (32 MiB) */
#define NBD_META_CONTEXT_ID 1u /* our id for base:allocation */

/* The one export a server offers, as negotiation describes it. */
struct nbd_export {
	const char *name; /* "" is the default export; any other name the client sends is unknown */
	const char *description; /* NBD_INFO_DESCRIPTION when asked; NULL = none */
	uint64_t size;
	uint16_t flags; /* transmission flags, without NBD_FLAG_SEND_DF (added with structured) */
	uint32_t min_block, pref_block, max_payload; /* NBD_INFO_BLOCK_SIZE */
};

/* Option-phase state of one connection, then what transmission needs to know. */
struct nbd_negotiation {
	bool no_zeroes; /* NBD_FLAG_C_NO_ZEROES */
	bool structured; /* NBD_OPT_STRUCTURED_REPLY acknowledged */
	bool meta; /* base:allocation selected by the last NBD_OPT_SET_META_CONTEXT */
	unsigned options; /* options seen so far */
};

enum nbd_opt_action {
	NBD_OPT_NEXT, /* send the reply, read the next option */
	NBD_OPT_TRANSMIT, /* send the reply, enter the transmission phase */
	NBD_OPT_CLOSE, /* send the reply (if any), then close the connection */
};

/* The server's greeting: NBDMAGIC, IHAVEOPT, FIXED_NEWSTYLE | NO_ZEROES. */
void nbd_greeting(uint8_t out[NBD_GREETING_SIZE]) _nonnull_(1);

/* The client's 32-bit flags. 0, or -EPROTO for a flag we do not know or did not offer (the
 * protocol then demands that the server drops the connection). */
_must_check_ int nbd_client_flags_parse(const uint8_t in[4], struct nbd_negotiation *n)
	_nonnull_(1, 2);

/* An option header. 0, or -EBADMSG for a wrong magic (a hard disconnect). */
_must_check_ int nbd_opt_header_parse(const uint8_t in[NBD_OPT_HEADER_SIZE], uint32_t *ret_opt,
				      uint32_t *ret_len) _nonnull_(1, 2, 3);

/*
 * Answer one option whose data (len bytes, len <= NBD_OPT_DATA_MAX) has been read: appends the
 * reply bytes to out and says what happens next. Malformed or unknown options are answered
 * with an error reply and NBD_OPT_NEXT, as the protocol wants; NBD_OPT_EXPORT_NAME for an
 * unknown export and too many options give NBD_OPT_CLOSE with nothing to send. 0, or -EFBIG /
 * -ENOMEM from out (the connection is then dropped).
 */
_must_check_ int nbd_opt_handle(const struct nbd_export *e, struct nbd_negotiation *n, uint32_t opt,
				const uint8_t *data, size_t len, struct buf *out,
				enum nbd_opt_action *ret_action) _nonnull_(1, 2, 6, 7);

/* Append an option reply (header, then the payload). -EFBIG / -ENOMEM from out. */
_must_check_ int nbd_opt_reply(struct buf *out, uint32_t opt, uint32_t type, const void *payload,
			       size_t len) _nonnull_(1);

/* The transmission flags of a negotiated connection: with NBD_FLAG_SEND_DF when structured. */
uint16_t nbd_transmission_flags(const struct nbd_export *e, const struct nbd_negotiation *n)
	_nonnull_(1, 2);

struct nbd_request {
	uint16_t flags;
	uint16_t type;
	uint64_t handle; /* opaque: echoed in the reply */
	uint64_t offset;
	uint32_t length;
};

/* A request header. 0, or -EBADMSG for a wrong magic (a hard disconnect). */
_must_check_ int nbd_request_parse(const uint8_t in[NBD_REQUEST_SIZE], struct nbd_request *ret)
	_nonnull_(1, 2);

/* What transmission checks a request against. */
struct nbd_session {
	uint64_t size;
	uint16_t flags; /* the transmission flags sent to the client */
	bool structured;
	bool meta;
	uint32_t max_payload;
	uint32_t write_align; /* the stack's real write alignment (reads take any) */
};

enum nbd_verdict {
	NBD_VERDICT_OK, /* carry it out */
	NBD_VERDICT_ERROR, /* answer with *ret_error (a write's payload is still read first) */
	NBD_VERDICT_DROP, /* hard disconnect: a write payload above the cap cannot be consumed */
	NBD_VERDICT_DISC, /* NBD_CMD_DISC: finish what is in flight, no reply, close */
};

/* Check a parsed request completely (command, flags, offset + length with overflow, payload
 * cap, read-only). *ret_error is an NBD_E* value when the verdict is NBD_VERDICT_ERROR. */
enum nbd_verdict nbd_request_check(const struct nbd_session *s, const struct nbd_request *rq,
				   uint32_t *ret_error) _nonnull_(1, 2, 3);

/* Reply encoders. */
void nbd_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t handle)
	_nonnull_(1);
void nbd_chunk_header(uint8_t out[NBD_CHUNK_HEADER_SIZE], uint16_t flags, uint16_t type,
		      uint64_t handle, uint32_t length) _nonnull_(1);
/* A final NBD_REPLY_TYPE_ERROR chunk with message msg (truncated to fit cap). Returns the number
 * of bytes written to out (cap >= NBD_CHUNK_HEADER_SIZE + 6 is required). */
size_t nbd_error_chunk(uint8_t *out, size_t cap, uint64_t handle, uint32_t error, const char *msg)
	_nonnull_(1, 5);
/* A final NBD_REPLY_TYPE_BLOCK_STATUS chunk: one extent of length bytes, status 0 (allocated
 * data, contents not known to be zero). */
#define NBD_BLOCK_STATUS_REPLY_SIZE (NBD_CHUNK_HEADER_SIZE + 12u)
void nbd_block_status_reply(uint8_t out[NBD_BLOCK_STATUS_REPLY_SIZE], uint64_t handle,
			    uint32_t length) _nonnull_(1);
/* The extent length a block status request gets: the request's length, clipped to the export. */
uint32_t nbd_block_status_length(const struct nbd_session *s, const struct nbd_request *rq)
	_nonnull_(1, 2);

/* A negative errno from the block stack as an NBD error value (EIO for anything unmapped). */
uint32_t nbd_error_from_errno(int err);
/* "READ", "WRITE", ... for logs. */
const char *nbd_cmd_name(uint16_t type);
