/* SPDX-License-Identifier: MIT */
/*
 * cmd_image_seal.c - `sealmount image seal IMAGE` (append a dm-verity hash area in place, print
 * the root hash), `sealmount image sign IMAGE --key KEY.pem --version N` (add the publisher
 * signature block), and the view of a sealed image that `image inspect` and `image decrypt`
 * read through (cmd_image_seal.h, docs/verity.md).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_image_seal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

static void print_root(const uint8_t root[VERITY_DIGEST_SIZE])
{
	char hex[2 * VERITY_DIGEST_SIZE + 1];

	hex_encode(root, VERITY_DIGEST_SIZE, hex);
	printf("root-hash: %s\n", hex);
	(void)fflush(stdout);
}

/* ---- image seal ---- */

struct seal_args {
	const char *image;
	uint8_t salt[VERITY_SALT_MAX];
	uint8_t uuid[16];
	struct verity_seal_options o;
};

static int parse_uuid(const char *s, uint8_t out[16])
{
	char hex[33];
	size_t n = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		hex[n++] = s[i];
	}
	hex[n] = '\0';
	return hex_decode_fixed(hex, 32, out, 16) < 0 ? -EINVAL : 0;
}

static int parse_seal(int argc, char **argv, struct seal_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "salt", required_argument, NULL, 's' },
		{ "uuid", required_argument, NULL, 'u' },
		{},
	};
	size_t len;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			(void)cli_help(&cmd_image_seal);
			return -1;
		case 's':
			len = strlen(optarg);
			if (len % 2 || len / 2 > VERITY_SALT_MAX ||
			    hex_decode_fixed(optarg, len, a->salt, len / 2) < 0)
				return cli_usage_error("image seal",
						       "--salt is up to 256 bytes in hex");
			a->o.salt = a->salt;
			a->o.salt_size = len / 2;
			break;
		case 'u':
			if (parse_uuid(optarg, a->uuid) < 0)
				return cli_usage_error("image seal", "--uuid is a UUID");
			a->o.uuid = a->uuid;
			break;
		default:
			return cli_bad_option("image seal", c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("image seal", "expected exactly one IMAGE");
	a->image = argv[optind];
	return 0;
}

static int image_seal_main(int argc, char **argv)
{
	struct seal_args a = { 0 };
	uint8_t root[VERITY_DIGEST_SIZE];
	struct verity_image img;
	struct diag d = { 0 };
	int r;

	r = parse_seal(argc, argv, &a);
	if (r != 0)
		return r < 0 ? CLI_EXIT_OK : r;
	r = verity_seal_file(a.image, &a.o, root, &img, &d);
	if (r < 0) {
		log_error("Cannot seal %s: %s", a.image, diag_text(&d, "failed"));
		return CLI_EXIT_FAILURE;
	}
	log_info("Sealed %s: %" PRIu64 " data bytes, %" PRIu64 " hash blocks, %" PRIu64
		 " bytes in all",
		 a.image, img.g.data_size, img.g.hash_blocks, img.g.end);
	print_root(root);
	return CLI_EXIT_OK;
}

/* ---- image sign ---- */

static int parse_sign(int argc, char **argv, const char **image, const char **key,
		      uint64_t *version)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "key", required_argument, NULL, 'k' },
		{ "version", required_argument, NULL, 'V' },
		{},
	};
	bool have_version = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			(void)cli_help(&cmd_image_sign);
			return -1;
		case 'k':
			*key = optarg;
			break;
		case 'V':
			if (cli_parse_uint(optarg, UINT64_MAX, version) < 0)
				return cli_usage_error("image sign", "--version is a number");
			have_version = true;
			break;
		default:
			return cli_bad_option("image sign", c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("image sign", "expected exactly one IMAGE");
	if (!*key || !have_version)
		return cli_usage_error("image sign", "--key KEY.pem and --version N are required");
	*image = argv[optind];
	return 0;
}

static int image_sign_main(int argc, char **argv)
{
	_cleanup_(verity_signer_freep) struct verity_signer *s = NULL;
	const char *image = NULL, *key = NULL;
	uint8_t root[VERITY_DIGEST_SIZE];
	uint64_t version = 0;
	struct diag d = { 0 };
	int r;

	r = parse_sign(argc, argv, &image, &key, &version);
	if (r != 0)
		return r < 0 ? CLI_EXIT_OK : r;
	r = verity_signer_load(key, &s, &d);
	if (r == 0)
		r = verity_sign_file(image, s, version, root, &d);
	if (r < 0) {
		log_error("Cannot sign %s: %s", image, diag_text(&d, "failed"));
		return CLI_EXIT_FAILURE;
	}
	log_info("Signed %s as seal version %" PRIu64, image, version);
	print_root(root);
	printf("version: %" PRIu64 "\n", version);
	return CLI_EXIT_OK;
}

/* ---- the view for inspect and decrypt ---- */

