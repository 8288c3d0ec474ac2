#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short, bounded time each and
# prints a table: package, target, executions, result. The seed corpora
# (f.Add and testdata/fuzz/<Target>/) already run in every `go test`; this
# explores beyond them. A failure leaves the failing input in the package's
# testdata/fuzz/<Target>/ (printed below): fix the code, then check the file
# in so it stays a regression test.
#
# go test -fuzz takes exactly one package and one target per run, so each
# target is its own run (the instrumented test binary is built once per
# package and cached). Measured on 2 cores with 25 targets in 15 packages
# at 4 s: about 4 min 20 s on an empty build cache, 2 min 10 s on a warm
# one. The corpus the fuzzer generates is kept in the build cache
# ($GOCACHE/fuzz) and replayed first on the next run, which takes a growing
# share of a short FUZZTIME; `go clean -fuzzcache` empties it.
#
# Usage: scripts/fuzz.sh [package directory ...]   (default: every one with a fuzz target)
# Environment:
#   FUZZTIME          time per target (default 4s; any -fuzztime value, e.g. 30s or 10000x)
#   FUZZMINIMIZETIME  time to minimize each new interesting input (default 1s;
#                     go's own default of 60 s can stall a short run)
#   FUZZTIMEOUT       timeout of one target's run, a hang guard (default 3m)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-4s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-1s}
FUZZTIMEOUT=${FUZZTIMEOUT:-3m}
start=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Targets are found by their declarations, func FuzzXxx(f *testing.F), in
# the _test.go files of each package directory: `go test -list '^Fuzz'`
# would build every test binary once more without the fuzzing
# instrumentation, about two minutes on a cold build cache.
if (($#)); then
	dirs=("$@")
else
	mapfile -t dirs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fi
declare -a rows=()
for dir in "${dirs[@]}"; do
	pkg=$(go list "$dir")
	while read -r name; do
		rows+=("$pkg $name")
	done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$dir"/*_test.go | sort -u)
done
if ((${#rows[@]} == 0)); then
	echo "no fuzz targets found" >&2
	exit 1
fi
echo "fuzzing ${#rows[@]} targets in ${#dirs[@]} packages for $FUZZTIME each"

failed=0
results=()
for row in "${rows[@]}"; do
	read -r pkg name <<<"$row"
	log="$logs/${pkg//\//_}.$name"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
		-timeout "$FUZZTIMEOUT" "$pkg" >"$log" 2>&1 && ! grep -q 'no fuzz tests to fuzz' "$log"; then
		result=ok
	else
		result=FAIL
		failed=$((failed + 1))
	fi
	execs=$({ grep -o 'execs: [0-9]*' "$log" || true; } | tail -1 | awk '{print $2}')
	results+=("$pkg|$name|${execs:--}|$result")
	if [[ $result == FAIL ]]; then
		echo "--- $pkg $name failed:"
		tail -n 40 "$log"
		input=$(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$log" | tail -1)
		if [[ -n $input ]]; then
			dir=$(go list -f '{{.Dir}}' "$pkg")
			echo "failing input: ${dir#"$PWD"/}/$input"
		fi
	fi
done

echo
printf '%-52s %-22s %12s  %s\n' package target executions result
for r in "${results[@]}"; do
	IFS='|' read -r pkg name execs result <<<"$r"
	printf '%-52s %-22s %12s  %s\n' "${pkg#github.com/lensflow/lensflow/}" "$name" "$execs" "$result"
done
echo "${#rows[@]} targets, $failed failed, $((SECONDS - start)) s in all ($FUZZTIME of fuzzing each, plus builds)"
((failed == 0))
