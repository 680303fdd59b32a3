/* SPDX-License-Identifier: MIT */
/*
 * config.h - the sidecar configuration: Microsoft's encfs schema, verbatim, plus our extensions.
 *
 * Sources (docs/sidecar-config.md, Microsoft's fields): the JSON of `EncfsSideCarArgs` (standard or
 * URL-safe base64, padded or not) with `LogFile`/`LogLevel` from the environment, or a JSON file
 * (--config) with the same schema. Our extensions live in objects named "sealmount" (top level and
 * per filesystem) so a Microsoft config is accepted unchanged and an extended one still looks
 * familiar.
 *
 * The whole document is validated up front: unknown keys, wrong types, missing required fields,
 * bad URLs, endpoints, hex values and duplicates are refused. Every error names the field
 * (e.g. "azure_filesystems[1].key.akv.endpoint: required") through ret_err.
 *
 * Ownership: struct sm_config and everything in it is owned by the config and freed by
 * sm_config_free(), which wipes the bearer tokens. Error codes: -EINVAL (invalid config, with a
 * message), -EBADMSG (not base64/JSON), -EFBIG (over SM_CONFIG_MAX), -ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/log.h"
#include "sealmount/macros.h"

#define SM_CONFIG_MAX (256u * 1024)
#define SM_CONFIG_MAX_FILESYSTEMS 64
#define SM_CONFIG_ERR_MAX 256
#define SM_DEFAULT_HKDF_LABEL "Symmetric Encryption Key"

enum sm_engine { SM_ENGINE_AUTO, SM_ENGINE_KERNEL, SM_ENGINE_USER };
enum sm_block { SM_BLOCK_AUTO, SM_BLOCK_FUSE, SM_BLOCK_NBD };
enum sm_on_error { SM_ON_ERROR_EXIT, SM_ON_ERROR_STAY };

struct sm_certcache {
	char *endpoint_type; /* "", "AMD", "AzCache", "LocalTHIM" */
	char *endpoint;
	char *tee_type;
	char *api_version;
	char *client_id;
};

struct sm_filesystem {
	char *mount_point; /* absolute path */
	char *azure_url; /* may carry a SAS query: a secret, never logged whole */
	bool azure_url_private;
	bool read_write;
	char *kid; /* key name in the vault */
	char *kty; /* informational */
	char *maa_endpoint; /* key.authority.endpoint */
	char *akv_endpoint; /* key.akv.endpoint */
	char *bearer_token; /* key.akv.bearer_token, wiped on free; NULL = IMDS */
	uint8_t *salt; /* key_derivation.salt, hex-decoded; salt_len may be 0 */
	size_t salt_len;
	char *label; /* key_derivation.label (default SM_DEFAULT_HKDF_LABEL) */
	/* extensions ("sealmount": {...}) */
	enum sm_engine engine;
	enum sm_block block;
	uint64_t cache_mb;
	bool require_integrity;
	char *fs_type; /* default "ext4" */
	uint8_t header_sha256[32];
	bool has_header_sha256;
	char *header_uuid;
	/* sealed images (docs/verity.md): a pinned root hash (64 hex), or a publisher key (PEM, or
	 * a JWK object or its JSON text) with the lowest version accepted */
	char *root_hash;
	char *publisher_key;
	uint64_t min_version;
};

struct sm_config {
	char *client_id; /* azure_info.identity.client_id; NULL = system identity */
	struct sm_certcache certcache;
	struct sm_filesystem *fs;
	size_t n_fs;
	char *log_file;
	enum log_level log_level;
	/* extensions */
	char *snp; /* "device" (default), "device:PATH", "sim:DIR" */
	char *ca_file; /* extra TLS roots (tests) */
	char *trust_root; /* extra ARK (tests, with a simulated SNP) */
	char *enc; /* release wrapping algorithm, default RSA_AES_KEY_WRAP_256 */
	char *health_address; /* "127.0.0.1:PORT"; NULL = no health endpoint */
	char *readiness_file; /* written once every filesystem is published */
	enum sm_on_error on_error;
	bool allow_unlocked_memory;
	char *imds_endpoint; /* IMDS base URL; NULL = IMDS_DEFAULT_ENDPOINT (tests: loopback) */
	char *work_dir; /* private directory for the FUSE image files; NULL = /run/sealmount */
};

/* Parse a JSON document. ret_err gets a message naming the field on -EINVAL/-EBADMSG. */
_must_check_ int sm_config_parse_json(const void *json, size_t len, struct sm_config **ret,
				      char ret_err[SM_CONFIG_ERR_MAX]) _nonnull_(1, 3, 4);
/* Decode EncfsSideCarArgs (either base64 alphabet) and parse it. The decoded text is wiped. */
_must_check_ int sm_config_parse_base64(const char *b64, struct sm_config **ret,
					char ret_err[SM_CONFIG_ERR_MAX]) _nonnull_(1, 2, 3);
/* Apply LogFile/LogLevel values (from the environment); NULL leaves the default. */
_must_check_ int sm_config_apply_log_env(struct sm_config *c, const char *log_file,
					 const char *log_level, char ret_err[SM_CONFIG_ERR_MAX])
	_nonnull_(1, 4);
void sm_config_free(struct sm_config *c);
DEFINE_CLEANUP_FUNC(struct sm_config, sm_config_free)

const char *sm_engine_name(enum sm_engine e);
