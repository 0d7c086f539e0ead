#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for the given time each (default 60s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
status=0
# moduleof prints the directory of the nearest go.mod above a directory.
moduleof() {
	local d=$1
	while [ "$d" != "." ] && [ ! -f "$d/go.mod" ]; do d=$(dirname "$d"); done
	echo "$d"
}
for mod in $(git ls-files '*go.mod'); do
	dir=$(dirname "$mod")
	while IFS= read -r line; do
		file=${line%%:*}
		# A target in a nested module (sdk-go, abi, plugins/*) runs with that module.
		[ "$(moduleof "$(dirname "$file")")" = "$dir" ] || continue
		name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"${line#*:}")
		pkg=./$(dirname "${file#$dir/}")
		echo "== $dir $pkg $name ($fuzztime)"
		(cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg") || status=1
	done < <(cd "$dir" && grep -rE --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sed "s|^|$dir/|")
done
exit $status
