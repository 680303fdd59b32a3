/* SPDX-License-Identifier: MIT */
/* test_snp_fetch.c - certificate fallback URLs (docs/snp.md, "TCB" and "Certificates") and the
 * PEM-to-THIM conversion (snp_fetch.h). No network: the fetch itself is covered by the
 * integration tests against the IMDS/THIM stand-in. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sealmount/codec.h"
#include "sealmount/snp_fetch.h"
#include "sealmount/snp_source.h"
#include "snp_testutil.h"
#include "unit.h"

static struct snp_report test_report(void)
{
	struct snp_report r = { .version = 2, .reported_tcb = UINT64_C(0x7308000000000003) };

	for (int i = 0; i < 64; i++)
		r.chip_id[i] = (uint8_t)i;
	return r;
}

#define CHIP_HEX                                                                                   \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"                         \
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"

START_TEST(snp_fetch_urls_default_endpoints)
{
	struct snp_report r = test_report();
	char *u;

	ck_assert_int_eq(snp_fetch_thim_url(NULL, &u), 0);
	ck_assert_str_eq(u, "http://169.254.169.254/metadata/THIM/amd/certification");
	free(u);
	ck_assert_int_eq(snp_fetch_azcache_url(NULL, &r, &u), 0);
	ck_assert_str_eq(u, "https://global.acccache.azure.net/SevSnpVM/certificates/" CHIP_HEX
			    "/7308000000000003?api-version=2020-10-15-preview"
			    "&clientId=ConfidentialACI");
	free(u);
	ck_assert_int_eq(snp_fetch_kds_vcek_url(NULL, "Milan", &r, &u), 0);
	ck_assert_str_eq(u, "https://kdsintf.amd.com/vcek/v1/Milan/" CHIP_HEX
			    "?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115");
	free(u);
	ck_assert_int_eq(snp_fetch_kds_chain_url(NULL, "Genoa", &u), 0);
	ck_assert_str_eq(u, "https://kdsintf.amd.com/vcek/v1/Genoa/cert_chain");
	free(u);
}
END_TEST

START_TEST(snp_fetch_urls_custom_and_turin)
{
	struct snp_report r = test_report();
	char *u;

	/* A small reported_tcb prints without leading zeros, like Go's FormatUint(.., 16). */
	r.reported_tcb = 0x1b;
	ck_assert_int_eq(snp_fetch_azcache_url("thimpft2.thim.azure-test.net", &r, &u), 0);
	ck_assert_ptr_nonnull(strstr(u, "https://thimpft2.thim.azure-test.net/SevSnpVM/"));
	ck_assert_ptr_nonnull(strstr(u, "/1b?api-version="));
	free(u);
	ck_assert_int_eq(snp_fetch_thim_url("http://127.0.0.1:8080/thim/", &u), 0);
	ck_assert_str_eq(u, "http://127.0.0.1:8080/thim");
	free(u);
	/* Turin: fmcSPL first, and the hwID is the first 8 bytes of CHIP_ID. */
	r.reported_tcb = UINT64_C(0x4800000003040501);
	ck_assert_int_eq(snp_fetch_kds_vcek_url("https://127.0.0.1:9443", "Turin", &r, &u), 0);
	ck_assert_str_eq(u, "https://127.0.0.1:9443/vcek/v1/Turin/0001020304050607"
			    "?fmcSPL=1&blSPL=5&teeSPL=4&snpSPL=3&ucodeSPL=72");
	free(u);
}
END_TEST

