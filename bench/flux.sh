#!/usr/bin/env bash
# Flux end-of-turn latency (crates/cli/benches/flux.rs) with real Whisper tiny.en weights from
# the pinned packages of scripts/real_speech.py: EndOfTurn p50/p95 from the end of speech, the
# EagerEndOfTurn lead, turns seen, and /v1/listen's endpointing=300 speech_final latency side by
# side on the same server as the reference. Env: HARK_BENCH_STEPS (default 1,4). --encoder-shortcut
# serves with Whisper's encoder shortcut.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
cache=$(python3 scripts/real_speech.py)
exec cargo bench -q -p hark --bench flux -- "$cache/models/whisper-tiny.en-ct2" "$@"
