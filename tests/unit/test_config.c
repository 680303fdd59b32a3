/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/config.h"
#include "unit.h"

/* A config exactly in Microsoft's schema (examples/encfs/encfs-sidecar-args.json, filled in). */
static const char ms_config[] =
	"{\n"
	"   \"azure_info\": {\"identity\": {\"client_id\": \"11111111-2222-3333-4444-555555555555\"},\n"
	"                  \"certcache\": {\"endpoint_type\": \"LocalTHIM\",\n"
	"                                \"endpoint\": \"169.254.169.254/metadata/THIM/amd/certification\"}},\n"
	"   \"azure_filesystems\": [\n"
	"      {\n"
	"         \"mount_point\": \"/mnt/remote/share\",\n"
	"         \"azure_url\": \"https://acct.blob.core.windows.net/private/image.img?sv=2020&sig=SECRET\",\n"
	"         \"azure_url_private\": true,\n"
	"         \"read_write\": true,\n"
	"         \"key\": {\n"
	"            \"kid\": \"encfs-key\",\n"
	"            \"kty\": \"RSA-HSM\",\n"
	"            \"key_ops\": [\"wrapKey\"],\n"
	"            \"authority\": {\"endpoint\": \"sharedneu.neu.attest.azure.net\"},\n"
	"            \"akv\": {\"endpoint\": \"myhsm.managedhsm.azure.net\", \"bearer_token\": \"eyTOKEN\"}\n"
	"         },\n"
	"         \"key_derivation\": {\"salt\": \"00aaFF\", \"label\": \"Model Key\"}\n"
	"      },\n"
	"      {\n"
	"         \"mount_point\": \"/mnt/remote/public\",\n"
	"         \"azure_url\": \"https://acct.blob.core.windows.net/public/ro.img\",\n"
	"         \"key\": {\"kid\": \"k2\", \"authority\": {\"endpoint\": \"https://maa.example\"},\n"
	"                 \"akv\": {\"endpoint\": \"kv.vault.azure.net\"}}\n"
	"      }\n"
	"   ]\n"
	"}\n";

static int parse(const char *json, struct sm_config **c, char *err)
{
	return sm_config_parse_json(json, strlen(json), c, err);
}

START_TEST(config_accepts_microsoft_schema)
{
	_cleanup_(sm_config_freep) struct sm_config *c = NULL;
	char err[SM_CONFIG_ERR_MAX];
	const struct sm_filesystem *fs;

	ck_assert_msg(parse(ms_config, &c, err) == 0, "%s", err);
	ck_assert_str_eq(c->client_id, "11111111-2222-3333-4444-555555555555");
	ck_assert_str_eq(c->certcache.endpoint_type, "LocalTHIM");
	ck_assert_uint_eq(c->n_fs, 2);
	fs = &c->fs[0];
	ck_assert_str_eq(fs->mount_point, "/mnt/remote/share");
	ck_assert(fs->azure_url_private && fs->read_write);
	ck_assert_str_eq(fs->kid, "encfs-key");
	ck_assert_str_eq(fs->maa_endpoint, "sharedneu.neu.attest.azure.net");
	ck_assert_str_eq(fs->akv_endpoint, "myhsm.managedhsm.azure.net");
	ck_assert_str_eq(fs->bearer_token, "eyTOKEN");
	ck_assert_uint_eq(fs->salt_len, 3);
	ck_assert_uint_eq(fs->salt[2], 0xff);
	ck_assert_str_eq(fs->label, "Model Key");
	fs = &c->fs[1];
	ck_assert(!fs->azure_url_private && !fs->read_write);
	ck_assert_ptr_null(fs->bearer_token);
	ck_assert_uint_eq(fs->salt_len, 0);
	ck_assert_str_eq(fs->label, SM_DEFAULT_HKDF_LABEL);
	/* Our defaults. */
	ck_assert_str_eq(fs->fs_type, "ext4");
	ck_assert(fs->require_integrity);
	ck_assert_int_eq(fs->engine, SM_ENGINE_AUTO);
	ck_assert_uint_eq(fs->cache_mb, 64);
	ck_assert_int_eq(c->log_level, LOG_LVL_WARN);
	ck_assert_int_eq(c->on_error, SM_ON_ERROR_EXIT);
}
END_TEST

