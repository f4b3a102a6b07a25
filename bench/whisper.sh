#!/usr/bin/env bash
# Whisper engine speed vs PyTorch `transformers`, same machine, same thread count (2 by default).
# Random weights at the real tiny and base sizes; one 30 s window: encoder + 20 greedy decode steps.
# Needs: pip install torch transformers safetensors. Models are cached in ~/.cache/hark/bench-models.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
models="${HARK_BENCH_MODELS:-$HOME/.cache/hark/bench-models}"
mkdir -p "$models"
torch_out=$(python3 bench/whisper_torch.py "$models")
hark_out=$(cargo bench -q -p hark-asr-whisper --bench encode_decode -- "tiny=$models/tiny" "base=$models/base")
echo "$torch_out"
echo "$hark_out"
echo
printf "%-6s %12s %12s %12s %12s %9s %9s\n" model torch_enc_ms hark_enc_ms torch_dec_ms hark_dec_ms enc_ratio dec_ratio
for m in tiny base; do
  read -r _ _ te td <<<"$(grep "^torch $m " <<<"$torch_out")"
  read -r _ _ he hd <<<"$(grep "^hark $m " <<<"$hark_out")"
  awk -v m="$m" -v te="$te" -v he="$he" -v td="$td" -v hd="$hd" \
    'BEGIN { printf "%-6s %12.1f %12.1f %12.1f %12.1f %8.2fx %8.2fx\n", m, te, he, td, hd, he/te, hd/td }'
done
echo "(ratio = hark time / PyTorch time; below 1.00x means hark is faster)"
