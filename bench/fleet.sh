#!/usr/bin/env bash
# The fleet test (crates/cli/tests/fleet.rs) with more streams: three `hark serve` instances behind
# HAProxy, N real-time streams, one instance drained (SIGTERM) and one killed (SIGKILL) mid-stream.
# Prints streams held, refusals and finals lost. Needs haproxy (apt-get install haproxy).
# Usage: bench/fleet.sh [STREAMS]   (default 24)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
HARK_FLEET_STREAMS="${1:-24}" HARK_REQUIRE_HAPROXY=1 \
  cargo test -q --release -p hark --test fleet -- --nocapture 2>&1 | grep -E "^fleet:|panicked|test result"
