#!/usr/bin/env bash
# Builds Weft's binaries as they ship: static (no cgo), without gRPC's request tracing pages
# (grpcnotrace), with reproducible paths. Usage: scripts/build.sh [OUTDIR] (default bin/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin}
mkdir -p "$out"
CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -o "$out/" \
  ./cmd/weftd ./cmd/weft-proxy ./cmd/weft ./examples/demo-app
echo "built weftd, weft-proxy, weft and demo-app into $out/"
