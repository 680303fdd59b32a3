/* SPDX-License-Identifier: MIT */
/*
 * load.c - where the sidecar's configuration comes from (a file, or EncfsSideCarArgs plus
 * LogFile/LogLevel as Microsoft's encfs.sh reads them), and a redacted dump of what it means.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/sidecar.h"

static int load_file(const char *path, struct sm_config **ret, char *err)
{
	_cleanup_(buf_done_wipe) struct buf b = {};
	int r;

	buf_init(&b, SM_CONFIG_MAX);
	r = buf_append_file(&b, path);
	if (r == -EFBIG)
		return log_error_errno(r, "Configuration %s is larger than %u bytes", path,
				       SM_CONFIG_MAX);
	if (r < 0)
		return log_error_errno(r, "Cannot read the configuration %s: %m", path);
	r = sm_config_parse_json(b.data ? (const void *)b.data : "", b.len, ret, err);
	if (r < 0)
		return log_error_errno(r, "Invalid configuration %s: %s", path, err);
	return 0;
}

int sidecar_config_load(const char *path, struct sm_config **ret)
{
	_cleanup_(sm_config_freep) struct sm_config *c = NULL;
	const char *args, *log_file, *log_level;
	char err[SM_CONFIG_ERR_MAX] = "";
	int r;

	/* secure_getenv: the sidecar's configuration comes from the container's environment
	 * (Microsoft's interface); never from a setuid caller's. */
	log_file = secure_getenv("LogFile");
	log_level = secure_getenv("LogLevel");
	if (path) {
		r = load_file(path, &c, err);
		if (r < 0)
			return r;
	} else {
		args = secure_getenv("EncfsSideCarArgs");
		if (!args || !*args)
			return log_error_errno(
				-ENOENT, "No configuration: set EncfsSideCarArgs (base64 of the "
					 "JSON configuration) or give --config FILE");
		r = sm_config_parse_base64(args, &c, err);
		if (r < 0)
			return log_error_errno(r, "Invalid EncfsSideCarArgs: %s", err);
	}
	r = sm_config_apply_log_env(c, log_file, log_level, err);
	if (r < 0)
		return log_error_errno(r, "Invalid environment: %s", err);
	*ret = TAKE_PTR(c);
	return 0;
}

/* ---- dump ---- */

/* The URL with its query (a SAS: a credential) replaced by "?<redacted>". */
static void dump_url(FILE *f, const char *key, const char *url)
{
	const char *q = strchr(url, '?');

	fprintf(f, "%s = %.*s%s\n", key, (int)(q ? q - url : (long)strlen(url)), url,
		q ? "?<redacted>" : "");
}

static void dump_str(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s = %s\n", key, v ? v : "(unset)");
}

/* "fs[i].name" in k (64 bytes). */
static const char *fs_key(char *k, size_t i, const char *name)
{
	snprintf(k, 64, "fs[%zu].%s", i, name);
	return k;
}

static void dump_fs(FILE *f, size_t i, const struct sm_filesystem *fs)
{
	char k[64], hex[2 * 32 + 1];

#define K(name) fs_key(k, i, name)
	dump_str(f, K("mount_point"), fs->mount_point);
	dump_url(f, K("azure_url"), fs->azure_url);
	dump_str(f, K("azure_url_private"), fs->azure_url_private ? "true" : "false");
	dump_str(f, K("read_write"), fs->read_write ? "true" : "false");
	dump_str(f, K("key.kid"), fs->kid);
	dump_str(f, K("key.kty"), fs->kty);
	dump_str(f, K("key.authority.endpoint"), fs->maa_endpoint);
	dump_str(f, K("key.akv.endpoint"), fs->akv_endpoint);
	dump_str(f, K("key.akv.bearer_token"), fs->bearer_token ? "<redacted>" : NULL);
	fprintf(f, "%s = ", K("key_derivation.salt"));
	for (size_t j = 0; j < fs->salt_len; j++)
		fprintf(f, "%02x", fs->salt[j]);
	fprintf(f, "\n");
	dump_str(f, K("key_derivation.label"), fs->label ? fs->label : SM_DEFAULT_HKDF_LABEL);
	dump_str(f, K("engine"), sm_engine_name(fs->engine));
	fprintf(f, "%s = %" PRIu64 "\n", K("cache_mb"), fs->cache_mb);
	dump_str(f, K("require_integrity"), fs->require_integrity ? "true" : "false");
	dump_str(f, K("fs_type"), fs->fs_type ? fs->fs_type : "ext4");
	dump_str(f, K("block"),
		 fs->block == SM_BLOCK_NBD  ? "nbd" :
		 fs->block == SM_BLOCK_FUSE ? "fuse" :
					      "auto");
	if (fs->has_header_sha256)
		hex_encode(fs->header_sha256, sizeof(fs->header_sha256), hex);
	dump_str(f, K("header_sha256"), fs->has_header_sha256 ? hex : NULL);
	dump_str(f, K("header_uuid"), fs->header_uuid);
	dump_str(f, K("root_hash"), fs->root_hash);
	dump_str(f, K("publisher_key"), fs->publisher_key ? "(set)" : NULL);
#undef K
}

void sidecar_config_dump(const struct sm_config *c, FILE *f)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };

	dump_str(f, "identity.client_id", c->client_id);
	dump_str(f, "certcache.endpoint_type", c->certcache.endpoint_type);
	dump_str(f, "certcache.endpoint", c->certcache.endpoint);
	dump_str(f, "certcache.tee_type", c->certcache.tee_type);
	dump_str(f, "certcache.api_version", c->certcache.api_version);
	dump_str(f, "certcache.client_id", c->certcache.client_id);
	fprintf(f, "filesystems = %zu\n", c->n_fs);
	for (size_t i = 0; i < c->n_fs; i++)
		dump_fs(f, i, &c->fs[i]);
	dump_str(f, "log_file", c->log_file);
	dump_str(f, "log_level",
		 (unsigned)c->log_level < ELEMENTSOF(levels) ? levels[c->log_level] : "?");
	dump_str(f, "snp", c->snp ? c->snp : "device");
	dump_str(f, "ca_file", c->ca_file);
	dump_str(f, "enc", c->enc ? c->enc : "RSA_AES_KEY_WRAP_256");
	dump_str(f, "health_address", c->health_address);
	dump_str(f, "readiness_file", c->readiness_file);
	dump_str(f, "on_error", c->on_error == SM_ON_ERROR_STAY ? "stay" : "exit");
	dump_str(f, "imds_endpoint", c->imds_endpoint);
	dump_str(f, "work_dir", c->work_dir ? c->work_dir : "/run/sealmount");
	dump_str(f, "allow_unlocked_memory", c->allow_unlocked_memory ? "true" : "false");
}
