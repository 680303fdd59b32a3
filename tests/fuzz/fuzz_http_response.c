/* SPDX-License-Identifier: MIT */
/* Target: the http module's handling of a response as libcurl delivers it: header lines
 * (http_attempt_add_header: line syntax, the header count and byte caps, a declared
 * Content-Length over the cap, interim status lines), the body under its cap
 * (http_attempt_add_body: Content-Length vs body), then what callers read from the result:
 * header lookup and Retry-After (http_parse_retry_after). Input layout: tests/fuzz/http_input.h.
 * The same input again with a scatter sink (http_request.sink): a 2xx body never overruns it.
 */
#include <stdint.h>
#include <stdlib.h>

#include "http_input.h"
#include "sealmount/http.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response resp;
	const char *v;
	unsigned secs;

	log_set_level(LOG_LVL_ERROR);
	if (http_input_response(data, size, &resp) < 0)
		return 0;
	if (resp.body.data[resp.body.len] != '\0' || resp.n_headers > HTTP_HEADERS_MAX)
		abort(); /* the guarantees of http.h */
	v = http_response_header(&resp, "Retry-After");
	if (v && http_parse_retry_after(v, 1700000000, &secs) == 0 && secs == 0 && v[0] > '0' &&
	    v[0] <= '9')
		abort(); /* a positive delta-seconds never comes back as 0 */
	(void)http_response_header(&resp, "Content-Length");
	http_response_done(&resp);

	uint8_t x[5], y[300];
	struct iovec sink[] = { { x, sizeof(x) }, { y, 0 }, { y, sizeof(y) } };

	if (http_input_response_sink(data, size, sink, 3, &resp) < 0)
		return 0;
	if (resp.sink_len > sizeof(x) + sizeof(y) || (resp.sink_len > 0 && resp.body.len > 0))
		abort(); /* within the sink; a body goes to one place or the other */
	http_response_done(&resp);
	return 0;
}
