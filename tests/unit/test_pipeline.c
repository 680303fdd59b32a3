/* SPDX-License-Identifier: MIT */
/*
 * test_pipeline.c - the pipeline module without root or network: step names, the explainer
 * table and the README's troubleshooting table generated from it, the failure message, the
 * stack builder on files and bad URLs, the key file release, steps called out of order, and an
 * attestation shared by two filesystems failing once for both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sealmount/pipeline.h"
#include "unit.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_pipeline.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static void teardown(void)
{
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void put(const char *name, const void *data, size_t len, char *path, size_t n)
{
	int fd;

	snprintf(path, n, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

START_TEST(step_names_are_the_documented_ones)
{
	static const char *const want[] = { "attest", "token",	"release", "open",
					    "seal",   "volume", "publish", "teardown" };

	for (int s = 0; s < PL_STEP__MAX; s++)
		ck_assert_str_eq(pl_step_name((enum pl_step)s), want[s]);
	ck_assert_str_eq(pl_step_name(PL_STEP__MAX), "?");
}
END_TEST

START_TEST(explain_by_step_and_error)
{
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_RELEASE, -EPERM), "hostdata"));
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_RELEASE, -ENOENT), "kid"));
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_OPEN, -EMEDIUMTYPE), "page blob"));
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_VOLUME, -EKEYREJECTED), "newline"));
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_VOLUME, -EPERM), "--no-require-integrity"));
	/* an unlisted code falls back to the step's general causes */
	ck_assert_str_eq(pl_explain(PL_STEP_OPEN, -E2BIG), pl_explain(PL_STEP_OPEN, -EPIPE));
	ck_assert_str_eq(pl_explain(PL_STEP__MAX, -EIO), "see the error above");
	for (int s = 0; s < PL_STEP__MAX; s++) /* every step has general causes */
		ck_assert_str_ne(pl_explain((enum pl_step)s, -E2BIG), "see the error above");
}
END_TEST

/* The service's error code (diag.code) picks a finer cause; anything else falls back to the
 * (step, error) cause. The code is kept to letters and digits: it comes from the network. */
START_TEST(explain_by_service_code)
{
	struct diag d = { 0 };

	ck_assert_ptr_nonnull(
		strstr(pl_explain_coded(PL_STEP_OPEN, -ENOENT, "ContainerNotFound"), "container"));
	ck_assert_ptr_nonnull(
		strstr(pl_explain_coded(PL_STEP_OPEN, -EACCES, "AuthorizationFailure"), "SAS"));
	ck_assert_ptr_null(pl_explain_coded(PL_STEP_OPEN, -ENOENT, "AuthorizationFailure"));
	ck_assert_ptr_null(pl_explain_coded(PL_STEP_VOLUME, -ENOENT, "ContainerNotFound"));
	ck_assert_ptr_null(pl_explain_coded(PL_STEP_OPEN, -ENOENT, ""));
	ck_assert_ptr_null(pl_explain_coded(PL_STEP_OPEN, -ENOENT, NULL));
	ck_assert_str_eq(pl_explain_diag(PL_STEP_OPEN, NULL, -ENOENT),
			 pl_explain(PL_STEP_OPEN, -ENOENT));
	ck_assert_str_eq(pl_explain_diag(PL_STEP_OPEN, &d, -ENOENT),
			 pl_explain(PL_STEP_OPEN, -ENOENT));
	diag_set_code(&d, "Container\x1b[31mNotFound\a");
	ck_assert_str_eq(d.code, "Container");
	diag_set_code(&d, "BlobNotFound"); /* the first code wins */
	ck_assert_str_eq(d.code, "Container");
	diag_clear(&d);
	diag_set_code(&d, "ContainerNotFound");
	ck_assert_str_eq(pl_explain_diag(PL_STEP_OPEN, &d, -ENOENT),
			 pl_explain_coded(PL_STEP_OPEN, -ENOENT, "ContainerNotFound"));
	ck_assert_str_eq(pl_explain_diag(PL_STEP_OPEN, &d, -EIO), pl_explain(PL_STEP_OPEN, -EIO));
	diag_clear(&d);
	{
		char longcode[200];

		memset(longcode, 'A', sizeof(longcode) - 1);
		longcode[sizeof(longcode) - 1] = '\0';
		diag_set_code(&d, longcode);
		ck_assert_uint_eq(strlen(d.code), DIAG_CODE_MAX - 1);
	}
	ck_assert_ptr_nonnull(strstr(pl_explain(PL_STEP_OPEN, -EHOSTUNREACH), "resolve"));
}
END_TEST

