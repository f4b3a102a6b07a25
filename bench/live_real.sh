#!/usr/bin/env bash
# The live benchmark (crates/cli/benches/live.rs) with real Whisper weights on the starter kit's
# human speech: tiny.en (f32 and q8_0) and, with --base, multilingual base (f32 and q8_0), from
# the pinned packages of scripts/real_speech.py. N real-time streams per step; reports finalize
# latency p50/p95, interim cadence, CPU per stream and whether every stream kept up.
# Env: HARK_BENCH_STEPS (default 1,2,4,6), HARK_BENCH_PAUSE_S (default 1.2), HARK_BENCH_INTERIM_MS
# (the server's interim cadence; default 1000), HARK_BENCH_STAGGER_S (client i starts i times this
# late; default 0: all streams speak in step, the worst case for finals). A model named
# NAME+shortcut runs with the encoder shortcut (--shortcut adds tiny.en+shortcut).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
base=()
for a in "$@"; do [ "$a" = --base ] && base=(--base); done
cache=$(python3 scripts/real_speech.py "${base[@]}")
m="$cache/models"
models=("tiny.en=$m/whisper-tiny.en-ct2" "tiny.en-q8_0=$m/whisper-tiny.en-q8_0")
# --shortcut: also tiny.en with the encoder shortcut (`hark serve --encoder-shortcut`).
for a in "$@"; do [ "$a" = --shortcut ] && models+=("tiny.en+shortcut=$m/whisper-tiny.en-ct2"); done
((${#base[@]})) && models+=("base=$m/whisper-base-ct2" "base-q8_0=$m/whisper-base-q8_0")
for spec in "${models[@]}"; do
  dir=${spec#*=}
  if [[ $dir == *-q8_0 && ! -f $dir/model.gguf ]]; then
    cargo run -q --release -p hark -- models quantize "${dir%-q8_0}-ct2" "$dir" --type q8_0 >/dev/null
  fi
done
HARK_BENCH_REAL_WEIGHTS=1 exec cargo bench -q -p hark --bench live -- "${models[@]}"
