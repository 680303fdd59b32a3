/* SPDX-License-Identifier: MIT */
/*
 * cmd_image_inspect.c - `sealmount image inspect IMAGE_OR_URL`: validate an image's LUKS2 header
 * against the allowlist (luks2.h) and show what it holds. Exit 0 only when the header passes;
 * otherwise exit 1 naming the rule that failed.
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
#include "cmd_image_seal.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/luks2.h"
#include "sealmount/pipeline.h"

struct inspect_args {
	const char *image;
	const char *key_file;
	const char *export_path;
	bool json;
	struct luks2_policy policy;
	struct image_verity_args verity;
};

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

static void print_text(const char *image, const struct luks2_hdr *h, const struct image_verity *vs)
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
	image_verity_print(vs);
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

static int print_json(const char *image, const struct luks2_hdr *h, const struct luks2_verdict *v,
		      const struct image_verity *vs)
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
	if (!o || image_verity_json(vs, o) < 0 || json_dumpf(o, stdout, JSON_INDENT(2)) < 0 ||
	    puts("") < 0)
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
	/* Freed in reverse: the header, the verity layer (and the source it may own), then the
	 * source's credentials. */
	_cleanup_(pl_stack_close) struct pl_stack st = { 0 };
	_cleanup_(image_verity_done) struct image_verity vs = { 0 };
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	struct luks2_verdict v;
	struct bdev *dev;
	int r;

	r = image_open_source(a->image, a->key_file, &st);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	/* A sealed image: the data area, through the verity layer when a root hash is known. */
	if (image_verity_prepare(&st.top, a->image, &a->verity, true, false, &vs) < 0)
		return CLI_EXIT_FAILURE;
	dev = st.top;
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
		if (print_json(a->image, h, &v, &vs) < 0)
			return CLI_EXIT_FAILURE;
	} else if (h) {
		print_text(a->image, h, &vs);
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
		IMAGE_VERITY_OPTIONS,
		{},
	};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			(void)cli_help(&cmd_image_inspect);
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
			r = image_verity_opt(c, optarg, "image inspect", &a->verity);
			if (r == 0)
				break;
			return r > 1 ? r : cli_bad_option("image inspect", c, argv);
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

	luks2_policy_init(&a.policy);
	a.policy.require_integrity = false; /* inspect shows Microsoft-style images too */
	r = parse_inspect(argc, argv, &a);
	if (r < 0)
		return CLI_EXIT_OK; /* --help */
	if (r > 0)
		return r;
	return inspect(&a);
}

const struct cli_command cmd_image_inspect = {
	.name = "inspect",
	.summary = "Validate an image's LUKS2 header and show what it holds",
	.usage =
		"Usage: sealmount image inspect IMAGE_OR_URL [--json] [--require-integrity]\n"
		"                               [--pin-uuid UUID] [--pin-sha256 HEX]\n"
		"                               [--account-key-file FILE] [--export-header FILE]\n"
		"                               [--root-hash HEX | --publisher-key KEY\n"
		"                                [--min-version N]]\n"
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
		"  --root-hash HEX        a sealed image: check its whole dm-verity tree against HEX\n"
		"                         (exit 1 naming the first bad block); the header is read\n"
		"                         through the check\n"
		"  --publisher-key KEY    a signed image: verify its signature (PEM or JWK) and check\n"
		"                         the tree against the signed root hash\n"
		"  --min-version N        refuse a signed seal version below N\n"
		"\n"
		"Exit 0 when the header passes, 1 naming the rule that failed, 2 on usage errors.\n",
	.run = run,
};
