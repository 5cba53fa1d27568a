#!/usr/bin/env bash
# package.sh — build the deployment package of the Azure Functions app:
#
#   dist/package/        the package's tree (azd deploys this; azure.yaml's dist)
#   dist/tinyhead.zip    the same tree zipped (for az functionapp deployment source config-zip)
#
# with, at the root: host.json, handler (linux/amd64, cgo, mode 0755),
# lib/libonnxruntime.so, model/ (model.json, model.onnx, vocab.json) and one
# folder per function holding its function.json. It runs scripts/setup.sh
# first (the ONNX Runtime library and the converted model come from there),
# then internal/deploy/cmd/package, which builds the handler with
# CGO_ENABLED=1 GOOS=linux GOARCH=amd64 and writes both outputs with Go's
# archive/zip (see internal/deploy).
#
# Usage: scripts/package.sh [-out DIR]     (default: dist)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
exec go run ./internal/deploy/cmd/package -root . "$@"
