#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for the given time each (default 60s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
status=0
for mod in $(git ls-files '*go.mod'); do
	dir=$(dirname "$mod")
	while IFS= read -r line; do
		file=${line%%:*}
		name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"${line#*:}")
		pkg=./$(dirname "${file#$dir/}")
		echo "== $dir $pkg $name ($fuzztime)"
		(cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg") || status=1
	done < <(cd "$dir" && grep -rE --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sed "s|^|$dir/|")
done
exit $status
