/* SPDX-License-Identifier: MIT */
/*
 * key_util.c - secret files and the CCE policy digest for `sealmount key` and `policy`, and the
 * key options as the pipeline's release spec.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "key_util.h"
#include "sealmount/codec.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"

void key_args_to_release(const struct key_args *a, struct pl_release *r)
{
	*r = (struct pl_release){ .vault = a->vault,
				  .kid = a->kid,
				  .version = a->version,
				  .maa = a->maa,
				  .snp = a->snp,
				  .enc = a->enc,
				  .salt_hex = a->salt,
				  .label = a->label,
				  .nonce = a->nonce,
				  .bearer_file = a->bearer_file,
				  .imds_endpoint = a->imds,
				  .client_id = a->client_id,
				  .federated_token_file = a->federated_token_file,
				  .tenant_id = a->tenant_id,
				  .authority = a->authority,
				  .ca_file = a->ca_file };
}

int key_write_secret_file(const char *path, const struct secret *s)
{
	_cleanup_close_ int fd = -1;
	size_t off = 0;
	ssize_t n;
	int r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s (it must not exist yet): %m",
				       path);
	errno = 0;
	while (off < s->len) {
		n = write(fd, s->data + off, s->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off == s->len && fsync(fd) == 0)
		return 0;
	r = errno ? -errno : -EIO;
	(void)unlink(path); /* no partial passphrase left behind */
	return log_error_errno(r, "Cannot write %s: %m", path);
}

#define POLICY_FILE_MAX (4u * 1024 * 1024)

int key_policy_hostdata(const char *path, uint8_t ret[32])
{
	_cleanup_free_ uint8_t *text = NULL, *dec = NULL;
	size_t len, start = 0, end, n;
	int r;

	r = fs_read_file(path, POLICY_FILE_MAX, 0, &text, &len);
	if (r < 0)
		return log_error_errno(r, "Cannot read the policy %s (at most %u bytes): %m", path,
				       POLICY_FILE_MAX);
	/* base64 (as in the ARM template's ccePolicy, whitespace around ignored), else raw */
	end = len;
	while (start < end && strchr(" \t\r\n", text[start]))
		start++;
	while (end > start && strchr(" \t\r\n", text[end - 1]))
		end--;
	if (end > start &&
	    b64_decode(B64_STD, (const char *)text + start, end - start, &dec, &n) == 0) {
		SHA256(dec, n, ret);
		return 0;
	}
	SHA256(text, len, ret);
	return 0;
}
