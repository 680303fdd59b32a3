/* SPDX-License-Identifier: MIT */
/* Target: verity_sig_parse() and verity_sig_verify() (src/volume/verity_sig.c): the publisher
 * signature block on hostile bytes.
 *
 * Input: the 4096-byte block (shorter inputs are zero padded, so the fuzzer also reaches the
 * length and padding checks). An accepted block is verified against a fixed image layout and a
 * key generated once (RSA-2048): a random statement must never verify.
 * Seed corpus: tests/fuzz/corpus-verity-sig/ (a block written by `sealmount image sign`).
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/verity_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct verity_pubkey *key;

static void load_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	char *pem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&pem, &len);

	if (!k || !f || PEM_write_PUBKEY(f, k) != 1 || fclose(f) != 0 ||
	    verity_pubkey_parse(pem, len, &key, NULL) != 0)
		__builtin_trap();
	EVP_PKEY_free(k);
	free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t block[VERITY_SIG_BLOCK_SIZE] = { 0 };
	struct verity_image img = { .has_signature = true };
	struct verity_sig sig;

	log_set_level(LOG_LVL_ERROR);
	if (!key)
		load_key();
	memcpy(block, data, size < sizeof(block) ? size : sizeof(block));
	if (verity_sig_parse(block, sizeof(block), &sig, NULL) != 0)
		return 0;
	if (sig.sig_len < 256 || sig.sig_len > VERITY_SIG_MAX)
		__builtin_trap();
	if (verity_geometry_init(sig.data_size / 4096 >= 2 ? sig.data_size / 4096 : 2, &img.g) != 0)
		return 0;
	if (verity_sig_verify(&sig, key, &img, 0, NULL) == 0)
		__builtin_trap(); /* signed by a key made a moment ago: impossible */
	return 0;
}
