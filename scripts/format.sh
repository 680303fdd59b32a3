#!/usr/bin/env bash
# Reformat every C file in the tree with the project's .clang-format.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
git ls-files -co --exclude-standard -- '*.c' '*.h' | xargs -r clang-format --style=file -i
