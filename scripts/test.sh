#!/usr/bin/env bash
# hark's whole test suite, as CI runs it (.ci/run calls exactly this).
# Works from nothing on a fresh Debian machine with the Rust toolchain; reuses a build cache
# outside the clone when one exists ($CARGO_TARGET_DIR, default ~/.cache/hark/target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hark/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# System packages the tests need: none yet (the server, decoders and tests are pure Rust).
# Later suites (codecs, conformance clients, browser) install theirs here.

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (release, all targets, -D warnings)"
cargo clippy --release --workspace --all-targets -- -D warnings
echo "== cargo test --release"
cargo test --release --workspace
echo "== all tests passed"
