#!/usr/bin/env bash
# Whisper engine speed vs PyTorch `transformers`, same machine, same thread count (2 by default).
# Random weights at the real tiny and base sizes; one 30 s window: encoder + 20 greedy decode steps.
# hark also runs each quantized to q8_0 (`hark models quantize`: 8-bit encoder products on CPUs with
# AVX-512 VNNI, 8-bit decoder weights).
# HARK_BENCH_ROUNDS (default 3): rounds alternate PyTorch and hark, and each side keeps its best round
# per model, because this machine's speed drifts by up to 2x within minutes and a slow spell must not
# land on one side only.
# Needs: pip install torch transformers safetensors. Models are cached in ~/.cache/hark/bench-models.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
models="${HARK_BENCH_MODELS:-$HOME/.cache/hark/bench-models}"
rounds="${HARK_BENCH_ROUNDS:-3}"
mkdir -p "$models"
python3 bench/whisper_torch.py "$models" >/dev/null # builds the models on first use
# The quantized path: decoder and encoder matrices as q8_0 (GGUF); written anew each run (a few
# seconds), so that files from an older hark never stand in for what this one writes.
for m in tiny base; do
  cargo run -q --release -p hark -- models quantize "$models/$m" "$models/$m-q8_0" --type q8_0 >/dev/null
done
cargo bench -q -p hark-asr-whisper --bench encode_decode --no-run
all=""
for ((r = 1; r <= rounds; r++)); do
  torch_out=$(python3 bench/whisper_torch.py "$models" 2>/dev/null)
  hark_out=$(cargo bench -q -p hark-asr-whisper --bench encode_decode -- "tiny=$models/tiny" \
    "tiny-q8_0=$models/tiny-q8_0" "base=$models/base" "base-q8_0=$models/base-q8_0")
  echo "round $r:"
  echo "$torch_out"
  echo "$hark_out"
  all+="$torch_out"$'\n'"$hark_out"$'\n'
done
best() { # side model column -> the smallest value over the rounds
  awk -v s="$1" -v m="$2" -v c="$3" '$1 == s && $2 == m && (b == "" || $c + 0 < b + 0) { b = $c } END { print b }' <<<"$all"
}
echo
printf "%-10s %12s %12s %12s %12s %9s %9s %9s\n" model torch_enc_ms hark_enc_ms torch_dec_ms hark_dec_ms enc_ratio dec_ratio total
for m in tiny tiny-q8_0 base base-q8_0; do
  te=$(best torch "${m%%-*}" 3) td=$(best torch "${m%%-*}" 4) he=$(best hark "$m" 3) hd=$(best hark "$m" 4)
  awk -v m="$m" -v te="$te" -v he="$he" -v td="$td" -v hd="$hd" \
    'BEGIN { printf "%-10s %12.1f %12.1f %12.1f %12.1f %8.2fx %8.2fx %8.2fx\n", m, te, he, td, hd, he/te, hd/td, (he+hd)/(te+td) }'
done
echo "(best of $rounds alternating rounds, each a median of 5 warm runs; ratio = hark time / PyTorch f32 time"
echo " on the same shape; total = encoder + 20 decode steps, the issue's benchmark; below 1.00x means"
echo " hark is faster)"
