/* SPDX-License-Identifier: MIT */
/*
 * thim.c - the THIM certificate document Azure hands to ACI guests (host-amd-cert-base64, IMDS
 * /metadata/THIM/amd/certification): {"vcekCert", "certificateChain", "tcbm", "cacheControl"}
 * (docs/snp.md, "Certificates" and "ACI security context"). Validated completely before anything is
 * used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/certs.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

static int pem_string(const json_t *o, const char *key, char **ret)
{
	const char *s;
	int e;

	e = jsonx_get_string(o, key, &s);
	if (e < 0)
		return log_debug_errno(e == -ENOENT ? -EBADMSG : e, "THIM: missing or bad \"%s\"",
				       key);
	if (!strstr(s, PEM_CERT_BEGIN))
		return log_debug_errno(-EBADMSG, "THIM: \"%s\" holds no PEM certificate", key);
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

/* 1..16 hex digits, as the sidecar's strconv.ParseUint(tcbm, 16, 64) accepts (no sign, no 0x). */
static int parse_hex_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 16)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int d;
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return -EBADMSG;
		v = v << 4 | (uint64_t)d;
	}
	*ret = v;
	return 0;
}

static int parse_decimal(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || strlen(s) > 10)
		return -EBADMSG;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return 0;
}

static int parse_numbers(const json_t *o, struct snp_thim *t)
{
	const char *tcbm, *cc = NULL;
	int e;

	e = jsonx_get_string(o, "tcbm", &tcbm);
	if (e < 0 || parse_hex_u64(tcbm, &t->tcbm) < 0)
		return log_debug_errno(-EBADMSG, "THIM: missing or bad \"tcbm\" (16 hex digits)");
	e = jsonx_opt_string(o, "cacheControl", &cc);
	if (e < 0 || (cc && parse_decimal(cc, &t->cache_control) < 0))
		return log_debug_errno(-EBADMSG, "THIM: bad \"cacheControl\" (decimal seconds)");
	return 0;
}

int snp_thim_parse(const void *json, size_t len, struct snp_thim *ret)
{
	_cleanup_json_ json_t *o = NULL;
	struct snp_thim t = {};
	int e;

	e = jsonx_load_object(json, len, SNP_CERTS_MAX, &o);
	if (e < 0)
		return e;
	e = pem_string(o, "vcekCert", &t.vcek_cert);
	if (e >= 0)
		e = pem_string(o, "certificateChain", &t.certificate_chain);
	if (e >= 0)
		e = parse_numbers(o, &t);
	if (e < 0) {
		snp_thim_done(&t);
		return e;
	}
	*ret = t;
	return 0;
}

void snp_thim_done(struct snp_thim *t)
{
	free(t->vcek_cert);
	free(t->certificate_chain);
	*t = (struct snp_thim){};
}

int snp_thim_to_json(const struct snp_thim *t, char **ret)
{
	_cleanup_json_ json_t *o = NULL;
	char tcbm[17], cc[24];

	snprintf(tcbm, sizeof(tcbm), "%016llx", (unsigned long long)t->tcbm);
	snprintf(cc, sizeof(cc), "%llu", (unsigned long long)t->cache_control);
	o = json_pack("{s:s, s:s, s:s, s:s}", "vcekCert", t->vcek_cert, "certificateChain",
		      t->certificate_chain, "tcbm", tcbm, "cacheControl", cc);
	if (!o)
		return -ENOMEM;
	return jsonx_dump_sorted(o, ret);
}

int snp_certs_from_thim(const struct snp_thim *t, struct snp_certs **ret)
{
	_cleanup_free_ char *pem = NULL;
	size_t a = strlen(t->vcek_cert), b = strlen(t->certificate_chain), n;

	if (ADD_OVERFLOW(a, b, &n) || ADD_OVERFLOW(n, 2, &n))
		return -EFBIG;
	pem = malloc(n);
	if (!pem)
		return -ENOMEM;
	/* A newline between the two in case vcekCert lacks a trailing one. */
	snprintf(pem, n, "%s\n%s", t->vcek_cert, t->certificate_chain);
	return snp_certs_from_pem(pem, n - 1, ret);
}

int snp_certs_load_file(const char *path, struct snp_certs **ret, uint64_t *ret_tcbm)
{
	_cleanup_free_ uint8_t *data = NULL;
	struct snp_thim t;
	size_t len, i = 0;
	int e;

	e = fs_read_file(path, SNP_CERTS_MAX, 0, &data, &len);
	if (e < 0)
		return e;
	while (i < len && strchr(" \t\r\n", data[i]) && data[i])
		i++;
	if (i == len || data[i] != '{') {
		e = snp_certs_from_pem((const char *)data, len, ret);
		if (e >= 0 && ret_tcbm)
			*ret_tcbm = UINT64_MAX;
		return e;
	}
	e = snp_thim_parse(data, len, &t);
	if (e < 0)
		return e;
	e = snp_certs_from_thim(&t, ret);
	if (e >= 0 && ret_tcbm)
		*ret_tcbm = t.tcbm;
	snp_thim_done(&t);
	return e;
}
