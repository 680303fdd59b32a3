/* SPDX-License-Identifier: MIT */
/*
 * cmd_key_import.c - `sealmount key import`: Microsoft's tools/importkey equivalent
 * (docs/skr.md, Key import). Uploads an exportable oct-HSM or RSA-HSM key whose release policy
 * admits only attestations from the given MAA endpoint with the given host data, compliance status,
 * no debugging and VMPL 0. A salt is never invented silently (Microsoft's issue #233).
 */
#define _GNU_SOURCE
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "key_util.h"
#include "sealmount/fsutil.h"
#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/keyderive.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/maa.h"

#define KEY_FILE_MAX (64u * 1024)

struct import_key {
	bool rsa;
	struct secret *oct; /* 32 bytes */
	EVP_PKEY *pkey; /* RSA */
	char salt[2 * 32 + 1]; /* generated salt (RSA, no --salt) */
};

static void import_key_done(struct import_key *k)
{
	secret_free(k->oct);
	EVP_PKEY_free(k->pkey);
}

/* The release policy: the defaults, each replaced by a --claim of the same name, then extras. */
static int build_policy(const struct key_args *a, const char *hostdata, json_t **ret)
{
	struct hsm_claim c[4 + KEY_EXTRA_CLAIMS_MAX] = {
		{ "x-ms-sevsnpvm-hostdata", hostdata },
		{ "x-ms-compliance-status", "azure-compliant-uvm" },
		{ "x-ms-sevsnpvm-is-debuggable", "false" },
		{ "x-ms-sevsnpvm-vmpl", "0" },
	};
	_cleanup_free_ char *authority = NULL;
	size_t n = 4, j;
	int r;

	for (size_t i = 0; i < a->n_extra; i++) {
		for (j = 0; j < n && !streq(c[j].claim, a->extra[i].claim); j++)
			;
		c[j] = a->extra[i];
		n += j == n;
	}
	r = maa_endpoint_base(a->maa, &authority);
	if (r < 0)
		return log_error_errno(r, "Invalid MAA endpoint '%s': %m", a->maa);
	r = hsm_policy_build(authority, c, n, ret);
	if (r < 0)
		return log_error_errno(r, "Cannot build the release policy: %m");
	return 0;
}

static int hostdata_hex(const struct key_args *a, char out[65])
{
	uint8_t d[32];
	int r;

	if (a->policy_file) {
		r = key_policy_hostdata(a->policy_file, d);
		if (r < 0)
			return r;
		hex_encode(d, sizeof(d), out);
		return 0;
	}
	if (hex_decode_fixed(a->hostdata, strlen(a->hostdata), d, sizeof(d)) < 0)
		return log_error_errno(-EINVAL, "--hostdata takes 64 hex digits (a SHA-256)");
	hex_encode(d, sizeof(d), out); /* normalised to lower case, as MAA prints it */
	return 0;
}

/* oct key: a file of 32 raw bytes or 64 hex digits, or random bytes. */
static int load_oct(const char *path, struct import_key *k)
{
	_cleanup_(secret_freep) struct secret *b = NULL;
	size_t n;
	int r;

	r = secret_new(32, &k->oct);
	if (r < 0)
		return log_error_errno(r, "Cannot allocate secret memory: %m");
	if (!path)
		return RAND_priv_bytes(k->oct->data, 32) == 1 ?
			       0 :
			       log_error_errno(-EIO, "No randomness for the key");
	r = fs_read_secret(path, KEY_FILE_MAX, 0, &b);
	if (r < 0)
		return log_error_errno(r, "Cannot read the key from %s: %m", path);
	if (b->len == 32) {
		memcpy(k->oct->data, b->data, 32);
		return 0;
	}
	n = b->len;
	while (n && (b->data[n - 1] == '\n' || b->data[n - 1] == '\r'))
		n--;
	if (hex_decode_fixed((const char *)b->data, n, k->oct->data, 32) < 0)
		return log_error_errno(-EINVAL, "%s holds neither 32 bytes nor 64 hex digits",
				       path);
	return 0;
}

static int load_rsa(const char *path, struct import_key *k)
{
	_cleanup_(secret_freep) struct secret *b = NULL;
	BIO *bio;
	int r;

	if (!path) {
		k->pkey = EVP_RSA_gen(2048);
		return k->pkey ? 0 : log_error_errno(-ENOMEM, "Cannot generate an RSA key");
	}
	r = fs_read_secret(path, KEY_FILE_MAX, 0, &b);
	if (r < 0)
		return log_error_errno(r, "Cannot read the key from %s: %m", path);
	bio = BIO_new_mem_buf(b->data, (int)b->len);
	if (!bio)
		return -ENOMEM;
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!k->pkey || !EVP_PKEY_is_a(k->pkey, "RSA") || EVP_PKEY_get_bits(k->pkey) < 2048 ||
	    EVP_PKEY_get_bits(k->pkey) > 4096)
		return log_error_errno(-EINVAL, "%s is not a PEM RSA private key of 2048-4096 bits",
				       path);
	return 0;
}

