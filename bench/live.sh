#!/usr/bin/env bash
# Live transcription benchmark: N real-time clients with pauses per model (tiny and base shapes,
# random weights, CPU), f32 and with the decoder quantized to q8_0. Reports finalize latency, interim cadence, CPU per stream, real-time N.
# The random-weight models are the ones bench/whisper.sh builds (needs: pip install torch transformers).
# Env: HARK_BENCH_STEPS (default 1,2,4,6), HARK_BENCH_PAUSE_S (default 1.2).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
models="${HARK_BENCH_MODELS:-$HOME/.cache/hark/bench-models}"
if [ ! -f "$models/base/model.safetensors" ]; then
  mkdir -p "$models"
  python3 bench/whisper_torch.py "$models" >/dev/null
fi
for m in tiny base; do
  [ -f "$models/$m-q8_0/model.gguf" ] ||
    cargo run -q --release -p hark -- models quantize "$models/$m" "$models/$m-q8_0" --type q8_0 >/dev/null
done
exec cargo bench -q -p hark --bench live -- "tiny=$models/tiny" "tiny-q8_0=$models/tiny-q8_0" \
  "base=$models/base" "base-q8_0=$models/base-q8_0"
