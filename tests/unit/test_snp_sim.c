/* SPDX-License-Identifier: MIT */
/* test_snp_sim.c - the simulated SNP chain and report source (snp_sim.h, snp_source.h): round
 * trips through the real verifier, and the negative cases the simulator makes easy to produce. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sealmount/certs.h"
#include "sealmount/snp_sim.h"
#include "sealmount/snp_source.h"
#include "snp_testutil.h"
#include "unit.h"

static const uint8_t rdata[SNP_REPORT_DATA_SIZE] = { 0xde, 0xad, 0xbe, 0xef, [63] = 0x42 };

static struct snp_sim *sim(void)
{
	struct snp_sim *s;

	ck_assert_int_eq(snp_sim_load(snptest_sim_dir(), &s), 0);
	return s;
}

static struct snp_certs *sim_certs(void)
{
	struct snp_certs *c;
	uint64_t tcbm;

	ck_assert_int_eq(snp_certs_load_file(snptest_sim_path("thim.json"), &c, &tcbm), 0);
	ck_assert_uint_eq(tcbm, SNP_SIM_DEFAULT_TCB);
	return c;
}

static struct snp_trust *trust(bool with_sim_root)
{
	struct snp_trust *t;

	ck_assert_int_eq(snp_trust_new(true, &t), 0);
	if (with_sim_root)
		ck_assert_int_eq(snp_trust_add_file(t, snptest_sim_path("ark.pem")), 0);
	return t;
}

/* Sign with o, parse, verify; returns the verify result and the failing check. */
static int sim_verify(const struct snp_sim_report_options *o, bool with_root,
		      enum snp_check *failed, struct snp_report *ret)
{
	struct snp_sim *s = sim();
	struct snp_certs *c = sim_certs();
	struct snp_trust *t = trust(with_root);
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_report r;
	int e;

	ck_assert_int_eq(snp_sim_get_report(s, o, rdata, raw), 0);
	ck_assert_int_eq(snp_report_parse(raw, sizeof(raw), &r), 0);
	e = snp_verify_report(&r, c, t, failed);
	if (ret)
		*ret = r;
	snp_trust_free(t);
	snp_certs_free(c);
	snp_sim_free(s);
	return e;
}

START_TEST(snp_sim_report_verifies_only_with_its_root)
{
	enum snp_check failed;
	struct snp_report r;

	ck_assert_int_eq(sim_verify(NULL, true, &failed, &r), 0);
	ck_assert_int_eq(failed, SNP_CHECK_NONE);
	ck_assert_mem_eq(r.report_data, rdata, sizeof(rdata));
	ck_assert_uint_eq(r.version, 2);
	ck_assert_uint_eq(r.vmpl, 0);
	ck_assert_uint_eq(r.reported_tcb, SNP_SIM_DEFAULT_TCB);
	/* The built-in AMD roots never accept the simulator. */
	ck_assert_int_eq(sim_verify(NULL, false, &failed, NULL), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_CHAIN);
}
END_TEST

START_TEST(snp_sim_settable_fields_all_versions)
{
	static const uint32_t versions[] = { 2, 3, 5 };
	struct snp_sim_report_options o;
	enum snp_check failed;
	struct snp_report r;

	for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
		snp_sim_report_defaults(&o);
		o.version = versions[i];
		o.vmpl = 2;
		o.policy |= SNP_POLICY_DEBUG;
		memset(o.measurement, 0x4d, sizeof(o.measurement));
		memset(o.host_data, 0x48, sizeof(o.host_data));
		ck_assert_int_eq(sim_verify(&o, true, &failed, &r), 0);
		ck_assert_uint_eq(r.version, versions[i]);
		ck_assert_uint_eq(r.vmpl, 2);
		ck_assert_mem_eq(r.measurement, o.measurement, sizeof(o.measurement));
		ck_assert_mem_eq(r.host_data, o.host_data, sizeof(o.host_data));
		ck_assert(snp_report_is_debug(&r));
		ck_assert_int_eq(snp_report_check_policy(&r, false), -EPERM);
		ck_assert_uint_eq(r.cpuid_fam_id, versions[i] >= 3 ? 0x19 : 0);
	}
}
END_TEST

