/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/codec.h"

#define LOG_LINE_MAX 4096

static _Atomic int log_level = LOG_LEVEL_DEFAULT;
static _Atomic bool log_json;
static _Atomic int log_fd = -1;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

enum log_level log_get_level(void)
{
	return log_level;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < ELEMENTSOF(level_names) ? level_names[lvl] : "?";
}

void log_set_json(bool json)
{
	log_json = json;
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

int log_level_parse(const char *s, enum log_level *ret_lvl)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} map[] = {
		{ "error", LOG_LVL_ERROR }, { "fatal", LOG_LVL_ERROR },	 { "panic", LOG_LVL_ERROR },
		{ "warn", LOG_LVL_WARN },   { "warning", LOG_LVL_WARN }, { "info", LOG_LVL_INFO },
		{ "debug", LOG_LVL_DEBUG }, { "trace", LOG_LVL_DEBUG },
	};

	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (strcasecmp(s, map[i].name) == 0) {
			*ret_lvl = map[i].lvl;
			return 0;
		}
	return -EINVAL;
}

/* Expand %m ourselves (so the errno we were handed is used, not the current one). */
static void expand_errno(char *dst, size_t dstlen, const char *fmt, int err)
{
	size_t o = 0;
	const char *msg = strerrordesc_np(err < 0 ? -err : err);

	if (!msg)
		msg = "Unknown error";
	for (const char *p = fmt; *p && o + 1 < dstlen; p++) {
		if (p[0] == '%' && p[1] == '%') {
			if (o + 2 >= dstlen)
				break;
			dst[o++] = '%';
			dst[o++] = '%';
			p++;
		} else if (p[0] == '%' && p[1] == 'm') {
			for (const char *m = msg; *m && o + 2 < dstlen; m++) {
				dst[o++] = *m;
				if (*m == '%')
					dst[o++] = '%';
			}
			p++;
		} else {
			dst[o++] = *p;
		}
	}
	dst[o] = 0;
}

/* Append s to line at *o as JSON string content (quotes, backslashes and controls escaped). */
static void json_escape_into(char *line, size_t len, size_t *o, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p && *o + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			line[(*o)++] = '\\';
			line[(*o)++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			*o += (size_t)snprintf(line + *o, len - *o, "\\u%04x", *p);
		} else {
			line[(*o)++] = (char)*p;
		}
	}
	line[*o] = '\0';
}

/* One write(2) per line, from a fixed buffer: the logger allocates nothing and depends on no
 * other module but codec (token redaction). */
static void emit(enum log_level lvl, const char *msg)
{
	char line[LOG_LINE_MAX + 512], when[40];
	struct timespec ts;
	struct tm tm;
	int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
	size_t o;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_json) {
		n = snprintf(line, sizeof(line),
			     "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", when,
			     ts.tv_nsec / 1000000, level_names[lvl]);
		o = (size_t)n;
		json_escape_into(line, sizeof(line) - 4, &o, msg);
		memcpy(line + o, "\"}\n", 3);
		o += 3;
	} else {
		n = snprintf(line, sizeof(line) - 1, "%s.%03ldZ sealmount[%s]: %s", when,
			     ts.tv_nsec / 1000000, level_names[lvl], msg);
		o = n < 0 ? 0 : (size_t)n >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)n;
		line[o++] = '\n';
	}
	(void)!write(fd, line, o);
}

void log_vformat(char *dst, size_t len, int err, const char *fmt, va_list ap)
{
	char f[1024];

	expand_errno(f, sizeof(f), fmt, err);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(dst, len, f, ap);
#pragma GCC diagnostic pop
}

static void log_va(enum log_level lvl, int err, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int saved = errno;

	if ((int)lvl > log_level)
		return;
	log_vformat(msg, sizeof(msg), err, fmt, ap);
	emit(lvl, msg);
	errno = saved;
}

int log_full_errno(enum log_level lvl, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(lvl, err, fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

void log_full(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(lvl, 0, fmt, ap);
	va_end(ap);
}

static bool is_printable_json(const uint8_t *p, size_t n)
{
	if (n == 0 || p[0] != '{')
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return false;
	return true;
}

void log_redact_token(const char *token, char *out, size_t outlen)
{
	const char *dot1, *dot2;
	_cleanup_free_ uint8_t *hdr = NULL;
	size_t hdr_len = 0;

	if (outlen == 0)
		return;
	if (!token) {
		snprintf(out, outlen, "<none>");
		return;
	}
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
		snprintf(out, outlen, "<redacted %zuB>", strlen(token));
		return;
	}
	if (b64_decode(B64_URL, token, (size_t)(dot1 - token), &hdr, &hdr_len) < 0 ||
	    hdr_len > 256 || !is_printable_json(hdr, hdr_len)) {
		snprintf(out, outlen, "<jwt header=%zuB payload=%zuB sig=redacted>",
			 (size_t)(dot1 - token), (size_t)(dot2 - dot1 - 1));
		return;
	}
	snprintf(out, outlen, "<jwt header=%s payload=%zuB sig=redacted>", (const char *)hdr,
		 (size_t)(dot2 - dot1 - 1));
}
