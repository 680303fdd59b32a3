/* SPDX-License-Identifier: MIT */
/* Target: the parsers of untrusted or user-given URL-ish text: http_url_check() (the plain-http
 * policy), http_parse_retry_after() (a server's Retry-After header) and blob_url_parse() (blob
 * URLs from the configuration), on arbitrary NUL-terminated strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/blob.h"
#include "sealmount/http.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blob_url u = {};
	unsigned secs;
	char *s;

	log_set_level(LOG_LVL_ERROR);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	(void)http_url_check(s);
	(void)http_url_check_imds(s);
	(void)http_parse_retry_after(s, 1700000000, &secs); /* saturates; callers cap it */
	if (blob_url_parse(s, &u) == 0)
		blob_url_done(&u);
	free(s);
	return 0;
}
