/* SPDX-License-Identifier: MIT */
/* snp_source.c - report sources (device or explicit simulator) and evidence (snp_source.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/snp_source.h"
#include "sealmount/uvmctx.h"

struct snp_source {
	char *device_path; /* NULL: probe (device source only) */
	struct snp_sim *sim;
	struct snp_sim_report_options sim_opts;
};

void snp_source_free(struct snp_source *s)
{
	if (!s)
		return;
	free(s->device_path);
	snp_sim_free(s->sim);
	free(s);
}

int snp_source_open(const char *spec, struct snp_source **ret)
{
	bool sim = strncmp(spec, "sim:", 4) == 0 && spec[4];
	bool path = strncmp(spec, "device:", 7) == 0 && spec[7] == '/';
	struct snp_source *s;
	int e = 0;

	if (!sim && !path && strcmp(spec, "device") != 0)
		return log_debug_errno(
			-EINVAL, "SNP source '%s': expected device, device:/PATH or sim:DIR", spec);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (sim) {
		e = snp_sim_load(spec + 4, &s->sim);
		snp_sim_report_defaults(&s->sim_opts);
	} else if (path) {
		s->device_path = strdup(spec + 7);
		e = s->device_path ? 0 : -ENOMEM;
	}
	if (e < 0) {
		snp_source_free(s);
		return e;
	}
	*ret = s;
	return 0;
}

bool snp_source_is_simulated(const struct snp_source *s)
{
	return s->sim != NULL;
}

struct snp_sim_report_options *snp_source_sim_options(struct snp_source *s)
{
	return s->sim ? &s->sim_opts : NULL;
}

int snp_source_get_report(struct snp_source *s, const uint8_t report_data[SNP_REPORT_DATA_SIZE],
			  uint8_t out[SNP_REPORT_SIZE], struct snp_device_status *status)
{
	if (s->sim)
		return snp_sim_get_report(s->sim, &s->sim_opts, report_data, out);
	return snp_device_get_report(s->device_path, SNP_ABI_AUTO, report_data, 0, out, status);
}

int snp_source_local_thim(struct snp_source *s, struct snp_thim *ret)
{
	struct uvm_context ctx;
	const char *json;
	int e;

	if (s->sim) {
		json = snp_sim_thim_json(s->sim);
		return snp_thim_parse(json, strlen(json), ret);
	}
	e = uvm_context_load(NULL, &ctx);
	if (e < 0)
		return e;
	if (!ctx.has_thim) {
		uvm_context_done(&ctx);
		return -ENOENT;
	}
	*ret = ctx.thim;
	ctx.thim = (struct snp_thim){}; /* moved to the caller */
	uvm_context_done(&ctx);
	return 0;
}

/* Try the configured fetchers until one returns certificates for want_tcb. */
static int refresh(const struct snp_evidence_config *cfg, const struct snp_report *rep,
		   struct snp_thim *thim)
{
	for (size_t i = 0; cfg->http && i < cfg->n_fetch; i++) {
		enum snp_fetch_source src = cfg->fetch[i];
		struct snp_thim t;
		int e;

		if ((unsigned)src >= ELEMENTSOF(cfg->endpoint))
			return -EINVAL;
		e = snp_fetch_certs(cfg->http, src, cfg->endpoint[src], cfg->product, rep, &t);
		if (e < 0) {
			log_debug_errno(e, "certificate source %zu failed: %m", i);
			continue;
		}
		snp_thim_done(thim);
		*thim = t;
		if (thim->tcbm == rep->reported_tcb)
			return 0;
	}
	return -ESRCH;
}

static int get_parsed(struct snp_source *s, const uint8_t *report_data, struct snp_evidence *ev,
		      struct snp_device_status *status)
{
	int e;

	e = snp_source_get_report(s, report_data, ev->raw, status);
	if (e < 0)
		return e;
	return snp_report_parse(ev->raw, sizeof(ev->raw), &ev->report);
}

int snp_evidence_get(struct snp_source *s, const struct snp_evidence_config *cfg,
		     const uint8_t report_data[SNP_REPORT_DATA_SIZE], struct snp_evidence *ret,
		     struct snp_device_status *status, uint64_t ret_tcb_mismatch[2])
{
	struct snp_evidence ev = {};
	bool have;
	int e;

	e = get_parsed(s, report_data, &ev, status);
	if (e < 0)
		return e;
	e = snp_source_local_thim(s, &ev.thim);
	if (e < 0 && e != -ENOENT)
		return e;
	have = e >= 0;
	/* docs/snp.md, TCB: refresh the certificates, then the report, then give up. */
	for (int round = 0; round < 2; round++) {
		if (have && ev.thim.tcbm == ev.report.reported_tcb) {
			*ret = ev;
			return 0;
		}
		if (refresh(cfg, &ev.report, &ev.thim) == 0) {
			*ret = ev;
			return 0;
		}
		have = have || ev.thim.vcek_cert != NULL;
		if (round == 0) {
			e = get_parsed(s, report_data, &ev, status);
			if (e < 0)
				goto fail;
		}
	}
	e = have ? -EBADMSG : -ENOENT;
	log_debug("SNP reported TCB %016llx does not match certificate TCB %016llx",
		  (unsigned long long)ev.report.reported_tcb, (unsigned long long)ev.thim.tcbm);
	if (have && ret_tcb_mismatch) {
		ret_tcb_mismatch[0] = ev.report.reported_tcb;
		ret_tcb_mismatch[1] = ev.thim.tcbm;
	}
fail:
	snp_evidence_done(&ev);
	return e;
}

void snp_evidence_done(struct snp_evidence *ev)
{
	snp_thim_done(&ev->thim);
}

int snp_evidence_chain_pem(const struct snp_evidence *ev, char **ret)
{
	const char *v = ev->thim.vcek_cert, *c = ev->thim.certificate_chain;

	if (!v || !c)
		return -ENOENT;
	/* A newline between them in case vcekCert lacks its trailing one. */
	if (asprintf(ret, "%s%s%s", v, v[0] && v[strlen(v) - 1] == '\n' ? "" : "\n", c) < 0)
		return -ENOMEM;
	return 0;
}
