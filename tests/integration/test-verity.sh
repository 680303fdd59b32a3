#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-verity.sh - sealed images (docs/verity.md) against cryptsetup's own `veritysetup`, on
# plain files (no device-mapper, no root):
#   - `image create --verity` prints a root hash that `veritysetup verify` accepts;
#   - `image seal` on a copy and `veritysetup format --hash-offset --salt --uuid` (same salt and
#     uuid) on another copy give byte-identical files and the same root hash;
#   - ours accepts veritysetup's: an image in Microsoft's shape (luksFormat without integrity)
#     sealed by `veritysetup format` with a random salt opens with the root hash it printed
#     (`image inspect --root-hash`, `image decrypt --root-hash` byte-exact vs the unsealed one);
#     `image seal` seals such an image in place too;
#   - tampering, each checked by `veritysetup verify` too: a flipped data byte, a flipped byte
#     of the LUKS2 header and of the hash area make `image inspect --root-hash` and
#     `image decrypt --root-hash` exit 1 naming the block; an older image made with the same key
#     (another root hash) is refused; without a root hash nothing is checked (and decrypt says
#     so);
#   - publisher signatures: `image sign`, verified with the public key as PEM and as JWK,
#     refused below --min-version, with another key, or when the signature block changed; the
#     signature block does not disturb `veritysetup verify`;
#   - refusals: sealing twice, a size that is not a multiple of 4096, --root-hash on an image
#     that is not sealed, malformed options.

. "$(dirname "$0")/functions.sh"

export PATH=$PATH:/usr/sbin:/sbin
requires veritysetup cryptsetup mke2fs openssl python3 jq xxd cmp
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"

W=$TEST_TMP
mkdir -p "$W/src"
echo "sealed hello" >"$W/src/hello.txt"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$W/src/random.bin"
head -c 32 /dev/urandom >"$W/key"

