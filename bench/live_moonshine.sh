#!/usr/bin/env bash
# Live streams per 2 cores with a streaming-native engine: Moonshine Streaming at the tiny shape
# (random weights of the real sizes: no Moonshine Streaming weights are published in the package
# registries), real Moonshine tiny, and Whisper tiny.en (real weights, the Whisper tiny shape),
# side by side in one run of the live benchmark (crates/cli/benches/live.rs: N real-time clients
# of the preamble with pauses, interim results, endpointing=300, Finalize). Every engine decodes
# at most 4 tokens per second of audio (+4, 24 at most), as on speech (Moonshine's cap counts the
# words forced as a window's known start: a real model given them writes only the rest).
# Env: HARK_BENCH_STEPS (default 1,4,8,16).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
export HARK_BENCH_STEPS="${HARK_BENCH_STEPS:-1,4,8,16}"
real="$(python3 scripts/real_speech.py)/models"
dir="$HOME/.cache/hark/bench-models/moonshine-streaming-tiny-random"
if [ ! -f "$dir/model.safetensors" ]; then
  cargo run -q --release -p hark-asr-moonshine --example random_checkpoint -- "$dir" >/dev/null
  cp "$real/moonshine-tiny/tokenizer.json" "$dir/"
fi
exec cargo bench -q -p hark --bench live -- "moonshine-streaming-tiny=$dir" \
  "moonshine-tiny=$real/moonshine-tiny" "whisper-tiny.en=$real/whisper-tiny.en-ct2"
