#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-nbd.sh - `sealmount blob attach URL --nbd SOCKET` against real NBD clients and a real
# blob in Azurite (issue #17):
#   - the socket is created 0600, the URI printed on stdout, the socket removed after SIGTERM;
#   - nbdinfo: size, block sizes (512 / 4096 / 32 MiB), read-only, flush, multi-conn,
#     base:allocation; nbdcopy (1 and 4 connections) byte-exact against the blob, for a page
#     blob and a block blob of odd size;
#   - python3-libnbd: unaligned reads, block status, and with the client's own checks switched
#     off: reads past the end, zero-length reads, unknown flags, writes to a read-only export,
#     TRIM/CACHE/WRITE_ZEROES that were not advertised - each answered with its error, and the
#     connection still serves;
#   - raw malformed traffic (bad magics, an oversized option, an unknown export, a write
#     payload above the cap): answered or dropped, and the server keeps serving others;
#   - qemu-img info / compare and qemu-io over nbd+unix://;
#   - read-write page blob: writes with FUA and after NBD_CMD_FLUSH (libnbd, qemu-io) are in the
#     blob (downloaded with the official SDK) while still attached; the lease is held while
#     serving and released after SIGTERM; a second writer is refused;
#   - an existing socket path is never replaced; --nbd with `stat` or with a DIR is a usage
#     error.

. "$(dirname "$0")/functions.sh"

requires node nbdinfo nbdcopy qemu-img qemu-io cmp
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
PY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import nbd' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "SKIP: python3-libnbd missing (scripts/setup.sh installs it)" >&2; exit 77; }

emu_start azurite AZ_PORT
BASE="http://127.0.0.1:$AZ_PORT/devstoreaccount1/imgs"
KEY="$TEST_TMP/key"
printf '%s\n' 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' >"$KEY"
tool() { node "$EMULATORS/blob-tool.mjs" "$AZ_PORT" "$@"; }

PAGE_SIZE=$((16 << 20))
head -c "$PAGE_SIZE" /dev/urandom >"$TEST_TMP/page.ref"
head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$TEST_TMP/block.ref"
tool upload-page imgs page.img "$TEST_TMP/page.ref"
tool upload-block imgs block.img "$TEST_TMP/block.ref"

SOCK="$TEST_TMP/nbd.sock"
NBD_PID= URI=
# serve URL [ARGS...]: `blob attach URL --nbd $SOCK` in the background; URI from its stdout.
serve()
{
	local url=$1 i

	shift
	rm -f "$TEST_TMP/uri"
	"$SEALMOUNT" blob attach "$url" --nbd "$SOCK" --account-key-file "$KEY" "$@" \
		>"$TEST_TMP/uri" 2>"$TEST_TMP/serve.log" &
	NBD_PID=$!
	cleanup_fn stop_bg "$NBD_PID"
	for ((i = 0; i < 300; i++)); do
		[ -s "$TEST_TMP/uri" ] && break
		kill -0 "$NBD_PID" 2>/dev/null || { cat "$TEST_TMP/serve.log" >&2; fail "attach --nbd exited"; }
		sleep 0.1
	done
	URI=$(cat "$TEST_TMP/uri")
	expect_eq "$URI" "nbd+unix:///?socket=$SOCK" "URI on stdout"
}

# unserve: SIGTERM, exit 0, socket gone.
unserve()
{
	local rc=0

	kill -TERM "$NBD_PID"
	wait "$NBD_PID" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$TEST_TMP/serve.log" >&2; fail "attach --nbd exited $rc after SIGTERM"; }
	[ ! -e "$SOCK" ] || fail "$SOCK left behind"
}

step "socket: 0600, URI on stdout"
serve "$BASE/page.img"
expect_eq "$(stat -c '%F %a' "$SOCK")" "socket 600" "socket type and mode"

step "nbdinfo: size, block sizes, capabilities"
nbdinfo --json "$URI" >"$TEST_TMP/info.json"
"$PY" - "$TEST_TMP/info.json" "$PAGE_SIZE" <<'EOF' || fail "nbdinfo: $(cat "$TEST_TMP/info.json")"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {"export-size": int(sys.argv[2]), "block_size_minimum": 512,
        "block_size_preferred": 4096, "block_size_maximum": 32 << 20, "is_read_only": True,
        "can_flush": True, "can_multi_conn": True, "can_trim": False, "can_zero": False,
        "can_df": True, "can_cache": False}
bad = {k: (e.get(k), v) for k, v in want.items() if e.get(k) != v}
assert not bad, bad
assert "base:allocation" in e["contexts"], e["contexts"]
EOF

step "nbdcopy: the whole export byte-exact, 1 and 4 connections"
nbdcopy "$URI" "$TEST_TMP/copy1"
cmp "$TEST_TMP/copy1" "$TEST_TMP/page.ref" || fail "nbdcopy differs from the blob"
nbdcopy --connections=4 --requests=16 "$URI" "$TEST_TMP/copy4"
cmp "$TEST_TMP/copy4" "$TEST_TMP/page.ref" || fail "nbdcopy (4 connections) differs"