START_TEST(snp_fetch_urls_reject_bad_input)
{
	struct snp_report r = test_report();
	enum snp_fetch_source src;
	char *u;

	ck_assert_int_eq(snp_fetch_kds_vcek_url(NULL, "Naples", &r, &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_kds_vcek_url(NULL, "milan", &r, &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_kds_chain_url(NULL, "", &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_thim_url("", &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_thim_url("host name", &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_azcache_url("host?x=1", &r, &u), -EINVAL);
	ck_assert_int_eq(snp_fetch_source_parse("thim", &src), 0);
	ck_assert_int_eq(src, SNP_FETCH_THIM);
	ck_assert_int_eq(snp_fetch_source_parse("azcache", &src), 0);
	ck_assert_int_eq(src, SNP_FETCH_AZCACHE);
	ck_assert_int_eq(snp_fetch_source_parse("amd", &src), 0);
	ck_assert_int_eq(src, SNP_FETCH_AMD_KDS);
	ck_assert_int_eq(snp_fetch_source_parse("AMD", &src), -EINVAL);
}
END_TEST

START_TEST(snp_fetch_thim_from_pem_real)
{
	size_t len;
	SNPTEST_NEED_SHARED(pem, "uvm_host_amd_certificate.pem", &len);
	const char *ask = strstr((const char *)pem + 1, "-----BEGIN");
	struct snp_thim t;

	ck_assert_int_eq(snp_fetch_thim_from_pem((const char *)pem, len, &t), 0);
	ck_assert_uint_eq(t.tcbm, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(strlen(t.vcek_cert), (size_t)(ask - (const char *)pem));
	ck_assert_str_eq(t.certificate_chain, ask);
	snp_thim_done(&t);
	/* Negative: a lone VCEK, a lone ASK+ARK, garbage. */
	ck_assert_int_eq(
		snp_fetch_thim_from_pem((const char *)pem, (size_t)(ask - (char *)pem), &t),
		-EBADMSG);
	ck_assert_int_eq(snp_fetch_thim_from_pem(ask, strlen(ask), &t), -EBADMSG);
	ck_assert_int_eq(snp_fetch_thim_from_pem("x", 1, &t), -EBADMSG);
	free(pem);
}
END_TEST

/* A one-shot loopback HTTP server: answers each of up to `count` connections with the given
 * status and body, and keeps the last request head for inspection. */
struct mini_server {
	int fd;
	unsigned port;
	int status;
	const char *body;
	int count;
	char request[4096];
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct mini_server *m = arg;

	for (int i = 0; i < m->count; i++) {
		int c = accept(m->fd, NULL, NULL);
		size_t got = 0;
		char head[256];

		if (c < 0)
			break;
		while (got < sizeof(m->request) - 1 && !strstr(m->request, "\r\n\r\n")) {
			ssize_t n = read(c, m->request + got, sizeof(m->request) - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			m->request[got] = 0;
		}
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 m->status, strlen(m->body));
		(void)!write(c, head, strlen(head));
		(void)!write(c, m->body, strlen(m->body));
		close(c);
	}
	return NULL;
}

static void server_start(struct mini_server *m, int status, const char *body, int count)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_int_eq(bind(m->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(m->fd, 4), 0);
	ck_assert_int_eq(getsockname(m->fd, (struct sockaddr *)&a, &len), 0);
	m->port = ntohs(a.sin_port);
	m->status = status;
	m->body = body;
	m->count = count;
	m->request[0] = 0;
	ck_assert_int_eq(pthread_create(&m->thread, NULL, serve, m), 0);
}

static void server_stop(struct mini_server *m)
{
	shutdown(m->fd, SHUT_RDWR);
	pthread_join(m->thread, NULL);
	close(m->fd);
}

static struct http_client *client(void)
{
	struct http_options o = { .total_timeout_ms = 5000 };
	struct http_client *c;

	ck_assert_int_eq(http_global_init(), 0);
	ck_assert_int_eq(http_client_new(&o, &c), 0);
	return c;
}

START_TEST(snp_fetch_thim_over_loopback)
{
	size_t len;
	SNPTEST_NEED_SHARED(json, "uvm_host_amd_certificate.json", &len);
	struct snp_report r = test_report();
	struct http_client *http = client();
	struct mini_server m;
	struct snp_thim t;
	char url[64];

	server_start(&m, 200, (const char *)json, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metadata/THIM/amd/certification", m.port);
	ck_assert_int_eq(snp_fetch_certs(http, SNP_FETCH_THIM, url, NULL, &r, &t), 0);
	server_stop(&m);
	ck_assert_ptr_nonnull(strstr(m.request, "GET /metadata/THIM/amd/certification HTTP/1.1"));
	ck_assert_ptr_nonnull(strcasestr(m.request, "\r\nMetadata: true\r\n"));
	ck_assert_uint_eq(t.tcbm, UINT64_C(0x7308000000000003));
	snp_thim_done(&t);
	/* Negative: an HTTP error status, and a body that is not THIM JSON. */
	server_start(&m, 404, "{}", 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", m.port);
	ck_assert_int_eq(snp_fetch_certs(http, SNP_FETCH_THIM, url, NULL, &r, &t), -EPROTO);
	server_stop(&m);
	server_start(&m, 200, "{\"vcekCert\":1}", 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", m.port);
	ck_assert_int_eq(snp_fetch_certs(http, SNP_FETCH_THIM, url, NULL, &r, &t), -EBADMSG);
	server_stop(&m);
	/* AzCache answers PEM; the path carries chip_id and the TCB. */
	{
		uint8_t *pem = snptest_shared("uvm_host_amd_certificate.pem", &len);

		server_start(&m, 200, (const char *)pem, 1);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u", m.port);
		ck_assert_int_eq(snp_fetch_certs(http, SNP_FETCH_AZCACHE, url, NULL, &r, &t), 0);
		server_stop(&m);
		ck_assert_ptr_nonnull(strstr(m.request, "GET /SevSnpVM/certificates/" CHIP_HEX
							"/7308000000000003?api-version="));
		ck_assert_uint_eq(t.tcbm, UINT64_C(0x7308000000000003));
		snp_thim_done(&t);
		free(pem);
	}
	http_client_free(http);
	free(json);
}
END_TEST

/* The TCB refresh of snp_evidence_get(): the simulator's own THIM is stale for a report with a
 * different REPORTED_TCB, and the configured fetch source supplies certificates that match. */
START_TEST(snp_evidence_refreshes_certificates_on_tcb_mismatch)
{
	static const enum snp_fetch_source fetch[] = { SNP_FETCH_THIM };
	static const uint8_t rdata[SNP_REPORT_DATA_SIZE] = { 7 };
	struct http_client *http = client();
	struct snp_evidence_config cfg = { .http = http, .fetch = fetch, .n_fetch = 1 };
	struct snp_thim local, fresh;
	struct snp_source *src;
	struct snp_evidence ev;
	struct mini_server m;
	uint64_t mismatch[2];
	char spec[300], url[64], *json;

	snprintf(spec, sizeof(spec), "sim:%s", snptest_sim_dir());
	ck_assert_int_eq(snp_source_open(spec, &src), 0);
	ck_assert_int_eq(snp_source_local_thim(src, &local), 0);
	/* The fetched document claims the TCB the report will carry. */
	fresh = local;
	fresh.tcbm = 0x7309000000000003;
	ck_assert_int_eq(snp_thim_to_json(&fresh, &json), 0);
	snp_source_sim_options(src)->reported_tcb_set = true;
	snp_source_sim_options(src)->reported_tcb = 0x7309000000000003;
	server_start(&m, 200, json, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/thim", m.port);
	cfg.endpoint[SNP_FETCH_THIM] = url;
	ck_assert_int_eq(snp_evidence_get(src, &cfg, rdata, &ev, NULL, mismatch), 0);
	server_stop(&m);
	ck_assert_uint_eq(ev.thim.tcbm, 0x7309000000000003);
	ck_assert_uint_eq(ev.report.reported_tcb, 0x7309000000000003);
	snp_evidence_done(&ev);
	/* A source that keeps answering with the stale TCB: two refreshes, then the failure. */
	free(json);
	ck_assert_int_eq(snp_thim_to_json(&local, &json), 0);
	server_start(&m, 200, json, 2);
	ck_assert_int_eq(snp_evidence_get(src, &cfg, rdata, &ev, NULL, mismatch), -EBADMSG);
	server_stop(&m);
	ck_assert_uint_eq(mismatch[0], 0x7309000000000003);
	ck_assert_uint_eq(mismatch[1], SNP_SIM_DEFAULT_TCB);
	free(json);
	snp_thim_done(&local);
	snp_source_free(src);
	http_client_free(http);
}
END_TEST

static Suite *snp_fetch_suite(void)
{
	Suite *s = suite_create("snp_fetch");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, snp_fetch_urls_default_endpoints);
	tcase_add_test(tc, snp_fetch_urls_custom_and_turin);
	tcase_add_test(tc, snp_fetch_urls_reject_bad_input);
	suite_add_tcase(s, tc);
	tc = unit_tcase_shared("real capture");
	tcase_add_test(tc, snp_fetch_thim_from_pem_real);
	tcase_add_test(tc, snp_fetch_thim_over_loopback);
	suite_add_tcase(s, tc);
	tc = tcase_create("evidence");
	tcase_add_unchecked_fixture(tc, snptest_sim_setup, snptest_sim_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, snp_evidence_refreshes_certificates_on_tcb_mismatch);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(snp_fetch_suite)
