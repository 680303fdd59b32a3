/* SPDX-License-Identifier: MIT */
/* Target: luks2_hdr_parse() (src/volume/luks2_hdr.c, luks2_json.c): the LUKS2 binary header
 * copies and the JSON allowlist, on hostile bytes.
 *
 * Two modes, chosen by the first byte:
 *   'R' + bytes  the rest is the device's first bytes as they are (binary header fuzzing: magic,
 *                sizes, offsets, text fields; checksums will mostly fail, which is the point);
 *   anything else: the input is the JSON area. The harness wraps it in two valid binary
 *                headers (hdr_size 16 KiB) and fixes up both SHA-256 checksums, as docs/conventions.md (Tests) asks
 *                says, so the fuzzer gets past "hdr.checksum" into every JSON rule.
 * Seed corpus: tests/fuzz/corpus-luks2-hdr/ (the JSON of the real and evil fixtures in
 * tests/data, extracted with `tests/helpers/luks2_mutate.py --dump`).
 * Build: clang -fsanitize=fuzzer,address,undefined with volume_lib + common_lib.
 */
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/buf.h"
#include "sealmount/log.h"
#include "sealmount/luks2.h"

#define HDR 0x4000u
#define DEV_SIZE (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bin_header(uint8_t *c, uint64_t off)
{
	static const char uuid[] = "0b1c6a0e-8a4e-4d43-9d8c-2b1f0a6c1d2e";

	memcpy(c, off ? "SKUL\xba\xbe" : "LUKS\xba\xbe", 6);
	put_u16be(c + 6, 2);
	put_u64be(c + 8, HDR);
	put_u64be(c + 16, 1);
	memcpy(c + 72, "sha256", 6);
	memcpy(c + 168, uuid, sizeof(uuid) - 1);
	put_u64be(c + 256, off);
}

static void fix_csum(uint8_t *c)
{
	memset(c + 448, 0, 64);
	(void)EVP_Digest(c, HDR, c + 448, NULL, EVP_sha256(), NULL);
}

static void check(const uint8_t *img, size_t len)
{
	struct luks2_policy p;
	struct luks2_verdict v;
	struct luks2_hdr *h = NULL;

	luks2_policy_init(&p);
	p.require_integrity = false;
	if (luks2_hdr_parse(img, len, DEV_SIZE, &p, &h, &v) == 0) {
		/* Accepted headers must satisfy what the allowlist promises. */
		if (!h->segment.cipher || h->n_keyslots == 0 || h->raw_len != 2 * h->hdr_size ||
		    h->segment.offset + h->segment.size > DEV_SIZE)
			__builtin_trap();
	} else if (!v.rule || !v.rule[0]) {
		__builtin_trap(); /* every refusal names a rule */
	}
	luks2_hdr_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img;
	size_t n;

	log_set_level(LOG_LVL_ERROR);
	if (size > 0 && data[0] == 'R') {
		img = malloc(size - 1 ? size - 1 : 1);
		if (!img)
			return 0;
		memcpy(img, data + 1, size - 1);
		check(img, size - 1);
		free(img);
		return 0;
	}
	img = calloc(2, HDR);
	if (!img)
		return 0;
	n = size < HDR - 4096 - 1 ? size : HDR - 4096 - 1;
	for (uint64_t off = 0; off <= HDR; off += HDR) {
		bin_header(img + off, off);
		memcpy(img + off + 4096, data, n);
		fix_csum(img + off);
	}
	check(img, 2 * HDR);
	free(img);
	return 0;
}
