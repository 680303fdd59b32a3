/* SPDX-License-Identifier: MIT */
/*
 * uvmctx.h - the UVM security context ACI gives a confidential container group
 * (docs/snp.md, ACI security context).
 *
 * Directory: $UVM_SECURITY_CONTEXT_DIR, else the first "/security-context-*" entry in /, else
 * the AKS/Kata default /opt/confidential-containers/share/kata-containers. Files, each standard
 * base64: security-policy-base64 (the CCE policy; HOST_DATA = SHA-256 of the decoded bytes),
 * host-amd-cert-base64 (THIM JSON), reference-info-base64 (COSE_Sign1 UVM endorsement). A file
 * that is missing falls back to the legacy environment variables UVM_SECURITY_POLICY,
 * UVM_HOST_AMD_CERTIFICATE, UVM_REFERENCE_INFO (same base64 content).
 *
 * Reading these environment variables is deliberate: they are ACI's interface to the container
 * (secure_getenv, so never from a setuid context). Nothing here is a secret.
 *
 * Errors: -ENOENT nothing found at all; -EBADMSG bad base64 or THIM JSON; -EFBIG a file over
 * UVMCTX_FILE_MAX; -ENOMEM; other -errno from the file system.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/certs.h"
#include "sealmount/macros.h"

#define UVMCTX_FILE_MAX (1024u * 1024)
#define UVMCTX_KATA_DEFAULT "/opt/confidential-containers/share/kata-containers"

struct uvm_context {
	char *dir; /* where the files came from; NULL if only environment variables were used */
	uint8_t *security_policy; /* decoded policy bytes (Rego text), NULL if absent */
	size_t security_policy_len;
	uint8_t host_data[32]; /* SHA-256(security_policy); valid when security_policy is set */
	bool has_thim;
	struct snp_thim thim; /* parsed host-amd-cert, valid when has_thim */
	char *thim_json; /* the decoded THIM JSON text (for MAA or re-parsing) */
	uint8_t *reference_info; /* decoded COSE_Sign1 bytes, NULL if absent */
	size_t reference_info_len;
};

/* Locate the directory as described above (root is "/" except in tests). malloc'd path, or
 * -ENOENT if none of the candidates exists. */
_must_check_ int uvm_context_find_dir(const char *root, char **ret) _nonnull_(1, 2);

/* Load the context from dir (NULL = uvm_context_find_dir("/")), with the legacy variable
 * fallbacks. Succeeds if at least one item was found; the caller owns *ret (uvm_context_done). */
_must_check_ int uvm_context_load(const char *dir, struct uvm_context *ret) _nonnull_(2);
void uvm_context_done(struct uvm_context *c) _nonnull_(1);
