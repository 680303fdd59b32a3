/* SPDX-License-Identifier: MIT */
/*
 * http_tls.c - why a TLS connection failed, in words (docs/http.md, "TLS errors"): libcurl's
 * CURLcode and OpenSSL's certificate verify result (CURLINFO_SSL_VERIFYRESULT) become one
 * sentence naming the problem and the CA settings to check, kept per thread for the caller's
 * coordinator (http_last_error()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/http.h"

#include "http_internal.h"

#define CA_HINT                                                                                    \
	"check the trust roots: the system's CA store, and sealmount.ca_file (--ca-file) for a "   \
	"private or test CA"

static _Thread_local struct {
	int err;
	char text[HTTP_WHY_MAX];
} last;

/* What the certificate problem is, from OpenSSL's verify result; NULL when it is not one. */
static const char *verify_problem(long v)
{
	switch (v) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "is self-signed (issued by no trusted CA)";
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "chains to a self-signed root that is not trusted (issuer unknown)";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "was issued by an unknown CA (issuer not in the trust roots)";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "has expired (the server must renew it, or this machine's clock is wrong)";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "is not yet valid (or this machine's clock is wrong)";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "does not name this host (host name mismatch)";
	default:
		return NULL;
	}
}

int http_tls_explain(CURLcode cc, long verify_result, const char *host, const char *curl_text,
		     char *out, size_t len)
{
	const char *p;

	if (cc != CURLE_PEER_FAILED_VERIFICATION && cc != CURLE_SSL_CACERT_BADFILE &&
	    cc != CURLE_SSL_ISSUER_ERROR && cc != CURLE_SSL_CONNECT_ERROR &&
	    cc != CURLE_SSL_CERTPROBLEM && cc != CURLE_SSL_INVALIDCERTSTATUS)
		return 0;
	if (cc == CURLE_SSL_CACERT_BADFILE)
		return snprintf(out, len, "TLS to %s: the CA bundle cannot be read; " CA_HINT,
				host);
	p = verify_problem(verify_result);
	if (p)
		return snprintf(out, len, "TLS to %s: the server's certificate %s; " CA_HINT, host,
				p);
	/* libcurl checks the name itself, after OpenSSL verified the chain: its verify result is
	 * then OK or "unspecified", and libcurl's message names the host. */
	if (cc == CURLE_PEER_FAILED_VERIFICATION &&
	    (verify_result == X509_V_OK || verify_result == X509_V_ERR_UNSPECIFIED) &&
	    (!curl_text || !*curl_text || strstr(curl_text, "host name") ||
	     strstr(curl_text, "subject name")))
		return snprintf(out, len,
				"TLS to %s: the server's certificate does not name this host (host "
				"name mismatch: %.200s); check the URL's host name - a certificate "
				"for another name is not accepted",
				host,
				curl_text && *curl_text ? curl_text : "no subject name matches");
	if (verify_result != X509_V_OK)
		return snprintf(
			out, len,
			"TLS to %s: the server's certificate does not verify (%s); " CA_HINT, host,
			X509_verify_cert_error_string(verify_result));
	return snprintf(out, len, "TLS to %s failed: %.200s", host,
			curl_text && *curl_text ? curl_text : curl_easy_strerror(cc));
}

void http_last_error_set(int err, const char *text)
{
	last.err = text && *text ? err : 0;
	(void)snprintf(last.text, sizeof(last.text), "%s", last.err ? text : "");
}

const char *http_last_error(int err)
{
	return err < 0 && last.err == err ? last.text : "";
}
