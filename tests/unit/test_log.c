/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "unit.h"

/* Capture what the logger writes into a memfd and return it (malloc'd). */
static int cap_fd = -1;

static void cap_start(void)
{
	cap_fd = memfd_create("log", 0);
	ck_assert_int_ge(cap_fd, 0);
	log_set_fd(cap_fd);
}

static char *cap_end(void)
{
	off_t n = lseek(cap_fd, 0, SEEK_END);
	char *s = calloc(1, (size_t)n + 1);

	ck_assert_int_eq(pread(cap_fd, s, (size_t)n, 0), n);
	close(cap_fd);
	log_set_fd(-1);
	return s;
}

START_TEST(log_levels_filter)
{
	char *out;

	cap_start();
	log_set_level(LOG_LVL_WARN);
	log_info("hidden %d", 1);
	log_debug("hidden too");
	log_warn("shown %s", "yes");
	log_set_level(LOG_LVL_DEBUG);
	out = cap_end();
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "shown yes"));
	ck_assert_ptr_nonnull(strstr(out, "[warn]"));
	free(out);
}
END_TEST

START_TEST(log_errno_expands_m_and_returns_negative)
{
	char *out;
	int r;

	cap_start();
	r = log_error_errno(-ENOENT, "opening %s: %m (100%%)", "x");
	ck_assert_int_eq(r, -ENOENT);
	ck_assert_int_eq(log_error_errno(EACCES, "positive in"), -EACCES);
	out = cap_end();
	ck_assert_ptr_nonnull(strstr(out, "opening x: No such file or directory (100%)"));
	free(out);
}
END_TEST

START_TEST(log_json_lines_are_valid_json)
{
	char *out, *nl;
	json_t *v;
	json_error_t err;

	cap_start();
	log_set_json(true);
	log_info("quote \" backslash \\ newline \n tab \t done");
	log_set_json(false);
	out = cap_end();
	nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_null(strchr(nl + 1, '\n'));
	v = json_loadb(out, (size_t)(nl - out), 0, &err);
	ck_assert_msg(v != NULL, "not JSON: %s", out);
	ck_assert_str_eq(json_string_value(json_object_get(v, "level")), "info");
	ck_assert_str_eq(json_string_value(json_object_get(v, "msg")),
			 "quote \" backslash \\ newline \n tab \t done");
	json_decref(v);
	free(out);
}
END_TEST

START_TEST(log_level_parse_names)
{
	enum log_level l;

	ck_assert_int_eq(log_level_parse("DEBUG", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_DEBUG);
	ck_assert_int_eq(log_level_parse("warning", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_WARN);
	ck_assert_int_eq(log_level_parse("trace", &l), 0);
	/* logrus's names, as Microsoft's sidecar's LogLevel takes them: fatal and panic are
	 * errors here (sealmount never exits from a log call) */
	ck_assert_int_eq(log_level_parse("panic", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_ERROR);
	ck_assert_int_eq(log_level_parse("Fatal", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_ERROR);
	ck_assert_int_eq(log_level_parse("loud", &l), -EINVAL);
	ck_assert_int_eq(log_level_parse("", &l), -EINVAL);
}
END_TEST

START_TEST(log_redact_token_hides_payload_and_signature)
{
	char *h, *p, tok[512], out[300];
	const char *payload = "{\"secret-claim\":\"PAYLOADSECRET\"}";

	ck_assert_int_eq(b64_encode(B64_URL, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27, &h), 0);
	ck_assert_int_eq(b64_encode(B64_URL, payload, strlen(payload), &p), 0);
	snprintf(tok, sizeof(tok), "%s.%s.SIGNATURESECRET", h, p);
	log_redact_token(tok, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "\"alg\":\"RS256\""));
	ck_assert_ptr_null(strstr(out, "SIGNATURESECRET"));
	ck_assert_ptr_null(strstr(out, p));
	ck_assert_ptr_nonnull(strstr(out, "payload="));
	log_redact_token("opaque-bearer-value", out, sizeof(out));
	ck_assert_str_eq(out, "<redacted 19B>");
	log_redact_token("a.b.c.d", out, sizeof(out));
	ck_assert_str_eq(out, "<redacted 7B>");
	/* Header that is not JSON is not echoed. */
	log_redact_token("SECRETHDR.x.y", out, sizeof(out));
	ck_assert_ptr_null(strstr(out, "SECRETHDR"));
	log_redact_token(tok, out, 8);
	ck_assert_uint_eq(strlen(out), 7);
	free(h);
	free(p);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, log_levels_filter);
	tcase_add_test(tc, log_errno_expands_m_and_returns_negative);
	tcase_add_test(tc, log_json_lines_are_valid_json);
	tcase_add_test(tc, log_level_parse_names);
	tcase_add_test(tc, log_redact_token_hides_payload_and_signature);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(log_suite)
