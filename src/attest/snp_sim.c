/* SPDX-License-Identifier: MIT */
/*
 * snp_sim.c - the SIMULATED report source: loads a directory made by snp_sim_init() and signs
 * real-format reports (docs/snp.md, Attestation report) with its VCEK key, ECDSA P-384/SHA-384 over
 * [0, 0x2A0), r and s stored little-endian in 72-byte fields, exactly as the firmware does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "attest_internal.h"
#include "certs_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/snp_sim.h"

struct snp_sim {
	EVP_PKEY *key;
	struct snp_vcek_info vcek;
	char *thim_json;
	char *chain_pem;
};

void snp_sim_free(struct snp_sim *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	free(s->thim_json);
	free(s->chain_pem);
	free(s);
}

static int load_text(const char *dir, const char *name, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	return fs_read_file(path, SNP_CERTS_MAX, 0, (uint8_t **)ret, ret_len);
}

static int load_key(const char *dir, EVP_PKEY **ret)
{
	char *pem = NULL;
	size_t len;
	BIO *bio;
	int e;

	e = load_text(dir, "vcek-key.pem", &pem, &len);
	if (e < 0)
		return e;
	bio = BIO_new_mem_buf(pem, (int)len);
	*ret = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	OPENSSL_clear_free(pem, len);
	if (!*ret) {
		certs_drain_openssl("simulated VCEK key");
		return -EBADMSG;
	}
	return 0;
}

/* The key must belong to the VCEK in chain.pem, or every report would fail to verify. */
static int load_chain(struct snp_sim *s, const char *dir)
{
	_cleanup_(snp_certs_freep) struct snp_certs *c = NULL;
	size_t len;
	int e;

	e = load_text(dir, "chain.pem", &s->chain_pem, &len);
	if (e < 0)
		return e;
	e = snp_certs_from_pem(s->chain_pem, len, &c);
	if (e < 0)
		return e;
	if (EVP_PKEY_eq(snp_certs_vcek_key(c), s->key) != 1)
		return log_debug_errno(-EBADMSG, "%s: vcek-key.pem does not match chain.pem", dir);
	return snp_certs_vcek_info(c, &s->vcek);
}

int snp_sim_load(const char *dir, struct snp_sim **ret)
{
	_cleanup_(snp_sim_freep) struct snp_sim *s = calloc(1, sizeof(*s));
	size_t len;
	int e;

	if (!s)
		return -ENOMEM;
	/* log-ok: a simulated SNP must always be loud (docs/snp.md) */
	log_warn("SIMULATED SNP in use (%s): reports are signed by a TEST key, not by AMD "
		 "hardware; they prove nothing about this machine",
		 dir);
	e = load_key(dir, &s->key);
	if (e < 0)
		return e;
	e = load_chain(s, dir);
	if (e < 0)
		return e;
	e = load_text(dir, "thim.json", &s->thim_json, &len);
	if (e < 0)
		return e;
	*ret = TAKE_PTR(s);
	return 0;
}

void snp_sim_report_defaults(struct snp_sim_report_options *o)
{
	*o = (struct snp_sim_report_options){
		.version = 2,
		.guest_svn = 1,
		.policy = 0x3001f, /* ACI: ABI 0.31, SMT allowed, bit 17 set, no debug */
		.vmpl = 0,
	};
}

static void fill_report(const struct snp_sim *s, const struct snp_sim_report_options *o,
			const uint8_t report_data[SNP_REPORT_DATA_SIZE], struct snp_report *r)
{
	uint64_t tcb = o->reported_tcb_set ? o->reported_tcb :
					     snp_tcb_encode(&s->vcek.tcb, SNP_GEN_MILAN_GENOA);

	*r = (struct snp_report){
		.version = o->version,
		.guest_svn = o->guest_svn,
		.policy = o->policy,
		.vmpl = o->vmpl,
		.sig_algo = SNP_SIG_ALGO_ECDSA_P384_SHA384,
		.current_tcb = tcb,
		.platform_info = 1,
		.key_info = 0, /* signed by the VCEK */
		.reported_tcb = tcb,
		.committed_tcb = tcb,
		.launch_tcb = tcb,
		.current_build = 4,
		.current_minor = 52,
		.current_major = 1,
		.committed_build = 4,
		.committed_minor = 52,
		.committed_major = 1,
	};
	if (o->version >= 3) {
		r->cpuid_fam_id = 0x19; /* Zen 3/4: Milan/Genoa */
		r->cpuid_mod_id = 0x01;
		r->cpuid_step = 0x01;
	}
	memcpy(r->report_data, report_data, SNP_REPORT_DATA_SIZE);
	memcpy(r->measurement, o->measurement, SNP_MEASUREMENT_SIZE);
	memcpy(r->host_data, o->host_data, SNP_HOST_DATA_SIZE);
	memcpy(r->chip_id, o->chip_id_set ? o->chip_id : s->vcek.hwid, SNP_CHIP_ID_SIZE);
	memset(r->report_id_ma, 0xff, sizeof(r->report_id_ma)); /* no migration agent */
}

static int sign(const struct snp_sim *s, uint8_t raw[SNP_REPORT_SIZE])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[160];
	const unsigned char *p = der;
	size_t len = sizeof(der);
	const BIGNUM *r, *sv;
	ECDSA_SIG *sig = NULL;
	int ok;

	ok = md && EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, s->key, NULL) == 1 &&
	     EVP_DigestSign(md, der, &len, raw, SNP_REPORT_SIGNED_SIZE) == 1 &&
	     (sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) != NULL;
	EVP_MD_CTX_free(md);
	if (ok) {
		ECDSA_SIG_get0(sig, &r, &sv);
		ok = BN_bn2lebinpad(r, raw + 0x2A0, SNP_SIG_COMPONENT_SIZE) > 0 &&
		     BN_bn2lebinpad(sv, raw + 0x2E8, SNP_SIG_COMPONENT_SIZE) > 0;
	}
	ECDSA_SIG_free(sig);
	if (!ok) {
		certs_drain_openssl("simulated report signature");
		return -ENOMEM;
	}
	return 0;
}

int snp_sim_get_report(const struct snp_sim *s, const struct snp_sim_report_options *o,
		       const uint8_t report_data[SNP_REPORT_DATA_SIZE],
		       uint8_t out[SNP_REPORT_SIZE])
{
	struct snp_sim_report_options def;
	struct snp_report r;
	int e;

	if (!o) {
		snp_sim_report_defaults(&def);
		o = &def;
	}
	if (o->version != 2 && o->version != 3 && o->version != 5)
		return -EINVAL;
	if (o->vmpl > 3 || !(o->policy & SNP_POLICY_RESERVED_1))
		return -EINVAL;
	fill_report(s, o, report_data, &r);
	if (RAND_bytes(r.report_id, sizeof(r.report_id)) != 1)
		return -ENOMEM;
	snp_report_serialize(&r, out);
	e = sign(s, out);
	if (e < 0)
		return e;
	log_debug("SIMULATED SNP: signed a version %u report (policy 0x%llx, vmpl %u)", o->version,
		  (unsigned long long)o->policy, o->vmpl);
	return 0;
}

const char *snp_sim_thim_json(const struct snp_sim *s)
{
	return s->thim_json;
}
