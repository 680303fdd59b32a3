/* SPDX-License-Identifier: MIT */
/*
 * verity_sig.c - the publisher signature block of a sealed image (verity_sig.h,
 * docs/verity.md "Signature block"): parse, keys (PEM / JWK), RSA-PSS sign and verify, and the
 * two file-level steps (`image sign`, the pipeline's signed root). OpenSSL's errors are
 * translated here, once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/fsutil.h"
#include "sealmount/jsonx.h"
#include "sealmount/jwk.h"
#include "sealmount/verity_sig.h"

#define PSS_SALT_LEN 32

struct verity_pubkey {
	EVP_PKEY *pkey;
	uint8_t id[VERITY_DIGEST_SIZE];
};

struct verity_signer {
	EVP_PKEY *pkey;
	uint8_t id[VERITY_DIGEST_SIZE];
};

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- parse ---- */

static int parse_head(struct reader *rd, struct diag *d)
{
	const uint8_t *magic;
	uint32_t format, alg;

	if (reader_bytes(rd, VERITY_SIG_MAGIC_LEN, &magic) < 0 ||
	    memcmp(magic, VERITY_SIG_MAGIC, VERITY_SIG_MAGIC_LEN) != 0)
		return diag_set(d, -EBADMSG, "signature block: no \"sealsig\" magic");
	if (reader_u32le(rd, &format) < 0 || reader_u32le(rd, &alg) < 0)
		return -EBADMSG;
	if (format != VERITY_SIG_FORMAT || alg != VERITY_SIG_ALG_RSA_PSS_SHA256)
		return diag_set(d, -EBADMSG,
				"signature block: format %" PRIu32 ", algorithm %" PRIu32
				" (only 1 and 1 = RSA-PSS-SHA256 are known)",
				format, alg);
	return 0;
}

int verity_sig_parse(const uint8_t *buf, size_t len, struct verity_sig *ret, struct diag *d)
{
	struct reader rd = reader_init(buf, len);
	struct verity_sig s = { 0 };
	const uint8_t *pad;
	int r;

	if (len != VERITY_SIG_BLOCK_SIZE)
		return diag_set(d, -EBADMSG, "signature block: %zu bytes", len);
	r = parse_head(&rd, d);
	if (r < 0)
		return r;
	if (reader_u64le(&rd, &s.version) < 0 || reader_u64le(&rd, &s.data_size) < 0 ||
	    reader_u64le(&rd, &s.sealed_size) < 0 ||
	    reader_copy(&rd, s.root_hash, sizeof(s.root_hash)) < 0 ||
	    reader_copy(&rd, s.key_id, sizeof(s.key_id)) < 0 || reader_u16le(&rd, &s.sig_len) < 0 ||
	    reader_bytes(&rd, VERITY_SIG_OFFSET - rd.off, &pad) < 0)
		return -EBADMSG;
	if (!is_zero(pad, VERITY_SIG_OFFSET - VERITY_SIG_STATEMENT_SIZE - 2))
		return diag_set(d, -EBADMSG, "signature block: reserved bytes are not zero");
	if (s.sig_len < 256 || s.sig_len > VERITY_SIG_MAX)
		return diag_set(d, -EBADMSG, "signature block: signature of %u bytes", s.sig_len);
	if (reader_copy(&rd, s.sig, s.sig_len) < 0 || !is_zero(buf + rd.off, len - rd.off))
		return diag_set(d, -EBADMSG, "signature block: bytes after the signature");
	memcpy(s.statement, buf, VERITY_SIG_STATEMENT_SIZE);
	*ret = s;
	return 0;
}

/* ---- keys ---- */

static int key_check(EVP_PKEY *pkey, uint8_t id[VERITY_DIGEST_SIZE], struct diag *d)
{
	unsigned char *der = NULL;
	int bits, len;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
		return diag_set(d, -EINVAL, "the publisher key is not an RSA key");
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < JWK_RSA_MIN_BITS || bits > JWK_RSA_MAX_BITS)
		return diag_set(d, -EINVAL, "the publisher key has %d bits (2048..8192 allowed)",
				bits);
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		ERR_clear_error();
		return -ENOMEM;
	}
	(void)EVP_Digest(der, (size_t)len, id, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	return 0;
}

static int pubkey_from_jwk(const void *text, size_t len, EVP_PKEY **ret, struct diag *d)
{
	_cleanup_json_ json_t *o = NULL;
	int r;

	r = jsonx_load_object(text, len, VERITY_KEY_MAX, &o);
	if (r < 0)
		return diag_set(d, r, "the publisher key is not valid JSON: %m");
	r = jwk_rsa_from_json(o, ret);
	if (r < 0)
		return diag_set(d, -EBADMSG,
				"the publisher JWK is not a usable RSA key (kty, n, e)");
	return 0;
}

