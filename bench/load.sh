#!/usr/bin/env bash
# Load test of `hark serve` as it is deployed: the server is its own process (the release binary,
# `--capacity auto`, so its own estimate is printed beside what the load shows) and the load
# generator another (crates/cli/examples/load.rs): N real-time streams of the starter kit's
# preamble (human speech, 8 kHz) with interim results, for each N in STEPS.
# Usage: bench/load.sh [MODEL ...]   (default: hark-demo-en and real Whisper tiny.en, f32 and q8_0)
# Env: HARK_LOAD_STEPS (default 1,2,4,8), HARK_LOAD_SECONDS (per step, default 20),
#      HARK_LOAD_MAX_STREAMS (the server's --max-streams, default 16), HARK_LOAD_CAPACITY (its
#      --capacity, default auto: admission stops at its own estimate; `off` admits up to the max).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
steps="${HARK_LOAD_STEPS:-1,2,4,8}"
seconds="${HARK_LOAD_SECONDS:-20}"
max_streams="${HARK_LOAD_MAX_STREAMS:-16}"
audio=../shared/data/starter-kit/preamble.raw
cargo build -q --release -p hark --example load
cargo build -q --release -p hark
hark="$CARGO_TARGET_DIR/release/hark"
if [ $# -eq 0 ]; then
  real="$(python3 scripts/real_speech.py)/models"
  q8="$HOME/.cache/hark/bench-models/tiny.en-real-q8_0"
  [ -f "$q8/model.gguf" ] || "$hark" models quantize "$real/whisper-tiny.en-ct2" "$q8" --type q8_0 >/dev/null
  set -- hark-demo-en "$real/whisper-tiny.en-ct2" "$q8"
fi
log="$(mktemp)"
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
for model in "$@"; do
  HARK_LOG=info "$hark" serve --model "$model" --listen 127.0.0.1:0 --no-playground \
    --capacity "${HARK_LOAD_CAPACITY:-auto}" --max-streams "$max_streams" 2>"$log" &
  pid=$!
  for _ in $(seq 600); do grep -q "addr=" "$log" && break; sleep 0.1; done
  addr=$(grep -o "addr=[0-9.:]*" "$log" | head -1 | cut -d= -f2)
  [ -n "$addr" ] || { cat "$log"; exit 1; }
  echo "## $(basename "$model"): $(grep -o 'streams=[0-9]* windows_per_stream_s=[0-9.]* batches="[^"]*"' "$log" | head -1) (capacity auto)"
  "$CARGO_TARGET_DIR/release/examples/load" "ws://$addr" "$pid" "$audio" "$steps" "$seconds"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
done
