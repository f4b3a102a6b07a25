#!/usr/bin/env bash
# Live streams per 2 cores with a streaming-native engine: Moonshine Streaming at the tiny and small
# shapes (random weights of the real sizes: no Moonshine Streaming weights are published in the
# package registries; how the small shape's sizes were found: crates/asr-moonshine/examples/
# random_checkpoint.rs), real Moonshine tiny, and Whisper tiny.en (real weights, the Whisper tiny shape),
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
models="$HOME/.cache/hark/bench-models"
for shape in tiny small; do
  dir="$models/moonshine-streaming-$shape-random"
  if [ ! -f "$dir/model.safetensors" ]; then
    cargo run -q --release -p hark-asr-moonshine --example random_checkpoint -- "$dir" "$shape" >/dev/null
    cp "$real/moonshine-tiny/tokenizer.json" "$dir/"
  fi
done
exec cargo bench -q -p hark --bench live -- \
  "moonshine-streaming-tiny=$models/moonshine-streaming-tiny-random" \
  "moonshine-streaming-small=$models/moonshine-streaming-small-random" \
  "moonshine-tiny=$real/moonshine-tiny" "whisper-tiny.en=$real/whisper-tiny.en-ct2"
