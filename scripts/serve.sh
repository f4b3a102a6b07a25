#!/usr/bin/env bash
# Build and run `hark serve` (arguments go to it; without --model, the best Whisper model in the local
# cache, else whisper-base.en fetched first, else the bundled demo model). Works from
# nothing on a fresh Debian machine with the Rust toolchain: installs cmake (which builds the
# bundled libopus) and libclang-dev (for the bundled libspeex's bindings) when they are missing.
# Shares the test command's build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
# shellcheck source=apt-need.sh
source scripts/apt-need.sh
need=()
command -v cmake >/dev/null || need+=(cmake)
compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null || need+=(libclang-dev)
apt_need "${need[@]}"
exec cargo run --release -p hark --features speex -- serve "$@"
