/* SPDX-License-Identifier: MIT */
/*
 * config.c - parse and validate the sidecar configuration (Microsoft's encfs schema + ours).
 *
 * Each JSON object has one small function that checks its keys against an allowlist and reads
 * its fields; every failure is reported as "<json path>: <what is wrong>".
 */
#define _GNU_SOURCE
#include "sealmount/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/http.h"
#include "sealmount/jsonx.h"
#include "sealmount/secret.h"

#define MAX_CACHE_MB (64u * 1024)
#define MAX_KDF_MEMORY_MB 4096u /* LUKS2_ARGON2_MAX_MEMORY_KIB */
#define MAX_KDF_SECONDS 3600u

struct pctx {
	char *err;
	char path[160];
};

static int failf(struct pctx *p, const char *field, const char *fmt, ...) _printf_(3, 4);
static int failf(struct pctx *p, const char *field, const char *fmt, ...)
{
	char msg[SM_CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A very long path or value may cut the message short: that is fine for a message. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
	snprintf(p->err, SM_CONFIG_ERR_MAX, "%s%s%s: %s", p->path, *p->path && field ? "." : "",
		 field ? field : "", msg);
#pragma GCC diagnostic pop
	return -EINVAL;
}

/* Enter a sub-object for error paths; returns the previous path length to restore. */
static size_t push(struct pctx *p, const char *fmt, ...) _printf_(2, 3);
static size_t push(struct pctx *p, const char *fmt, ...)
{
	size_t old = strlen(p->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->path + old, sizeof(p->path) - old, fmt, ap);
	va_end(ap);
	return old;
}

static void pop(struct pctx *p, size_t old)
{
	p->path[old] = 0;
}

static int check_keys(struct pctx *p, const json_t *o, const char *const *allowed)
{
	const char *unknown = NULL;

	if (!json_is_object(o))
		return failf(p, NULL, "must be an object");
	if (jsonx_check_keys(o, allowed, &unknown) < 0)
		return failf(p, unknown, "unknown field (check the spelling; see README)");
	return 0;
}

/* Optional string, copied; "" counts as absent when empty_is_absent. */
static int get_str(struct pctx *p, const json_t *o, const char *key, bool required, char **ret)
{
	const char *s = NULL;
	int r = jsonx_opt_string(o, key, &s);

	if (r < 0)
		return failf(p, key, "must be a string");
	if (!s || !*s) {
		if (required)
			return failf(p, key, "required");
		return 0;
	}
	if (strlen(s) > 8192)
		return failf(p, key, "too long");
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int get_bool(struct pctx *p, const json_t *o, const char *key, bool *ret)
{
	return jsonx_opt_bool(o, key, ret) < 0 ? failf(p, key, "must be true or false") : 0;
}

/* An optional integer 1..max (absent: *ret unchanged). */
static int get_uint(struct pctx *p, const json_t *o, const char *key, uint32_t max, uint32_t *ret)
{
	const json_t *j = json_object_get(o, key);
	uint64_t v = *ret;

	if (jsonx_opt_u64(o, key, &v) < 0 || (j && !json_is_null(j) && (v == 0 || v > max)))
		return failf(p, key, "must be an integer from 1 to %u", max);
	*ret = (uint32_t)v;
	return 0;
}

/* A host name (optionally with :port) or an http(s) URL without path, query or user info; plain
 * http only to loopback, or to 169.254.169.254 for IMDS (imds). */
static int check_endpoint(struct pctx *p, const char *key, const char *v, bool imds)
{
	const char *host = v;
	char url[600];

	if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	if (!*host || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
		    strlen(host))
		return failf(p, key, "'%s' is not a host name or a scheme://host URL", v);
	snprintf(url, sizeof(url), "%s%s/", host == v ? "https://" : "", v);
	if ((imds ? http_url_check_imds(url) : http_url_check(url)) < 0)
		return failf(p, key, "'%s' is not allowed (plain http only to loopback%s)", v,
			     imds ? " or 169.254.169.254" : "");
	return 0;
}

static int check_mount_point(struct pctx *p, const char *v)
{
	size_t n = strlen(v);

	if (v[0] != '/' || n < 2 || n >= PATH_MAX - 32 || v[n - 1] == '/')
		return failf(p, "mount_point",
			     "'%s' must be an absolute path (not '/', no trailing '/')", v);
	if (strstr(v, "//") || strstr(v, "/../") || strstr(v, "/./") ||
	    (n >= 3 && strcmp(v + n - 3, "/..") == 0) || (n >= 2 && strcmp(v + n - 2, "/.") == 0))
		return failf(p, "mount_point", "'%s' must be a normalised path", v);
	return 0;
}

static int parse_key(struct pctx *p, const json_t *key, struct sm_filesystem *fs)
{
	static const char *const keys[] = { "kid", "kty", "key_ops", "authority", "akv", NULL };
	static const char *const auth_keys[] = { "endpoint", "tee_type", "api_version", NULL };
	static const char *const akv_keys[] = { "endpoint", "api_version", "bearer_token", NULL };
	json_t *auth = NULL, *akv = NULL;
	size_t old;
	int r;

	old = push(p, ".key");
	r = check_keys(p, key, keys);
	if (r == 0)
		r = get_str(p, key, "kid", true, &fs->kid);
	if (r == 0)
		r = get_str(p, key, "kty", false, &fs->kty);
	if (r == 0 && json_object_get(key, "key_ops") &&
	    !json_is_array(json_object_get(key, "key_ops")))
		r = failf(p, "key_ops", "must be an array of strings");
	if (r == 0 && (jsonx_get_object(key, "authority", &auth) < 0))
		r = failf(p, "authority", "required object with the MAA endpoint");
	if (r == 0 && (jsonx_get_object(key, "akv", &akv) < 0))
		r = failf(p, "akv", "required object with the vault endpoint");
	if (r < 0)
		goto out;
	push(p, ".authority");
	r = check_keys(p, auth, auth_keys);
	if (r == 0)
		r = get_str(p, auth, "endpoint", true, &fs->maa_endpoint);
	if (r == 0)
		r = check_endpoint(p, "endpoint", fs->maa_endpoint, false);
	pop(p, old + 4);
	if (r < 0)
		goto out;
	push(p, ".akv");
	r = check_keys(p, akv, akv_keys);
	if (r == 0)
		r = get_str(p, akv, "endpoint", true, &fs->akv_endpoint);
	if (r == 0)
		r = check_endpoint(p, "endpoint", fs->akv_endpoint, false);
	if (r == 0)
		r = get_str(p, akv, "bearer_token", false, &fs->bearer_token);
out:
	pop(p, old);
	return r;
}

static bool is_oct(const char *kty)
{
	return streq(kty, "oct") || streq(kty, "oct-HSM");
}

static int parse_key_derivation(struct pctx *p, const json_t *kd, struct sm_filesystem *fs)
{
	static const char *const keys[] = { "salt", "label", NULL };
	_cleanup_free_ char *salt = NULL;
	size_t old = push(p, ".key_derivation");
	int r;

	r = check_keys(p, kd, keys);
	if (r == 0)
		r = get_str(p, kd, "salt", false, &salt);
	if (r == 0)
		r = get_str(p, kd, "label", false, &fs->label);
	/* As Microsoft's sidecar: the salt is decoded only for RSA keys (the HKDF salt); an oct
	 * key's is never used, so a placeholder there is accepted (and ignored). */
	if (r == 0 && salt && hex_decode(salt, strlen(salt), &fs->salt, &fs->salt_len) < 0 &&
	    !is_oct(fs->kty))
		r = failf(
			p, "salt",
			"must be hex (an even number of 0-9a-f digits): it is the HKDF salt of an "
			"RSA key");
	pop(p, old);
	return r;
}

static int parse_engine(struct pctx *p, const char *v, enum sm_engine *ret)
{
	static const char *const names[] = {
		[SM_ENGINE_AUTO] = "auto", [SM_ENGINE_KERNEL] = "kernel", [SM_ENGINE_USER] = "user"
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(v, names[i]) == 0) {
			*ret = (enum sm_engine)i;
			return 0;
		}
	return failf(p, "engine", "'%s' is not one of kernel, user, auto", v);
}

const char *sm_engine_name(enum sm_engine e)
{
	return e == SM_ENGINE_KERNEL ? "kernel" : e == SM_ENGINE_USER ? "user" : "auto";
}

static int parse_block(struct pctx *p, const char *s, enum sm_block *ret)
{
	if (streq(s, "auto"))
		*ret = SM_BLOCK_AUTO;
	else if (streq(s, "fuse"))
		*ret = SM_BLOCK_FUSE;
	else if (streq(s, "nbd"))
		*ret = SM_BLOCK_NBD;
	else
		return failf(p, "block", "must be fuse, nbd or auto, not '%s'", s);
	return 0;
}

/* A publisher key: PEM text, or a JWK as an object or as its JSON text. Checked when used. */
static int get_key_text(struct pctx *p, const json_t *ext, char **ret)
{
	const json_t *k = json_object_get(ext, "publisher_key");

	if (json_is_object(k)) {
		*ret = json_dumps(k, JSON_COMPACT);
		return *ret ? 0 : -ENOMEM;
	}
	return get_str(p, ext, "publisher_key", false, ret);
}

/* Sealed images: root_hash or publisher_key (+ min_version); read-only. */
static int parse_fs_seal(struct pctx *p, const json_t *ext, struct sm_filesystem *fs)
{
	int r;

	r = get_str(p, ext, "root_hash", false, &fs->root_hash);
	if (r == 0 && fs->root_hash &&
	    (strlen(fs->root_hash) != 64 || strspn(fs->root_hash, "0123456789abcdefABCDEF") != 64))
		r = failf(p, "root_hash",
			  "must be 64 hex digits (the root-hash `image seal` prints)");
	if (r == 0)
		r = get_key_text(p, ext, &fs->publisher_key);
	if (r == 0 && fs->root_hash && fs->publisher_key)
		r = failf(p, "publisher_key", "give root_hash or publisher_key, not both");
	if (r == 0 && jsonx_opt_u64(ext, "min_version", &fs->min_version) < 0)
		r = failf(p, "min_version", "must be a non-negative integer");
	if (r == 0 && fs->min_version && !fs->publisher_key)
		r = failf(p, "min_version", "needs publisher_key");
	if (r == 0 && (fs->root_hash || fs->publisher_key) && fs->read_write)
		r = failf(p, fs->root_hash ? "root_hash" : "publisher_key",
			  "a sealed image is read-only (read_write must be false)");
	return r;
}

static int parse_fs_ext(struct pctx *p, const json_t *ext, struct sm_filesystem *fs)
{
	static const char *const keys[] = { "engine",	 "cache_mb",	      "require_integrity",
					    "fs_type",	 "header_sha256",     "header_uuid",
					    "root_hash", "publisher_key",     "min_version",
					    "block",	 "kdf_max_memory_mb", "kdf_max_seconds",
					    "fsck",	 "key_file",	      NULL };
	_cleanup_free_ char *engine = NULL, *digest = NULL, *block = NULL;
	size_t old = push(p, ".sealmount");
	int r;

	r = check_keys(p, ext, keys);
	if (r == 0)
		r = get_str(p, ext, "engine", false, &engine);
	if (r == 0 && engine)
		r = parse_engine(p, engine, &fs->engine);
	if (r == 0 && (jsonx_opt_u64(ext, "cache_mb", &fs->cache_mb) < 0 || fs->cache_mb < 4 ||
		       fs->cache_mb > MAX_CACHE_MB))
		r = failf(p, "cache_mb", "must be an integer from 4 to %u", MAX_CACHE_MB);
	if (r == 0)
		r = get_bool(p, ext, "require_integrity", &fs->require_integrity);
	if (r == 0)
		r = get_str(p, ext, "fs_type", false, &fs->fs_type);
	if (r == 0 && fs->fs_type && strcmp(fs->fs_type, "ext4") && strcmp(fs->fs_type, "xfs"))
		r = failf(p, "fs_type", "'%s' is not supported (ext4 or xfs)", fs->fs_type);
	if (r == 0)
		r = get_str(p, ext, "header_sha256", false, &digest);
	if (r == 0 && digest) {
		if (hex_decode_fixed(digest, strlen(digest), fs->header_sha256, 32) < 0)
			r = failf(p, "header_sha256", "must be 64 hex digits");
		fs->has_header_sha256 = r == 0;
	}
	if (r == 0)
		r = get_str(p, ext, "header_uuid", false, &fs->header_uuid);
	if (r == 0)
		r = get_uint(p, ext, "kdf_max_memory_mb", MAX_KDF_MEMORY_MB,
			     &fs->kdf_max_memory_mb);
	if (r == 0)
		r = get_uint(p, ext, "kdf_max_seconds", MAX_KDF_SECONDS, &fs->kdf_max_seconds);
	if (r == 0)
		r = get_bool(p, ext, "fsck", &fs->fsck);
	if (r == 0)
		r = parse_fs_seal(p, ext, fs);
	if (r == 0)
		r = get_str(p, ext, "block", false, &block);
	if (r == 0 && block)
		r = parse_block(p, block, &fs->block);
	if (r == 0)
		r = get_str(p, ext, "key_file", false, &fs->key_file);
	if (r == 0 && fs->key_file && (fs->key_file[0] != '/' || strstr(fs->key_file, "/..")))
		r = failf(p, "key_file", "'%s' must be an absolute path without '..'",
			  fs->key_file);
	pop(p, old);
	return r;
}

static void fs_defaults(struct sm_filesystem *fs)
{
	fs->engine = SM_ENGINE_AUTO;
	fs->cache_mb = 64;
	fs->require_integrity = true;
	fs->fsck = true;
}

static int parse_filesystem(struct pctx *p, const json_t *o, struct sm_filesystem *fs)
{
	static const char *const keys[] = { "mount_point", "azure_url", "azure_url_private",
					    "read_write",  "key",	"key_derivation",
					    "raw_key",	   "sealmount", NULL };
	json_t *sub;
	int r;

	fs_defaults(fs);
	r = check_keys(p, o, keys);
	if (r == 0)
		r = get_str(p, o, "mount_point", true, &fs->mount_point);
	if (r == 0)
		r = check_mount_point(p, fs->mount_point);
	if (r == 0)
		r = get_str(p, o, "azure_url", true, &fs->azure_url);
	if (r == 0 && http_url_check(fs->azure_url) < 0)
		r = failf(p, "azure_url",
			  "must be an https:// blob URL (plain http only to loopback)");
	if (r == 0)
		r = get_bool(p, o, "azure_url_private", &fs->azure_url_private);
	if (r == 0)
		r = get_bool(p, o, "read_write", &fs->read_write);
	if (r == 0 && json_object_get(o, "raw_key"))
		r = failf(p, "raw_key",
			  "is not supported: the key comes only from Secure Key Release");
	/* The extensions first: with sealmount.key_file, "key" may be left out. */
	sub = NULL;
	if (r == 0 && jsonx_opt_object(o, "sealmount", &sub) < 0)
		r = failf(p, "sealmount", "must be an object");
	if (r == 0 && sub)
		r = parse_fs_ext(p, sub, fs);
	sub = NULL;
	if (r == 0 && (json_object_get(o, "key") || !fs->key_file) &&
	    jsonx_get_object(o, "key", &sub) < 0)
		r = failf(p, "key", "required object (kid, authority.endpoint, akv.endpoint)");
	if (r == 0 && sub)
		r = parse_key(p, sub, fs);
	sub = NULL;
	if (r == 0 && jsonx_opt_object(o, "key_derivation", &sub) < 0)
		r = failf(p, "key_derivation", "must be an object");
	if (r == 0 && sub)
		r = parse_key_derivation(p, sub, fs);
	if (r == 0 && !fs->label)
		fs->label = strdup(SM_DEFAULT_HKDF_LABEL);
	if (r == 0 && !fs->fs_type)
		fs->fs_type = strdup("ext4");
	if (r == 0 && (!fs->label || !fs->fs_type))
		r = -ENOMEM;
	return r;
}

static int parse_filesystems(struct pctx *p, const json_t *arr, struct sm_config *c)
{
	size_t i, n = json_array_size(arr);
	int r;

	if (!json_is_array(arr) || n == 0)
		return failf(p, "azure_filesystems", "required: a non-empty array");
	if (n > SM_CONFIG_MAX_FILESYSTEMS)
		return failf(p, "azure_filesystems", "at most %d filesystems",
			     SM_CONFIG_MAX_FILESYSTEMS);
	c->fs = calloc(n, sizeof(*c->fs));
	if (!c->fs)
		return -ENOMEM;
	c->n_fs = n;
	for (i = 0; i < n; i++) {
		size_t old = push(p, "azure_filesystems[%zu]", i);
		r = parse_filesystem(p, json_array_get(arr, i), &c->fs[i]);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (strcmp(c->fs[j].mount_point, c->fs[i].mount_point) == 0)
				r = failf(p, "mount_point",
					  "'%s' is also used by azure_filesystems[%zu]",
					  c->fs[i].mount_point, j);
		pop(p, old);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_azure_info(struct pctx *p, const json_t *ai, struct sm_config *c)
{
	static const char *const keys[] = { "identity", "certcache", NULL };
	static const char *const id_keys[] = { "client_id", "resource_id", "object_id", NULL };
	static const char *const cc_keys[] = { "endpoint_type", "endpoint",  "tee_type",
					       "api_version",	"client_id", NULL };
	struct sm_certcache *cc = &c->certcache;
	json_t *id = NULL, *cco = NULL;
	size_t old = push(p, "azure_info");
	int r;

	r = check_keys(p, ai, keys);
	if (r == 0 && jsonx_opt_object(ai, "identity", &id) < 0)
		r = failf(p, "identity", "must be an object");
	if (r == 0 && jsonx_opt_object(ai, "certcache", &cco) < 0)
		r = failf(p, "certcache", "must be an object");
	if (r == 0 && id) {
		push(p, ".identity");
		r = check_keys(p, id, id_keys);
		if (r == 0)
			r = get_str(p, id, "client_id", false, &c->client_id);
		pop(p, old + strlen("azure_info"));
	}
	if (r == 0 && cco) {
		push(p, ".certcache");
		r = check_keys(p, cco, cc_keys);
		if (r == 0)
			r = get_str(p, cco, "endpoint_type", false, &cc->endpoint_type);
		if (r == 0 && cc->endpoint_type && strcmp(cc->endpoint_type, "AMD") &&
		    strcmp(cc->endpoint_type, "AzCache") && strcmp(cc->endpoint_type, "LocalTHIM"))
			r = failf(p, "endpoint_type", "'%s' is not AMD, AzCache or LocalTHIM",
				  cc->endpoint_type);
		if (r == 0)
			r = get_str(p, cco, "endpoint", false, &cc->endpoint);
		if (r == 0)
			r = get_str(p, cco, "tee_type", false, &cc->tee_type);
		if (r == 0)
			r = get_str(p, cco, "api_version", false, &cc->api_version);
		if (r == 0)
			r = get_str(p, cco, "client_id", false, &cc->client_id);
	}
	pop(p, old);
	return r;
}

static int parse_top_ext(struct pctx *p, const json_t *ext, struct sm_config *c)
{
	static const char *const keys[] = { "snp",
					    "ca_file",
					    "trust_root",
					    "enc",
					    "health_address",
					    "readiness_file",
					    "on_error",
					    "allow_unlocked_memory",
					    "allow_key_file",
					    "imds_endpoint",
					    "work_dir",
					    NULL };
	static const char *const encs[] = { "RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384",
					    "CKM_RSA_AES_KEY_WRAP", NULL };
	_cleanup_free_ char *on_error = NULL;
	size_t old = push(p, "sealmount");
	bool ok = false;
	int r;

	r = check_keys(p, ext, keys);
	if (r == 0)
		r = get_str(p, ext, "snp", false, &c->snp);
	if (r == 0 && c->snp && strcmp(c->snp, "device") && strncmp(c->snp, "device:/", 8) &&
	    strncmp(c->snp, "sim:", 4))
		r = failf(p, "snp", "'%s' is not device, device:/PATH or sim:DIR", c->snp);
	if (r == 0)
		r = get_str(p, ext, "ca_file", false, &c->ca_file);
	if (r == 0)
		r = get_str(p, ext, "trust_root", false, &c->trust_root);
	if (r == 0)
		r = get_str(p, ext, "enc", false, &c->enc);
	for (size_t i = 0; r == 0 && c->enc && encs[i]; i++)
		ok = ok || strcmp(c->enc, encs[i]) == 0;
	if (r == 0 && c->enc && !ok)
		r = failf(p, "enc",
			  "'%s' is not RSA_AES_KEY_WRAP_256, RSA_AES_KEY_WRAP_384 or "
			  "CKM_RSA_AES_KEY_WRAP",
			  c->enc);
	if (r == 0)
		r = get_str(p, ext, "health_address", false, &c->health_address);
	if (r == 0 && c->health_address && strncmp(c->health_address, "127.", 4) &&
	    strncmp(c->health_address, "[::1]:", 6) && strncmp(c->health_address, "localhost:", 10))
		r = failf(p, "health_address", "'%s' must be a loopback address:port",
			  c->health_address);
	if (r == 0)
		r = get_str(p, ext, "readiness_file", false, &c->readiness_file);
	if (r == 0)
		r = get_str(p, ext, "on_error", false, &on_error);
	if (r == 0 && on_error) {
		if (strcmp(on_error, "exit") == 0)
			c->on_error = SM_ON_ERROR_EXIT;
		else if (strcmp(on_error, "stay") == 0)
			c->on_error = SM_ON_ERROR_STAY;
		else
			r = failf(p, "on_error", "'%s' is not exit or stay", on_error);
	}
	if (r == 0)
		r = get_bool(p, ext, "allow_unlocked_memory", &c->allow_unlocked_memory);
	if (r == 0)
		r = get_bool(p, ext, "allow_key_file", &c->allow_key_file);
	if (r == 0)
		r = get_str(p, ext, "imds_endpoint", false, &c->imds_endpoint);
	if (r == 0 && c->imds_endpoint)
		r = check_endpoint(p, "imds_endpoint", c->imds_endpoint, true);
	if (r == 0)
		r = get_str(p, ext, "work_dir", false, &c->work_dir);
	if (r == 0 && c->work_dir && (c->work_dir[0] != '/' || strstr(c->work_dir, "/..")))
		r = failf(p, "work_dir", "'%s' must be an absolute path without '..'", c->work_dir);
	pop(p, old);
	return r;
}

/* A key file skips attestation and Secure Key Release: only where the SNP is simulated anyway,
 * or with the explicit test flag. */
static int check_key_files(struct pctx *p, const struct sm_config *c)
{
	bool sim = c->snp && strncmp(c->snp, "sim:", 4) == 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < c->n_fs; i++) {
		size_t old;

		if (!c->fs[i].key_file || sim || c->allow_key_file)
			continue;
		old = push(p, "azure_filesystems[%zu].sealmount", i);
		r = failf(
			p, "key_file",
			"refused: a key file bypasses attestation and Secure Key Release, for "
			"local tests only; it needs the simulated SNP (sealmount.snp \"sim:DIR\") "
			"or sealmount.allow_key_file: true - in production, remove key_file and "
			"let the key come from the vault (key.akv)");
		pop(p, old);
	}
	return r;
}

static int parse_root(struct pctx *p, const json_t *root, struct sm_config *c)
{
	static const char *const keys[] = { "azure_info", "azure_filesystems", "sealmount", NULL };
	json_t *sub = NULL;
	int r;

	r = check_keys(p, root, keys);
	if (r == 0 && jsonx_opt_object(root, "azure_info", &sub) < 0)
		r = failf(p, "azure_info", "must be an object");
	if (r == 0 && sub)
		r = parse_azure_info(p, sub, c);
	if (r == 0)
		r = parse_filesystems(p, json_object_get(root, "azure_filesystems"), c);
	sub = NULL;
	if (r == 0 && jsonx_opt_object(root, "sealmount", &sub) < 0)
		r = failf(p, "sealmount", "must be an object");
	if (r == 0 && sub)
		r = parse_top_ext(p, sub, c);
	if (r == 0)
		r = check_key_files(p, c);
	return r;
}

int sm_config_parse_json(const void *json, size_t len, struct sm_config **ret,
			 char ret_err[SM_CONFIG_ERR_MAX])
{
	_cleanup_(sm_config_freep) struct sm_config *c = NULL;
	_cleanup_json_ json_t *root = NULL;
	struct pctx p = { .err = ret_err };
	struct diag d = { 0 };
	int r;

	ret_err[0] = 0;
	r = jsonx_load_object_diag(json, len, SM_CONFIG_MAX, &root, &d);
	if (r == -EFBIG)
		return failf(&p, NULL, "configuration larger than %u bytes", SM_CONFIG_MAX), -EFBIG;
	if (r < 0) {
		snprintf(ret_err, SM_CONFIG_ERR_MAX, "not valid JSON: %.200s", diag_text(&d, "?"));
		return -EBADMSG;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* Microsoft's sidecar defaults to warning; ours is the default of every command. */
	c->log_level = LOG_LEVEL_DEFAULT;
	r = parse_root(&p, root, c);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

int sm_config_parse_base64(const char *b64, struct sm_config **ret, char ret_err[SM_CONFIG_ERR_MAX])
{
	uint8_t *json = NULL;
	size_t len = 0, n = strlen(b64);
	int r;

	/* Tolerate the trailing newline that `base64` and shell here-strings add. */
	while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r'))
		n--;
	r = b64_decode_any(b64, n, &json, &len);
	if (r < 0) {
		snprintf(
			ret_err, SM_CONFIG_ERR_MAX,
			"EncfsSideCarArgs is not base64 (standard or URL-safe) of a JSON document");
		return -EBADMSG;
	}
	r = sm_config_parse_json(json, len, ret, ret_err);
	wipe(json, len); /* may hold bearer tokens */
	free(json);
	return r;
}

int sm_config_apply_log_env(struct sm_config *c, const char *log_file, const char *log_level,
			    char ret_err[SM_CONFIG_ERR_MAX])
{
	if (log_level && *log_level && log_level_parse(log_level, &c->log_level) < 0) {
		snprintf(ret_err, SM_CONFIG_ERR_MAX,
			 "LogLevel: '%s' is not one of trace, debug, info, warning, error, "
			 "fatal, panic (logrus's names, as Microsoft's sidecar takes them)",
			 log_level);
		return -EINVAL;
	}
	if (log_file && *log_file) {
		free(c->log_file);
		c->log_file = strdup(log_file);
		if (!c->log_file)
			return -ENOMEM;
	}
	return 0;
}

static bool set(const char *s)
{
	return s && *s;
}

int sm_config_apply_wid_env(struct sm_config *c, const struct sm_wid_env *e, bool *ret_partial,
			    char ret_err[SM_CONFIG_ERR_MAX])
{
	int n = set(e->client_id) + set(e->tenant_id) + set(e->token_file);
	size_t l;

	*ret_partial = n > 0 && n < 3;
	if (n < 3)
		return 0;
	if (e->token_file[0] != '/') {
		snprintf(ret_err, SM_CONFIG_ERR_MAX,
			 "AZURE_FEDERATED_TOKEN_FILE: '%s' is not an absolute path", e->token_file);
		return -EINVAL;
	}
	c->wid_client_id = strdup(e->client_id);
	c->wid_tenant_id = strdup(e->tenant_id);
	c->wid_token_file = strdup(e->token_file);
	/* AKS sets AZURE_AUTHORITY_HOST with a trailing slash; the token URL adds its own */
	l = set(e->authority) ? strlen(e->authority) : 0;
	while (l > 0 && e->authority[l - 1] == '/')
		l--;
	c->wid_authority = l ? strndup(e->authority, l) : NULL;
	if (!c->wid_client_id || !c->wid_tenant_id || !c->wid_token_file ||
	    (l && !c->wid_authority))
		return -ENOMEM;
	return 0;
}

static void free_str_wiped(char *s)
{
	if (s)
		wipe(s, strlen(s));
	free(s);
}

static void fs_done(struct sm_filesystem *fs)
{
	free(fs->mount_point);
	free_str_wiped(fs->azure_url); /* a SAS query is a credential */
	free(fs->kid);
	free(fs->kty);
	free(fs->maa_endpoint);
	free(fs->akv_endpoint);
	free_str_wiped(fs->bearer_token);
	free(fs->salt);
	free(fs->label);
	free(fs->fs_type);
	free(fs->header_uuid);
	free(fs->root_hash);
	free(fs->publisher_key);
	free(fs->key_file);
}

void sm_config_free(struct sm_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_fs; i++)
		fs_done(&c->fs[i]);
	free(c->fs);
	free(c->client_id);
	free(c->wid_client_id);
	free(c->wid_tenant_id);
	free(c->wid_token_file);
	free(c->wid_authority);
	free(c->certcache.endpoint_type);
	free(c->certcache.endpoint);
	free(c->certcache.tee_type);
	free(c->certcache.api_version);
	free(c->certcache.client_id);
	free(c->log_file);
	free(c->snp);
	free(c->ca_file);
	free(c->trust_root);
	free(c->enc);
	free(c->health_address);
	free(c->readiness_file);
	free(c->imds_endpoint);
	free(c->work_dir);
	free(c);
}