START_TEST(config_base64_both_alphabets)
{
	char err[SM_CONFIG_ERR_MAX];
	char *b64;
	struct sm_config *c = NULL;

	for (int a = 0; a < 2; a++) {
		ck_assert_int_eq(
			b64_encode(a ? B64_URL : B64_STD, ms_config, strlen(ms_config), &b64), 0);
		ck_assert_msg(sm_config_parse_base64(b64, &c, err) == 0, "%s", err);
		ck_assert_uint_eq(c->n_fs, 2);
		sm_config_free(c);
		c = NULL;
		free(b64);
	}
	ck_assert_int_eq(sm_config_parse_base64("{not base64}", &c, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "EncfsSideCarArgs"));
	ck_assert_int_eq(sm_config_parse_base64("bm90IGpzb24=\n", &c, err),
			 -EBADMSG); /* "not json" */
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(config_extensions)
{
	static const char j[] =
		"{\"azure_filesystems\":[{\"mount_point\":\"/m/a\",\"azure_url\":"
		"\"http://127.0.0.1:10000/devstoreaccount1/c/b\",\"key\":{\"kid\":\"k\","
		"\"authority\":{\"endpoint\":\"http://127.0.0.1:4000\"},\"akv\":{\"endpoint\":"
		"\"127.0.0.1:4001\"}},\"sealmount\":{\"engine\":\"user\",\"cache_mb\":128,"
		"\"require_integrity\":false,\"header_sha256\":\"" /* 64 hex digits */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}],"
		"\"sealmount\":{\"snp\":\"sim:/tmp/sim\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\","
		"\"health_address\":\"127.0.0.1:9090\",\"on_error\":\"stay\"}}";
	_cleanup_(sm_config_freep) struct sm_config *c = NULL;
	char err[SM_CONFIG_ERR_MAX];

	ck_assert_msg(parse(j, &c, err) == 0, "%s", err);
	ck_assert_int_eq(c->fs[0].engine, SM_ENGINE_USER);
	ck_assert_uint_eq(c->fs[0].cache_mb, 128);
	ck_assert(!c->fs[0].require_integrity);
	ck_assert(c->fs[0].has_header_sha256);
	ck_assert_uint_eq(c->fs[0].header_sha256[31], 0xff);
	ck_assert_str_eq(c->snp, "sim:/tmp/sim");
	ck_assert_str_eq(c->enc, "CKM_RSA_AES_KEY_WRAP");
	ck_assert_int_eq(c->on_error, SM_ON_ERROR_STAY);
}
END_TEST

/* Replace the first occurrence of `from` in the MS config by `to` and expect an error that names
 * `field`. */
static void expect_error(const char *from, const char *to, const char *field)
{
	char buf[4096], err[SM_CONFIG_ERR_MAX];
	const char *at = strstr(ms_config, from);
	struct sm_config *c = NULL;
	int r;

	ck_assert_msg(at != NULL, "pattern %s", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - ms_config), ms_config, to,
		 at + strlen(from));
	r = parse(buf, &c, err);
	ck_assert_msg(r == -EINVAL || r == -EBADMSG, "'%s' -> '%s' accepted", from, to);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, field) != NULL, "error '%s' does not name '%s'", err, field);
}

