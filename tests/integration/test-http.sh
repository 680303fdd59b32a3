#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-http.sh - the http module (through tests/helpers/http_probe) against the loopback test
# server of tests/emulators/testserver.mjs: retries, Retry-After, timeouts, caps, redirects,
# the plain-http policy, TLS verification, threads, and what reaches the debug log.

# shellcheck source=tests/integration/functions.sh
. "$(dirname "$0")/functions.sh"

[ -x "${HTTP_PROBE:-}" ] || fail "HTTP_PROBE is not set to the http_probe helper (run through meson test)"

emu_start testserver PORT
BASE="http://127.0.0.1:$PORT"
FAST=(--backoff-base-ms 10 --backoff-max-ms 50)

# probe ARGS...: run http_probe; sets OUT (its stdout), ERR (stderr file) and RC.
ERR="$TEST_TMP/probe.err"
probe()
{
	RC=0
	OUT=$("$HTTP_PROBE" "$@" 2>"$ERR") || RC=$?
}

# field NAME: the value of NAME=... in OUT (the error name for "error").
field()
{
	local v

	case $1 in
	errname) v=$(sed -n 's/^error=-[0-9]* \([A-Z0-9]*\) .*/\1/p' <<<"$OUT") ;;
	*) v=$(sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$OUT" | head -n1) ;;
	esac
	printf '%s' "$v"
}

# expect_ok STATUS ATTEMPTS: the request came back with that status after that many attempts.
expect_ok()
{
	expect_eq "$RC" 0 "exit code of '$OUT'"
	expect_eq "$(field status)" "$1" "status"
	expect_eq "$(field attempts)" "$2" "attempts"
}

expect_error()
{
	expect_eq "$RC" 1 "exit code of '$OUT'"
	expect_eq "$(field errname)" "$1" "error"
}

hits_of()
{
	probe --url "$BASE/hits/$1" --output "$TEST_TMP/hits.json"
	expect_ok 200 1
	sed -n 's/.*"hits":\([0-9]*\).*/\1/p' "$TEST_TMP/hits.json"
}

step "success"
probe --url "$BASE/ok"
expect_ok 200 1
expect_eq "$(field bytes)" 3 "bytes"

step "503s are retried, then success"
probe --url "$BASE/flaky/a/2" --retries 3 "${FAST[@]}"
expect_ok 200 3

step "retries run out: the last status is returned"
probe --url "$BASE/flaky/b/10" --retries 2 "${FAST[@]}"
expect_ok 503 3

step "404 and 400 are not retried"
probe --url "$BASE/status/404" --retries 3 "${FAST[@]}"
expect_ok 404 1
probe --url "$BASE/status/400" --retries 3 "${FAST[@]}"
expect_ok 400 1

step "Retry-After in seconds is honoured"
probe --url "$BASE/retry-after/c/2" --retries 1 --backoff-max-ms 10000
expect_ok 200 2
[ "$(field elapsed_ms)" -ge 2000 ] || fail "Retry-After: 2 waited only $(field elapsed_ms) ms"

step "Retry-After as an HTTP date is honoured"
probe --url "$BASE/retry-after-date/d/1" --retries 1 --backoff-max-ms 10000
expect_ok 200 2
[ "$(field elapsed_ms)" -ge 1000 ] || fail "Retry-After date waited only $(field elapsed_ms) ms"

step "Retry-After is capped by backoff-max"
probe --url "$BASE/retry-after/e/3600" --retries 1 --backoff-max-ms 300
expect_ok 200 2
[ "$(field elapsed_ms)" -lt 5000 ] || fail "capped Retry-After took $(field elapsed_ms) ms"

step "a slow answer times out"
probe --url "$BASE/delay/5000" --timeout-ms 500
expect_error ETIMEDOUT
[ "$(field elapsed_ms)" -lt 3000 ] || fail "timeout took $(field elapsed_ms) ms"

step "a reset connection is retried, then the error is returned"
probe --url "$BASE/reset?k=reset1" --retries 2 "${FAST[@]}"
expect_error ECONNRESET
expect_eq "$(hits_of reset1)" 3 "server-side attempts on /reset"

step "a redirect is returned, not followed"
probe --url "$BASE/redirect" --retries 2 --print-header Location
expect_ok 302 1
grep -qx 'header Location=/ok' <<<"$OUT" || fail "Location header not returned: $OUT"

step "a body over the cap fails with EFBIG (Content-Length and chunked)"
probe --url "$BASE/big/2000000" --max-response 1000000 --retries 2 "${FAST[@]}"
expect_error EFBIG
probe --url "$BASE/big-chunked/2000000" --max-response 1000000 --retries 2 "${FAST[@]}"
expect_error EFBIG
probe --url "$BASE/big/1000000" --max-response 1000000
expect_ok 200 1
expect_eq "$(field bytes)" 1000000 "bytes at the cap"

step "a 2 GB Content-Length fails with EFBIG at once"
probe --url "$BASE/biglen" --timeout-ms 20000
expect_error EFBIG
[ "$(field elapsed_ms)" -lt 1000 ] || fail "2 GB Content-Length took $(field elapsed_ms) ms"

