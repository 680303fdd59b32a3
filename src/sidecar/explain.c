/* SPDX-License-Identifier: MIT */
/*
 * explain.c - symptom -> likely cause, per pipeline step (docs/sidecar-config.md, Failures,
 * Microsoft's TROUBLESHOOTING.md, plus our own checks). One table, looked up by step and error
 * code.
 */
#include <errno.h>
#include <string.h>

#include "sealmount/sidecar.h"

struct cause {
	const char *step;
	int err; /* 0 = any error of this step */
	const char *text;
};

static const struct cause causes[] = {
	{ "attest", -ENOENT,
	  "no SEV-SNP guest device: not running in a confidential container group (sku "
	  "Confidential), or the device path is wrong" },
	{ "attest", -ENODEV,
	  "no SEV-SNP guest device: not running in a confidential container group" },
	{ "attest", -EPERM,
	  "MAA refused the evidence: the VCEK chain or TCB does not verify (certcache settings), or "
	  "a simulated report was sent to a real MAA" },
	{ "attest", 0,
	  "key.authority.endpoint is wrong (DNS 'no such host' means a typo) or unreachable, or the "
	  "security context (UVM_SECURITY_CONTEXT_DIR, THIM certificates) is missing" },
	{ "token", 0,
	  "no managed identity on the container group, a wrong azure_info.identity.client_id, or "
	  "the identity endpoint is not up yet; or give key.akv.bearer_token" },
	{ "release", -EACCES,
	  "the vault refused the bearer token (401): expired, or issued for the wrong resource; the "
	  "identity needs the 'Managed HSM Crypto Service Release User' (or Key Vault Crypto "
	  "Service Release User) role" },
	{ "release", -EPERM,
	  "the vault refused the release (403): the key's release policy does not match this "
	  "attestation - the CCE policy changed since the key was imported (x-ms-sevsnpvm-hostdata), "
	  "a different MAA authority in the policy than key.authority.endpoint, or a missing role" },
	{ "release", -ENOENT,
	  "no such key (404): key.kid is the key NAME in the vault, not a URL; check "
	  "key.akv.endpoint" },
	{ "release", -EBADMSG,
	  "the release response does not verify: wrong vault host, or TLS/JWS roots (ca_file) "
	  "missing" },
	{ "release", 0,
	  "key.akv.endpoint is wrong or unreachable (DNS 'no such host' means a typo), or the "
	  "released key is not usable (kty; RSA keys need key_derivation.salt as imported)" },
	{ "blob", -ENOENT, "no such blob: check azure_url (account, container, blob name)" },
	{ "blob", -EACCES,
	  "access denied: a private container needs azure_url_private: true and the 'Storage Blob "
	  "Data Reader' (read-only) or 'Contributor' (read-write) role, or a valid SAS in the URL" },
	{ "blob", -EMEDIUMTYPE,
	  "read_write: true needs a page blob (upload the image as a page blob, or mount "
	  "read-only)" },
	{ "blob", -EBUSY,
	  "another reader-writer holds the blob's lease: only one container group may mount it "
	  "read-write" },
	{ "blob", -ESTALE, "the blob was replaced while it was being opened" },
	{ "blob", 0,
	  "azure_url is wrong or the storage account is unreachable (network, DNS, TLS roots)" },
	{ "cache", 0, "not enough memory for the cache (sealmount.cache_mb)" },
	{ "volume", -EKEYREJECTED,
	  "the released key does not open the image: a different key (kid) than the image was made "
	  "with, or for RSA keys a different key_derivation salt/label" },
	{ "volume", -EBADMSG,
	  "the blob does not hold a valid LUKS2 image (wrong blob, or corrupted/tampered header)" },
	{ "volume", -EPERM,
	  "the LUKS2 header was refused by policy (cipher, integrity, pinned digest/UUID): a "
	  "tampered image, or an image without integrity while require_integrity is true" },
	{ "volume", -ENODEV,
	  "the engine is not available here: no device-mapper (use engine 'user' or 'auto'), no "
	  "loop device or /dev/fuse (run the sidecar privileged)" },
	{ "volume", -EPROTO, "the kernel's dm tables differ from the validated header" },
	{ "volume", -EBUSY,
	  "the mount point is in use: mount_point must not exist yet, and no other filesystem may "
	  "use the same parent index" },
	{ "volume", -EEXIST, "mount_point already exists: it must not exist yet" },
	{ "volume", -ENOENT,
	  "mount_point's parent directory does not exist: it must be the shared emptyDir (e.g. "
	  "/mnt/remote for mount_point /mnt/remote/share)" },
	{ "volume", -EIO,
	  "reading the image failed (input/output error): for read_write a block blob instead of "
	  "a page blob, an integrity error, or the storage became unreachable" },
	{ "volume", 0,
	  "mounting failed: the sidecar must be privileged, mount_point's parent must exist (the "
	  "shared emptyDir), and fs_type must match the image's filesystem" },
};

const char *sidecar_explain(const char *step, int r)
{
	const char *fallback = "see the error above";

	for (size_t i = 0; i < ELEMENTSOF(causes); i++) {
		if (strcmp(causes[i].step, step) != 0)
			continue;
		if (causes[i].err == r)
			return causes[i].text;
		if (causes[i].err == 0)
			fallback = causes[i].text;
	}
	return fallback;
}
