/* SPDX-License-Identifier: MIT */
/* dmi_internal.h - shared by dmi.c (superblock, geometry) and dmi_journal.c. Not installed. */
#pragma once

#include <stdint.h>
#include <string.h>

#include "sealmount/dmi.h"

static inline void dmi_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t dmi_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint32_t dmi_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