/* The README's troubleshooting table is the explainer table (pl_explain_markdown). */
START_TEST(readme_table_is_generated_from_the_explainer)
{
	static const char begin[] = "<!-- troubleshooting:begin -->\n";
	static const char end[] = "<!-- troubleshooting:end -->";
	char path[512];
	_cleanup_free_ char *readme = NULL;
	struct buf want;
	const char *a, *b;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/../../README.md", unit_testdata());
	readme = (char *)unit_read_file(path, &len);
	buf_init(&want, 1u << 20);
	ck_assert_int_eq(pl_explain_markdown(&want), 0);
	a = strstr(readme, begin);
	b = a ? strstr(a, end) : NULL;
	ck_assert_msg(a && b, "README.md has no troubleshooting markers");
	a += strlen(begin);
	if ((size_t)(b - a) != want.len || memcmp(a, want.data, want.len) != 0) {
		f = fopen("troubleshooting.expected.md", "w");
		if (f) {
			fwrite(want.data, 1, want.len, f);
			fclose(f);
		}
		ck_abort_msg(
			"README.md's troubleshooting table differs from the explainer table "
			"(src/pipeline/explain.c): the generated one is in "
			"troubleshooting.expected.md in the test's working directory (the build directory)");
	}
	buf_done(&want);
}
END_TEST

START_TEST(failure_message_names_step_detail_and_causes)
{
	struct pl_failure f = { .step = PL_STEP_OPEN, .err = -ENOENT };
	char msg[4096];

	pl_failure_message(&f, 2, "/mnt/x/share", msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "Filesystem 2 (/mnt/x/share): step 'open' failed: No "
					  "such file or directory. Likely causes: no such blob"));
	diag_set(&f.diag, -ENOENT, "Cannot open http://h/a/c/b: %m (no such blob)");
	pl_failure_message(&f, 0, NULL, msg, sizeof(msg));
	ck_assert_str_eq(msg, "step 'open' failed: Cannot open http://h/a/c/b: No such file or "
			      "directory (no such blob). Likely causes: no such blob or file: "
			      "check azure_url (--url, --image): account, container and blob name");
	pl_failure_message(&f, 0, NULL, msg, 16); /* truncated, terminated */
	ck_assert_uint_eq(strlen(msg), 15);
}
END_TEST

START_TEST(stack_opens_files_and_says_why_not)
{
	struct pl_source src = { 0 };
	struct pl_stack st = { 0 };
	struct diag d = { 0 };
	char path[256], url[300];
	uint8_t data[8192] = { 1, 2, 3 }, back[3];

	setup();
	put("img", data, sizeof(data), path, sizeof(path));
	src.url = path;
	src.cache_mb = 1;
	ck_assert_int_eq(pl_stack_open(&src, NULL, &st, &d), 0);
	ck_assert_ptr_nonnull(st.cache);
	ck_assert_ptr_null(st.blob);
	ck_assert_uint_eq(bdev_size(st.top), sizeof(data));
	ck_assert_int_eq(bdev_read(st.top, back, 3, 0), 0);
	ck_assert_mem_eq(back, data, 3);
	pl_stack_close(&st);
	pl_stack_close(&st); /* idempotent */
	snprintf(url, sizeof(url), "file://%s", path); /* no cache: a one-shot reader */
	src = (struct pl_source){ .url = url };
	ck_assert_int_eq(pl_stack_open(&src, NULL, &st, &d), 0);
	ck_assert_ptr_null(st.cache);
	pl_stack_close(&st);
	/* a missing file, a URL without its scheme, a bad URL, a disk cache on a file */
	src = (struct pl_source){ .url = "/nonexistent/img" };
	ck_assert_int_eq(pl_stack_open(&src, NULL, &st, &d), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.text, "/nonexistent/img"));
	diag_clear(&d);
	src = (struct pl_source){ .url = "acct.blob.core.windows.net:443/c/b" };
	ck_assert_int_eq(pl_stack_open(&src, NULL, &st, &d), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.text, "https://"));
	diag_clear(&d);
	src = (struct pl_source){
		.url = "https://acct.blob.core.windows.net/only-a-container?sv=x"
	};
	ck_assert_int_lt(pl_stack_open(&src, NULL, &st, &d), 0);
	ck_assert_ptr_null(strstr(d.text, "sv=x")); /* a SAS is never shown */
	diag_clear(&d);
	src = (struct pl_source){ .url = path, .disk_cache_dir = dir };
	ck_assert_int_eq(pl_stack_open(&src, NULL, &st, &d), -EINVAL);
	ck_assert_ptr_null(st.top);
	teardown();
}
END_TEST

