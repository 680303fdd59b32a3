#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-luks-header.sh - `sealmount image inspect`: images made by real `cryptsetup luksFormat`
# pass; --require-integrity refuses Microsoft-style images; every hostile header in
# tests/data/evil-luks2-* is refused with exit 1 naming its rule; pins work; usage errors exit 2;
# and (when Azurite is available) the same header is read from a page blob URL.

. "$(dirname "$0")/functions.sh"

requires cryptsetup python3 truncate
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
DATA=$(cd "$(dirname "$0")/../data" && pwd)
MUTATE=$(cd "$(dirname "$0")/../helpers" && pwd)/luks2_mutate.py


# inspect EXPECTED_RC [ARGS...]: run `sealmount image inspect`, keep stdout/stderr in $OUT/$ERR.
OUT=$TEST_TMP/out
ERR=$TEST_TMP/err
inspect()
{
	local want=$1 rc=0

	shift
	"$SEALMOUNT" image inspect "$@" >"$OUT" 2>"$ERR" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		cat "$OUT" "$ERR" >&2
		fail "image inspect $*: exit $rc, want $want"
	fi
}

# A fixture header as the first bytes of a sparse 64 MiB image.
as_image()
{
	local img

	img=$TEST_TMP/$(basename "$1").img
	cp "$1" "$img"
	truncate -s 64M "$img"
	echo "$img"
}

step "real luksFormat image (Microsoft's generatefs.sh flags) passes"
head -c 32 /dev/urandom >"$TEST_TMP/key"
IMG=$TEST_TMP/plain.img
truncate -s 24M "$IMG"
cryptsetup luksFormat -q --type luks2 --key-file "$TEST_TMP/key" --sector-size 4096 \
	--cipher aes-xts-plain64 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$IMG"
inspect 0 "$IMG"
grep -q '^segment 0: *aes-xts-plain64, integrity none, 4096-byte sectors' "$OUT" ||
	fail "inspect output: $(cat "$OUT")"
grep -q 'no integrity protection' "$ERR" || fail "no warning for an image without integrity"
inspect 0 "file://$IMG"

step "--require-integrity refuses it, naming the rule"
inspect 1 --require-integrity "$IMG"
grep -q 'policy.require-integrity' "$ERR" || fail "rule not named: $(cat "$ERR")"

step "--json"
inspect 0 --json "$IMG"
SHA=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True; print(d["header_sha256"])' "$OUT")
WANT=$(head -c 32768 "$IMG" | sha256sum | cut -d' ' -f1)
expect_eq "$SHA" "$WANT" "header_sha256 (SHA-256 of both copies)"
UUID=$(cryptsetup luksUUID "$IMG")

step "--export-header writes a detached header that cryptsetup accepts and the key unlocks"
inspect 0 --export-header "$TEST_TMP/detached.hdr" "$IMG"
expect_eq "$(stat -c %s "$TEST_TMP/detached.hdr")" 16777216 "detached header size"
expect_eq "$(stat -c %a "$TEST_TMP/detached.hdr")" 600 "detached header mode"
cryptsetup luksDump "$TEST_TMP/detached.hdr" >/dev/null
cryptsetup open --test-passphrase --key-file "$TEST_TMP/key" --header "$TEST_TMP/detached.hdr" "$IMG"
head -c 32 /dev/urandom >"$TEST_TMP/wrongkey"
if cryptsetup open --test-passphrase --key-file "$TEST_TMP/wrongkey" \
	--header "$TEST_TMP/detached.hdr" "$IMG" 2>/dev/null; then
	fail "wrong key unlocked the detached header"
fi
inspect 1 --export-header "$TEST_TMP/detached.hdr" "$IMG" # never overwrites

step "pins"
inspect 0 --pin-sha256 "$SHA" --pin-uuid "$UUID" "$IMG"
inspect 1 --pin-sha256 "$(printf '%064d' 0)" "$IMG"
grep -q 'policy.pin-sha256' "$ERR" || fail "pin-sha256 rule not named"
inspect 1 --pin-uuid 00000000-0000-0000-0000-000000000000 "$IMG"
grep -q 'policy.pin-uuid' "$ERR" || fail "pin-uuid rule not named"

