#!/usr/bin/env bash
# Real weights on human speech: WER and wall time of hark (live and whole-clip) side by side with
# faster-whisper on the same clips and weights, f32 and 8-bit (bench/real_speech.py says how).
# Fetches the pinned weights and clips (scripts/real_speech.py) and faster-whisper 1.1.1 into a
# venv under ~/.cache/hark. Pass --base to add multilingual Whisper base, --show for transcripts.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
venv="$HOME/.cache/hark/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import faster_whisper" 2>/dev/null ||
  "$venv/bin/pip" install -q "faster-whisper==1.1.1" "ctranslate2==4.8.5" requests
base=()
for a in "$@"; do [ "$a" = --base ] && base=(--base); done
cache=$(python3 scripts/real_speech.py "${base[@]}")
cargo build -q --release -p hark
exec "$venv/bin/python" bench/real_speech.py --hark "$CARGO_TARGET_DIR/release/hark" --cache "$cache" "$@"
