#!/usr/bin/env bash
# Decode throughput per format, hark vs ffmpeg, both pinned to one core (see crates/audio/benches/decode.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
command -v ffmpeg >/dev/null || { echo "needs ffmpeg (apt-get install ffmpeg)"; exit 2; }
cargo build --release -p hark-audio --features speex --benches
taskset -c 0 cargo bench -p hark-audio --features speex --bench decode
