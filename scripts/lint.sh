#!/usr/bin/env bash
# Static checks with zero findings allowed: banned calls, formatting, cppcheck.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

scripts/checksrc.sh

mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^subprojects/')
bad=()
for f in "${files[@]}"; do
	clang-format --style=file "$f" | cmp -s - "$f" || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
	echo "lint: not clang-formatted (run scripts/format.sh): ${bad[*]}" >&2
	exit 1
fi
echo "lint: clang-format ok"

cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -I include \
	-D__GNUC__ -D_GNU_SOURCE src
echo "lint: cppcheck ok"