step "a trickling body is cut off by the total timeout"
probe --url "$BASE/trickle" --timeout-ms 1500
expect_error ETIMEDOUT
[ "$(field elapsed_ms)" -lt 4000 ] || fail "trickle took $(field elapsed_ms) ms"

step "a trickling body is cut off by the low-speed limit"
probe --url "$BASE/trickle" --timeout-ms 30000 --low-speed 100:1
expect_error ETIMEDOUT
[ "$(field elapsed_ms)" -lt 5000 ] || fail "low-speed abort took $(field elapsed_ms) ms"

step "plain http off loopback, other schemes and injected headers are refused before any I/O"
# 0.0.0.0 and ::ffff:127.0.0.1 would reach the test server if they were let through.
for url in "http://0.0.0.0:$PORT/ok?k=refused" "http://[::ffff:127.0.0.1]:$PORT/ok?k=refused" \
	"http://127.0.0.1@0.0.0.0:$PORT/ok?k=refused" "http://example.com/" \
	"ftp://127.0.0.1:$PORT/" "file:///etc/passwd" "gopher://127.0.0.1:$PORT/"; do
	probe --url "$url" --retries 3
	expect_error EINVAL
done
expect_eq "$(hits_of refused)" 0 "requests that reached the server through refused URLs"
probe --url "$BASE/ok?k=hdr" --header $'X-A: 1\r\nX-Injected: 2'
expect_error EINVAL
expect_eq "$(hits_of hdr)" 0 "requests with an injected header"
# With strace (and ptrace allowed), prove it at the system-call level: an accepted URL shows a
# connect(), a refused one no network call at all.
if command -v strace >/dev/null 2>&1 &&
	strace -f -qq -e trace=%network -o "$TEST_TMP/strace.ok" \
		"$HTTP_PROBE" --url "$BASE/ok" >/dev/null 2>&1 &&
	grep -q 'connect(' "$TEST_TMP/strace.ok"; then
	strace -f -qq -e trace=%network -o "$TEST_TMP/strace" \
		"$HTTP_PROBE" --url "http://example.com/" >/dev/null 2>&1 || true
	[ -e "$TEST_TMP/strace" ] || fail "strace wrote no trace"
	if [ -s "$TEST_TMP/strace" ]; then
		cat "$TEST_TMP/strace" >&2
		fail "a refused URL caused network system calls"
	fi
else
	echo "--- (no strace, or ptrace not allowed: system-call check skipped)"
fi

step "request headers go out as given; curl's defaults are trimmed"
probe --url "$BASE/echo-headers" --method PUT --header "X-Test: yes" --header "x-ms-version: 1" \
	--output "$TEST_TMP/echo.json"
expect_ok 200 1
grep -q '"method":"PUT"' "$TEST_TMP/echo.json" || fail "method: $(cat "$TEST_TMP/echo.json")"
grep -q '\["X-Test","yes"\]' "$TEST_TMP/echo.json" || fail "X-Test: $(cat "$TEST_TMP/echo.json")"
grep -q '\["Content-Length","0"\]' "$TEST_TMP/echo.json" || fail "no Content-Length: 0 on PUT"
grep -q '\["User-Agent","sealmount/' "$TEST_TMP/echo.json" || fail "User-Agent"
! grep -qi '"Content-Type"\|"Expect"' "$TEST_TMP/echo.json" || fail "curl default headers sent"

step "the debug log names the request but no secret"
probe --debug --url "$BASE/flaky/f/1?sv=1&sig=QUERYSECRET" --retries 1 "${FAST[@]}" \
	--header "Authorization: Bearer HEADERSECRET"
expect_ok 200 2
grep -q 'http\[[0-9]*\] GET http://127.0.0.1:[0-9]*/flaky/f/1: status 503' "$ERR" ||
	fail "debug log lacks the request line: $(cat "$ERR")"
! grep -q 'SECRET\|sig=' "$ERR" || fail "secret in the debug log: $(grep 'SECRET\|sig=' "$ERR")"

step "many threads share one client"
probe --url "$BASE/ok" --threads 8 --repeat 25
expect_eq "$RC" 0 "exit code of '$OUT'"
expect_eq "$(field requests)" 200 "requests"
expect_eq "$(field failures)" 0 "failures"

if command -v openssl >/dev/null 2>&1; then
	step "https: the peer is verified against the roots, the name against the certificate"
	T="$TEST_TMP/tls"
	mkdir -p "$T"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=sealmount test CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
		-keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
		>"$T/ext"
	openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 2 -extfile "$T/ext" -out "$T/srv.pem" 2>/dev/null
	emu_start testserver TLS_PORT --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"

	probe --url "https://localhost:$TLS_PORT/ok" --ca-file "$T/ca.pem"
	expect_ok 200 1
	probe --url "https://localhost:$TLS_PORT/ok" --retries 2 "${FAST[@]}"
	expect_error EPROTO # unknown issuer, not retried
	probe --url "https://127.0.0.1:$TLS_PORT/ok" --ca-file "$T/ca.pem"
	expect_error EPROTO # the certificate names localhost only
	probe --url "https://localhost:$TLS_PORT/ok" --ca-file "$T/srv.key"
	expect_error EINVAL # no certificate in the CA file
else
	echo "--- https cases skipped: openssl not found"
fi

echo "PASS: test-http"
