#!/usr/bin/env bash
# Whisper engine speed vs PyTorch `transformers`, same machine, same thread count (2 by default).
# Random weights at the real tiny and base sizes; one 30 s window: encoder + 20 greedy decode steps.
# hark also runs each with its decoder quantized to q8_0 (`hark models quantize`).
# Needs: pip install torch transformers safetensors. Models are cached in ~/.cache/hark/bench-models.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
models="${HARK_BENCH_MODELS:-$HOME/.cache/hark/bench-models}"
mkdir -p "$models"
torch_out=$(python3 bench/whisper_torch.py "$models")
# The quantized path: decoder matrices as q8_0 (GGUF), encoder f32.
for m in tiny base; do
  [ -f "$models/$m-q8_0/model.gguf" ] ||
    cargo run -q --release -p hark -- models quantize "$models/$m" "$models/$m-q8_0" --type q8_0 >/dev/null
done
hark_out=$(cargo bench -q -p hark-asr-whisper --bench encode_decode -- "tiny=$models/tiny" "tiny-q8_0=$models/tiny-q8_0" \
  "base=$models/base" "base-q8_0=$models/base-q8_0")
echo "$torch_out"
echo "$hark_out"
echo
printf "%-10s %12s %12s %12s %12s %9s %9s\n" model torch_enc_ms hark_enc_ms torch_dec_ms hark_dec_ms enc_ratio dec_ratio
for m in tiny tiny-q8_0 base base-q8_0; do
  read -r _ _ te td <<<"$(grep "^torch ${m%%-*} " <<<"$torch_out")"
  read -r _ _ he hd <<<"$(grep "^hark $m " <<<"$hark_out")"
  awk -v m="$m" -v te="$te" -v he="$he" -v td="$td" -v hd="$hd" \
    'BEGIN { printf "%-10s %12.1f %12.1f %12.1f %12.1f %8.2fx %8.2fx\n", m, te, he, td, hd, he/te, hd/td }'
done
echo "(ratio = hark time / PyTorch f32 time on the same shape; below 1.00x means hark is faster)"
