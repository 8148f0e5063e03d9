#!/usr/bin/env bash
# The project's test command: the tests of every module of the repository
# (scripts/modules.sh: the root module, examples, the registry backends,
# lpns/lpnsredis, and bench, whose tests check the fakes against peer
# clients: sideshow/apns2 and the Firebase Admin SDK; benchmarks are not run)
# under the race detector. Each module is tested on its own go.mod
# (GOWORK=off), with the dependency versions its consumers get.
# Backend tests read PUSHWIRE_REDIS_URL and PUSHWIRE_POSTGRES_URL
# (see scripts/services.sh); they skip when unset, and fail when CI is set.
# Arguments go to every module's go test (e.g. -run, -short).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for m in $(./scripts/modules.sh); do
  echo "--- go test: module $m"
  (cd "$m" && GOWORK=off go test -race -count=1 -timeout 15m ./... "$@") || status=1
done
exit $status
