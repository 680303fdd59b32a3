/* SPDX-License-Identifier: MIT */
/* Target: what the blob client does with a service response (src/blob/blob.c, blob_io.c): the
 * error status and x-ms-error-code (blob_status_error; Azure's XML error body is never parsed,
 * only the header), Get Blob Properties (blob_parse_props: Content-Length, type, ETag, lease
 * headers) and a ranged GET's verification (blob_check_range_response: length, Content-Range,
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
	int r;

	log_set_level(LOG_LVL_ERROR);
	if (http_input_response(data, size, &resp) < 0)
		return 0;
	r = blob_status_error(&resp, "fuzz");
	if (r >= 0)
		abort(); /* every unexpected status is an error */
	if (blob_parse_props(&resp, &props) == 0 &&
	    (!props.etag[0] || memchr(props.etag, '\0', sizeof(props.etag)) == NULL))
		abort();
	if (resp.body.len > 0) {
		(void)!blob_check_range_response(&resp, 0, resp.body.len);
		(void)!blob_check_range_response(&resp, UINT64_MAX - resp.body.len, resp.body.len);
	}
	http_response_done(&resp);
	return 0;
}
