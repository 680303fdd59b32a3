#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test-kdf-budget.sh - the unlock budget (docs/luks2.md, KDF budget) through the real binary:
#   - hostile headers (argon2 4 GiB / 64 passes, argon2 1 GiB / 64 passes, PBKDF2 20 million
#     iterations in every keyslot and the digest) are refused by `image inspect`, `image
#     decrypt` and `mount` in seconds - before any KDF runs - naming the limit;
#   - --kdf-max-seconds / --kdf-max-memory-mb (and the sidecar's sealmount.kdf_max_*) let the
#     rare image that needs more through, and lower limits refuse legitimate ones;
#   - an image made by `cryptsetup luksFormat` with its defaults opens (decrypt), and so does a
#     header with cryptsetup's 1 GiB / 4 passes / 4 lanes maximum (inspect);
#   - the process's cgroup memory limit is honoured: the same 1 GiB header is refused inside a
#     512 MiB memory cgroup (root, cgroup v1 or v2 with the memory controller).

. "$(dirname "$0")/functions.sh"

requires cryptsetup python3 truncate timeout
[ -x "${SEALMOUNT:-}" ] || fail "SEALMOUNT is not set (run through meson test)"
DATA=$(cd "$(dirname "$0")/../data" && pwd)
MUTATE=$(cd "$(dirname "$0")/../helpers" && pwd)/luks2_mutate.py

step() { echo "--- $*"; }

OUT=$TEST_TMP/out
ERR=$TEST_TMP/err
# sm EXPECTED_RC ARGS...: run sealmount (at most 60 s: a KDF bomb that ran would take minutes),
# keep stdout/stderr in $OUT/$ERR.
sm()
{
	local want=$1 rc=0

	shift
	timeout 60 "$SEALMOUNT" "$@" >"$OUT" 2>"$ERR" </dev/null || rc=$?
	[ "$rc" -ne 124 ] || fail "sealmount $*: still running after 60 s (did a KDF run?)"
	if [ "$rc" -ne "$want" ]; then
		cat "$OUT" "$ERR" >&2
		fail "sealmount $*: exit $rc, want $want"
	fi
}

# A header (fixture or mutation) as the first bytes of a sparse 64 MiB image.
as_image()
{
	local img=$TEST_TMP/$2.img

	cp "$1" "$img"
	truncate -s 64M "$img"
	echo "$img"
}

mutated()
{
	python3 "$MUTATE" "$DATA/$1" "$TEST_TMP/$2.hdr" "$2" >/dev/null
	as_image "$TEST_TMP/$2.hdr" "$2"
}

head -c 32 /dev/urandom >"$TEST_TMP/key"

step "hostile headers are refused by image inspect, naming the limit"
while read -r name rule; do
	img=$(as_image "$DATA/evil-luks2-$name.hdr" "$name")
	sm 1 image inspect "$img"
	grep -q "rule $rule:" "$ERR" || fail "$name: want rule $rule, got $(cat "$ERR")"
	sm 1 image inspect --json "$img"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is False and d["rule"] == sys.argv[2], d' \
		"$OUT" "$rule"
done <<'EOF'
argon2-4g kdf.budget.memory
argon2-64-passes kdf.budget.time
pbkdf2-20m kdf.budget.time
EOF
sm 1 image inspect "$TEST_TMP/pbkdf2-20m.img"
grep -q 'estimated at 20.0 s' "$ERR" || fail "no estimate in: $(cat "$ERR")"
grep -q -- '--kdf-max-seconds' "$ERR" || fail "no hint how to raise the budget: $(cat "$ERR")"
sm 1 image inspect "$TEST_TMP/argon2-4g.img"
grep -q '4194304 KiB' "$ERR" || fail "the memory asked for is not named: $(cat "$ERR")"

step "... and by image decrypt and mount before any KDF runs"
for name in argon2-4g argon2-64-passes pbkdf2-20m; do
	start=$(date +%s)
	sm 1 image decrypt "$TEST_TMP/$name.img" --key-file "$TEST_TMP/key" -o "$TEST_TMP/out.$name"
	grep -q 'kdf.budget' "$ERR" || fail "decrypt $name: $(cat "$ERR")"
	[ ! -e "$TEST_TMP/out.$name" ] || fail "decrypt $name wrote output"
	echo "  decrypt $name refused in $(($(date +%s) - start)) s"
done
mkdir "$TEST_TMP/pub"
sm 1 mount --engine user --no-require-integrity --image "$TEST_TMP/argon2-4g.img" \
	--key-file "$TEST_TMP/key" --work-dir "$TEST_TMP/work" "$TEST_TMP/pub/share"
grep -q "step 'volume' failed: .*LUKS2 header refused by rule kdf.budget.memory" "$ERR" ||
	fail "mount: $(cat "$ERR")"
[ ! -e "$TEST_TMP/pub/share" ] || fail "mount published something"

step "raising the budget lets the rare image through; lowering it refuses"
sm 0 image inspect --kdf-max-seconds 30 "$TEST_TMP/pbkdf2-20m.img"
grep -q '^unlock: *about 20.0 s at most (every keyslot; budget 30 s' "$OUT" ||
	fail "inspect output: $(cat "$OUT")"