START_TEST(snp_sim_bad_options)
{
	struct snp_sim_report_options o;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_sim *s = sim();

	snp_sim_report_defaults(&o);
	o.version = 4;
	ck_assert_int_eq(snp_sim_get_report(s, &o, rdata, raw), -EINVAL);
	snp_sim_report_defaults(&o);
	o.vmpl = 4;
	ck_assert_int_eq(snp_sim_get_report(s, &o, rdata, raw), -EINVAL);
	snp_sim_free(s);
}
END_TEST

START_TEST(snp_sim_chip_id_mismatch)
{
	struct snp_sim_report_options o;
	enum snp_check failed;

	snp_sim_report_defaults(&o);
	o.chip_id_set = true;
	memset(o.chip_id, 0x11, sizeof(o.chip_id));
	ck_assert_int_eq(sim_verify(&o, true, &failed, NULL), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_CHIP_ID);
}
END_TEST

START_TEST(snp_sim_tcb_mismatch)
{
	struct snp_sim_report_options o;
	enum snp_check failed;

	snp_sim_report_defaults(&o);
	o.reported_tcb_set = true;
	o.reported_tcb = SNP_SIM_DEFAULT_TCB + 1; /* bootloader SVN 4 instead of 3 */
	ck_assert_int_eq(sim_verify(&o, true, &failed, NULL), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_TCB);
}
END_TEST

/* The real VCEK cannot verify a simulated report, and the simulated one not the real report. */
START_TEST(snp_sim_wrong_vcek)
{
	struct snp_trust *t = trust(true);
	struct snp_certs *real, *simc = sim_certs();
	struct snp_sim *s = sim();
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_report r, real_r;
	enum snp_check failed;
	size_t len;
	uint8_t *pem = snptest_shared("uvm_host_amd_certificate.pem", &len);

	ck_assert_int_eq(snp_sim_get_report(s, NULL, rdata, raw), 0);
	ck_assert_int_eq(snp_report_parse(raw, sizeof(raw), &r), 0);
	snptest_real_report(&real_r);
	ck_assert_int_eq(snp_certs_from_pem((const char *)pem, len, &real), 0);
	ck_assert_int_eq(snp_verify_report(&r, real, t, &failed), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_SIGNATURE);
	ck_assert_int_eq(snp_verify_report(&real_r, simc, t, &failed), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_SIGNATURE);
	snp_certs_free(real);
	free(pem);
	snp_sim_free(s);
	snp_certs_free(simc);
	snp_trust_free(t);
}
END_TEST

/* A chain whose ARK is not the anchor that verified it: the real VCEK and ASK with the
 * simulator's ARK appended verify up to AMD's Milan ARK, but the shipped ARK is refused. */
START_TEST(snp_certs_foreign_ark_in_chain)
{
	size_t len, alen;
	SNPTEST_NEED_SHARED(pem, "uvm_host_amd_certificate.pem", &len);
	uint8_t *ark = unit_read_file(snptest_sim_path("ark.pem"), &alen);
	const char *text = (const char *)pem;
	const char *real_ark = strstr(strstr(text + 1, "-----BEGIN") + 1, "-----BEGIN");
	struct snp_trust *t = trust(true);
	struct snp_certs *c;
	char *mixed;

	ck_assert_int_ge(asprintf(&mixed, "%.*s%s", (int)(real_ark - text), text, ark), 0);
	ck_assert_int_eq(snp_certs_from_pem(mixed, strlen(mixed), &c), 0);
	ck_assert_int_eq(snp_certs_verify_chain(c, t), -EBADMSG);
	snp_certs_free(c);
	free(mixed);
	free(ark);
	free(pem);
	snp_trust_free(t);
}
END_TEST

