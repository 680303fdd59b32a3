/* SPDX-License-Identifier: MIT */
/*
 * explain.c - symptom -> likely cause and what to do, per pipeline step: the one table both
 * front-ends use (pipeline.h), from Microsoft's troubleshooting guide for its sidecar plus our
 * own checks (docs/sidecar-config.md). The README's troubleshooting table is rendered from it.
 * Configuration fields are named with the command-line option that fills the same spec field.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "sealmount/pipeline.h"

struct cause {
	enum pl_step step;
	int err; /* 0 = any other error of this step */
	const char *text;
	const char *code; /* the service's error code (struct diag.code); NULL = any */
};

/* Finer causes, by the error code the service answered with (Blob's x-ms-error-code). */
static const struct cause coded[] = {
	{ PL_STEP_OPEN, -ENOENT,
	  "the container named in the URL does not exist: check the container name "
	  "(https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB; container names are lower case), "
	  "or create it (`image upload --account-key-file` does)",
	  "ContainerNotFound" },
	{ PL_STEP_OPEN, -ENOENT,
	  "the container exists but holds no blob of that name: check the blob name (case "
	  "matters) and that the upload finished",
	  "BlobNotFound" },
	{ PL_STEP_OPEN, -ENOENT,
	  "no such container or blob - or a private container read without credentials, which "
	  "Azure answers with 404: check the URL, and give a SAS, an account key "
	  "(--account-key-file) or a managed identity (--imds)",
	  "ResourceNotFound" },
	{ PL_STEP_OPEN, -EACCES,
	  "access denied: the storage account did not accept the credentials: a wrong or rotated account key "
	  "(--account-key-file), or a SAS whose signature does not verify (copied incompletely, "
	  "signed with another key, or expired: se=)",
	  "AuthenticationFailed" },
	{ PL_STEP_OPEN, -EACCES,
	  "access denied: the storage account refused the request's credentials: a wrong account key "
	  "(--account-key-file), a SAS that does not verify, lacks the permission (sp=r to read, "
	  "sp=cw to upload) or is outside its start/expiry time or IP range, the account's "
	  "firewall, or an identity without a 'Storage Blob Data' role",
	  "AuthorizationFailure" },
	{ PL_STEP_OPEN, -EACCES,
	  "access denied: the SAS or role lacks the permission for this request: sp=r to read, sp=cw to upload; "
	  "'Storage Blob Data Reader' to mount, 'Contributor' to write",
	  "AuthorizationPermissionMismatch" },
	{ PL_STEP_OPEN, -EACCES,
	  "access denied: the container is private and no credentials were given: a SAS in the URL, "
	  "--account-key-file, --bearer-token-file or --imds (azure_url_private: true)",
	  "NoAuthenticationInformation" },
};