step "libnbd: unaligned reads, block status; refusals answered, the connection survives"
"$PY" - "$URI" "$TEST_TMP/page.ref" <<'EOF' || fail "libnbd checks"
import errno, random, sys, nbd
uri, ref = sys.argv[1], open(sys.argv[2], "rb").read()
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(uri)
assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
rnd = random.Random(3)
for _ in range(300):
    off = rnd.randrange(len(ref) - 1)
    n = min(rnd.choice([1, 3, 511, 4097, 65537, 1 << 20]), len(ref) - off)
    h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
    assert h.pread(n, off) == ref[off:off + n], (off, n)
ext = []
h.block_status(1 << 20, 4096, lambda ctx, o, e, err: ext.extend(e) or 0)
assert ext and ext[1] == 0 and ext[0] <= 1 << 20, ext
h.set_strict_mode(0)  # let every bad request reach the server
def refused(want, f, *a):
    try:
        f(*a)
    except nbd.Error as e:
        assert e.errno == want and "command failed" in str(e), (f.__name__, e)
        return
    raise AssertionError(f"{f.__name__}{a[1:]} was not refused")
refused("EINVAL", h.pread, 4096, len(ref) - 100)       # past the end
refused("EINVAL", h.pread, 1, len(ref))
refused("EINVAL", h.pread, 0, 0)                        # zero length
refused("EINVAL", h.pread, 512, 0, 0x4000)              # unknown flag
refused("EINVAL", h.pread, 512, 0, nbd.CMD_FLAG_REQ_ONE)  # a flag of another command
refused("EPERM", h.pwrite, b"x" * 512, 0)               # read-only export
refused("EINVAL", h.trim, 512, 0)                       # not advertised
refused("EINVAL", h.cache, 512, 0)
refused("EINVAL", h.zero, 512, 0)
assert h.pread(16, 12345) == ref[12345:12361]          # still serving
h.shutdown()
EOF

step "raw malformed traffic: answered or dropped, the server serves on"
"$PY" - "$SOCK" "$TEST_TMP/page.ref" <<'EOF' || fail "malformed traffic"
import socket, struct, sys
path, ref = sys.argv[1], open(sys.argv[2], "rb").read()
OPT, REP, REQ = 0x49484156454F5054, 0x3e889045565a9, 0x25609513
def conn():
    s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(path)
    assert s.recv(18, socket.MSG_WAITALL)[:16] == b"NBDMAGICIHAVEOPT"
    s.sendall(struct.pack(">I", 3))
    return s
def opt(s, o, data=b""):
    s.sendall(struct.pack(">QII", OPT, o, len(data)) + data)
def reply(s):
    magic, o, t, n = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
    assert magic == REP
    return o, t, s.recv(n, socket.MSG_WAITALL) if n else b""
