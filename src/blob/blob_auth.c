/* SPDX-License-Identifier: MIT */
/*
 * blob_auth.c - SharedKey authorisation for Blob Storage (docs/blob.md, SharedKey) and account-key
 * files. Pure functions: no network, no global state.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sealmount/blob.h"
#include "sealmount/fsutil.h"
#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

#define STS_MAX (64u * 1024)
#define STS_HEADERS_MAX 64
#define KEY_FILE_MAX 4096

/* The standard headers, in string-to-sign order. */
static const char *const std_headers[] = {
	"Content-Encoding",
	"Content-Language",
	"Content-Length",
	"Content-MD5",
	"Content-Type",
	"Date",
	"If-Modified-Since",
	"If-Match",
	"If-None-Match",
	"If-Unmodified-Since",
	"Range",
};

struct hdr {
	char name[64]; /* lower-case */
	const char *value;
	size_t vlen;
};

/* Split "Name: value" into a lower-case name and the trimmed value. -EINVAL. */
static int split_header(const char *line, struct hdr *h)
{
	size_t n = strcspn(line, ":");
	const char *v;

	if (line[n] != ':' || n == 0 || n >= sizeof(h->name))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		h->name[i] = (char)tolower((unsigned char)line[i]);
	h->name[n] = 0;
	v = line + n + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	h->value = v;
	h->vlen = strlen(v);
	while (h->vlen > 0 && (v[h->vlen - 1] == ' ' || v[h->vlen - 1] == '\t'))
		h->vlen--;
	return 0;
}

static const struct hdr *find(const struct hdr *hs, size_t n, const char *lname)
{
	for (size_t i = 0; i < n; i++)
		if (streq(hs[i].name, lname))
			return &hs[i];
	return NULL;
}

static int append_std(struct buf *b, const struct hdr *hs, size_t n)
{
	bool has_ms_date = find(hs, n, "x-ms-date") != NULL;
	char lname[32];
	int r = 0;

	for (size_t i = 0; i < ELEMENTSOF(std_headers) && r == 0; i++) {
		const struct hdr *h;

		for (size_t j = 0; j <= strlen(std_headers[i]); j++)
			lname[j] = (char)tolower((unsigned char)std_headers[i][j]);
		h = find(hs, n, lname);
		/* Date is empty when x-ms-date is sent; Content-Length is empty when 0. */
		if (h && !(has_ms_date && streq(lname, "date")) &&
		    !(streq(lname, "content-length") && h->vlen == 1 && h->value[0] == '0'))
			r = buf_append(b, h->value, h->vlen);
		r = r ?: buf_append(b, "\n", 1);
	}
	return r;
}

static int cmp_hdr(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

/* Append a value with internal whitespace runs folded to one space. */
static int append_folded(struct buf *b, const char *v, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		bool ws = v[i] == ' ' || v[i] == '\t';

		if (ws && i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t'))
			continue;
		r = buf_append(b, ws ? " " : &v[i], 1);
	}
	return r;
}

/* x-ms-* headers sorted by name; repeated names joined with ','. */
static int append_ms(struct buf *b, struct hdr *hs, size_t n)
{
	struct hdr ms[STS_HEADERS_MAX] = { 0 };
	size_t m = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (strncmp(hs[i].name, "x-ms-", 5) == 0)
			ms[m++] = hs[i];
	qsort(ms, m, sizeof(ms[0]), cmp_hdr);
	for (size_t i = 0; i < m && r == 0; i++) {
		bool same = i > 0 && streq(ms[i].name, ms[i - 1].name);

		if (same)
			r = buf_append(b, ",", 1);
		else
			r = buf_printf(b, "%s%s:", i > 0 ? "\n" : "", ms[i].name);
		r = r ?: append_folded(b, ms[i].value, ms[i].vlen);
	}
	if (m > 0 && r == 0)
		r = buf_append(b, "\n", 1);
	return r;
}

struct qparam {
	char *name; /* lower-case, decoded */
	char *value; /* decoded */
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode n bytes of s ('+' is a space, as Go's url.ParseQuery has it). */
static char *decode(const char *s, size_t n, bool lower)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		*o++ = lower ? (char)tolower((unsigned char)c) : c;
	}
	*o = 0;
	return out;
}

static int cmp_q(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static int parse_query(const char *q, struct qparam *ps, size_t max, size_t *ret_n)
{
	size_t n = 0;

	while (q && *q) {
		size_t len = strcspn(q, "&"), nlen = strcspn(q, "=");

		if (nlen > len)
			nlen = len;
		if (len > 0) {
			if (n == max)
				return -EINVAL;
			ps[n].name = decode(q, nlen, true);
			ps[n].value = nlen < len ? decode(q + nlen + 1, len - nlen - 1, false) :
						   decode("", 0, false);
			n++;
			if (!ps[n - 1].name || !ps[n - 1].value) {
				*ret_n = n;
				return -ENOMEM;
			}
		}
		q += len + (q[len] == '&');
	}
	*ret_n = n;
	return 0;
}

static int append_resource(struct buf *b, const char *account, const char *path, const char *q)
{
	struct qparam ps[STS_HEADERS_MAX] = { 0 };
	size_t n = 0;
	int r;

	r = buf_printf(b, "/%s%s", account, path[0] ? path : "/");
	if (r == 0)
		r = parse_query(q, ps, ELEMENTSOF(ps), &n);
	if (r == 0)
		qsort(ps, n, sizeof(ps[0]), cmp_q);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i > 0 && streq(ps[i].name, ps[i - 1].name))
			r = buf_printf(b, ",%s", ps[i].value);
		else
			r = buf_printf(b, "\n%s:%s", ps[i].name, ps[i].value);
	}
	for (size_t i = 0; i < n; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	return r;
}

int blob_sharedkey_string_to_sign(const char *verb, const char *const *headers, const char *account,
				  const char *path, const char *query, char **ret)
{
	struct hdr hs[STS_HEADERS_MAX];
	struct buf b;
	size_t n = 0;
	int r;

	for (size_t i = 0; headers && headers[i]; i++) {
		if (n == ELEMENTSOF(hs))
			return -EINVAL;
		r = split_header(headers[i], &hs[n++]);
		if (r < 0)
			return r;
	}
	buf_init(&b, STS_MAX);
	r = buf_printf(&b, "%s\n", verb);
	r = r ?: append_std(&b, hs, n);
	r = r ?: append_ms(&b, hs, n);
	r = r ?: append_resource(&b, account, path, query);
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = (char *)buf_steal(&b, NULL);
	return 0;
}

int blob_sharedkey_authorization(const struct secret *key, const char *account, const char *sts,
				 char **ret)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	_cleanup_free_ char *sig = NULL;
	struct buf b;
	int r;

	if (!HMAC(EVP_sha256(), key->data, (int)key->len, (const unsigned char *)sts, strlen(sts),
		  mac, &maclen))
		return -EIO;
	r = b64_encode(B64_STD, mac, maclen, &sig);
	wipe(mac, sizeof(mac));
	if (r < 0)
		return r;
	buf_init(&b, 1024);
	r = buf_printf(&b, "SharedKey %s:%s", account, sig);
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = (char *)buf_steal(&b, NULL);
	return 0;
}

int blob_account_key_load(const char *path, struct secret **ret)
{
	return fs_read_secret(path, KEY_FILE_MAX, FS_READ_TRIM | FS_READ_BASE64 | FS_READ_NONEMPTY,
			      ret);
}