static int pubkey_from_pem(const void *text, size_t len, EVP_PKEY **ret, struct diag *d)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);

	*ret = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (!*ret)
		return diag_set(d, -EBADMSG,
				"the publisher key is neither a PEM public key nor a JWK");
	return 0;
}

int verity_pubkey_parse(const void *text, size_t len, struct verity_pubkey **ret, struct diag *d)
{
	struct verity_pubkey *k;
	const char *p = text;
	size_t i = 0;
	int r;

	if (len > VERITY_KEY_MAX)
		return diag_set(d, -EFBIG, "the publisher key is over %u bytes", VERITY_KEY_MAX);
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	r = i < len && p[i] == '{' ? pubkey_from_jwk(text, len, &k->pkey, d) :
				     pubkey_from_pem(text, len, &k->pkey, d);
	if (r >= 0)
		r = key_check(k->pkey, k->id, d);
	if (r < 0) {
		verity_pubkey_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int verity_pubkey_load(const char *path, struct verity_pubkey **ret, struct diag *d)
{
	_cleanup_free_ uint8_t *text = NULL;
	size_t len;
	int r;

	r = fs_read_file(path, VERITY_KEY_MAX, FS_READ_NONEMPTY, &text, &len);
	if (r < 0)
		return diag_set(d, r, "cannot read the publisher key %s: %m", path);
	r = verity_pubkey_parse(text, len, ret, d);
	if (r < 0)
		diag_prefix(d, "%s", path);
	return r;
}

void verity_pubkey_free(struct verity_pubkey *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void verity_pubkey_id(const struct verity_pubkey *k, uint8_t out[VERITY_DIGEST_SIZE])
{
	memcpy(out, k->id, VERITY_DIGEST_SIZE);
}

/* Never prompt for a passphrase: encrypted PEM keys are refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int verity_signer_load(const char *path, struct verity_signer **ret, struct diag *d)
{
	_cleanup_(secret_freep) struct secret *pem = NULL;
	struct verity_signer *s;
	BIO *bio;
	int r;

	r = fs_read_secret(path, VERITY_KEY_MAX, 0, &pem);
	if (r < 0)
		return diag_set(d, r, "cannot read the signing key %s: %m", path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	s->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	r = s->pkey ? key_check(s->pkey, s->id, d) :
		      diag_set(d, -EBADMSG, "%s is not an unencrypted PEM private key", path);
	if (r < 0) {
		verity_signer_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void verity_signer_free(struct verity_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

/* ---- sign and verify ---- */

static int pss_setup(EVP_MD_CTX *c, EVP_PKEY *pkey, bool sign)
{
	EVP_PKEY_CTX *pc = NULL;
	int ok = sign ? EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, pkey) :
			EVP_DigestVerifyInit(c, &pc, EVP_sha256(), NULL, pkey);

	if (ok != 1 || EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, PSS_SALT_LEN) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

static void statement_write(const struct verity_image *img, const uint8_t root[VERITY_DIGEST_SIZE],
			    uint64_t version, const uint8_t id[VERITY_DIGEST_SIZE], uint8_t *out)
{
	memcpy(out, VERITY_SIG_MAGIC, VERITY_SIG_MAGIC_LEN);
	put_u32le(out + 8, VERITY_SIG_FORMAT);
	put_u32le(out + 12, VERITY_SIG_ALG_RSA_PSS_SHA256);
	put_u64le(out + 16, version);
	put_u64le(out + 24, img->g.data_size);
	put_u64le(out + 32, img->g.end);
	memcpy(out + 40, root, VERITY_DIGEST_SIZE);
	memcpy(out + 72, id, VERITY_DIGEST_SIZE);
}

int verity_sig_sign(const struct verity_signer *s, const struct verity_image *img,
		    const uint8_t root[VERITY_DIGEST_SIZE], uint64_t version,
		    uint8_t out[VERITY_SIG_BLOCK_SIZE], struct diag *d)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t len = VERITY_SIG_MAX;
	int r;

	if (!c)
		return -ENOMEM;
	memset(out, 0, VERITY_SIG_BLOCK_SIZE);
	statement_write(img, root, version, s->id, out);
	r = pss_setup(c, s->pkey, true);
	if (r == 0 &&
	    EVP_DigestSign(c, out + VERITY_SIG_OFFSET, &len, out, VERITY_SIG_STATEMENT_SIZE) != 1) {
		ERR_clear_error();
		r = -EIO;
	}
	EVP_MD_CTX_free(c);
	if (r < 0)
		return diag_set(d, r, "RSA-PSS signing failed");
	out[VERITY_SIG_STATEMENT_SIZE] = (uint8_t)len;
	out[VERITY_SIG_STATEMENT_SIZE + 1] = (uint8_t)(len >> 8);
	return 0;
}

static int check_layout(const struct verity_sig *sig, const struct verity_image *img,
			struct diag *d)
{
	if (!img->has_signature || sig->data_size != img->g.data_size ||
	    sig->sealed_size != img->g.end)
		return diag_set(d, -EBADMSG,
				"the signature is for an image of %" PRIu64
				" data bytes sealed at %" PRIu64 " bytes, this one has %" PRIu64
				" and %" PRIu64,
				sig->data_size, sig->sealed_size, img->g.data_size, img->g.end);
	return 0;
}

static int check_signature(const struct verity_sig *sig, const struct verity_pubkey *k,
			   struct diag *d)
{
	EVP_MD_CTX *c;
	int r, ok;

	if ((int)sig->sig_len != EVP_PKEY_get_size(k->pkey))
		return diag_set(d, -EBADMSG,
				"the signature has %u bytes, the publisher key signs with %d",
				sig->sig_len, EVP_PKEY_get_size(k->pkey));
	c = EVP_MD_CTX_new();
	if (!c)
		return -ENOMEM;
	r = pss_setup(c, k->pkey, false);
	ok = r == 0 ? EVP_DigestVerify(c, sig->sig, sig->sig_len, sig->statement,
				       sizeof(sig->statement)) :
		      0;
	ERR_clear_error();
	EVP_MD_CTX_free(c);
	if (r < 0)
		return r;
	if (ok != 1)
		return diag_set(d, -EBADMSG,
				"the publisher signature does not verify (the signature block "
				"was modified)");
	return 0;
}

int verity_sig_verify(const struct verity_sig *sig, const struct verity_pubkey *k,
		      const struct verity_image *img, uint64_t min_version, struct diag *d)
{
	char want[65], got[65];
	int r;

	r = check_layout(sig, img, d);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(sig->key_id, k->id, VERITY_DIGEST_SIZE) != 0) {
		hex_encode(sig->key_id, VERITY_DIGEST_SIZE, got);
		hex_encode(k->id, VERITY_DIGEST_SIZE, want);
		return diag_set(d, -EKEYREJECTED,
				"the image is signed by another key (key id %.16s..., the "
				"publisher key is %.16s...)",
				got, want);
	}
	r = check_signature(sig, k, d);
	if (r < 0)
		return r;
	if (sig->version < min_version)
		return diag_set(d, -ESTALE,
				"the image is seal version %" PRIu64 ", below the minimum %" PRIu64
				" (an older image)",
				sig->version, min_version);
	return 0;
}

int verity_signed_root(struct bdev *dev, const struct verity_image *img,
		       const struct verity_pubkey *k, uint64_t min_version,
		       uint8_t root[VERITY_DIGEST_SIZE], uint64_t *ret_version, struct diag *d)
{
	uint8_t block[VERITY_SIG_BLOCK_SIZE];
	struct verity_sig sig;
	int r;

	if (!img->has_signature)
		return diag_set(d, -ENOKEY, "the image has no publisher signature block");
	r = bdev_read(dev, block, sizeof(block), img->g.end);
	if (r < 0)
		return diag_set(d, r, "reading the signature block: %m");
	r = verity_sig_parse(block, sizeof(block), &sig, d);
	r = r ?: verity_sig_verify(&sig, k, img, min_version, d);
	if (r < 0)
		return r;
	memcpy(root, sig.root_hash, VERITY_DIGEST_SIZE);
	if (ret_version)
		*ret_version = sig.version;
	return 0;
}

/* ---- image sign ---- */

static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* The root hash the file's own tree has, checked whole. */
static int own_root(struct bdev *dev, const struct verity_image *img,
		    uint8_t root[VERITY_DIGEST_SIZE], struct diag *d)
{
	uint8_t top[VERITY_BLOCK_SIZE];
	int r;

	r = bdev_read(dev, top, sizeof(top), img->g.tree_offset);
	r = r ?: verity_hash(&img->sb, top, sizeof(top), root);
	if (r < 0)
		return diag_set(d, r, "reading the top hash block: %m");
	return verity_check(dev, img, root, NULL, d);
}

int verity_sign_file(const char *path, const struct verity_signer *s, uint64_t version,
		     uint8_t root[VERITY_DIGEST_SIZE], struct diag *d)
{
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t block[VERITY_SIG_BLOCK_SIZE];
	struct verity_image img;
	int r;

	r = bdev_file_open(path, false, &dev);
	if (r < 0)
		return diag_set(d, r, "cannot open %s: %m", path);
	r = verity_locate(dev, &img, d);
	if (r == -ENODATA)
		return diag_set(d, r, "%s is not sealed (run `sealmount image seal` first)", path);
	r = r ?: own_root(dev, &img, root, d);
	r = r ?: verity_sig_sign(s, &img, root, version, block, d);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return diag_set(d, -errno, "cannot open %s for writing: %m", path);
	r = pwrite_full(fd, block, sizeof(block), img.g.end);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		return diag_set(d, r, "writing the signature block to %s: %m", path);
	return 0;
}
