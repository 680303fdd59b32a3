/* SPDX-License-Identifier: MIT */
/*
 * certs.c - the VCEK <- ASK <- ARK chain: loading, the VCEK's AMD extensions and the report
 * checks that tie a report to its VCEK (docs/snp.md, Certificates). Chain verification against the
 * trust roots is in trust.c (amd_roots.c holds AMD's), and snp_verify_report(), which needs both,
 * in verify.c: certs.c depends on neither.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs_internal.h"
#include "sealmount/log.h"

struct snp_certs {
	X509 *vcek;
	X509 *ask;
	X509 *ark; /* may be NULL */
};

void certs_drain_openssl(const char *what)
{
	unsigned long err;
	char msg[256];

	while ((err = ERR_get_error()) != 0) {
		ERR_error_string_n(err, msg, sizeof(msg));
		log_debug("%s: %s", what, msg);
	}
}

void snp_certs_free(struct snp_certs *c)
{
	if (!c)
		return;
	X509_free(c->vcek);
	X509_free(c->ask);
	X509_free(c->ark);
	free(c);
}

int certs_read_pem_stack(const char *pem, size_t len, STACK_OF(X509) * *ret)
{
	STACK_OF(X509) * sk;
	BIO *bio;
	X509 *x;

	if (len > SNP_CERTS_MAX || len > INT_MAX)
		return -EFBIG;
	bio = BIO_new_mem_buf(pem, (int)len);
	sk = sk_X509_new_null();
	if (!bio || !sk) {
		BIO_free(bio);
		sk_X509_free(sk);
		return -ENOMEM;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			BIO_free(bio);
			return -ENOMEM;
		}
	}
	BIO_free(bio);
	/* The loop ends with PEM_R_NO_START_LINE at the end of the text; anything else is a
	 * certificate that failed to decode. */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || sk_X509_num(sk) == 0) {
		certs_drain_openssl("PEM certificates");
		sk_X509_pop_free(sk, X509_free);
		return -EBADMSG;
	}
	ERR_clear_error();
	*ret = sk;
	return 0;
}

static bool is_p384_key(X509 *x)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	char group[64];

	return k && EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), NULL) &&
	       strcmp(group, "secp384r1") == 0;
}

int snp_certs_from_pem(const char *pem, size_t len, struct snp_certs **ret)
{
	STACK_OF(X509) *sk = NULL;
	struct snp_certs *c;
	int n, e;

	e = certs_read_pem_stack(pem, len, &sk);
	if (e < 0)
		return e;
	n = sk_X509_num(sk);
	if (n < 2 || n > 3) {
		log_debug("certificate chain: %d certificates, expected VCEK, ASK[, ARK]", n);
		sk_X509_pop_free(sk, X509_free);
		return -EBADMSG;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		sk_X509_pop_free(sk, X509_free);
		return -ENOMEM;
	}
	c->vcek = sk_X509_value(sk, 0);
	c->ask = sk_X509_value(sk, 1);
	c->ark = n == 3 ? sk_X509_value(sk, 2) : NULL;
	sk_X509_free(sk); /* the certificates now belong to c */
	if (!is_p384_key(c->vcek)) {
		log_debug("certificate chain: the first certificate (VCEK) has no EC P-384 key");
		snp_certs_free(c);
		return -EBADMSG;
	}
	*ret = c;
	return 0;
}

EVP_PKEY *snp_certs_vcek_key(const struct snp_certs *c)
{
	return X509_get0_pubkey(c->vcek);
}

static int pem_append(BIO *bio, X509 *x)
{
	return !x || PEM_write_bio_X509(bio, x) == 1 ? 0 : -ENOMEM;
}

int snp_certs_to_pem(const struct snp_certs *c, char **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (!bio)
		return -ENOMEM;
	if (pem_append(bio, c->vcek) < 0 || pem_append(bio, c->ask) < 0 ||
	    pem_append(bio, c->ark) < 0) {
		BIO_free(bio);
		return -ENOMEM;
	}
	n = BIO_get_mem_data(bio, &data);
	out = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (!out) {
		BIO_free(bio);
		return -ENOMEM;
	}
	memcpy(out, data, (size_t)n);
	out[n] = 0;
	BIO_free(bio);
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}

/* The DER INTEGER inside an SPL extension (the sidecar reads byte [2] of `02 01 xx`; we decode
 * the INTEGER properly so values >= 0x80, encoded `02 02 00 xx`, also work). */
