/* SPDX-License-Identifier: MIT */
/*
 * luks_af.h - LUKS anti-forensic split/merge (cryptsetup lib/luks1/af.c; docs/luks2.md, Keyslot
 * unlock step 4; docs/dm-integrity.md, Creating images step 3) and the keyslot-area cipher:
 * aes-xts-plain64 in 512-byte units, IV = unit index from the area start (docs/luks2.md, Keyslot
 * unlock step 3). Internal to the volume module; the image writer uses luks_af_split() +
 * luks_area_encrypt(), the unlock path luks_area_decrypt() + luks_af_merge().
 *
 * The AF material is as sensitive as the key it hides: callers keep split/merge buffers in
 * secret memory (secret.h). Nothing here allocates key material outside the caller's buffers
 * except short-lived OpenSSL contexts, which are freed (and cleansed by OpenSSL).
 *
 * Errors: -EINVAL (sizes), -ENOMEM, -EIO (an OpenSSL failure; the error queue is cleared).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"

#define LUKS_AF_STRIPES 4000u
#define LUKS_AREA_UNIT 512u

/* Bytes of AF material for a key_len-byte key: key_len * 4000. */
size_t luks_af_size(size_t key_len);
/* The AF material rounded up to whole 512-byte units: what the keyslot area holds and what is
 * encrypted (256000 for 64 bytes, 384000 for 96). */
size_t luks_af_area_len(size_t key_len);

/* Split key (key_len 1..LUKS2_VK_MAX bytes) into out (luks_af_size(key_len) bytes): stripes
 * 0..3998 random (RAND_bytes), the last the diffused XOR of them XOR key. */
_must_check_ int luks_af_split(const uint8_t *key, size_t key_len, uint8_t *out) _nonnull_(1, 3);
/* Merge src (luks_af_size(key_len) bytes) into key (key_len bytes). */
_must_check_ int luks_af_merge(const uint8_t *src, size_t key_len, uint8_t *key) _nonnull_(1, 3);

/* aes-xts-plain64 over buf (len a multiple of 512, in place), unit i at byte i*512 with IV
 * le64(first_unit + i) || 0^8. key is 32 (AES-128-XTS) or 64 (AES-256-XTS) bytes. */
_must_check_ int luks_area_encrypt(const uint8_t *key, size_t key_len, uint64_t first_unit,
				   uint8_t *buf, size_t len) _nonnull_(1, 4);
_must_check_ int luks_area_decrypt(const uint8_t *key, size_t key_len, uint64_t first_unit,
				   uint8_t *buf, size_t len) _nonnull_(1, 4);
