#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# apt-mirror.sh - print the Debian mirror this machine's apt already uses: the first URI of a
# `deb` source for SUITE (default bookworm) with component main, in apt's own order
# (sources.list, then sources.list.d/ in name order, one-line *.list and deb822 *.sources files).
# debootstrap (scripts/build-container.sh, scripts/fresh-check.sh) then works behind whatever
# mirror or proxy apt is set up for, and no mirror is written in the repository.
#
#   scripts/apt-mirror.sh [SUITE [FILE...]]    FILEs instead of apt's configured sources
#   scripts/apt-mirror.sh --proxy              apt's HTTP proxy (Acquire::http::Proxy), if any
#
# DEBIAN_MIRROR, when set, wins. Exit 1 (with a message) when no source matches.
set -euo pipefail
export LC_ALL=C
if [ "${1:-}" = --proxy ]; then
	proxy=
	if command -v apt-config >/dev/null 2>&1; then
		eval "$(apt-config shell proxy Acquire::http::Proxy)"
	fi
	[ "$proxy" = DIRECT ] || echo "$proxy"
	exit 0
fi
suite=${1:-bookworm}
[ $# -gt 0 ] && shift

if [ -n "${DEBIAN_MIRROR:-}" ]; then
	echo "$DEBIAN_MIRROR"
	exit 0
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	list=/etc/apt/sources.list parts=/etc/apt/sources.list.d
	if command -v apt-config >/dev/null 2>&1; then
		eval "$(apt-config shell list Dir::Etc::sourcelist/f parts Dir::Etc::sourceparts/d)"
	fi
	[ -f "$list" ] && files+=("$list")
	for f in "${parts%/}"/*; do
		case "$f" in *.list | *.sources) [ -f "$f" ] && files+=("$f") ;; esac
	done
fi

# One-line format: deb [options] URI SUITE COMPONENT...
oneline='
/^[[:space:]]*#/ { next }
$1 == "deb" {
	i = 2
	if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
	if ($(i + 1) != suite) next
	for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit }
}'
# deb822 format: stanzas separated by blank lines; "Field: value", continuation lines indented.
deb822='
function has(list, word,   n, a, k) {
	n = split(list, a, /[[:space:]]+/)
	for (k = 1; k <= n; k++) if (a[k] == word) return 1
	return 0
}
{
	delete f; key = ""
	n = split($0, lines, "\n")
	for (l = 1; l <= n; l++) {
		line = lines[l]
		if (line ~ /^#/) continue
		if (line ~ /^[[:space:]]/ && key != "") { f[key] = f[key] " " line; continue }
		p = index(line, ":")
		if (p == 0) continue
		key = tolower(substr(line, 1, p - 1))
		f[key] = substr(line, p + 1)
	}
	if (tolower(f["enabled"]) ~ /no/) next
	if (!has(f["types"], "deb") || !has(f["suites"], suite) || !has(f["components"], "main")) next
	split(f["uris"], u, /[[:space:]]+/)
	for (k = 1; k in u; k++) if (u[k] != "") { print u[k]; exit }
}'

for f in "${files[@]}"; do
	case "$f" in
	*.sources) uri=$(awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }'"$deb822" "$f") ;;
	*) uri=$(awk -v suite="$suite" "$oneline" "$f") ;;
	esac
	if [ -n "$uri" ]; then
		echo "${uri%/}"
		exit 0
	fi
done
echo "apt-mirror.sh: no 'deb' source for $suite main in ${files[*]:-the apt sources} (set DEBIAN_MIRROR)" >&2
exit 1
