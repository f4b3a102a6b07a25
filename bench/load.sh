#!/usr/bin/env bash
# Load test of `hark serve` as it is deployed: the server is its own process (the release binary,
# `--capacity auto`, so its own estimate is printed beside what the load shows) and the load
# generator another (crates/cli/examples/load.rs): N real-time streams of the
# real-speech clips (human voices, 16 kHz) with interim results, for each N in STEPS.
# Usage: bench/load.sh [MODEL ...]   (default: hark-demo-en, real Whisper tiny.en f32 and q8_0,
#        real multilingual Whisper base f32)
# Env: HARK_LOAD_STEPS (default 1,2,4,8), HARK_LOAD_SECONDS (per step, default 20),
#      HARK_LOAD_MAX_STREAMS (the server's --max-streams, default 16), HARK_LOAD_CAPACITY (its
#      --capacity, default auto: admission stops at its own estimate; `off` admits up to the max).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
steps="${HARK_LOAD_STEPS:-1,2,4,8}"
seconds="${HARK_LOAD_SECONDS:-20}"
max_streams="${HARK_LOAD_MAX_STREAMS:-16}"
# The audio: every real-speech clip (human voices, 16 kHz), a second of silence after each, so
# that streams have endpoints as conversations do.
real="$(python3 scripts/real_speech.py)"
audio="$real/clips/load-16k.raw"
[ -f "$audio" ] || python3 - "$real/clips" "$audio" <<'PY'
import sys, wave, os
out = bytearray()
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".wav"):
        continue
    w = wave.open(os.path.join(sys.argv[1], name))
    if (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2):
        out += w.readframes(w.getnframes()) + bytes(32000)
open(sys.argv[2], "wb").write(out)
PY
cargo build -q --release -p hark --example load
cargo build -q --release -p hark
hark="$CARGO_TARGET_DIR/release/hark"
if [ $# -eq 0 ]; then
  models="$(python3 scripts/real_speech.py --base)/models"
  q8="$HOME/.cache/hark/bench-models/tiny.en-real-q8_0"
  [ -f "$q8/model.gguf" ] || "$hark" models quantize "$models/whisper-tiny.en-ct2" "$q8" --type q8_0 >/dev/null
  set -- hark-demo-en "$models/whisper-tiny.en-ct2" "$q8" "$models/whisper-base-ct2"
fi
log="$(mktemp)"
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
# Start `hark serve --model $1 --capacity $2` in the background; sets pid and addr.
start() {
  HARK_LOG=info "$hark" serve --model "$1" --listen 127.0.0.1:0 --no-playground \
    --capacity "$2" --max-streams "$max_streams" 2>"$log" &
  pid=$!
  for _ in $(seq 600); do grep -q "addr=" "$log" && break; sleep 0.1; done
  addr=$(grep -o "addr=[0-9.:]*" "$log" | head -1 | cut -d= -f2)
  [ -n "$addr" ] || { cat "$log"; exit 1; }
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
for model in "$@"; do
  # The server's own estimate first (what `--capacity auto` admits), then the load.
  start "$model" auto
  estimate=$(grep -o 'capacity measured.*' "$log" | sed 's/ took_ms.*//; s/(set `capacity = [0-9]*` to skip this at start-up) //' | head -1)
  stop
  capacity="${HARK_LOAD_CAPACITY:-auto}"
  start "$model" "$capacity"
  echo "## $(basename "$model") (--capacity $capacity; --capacity auto: $estimate)"
  "$CARGO_TARGET_DIR/release/examples/load" "ws://$addr" "$pid" "$audio" "$steps" "$seconds"
  stop
done
