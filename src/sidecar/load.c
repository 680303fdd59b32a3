/* SPDX-License-Identifier: MIT */
/*
 * load.c - where the sidecar's configuration comes from (a file, or EncfsSideCarArgs plus
 * LogFile/LogLevel as Microsoft's encfs.sh reads them), and a redacted dump of what it means.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/luks2.h"
#include "sealmount/procenv.h"
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

/* AKS workload identity: what the AKS webhook injects into the container. */
static int apply_wid_env(struct sm_config *c)
{
	const struct sm_wid_env e = { .client_id = secure_getenv("AZURE_CLIENT_ID"),
				      .tenant_id = secure_getenv("AZURE_TENANT_ID"),
				      .token_file = secure_getenv("AZURE_FEDERATED_TOKEN_FILE"),
				      .authority = secure_getenv("AZURE_AUTHORITY_HOST") };
	char err[SM_CONFIG_ERR_MAX] = "";
	bool partial = false;
	int r;

	r = sm_config_apply_wid_env(c, &e, &partial, err);
	if (r < 0)
		return log_error_errno(r, "Invalid environment: %s", err);
	if (partial)
		log_warn("AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE are not "
			 "all set: not using AKS workload identity (IMDS instead)");
	else if (c->wid_token_file)
		log_info("Using AKS workload identity (client %s, tenant %s) for the vault and "
			 "private blobs",
			 c->wid_client_id, c->wid_tenant_id);
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
		/* It may hold a SAS and a vault token: gone from the environment, and from what
		 * /proc/PID/environ shows, as soon as it is parsed (procenv.h). */
		proc_env_forget("EncfsSideCarArgs");
		if (r < 0)
			return log_error_errno(r, "Invalid EncfsSideCarArgs: %s", err);
	}
	r = sm_config_apply_log_env(c, log_file, log_level, err);
	if (r < 0)
		return log_error_errno(r, "Invalid environment: %s", err);
	r = apply_wid_env(c);
	if (r < 0)
		return r;
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
	fprintf(f, "%s = %" PRIu32 "%s\n", K("kdf_max_memory_mb"),
		fs->kdf_max_memory_mb ? fs->kdf_max_memory_mb :
					LUKS2_KDF_MAX_MEMORY_KIB_DEFAULT / 1024,
		fs->kdf_max_memory_mb ? "" : " (default)");
	fprintf(f, "%s = %" PRIu32 "%s\n", K("kdf_max_seconds"),
		fs->kdf_max_seconds ? fs->kdf_max_seconds : LUKS2_KDF_MAX_MS_DEFAULT / 1000,
		fs->kdf_max_seconds ? "" : " (default)");
	dump_str(f, K("fsck"), fs->fsck ? "true" : "false");
	dump_str(f, K("root_hash"), fs->root_hash);
	dump_str(f, K("publisher_key"), fs->publisher_key ? "(set)" : NULL);
	dump_str(f, K("key_file"), fs->key_file);
#undef K
}

void sidecar_config_dump(const struct sm_config *c, FILE *f)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };

	dump_str(f, "identity.client_id", c->client_id);
	dump_str(f, "workload_identity.client_id", c->wid_client_id);
	dump_str(f, "workload_identity.tenant_id", c->wid_tenant_id);
	dump_str(f, "workload_identity.token_file", c->wid_token_file);
	dump_str(f, "workload_identity.authority", c->wid_authority);
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
	dump_str(f, "allow_key_file", c->allow_key_file ? "true" : "false");
}

/* A link of ours, as a crashed run leaves it: "-> .filesystem-N", nothing else. */
static bool is_leftover_link(const char *path)
{
	char target[64];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	return strncmp(target, ".filesystem-", 12) == 0 && !strchr(target, '/');
}

static int check_mount_point(size_t i, const char *mp)
{
	char parent[PATH_MAX];
	struct stat st;
	char *slash;
	int r;

	if ((size_t)snprintf(parent, sizeof(parent), "%s", mp) >= sizeof(parent))
		return log_error_errno(-ENAMETOOLONG, "mount_point %s: %m", mp);
	slash = strrchr(parent, '/');
	if (!slash) /* the configuration checked: absolute */
		return log_error_errno(-EINVAL, "mount_point %s is not absolute", mp);
	*(slash == parent ? slash + 1 : slash) = '\0';
	r = stat(parent, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0)
		return log_error_errno(
			r,
			"azure_filesystems[%zu].mount_point %s: its parent %s is not a directory "
			"(%m): it must be the volume shared with the app containers (an emptyDir), "
			"mounted in this container",
			i, mp, parent);
	if (lstat(mp, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return log_error_errno(-errno, "azure_filesystems[%zu].mount_point %s: %m", i, mp);
	}
	if (S_ISLNK(st.st_mode) && is_leftover_link(mp))
		return 0;
	return log_error_errno(-EEXIST,
			       "azure_filesystems[%zu].mount_point %s already exists (%s): the "
			       "sidecar publishes a symlink there and would replace it; remove it, "
			       "or choose a name that does not exist in %s",
			       i, mp,
			       S_ISDIR(st.st_mode) ? "a directory" :
			       S_ISLNK(st.st_mode) ? "a symlink not made by sealmount" :
						     "a file",
			       parent);
}

int sidecar_config_check_paths(const struct sm_config *c)
{
	int ret = 0;

	for (size_t i = 0; i < c->n_fs; i++) {
		int r = check_mount_point(i, c->fs[i].mount_point);

		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}
