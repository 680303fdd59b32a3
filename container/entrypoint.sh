#!/bin/sh
# SPDX-License-Identifier: MIT
# entrypoint.sh - replace this shell with the sidecar.
#
# The configuration comes from the environment exactly as for Microsoft's encfs sidecar:
# EncfsSideCarArgs (base64 JSON), LogFile, LogLevel. Arguments, if any, are passed to
# `sealmount run` (e.g. --config /etc/sealmount.json or --check-config); "sealmount ..." or
# any other command runs as given (e.g. `sealmount version`).
#
# exec, not a child: EncfsSideCarArgs may carry a SAS and a vault token, and a shell that stayed
# would keep them in its memory and in its /proc/PID/environ for the life of the container.
# `sealmount run` removes the variable from its own environment (and wipes it) once parsed, and
# as PID 1 it gets SIGTERM (it waits for its stop signals with sigwaitinfo) and reaps its own
# helpers.
set -eu

case "${1:-}" in
"" | -*) exec sealmount run "$@" ;;
*) exec "$@" ;;
esac
