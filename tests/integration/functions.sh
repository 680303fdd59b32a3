# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# functions.sh - helpers shared by tests/integration/test-*.sh (bash). Source it first:
#
#   . "$(dirname "$0")/functions.sh"
#
#   requires CMD...          exit 77 (meson: SKIP) unless every CMD is on PATH
#   cleanup_fn CMD [ARGS]    run CMD ARGS when the script exits, last registered first
#   emu_start NAME VAR [ARGS]  start tests/emulators/launch.mjs NAME on 127.0.0.1, wait (30 s at
#                            most) for its port, export it as $VAR; stopped on exit
#   fail MSG                 print MSG and exit 1
#   expect_eq ACTUAL EXPECTED [WHAT]
#   tmpdir                   a per-script scratch directory ($TEST_TMP), removed on exit
#
# Environment from tests/integration/meson.build: SEALMOUNT, HTTP_PROBE, EMULATORS, BUILD_DIR.

set -euo pipefail

: "${EMULATORS:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../emulators" && pwd)}"
# Debian 12's Node.js 18 lacks global WebCrypto and prefers ::1 for localhost: preload a shim.
export NODE_OPTIONS="--require=$EMULATORS/node18-preload.cjs${NODE_OPTIONS:+ $NODE_OPTIONS}"

_cleanups=()
_exit_rc=0

cleanup_fn()
{
	_cleanups+=("$(printf '%q ' "$@")")
}

_run_cleanups()
{
	_exit_rc=$? # first: any command, even "local", resets $?
	local i

	set +e
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}"
	done
	exit "$_exit_rc"
}
trap _run_cleanups EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

requires()
{
	local c

	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c not found" >&2
			exit 77
		fi
	done
}

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

expect_eq()
{
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sealmount-test.XXXXXX")
cleanup_fn rm -rf "$TEST_TMP"

# Stop a launcher politely, then firmly; show its log when the test failed.
_emu_stop()
{
	local pid=$1 name=$2 log=$3 i

	if kill -TERM "$pid" 2>/dev/null; then
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	if [ "$_exit_rc" -ne 0 ] && [ -s "$log" ]; then
		echo "--- $name log ---" >&2
		cat "$log" >&2
	fi
}

emu_start()
{
	local name=$1 var=$2 dir pid i

	shift 2
	requires node
	if [ ! -d "$EMULATORS/node_modules" ]; then
		fail "$EMULATORS/node_modules is missing: run 'npm ci' in tests/emulators" \
			"(scripts/setup.sh does this)"
	fi
	dir=$(mktemp -d "$TEST_TMP/emu-$name.XXXXXX")
	node "$EMULATORS/launch.mjs" "$name" --port-file "$dir/port" --dir "$dir/data" "$@" \
		>"$dir/log" 2>&1 &
	pid=$!
	cleanup_fn _emu_stop "$pid" "$name" "$dir/log"
	for ((i = 0; i < 300; i++)); do
		[ -s "$dir/port" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$dir/log" >&2
			fail "emulator $name exited during startup"
		fi
		sleep 0.1
	done
	if [ ! -s "$dir/port" ]; then
		cat "$dir/log" >&2
		fail "emulator $name not ready after 30 s"
	fi
	printf -v "$var" '%s' "$(cat "$dir/port")"
	export "${var?}"
}
