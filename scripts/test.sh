#!/usr/bin/env bash
# Runs every test of the project: vet, unit tests, then the end-to-end tests, which build the
# binaries and start real weftd, weft-proxy and app processes on 127.0.0.1.
# Usage: scripts/test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond Go: installed here, never by hand.
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >/dev/null; fi
fi

echo "== go vet"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

echo "== unit tests"
go test -count=1 -timeout 10m "$@" $(go list ./... | grep -v /test/e2e)

echo "== end-to-end tests"
go test -count=1 -timeout 20m "$@" ./test/e2e/...
