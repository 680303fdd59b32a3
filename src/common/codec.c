/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/codec.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char std_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_encode(enum b64_alphabet a, const void *in, size_t len, char **ret)
{
	const char *tab = a == B64_URL ? url_chars : std_chars;
	const uint8_t *p = in;
	size_t outlen, o = 0, i;
	char *out;

	if (len > (SIZE_MAX - 8) / 4 * 3)
		return -EFBIG;
	outlen = (len + 2) / 3 * 4;
	out = malloc(outlen + 1);
	if (!out)
		return -ENOMEM;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = tab[(v >> 6) & 63];
		else if (a == B64_STD)
			out[o++] = '=';
		if (a == B64_STD)
			out[o++] = '=';
	}
	out[o] = 0;
	*ret = out;
	return 0;
}

static int b64_value(enum b64_alphabet a, char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (a == B64_STD && c == '+')
		return 62;
	if (a == B64_STD && c == '/')
		return 63;
	if (a == B64_URL && c == '-')
		return 62;
	if (a == B64_URL && c == '_')
		return 63;
	return -1;
}

/* Strip 0..2 '=' (only when the padded length is a multiple of 4); returns the data length. */
static int b64_strip_padding(const char *in, size_t len, size_t *ret)
{
	size_t pad = 0;

	while (pad < len && in[len - 1 - pad] == '=')
		pad++;
	if (pad > 2 || (pad > 0 && len % 4 != 0))
		return -EBADMSG;
	len -= pad;
	if (len % 4 == 1)
		return -EBADMSG;
	*ret = len;
	return 0;
}

static int b64_decode_into(enum b64_alphabet a, const char *in, size_t len, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_value(a, in[i]);
		if (v < 0)
			return -EBADMSG;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero (canonical encoding). */
	if (acc != 0)
		return -EBADMSG;
	return 0;
}

int b64_decode(enum b64_alphabet a, const char *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	size_t dlen, outlen;
	uint8_t *out;
	int r;

	if (!in && len)
		return -EINVAL;
	r = b64_strip_padding(in, len, &dlen);
	if (r < 0)
		return r;
	outlen = dlen / 4 * 3 + (dlen % 4 ? dlen % 4 - 1 : 0);
	out = malloc(outlen + 1);
	if (!out)
		return -ENOMEM;
	r = b64_decode_into(a, in, dlen, out);
	if (r < 0) {
		wipe(out, outlen);
		free(out);
		return r;
	}
	out[outlen] = 0;
	*ret = out;
	*ret_len = outlen;
	return 0;
}

int b64_decode_any(const char *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	bool has_std = memchr(in, '+', len) || memchr(in, '/', len);
	bool has_url = memchr(in, '-', len) || memchr(in, '_', len);

	if (has_std && has_url)
		return -EBADMSG;
	return b64_decode(has_url ? B64_URL : B64_STD, in, len, ret, ret_len);
}

int b64_decode_fixed(enum b64_alphabet a, const char *in, size_t len, void *out, size_t outlen)
{
	uint8_t *tmp;
	size_t n;
	int r = b64_decode(a, in, len, &tmp, &n);

	if (r < 0)
		return r;
	if (n != outlen) {
		wipe(tmp, n);
		free(tmp);
		return -EBADMSG;
	}
	memcpy(out, tmp, n);
	wipe(tmp, n);
	free(tmp);
	return 0;
}

void hex_encode(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_decode_into(const char *in, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EBADMSG;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int hex_decode(const char *in, size_t len, uint8_t **ret, size_t *ret_len)
{
	uint8_t *out;
	int r;

	if (len % 2 != 0 || (!in && len))
		return -EBADMSG;
	out = malloc(len / 2 + 1);
	if (!out)
		return -ENOMEM;
	r = hex_decode_into(in, len, out);
	if (r < 0) {
		free(out);
		return r;
	}
	out[len / 2] = 0;
	*ret = out;
	*ret_len = len / 2;
	return 0;
}

int hex_decode_fixed(const char *in, size_t len, void *out, size_t outlen)
{
	if (len % 2 != 0 || len / 2 != outlen)
		return -EBADMSG;
	return hex_decode_into(in, len, out);
}

size_t b64_decoded_len(const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == '=')
		n--;
	return n * 3 / 4;
}
