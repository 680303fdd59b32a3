/* SPDX-License-Identifier: MIT */
/*
 * snp_source.h - where reports come from (the device, or the simulator when explicitly asked
 * for), and the evidence an attestation needs: a report with the caller's REPORT_DATA plus the
 * VCEK chain whose TCB matches it.
 *
 * A source spec is "device" (probe /dev/sev, /dev/sev-guest), "device:/path" (a given node, e.g.
 * a CUSE stand-in), or "sim:DIR" (snp_sim.h; logged as a warning on open). There is no default
 * and no fallback between them.
 *
 * TCB handling follows Microsoft's sidecar (docs/snp.md, TCB): the certificates come from the
 * source (the UVM context's THIM for the device, thim.json for the simulator); if their tcbm is
 * not the report's REPORTED_TCB, each configured fetch source is tried; if none matches, a new
 * report is requested and the fetch repeated once; then it fails, naming both values.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/certs.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/snp.h"
#include "sealmount/snp_device.h"
#include "sealmount/snp_fetch.h"
#include "sealmount/snp_sim.h"

struct snp_source;

/* -EINVAL bad spec; for sim: errors of snp_sim_load(). Opening "device" does not touch the
 * device yet (the first report request does). */
_must_check_ int snp_source_open(const char *spec, struct snp_source **ret) _nonnull_(1, 2);
void snp_source_free(struct snp_source *s);
DEFINE_CLEANUP_FUNC(struct snp_source, snp_source_free)

bool snp_source_is_simulated(const struct snp_source *s) _nonnull_(1);
/* The simulator's report settings (measurement, host_data, policy, vmpl, ...), to change before
 * requesting reports; NULL for the device. */
struct snp_sim_report_options *snp_source_sim_options(struct snp_source *s) _nonnull_(1);

/* One raw report (unverified) with the given REPORT_DATA; VMPL 0 on the device. status (device
 * only, optional) explains failures: see snp_device_strerror(). */
_must_check_ int snp_source_get_report(struct snp_source *s,
				       const uint8_t report_data[SNP_REPORT_DATA_SIZE],
				       uint8_t out[SNP_REPORT_SIZE],
				       struct snp_device_status *status) _nonnull_(1, 2, 3);

/* The certificates the source itself offers: simulator thim.json, or for the device the UVM
 * context's host-amd-cert (uvmctx.h). -ENOENT if there are none. */
_must_check_ int snp_source_local_thim(struct snp_source *s, struct snp_thim *ret) _nonnull_(1, 2);

struct snp_evidence_config {
	struct http_client *http; /* NULL: never fetch */
	const enum snp_fetch_source
		*fetch; /* tried in order when the local THIM is missing/stale */
	size_t n_fetch;
	const char *endpoint[3]; /* per enum snp_fetch_source; NULL = default */
	const char *product; /* KDS product, NULL = "Milan" */
};

struct snp_evidence {
	uint8_t raw[SNP_REPORT_SIZE]; /* the report as the firmware produced it */
	struct snp_report report; /* parsed (signature NOT yet verified) */
	struct snp_thim thim; /* certificates whose tcbm == report.reported_tcb */
};

/* Report + matching certificates. On a TCB mismatch that survives the refresh: -EBADMSG, and
 * ret_tcb_mismatch (optional) gets {reported_tcb, certificate tcbm}. Other errors from the source
 * (device errors, see snp_source_get_report) or -ENOENT (no certificates anywhere).
 * The caller owns *ret: snp_evidence_done(). */
_must_check_ int snp_evidence_get(struct snp_source *s, const struct snp_evidence_config *cfg,
				  const uint8_t report_data[SNP_REPORT_DATA_SIZE],
				  struct snp_evidence *ret, struct snp_device_status *status,
				  uint64_t ret_tcb_mismatch[2]) _nonnull_(1, 2, 3, 4);
void snp_evidence_done(struct snp_evidence *ev) _nonnull_(1);
/* VCEK + ASK + ARK PEM text (MAA's VcekCertChain), malloc'd. */
_must_check_ int snp_evidence_chain_pem(const struct snp_evidence *ev, char **ret) _nonnull_(1, 2);