# json FILE FILTER: a field of `image inspect --json` output
json() { jq -r "$2" "$1"; }
root_of() { sed -n 's/^root-hash: \([0-9a-f]\{64\}\)$/\1/p' "$1"; }
# flip FILE OFFSET: invert the lowest bit of the byte at OFFSET
flip()
{
	local b

	b=$(xxd -s "$2" -l 1 -p "$1")
	# shellcheck disable=SC2059 # the format is the escaped byte
	printf "$(printf '\\x%02x' $((0x$b ^ 1)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# refused WHAT GREP CMD...: CMD must exit 1 with GREP in its stderr
refused()
{
	local what=$1 want=$2 rc=0

	shift 2
	"$@" >"$W/out" 2>"$W/err" || rc=$?
	[ "$rc" = 1 ] || fail "$what: exit $rc, expected 1: $(cat "$W/err")"
	grep -q -- "$want" "$W/err" || fail "$what: no '$want' in: $(cat "$W/err")"
}
create() { "$SEALMOUNT" image create --from-dir "$W/src" --key-file "$W/key" --size 16M \
	--pbkdf-iterations 1000 "$@" 2>/dev/null; }

step "image create --verity: veritysetup verify accepts the root hash it prints"
create -o "$W/a.img" --verity >"$W/a.out"
ROOT=$(root_of "$W/a.out")
[ ${#ROOT} -eq 64 ] || fail "no root-hash line: $(cat "$W/a.out")"
"$SEALMOUNT" image inspect "$W/a.img" --json >"$W/a.json"
D=$(json "$W/a.json" .verity.hash_offset)
N=$(json "$W/a.json" .verity.data_blocks)
expect_eq "$((D % 4096))" 0 "hash offset alignment"
expect_eq "$N" "$((D / 4096))" "data blocks"
expect_eq "$(json "$W/a.json" .verity.root_hash)" null "root hash without --root-hash"
expect_eq "$(stat -c %s "$W/a.img")" "$(json "$W/a.json" .verity.sealed_size)" "file size"
veritysetup verify --hash-offset="$D" "$W/a.img" "$W/a.img" "$ROOT" ||
	fail "veritysetup verify refused our image"
"$SEALMOUNT" image inspect "$W/a.img" --root-hash "$ROOT" --json >"$W/a2.json"
expect_eq "$(json "$W/a2.json" .verity.root_hash)" "$ROOT" "reported root hash"
expect_eq "$(json "$W/a2.json" .verity.checked)" true "checked"
expect_eq "$(json "$W/a2.json" .integrity)" "hmac(sha256)" "LUKS2 header through the seal"

step "image seal and veritysetup format (same salt and uuid) write the same bytes"
create -o "$W/u.img" >/dev/null
cp "$W/u.img" "$W/ours.img"
cp "$W/u.img" "$W/theirs.img"
"$SEALMOUNT" image seal "$W/ours.img" >"$W/seal.out" 2>/dev/null
OURS=$(root_of "$W/seal.out")
"$SEALMOUNT" image inspect "$W/ours.img" --json >"$W/o.json"
SALT=$(json "$W/o.json" .verity.salt)
UUID=$(json "$W/o.json" .verity.uuid)
D=$(stat -c %s "$W/u.img")
veritysetup format --hash-offset="$D" --data-blocks=$((D / 4096)) --salt="$SALT" --uuid="$UUID" \
	"$W/theirs.img" "$W/theirs.img" >"$W/vs.out"
THEIRS=$(awk '/^Root hash:/ { print $3 }' "$W/vs.out")
expect_eq "$OURS" "$THEIRS" "root hash, ours vs veritysetup"
cmp "$W/ours.img" "$W/theirs.img" || fail "sealed files differ"
# the same with our chosen salt and uuid
cp "$W/u.img" "$W/ours2.img"
"$SEALMOUNT" image seal "$W/ours2.img" --salt 00ff --uuid 01234567-89ab-4def-8123-456789abcdef \
	>"$W/seal2.out" 2>/dev/null
cp "$W/u.img" "$W/theirs2.img"
veritysetup format --hash-offset="$D" --salt=00ff --uuid=01234567-89ab-4def-8123-456789abcdef \
	"$W/theirs2.img" "$W/theirs2.img" >"$W/vs2.out"
expect_eq "$(root_of "$W/seal2.out")" "$(awk '/^Root hash:/ { print $3 }' "$W/vs2.out")" \
	"root hash with a 2-byte salt"
cmp "$W/ours2.img" "$W/theirs2.img" || fail "sealed files differ (--salt, --uuid)"

step "ours accepts veritysetup's: a Microsoft-style image sealed by veritysetup format"
truncate -s 24M "$W/ms.img"
cryptsetup luksFormat -q --type luks2 --cipher aes-xts-plain64 --sector-size 4096 \
	--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$W/key" "$W/ms.img"
"$SEALMOUNT" image decrypt "$W/ms.img" --key-file "$W/key" -o "$W/ms.plain" 2>/dev/null
cp "$W/ms.img" "$W/ms-vs.img"
D=$(stat -c %s "$W/ms.img")
veritysetup format --hash-offset="$D" "$W/ms-vs.img" "$W/ms-vs.img" >"$W/ms.out"
MSROOT=$(awk '/^Root hash:/ { print $3 }' "$W/ms.out")
"$SEALMOUNT" image inspect "$W/ms-vs.img" --root-hash "$MSROOT" >/dev/null ||
	fail "inspect --root-hash refused veritysetup's seal"
"$SEALMOUNT" image decrypt "$W/ms-vs.img" --key-file "$W/key" --root-hash "$MSROOT" \
	-o "$W/ms-vs.plain" 2>/dev/null || fail "decrypt --root-hash refused veritysetup's seal"
cmp "$W/ms.plain" "$W/ms-vs.plain" || fail "plaintext through the seal differs"
# and `image seal` seals the same kind of image in place
cp "$W/ms.img" "$W/ms-ours.img"
"$SEALMOUNT" image seal "$W/ms-ours.img" >"$W/mso.out" 2>/dev/null
veritysetup verify --hash-offset="$D" "$W/ms-ours.img" "$W/ms-ours.img" "$(root_of "$W/mso.out")" ||
	fail "veritysetup verify refused our seal of a Microsoft-style image"

step "tampering: data, LUKS2 header, hash area; an older image"
D=$(json "$W/a.json" .verity.hash_offset)
"$SEALMOUNT" image decrypt "$W/a.img" --key-file "$W/key" --root-hash "$ROOT" \
	-o "$W/a.plain" 2>/dev/null || fail "decrypt of the untouched image failed"
# tamper NAME OFFSET WANT: a copy of a.img with one flipped byte must be refused everywhere
tamper()
{
	local name=$1 off=$2 want=$3 t=$W/t-$1.img

	cp "$W/a.img" "$t"
	flip "$t" "$off"
	if veritysetup verify --hash-offset="$D" "$t" "$t" "$ROOT" 2>/dev/null; then
		fail "$name: veritysetup verify accepted the tampered copy"
	fi
	refused "$name: inspect" "$want" "$SEALMOUNT" image inspect "$t" --root-hash "$ROOT"
	rm -f "$W/t.plain"
	refused "$name: decrypt" "$want" "$SEALMOUNT" image decrypt "$t" --key-file "$W/key" \
		--root-hash "$ROOT" -o "$W/t.plain"
}
BLK=$(((D / 4096) / 2))
tamper data $((BLK * 4096 + 123)) "data block $BLK "
tamper header 300 "data block 0 "
L0=$((D + 4096 + 4096)) # a 2-level tree: the top block, then level 0
tamper hash $((L0 + 4096 + 7)) "hash block 1 of level 0"
tamper top $((D + 4096 + 1)) "root hash does not match"
# the unverified view shows the tampered image but says it did not check
cp "$W/a.img" "$W/t.img"
flip "$W/t.img" $((BLK * 4096 + 5))
"$SEALMOUNT" image inspect "$W/t.img" >/dev/null || fail "inspect without --root-hash refused"
"$SEALMOUNT" image decrypt "$W/t.img" --key-file "$W/key" -o /dev/null 2>"$W/err" || true
grep -q "seal is not checked" "$W/err" || fail "decrypt without a root hash: $(cat "$W/err")"
# an older image: same key, other contents, its own seal
echo "older" >"$W/src/hello.txt"
create -o "$W/old.img" --verity >"$W/old.out"
OLD=$(root_of "$W/old.out")
refused "older image" "root hash does not match" "$SEALMOUNT" image inspect "$W/old.img" \
	--root-hash "$ROOT"
refused "older image (decrypt)" "root hash does not match" "$SEALMOUNT" image decrypt \
	"$W/old.img" --key-file "$W/key" --root-hash "$ROOT" -o "$W/old.plain"
"$SEALMOUNT" image inspect "$W/old.img" --root-hash "$OLD" >/dev/null ||
	fail "the older image refused with its own root hash"

step "publisher signatures"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/pub-priv.pem" 2>/dev/null
openssl pkey -in "$W/pub-priv.pem" -pubout -out "$W/pub.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other-priv.pem" 2>/dev/null
openssl pkey -in "$W/other-priv.pem" -pubout -out "$W/other.pem"
openssl pkey -pubin -in "$W/pub.pem" -text -noout | python3 -c '
import base64, re, sys
t = sys.stdin.read()
n = int(re.search(r"Modulus:\s*((?:[0-9a-f]{2}:?\s*)+)", t).group(1).replace(":", "").replace("\n", "").replace(" ", ""), 16)
e = int(re.search(r"Exponent: (\d+)", t).group(1))
b = lambda i: base64.urlsafe_b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
print("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}" % (b(n), b(e)))' >"$W/pub.jwk"
cp "$W/a.img" "$W/s.img"
SIZE=$(stat -c %s "$W/s.img")
"$SEALMOUNT" image sign "$W/s.img" --key "$W/pub-priv.pem" --version 2 >"$W/sign.out" 2>/dev/null
expect_eq "$(root_of "$W/sign.out")" "$ROOT" "signed root hash"
expect_eq "$(stat -c %s "$W/s.img")" $((SIZE + 4096)) "size with the signature block"
veritysetup verify --hash-offset="$D" "$W/s.img" "$W/s.img" "$ROOT" ||
	fail "veritysetup verify refused the signed image"
"$SEALMOUNT" image inspect "$W/s.img" --publisher-key "$W/pub.pem" --min-version 2 --json \
	>"$W/s.json" || fail "inspect refused the signature"
expect_eq "$(json "$W/s.json" .verity.signature.verified)" true "signature verified"
expect_eq "$(json "$W/s.json" .verity.signature.version)" 2 "signed version"
expect_eq "$(json "$W/s.json" .verity.root_hash)" "$ROOT" "root hash from the signature"
"$SEALMOUNT" image inspect "$W/s.img" --publisher-key "$W/pub.jwk" >/dev/null ||
	fail "inspect refused the signature with the key as JWK"
"$SEALMOUNT" image decrypt "$W/s.img" --key-file "$W/key" --publisher-key "$W/pub.pem" \
	-o "$W/s.plain" 2>/dev/null || fail "decrypt --publisher-key failed"
cmp "$W/a.plain" "$W/s.plain" || fail "plaintext of the signed image differs"
refused "below --min-version" "below the minimum 3" "$SEALMOUNT" image inspect "$W/s.img" \
	--publisher-key "$W/pub.pem" --min-version 3
refused "another key" "another key" "$SEALMOUNT" image inspect "$W/s.img" \
	--publisher-key "$W/other.pem"
cp "$W/s.img" "$W/s2.img"
flip "$W/s2.img" $((SIZE + 200)) # inside the signature
refused "changed signature" "does not verify" "$SEALMOUNT" image inspect "$W/s2.img" \
	--publisher-key "$W/pub.pem"
refused "root hash disagreeing with the signature" "differs from the root hash" \
	"$SEALMOUNT" image inspect "$W/s.img" --publisher-key "$W/pub.pem" --root-hash "$OLD"
# the older image signed as version 1: refused by a reader that requires version 2
"$SEALMOUNT" image sign "$W/old.img" --key "$W/pub-priv.pem" --version 1 >/dev/null 2>&1
refused "older signed image" "seal version 1, below the minimum 2" "$SEALMOUNT" image decrypt \
	"$W/old.img" --key-file "$W/key" --publisher-key "$W/pub.pem" --min-version 2 -o "$W/x"
refused "unsigned image with a publisher key" "no publisher signature" "$SEALMOUNT" image \
	inspect "$W/ours.img" --publisher-key "$W/pub.pem"
refused "sign an unsealed image" "not sealed" "$SEALMOUNT" image sign "$W/u.img" \
	--key "$W/pub-priv.pem" --version 1

step "refusals"
refused "seal twice" "already sealed" "$SEALMOUNT" image seal "$W/ours.img"
head -c 40000 /dev/urandom >"$W/odd.img"
refused "odd size" "multiple of 4096" "$SEALMOUNT" image seal "$W/odd.img"
expect_eq "$(stat -c %s "$W/odd.img")" 40000 "odd file untouched"
refused "--root-hash on an unsealed image" "not sealed" "$SEALMOUNT" image inspect "$W/u.img" \
	--root-hash "$ROOT"
RC=0
"$SEALMOUNT" image inspect "$W/a.img" --root-hash 1234 2>/dev/null || RC=$?
expect_eq "$RC" 2 "exit code for a malformed --root-hash"
RC=0
"$SEALMOUNT" image sign "$W/a.img" --key "$W/pub-priv.pem" 2>/dev/null || RC=$?
expect_eq "$RC" 2 "exit code for sign without --version"
echo "test-verity: all passed"
