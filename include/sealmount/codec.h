/* SPDX-License-Identifier: MIT */
/*
 * codec.h - base64, base64url and hex.
 *
 * Decoders accept padded and unpadded input (Microsoft's producers differ), reject any character
 * outside the alphabet (no whitespace skipping unless stated), reject non-zero trailing bits and
 * misplaced padding. Output buffers are malloc'd and owned by the caller; decoded output is
 * followed by one NUL byte not counted in the length (handy for text).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"

enum b64_alphabet {
	B64_STD, /* + / */
	B64_URL, /* - _ */
};

/* Encode; std output is padded, url output is unpadded (as JOSE wants). -ENOMEM, -EFBIG. */
_must_check_ int b64_encode(enum b64_alphabet a, const void *in, size_t len, char **ret)
	_nonnull_(4);
/* Decode; -EBADMSG on bad input, -ENOMEM. */
_must_check_ int b64_decode(enum b64_alphabet a, const char *in, size_t len, uint8_t **ret,
			    size_t *ret_len) _nonnull_(4, 5);
/* Decode either alphabet (a mix is refused): for config values that may be std or url-safe. */
_must_check_ int b64_decode_any(const char *in, size_t len, uint8_t **ret, size_t *ret_len)
	_nonnull_(3, 4);
/* Decode into a caller buffer of exactly outlen bytes (-EBADMSG if the size differs). */
_must_check_ int b64_decode_fixed(enum b64_alphabet a, const char *in, size_t len, void *out,
				  size_t outlen) _nonnull_(4);

/* The number of bytes standard base64 text of n characters decodes to (padding ignored; the
 * text itself is not checked). */
size_t b64_decoded_len(const char *s, size_t n) _nonnull_(1);

/* Lower-case hex. out must hold 2*len+1 bytes. */
void hex_encode(const void *in, size_t len, char *out) _nonnull_(3);
/* Decode exactly len hex digits (even, either case). -EBADMSG. */
_must_check_ int hex_decode(const char *in, size_t len, uint8_t **ret, size_t *ret_len)
	_nonnull_(3, 4);
_must_check_ int hex_decode_fixed(const char *in, size_t len, void *out, size_t outlen)
	_nonnull_(3);
