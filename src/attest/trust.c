/* SPDX-License-Identifier: MIT */
/*
 * trust.c - ARK trust anchors and the VCEK <- ASK <- ARK chain check (docs/snp.md, Certificates).
 *
 * The chain is verified by OpenSSL's X509 verifier with an X509_STORE that holds only our ARKs:
 * the ASK is passed as untrusted, the chain's own ARK not at all (an attacker can put any
 * self-signed "ARK-Milan" in a THIM document). The anchor's self-signature is checked too
 * (X509_V_FLAG_CHECK_SS_SIGNATURE), and we then pin what OpenSSL does not: chain length 3,
 * RSASSA-PSS with SHA-384 on every link, CA flags on ASK and ARK.
 */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest_internal.h"
#include "certs_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"

struct snp_trust {
	STACK_OF(X509) * roots;
};

void snp_trust_free(struct snp_trust *t)
{
	if (!t)
		return;
	sk_X509_pop_free(t->roots, X509_free);
	free(t);
}

size_t snp_trust_count(const struct snp_trust *t)
{
	return (size_t)sk_X509_num(t->roots);
}

static int check_root(X509 *x)
{
	if (X509_self_signed(x, 1) != 1) {
		certs_drain_openssl("trust root");
		return log_debug_errno(-EBADMSG,
				       "trust root is not a validly self-signed certificate");
	}
	if (X509_check_ca(x) <= 0)
		return log_debug_errno(-EBADMSG, "trust root is not a CA certificate");
	return 0;
}

int snp_trust_add_pem(struct snp_trust *t, const char *pem, size_t len)
{
	STACK_OF(X509) *sk = NULL;
	int e;

	e = certs_read_pem_stack(pem, len, &sk);
	if (e < 0)
		return e;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		e = check_root(sk_X509_value(sk, i));
		if (e < 0)
			goto out;
	}
	while (sk_X509_num(sk) > 0) {
		X509 *x = sk_X509_shift(sk);

		if (!sk_X509_push(t->roots, x)) {
			X509_free(x);
			e = -ENOMEM;
			goto out;
		}
	}
	e = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return e;
}

int snp_trust_new(bool builtin_amd, struct snp_trust **ret)
{
	struct snp_trust *t = calloc(1, sizeof(*t));
	int e;

	if (!t)
		return -ENOMEM;
	t->roots = sk_X509_new_null();
	if (!t->roots) {
		free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; builtin_amd && snp_builtin_ark_pems[i]; i++) {
		const char *pem = snp_builtin_ark_pems[i];

		e = snp_trust_add_pem(t, pem, strlen(pem));
		if (e < 0) {
			snp_trust_free(t);
			return e;
		}
	}
	*ret = t;
	return 0;
}

int snp_trust_add_file(struct snp_trust *t, const char *path)
{
	_cleanup_free_ uint8_t *data = NULL;
	size_t len;
	int e;

	e = fs_read_file(path, SNP_CERTS_MAX, 0, &data, &len);
	if (e < 0)
		return e;
	return snp_trust_add_pem(t, (const char *)data, len);
}

/* RSASSA-PSS with SHA-384 (OpenSSL reads the PSS parameters from the AlgorithmIdentifier). */
static bool is_pss_sha384(X509 *x)
{
	int mdnid = 0, pknid = 0;

	return X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL) == 1 &&
	       pknid == EVP_PKEY_RSA_PSS && mdnid == NID_sha384;
}

static int check_built_chain(X509_STORE_CTX *ctx, const struct snp_certs *c)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	X509 *ask, *ark;

	if (sk_X509_num(chain) != 3)
		return log_debug_errno(-EBADMSG, "chain has %d links, expected VCEK, ASK, ARK",
				       sk_X509_num(chain));
	ask = sk_X509_value(chain, 1);
	ark = sk_X509_value(chain, 2);
	if (X509_cmp(ask, certs_ask(c)) != 0)
		return log_debug_errno(-EBADMSG, "the VCEK was not verified through the given ASK");
	for (int i = 0; i < 3; i++)
		if (!is_pss_sha384(sk_X509_value(chain, i)))
			return log_debug_errno(-EBADMSG, "chain link %d is not RSASSA-PSS/SHA-384",
					       i);
	if (X509_check_ca(ask) <= 0 || X509_check_ca(ark) <= 0)
		return log_debug_errno(-EBADMSG, "ASK or ARK is not a CA certificate");
	if (certs_ark(c) && X509_cmp(certs_ark(c), ark) != 0)
		return log_debug_errno(-EBADMSG, "the chain's ARK is not the trusted ARK");
	return 0;
}

int snp_certs_verify_chain(const struct snp_certs *c, const struct snp_trust *t)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int e = -ENOMEM;

	if (!store || !ctx || !untrusted || !sk_X509_push(untrusted, certs_ask(c)))
		goto out;
	for (int i = 0; i < sk_X509_num(t->roots); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(t->roots, i)) != 1)
			goto out;
	if (X509_STORE_CTX_init(ctx, store, certs_vcek(c), untrusted) != 1)
		goto out;
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CHECK_SS_SIGNATURE);
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);

		certs_drain_openssl("VCEK chain");
		e = log_debug_errno(-EBADMSG, "VCEK chain does not verify: %s (depth %d)",
				    X509_verify_cert_error_string(err),
				    X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	e = check_built_chain(ctx, c);
out:
	sk_X509_free(untrusted); /* the ASK stays owned by c */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return e;
}