START_TEST(config_errors_name_the_field)
{
	expect_error("\"kid\": \"encfs-key\"", "\"kid\": \"\"",
		     "azure_filesystems[0].key.kid: required");
	expect_error("\"sharedneu.neu.attest.azure.net\"", "\"http://maa.evil.com\"",
		     "azure_filesystems[0].key.authority.endpoint");
	expect_error("\"myhsm.managedhsm.azure.net\"", "\"my hsm\"",
		     "azure_filesystems[0].key.akv.endpoint");
	expect_error("\"00aaFF\"", "\"abc\"", "azure_filesystems[0].key_derivation.salt");
	expect_error("\"read_write\": true", "\"read_write\": \"yes\"",
		     "azure_filesystems[0].read_write");
	expect_error("\"read_write\": true", "\"read_wirte\": true",
		     "azure_filesystems[0].read_wirte: unknown field");
	expect_error("\"/mnt/remote/share\"", "\"relative/path\"",
		     "azure_filesystems[0].mount_point");
	expect_error("\"/mnt/remote/share\"", "\"/mnt/remote/../etc\"",
		     "azure_filesystems[0].mount_point");
	expect_error("\"/mnt/remote/share\"", "\"/mnt/remote/public\"",
		     "also used by azure_filesystems[0]");
	expect_error("\"https://acct.blob.core.windows.net/private",
		     "\"http://acct.blob.core.windows.net/private",
		     "azure_filesystems[0].azure_url");
	expect_error("\"LocalTHIM\"", "\"Elsewhere\"", "azure_info.certcache.endpoint_type");
	expect_error("\"client_id\": \"1111", "\"clientid\": \"1111",
		     "azure_info.identity.clientid");
	expect_error("\"key_derivation\"", "\"raw_key\": \"00\", \"key_derivation\"",
		     "azure_filesystems[0].raw_key");
	expect_error("\"akv\": {", "\"akv\": 5, \"x\": {", "azure_filesystems[0].key");
	expect_error("\"azure_info\"", "\"azure_info\": 1, \"z\"", "unknown field");
}
END_TEST

START_TEST(config_rejects_bad_documents)
{
	char err[SM_CONFIG_ERR_MAX];
	struct sm_config *c = NULL;
	char *big;

	ck_assert_int_eq(parse("[1]", &c, err), -EBADMSG);
	ck_assert_int_eq(parse("{\"azure_filesystems\":[],\"azure_filesystems\":[]}", &c, err),
			 -EBADMSG);
	ck_assert_int_eq(parse("{\"azure_filesystems\":[]}", &c, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "azure_filesystems: required"));
	ck_assert_int_eq(parse("{}", &c, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "azure_filesystems"));
	big = malloc(SM_CONFIG_MAX + 10);
	memset(big, ' ', SM_CONFIG_MAX + 9);
	big[0] = '{';
	big[SM_CONFIG_MAX + 8] = '}';
	big[SM_CONFIG_MAX + 9] = 0;
	ck_assert_int_eq(parse(big, &c, err), -EFBIG);
	free(big);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(config_extension_errors)
{
	static const char *const bad[][2] = {
		{ "\"sealmount\":{\"engine\":\"gpu\"}", "engine" },
		{ "\"sealmount\":{\"cache_mb\":1}", "cache_mb" },
		{ "\"sealmount\":{\"header_sha256\":\"abcd\"}", "header_sha256" },
		{ "\"sealmount\":{\"fs_type\":\"vfat\"}", "fs_type" },
		{ "\"sealmount\":{\"colour\":\"red\"}", "sealmount.colour" },
	};
	char buf[1024], err[SM_CONFIG_ERR_MAX];
	struct sm_config *c = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		snprintf(buf, sizeof(buf),
			 "{\"azure_filesystems\":[{\"mount_point\":\"/m\",\"azure_url\":"
			 "\"https://a.blob.core.windows.net/c/b\",\"key\":{\"kid\":\"k\","
			 "\"authority\":{\"endpoint\":\"m\"},\"akv\":{\"endpoint\":\"v\"}},%s}]}",
			 bad[i][0]);
		ck_assert_int_eq(parse(buf, &c, err), -EINVAL);
		ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s", err);
	}
	snprintf(buf, sizeof(buf),
		 "{\"azure_filesystems\":[{\"mount_point\":\"/m\",\"azure_url\":"
		 "\"https://a.blob.core.windows.net/c/b\",\"key\":{\"kid\":\"k\","
		 "\"authority\":{\"endpoint\":\"m\"},\"akv\":{\"endpoint\":\"v\"}}}],"
		 "\"sealmount\":{\"health_address\":\"0.0.0.0:80\"}}");
	ck_assert_int_eq(parse(buf, &c, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "sealmount.health_address"));
	/* imds_endpoint: plain http only to loopback (and IMDS's own address) */
	snprintf(buf, sizeof(buf),
		 "{\"azure_filesystems\":[{\"mount_point\":\"/m\",\"azure_url\":"
		 "\"https://a.blob.core.windows.net/c/b\",\"key\":{\"kid\":\"k\","
		 "\"authority\":{\"endpoint\":\"m\"},\"akv\":{\"endpoint\":\"v\"}}}],"
		 "\"sealmount\":{\"imds_endpoint\":\"http://imds.example.com\"}}");
	ck_assert_int_eq(parse(buf, &c, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "sealmount.imds_endpoint"));
	snprintf(buf, sizeof(buf),
		 "{\"azure_filesystems\":[{\"mount_point\":\"/m\",\"azure_url\":"
		 "\"https://a.blob.core.windows.net/c/b\",\"key\":{\"kid\":\"k\","
		 "\"authority\":{\"endpoint\":\"m\"},\"akv\":{\"endpoint\":\"v\"}}}],"
		 "\"sealmount\":{\"imds_endpoint\":\"http://127.0.0.1:8080\"}}");
	ck_assert_msg(parse(buf, &c, err) == 0, "%s", err);
	ck_assert_str_eq(c->imds_endpoint, "http://127.0.0.1:8080");
	sm_config_free(c);
}
END_TEST

