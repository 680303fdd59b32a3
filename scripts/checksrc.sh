#!/usr/bin/env bash
# Ban C library calls that are unsafe or that this project routes elsewhere (style.md #15).
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
echo "checksrc: ok"