step "a header change by cryptsetup itself (new keyslot) changes the digest"
head -c 32 /dev/urandom >"$TEST_TMP/key2"
cryptsetup luksAddKey -q --key-file "$TEST_TMP/key" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$IMG" "$TEST_TMP/key2"
inspect 0 "$IMG"
grep -q '^keyslot 1:' "$OUT" || fail "second keyslot not shown"
inspect 1 --pin-sha256 "$SHA" "$IMG"

step "a token added by cryptsetup is refused"
cryptsetup token import "$IMG" --json-file <(echo '{"type":"x-test","keyslots":["0"]}')
inspect 1 "$IMG"
grep -q 'tokens.present' "$ERR" || fail "token rule not named: $(cat "$ERR")"
cryptsetup token remove --token-id 0 "$IMG"
inspect 0 "$IMG"

step "hostile headers are refused with their rule"
while read -r name rule; do
	inspect 1 "$(as_image "$DATA/evil-luks2-$name.hdr")"
	grep -q "rule $rule:" "$ERR" || fail "evil-luks2-$name: want rule $rule, got $(cat "$ERR")"
	inspect 1 --json "$(as_image "$DATA/evil-luks2-$name.hdr")"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is False and d["rule"] == sys.argv[2], d' \
		"$OUT" "$rule"
done <<'EOF'
keyslot-cipher-null keyslot.cipher_null
segment-cipher-null segment.cipher_null
extra-keyslot digest.keyslots
extra-segment segments.count
copies-disagree hdr.copies-disagree
bad-checksum hdr.checksum
token tokens.present
reencrypt config.requirements
unknown-field segment.unknown-field
json-size config.json_size
segment-beyond segment.size
EOF

step "a mutation made on the fly from the real image (cipher_null in the keyslot)"
head -c 32768 "$IMG" >"$TEST_TMP/hdr"
python3 "$MUTATE" "$TEST_TMP/hdr" "$TEST_TMP/null.hdr" keyslot-cipher-null
cp "$IMG" "$TEST_TMP/null.img"
dd if="$TEST_TMP/null.hdr" of="$TEST_TMP/null.img" conv=notrunc status=none
inspect 1 "$TEST_TMP/null.img"
grep -q 'keyslot.cipher_null' "$ERR" || fail "cipher_null not named"

step "not LUKS at all, and too small"
truncate -s 1M "$TEST_TMP/zero.img"
inspect 1 "$TEST_TMP/zero.img"
grep -q 'hdr.magic' "$ERR" || fail "magic rule not named"
: >"$TEST_TMP/empty.img"
inspect 1 "$TEST_TMP/empty.img"
grep -q 'hdr.truncated' "$ERR" || fail "truncated rule not named"

step "usage errors"
inspect 2
inspect 2 --bogus "$IMG"
inspect 2 --pin-sha256 abc "$IMG"
inspect 2 "$IMG" extra
inspect 1 "$TEST_TMP/does-not-exist"
rc=0
"$SEALMOUNT" image frobnicate >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "unknown image subcommand"
# (through a file: grep -q quits at the first match and a help text longer than one pipe write
# would then die of SIGPIPE, which pipefail reports)
"$SEALMOUNT" image --help >"$TEST_TMP/help"
grep -q 'image inspect' "$TEST_TMP/help" || fail "no help"

step "the header read from a page blob URL (Azurite)"
if command -v node >/dev/null 2>&1 && [ -d "$EMULATORS/node_modules" ]; then
	emu_start azurite AZ_PORT
	printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' \
		>"$TEST_TMP/acct"
	node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs plain.img "$IMG"
	node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" upload-page imgs null.img "$TEST_TMP/null.img"
	URL="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs"
	inspect 0 --account-key-file "$TEST_TMP/acct" --json "$URL/plain.img"
	inspect 1 --account-key-file "$TEST_TMP/acct" "$URL/null.img"
	grep -q 'keyslot.cipher_null' "$ERR" || fail "blob: cipher_null not named"
	inspect 1 --account-key-file "$TEST_TMP/acct" "$URL/missing.img"
else
	echo "(skipped: node or tests/emulators/node_modules missing)"
fi
echo "OK"
