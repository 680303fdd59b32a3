/* SPDX-License-Identifier: MIT */
/*
 * snp_fetch.h - fetch the VCEK chain when the UVM context has none, or the wrong TCB
 * (docs/snp.md, "TCB" and "Certificates"). Three sources, each returning a struct snp_thim:
 *   SNP_FETCH_THIM     GET http://169.254.169.254/metadata/THIM/amd/certification, "Metadata: true"
 *                      -> THIM JSON;
 *   SNP_FETCH_AZCACHE  GET https://global.acccache.azure.net/SevSnpVM/certificates/{chip_id hex}/
 *                      {reported_tcb %llx}?api-version=2020-10-15-preview&clientId=ConfidentialACI
 *                      -> PEM VCEK+ASK+ARK; tcbm taken from the VCEK's SPL extensions;
 *   SNP_FETCH_AMD_KDS  GET https://kdsintf.amd.com/vcek/v1/{product}/{hwid}?blSPL=..&teeSPL=..
 *                      &snpSPL=..&ucodeSPL=.. (DER) and .../{product}/cert_chain (PEM ASK+ARK);
 *                      tcbm = the report's REPORTED_TCB.
 * An endpoint is a host name ("kdsintf.amd.com", https implied; for THIM plain http, as IMDS is)
 * or a full URL base containing "://" (tests: a loopback stand-in). The http module enforces its
 * own policy (https or loopback/IMDS only, capped bodies, retries).
 *
 * Nothing fetched is trusted: the result goes through snp_verify_report() like any other chain.
 * Errors: -EINVAL bad endpoint/product; -EPROTO unexpected HTTP status; -EBADMSG malformed body;
 * transport errors from http.h; -ENOMEM.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/certs.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/snp.h"

#define SNP_FETCH_THIM_DEFAULT "169.254.169.254/metadata/THIM/amd/certification"
#define SNP_FETCH_AZCACHE_DEFAULT "global.acccache.azure.net"
#define SNP_FETCH_KDS_DEFAULT "kdsintf.amd.com"
#define SNP_FETCH_MAX_BODY (256u * 1024)

enum snp_fetch_source {
	SNP_FETCH_THIM,
	SNP_FETCH_AZCACHE,
	SNP_FETCH_AMD_KDS,
};

/* URL builders (malloc'd). endpoint NULL = the default above. product: "Milan", "Genoa",
 * "Turin" (Turin uses the first 8 bytes of CHIP_ID and adds fmcSPL). */
_must_check_ int snp_fetch_thim_url(const char *endpoint, char **ret) _nonnull_(2);
_must_check_ int snp_fetch_azcache_url(const char *endpoint, const struct snp_report *rep,
				       char **ret) _nonnull_(2, 3);
_must_check_ int snp_fetch_kds_vcek_url(const char *endpoint, const char *product,
					const struct snp_report *rep, char **ret)
	_nonnull_(2, 3, 4);
_must_check_ int snp_fetch_kds_chain_url(const char *endpoint, const char *product, char **ret)
	_nonnull_(2, 3);

/* Fetch from one source. product is used by SNP_FETCH_AMD_KDS only (NULL = "Milan").
 * The caller owns *ret (snp_thim_done). */
_must_check_ int snp_fetch_certs(struct http_client *http, enum snp_fetch_source src,
				 const char *endpoint, const char *product,
				 const struct snp_report *rep, struct snp_thim *ret)
	_nonnull_(1, 5, 6);

/* Split a PEM bundle VCEK+ASK+ARK into THIM form, tcbm from the VCEK's SPL extensions. */
_must_check_ int snp_fetch_thim_from_pem(const char *pem, size_t len, struct snp_thim *ret)
	_nonnull_(1, 3);

/* "thim", "azcache", "amd" -> enum; -EINVAL. */
_must_check_ int snp_fetch_source_parse(const char *s, enum snp_fetch_source *ret) _nonnull_(1, 2);
