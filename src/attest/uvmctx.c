/* SPDX-License-Identifier: MIT */
/* uvmctx.c - read ACI's UVM security context (see uvmctx.h; docs/snp.md, ACI security context). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "attest_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/uvmctx.h"

static bool is_dir(const char *p)
{
	struct stat s;

	return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

static int scan_root(const char *root, char **ret)
{
	DIR *d = *root ? opendir(root) : NULL;
	struct dirent *de;
	int e = -ENOENT;

	if (!d)
		return -ENOENT;
	while ((de = readdir(d)) != NULL) {
		_cleanup_free_ char *p = NULL;

		if (strncmp(de->d_name, "security-context-", 17) != 0)
			continue;
		if (asprintf(&p, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/",
			     de->d_name) < 0) {
			e = -ENOMEM;
			break;
		}
		if (is_dir(p)) {
			*ret = TAKE_PTR(p);
			e = 0;
			break;
		}
	}
	closedir(d);
	return e;
}

int uvm_context_find_dir(const char *root, char **ret)
{
	/* ACI's interface to the container: an environment variable (see uvmctx.h). */
	const char *env = secure_getenv("UVM_SECURITY_CONTEXT_DIR");

	if (env && *env) {
		*ret = strdup(env);
		return *ret ? 0 : -ENOMEM;
	}
	if (scan_root(root, ret) == 0)
		return 0;
	if (strcmp(root, "/") == 0 && is_dir(UVMCTX_KATA_DEFAULT)) {
		*ret = strdup(UVMCTX_KATA_DEFAULT);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

/* Standard base64 with surrounding whitespace (a trailing newline is common) trimmed. */
static int decode_b64(const char *text, size_t len, uint8_t **ret, size_t *ret_len)
{
	while (len > 0 && strchr(" \t\r\n", text[len - 1]))
		len--;
	while (len > 0 && strchr(" \t\r\n", text[0])) {
		text++;
		len--;
	}
	return b64_decode(B64_STD, text, len, ret, ret_len);
}

/* One item: dir/name, else the legacy variable. -ENOENT if neither is there. */
static int load_item(const char *dir, const char *name, const char *env_name, uint8_t **ret,
		     size_t *ret_len)
{
	_cleanup_free_ uint8_t *text = NULL;
	_cleanup_free_ char *path = NULL;
	const char *env;
	size_t len;
	int e = -ENOENT;

	if (dir) {
		if (asprintf(&path, "%s/%s", dir, name) < 0)
			return -ENOMEM;
		e = fs_read_file(path, UVMCTX_FILE_MAX, 0, &text, &len);
		if (e < 0 && e != -ENOENT)
			return log_debug_errno(e, "%s: %m", path);
	}
	if (e == -ENOENT) {
		/* Legacy ACI interface (before the files existed): see uvmctx.h. */
		env = secure_getenv(env_name);
		if (!env || !*env)
			return -ENOENT;
		return decode_b64(env, strlen(env), ret, ret_len);
	}
	e = decode_b64((const char *)text, len, ret, ret_len);
	if (e < 0)
		return log_debug_errno(e, "%s: not valid base64", path);
	return 0;
}

static int load_thim(struct uvm_context *c, const char *dir)
{
	uint8_t *json = NULL;
	size_t len;
	int e;

	e = load_item(dir, "host-amd-cert-base64", "UVM_HOST_AMD_CERTIFICATE", &json, &len);
	if (e < 0)
		return e;
	c->thim_json = (char *)json;
	e = snp_thim_parse(json, len, &c->thim);
	if (e < 0)
		return log_debug_errno(e, "host-amd-cert: not a valid THIM document");
	c->has_thim = true;
	return 0;
}

int uvm_context_load(const char *dir, struct uvm_context *ret)
{
	struct uvm_context c = {};
	int e, found = 0;

	if (!dir) {
		e = uvm_context_find_dir("/", &c.dir);
		if (e < 0 && e != -ENOENT)
			return e;
	} else if (!(c.dir = strdup(dir)))
		return -ENOMEM;
	e = load_item(c.dir, "security-policy-base64", "UVM_SECURITY_POLICY", &c.security_policy,
		      &c.security_policy_len);
	if (e >= 0) {
		SHA256(c.security_policy, c.security_policy_len, c.host_data);
		found++;
	}
	if (e >= 0 || e == -ENOENT) {
		e = load_thim(&c, c.dir);
		found += e >= 0;
	}
	if (e >= 0 || e == -ENOENT) {
		e = load_item(c.dir, "reference-info-base64", "UVM_REFERENCE_INFO",
			      &c.reference_info, &c.reference_info_len);
		found += e >= 0;
	}
	if ((e < 0 && e != -ENOENT) || found == 0) {
		uvm_context_done(&c);
		return e < 0 && e != -ENOENT ? e : -ENOENT;
	}
	*ret = c;
	return 0;
}

void uvm_context_done(struct uvm_context *c)
{
	free(c->dir);
	free(c->security_policy);
	snp_thim_done(&c->thim);
	free(c->thim_json);
	free(c->reference_info);
	*c = (struct uvm_context){};
}