static const struct cause causes[] = {
	{ PL_STEP_ATTEST, -ENOENT,
	  "no SEV-SNP guest device: not running in a confidential container group (sku "
	  "Confidential), or the device path is wrong" },
	{ PL_STEP_ATTEST, -ENODEV,
	  "no SEV-SNP guest device: not running in a confidential container group" },
	{ PL_STEP_ATTEST, -EPERM,
	  "MAA refused the evidence: the VCEK chain or TCB does not verify (certcache settings), or "
	  "a simulated report was sent to a real MAA" },
	{ PL_STEP_ATTEST, 0,
	  "key.authority.endpoint (--maa) is wrong (DNS 'could not resolve' means a typo) or "
	  "unreachable, or the security context (UVM_SECURITY_CONTEXT_DIR, THIM certificates) is "
	  "missing" },
	{ PL_STEP_TOKEN, -EBADMSG,
	  "the bearer token file must hold one token on one line (key.akv.bearer_token, "
	  "--bearer-file)" },
	{ PL_STEP_TOKEN, 0,
	  "no managed identity on the container group, a wrong azure_info.identity.client_id "
	  "(--client-id), or the identity endpoint is not up yet; with AKS workload identity, no "
	  "federated credential for this service account (AZURE_CLIENT_ID, AZURE_TENANT_ID); or "
	  "give the vault token (key.akv.bearer_token, --bearer-file)" },
	{ PL_STEP_RELEASE, -EACCES,
	  "the vault refused the bearer token (401): expired, or issued for the wrong resource; the "
	  "identity needs the 'Managed HSM Crypto Service Release User' (or Key Vault Crypto "
	  "Service Release User) role" },
	{ PL_STEP_RELEASE, -EPERM,
	  "the vault refused the release (403): the key's release policy does not match this "
	  "attestation - the CCE policy changed since the key was imported (x-ms-sevsnpvm-hostdata), "
	  "a different MAA authority in the policy than key.authority.endpoint (--maa), or a "
	  "missing role" },
	{ PL_STEP_RELEASE, -ENOENT,
	  "no such key (404): key.kid (--kid) is the key NAME in the vault, not a URL; check "
	  "key.akv.endpoint (--vault) - or, with a key file, that the file exists" },
	{ PL_STEP_RELEASE, -EBADMSG,
	  "the release response does not verify: a wrong vault host, or the TLS/JWS roots "
	  "(sealmount.ca_file, --ca-file) are missing" },
	{ PL_STEP_RELEASE, -ENODATA, "the key file is empty" },
	{ PL_STEP_RELEASE, 0,
	  "key.akv.endpoint (--vault) is wrong or unreachable (DNS 'could not resolve' means a "
	  "typo), or the released key is not usable (kty; RSA keys need key_derivation.salt "
	  "(--salt) as imported)" },
	{ PL_STEP_OPEN, -ENOENT,
	  "no such blob or file: check azure_url (--url, --image): account, container and blob "
	  "name" },
	{ PL_STEP_OPEN, -EACCES,
	  "access denied: a private container needs azure_url_private: true (--imds) and the "
	  "'Storage Blob Data Reader' (read-only) or 'Contributor' (read-write) role, a valid SAS "
	  "in the URL, or an account key (--account-key-file)" },
	{ PL_STEP_OPEN, -EMEDIUMTYPE,
	  "read_write: true (--rw) needs a page blob (upload the image with `image upload --page`, "
	  "or mount read-only)" },
	{ PL_STEP_OPEN, -EBUSY,
	  "another reader-writer holds the blob's lease (only one container group may mount it "
	  "read-write), or another process uses the same disk cache directory" },
	{ PL_STEP_OPEN, -ESTALE, "the blob was replaced while it was being opened" },
	{ PL_STEP_OPEN, -EINVAL,
	  "azure_url (--url) is not a blob URL: https://ACCOUNT.blob.core.windows.net/CONTAINER/"
	  "BLOB (or the emulator's http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB)" },
	{ PL_STEP_OPEN, -EHOSTUNREACH,
	  "the storage host name does not resolve: a typo in the account name or the host "
	  "(https://ACCOUNT.blob.core.windows.net), or no DNS from here" },
	{ PL_STEP_OPEN, -ECONNREFUSED,
	  "nothing listens at the URL's host and port: a wrong port, or the service (the emulator) "
	  "is not running" },
	{ PL_STEP_OPEN, -EFBIG,
	  "the storage claims a size no blob of its type can have (page blob 8 TiB, block blob "
	  "190.7 TiB, append blob 195 GiB; any other server 1 PiB): a broken or hostile server "
	  "or proxy, or a URL that names something else" },
	{ PL_STEP_OPEN, -EPROTO,
	  "the server's answers are not those of a blob or range server (no ETag, a page blob "
	  "not in 512-byte pages, Range ignored, inconsistent sizes): a proxy or captive portal in "
	  "between, or a URL that names something else" },
	{ PL_STEP_OPEN, -ENOMEM,
	  "not enough memory for the cache (sealmount.cache_mb, --cache-mb)" },
	{ PL_STEP_OPEN, 0,
	  "azure_url (--url) is wrong or the storage account is unreachable (network, DNS, TLS "
	  "roots)" },
	{ PL_STEP_SEAL, -EBADMSG,
	  "the image does not match what is pinned: another image, an older version of it, or a "
	  "tampered one - or the root hash in the configuration (sealmount.root_hash, --root-hash) "
	  "is not this image's (`image inspect --root-hash` checks)" },
	{ PL_STEP_SEAL, -EKEYREJECTED,
	  "the image is signed by another publisher key than the one pinned "
	  "(sealmount.publisher_key, --publisher-key)" },
	{ PL_STEP_SEAL, -ESTALE,
	  "the image's signed version is below the minimum (sealmount.min_version, "
	  "--min-version): an older image is being served" },
	{ PL_STEP_SEAL, -ENOKEY,
	  "a publisher key is pinned but the image carries no signature (`image sign`)" },
	{ PL_STEP_SEAL, 0,
	  "the seal could not be read: a damaged hash area, or the storage became unreachable" },
	{ PL_STEP_VOLUME, -EKEYREJECTED,
	  "the key does not open the image: a different key (kid, key file) than the image was "
	  "made with, or for RSA keys a different key_derivation salt/label; a key file is used "
	  "byte for byte (a trailing newline counts)" },
	{ PL_STEP_VOLUME, -EBADMSG,
	  "the source does not hold a valid LUKS2 image (wrong blob or file, or a corrupted or "
	  "tampered header)" },
	{ PL_STEP_VOLUME, -EPERM,
	  "the LUKS2 header was refused by policy (cipher, integrity, pinned digest/UUID, unlock "
	  "budget): a tampered image, or an image without integrity while require_integrity is "
	  "true (set sealmount.require_integrity: false, --no-require-integrity, to accept "
	  "Microsoft-style images), or a keyslot whose KDF needs more memory or time than allowed "
	  "(rules kdf.budget.*: sealmount.kdf_max_memory_mb / kdf_max_seconds, "
	  "--kdf-max-memory-mb / --kdf-max-seconds)" },
	{ PL_STEP_VOLUME, -EUCLEAN,
	  "the image has no integrity protection and e2fsck -n found errors in its filesystem: it "
	  "was modified or damaged, or not unmounted cleanly (a journal to replay); it is refused "
	  "before the kernel parses it - check it offline (image decrypt, e2fsck), re-create it "
	  "with integrity, or skip the check (sealmount.fsck: false, --no-fsck)" },
	{ PL_STEP_VOLUME, -ENODEV,
	  "the engine is not available here: no device-mapper (use engine user or auto), no loop "
	  "device or /dev/fuse (run the sidecar privileged)" },
	{ PL_STEP_VOLUME, -EPROTO, "the kernel's dm tables differ from the validated header" },
	{ PL_STEP_VOLUME, -EBUSY,
	  "the mount directory is in use: another mount with the same index (--index) or a "
	  "leftover of a crashed mount" },
	{ PL_STEP_VOLUME, -ENOENT,
	  "mount_point's parent directory does not exist: it must be the shared emptyDir (e.g. "
	  "/mnt/remote for mount_point /mnt/remote/share)" },
	{ PL_STEP_VOLUME, -EROFS, "read_write (--rw) needs a writable source (a page blob)" },
	{ PL_STEP_VOLUME, -EIO,
	  "reading the image failed (input/output error): an integrity error, or the storage "
	  "became unreachable" },
	{ PL_STEP_VOLUME, 0,
	  "mounting failed: the sidecar must be privileged, mount_point's parent must exist (the "
	  "shared emptyDir), and fs_type must match the image's filesystem" },
	{ PL_STEP_PUBLISH, -EEXIST,
	  "mount_point already exists: it must not exist yet (the link is created there)" },
	{ PL_STEP_PUBLISH, 0,
	  "the link at mount_point could not be made: its parent (the shared emptyDir) must be "
	  "writable" },
	{ PL_STEP_TEARDOWN, 0,
	  "a step of the teardown failed (still busy, or the storage unreachable while writing "
	  "back): data written since the last flush may be lost" },
};

