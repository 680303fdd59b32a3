/* SPDX-License-Identifier: MIT */
/*
 * http_policy.c - the decisions of the http module that need no transfer: which URLs may be
 * fetched, how a CURLcode becomes -errno, when and how long to wait before a retry.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "sealmount/http.h"
#include "sealmount/log.h"

#include "http_internal.h"

/* Longer URLs are refused outright: ours (SAS URLs included) stay well under 2 KiB. */
#define HTTP_URL_MAX (16u * 1024)
#define IMDS_ADDR 0xA9FEA9FEu /* 169.254.169.254 */

/* Stops at the query (SAS signatures), the fragment, and at anything that could forge or break a
 * log line in a URL that is about to be refused: control characters, space, quote. */
int http_url_log_len(const char *url)
{
	int n = 0;

	while (n < 512 && url[n] != '?' && url[n] != '#' && url[n] != '"' &&
	       (unsigned char)url[n] > ' ' && url[n] != 0x7f)
		n++;
	return n;
}

static void curl_freep(char **p)
{
	curl_free(*p);
}
#define _cleanup_curl_free_ _cleanup_(curl_freep)

static void curl_url_cleanupp(CURLU **u)
{
	curl_url_cleanup(*u);
}

/* Strictly 127.0.0.0/8 in dotted-quad form, [::1], or "localhost" (which libcurl >= 7.78
 * resolves to loopback itself, without asking DNS); and 169.254.169.254 for an IMDS request
 * alone - Azure serves IMDS over plain http only, nothing else there. inet_pton() refuses the
 * shorthand forms ("127.1", "0x7f.1") and anything with a suffix ("127.0.0.1.evil.com"). */
static bool host_allows_plain_http(const char *host, bool imds)
{
	char v6[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127 || (imds && ntohl(a4.s_addr) == IMDS_ADDR);
	if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof(v6))
		return false;
	memcpy(v6, host + 1, n - 2);
	v6[n - 2] = '\0';
	return inet_pton(AF_INET6, v6, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Credentials in a URL are never ours to send, and "http://127.0.0.1@evil.com" is a trick. */
static bool url_has_userinfo(CURLU *u)
{
	static const CURLUPart parts[] = { CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS };

	for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
		_cleanup_curl_free_ char *v = NULL;

		if (curl_url_get(u, parts[i], &v, 0) == CURLUE_OK)
			return true;
	}
	return false;
}

static int url_policy(CURLU *u, bool imds, const char **ret_why)
{
	_cleanup_curl_free_ char *scheme = NULL, *host = NULL, *zone = NULL;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		*ret_why = "no scheme or host";
		return -EINVAL;
	}
	if (url_has_userinfo(u)) {
		*ret_why = "user information in URL";
		return -EINVAL;
	}
	if (strcasecmp(scheme, "https") == 0)
		return 0;
	if (strcasecmp(scheme, "http") != 0) {
		*ret_why = "scheme not allowed";
		return -EINVAL;
	}
	if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK ||
	    !host_allows_plain_http(host, imds)) {
		*ret_why = imds ? "plain http only to loopback or IMDS (169.254.169.254)" :
				  "plain http only to loopback (169.254.169.254 only for IMDS)";
		return -EINVAL;
	}
	return 0;
}

int http_url_parse(const char *url, bool imds, CURLU **ret)
{
	_cleanup_(curl_url_cleanupp) CURLU *u = NULL;
	const char *why = "unparsable";
	CURLUcode uc;
	int r;

	if (strnlen(url, HTTP_URL_MAX + 1) > HTTP_URL_MAX) {
		log_debug("http: URL refused: longer than %u bytes", HTTP_URL_MAX);
		return -EINVAL;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	/* No CURLU_GUESS_SCHEME or CURLU_DEFAULT_SCHEME: the scheme must be spelled out. */
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OUT_OF_MEMORY)
		return -ENOMEM;
	r = uc == CURLUE_OK ? url_policy(u, imds, &why) : -EINVAL;
	if (r < 0) {
		log_debug("http: URL \"%.*s\" refused: %s", http_url_log_len(url), url, why);
		return r;
	}
	*ret = TAKE_PTR(u);
	return 0;
}

static int url_check(const char *url, bool imds)
{
	CURLU *u = NULL;
	int r;

	r = http_url_parse(url, imds, &u);
	if (r < 0)
		return r;
	curl_url_cleanup(u);
	return 0;
}

int http_url_check(const char *url)
{
	return url_check(url, false);
}

int http_url_check_imds(const char *url)
{
	return url_check(url, true);
}

bool http_url_is_plain(CURLU *u)
{
	_cleanup_curl_free_ char *scheme = NULL;

	return curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	       strcasecmp(scheme, "http") == 0;
}

