/* SPDX-License-Identifier: MIT */
/* diag.c - failure details handed up to the coordinator (diag.h). */
#define _GNU_SOURCE
#include "sealmount/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/log.h"

const char *diag_or_strerror(const struct diag *d, int err)
{
	const char *e;

	if (diag_is_set(d))
		return d->text;
	e = strerrordesc_np(err < 0 ? -err : err);
	return e ? e : "Unknown error";
}

void diag_clear(struct diag *d)
{
	if (d)
		*d = (struct diag){ 0 };
}

int diag_set(struct diag *d, int err, const char *fmt, ...)
{
	char msg[DIAG_MAX];
	va_list ap;

	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), err, fmt, ap);
	va_end(ap);
	log_debug("%s", msg);
	if (d && !d->text[0]) {
		memcpy(d->text, msg, sizeof(d->text));
		d->err = err;
	}
	return err;
}

void diag_set_code(struct diag *d, const char *code)
{
	size_t n = 0;

	if (!d || !code || d->code[0])
		return;
	/* The leading run of letters and digits: a code has nothing else, and whatever follows
	 * (escape sequences, padding from a hostile server) is not part of it. */
	for (; n + 1 < sizeof(d->code); code++, n++) {
		if (!((*code >= 'A' && *code <= 'Z') || (*code >= 'a' && *code <= 'z') ||
		      (*code >= '0' && *code <= '9')))
			break;
		d->code[n] = *code;
	}
	d->code[n] = '\0';
}

static void vformat(char *dst, size_t len, const char *fmt, va_list ap)
{
	log_vformat(dst, len, 0, fmt, ap);
}

/* d->text = a + sep + b, truncated to fit. */
static void join(struct diag *d, const char *a, const char *sep, const char *b)
{
	char out[DIAG_MAX];
	size_t o = 0;

	for (const char *parts[] = { a, sep, b }, **p = parts; p < parts + 3; p++) {
		size_t n = strnlen(*p, sizeof(out) - 1 - o);

		memcpy(out + o, *p, n);
		o += n;
	}
	out[o] = '\0';
	memcpy(d->text, out, o + 1);
}

void diag_prefix(struct diag *d, const char *fmt, ...)
{
	char pre[DIAG_MAX], old[DIAG_MAX];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vformat(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, d->text, sizeof(old));
	join(d, pre, old[0] ? ": " : "", old);
}

void diag_append(struct diag *d, const char *fmt, ...)
{
	char more[DIAG_MAX], old[DIAG_MAX];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vformat(more, sizeof(more), fmt, ap);
	va_end(ap);
	memcpy(old, d->text, sizeof(old));
	join(d, old, old[0] ? "; " : "", more);
}