int image_verity_opt(int c, const char *arg, const char *cmd, struct image_verity_args *a)
{
	uint8_t root[VERITY_DIGEST_SIZE];

	switch (c) {
	case IMAGE_VERITY_OPT_ROOT:
		if (verity_root_parse(arg, root) < 0)
			return cli_usage_error(cmd, "--root-hash needs 64 hex digits");
		a->root_hex = arg;
		return 0;
	case IMAGE_VERITY_OPT_KEY:
		a->publisher_key = arg;
		return 0;
	case IMAGE_VERITY_OPT_MIN:
		if (cli_parse_uint(arg, UINT64_MAX, &a->min_version) < 0)
			return cli_usage_error(cmd, "--min-version is a number");
		return 0;
	default:
		return 1;
	}
}

/* Parse the signature block, and verify it when a publisher key was given. */
static int read_signature(struct bdev *dev, const char *image, const struct image_verity_args *a,
			  struct image_verity *v)
{
	_cleanup_(verity_pubkey_freep) struct verity_pubkey *k = NULL;
	uint8_t block[VERITY_SIG_BLOCK_SIZE];
	struct diag d = { 0 };
	int r;

	if (!v->img.has_signature) {
		if (!a->publisher_key)
			return 0;
		log_error("%s has no publisher signature block (sign it with `sealmount image "
			  "sign`)",
			  image);
		return -ENOKEY;
	}
	r = bdev_read(dev, block, sizeof(block), v->img.g.end);
	if (r == 0)
		r = verity_sig_parse(block, sizeof(block), &v->sig, &d);
	if (r == 0)
		v->has_sig = true;
	if (a->publisher_key) {
		r = r ?: verity_pubkey_load(a->publisher_key, &k, &d);
		r = r ?: verity_sig_verify(&v->sig, k, &v->img, a->min_version, &d);
		if (r < 0)
			return log_error_errno(r, "The publisher signature of %s is refused: %s",
					       image, diag_or_strerror(&d, r));
		v->sig_verified = true;
		return 0;
	}
	if (r < 0)
		log_warn("%s: the signature block is unreadable: %s", image,
			 diag_or_strerror(&d, r));
	return 0;
}

/* The trusted root: --root-hash, the verified signature's, or both agreeing. */
static int choose_root(const char *image, const struct image_verity_args *a, struct image_verity *v)
{
	uint8_t given[VERITY_DIGEST_SIZE];

	if (a->root_hex && verity_root_parse(a->root_hex, given) < 0)
		return -EINVAL;
	if (a->root_hex && v->sig_verified &&
	    memcmp(given, v->sig.root_hash, VERITY_DIGEST_SIZE) != 0) {
		log_error("%s: --root-hash differs from the root hash the publisher signed", image);
		return -EBADMSG;
	}
	if (a->root_hex || v->sig_verified) {
		memcpy(v->root, a->root_hex ? given : v->sig.root_hash, VERITY_DIGEST_SIZE);
		v->root_known = true;
	}
	return 0;
}

/* A read-only view that borrows the verity layer kept in struct image_verity. */
static int borrow_read(void *state, void *buf, size_t len, uint64_t off)
{
	return bdev_read(state, buf, len, off);
}

static void borrow_close(void *state)
{
	(void)state;
}

static const struct bdev_ops borrow_ops = {
	.name = "verity-borrowed",
	.read = borrow_read,
	.close = borrow_close,
};

void image_verity_done(struct image_verity *v)
{
	bdev_free(v->layer);
	v->layer = NULL;
}

static int open_view(struct bdev **dev, const char *image, bool full_check, bool warn,
		     struct image_verity *v)
{
	struct bdev *view = NULL;
	struct diag d = { 0 };
	int r;

	if (!v->root_known) {
		if (warn)
			log_warn("%s is sealed, but no --root-hash or --publisher-key was given: "
				 "its seal is not checked",
				 image);
		r = verity_open_unverified(TAKE_PTR(*dev), &v->img, &view);
		*dev = view;
		return r < 0 ? log_error_errno(r, "%s: %m", image) : 0;
	}
	if (full_check) {
		r = verity_check(*dev, &v->img, v->root, NULL, &d);
		if (r < 0)
			return log_error_errno(r, "%s: %s", image, diag_or_strerror(&d, r));
		v->checked = true;
	}
	r = verity_open(TAKE_PTR(*dev), &v->img, v->root, NULL, &v->layer, &d);
	if (r < 0)
		return log_error_errno(r, "%s: %s", image, diag_or_strerror(&d, r));
	r = bdev_new(&borrow_ops, v->layer, bdev_size(v->layer), 1, false, dev);
	return r < 0 ? log_error_errno(r, "%s: %m", image) : 0;
}

int image_verity_prepare(struct bdev **dev, const char *image, const struct image_verity_args *a,
			 bool full_check, bool warn, struct image_verity *ret)
{
	bool wanted = a->root_hex || a->publisher_key;
	struct image_verity v = { .image = image };
	struct diag d = { 0 };
	int r;

	r = verity_locate(*dev, &v.img, &d);
	if (r == -ENODATA) {
		*ret = v;
		if (!wanted)
			return 0;
		log_error("%s is not sealed (no dm-verity hash area after the image): nothing "
			  "to check the root hash against",
			  image);
		return -ENODATA;
	}
	if (r < 0)
		return log_error_errno(r, "%s: %s", image, diag_or_strerror(&d, r));
	v.sealed = true;
	r = read_signature(*dev, image, a, &v);
	r = r ?: choose_root(image, a, &v);
	r = r ?: open_view(dev, image, full_check, warn, &v);
	*ret = v; /* also on failure: image_verity_done() releases what was opened */
	return r;
}

