#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""luks2_mutate.py - make hostile LUKS2 header fixtures from real ones (tests/data/evil-*).

    luks2_mutate.py IN OUT MUTATION     apply MUTATION, re-pad and re-checksum both copies
    luks2_mutate.py --list              list the mutations
    luks2_mutate.py --dump IN           print the primary copy's JSON

IN holds at least both header copies (the first 2 * hdr_size bytes of an image, as
`head -c 32768 image` gives for cryptsetup's default 16 KiB metadata). The checksum is
recomputed as docs/luks2.md, Checksum says (SHA-256 over the binary header with csum zeroed plus
the whole JSON area), so a mutation reaches the rule it targets instead of failing at
"hdr.checksum".
Mutations that want a bad checksum or disagreeing copies say so themselves.
"""
import hashlib
import json
import sys

BIN = 4096
CSUM_OFF = 448


def hdr_size(img):
    return int.from_bytes(img[8:16], "big")


def get_json(img, off=0):
    area = img[off + BIN:off + hdr_size(img)]
    return json.loads(area.split(b"\0", 1)[0])


def put_json(img, doc, off=0):
    size = hdr_size(img)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    if len(raw) >= size - BIN:
        raise SystemExit("JSON too large for the area")
    img[off + BIN:off + size] = raw + b"\0" * (size - BIN - len(raw))


def fix_csum(img, off):
    size = hdr_size(img)
    copy = bytearray(img[off:off + size])
    copy[CSUM_OFF:CSUM_OFF + 64] = b"\0" * 64
    img[off + CSUM_OFF:off + CSUM_OFF + 64] = hashlib.sha256(copy).digest() + b"\0" * 32


def both(fn):
    """A JSON mutation applied identically to both copies."""
    def run(img):
        doc = get_json(img)
        fn(doc)
        put_json(img, doc, 0)
        put_json(img, doc, hdr_size(img))
    run.__doc__ = fn.__doc__
    return run


def ks0(d):
    return d["keyslots"]["0"]


def seg0(d):
    return d["segments"]["0"]


def m_keyslot_cipher_null(d):
    "keyslot area cipher_null-ecb (CVE-2025-59054/58356)"
    ks0(d)["area"]["encryption"] = "cipher_null-ecb"


def m_segment_cipher_null(d):
    "segment cipher_null-ecb (CVE-2025-59054/58356)"
    seg0(d)["encryption"] = "cipher_null-ecb"


def m_extra_keyslot(d):
    "a second keyslot that no digest binds"
    ks = json.loads(json.dumps(ks0(d)))
    ks["area"]["offset"] = str(int(ks["area"]["offset"]) + int(ks["area"]["size"]))
    d["keyslots"]["1"] = ks


def m_extra_segment(d):
    "a second crypt segment"
    s = dict(seg0(d))
    s["offset"] = str(int(s["offset"]) + 1048576)
    seg0(d)["size"] = "1048576"
    d["segments"]["1"] = s


def m_token(d):
    "a keyring token"
    d["tokens"]["0"] = {"type": "luks2-keyring", "keyslots": ["0"], "key_description": "x"}


def m_reencrypt(d):
    "config.requirements online-reencrypt-v2"
    d["config"]["requirements"] = {"mandatory": ["online-reencrypt-v2"]}


def m_reencrypt_keyslot(d):
    "keyslot of type reencrypt"
    ks0(d)["type"] = "reencrypt"


def m_unknown_field(d):
    "an unknown member in the segment"
    seg0(d)["x-extra"] = "1"


def m_unknown_top(d):
    "an unknown top-level object"
    d["x-extra"] = {}


def m_json_size(d):
    "config.json_size larger than the area"
    d["config"]["json_size"] = "4190208"


def m_segment_beyond(d):
    "segment size past the end of any fixture device"
    seg0(d)["size"] = "1099511627776"


def m_segment_offset_in_keyslots(d):
    "segment data overlapping the keyslots area"
    seg0(d)["offset"] = "32768"


def m_weak_kdf(d):
    "pbkdf2 with 10 iterations"
    ks0(d)["kdf"] = {"type": "pbkdf2", "hash": "sha256", "iterations": 10,
                     "salt": ks0(d)["kdf"]["salt"]}


def m_kdf_sha1(d):
    "pbkdf2 with sha1"
    ks0(d)["kdf"]["hash"] = "sha1"


def m_af_stripes(d):
    "AF with 1 stripe"
    ks0(d)["af"]["stripes"] = 1


def m_iv_tweak(d):
    "non-zero iv_tweak"
    seg0(d)["iv_tweak"] = "8"


def m_digest_unbound(d):
    "digest names no segment"
    d["digests"]["0"]["segments"] = []


def m_integrity_null(d):
    "integrity type cipher_null"
    seg0(d)["integrity"] = {"type": "cipher_null", "journal_encryption": "none",
                            "journal_integrity": "none"}


def m_segment_cipher_cbc(d):
    "segment aes-cbc-essiv:sha256 (not on the allowlist)"
    seg0(d)["encryption"] = "aes-cbc-essiv:sha256"


def m_sector_1024(d):
    "sector_size 1024"
    seg0(d)["sector_size"] = 1024


def m_drop_integrity(d):
    "integrity object removed from an integrity segment (apply to an hmac-sha256 header)"
    seg0(d).pop("integrity", None)


def m_journal_crypt(d):
    "integrity journal_encryption set (apply to an hmac-sha256 header)"
    seg0(d)["integrity"]["journal_encryption"] = "aes"


def m_copies_disagree(img):
    "secondary copy says priority 2 (both checksums valid)"
    doc = get_json(img)
    ks0(doc)["priority"] = 2
    put_json(img, doc, hdr_size(img))


def m_bad_checksum(img):
    "one JSON byte changed in the primary, checksum left stale"
    off = BIN + img[BIN:].index(b"aes-xts-plain64")
    img[off] = ord("b")
    return "nofix"


def m_seqid_disagree(img):
    "secondary seqid bumped"
    s = hdr_size(img)
    img[s + 16:s + 24] = (int.from_bytes(img[s + 16:s + 24], "big") + 1).to_bytes(8, "big")


def m_hdr_size(img):
    "binary hdr_size 0x5000 in both copies (not a legal size)"
    s = hdr_size(img)
    for off in (0, s):
        img[off + 8:off + 16] = (0x5000).to_bytes(8, "big")
    return "nofix"


def m_uuid(img):
    "uuid with non-hex characters in both copies"
    s = hdr_size(img)
    for off in (0, s):
        img[off + 168:off + 172] = b"zzzz"


def m_version(img):
    "version 3 in both copies"
    s = hdr_size(img)
    for off in (0, s):
        img[off + 6:off + 8] = (3).to_bytes(2, "big")


def m_no_secondary(img):
    "secondary copy wiped"
    s = hdr_size(img)
    img[s:2 * s] = b"\0" * s
    return "nofix-secondary"


def m_json_garbage(img):
    "non-NUL bytes after the JSON terminator"
    s = hdr_size(img)
    for off in (0, s):
        img[off + s - 1] = 0x41


def m_none(img):
    "no change (re-checksum only)"


RAW = {
    "copies-disagree": m_copies_disagree,
    "bad-checksum": m_bad_checksum,
    "seqid-disagree": m_seqid_disagree,
    "hdr-size": m_hdr_size,
    "uuid": m_uuid,
    "version": m_version,
    "no-secondary": m_no_secondary,
    "json-garbage": m_json_garbage,
    "none": m_none,
}
MUTATIONS = dict(RAW)
for name, fn in list(globals().items()):
    if name.startswith("m_") and fn not in RAW.values():
        MUTATIONS[name[2:].replace("_", "-")] = both(fn)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        for k, fn in sorted(MUTATIONS.items()):
            print(f"{k:28} {fn.__doc__}")
        return 0
    if len(argv) == 3 and argv[1] == "--dump":
        print(json.dumps(get_json(bytearray(open(argv[2], "rb").read())), indent=1))
        return 0
    if len(argv) != 4 or argv[3] not in MUTATIONS:
        print(__doc__, file=sys.stderr)
        return 2
    img = bytearray(open(argv[1], "rb").read())
    s = hdr_size(img)
    how = MUTATIONS[argv[3]](img)
    if how != "nofix":
        fix_csum(img, 0)
        if how != "nofix-secondary":
            fix_csum(img, s)
    open(argv[2], "wb").write(img)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
