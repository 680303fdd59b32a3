/* SPDX-License-Identifier: MIT */
/*
 * units.h - sizes as a user types them on the command line.
 *
 * A size is a decimal number of bytes, optionally followed by one unit: K, M, G or T, with or
 * without "iB", in any case ("16M", "1g", "2GiB", "512kib", "4096"). Units are powers of 1024.
 * Nothing else is accepted: no sign, no fraction, no spaces, no "B"/"KB"/"GB" (ambiguous between
 * 1000 and 1024), no empty string.
 */
#pragma once

#include <stdint.h>

#include "sealmount/macros.h"

/* What units_parse_size() accepts, for help texts and error messages. */
#define UNITS_SIZE_FORMATS                                                                         \
	"bytes, or a number with K, M, G or T (powers of 1024; 'iB' optional, any case: 16M, "     \
	"1g, 2GiB)"

/* Parse s into bytes. -EINVAL for anything but the forms above, -ERANGE when the value does not
 * fit in 64 bits. *ret is written only on success. */
_must_check_ int units_parse_size(const char *s, uint64_t *ret) _nonnull_(1, 2);
