/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging to stderr (or a file), as text or JSON lines.
 *
 * Modules log at debug level only and return -errno; main.c and fusefs.c log once at error level
 * with context (systemd's split). Secrets never go to the log: pass tokens through
 * log_redact_token(), keys are never passed at all.
 *
 * The log state is process-global and thread-safe (one write(2) per line).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "sealmount/macros.h"

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* The one default level, of every command and of the sidecar (whose LogLevel and the global
 * --log-level can only make it more verbose). */
#define LOG_LEVEL_DEFAULT LOG_LVL_INFO

/* Set the minimum level that is written. Default LOG_LEVEL_DEFAULT. */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* "error", "warn", "info" or "debug"; "?" for anything else. */
const char *log_level_name(enum log_level lvl);

/* Parse "error", "warn"/"warning", "info", "debug" (case-insensitive; Microsoft's sidecar
 * also uses "trace", mapped to debug). Returns 0 or -EINVAL. */
_must_check_ int log_level_parse(const char *s, enum log_level *ret_lvl) _nonnull_(1, 2);

/* JSON lines: {"ts":...,"level":...,"msg":...}. Default off (plain text). */
void log_set_json(bool json);

/* Write to this fd instead of stderr (the fd stays owned by the caller; -1 = stderr). */
void log_set_fd(int fd);

/* Log one line. Returns -abs(err) so callers can write `return log_error_errno(r, ...)`.
 * "%m" in the format is replaced by strerror(abs(err)). */
int log_full_errno(enum log_level lvl, int err, const char *fmt, ...) _printf_(3, 4);
void log_full(enum log_level lvl, const char *fmt, ...) _printf_(2, 3);

/* Format into dst (always NUL-terminated) as the log functions do, "%m" being strerror(|err|).
 * For modules that hand a message up instead of logging it (diag.h). */
void log_vformat(char *dst, size_t len, int err, const char *fmt, va_list ap) _nonnull_(1, 4);

#define log_error(...) log_full(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_full(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_full(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_DEBUG)                                              \
			log_full(LOG_LVL_DEBUG, __VA_ARGS__);                                      \
	} while (0)
#define log_error_errno(e, ...) log_full_errno(LOG_LVL_ERROR, (e), __VA_ARGS__)
#define log_warn_errno(e, ...) log_full_errno(LOG_LVL_WARN, (e), __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_LVL_DEBUG, (e), __VA_ARGS__)

/*
 * Redact a JWT/JWS compact token for logging: writes e.g.
 * "<jwt header={"alg":"RS256",...} payload=812B sig=redacted>" (header shown only when it decodes
 * to printable JSON of at most 256 bytes) into out (always NUL-terminated, truncated to outlen).
 * Something that is not a compact token becomes "<redacted NB>". Never copies the payload or the
 * signature.
 */
void log_redact_token(const char *token, char *out, size_t outlen) _nonnull_(2);
