/* SPDX-License-Identifier: MIT */
/* Target: what the blob client does with a service response (src/blob/blob.c, blob_io.c): the
 * error status and x-ms-error-code (blob_status_error; Azure's XML error body is never parsed,
 * only the header), properties (blob_parse_props: Content-Length, type, ETag, Last-Modified,
 * lease headers), a plain source's probe (blob_parse_probe) and a ranged GET's verification
 * (blob_check_range_response: length, Content-Range with its total, the pinned version,
 * Content-MD5), on responses built as the http module's callbacks build them
 * (tests/fuzz/http_input.h). */
#include <stdint.h>
#include <stdlib.h>

#include "http_input.h"
#include "sealmount/log.h"
#include "src/blob/blob_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response resp;
	struct blob_props props;
	struct blob b = { .size = 1u << 20, .verify_md5 = true, .etag = "\"0x1\"" };
	int r;

	log_set_level(LOG_LVL_ERROR);
	if (http_input_response(data, size, &resp) < 0)
		return 0;
	r = blob_status_error(&resp, "fuzz");
	if (r >= 0)
		abort(); /* every unexpected status is an error */
	/* Accepted properties name a version (an ETag; a plain server may give Last-Modified
	 * alone), NUL-terminated, and a size under the cap. */
	if (blob_parse_props(&resp, &props) == 0 &&
	    ((!props.etag[0] && (props.azure || !props.last_modified[0])) ||
	     !memchr(props.etag, '\0', sizeof(props.etag)) ||
	     !memchr(props.last_modified, '\0', sizeof(props.last_modified)) ||
	     props.size > BLOB_SIZE_MAX))
		abort();
	(void)!blob_parse_probe(&resp, resp.body.len, &props, false);
	if (resp.body.len > 0) {
		(void)!blob_check_range_response(&b, &resp, 0, resp.body.len);
		(void)!blob_check_range_response(&b, &resp, UINT64_MAX - resp.body.len,
						 resp.body.len);
		b.verify_md5 = false;
		b.size = UINT64_MAX;
		(void)!blob_check_range_response(&b, &resp, 0, resp.body.len);
	}
	http_response_done(&resp);
	return 0;
}