const char *pl_explain(enum pl_step s, int err)
{
	const char *fallback = "see the error above";

	for (size_t i = 0; i < ELEMENTSOF(causes); i++) {
		if (causes[i].step != s)
			continue;
		if (causes[i].err == err)
			return causes[i].text;
		if (causes[i].err == 0)
			fallback = causes[i].text;
	}
	return fallback;
}

const char *pl_explain_coded(enum pl_step s, int err, const char *code)
{
	for (size_t i = 0; code && code[0] && i < ELEMENTSOF(coded); i++)
		if (coded[i].step == s && coded[i].err == err && streq(coded[i].code, code))
			return coded[i].text;
	return NULL;
}

const char *pl_explain_diag(enum pl_step s, const struct diag *d, int err)
{
	const char *t = d ? pl_explain_coded(s, err, d->code) : NULL;

	return t ? t : pl_explain(s, err);
}

/* The coded rows of step s (placed before the step's first plain row). */
static int markdown_coded(struct buf *out, enum pl_step s)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(coded); i++)
		if (coded[i].step == s)
			r = buf_printf(out, "| `%s` | %s, HTTP `%s` | %s |\n", pl_step_name(s),
				       strerrorname_np(-coded[i].err), coded[i].code,
				       coded[i].text);
	return r;
}

int pl_explain_markdown(struct buf *out)
{
	int r;

	r = buf_append_str(out, "| step | error | likely cause and what to do |\n|---|---|---|\n");
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(causes); i++) {
		const struct cause *c = &causes[i];

		if (i == 0 || causes[i - 1].step != c->step)
			r = markdown_coded(out, c->step);
		if (r < 0)
			break;
		if (c->err)
			r = buf_printf(out, "| `%s` | %s (%s) | %s |\n", pl_step_name(c->step),
				       strerrorname_np(-c->err), strerrordesc_np(-c->err), c->text);
		else
			r = buf_printf(out, "| `%s` | any other | %s |\n", pl_step_name(c->step),
				       c->text);
	}
	return r;
}
