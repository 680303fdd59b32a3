/* SPDX-License-Identifier: MIT */
/* snp_fetch.c - VCEK chain fallbacks: THIM on IMDS, Azure's cert cache, AMD KDS (snp_fetch.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs_internal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/snp_fetch.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"

/* "host[/path]" -> scheme://host[/path]; "scheme://..." kept; trailing '/' dropped. */
static int base_url(const char *endpoint, const char *scheme, char **ret)
{
	size_t n;

	if (!*endpoint || strpbrk(endpoint, " \t\r\n?#"))
		return -EINVAL;
	if (strstr(endpoint, "://"))
		*ret = strdup(endpoint);
	else if (asprintf(ret, "%s://%s", scheme, endpoint) < 0)
		*ret = NULL;
	if (!*ret)
		return -ENOMEM;
	n = strlen(*ret);
	while (n > 0 && (*ret)[n - 1] == '/')
		(*ret)[--n] = 0;
	return 0;
}

static bool product_ok(const char *p)
{
	return streq(p, "Milan") || streq(p, "Genoa") || streq(p, "Turin");
}

int snp_fetch_thim_url(const char *endpoint, char **ret)
{
	return base_url(endpoint ? endpoint : SNP_FETCH_THIM_DEFAULT, "http", ret);
}

int snp_fetch_azcache_url(const char *endpoint, const struct snp_report *rep, char **ret)
{
	_cleanup_free_ char *base = NULL;
	char chip[2 * SNP_CHIP_ID_SIZE + 1];
	int e;

	e = base_url(endpoint ? endpoint : SNP_FETCH_AZCACHE_DEFAULT, "https", &base);
	if (e < 0)
		return e;
	hex_encode(rep->chip_id, SNP_CHIP_ID_SIZE, chip);
	/* Go's FormatUint(reported_tcb, 16): lower-case hex without leading zeros. */
	if (asprintf(ret,
		     "%s/SevSnpVM/certificates/%s/%llx?api-version=2020-10-15-preview"
		     "&clientId=ConfidentialACI",
		     base, chip, (unsigned long long)rep->reported_tcb) < 0)
		return -ENOMEM;
	return 0;
}

int snp_fetch_kds_vcek_url(const char *endpoint, const char *product, const struct snp_report *rep,
			   char **ret)
{
	bool turin = streq(product, "Turin");
	struct snp_tcb t =
		snp_tcb_decode(rep->reported_tcb, turin ? SNP_GEN_TURIN : SNP_GEN_MILAN_GENOA);
	_cleanup_free_ char *base = NULL;
	char hwid[2 * SNP_CHIP_ID_SIZE + 1], fmc[24] = "";
	int e;

	if (!product_ok(product))
		return -EINVAL;
	e = base_url(endpoint ? endpoint : SNP_FETCH_KDS_DEFAULT, "https", &base);
	if (e < 0)
		return e;
	/* Turin's hwID is the first 8 bytes of CHIP_ID (docs/snp.md, Certificates). */
	hex_encode(rep->chip_id, turin ? 8 : SNP_CHIP_ID_SIZE, hwid);
	if (turin)
		snprintf(fmc, sizeof(fmc), "fmcSPL=%u&", t.fmc);
	if (asprintf(ret, "%s/vcek/v1/%s/%s?%sblSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", base,
		     product, hwid, fmc, t.bootloader, t.tee, t.snp, t.microcode) < 0)
		return -ENOMEM;
	return 0;
}

int snp_fetch_kds_chain_url(const char *endpoint, const char *product, char **ret)
{
	_cleanup_free_ char *base = NULL;
	int e;

	if (!product_ok(product))
		return -EINVAL;
	e = base_url(endpoint ? endpoint : SNP_FETCH_KDS_DEFAULT, "https", &base);
	if (e < 0)
		return e;
	return asprintf(ret, "%s/vcek/v1/%s/cert_chain", base, product) < 0 ? -ENOMEM : 0;
}

int snp_fetch_source_parse(const char *s, enum snp_fetch_source *ret)
{
	if (streq(s, "thim"))
		*ret = SNP_FETCH_THIM;
	else if (streq(s, "azcache"))
		*ret = SNP_FETCH_AZCACHE;
	else if (streq(s, "amd") || streq(s, "kds"))
		*ret = SNP_FETCH_AMD_KDS;
	else
		return -EINVAL;
	return 0;
}

