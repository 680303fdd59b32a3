#!/usr/bin/env bash
# Run libFuzzer targets with ASan + UBSan for a time budget; exit non-zero on any crash, leak
# or timeout. Findings are saved as tests/fuzz/crash-<target>-*; keep them as regression inputs.
#
#   scripts/fuzz.sh TARGET [SECONDS]     one target (e.g. snp_report), default 30 s
#   scripts/fuzz.sh all [SECONDS]        every target, one after the other
#   scripts/fuzz.sh --list               the targets
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
bdir=build-fuzz

[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }
what=$1
secs=${2:-30}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number" >&2; exit 2; }

if [ ! -f "$bdir/build.ninja" ]; then
	CC=clang meson setup "$bdir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debugoptimized >"$bdir.setup.log" 2>&1 || { cat "$bdir.setup.log"; exit 1; }
fi
ninja -C "$bdir" >/dev/null
targets() {
	for f in "$bdir"/tests/fuzz/fuzz_*; do
		if [ -f "$f" ] && [ -x "$f" ]; then basename "$f" | sed "s/^fuzz_//"; fi
	done
}
[ "$what" = "--list" ] && { targets; exit 0; }

# Seeds that live outside the repository (real captures in ../shared) are added at run time.
extra_seeds() {
	case "$1" in
	snp_report) ls ../shared/testdata/ms-reference/snp_report.bin 2>/dev/null || true ;;
	thim) ls ../shared/testdata/ms-reference/uvm_host_amd_certificate.json 2>/dev/null || true ;;
	esac
}

run_one() {
	local t=$1 exe=$bdir/tests/fuzz/fuzz_$1 corpus c
	[ -x "$exe" ] || { echo "fuzz.sh: no target '$t' (see --list)" >&2; return 2; }
	corpus=$(mktemp -d)
	c=tests/fuzz/corpus-${t//_/-}
	[ -d "$c" ] && cp -r "$c/." "$corpus/"
	for f in $(extra_seeds "$t"); do cp "$f" "$corpus/"; done
	echo "=== fuzz $t for ${secs}s"
	local rc=0
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$exe" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="tests/fuzz/crash-$t-" -print_final_stats=1 >"$corpus.log" 2>&1 || rc=$?
	grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "$corpus.log" | tail -1 || true
	if [ $rc -ne 0 ]; then
		tail -60 "$corpus.log"
		echo "fuzz $t: FAILED (artifact saved under tests/fuzz/crash-$t-*)"
	fi
	rm -rf "$corpus" "$corpus.log"
	return $rc
}

rc=0
if [ "$what" = all ]; then
	for t in $(targets); do
		run_one "$t" || rc=1
	done
else
	run_one "$what" || rc=$?
fi
exit $rc
