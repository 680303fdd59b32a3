#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-tls-errors.sh - a TLS failure says why (docs/http.md, "TLS errors"): against the loopback
# https test server with a self-signed certificate, one from a CA that is not trusted, one for
# another host name and an expired one, both the http module (tests/helpers/http_probe) and the
# user-visible message of a real command (`sealmount blob stat`, `sealmount mount`'s open step) name the certificate problem and the CA settings to check; with the right
# CA and name the same server is reached.

# shellcheck source=tests/integration/functions.sh
. "$(dirname "$0")/functions.sh"

[ -x "${HTTP_PROBE:-}" ] || fail "HTTP_PROBE is not set to the http_probe helper (run through meson test)"
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
requires openssl

T="$TEST_TMP/tls"
mkdir "$T"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
# A test CA, and one nobody trusts.
for ca in ca other; do
	openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=sealmount test $ca" \
		-keyout "$T/$ca.key" -out "$T/$ca.pem" 2>/dev/null || fail "openssl: CA $ca"
done
# leaf NAME CA DAYS SAN: a server certificate NAME.pem/.key issued by CA for SAN.
leaf()
{
	openssl req "${ec[@]}" -subj "/CN=$1" -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null ||
		fail "openssl: csr $1"
	printf 'subjectAltName=%s\n' "$4" >"$T/$1.ext"
	openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" -CAkey "$T/$2.key" -CAcreateserial \
		-days "$3" -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null || fail "openssl: leaf $1"
}
leaf good ca 2 "DNS:localhost,IP:127.0.0.1"
leaf wrongname ca 2 "DNS:wrong.example"
leaf expired ca -1 "DNS:localhost,IP:127.0.0.1" # notAfter a day before notBefore (now)
leaf untrusted other 2 "DNS:localhost,IP:127.0.0.1"
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
	-keyout "$T/selfsigned.key" -out "$T/selfsigned.pem" 2>/dev/null || fail "openssl: self-signed"

ERR="$TEST_TMP/err"
# check NAME PATTERN: serve NAME's certificate, then the probe and two real commands must fail
# naming PATTERN and the CA settings.
check()
{
	local name=$1 pattern=$2 port out

	emu_start testserver port --tls-cert "$T/$name.pem" --tls-key "$T/$name.key"
	out=$("$HTTP_PROBE" --url "https://localhost:$port/ok" --ca-file "$T/ca.pem" 2>/dev/null) &&
		fail "$name: the probe got through: $out"
	grep -q '^error=-[0-9]* EPROTO' <<<"$out" || fail "$name: not EPROTO: $out"
	grep -q "^why=TLS to localhost: .*$pattern" <<<"$out" || fail "$name: the probe says: $out"
	echo "  probe: $(sed -n 's/^why=//p' <<<"$out")"

	"$SEALMOUNT" blob stat "https://localhost:$port/acct/c/img" --ca-file "$T/ca.pem" \
		>/dev/null 2>"$ERR" && fail "$name: blob stat succeeded"
	grep -q "$pattern" "$ERR" || fail "$name: blob stat says: $(cat "$ERR")"
	if [ "$name" != wrongname ]; then
		grep -q 'sealmount.ca_file (--ca-file)' "$ERR" ||
			fail "$name: no CA settings named: $(cat "$ERR")"
	fi
	grep -q 'Protocol error$' "$ERR" && fail "$name: ends in a bare 'Protocol error': $(cat "$ERR")"

	mkdir -p "$TEST_TMP/pub"
	head -c 32 /dev/urandom >"$TEST_TMP/key"
	# mount takes --ca-file with the key release options only: without the test CA every one
	# of these fails on its issuer, and the open step must say so.
	"$SEALMOUNT" mount --url "https://localhost:$port/acct/c/img" \
		--key-file "$TEST_TMP/key" --work-dir "$TEST_TMP/work" "$TEST_TMP/pub/share" \
		>/dev/null 2>"$ERR" && fail "$name: mount succeeded"
	grep -q "step 'open' failed: .*TLS to localhost: the server's certificate .*sealmount.ca_file" \
		"$ERR" || fail "$name: mount says: $(cat "$ERR")"
}

step "the right CA and name: reached"
emu_start testserver GOOD --tls-cert "$T/good.pem" --tls-key "$T/good.key"
out=$("$HTTP_PROBE" --url "https://localhost:$GOOD/ok" --ca-file "$T/ca.pem" 2>/dev/null) ||
	fail "good: $out"
grep -q '^status=200' <<<"$out" || fail "good: $out"

step "a self-signed certificate"
check selfsigned "self-signed"
step "a certificate from a CA that is not trusted"
check untrusted "unknown CA (issuer not in the trust roots)"
step "a certificate for another host name"
check wrongname "host name mismatch"
step "an expired certificate"
check expired "has expired"
echo "tls errors: ok"
