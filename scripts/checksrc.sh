#!/usr/bin/env bash
# Ban C library calls that are unsafe or that this project routes elsewhere (docs/conventions.md, Enforced by lint).
# getenv: configuration comes from config files/flags; the few legitimate environment reads
# (ACI's interface, test harness) use secure_getenv with a comment saying why.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
banned='\b(gets|sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|sscanf|alloca|getenv|system|popen|rand)[[:space:]]*\('
found=$(git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'include/*.h' 'tests/*.c' |
	xargs -r grep -nE "$banned" | grep -v 'checksrc: allow' || true)
if [ -n "$found" ]; then
	echo "checksrc: banned functions used:" >&2
	echo "$found" >&2
	exit 1
fi
echo "checksrc: banned calls ok"

# Log once (docs/conventions.md): below the coordinators (src/cli, src/sidecar) nothing logs at error or
# warning level - modules return -errno and describe the failure in a struct diag (diag.h). The
# few events with no caller to hand them to (a background thread, the FUSE frontend, a data-path
# integrity error, a simulated SNP) say why in a "log-ok:" comment on the line above.
found=$(git ls-files -co --exclude-standard -- 'src/*.c' | grep -v -E '^src/(cli|sidecar)/' |
	xargs -r awk '/log_(error|warn)(_errno)?[[:space:]]*\(/ && prev !~ /log-ok:/ && $0 !~ /log-ok:/ \
		{ print FILENAME ":" FNR ": " $0 } { prev = $0 }' || true)
if [ -n "$found" ]; then
	echo "checksrc: error/warning-level logging below the coordinators (use diag.h, or say" \
		"why with a log-ok: comment on the line above):" >&2
	echo "$found" >&2
	exit 1
fi
echo "checksrc: log once ok"
