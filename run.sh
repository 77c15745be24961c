#!/usr/bin/env bash
# Sets up, builds and runs moonhost with the shipped plugins/ and conf.d/.
# Extra arguments go to `moonhost run` (e.g. ./run.sh --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
exec ./build/moonhost run --plugins plugins --config conf.d "$@"
