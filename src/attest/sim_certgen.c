/* SPDX-License-Identifier: MIT */
/*
 * sim_certgen.c - make the SIMULATED ARK/ASK/VCEK chain (see snp_sim.h), shaped like AMD's:
 * RSA-4096 ARK and ASK, EC P-384 VCEK, every link RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48),
 * and the VCEK's AMD extensions (docs/snp.md, Certificates). Subjects say SIMULATED so nobody
 * mistakes them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "attest_internal.h"
#include "certs_internal.h"
#include "sealmount/log.h"
#include "sealmount/snp_sim.h"

DEFINE_CLEANUP_FUNC(X509, X509_free)
DEFINE_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)

#define DAY (24L * 3600)

static int sign_pss(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	ok = md && EVP_DigestSignInit_ex(md, &pctx, "SHA384", NULL, NULL, key, NULL) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA384", NULL) == 1 &&
	     X509_sign_ctx(x, md) > 0;
	EVP_MD_CTX_free(md);
	if (!ok) {
		certs_drain_openssl("simulated chain: signing");
		return -ENOMEM;
	}
	return 0;
}

static int set_name(X509_NAME *n, const char *cn)
{
	static const char *const rdn[][2] = {
		{ "OU", "Engineering" },
		{ "C", "US" },
		{ "L", "Santa Clara" },
		{ "ST", "CA" },
		{ "O", "SIMULATED sealmount test chain, not AMD" },
	};

	for (size_t i = 0; i < ELEMENTSOF(rdn); i++)
		if (!X509_NAME_add_entry_by_txt(n, rdn[i][0], MBSTRING_UTF8,
						(const unsigned char *)rdn[i][1], -1, -1, 0))
			return -ENOMEM;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
					0))
		return -ENOMEM;
	return 0;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* An AMD extension whose value is the given DER bytes, non-critical. */
static int add_raw_ext(X509 *x, const char *oid, const uint8_t *der, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok;

	ok = obj && os && ASN1_OCTET_STRING_set(os, der, (int)len) &&
	     (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ok ? 0 : -ENOMEM;
}

static int add_spl(X509 *x, const char *oid, uint8_t v)
{
	/* DER INTEGER: 02 01 v, or 02 02 00 v when the top bit is set (positive integer). */
	uint8_t der[4] = { 0x02, 0x01, v };

	if (v & 0x80) {
		der[1] = 2;
		der[2] = 0;
		der[3] = v;
	}
	return add_raw_ext(x, oid, der, (v & 0x80) ? 4 : 3);
}

static int add_vcek_exts(X509 *x, const uint8_t chip_id[64], uint64_t tcb)
{
	struct snp_tcb t = snp_tcb_decode(tcb, SNP_GEN_MILAN_GENOA);
	static const uint8_t struct_version[] = { 0x02, 0x01, 0x00 };
	uint8_t product[2 + sizeof(SNP_SIM_PRODUCT) - 1] = { 0x16, sizeof(SNP_SIM_PRODUCT) - 1 };
	int e;

	memcpy(product + 2, SNP_SIM_PRODUCT, sizeof(SNP_SIM_PRODUCT) - 1);
	e = add_raw_ext(x, SNP_OID_STRUCT_VERSION, struct_version, sizeof(struct_version));
	if (e >= 0)
		e = add_raw_ext(x, SNP_OID_PRODUCT_NAME, product, sizeof(product));
	if (e >= 0)
		e = add_spl(x, SNP_OID_BL_SPL, t.bootloader);
	if (e >= 0)
		e = add_spl(x, SNP_OID_TEE_SPL, t.tee);
	if (e >= 0)
		e = add_spl(x, SNP_OID_SNP_SPL, t.snp);
	if (e >= 0)
		e = add_spl(x, SNP_OID_UCODE_SPL, t.microcode);
	if (e >= 0)
		e = add_raw_ext(x, SNP_OID_HWID, chip_id, SNP_CHIP_ID_SIZE);
	return e;
}

/* A certificate for key's public half, issued by issuer (NULL = self-signed) with issuer_key. */
static int make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long days,
		     X509 **ret)
{
	_cleanup_(X509_freep) X509 *x = X509_new();
	uint8_t serial[16];
	BIGNUM *bn;
	int e;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		return -ENOMEM;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	e = bn && X509_set_version(x, X509_VERSION_3) &&
			    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ?
		    0 :
		    -ENOMEM;
	BN_free(bn);
	if (e < 0)
		return e;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -DAY) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * DAY) || !X509_set_pubkey(x, key))
		return -ENOMEM;
	e = set_name(X509_get_subject_name(x), cn);
	if (e < 0)
		return e;
	if (!X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)))
		return -ENOMEM;
	e = add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (e < 0)
		return e;
	*ret = TAKE_PTR(x);
	return 0;
}

