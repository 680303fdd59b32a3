#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-blob-errors.sh - what the blob commands (`blob stat`, `blob attach`, `image inspect`,
# `image upload`) print when the storage says no, driven against Azurite: the service's status
# and code ("HTTP 404 ContainerNotFound") with the likely cause from the explainer
# (src/pipeline/explain.c), a host that does not resolve ("Could not resolve host NAME"), a URL
# without https://; and `image upload` creating the container with an account key, refusing an
# existing blob without --overwrite and replacing it with it.

. "$(dirname "$0")/functions.sh"

requires node timeout
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

emu_start azurite AZ_PORT
ACCT="http://127.0.0.1:$AZ_PORT/devstoreaccount1"
KEY="$TEST_TMP/key"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
BADKEY="$TEST_TMP/badkey"
printf '%s\n' 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==' >"$BADKEY"
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }
head -c 1048576 /dev/urandom >"$TEST_TMP/img"
head -c 2097152 /dev/urandom >"$TEST_TMP/img2"

# run WHAT CMD...: the real command, bounded (a hang fails), exit code in RC, stderr in ERR.
run()
{
	local what=$1
	shift
	RC=0
	timeout -s KILL 60 "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || RC=$?
	ERR=$(cat "$TEST_TMP/err")
	[ "$RC" -lt 124 ] || fail "$what: killed or hung (rc $RC)"
	printf '  %-34s rc=%s %s\n' "$what" "$RC" "$(grep -E 'error|fail' "$TEST_TMP/err" | tail -1 | cut -c1-160)"
}

# expect WHAT REGEX...: the last command failed with exit 1 and its stderr matches every REGEX.
expect()
{
	local what=$1 re
	shift
	expect_eq "$RC" 1 "$what: exit status ($ERR)"
	for re in "$@"; do
		grep -qE -- "$re" <<<"$ERR" || fail "$what: stderr does not match /$re/: $ERR"
	done
}

step "image upload with an account key creates the container"
run "upload, new container" "$SEALMOUNT" image upload "$TEST_TMP/img" "$ACCT/made/a.img" \
	--account-key-file "$KEY"
expect_eq "$RC" 0 "upload into a new container: $ERR"
grep -q 'Created the container' <<<"$ERR" || fail "no word of the container being created: $ERR"
tool download made a.img "$TEST_TMP/back" >/dev/null
cmp -s "$TEST_TMP/img" "$TEST_TMP/back" || fail "the uploaded blob differs"

step "an existing blob: refused without --overwrite, replaced with it"
run "upload again" "$SEALMOUNT" image upload "$TEST_TMP/img2" "$ACCT/made/a.img" \
	--account-key-file "$KEY"
expect "upload over an existing blob" 'failed.*the blob exists: --overwrite replaces it'
tool download made a.img "$TEST_TMP/back" >/dev/null
cmp -s "$TEST_TMP/img" "$TEST_TMP/back" || fail "a refused upload changed the blob"
run "upload --overwrite" "$SEALMOUNT" image upload "$TEST_TMP/img2" "$ACCT/made/a.img" \
	--account-key-file "$KEY" --overwrite
expect_eq "$RC" 0 "upload --overwrite: $ERR"
tool download made a.img "$TEST_TMP/back" >/dev/null
cmp -s "$TEST_TMP/img2" "$TEST_TMP/back" || fail "--overwrite did not replace the blob"
# another type too: a page blob where the block blob was
run "upload --page --overwrite" "$SEALMOUNT" image upload "$TEST_TMP/img" "$ACCT/made/a.img" \
	--account-key-file "$KEY" --overwrite --page
expect_eq "$RC" 0 "upload --page --overwrite: $ERR"
run "stat" "$SEALMOUNT" blob stat "$ACCT/made/a.img" --account-key-file "$KEY"
grep -q '^type: PageBlob' "$TEST_TMP/out" || fail "not a page blob after --page --overwrite"
grep -q '^size: 1048576' "$TEST_TMP/out" || fail "wrong size after --overwrite"
run "--resume with --overwrite" "$SEALMOUNT" image upload "$TEST_TMP/img" "$ACCT/made/a.img" \
	--account-key-file "$KEY" --overwrite --resume