START_TEST(stack_credentials_fail_with_the_file_named)
{
	struct pl_source src = { .url = "http://127.0.0.1:1/devstoreaccount1/c/b",
				 .auth = PL_AUTH_SHARED_KEY,
				 .account_key_file = "/nonexistent/key" };
	struct pl_auth_ctx *ctx = NULL;
	struct blob_options o;
	struct diag d = { 0 };
	char path[256];

	ck_assert_int_eq(pl_blob_options(&src, NULL, &o, &ctx, &d), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.text, "/nonexistent/key"));
	ck_assert_ptr_null(ctx);
	setup();
	put("key", "not base64!", 11, path, sizeof(path));
	src.account_key_file = path;
	diag_clear(&d);
	ck_assert_int_eq(pl_blob_options(&src, NULL, &o, &ctx, &d), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(d.text, "base64"));
	put("key", "AAECAw==\n", 9, path, sizeof(path));
	ck_assert_int_eq(pl_blob_options(&src, NULL, &o, &ctx, &d), 0);
	ck_assert_int_eq(o.auth, BLOB_AUTH_SHARED_KEY);
	ck_assert_uint_eq(o.account_key->len, 4);
	pl_auth_free(ctx);
	teardown();
}
END_TEST

static struct http_client *http(void)
{
	struct http_client *h = NULL;

	ck_assert_int_eq(http_client_new(&(struct http_options){ .max_retries = 0 }, &h), 0);
	return h;
}

START_TEST(key_file_release_and_steps_out_of_order)
{
	struct http_client *h = http();
	struct pl_fs *fs = NULL;
	struct pl_spec spec;
	struct secret *pass;
	char path[256];

	setup();
	pl_spec_init(&spec);
	spec.mount_point = "/nonexistent/share";
	put("key", "", 0, path, sizeof(path));
	spec.key_file = path;
	ck_assert_int_eq(pl_fs_new(&spec, h, &fs), 0);
	/* with a key file, attest and token do nothing */
	ck_assert_int_eq(pl_attest(fs, NULL), 0);
	ck_assert_int_eq(pl_token(fs), 0);
	ck_assert_int_eq(pl_release(fs), -ENODATA);
	ck_assert_int_eq(pl_fs_failure(fs)->step, PL_STEP_RELEASE);
	ck_assert_ptr_nonnull(strstr(pl_fs_failure(fs)->diag.text, "empty"));
	/* volume before open */
	ck_assert_int_eq(pl_volume(fs), -EINVAL);
	ck_assert_int_eq(pl_fs_failure(fs)->step, PL_STEP_VOLUME);
	ck_assert_int_eq(pl_publish(fs), -EINVAL);
	put("key", "secret\n", 7, path, sizeof(path));
	ck_assert_int_eq(pl_release(fs), 0);
	ck_assert_ptr_nonnull(strstr(pl_fs_done_text(fs), "7 bytes"));
	pass = pl_fs_take_passphrase(fs);
	ck_assert_ptr_nonnull(pass);
	ck_assert_mem_eq(pass->data, "secret\n", 7); /* byte for byte */
	secret_free(pass);
	ck_assert_ptr_null(pl_fs_take_passphrase(fs));
	ck_assert_int_eq(pl_teardown(fs), 0);
	pl_fs_free(fs);
	http_client_free(h);
	teardown();
}
END_TEST

/* Two filesystems share one attestation: it runs once, and its failure is both's. */
START_TEST(attest_once_shares_the_failure)
{
	struct http_client *h = http();
	struct pl_attest_once *once = NULL;
	struct pl_fs *a = NULL, *b = NULL;
	struct pl_spec spec;

	pl_spec_init(&spec);
	spec.release.maa = "not a host name!";
	spec.release.snp = "device:/nonexistent/sev-guest";
	ck_assert_int_eq(pl_attest_once_new(&once), 0);
	ck_assert_int_eq(pl_fs_new(&spec, h, &a), 0);
	ck_assert_int_eq(pl_fs_new(&spec, h, &b), 0);
	ck_assert_int_lt(pl_attest(a, once), 0);
	ck_assert_int_eq(pl_fs_failure(a)->step, PL_STEP_ATTEST);
	ck_assert_int_eq(pl_attest(b, once), pl_fs_failure(a)->err);
	ck_assert_str_eq(pl_fs_failure(b)->diag.text, pl_fs_failure(a)->diag.text);
	ck_assert_ptr_nonnull(strstr(pl_fs_failure(a)->diag.text, "not a host name!"));
	/* token and release without a vault */
	ck_assert_int_eq(pl_token(a), -EINVAL);
	ck_assert_int_eq(pl_fs_failure(a)->step, PL_STEP_TOKEN);
	pl_fs_free(a);
	pl_fs_free(b);
	pl_attest_once_free(once);
	http_client_free(h);
}
END_TEST

