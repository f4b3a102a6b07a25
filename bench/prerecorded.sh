#!/usr/bin/env bash
# Pre-recorded throughput on real weights: hark's POST /v1/listen against faster-whisper
# (sequential and batched), same weights and recording, f32 and 8-bit (bench/prerecorded.py says
# how). Fetches the pinned weights and clips (scripts/real_speech.py) and faster-whisper 1.1.1
# into a venv under ~/.cache/hark. Pass --minutes N for another length (default 10), --model base
# for multilingual Whisper base.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
venv="$HOME/.cache/hark/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import faster_whisper" 2>/dev/null ||
  "$venv/bin/pip" install -q "faster-whisper==1.1.1" "ctranslate2==4.8.5" requests
base=()
[[ " $* " == *" base "* ]] && base=(--base) # --model base: multilingual base too
cache=$(python3 scripts/real_speech.py "${base[@]}")
cargo build -q --release -p hark
exec "$venv/bin/python" bench/prerecorded.py --hark "$CARGO_TARGET_DIR/release/hark" --cache "$cache" "$@"