def go(s, name=b""):
    opt(s, 7, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    while True:
        o, t, p = reply(s)
        if t != 3:
            return t
def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
s = conn(); s.sendall(b"GET / HTTP/1.1\r\n\r\n"); assert closed(s), "bad option magic"
s = conn(); s.sendall(struct.pack(">QII", OPT, 7, 1 << 30))
assert reply(s)[1] == 0x80000009, "oversized option: ERR_TOO_BIG"; assert closed(s)
s = conn(); assert go(s, b"nope") == 0x80000006, "unknown export: ERR_UNKNOWN"
opt(s, 3, b"junk"); assert reply(s)[1] == 0x80000003, "LIST with data: ERR_INVALID"
opt(s, 999); assert reply(s)[1] == 0x80000001, "unknown option: ERR_UNSUP"
assert go(s) == 1, "GO after errors"
s.sendall(struct.pack(">IHHQQI", REQ, 0, 0, 7, 100, 10))
err, handle = struct.unpack(">4xIQ", s.recv(16, socket.MSG_WAITALL))
assert err == 0 and handle == 7 and s.recv(10, socket.MSG_WAITALL) == ref[100:110]
s.sendall(b"\x00" * 28); assert closed(s), "bad request magic"
s = conn(); assert go(s) == 1
s.sendall(struct.pack(">IHHQQI", REQ, 0, 1, 8, 0, (32 << 20) + 1)); assert closed(s), "huge write"
s = conn(); assert go(s) == 1                      # and the server is still there
s.sendall(struct.pack(">IHHQQI", REQ, 0, 2, 9, 0, 0)); assert closed(s), "DISC"
EOF

step "qemu-img and qemu-io over nbd+unix://"
qemu-img info --output=json "$URI" | "$PY" -c \
	'import json, sys; assert json.load(sys.stdin)["virtual-size"] == int(sys.argv[1])' \
	"$PAGE_SIZE" || fail "qemu-img info"
qemu-img compare -f raw -F raw "$URI" "$TEST_TMP/page.ref" >/dev/null || fail "qemu-img compare"
qemu-io -r -f raw -c 'read -v 1000 16' "$URI" >"$TEST_TMP/qio" || fail "qemu-io read"
expect_eq "$(head -1 "$TEST_TMP/qio" | awk '{for (i = 2; i <= 17; i++) printf "%s", $i}')" \
	"$(xxd -p -s 1000 -l 16 "$TEST_TMP/page.ref")" "qemu-io read -v"
unserve
grep -Eq "NBD: .*, [1-9][0-9]* errors, [3-9] protocol errors" "$TEST_TMP/serve.log" ||
	fail "refusals not counted: $(grep NBD: "$TEST_TMP/serve.log")"

step "block blob of odd size (minimum block size 1)"
serve "$BASE/block.img"
expect_eq "$(nbdinfo --size "$URI")" "$(stat -c %s "$TEST_TMP/block.ref")" "block blob size"
nbdcopy "$URI" "$TEST_TMP/copyb"
cmp "$TEST_TMP/copyb" "$TEST_TMP/block.ref" || fail "block blob differs"
unserve

step "read-write page blob: FUA and FLUSH reach the blob while attached; lease"
serve "$BASE/page.img" --rw --cache-mb 8
"$SEALMOUNT" blob stat "$BASE/page.img" --account-key-file "$KEY" | grep -qx "lease-state: leased" ||
	fail "no lease while serving read-write"
RC=0
"$SEALMOUNT" blob attach "$BASE/page.img" --nbd "$TEST_TMP/second.sock" --rw \
	--account-key-file "$KEY" >/dev/null 2>"$TEST_TMP/err" || RC=$?
expect_eq "$RC" 1 "exit code of a second writer"
grep -q "lease" "$TEST_TMP/err" || fail "second writer: $(cat "$TEST_TMP/err")"
cp "$TEST_TMP/page.ref" "$TEST_TMP/page.expect"
"$PY" - "$URI" "$TEST_TMP/page.expect" <<'EOF' || fail "libnbd writes"
import os, sys, nbd
uri, path = sys.argv[1], sys.argv[2]
h = nbd.NBD()
h.connect_uri(uri)
assert not h.is_read_only() and h.can_fua() and h.can_flush()
exp = bytearray(open(path, "rb").read())
def w(data, off, flags=0):
    h.pwrite(data, off, flags)
    exp[off:off + len(data)] = data
w(os.urandom(3 * 4096), 8192, nbd.CMD_FLAG_FUA)
w(os.urandom(1 << 20), 5 << 20)
w(os.urandom(512), (16 << 20) - 512)
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
w(b"unaligned!", 3 * 1000 * 1000 + 7)                 # the cache takes any alignment
h.flush()
assert h.pread(10, 3 * 1000 * 1000 + 7) == b"unaligned!"
h.set_strict_mode(0)
try:
    h.pwrite(b"x" * 512, 16 << 20)
    raise AssertionError("write past the end accepted")
except nbd.Error as e:
    assert e.errno == "ENOSPC", e
h.shutdown()
open(path, "wb").write(exp)
EOF
qemu-io -f raw -c 'write -P 0x5a 2M 64k' -c flush "$URI" >/dev/null || fail "qemu-io write"
"$PY" - "$TEST_TMP/page.expect" <<'EOF'
import sys
f = open(sys.argv[1], "r+b"); f.seek(2 << 20); f.write(b"\x5a" * 65536)
EOF
tool download imgs page.img "$TEST_TMP/blob.now"
cmp "$TEST_TMP/blob.now" "$TEST_TMP/page.expect" || fail "flushed writes are not in the blob"
unserve
"$SEALMOUNT" blob stat "$BASE/page.img" --account-key-file "$KEY" | grep -qx "lease-state: available" ||
	fail "lease not released after SIGTERM"
tool download imgs page.img "$TEST_TMP/blob.after"
cmp "$TEST_TMP/blob.after" "$TEST_TMP/page.expect" || fail "blob differs after detach"

step "an existing path is never replaced; usage errors"
touch "$SOCK"
RC=0
"$SEALMOUNT" blob attach "$BASE/page.img" --nbd "$SOCK" --account-key-file "$KEY" \
	>/dev/null 2>"$TEST_TMP/err" || RC=$?
expect_eq "$RC" 1 "exit code with an existing socket path"
grep -q "stale socket" "$TEST_TMP/err" || fail "message: $(cat "$TEST_TMP/err")"
[ -f "$SOCK" ] && [ ! -S "$SOCK" ] || fail "the existing file was replaced"
rm -f "$SOCK"
RC=0
"$SEALMOUNT" blob stat "$BASE/page.img" --nbd "$SOCK" 2>/dev/null || RC=$?
expect_eq "$RC" 2 "exit code of stat --nbd"
RC=0
"$SEALMOUNT" blob attach "$BASE/page.img" "$TEST_TMP/dir" --nbd "$SOCK" 2>/dev/null || RC=$?
expect_eq "$RC" 2 "exit code of attach URL DIR --nbd"
echo "PASS: test-nbd"