expect_eq "$RC" 2 "--resume --overwrite is a usage error"

step "the service's code and the likely cause"
run "stat, no such container" "$SEALMOUNT" blob stat "$ACCT/nosuch/a.img" --account-key-file "$KEY"
expect "missing container" 'Cannot get the properties of .*/nosuch/a\.img: HTTP 404 ContainerNotFound' \
	'Likely causes: the container named in the URL does not exist: check the container name'
run "stat, no such blob" "$SEALMOUNT" blob stat "$ACCT/made/nosuch.img" --account-key-file "$KEY"
expect "missing blob" 'HTTP 404 BlobNotFound' 'holds no blob of that name'
run "stat, wrong account key" "$SEALMOUNT" blob stat "$ACCT/made/a.img" --account-key-file "$BADKEY"
expect "wrong key" 'HTTP 403 (AuthenticationFailed|AuthorizationFailure)' 'wrong( or rotated)? account key'
run "stat, no credentials" "$SEALMOUNT" blob stat "$ACCT/made/a.img"
expect "private container, anonymous" 'HTTP 40[134] [A-Za-z]+' \
	'credentials|SAS|--account-key-file'
SAS=$(tool sas made a.img w)
run "stat, SAS without read" "$SEALMOUNT" blob stat "$ACCT/made/a.img?$SAS"
expect "SAS without read permission" 'HTTP 403 Authorization[A-Za-z]+' 'sp=r'
grep -q 'sig=' <<<"$ERR" && fail "the SAS signature reached the terminal: $ERR"
run "upload with a SAS, no container" "$SEALMOUNT" image upload "$TEST_TMP/img" \
	"$ACCT/nosuch2/a.img?$(tool sas made a.img cw)"
expect "upload, SAS, missing container" 'Uploading .* failed: HTTP 40[34] [A-Za-z]+'
mkdir -p "$TEST_TMP/mnt"
run "attach, no such container" "$SEALMOUNT" blob attach "$ACCT/nosuch/a.img" "$TEST_TMP/mnt" \
	--account-key-file "$KEY"
expect "attach, missing container" 'Cannot open .*/nosuch/a\.img: HTTP 404 ContainerNotFound' \
	'container named in the URL does not exist'
run "inspect, no such container" "$SEALMOUNT" image inspect "$ACCT/nosuch/a.img" \
	--account-key-file "$KEY"
expect "inspect, missing container" 'HTTP 404 ContainerNotFound' 'container named in the URL'

step "a host that does not resolve, a URL without https://"
# .invalid never resolves (RFC 6761): the name is in the message, not "No route to host".
run "stat, unresolvable host" "$SEALMOUNT" blob stat "https://sealmount-nosuch.blob.core.invalid/c/b"
expect "unresolvable host" 'Could not resolve host sealmount-nosuch\.blob\.core\.invalid' \
	'does not resolve'
grep -q 'No route to host' <<<"$ERR" && fail "DNS failure reported as 'No route to host': $ERR"
run "stat, no scheme" "$SEALMOUNT" blob stat "devstoreaccount1.blob.core.windows.net/c/b"
expect "URL without https://" "is not a blob URL: it needs https://" \
	'https://ACCOUNT\.blob\.core\.windows\.net/CONTAINER/BLOB'
run "upload, no scheme" "$SEALMOUNT" image upload "$TEST_TMP/img" "acct.blob.core.windows.net/c/b"
expect "upload to a URL without https://" "it needs https://"
run "inspect, no scheme" "$SEALMOUNT" image inspect "acct.blob.core.windows.net/c/b.img"
expect "inspect of a URL without https://" "if it is a URL: it needs https://" \
	'https://ACCOUNT\.blob\.core\.windows\.net/CONTAINER/BLOB'
echo "blob errors: ok"
