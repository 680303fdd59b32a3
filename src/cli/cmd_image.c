/* SPDX-License-Identifier: MIT */
/*
 * cmd_image.c - `sealmount image inspect IMAGE_OR_URL`: validate an image's LUKS2 header against
 * the allowlist (luks2.h) and show what it holds. Exit 0 only when the header passes; otherwise
 * exit 1 naming the rule that failed. Later subcommands (create, decrypt, upload) go in the
 * same table.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sealmount/blob.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/luks2.h"

struct inspect_args {
	const char *image;
	const char *key_file;
	const char *export_path;
	bool json;
	struct luks2_policy policy;
};

static bool is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

int image_open_lower(const char *image, const char *account_key_file, struct bdev **ret)
{
	_cleanup_(secret_freep) struct secret *key = NULL;
	struct blob_options o = { .url = image };
	int r;

	if (!is_url(image)) {
		const char *path = strncmp(image, "file://", 7) == 0 ? image + 7 : image;

		r = bdev_file_open(path, false, ret);
		if (r < 0)
			return log_error_errno(r, "Cannot open image %s: %m", path);
		return 0;
	}
	if (account_key_file) {
		r = blob_account_key_load(account_key_file, &key);
		if (r < 0)
			return log_error_errno(r, "Cannot read the account key from %s: %m",
					       account_key_file);
		o.auth = BLOB_AUTH_SHARED_KEY;
		o.account_key = key;
	}
	r = blob_open(&o, ret);
	if (r < 0)
		return log_error_errno(r, "Cannot open blob %s: %m", image);
	return 0;
}

static const char *integrity_str(const struct luks2_segment *s)
{
	return s->integrity_name ? s->integrity_name : "none";
}

static void print_kdf(const struct luks2_kdf *k)
{
	if (k->type == LUKS2_KDF_PBKDF2)
		printf("pbkdf2-sha256, %" PRIu32 " iterations", k->iterations);
	else
		printf("%s, time %" PRIu32 ", memory %" PRIu32 " KiB, %" PRIu32 " cpus",
		       luks2_kdf_name(k->type), k->time, k->memory_kib, k->cpus);
}

static void print_text(const char *image, const struct luks2_hdr *h)
{
	const struct luks2_segment *s = &h->segment;
	char hex[65];

	hex_encode(h->sha256, sizeof(h->sha256), hex);
	printf("image:         %s\nheader:        ok (LUKS2, seqid %" PRIu64 ", %" PRIu64
	       " bytes per copy)\n",
	       image, h->seqid, h->hdr_size);
	printf("uuid:          %s\nlabel:         %s\nheader-sha256: %s\n", h->uuid,
	       h->label[0] ? h->label : "(none)", hex);
	printf("segment %u:     %s, integrity %s, %" PRIu32 "-byte sectors, key %" PRIu32 " bits\n",
	       s->id, s->cipher, integrity_str(s), s->sector_size, s->key_size * 8);
	printf("data:          offset %" PRIu64 ", %" PRIu64 " bytes%s\n", s->offset, s->size,
	       s->dynamic ? " (dynamic)" : "");
	for (unsigned i = 0; i < h->n_keyslots; i++) {
		const struct luks2_keyslot *k = &h->keyslots[i];

		printf("keyslot %u:     ", k->id);
		print_kdf(&k->kdf);
		printf("; area aes-xts-plain64/%" PRIu32 " bits at %" PRIu64 "\n",
		       k->area_key_size * 8, k->area_offset);
	}
	printf("digest %u:      pbkdf2-sha256, %" PRIu32 " iterations\n", h->digest.id,
	       h->digest.iterations);
	printf("journal:       %s\n", h->no_journal ? "off (no-journal flag)" : "on");
}

static json_t *keyslot_json(const struct luks2_keyslot *k)
{
	const struct luks2_kdf *d = &k->kdf;

	if (d->type == LUKS2_KDF_PBKDF2)
		return json_pack("{s:I, s:s, s:I, s:I, s:I}", "id", (json_int_t)k->id, "kdf",
				 "pbkdf2", "iterations", (json_int_t)d->iterations, "area_offset",
				 (json_int_t)k->area_offset, "area_key_bits",
				 (json_int_t)k->area_key_size * 8);
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "id", (json_int_t)k->id, "kdf",
			 luks2_kdf_name(d->type), "time", (json_int_t)d->time, "memory_kib",
			 (json_int_t)d->memory_kib, "cpus", (json_int_t)d->cpus, "area_offset",
			 (json_int_t)k->area_offset, "area_key_bits",
			 (json_int_t)k->area_key_size * 8);
}

static int print_json(const char *image, const struct luks2_hdr *h, const struct luks2_verdict *v)
{
	_cleanup_json_ json_t *o = NULL;
	json_t *slots;
	char hex[65];

	if (!h) {
		o = json_pack("{s:s, s:b, s:s, s:s}", "image", image, "ok", 0, "rule", v->rule,
			      "detail", v->detail);
		return o && json_dumpf(o, stdout, JSON_INDENT(2)) == 0 && puts("") >= 0 ? 0 :
											  -ENOMEM;
	}
	hex_encode(h->sha256, sizeof(h->sha256), hex);
	slots = json_array();
	for (unsigned i = 0; slots && i < h->n_keyslots; i++)
		if (json_array_append_new(slots, keyslot_json(&h->keyslots[i])) < 0)
			break;
	o = json_pack("{s:s, s:b, s:s, s:s, s:s, s:I, s:s, s:s*, s:I, s:I, s:I, s:b, s:I, s:b, "
		      "s:o}",
		      "image", image, "ok", 1, "uuid", h->uuid, "label", h->label, "header_sha256",
		      hex, "seqid", (json_int_t)h->seqid, "cipher", h->segment.cipher, "integrity",
		      integrity_str(&h->segment), "sector_size", (json_int_t)h->segment.sector_size,
		      "data_offset", (json_int_t)h->segment.offset, "data_size",
		      (json_int_t)h->segment.size, "dynamic", h->segment.dynamic, "key_bits",
		      (json_int_t)h->segment.key_size * 8, "no_journal", h->no_journal, "keyslots",
		      slots);
	if (!o || json_dumpf(o, stdout, JSON_INDENT(2)) < 0 || puts("") < 0)
		return -ENOMEM;
	return 0;
}

/* Write the validated header (both copies + keyslots area) as a detached header file. */
static int export_header(struct luks2_hdr *h, struct bdev *dev, const char *path)
{
	_cleanup_close_ int fd = -1;
	size_t off = 0;
	int r;

	r = luks2_hdr_load_keyslots(h, dev);
	if (r < 0)
		return log_error_errno(r, "Cannot read the keyslots area: %m");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s: %m", path);
	while (off < h->raw_len) {
		ssize_t n = write(fd, h->raw + off, h->raw_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return log_error_errno(-errno, "Cannot write %s: %m", path);
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		return log_error_errno(-errno, "Cannot write %s: %m", path);
	return 0;
}

static int inspect(const struct inspect_args *a)
{
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	struct luks2_verdict v;
	int r;

	r = image_open_lower(a->image, a->key_file, &dev);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	r = luks2_hdr_load(dev, &a->policy, &h, &v);
	/* Without a rule the error is the device's own (a blob range that failed verification is
	 * -EBADMSG too). */
	if (r < 0 && ((r != -EBADMSG && r != -EPERM) || !v.rule || !v.rule[0])) {
		log_error_errno(r, "Cannot read the header of %s: %m", a->image);
		return CLI_EXIT_FAILURE;
	}
	if (r < 0)
		log_error("LUKS2 header of %s refused by rule %s: %s", a->image, v.rule, v.detail);
	else if (h->segment.integrity == LUKS2_INTEGRITY_NONE)
		log_warn(
			"%s has no integrity protection (Microsoft-style image): a modified sector "
			"decrypts to garbage instead of failing with EIO",
			a->image);
	if (a->json) {
		if (print_json(a->image, h, &v) < 0)
			return CLI_EXIT_FAILURE;
	} else if (h) {
		print_text(a->image, h);
	}
	if (r < 0)
		return CLI_EXIT_FAILURE;
	if (a->export_path && export_header(h, dev, a->export_path) < 0)
		return CLI_EXIT_FAILURE;
	return CLI_EXIT_OK;
}

static int parse_pin_sha256(const char *s, struct luks2_policy *p)
{
	if (strlen(s) != 64 || hex_decode_fixed(s, 64, p->pin_sha256, 32) < 0)
		return -EINVAL;
	p->pin_sha256_set = true;
	return 0;
}

static int parse_inspect(int argc, char **argv, struct inspect_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "require-integrity", no_argument, NULL, 'i' },
		{ "pin-uuid", required_argument, NULL, 'u' },
		{ "pin-sha256", required_argument, NULL, 's' },
		{ "account-key-file", required_argument, NULL, 'k' },
		{ "export-header", required_argument, NULL, 'x' },
		{},
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			(void)cli_help(&cmd_image);
			return -1; /* done: exit 0 */
		case 'j':
			a->json = true;
			break;
		case 'i':
			a->policy.require_integrity = true;
			break;
		case 'u':
			if (strlen(optarg) != LUKS2_UUID_LEN)
				return cli_usage_error("image inspect", "invalid --pin-uuid '%s'",
						       optarg);
			memcpy(a->policy.pin_uuid, optarg, LUKS2_UUID_LEN + 1);
			a->policy.pin_uuid_set = true;
			break;
		case 's':
			if (parse_pin_sha256(optarg, &a->policy) < 0)
				return cli_usage_error("image inspect",
						       "--pin-sha256 needs 64 hex digits");
			break;
		case 'k':
			a->key_file = optarg;
			break;
		case 'x':
			a->export_path = optarg;
			break;
		default:
			return cli_bad_option("image inspect", c, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("image inspect", "expected exactly one IMAGE_OR_URL");
	a->image = argv[optind];
	return 0;
}

static int run(int argc, char **argv)
{
	struct inspect_args a = { 0 };
	int r;

	if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
		return cli_help(&cmd_image);
	if (argc < 2)
		return cli_usage_error("image", "missing subcommand (inspect)");
	if (streq(argv[1], "create"))
		return image_create_main(argc - 1, argv + 1);
	if (streq(argv[1], "upload"))
		return image_upload_main(argc - 1, argv + 1);
	if (streq(argv[1], "decrypt"))
		return image_decrypt_main(argc - 1, argv + 1);
	if (!streq(argv[1], "inspect"))
		return cli_usage_error("image", "unknown subcommand '%s'", argv[1]);
	luks2_policy_init(&a.policy);
	a.policy.require_integrity = false; /* inspect shows Microsoft-style images too */
	r = parse_inspect(argc - 1, argv + 1, &a);
	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	return inspect(&a);
}

const struct cli_command cmd_image = {
	.name = "image",
	.summary = "Create, inspect, decrypt or upload an encrypted LUKS2 image",
	.usage =
		"Usage: sealmount image inspect IMAGE_OR_URL [--json] [--require-integrity]\n"
		"                               [--pin-uuid UUID] [--pin-sha256 HEX]\n"
		"                               [--account-key-file FILE] [--export-header FILE]\n"
		"\n"
		"Read both LUKS2 header copies of IMAGE_OR_URL (a local file, file://PATH, or a\n"
		"blob URL) and check them against sealmount's allowlist before any key is used:\n"
		"checksums, agreeing copies, aes-xts-plain64 (+ hmac(sha256)) or aes-gcm-random +\n"
		"aead, pbkdf2/argon2 keyslots within bounds, one segment, no tokens, no\n"
		"reencryption, no unknown fields, never cipher_null.\n"
		"\n"
		"  --json                 print the result as JSON on stdout\n"
		"  --require-integrity    refuse images without dm-integrity (as mounts do)\n"
		"  --pin-uuid UUID        refuse any other header UUID\n"
		"  --pin-sha256 HEX       refuse any other header digest (the header-sha256 shown:\n"
		"                         SHA-256 of both header copies)\n"
		"  --account-key-file F   SharedKey account key for a blob URL\n"
		"  --export-header FILE   also write the validated header (both copies and the\n"
		"                         keyslots area) to a new FILE, for cryptsetup --header\n"
		"\n"
		"Exit 0 when the header passes, 1 naming the rule that failed, 2 on usage errors.\n"
		"\n"
		"Usage: sealmount image create --from-dir DIR --key-file FILE [--new-key] -o IMAGE\n"
		"                              [--size SIZE] [--integrity hmac-sha256|aead|none]\n"
		"                              [--sector-size 512|4096] [--pbkdf pbkdf2|argon2id]\n"
		"                              [--pbkdf-iterations N] [--no-journal]\n"
		"\n"
		"Build an ext4 filesystem holding DIR (mke2fs -d; SIZE defaults to DIR's size plus\n"
		"room) and write it as a new LUKS2 image (mode 0600), without root or device-mapper:\n"
		"aes-xts-plain64 + hmac(sha256) at 4096-byte sectors by default, every sector tagged.\n"
		"The passphrase is the whole key FILE; --new-key creates a missing FILE with 32\n"
		"random bytes (mode 0600). A plaintext copy of the filesystem exists, unlinked, in\n"
		"IMAGE's directory while the image is written.\n"
		"  --no-journal           store the no-journal flag (dm-integrity direct mode)\n"
		"  --pbkdf-iterations N   PBKDF2 iterations (default 100000)\n"
		"\n"
		"Usage: sealmount image upload IMAGE URL [--page|--block] [--parallel N] [--resume]\n"
		"                              [--account-key-file F | --bearer-token-file F |\n"
		"                               --imds[=ENDPOINT] [--client-id ID]] [--ca-file F]\n"
		"\n"
		"Upload IMAGE as a block blob (default; Put Block + Put Block List: for read-only\n"
		"mounts, which many readers share at the account's throughput) or, with --page, a\n"
		"page blob (Put Page, zero chunks skipped: needed to mount read-write; Azure serves\n"
		"one page blob at up to 60 MiB/s), N requests at a time (default 4). The blob must not\n"
		"exist unless --resume, which sends only what differs from an earlier upload (page\n"
		"blobs: written chunks are read back and compared; block blobs: block ids carry the\n"
		"MD5 of their content). Credentials as for `sealmount blob`; a SAS goes in the URL.\n"
		"\n"
		"Usage: sealmount image decrypt IMAGE --key-file FILE -o OUT [--require-integrity]\n"
		"                               [--account-key-file F]\n"
		"\n"
		"Unlock IMAGE (file or blob URL) with the key FILE's bytes as the passphrase and\n"
		"write its whole plaintext device, every dm-integrity tag verified, to the new file\n"
		"OUT (- for stdout). A tag mismatch stops it with exit 1 naming the sector.\n",
	.run = run,
};
