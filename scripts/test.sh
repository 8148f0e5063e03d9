#!/usr/bin/env bash
# The project's test command: the whole module under the race detector, then
# the nested bench module's tests (compatibility of the fakes with peer
# clients: sideshow/apns2 and the Firebase Admin SDK; benchmarks are not run).
# Backend tests read PUSHWIRE_REDIS_URL and PUSHWIRE_POSTGRES_URL
# (see scripts/services.sh); they skip when unset, and fail when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 15m ./... "$@"
(cd bench && go test -race -count=1 -timeout 10m ./...)
