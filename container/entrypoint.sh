#!/bin/sh
# SPDX-License-Identifier: MIT
# entrypoint.sh - start the sidecar as PID 1's only child and pass SIGTERM/SIGINT on.
#
# The configuration comes from the environment exactly as for Microsoft's encfs sidecar:
# EncfsSideCarArgs (base64 JSON), LogFile, LogLevel. Arguments, if any, are passed to
# `sealmount run` (e.g. --config /etc/sealmount.json or --check-config); "sealmount ..." or
# any other command runs as given (e.g. `sealmount version`).
set -eu

case "${1:-}" in
"" | -*) ;;
*) exec "$@" ;;
esac

sealmount run "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
# `wait` returns early when a trapped signal arrives: wait again for the real exit status.
while :; do
	rc=0
	wait "$child" || rc=$?
	kill -0 "$child" 2>/dev/null || exit "$rc"
done
