#!/usr/bin/env bash
# Measures what pushwire's root module costs a consumer, with throwaway
# consumer modules in a temporary folder that reach the tree by a replace
# directive (no network access to pushwire itself; its dependencies come from
# the Go module proxy into empty module caches):
#   - a consumer importing only hmacverify: modules in its graph
#     (go list -m all) and the size of go mod download all;
#   - a consumer of hmacverify that requires prometheus/client_golang v1.20.0
#     and imports it: the prometheus version it ends up with, and how many
#     modules pushwire adds to its graph;
#   - a consumer of connector: the size of its module cache after go mod tidy.
# Usage: scripts/modgraph.sh [TREE]   (TREE: a pushwire source tree, default
# this repository; e.g. an older tree from git archive, to compare)
set -euo pipefail
tree=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS=-modcacherw GOTOOLCHAIN=local GONOSUMDB=github.com/pushwire/pushwire
PROM=v1.20.0

# consumer NAME IMPORTS... : a module that imports the given packages and
# requires prometheus at $PROM when it imports it.
consumer() {
  local name=$1; shift
  local dir="$work/$name"
  mkdir -p "$dir"
  {
    echo "module example.com/$name"; echo; echo "go 1.24.0"; echo
    echo "require github.com/pushwire/pushwire v0.0.0-00010101000000-000000000000"
    for p in "$@"; do
      case $p in github.com/prometheus/*) echo "require github.com/prometheus/client_golang $PROM" ;; esac
    done
    echo; echo "replace github.com/pushwire/pushwire => $tree"
  } > "$dir/go.mod"
  {
    echo "package main"; echo; echo "import ("
    for p in "$@"; do echo "	_ \"$p\""; done
    echo ")"; echo; echo "func main() {}"
  } > "$dir/main.go"
  echo "$dir"
}

# fresh DIR CMD...: runs CMD in DIR with an empty module cache, prints the
# size of what was downloaded (the module zips and go.mod files in
# cache/download) and of the whole cache (with the zips extracted).
fresh() {
  local dir=$1; shift
  local cache="$work/cache-$(basename "$dir")"
  rm -rf "$cache"
  (cd "$dir" && GOMODCACHE="$cache" "$@" >/dev/null 2>&1)
  echo "$(du -sh "$cache/cache/download" | cut -f1) (module cache $(du -sh "$cache" | cut -f1) with the zips extracted)"
}

echo "tree: $tree"
echo "root go.mod requires: $(awk '/^require \(/{b=1;next} b&&/^\)/{b=0;next} b&&NF{n++} /^require [^(]/{n++} END{print n}' "$tree/go.mod") modules"

d=$(consumer hmac github.com/pushwire/pushwire/hmacverify)
(cd "$d" && go mod tidy >/dev/null 2>&1)
echo "consumer of hmacverify: $(cd "$d" && go list -m all | wc -l) modules in go list -m all"
echo "consumer of hmacverify: go mod download all fetches $(fresh "$d" go mod download all)"

d=$(consumer prom github.com/prometheus/client_golang/prometheus)
sed -i '/pushwire/d' "$d/go.mod"
(cd "$d" && go mod tidy >/dev/null 2>&1)
alone=$(cd "$d" && go list -m all | wc -l)
d=$(consumer hmacprom github.com/pushwire/pushwire/hmacverify github.com/prometheus/client_golang/prometheus)
(cd "$d" && go mod tidy >/dev/null 2>&1)
echo "consumer of hmacverify requiring prometheus/client_golang $PROM: keeps $(cd "$d" && go list -m -f '{{.Version}}' github.com/prometheus/client_golang);" \
  "$(cd "$d" && go list -m all | wc -l) modules (without pushwire: $alone)"

d=$(consumer conn github.com/pushwire/pushwire/connector)
echo "consumer of connector: go mod tidy fetches $(fresh "$d" go mod tidy)"
(cd "$d" && go mod tidy >/dev/null 2>&1)
echo "consumer of connector: $(cd "$d" && go list -m all | wc -l) modules in go list -m all"
