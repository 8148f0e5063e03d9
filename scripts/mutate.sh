#!/usr/bin/env bash
# Mutation testing of the code that decides what happens to a push.
#
#   scripts/mutate.sh [PACKAGE…]     e.g. scripts/mutate.sh ./fcm ./apns
#   scripts/mutate.sh -rerun PACKAGE…
#
# -rerun re-tests only the survivors (LIVED, NOT COVERED) of the package's
# last run ($MUTATE_OUT/NAME.json) after tests were added, and rewrites its
# report; it refuses when a file in scope changed since (run it whole then).
#
# Without arguments it runs every package of scripts/mutants/scope.txt. For
# each package, one after the other (the runs are slow; see TESTING.md for
# the wall times):
#   1. gremlins (github.com/go-gremlins/gremlins, pinned below) mutates the
#      comparisons, arithmetic and increments of the package's files listed
#      in scope.txt and runs the package's tests against each mutant;
#   2. scripts/mutants applies the operators gremlins lacks (changed error
#      class, dropped statement, changed table entry, and the comparisons in
#      switch cases gremlins cannot see) to the same scope;
#   3. scripts/mutants prints killed / survived / timed out / not covered and
#      the score per package, gremlins' mutants restricted to the functions
#      scope.txt names, equivalent mutants (scripts/mutants/equivalent.txt)
#      excluded and listed.
# Results (JSON and the printed report) go to $MUTATE_OUT (default
# .mutate/, ignored by git). Every package targeted lives in the root module;
# the runs use its go.mod alone (GOWORK=off), as scripts/test.sh does.
#
# Environment: MUTATE_OUT (results directory), MUTATE_COEF (a mutant's test
# run may take this many times the unmutated run, build included; default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
GREMLINS=github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
scope=scripts/mutants/scope.txt
out=${MUTATE_OUT:-.mutate}
coef=${MUTATE_COEF:-5}
mkdir -p "$out"
export GOWORK=off
# Uncached runs: gremlins times a mutant's run against its first, coverage
# run, which must therefore include the build.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"

rerun=
if [ "${1:-}" = -rerun ]; then rerun=1; shift; fi
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  mapfile -t pkgs < <(grep -v '^\s*#' "$scope" | awk 'NF {print $1}' | uniq)
fi

go build -o "$out/mutants" ./scripts/mutants
status=0
for pkg in "${pkgs[@]}"; do
  pkg="./${pkg#./}"
  name=$(echo "${pkg#./}" | tr / _)
  files=$(grep -v '^\s*#' "$scope" | awk -v p="$pkg" '$1 == p {print $2}')
  if [ -z "$files" ]; then
    echo "mutate: $pkg is not in $scope" >&2; exit 2
  fi
  # gremlins walks the package's directory tree: exclude every file that is
  # not in scope (sub-packages included).
  excludes=()
  while read -r f; do
    rel=${f#"$pkg"/}
    if ! grep -qxF "$rel" <<<"$files"; then
      excludes+=(-E "^$(sed 's/[.]/[.]/g' <<<"$rel")\$")
    fi
  done < <(find "$pkg" -name '*.go' ! -name '*_test.go' | sed 's#^\./##; s#^#./#')
  echo "=== $pkg ($(echo $files | tr '\n' ' '))"
  start=$(date +%s)
  if [ -n "$rerun" ]; then
    [ -f "$out/$name.json" ] || { echo "mutate: no earlier run of $pkg in $out" >&2; exit 2; }
    cp "$out/$name.json" "$out/$name.before-rerun.json"
    "$out/mutants" -scope "$scope" -pkg "$pkg" -timeout-coefficient "$coef" \
      -rerun "$out/$name.before-rerun.json" -out "$out/$name.json" | tee "$out/$name.txt" || status=1
    echo "wall time $pkg (survivors re-tested): $(($(date +%s) - start))s ($(date -u +%F))" | tee -a "$out/$name.txt"
    continue
  fi
  go run "$GREMLINS" unleash --workers 1 --timeout-coefficient "$coef" \
    -o "$out/$name.gremlins.json" "${excludes[@]}" "$pkg" >"$out/$name.gremlins.log" 2>&1 || {
    echo "mutate: gremlins failed on $pkg, see $out/$name.gremlins.log" >&2; status=1; continue; }
  mid=$(date +%s)
  "$out/mutants" -scope "$scope" -pkg "$pkg" -timeout-coefficient "$coef" \
    -gremlins "$out/$name.gremlins.json" -out "$out/$name.json" | tee "$out/$name.txt" || status=1
  end=$(date +%s)
  echo "wall time $pkg: gremlins $((mid - start))s, custom operators $((end - mid))s, total $((end - start))s ($(date -u +%F))" | tee -a "$out/$name.txt"
done
exit $status