int http_curl_error(CURLcode code, bool *ret_transient)
{
	*ret_transient = false;
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
#if LIBCURL_VERSION_NUM >= 0x080600
	case CURLE_TOO_LARGE: /* a response header line over libcurl's limit */
#endif
		return -EFBIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_WEIRD_SERVER_REPLY:
	/* Schemes were checked before the transfer (http_url_parse): this is a reply that is not
	 * HTTP at all ("HTTP/0.9"), a server's fault, not the caller's. */
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_TOO_MANY_REDIRECTS:
		return -EPROTO;
	default:
		break;
	}
	/* What is left is connection-level trouble: worth another attempt. */
	*ret_transient = true;
	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR: /* also a reset during the handshake */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -EPROTO;
	default:
		return -EIO; /* CURLE_PARTIAL_FILE and the rest */
	}
}

bool http_status_is_retryable(long status)
{
	switch (status) {
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	default:
		return false;
	}
}

bool http_status_is_busy(long status)
{
	return status == 429 || status == 503;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* delta-seconds = 1*DIGIT (RFC 9110 §10.2.3); values past UINT_MAX saturate. */
static int parse_delta_seconds(const char *v, unsigned *ret)
{
	unsigned long long acc = 0;

	for (const char *p = v; *p; p++) {
		if (!is_digit(*p))
			return -EINVAL;
		if (acc <= UINT_MAX)
			acc = acc * 10 + (unsigned)(*p - '0');
	}
	*ret = acc > UINT_MAX ? UINT_MAX : (unsigned)acc;
	return 0;
}

static int fixed_digits(const char *p, size_t n, int *ret)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	*ret = v;
	return 0;
}

static int name_index(const char (*names)[4], int n, const char *p)
{
	for (int i = 0; i < n; i++)
		if (memcmp(names[i], p, 3) == 0)
			return i;
	return -EINVAL;
}

/* IMF-fixdate, exactly "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7). The obsolete RFC 850
 * and asctime forms are refused: the caller then falls back to its own backoff. */
static int parse_imf_fixdate(const char *v, struct tm *tm)
{
	static const char days[7][4] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int year, mday;

	if (strlen(v) != 29 || memcmp(v + 3, ", ", 2) != 0 || v[7] != ' ' || v[11] != ' ' ||
	    v[16] != ' ' || v[19] != ':' || v[22] != ':' || memcmp(v + 25, " GMT", 4) != 0)
		return -EINVAL;
	if (name_index(days, 7, v) < 0)
		return -EINVAL;
	tm->tm_mon = name_index(months, 12, v + 8);
	if (tm->tm_mon < 0 || fixed_digits(v + 5, 2, &mday) < 0 ||
	    fixed_digits(v + 12, 4, &year) < 0 || fixed_digits(v + 17, 2, &tm->tm_hour) < 0 ||
	    fixed_digits(v + 20, 2, &tm->tm_min) < 0 || fixed_digits(v + 23, 2, &tm->tm_sec) < 0)
		return -EINVAL;
	if (year < 1970 || mday < 1 || mday > 31 || tm->tm_hour > 23 || tm->tm_min > 59 ||
	    tm->tm_sec > 60)
		return -EINVAL;
	tm->tm_year = year - 1900;
	tm->tm_mday = mday;
	return 0;
}

int http_parse_retry_after(const char *v, long now, unsigned *ret_seconds)
{
	struct tm tm = { 0 };
	int mon, mday, r;
	time_t t;

	if (is_digit(v[0]))
		return parse_delta_seconds(v, ret_seconds);
	r = parse_imf_fixdate(v, &tm);
	if (r < 0)
		return r;
	mon = tm.tm_mon;
	mday = tm.tm_mday;
	t = timegm(&tm);
	/* timegm() normalises "31 Feb" into March: such a date was not a date. */
	if (t == (time_t)-1 || tm.tm_mon != mon || tm.tm_mday != mday)
		return -EINVAL;
	if (t <= now)
		*ret_seconds = 0;
	else
		*ret_seconds =
			(unsigned long long)(t - now) > UINT_MAX ? UINT_MAX : (unsigned)(t - now);
	return 0;
}

unsigned http_backoff_ms(unsigned retry, unsigned base_ms, unsigned max_ms)
{
	uint64_t ceiling = base_ms, rnd;

	for (unsigned i = 1; i < retry && ceiling < max_ms; i++)
		ceiling *= 2;
	if (ceiling > max_ms)
		ceiling = max_ms;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return (unsigned)ceiling;
	return (unsigned)(rnd % (ceiling + 1));
}

void http_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
