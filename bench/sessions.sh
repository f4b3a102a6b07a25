#!/usr/bin/env bash
# Spine benchmark: concurrent real-time sessions and memory per idle session.
# Usage: bench/sessions.sh   (env: HARK_BENCH_SECONDS, HARK_BENCH_STEPS, HARK_BENCH_IDLE)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
ulimit -n 65536 2>/dev/null || true
exec cargo bench -p hark-server --bench sessions