static int load_key(const struct key_args *a, struct import_key *k)
{
	uint8_t salt[32];

	if (!a->kty || streq(a->kty, "oct-HSM") || streq(a->kty, "oct"))
		return load_oct(a->key_file, k);
	if (!streq(a->kty, "RSA-HSM") && !streq(a->kty, "RSA"))
		return log_error_errno(-EINVAL, "--kty must be oct-HSM or RSA-HSM, not '%s'",
				       a->kty);
	k->rsa = true;
	if (!a->salt) {
		if (RAND_bytes(salt, sizeof(salt)) != 1)
			return log_error_errno(-EIO, "No randomness for the salt");
		hex_encode(salt, sizeof(salt), k->salt);
	}
	return load_rsa(a->key_file, k);
}

static int passphrase(const struct key_args *a, const struct import_key *k, struct secret **ret)
{
	int r;

	if (!k->rsa)
		return secret_new_copy(k->oct->data, k->oct->len, ret);
	r = keyderive_passphrase_rsa(
		k->pkey,
		&(struct keyderive_params){ .salt_hex = a->salt ? a->salt : k->salt,
					    .label = a->label },
		ret);
	if (r < 0)
		return log_error_errno(r, "Cannot derive the passphrase (is --salt hex?): %m");
	return 0;
}

static int upload(const struct key_args *a, const struct buf *body, json_t **ret)
{
	_cleanup_(http_client_freep) struct http_client *http = NULL;
	_cleanup_(pl_vault_close) struct pl_vault v = { 0 };
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	struct pl_release rel;
	struct diag d = { 0 };
	const char *id;
	long status;
	int r;

	key_args_to_release(a, &rel);
	r = http_client_new(&(struct http_options){ .ca_file = a->ca_file, .max_retries = 4 },
			    &http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP: %m");
	r = pl_vault_open(http, &rel, &v, &d);
	if (r < 0)
		return log_error_errno(r, "Cannot use the vault: %s", diag_or_strerror(&d, r));
	r = skr_auth_token(v.auth, false, &bearer);
	if (r < 0) {
		_cleanup_free_ char *why = skr_auth_last_error(v.auth);

		return log_error_errno(r, "Cannot get a managed-identity token for %s: %m%s%s",
				       skr_auth_resource(v.auth),
				       why ? " - the token service says: " : "", why ? why : "");
	}
	r = hsm_client_import(v.hsm, a->kid, body, (const char *)bearer->data, ret);
	if (r >= 0)
		return 0;
	status = hsm_client_last_status(v.hsm);
	id = hsm_client_last_request_id(v.hsm);
	if (r == -EACCES || r == -EPERM)
		return log_error_errno(
			r,
			"%s refused the import (HTTP %ld: %s, x-ms-request-id %s): the "
			"identity needs the keys/import permission (e.g. Managed HSM "
			"Crypto User)",
			hsm_client_base(v.hsm), status, hsm_client_last_error(v.hsm) ?: "no detail",
			id ?: "none");
	return log_error_errno(r, "Key import into %s failed: %m (HTTP %ld: %s)",
			       hsm_client_base(v.hsm), status,
			       status ? hsm_client_last_error(v.hsm) ?: "no detail" : "no answer");
}

static void print_result(const json_t *bundle, const json_t *policy, const struct import_key *k)
{
	_cleanup_free_ char *p = json_dumps(policy, JSON_INDENT(2));
	const char *kid = json_string_value(json_object_get(json_object_get(bundle, "key"), "kid"));

	printf("Imported %s\n", kid ? kid : "(no kid in the answer)");
	printf("Release policy:\n%s\n", p ? p : "?");
	if (k->salt[0]) {
		printf("Generated key_derivation salt: %s\n", k->salt);
		log_warn(
			"A random salt was generated for the RSA key: pass '--salt %s' to 'key "
			"release' (and set key_derivation.salt for the sidecar), or the passphrase "
			"will not match",
			k->salt);
	}
}

int key_import_run(const struct key_args *a)
{
	_cleanup_(import_key_done) struct import_key k = {};
	_cleanup_json_ json_t *policy = NULL, *bundle = NULL;
	_cleanup_(secret_freep) struct secret *pass = NULL;
	_cleanup_(buf_done_wipe) struct buf body = {};
	char hostdata[65];
	bool wrote = false;
	int r;

	r = hostdata_hex(a, hostdata);
	if (r < 0)
		return r;
	r = build_policy(a, hostdata, &policy);
	if (r < 0)
		return r;
	r = load_key(a, &k);
	if (r < 0)
		return r;
	if (a->salt && !k.rsa)
		log_warn("--salt has no effect for an oct key");
	buf_init(&body, HSM_RESPONSE_MAX);
	r = k.rsa ? hsm_import_body_rsa(k.pkey, policy, &body) :
		    hsm_import_body_oct(k.oct, policy, &body);
	if (r < 0)
		return log_error_errno(r, "Cannot build the import request: %m");
	if (a->passphrase_out) {
		r = passphrase(a, &k, &pass);
		if (r < 0)
			return r;
		/* Before the upload, so an existing file stops us before anything changes. */
		r = key_write_secret_file(a->passphrase_out, pass);
		if (r < 0)
			return r;
		wrote = true;
	}
	r = upload(a, &body, &bundle);
	if (r < 0) {
		if (wrote)
			(void)unlink(a->passphrase_out);
		return r;
	}
	print_result(bundle, policy, &k);
	return 0;
}
