/* SPDX-License-Identifier: MIT */
/*
 * units.c - sizes as a user types them (units.h).
 */
#include <errno.h>
#include <strings.h>

#include "sealmount/units.h"

/* The unit after the number: its shift, or -EINVAL. "" is bytes. */
static int unit_shift(const char *u)
{
	static const char letters[] = "KMGT";

	if (*u == '\0')
		return 0;
	for (unsigned i = 0; letters[i]; i++) {
		if ((u[0] & ~0x20) != letters[i])
			continue;
		if (u[1] == '\0' || strcasecmp(u + 1, "iB") == 0)
			return (int)(10 * (i + 1));
		return -EINVAL;
	}
	return -EINVAL;
}

int units_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;
	int shift;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++)
		if (MUL_OVERFLOW(v, 10, &v) || ADD_OVERFLOW(v, (uint64_t)(*p - '0'), &v))
			return -ERANGE;
	shift = unit_shift(p);
	if (shift < 0)
		return shift;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = v << shift;
	return 0;
}