void image_verity_print(const struct image_verity *v)
{
	char salt[2 * VERITY_SALT_MAX + 1] = "", hex[65];

	if (!v->sealed)
		return;
	hex_encode(v->img.sb.salt, v->img.sb.salt_size, salt);
	printf("verity:        %" PRIu64 " data blocks, hash area at %" PRIu64 " (%" PRIu64
	       " hash blocks), salt %s\n",
	       v->img.g.data_blocks, v->img.g.hash_offset, v->img.g.hash_blocks,
	       salt[0] ? salt : "(none)");
	if (v->root_known) {
		hex_encode(v->root, VERITY_DIGEST_SIZE, hex);
		printf("root-hash:     %s (%s)\n", hex,
		       v->checked ? "every block verified" : "not checked whole");
	}
	if (v->has_sig) {
		hex_encode(v->sig.key_id, VERITY_DIGEST_SIZE, hex);
		printf("signature:     version %" PRIu64 ", key id %s, %s\n", v->sig.version, hex,
		       v->sig_verified ? "verified" : "not verified (no --publisher-key)");
	}
}

static json_t *sig_json(const struct image_verity *v)
{
	char id[65], root[65];

	hex_encode(v->sig.key_id, VERITY_DIGEST_SIZE, id);
	hex_encode(v->sig.root_hash, VERITY_DIGEST_SIZE, root);
	return json_pack("{s:I, s:s, s:s, s:b}", "version", (json_int_t)v->sig.version, "key_id",
			 id, "root_hash", root, "verified", v->sig_verified);
}

/* The superblock's UUID in its usual text form. */
static void uuid_str(const uint8_t u[16], char out[37])
{
	char hex[33];

	hex_encode(u, 16, hex);
	(void)snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
		       hex + 20);
}

int image_verity_json(const struct image_verity *v, json_t *o)
{
	char salt[2 * VERITY_SALT_MAX + 1] = "", hex[65], uuid[37];
	json_t *vj;

	if (!v->sealed)
		return 0;
	hex_encode(v->img.sb.salt, v->img.sb.salt_size, salt);
	uuid_str(v->img.sb.uuid, uuid);
	vj = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "salt", salt, "uuid", uuid,
		       "data_blocks", (json_int_t)v->img.g.data_blocks, "hash_offset",
		       (json_int_t)v->img.g.hash_offset, "hash_blocks",
		       (json_int_t)v->img.g.hash_blocks, "sealed_size", (json_int_t)v->img.g.end,
		       "checked", v->checked);
	if (!vj)
		return -ENOMEM;
	if (json_object_set_new(o, "verity", vj) < 0)
		return -ENOMEM;
	if (v->root_known) {
		hex_encode(v->root, VERITY_DIGEST_SIZE, hex);
		if (json_object_set_new(vj, "root_hash", json_string(hex)) < 0)
			return -ENOMEM;
	}
	if (v->has_sig && json_object_set_new(vj, "signature", sig_json(v)) < 0)
		return -ENOMEM;
	return 0;
}

bool image_verity_explain(const struct image_verity *v)
{
	struct verity_stats st;
	char why[256];

	if (!v->layer || verity_get_stats(v->layer, &st) < 0 || st.failures == 0)
		return false;
	verity_bad_describe(&st.first_bad, why, sizeof(why));
	log_error("%s: the seal does not verify: %s; the image was modified or damaged there",
		  v->image, why);
	return true;
}

const struct cli_command cmd_image_seal = {
	.name = "seal",
	.summary = "Seal an image in place: append its dm-verity tree, print the root hash",
	.usage =
		"Usage: sealmount image seal IMAGE [--salt HEX] [--uuid UUID]\n"
		"\n"
		"Seal IMAGE in place (rootless): append the dm-verity hash area exactly as\n"
		"`veritysetup format --hash-offset=<size of IMAGE>` writes it (sha256, 4096-byte\n"
		"blocks, random salt) and print `root-hash: HEX`. IMAGE's size must be a multiple\n"
		"of 4096. Pin that root hash where the storage owner cannot change it\n"
		"(docs/verity.md).\n",
	.run = image_seal_main,
};

const struct cli_command cmd_image_sign = {
	.name = "sign",
	.summary = "Sign a sealed image's root hash with a publisher key and a version",
	.usage =
		"Usage: sealmount image sign IMAGE --key KEY.pem --version N\n"
		"\n"
		"Add (or replace) a publisher signature block after the hash area of the sealed\n"
		"IMAGE: RSA-PSS (SHA-256) with the RSA private key KEY.pem over the root hash, the\n"
		"version N and the image size. The whole tree is checked first. Readers pin the\n"
		"public key and a minimum version instead of a root hash.\n",
	.run = image_sign_main,
};