int snp_fetch_thim_from_pem(const char *pem, size_t len, struct snp_thim *ret)
{
	_cleanup_(snp_certs_freep) struct snp_certs *c = NULL;
	struct snp_vcek_info info;
	struct snp_thim t = {};
	const char *first, *second;
	int e;

	e = snp_certs_from_pem(pem, len, &c);
	if (e < 0)
		return e;
	e = snp_certs_vcek_info(c, &info);
	if (e < 0)
		return e;
	first = memmem(pem, len, PEM_BEGIN, strlen(PEM_BEGIN));
	second = first ? memmem(first + 1, len - (size_t)(first + 1 - pem), PEM_BEGIN,
				strlen(PEM_BEGIN)) :
			 NULL;
	if (!second)
		return -EBADMSG;
	t.vcek_cert = strndup(first, (size_t)(second - first));
	t.certificate_chain = strndup(second, len - (size_t)(second - pem));
	t.tcbm =
		snp_tcb_encode(&info.tcb, info.hwid_len == 8 ? SNP_GEN_TURIN : SNP_GEN_MILAN_GENOA);
	if (!t.vcek_cert || !t.certificate_chain) {
		snp_thim_done(&t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

static int get(struct http_client *http, const char *url, bool imds, struct http_response *ret)
{
	static const char *const imds_headers[] = { "Metadata: true", NULL };
	const struct http_request req = {
		.method = "GET",
		.url = url,
		.headers = imds ? imds_headers : NULL,
		.max_response = SNP_FETCH_MAX_BODY,
	};
	int e;

	e = http_request(http, &req, ret);
	if (e < 0)
		return log_debug_errno(e, "GET %s: %m", url);
	if (ret->status != 200) {
		log_debug("GET %s: HTTP %ld", url, ret->status);
		http_response_done(ret);
		return -EPROTO;
	}
	return 0;
}

static int fetch_thim(struct http_client *http, const char *endpoint, struct snp_thim *ret)
{
	_cleanup_free_ char *url = NULL;
	struct http_response resp;
	int e;

	e = snp_fetch_thim_url(endpoint, &url);
	if (e < 0)
		return e;
	e = get(http, url, true, &resp);
	if (e < 0)
		return e;
	e = snp_thim_parse(resp.body.data, resp.body.len, ret);
	http_response_done(&resp);
	return e;
}

static int fetch_azcache(struct http_client *http, const char *endpoint,
			 const struct snp_report *rep, struct snp_thim *ret)
{
	_cleanup_free_ char *url = NULL;
	struct http_response resp;
	int e;

	e = snp_fetch_azcache_url(endpoint, rep, &url);
	if (e < 0)
		return e;
	e = get(http, url, false, &resp);
	if (e < 0)
		return e;
	e = snp_fetch_thim_from_pem((const char *)resp.body.data, resp.body.len, ret);
	http_response_done(&resp);
	return e;
}

/* KDS serves the VCEK as DER; THIM form wants PEM. */
static int der_to_pem(const uint8_t *der, size_t len, char **ret)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n = 0;

	if (x && bio && p == der + len && PEM_write_bio_X509(bio, x) == 1)
		n = BIO_get_mem_data(bio, &data);
	*ret = n > 0 ? strndup(data, (size_t)n) : NULL;
	X509_free(x);
	BIO_free(bio);
	if (!*ret) {
		certs_drain_openssl("KDS VCEK");
		return -EBADMSG;
	}
	return 0;
}

static int fetch_kds(struct http_client *http, const char *endpoint, const char *product,
		     const struct snp_report *rep, struct snp_thim *ret)
{
	_cleanup_free_ char *vurl = NULL, *curl = NULL;
	struct http_response resp;
	struct snp_thim t = { .tcbm = rep->reported_tcb };
	int e;

	e = snp_fetch_kds_vcek_url(endpoint, product, rep, &vurl);
	if (e >= 0)
		e = snp_fetch_kds_chain_url(endpoint, product, &curl);
	if (e >= 0)
		e = get(http, vurl, false, &resp);
	if (e < 0)
		return e;
	e = der_to_pem(resp.body.data, resp.body.len, &t.vcek_cert);
	http_response_done(&resp);
	if (e >= 0)
		e = get(http, curl, false, &resp);
	if (e >= 0) {
		t.certificate_chain = strndup((const char *)resp.body.data, resp.body.len);
		e = t.certificate_chain ? 0 : -ENOMEM;
		http_response_done(&resp);
	}
	if (e < 0) {
		snp_thim_done(&t);
		return e;
	}
	*ret = t;
	return 0;
}

int snp_fetch_certs(struct http_client *http, enum snp_fetch_source src, const char *endpoint,
		    const char *product, const struct snp_report *rep, struct snp_thim *ret)
{
	switch (src) {
	case SNP_FETCH_THIM:
		return fetch_thim(http, endpoint, ret);
	case SNP_FETCH_AZCACHE:
		return fetch_azcache(http, endpoint, rep, ret);
	case SNP_FETCH_AMD_KDS:
		return fetch_kds(http, endpoint, product ? product : "Milan", rep, ret);
	}
	return -EINVAL;
}
