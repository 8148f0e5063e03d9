#!/usr/bin/env bash
# Prints the directory of every Go module of the repository, relative to its
# root, one a line: the modules of the workspace (go.work), then bench, which
# the workspace leaves out (its Firebase and APNs peer clients would raise
# the versions every other module is built and tested with).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
GOWORK="$root/go.work" go list -m -f '{{.Dir}}' | while read -r dir; do
  rel=${dir#"$root"}
  rel=${rel#/}
  echo "${rel:-.}"
done
echo bench