/* Crash records written by hand: found by mount point, listed, alive or dead by pid and start
 * time, an unreadable one skipped, a live owner's never recovered. */
static void put_record(const char *mp, pid_t pid, uint64_t start, unsigned index)
{
	char name[256], text[1024], path[512];
	unsigned char md[32];
	unsigned mdlen = 0;
	char hex[65];

	ck_assert(EVP_Digest(mp, strlen(mp), md, &mdlen, EVP_sha256(), NULL));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(name, sizeof(name), "%s.json", hex);
	snprintf(text, sizeof(text),
		 "{\"version\": 1, \"pid\": %d, \"start_time\": %llu, \"mount_point\": \"%s\", "
		 "\"index\": %u, \"source\": \"/img\", \"volume\": {\"engine\": \"user\", "
		 "\"block\": \"fuse\", \"mount_point\": \"%s\"}}",
		 (int)pid, (unsigned long long)start, mp, index, mp);
	put(name, text, strlen(text), path, sizeof(path));
}

START_TEST(records_find_list_and_refuse_live_owners)
{
	struct pl_record rec = { 0 }, *list = NULL;
	char path[256];
	unsigned idx = 99;
	size_t n = 0;

	setup();
	ck_assert_uint_ne(pl_process_start_time(getpid()), 0);
	ck_assert_uint_eq(pl_process_start_time(999999999), 0);
	put_record("/mnt/live", getpid(), pl_process_start_time(getpid()), 0);
	put_record("/mnt/dead", getpid(), pl_process_start_time(getpid()) + 1, 3);
	put("0000000000000000000000000000000000000000000000000000000000000000.json", "{nope", 5,
	    path, sizeof(path));
	/* indexes 0 (alive) and 3 (dead) are taken: the lowest free one is 1 */
	ck_assert_int_eq(pl_records_first_free_index(dir, &idx), 0);
	ck_assert_uint_eq(idx, 1);
	put_record("/mnt/one", getpid(), pl_process_start_time(getpid()), 1);
	put_record("/mnt/two", getpid(), pl_process_start_time(getpid()), 2);
	ck_assert_int_eq(pl_records_first_free_index(dir, &idx), 0);
	ck_assert_uint_eq(idx, 4);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/one", &rec), 0);
	ck_assert_int_eq(unlink(rec.path), 0);
	pl_record_done(&rec);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/two", &rec), 0);
	ck_assert_int_eq(unlink(rec.path), 0);
	pl_record_done(&rec);
	ck_assert_int_eq(pl_records_first_free_index("/nonexistent/dir", &idx), 0);
	ck_assert_uint_eq(idx, 0);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/live", &rec), 0);
	ck_assert(rec.alive);
	ck_assert_str_eq(rec.engine, "user");
	/* a live owner's record is never acted on */
	ck_assert_int_eq(pl_record_recover(&rec, NULL, NULL, NULL), -EBUSY);
	pl_record_done(&rec);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/dead", &rec), 0);
	ck_assert(!rec.alive); /* same pid, another start time: a reused pid */
	ck_assert_uint_eq(rec.index, 3);
	/* nothing of the recorded volume exists: recovering only removes the record */
	ck_assert_int_eq(pl_record_recover(&rec, NULL, NULL, NULL), 0);
	ck_assert_int_eq(access(rec.path, F_OK), -1);
	pl_record_done(&rec);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/dead", &rec), -ENOENT);
	ck_assert_int_eq(pl_record_find(dir, "/mnt/other", &rec), -ENOENT);
	ck_assert_int_eq(pl_records_list(dir, &list, &n), 0);
	ck_assert_uint_eq(n, 1); /* the unreadable one is skipped */
	ck_assert_str_eq(list[0].mount_point, "/mnt/live");
	pl_records_free(list, n);
	ck_assert_int_eq(pl_records_list("/nonexistent/dir", &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	teardown();
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, step_names_are_the_documented_ones);
	tcase_add_test(tc, explain_by_step_and_error);
	tcase_add_test(tc, explain_by_service_code);
	tcase_add_test(tc, readme_table_is_generated_from_the_explainer);
	tcase_add_test(tc, failure_message_names_step_detail_and_causes);
	tcase_add_test(tc, stack_opens_files_and_says_why_not);
	tcase_add_test(tc, stack_credentials_fail_with_the_file_named);
	tcase_add_test(tc, key_file_release_and_steps_out_of_order);
	tcase_add_test(tc, attest_once_shares_the_failure);
	tcase_add_test(tc, records_find_list_and_refuse_live_owners);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(pipeline_suite)
