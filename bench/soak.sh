#!/usr/bin/env bash
# Fault and soak run: N clean real-time streams plus one client of each fault kind against one
# server, with engine errors, panics and stalls injected, for SECS seconds (default an hour).
# Prints the per-client table, the faults injected, RSS after warm-up / peak / end, and fds and
# threads before and after. CI runs the same test for 40 s (`cargo test --release`).
#   bench/soak.sh [SECS] [STREAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
export HARK_SOAK_SECS="${1:-3600}" HARK_SOAK_STREAMS="${2:-6}"
exec cargo test --release -p hark-server --test soak -- --nocapture