sm 1 image inspect --kdf-max-seconds 600 "$TEST_TMP/argon2-4g.img" # memory still over
sm 0 image inspect --kdf-max-seconds 600 --kdf-max-memory-mb 4096 "$TEST_TMP/argon2-64-passes.img"
argon=$(as_image "$DATA/luks2-argon2id.hdr" argon2id)
sm 0 image inspect "$argon"
sm 1 image inspect --kdf-max-memory-mb 16 "$argon"
grep -q 'rule kdf.budget.memory' "$ERR" || fail "$(cat "$ERR")"
sm 2 image inspect --kdf-max-memory-mb 0 "$argon"
sm 2 image inspect --kdf-max-seconds 3601 "$argon"
sm 2 image decrypt --kdf-max-seconds x "$argon" --key-file "$TEST_TMP/key" -o -
sm 2 mount --kdf-max-memory-mb 5000 --image "$argon" --key-file "$TEST_TMP/key" "$TEST_TMP/pub/x"

step "the sidecar's configuration carries the budget (sealmount.kdf_max_*)"
cat >"$TEST_TMP/run.json" <<EOF
{"azure_filesystems": [{"mount_point": "$TEST_TMP/pub/share",
  "azure_url": "https://acct.blob.core.windows.net/c/b",
  "key": {"kid": "k", "authority": {"endpoint": "maa.example"}, "akv": {"endpoint": "v.vault.azure.net"}},
  "sealmount": {"kdf_max_memory_mb": 2048, "kdf_max_seconds": 30}}]}
EOF
sm 0 run --config "$TEST_TMP/run.json" --check-config --dump
grep -q '^fs\[0\].kdf_max_memory_mb = 2048$' "$OUT" || fail "dump: $(cat "$OUT")"
grep -q '^fs\[0\].kdf_max_seconds = 30$' "$OUT" || fail "dump: $(cat "$OUT")"
sed -i 's/"kdf_max_seconds": 30/"kdf_max_seconds": 0/' "$TEST_TMP/run.json"
sm 1 run --config "$TEST_TMP/run.json" --check-config
grep -q 'kdf_max_seconds: must be an integer from 1 to 3600' "$ERR" || fail "$(cat "$ERR")"

step "legitimate images: cryptsetup luksFormat defaults open, cryptsetup's 1 GiB maximum passes"
IMG=$TEST_TMP/default.img
truncate -s 32M "$IMG"
cryptsetup luksFormat -q --type luks2 --key-file "$TEST_TMP/key" "$IMG"
cryptsetup luksDump "$IMG" | grep -E '^\s+(PBKDF|Time cost|Memory|Threads|Iterations):' | sed 's/^/  /'
sm 0 image inspect "$IMG"
sed -n 's/^unlock: */  estimate: /p' "$OUT"
sm 0 image decrypt "$IMG" --key-file "$TEST_TMP/key" -o "$TEST_TMP/default.plain"
expect_eq "$(stat -c %s "$TEST_TMP/default.plain")" $((16 << 20)) "plaintext size"
big=$(mutated luks2-argon2id.hdr argon2-cryptsetup-max)
sm 0 image inspect "$big"
grep -q '^unlock: *about 4\.[0-9] s' "$OUT" || fail "estimate for 1 GiB x 4: $(cat "$OUT")"

step "the cgroup memory limit is honoured"
# A child memory cgroup of ours with a 512 MiB limit: the 1 GiB header must not pass there.
cgdir=
if [ "$(id -u)" -eq 0 ]; then
	v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
	v2=$(awk -F: '$1 == "0" && $2 == "" { print $3; exit }' /proc/self/cgroup)
	if [ -n "$v1" ] && [ -w "/sys/fs/cgroup/memory${v1%/}" ]; then
		cgdir=/sys/fs/cgroup/memory${v1%/}/sealmount-test-$$
		limitfile=memory.limit_in_bytes
	elif [ -n "$v2" ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
		[ -w "/sys/fs/cgroup${v2%/}" ]; then
		cgdir=/sys/fs/cgroup${v2%/}/sealmount-test-$$
		limitfile=memory.max
	fi
fi
if [ -n "$cgdir" ] && mkdir "$cgdir" 2>/dev/null; then
	cleanup_fn rmdir "$cgdir"
	echo $((512 << 20)) >"$cgdir/$limitfile"
	rc=0
	(echo "$BASHPID" >"$cgdir/cgroup.procs" && exec "$SEALMOUNT" image inspect "$big") \
		>"$OUT" 2>"$ERR" || rc=$?
	expect_eq "$rc" 1 "inspect in a 512 MiB cgroup ($(cat "$ERR"))"
	grep -q 'rule kdf.budget.memory' "$ERR" || fail "$(cat "$ERR")"
	grep -q "memory limit" "$ERR" || fail "the limit is not named: $(cat "$ERR")"
	# 384 MiB usable there (a quarter is room for the rest): the small fixture still passes,
	# and the configured budget cannot lift the cgroup's cap.
	(echo "$BASHPID" >"$cgdir/cgroup.procs" && exec "$SEALMOUNT" image inspect "$argon") \
		>"$OUT" 2>"$ERR" || fail "small argon2 header in the cgroup: $(cat "$ERR")"
	rc=0
	(echo "$BASHPID" >"$cgdir/cgroup.procs" &&
		exec "$SEALMOUNT" image inspect --kdf-max-memory-mb 4096 "$big") >"$OUT" 2>"$ERR" || rc=$?
	expect_eq "$rc" 1 "a raised budget in a 512 MiB cgroup"
	# Outside the cgroup the same header passes (the control).
	sm 0 image inspect "$big"
else
	echo "  (skipped: no writable memory cgroup here; the unit test covers the files)"
fi
echo "OK"