static int ext_spl(X509 *x, const char *oid, uint8_t *ret)
{
	const ASN1_OCTET_STRING *os;
	const unsigned char *p;
	ASN1_INTEGER *ai;
	ASN1_OBJECT *obj;
	int64_t v = -1;
	int idx;

	obj = OBJ_txt2obj(oid, 1);
	if (!obj)
		return -ENOMEM;
	idx = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return -ENOENT;
	os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
	p = ASN1_STRING_get0_data(os);
	ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
	if (!ai || p != ASN1_STRING_get0_data(os) + ASN1_STRING_length(os) ||
	    ASN1_INTEGER_get_int64(&v, ai) != 1 || v < 0 || v > 255) {
		ASN1_INTEGER_free(ai);
		ERR_clear_error();
		log_debug("VCEK extension %s is not an INTEGER 0..255", oid);
		return -EBADMSG;
	}
	ASN1_INTEGER_free(ai);
	*ret = (uint8_t)v;
	return 0;
}

static int ext_raw(X509 *x, const char *oid, const uint8_t **ret, size_t *ret_len)
{
	const ASN1_OCTET_STRING *os;
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int idx;

	if (!obj)
		return -ENOMEM;
	idx = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return -ENOENT;
	os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
	*ret = ASN1_STRING_get0_data(os);
	*ret_len = (size_t)ASN1_STRING_length(os);
	return 0;
}

/* productName is an IA5String inside the extension (e.g. 16 08 "Milan-B0"); best effort. */
static void ext_product(X509 *x, char *out, size_t outlen)
{
	const uint8_t *p;
	size_t n;

	out[0] = 0;
	if (ext_raw(x, SNP_OID_PRODUCT_NAME, &p, &n) < 0 || n < 2 || p[0] != 0x16 ||
	    p[1] != n - 2 || n - 2 >= outlen)
		return;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return;
	memcpy(out, p + 2, n - 2);
	out[n - 2] = 0;
}

int snp_certs_vcek_info(const struct snp_certs *c, struct snp_vcek_info *ret)
{
	struct snp_vcek_info info = {};
	const uint8_t *hw;
	size_t hwlen;
	int e;

	e = ext_raw(c->vcek, SNP_OID_HWID, &hw, &hwlen);
	if (e < 0)
		return log_debug_errno(e == -ENOENT ? -EBADMSG : e, "VCEK has no hwID extension");
	if (hwlen != 64 && hwlen != 8)
		return log_debug_errno(-EBADMSG, "VCEK hwID is %zu bytes, expected 64 (or 8)",
				       hwlen);
	memcpy(info.hwid, hw, hwlen);
	info.hwid_len = hwlen;
	e = ext_spl(c->vcek, SNP_OID_BL_SPL, &info.tcb.bootloader);
	if (e >= 0)
		e = ext_spl(c->vcek, SNP_OID_TEE_SPL, &info.tcb.tee);
	if (e >= 0)
		e = ext_spl(c->vcek, SNP_OID_SNP_SPL, &info.tcb.snp);
	if (e >= 0)
		e = ext_spl(c->vcek, SNP_OID_UCODE_SPL, &info.tcb.microcode);
	if (e < 0)
		return log_debug_errno(e == -ENOENT ? -EBADMSG : e,
				       "VCEK lacks a TCB (SPL) extension");
	e = ext_spl(c->vcek, SNP_OID_FMC_SPL, &info.tcb.fmc); /* Turin only */
	if (e < 0 && e != -ENOENT)
		return e;
	ext_product(c->vcek, info.product, sizeof(info.product));
	*ret = info;
	return 0;
}

int snp_certs_check_chip_id(const struct snp_certs *c, const struct snp_report *rep)
{
	struct snp_vcek_info info;
	int e;

	e = snp_certs_vcek_info(c, &info);
	if (e < 0)
		return e;
	if (memcmp(info.hwid, rep->chip_id, info.hwid_len) != 0) {
		log_debug("VCEK hwID does not match the report's CHIP_ID");
		return -EBADMSG;
	}
	return 0;
}

int snp_certs_check_tcb(const struct snp_certs *c, const struct snp_report *rep)
{
	enum snp_generation gen = snp_report_generation(rep);
	struct snp_tcb want = snp_tcb_decode(rep->reported_tcb, gen);
	struct snp_vcek_info info;
	int e;

	e = snp_certs_vcek_info(c, &info);
	if (e < 0)
		return e;
	if (gen != SNP_GEN_TURIN)
		info.tcb.fmc = 0; /* not part of the Milan/Genoa TCB */
	if (info.tcb.bootloader != want.bootloader || info.tcb.tee != want.tee ||
	    info.tcb.snp != want.snp || info.tcb.microcode != want.microcode ||
	    info.tcb.fmc != want.fmc) {
		log_debug(
			"VCEK TCB (bl %u tee %u snp %u ucode %u) differs from REPORTED_TCB %016llx",
			info.tcb.bootloader, info.tcb.tee, info.tcb.snp, info.tcb.microcode,
			(unsigned long long)rep->reported_tcb);
		return -EBADMSG;
	}
	return 0;
}

X509 *certs_vcek(const struct snp_certs *c)
{
	return c->vcek;
}
X509 *certs_ask(const struct snp_certs *c)
{
	return c->ask;
}
X509 *certs_ark(const struct snp_certs *c)
{
	return c->ark;
}