START_TEST(snp_sim_init_and_load_errors)
{
	char dir[] = "/tmp/sealmount-snp-bad-XXXXXX";
	struct snp_sim *s;
	EVP_PKEY *other = EVP_EC_gen("secp384r1");
	FILE *f;

	ck_assert_int_eq(snp_sim_init(snptest_sim_dir(), NULL), -EEXIST);
	ck_assert_int_eq(snp_sim_load("/nonexistent-sim-dir", &s), -ENOENT);
	/* A key that does not belong to the chain. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/chain.pem", dir);
		ck_assert_int_eq(symlink(snptest_sim_path("chain.pem"), p), 0);
		snprintf(p, sizeof(p), "%s/thim.json", dir);
		ck_assert_int_eq(symlink(snptest_sim_path("thim.json"), p), 0);
		snprintf(p, sizeof(p), "%s/vcek-key.pem", dir);
		f = fopen(p, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(PEM_write_PrivateKey(f, other, NULL, NULL, 0, NULL, NULL), 1);
		fclose(f);
		ck_assert_int_eq(snp_sim_load(dir, &s), -EBADMSG);
		unlink(p);
		ck_assert_int_eq(snp_sim_load(dir, &s), -ENOENT);
		snprintf(p, sizeof(p), "%s/chain.pem", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/thim.json", dir);
		unlink(p);
	}
	rmdir(dir);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(snp_source_sim_evidence)
{
	struct snp_evidence_config cfg = {};
	struct snp_source *src;
	struct snp_evidence ev;
	uint64_t mismatch[2] = {};
	char spec[300], *chain;

	snprintf(spec, sizeof(spec), "sim:%s", snptest_sim_dir());
	ck_assert_int_eq(snp_source_open(spec, &src), 0);
	ck_assert(snp_source_is_simulated(src));
	ck_assert_int_eq(snp_evidence_get(src, &cfg, rdata, &ev, NULL, mismatch), 0);
	ck_assert_mem_eq(ev.report.report_data, rdata, sizeof(rdata));
	ck_assert_uint_eq(ev.thim.tcbm, ev.report.reported_tcb);
	ck_assert_int_eq(snp_evidence_chain_pem(&ev, &chain), 0);
	ck_assert_ptr_nonnull(strstr(chain, "-----END CERTIFICATE-----\n-----BEGIN"));
	free(chain);
	snp_evidence_done(&ev);
	/* A report whose TCB no certificate source can match: refresh, new report, then fail. */
	snp_source_sim_options(src)->reported_tcb_set = true;
	snp_source_sim_options(src)->reported_tcb = 0x7309000000000003;
	ck_assert_int_eq(snp_evidence_get(src, &cfg, rdata, &ev, NULL, mismatch), -EBADMSG);
	ck_assert_uint_eq(mismatch[0], 0x7309000000000003);
	ck_assert_uint_eq(mismatch[1], SNP_SIM_DEFAULT_TCB);
	snp_source_free(src);
}
END_TEST

START_TEST(snp_source_open_specs)
{
	struct snp_source *src;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_device_status st;

	ck_assert_int_eq(snp_source_open("", &src), -EINVAL);
	ck_assert_int_eq(snp_source_open("sim:", &src), -EINVAL);
	ck_assert_int_eq(snp_source_open("fake", &src), -EINVAL);
	ck_assert_int_eq(snp_source_open("device:relative", &src), -EINVAL);
	ck_assert_int_eq(snp_source_open("device:/nonexistent/sev-guest", &src), 0);
	ck_assert(!snp_source_is_simulated(src));
	ck_assert_ptr_null(snp_source_sim_options(src));
	/* No device: a clear -ENODEV, never a simulated report. */
	ck_assert_int_eq(snp_source_get_report(src, rdata, raw, &st), -ENODEV);
	snp_source_free(src);
}
END_TEST

static Suite *snp_sim_suite(void)
{
	Suite *s = suite_create("snp_sim");
	TCase *tc = tcase_create("core");
	TCase *real = unit_tcase_shared("with the real capture");

	/* One chain per process: two RSA-4096 keys take a few seconds. */
	tcase_add_unchecked_fixture(tc, snptest_sim_setup, snptest_sim_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(real, snptest_sim_setup, snptest_sim_teardown);
	tcase_set_timeout(real, 120);
	tcase_add_test(tc, snp_sim_report_verifies_only_with_its_root);
	tcase_add_test(tc, snp_sim_settable_fields_all_versions);
	tcase_add_test(tc, snp_sim_bad_options);
	tcase_add_test(tc, snp_sim_chip_id_mismatch);
	tcase_add_test(tc, snp_sim_tcb_mismatch);
	tcase_add_test(real, snp_sim_wrong_vcek);
	tcase_add_test(real, snp_certs_foreign_ark_in_chain);
	tcase_add_test(tc, snp_sim_init_and_load_errors);
	tcase_add_test(tc, snp_source_sim_evidence);
	tcase_add_test(tc, snp_source_open_specs);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, real);
	return s;
}

UNIT_MAIN(snp_sim_suite)