START_TEST(config_log_env)
{
	_cleanup_(sm_config_freep) struct sm_config *c = NULL;
	char err[SM_CONFIG_ERR_MAX];

	ck_assert_int_eq(parse(ms_config, &c, err), 0);
	ck_assert_int_eq(sm_config_apply_log_env(c, "/var/log/x", "debug", err), 0);
	ck_assert_int_eq(c->log_level, LOG_LVL_DEBUG);
	ck_assert_str_eq(c->log_file, "/var/log/x");
	ck_assert_int_eq(sm_config_apply_log_env(c, NULL, "panicky", err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "LogLevel"));
	ck_assert_int_eq(sm_config_apply_log_env(c, "", "", err), 0);
	ck_assert_str_eq(c->log_file, "/var/log/x");
}
END_TEST

/* A syntax error says where: line and column (as jansson reports them). */
START_TEST(config_syntax_error_has_line_and_column)
{
	struct sm_config *c = NULL;
	char err[SM_CONFIG_ERR_MAX];
	static const char bad[] = "{\n  \"azure_filesystems\": [\n    ,\n  ]\n}";

	ck_assert_int_eq(sm_config_parse_json(bad, strlen(bad), &c, err), -EBADMSG);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "line 3, column 5"), "%s", err);
	ck_assert_int_eq(sm_config_parse_json("{\"a\": 1, \"a\": 2}", 16, &c, err), -EBADMSG);
	ck_assert_msg(strstr(err, "duplicate"), "%s", err);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, config_accepts_microsoft_schema);
	tcase_add_test(tc, config_base64_both_alphabets);
	tcase_add_test(tc, config_extensions);
	tcase_add_test(tc, config_errors_name_the_field);
	tcase_add_test(tc, config_rejects_bad_documents);
	tcase_add_test(tc, config_extension_errors);
	tcase_add_test(tc, config_log_env);
	tcase_add_test(tc, config_syntax_error_has_line_and_column);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(config_suite)
