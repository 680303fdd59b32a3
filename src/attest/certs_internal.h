/* SPDX-License-Identifier: MIT */
/* certs_internal.h - shared between certs.c, trust.c and snp_sim.c; not a public API. */
#pragma once

#include <openssl/x509.h>

#include "sealmount/certs.h"

/* VCEK extensions, docs/snp.md, Certificates (prefix 1.3.6.1.4.1.3704.1.). */
#define SNP_OID_STRUCT_VERSION "1.3.6.1.4.1.3704.1.1"
#define SNP_OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define SNP_OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define SNP_OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define SNP_OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define SNP_OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define SNP_OID_FMC_SPL "1.3.6.1.4.1.3704.1.3.9"
#define SNP_OID_HWID "1.3.6.1.4.1.3704.1.4"

/* Log and clear OpenSSL's error queue at debug level. */
void certs_drain_openssl(const char *what);
/* Every certificate in PEM text (at least one); -EBADMSG, -EFBIG, -ENOMEM. */
int certs_read_pem_stack(const char *pem, size_t len, STACK_OF(X509) * *ret);
/* Borrowed members. */
X509 *certs_vcek(const struct snp_certs *c);
X509 *certs_ask(const struct snp_certs *c);
X509 *certs_ark(const struct snp_certs *c);
