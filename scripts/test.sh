#!/usr/bin/env bash
# The project's test command: set up, build (normal and ASan+UBSan), lint, run every suite,
# print the summary, exit non-zero on any failure.
#
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh --quick         the fast loop: the normal build only, lint, unit + integration
#   scripts/test.sh --no-setup      skip scripts/setup.sh (packages already installed)
#   scripts/test.sh --suite unit    only one suite (repeatable): unit, integration, fuzz,
#                                   vm (qemu), valgrind (the unit suite under memcheck),
#                                   container (the sidecar image, podman)
#   scripts/test.sh --fuzz-seconds N  budget per fuzz target (default 20)
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

do_setup=1
fuzz_secs=20
quick=0
suites=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--no-setup) do_setup=0 ;;
	--suite) suites+=("$2"); shift ;;
	--fuzz-seconds) fuzz_secs=$2; shift ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "test.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
if [ $quick -eq 1 ]; then
	[ ${#suites[@]} -gt 0 ] || suites=(unit integration)
	builds=(build)
else
	[ ${#suites[@]} -gt 0 ] || suites=(unit integration vm fuzz valgrind container)
	builds=(build build-asan)
fi
run_fuzz=0 run_valgrind=0 run_vm=0 run_container=0
meson_suites=()
for s in "${suites[@]}"; do
	case "$s" in
	fuzz) run_fuzz=1 ;;
	valgrind) run_valgrind=1 ;;
	vm) run_vm=1 ;;
	container) run_container=1 ;;
	unit | integration) meson_suites+=("$s") ;;
	*) echo "test.sh: unknown suite '$s'" >&2; exit 2 ;;
	esac
done

die() { echo "test.sh: $*" >&2; exit 1; }

if [ $do_setup -eq 1 ]; then
	scripts/setup.sh || die "setup failed"
fi

configure() { # dir, extra meson args...
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" --werror "$@" >"$dir.setup.log" 2>&1
	else
		meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1
	fi || { cat "$dir.setup.log"; die "meson setup $dir failed"; }
}

configure build
[ ${#builds[@]} -eq 1 ] ||
	configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
for d in "${builds[@]}"; do
	echo "=== build ($d)"
	ninja -C "$d" || die "build $d failed"
done

echo "=== lint"
scripts/lint.sh || die "lint failed"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"

suite_args=()
for s in "${meson_suites[@]}"; do suite_args+=(--suite "$s"); done

rc=0
if [ ${#meson_suites[@]} -gt 0 ]; then
	for d in "${builds[@]}"; do
		echo "=== test ($d): ${meson_suites[*]}"
		meson test -C "$d" "${suite_args[@]}" --print-errorlogs --num-processes 2 || rc=1
	done
fi

if [ $run_vm -eq 1 ]; then
	# The VM boots Debian's kernel under TCG: slow, and what it checks is the kernel path, so it
	# runs once, on the normal build.
	echo "=== test (build, qemu VM): vm"
	meson test -C build --suite vm --print-errorlogs --logbase testlog-vm || rc=1
fi

if [ $run_container -eq 1 ]; then
	# The image users deploy (container/Containerfile), built here with podman on a
	# debootstrapped base and run: once, on the normal build.
	echo "=== test (build, podman): container"
	meson test -C build --suite container --print-errorlogs --logbase testlog-container || rc=1
fi

if [ $run_valgrind -eq 1 ]; then
	echo "=== test (build, valgrind memcheck): unit"
	# meson names the log after the setup: meson-logs/testlog-valgrind.json
	meson test -C build --setup valgrind --suite unit --no-suite no-valgrind --print-errorlogs \
		--num-processes 2 || rc=1
fi

fuzz_summary=""
if [ $run_fuzz -eq 1 ]; then
	echo "=== fuzz (${fuzz_secs}s per target)"
	fuzz_ok=0 fuzz_bad=0
	if CC=clang scripts/fuzz.sh --list >/dev/null; then
		for t in $(scripts/fuzz.sh --list); do
			if scripts/fuzz.sh "$t" "$fuzz_secs"; then
				fuzz_ok=$((fuzz_ok + 1))
			else
				fuzz_bad=$((fuzz_bad + 1))
			fi
		done
	else
		fuzz_bad=1
	fi
	fuzz_summary="$fuzz_ok $fuzz_bad"
	[ $fuzz_bad -eq 0 ] || rc=1
fi

echo "=== summary"
logs=()
if [ ${#meson_suites[@]} -gt 0 ]; then
	for d in "${builds[@]}"; do logs+=("$d/testlog"); done
fi
[ $run_vm -eq 1 ] && logs+=(build/testlog-vm)
[ $run_container -eq 1 ] && logs+=(build/testlog-container)
[ $run_valgrind -eq 1 ] && logs+=(build/testlog-valgrind)
python3 - "$fuzz_summary" "${logs[@]}" <<'PY' || rc=1
import json, sys
tot = {"passed": 0, "failed": 0, "skipped": 0}
if sys.argv[1]:
    ok, bad = map(int, sys.argv[1].split())
    print(f"fuzz: {ok} passed, {bad} failed, 0 skipped")
    tot["passed"] += ok; tot["failed"] += bad
for d in sys.argv[2:]:
    c = {"passed": 0, "failed": 0, "skipped": 0}
    b, name = d.split("/")
    d = b if name == "testlog" else f"{b} ({name[8:]})"
    try:
        lines = open(f"{b}/meson-logs/{name}.json").read().splitlines()
    except OSError:
        print(f"{d}: no test log"); continue
    for line in lines:
        t = json.loads(line)
        r = t["result"]
        k = "passed" if r in ("OK", "EXPECTEDFAIL") else "skipped" if r == "SKIP" else "failed"
        c[k] += 1
        if k != "passed":
            print(f"  {d}: {r}: {t['name']}")
    print(f"{d}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    for k in tot: tot[k] += c[k]
print(f"{tot['passed']} passed, {tot['failed']} failed, {tot['skipped']} skipped")
sys.exit(1 if tot["failed"] else 0)
PY
echo "test.sh: $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit $rc