static int make_ca(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		   const char *bc, X509 **ret)
{
	_cleanup_(X509_freep) X509 *x = NULL;
	int e;

	e = make_cert(cn, key, issuer, issuer_key, 25 * 365, &x);
	if (e >= 0)
		e = add_ext(x, issuer ? issuer : x, NID_basic_constraints, bc);
	if (e >= 0)
		e = add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (e >= 0)
		e = sign_pss(x, issuer_key);
	if (e < 0)
		return e;
	*ret = TAKE_PTR(x);
	return 0;
}

static int pem_text(X509 *x, EVP_PKEY *priv, char **ret, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int ok;

	ok = bio && (x ? PEM_write_bio_X509(bio, x) :
			 PEM_write_bio_PrivateKey(bio, priv, NULL, NULL, 0, NULL, NULL));
	n = ok ? BIO_get_mem_data(bio, &data) : 0;
	*ret = n > 0 ? strndup(data, (size_t)n) : NULL;
	BIO_free(bio);
	if (!*ret)
		return -ENOMEM;
	*ret_len = (size_t)n;
	return 0;
}

static int write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *priv)
{
	char *text;
	size_t len;
	int e;

	e = pem_text(x, priv, &text, &len);
	if (e < 0)
		return e;
	e = attest_write_file(dir, name, text, len, priv ? 0600 : 0644);
	OPENSSL_clear_free(text, len);
	return e;
}

static int write_bundles(const char *dir, X509 *vcek, X509 *ask, X509 *ark, uint64_t tcb)
{
	_cleanup_free_ char *v = NULL, *a = NULL, *r = NULL, *chain = NULL, *asr = NULL;
	_cleanup_free_ char *json = NULL;
	size_t vl, al, rl;
	int e;

	e = pem_text(vcek, NULL, &v, &vl);
	if (e >= 0)
		e = pem_text(ask, NULL, &a, &al);
	if (e >= 0)
		e = pem_text(ark, NULL, &r, &rl);
	if (e < 0)
		return e;
	if (asprintf(&chain, "%s%s%s", v, a, r) < 0 || asprintf(&asr, "%s%s", a, r) < 0)
		return -ENOMEM;
	e = attest_write_file(dir, "chain.pem", chain, strlen(chain), 0644);
	if (e < 0)
		return e;
	e = snp_thim_to_json(&(struct snp_thim){ .vcek_cert = v,
						 .certificate_chain = asr,
						 .tcbm = tcb,
						 .cache_control = 86400 },
			     &json);
	if (e < 0)
		return e;
	return attest_write_file(dir, "thim.json", json, strlen(json), 0644);
}

/* Fail before spending seconds on key generation if the directory is not usable. */
static int check_dir(const char *dir)
{
	static const char *const names[] = { "ark.pem",	     "ask.pem",	  "vcek.pem",
					     "vcek-key.pem", "chain.pem", "thim.json" };
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (dfd < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
	return 0;
}

int snp_sim_init(const char *dir, const struct snp_sim_init_options *opts)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *ark_key = NULL, *ask_key = NULL, *vcek_key = NULL;
	_cleanup_(X509_freep) X509 *ark = NULL, *ask = NULL, *vcek = NULL;
	uint64_t tcb = opts && opts->tcb ? opts->tcb : SNP_SIM_DEFAULT_TCB;
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	int e;

	e = check_dir(dir);
	if (e < 0)
		return e;
	if (opts && opts->chip_id_set)
		memcpy(chip_id, opts->chip_id, sizeof(chip_id));
	else if (RAND_bytes(chip_id, sizeof(chip_id)) != 1)
		return -ENOMEM;
	/* log-ok: a simulated SNP must always be loud (docs/snp.md) */
	log_warn("SIMULATED SNP: generating a TEST certificate chain in %s (not AMD hardware)",
		 dir);
	ark_key = EVP_RSA_gen(4096);
	ask_key = EVP_RSA_gen(4096);
	vcek_key = EVP_EC_gen("secp384r1");
	if (!ark_key || !ask_key || !vcek_key)
		return -ENOMEM;
	e = make_ca("ARK-SIMULATED", ark_key, NULL, ark_key, "critical,CA:TRUE", &ark);
	if (e >= 0)
		e = make_ca("SEV-SIMULATED", ask_key, ark, ark_key, "critical,CA:TRUE,pathlen:0",
			    &ask);
	if (e >= 0)
		e = make_cert("SEV-VCEK", vcek_key, ask, ask_key, 7 * 365, &vcek);
	if (e >= 0)
		e = add_vcek_exts(vcek, chip_id, tcb);
	if (e >= 0)
		e = sign_pss(vcek, ask_key);
	if (e >= 0)
		e = write_pem(dir, "ark.pem", ark, NULL);
	if (e >= 0)
		e = write_pem(dir, "ask.pem", ask, NULL);
	if (e >= 0)
		e = write_pem(dir, "vcek.pem", vcek, NULL);
	if (e >= 0)
		e = write_pem(dir, "vcek-key.pem", NULL, vcek_key);
	if (e >= 0)
		e = write_bundles(dir, vcek, ask, ark, tcb);
	return e;
}
