#!/usr/bin/env bash
# Runs go mod tidy in every module of the repository (scripts/modules.sh),
# each on its own go.mod (GOWORK=off), as .ci/run checks. Run it after adding
# or removing an import: a change in the root module can change what the
# nested modules' go.sum files need.
set -euo pipefail
cd "$(dirname "$0")/.."
for m in $(./scripts/modules.sh); do
  echo "--- go mod tidy: module $m"
  (cd "$m" && GOWORK=off go mod tidy)
done
